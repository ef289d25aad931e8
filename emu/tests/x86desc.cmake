# x86/'s descriptor decoding (x86_desc.h), which emu's segment loads use.
emudiff_test(test_desc SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_desc.c LIBS emudiff_x86)
