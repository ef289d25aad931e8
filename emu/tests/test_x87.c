/* x87 data movement against the host CPU: each program runs natively (64-bit user mode,
 * from an executable page) and in emu from the same FNINIT state; the stored bytes, FSW,
 * the abridged tag word and all eight registers must agree. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "harness.h"
#include "x87_edges.h"

#define IN_ADDR  0x3000u
#define OUT_ADDR 0x3100u

struct program {
	const char *name;
	const char *code;
	unsigned len;
};

#define P(n, c)                                                                                              \
	{                                                                                                    \
		n, c, sizeof(c) - 1                                                                          \
	}

/* Stores of ST(0) loaded from the 80-bit input at [rdi]; output at [rsi]. */
static const struct program stores[] = {
    P("fistp m16", "\xdb\x2f\xdf\x1e"),
    P("fistp m32", "\xdb\x2f\xdb\x1e"),
    P("fistp m64", "\xdb\x2f\xdf\x3e"),
    P("fist m16", "\xdb\x2f\xdf\x16"),
    P("fist m32", "\xdb\x2f\xdb\x16"),
    P("fstp m80", "\xdb\x2f\xdb\x3e"),
    P("fld st0; fxch st1; fistp m16", "\xdb\x2f\xd9\xc0\xd9\xc9\xdf\x1e"),
};

/* Register and stack programs over an integer input at [rdi]. */
static const struct program moves[] = {
    P("fild m16/m32/m64", "\xdf\x07\xdb\x07\xdf\x2f"),
    P("fild; fchs; fabs; fld st0", "\xdb\x07\xd9\xe0\xd9\xc0\xd9\xe1"),
    P("fld1; fldz; fxch st1; fstp m80", "\xd9\xe8\xd9\xee\xd9\xc9\xdb\x3e"),
    P("fld1 x9: overflow", "\xd9\xe8\xd9\xe8\xd9\xe8\xd9\xe8\xd9\xe8\xd9\xe8\xd9\xe8\xd9\xe8\xd9\xe8"),
    P("fistp m16 on an empty stack", "\xdf\x1e"),
    P("fstp m80 on an empty stack", "\xdb\x3e"),
    P("fxch with st1 empty", "\xd9\xe8\xd9\xc9"),
    P("fld st3 empty", "\xd9\xe8\xd9\xc3"),
    P("fchs on an empty stack", "\xd9\xe0"),
    P("fild x3; fst st3; fstp st1; fincstp; fdecstp",
      "\xdf\x07\xdb\x07\xdf\x2f\xdd\xd3\xdd\xd9\xd9\xf7\xd9\xf6"),
    P("fild x3; ffree st1; ffreep st0; fld st1", "\xdf\x07\xdb\x07\xdf\x2f\xdd\xc1\xdf\xc0\xd9\xc1"),
    P("fldz; fdecstp x2; fld1; fincstp; fstp st2", "\xd9\xee\xd9\xf6\xd9\xf6\xd9\xe8\xd9\xf7\xdd\xda"),
};

static uint8_t *native_page;

struct outcome {
	uint8_t out[16];
	uint16_t fsw;
	uint8_t ftw;
	uint8_t st[8][10];
};

static void native_run(const struct program *p, uint16_t fcw, const uint8_t in[48], struct outcome *o)
{
	uint8_t fx[512] __attribute__((aligned(16)));
	uint8_t out[128]; /* FNSAVE stores 108 bytes; the first 16 are compared */
	memset(out, 0x5a, sizeof(out));
	memcpy(native_page, p->code, p->len);
	native_page[p->len] = 0xc3;
	void (*fn)(const uint8_t *, uint8_t *);
	memcpy(&fn, &native_page, sizeof(fn));
	__asm__ volatile("fninit\n\tfldcw %0" : : "m"(fcw));
	fn(in, out);
	__asm__ volatile("fxsave %0\n\tfninit" : "=m"(fx));
	memcpy(o->out, out, 16);
	memcpy(&o->fsw, fx + 2, 2);
	o->ftw = fx[4];
	for (unsigned k = 0; k < 8; k++)
		memcpy(o->st[k], fx + 32 + 16 * k, 10);
}

static struct emu_ops x87_ops;

/* The harness's CPUID with SSE3, which FISTTP needs. */
static enum emu_status cpuid_sse3(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	enum emu_status rc = th_ops.cpuid(opaque, leaf, subleaf, out);
	if (leaf == 1)
		out[2] |= 1;
	return rc;
}

