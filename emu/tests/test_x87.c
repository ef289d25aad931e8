/* x87 data movement against the host CPU: each program runs natively (64-bit user mode,
 * from an executable page) and in emu from the same FNINIT state; the stored bytes, FSW,
 * the abridged tag word and all eight registers must agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "harness.h"

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

static void native_run(const struct program *p, uint16_t fcw, const uint8_t in[16], struct outcome *o)
{
	uint8_t fx[512] __attribute__((aligned(16)));
	uint8_t out[16];
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

static void emu_run(const struct program *p, uint16_t fcw, const uint8_t in[16], struct outcome *o)
{
	struct x86_state st;
	th_reset();
	th_state(&st, X86_MODE_LONG64);
	st.cr0 |= X86_CR0_NE;
	st.fpu.fcw = fcw;
	st.fpu.fsw = 0;
	st.fpu.ftw = 0;
	st.gpr[X86_RDI] = IN_ADDR;
	st.gpr[X86_RSI] = OUT_ADDR;
	memcpy(th.mem + TH_CODE, p->code, p->len);
	memcpy(th.mem + IN_ADDR, in, 16);
	memset(th.mem + OUT_ADDR, 0x5a, 16);
	struct emu_ctxt c = {.st = &st, .ops = &th_ops, .opaque = &th};
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

static void check(const struct program *p, uint16_t fcw, const uint8_t in[16])
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

static void f80_bytes(uint8_t b[16], uint64_t mant, uint16_t se)
{
	memset(b, 0, 16);
	memcpy(b, &mant, 8);
	memcpy(b + 8, &se, 2);
}

/* An 80-bit value from a double, exact (doubles are a subset). */
static void f80_of(uint8_t b[16], double d)
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
	uint8_t in[16];
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
	uint8_t in[16];
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

int main(void)
{
	native_page =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (native_page == MAP_FAILED) {
		fprintf(stderr, "test_x87: cannot map an executable page: skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stores),
	    cmocka_unit_test(test_moves),
	    cmocka_unit_test(test_pending_mf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
