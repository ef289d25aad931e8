/* Event delivery and IRET: the protected-mode and long-mode IDT, stack switches, error codes,
 * #DF and shutdown, and IRET in every form with the faults each path raises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sys_table.h"

/* The rows are aligned by hand, a field a column. */
/* clang-format off */

#define C    TH_CODE
#define S    TH_STACK
#define H(v) SYS_HANDLER(v)
#define RF   0x10000ull
#define IF   0x200ull
#define FX   0x2ull
#define TF   0x100ull
#define NT   0x4000ull
#define VM   0x20000ull
#define NUL  0x10000ull /* attr of a null segment */
#define IDTG(v) (SYS_IDT + (v) * 8u)
#define IDTL(v) (SYS_IDT + (v) * 16u)
/* The data segments a return to ring 3 leaves null. */
#define NULLED_DATA                                                                                          \
	{"ds.sel", 0}, {"ds.attr", NUL}, {"ds.limit", 0}, {"es.sel", 0}, {"es.attr", NUL}, {"es.limit", 0},       \
	    {"fs.sel", 0}, {"fs.attr", NUL}, {"fs.limit", 0}, {"gs.sel", 0}, {"gs.attr", NUL}, {"gs.limit", 0}

static const struct srow delivery[] = {
	/* INT n through a DPL 3 interrupt gate at CPL 0: same stack, IF cleared. */
	T(P32, CODE("\xcd\x80"), .in = {{"rflags", FX | IF}},
	  .out = {{"rip", H(0x80)}, {"rsp", S - 12}, {"rflags", FX}},
	  .mout = {{S - 12, C + 2, 4}, {S - 8, 0x08, 4}, {S - 4, FX | IF, 4}}),
	/* A trap gate leaves IF alone. */
	T(P32, CODE("\xcd\x81"), .in = {{"rflags", FX | IF | TF}},
	  .out = {{"rip", H(0x81)}, {"rsp", S - 12}, {"rflags", FX | IF}}, .mout = {{S - 4, FX | IF | TF, 4}}),
	/* From ring 3: SS:ESP from the TSS, the old SS:ESP pushed first. */
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .in = {{"rflags", FX | IF}},
	  .out = {{"rip", H(0x80)}, {"rsp", SYS_STACK0 - 20}, {"rflags", FX}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b},
	          {"ss.sel", 0x10}, {"ss.attr", 0xc093}},
	  .mout = {{SYS_STACK0 - 20, C + 2, 4}, {SYS_STACK0 - 16, SEL_CODE3, 4}, {SYS_STACK0 - 12, FX | IF, 4},
	           {SYS_STACK0 - 8, SYS_STACK3, 4}, {SYS_STACK0 - 4, SEL_DATA3, 4}}),
	/* 16-bit protected mode, ring 3, through a 16-bit interrupt gate: 2-byte pushes. */
	T(P16, CODE("\xcd\x40"), .cpl3 = true, .min = {{IDTG(0x40), 0x00008600000855aaull | (3ull << 45), 8}},
	  .out = {{"rip", 0x55aa}, {"rsp", SYS_STACK0 - 10}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b}, {"cs.limit", 0xffffffff},
	          {"ss.sel", 0x10}, {"ss.attr", 0xc093}, {"ss.limit", 0xffffffff}},
	  .mout = {{SYS_STACK0 - 10, C + 2, 2}, {SYS_STACK0 - 8, SEL_CODE16_3, 2}, {SYS_STACK0 - 6, FX, 2},
	           {SYS_STACK0 - 4, SYS_STACK3, 2}, {SYS_STACK0 - 2, SEL_DATA16_3, 2}}),
	/* Ring 3 to a DPL 1 handler: the ring-1 stack of the TSS. */
	T(P32, CODE("\xcd\x40"), .cpl3 = true, .min = {{IDTG(0x40), sys_gate(SEL_CODE1, 0x4000, 0xe, 3, 0), 8}},
	  .out = {{"rip", 0x4000}, {"rsp", SYS_STACK1 - 20}, {"cs.sel", SEL_CODE1}, {"cs.attr", 0xc0bb},
	          {"ss.sel", 0x79}, {"ss.attr", 0xc0b3}},
	  .mout = {{SYS_STACK1 - 8, SYS_STACK3, 4}}),
	/* A conforming handler runs at the caller's privilege on the caller's stack. */
	T(P32, CODE("\xcd\x40"), .cpl3 = true, .min = {{IDTG(0x40), sys_gate(SEL_CONF0, 0x4000, 0xe, 3, 0), 8}},
	  .out = {{"rip", 0x4000}, {"rsp", SYS_STACK3 - 12}, {"cs.sel", SEL_CONF0 | 3}, {"cs.attr", 0xc09f}},
	  .mout = {{SYS_STACK3 - 8, SEL_CODE3, 4}}),
	/* The gate's code segment gets its accessed bit. */
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(0xd8, 0x4000, 0xe, 0, 0), 8},
	  {TH_GDT + 0xd8, sys_desc(0, 0xfffff, 0xc09a), 8}},
	  .out = {{"rip", 0x4000}, {"rsp", S - 12}, {"cs.sel", 0xd8}, {"cs.attr", 0xc09b}},
	  .mout = {{TH_GDT + 0xd8, sys_desc(0, 0xfffff, 0xc09b), 8}}),
	/* Faults of the gate lookup: DPL < CPL for INT n, not present, beyond the IDT limit, bad type. */
	T(P32, CODE("\xcd\x82"), .cpl3 = true, FAULT(13, 0x82 * 8 + 2)),
	T(P32, CODE("\xcd\x83"), FAULT(11, 0x83 * 8 + 2)),
	T(P32, CODE("\xcd\x80"), .in = {{"idtr.limit", 0x3ff}}, FAULT(13, 0x80 * 8 + 2)),
	T(P32, CODE("\xcd\x80"), .in = {{"idtr.limit", 0x403}}, FAULT(13, 0x80 * 8 + 2)),
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(0x08, 0x4000, 0xc, 0, 0), 8}}, FAULT(13, 0x40 * 8 + 2)),
	/* Faults of the target: null CS, not code, DPL > CPL, not present, beyond its limit. */
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(0, 0x4000, 0xe, 0, 0), 8}}, FAULT(13, 0)),
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(0x10, 0x4000, 0xe, 0, 0), 8}}, FAULT(13, 0x10)),
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(SEL_CODE3, 0x4000, 0xe, 0, 0), 8}},
	  FAULT(13, SEL_CODE3 & ~3)),
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(0xd8, 0x4000, 0xe, 0, 0), 8},
	  {TH_GDT + 0xd8, sys_desc(0, 0xfffff, 0xc01b), 8}}, FAULT(11, 0xd8)),
	T(P32, CODE("\xcd\x40"), .min = {{IDTG(0x40), sys_gate(0x30, 0x14000, 0xe, 0, 0), 8}}, FAULT(13, 0)),
	/* Stack switch faults: TSS too short (#TS with the TR selector), bad SS in the TSS, no room. */
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .in = {{"tr.limit", 0x8}}, FAULT(10, SEL_TSS)),
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .min = {{SYS_TSS + 8, 0, 4}}, FAULT(10, 0)),
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .min = {{SYS_TSS + 8, 0x53, 4}}, FAULT(10, 0x50)),
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .min = {{SYS_TSS + 8, 0x08, 4}}, FAULT(10, 0x08)),
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .min = {{SYS_TSS + 8, 0x40, 4}}, FAULT(12, 0x40)),
	T(P32, CODE("\xcd\x80"), .cpl3 = true, .min = {{SYS_TSS + 8, 0x20, 4}, {SYS_TSS + 4, 0x10, 4}},
	  FAULT(12, 0x20)),
	/* Same-privilege stack overflow: #SS(0). */
	T(P32, CODE("\xcd\x80"), .in = {{"ss.sel", 0x20}, {"ss.limit", 0xfff}, {"ss.attr", 0x4093}, {"rsp", 8}},
	  FAULT(12, 0)),

	/* Exceptions delivered in the same step: the fault's RIP, RF in the image, error codes. */
	T(P32, CODE("\x0f\x0b"), .deliver = true, .in = {{"rflags", FX | IF}},
	  .out = {{"rip", H(6)}, {"rsp", S - 12}, {"rflags", FX}},
	  .mout = {{S - 12, C, 4}, {S - 8, 0x08, 4}, {S - 4, FX | IF | RF, 4}}),
	T(P32, CODE("\x8e\xd8"), .deliver = true, .in = {{"rax", 0x1000}},
	  .out = {{"rip", H(13)}, {"rsp", S - 16}}, .mout = {{S - 16, 0x1000, 4}, {S - 12, C, 4}}),
	T(P32, CODE("\xfa"), .deliver = true, .cpl3 = true, .in = {{"rflags", FX | IF}},
	  .out = {{"rip", H(13)}, {"rsp", SYS_STACK0 - 24}, {"rflags", FX}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b},
	          {"ss.sel", 0x10}, {"ss.attr", 0xc093}},
	  .mout = {{SYS_STACK0 - 24, 0, 4}, {SYS_STACK0 - 20, C, 4}, {SYS_STACK0 - 12, FX | IF | RF, 4}}),
	/* #GP while delivering #GP: #DF with error code 0 and the #DF handler. */
	T(P32, CODE("\x8e\xd8"), .deliver = true, .in = {{"rax", 0x1000}}, .min = {{IDTG(13) + 4, 0x00000e00, 4}},
	  .out = {{"rip", H(8)}, {"rsp", S - 16}}, .mout = {{S - 16, 0, 4}, {S - 12, C, 4}, {S - 4, FX, 4}}),
	/* #UD (benign) whose gate is missing: the #NP is delivered, with EXT and IDT set. */
	T(P32, CODE("\x0f\x0b"), .deliver = true, .min = {{IDTG(6) + 4, 0x00000e00, 4}},
	  .out = {{"rip", H(11)}, {"rsp", S - 16}}, .mout = {{S - 16, 6 * 8 + 3, 4}, {S - 12, C, 4}}),
	/* A fault while delivering #DF shuts the processor down; nothing changes. */
	T(P32, CODE("\x8e\xd8"), .deliver = true, .in = {{"rax", 0x1000}},
	  .min = {{IDTG(13) + 4, 0x00000e00, 4}, {IDTG(8) + 4, 0x00000e00, 4}}, .rc = EMU_SHUTDOWN, .rip_same = true),
	/* #PF then #GP while delivering it: #DF, and CR2 holds the #PF address. */
	T(L64, CODE("\x8b\x04\x25\x00\x00\x00\x40"), .deliver = true, .min = {{IDTL(14) + 2, 0x08, 2}},
	  .out = {{"rip", H(8)}, {"rsp", S - 48}, {"cr2", 0x40000000}}, .mout = {{S - 48, 0, 8}, {S - 40, C, 8}}),
	/* An injected event is delivered before anything executes; an external interrupt pushes this RIP. */
	T(P32, CODE("\x90"), .in = {{"events.exc_pending", 1}, {"events.exc_vector", 0x30}, {"rflags", FX | IF}},
	  .out = {{"rip", H(0x30)}, {"rsp", S - 12}, {"rflags", FX}, {"events.exc_pending", 0}},
	  .mout = {{S - 12, C, 4}, {S - 4, FX | IF, 4}}),
	/* An injected NMI blocks further NMIs; a pending one waits while they are blocked. */
	T(P32, CODE("\x90"), .in = {{"events.nmi_pending", 1}},
	  .out = {{"rip", H(2)}, {"rsp", S - 12}, {"events.nmi_pending", 0}, {"events.nmi_masked", 1}}),
	T(P32, CODE("\x90"), .in = {{"events.nmi_pending", 1}, {"events.nmi_masked", 1}}),
	/* Blocked by MOV SS too. */
	T(P32, CODE("\x90"), .in = {{"events.nmi_pending", 1}, {"events.shadow", 1}}, .out = {{"events.shadow", 0}}),
	/* A halted CPU wakes for an injected event; the return address is after HLT. */
	T(P32, CODE("\x90"), .in = {{"events.halted", 1}, {"events.exc_pending", 1}, {"events.exc_vector", 0x20}},
	  .out = {{"rip", H(0x20)}, {"rsp", S - 12}, {"events.halted", 0}, {"events.exc_pending", 0}},
	  .mout = {{S - 12, C, 4}}),
	/* INT3 and INTO are traps with the next RIP; INT1 needs no gate DPL. */
	T(P32, CODE("\xcc"), .cpl3 = true,
	  .out = {{"rip", H(3)}, {"rsp", SYS_STACK0 - 20}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b}, {"ss.sel", 0x10},
	          {"ss.attr", 0xc093}},
	  .mout = {{SYS_STACK0 - 20, C + 1, 4}}),
	T(P32, CODE("\xce"), .in = {{"rflags", FX | 0x800}}, .out = {{"rip", H(4)}, {"rsp", S - 12}}, .mout = {{S - 12, C + 1, 4}}),
	T(P32, CODE("\xce")),
	T(P32, CODE("\xf1"), .cpl3 = true,
	  .out = {{"rip", H(1)}, {"rsp", SYS_STACK0 - 20}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b}, {"ss.sel", 0x10},
	          {"ss.attr", 0xc093}},
	  .mout = {{SYS_STACK0 - 20, C + 1, 4}}),
	T(P32, CODE("\xcd\x01"), .cpl3 = true, FAULT(13, 8 + 2)),
	/* INT n in virtual-8086 mode: IOPL < 3 is #GP(0); IOPL 3 leaves through a ring-0 gate, pushing the
	 * data segments and nulling them. */
	T(V86, CODE("\xcd\x80"), FAULT(13, 0)),
	T(V86, CODE("\xcd\x80"), .in = {{"rflags", FX | VM | 0x3000}, {"ds.sel", 0x1234}, {"ds.base", 0x12340}},
	  .out = {{"rip", H(0x80)}, {"rsp", SYS_STACK0 - 36}, {"rflags", FX | 0x3000}, {"cs.sel", 0x08}, {"cs.attr", 0xc09b},
	          {"cs.limit", 0xffffffff}, {"ss.sel", 0x10}, {"ss.attr", 0xc093}, {"ss.limit", 0xffffffff}, NULLED_DATA,
	          {"ds.base", 0}},
	  .mout = {{SYS_STACK0 - 36, C + 2, 4}, {SYS_STACK0 - 32, 0, 4}, {SYS_STACK0 - 28, FX | VM | 0x3000, 4},
	           {SYS_STACK0 - 24, S, 4}, {SYS_STACK0 - 20, 0, 4}, {SYS_STACK0 - 12, 0x1234, 4}}),
	/* INT3 in v86 mode ignores IOPL (its gate has DPL 3). */
	T(V86, CODE("\xcc"), .out = {{"rip", H(3)}, {"rsp", SYS_STACK0 - 36}, {"rflags", FX}, {"cs.sel", 0x08},
	  {"cs.attr", 0xc09b}, {"cs.limit", 0xffffffff}, {"ss.sel", 0x10}, {"ss.attr", 0xc093}, {"ss.limit", 0xffffffff},
	  NULLED_DATA}),
	/* VME: a clear bit in the redirection bitmap sends INT n through the v86 IVT, IF from VIF. */
	T(V86, CODE("\xcd\x21"), .in = {{"cr4", 1}, {"rflags", FX | VM | 0x80000 | IF}},
	  .min = {{0x21 * 4, 0x12340010, 4}, {SYS_TSS + 0x66, 0x68, 2}},
	  .out = {{"rip", 0x10}, {"cs.sel", 0x1234}, {"cs.base", 0x12340}, {"rsp", S - 6}, {"rflags", FX | VM | IF}},
	  .mout = {{S - 6, C + 2, 2}, {S - 4, 0, 2}, {S - 2, FX | IF | 0x3000, 2}}),

	/* Long mode: 16-byte gates, SS:RSP always pushed, RSP aligned to 16. */
	T(L64, CODE("\xcd\x80"), .in = {{"rsp", S + 8}},
	  .out = {{"rip", H(0x80)}, {"rsp", S - 40}},
	  .mout = {{S - 40, C + 2, 8}, {S - 32, 0x28, 8}, {S - 24, FX, 8}, {S - 16, S + 8, 8}, {S - 8, 0x10, 8}}),
	T(L64, CODE("\xcd\x80"), .cpl3 = true,
	  .out = {{"rip", H(0x80)}, {"rsp", SYS_STACK0 - 40}, {"cs.sel", 0x28}, {"cs.attr", 0xa09b}, {"ss.sel", 0},
	          {"ss.attr", NUL}, {"ss.limit", 0}},
	  .mout = {{SYS_STACK0 - 32, SEL_CODE64_3, 8}, {SYS_STACK0 - 16, SYS_STACK3, 8}, {SYS_STACK0 - 8, SEL_DATA3, 8}}),
	/* IST: a stack switch at the same privilege level too. */
	T(L64, CODE("\xcd\x40"), .min = {{IDTL(0x40), sys_gate(0x28, H(0x40), 0xe, 0, 1), 8}},
	  .out = {{"rip", H(0x40)}, {"rsp", SYS_IST1 - 40}}, .mout = {{SYS_IST1 - 16, S, 8}}),
	/* A 32-bit target code segment, a legacy gate type, a non-canonical handler. */
	T(L64, CODE("\xcd\x40"), .min = {{IDTL(0x40), sys_gate(0x08, H(0x40), 0xe, 0, 0), 8}}, FAULT(13, 0x08)),
	T(L64, CODE("\xcd\x40"), .min = {{IDTL(0x40), sys_gate(0x28, H(0x40), 0x6, 0, 0), 8}}, FAULT(13, 0x40 * 8 + 2)),
	T(L64, CODE("\xcd\x40"), .min = {{IDTL(0x40) + 8, 0x8000, 4}}, FAULT(13, 0)),
	T(L64, CODE("\xcd\x40"), .in = {{"idtr.limit", 0x40e}}, FAULT(13, 0x40 * 8 + 2)),
	/* Compatibility mode enters the 64-bit handler the same way. */
	T(CM, CODE("\xcd\x80"), .out = {{"rip", H(0x80)}, {"rsp", S - 40}, {"cs.sel", 0x28}, {"cs.attr", 0xa09b}},
	  .mout = {{S - 32, 0x08, 8}}),
};

