add_executable(record_bench ${CMAKE_CURRENT_SOURCE_DIR}/record_bench.c)
target_link_libraries(record_bench PRIVATE emudiff_bench emudiff_recorder)
add_dependencies(record_bench corpus)
