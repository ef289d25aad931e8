add_executable(boot_bench ${CMAKE_CURRENT_SOURCE_DIR}/boot_bench.c)
target_link_libraries(boot_bench PRIVATE emudiff_bench emudiff_recorder)