static void emu_run(const struct program *p, uint16_t fcw, const uint8_t in[48], struct outcome *o)
{
	struct x86_state st;
	static bool memory_ready;
	if (!memory_ready)
		th_reset(); /* programs write only OUT_ADDR, rewritten below */
	memory_ready = true;
	th_state(&st, X86_MODE_LONG64);
	st.cr0 |= X86_CR0_NE;
	st.fpu.fcw = fcw | 0x40; /* FLDCW keeps the reserved bit 6 set */
	st.fpu.fsw = 0;
	st.fpu.ftw = 0;
	st.gpr[X86_RDI] = IN_ADDR;
	st.gpr[X86_RSI] = OUT_ADDR;
	memcpy(th.mem + TH_CODE, p->code, p->len);
	memcpy(th.mem + IN_ADDR, in, 48);
	memset(th.mem + OUT_ADDR, 0x5a, 128);
	struct emu_ctxt c = {.st = &st, .ops = &x87_ops, .opaque = &th};
	for (unsigned n = 0; st.rip != TH_CODE + p->len; n++) {
		enum emu_status rc = emu_step(&c);
		if (rc != EMU_OK || n > 32)
			fail_msg("%s: emu stopped at %#llx with status %d (%s)", p->name,
			         (unsigned long long)st.rip, rc, c.info.unimplemented);
	}
	memcpy(o->out, th.mem + OUT_ADDR, 16);
	o->fsw = st.fpu.fsw;
	o->ftw = st.fpu.ftw;
	for (unsigned k = 0; k < 8; k++)
		memcpy(o->st[k], st.fpu.st[k], 10);
}

static unsigned mismatches, compared;

static void check(const struct program *p, uint16_t fcw, const uint8_t in[48])
{
	struct outcome want, got;
	memset(&want, 0, sizeof(want));
	memset(&got, 0, sizeof(got));
	native_run(p, fcw, in, &want);
	emu_run(p, fcw, in, &got);
	compared++;
	/* Empty registers keep whatever they held before: only tagged ones are compared. */
	for (unsigned k = 0; k < 8; k++)
		if (!(want.ftw & (1u << ((((unsigned)want.fsw >> 11) + k) & 7)))) {
			memset(want.st[k], 0, 10);
			memset(got.st[k], 0, 10);
		}
	if (!memcmp(&want, &got, sizeof(want)))
		return;
	if (mismatches++ < 20) {
		fprintf(stderr, "%s, fcw %#x, input", p->name, fcw);
		for (unsigned k = 10; k-- > 0;)
			fprintf(stderr, " %02x", in[k]);
		fprintf(stderr, ": fsw %#x/%#x ftw %#x/%#x out %02x%02x%02x%02x/%02x%02x%02x%02x st0 %s\n",
		        want.fsw, got.fsw, want.ftw, got.ftw, want.out[3], want.out[2], want.out[1],
		        want.out[0], got.out[3], got.out[2], got.out[1], got.out[0],
		        memcmp(want.st, got.st, sizeof(want.st)) ? "differs" : "same");
	}
}

static void f80_bytes(uint8_t b[48], uint64_t mant, uint16_t se)
{
	memset(b, 0, 48);
	memcpy(b, &mant, 8);
	memcpy(b + 8, &se, 2);
}

/* An 80-bit value from a double, exact (doubles are a subset). */
static void f80_of(uint8_t b[48], double d)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	uint16_t sign = (uint16_t)((bits >> 48) & 0x8000);
	int exp = (int)((bits >> 52) & 0x7ff);
	uint64_t frac = bits & ((1ull << 52) - 1);
	if (!exp && !frac) {
		f80_bytes(b, 0, sign);
		return;
	}
	f80_bytes(b, (1ull << 63) | (frac << 11), (uint16_t)(sign | (exp - 1023 + 16383)));
}

static const uint16_t control_words[] = {0x037f, 0x077f, 0x0b7f, 0x0f7f, 0x037e, 0x035f, 0x0f5e};

