# SIMD opcode maps: nothing the default CPU model advertises is unimplemented, and VEX is #UD.
emudiff_test(test_sse_opcodes SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sse_opcodes.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
             LIBS emudiff_emu emudiff_schema)
target_include_directories(test_sse_opcodes PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
