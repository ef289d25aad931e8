# The recorder end to end: test_record on KVM, test_record_emu with --engine emu.
add_executable(test_record ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_record.c ${CMAKE_CURRENT_SOURCE_DIR}/tests/trace_compare.c
               ${CMAKE_SOURCE_DIR}/corpus/tests/manifest.c)
target_link_libraries(test_record PRIVATE emudiff_recorder PkgConfig::CMOCKA)
add_dependencies(test_record emudiff corpus)
emudiff_engine_tests(test_record)
# The emu engine's own checks (meta, exits, inputs, ends, refused options).
emudiff_test(test_engine_emu SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_engine_emu.c LIBS emudiff_recorder)
add_dependencies(test_engine_emu corpus)
