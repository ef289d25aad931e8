# Corpus regression: record every manifest guest here and replay it with all backends against corpus/known.tsv.
emudiff_test(test_corpus_replay SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_corpus_replay.c
             LIBS PkgConfig::SQLITE3 LABELS kvm)
add_dependencies(test_corpus_replay emudiff corpus)
set_tests_properties(test_corpus_replay PROPERTIES TIMEOUT 1800)