static void test_stores(void **state)
{
	(void)state;
	static const double values[] = {0,
	                                1,
	                                -1,
	                                0.5,
	                                -0.5,
	                                1.5,
	                                -1.5,
	                                2.5,
	                                -2.5,
	                                0.25,
	                                0.75,
	                                -0.75,
	                                3.5,
	                                32767.4,
	                                32767.5,
	                                32767.6,
	                                -32768.4,
	                                -32768.5,
	                                -32768.6,
	                                32768,
	                                -32769,
	                                65535.9,
	                                2147483647.4,
	                                2147483647.5,
	                                -2147483648.5,
	                                4294967296.0,
	                                1e18,
	                                -1e18,
	                                9.2233720368547748e18,
	                                -9.2233720368547758e18,
	                                1.8446744073709552e19,
	                                1e30,
	                                -1e300,
	                                1e-5,
	                                -1e-300};
	static const struct {
		uint64_t mant;
		uint16_t se;
	} raw[] = {
	    {0x8000000000000000ull, 0x7fff},                /* +inf */
	    {0x8000000000000000ull, 0xffff},                /* -inf */
	    {0xc000000000000001ull, 0x7fff},                /* QNaN */
	    {0x8000000000000001ull, 0x7fff},                /* SNaN */
	    {0x4000000000000000ull, 0x7fff},                /* pseudo-NaN */
	    {0x0000000000000001ull, 0x0000},                /* denormal */
	    {0x8000000000000000ull, 0x0000},                /* pseudo-denormal */
	    {0x4000000000000000ull, 0x4000},                /* unnormal */
	    {0xffffffffffffffffull, 16383 + 62},            /* 2^63 - 0.5 */
	    {0xffffffffffffffffull, 16383 + 63},            /* 2^64 - 1 */
	    {0x8000000000000001ull, 0x8000 | (16383 + 63)}, /* -(2^63 + 1) */
	    {0x8000000000000000ull, 0x8000 | (16383 + 63)}, /* -2^63 */
	    {0xfffffffffffffffeull, 16383 + 62},            /* 2^63 - 1 */
	    {0xc000000000000000ull, 16383 - 65},            /* tiny */
	};
	uint8_t in[48];
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	for (size_t p = 0; p < sizeof(stores) / sizeof(stores[0]); p++)
		for (size_t c = 0; c < sizeof(control_words) / sizeof(control_words[0]); c++) {
			for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
				f80_of(in, values[v]);
				check(&stores[p], control_words[c], in);
			}
			for (size_t v = 0; v < sizeof(raw) / sizeof(raw[0]); v++) {
				f80_bytes(in, raw[v].mant, raw[v].se);
				check(&stores[p], control_words[c], in);
			}
			for (unsigned r = 0; r < 300; r++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				uint64_t mant = seed | (1ull << 63);
				unsigned exp = 16383 - 3 + (unsigned)((seed >> 20) % 72);
				f80_bytes(in,
				          (seed & 4) ? mant >> ((seed >> 40) & 63) << ((seed >> 40) & 63)
				                     : mant,
				          (uint16_t)(((seed >> 7) & 1 ? 0x8000 : 0) | exp));
				check(&stores[p], control_words[c], in);
			}
		}
	fprintf(stderr, "x87 stores: %u comparisons, %u mismatches\n", compared, mismatches);
	assert_int_equal(mismatches, 0);
}

static void test_moves(void **state)
{
	(void)state;
	static const int64_t ints[] = {0,
	                               1,
	                               -1,
	                               7,
	                               -32768,
	                               32767,
	                               0x7fffffff,
	                               -0x7fffffffll - 1,
	                               INT64_MIN,
	                               INT64_MAX,
	                               0x123456789abcdefll};
	uint8_t in[48];
	unsigned before = compared;
	mismatches = 0;
	for (size_t p = 0; p < sizeof(moves) / sizeof(moves[0]); p++)
		for (size_t c = 0; c < sizeof(control_words) / sizeof(control_words[0]); c++)
			for (size_t v = 0; v < sizeof(ints) / sizeof(ints[0]); v++) {
				memset(in, 0, sizeof(in));
				memcpy(in, &ints[v], 8);
				check(&moves[p], control_words[c], in);
			}
	fprintf(stderr, "x87 moves: %u comparisons, %u mismatches\n", compared - before, mismatches);
	assert_int_equal(mismatches, 0);
}

/* Arithmetic programs: operands A at [rdi] and B at [rdi+16] (80-bit), C at [rdi+32] (B's
 * bytes as a float32, float64, int16 or int32); ST(0) = A, ST(1) = B after LOAD_AB. */
#define LOAD_AB "\xdb\x6f\x10\xdb\x2f"
#define LOAD_A  "\xdb\x2f"
#define EFLAGS  "\x9c\x58\x25\xd5\x08\x00\x00\x48\x89\x46\x08" /* pushfq; pop rax; and; mov [rsi+8] */
#define ZF_SET  "\x31\xc0"

struct sweep_row {
	struct program p;
	unsigned c_bits; /* width of C taken from B: 0, 16, 32 (int), 33 (float32), 64 (float64) */
	bool transcendental;
};

#define R(n, c, cb)                                                                                          \
	{                                                                                                    \
		P(n, c), cb, false                                                                           \
	}
#define T(n, c)                                                                                              \
	{                                                                                                    \
		P(n, c), 0, true                                                                             \
	}

