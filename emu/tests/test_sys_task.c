/* Task switches: JMP and CALL to a TSS, INT n and exceptions through task gates, IRET with NT
 * through the back link; the save into the old TSS, busy bits, back link, NT, CR0.TS, and the
 * faults of each check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sys_table.h"

/* The rows are aligned by hand, a field a column. */
/* clang-format off */

#define C   TH_CODE
#define S   TH_STACK
#define NUL 0x10000ull
#define NT  0x4000ull
#define GDT(sel) (TH_GDT + ((sel) & ~7u))
/* The state of the layout's second task once loaded. */
#define TASK2                                                                                                \
	{"rip", 0x6000}, {"rax", 0x1111}, {"rsp", 0x9000}, {"cr0", 0x19}, {"tr.sel", SEL_TSS2}, {"tr.base", SYS_TSS2},  \
	    {"tr.limit", 0x67}, {"tr.attr", 0x8b}, {"ldtr.sel", 0}, {"ldtr.attr", NUL}, {"ldtr.limit", 0}

static const struct srow rows[] = {
	/* JMP: the old task saved, its busy bit cleared, the new one set busy; no back link, NT clear. */
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .in = {{"rax", 0x77}},
	  .out = {TASK2, {"rflags", 0x2}},
	  .mout = {{SYS_TSS + 0x20, C + 7, 4}, {SYS_TSS + 0x24, 0x2, 4}, {SYS_TSS + 0x28, 0x77, 4}, {SYS_TSS + 0x38, S, 4},
	           {SYS_TSS + 0x4c, 0x08, 4}, {GDT(SEL_TSS) + 5, 0x89, 1}, {GDT(SEL_TSS2) + 5, 0x8b, 1}, {SYS_TSS2, 0, 2}}),
	/* CALL: back link to the old task, NT set, the old task stays busy. */
	T(P32, CODE("\x9a\x00\x00\x00\x00\x98\x00"), .out = {TASK2, {"rflags", 0x2 | NT}},
	  .mout = {{SYS_TSS + 0x20, C + 7, 4}, {GDT(SEL_TSS) + 5, 0x8b, 1}, {GDT(SEL_TSS2) + 5, 0x8b, 1},
	           {SYS_TSS2, SEL_TSS, 2}}),
	/* Through a task gate in the GDT. */
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_gate(SEL_TSS2, 0, 0x5, 0, 0), 8}},
	  .out = {TASK2, {"rflags", 0x2 | NT}}, .mout = {{SYS_TSS2, SEL_TSS, 2}}),
	/* INT n through a task gate in the IDT: the saved EIP is after INT n. */
	T(P32, CODE("\xcd\x40"), .min = {{SYS_IDT + 0x40 * 8, sys_gate(SEL_TSS2, 0, 0x5, 0, 0), 8}},
	  .out = {TASK2, {"rflags", 0x2 | NT}}, .mout = {{SYS_TSS + 0x20, C + 2, 4}, {SYS_TSS2, SEL_TSS, 2}}),
	/* An exception through a task gate: the error code goes on the new task's stack. */
	T(P32, CODE("\x8e\xd8"), .deliver = true, .in = {{"rax", 0x1000}},
	  .min = {{SYS_IDT + 13 * 8, sys_gate(SEL_TSS2, 0, 0x5, 0, 0), 8}},
	  .out = {TASK2, {"rsp", 0x9000 - 4}, {"rflags", 0x2 | NT}},
	  .mout = {{SYS_TSS + 0x20, C, 4}, {SYS_TSS + 0x28, 0x1000, 4}, {0x9000 - 4, 0x1000, 4}}),
	/* IRET with NT: back to the task in the back link; the returning task is no longer busy, NT cleared
	 * in its saved image. */
	T(P32, CODE("\xcf"), .in = {{"tr.sel", SEL_TSS2}, {"tr.base", SYS_TSS2}, {"rflags", 0x2 | NT}},
	  .min = {{GDT(SEL_TSS2), sys_desc(SYS_TSS2, 0x67, 0x8b), 8}, {SYS_TSS2, SEL_TSS, 2}, {SYS_TSS + 0x20, 0x7000, 4},
	          {SYS_TSS + 0x24, 0x202, 4}, {SYS_TSS + 0x38, 0x7800, 4}, {SYS_TSS + 0x4c, 0x08, 4}, {SYS_TSS + 0x50, 0x10, 4}},
	  .out = {{"rip", 0x7000}, {"rflags", 0x202}, {"rsp", 0x7800}, {"cr0", 0x19}, {"tr.sel", SEL_TSS}, {"tr.base", SYS_TSS},
	          {"ldtr.sel", 0}, {"ldtr.attr", NUL}, {"ldtr.limit", 0}, {"ds.sel", 0}, {"ds.attr", NUL}, {"ds.limit", 0},
	          {"es.sel", 0}, {"es.attr", NUL}, {"es.limit", 0}, {"fs.sel", 0}, {"fs.attr", NUL}, {"fs.limit", 0},
	          {"gs.sel", 0}, {"gs.attr", NUL}, {"gs.limit", 0}},
	  .mout = {{GDT(SEL_TSS2) + 5, 0x89, 1}, {GDT(SEL_TSS) + 5, 0x8b, 1}, {SYS_TSS2 + 0x20, C + 1, 4},
	           {SYS_TSS2 + 0x24, 0x2, 4}}),
	/* IRET with NT: the back link must name a busy TSS in the GDT. */
	T(P32, CODE("\xcf"), .in = {{"tr.sel", SEL_TSS2}, {"tr.base", SYS_TSS2}, {"rflags", 0x2 | NT}},
	  .min = {{SYS_TSS2, SEL_TSS2, 2}}, FAULT(10, SEL_TSS2)),
	T(P32, CODE("\xcf"), .in = {{"tr.sel", SEL_TSS2}, {"tr.base", SYS_TSS2}, {"rflags", 0x2 | NT}},
	  .min = {{SYS_TSS2, 0x5c, 2}}, FAULT(10, 0x5c)),
	/* JMP/CALL faults: a busy TSS, not present, too short, DPL < CPL; a task gate naming a non-TSS. */
	T(P32, CODE("\xea\x00\x00\x00\x00\x58\x00"), FAULT(13, 0x58)),
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{GDT(SEL_TSS2), sys_desc(SYS_TSS2, 0x67, 0x09), 8}},
	  FAULT(11, 0x98)),
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{GDT(SEL_TSS2), sys_desc(SYS_TSS2, 0x60, 0x89), 8}},
	  FAULT(10, 0x98)),
	T(P32, CODE("\xea\x00\x00\x00\x00\x9b\x00"), .cpl3 = true, FAULT(13, 0x98)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_gate(0x10, 0, 0x5, 0, 0), 8}}, FAULT(13, 0x10)),
	/* Checks of the new task's segments: CS not code, SS of the wrong privilege, data not present, LDT. */
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{SYS_TSS2 + 0x4c, 0x10, 4}}, FAULT(10, 0x10)),
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{SYS_TSS2 + 0x50, SEL_DATA3, 4}}, FAULT(10, 0x50)),
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{SYS_TSS2 + 0x54, 0x40, 4}}, FAULT(11, 0x40)),
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{SYS_TSS2 + 0x60, 0x10, 4}}, FAULT(10, 0x10)),
	/* A task with an LDT. */
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{SYS_TSS2 + 0x60, SEL_LDT, 4}},
	  .out = {TASK2, {"rflags", 0x2}, {"ldtr.sel", SEL_LDT}, {"ldtr.base", SYS_LDT}, {"ldtr.limit", 0xff}, {"ldtr.attr", 0x82}}),
	/* A task entering virtual-8086 mode. */
	T(P32, CODE("\xea\x00\x00\x00\x00\x98\x00"), .min = {{SYS_TSS2 + 0x24, 0x20002, 4}, {SYS_TSS2 + 0x4c, 0x1000, 4}},
	  .out = {{"rip", 0x6000}, {"rax", 0x1111}, {"rsp", 0x9000}, {"cr0", 0x19}, {"tr.sel", SEL_TSS2}, {"tr.base", SYS_TSS2},
	          {"ldtr.sel", 0}, {"ldtr.attr", NUL}, {"ldtr.limit", 0}, {"rflags", 0x20002}, {"cs.sel", 0x1000},
	          {"cs.base", 0x10000}, {"cs.limit", 0xffff}, {"cs.attr", 0xf3}, {"ss.base", 0x100}, {"ss.limit", 0xffff},
	          {"ss.attr", 0xf3}, {"ds.base", 0x100}, {"ds.limit", 0xffff}, {"ds.attr", 0xf3}, {"es.base", 0x100},
	          {"es.limit", 0xffff}, {"es.attr", 0xf3}, {"fs.base", 0x100}, {"fs.limit", 0xffff}, {"fs.attr", 0xf3},
	          {"gs.base", 0x100}, {"gs.limit", 0xffff}, {"gs.attr", 0xf3}}),
};
/* clang-format on */

static void test_task(void **state)
{
	(void)state;
	assert_int_equal(sys_run(rows, sizeof(rows) / sizeof(rows[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_task),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
