# emu system semantics: event delivery, IRET, segmentation, far transfers, task switches, paging, debug.
foreach(t test_sys_events test_sys_far test_sys_task test_sys_seg test_sys_debug test_sys_paging test_sys_insn)
  emudiff_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c ${CMAKE_CURRENT_LIST_DIR}/sys_table.c
               ${CMAKE_CURRENT_LIST_DIR}/harness.c LIBS emudiff_emu emudiff_schema)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/emu ${CMAKE_SOURCE_DIR}/schema)
endforeach()
# The recorder's --fallback emu on the guests KVM's emulator cannot finish (needs /dev/kvm).
emudiff_test(test_sys_fallback SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sys_fallback.c
             ${CMAKE_SOURCE_DIR}/corpus/tests/manifest.c LIBS emudiff_shim LABELS kvm)
add_dependencies(test_sys_fallback emudiff corpus)