/* clang-format off */
static const struct sweep_row sweep_rows[] = {
    R("fadd st0,st1", LOAD_AB "\xd8\xc1", 0),   R("fmul st0,st1", LOAD_AB "\xd8\xc9", 0),
    R("fsub st0,st1", LOAD_AB "\xd8\xe1", 0),   R("fsubr st0,st1", LOAD_AB "\xd8\xe9", 0),
    R("fdiv st0,st1", LOAD_AB "\xd8\xf1", 0),   R("fdivr st0,st1", LOAD_AB "\xd8\xf9", 0),
    R("fadd st1,st0", LOAD_AB "\xdc\xc1", 0),   R("fsubr st1,st0", LOAD_AB "\xdc\xe1", 0),
    R("fsub st1,st0", LOAD_AB "\xdc\xe9", 0),   R("fdivr st1,st0", LOAD_AB "\xdc\xf1", 0),
    R("fdiv st1,st0", LOAD_AB "\xdc\xf9", 0),   R("fmulp", LOAD_AB "\xde\xc9", 0),
    R("faddp", LOAD_AB "\xde\xc1", 0),          R("fsubp", LOAD_AB "\xde\xe9", 0),
    R("fsubrp", LOAD_AB "\xde\xe1", 0),         R("fdivp", LOAD_AB "\xde\xf9", 0),
    R("fdivrp", LOAD_AB "\xde\xf1", 0),
    R("fadd m32", LOAD_A "\xd8\x47\x20", 33),   R("fmul m32", LOAD_A "\xd8\x4f\x20", 33),
    R("fcom m32", LOAD_A "\xd8\x57\x20", 33),   R("fcomp m32", LOAD_A "\xd8\x5f\x20", 33),
    R("fsub m32", LOAD_A "\xd8\x67\x20", 33),   R("fsubr m32", LOAD_A "\xd8\x6f\x20", 33),
    R("fdiv m32", LOAD_A "\xd8\x77\x20", 33),   R("fdivr m32", LOAD_A "\xd8\x7f\x20", 33),
    R("fadd m64", LOAD_A "\xdc\x47\x20", 64),   R("fmul m64", LOAD_A "\xdc\x4f\x20", 64),
    R("fcom m64", LOAD_A "\xdc\x57\x20", 64),   R("fcomp m64", LOAD_A "\xdc\x5f\x20", 64),
    R("fsub m64", LOAD_A "\xdc\x67\x20", 64),   R("fsubr m64", LOAD_A "\xdc\x6f\x20", 64),
    R("fdiv m64", LOAD_A "\xdc\x77\x20", 64),   R("fdivr m64", LOAD_A "\xdc\x7f\x20", 64),
    R("fiadd m32", LOAD_A "\xda\x47\x20", 32),  R("fimul m32", LOAD_A "\xda\x4f\x20", 32),
    R("ficom m32", LOAD_A "\xda\x57\x20", 32),  R("ficomp m32", LOAD_A "\xda\x5f\x20", 32),
    R("fisub m32", LOAD_A "\xda\x67\x20", 32),  R("fisubr m32", LOAD_A "\xda\x6f\x20", 32),
    R("fidiv m32", LOAD_A "\xda\x77\x20", 32),  R("fidivr m32", LOAD_A "\xda\x7f\x20", 32),
    R("fiadd m16", LOAD_A "\xde\x47\x20", 16),  R("fimul m16", LOAD_A "\xde\x4f\x20", 16),
    R("ficom m16", LOAD_A "\xde\x57\x20", 16),  R("fisubr m16", LOAD_A "\xde\x6f\x20", 16),
    R("fidiv m16", LOAD_A "\xde\x77\x20", 16),
    R("fcom st1", LOAD_AB "\xd8\xd1", 0),       R("fcomp st1", LOAD_AB "\xd8\xd9", 0),
    R("fcompp", LOAD_AB "\xde\xd9", 0),         R("fucom st1", LOAD_AB "\xdd\xe1", 0),
    R("fucomp st1", LOAD_AB "\xdd\xe9", 0),     R("fucompp", LOAD_AB "\xda\xe9", 0),
    R("fcomi", ZF_SET LOAD_AB "\xdb\xf1" EFLAGS, 0),  R("fucomi", ZF_SET LOAD_AB "\xdb\xe9" EFLAGS, 0),
    R("fcomip", ZF_SET LOAD_AB "\xdf\xf1" EFLAGS, 0), R("fucomip", ZF_SET LOAD_AB "\xdf\xe9" EFLAGS, 0),
    R("fld m32", "\xd9\x47\x20", 33),           R("fld m64", "\xdd\x47\x20", 64),
    R("fst m32", LOAD_A "\xd9\x16", 0),         R("fstp m32", LOAD_A "\xd9\x1e", 0),
    R("fst m64", LOAD_A "\xdd\x16", 0),         R("fstp m64", LOAD_A "\xdd\x1e", 0),
    R("fist m32", LOAD_A "\xdb\x16", 0),        R("fistp m64", LOAD_A "\xdf\x3e", 0),
    R("fisttp m16", LOAD_A "\xdf\x0e", 0),      R("fisttp m32", LOAD_A "\xdb\x0e", 0),
    R("fisttp m64", LOAD_A "\xdd\x0e", 0),      R("fbstp", LOAD_A "\xdf\x36", 0),
    R("fbld", "\xdf\x67\x20", 80),
    R("fsqrt", LOAD_A "\xd9\xfa", 0),           R("frndint", LOAD_A "\xd9\xfc", 0),
    R("ftst", LOAD_A "\xd9\xe4", 0),            R("fxam", LOAD_A "\xd9\xe5", 0),
    R("fxam empty", "\xd9\xe5", 0),             R("fchs; fabs", LOAD_A "\xd9\xe0\xd9\xe1", 0),
    R("fldl2t fldl2e fldpi", "\xd9\xe9\xd9\xea\xd9\xeb", 0),
    R("fldlg2 fldln2", "\xd9\xec\xd9\xed", 0),
    R("stc; fcmovb", LOAD_AB "\xf9\xda\xc1", 0), R("clc; fcmovnb", LOAD_AB "\xf8\xdb\xc1", 0),
    R("fcmove empty st2", LOAD_AB "\x31\xc0\xda\xca", 0),
    R("fnstenv", LOAD_AB "\xd9\x36\xc7\x46\x0c\x00\x00\x00\x00", 0), /* FIP bytes cleared */
    R("fnstenv 16-bit", LOAD_AB "\x66\xd9\x36\x48\xc7\x46\x06\x00\x00\x00\x00\x66\xc7\x46\x0e\x00\x00", 0),
    R("fnstenv; fldenv 16-bit", LOAD_AB "\x66\xd9\x36\x66\xd9\x26\x48\xc7\x46\x06\x00\x00\x00\x00", 0),
    R("fnsave", LOAD_AB "\xdd\x36\xc7\x46\x0c\x00\x00\x00\x00", 0),
    R("fnstenv; fldenv", LOAD_AB "\xd9\x36\xd9\x26\xc7\x46\x0c\x00\x00\x00\x00", 0),
    R("fnsave; frstor", LOAD_AB "\xdd\x36\xdd\x26\xc7\x46\x0c\x00\x00\x00\x00", 0),
    R("fscale", LOAD_AB "\xd9\xfd", 0),         R("fxtract", LOAD_A "\xd9\xf4", 0),
    R("fprem", LOAD_AB "\xd9\xf8", 0),          R("fprem1", LOAD_AB "\xd9\xf5", 0),
    T("f2xm1", LOAD_A "\xd9\xf0"),              T("fyl2x", LOAD_AB "\xd9\xf1"),
    T("fyl2xp1", LOAD_AB "\xd9\xf9"),           T("fpatan", LOAD_AB "\xd9\xf3"),
    T("fptan", LOAD_A "\xd9\xf2"),              T("fsin", LOAD_A "\xd9\xfe"),
    T("fcos", LOAD_A "\xd9\xff"),               T("fsincos", LOAD_A "\xd9\xfb"),
};

