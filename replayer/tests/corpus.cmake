# Corpus regression: record every manifest guest here and replay it against corpus/known.tsv, on KVM
# (test_corpus_replay: emu, unicorn and kvm backends) and with --engine emu (test_corpus_replay_emu: emu and
# unicorn).
add_executable(test_corpus_replay ${CMAKE_CURRENT_LIST_DIR}/test_corpus_replay.c
               ${CMAKE_SOURCE_DIR}/corpus/tests/manifest.c)
target_link_libraries(test_corpus_replay PRIVATE emudiff_shim PkgConfig::SQLITE3 PkgConfig::CMOCKA)
add_dependencies(test_corpus_replay emudiff corpus)
emudiff_engine_tests(test_corpus_replay)
set_tests_properties(test_corpus_replay test_corpus_replay_emu PROPERTIES TIMEOUT 1800)
