# PC boots recorded on KVM (test_boot, label kvm) and with --engine emu (test_boot_emu, no KVM needed).
add_executable(test_boot ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_boot.c)
target_link_libraries(test_boot PRIVATE emudiff_recorder PkgConfig::CMOCKA)
add_dependencies(test_boot emudiff corpus)
foreach(engine kvm emu)
  set(name test_boot)
  if(engine STREQUAL emu)
    set(name test_boot_emu)
  endif()
  add_test(NAME ${name} COMMAND test_boot ${engine})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "EMUDIFF_BIN=$<TARGET_FILE:emudiff>;EMUDIFF_CORPUS=${CMAKE_BINARY_DIR}/corpus;EMUDIFF_SOURCE=${CMAKE_SOURCE_DIR}")
endforeach()
set_tests_properties(test_boot PROPERTIES LABELS kvm)
