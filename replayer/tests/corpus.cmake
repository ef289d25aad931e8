# Corpus regression: record every manifest guest here and replay it against corpus/known.tsv, on KVM
# (emu, unicorn and kvm backends) and with --engine emu (emu and unicorn, no KVM needed).
add_executable(test_corpus_replay ${CMAKE_CURRENT_LIST_DIR}/test_corpus_replay.c
               ${CMAKE_SOURCE_DIR}/corpus/tests/manifest.c)
target_link_libraries(test_corpus_replay PRIVATE PkgConfig::SQLITE3 PkgConfig::CMOCKA)
add_dependencies(test_corpus_replay emudiff corpus)
foreach(engine kvm emu)
  set(name test_corpus_replay)
  if(engine STREQUAL emu)
    set(name test_corpus_replay_emu)
  endif()
  add_test(NAME ${name} COMMAND test_corpus_replay ${engine})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800
    ENVIRONMENT "EMUDIFF_BIN=$<TARGET_FILE:emudiff>;EMUDIFF_CORPUS=${CMAKE_BINARY_DIR}/corpus;EMUDIFF_SOURCE=${CMAKE_SOURCE_DIR}")
endforeach()
set_tests_properties(test_corpus_replay PROPERTIES LABELS kvm)
