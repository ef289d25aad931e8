# emu core tests: the instruction table against whole states, and the decoder against Capstone.
emudiff_test(test_emu_core SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_emu_core.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
             LIBS emudiff_emu emudiff_schema)
target_include_directories(test_emu_core PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
# Capstone is linked into this test only.
emudiff_test(test_emu_decode SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_emu_decode.c LIBS emudiff_emu PkgConfig::CAPSTONE)
target_include_directories(test_emu_decode PRIVATE ${CMAKE_SOURCE_DIR}/emu)
# Random instructions in every mode: fault semantics, and the caches against no caches.
emudiff_test(test_emu_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_emu_fuzz.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
             LIBS emudiff_emu emudiff_schema)
target_include_directories(test_emu_fuzz PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
# emu_insn_identify, the classification other modules share, a row an instruction.
emudiff_test(test_emu_identify SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_emu_identify.c LIBS emudiff_emu)
# The D8-DF opcode map: nothing the CPU model advertises is unimplemented, the reserved forms #UD.
emudiff_test(test_x87_map SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_x87_map.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
             LIBS emudiff_emu emudiff_schema)
target_include_directories(test_x87_map PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
