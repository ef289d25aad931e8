# The unicorn backend's tests build its source directly, independent of the replayer library.
emudiff_test(test_backend_unicorn
  SOURCES ${CMAKE_SOURCE_DIR}/replayer/backend_unicorn.c ${CMAKE_SOURCE_DIR}/replayer/unicorn_child.c
          ${CMAKE_SOURCE_DIR}/replayer/unicorn_state.c ${CMAKE_SOURCE_DIR}/replayer/unicorn_hooks.c
          ${CMAKE_SOURCE_DIR}/replayer/unicorn_insn.c ${CMAKE_CURRENT_LIST_DIR}/test_backend_unicorn.c
  LIBS emudiff_emu emudiff_schema PkgConfig::UNICORN)
target_include_directories(test_backend_unicorn PRIVATE ${CMAKE_SOURCE_DIR}/replayer)

# Unicorn against the host CPU over x87 and SSE edge operands; the differences it records are in
# replayer/unicorn-2.0.1-fp.md.
emudiff_test(test_unicorn_fp_sweep
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_unicorn_fp_sweep.c
  LIBS PkgConfig::UNICORN)
