/* emu core: one table row per case {bytes, mode, state in, state out}, each
 * pointing at its line. The whole state is compared; the only allowance is
 * a named mask of architecturally undefined flags. A faulting row checks the
 * vector and error code, that the state is exactly the state before, and
 * that no memory was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "alu.h"
#include "emu.h"
#include "harness.h"
#include "x86_state.h"

#define CF 0x001ull
#define FX 0x002ull
#define PF 0x004ull
#define AF 0x010ull
#define ZF 0x040ull
#define SF 0x080ull
#define TF 0x100ull
#define IF 0x200ull
#define DF 0x400ull
#define RF 0x10000ull
#define OF 0x800ull

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
	P16 = X86_MODE_PROT16,
	P32 = X86_MODE_PROT32,
	L64 = X86_MODE_LONG64,
	CM = X86_MODE_COMPAT
};

struct tcase {
	int mode;
	const char *code;
	unsigned len;
	struct kv in[8];
	struct mv min[4];
	struct kv out[10];
	struct mv mout[4];
	int steps;      /* default 1 */
	int rc;         /* enum emu_status, default EMU_OK */
	int vector;     /* with EMU_EXCEPTION */
	uint32_t error; /* with EMU_EXCEPTION: the error code, or NOEC */
	uint64_t cr2;   /* with #PF */
	uint64_t fmask; /* undefined flags not compared */
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
#define C           TH_CODE