/* clang-format on */

static uint64_t sweep_seed = 0x853c49e6748fea9bull;

static uint64_t sweep_next(void)
{
	sweep_seed = sweep_seed * 6364136223846793005ull + 1442695040888963407ull;
	return sweep_seed >> 11 ^ sweep_seed << 29;
}

/* A random finite operand: mostly near 1, sometimes anywhere in range or tiny. */
static void random_f80(uint64_t *mant, uint16_t *se)
{
	uint64_t r = sweep_next();
	unsigned exp = r % 5 == 0 ? (unsigned)(sweep_next() % 0x7fff) : 16383 - 40 + (unsigned)(r >> 8) % 80;
	*mant = sweep_next() | (1ull << 63);
	if (r & 0x100000)
		*mant &= ~0ull << (r >> 24) % 64;
	*se = (uint16_t)((r >> 40 & 1 ? 0x8000 : 0) | exp);
}

static void sweep_input(uint8_t in[48], uint64_t ma, uint16_t sa, uint64_t mb, uint16_t sb, unsigned c_bits)
{
	memset(in, 0, 48);
	memcpy(in, &ma, 8);
	memcpy(in + 8, &sa, 2);
	memcpy(in + 16, &mb, 8);
	memcpy(in + 24, &sb, 2);
	uint64_t c = mb;
	if (c_bits == 33 || c_bits == 64) { /* B's sign, low exponent bits and fraction as float32/64 */
		unsigned eb = c_bits == 33 ? 8 : 11, fb = c_bits == 33 ? 23 : 52;
		unsigned e = (sb & 0x7fff) == 0x7fff ? (1u << eb) - 1
		             : (sb & 0x7fff) == 0    ? 0
		                                     : (sb & ((1u << eb) - 1));
		c = ((uint64_t)(sb >> 15) << (eb + fb)) | ((uint64_t)e << fb) | ((mb << 1) >> (64 - fb));
	} else if (c_bits == 16 || c_bits == 32) {
		c = (mb >> (sb & 31)) ^ (sb & 0x8000 ? ~0ull : 0);
	} else if (c_bits == 80) { /* BCD: digits from the mantissa, sign from B */
		c = 0;
		for (unsigned k = 0; k < 16; k++)
			c |= ((mb >> (4 * k)) % 10) << (4 * k);
		in[32 + 8] = (uint8_t)((mb >> 7) % 10 | (mb >> 3) % 10 << 4);
		in[32 + 9] = (uint8_t)(sb >> 8 & 0x80);
	}
	memcpy(in + 32, &c, 8);
}

