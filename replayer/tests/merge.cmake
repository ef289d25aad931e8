# Shards of one run joined by emudiff report.
emudiff_test(test_cli_merge SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_cli_merge.c
             ${CMAKE_CURRENT_SOURCE_DIR}/tests/synth.c LIBS emudiff_schema PkgConfig::SQLITE3)
