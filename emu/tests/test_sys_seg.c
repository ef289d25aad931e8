/* Segment register loads in every mode with their checks and error codes, null selectors, the
 * LDT, expand-down limits, real-mode descriptor caches, accessed bits; LAR, LSL, VERR, VERW. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sys_table.h"

/* clang-format off */
#define C   TH_CODE
#define S   TH_STACK
#define NUL 0x10000ull
#define ZF  0x40ull
#define GDT(sel) (TH_GDT + ((sel) & ~7u))
#define LDTR {"ldtr.sel", SEL_LDT}, {"ldtr.base", SYS_LDT}, {"ldtr.limit", 0xff}, {"ldtr.attr", 0x82}

static const struct srow rows[] = {
	/* MOV DS: the accessed bit is written to the descriptor and the cache. */
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x18}}, .out = {{"ds.sel", 0x18}, {"ds.attr", 0xc093}},
	  .mout = {{GDT(0x18) + 5, 0x93, 1}}),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x4b}}, .out = {{"ds.sel", 0x4b}, {"ds.attr", 0xc0fb}}),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x6b}}, .cpl3 = true, .out = {{"ds.sel", 0x6b}, {"ds.attr", 0xc09f}}),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x20}}, .out = {{"ds.sel", 0x20}, {"ds.attr", 0x4093}, {"ds.limit", 0xfff}}),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 3}}, .out = {{"ds.sel", 3}, {"ds.attr", NUL}, {"ds.limit", 0}}),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x40}}, FAULT(11, 0x40)),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0xb0}}, FAULT(13, 0xb0)),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x58}}, FAULT(13, 0x58)),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x10}}, .cpl3 = true, FAULT(13, 0x10)),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x13}}, FAULT(13, 0x10)),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x1000}}, FAULT(13, 0x1000)),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x0c}}, FAULT(13, 0x0c)),
	/* Through the LDT; beyond its limit. */
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x0c}, LDTR}, .min = {{SYS_LDT + 8, sys_desc(0x123000, 0xfff, 0x0093), 8}},
	  .out = {{"ds.sel", 0x0c}, {"ds.base", 0x123000}, {"ds.limit", 0xfff}, {"ds.attr", 0x0093}}),
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x104}, LDTR}, FAULT(13, 0x104)),
	/* Outside long mode the descriptor address wraps at 4 GiB: GDT base 0xfffffff0 + 0x18 is 0x8,
	 * where a read/write data breakpoint sees the descriptor read and the accessed-bit write. */
	T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x18}, {"gdtr.base", 0xfffffff0}, {"dr0", 0x8}, {"dr7", 0xb0401}},
	  .min = {{0x8, sys_desc(0x123000, 0xfff, 0x0092), 8}},
	  .out = {{"ds.sel", 0x18}, {"ds.base", 0x123000}, {"ds.limit", 0xfff}, {"ds.attr", 0x0093},
	          {"dr6", 0xffff0ff1}, {"events.exc_pending", 1}, {"events.exc_vector", 1}},
	  .mout = {{0xd, 0x93, 1}}),
	/* MOV SS: null, RPL != CPL, not writable, DPL != CPL, not present (#SS); success sets the shadow. */
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0}}, FAULT(13, 0)),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x53}}, FAULT(13, 0x50)),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0xb8}}, FAULT(13, 0xb8)),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x08}}, FAULT(13, 0x08)),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x50}}, FAULT(13, 0x50)),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x40}}, .min = {{GDT(0x40), sys_desc(0, 0xfffff, 0xc013), 8}},
	  FAULT(12, 0x40)),
	T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x18}}, .out = {{"ss.sel", 0x18}, {"ss.attr", 0xc093}, {"events.shadow", 1}},
	  .mout = {{GDT(0x18) + 5, 0x93, 1}}),
	T(P32, CODE("\x17"), .min = {{S, 0x18, 4}}, .out = {{"ss.sel", 0x18}, {"ss.attr", 0xc093}, {"events.shadow", 1},
	  {"rsp", S + 4}}),
	T(P32, CODE("\x17"), .min = {{S, 0x08, 4}}, FAULT(13, 0x08)),
	/* 64-bit mode: a null SS below ring 3 (RPL = CPL), not at ring 3. */
	T(L64, CODE("\x8e\xd0"), .in = {{"rax", 0}}, .out = {{"ss.sel", 0}, {"ss.attr", NUL}, {"ss.limit", 0}, {"events.shadow", 1}}),
	T(L64, CODE("\x8e\xd0"), .in = {{"rax", 3}}, .cpl3 = true, FAULT(13, 0)),
	T(L64, CODE("\x8e\xd0"), .in = {{"rax", 3}}, FAULT(13, 0)),
	/* LDS/LSS check the same way. */
	T(P32, CODE("\xc5\x03"), .in = {{"rbx", 0x3000}}, .min = {{0x3000, 0x1234, 4}, {0x3004, 0x40, 2}}, FAULT(11, 0x40)),
	T(P32, CODE("\x0f\xb2\x03"), .in = {{"rbx", 0x3000}}, .min = {{0x3000, 0x1234, 4}, {0x3004, 0x0b, 2}},
	  FAULT(13, 0x08)),
	/* Real mode: only selector and base change, the cached limit stays (unreal mode). */
	T(REAL, CODE("\x8e\xd8"), .in = {{"rax", 0x1234}, {"ds.limit", 0xffffffff}},
	  .out = {{"ds.sel", 0x1234}, {"ds.base", 0x12340}}),
	T(REAL, CODE("\x67\x8b\x03"), .in = {{"rbx", 0x100000}, {"ds.limit", 0xffffffff}}, .min = {{0x100000, 0x55, 4}},
	  .out = {{"rax", 0x55}}),
	T(REAL, CODE("\x67\x8b\x03"), .in = {{"rbx", 0x100000}}, FAULT(13, 0)),
	/* Virtual-8086 mode: base = selector * 16, limit 64 KiB, DPL 3 data. */
	T(V86, CODE("\x8e\xd8"), .in = {{"rax", 0x1234}, {"ds.limit", 0xffffffff}},
	  .out = {{"ds.sel", 0x1234}, {"ds.base", 0x12340}, {"ds.limit", 0xffff}}),
	/* A far jump in v86 mode loads CS the same way (DPL 3 data attributes, as VMX keeps them). */
	T(V86, CODE("\xea\x00\x01\x00\x10"), .in = {{"cs.attr", 0xfb}},
	  .out = {{"rip", 0x100}, {"cs.sel", 0x1000}, {"cs.base", 0x10000}, {"cs.attr", 0xf3}}),
	/* Limits: byte granular, expand-down (valid above the limit), a write to read-only data. */
	T(P32, CODE("\x8b\x03"), .in = {{"rbx", 0xffd}, {"ds.limit", 0xfff}}, FAULT(13, 0)),
	T(P32, CODE("\x8b\x03"), .in = {{"rbx", 0xffc}, {"ds.limit", 0xfff}}, .min = {{0xffc, 7, 4}}, .out = {{"rax", 7}}),
	T(P32, CODE("\x8b\x03"), .in = {{"rbx", 0x800}, {"ds.sel", SEL_XDOWN}, {"ds.limit", 0xfff}, {"ds.attr", 0x4097}},
	  FAULT(13, 0)),
	T(P32, CODE("\x8b\x03"), .in = {{"rbx", 0x1000}, {"ds.sel", SEL_XDOWN}, {"ds.limit", 0xfff}, {"ds.attr", 0x4097}},
	  .min = {{0x1000, 9, 4}}, .out = {{"rax", 9}}),
	T(P32, CODE("\x8b\x04\x24"), .in = {{"rsp", 0x800}, {"ss.sel", SEL_XDOWN}, {"ss.limit", 0xfff}, {"ss.attr", 0x4097}},
	  FAULT(12, 0)),
	T(P32, CODE("\x89\x03"), .in = {{"rbx", 0x3000}, {"ds.sel", SEL_DATA0_RO}, {"ds.attr", 0xc091}}, FAULT(13, 0)),
	T(P32, CODE("\x8b\x03"), .in = {{"rbx", 0x3000}, {"ds.sel", 0}, {"ds.attr", NUL}}, FAULT(13, 0)),

	/* LAR: access rights masked with 00F0FF00, ZF = 1; otherwise ZF = 0 and the register unchanged. */
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0x08}}, .out = {{"rax", 0x00c09b00}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", SEL_TSS}}, .out = {{"rax", 0x8b00}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x66\x0f\x02\xc3"), .in = {{"rbx", SEL_CODE3}, {"rax", 0x12345678}},
	  .out = {{"rax", 0x1234fb00}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0}, {"rax", 5}, {"rflags", 0x2 | ZF}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0x1000}, {"rflags", 0x2 | ZF}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0x0c}, {"rflags", 0x2 | ZF}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x02\xc3"), .cpl3 = true, .in = {{"rbx", 0x10}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x02\xc3"), .cpl3 = true, .in = {{"rbx", SEL_CONF0}}, .out = {{"rax", 0x00c09f00}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0xd8}}, .min = {{GDT(0xd8), sys_gate(0x08, 0, 0xe, 0, 0), 8}},
	  .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0xd8}}, .min = {{GDT(0xd8), sys_gate(0x08, 0, 0xc, 0, 0), 8}},
	  .out = {{"rax", 0x8c00}, {"rflags", 0x2 | ZF}}),
	T(REAL, CODE("\x0f\x02\xc3"), FAULT(6, NOEC)),
	T(V86, CODE("\x0f\x02\xc3"), FAULT(6, NOEC)),
	T(L64, CODE("\x48\x0f\x02\xc3"), .in = {{"rbx", 0x28}, {"rax", ~0ull}}, .out = {{"rax", 0x00a09b00}, {"rflags", 0x2 | ZF}}),
	T(L64, CODE("\x0f\x02\xc3"), .in = {{"rbx", SEL_TSS}}, .out = {{"rax", 0x8b00}, {"rflags", 0x2 | ZF}}),
	/* Long mode: a 16-bit call gate type is not valid. */
	T(L64, CODE("\x0f\x02\xc3"), .in = {{"rbx", 0xd8}}, .min = {{GDT(0xd8), sys_gate(0x28, 0, 0x4, 0, 0), 8}},
	  .out = {{"rflags", 0x2}}),
	/* LSL: the limit with granularity applied; gates have none. */
	T(P32, CODE("\x0f\x03\xc3"), .in = {{"rbx", 0x08}}, .out = {{"rax", 0xffffffff}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x03\xc3"), .in = {{"rbx", 0x20}}, .out = {{"rax", 0xfff}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x03\xc3"), .in = {{"rbx", SEL_TSS}}, .out = {{"rax", 0x67}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x03\xc3"), .in = {{"rbx", SEL_LDT}}, .out = {{"rax", 0xff}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x03\xc3"), .in = {{"rbx", 0xd8}, {"rflags", 0x2 | ZF}},
	  .min = {{GDT(0xd8), sys_gate(0x08, 0, 0xc, 0, 0), 8}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x03\x03"), .in = {{"rbx", 0x3000}}, .min = {{0x3000, 0x20, 2}},
	  .out = {{"rax", 0xfff}, {"rflags", 0x2 | ZF}}),
	/* VERR/VERW. */
	T(P32, CODE("\x0f\x00\xe3"), .in = {{"rbx", 0x08}}, .out = {{"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x00\xe3"), .in = {{"rbx", SEL_CODE0_NR}, {"rflags", 0x2 | ZF}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x00\xeb"), .in = {{"rbx", 0x10}}, .out = {{"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x00\xeb"), .in = {{"rbx", SEL_DATA0_RO}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x00\xeb"), .in = {{"rbx", 0x08}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x00\xe3"), .cpl3 = true, .in = {{"rbx", 0x10}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x00\xe3"), .cpl3 = true, .in = {{"rbx", SEL_CONF0}}, .out = {{"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x0f\x00\xe3"), .in = {{"rbx", 0x13}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x00\xe3"), .in = {{"rbx", SEL_TSS}}, .out = {{"rflags", 0x2}}),
	T(P32, CODE("\x0f\x00\xe3"), .in = {{"rbx", 0}, {"rflags", 0x2 | ZF}}, .out = {{"rflags", 0x2}}),
	T(REAL, CODE("\x0f\x00\xe3"), FAULT(6, NOEC)),
	/* ARPL: raises the RPL of the destination to the source's. */
	T(P32, CODE("\x63\xd8"), .in = {{"rax", 0x10}, {"rbx", 0x3}}, .out = {{"rax", 0x13}, {"rflags", 0x2 | ZF}}),
	T(P32, CODE("\x63\xd8"), .in = {{"rax", 0x13}, {"rbx", 0x1}, {"rflags", 0x2 | ZF}}, .out = {{"rflags", 0x2}}),
	T(REAL, CODE("\x63\xd8"), FAULT(6, NOEC)),
};
/* clang-format on */

static void test_seg(void **state)
{
	(void)state;
	assert_int_equal(sys_run(rows, sizeof(rows) / sizeof(rows[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