static const struct srow irets[] = {
	/* Real mode: 16- and 32-bit operand size; VM/VIP/VIF are not loaded. */
	T(REAL, CODE("\xcf"), .min = {{S, 0x0010, 2}, {S + 2, 0x2000, 2}, {S + 4, 0x0ed7, 2}},
	  .out = {{"rip", 0x10}, {"cs.sel", 0x2000}, {"cs.base", 0x20000}, {"rsp", S + 6}, {"rflags", 0x0ed7}}),
	T(REAL, CODE("\x66\xcf"), .min = {{S, 0x0010, 4}, {S + 4, 0x2000, 4}, {S + 8, 0x001e0202, 4}},
	  .out = {{"rip", 0x10}, {"cs.sel", 0x2000}, {"cs.base", 0x20000}, {"rsp", S + 12}, {"rflags", 0x40202}}),
	T(REAL, CODE("\x66\xcf"), .min = {{S, 0x10000, 4}}, FAULT(13, 0)),
	/* Protected mode, same privilege. */
	T(P32, CODE("\xcf"), .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}, {S + 8, 0x2c3, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", S + 12}, {"rflags", 0x2c3}}),
	T(P32, CODE("\x66\xcf"), .min = {{S, 0x6000, 2}, {S + 2, 0x08, 2}, {S + 4, 0x3202, 2}},
	  .out = {{"rip", 0x6000}, {"rsp", S + 6}, {"rflags", 0x3202}}),
	/* RF loaded from a 32-bit image stays set until the next instruction completes; a 16-bit image has none. */
	T(P32, CODE("\xcf"), .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}, {S + 8, 0x10202, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", S + 12}, {"rflags", 0x10202}}),
	T(P32, CODE("\x66\xcf"), .in = {{"rflags", 0x10002}}, .min = {{S, 0x6000, 2}, {S + 2, 0x08, 2}, {S + 4, 0x202, 2}},
	  .out = {{"rip", 0x6000}, {"rsp", S + 6}, {"rflags", 0x202}}),
	/* CPL 3 may not change IOPL or (IOPL 0) IF. */
	T(P32, CODE("\xcf"), .cpl3 = true, .min = {{SYS_STACK3, 0x6000, 4}, {SYS_STACK3 + 4, SEL_CODE3, 4},
	  {SYS_STACK3 + 8, 0x3203, 4}}, .out = {{"rip", 0x6000}, {"rsp", SYS_STACK3 + 12}, {"rflags", FX | 1}}),
	/* NMI blocking ends. */
	T(P32, CODE("\xcf"), .in = {{"events.nmi_masked", 1}}, .min = {{S, 0x6000, 4}, {S + 4, 0x08, 4}, {S + 8, 2, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", S + 12}, {"events.nmi_masked", 0}}),
	/* To ring 3: SS:ESP popped, data segments with DPL < 3 nulled. */
	T(P32, CODE("\xcf"), .min = {{S, 0x6000, 4}, {S + 4, SEL_CODE3, 4}, {S + 8, 0x202, 4}, {S + 12, 0x9000, 4},
	  {S + 16, SEL_DATA3, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9000}, {"rflags", 0x202}, {"cs.sel", SEL_CODE3}, {"cs.attr", 0xc0fb},
	          {"ss.sel", SEL_DATA3}, {"ss.attr", 0xc0f3}, NULLED_DATA}),
	/* A DPL 3 data segment stays. */
	T(P32, CODE("\xcf"), .in = {{"fs.sel", SEL_DATA3}, {"fs.attr", 0xc0f3}},
	  .min = {{S, 0x6000, 4}, {S + 4, SEL_CODE3, 4}, {S + 8, 0x2, 4}, {S + 12, 0x9000, 4}, {S + 16, SEL_DATA3, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9000}, {"cs.sel", SEL_CODE3}, {"cs.attr", 0xc0fb}, {"ss.sel", SEL_DATA3},
	          {"ss.attr", 0xc0f3}, {"ds.sel", 0}, {"ds.attr", NUL}, {"ds.limit", 0}, {"es.sel", 0}, {"es.attr", NUL},
	          {"es.limit", 0}, {"gs.sel", 0}, {"gs.attr", NUL}, {"gs.limit", 0}}),
	/* A 16-bit stack gets SP only: ESP's upper half stays from the ring-0 stack. */
	T(P32, CODE("\xcf"), .in = {{"rsp", 0x17ff0}}, .min = {{0x17ff0, 0x6000, 4}, {0x17ff4, SEL_CODE16_3, 4},
	  {0x17ff8, 0x2, 4}, {0x17ffc, 0xabcd1234, 4}, {0x18000, SEL_DATA16_3, 4}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x11234}, {"cs.sel", SEL_CODE16_3}, {"cs.attr", 0x00fb}, {"cs.limit", 0xffff},
	          {"ss.sel", SEL_DATA16_3}, {"ss.attr", 0x00f3}, {"ss.limit", 0xffff}, NULLED_DATA}),
	/* Faults: null CS, RPL < CPL, not code, conforming DPL > RPL, DPL != RPL, not present, beyond the limit. */
	T(P32, CODE("\xcf"), .min = {{S + 4, 0, 4}}, FAULT(13, 0)),
	T(P32, CODE("\xcf"), .cpl3 = true, .min = {{SYS_STACK3 + 4, 0x08, 4}}, FAULT(13, 0x08)),
	T(P32, CODE("\xcf"), .min = {{S + 4, 0x10, 4}}, FAULT(13, 0x10)),
	T(P32, CODE("\xcf"), .min = {{S + 4, 0x1000, 4}}, FAULT(13, 0x1000)),
	T(P32, CODE("\xcf"), .min = {{S + 4, SEL_CODE1 & ~3, 4}}, FAULT(13, SEL_CODE1 & ~3)),
	T(P32, CODE("\xcf"), .min = {{S + 4, 0xdb, 4}, {TH_GDT + 0xd8, sys_desc(0, 0xfffff, 0xc07b), 8}},
	  FAULT(11, 0xd8)),
	T(P32, CODE("\xcf"), .min = {{S, 0x10000, 4}, {S + 4, 0x30, 4}}, FAULT(13, 0)),
	/* Outer-level faults: null SS, SS RPL != CS RPL, SS DPL, SS not writable, SS not present. */
	T(P32, CODE("\xcf"), .min = {{S + 4, SEL_CODE3, 4}, {S + 16, 0, 4}}, FAULT(13, 0)),
	T(P32, CODE("\xcf"), .min = {{S + 4, SEL_CODE3, 4}, {S + 16, 0x10, 4}}, FAULT(13, 0x10)),
	T(P32, CODE("\xcf"), .min = {{S + 4, SEL_CODE3, 4}, {S + 16, 0x13, 4}}, FAULT(13, 0x10)),
	T(P32, CODE("\xcf"), .min = {{S + 4, SEL_CODE3, 4}, {S + 16, SEL_CODE3, 4}}, FAULT(13, SEL_CODE3 & ~3)),
	T(P32, CODE("\xcf"), .min = {{S + 4, SEL_CODE3, 4}, {S + 16, 0xe3, 4}, {TH_GDT + 0xe0, sys_desc(0, 0xfffff, 0xc073), 8}},
	  FAULT(12, 0xe0)),
	/* The pops themselves: beyond the SS limit is #SS(0). */
	T(P32, CODE("\xcf"), .in = {{"ss.sel", 0x20}, {"ss.limit", 0xfff}, {"rsp", 0xff8}}, FAULT(12, 0)),
	/* To virtual-8086 mode from CPL 0: six more pops, segments loaded the v86 way. */
	T(P32, CODE("\xcf"), .min = {{S, 0x100, 4}, {S + 4, 0x1000, 4}, {S + 8, 0x23202, 4}, {S + 12, 0x800, 4},
	  {S + 16, 0x2000, 4}, {S + 20, 0x3000, 4}, {S + 24, 0x4000, 4}, {S + 28, 0x5000, 4}, {S + 32, 0x6000, 4}},
	  .out = {{"rip", 0x100}, {"rsp", 0x800}, {"rflags", 0x23202}, {"cs.sel", 0x1000}, {"cs.base", 0x10000},
	          {"cs.limit", 0xffff}, {"cs.attr", 0xf3}, {"ss.sel", 0x2000}, {"ss.base", 0x20000}, {"ss.limit", 0xffff},
	          {"ss.attr", 0xf3}, {"es.sel", 0x3000}, {"es.base", 0x30000}, {"es.limit", 0xffff}, {"es.attr", 0xf3},
	          {"ds.sel", 0x4000}, {"ds.base", 0x40000}, {"ds.limit", 0xffff}, {"ds.attr", 0xf3}, {"fs.sel", 0x5000},
	          {"fs.base", 0x50000}, {"fs.limit", 0xffff}, {"fs.attr", 0xf3}, {"gs.sel", 0x6000}, {"gs.base", 0x60000},
	          {"gs.limit", 0xffff}, {"gs.attr", 0xf3}}),
	/* VM in the image is ignored above CPL 0 (here ring 3 at the same level). */
	T(P32, CODE("\xcf"), .cpl3 = true, .min = {{SYS_STACK3, 0x6000, 4}, {SYS_STACK3 + 4, SEL_CODE3, 4},
	  {SYS_STACK3 + 8, 0x20002, 4}}, .out = {{"rip", 0x6000}, {"rsp", SYS_STACK3 + 12}}),
	/* In virtual-8086 mode: IOPL 3 pops 16-bit frames and keeps IOPL; IOPL < 3 without VME is #GP(0). */
	T(V86, CODE("\xcf"), .in = {{"rflags", FX | VM | 0x3000}}, .min = {{S, 0x20, 2}, {S + 2, 0x100, 2}, {S + 4, 0x0203, 2}},
	  .out = {{"rip", 0x20}, {"cs.sel", 0x100}, {"cs.base", 0x1000}, {"rsp", S + 6}, {"rflags", VM | 0x3203}}),
	T(V86, CODE("\xcf"), FAULT(13, 0)),
	T(V86, CODE("\x66\xcf"), .in = {{"cr4", 1}}, FAULT(13, 0)),
	/* VME: IF in the image goes to VIF; TF set, or IF with VIP pending, is #GP(0). */
	T(V86, CODE("\xcf"), .in = {{"cr4", 1}}, .min = {{S, 0x20, 2}, {S + 2, 0x100, 2}, {S + 4, 0x3203, 2}},
	  .out = {{"rip", 0x20}, {"cs.sel", 0x100}, {"cs.base", 0x1000}, {"rsp", S + 6}, {"rflags", VM | 0x80003}}),
	T(V86, CODE("\xcf"), .in = {{"cr4", 1}}, .min = {{S + 4, 0x0102, 2}}, FAULT(13, 0)),
	T(V86, CODE("\xcf"), .in = {{"cr4", 1}, {"rflags", FX | VM | 0x100000}}, .min = {{S + 4, 0x0202, 2}},
	  FAULT(13, 0)),
	/* IRETQ: SS:RSP popped at the same level, a null SS allowed at CPL 0. */
	T(L64, CODE("\x48\xcf"), .min = {{S, 0x6000, 8}, {S + 8, 0x28, 8}, {S + 16, 0x202, 8}, {S + 24, 0x7000, 8},
	  {S + 32, 0x10, 8}}, .out = {{"rip", 0x6000}, {"rsp", 0x7000}, {"rflags", 0x202}}),
	T(L64, CODE("\x48\xcf"), .min = {{S, 0x6000, 8}, {S + 8, 0x28, 8}, {S + 16, 0x2, 8}, {S + 24, 0x7000, 8}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x7000}, {"ss.sel", 0}, {"ss.attr", NUL}, {"ss.limit", 0}}),
	T(L64, CODE("\x48\xcf"), .min = {{S, 0x6000, 8}, {S + 8, SEL_CODE64_3, 8}, {S + 16, 0x202, 8}, {S + 24, 0x9000, 8},
	  {S + 32, SEL_DATA3, 8}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9000}, {"rflags", 0x202}, {"cs.sel", SEL_CODE64_3}, {"cs.attr", 0xa0fb},
	          {"ss.sel", SEL_DATA3}, {"ss.attr", 0xc0f3}, NULLED_DATA}),
	/* IRETQ back to a faulting instruction: the #PF frame's RF stays in RFLAGS. */
	T(L64, CODE("\x48\xcf"), .min = {{S, 0x6000, 8}, {S + 8, 0x28, 8}, {S + 16, 0x10046, 8}, {S + 24, 0x7000, 8},
	  {S + 32, 0x10, 8}}, .out = {{"rip", 0x6000}, {"rsp", 0x7000}, {"rflags", 0x10046}}),
	/* IRETQ to compatibility mode at ring 3. */
	T(L64, CODE("\x48\xcf"), .min = {{S, 0x6000, 8}, {S + 8, SEL_CODE3, 8}, {S + 16, 0x2, 8}, {S + 24, 0x9000, 8},
	  {S + 32, SEL_DATA3, 8}},
	  .out = {{"rip", 0x6000}, {"rsp", 0x9000}, {"cs.sel", SEL_CODE3}, {"cs.attr", 0xc0fb}, {"ss.sel", SEL_DATA3},
	          {"ss.attr", 0xc0f3}, NULLED_DATA}),
	/* IRETD in 64-bit mode: 4-byte slots, still SS:ESP. */
	T(L64, CODE("\xcf"), .min = {{S, 0x6000, 4}, {S + 4, 0x28, 4}, {S + 8, 0x2, 4}, {S + 12, 0x7000, 4},
	  {S + 16, 0x10, 4}}, .out = {{"rip", 0x6000}, {"rsp", 0x7000}}),
	/* Faults: null SS to ring 3, non-canonical RIP, NT set, a 64-bit code segment with D set. */
	T(L64, CODE("\x48\xcf"), .min = {{S + 8, SEL_CODE64_3, 8}, {S + 32, 3, 8}}, FAULT(13, 0)),
	T(L64, CODE("\x48\xcf"), .min = {{S, 0x0000800000000000ull, 8}, {S + 8, 0x28, 8}, {S + 32, 0x10, 8}}, FAULT(13, 0)),
	T(L64, CODE("\x48\xcf"), .in = {{"rflags", FX | NT}}, FAULT(13, 0)),
	T(L64, CODE("\x48\xcf"), .min = {{S + 8, 0xd8, 8}, {S + 32, 0x10, 8}, {TH_GDT + 0xd8, sys_desc(0, 0xfffff, 0xe09b), 8}},
	  FAULT(13, 0xd8)),
};
/* clang-format on */

static void test_delivery(void **state)
{
	(void)state;
	assert_int_equal(sys_run(delivery, sizeof(delivery) / sizeof(delivery[0])), 0);
}

static void test_iret(void **state)
{
	(void)state;
	assert_int_equal(sys_run(irets, sizeof(irets) / sizeof(irets[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delivery),
	    cmocka_unit_test(test_iret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
