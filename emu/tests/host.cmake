# Tests that check emu against the host CPU itself (x86-64 hosts only).
# x87 data movement against the host CPU's own x87 unit (x86-64 hosts only).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  emudiff_test(test_x87 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_x87.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
               LIBS emudiff_emu emudiff_schema)
  target_include_directories(test_x87 PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
endif()
# Instructions gated by CPUID (MOVBE, POPCNT, CRC32, TZCNT/LZCNT), CRC32 against the host.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  emudiff_test(test_gated SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gated.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
               LIBS emudiff_emu emudiff_schema)
  target_include_directories(test_gated PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
endif()
# SSE instructions against the host CPU over edge operands, every rounding mode, DAZ and FTZ.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  emudiff_test(test_sse_sweep SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sse_sweep.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
               LIBS emudiff_emu emudiff_schema m)
  target_include_directories(test_sse_sweep PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
endif()
# The soft-float core's float32/float64 operations against the host CPU's SSE unit.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  emudiff_test(test_softfloat SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_softfloat.c LIBS emudiff_emu)
  target_include_directories(test_softfloat PRIVATE ${CMAKE_SOURCE_DIR}/emu)
endif()
