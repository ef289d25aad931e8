# x87 data movement against the host CPU's own x87 unit (x86-64 hosts only).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  emudiff_test(test_x87 SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_x87.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
               LIBS emudiff_emu emudiff_schema)
  target_include_directories(test_x87 PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
endif()
