/* System instructions: control registers and the mode switches they cause, MSRs, descriptor-table
 * and task registers, CLI/STI/PUSHF/POPF under IOPL, VME and PVI, I/O permission through IOPL
 * and the TSS bitmap, HLT, UMIP, INVLPG, debug registers. */
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
#define IF  0x200ull
#define TF  0x100ull
#define VM  0x20000ull
#define VIF 0x80000ull
#define VIP 0x100000ull
#define IOPL3 0x3000ull
#define GDT(sel) (TH_GDT + ((sel) & ~7u))

static const struct srow rows[] = {
	/* CR0: PE on from real mode; PG with EFER.LME and CR4.PAE activates long mode (LMA). */
	T(REAL, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x11}}, .out = {{"cr0", 0x11}}),
	T(P32, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x80000011}, {"cr4", 0x20}, {"efer", 0x100}, {"cr3", TH_PML4}},
	  .out = {{"cr0", 0x80000011}, {"efer", 0x500}}),
	T(P32, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x80000011}, {"efer", 0x100}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x80000010}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x20000011}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x22\xc0"), .cpl3 = true, .in = {{"rax", 0x11}}, FAULT(13, 0)),
	T(L64, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x11}}, FAULT(13, 0)),
	/* Leaving long mode from compatibility mode clears LMA. */
	T(CM, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x11}}, .out = {{"cr0", 0x11}, {"efer", 0x100}}),
	/* CR4: reserved bits, PAE cleared in long mode, LA57 changed in long mode. */
	T(P32, CODE("\x0f\x22\xe0"), .in = {{"rax", 1u << 25}}, FAULT(13, 0)),
	T(L64, CODE("\x0f\x22\xe0"), .in = {{"rax", 0x1020}, {"cr4", 0x20}}, FAULT(13, 0)),
	T(L64, CODE("\x0f\x22\xe0"), .in = {{"rax", 0}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x22\xe0"), .in = {{"rax", 0x30}}, .out = {{"cr4", 0x30}}),
	/* CR2, CR3; reads; CR8 only in 64-bit mode; CR1 is #UD. */
	T(P32, CODE("\x0f\x22\xd8"), .in = {{"rax", 0x20000}}, .out = {{"cr3", 0x20000}}),
	T(P32, CODE("\x0f\x20\xd0"), .in = {{"cr2", 0x1234}}, .out = {{"rax", 0x1234}}),
	T(L64, CODE("\x44\x0f\x22\xc0"), .in = {{"rax", 5}}, .out = {{"cr8", 5}}),
	T(P32, CODE("\x0f\x22\xc8"), FAULT(6, NOEC)),
	/* LMSW cannot clear PE; CLTS clears TS; SMSW. */
	T(P32, CODE("\x0f\x01\xf0"), .in = {{"rax", 0xe}, {"cr0", 0x11}}, .out = {{"cr0", 0x1f}}),
	T(P32, CODE("\x0f\x06"), .in = {{"cr0", 0x19}}, .out = {{"cr0", 0x11}}),
	T(P32, CODE("\x0f\x06"), .cpl3 = true, FAULT(13, 0)),
	T(P32, CODE("\x0f\x01\xe0"), .cpl3 = true, .out = {{"rax", 0x11}}),
	/* UMIP: SGDT, SIDT, SLDT, STR, SMSW at CPL > 0. */
	T(P32, CODE("\x0f\x01\xe0"), .cpl3 = true, .in = {{"cr4", 0x800}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x01\x00"), .cpl3 = true, .in = {{"cr4", 0x800}, {"rax", 0x3000}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x01\x00"), .cpl3 = true, .in = {{"rax", 0x3000}}, .mout = {{0x3000, 0xff, 2}, {0x3002, TH_GDT, 4}}),
	T(P32, CODE("\x0f\x00\xc8"), .cpl3 = true, .in = {{"cr4", 0x800}}, FAULT(13, 0)),
	/* MSRs: known ones, unknown ones (#GP), reserved EFER bits, non-canonical bases, CPL 3. */
	T(P32, CODE("\x0f\x30"), .in = {{"rcx", 0x174}, {"rax", 0x08}}, .out = {{"msr.sysenter_cs", 0x08}}),
	T(P32, CODE("\x0f\x32"), .in = {{"rcx", 0xc0000080}, {"efer", 0x800}}, .out = {{"rax", 0x800}}),
	T(P32, CODE("\x0f\x32"), .in = {{"rcx", 0x12345}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x30"), .in = {{"rcx", 0xc0000080}, {"rax", 0x2}}, FAULT(13, 0)),
	T(L64, CODE("\x0f\x30"), .in = {{"rcx", 0xc0000082}, {"rdx", 0x8000}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x32"), .cpl3 = true, .in = {{"rcx", 0x174}}, FAULT(13, 0)),
	T(L64, CODE("\x0f\x30"), .in = {{"rcx", 0xc0000080}, {"rax", 0x500}}, .out = {{"efer", 0x500}}),
	/* SWAPGS: 64-bit mode only, CPL 0 only. */
	T(L64, CODE("\x0f\x01\xf8"), .cpl3 = true, FAULT(13, 0)),
	/* HLT: CPL 0 halts, CPL 3 is #GP(0). */
	T(P32, CODE("\xf4"), .rc = EMU_HALT, .out = {{"events.halted", 1}}),
	T(P32, CODE("\xf4"), .cpl3 = true, FAULT(13, 0)),
	/* INVLPG: CPL 0 only. */
	T(P32, CODE("\x0f\x01\x38"), .in = {{"rax", 0x3000}}),
	T(P32, CODE("\x0f\x01\x38"), .cpl3 = true, .in = {{"rax", 0x3000}}, FAULT(13, 0)),
	/* Debug registers: DR4/DR5 alias DR6/DR7 without CR4.DE, #UD with it; reserved DR6/DR7 bits. */
	T(P32, CODE("\x0f\x21\xe0"), .out = {{"rax", 0xffff0ff0}}),
	T(P32, CODE("\x0f\x21\xe0"), .in = {{"cr4", 0x8}}, FAULT(6, NOEC)),
	T(P32, CODE("\x0f\x23\xf8"), .in = {{"rax", 0x1}}, .out = {{"dr7", 0x401}}),
	T(P32, CODE("\x0f\x23\xf8"), .cpl3 = true, .in = {{"rax", 0x1}}, FAULT(13, 0)),
	/* LTR: available TSS becomes busy; busy, non-TSS, null, CPL 3 are faults. LLDT. */
	T(P32, CODE("\x0f\x00\xd8"), .in = {{"rax", SEL_TSS2}},
	  .out = {{"tr.sel", SEL_TSS2}, {"tr.base", SYS_TSS2}, {"tr.limit", 0x67}, {"tr.attr", 0x8b}},
	  .mout = {{GDT(SEL_TSS2) + 5, 0x8b, 1}}),
	T(P32, CODE("\x0f\x00\xd8"), .in = {{"rax", SEL_TSS}}, FAULT(13, SEL_TSS)),
	T(P32, CODE("\x0f\x00\xd8"), .in = {{"rax", 0x10}}, FAULT(13, 0x10)),
	T(P32, CODE("\x0f\x00\xd8"), .in = {{"rax", 0}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x00\xd8"), .cpl3 = true, .in = {{"rax", SEL_TSS2}}, FAULT(13, 0)),
	T(P32, CODE("\x0f\x00\xd0"), .in = {{"rax", SEL_LDT}},
	  .out = {{"ldtr.sel", SEL_LDT}, {"ldtr.base", SYS_LDT}, {"ldtr.limit", 0xff}, {"ldtr.attr", 0x82}}),
	T(P32, CODE("\x0f\x00\xd0"), .in = {{"rax", 0}}, .out = {{"ldtr.attr", NUL}, {"ldtr.limit", 0}}),
	T(P32, CODE("\x0f\x00\xd0"), .in = {{"rax", 0x10}}, FAULT(13, 0x10)),
	T(REAL, CODE("\x0f\x00\xd0"), FAULT(6, NOEC)),

	/* CLI/STI: CPL <= IOPL; PVI at CPL 3 uses VIF (STI with VIP pending faults); VME in v86 mode. */
	T(P32, CODE("\xfa"), .cpl3 = true, .in = {{"rflags", 0x2 | IF}}, FAULT(13, 0)),
	T(P32, CODE("\xfa"), .cpl3 = true, .in = {{"rflags", 0x2 | IF | IOPL3}}, .out = {{"rflags", 0x2 | IOPL3}}),
	T(P32, CODE("\xfa"), .cpl3 = true, .in = {{"rflags", 0x2 | IF | VIF}, {"cr4", 0x2}}, .out = {{"rflags", 0x2 | IF}}),
	T(P32, CODE("\xfb"), .cpl3 = true, .in = {{"cr4", 0x2}}, .out = {{"rflags", 0x2 | VIF}}),
	T(P32, CODE("\xfb"), .cpl3 = true, .in = {{"cr4", 0x2}, {"rflags", 0x2 | VIP}}, FAULT(13, 0)),
	T(V86, CODE("\xfa"), .in = {{"rflags", 0x2 | VM | IF}}, FAULT(13, 0)),
	T(V86, CODE("\xfa"), .in = {{"rflags", 0x2 | VM | IF | VIF}, {"cr4", 1}}, .out = {{"rflags", 0x2 | VM | IF}}),
	T(V86, CODE("\xfb"), .in = {{"rflags", 0x2 | VM}, {"cr4", 1}}, .out = {{"rflags", 0x2 | VM | VIF}}),
	T(V86, CODE("\xfb"), .in = {{"rflags", 0x2 | VM | IOPL3}}, .out = {{"rflags", 0x2 | VM | IOPL3 | IF}, {"events.shadow", 2}}),
	/* PUSHF/POPF in v86 mode: IOPL 3 plain; VME 16-bit forms through VIF; 32-bit forms #GP. */
	T(V86, CODE("\x9c"), FAULT(13, 0)),
	T(V86, CODE("\x9c"), .in = {{"cr4", 1}, {"rflags", 0x2 | VM | VIF | 1}}, .out = {{"rsp", S - 2}},
	  .mout = {{S - 2, 0x2 | IF | IOPL3 | 1, 2}}),
	T(V86, CODE("\x66\x9c"), .in = {{"cr4", 1}}, FAULT(13, 0)),
	T(V86, CODE("\x9d"), .in = {{"cr4", 1}, {"rflags", 0x2 | VM | IF}}, .min = {{S, 0x2 | IF | IOPL3 | 0x80, 2}},
	  .out = {{"rsp", S + 2}, {"rflags", 0x2 | VM | IF | VIF | 0x80}}),
	T(V86, CODE("\x9d"), .in = {{"cr4", 1}}, .min = {{S, 0x2 | TF, 2}}, FAULT(13, 0)),
	T(V86, CODE("\x9d"), .in = {{"cr4", 1}, {"rflags", 0x2 | VM | VIP}}, .min = {{S, 0x2 | IF, 2}}, FAULT(13, 0)),
	T(V86, CODE("\x9c"), .in = {{"rflags", 0x2 | VM | IOPL3 | IF}}, .out = {{"rsp", S - 2}},
	  .mout = {{S - 2, 0x2 | IOPL3 | IF, 2}}),
	/* POPF at CPL 3: IOPL and (IOPL 0) IF unchanged. */
	T(P32, CODE("\x9d"), .cpl3 = true, .min = {{SYS_STACK3, 0x3202, 4}}, .out = {{"rsp", SYS_STACK3 + 4}}),

	/* I/O: IOPL allows; otherwise the TSS bitmap (two bytes read, within the TSS limit). */
	T(P32, CODE("\xe4\x80"), .cpl3 = true, .in = {{"rflags", 0x2 | IOPL3}}, .out = {{"rax", 0xa5}}),
	T(P32, CODE("\xe4\x80"), .cpl3 = true, FAULT(13, 0)),
	T(P32, CODE("\xe4\x80"), .cpl3 = true, .in = {{"tr.limit", 0x80}}, .out = {{"rax", 0xa5}}),
	T(P32, CODE("\xe4\x80"), .cpl3 = true, .in = {{"tr.limit", 0x80}}, .min = {{SYS_TSS + 0x78, 1, 1}}, FAULT(13, 0)),
	T(P32, CODE("\xe5\x87"), .cpl3 = true, .in = {{"tr.limit", 0x80}}, .min = {{SYS_TSS + 0x79, 1, 1}}, FAULT(13, 0)),
	T(P32, CODE("\xe4\x80"), .cpl3 = true, .in = {{"tr.limit", 0x78}}, FAULT(13, 0)),
	/* v86 mode always consults the bitmap, whatever IOPL. */
	T(V86, CODE("\xe4\x80"), .in = {{"rflags", 0x2 | VM | IOPL3}}, FAULT(13, 0)),
	T(V86, CODE("\xe4\x80"), .in = {{"tr.limit", 0x80}}, .out = {{"rax", 0xa5}}),
};
/* clang-format on */

static void test_insn(void **state)
{
	(void)state;
	assert_int_equal(sys_run(rows, sizeof(rows) / sizeof(rows[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_insn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
