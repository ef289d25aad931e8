# CPU models end to end: test_cpu_model_record on KVM (label kvm), test_cpu_model_record_emu with --engine emu.
add_executable(test_cpu_model_record ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_cpu_model_record.c)
target_link_libraries(test_cpu_model_record PRIVATE emudiff_recorder PkgConfig::CMOCKA)
add_dependencies(test_cpu_model_record emudiff corpus)
emudiff_engine_tests(test_cpu_model_record)