static const struct tcase cases[] = {
    /* ---- ALU ---- */
    T(REAL, CODE("\x01\xd8"), .in = {{"rax", 1}, {"rbx", 2}}, .out = {{"rax", 3}, {"rflags", FX | PF}}),
    T(P32, CODE("\x01\xd8"), .in = {{"rax", 0x7fffffff}, {"rbx", 1}},
      .out = {{"rax", 0x80000000}, {"rflags", FX | OF | SF | AF | PF}}),
    T(L64, CODE("\x48\x01\xd8"), .in = {{"rax", ~0ull}, {"rbx", 1}},
      .out = {{"rax", 0}, {"rflags", FX | CF | ZF | PF | AF}}),
    /* 32-bit results zero-extend into the 64-bit register. */
    T(L64, CODE("\x01\xd8"), .in = {{"rax", 0xffffffff00000001ull}, {"rbx", 1}}, .out = {{"rax", 2}}),
    T(P32, CODE("\x31\xc0"), .in = {{"rax", 0x1234}}, .out = {{"rax", 0}, {"rflags", FX | ZF | PF}}),
    T(REAL, CODE("\x83\xc0\xff"), .in = {{"rax", 1}},
      .out = {{"rax", 0}, {"rflags", FX | CF | ZF | PF | AF}}),
    T(REAL, CODE("\x80\x3f\x05"), .in = {{"rbx", 0x2000}}, .min = {{0x2000, 5, 1}},
      .out = {{"rflags", FX | ZF | PF}}),
    T(REAL, CODE("\x2c\x01"), .in = {{"rax", 0x1200}},
      .out = {{"rax", 0x12ff}, {"rflags", FX | CF | SF | AF | PF}}),
    T(P32, CODE("\x3d\x00\x00\x00\x80"), .in = {{"rax", 0}}, .out = {{"rflags", FX | CF | SF | OF | PF}}),
    T(P32, CODE("\xf0\x01\x18"), .in = {{"rax", 0x3000}, {"rbx", 5}}, .min = {{0x3000, 7, 4}},
      .mout = {{0x3000, 12, 4}}, .out = {{"rflags", FX | PF}}),
    T(P32, CODE("\xf0\x01\xd8"), FAULT(6, NOEC)),
    T(P32, CODE("\xf0\x39\x18"), .in = {{"rax", 0x3000}}, FAULT(6, NOEC)),
    T(P32, CODE("\xf0\x90"), FAULT(6, NOEC)),
    T(P32, CODE("\xf7\xd8"), .in = {{"rax", 1}},
      .out = {{"rax", 0xffffffff}, {"rflags", FX | CF | SF | PF | AF}}),
    T(P32, CODE("\xf7\xd0"), .in = {{"rax", 0xf0f0f0f0}}, .out = {{"rax", 0x0f0f0f0f}}),
    T(REAL, CODE("\x40"), .in = {{"rax", 0xffff}, {"rflags", FX | CF}},
      .out = {{"rax", 0}, {"rflags", FX | CF | ZF | PF | AF}}),
    T(L64, CODE("\xff\xc0"), .in = {{"rax", 0x7fffffff}},
      .out = {{"rax", 0x80000000}, {"rflags", FX | OF | SF | AF | PF}}),
    T(REAL, CODE("\xfe\xc8"), .in = {{"rax", 0x1}}, .out = {{"rax", 0}, {"rflags", FX | ZF | PF}}),
    T(P32, CODE("\x85\xc3"), .in = {{"rax", 0x80}, {"rbx", 0x80}}, .out = {{"rflags", FX}}),
    T(P32, CODE("\xa8\x01"), .in = {{"rax", 0x3}}, .out = {{"rflags", FX}}),
    /* MUL/IMUL/DIV/IDIV */
    T(P32, CODE("\xf7\xe3"), .in = {{"rax", 0x80000000}, {"rbx", 4}},
      .out = {{"rax", 0}, {"rdx", 2}, {"rflags", FX | CF | OF}}, .fmask = SF | ZF | AF | PF),
    T(REAL, CODE("\xf6\xe3"), .in = {{"rax", 0x10}, {"rbx", 0x10}},
      .out = {{"rax", 0x100}, {"rflags", FX | CF | OF}}, .fmask = SF | ZF | AF | PF),
    T(L64, CODE("\x48\xf7\xeb"), .in = {{"rax", ~0ull}, {"rbx", 3}},
      .out = {{"rax", ~0ull - 2}, {"rdx", ~0ull}}, .fmask = SF | ZF | AF | PF),
    T(P32, CODE("\x6b\xc3\x05"), .in = {{"rbx", 7}}, .out = {{"rax", 35}}, .fmask = SF | ZF | AF | PF),
    T(P32, CODE("\x0f\xaf\xc3"), .in = {{"rax", 0x10000}, {"rbx", 0x10000}},
      .out = {{"rax", 0}, {"rflags", FX | CF | OF}}, .fmask = SF | ZF | AF | PF),
    T(REAL, CODE("\x69\xc3\x10\x00"), .in = {{"rbx", 3}}, .out = {{"rax", 0x30}}, .fmask = SF | ZF | AF | PF),
    T(REAL, CODE("\xf6\xf3"), .in = {{"rax", 100}, {"rbx", 7}}, .out = {{"rax", 0x020e}}, .fmask = 0x8d5),
    T(P32, CODE("\xf7\xfb"), .in = {{"rax", (uint32_t)-7}, {"rdx", 0xffffffff}, {"rbx", 2}},
      .out = {{"rax", (uint32_t)-3}, {"rdx", 0xffffffff}}, .fmask = 0x8d5),
    T(P32, CODE("\xf7\xf3"), .in = {{"rax", 5}}, FAULT(0, NOEC)),
    T(P32, CODE("\xf7\xf3"), .in = {{"rdx", 1}, {"rbx", 1}}, FAULT(0, NOEC)),
    T(REAL, CODE("\xf6\xfb"), .in = {{"rax", 0x8000}, {"rbx", 0xff}}, FAULT(0, NOEC)),
    T(L64, CODE("\x48\xf7\xf3"), .in = {{"rdx", 0}, {"rax", 100}, {"rbx", 10}}, .out = {{"rax", 10}},
      .fmask = 0x8d5),
    /* Shifts and rotates */
    T(P32, CODE("\xd1\xe0"), .in = {{"rax", 0x80000001}}, .out = {{"rax", 2}, {"rflags", FX | CF | OF}},
      .fmask = AF),
    T(P32, CODE("\xc1\xe8\x04"), .in = {{"rax", 0x18}}, .out = {{"rax", 1}, {"rflags", FX | CF}},
      .fmask = AF | OF),
    T(P32, CODE("\xd3\xe0"), .in = {{"rax", 1}, {"rcx", 33}}, .out = {{"rax", 2}}, .fmask = AF | OF),
    T(P32, CODE("\xd1\xd0"), .in = {{"rax", 0x80000000}, {"rflags", FX | CF}},
      .out = {{"rax", 1}, {"rflags", FX | CF | OF}}),
    T(P32, CODE("\xd1\xd8"), .in = {{"rax", 1}, {"rflags", FX}}, .out = {{"rax", 0}, {"rflags", FX | CF}}),
    T(REAL, CODE("\xc0\xc0\x09"), .in = {{"rax", 0x81}}, .out = {{"rax", 0x03}, {"rflags", FX | CF}},
      .fmask = OF),
    T(P32, CODE("\xc1\xf8\x1f"), .in = {{"rax", 0x80000000}},
      .out = {{"rax", 0xffffffff}, {"rflags", FX | SF | PF}}, .fmask = AF | OF),
    /* A zero count changes no flag, but the 32-bit register is still written (zero-extended). */
    T(L64, CODE("\xc1\xe0\x00"), .in = {{"rax", 0xffffffff00000001ull}, {"rflags", FX | CF | ZF}},
      .out = {{"rax", 1}}),
    T(P32, CODE("\x0f\xa4\xd8\x04"), .in = {{"rax", 0x12345678}, {"rbx", 0x9abcdef0}},
      .out = {{"rax", 0x23456789}, {"rflags", FX | CF}}, .fmask = AF | OF),
    T(P32, CODE("\x0f\xad\xd8"), .in = {{"rax", 0x12345678}, {"rbx", 0x9abcdef0}, {"rcx", 8}},
      .out = {{"rax", 0xf0123456}, {"rflags", FX | SF | PF}}, .fmask = AF | OF),
    /* Bit tests, with the memory bit offset reaching beyond the operand (signed) */
    T(P32, CODE("\x0f\xa3\xd8"), .in = {{"rax", 0x10}, {"rbx", 36}}, .out = {{"rflags", FX | CF}},
      .fmask = 0x894),
    T(REAL, CODE("\x0f\xa3\x07"), .in = {{"rbx", 0x2000}, {"rax", 35}}, .min = {{0x2004, 0x8, 2}},
      .out = {{"rflags", FX | CF}}, .fmask = 0x894),
    T(P32, CODE("\x0f\xab\x18"), .in = {{"rax", 0x3004}, {"rbx", 0xffffffff}},
      .mout = {{0x3000, 0x80000000, 4}}, .fmask = 0x894),
    T(P32, CODE("\x0f\xba\x28\x25"), .in = {{"rax", 0x3000}}, .mout = {{0x3000, 0x20, 4}}, .fmask = 0x894),
    T(P32, CODE("\x0f\xb3\xd8"), .in = {{"rax", 0xff}, {"rbx", 1}},
      .out = {{"rax", 0xfd}, {"rflags", FX | CF}}, .fmask = 0x894),
    T(P32, CODE("\xf0\x0f\xa3\x18"), .in = {{"rax", 0x3000}}, FAULT(6, NOEC)),
    /* Bit scans and counts */
    T(P32, CODE("\x0f\xbc\xc3"), .in = {{"rbx", 8}}, .out = {{"rax", 3}}, .fmask = 0x8d5 & ~ZF),
    T(P32, CODE("\x0f\xbd\xc3"), .in = {{"rbx", 0x8001}}, .out = {{"rax", 15}}, .fmask = 0x8d5 & ~ZF),
    T(L64, CODE("\x0f\xbc\xc3"), .in = {{"rax", 0xffffffff12345678ull}, {"rbx", 0}},
      .out = {{"rflags", FX | ZF}}, .fmask = 0x8d5 & ~ZF),
    T(P32, CODE("\xf3\x0f\xbc\xc3"), .in = {{"rbx", 0}}, .out = {{"rax", 32}, {"rflags", FX | CF}},
      .fmask = OF | SF | AF | PF),
    T(P32, CODE("\xf3\x0f\xbd\xc3"), .in = {{"rbx", 1}}, .out = {{"rax", 31}}, .fmask = OF | SF | AF | PF),
    T(P32, CODE("\xf3\x0f\xb8\xc3"), .in = {{"rbx", 0xf0f0}}, .out = {{"rax", 8}}),
    T(P32, CODE("\x0f\xb8\xc3"), FAULT(6, NOEC)),
    /* BCD: #UD in 64-bit mode */
    T(REAL, CODE("\x27"), .in = {{"rax", 0x0c}}, .out = {{"rax", 0x12}, {"rflags", FX | AF | PF}},
      .fmask = OF),
    T(REAL, CODE("\x2f"), .in = {{"rax", 0x0f}}, .out = {{"rax", 0x09}, {"rflags", FX | AF | PF}},
      .fmask = OF),
    T(REAL, CODE("\x37"), .in = {{"rax", 0x000b}}, .out = {{"rax", 0x0101}, {"rflags", FX | AF | CF}},
      .fmask = OF | SF | ZF | PF),
    T(REAL, CODE("\xd4\x0a"), .in = {{"rax", 59}}, .out = {{"rax", 0x0509}, {"rflags", FX | PF}},
      .fmask = OF | AF | CF),
    T(REAL, CODE("\xd5\x0a"), .in = {{"rax", 0x0509}}, .out = {{"rax", 59}}, .fmask = OF | AF | CF | PF),
    T(REAL, CODE("\xd4\x00"), FAULT(0, NOEC)),
    T(L64, CODE("\x27"), FAULT(6, NOEC)),
    T(L64, CODE("\x37"), FAULT(6, NOEC)),
    T(L64, CODE("\xd4\x0a"), FAULT(6, NOEC)),
    /* Sign extension */
    T(REAL, CODE("\x98"), .in = {{"rax", 0x80}}, .out = {{"rax", 0xff80}}),
    T(P32, CODE("\x98"), .in = {{"rax", 0x8000}}, .out = {{"rax", 0xffff8000}}),
    T(L64, CODE("\x48\x98"), .in = {{"rax", 0x80000000}}, .out = {{"rax", 0xffffffff80000000ull}}),
    T(REAL, CODE("\x99"), .in = {{"rax", 0x8000}}, .out = {{"rdx", 0xffff}}),
    T(P32, CODE("\x99"), .in = {{"rax", 0x1}, {"rdx", 5}}, .out = {{"rdx", 0}}),
    T(L64, CODE("\x48\x99"), .in = {{"rax", 1ull << 63}}, .out = {{"rdx", ~0ull}}),
    /* SETcc, CMOVcc (a false condition still zero-extends a 32-bit destination) */
    T(P32, CODE("\x0f\x94\xc0"), .in = {{"rflags", FX | ZF}, {"rax", 0x100}}, .out = {{"rax", 0x101}}),
    T(P32, CODE("\x0f\x9c\xc0"), .in = {{"rflags", FX | OF}}, .out = {{"rax", 1}}),
    T(L64, CODE("\x0f\x44\xc3"), .in = {{"rax", 0xffffffff00000005ull}, {"rbx", 7}}, .out = {{"rax", 5}}),
    T(L64, CODE("\x48\x0f\x45\xc3"), .in = {{"rbx", 7}}, .out = {{"rax", 7}}),
    /* XADD, CMPXCHG, CMPXCHG8B/16B */
    T(P32, CODE("\x0f\xc1\xd8"), .in = {{"rax", 1}, {"rbx", 2}},
      .out = {{"rax", 3}, {"rbx", 1}, {"rflags", FX | PF}}),
    T(P32, CODE("\x0f\xb1\xd9"), .in = {{"rax", 5}, {"rcx", 5}, {"rbx", 9}},
      .out = {{"rcx", 9}, {"rflags", FX | ZF | PF}}),
    T(P32, CODE("\x0f\xb1\xd9"), .in = {{"rax", 4}, {"rcx", 5}, {"rbx", 9}},
      .out = {{"rax", 5}, {"rflags", FX | CF | SF | AF | PF}}),
    T(P32, CODE("\xf0\x0f\xc7\x0e"), .in = {{"rsi", 0x3000}, {"rax", 1}, {"rdx", 2}, {"rbx", 3}, {"rcx", 4}},
      .min = {{0x3000, 0x0000000200000001ull, 8}}, .mout = {{0x3000, 0x0000000400000003ull, 8}},
      .out = {{"rflags", FX | ZF}}),
    T(P32, CODE("\x0f\xc7\x0e"), .in = {{"rsi", 0x3000}, {"rflags", FX | ZF}},
      .min = {{0x3000, 0x1111111122222222ull, 8}},
      .out = {{"rax", 0x22222222}, {"rdx", 0x11111111}, {"rflags", FX}}),
    T(L64, CODE("\x48\x0f\xc7\x0e"), .in = {{"rsi", 0x3000}, {"rax", 1}, {"rdx", 2}, {"rbx", 3}, {"rcx", 4}},
      .min = {{0x3000, 1, 8}, {0x3008, 2, 8}}, .mout = {{0x3000, 3, 8}, {0x3008, 4, 8}},
      .out = {{"rflags", FX | ZF}}),
    T(L64, CODE("\x48\x0f\xc7\x0e"), .in = {{"rsi", 0x3008}}, FAULT(13, 0)),
    T(P32, CODE("\x0f\xc7\xc8"), FAULT(6, NOEC)),
    T(P32, CODE("\x0f\xc8"), .in = {{"rax", 0x12345678}}, .out = {{"rax", 0x78563412}}),
    T(L64, CODE("\x49\x0f\xc9"), .in = {{"r9", 0x0102030405060708ull}},
      .out = {{"r9", 0x0807060504030201ull}}),
    /* Flag instructions; STI sets the shadow only when IF was clear */
    T(REAL, CODE("\xf9"), .out = {{"rflags", FX | CF}}),
    T(REAL, CODE("\xf5"), .in = {{"rflags", FX | CF}}, .out = {{"rflags", FX}}),
    T(REAL, CODE("\xfd"), .out = {{"rflags", FX | DF}}),
    T(REAL, CODE("\xfb"), .out = {{"rflags", FX | IF}, {"events.shadow", X86_SHADOW_STI}}),
    T(REAL, CODE("\xfb"), .in = {{"rflags", FX | IF}}),
    T(REAL, CODE("\xfa"), .in = {{"rflags", FX | IF}}, .out = {{"rflags", FX}}),
    T(P32, CODE("\xfa"),
      .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}, {"rflags", FX | IF}}, FAULT(13, 0)),
    T(P32, CODE("\x9f"), .in = {{"rflags", FX | 0xd5}}, .out = {{"rax", 0xd700}}),
    T(P32, CODE("\x9e"), .in = {{"rax", 0xff00}}, .out = {{"rflags", FX | 0xd5}}),
    /* The shadow of the previous instruction ends with this one. */
    T(REAL, CODE("\x90"), .in = {{"events.shadow", X86_SHADOW_MOV_SS}}, .out = {{"events.shadow", 0}}),

    /* ---- Data movement ---- */
    T(REAL, CODE("\x88\xd8"), .in = {{"rbx", 0x12}}, .out = {{"rax", 0x12}}),
    T(REAL, CODE("\x88\xe0"), .in = {{"rax", 0x3400}}, .out = {{"rax", 0x3434}}),
    T(L64, CODE("\x40\x88\xe0"), .in = {{"rsp", 0x8056}}, .out = {{"rax", 0x56}}),
    T(L64, CODE("\x44\x88\xc0"), .in = {{"r8", 0x99}}, .out = {{"rax", 0x99}}),
    T(REAL, CODE("\x8b\x07"), .in = {{"rbx", 0x2000}}, .min = {{0x2000, 0xbeef, 2}},
      .out = {{"rax", 0xbeef}}),
    T(REAL, CODE("\x3e\x8b\x46\x02"), .in = {{"rbp", 0x2000}}, .min = {{0x2002, 0x1234, 2}},
      .out = {{"rax", 0x1234}}),
    T(REAL, CODE("\x8b\x46\x02"), .in = {{"rbp", 0x2000}, {"ss.base", 0x10000}, {"ss.sel", 0x1000}},
      .min = {{0x12002, 0x4321, 2}}, .out = {{"rax", 0x4321}}),
    T(P32, CODE("\xc7\x00\x78\x56\x34\x12"), .in = {{"rax", 0x3000}}, .mout = {{0x3000, 0x12345678, 4}}),
    T(P32, CODE("\x66\xc7\x00\x34\x12"), .in = {{"rax", 0x3000}}, .mout = {{0x3000, 0x1234, 4}}),
    T(L64, CODE("\x48\xc7\xc0\xff\xff\xff\xff"), .out = {{"rax", ~0ull}}),
    T(L64, CODE("\x48\xb8\x88\x77\x66\x55\x44\x33\x22\x11"), .out = {{"rax", 0x1122334455667788ull}}),
    T(L64, CODE("\x41\xb0\x12"), .in = {{"r8", 0xff00}}, .out = {{"r8", 0xff12}}),
    T(L64, CODE("\xb8\x01\x00\x00\x00"), .in = {{"rax", ~0ull}}, .out = {{"rax", 1}}),
    T(REAL, CODE("\xa1\x00\x20"), .min = {{0x2000, 0x5566, 2}}, .out = {{"rax", 0x5566}}),
    T(REAL, CODE("\x26\xa2\x10\x00"), .in = {{"rax", 0x77}, {"es.base", 0x20000}, {"es.sel", 0x2000}},
      .mout = {{0x20010, 0x77, 1}}),
    T(L64, CODE("\x48\xa1\x00\x30\x00\x00\x00\x00\x00\x00"), .min = {{0x3000, 0xabcdef, 8}},
      .out = {{"rax", 0xabcdef}}),
    T(P32, CODE("\x8d\x44\x58\x10"), .in = {{"rax", 0x100}, {"rbx", 0x20}}, .out = {{"rax", 0x150}}),
    T(REAL, CODE("\x8d\x40\x05"), .in = {{"rbx", 0xfff0}, {"rsi", 0x20}}, .out = {{"rax", 0x15}}),
    T(L64, CODE("\x48\x8d\x05\x10\x00\x00\x00"), .out = {{"rax", C + 7 + 0x10}}),
    T(L64, CODE("\x67\x8d\x04\x19"), .in = {{"rcx", 0xffffffff}, {"rbx", 2}}, .out = {{"rax", 1}}),
    T(P32, CODE("\x8d\xc0"), FAULT(6, NOEC)),
    T(P32, CODE("\x0f\xb6\xc3"), .in = {{"rbx", 0x1ff}}, .out = {{"rax", 0xff}}),
    T(P32, CODE("\x0f\xbf\xc3"), .in = {{"rbx", 0x8000}}, .out = {{"rax", 0xffff8000}}),
    T(L64, CODE("\x48\x63\xc3"), .in = {{"rbx", 0x80000000}}, .out = {{"rax", 0xffffffff80000000ull}}),
    T(P32, CODE("\x87\xd8"), .in = {{"rax", 1}, {"rbx", 2}}, .out = {{"rax", 2}, {"rbx", 1}}),
    T(P32, CODE("\x93"), .in = {{"rax", 1}, {"rbx", 2}}, .out = {{"rax", 2}, {"rbx", 1}}),
    T(P32, CODE("\x86\x03"), .in = {{"rax", 0x11}, {"rbx", 0x3000}}, .min = {{0x3000, 0x22, 1}},
      .out = {{"rax", 0x22}}, .mout = {{0x3000, 0x11, 1}}),
    T(L64, CODE("\x90"), .in = {{"rax", 0xffffffff00000000ull}}),
    T(L64, CODE("\x41\x90"), .in = {{"rax", 0xffffffff00000001ull}, {"r8", 2}},
      .out = {{"rax", 2}, {"r8", 1}}),
    T(L64, CODE("\xf3\x90")),
    T(P32, CODE("\x66\x90")),
    T(P32, CODE("\x0f\x1f\x44\x00\x00")),
    T(REAL, CODE("\xd7"), .in = {{"rbx", 0x2000}, {"rax", 3}}, .min = {{0x2003, 0x42, 1}},
      .out = {{"rax", 0x42}}),
    /* Segment registers */
    T(REAL, CODE("\x8e\xd8"), .in = {{"rax", 0x1234}}, .out = {{"ds.sel", 0x1234}, {"ds.base", 0x12340}}),
    T(REAL, CODE("\x8e\xd0"), .in = {{"rax", 0x2000}},
      .out = {{"ss.sel", 0x2000}, {"ss.base", 0x20000}, {"events.shadow", X86_SHADOW_MOV_SS}}),
    T(REAL, CODE("\x8e\xc8"), FAULT(6, NOEC)),
    T(REAL, CODE("\x8c\xc8"), .in = {{"cs.sel", 0}}, .out = {{"rax", 0}}),
    T(P32, CODE("\x8c\xd8"), .in = {{"rax", 0xffffffff}}, .out = {{"rax", 0x10}}),
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x18}}, .out = {{"ds.sel", 0x18}, {"ds.attr", 0xc093}},
      .mout = {{TH_GDT + 0x18 + 5, 0x93, 1}}),
    T(P32, CODE("\x8e\xe0"), .in = {{"rax", 0x20}},
      .out = {{"fs.sel", 0x20}, {"fs.limit", 0xfff}, {"fs.attr", 0x4093}}),
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0}},
      .out = {{"ds.sel", 0}, {"ds.limit", 0}, {"ds.attr", X86_SEG_UNUSABLE}}),
    T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0}}, FAULT(13, 0)),
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x60}}, FAULT(13, 0x60)),
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x48}}, FAULT(13, 0x48)), /* a system descriptor */
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x08}}, .min = {{TH_GDT + 0x08, 0x00cf9b000000ffffull, 8}},
      .out = {{"ds.sel", 8}, {"ds.attr", 0xc09b}}),
    T(P32, CODE("\x8e\xd0"), .in = {{"rax", 0x08}}, FAULT(13, 0x08)),
    /* Segment limits: 32-bit data through a segment with limit fff */
    T(P32, CODE("\x64\x8b\x00"), .in = {{"rax", 0xffd}, {"fs.limit", 0xfff}}, FAULT(13, 0)),
    T(P32, CODE("\x64\x8b\x00"), .in = {{"rax", 0xffc}, {"fs.limit", 0xfff}}, .out = {{"rax", 0}}),

    /* ---- Stack ---- */
    T(REAL, CODE("\x50"), .in = {{"rax", 0x1234}}, .out = {{"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, 0x1234, 2}}),
    T(REAL, CODE("\x5b"), .min = {{TH_STACK, 0x4321, 2}}, .out = {{"rbx", 0x4321}, {"rsp", TH_STACK + 2}}),
    T(P32, CODE("\x6a\xff"), .out = {{"rsp", TH_STACK - 4}}, .mout = {{TH_STACK - 4, 0xffffffff, 4}}),
    T(P32, CODE("\x66\x50"), .in = {{"rax", 0x12345678}}, .out = {{"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, 0x5678, 2}}),
    T(L64, CODE("\x50"), .in = {{"rax", 0x1122334455667788ull}}, .out = {{"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, 0x1122334455667788ull, 8}}),
    T(L64, CODE("\x41\x50"), .in = {{"r8", 7}}, .out = {{"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, 7, 8}}),
    T(L64, CODE("\x66\x50"), .in = {{"rax", 0x1234}}, .out = {{"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, 0x1234, 2}}),
    T(L64, CODE("\x68\x00\x00\x00\x80"), .out = {{"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, 0xffffffff80000000ull, 8}}),
    T(P32, CODE("\xff\x30"), .in = {{"rax", 0x3000}}, .min = {{0x3000, 0xcafe, 4}},
      .out = {{"rsp", TH_STACK - 4}}, .mout = {{TH_STACK - 4, 0xcafe, 4}}),
    T(P32, CODE("\x8f\x00"), .in = {{"rax", 0x3000}}, .min = {{TH_STACK, 0xf00d, 4}},
      .out = {{"rsp", TH_STACK + 4}}, .mout = {{0x3000, 0xf00d, 4}}),
    /* POP [ESP] addresses with the incremented ESP. */
    T(P32, CODE("\x8f\x04\x24"), .min = {{TH_STACK, 0xf00d, 4}}, .out = {{"rsp", TH_STACK + 4}},
      .mout = {{TH_STACK + 4, 0xf00d, 4}}),
    T(REAL, CODE("\x06"), .in = {{"es.sel", 0x1234}}, .out = {{"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, 0x1234, 2}}),
    T(REAL, CODE("\x1f"), .min = {{TH_STACK, 0x0100, 2}},
      .out = {{"rsp", TH_STACK + 2}, {"ds.sel", 0x100}, {"ds.base", 0x1000}}),
    T(REAL, CODE("\x17"), .min = {{TH_STACK, 0x0100, 2}},
      .out = {{"rsp", TH_STACK + 2},
              {"ss.sel", 0x100},
              {"ss.base", 0x1000},
              {"events.shadow", X86_SHADOW_MOV_SS}}),
    /* PUSH FS with a 64-bit slot writes only the selector. */
    T(L64, CODE("\x0f\xa0"), .in = {{"fs.sel", 0x10}}, .min = {{TH_STACK - 8, ~0ull, 8}},
      .out = {{"rsp", TH_STACK - 8}}, .mout = {{TH_STACK - 8, 0xffffffffffff0010ull, 8}}),
    T(L64, CODE("\x06"), FAULT(6, NOEC)),
    T(L64, CODE("\x1f"), FAULT(6, NOEC)),
    T(REAL, CODE("\x60"),
      .in = {{"rax", 1}, {"rcx", 2}, {"rdx", 3}, {"rbx", 4}, {"rbp", 6}, {"rsi", 7}, {"rdi", 8}},
      .out = {{"rsp", TH_STACK - 16}},
      .mout = {{TH_STACK - 2, 1, 2}, {TH_STACK - 10, TH_STACK, 2}, {TH_STACK - 16, 8, 2}}),
    T(REAL, CODE("\x61"), .min = {{TH_STACK, 8, 2}, {TH_STACK + 6, 0x5555, 2}, {TH_STACK + 14, 1, 2}},
      .out = {{"rdi", 8}, {"rax", 1}, {"rsp", TH_STACK + 16}}),
    T(L64, CODE("\x60"), FAULT(6, NOEC)),
    T(REAL, CODE("\x9c"), .in = {{"rflags", FX | CF | IF}}, .out = {{"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, FX | CF | IF, 2}}),
    T(REAL, CODE("\x9d"), .min = {{TH_STACK, 0xffff, 2}}, .out = {{"rsp", TH_STACK + 2}, {"rflags", 0x7fd7}}),
    T(P32, CODE("\x9d"), .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}},
      .min = {{TH_STACK, 0x3ed7, 4}}, .out = {{"rsp", TH_STACK + 4}, {"rflags", 0x0cd7}}),
    T(P32, CODE("\x9c"), .in = {{"rflags", FX | 0x10000 | IF}},
      .out = {{"rsp", TH_STACK - 4}, {"rflags", FX | IF}}, .mout = {{TH_STACK - 4, FX | IF, 4}}),
    T(P32, CODE("\xc8\x10\x00\x00"), .in = {{"rbp", 0x7777}},
      .out = {{"rsp", TH_STACK - 4 - 16}, {"rbp", TH_STACK - 4}}, .mout = {{TH_STACK - 4, 0x7777, 4}}),
    T(P32, CODE("\xc8\x08\x00\x02"), .in = {{"rbp", 0x9000}}, .min = {{0x9000 - 4, 0xaaaa, 4}},
      .out = {{"rsp", TH_STACK - 12 - 8}, {"rbp", TH_STACK - 4}},
      .mout = {{TH_STACK - 4, 0x9000, 4}, {TH_STACK - 8, 0xaaaa, 4}, {TH_STACK - 12, TH_STACK - 4, 4}}),
    T(P32, CODE("\xc9"), .in = {{"rbp", 0x9000}}, .min = {{0x9000, 0x1234, 4}},
      .out = {{"rsp", 0x9004}, {"rbp", 0x1234}}),

    /* ---- Control flow ---- */
    T(REAL, CODE("\xeb\x10"), .out = {{"rip", C + 2 + 0x10}}),
    T(REAL, CODE("\xeb\xfe"), .out = {{"rip", C}}),
    T(P32, CODE("\xe9\x00\x01\x00\x00"), .out = {{"rip", C + 5 + 0x100}}),
    T(REAL, CODE("\xe8\x10\x00"), .out = {{"rip", C + 3 + 0x10}, {"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, C + 3, 2}}),
    T(L64, CODE("\xe8\x10\x00\x00\x00"), .out = {{"rip", C + 5 + 0x10}, {"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, C + 5, 8}}),
    T(P32, CODE("\xc3"), .min = {{TH_STACK, 0x4000, 4}}, .out = {{"rip", 0x4000}, {"rsp", TH_STACK + 4}}),
    T(P32, CODE("\xc2\x08\x00"), .min = {{TH_STACK, 0x4000, 4}},
      .out = {{"rip", 0x4000}, {"rsp", TH_STACK + 12}}),
    T(L64, CODE("\xc3"), .min = {{TH_STACK, 0x123456789ull, 8}},
      .out = {{"rip", 0x123456789ull}, {"rsp", TH_STACK + 8}}),
    /* Near RET keeps a 66 override in 64-bit mode (near CALL/JMP/Jcc ignore it on Intel). */
    T(L64, CODE("\x66\xc3"), .min = {{TH_STACK, 0x123456789ull, 8}},
      .out = {{"rip", 0x6789}, {"rsp", TH_STACK + 2}}),
    T(REAL, CODE("\x74\x10"), .in = {{"rflags", FX | ZF}}, .out = {{"rip", C + 2 + 0x10}}),
    T(REAL, CODE("\x74\x10"), .in = {{"rflags", FX}}),
    T(P32, CODE("\x0f\x8f\x00\x10\x00\x00"), .in = {{"rflags", FX}}, .out = {{"rip", C + 6 + 0x1000}}),
    T(P32, CODE("\x0f\x8f\x00\x10\x00\x00"), .in = {{"rflags", FX | SF}}),
    /* Near targets beyond the CS limit and non-canonical targets raise #GP(0) */
    T(REAL, CODE("\x66\xe9\x00\x00\x01\x00"), FAULT(13, 0)),
    T(L64, CODE("\xff\xe0"), .in = {{"rax", 0x0000800000000000ull}}, FAULT(13, 0)),
    T(L64, CODE("\xff\xe0"), .in = {{"rax", 0x4000}}, .out = {{"rip", 0x4000}}),
    T(P32, CODE("\xff\x10"), .in = {{"rax", 0x3000}}, .min = {{0x3000, 0x5000, 4}},
      .out = {{"rip", 0x5000}, {"rsp", TH_STACK - 4}}, .mout = {{TH_STACK - 4, C + 2, 4}}),
    /* LOOP stays on the instruction while taken */
    T(REAL, CODE("\xe2\xfe"), .in = {{"rcx", 2}}, .out = {{"rcx", 1}, {"rip", C}}),
    T(REAL, CODE("\xe2\xfe"), .in = {{"rcx", 1}}, .out = {{"rcx", 0}}),
    T(REAL, CODE("\x67\xe2\xfd"), .in = {{"rcx", 0x10000}}, .out = {{"rcx", 0xffff}, {"rip", C}}),
    T(REAL, CODE("\xe1\xfe"), .in = {{"rcx", 5}}, .out = {{"rcx", 4}}),
    T(REAL, CODE("\xe0\xfe"), .in = {{"rcx", 5}}, .out = {{"rcx", 4}, {"rip", C}}),
    T(REAL, CODE("\xe3\x05"), .in = {{"rcx", 0x10000}}, .out = {{"rip", C + 7}}),
    T(P32, CODE("\xe3\x05"), .in = {{"rcx", 0x10000}}),
    T(L64, CODE("\xe3\x05"), .out = {{"rip", C + 7}}),
    /* Far transfers: real mode and a flat protected-mode code segment */
    T(REAL, CODE("\xea\x00\x10\x00\x20"), .out = {{"rip", 0x1000}, {"cs.sel", 0x2000}, {"cs.base", 0x20000}}),
    T(REAL, CODE("\x9a\x00\x10\x00\x20"),
      .out = {{"rip", 0x1000}, {"cs.sel", 0x2000}, {"cs.base", 0x20000}, {"rsp", TH_STACK - 4}},
      .mout = {{TH_STACK - 2, 0, 2}, {TH_STACK - 4, C + 5, 2}}),
    T(REAL, CODE("\xcb"), .min = {{TH_STACK, 0x0010, 2}, {TH_STACK + 2, 0x0700, 2}},
      .out = {{"rip", 0x10}, {"cs.sel", 0x700}, {"cs.base", 0x7000}, {"rsp", TH_STACK + 4}}),
    T(REAL, CODE("\xff\x2f"), .in = {{"rbx", 0x2000}}, .min = {{0x2000, 0x00300020, 4}},
      .out = {{"rip", 0x20}, {"cs.sel", 0x30}, {"cs.base", 0x300}}),
    T(P32, CODE("\xea\x00\x50\x00\x00\x08\x00"), .in = {{"cs.sel", 0x08}}, .out = {{"rip", 0x5000}}),
    T(P32, CODE("\xea\x00\x50\x00\x00\x10\x00"), FAULT(13, 0x10)),
    T(P32, CODE("\xea\x00\x50\x00\x00\x28\x00"), .in = {{"efer", X86_EFER_LME}},
      .out = {{"rip", 0x5000}, {"cs.sel", 0x28}, {"cs.attr", 0xa09b}}),
    T(L64, CODE("\xea\x00\x50\x00\x00\x08\x00"), FAULT(6, NOEC)),
    /* INT/IRET through the real-mode IVT */
    T(REAL, CODE("\xcd\x10"), .in = {{"rflags", FX | IF | TF}}, .min = {{0x40, 0xf000e000, 4}},
      .out =
          {{"rip", 0xe000}, {"cs.sel", 0xf000}, {"cs.base", 0xf0000}, {"rsp", TH_STACK - 6}, {"rflags", FX}},
      .mout = {{TH_STACK - 2, FX | IF | TF, 2}, {TH_STACK - 4, 0, 2}, {TH_STACK - 6, C + 2, 2}}),
    T(REAL, CODE("\xcc"), .min = {{0x0c, 0x12345678, 4}},
      .out = {{"rip", 0x5678}, {"cs.sel", 0x1234}, {"cs.base", 0x12340}, {"rsp", TH_STACK - 6}}),
    T(REAL, CODE("\xce"), .in = {{"rflags", FX}}),
    T(REAL, CODE("\xcf"), .min = {{TH_STACK, 0x100, 2}, {TH_STACK + 2, 0x200, 2}, {TH_STACK + 4, 0x0ad7, 2}},
      .out = {{"rip", 0x100},
              {"cs.sel", 0x200},
              {"cs.base", 0x2000},
              {"rsp", TH_STACK + 6},
              {"rflags", 0x0ad7}}),
    T(REAL, CODE("\xcd\x80"), .in = {{"idtr.limit", 0xff}}, FAULT(13, 0)),
    T(P32, CODE("\xcd\x80"), FAULT(13, 0x402)), /* beyond the IDT limit: #GP(vector * 8 + 2) */
    T(REAL, CODE("\x62\x07"), .in = {{"rbx", 0x2000}, {"rax", 5}}, .min = {{0x2000, 0x00100002, 4}}),
    T(REAL, CODE("\x62\x07"), .in = {{"rbx", 0x2000}, {"rax", 0x11}}, .min = {{0x2000, 0x00100002, 4}},
      FAULT(5, NOEC)),
    T(REAL, CODE("\x62\xc0"), FAULT(6, NOEC)),

    /* ---- Strings: one iteration per step ---- */
    T(REAL, CODE("\xa4"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}}, .min = {{0x2000, 0x5a, 1}},
      .out = {{"rsi", 0x2001}, {"rdi", 0x3001}}, .mout = {{0x3000, 0x5a, 1}}),
    T(REAL, CODE("\xf3\xa4"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 3}},
      .min = {{0x2000, 0x5a, 1}},
      .out = {{"rsi", 0x2001}, {"rdi", 0x3001}, {"rcx", 2}, {"rip", C}, {"rflags", FX | RF}},
      .mout = {{0x3000, 0x5a, 1}}),
    T(REAL, CODE("\xf3\xa4"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 3}},
      .min = {{0x2000, 0x434241, 3}}, .steps = 3,
      .out = {{"rsi", 0x2003}, {"rdi", 0x3003}, {"rcx", 0}, {"rip", C + 2}}, .mout = {{0x3000, 0x434241, 3}}),
    T(REAL, CODE("\xf3\xa4"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 0}}),
    T(REAL, CODE("\xa5"), .in = {{"rsi", 0x2002}, {"rdi", 0x3002}, {"rflags", FX | DF}},
      .min = {{0x2002, 0xbeef, 2}}, .out = {{"rsi", 0x2000}, {"rdi", 0x3000}}, .mout = {{0x3002, 0xbeef, 2}}),
    T(REAL, CODE("\x67\xf3\xa4"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 0x10000}},
      .out = {{"rsi", 0x2001}, {"rdi", 0x3001}, {"rcx", 0xffff}, {"rip", C}, {"rflags", FX | RF}}),
    T(REAL, CODE("\xf3\xa4"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 0x10001}},
      .out = {{"rsi", 0x2001}, {"rdi", 0x3001}, {"rcx", 0x10000}}),
    T(REAL, CODE("\x26\xa4"),
      .in = {{"rsi", 0x10}, {"rdi", 0x3000}, {"es.base", 0x20000}, {"es.sel", 0x2000}},
      .min = {{0x20010, 0x66, 1}}, .out = {{"rsi", 0x11}, {"rdi", 0x3001}}, .mout = {{0x23000, 0x66, 1}}),
    T(REAL, CODE("\xf3\xa6"), .in = {{"rsi", 0x2000}, {"rdi", 0x3000}, {"rcx", 4}},
      .min = {{0x2000, 0x11223344, 4}, {0x3000, 0x11553344, 4}}, .steps = 3,
      .out = {{"rsi", 0x2003}, {"rdi", 0x3003}, {"rcx", 1}, {"rip", C + 2}, {"rflags", FX | CF | SF | AF}}),
    T(REAL, CODE("\xf2\xae"), .in = {{"rdi", 0x3000}, {"rcx", 8}, {"rax", 0x33}},
      .min = {{0x3000, 0x443322, 3}}, .steps = 2,
      .out = {{"rdi", 0x3002}, {"rcx", 6}, {"rip", C + 2}, {"rflags", FX | ZF | PF}}),
    T(P32, CODE("\xab"), .in = {{"rdi", 0x3000}, {"rax", 0x12345678}}, .out = {{"rdi", 0x3004}},
      .mout = {{0x3000, 0x12345678, 4}}),
    T(P32, CODE("\xac"), .in = {{"rsi", 0x3000}}, .min = {{0x3000, 0x9a, 1}},
      .out = {{"rsi", 0x3001}, {"rax", 0x9a}}),
    T(L64, CODE("\xf3\x48\xab"), .in = {{"rdi", 0x3000}, {"rcx", 2}, {"rax", ~0ull}}, .steps = 2,
      .out = {{"rdi", 0x3010}, {"rcx", 0}, {"rip", C + 3}}, .mout = {{0x3000, ~0ull, 8}, {0x3008, ~0ull, 8}}),
    T(P32, CODE("\x6c"), .in = {{"rdi", 0x3000}, {"rdx", 0x60}}, .out = {{"rdi", 0x3001}},
      .mout = {{0x3000, TH_PORT_VALUE & 0xff, 1}}),
    T(P32, CODE("\x6f"), .in = {{"rsi", 0x3000}, {"rdx", 0x80}}, .min = {{0x3000, 0x11223344, 4}},
      .out = {{"rsi", 0x3004}}),
    T(REAL, CODE("\xe4\x60"), .in = {{"rax", 0x1200}}, .out = {{"rax", 0x12a5}}),
    T(P32, CODE("\xed"), .in = {{"rdx", 0xcfc}}, .out = {{"rax", TH_PORT_VALUE}}),
    T(REAL, CODE("\xe6\x80")),
    /* CPL 3 above IOPL: the TSS I/O bitmap decides; here it lies beyond the TSS limit. */
    T(P32, CODE("\xee"),
      .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}, {"tr.limit", 0x67}},
      .min = {{0x66, 0x68, 2}}, FAULT(13, 0)),
    T(P32, CODE("\xee"),
      .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}, {"tr.limit", 0x80}, {"rdx", 0x9}},
      .min = {{0x66, 0x68, 2}, {0x69, 0x02, 1}}, FAULT(13, 0)),
    T(P32, CODE("\xee"),
      .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}, {"tr.limit", 0x80}, {"rdx", 0x9}},
      .min = {{0x66, 0x68, 2}, {0x69, 0xfd, 1}}),
    /* Segment limits in real mode: #GP for data, #SS for the stack */
    T(REAL, CODE("\x8b\x06\xff\xff"), FAULT(13, 0)),
    T(REAL, CODE("\x8b\x46\xff"), .in = {{"rbp", 0}}, FAULT(12, 0)),
    T(REAL, CODE("\x50"), .in = {{"rsp", 1}}, FAULT(12, 0)),
    T(REAL, CODE("\xa4"), .in = {{"rsi", 0xffff}}, .out = {{"rsi", 0}, {"rdi", 1}}),
    T(REAL, CODE("\xa5"), .in = {{"rsi", 0xffff}}, FAULT(13, 0)),

    /* ---- System ---- */
    T(REAL, CODE("\xf4"), .rc = EMU_HALT, .out = {{"events.halted", 1}}),
    T(P32, CODE("\xf4"), .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}}, FAULT(13, 0)),
    T(P32, CODE("\x0f\xa2"), .in = {{"rax", 7}, {"rcx", 1}},
      .out = {{"rax", 8}, {"rbx", 0x756e6547}, {"rcx", 1}, {"rdx", 0x49656e69}}),
    T(L64, CODE("\x0f\x31"), .in = {{"rax", ~0ull}}, .out = {{"rax", 0x55667788}, {"rdx", 0x11223344}}),
    T(REAL, CODE("\x0f\x32"), .in = {{"rcx", 0x277}}, .out = {{"rax", 0x00070406}, {"rdx", 0x00070406}}),
    T(REAL, CODE("\x0f\x32"), .in = {{"rcx", 0x1234}}, FAULT(13, 0)),
    T(REAL, CODE("\x0f\x30"), .in = {{"rcx", 0xc0000080}, {"rax", 0x100}}, .out = {{"efer", 0x100}}),
    T(REAL, CODE("\x0f\x30"), .in = {{"rcx", 0xc0000080}, {"rax", 0x2}}, FAULT(13, 0)),
    T(L64, CODE("\x0f\x30"), .in = {{"rcx", 0xc0000100}, {"rax", 0x1000}, {"rdx", 1}},
      .out = {{"fs.base", 0x100001000ull}}),
    T(P32, CODE("\x0f\x32"), .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}},
      FAULT(13, 0)),
    T(REAL, CODE("\x0f\x01\x16\x00\x20"), .min = {{0x2000, 0x3456789a0027ull, 6}},
      .out = {{"gdtr.limit", 0x27}, {"gdtr.base", 0x56789a}}),
    T(REAL, CODE("\x66\x0f\x01\x1e\x00\x20"), .min = {{0x2000, 0x3456789a0027ull, 6}},
      .out = {{"idtr.limit", 0x27}, {"idtr.base", 0x3456789a}}),
    T(P32, CODE("\x0f\x01\x00"), .in = {{"rax", 0x3000}},
      .mout = {{0x3000, ((uint64_t)TH_GDT << 16) | 0x5f, 6}}),
    T(L64, CODE("\x0f\x01\x08"),
      .in = {{"rax", 0x3000}, {"idtr.base", 0xffffffff80001000ull}, {"idtr.limit", 0xfff}},
      .mout = {{0x3000, 0x10000fff, 4}, {0x3004, 0xffffffff8000, 6}}),
    T(REAL, CODE("\x0f\x01\xe0"), .out = {{"rax", 0x10}}),
    T(REAL, CODE("\x0f\x01\xf0"), .in = {{"rax", 0xf}}, .out = {{"cr0", 0x1f}}),
    T(P32, CODE("\x0f\x01\xf0"), .in = {{"rax", 0x0}}),
    T(REAL, CODE("\x0f\x06"), .in = {{"cr0", 0x18}}, .out = {{"cr0", 0x10}}),
    T(REAL, CODE("\x0f\x20\xc0"), .in = {{"cr0", 0x60000010}, {"rax", ~0ull}}, .out = {{"rax", 0x60000010}}),
    T(REAL, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x11}}, .out = {{"cr0", 0x11}}),
    T(REAL, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x80000000}}, FAULT(13, 0)),
    /* Paging with EFER.LME enters long mode (LMA) */
    T(P32, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x80000011}, {"cr4", 0x20}, {"efer", 0x100}},
      .out = {{"cr0", 0x80000011}, {"efer", 0x500}}),
    T(P32, CODE("\x0f\x22\xc0"), .in = {{"rax", 0x80000011}, {"efer", 0x100}}, FAULT(13, 0)),
    T(P32, CODE("\x0f\x22\xe0"), .in = {{"rax", 0x620}}, .out = {{"cr4", 0x620}}),
    T(P32, CODE("\x0f\x22\xe0"), .in = {{"rax", 0x80000000}}, FAULT(13, 0)),
    T(P32, CODE("\x0f\x22\xd8"), .in = {{"rax", 0x5000}}, .out = {{"cr3", 0x5000}}),
    T(P32, CODE("\x0f\x22\xc8"), FAULT(6, NOEC)),
    T(L64, CODE("\x44\x0f\x22\xc0"), .in = {{"rax", 5}}, .out = {{"cr8", 5}}),
    T(P32, CODE("\x0f\x21\xf8"), .out = {{"rax", 0x400}}),
    T(P32, CODE("\x0f\x23\xc0"), .in = {{"rax", 0x1234}}, .out = {{"dr0", 0x1234}}),
    T(P32, CODE("\x0f\x22\xc0"), .in = {{"ss.attr", 0xc0f3}, {"cs.attr", 0xc0fb}, {"cs.sel", 0x0b}},
      FAULT(13, 0)),
    T(P32, CODE("\x0f\x09")),
    T(P32, CODE("\x0f\x08")),
    T(P32, CODE("\x0f\x01\x38"), .in = {{"rax", 0x3000}}),
    T(P32, CODE("\x0f\x0b"), FAULT(6, NOEC)),
    T(P32, CODE("\x0f\xff\xc0"), FAULT(6, NOEC)),
    T(P32, CODE("\xc6\xc8\x00"), FAULT(6, NOEC)),
    T(P32, CODE("\x8f\xc8"), FAULT(6, NOEC)),
    T(P32, CODE("\x0f\xc7\xf0"), .out = {{"rax", (uint32_t)TH_RAND}, {"rflags", FX | CF}}),
    T(REAL, CODE("\x0f\x00\xc0"), FAULT(6, NOEC)),
    T(P32, CODE("\x0f\x00\xc8"), .in = {{"tr.sel", 0x38}}, .out = {{"rax", 0x38}}),
    /* x87 and SSE moves */
    T(REAL, CODE("\xdb\xe3"), .in = {{"fpu.fcw", 0x40}, {"fpu.fsw", 0x1234}},
      .out = {{"fpu.fcw", 0x37f}, {"fpu.fsw", 0}}),
    T(REAL, CODE("\xdf\xe0"), .in = {{"fpu.fsw", 0x3800}, {"rax", 0x12345}}, .out = {{"rax", 0x13800}}),
    T(REAL, CODE("\xd9\x3f"), .in = {{"rbx", 0x2000}}, .mout = {{0x2000, 0x37f, 2}}),
    T(REAL, CODE("\xd9\x2f"), .in = {{"rbx", 0x2000}}, .min = {{0x2000, 0x27f, 2}},
      .out = {{"fpu.fcw", 0x27f}}),
    T(REAL, CODE("\xdd\x3f"), .in = {{"rbx", 0x2000}, {"fpu.fsw", 0x4000}}, .mout = {{0x2000, 0x4000, 2}}),
    T(REAL, CODE("\xdb\xe3"), .in = {{"cr0", 0x18}}, FAULT(7, NOEC)),
    T(REAL, CODE("\x9b"), .in = {{"cr0", 0x1a}}, FAULT(7, NOEC)),
    T(REAL, CODE("\x9b"), .in = {{"cr0", 0x18}}),
    T(P32, CODE("\x0f\x28\x00"), .in = {{"rax", 0x3000}, {"cr4", 0x200}}, .min = {{0x3000, 0x1122, 8}},
      .out = {{"xmm0", 0x1122}}),
    T(P32, CODE("\x0f\x28\x00"), .in = {{"rax", 0x3004}, {"cr4", 0x200}}, FAULT(13, 0)),
    T(P32, CODE("\x0f\x10\x00"), .in = {{"rax", 0x3004}, {"cr4", 0x200}}, .min = {{0x3004, 0x55, 8}},
      .out = {{"xmm0", 0x55}}),
    T(P32, CODE("\x0f\x28\x00"), .in = {{"rax", 0x3000}}, FAULT(6, NOEC)),
    T(P32, CODE("\x66\x0f\x7f\x00"), .in = {{"rax", 0x3000}, {"cr4", 0x200}, {"xmm0", 0x99}},
      .mout = {{0x3000, 0x99, 8}, {0x3008, 0, 8}}),
    T(P32, CODE("\xf3\x0f\x6f\x08"), .in = {{"rax", 0x3001}, {"cr4", 0x200}}, .min = {{0x3001, 0x77, 8}},
      .out = {{"xmm1", 0x77}}),
    T(P32, CODE("\x66\x0f\xef\xc0"), .in = {{"cr4", 0x200}, {"xmm0", 0x1234}}, .out = {{"xmm0", 0}}),
    T(P32, CODE("\x0f\x57\xc9"), .in = {{"cr4", 0x200}, {"xmm1", 0x1234}}, .out = {{"xmm1", 0}}),
    T(P32, CODE("\x66\x0f\x6e\xc0"), .in = {{"cr4", 0x200}, {"rax", 0x89abcdef}, {"xmm0", 0x1234}},
      .out = {{"xmm0", 0x89abcdef}}),
    T(P32, CODE("\x66\x0f\x7e\xc3"), .in = {{"cr4", 0x200}, {"xmm0", 0x1122334455667788ull}},
      .out = {{"rbx", 0x55667788}}),
    T(L64, CODE("\x66\x48\x0f\x6e\xc0"), .in = {{"cr4", 0x220}, {"rax", 0x1122334455667788ull}},
      .out = {{"xmm0", 0x1122334455667788ull}}),
    T(P32, CODE("\x0f\xae\x00"), .in = {{"rax", 0x3000}, {"cr4", 0x200}, {"xmm1", 0xabc}},
      .mout = {{0x3000, 0x37f, 2}, {0x3018, 0x1f80, 4}, {0x3000 + 160 + 16, 0xabc, 8}}),
    T(P32, CODE("\x0f\xae\x08"), .in = {{"rax", 0x3000}, {"cr4", 0x200}},
      .min = {{0x3000, 0x27f, 2}, {0x3018, 0x1f00, 4}, {0x3000 + 160 + 32, 0xdef, 8}},
      .out = {{"fpu.fcw", 0x27f}, {"fpu.mxcsr", 0x1f00}, {"xmm2", 0xdef}}),
    T(P32, CODE("\x0f\xae\x08"), .in = {{"rax", 0x3000}, {"cr4", 0x200}}, .min = {{0x3018, 0x10000, 4}},
      FAULT(13, 0)),
    T(P32, CODE("\x0f\xae\x18"), .in = {{"rax", 0x3000}, {"cr4", 0x200}}, .mout = {{0x3000, 0x1f80, 4}}),

    /* ---- 16-bit protected mode and compatibility mode ---- */
    T(P16, CODE("\x01\xd8"), .in = {{"rax", 0x1234ffff}, {"rbx", 1}},
      .out = {{"rax", 0x12340000}, {"rflags", FX | CF | ZF | PF | AF}}),
    T(P16, CODE("\x66\x01\xd8"), .in = {{"rax", 0x1234ffff}, {"rbx", 1}},
      .out = {{"rax", 0x12350000}, {"rflags", FX | PF | AF}}),
    T(P16, CODE("\x50"), .in = {{"rax", 0x5555}, {"rsp", 0x12340010}}, .out = {{"rsp", 0x1234000e}},
      .mout = {{0xe, 0x5555, 2}}),
    T(P16, CODE("\xe8\x00\x01"), .out = {{"rip", C + 3 + 0x100}, {"rsp", TH_STACK - 2}},
      .mout = {{TH_STACK - 2, C + 3, 2}}),
    /* A far jump from 16-bit code into a 32-bit code segment */
    T(P16, CODE("\xea\x00\x50\x08\x00"),
      .out = {{"rip", 0x5000}, {"cs.sel", 8}, {"cs.limit", 0xffffffff}, {"cs.attr", 0xc09b}}),
    T(P16, CODE("\x8b\x07"), .in = {{"rbx", 0xffff}}, FAULT(13, 0)),
    T(CM, CODE("\x48"), .in = {{"rax", 1}}, .out = {{"rax", 0}, {"rflags", FX | ZF | PF}}),
    T(CM, CODE("\x50"), .in = {{"rax", 0x11223344}}, .out = {{"rsp", TH_STACK - 4}},
      .mout = {{TH_STACK - 4, 0x11223344, 4}}),
    T(CM, CODE("\xa1\x00\x30\x00\x00"), .min = {{0x3000, 0x77, 4}}, .out = {{"rax", 0x77}}),
    /* Compatibility mode to 64-bit mode through a far jump to an L=1 code segment */
    T(CM, CODE("\xea\x00\x50\x00\x00\x28\x00"),
      .out = {{"rip", 0x5000}, {"cs.sel", 0x28}, {"cs.attr", 0xa09b}}),
    T(CM, CODE("\x27"), .in = {{"rax", 0x0c}}, .out = {{"rax", 0x12}, {"rflags", FX | AF | PF}}, .fmask = OF),

    /* ---- More far transfers and pointer loads in protected mode ---- */
    T(P32, CODE("\x9a\x00\x50\x00\x00\x08\x00"), .out = {{"rip", 0x5000}, {"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 4, 0x08, 4}, {TH_STACK - 8, C + 7, 4}}),
    T(P32, CODE("\xcb"), .min = {{TH_STACK, 0x6000, 4}, {TH_STACK + 4, 0x08, 4}},
      .out = {{"rip", 0x6000}, {"rsp", TH_STACK + 8}}),
    T(P32, CODE("\xca\x08\x00"), .min = {{TH_STACK, 0x6000, 4}, {TH_STACK + 4, 0x08, 4}},
      .out = {{"rip", 0x6000}, {"rsp", TH_STACK + 16}}),
    T(P32, CODE("\xcb"), .min = {{TH_STACK, 0x6000, 4}, {TH_STACK + 4, 0x0b, 4}},
      FAULT(13, 0x08)),                 /* RPL 3 names a DPL 0 code segment */
    T(P32, CODE("\xcf"), FAULT(13, 0)), /* a null CS on the stack */
    T(L64, CODE("\x48\xcf"), FAULT(13, 0)),
    T(P32, CODE("\x0f\xb2\x00"), .in = {{"rax", 0x3000}}, .min = {{0x3000, 0x9000, 4}, {0x3004, 0x10, 2}},
      .out = {{"rax", 0x9000}}),
    T(P32, CODE("\xc4\x18"), .in = {{"rax", 0x3000}}, .min = {{0x3000, 0x1234, 4}, {0x3004, 0x20, 2}},
      .out = {{"rbx", 0x1234}, {"es.sel", 0x20}, {"es.limit", 0xfff}, {"es.attr", 0x4093}}),
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x40}}, FAULT(11, 0x40)),
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x0c}}, FAULT(13, 0x0c)), /* TI=1 with no LDT */
    T(P32, CODE("\x8e\xd8"), .in = {{"rax", 0x13}}, FAULT(13, 0x10)), /* RPL 3 above DPL 0 */
    T(REAL, CODE("\xc4\x1f"), .in = {{"rbx", 0x2000}}, .min = {{0x2000, 0x12345678, 4}},
      .out = {{"rbx", 0x5678}, {"es.sel", 0x1234}, {"es.base", 0x12340}}),

    /* ---- More 64-bit and real-mode corners ---- */
    T(L64, CODE("\x0f\x01\xf8"), .in = {{"gs.base", 0x1000}, {"msr.kernel_gs_base", 0x2000}},
      .out = {{"gs.base", 0x2000}, {"msr.kernel_gs_base", 0x1000}}),
    T(P32, CODE("\x0f\x01\xf8"), FAULT(6, NOEC)),
    T(L64, CODE("\xf3\x48\x0f\xae\xc0"), .in = {{"cr4", 0x10020}, {"fs.base", 0x123456789ull}},
      .out = {{"rax", 0x123456789ull}}),
    T(L64, CODE("\xf3\x48\x0f\xae\xc0"), FAULT(6, NOEC)),
    T(L64, CODE("\x48\x0f\xc7\xf0"), .out = {{"rax", TH_RAND}, {"rflags", FX | CF}}),
    T(L64, CODE("\x0f\xa8"), .in = {{"gs.sel", 0x2b}}, .out = {{"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, 0x2b, 2}}),
    T(L64, CODE("\xc8\x10\x00\x00"), .in = {{"rbp", 0x1111222233334444ull}},
      .out = {{"rsp", TH_STACK - 8 - 16}, {"rbp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, 0x1111222233334444ull, 8}}),
    T(L64, CODE("\x67\xe3\x05"), .in = {{"rcx", 0x100000000ull}}, .out = {{"rip", C + 8}}),
    T(L64, CODE("\x66\xe8\x10\x00\x00\x00"), .out = {{"rip", C + 6 + 0x10}, {"rsp", TH_STACK - 8}},
      .mout = {{TH_STACK - 8, C + 6, 8}}),
    T(L64, CODE("\x8b\x05\xfa\xff\xff\xff"), .out = {{"rax", 0xfffa058b}}), /* reads its own bytes */
    T(REAL, CODE("\xf3\x6c"), .in = {{"rdi", 0x3000}, {"rdx", 0x60}, {"rcx", 2}}, .steps = 2,
      .out = {{"rdi", 0x3002}, {"rcx", 0}, {"rip", C + 2}}, .mout = {{0x3000, 0xa5a5, 2}}),
    T(REAL, CODE("\x66\x60"), .in = {{"rax", 0x11112222}}, .out = {{"rsp", TH_STACK - 32}},
      .mout = {{TH_STACK - 4, 0x11112222, 4}, {TH_STACK - 20, TH_STACK, 4}}),
    T(REAL, CODE("\xd0\xd8"), .in = {{"rax", 0x01}, {"rflags", FX | CF}},
      .out = {{"rax", 0x80}, {"rflags", FX | CF | OF}}),
    T(REAL, CODE("\xd6"), .in = {{"rflags", FX | CF}}, .out = {{"rax", 0xff}}),
    T(REAL, CODE("\x0f\xb7\x07"), .in = {{"rbx", 0x2000}}, .min = {{0x2000, 0xfedc, 2}},
      .out = {{"rax", 0xfedc}}),
    T(REAL, CODE("\x66\x0f\xbe\xc3"), .in = {{"rbx", 0x80}}, .out = {{"rax", 0xffffff80}}),
    T(REAL, CODE("\x9a\x00\x00\x00\x00"), .in = {{"rsp", 1}}, FAULT(12, 0)),
    T(REAL, CODE("\x9a\x00\x00\x00\x00"), .in = {{"rsp", 2}},
      .out = {{"rip", 0}, {"cs.base", 0}, {"rsp", 0xfffe}},
      .mout = {{0, 0, 2}, {0xfffe, C + 5, 2}}), /* SP wraps within the 64 KiB segment */

    /* ---- LLDT/LTR, SYSCALL/SYSRET, SYSENTER ---- */
    T(P32, CODE("\x0f\x00\xd8"), .in = {{"rax", 0x48}},
      .out = {{"tr.sel", 0x48}, {"tr.base", 0x600}, {"tr.limit", 0x67}, {"tr.attr", 0x8b}},
      .mout = {{TH_GDT + 0x48 + 5, 0x8b, 1}}),
    T(P32, CODE("\x0f\x00\xd0"), .in = {{"rax", 0x58}},
      .out = {{"ldtr.sel", 0x58}, {"ldtr.base", 0x700}, {"ldtr.limit", 0xfff}, {"ldtr.attr", 0x82}}),
    T(P32, CODE("\x0f\x00\xd0"), .in = {{"rax", 0}},
      .out = {{"ldtr.sel", 0}, {"ldtr.limit", 0}, {"ldtr.attr", X86_SEG_UNUSABLE}}),
    T(P32, CODE("\x0f\x00\xd0"), .in = {{"rax", 0x10}}, FAULT(13, 0x10)),
    T(P32, CODE("\x0f\x00\xd8"), .in = {{"rax", 0}}, FAULT(13, 0)),
    T(L64, CODE("\x0f\x00\xd8"), .in = {{"rax", 0x48}},
      .out = {{"tr.sel", 0x48}, {"tr.base", 0x600}, {"tr.limit", 0x67}, {"tr.attr", 0x8b}},
      .mout = {{TH_GDT + 0x48 + 5, 0x8b, 1}}),
    T(L64, CODE("\x0f\x05"),
      .in = {{"efer", 0x501},
             {"msr.star", 0x0018000800000000ull},
             {"msr.lstar", 0xffffffff81000000ull},
             {"msr.sfmask", 0x200},
             {"rflags", FX | IF | CF}},
      .out = {{"rcx", C + 2},
              {"r11", FX | IF | CF},
              {"rflags", FX | CF},
              {"cs.sel", 0x08},
              {"rip", 0xffffffff81000000ull}}),
    T(L64, CODE("\x0f\x05"), FAULT(6, NOEC)),
    T(L64, CODE("\x48\x0f\x07"),
      .in = {{"efer", 0x501}, {"msr.star", 0x0018000800000000ull}, {"rcx", 0x400000}, {"r11", 0x202}},
      .out = {{"rip", 0x400000},
              {"rflags", 0x202},
              {"cs.sel", 0x2b},
              {"cs.attr", 0xa0fb},
              {"ss.sel", 0x23},
              {"ss.attr", 0xc0f3}}),
    T(P32, CODE("\x0f\x34"),
      .in = {{"msr.sysenter_cs", 0x08},
             {"msr.sysenter_esp", 0x9000},
             {"msr.sysenter_eip", 0x5000},
             {"rflags", FX | IF}},
      .out = {{"rsp", 0x9000}, {"rip", 0x5000}, {"rflags", FX}}),
    T(REAL, CODE("\x0f\x34"), FAULT(13, 0)),

    /* ---- Families again in the modes not covered above ---- */
    T(L64, CODE("\x48\x0f\xa4\xd8\x08"),
      .in = {{"rax", 0x1122334455667788ull}, {"rbx", 0xaabbccddeeff0099ull}},
      .out = {{"rax", 0x22334455667788aaull}, {"rflags", FX | CF | PF}}, .fmask = AF | OF),
    T(REAL, CODE("\x0f\xa5\xd8"), .in = {{"rax", 0x1234}, {"rbx", 0xabcd}, {"rcx", 4}},
      .out = {{"rax", 0x234a}, {"rflags", FX | CF}}, .fmask = AF | OF),
    T(L64, CODE("\x48\x0f\xab\x18"), .in = {{"rax", 0x3008}, {"rbx", ~0ull}},
      .mout = {{0x3000, 1ull << 63, 8}}, .fmask = 0x894),
    T(L64, CODE("\x48\x0f\xa3\x18"), .in = {{"rax", 0x3000}, {"rbx", 64 + 3}}, .min = {{0x3008, 8, 8}},
      .out = {{"rflags", FX | CF}}, .fmask = 0x894),
    T(REAL, CODE("\x0f\x44\xc3"), .in = {{"rflags", FX | ZF}, {"rax", 0x11110000}, {"rbx", 0x22225555}},
      .out = {{"rax", 0x11115555}}),
    T(REAL, CODE("\x0f\x97\xc0"), .in = {{"rflags", FX}}, .out = {{"rax", 1}}),
    T(L64, CODE("\x48\x0f\xc1\xd8"), .in = {{"rax", ~0ull}, {"rbx", 2}},
      .out = {{"rax", 1}, {"rbx", ~0ull}, {"rflags", FX | CF | AF}}),
    T(L64, CODE("\xf0\x48\x0f\xb1\x0e"), .in = {{"rsi", 0x3000}, {"rax", 5}, {"rcx", 9}},
      .min = {{0x3000, 5, 8}}, .mout = {{0x3000, 9, 8}}, .out = {{"rflags", FX | ZF | PF}}),
    T(REAL, CODE("\x0f\xb0\xd9"), .in = {{"rax", 0x7}, {"rcx", 0x8}, {"rbx", 0x1}},
      .out = {{"rax", 0x8}, {"rflags", FX | CF | SF | AF | PF}}),
    T(L64, CODE("\xfd"), .out = {{"rflags", FX | DF}}),
    T(L64, CODE("\x9f"), .in = {{"rflags", FX | CF | ZF}, {"rax", ~0ull}},
      .out = {{"rax", 0xffffffffffff43ffull}}),
    T(L64, CODE("\x48\xd7"), .in = {{"rbx", 0x100003000ull}, {"rax", 0x10}}, FAULT(14, 0),
      .cr2 = 0x100003010ull),
    T(L64, CODE("\xd7"), .in = {{"rbx", 0x3000}, {"rax", 0x10}}, .min = {{0x3010, 0x42, 1}},
      .out = {{"rax", 0x42}}),
    T(REAL, CODE("\xc8\x04\x00\x00"), .in = {{"rbp", 0x1234}},
      .out = {{"rsp", TH_STACK - 2 - 4}, {"rbp", TH_STACK - 2}}, .mout = {{TH_STACK - 2, 0x1234, 2}}),
    T(REAL, CODE("\xc9"), .in = {{"rbp", 0x7000}}, .min = {{0x7000, 0x4444, 2}},
      .out = {{"rsp", 0x7002}, {"rbp", 0x4444}}),
    T(L64, CODE("\xe6\x80"), .in = {{"rax", 0x11}}),
    T(L64, CODE("\x66\xed"), .in = {{"rdx", 0x1f0}, {"rax", ~0ull}}, .out = {{"rax", 0xffffffffffffa5a5ull}}),
    T(L64, CODE("\xed"), .in = {{"rdx", 0x1f0}, {"rax", ~0ull}}, .out = {{"rax", TH_PORT_VALUE}}),
    T(P32, CODE("\x0f\xc8"), .in = {{"rax", 0x11223344}}, .out = {{"rax", 0x44332211}}),
    T(REAL, CODE("\x66\x0f\xc8"), .in = {{"rax", 0x11223344}}, .out = {{"rax", 0x44332211}}),

    /* XSAVE/XRSTOR, standard form, x87 and SSE */
    T(L64, CODE("\x0f\xae\x26"),
      .in = {{"cr4", 0x40220}, {"xcr0", 3}, {"rax", 3}, {"rsi", 0x3000}, {"xmm1", 0x77}},
      .mout = {{0x3000, 0x37f, 2}, {0x3018, 0x1f80, 4}, {0x3000 + 160 + 16, 0x77, 8}, {0x3200, 3, 8}}),
    T(L64, CODE("\x0f\xae\x26"), .in = {{"cr4", 0x40220}, {"xcr0", 3}, {"rax", 2}, {"rsi", 0x3000}},
      .min = {{0x3000, 0x1234, 2}}, .mout = {{0x3000, 0x1234, 2}, {0x3018, 0x1f80, 4}, {0x3200, 2, 8}}),
    T(L64, CODE("\x0f\xae\x2e"),
      .in = {{"cr4", 0x40220}, {"xcr0", 3}, {"rax", 3}, {"rsi", 0x3000}, {"fpu.fcw", 0x40}},
      .min = {{0x3018, 0x1f00, 4}, {0x3000 + 160, 0xabcd, 8}, {0x3200, 2, 8}},
      .out = {{"fpu.fcw", 0x37f}, {"fpu.mxcsr", 0x1f00}, {"xmm0", 0xabcd}}),
    T(L64, CODE("\x0f\xae\x26"), .in = {{"cr4", 0x40220}, {"xcr0", 3}, {"rax", 3}, {"rsi", 0x3010}},
      FAULT(13, 0)),
    T(L64, CODE("\x0f\xae\x26"), .in = {{"cr4", 0x220}, {"xcr0", 3}, {"rax", 3}, {"rsi", 0x3000}},
      FAULT(6, NOEC)),
    T(L64, CODE("\x0f\xae\x2e"), .in = {{"cr4", 0x40220}, {"xcr0", 3}, {"rax", 3}, {"rsi", 0x3000}},
      .min = {{0x3200, 4, 8}}, FAULT(13, 0)),

    /* ---- Decoder limits and paging ---- */
    T(P32, CODE("\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90")),
    T(P32, CODE("\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90"), FAULT(13, 0)),
    T(L64, CODE("\x48\x66\x01\xd8"), .in = {{"rax", 0xffff}, {"rbx", 1}},
      .out = {{"rax", 0}, {"rflags", FX | CF | ZF | PF | AF}}),
    T(L64, CODE("\x66\x48\x01\xd8"), .in = {{"rax", 0xffff}, {"rbx", 1}},
      .out = {{"rax", 0x10000}, {"rflags", FX | PF | AF}}),
    T(L64, CODE("\x8b\x04\x25\x00\x00\x00\x40"), FAULT(14, 0), .cr2 = 0x40000000),
    T(L64, CODE("\x89\x04\x25\x00\x10\x20\x00"), FAULT(14, 2), .cr2 = 0x201000),
    T(L64, CODE("\x8b\x04\x25\x00\x00\x20\x00"), .min = {{0x200000, 0x99, 4}}, .out = {{"rax", 0x99}}),
    T(L64, CODE("\x48\x8b\x04\x25\x00\x00\x00\x00"), .in = {{"rax", 1ull << 63}}, .min = {{0, 0x5, 8}},
      .out = {{"rax", 5}}),
    T(L64, CODE("\x8b\x00"), .in = {{"rax", 0x0000800000000000ull}}, FAULT(13, 0)),
    T(L64, CODE("\x8b\x45\x00"), .in = {{"rbp", 0x0000800000000000ull}}, FAULT(12, 0)),
};

static void set_field(struct x86_state *st, const char *name, uint64_t v, const char *file, int line)
{
	const struct x86_field *f = x86_field_find(name);
	if (!f)
		fail_msg("%s:%d: unknown field %s", file, line, name);
	uint8_t *p = (uint8_t *)st + f->offset;
	unsigned n = f->size > 8 ? 8 : f->size;
	if (f->size > 8)
		memset(p, 0, f->size);
	memcpy(p, &v, n);
}

/* Names the fields that differ; returns their number. */
static int diff_states(const struct x86_state *want, const struct x86_state *got, uint64_t fmask)
{
	int bad = 0;
	for (size_t k = 0; k < x86_field_count; k++) {
		const struct x86_field *f = &x86_fields[k];
		const uint8_t *a = (const uint8_t *)want + f->offset, *b = (const uint8_t *)got + f->offset;
		if (!memcmp(a, b, f->size))
			continue;
		if (!strcmp(f->name, "rflags") && ((want->rflags ^ got->rflags) & ~fmask) == 0)
			continue;
		print_message("  %-12s want %#llx got %#llx\n", f->name,
		              (unsigned long long)x86_field_get(want, f),
		              (unsigned long long)x86_field_get(got, f));
		bad++;
	}
	return bad;
}

static struct emu_cache *cache; /* set: the second pass runs every case with the TLB and decode cache */

static int run_case(const struct tcase *t)
{
	struct x86_state in, st, want;
	struct emu_ctxt c;
	enum emu_status rc = EMU_OK;
	int steps = t->steps ? t->steps : 1, bad = 0;
	bool rip_given = false;

	th_reset();
	th_state(&in, (enum x86_mode)t->mode);
	for (unsigned k = 0; k < 8 && t->in[k].f; k++)
		set_field(&in, t->in[k].f, t->in[k].v, t->file, t->line);
	for (unsigned k = 0; k < 4 && t->min[k].size; k++)
		th_poke(t->min[k].addr, t->min[k].v, t->min[k].size);
	memcpy(th.mem + in.seg[X86_CS].base + in.rip, t->code, t->len);
	if ((t->mode == L64 || t->mode == CM) && (in.efer & X86_EFER_LMA) == 0)
		in.efer |= X86_EFER_LMA;
	th.n_writes = 0;

	st = in;
	memset(&c, 0, sizeof(c));
	c.st = &st;
	c.ops = &th_ops;
	c.cache = cache;
	emu_cache_flush(cache);
	for (int s = 0; s < steps; s++) {
		rc = emu_step(&c);
		if (rc != EMU_OK)
			break;
	}
	want = in;
	if (t->rc == EMU_OK || t->rc == EMU_HALT) {
		for (unsigned k = 0; k < 10 && t->out[k].f; k++) {
			set_field(&want, t->out[k].f, t->out[k].v, t->file, t->line);
			if (!strcmp(t->out[k].f, "rip"))
				rip_given = true;
		}
		if (!rip_given)
			want.rip = in.rip + t->len;
	}
	if ((int)rc != t->rc) {
		print_message("%s:%d: status %s, want %s (%s)\n", t->file, t->line, emu_status_name(rc),
		              emu_status_name((enum emu_status)t->rc), c.info.unimplemented);
		if (rc == EMU_EXCEPTION)
			print_message("  vector %u error %#x\n", c.event.vector, c.event.error_code);
		return 1;
	}
	if (rc == EMU_EXCEPTION)
		bad += th_check_exception(&c.event, t->vector, t->error, t->cr2, t->file, t->line);
	if (diff_states(&want, &st, t->fmask)) {
		print_message("%s:%d: state differs (above)\n", t->file, t->line);
		bad++;
	}
	for (unsigned k = 0; k < 4 && t->mout[k].size; k++) {
		uint64_t got = th_peek(t->mout[k].addr, t->mout[k].size);
		if (got != t->mout[k].v) {
			print_message("%s:%d: memory %#llx: want %#llx got %#llx\n", t->file, t->line,
			              (unsigned long long)t->mout[k].addr, (unsigned long long)t->mout[k].v,
			              (unsigned long long)got);
			bad++;
		}
	}
	return bad ? 1 : 0;
}

static void test_table(void **state)
{
	int failed = 0;
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		failed += run_case(&cases[k]);
	print_message("%zu cases, %d failed\n", sizeof(cases) / sizeof(cases[0]), failed);
	cache = emu_cache_new();
	assert_non_null(cache);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		failed += run_case(&cases[k]);
	emu_cache_free(cache);
	cache = NULL;
	print_message("with caches: %d failed in all\n", failed);
	assert_int_equal(failed, 0);
}

static void setup_ctxt(struct emu_ctxt *c, struct x86_state *st, enum x86_mode mode, const char *code,
                       unsigned len)
{
	th_reset();
	th_state(st, mode);
	memcpy(th.mem + st->seg[X86_CS].base + st->rip, code, len);
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->ops = &th_ops;
}

/* The cache keeps a translation only while the paging structures it came from are unchanged: after a store
 * through emu to the page-table entry, or one reported with emu_cache_note_write, the next access walks
 * again, as an uncached step would. Linear 0x200000 is mapped by the 4 KiB entry at 0x13000. */
static void test_cache_pte_store(void **state)
{
	/* mov rax, [0x200000]; mov [0x13000], rbx; mov rax, [0x200000] */
	static const char code[] = "\x48\x8b\x04\x25\x00\x00\x20\x00"
	                           "\x48\x89\x1c\x25\x00\x30\x01\x00"
	                           "\x48\x8b\x04\x25\x00\x00\x20\x00";
	struct x86_state st;
	struct emu_ctxt c;
	struct emu_cache *k = emu_cache_new();
	(void)state;
	assert_non_null(k);
	setup_ctxt(&c, &st, X86_MODE_LONG64, code, sizeof(code) - 1);
	c.cache = k;
	th_poke(0x200000, 0x1111, 8);
	th_poke(0x201000, 0x2222, 8);
	st.gpr[X86_RBX] = 0x201000 | 0x63;
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(st.gpr[X86_RAX], 0x1111);
	assert_int_equal(emu_step(&c), EMU_OK); /* the entry now maps 0x201000 */
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(st.gpr[X86_RAX], 0x2222);
	/* Back to 0x200000 behind emu's back, then reported. */
	th_poke(0x13000, 0x200000 | 0x63, 8);
	emu_cache_note_write(k, 0x13000, 8);
	st.rip = TH_CODE + 16;
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(st.gpr[X86_RAX], 0x1111);
	emu_cache_free(k);
}

/* The step reports its bytes, and every memory and port access with its physical address and data. */
static void test_info(void **state)
{
	struct x86_state st;
	struct emu_ctxt c;
	(void)state;
	setup_ctxt(&c, &st, X86_MODE_REAL, "\x89\x07", 2);
	st.gpr[X86_RBX] = 0x10;
	st.gpr[X86_RAX] = 0xbeef;
	st.seg[X86_DS].selector = 0x100;
	st.seg[X86_DS].base = 0x1000;
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(c.info.insn_len, 2);
	assert_memory_equal(c.info.insn, "\x89\x07", 2);
	assert_int_equal(c.info.n_access, 1);
	assert_int_equal(c.info.access[0].kind, EMU_ACC_WRITE);
	assert_int_equal(c.info.access[0].addr, 0x1010);
	assert_int_equal(c.info.access[0].size, 2);
	assert_int_equal(c.info.access[0].data[0], 0xef);
	assert_int_equal(c.info.access[0].data[1], 0xbe);

	setup_ctxt(&c, &st, X86_MODE_REAL, "\xe6\x80", 2);
	st.gpr[X86_RAX] = 0x42;
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(c.info.n_access, 1);
	assert_int_equal(c.info.access[0].kind, EMU_ACC_OUT);
	assert_int_equal(c.info.access[0].addr, 0x80);
	assert_int_equal(c.info.access[0].data[0], 0x42);
	assert_int_equal(th.last_out, 0x42);

	/* A read and a write: the log keeps their order. */
	setup_ctxt(&c, &st, X86_MODE_PROT32, "\xa5", 1);
	st.gpr[X86_RSI] = 0x3000;
	st.gpr[X86_RDI] = 0x4000;
	th_poke(0x3000, 0x11223344, 4);
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(c.info.n_access, 2);
	assert_int_equal(c.info.access[0].kind, EMU_ACC_READ);
	assert_int_equal(c.info.access[0].addr, 0x3000);
	assert_int_equal(c.info.access[1].kind, EMU_ACC_WRITE);
	assert_int_equal(c.info.access[1].addr, 0x4000);
	assert_int_equal(th_peek(0x4000, 4), 0x11223344);
}

/* What is missing is named, and the state is left alone. */
static void test_unimplemented(void **state)
{
	struct x86_state st, before;
	struct emu_ctxt c;
	(void)state;
	setup_ctxt(&c, &st, X86_MODE_LONG64, "\x0f\x33", 2);
	before = st;
	assert_int_equal(emu_step(&c), EMU_UNIMPLEMENTED);
	assert_string_equal(c.info.unimplemented, "0f 33 in long mode");
	assert_memory_equal(&st, &before, sizeof(st));

	setup_ctxt(&c, &st, X86_MODE_PROT32, "\x0f\x78\xc1", 3); /* VMREAD */
	assert_int_equal(emu_step(&c), EMU_UNIMPLEMENTED);
	assert_string_equal(c.info.unimplemented, "0f 78 in protected mode");

	setup_ctxt(&c, &st, X86_MODE_REAL, "\x0f\x01\xee", 3); /* rdpkru: a register form names the byte */
	assert_int_equal(emu_step(&c), EMU_UNIMPLEMENTED);
	assert_string_equal(c.info.unimplemented, "0f 01 ee in real mode");

	setup_ctxt(&c, &st, X86_MODE_REAL, "\x0f\xc7\x37", 3); /* vmptrld: a memory form names /reg */
	assert_int_equal(emu_step(&c), EMU_UNIMPLEMENTED);
	assert_string_equal(c.info.unimplemented, "0f c7 /6 in real mode");

	setup_ctxt(&c, &st, X86_MODE_PROT32, "\x66\x0f\x79\xc1", 4);
	assert_int_equal(emu_step(&c), EMU_UNIMPLEMENTED);
	assert_string_equal(c.info.unimplemented, "0f 79 (66) in protected mode");
}

/* With deliver_exceptions a fault in real mode goes through the IVT in the same step. */
static void test_deliver(void **state)
{
	struct x86_state st;
	struct emu_ctxt c;
	(void)state;
	setup_ctxt(&c, &st, X86_MODE_REAL, "\xf7\xf3", 2); /* div bx, bx = 0 */
	th_poke(0, 0x00400100, 4);
	c.deliver_exceptions = true;
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_true(c.info.delivered_event);
	assert_int_equal(c.event.vector, 0);
	assert_int_equal(st.rip, 0x100);
	assert_int_equal(st.seg[X86_CS].selector, 0x40);
	assert_int_equal(st.gpr[X86_RSP], TH_STACK - 6);
	/* The pushed return address is the faulting instruction. */
	assert_int_equal(th_peek(TH_STACK - 6, 2), TH_CODE);

	/* A pending event is delivered instead of executing. */
	setup_ctxt(&c, &st, X86_MODE_REAL, "\x90", 1);
	th_poke(0x20 * 4, 0x00500200, 4);
	st.events.exc_pending = 1;
	st.events.exc_vector = 0x20;
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_true(c.info.delivered_event);
	assert_int_equal(st.events.exc_pending, 0);
	assert_int_equal(st.rip, 0x200);
	assert_int_equal(th_peek(TH_STACK - 6, 2), TH_CODE);
}

/* An instruction that ends at a page end does not touch the next page; one that crosses into a
 * missing page faults on the fetch. */
static void test_fetch_page_cross(void **state)
{
	struct x86_state st;
	struct emu_ctxt c;
	(void)state;
	setup_ctxt(&c, &st, X86_MODE_LONG64, "", 0);
	st.rip = 0x200ffe;
	memcpy(th.mem + 0x200ffe, "\x90\x90", 2);
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(st.rip, 0x201000);

	setup_ctxt(&c, &st, X86_MODE_LONG64, "", 0);
	st.rip = 0x200ffd;
	memcpy(th.mem + 0x200ffd, "\x48\xb8\x01", 3);
	assert_int_equal(emu_step(&c), EMU_EXCEPTION);
	assert_int_equal(c.event.vector, 14);
	assert_int_equal(c.event.error_code, 0);
	assert_int_equal(c.event.cr2, 0x201000);
	assert_int_equal(st.rip, 0x200ffd);

	/* Real mode: an instruction running past the CS limit is #GP(0). */
	setup_ctxt(&c, &st, X86_MODE_REAL, "", 0);
	st.rip = 0xffff;
	th.mem[0xffff] = 0xb8;
	assert_int_equal(emu_step(&c), EMU_EXCEPTION);
	assert_int_equal(c.event.vector, 13);
}

/* MMX moves alias the x87 registers: a write sets the exponent to all ones, TOP to 0 and every tag valid. */
static void test_mmx(void **state)
{
	struct x86_state st;
	struct emu_ctxt c;
	(void)state;
	setup_ctxt(&c, &st, X86_MODE_LONG64, "\x0f\x6e\xc8\x0f\xef\xc1\x0f\x7f\x03\x0f\x7e\xc2", 12);
	st.gpr[X86_RAX] = 0x12345678;
	st.gpr[X86_RBX] = 0x3000;
	st.fpu.fsw = 0x3800;
	st.fpu.st[1][0] = 0xff;                 /* mm0 is physical R0: ST(1) while TOP is 7 */
	assert_int_equal(emu_step(&c), EMU_OK); /* movd mm1, eax */
	assert_int_equal(st.fpu.st[1][0], 0x78);
	assert_int_equal(st.fpu.st[1][8], 0xff);
	assert_int_equal(st.fpu.st[1][9], 0xff);
	assert_int_equal(st.fpu.fsw, 0);
	assert_int_equal(st.fpu.ftw, 0xff);
	assert_int_equal(emu_step(&c), EMU_OK); /* pxor mm0, mm1 */
	assert_int_equal(st.fpu.st[0][0], 0xff ^ 0x78);
	assert_int_equal(st.fpu.st[0][1], 0x56);
	assert_int_equal(emu_step(&c), EMU_OK); /* movq [rbx], mm0 */
	assert_int_equal(th_peek(0x3000, 8), 0x12345687ull);
	assert_int_equal(emu_step(&c), EMU_OK); /* movd edx, mm0 */
	assert_int_equal(st.gpr[X86_RDX], 0x12345687ull);

	setup_ctxt(&c, &st, X86_MODE_LONG64, "\x0f\x6e\xc8", 3);
	st.cr0 |= X86_CR0_EM;
	assert_int_equal(emu_step(&c), EMU_EXCEPTION);
	assert_int_equal(c.event.vector, 6);
}

/* The differ's masks: undefined flags by instruction and, for a count in CL, by that count. */
struct undef_row {
	const char *what;
	const char *insn;
	unsigned len;
	enum x86_mode mode;
	uint8_t cl;
	enum alu_family family;
};

/* clang-format off */
static const struct undef_row undef_rows[] = {
    {"mul ebx",             "\xf7\xe3",         2, X86_MODE_PROT32, 0,    ALU_FAM_MUL},
    {"and eax, eax",        "\x21\xc0",         2, X86_MODE_PROT32, 0,    ALU_FAM_LOGIC},
    {"add eax, eax",        "\x01\xc0",         2, X86_MODE_PROT32, 0,    ALU_FAM_NONE},
    {"shl eax, 1 (imm)",    "\xc1\xe0\x01",     3, X86_MODE_PROT32, 7,    ALU_FAM_SHIFT_1},
    {"shl eax, 5 (imm)",    "\xc1\xe0\x05",     3, X86_MODE_PROT32, 1,    ALU_FAM_SHIFT_N},
    {"shl eax, cl=0",       "\xd3\xe0",         2, X86_MODE_PROT32, 0,    ALU_FAM_NONE},
    {"shl eax, cl=1",       "\xd3\xe0",         2, X86_MODE_PROT32, 1,    ALU_FAM_SHIFT_1},
    {"shl eax, cl=5",       "\xd3\xe0",         2, X86_MODE_PROT32, 5,    ALU_FAM_SHIFT_N},
    {"shl eax, cl=0x20",    "\xd3\xe0",         2, X86_MODE_PROT32, 0x20, ALU_FAM_NONE},
    {"shl al, cl=9",        "\xd2\xe0",         2, X86_MODE_PROT32, 9,    ALU_FAM_SHIFT_WIDE},
    {"shr ax, cl=3",        "\x66\xd3\xe8",     3, X86_MODE_PROT32, 3,    ALU_FAM_SHIFT_N},
    {"rol eax, cl=1",       "\xd3\xc0",         2, X86_MODE_PROT32, 1,    ALU_FAM_NONE},
    {"rol eax, cl=2",       "\xd3\xc0",         2, X86_MODE_PROT32, 2,    ALU_FAM_ROTATE_N},
    {"shld eax, ebx, cl=0", "\x0f\xa5\xd8",     3, X86_MODE_PROT32, 0,    ALU_FAM_NONE},
    {"shld eax, ebx, cl=1", "\x0f\xa5\xd8",     3, X86_MODE_PROT32, 1,    ALU_FAM_SHIFT_1},
    {"shld ax, bx, cl=17",  "\x66\x0f\xa5\xd8", 4, X86_MODE_PROT32, 17,   ALU_FAM_SHxD_WIDE},
    {"shl rax, cl=0x20",    "\x48\xd3\xe0",     3, X86_MODE_LONG64, 0x20, ALU_FAM_SHIFT_N},
};
/* clang-format on */

static void set_mode(struct x86_state *st, enum x86_mode mode)
{
	memset(st, 0, sizeof(*st));
	st->cr0 = X86_CR0_PE;
	st->seg[X86_CS].attr = X86_SEG_DB;
	if (mode == X86_MODE_LONG64) {
		st->efer = X86_EFER_LMA;
		st->seg[X86_CS].attr = X86_SEG_L;
	}
}

static void test_undefined_flags(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(undef_rows) / sizeof(undef_rows[0]); k++) {
		const struct undef_row *u = &undef_rows[k];
		struct x86_state pre;
		set_mode(&pre, u->mode);
		assert_int_equal(x86_state_mode(&pre), u->mode);
		pre.gpr[X86_RCX] = 0xabcd00u | u->cl;
		uint64_t want = alu_undefined(u->family);
		if (emu_undefined_flags((const uint8_t *)u->insn, u->len, &pre) != want)
			fail_msg(
			    "%s: undefined flags 0x%llx, want 0x%llx", u->what,
			    (unsigned long long)emu_undefined_flags((const uint8_t *)u->insn, u->len, &pre),
			    (unsigned long long)want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),           cmocka_unit_test(test_info),
	    cmocka_unit_test(test_cache_pte_store), cmocka_unit_test(test_unimplemented),
	    cmocka_unit_test(test_deliver),         cmocka_unit_test(test_fetch_page_cross),
	    cmocka_unit_test(test_undefined_flags), cmocka_unit_test(test_mmx),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
