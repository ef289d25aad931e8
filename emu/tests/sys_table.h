/* Table runner for emu's system tests: each row is {mode, bytes, state in,
 * memory in, state out, memory out, status, vector, error code} and points
 * at its line. Rows start from a standard layout of descriptor tables, IDT
 * and TSS (below); the whole state is compared, and a faulting row must
 * leave the state and memory exactly as they were. */
#ifndef EMUDIFF_EMU_TEST_SYS_TABLE_H
#define EMUDIFF_EMU_TEST_SYS_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "emu.h"
#include "harness.h"

/* The standard layout (besides harness.h's GDT entries 0x08-0x40). */
#define SYS_IDT        0x1000u /* 256 gates: vector v goes to SYS_HANDLER(v) */
#define SYS_TSS        0x6000u /* the current TSS, TR = 0x58 */
#define SYS_TSS2       0x6200u /* a second TSS, selector 0x98 (32-bit, available) */
#define SYS_STACK0     0xa000u /* ring-0 stack in the TSS */
#define SYS_STACK1     0xa800u /* ring-1 stack in the TSS */
#define SYS_IST1       0xb000u
#define SYS_STACK3     0x9000u /* the ring-3 stack rows use */
#define SYS_HANDLER(v) (0x5000u + (unsigned)(v)*0x10u)
#define SYS_LDT        0x6400u /* an LDT, selector 0xa0; rows load it through ldtr.* */

/* GDT selectors of the layout. */
#define SEL_CODE3    0x4b /* 32-bit code, DPL 3 */
#define SEL_DATA3    0x53 /* 32-bit data, DPL 3 */
#define SEL_TSS      0x58 /* 32-bit TSS (busy) at SYS_TSS; a 16-byte 64-bit TSS in long mode */
#define SEL_CODE64_3 0xd3 /* 64-bit code, DPL 3 */
#define SEL_CONF0    0x68 /* conforming 32-bit code, DPL 0 */
#define SEL_CODE1    0x71 /* 32-bit code, DPL 1 */
#define SEL_DATA1    0x79 /* 32-bit data, DPL 1 */
#define SEL_CODE16_3 0x83 /* 16-bit code, DPL 3 */
#define SEL_DATA16_3 0x8b /* 16-bit data, DPL 3 */
#define SEL_TSS2     0x98
#define SEL_LDT      0xa0
#define SEL_XDOWN    0xa8 /* expand-down 32-bit data, limit 0xfff, DPL 0 */
#define SEL_CODE0_NR 0xb0 /* execute-only 32-bit code, DPL 0 */
#define SEL_DATA0_RO 0xb8 /* read-only data DPL 0 */
#define SEL_CONF3    0xc3 /* conforming code DPL 3 */
#define SEL_FREE     0xc8 /* free slots 0xc8-0xf8 for rows */

struct kv {
	const char *f;
	uint64_t v;
};

struct mv {
	uint64_t addr;
	uint64_t v;
	unsigned size;
};

enum {
	REAL = X86_MODE_REAL,
	V86 = X86_MODE_V86,
	P16 = X86_MODE_PROT16,
	P32 = X86_MODE_PROT32,
	L64 = X86_MODE_LONG64,
	CM = X86_MODE_COMPAT
};

struct srow {
	int mode;
	const char *code;
	unsigned len;
	bool cpl3;    /* start at CPL 3 with the layout's ring-3 segments */
	bool deliver; /* ctxt.deliver_exceptions */
	struct kv in[12];
	struct mv min[10];
	struct kv out[32];
	struct mv mout[10];
	int steps;      /* default 1 */
	int rc;         /* enum emu_status, default EMU_OK */
	int vector;     /* with EMU_EXCEPTION */
	uint32_t error; /* with EMU_EXCEPTION: the error code, or NOEC */
	uint64_t cr2;
	uint64_t fmask;
	bool rip_same; /* want.rip = in.rip unless given */
	const char *file;
	int line;
};

#define NOEC    TH_NOEC
#define CODE(s) .code = (s), .len = sizeof(s) - 1
#define T(...)                                                                                               \
	{                                                                                                    \
		__VA_ARGS__, .file = __FILE__, .line = __LINE__                                              \
	}
#define FAULT(v, e) .rc = EMU_EXCEPTION, .vector = (v), .error = (e)

/* An 8-byte segment descriptor: attr in the x86_segment layout, limit before granularity. */
#define sys_desc(base, limit, attr)                                                                          \
	((uint64_t)((limit)&0xffff) | ((uint64_t)((base)&0xffffff) << 16) |                                  \
	 ((uint64_t)((attr)&0xff) << 40) | ((uint64_t)(((limit) >> 16) & 0xf) << 48) |                       \
	 ((uint64_t)(((attr) >> 12) & 0xf) << 52) | ((uint64_t)((uint32_t)(base) >> 24) << 56))
/* A present gate (interrupt, trap, call, task); extra is the IST or the parameter count. */
#define sys_gate(sel, off, type, dpl, extra)                                                                 \
	((uint64_t)((off)&0xffff) | ((uint64_t)(sel) << 16) | ((uint64_t)((extra)&0xff) << 32) |             \
	 ((uint64_t)(0x80 | ((dpl) << 5) | (type)) << 40) | ((uint64_t)((uint32_t)(off) >> 16) << 48))
/* Runs rows; returns the number that failed (each failure printed with its file:line). */
int sys_run(const struct srow *rows, unsigned n);
/* The layout for a state of that mode, with memory cleared: for tests that are not rows. */
void sys_setup(struct x86_state *st, int mode, bool cpl3);

#endif