/* Within one unit in the last place, as the transcendentals may differ from silicon. */
static bool last_bit_only(const struct outcome *want, const struct outcome *got)
{
	if (want->ftw != got->ftw || ((want->fsw ^ got->fsw) & ~0x0220) || memcmp(want->out, got->out, 16))
		return false;
	for (unsigned k = 0; k < 8; k++) {
		uint64_t a, b;
		uint16_t ea, eb;
		memcpy(&a, want->st[k], 8);
		memcpy(&b, got->st[k], 8);
		memcpy(&ea, want->st[k] + 8, 2);
		memcpy(&eb, got->st[k] + 8, 2);
		if (ea != eb || (a > b ? a - b : b - a) > 1)
			if (!(ea == eb + 1 && a == 1ull << 63 && b == ~0ull) &&
			    !(eb == ea + 1 && b == 1ull << 63 && a == ~0ull))
				return false;
	}
	return true;
}

static unsigned sweep_last_bit;

static bool sweep_one(const struct sweep_row *row, uint16_t fcw, const uint8_t in[48], unsigned *printed)
{
	struct outcome want, got;
	memset(&want, 0, sizeof(want));
	memset(&got, 0, sizeof(got));
	native_run(&row->p, fcw, in, &want);
	emu_run(&row->p, fcw, in, &got);
	for (unsigned k = 0; k < 8; k++)
		if (!(want.ftw & (1u << ((((unsigned)want.fsw >> 11) + k) & 7)))) {
			memset(want.st[k], 0, 10);
			memset(got.st[k], 0, 10);
		}
	if (!memcmp(&want, &got, sizeof(want)))
		return true;
	if (row->transcendental && last_bit_only(&want, &got)) {
		sweep_last_bit++;
		return true;
	}
	if ((*printed)++ < (getenv("X87_SWEEP_VERBOSE") ? (unsigned)atoi(getenv("X87_SWEEP_VERBOSE")) : 3u)) {
		uint64_t a, b;
		uint16_t sa, sb;
		memcpy(&a, in, 8);
		memcpy(&sa, in + 8, 2);
		memcpy(&b, in + 16, 8);
		memcpy(&sb, in + 24, 2);
		fprintf(stderr, "%s fcw %#x A %04x:%016llx B %04x:%016llx: fsw %#x/%#x ftw %#x/%#x",
		        row->p.name, fcw, sa, (unsigned long long)a, sb, (unsigned long long)b, want.fsw,
		        got.fsw, want.ftw, got.ftw);
		for (unsigned k = 0; k < 2; k++) {
			uint64_t m1, m2;
			uint16_t e1, e2;
			memcpy(&m1, want.st[k], 8);
			memcpy(&e1, want.st[k] + 8, 2);
			memcpy(&m2, got.st[k], 8);
			memcpy(&e2, got.st[k] + 8, 2);
			fprintf(stderr, " st%u %04x:%016llx/%04x:%016llx", k, e1, (unsigned long long)m1, e2,
			        (unsigned long long)m2);
		}
		uint64_t o1, o2;
		memcpy(&o1, want.out, 8);
		memcpy(&o2, got.out, 8);
		fprintf(stderr, " out %llx/%llx\n", (unsigned long long)o1, (unsigned long long)o2);
	}
	return false;
}

/* Every arithmetic program over all pairs of edge operands in each rounding mode and precision
 * (exceptions masked, then unmasked one at a time), and over random operands and control words. */
