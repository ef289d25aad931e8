# Replay loop tests (the unicorn backend's tests live in unicorn.cmake).
set(REPLAYER_TEST_DIR ${CMAKE_CURRENT_SOURCE_DIR}/tests)
emudiff_test(test_replay SOURCES ${REPLAYER_TEST_DIR}/test_replay.c ${REPLAYER_TEST_DIR}/synth.c
             LIBS emudiff_replayer PkgConfig::SQLITE3)
emudiff_test(test_backend_kvm SOURCES ${REPLAYER_TEST_DIR}/test_backend_kvm.c ${REPLAYER_TEST_DIR}/synth.c
             LIBS emudiff_replayer LABELS kvm)
emudiff_test(test_cli_replay SOURCES ${REPLAYER_TEST_DIR}/test_cli_replay.c ${REPLAYER_TEST_DIR}/synth.c
             LIBS emudiff_schema)
emudiff_test(test_fetch_tlb SOURCES ${REPLAYER_TEST_DIR}/test_fetch_tlb.c LIBS emudiff_replayer)
