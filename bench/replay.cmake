add_executable(replay_bench ${CMAKE_CURRENT_SOURCE_DIR}/replay_bench.c)
target_link_libraries(replay_bench PRIVATE emudiff_replayer emudiff_recorder)
add_dependencies(replay_bench corpus)
