emudiff_test(test_boot SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_boot.c
             LIBS emudiff_recorder LABELS kvm)
add_dependencies(test_boot emudiff corpus)