static void test_sweep(void **state)
{
	(void)state;
	static const uint16_t masks[] = {0x3f, 0x00, 0x3e, 0x3d, 0x3b, 0x37, 0x2f, 0x1f};
	const size_t n_edges = sizeof(x87_edges) / sizeof(x87_edges[0]);
	const char *only = getenv("X87_SWEEP_ONLY");
	unsigned runs = 0, bad = 0;
	uint8_t in[48];
	for (size_t r = 0; r < sizeof(sweep_rows) / sizeof(sweep_rows[0]); r++) {
		const struct sweep_row *row = &sweep_rows[r];
		unsigned printed = 0, row_bad = 0;
		if (only && !strstr(row->p.name, only))
			continue;
		for (size_t a = 0; a < n_edges; a++)
			for (size_t b = 0; b < n_edges; b++)
				for (unsigned c = 0; c < 12 + 8; c++) {
					/* Edge pairs: 12 RC x PC with masked exceptions, then each mask set
					 * in RN/64. */
					uint16_t fcw = c < 12 ? (uint16_t)(0x3f | (c / 3) << 10 |
					                                   (c % 3 ? c % 3 + 1 : 0) << 8)
					                      : (uint16_t)(0x340 | masks[c - 12]);
					if (c >= 12 && (a + b + c) % 2)
						continue;
					sweep_input(in, x87_edges[a].mant, x87_edges[a].se, x87_edges[b].mant,
					            x87_edges[b].se, row->c_bits);
					runs++;
					row_bad += !sweep_one(row, fcw, in, &printed);
				}
		for (unsigned k = 0; k < 3000; k++) {
			uint64_t ma, mb;
			uint16_t sa, sb;
			random_f80(&ma, &sa);
			random_f80(&mb, &sb);
			uint16_t fcw = (uint16_t)(0x40 | (sweep_next() & 0xf3f)); /* PC = 01 (reserved) too */
			sweep_input(in, ma, sa, mb, sb, row->c_bits);
			runs++;
			row_bad += !sweep_one(row, fcw, in, &printed);
		}
		if (row_bad)
			fprintf(stderr, "%s: %u mismatches\n", row->p.name, row_bad);
		bad += row_bad;
	}
	fprintf(stderr, "x87 sweep: %u runs, %u mismatches, %u transcendental last-bit differences\n", runs,
	        bad, sweep_last_bit);
	assert_int_equal(bad, 0);
}

static sigjmp_buf ill_jump;

static void on_sigill(int sig)
{
	(void)sig;
	siglongjmp(ill_jump, 1);
}

/* True when the program raises #UD on the host. */
static bool host_raises_ud(const struct program *p)
{
	static struct outcome o;
	static uint8_t in[48];
	if (sigsetjmp(ill_jump, 1)) {
		__asm__ volatile("fninit");
		return true;
	}
	native_run(p, 0x37f, in, &o);
	return false;
}

/* Each register form D8-DF C0-FF and each memory form ([rsi]) after fld1; fldz: #UD in emu
 * exactly where the host's x87 raises #UD (SIGILL). */
static void test_reg_forms_ud(void **state)
{
	(void)state;
	th_reset();
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigill;
	sigaction(SIGILL, &sa, &old);
	unsigned differ = 0, runs = 0;
	for (unsigned b = 0xd8; b <= 0xdf; b++)
		for (unsigned m = 0x06; m <= 0xff; m = m < 0x3e ? m + 8 : m < 0xc0 ? 0xc0 : m + 1, runs++) {
			uint8_t code[] = {0xd9, 0xe8, 0xd9, 0xee, (uint8_t)b, (uint8_t)m};
			struct program p = {"reg form", (const char *)code, sizeof(code)};
			bool host_ud = host_raises_ud(&p);
			struct x86_state st;
			th_state(&st, X86_MODE_LONG64);
			st.cr0 |= X86_CR0_NE;
			st.gpr[X86_RSI] = OUT_ADDR;
			memcpy(th.mem + TH_CODE, code, sizeof(code));
			struct emu_ctxt c = {.st = &st, .ops = &x87_ops, .opaque = &th};
			enum emu_status rc = EMU_OK;
			for (unsigned k = 0; k < 3 && rc == EMU_OK; k++)
				rc = emu_step(&c);
			bool emu_ud = rc == EMU_EXCEPTION && c.event.vector == 6;
			if (host_ud != emu_ud || (rc != EMU_OK && !emu_ud)) {
				if (differ++ < 10)
					fprintf(stderr, "%02x %02x: host %s, emu status %d\n", b, m,
					        host_ud ? "#UD" : "ok", rc);
			}
		}
	sigaction(SIGILL, &old, NULL);
	fprintf(stderr, "x87 register and memory forms: %u encodings, %u differ from the host\n", runs,
	        differ);
	assert_int_equal(differ, 0);
}

/* A pending unmasked exception faults the next waiting instruction with #MF. */
static void test_pending_mf(void **state)
{
	(void)state;
	struct x86_state st;
	th_reset();
	th_state(&st, X86_MODE_LONG64);
	st.cr0 |= X86_CR0_NE;
	st.fpu.fcw = 0x37e;
	st.fpu.fsw = 0x8081; /* IE, ES, B */
	memcpy(th.mem + TH_CODE, "\xd9\xe8", 2);
	struct emu_ctxt c = {.st = &st, .ops = &th_ops, .opaque = &th};
	assert_int_equal(emu_step(&c), EMU_EXCEPTION);
	assert_int_equal(c.event.vector, 16);
	assert_int_equal(st.rip, TH_CODE);
	assert_int_equal(st.fpu.ftw, 0);
}

