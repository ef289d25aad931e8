# Shards of one run joined by emudiff report.
emudiff_test(test_cli_merge SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_cli_merge.c
             ${CMAKE_CURRENT_SOURCE_DIR}/tests/synth.c LIBS emudiff_schema PkgConfig::SQLITE3)
# The Slurm job scripts (ci/slurm) on a single-node cluster started for the test; skipped (77) without Slurm.
# Alone: its daemons and jobs would slow the timed-out steps of the tests beside it.
add_test(NAME slurm_cluster COMMAND bash ${CMAKE_SOURCE_DIR}/ci/slurm/test-cluster)
set_tests_properties(slurm_cluster PROPERTIES LABELS cluster SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE
  ENVIRONMENT "EMUDIFF_BIN=$<TARGET_FILE:emudiff>;EMUDIFF_CORPUS=${CMAKE_BINARY_DIR}/corpus")
