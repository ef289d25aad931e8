/* Far JMP, CALL and RET in protected and long mode: code segments, call gates with the stack
 * switch and parameter copy, returns to an outer level, and the faults of each path. */
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
#define GDT(sel) (TH_GDT + ((sel) & ~7u))
#define NULLED_DATA                                                                                          \
	{"ds.sel", 0}, {"ds.attr", NUL}, {"ds.limit", 0}, {"es.sel", 0}, {"es.attr", NUL}, {"es.limit", 0},       \
	    {"fs.sel", 0}, {"fs.attr", NUL}, {"fs.limit", 0}, {"gs.sel", 0}, {"gs.attr", NUL}, {"gs.limit", 0}
/* A 32-bit call gate to 0x08:0x6000 with two parameters (DPL 3), at 0xd8. */
#define GATE3 {GDT(0xd8), sys_gate(0x08, 0x6000, 0xc, 3, 2), 8}

static const struct srow rows[] = {
	/* JMP far to code: non-conforming at CPL, conforming at or above it (CPL kept). */
	T(P32, CODE("\xea\x00\x60\x00\x00\x08\x00"), .out = {{"rip", 0x6000}}),
	T(P32, CODE("\xea\x00\x60\x00\x00\x6b\x00"), .cpl3 = true,
	  .out = {{"rip", 0x6000}, {"cs.sel", 0x6b}, {"cs.attr", 0xc09f}}),
	T(P32, CODE("\xea\x00\x60\x00\x00\x10\x00"), FAULT(13, 0x10)),
	T(P32, CODE("\xea\x00\x60\x00\x00\x4b\x00"), FAULT(13, 0x48)),
	T(P32, CODE("\xea\x00\x60\x00\x00\xc3\x00"), FAULT(13, 0xc0)),
	T(P32, CODE("\xea\x00\x60\x00\x00\x0b\x00"), FAULT(13, 0x08)),
	T(P32, CODE("\xea\x00\x60\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_desc(0, 0xfffff, 0xc01b), 8}},
	  FAULT(11, 0xd8)),
	T(P32, CODE("\xea\x00\x00\x01\x00\x30\x00"), FAULT(13, 0)),
	T(P32, CODE("\xea\x00\x60\x00\x00\x00\x00"), FAULT(13, 0)),
	T(P32, CODE("\xea\x00\x60\x00\x00\x00\x10"), FAULT(13, 0x1000)),
	/* The accessed bit of the target is written. */
	T(P32, CODE("\xea\x00\x60\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_desc(0, 0xfffff, 0xc09a), 8}},
	  .out = {{"rip", 0x6000}, {"cs.sel", 0xd8}}, .mout = {{GDT(0xd8), sys_desc(0, 0xfffff, 0xc09b), 8}}),
	/* CALL far to code pushes CS and the return address at the operand size. */
	T(P32, CODE("\x9a\x00\x60\x00\x00\x08\x00"), .out = {{"rip", 0x6000}, {"rsp", S - 8}},
	  .mout = {{S - 8, C + 7, 4}, {S - 4, 0x08, 4}}),
	T(P32, CODE("\x9a\x00\x60\x00\x00\x10\x00"), FAULT(13, 0x10)),
	T(P32, CODE("\x9a\x00\x60\x00\x00\x08\x00"), .in = {{"ss.sel", 0x20}, {"ss.limit", 0xfff}, {"rsp", 4}},
	  FAULT(12, 0)),
	/* CALL through a call gate to ring 0 from ring 3: TSS stack, SS:ESP, two parameters, CS:EIP. */
	T(P32, CODE("\x9a\x00\x00\x00\x00\xdb\x00"), .cpl3 = true,
	  .min = {GATE3, {SYS_STACK3, 0x1111, 4}, {SYS_STACK3 + 4, 0x2222, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", SYS_STACK0 - 24}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b}, {"ss.sel", 0x10},
	          {"ss.attr", 0xc093}},
	  .mout = {{SYS_STACK0 - 4, SEL_DATA3, 4}, {SYS_STACK0 - 8, SYS_STACK3, 4}, {SYS_STACK0 - 12, 0x2222, 4},
	           {SYS_STACK0 - 16, 0x1111, 4}, {SYS_STACK0 - 20, SEL_CODE3, 4}, {SYS_STACK0 - 24, C + 7, 4}}),
	/* The same gate at ring 0: no stack switch, no parameters. */
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {GATE3},
	  .out = {{"rip", 0x6000}, {"rsp", S - 8}}, .mout = {{S - 8, C + 7, 4}, {S - 4, 0x08, 4}}),
	/* JMP through a call gate: never a privilege change. */
	T(P32, CODE("\xea\x00\x00\x00\x00\xd8\x00"), .min = {GATE3}, .out = {{"rip", 0x6000}}),
	T(P32, CODE("\xea\x00\x00\x00\x00\xdb\x00"), .cpl3 = true, .min = {GATE3}, FAULT(13, 0x08)),
	/* Gate faults: DPL < CPL, DPL < RPL, not present, target not code, target DPL > CPL. */
	T(P32, CODE("\x9a\x00\x00\x00\x00\xdb\x00"), .cpl3 = true, .min = {{GDT(0xd8), sys_gate(0x08, 0x6000, 0xc, 0, 0), 8}},
	  FAULT(13, 0xd8)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xdb\x00"), .min = {{GDT(0xd8), sys_gate(0x08, 0x6000, 0xc, 0, 0), 8}},
	  FAULT(13, 0xd8)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"),
	  .min = {{GDT(0xd8), sys_gate(0x08, 0x6000, 0xc, 3, 0) & ~(1ull << 47), 8}}, FAULT(11, 0xd8)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_gate(0x10, 0x6000, 0xc, 3, 0), 8}},
	  FAULT(13, 0x10)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_gate(SEL_CODE3, 0x6000, 0xc, 3, 0), 8}},
	  FAULT(13, 0x48)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {{GDT(0xd8), sys_gate(0, 0x6000, 0xc, 3, 0), 8}}, FAULT(13, 0)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xd8\x00"), .min = {{GDT(0xd8), 0x0000e20000000000ull, 8}}, FAULT(13, 0xd8)),
	/* Stack switch faults: a bad SS in the TSS (#TS), a stack without room (#SS with the new SS). */
	T(P32, CODE("\x9a\x00\x00\x00\x00\xdb\x00"), .cpl3 = true, .min = {GATE3, {SYS_TSS + 8, 0x53, 4}},
	  FAULT(10, 0x50)),
	T(P32, CODE("\x9a\x00\x00\x00\x00\xdb\x00"), .cpl3 = true, .min = {GATE3, {SYS_TSS + 8, 0x20, 4}, {SYS_TSS + 4, 0x10, 4}},
	  FAULT(12, 0x20)),
	/* 16-bit call gate: 2-byte slots and a 16-bit offset. */
	T(P32, CODE("\x9a\x00\x00\x00\x00\xdb\x00"), .cpl3 = true,
	  .min = {{GDT(0xd8), sys_gate(0x08, 0x6000, 0x4, 3, 1), 8}, {SYS_STACK3, 0x3333, 2}},
	  .out = {{"rip", 0x6000}, {"rsp", SYS_STACK0 - 10}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b}, {"ss.sel", 0x10},
	          {"ss.attr", 0xc093}},
	  .mout = {{SYS_STACK0 - 2, SEL_DATA3, 2}, {SYS_STACK0 - 4, SYS_STACK3, 2}, {SYS_STACK0 - 6, 0x3333, 2},
	           {SYS_STACK0 - 8, SEL_CODE3, 2}, {SYS_STACK0 - 10, C + 7, 2}}),
	/* Long mode: a 16-byte call gate from ring 3, null SS at ring 0, 8-byte slots, no parameters. */
	T(L64, CODE("\xff\x1c\x25\x00\x30\x00\x00"), .cpl3 = true,
	  .min = {{0x3000, 0, 4}, {0x3004, 0xdb, 2}, {GDT(0xd8), sys_gate(0x28, 0x6000, 0xc, 3, 0), 8}, {GDT(0xe0), 0, 8}},
	  .out = {{"rip", 0x6000}, {"rsp", SYS_STACK0 - 32}, {"cs.sel", 0x28}, {"cs.attr", 0xa09b}, {"ss.sel", 0},
	          {"ss.attr", NUL}, {"ss.limit", 0}},
	  .mout = {{SYS_STACK0 - 8, SEL_DATA3, 8}, {SYS_STACK0 - 16, SYS_STACK3, 8}, {SYS_STACK0 - 24, SEL_CODE64_3, 8},
	           {SYS_STACK0 - 32, C + 7, 8}}),
	/* Long mode: the upper half of a gate must have type 0; the target must be 64-bit code. */
	T(L64, CODE("\xff\x1c\x25\x00\x30\x00\x00"), .min = {{0x3000, 0, 4}, {0x3004, 0xd8, 2},
	  {GDT(0xd8), sys_gate(0x28, 0x6000, 0xc, 3, 0), 8}, {GDT(0xe0), 0x00000c0000000000ull, 8}}, FAULT(13, 0xd8)),
	T(L64, CODE("\xff\x1c\x25\x00\x30\x00\x00"), .min = {{0x3000, 0, 4}, {0x3004, 0xd8, 2},
	  {GDT(0xd8), sys_gate(0x08, 0x6000, 0xc, 3, 0), 8}, {GDT(0xe0), 0, 8}}, FAULT(13, 0x08)),
	T(L64, CODE("\xff\x1c\x25\x00\x30\x00\x00"), .min = {{0x3000, 0, 4}, {0x3004, 0xd8, 2},
	  {GDT(0xd8), sys_gate(0x28, 0x6000, 0x4, 3, 0), 8}, {GDT(0xe0), 0, 8}}, FAULT(13, 0xd8)),

	/* RETF: same level, with an immediate, to an outer level (SS:ESP popped, data segments nulled). */
	T(P32, CODE("\xcb"), .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}}, .out = {{"rip", 0x6000}, {"rsp", S + 8}}),
	T(P32, CODE("\xca\x08\x00"), .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}}, .out = {{"rip", 0x6000}, {"rsp", S + 16}}),
	T(P32, CODE("\xcb"), .min = {{S, 0x6000, 4}, {S + 4, SEL_CODE3, 4}, {S + 8, 0x9000, 4}, {S + 12, SEL_DATA3, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9000}, {"cs.sel", SEL_CODE3}, {"cs.attr", 0xc0fb}, {"ss.sel", SEL_DATA3},
	          {"ss.attr", 0xc0f3}, NULLED_DATA}),
	T(P32, CODE("\xca\x08\x00"), .min = {{S, 0x6000, 4}, {S + 4, SEL_CODE3, 4}, {S + 16, 0x9000, 4}, {S + 20, SEL_DATA3, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9008}, {"cs.sel", SEL_CODE3}, {"cs.attr", 0xc0fb}, {"ss.sel", SEL_DATA3},
	          {"ss.attr", 0xc0f3}, NULLED_DATA}),
	/* 16-bit RETF in 32-bit code. */
	T(P32, CODE("\x66\xcb"), .min = {{S, 0x6000, 2}, {S + 2, 0x08, 2}}, .out = {{"rip", 0x6000}, {"rsp", S + 4}}),
	/* Faults: RPL < CPL, not code, DPL != RPL, not present, SS RPL, SS not writable, SS not present, null SS. */
	T(P32, CODE("\xcb"), .cpl3 = true, .min = {{SYS_STACK3 + 4, 0x08, 4}}, FAULT(13, 0x08)),
	T(P32, CODE("\xcb"), .min = {{S + 4, 0x10, 4}}, FAULT(13, 0x10)),
	T(P32, CODE("\xcb"), .min = {{S + 4, 0x0b, 4}}, FAULT(13, 0x08)),
	T(P32, CODE("\xcb"), .min = {{S + 4, 0xd8, 4}, {GDT(0xd8), sys_desc(0, 0xfffff, 0xc01b), 8}}, FAULT(11, 0xd8)),
	T(P32, CODE("\xcb"), .min = {{S + 4, SEL_CODE3, 4}, {S + 12, 0x10, 4}}, FAULT(13, 0x10)),
	T(P32, CODE("\xcb"), .min = {{S + 4, SEL_CODE3, 4}, {S + 12, SEL_CODE3, 4}}, FAULT(13, 0x48)),
	T(P32, CODE("\xcb"), .min = {{S + 4, SEL_CODE3, 4}, {S + 12, 0xdb, 4}, {GDT(0xd8), sys_desc(0, 0xfffff, 0xc073), 8}},
	  FAULT(12, 0xd8)),
	T(P32, CODE("\xcb"), .min = {{S + 4, SEL_CODE3, 4}, {S + 12, 0, 4}}, FAULT(13, 0)),
	T(P32, CODE("\xcb"), .min = {{S, 0x10000, 4}, {S + 4, 0x30, 4}}, FAULT(13, 0)),
	/* Long mode: RETFQ to ring 3, and to compatibility mode. */
	T(L64, CODE("\x48\xcb"), .min = {{S, 0x6000, 8}, {S + 8, SEL_CODE64_3, 8}, {S + 16, 0x9000, 8}, {S + 24, SEL_DATA3, 8}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9000}, {"cs.sel", SEL_CODE64_3}, {"cs.attr", 0xa0fb}, {"ss.sel", SEL_DATA3},
	          {"ss.attr", 0xc0f3}, NULLED_DATA}),
	T(L64, CODE("\xcb"), .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}}, .out = {{"rip", 0x6000}, {"rsp", S + 8},
	  {"cs.sel", 0x08}, {"cs.attr", 0xc09b}}),
	T(L64, CODE("\x48\xcb"), .min = {{S, 0x0000800000000000ull, 8}, {S + 8, 0x28, 8}}, FAULT(13, 0)),
};
/* clang-format on */

static void test_far(void **state)
{
	(void)state;
	assert_int_equal(sys_run(rows, sizeof(rows) / sizeof(rows[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_far),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
