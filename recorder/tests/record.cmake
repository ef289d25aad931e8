# The recorder end to end on KVM (test_record, label kvm) and with --engine emu (test_record_engine_emu).
add_executable(test_record ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_record.c ${CMAKE_CURRENT_SOURCE_DIR}/tests/trace_compare.c)
target_link_libraries(test_record PRIVATE emudiff_recorder PkgConfig::CMOCKA)
add_dependencies(test_record emudiff corpus)
foreach(engine kvm emu)
  set(name test_record)
  if(engine STREQUAL emu)
    set(name test_record_engine_emu)
  endif()
  add_test(NAME ${name} COMMAND test_record ${engine})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "EMUDIFF_BIN=$<TARGET_FILE:emudiff>;EMUDIFF_CORPUS=${CMAKE_BINARY_DIR}/corpus;EMUDIFF_SOURCE=${CMAKE_SOURCE_DIR}")
endforeach()
set_tests_properties(test_record PROPERTIES LABELS kvm)
# The emu engine's own checks need no /dev/kvm.
emudiff_test(test_record_emu SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_record_emu.c LIBS emudiff_recorder)
add_dependencies(test_record_emu corpus)
