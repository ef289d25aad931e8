# ALU tests compile emu/alu.c directly so they build while the rest of emu/ is in progress.
emudiff_test(test_alu SOURCES ${CMAKE_SOURCE_DIR}/emu/tests/test_alu.c ${CMAKE_SOURCE_DIR}/emu/alu.c)
target_include_directories(test_alu PRIVATE ${CMAKE_SOURCE_DIR}/emu)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  emudiff_test(test_native_sweep SOURCES ${CMAKE_SOURCE_DIR}/emu/tests/test_native_sweep.c
               ${CMAKE_SOURCE_DIR}/emu/alu.c)
  target_include_directories(test_native_sweep PRIVATE ${CMAKE_SOURCE_DIR}/emu)
endif()
