emudiff_test(test_record SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_record.c
             LIBS emudiff_recorder LABELS kvm)
add_dependencies(test_record emudiff corpus)
