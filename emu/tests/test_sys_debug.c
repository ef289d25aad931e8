/* Shadows and debug events: the MOV SS/POP SS shadow holds the single-step trap, NMIs and
 * instruction breakpoints over the next instruction; STI's shadow; TF single-step traps with
 * DR6.BS and their interplay with POPF, IRET and INT n; DR0-DR3 instruction breakpoints and RF. */
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
#define H(v) SYS_HANDLER(v)
#define TF  0x100ull
#define IF  0x200ull
#define RF  0x10000ull
#define BS  0x4000ull
#define BD  0x2000ull
#define DR6 0xffff0ff0ull

static const struct srow rows[] = {
	/* TF: #DB after the instruction, DR6.BS, the pushed EIP is the next instruction, TF in the image. */
	T(P32, CODE("\x90"), .deliver = true, .in = {{"rflags", 0x2 | TF}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}},
	  .mout = {{S - 12, C + 1, 4}, {S - 8, 0x08, 4}, {S - 4, 0x2 | TF, 4}}),
	/* Without delivery in the step the trap is left pending. */
	T(P32, CODE("\x90"), .in = {{"rflags", 0x2 | TF}},
	  .out = {{"dr6", DR6 | BS}, {"events.exc_pending", 1}, {"events.exc_vector", 1}}),
	/* Real mode through the IVT. */
	T(REAL, CODE("\x90"), .deliver = true, .in = {{"rflags", 0x2 | TF}}, .min = {{4, 0x01000200, 4}},
	  .out = {{"rip", 0x200}, {"cs.sel", 0x100}, {"cs.base", 0x1000}, {"rsp", S - 6}, {"rflags", 0x2}, {"dr6", DR6 | BS}},
	  .mout = {{S - 6, C + 1, 2}, {S - 2, 0x2 | TF, 2}}),
	/* MOV SS with TF: no trap after it (the shadow), the trap comes after the next instruction. */
	T(P32, CODE("\x8e\xd0\x90"), .deliver = true, .in = {{"rax", 0x10}, {"rflags", 0x2 | TF}},
	  .out = {{"rip", C + 2}, {"events.shadow", 1}}),
	T(P32, CODE("\x8e\xd0\x90"), .deliver = true, .steps = 2, .in = {{"rax", 0x10}, {"rflags", 0x2 | TF}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}}, .mout = {{S - 12, C + 3, 4}}),
	T(P32, CODE("\x17\x90"), .deliver = true, .steps = 2, .in = {{"rflags", 0x2 | TF}}, .min = {{S, 0x10, 4}},
	  .out = {{"rip", H(1)}, {"rsp", S + 4 - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}}, .mout = {{S + 4 - 12, C + 2, 4}}),
	/* Consecutive SS loads: only the first makes a shadow (SDM Vol. 3A 6.8.3), so the trap held over the
	 * second MOV SS is taken right after it; an STI shadow does not stop MOV SS making its own. */
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x10}, {"events.shadow", 1}}, .out = {{"events.shadow", 0}}),
	T(P32, CODE("\x8e\xd0\x8e\xd0"), .steps = 2, .in = {{"rax", 0x10}}, .out = {{"rip", C + 4}, {"events.shadow", 0}}),
	T(P32, CODE("\x17"), .in = {{"events.shadow", 1}}, .min = {{S, 0x10, 4}}, .out = {{"rsp", S + 4}, {"events.shadow", 0}}),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x10}, {"events.shadow", 2}}, .out = {{"events.shadow", 1}}),
	T(P32, CODE("\x8e\xd0\x8e\xd0"), .deliver = true, .steps = 2, .in = {{"rax", 0x10}, {"rflags", 0x2 | TF}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}}, .mout = {{S - 12, C + 4, 4}}),
	/* A MOV SS that faults is an ordinary fault: no shadow, no trap. */
	T(P32, CODE("\x8e\xd0"), .deliver = true, .in = {{"rax", 0x08}, {"rflags", 0x2 | TF}},
	  .out = {{"rip", H(13)}, {"rsp", S - 16}, {"rflags", 0x2}}, .mout = {{S - 16, 0x08, 4}, {S - 4, 0x2 | TF | RF, 4}}),
	/* An instruction breakpoint on the instruction in a MOV SS shadow is missed: debug exceptions are
	 * inhibited there (outside a shadow the same breakpoint faults, below). */
	T(P32, CODE("\x90"), .in = {{"events.shadow", 1}, {"dr0", C}, {"dr7", 0x401}},
	  .out = {{"rip", C + 1}, {"events.shadow", 0}}),
	/* Between REP iterations RF is set: a code breakpoint on the instruction fires once, not again for
	 * each iteration, and the image a single-step trap there pushes has RF set (SDM Vol. 3B 17.3.1.1). */
	T(P32, CODE("\xf3\xa4"), .steps = 2,
	  .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 3}, {"dr0", C}, {"dr7", 0x401}, {"rflags", 0x2 | RF}},
	  .out = {{"rsi", 0x2002}, {"rdi", 0x3002}, {"rcx", 1}, {"rip", C}, {"rflags", 0x2 | RF}}),
	T(P32, CODE("\xf3\xa4"), .steps = 3,
	  .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 3}, {"dr0", C}, {"dr7", 0x401}, {"rflags", 0x2 | RF}},
	  .out = {{"rsi", 0x2003}, {"rdi", 0x3003}, {"rcx", 0}, {"rip", C + 2}, {"rflags", 0x2}}),
	T(P32, CODE("\xf3\xa4"), .deliver = true, .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 2}, {"rflags", 0x2 | TF}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}, {"rsi", 0x2001}, {"rdi", 0x3001}, {"rcx", 1}},
	  .mout = {{S - 12, C, 4}, {S - 8, 0x08, 4}, {S - 4, 0x2 | TF | RF, 4}}),
	/* DR7.GD: a MOV DR faults with #DB before it runs, DR6.BD set, GD cleared for the handler, RF in the image;
	 * in a MOV SS shadow with TF the held single-step is reported with it, BS and BD in one #DB. */
	T(P32, CODE("\x0f\x23\xf8"), .deliver = true, .in = {{"rax", 0x1}, {"dr7", 0x2400}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"dr6", DR6 | BD}, {"dr7", 0x400}},
	  .mout = {{S - 12, C, 4}, {S - 4, 0x2 | RF, 4}}),
	T(P32, CODE("\x0f\x21\xf8"), .in = {{"dr7", 0x2400}}, FAULT(1, NOEC),
	  .out = {{"dr6", DR6 | BD}, {"dr7", 0x400}, {"rflags", 0x2 | RF}}),
	T(P32, CODE("\x8e\xd0\x0f\x23\xf8"), .deliver = true, .steps = 2,
	  .in = {{"rax", 0x10}, {"dr7", 0x2400}, {"rflags", 0x2 | TF}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"rflags", 0x2}, {"dr6", DR6 | BD | BS}, {"dr7", 0x400}},
	  .mout = {{S - 12, C + 2, 4}, {S - 4, 0x2 | TF | RF, 4}}),
	/* The MOV SS shadow holds an NMI for one instruction, then it is taken. */
	T(P32, CODE("\x90\x90"), .in = {{"events.nmi_pending", 1}, {"events.shadow", 1}},
	  .out = {{"rip", C + 1}, {"events.shadow", 0}}),
	T(P32, CODE("\x90\x90"), .steps = 2, .in = {{"events.nmi_pending", 1}, {"events.shadow", 1}},
	  .out = {{"rip", H(2)}, {"rsp", S - 12}, {"events.shadow", 0}, {"events.nmi_pending", 0}, {"events.nmi_masked", 1}},
	  .mout = {{S - 12, C + 1, 4}}),
	/* STI's shadow lasts one instruction; STI with IF already set makes none. */
	T(P32, CODE("\xfb"), .out = {{"rflags", 0x2 | IF}, {"events.shadow", 2}}),
	T(P32, CODE("\xfb\x90"), .steps = 2, .out = {{"rflags", 0x2 | IF}, {"rip", C + 2}}),
	T(P32, CODE("\xfb"), .in = {{"rflags", 0x2 | IF}}),
	/* STI does not hold the single-step trap. */
	T(P32, CODE("\xfb"), .deliver = true, .in = {{"rflags", 0x2 | TF}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}}, .mout = {{S - 4, 0x2 | TF | IF, 4}}),
	/* POPF that sets TF traps only after the next instruction; POPF that clears it still traps. */
	T(P32, CODE("\x9d"), .deliver = true, .min = {{S, 0x2 | TF, 4}}, .out = {{"rsp", S + 4}, {"rflags", 0x2 | TF}}),
	T(P32, CODE("\x9d"), .deliver = true, .in = {{"rflags", 0x2 | TF}}, .min = {{S, 0x2, 4}},
	  .out = {{"rip", H(1)}, {"rsp", S + 4 - 12}, {"rflags", 0x2}, {"dr6", DR6 | BS}}, .mout = {{S + 4 - 12, C + 1, 4}}),
	/* IRET that restores TF: no trap after it. */
	T(P32, CODE("\xcf"), .deliver = true, .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}, {S + 8, 0x2 | TF, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", S + 12}, {"rflags", 0x2 | TF}}),
	/* INT n with TF: the handler runs with TF clear and no trap is taken. */
	T(P32, CODE("\xcd\x80"), .deliver = true, .in = {{"rflags", 0x2 | TF}},
	  .out = {{"rip", H(0x80)}, {"rsp", S - 12}, {"rflags", 0x2}}, .mout = {{S - 4, 0x2 | TF, 4}}),
	/* Instruction breakpoints: a fault before the instruction, B0 in DR6; RF suppresses it once. */
	T(P32, CODE("\x90"), .deliver = true, .in = {{"dr0", C}, {"dr7", 0x401}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"dr6", DR6 | 1}}, .mout = {{S - 12, C, 4}}),
	T(P32, CODE("\x90"), .in = {{"dr0", C}, {"dr7", 0x401}}, FAULT(1, NOEC), .out = {{"dr6", DR6 | 1}}),
	T(P32, CODE("\x90"), .deliver = true, .in = {{"dr0", C}, {"dr7", 0x401}, {"rflags", 0x2 | RF}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x90"), .in = {{"dr2", C}, {"dr7", 0x420}}, .out = {{"dr6", DR6 | 4}}, FAULT(1, NOEC)),
	/* Disabled, or a data breakpoint on the same address: no instruction breakpoint. */
	T(P32, CODE("\x90"), .in = {{"dr0", C}, {"dr7", 0x400}}),
	T(P32, CODE("\x90"), .in = {{"dr0", C}, {"dr7", 0x10401}}),
	/* Long mode: the linear address is RIP. */
	T(L64, CODE("\x90"), .deliver = true, .in = {{"dr1", C}, {"dr7", 0x404}},
	  .out = {{"rip", H(1)}, {"rsp", S - 40}, {"dr6", DR6 | 2}}, .mout = {{S - 40, C, 8}}),
	/* Data breakpoints: a trap after the access, B0-B3 in DR6; RW 01 is writes only; LEN aligns. */
	T(P32, CODE("\x89\x03"), .deliver = true, .in = {{"rbx", 0x3000}, {"rax", 0x55}, {"dr0", 0x3000}, {"dr7", 0x10401}},
	  .out = {{"rip", H(1)}, {"rsp", S - 12}, {"dr6", DR6 | 1}}, .mout = {{0x3000, 0x55, 4}, {S - 12, C + 2, 4}}),
	T(P32, CODE("\x89\x03"), .in = {{"rbx", 0x3000}, {"dr3", 0x3000}, {"dr7", 0x10000040}},
	  .out = {{"dr6", DR6 | 8}, {"events.exc_pending", 1}, {"events.exc_vector", 1}}),
	T(P32, CODE("\x8b\x03"), .in = {{"rbx", 0x3000}, {"dr0", 0x3000}, {"dr7", 0x10401}}, .out = {{"rax", 0}}),
	T(P32, CODE("\x8a\x03"), .in = {{"rbx", 0x3003}, {"dr0", 0x3002}, {"dr7", 0xf0401}},
	  .out = {{"dr6", DR6 | 1}, {"events.exc_pending", 1}, {"events.exc_vector", 1}}),
	T(P32, CODE("\x8a\x03"), .in = {{"rbx", 0x3004}, {"dr0", 0x3002}, {"dr7", 0xf0401}}),
	/* A stack push hits too; with TF both are reported in one #DB. */
	T(P32, CODE("\x50"), .deliver = true, .in = {{"rflags", 0x2 | TF}, {"dr1", S - 4}, {"dr7", 0xd00404}},
	  .out = {{"rip", H(1)}, {"rsp", S - 16}, {"rflags", 0x2}, {"dr6", DR6 | BS | 2}}, .mout = {{S - 16, C + 1, 4}}),
};
/* clang-format on */

static void test_debug(void **state)
{
	(void)state;
	assert_int_equal(sys_run(rows, sizeof(rows) / sizeof(rows[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_debug),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
