emudiff_test(test_record SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_record.c ${CMAKE_CURRENT_SOURCE_DIR}/tests/trace_compare.c
             LIBS emudiff_recorder LABELS kvm)
add_dependencies(test_record emudiff corpus)
# The emu engine needs no /dev/kvm.
emudiff_test(test_record_emu SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_record_emu.c
             ${CMAKE_CURRENT_SOURCE_DIR}/tests/trace_compare.c LIBS emudiff_recorder)
add_dependencies(test_record_emu corpus)
