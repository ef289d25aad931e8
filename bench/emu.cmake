# emu_bench: emu's hot-loop speed and its ratio to Unicorn on the same code, measured in one run.
add_executable(emu_bench ${CMAKE_CURRENT_LIST_DIR}/emu_bench.c)
target_link_libraries(emu_bench PRIVATE emudiff_emu PkgConfig::UNICORN)