/* Unmasked exceptions: ES and B, then #MF at the next waiting instruction with CR0.NE set;
 * with CR0.NE clear (FERR# outside) the unit carries on and the exception stays pending. */
struct pending_row {
	const char *name;
	const char *code;
	unsigned len;
	uint16_t fcw, fsw;
	bool ne;
	uint16_t mem;      /* at [rdi] */
	unsigned steps_ok; /* instructions that complete before the last step */
	int vector;        /* of the last step, -1: completes too */
	uint16_t fsw_exc;  /* FSW & 0x80ff after the steps */
};

#define PR(n, c, fcw, fsw, ne, mem, ok, v, after)                                                            \
	{                                                                                                    \
		n, c, sizeof(c) - 1, fcw, fsw, ne, mem, ok, v, after                                         \
	}

/* clang-format off */
static const struct pending_row pending_rows[] = {
    PR("pending IE, fld1", "\xd9\xe8", 0x37e, 0x8081, true, 0, 0, 16, 0x8081),
    PR("pending IE, fld1, CR0.NE clear", "\xd9\xe8", 0x37e, 0x8081, false, 0, 1, -1, 0x8081),
    PR("pending IE, fnstsw ax does not wait", "\xdf\xe0", 0x37e, 0x8081, true, 0, 1, -1, 0x8081),
    PR("pending IE, fnclex; fld1", "\xdb\xe2\xd9\xe8", 0x37e, 0x8081, true, 0, 2, -1, 0),
    PR("fldcw unmasks a set PE; fld1", "\xd9\x2f\xd9\xe8", 0x37f, 0x0020, true, 0x35f, 1, 16, 0x80a0),
    PR("fldcw masks it again; fld1", "\xd9\x2f\xd9\xe8", 0x35f, 0x80a0, false, 0x37f, 2, -1, 0x0020),
    PR("fld1; fldz; fdivp: ZE unmasked; fld1", "\xd9\xe8\xd9\xee\xde\xf9\xd9\xe8", 0x37b, 0, true, 0, 3, 16, 0x8084),
    PR("fldz; fsqrt of -0 is fine; fld1", "\xd9\xee\xd9\xe0\xd9\xfa\xd9\xe8", 0x37e, 0, true, 0, 4, -1, 0),
    PR("fld1; fchs; fsqrt: IE unmasked; fnop", "\xd9\xe8\xd9\xe0\xd9\xfa\xd9\xd0", 0x37e, 0, true, 0, 3, 16, 0x8081),
};
/* clang-format on */

static void test_pending_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(pending_rows) / sizeof(pending_rows[0]); r++) {
		const struct pending_row *row = &pending_rows[r];
		struct x86_state st;
		th_reset();
		th_state(&st, X86_MODE_LONG64);
		if (row->ne)
			st.cr0 |= X86_CR0_NE;
		st.fpu.fcw = row->fcw;
		st.fpu.fsw = row->fsw;
		st.gpr[X86_RDI] = IN_ADDR;
		th_poke(IN_ADDR, row->mem, 2);
		memcpy(th.mem + TH_CODE, row->code, row->len);
		struct emu_ctxt c = {.st = &st, .ops = &x87_ops, .opaque = &th};
		for (unsigned k = 0; k < row->steps_ok; k++)
			if (emu_step(&c) != EMU_OK)
				fail_msg("%s: step %u did not complete", row->name, k);
		if (row->vector >= 0) {
			uint64_t rip = st.rip;
			if (emu_step(&c) != EMU_EXCEPTION || c.event.vector != (unsigned)row->vector ||
			    st.rip != rip)
				fail_msg("%s: no #MF at %#llx", row->name, (unsigned long long)rip);
		} else if (st.rip != TH_CODE + row->len) {
			fail_msg("%s: stopped at %#llx", row->name, (unsigned long long)st.rip);
		}
		if ((st.fpu.fsw & 0x80ff) != row->fsw_exc)
			fail_msg("%s: fsw %#x, want %#x in 0x80ff", row->name, st.fpu.fsw, row->fsw_exc);
	}
}

int main(void)
{
	native_page =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (native_page == MAP_FAILED) {
		fprintf(stderr, "test_x87: cannot map an executable page: skipped\n");
		return 77;
	}
	x87_ops = th_ops;
	x87_ops.cpuid = cpuid_sse3;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stores),     cmocka_unit_test(test_moves),
	    cmocka_unit_test(test_pending_mf), cmocka_unit_test(test_pending_rows),
	    cmocka_unit_test(test_sweep),      cmocka_unit_test(test_reg_forms_ud),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
