# PC boots: test_boot on KVM, test_boot_emu with --engine emu.
add_executable(test_boot ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_boot.c)
target_link_libraries(test_boot PRIVATE emudiff_recorder emudiff_replayer PkgConfig::SQLITE3 PkgConfig::CMOCKA)
add_dependencies(test_boot emudiff corpus)
emudiff_engine_tests(test_boot)
