add_executable(jobs_bench ${CMAKE_CURRENT_SOURCE_DIR}/jobs_bench.c)
target_link_libraries(jobs_bench PRIVATE emudiff_bench emudiff_replayer emudiff_recorder)
add_dependencies(jobs_bench corpus)
