/* Differential sweep of emu/alu.c against the host CPU: every operation at
 * every width over edge values, shift counts and seeded random values; the
 * result and every defined arithmetic flag must match. alu.c sets undefined
 * flags as Intel silicon does, so they are compared too on an Intel host; on
 * any other host they are masked with alu_undefined(), which so checks that
 * the differ's mask covers every flag the two vendors disagree on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "alu.h"

#define F_CF    0x001ull
#define F_PF    0x004ull
#define F_AF    0x010ull
#define F_ZF    0x040ull
#define F_SF    0x080ull
#define F_OF    0x800ull
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_FIXED 0x002ull

#define N_RANDOM     3000
#define MAX_REPORTED 12

/* Registers an instruction under test sees: rax dst, rbx src, rcx count, rdx high half. */
struct nregs {
	uint64_t a, b, c, d, f;
};

typedef void (*nat_fn)(struct nregs *r);

/* Instructions executed on the host, and #DE cases checked against alu.c alone. */
static unsigned long native_runs, de_cases;

/* The red zone is skipped because push/pop run inside a possible leaf function. */
#define NAT(name, text)                                                                                      \
	static void name(struct nregs *r)                                                                    \
	{                                                                                                    \
		uint64_t a = r->a, b = r->b, c = r->c, d = r->d, f = r->f;                                   \
		native_runs++;                                                                               \
		__asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[f]\n\tpopfq\n\t" text                     \
		                 "\n\tpushfq\n\tpop %[f]\n\tlea 128(%%rsp), %%rsp"                           \
		                 : "+a"(a), "+b"(b), "+c"(c), "+d"(d), [f] "+S"(f)                           \
		                 :                                                                           \
		                 : "cc", "memory");                                                          \
		r->a = a;                                                                                    \
		r->b = b;                                                                                    \
		r->c = c;                                                                                    \
		r->d = d;                                                                                    \
		r->f = f;                                                                                    \
	}

#define NAT_RR(op)                                                                                           \
	NAT(n_##op##1, #op " %%bl, %%al")                                                                    \
	NAT(n_##op##2, #op " %%bx, %%ax")                                                                    \
	NAT(n_##op##4, #op " %%ebx, %%eax")                                                                  \
	NAT(n_##op##8, #op " %%rbx, %%rax")
#define NAT_RR3(op)                                                                                          \
	NAT(n_##op##2, #op " %%bx, %%ax")                                                                    \
	NAT(n_##op##4, #op " %%ebx, %%eax")                                                                  \
	NAT(n_##op##8, #op " %%rbx, %%rax")
#define NAT_R(op)                                                                                            \
	NAT(n_##op##1, #op " %%al")                                                                          \
	NAT(n_##op##2, #op " %%ax")                                                                          \
	NAT(n_##op##4, #op " %%eax")                                                                         \
	NAT(n_##op##8, #op " %%rax")
#define NAT_SRC(op)                                                                                          \
	NAT(n_##op##1, #op " %%bl")                                                                          \
	NAT(n_##op##2, #op " %%bx")                                                                          \
	NAT(n_##op##4, #op " %%ebx")                                                                         \
	NAT(n_##op##8, #op " %%rbx")
#define NAT_CL(op)                                                                                           \
	NAT(n_##op##1, #op " %%cl, %%al")                                                                    \
	NAT(n_##op##2, #op " %%cl, %%ax")                                                                    \
	NAT(n_##op##4, #op " %%cl, %%eax")                                                                   \
	NAT(n_##op##8, #op " %%cl, %%rax")
#define NAT_ONE(op)                                                                                          \
	NAT(n_##op##_1x1, #op " $1, %%al")                                                                   \
	NAT(n_##op##_1x2, #op " $1, %%ax")                                                                   \
	NAT(n_##op##_1x4, #op " $1, %%eax")                                                                  \
	NAT(n_##op##_1x8, #op " $1, %%rax")
#define NAT_CL3(op)                                                                                          \
	NAT(n_##op##2, #op " %%cl, %%bx, %%ax")                                                              \
	NAT(n_##op##4, #op " %%cl, %%ebx, %%eax")                                                            \
	NAT(n_##op##8, #op " %%cl, %%rbx, %%rax")

NAT_RR(add)
NAT_RR(or)
NAT_RR(adc)
NAT_RR(sbb)
NAT_RR(and)
NAT_RR(sub)
NAT_RR(xor)
NAT_RR(cmp)
NAT_RR(test)
NAT_R(not )
NAT_R(neg)
NAT_R(inc)
NAT_R(dec)
NAT_CL(rol)
NAT_CL(ror)
NAT_CL(rcl)
NAT_CL(rcr)
NAT_CL(shl)
NAT_CL(shr)
NAT_CL(sar)
NAT_ONE(rol)
NAT_ONE(ror)
NAT_ONE(rcl)
NAT_ONE(rcr)
NAT_ONE(shl)
NAT_ONE(shr)
NAT_ONE(sar)
/* SAL as /6 is not emitted by assemblers: D2/D3 /6 and D0/D1 /6 on rax. */
NAT(n_sal1, ".byte 0xd2, 0xf0")
NAT(n_sal2, ".byte 0x66, 0xd3, 0xf0")
NAT(n_sal4, ".byte 0xd3, 0xf0")
NAT(n_sal8, ".byte 0x48, 0xd3, 0xf0")
NAT(n_sal_1x1, ".byte 0xd0, 0xf0")
NAT(n_sal_1x2, ".byte 0x66, 0xd1, 0xf0")
NAT(n_sal_1x4, ".byte 0xd1, 0xf0")
NAT(n_sal_1x8, ".byte 0x48, 0xd1, 0xf0")
NAT_CL3(shld)
NAT_CL3(shrd)
NAT_SRC(mul)
NAT_SRC(imul)
NAT(n_imul2_rr, "imul %%bx, %%ax")
NAT(n_imul4_rr, "imul %%ebx, %%eax")
NAT(n_imul8_rr, "imul %%rbx, %%rax")
/* Three-operand IMUL: 6B with imm8 and 69 with imm16/imm32. */
NAT(n_imul3_b2, "imul $-3, %%bx, %%ax")
NAT(n_imul3_b4, "imul $-3, %%ebx, %%eax")
NAT(n_imul3_b8, "imul $-3, %%rbx, %%rax")
NAT(n_imul3_z2, "imul $0x4001, %%bx, %%ax")
NAT(n_imul3_z4, "imul $0x40000001, %%ebx, %%eax")
NAT(n_imul3_z8, "imul $-0x40000001, %%rbx, %%rax")
NAT_SRC(div)
NAT_SRC(idiv)
NAT_RR3(bt)
NAT_RR3(bts)
NAT_RR3(btr)
NAT_RR3(btc)
NAT_RR3(bsf)
NAT_RR3(bsr)
NAT_RR3(tzcnt)
NAT_RR3(lzcnt)
NAT_RR3(popcnt)
/* 16-bit BSWAP is undefined and not accepted by assemblers. */
NAT(n_bswap2, ".byte 0x66, 0x0f, 0xc8")
NAT(n_bswap4, "bswap %%eax")
NAT(n_bswap8, "bswap %%rax")

static const unsigned widths[4] = {1, 2, 4, 8};

static unsigned widx(unsigned width)
{
	return width == 1 ? 0 : width == 2 ? 1 : width == 4 ? 2 : 3;
}

static uint64_t wmask(unsigned width)
{
	return width == 8 ? ~0ull : (1ull << (8 * width)) - 1;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random values biased to short and boundary-heavy patterns half of the time. */
static uint64_t rand_val(unsigned width)
{
	uint64_t v = rng();

	switch (rng() & 7) {
	case 0:
		v &= 0xff;
		break;
	case 1:
		v = ~(v & 0xff);
		break;
	case 2:
		v = 1ull << (v & 63);
		break;
	case 3:
		v = (1ull << (v & 63)) - 1;
		break;
	default:
		break;
	}
	return v & wmask(width);
}

static uint64_t rand_flags(void)
{
	return (rng() & F_ARITH) | F_FIXED;
}

#define N_EDGE 11

static void edge_values(unsigned width, uint64_t out[N_EDGE])
{
	uint64_t m = wmask(width), msb = 1ull << (8 * width - 1);
	const uint64_t base[N_EDGE] = {
	    0,     1,       2,  4, 7, 0x5555555555555555ull, 0xaaaaaaaaaaaaaaaaull, 0xfefefefefefefefeull,
	    ~0ull, msb - 1, msb};

	for (int i = 0; i < N_EDGE; i++)
		out[i] = base[i] & m;
}

#define N_FLAGSETS 4
static const uint64_t flagsets[N_FLAGSETS] = {F_FIXED, F_FIXED | F_ARITH, F_FIXED | F_CF | F_PF | F_ZF,
                                              F_FIXED | F_AF | F_SF | F_OF};

/* Per-operation mismatch histogram, printed at the end of each test. */
struct stat_row {
	const char *what;
	unsigned width;
	unsigned long checked, value_bad, flag_bad[12];
};

static struct stat_row stats[256];
static unsigned n_stats;
static unsigned long total_checked, total_failed, family_failed;
static unsigned reported;

static struct stat_row *stat_for(const char *what, unsigned width)
{
	for (unsigned i = 0; i < n_stats; i++)
		if (stats[i].what == what && stats[i].width == width)
			return &stats[i];
	assert_true(n_stats < sizeof(stats) / sizeof(stats[0]));
	stats[n_stats] = (struct stat_row){.what = what, .width = width};
	return &stats[n_stats++];
}

/* Compares one case; vmask selects result bits, fmask the flags that must agree. */
static void check(const char *what, unsigned width, uint64_t a, uint64_t b, uint64_t c, uint64_t fin,
                  uint64_t nat_v, uint64_t nat_f, uint64_t alu_v, uint64_t alu_f, uint64_t vmask,
                  uint64_t fmask)
{
	struct stat_row *s = stat_for(what, width);
	uint64_t fd = (nat_f ^ alu_f) & fmask;
	bool vbad = ((nat_v ^ alu_v) & vmask) != 0;

	s->checked++;
	total_checked++;
	if (!vbad && !fd)
		return;
	total_failed++;
	family_failed++;
	if (vbad)
		s->value_bad++;
	for (int i = 0; i < 12; i++)
		if (fd & (1ull << i))
			s->flag_bad[i]++;
	if (reported++ < MAX_REPORTED)
		printf("MISMATCH %s w%u a=%#llx b=%#llx c=%#llx fin=%#llx: host %#llx fl %#llx, alu %#llx fl "
		       "%#llx\n",
		       what, width, (unsigned long long)a, (unsigned long long)b, (unsigned long long)c,
		       (unsigned long long)fin, (unsigned long long)(nat_v & vmask),
		       (unsigned long long)(nat_f & F_ARITH), (unsigned long long)(alu_v & vmask),
		       (unsigned long long)(alu_f & F_ARITH));
}

static void family_begin(void)
{
	n_stats = 0;
	family_failed = 0;
	reported = 0;
}

static void family_end(const char *family)
{
	static const char *const fname[12] = {"CF", "", "PF", "", "AF", "", "ZF", "SF", "", "", "", "OF"};
	unsigned long n = 0;

	for (unsigned i = 0; i < n_stats; i++) {
		struct stat_row *s = &stats[i];

		n += s->checked;
		if (!s->value_bad && !s->flag_bad[0] && !s->flag_bad[2] && !s->flag_bad[4] &&
		    !s->flag_bad[6] && !s->flag_bad[7] && !s->flag_bad[11])
			continue;
		printf("  %s w%u: %lu/%lu bad value", s->what, s->width, s->value_bad, s->checked);
		for (int b = 0; b < 12; b++)
			if (s->flag_bad[b])
				printf(", %s %lu", fname[b], s->flag_bad[b]);
		printf("\n");
	}
	printf("%s: %lu comparisons, %lu mismatches\n", family, n, family_failed);
	assert_int_equal(family_failed, 0);
}

static bool host_has(unsigned leaf, int reg, unsigned bit)
{
	unsigned r[4] = {0};

	if (!__get_cpuid_count(leaf, 0, &r[0], &r[1], &r[2], &r[3]))
		return false;
	return (r[reg] >> bit) & 1;
}

static bool host_intel;

static bool host_is_intel(void)
{
	unsigned r[4] = {0};

	if (!__get_cpuid_count(0, 0, &r[0], &r[1], &r[2], &r[3]))
		return false;
	return r[1] == 0x756e6547 && r[3] == 0x49656e69 && r[2] == 0x6c65746e; /* "GenuineIntel" */
}

/* The flags a case compares: all six on an Intel host, the defined ones elsewhere. */
static uint64_t compared(enum alu_family family)
{
	return host_intel ? F_ARITH : F_ARITH & ~alu_undefined(family);
}

/* The result bits a case compares: SHLD/SHRD by more than the width leave the result undefined. */
static uint64_t compared_value(enum alu_family family, uint64_t vmask)
{
	return host_intel || family != ALU_FAM_SHxD_WIDE ? vmask : 0;
}

/* ---- ADD .. TEST ---- */

struct bin_case {
	const char *what;
	enum alu_binop op;
	nat_fn fn[4];
};

static const struct bin_case bin_cases[] = {
    {"add", ALU_ADD, {n_add1, n_add2, n_add4, n_add8}},
    {"or", ALU_OR, {n_or1, n_or2, n_or4, n_or8}},
    {"adc", ALU_ADC, {n_adc1, n_adc2, n_adc4, n_adc8}},
    {"sbb", ALU_SBB, {n_sbb1, n_sbb2, n_sbb4, n_sbb8}},
    {"and", ALU_AND, {n_and1, n_and2, n_and4, n_and8}},
    {"sub", ALU_SUB, {n_sub1, n_sub2, n_sub4, n_sub8}},
    {"xor", ALU_XOR, {n_xor1, n_xor2, n_xor4, n_xor8}},
    {"cmp", ALU_CMP, {n_cmp1, n_cmp2, n_cmp4, n_cmp8}},
    {"test", ALU_TEST, {n_test1, n_test2, n_test4, n_test8}},
};

static void one_bin(const struct bin_case *bc, unsigned w, uint64_t a, uint64_t b, uint64_t fin)
{
	struct nregs r = {.a = a, .b = b, .f = fin};
	uint64_t f = fin, v;

	bc->fn[widx(w)](&r);
	v = alu_binop(bc->op, w, a, b, &f);
	check(bc->what, w, a, b, 0, fin, r.a, r.f, v, f, wmask(w),
	      compared(bc->op == ALU_AND || bc->op == ALU_OR || bc->op == ALU_XOR || bc->op == ALU_TEST
	                   ? ALU_FAM_LOGIC
	                   : ALU_FAM_NONE));
}

static void test_binop(void **state)
{
	(void)state;
	family_begin();
	for (size_t i = 0; i < sizeof(bin_cases) / sizeof(bin_cases[0]); i++)
		for (int wi = 0; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (int y = 0; y < N_EDGE; y++)
					for (int k = 0; k < N_FLAGSETS; k++)
						one_bin(&bin_cases[i], w, e[x], e[y], flagsets[k]);
			for (int n = 0; n < N_RANDOM; n++)
				one_bin(&bin_cases[i], w, rand_val(w), rand_val(w), rand_flags());
		}
	/* Every pair of bytes, with CF and AF clear and set. */
	for (size_t i = 0; i < sizeof(bin_cases) / sizeof(bin_cases[0]); i++)
		for (unsigned ab = 0; ab < 0x10000; ab++) {
			one_bin(&bin_cases[i], 1, ab & 0xff, ab >> 8, F_FIXED);
			one_bin(&bin_cases[i], 1, ab & 0xff, ab >> 8, F_FIXED | F_CF | F_AF);
		}
	family_end("binop");
}

/* ---- NOT NEG INC DEC ---- */

struct un_case {
	const char *what;
	enum alu_unop op;
	nat_fn fn[4];
};

static const struct un_case un_cases[] = {
    {"not", ALU_NOT, {n_not1, n_not2, n_not4, n_not8}},
    {"neg", ALU_NEG, {n_neg1, n_neg2, n_neg4, n_neg8}},
    {"inc", ALU_INC, {n_inc1, n_inc2, n_inc4, n_inc8}},
    {"dec", ALU_DEC, {n_dec1, n_dec2, n_dec4, n_dec8}},
};

static void one_un(const struct un_case *uc, unsigned w, uint64_t a, uint64_t fin)
{
	struct nregs r = {.a = a, .f = fin};
	uint64_t f = fin, v;

	uc->fn[widx(w)](&r);
	v = alu_unop(uc->op, w, a, &f);
	check(uc->what, w, a, 0, 0, fin, r.a, r.f, v, f, wmask(w), compared(ALU_FAM_NONE));
}

static void test_unop(void **state)
{
	(void)state;
	family_begin();
	for (size_t i = 0; i < sizeof(un_cases) / sizeof(un_cases[0]); i++)
		for (int wi = 0; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (int k = 0; k < N_FLAGSETS; k++)
					one_un(&un_cases[i], w, e[x], flagsets[k]);
			for (int n = 0; n < N_RANDOM; n++)
				one_un(&un_cases[i], w, rand_val(w), rand_flags());
		}
	for (size_t i = 0; i < sizeof(un_cases) / sizeof(un_cases[0]); i++)
		for (unsigned a = 0; a < 0x100; a++)
			for (int k = 0; k < N_FLAGSETS; k++)
				one_un(&un_cases[i], 1, a, flagsets[k]);
	family_end("unop");
}

/* ---- rotates and shifts ---- */

struct shift_case {
	const char *what;
	enum alu_shiftop op;
	nat_fn fn[4];
	nat_fn fn1[4]; /* the D0/D1 shift-by-one encodings */
	const char *what1;
};

static const struct shift_case shift_cases[] = {
    {"rol",
     ALU_ROL,
     {n_rol1, n_rol2, n_rol4, n_rol8},
     {n_rol_1x1, n_rol_1x2, n_rol_1x4, n_rol_1x8},
     "rol D0/D1"},
    {"ror",
     ALU_ROR,
     {n_ror1, n_ror2, n_ror4, n_ror8},
     {n_ror_1x1, n_ror_1x2, n_ror_1x4, n_ror_1x8},
     "ror D0/D1"},
    {"rcl",
     ALU_RCL,
     {n_rcl1, n_rcl2, n_rcl4, n_rcl8},
     {n_rcl_1x1, n_rcl_1x2, n_rcl_1x4, n_rcl_1x8},
     "rcl D0/D1"},
    {"rcr",
     ALU_RCR,
     {n_rcr1, n_rcr2, n_rcr4, n_rcr8},
     {n_rcr_1x1, n_rcr_1x2, n_rcr_1x4, n_rcr_1x8},
     "rcr D0/D1"},
    {"shl",
     ALU_SHL,
     {n_shl1, n_shl2, n_shl4, n_shl8},
     {n_shl_1x1, n_shl_1x2, n_shl_1x4, n_shl_1x8},
     "shl D0/D1"},
    {"shr",
     ALU_SHR,
     {n_shr1, n_shr2, n_shr4, n_shr8},
     {n_shr_1x1, n_shr_1x2, n_shr_1x4, n_shr_1x8},
     "shr D0/D1"},
    {"sal",
     ALU_SAL,
     {n_sal1, n_sal2, n_sal4, n_sal8},
     {n_sal_1x1, n_sal_1x2, n_sal_1x4, n_sal_1x8},
     "sal D0/D1"},
    {"sar",
     ALU_SAR,
     {n_sar1, n_sar2, n_sar4, n_sar8},
     {n_sar_1x1, n_sar_1x2, n_sar_1x4, n_sar_1x8},
     "sar D0/D1"},
};

static void one_shift(const struct shift_case *sc, unsigned w, uint64_t a, uint64_t count, uint64_t fin,
                      bool by_one)
{
	struct nregs r = {.a = a, .c = count, .f = fin};
	uint64_t f = fin, v;

	(by_one ? sc->fn1 : sc->fn)[widx(w)](&r);
	v = alu_shift(sc->op, w, a, by_one ? 1 : count, &f);
	check(by_one ? sc->what1 : sc->what, w, a, by_one ? 1 : count, sc->op, fin, r.a, r.f, v, f, wmask(w),
	      compared(alu_shift_family(sc->op, w, by_one ? 1 : count)));
}

static const uint64_t extra_counts[] = {0x80, 0xc1, 0xff, 0x100, 0x101, 0x1f, 0x3f, 0x40, 0x41};

static void test_shift(void **state)
{
	(void)state;
	family_begin();
	for (size_t i = 0; i < sizeof(shift_cases) / sizeof(shift_cases[0]); i++)
		for (int wi = 0; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE + 200; x++) {
				uint64_t a = x < N_EDGE ? e[x] : rand_val(w);

				for (uint64_t c = 0; c <= 2 * 8 * w + 2 || c < 72; c++)
					for (int k = 0; k < N_FLAGSETS; k++)
						one_shift(&shift_cases[i], w, a, c, flagsets[k], false);
				for (size_t c = 0; c < sizeof(extra_counts) / sizeof(extra_counts[0]); c++)
					one_shift(&shift_cases[i], w, a, extra_counts[c], rand_flags(),
					          false);
				for (int k = 0; k < N_FLAGSETS; k++)
					one_shift(&shift_cases[i], w, a, 1, flagsets[k], true);
			}
			for (int n = 0; n < N_RANDOM; n++)
				one_shift(&shift_cases[i], w, rand_val(8), rng() & 0xff, rand_flags(), false);
		}
	/* Every byte by every count up to 33, with CF clear and set. */
	for (size_t i = 0; i < sizeof(shift_cases) / sizeof(shift_cases[0]); i++)
		for (unsigned a = 0; a < 0x100; a++)
			for (uint64_t c = 0; c < 34; c++) {
				one_shift(&shift_cases[i], 1, a, c, F_FIXED, false);
				one_shift(&shift_cases[i], 1, a, c, F_FIXED | F_ARITH, false);
			}
	family_end("shift");
}

/* ---- SHLD SHRD ---- */

static void one_shxd(bool left, unsigned w, uint64_t a, uint64_t b, uint64_t count, uint64_t fin)
{
	static const nat_fn fl[4] = {NULL, n_shld2, n_shld4, n_shld8},
	                    fr[4] = {NULL, n_shrd2, n_shrd4, n_shrd8};
	struct nregs r = {.a = a, .b = b, .c = count, .f = fin};
	uint64_t f = fin, v;

	(left ? fl : fr)[widx(w)](&r);
	v = left ? alu_shld(w, a, b, count, &f) : alu_shrd(w, a, b, count, &f);
	check(left ? "shld" : "shrd", w, a, b, count, fin, r.a, r.f, v, f,
	      compared_value(alu_shxd_family(w, count), wmask(w)), compared(alu_shxd_family(w, count)));
}

static void test_shxd(void **state)
{
	(void)state;
	family_begin();
	for (int left = 0; left < 2; left++)
		for (int wi = 1; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (int y = 0; y < N_EDGE; y++)
					for (uint64_t c = 0; c < 72; c++) {
						one_shxd(left, w, e[x], e[y], c, flagsets[c & 3]);
						one_shxd(left, w, e[x], e[y], c, rand_flags());
					}
			for (int n = 0; n < N_RANDOM * 4; n++)
				one_shxd(left, w, rand_val(w), rand_val(w), rng() & 0xff, rand_flags());
		}
	family_end("shld/shrd");
}

/* ---- MUL IMUL ---- */

static void one_mul(bool is_signed, unsigned w, uint64_t a, uint64_t b, uint64_t fin)
{
	static const nat_fn fu[4] = {n_mul1, n_mul2, n_mul4, n_mul8},
	                    fs[4] = {n_imul1, n_imul2, n_imul4, n_imul8};
	struct nregs r = {.a = a, .b = b, .d = 0x5a5a5a5a5a5a5a5aull, .f = fin};
	uint64_t f = fin, lo, hi, nlo, nhi;

	(is_signed ? fs : fu)[widx(w)](&r);
	alu_mul(is_signed, w, a, b, &lo, &hi, &f);
	nlo = w == 1 ? r.a & 0xff : r.a;
	nhi = w == 1 ? (r.a >> 8) & 0xff : r.d;
	check(is_signed ? "imul1 lo" : "mul lo", w, a, b, 0, fin, nlo, r.f, lo, f, wmask(w),
	      compared(ALU_FAM_MUL));
	check(is_signed ? "imul1 hi" : "mul hi", w, a, b, 0, fin, nhi, r.f, hi, f, wmask(w), 0);
	if (w == 1)
		return;

	static const nat_fn f2[4] = {NULL, n_imul2_rr, n_imul4_rr, n_imul8_rr};
	struct nregs r2 = {.a = a, .b = b, .f = fin};
	uint64_t v;

	f = fin;
	f2[widx(w)](&r2);
	v = alu_imul(w, a, b, &f);
	check("imul2", w, a, b, 0, fin, r2.a, r2.f, v, f, wmask(w), compared(ALU_FAM_MUL));
}

static void one_imul3(unsigned w, uint64_t a, uint64_t fin)
{
	static const nat_fn fb[4] = {NULL, n_imul3_b2, n_imul3_b4, n_imul3_b8};
	static const nat_fn fz[4] = {NULL, n_imul3_z2, n_imul3_z4, n_imul3_z8};
	static const uint64_t z[4] = {0, 0x4001, 0x40000001, (uint64_t)-0x40000001ll};

	for (int form = 0; form < 2; form++) {
		struct nregs r = {.a = 0x5a5a5a5a5a5a5a5aull, .b = a, .f = fin};
		uint64_t imm = form ? z[widx(w)] : (uint64_t)-3ll, f = fin, v;

		(form ? fz : fb)[widx(w)](&r);
		v = alu_imul(w, a, imm, &f);
		check(form ? "imul3 imm16/32" : "imul3 imm8", w, a, imm, 0, fin, r.a, r.f, v, f, wmask(w),
		      compared(ALU_FAM_MUL));
	}
}

static void test_mul(void **state)
{
	(void)state;
	family_begin();
	for (int sgn = 0; sgn < 2; sgn++)
		for (int wi = 0; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (int y = 0; y < N_EDGE; y++)
					for (int k = 0; k < N_FLAGSETS; k++)
						one_mul(sgn, w, e[x], e[y], flagsets[k]);
			for (int n = 0; n < N_RANDOM; n++)
				one_mul(sgn, w, rand_val(w), rand_val(w), rand_flags());
		}
	for (int wi = 1; wi < 4; wi++) {
		uint64_t e[N_EDGE];

		edge_values(widths[wi], e);
		for (int x = 0; x < N_EDGE; x++)
			for (int k = 0; k < N_FLAGSETS; k++)
				one_imul3(widths[wi], e[x], flagsets[k]);
		for (int n = 0; n < N_RANDOM; n++)
			one_imul3(widths[wi], rand_val(widths[wi]), rand_flags());
	}
	for (int sgn = 0; sgn < 2; sgn++)
		for (unsigned ab = 0; ab < 0x10000; ab++)
			one_mul(sgn, 1, ab & 0xff, ab >> 8, (ab & 1) ? F_FIXED | F_ARITH : F_FIXED);
	family_end("mul/imul");
}

/* ---- DIV IDIV ---- */

/* Independent of alu.c: would the host raise #DE for hi:lo / d? */
static bool div_faults(bool is_signed, unsigned w, uint64_t hi, uint64_t lo, uint64_t d)
{
	unsigned bits = 8 * w;
	uint64_t m = wmask(w);

	if ((d & m) == 0)
		return true;
	if (!is_signed) {
		unsigned __int128 n = ((unsigned __int128)(hi & m) << bits) | (lo & m);
		unsigned __int128 q = n / (d & m);

		return q > m;
	}
	__int128 n = (__int128)(((unsigned __int128)(hi & m) << bits) | (lo & m));
	__int128 dv = (int64_t)((d & m) << (64 - bits)) >> (64 - bits);
	__int128 max = ((__int128)1 << (bits - 1)) - 1, min = -max - 1;

	/* Sign-extend the 2*bits-bit dividend. */
	n = (__int128)((unsigned __int128)n << (128 - 2 * bits)) >> (128 - 2 * bits);
	if (dv == -1 && n == (__int128)((unsigned __int128)1 << 127))
		return true;
	__int128 q = n / dv;

	return q > max || q < min;
}

static void one_div(bool is_signed, unsigned w, uint64_t hi, uint64_t lo, uint64_t d, uint64_t fin)
{
	static const nat_fn fu[4] = {n_div1, n_div2, n_div4, n_div8},
	                    fs[4] = {n_idiv1, n_idiv2, n_idiv4, n_idiv8};
	const char *what = is_signed ? "idiv" : "div";
	uint64_t m = wmask(w), f = fin, q = 0, rem = 0;
	bool ok = alu_div(is_signed, w, hi, lo, d, &q, &rem, &f);

	if (div_faults(is_signed, w, hi, lo, d)) {
		/* The host would raise #DE: only alu.c's answer is checked. */
		de_cases++;
		check(is_signed ? "idiv #DE" : "div #DE", w, hi, lo, d, fin, 0, 0, ok, 0, 1, 0);
		return;
	}
	struct nregs r = {.a = w == 1 ? ((hi & 0xff) << 8) | (lo & 0xff) : lo, .b = d, .d = hi, .f = fin};

	(is_signed ? fs : fu)[widx(w)](&r);
	check(is_signed ? "idiv ok" : "div ok", w, hi, lo, d, fin, 1, 0, ok, 0, 1, 0);
	check(what, w, hi, lo, d, fin, w == 1 ? r.a & 0xff : r.a, r.f, q, f, m, compared(ALU_FAM_DIV));
	check(is_signed ? "idiv rem" : "div rem", w, hi, lo, d, fin, w == 1 ? (r.a >> 8) & 0xff : r.d, 0, rem,
	      0, m, 0);
}

static void test_div(void **state)
{
	(void)state;
	family_begin();
	for (int sgn = 0; sgn < 2; sgn++)
		for (int wi = 0; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (int y = 0; y < N_EDGE; y++)
					for (int z = 0; z < N_EDGE; z++)
						for (int k = 0; k < 2; k++)
							one_div(sgn, w, e[x], e[y], e[z],
							        flagsets[k + 2 * (z & 1)]);
			for (int n = 0; n < N_RANDOM * 2; n++) {
				uint64_t d = rand_val(w), lo = rand_val(w), hi = rand_val(w);

				/* Most random dividends are shaped so that the host does not fault. */
				if (n % 3 == 1)
					hi = d ? hi % d : hi;
				else if (n % 3 == 2)
					hi = (lo >> (8 * w - 1)) & 1 ? wmask(w) : 0;
				one_div(sgn, w, hi, lo, d, rand_flags());
			}
		}
	/* Every 16-bit dividend by a spread of byte divisors. */
	for (int sgn = 0; sgn < 2; sgn++)
		for (unsigned d = 0; d < 0x100; d += (d < 16 || d > 0xf0) ? 1 : 7)
			for (unsigned ax = 0; ax < 0x10000; ax++)
				one_div(sgn, 1, ax >> 8, ax & 0xff, d,
				        (ax & 1) ? F_FIXED | F_ARITH : F_FIXED);
	family_end("div/idiv");
}

/* ---- DAA DAS AAA AAS AAM AAD: invalid in 64-bit mode, run in a compatibility-mode segment ---- */

#define COMPAT_CS     0x23 /* Linux's 32-bit user code segment */
#define COMPAT_SIZE   0x10000
#define COMPAT_CODE64 0x100
#define COMPAT_CODE32 0x200
#define COMPAT_SLOT   (COMPAT_CODE32 + 8)

/* Data at offset 0: flags in, eax in, flags out, eax out; the far pointer at 0x40. */
static const uint8_t compat_code64[] = {
    0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57, /* push rbx, rbp, r12-r15 */
    0x48, 0x89, 0xe0,                                           /* mov rax, rsp */
    0x48, 0x8d, 0xa7, 0x00, 0xff, 0x00, 0x00,                   /* lea rsp, [rdi + 0xff00] */
    0x50,                                                       /* push rax */
    0x48, 0x89, 0xfe,                                           /* mov rsi, rdi */
    0xff, 0x5f, 0x40,                                           /* call far [rdi + 0x40] */
    0x5c,                                                       /* pop rsp */
    0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, /* pop r15-r12, rbp, rbx */
    0xc3,                                                       /* ret */
};
static const uint8_t compat_code32[] = {
    0x16, 0x1f,       /* push ss; pop ds: DS is null in 64-bit processes */
    0x8b, 0x46, 0x04, /* mov eax, [esi + 4] */
    0xff, 0x36,       /* push dword [esi] */
    0x9d,             /* popfd */
    0x90, 0x90,       /* the instruction under test */
    0x9c,             /* pushfd */
    0x8f, 0x46, 0x08, /* pop dword [esi + 8] */
    0x89, 0x46, 0x0c, /* mov [esi + 12], eax */
    0xcb,             /* retf */
};

static uint8_t *compat_page;
static sigjmp_buf compat_jmp;

static void compat_fault(int sig)
{
	(void)sig;
	siglongjmp(compat_jmp, 1);
}

static void compat_run(const uint8_t insn[2], uint32_t eax, uint32_t fin, uint32_t *eax_out, uint32_t *f_out)
{
	volatile uint32_t *d = (volatile uint32_t *)compat_page;
	void (*fn)(void *);

	native_runs++;
	memcpy(compat_page + COMPAT_SLOT, insn, 2);
	d[0] = fin;
	d[1] = eax;
	fn = (void (*)(void *))(void *)(compat_page + COMPAT_CODE64);
	fn(compat_page);
	*f_out = d[2];
	*eax_out = d[3];
}

/* Maps the trampolines below 4 GiB and runs one DAA; false when the kernel gives no 32-bit segment. */
static bool compat_setup(void)
{
	static const uint8_t daa[2] = {0x27, 0x90};
	struct sigaction sa = {.sa_handler = compat_fault}, old_segv, old_bus;
	uint32_t off, eax, fl;
	uint16_t sel = COMPAT_CS;
	bool ok = false;

	compat_page = mmap(NULL, COMPAT_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (compat_page == MAP_FAILED) {
		compat_page = NULL;
		return false;
	}
	memcpy(compat_page + COMPAT_CODE64, compat_code64, sizeof(compat_code64));
	memcpy(compat_page + COMPAT_CODE32, compat_code32, sizeof(compat_code32));
	off = (uint32_t)(uintptr_t)(compat_page + COMPAT_CODE32);
	memcpy(compat_page + 0x40, &off, 4);
	memcpy(compat_page + 0x44, &sel, 2);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	if (sigsetjmp(compat_jmp, 1) == 0) {
		compat_run(daa, 0x7b, F_FIXED | F_AF, &eax, &fl);
		ok = (eax & 0xff) == 0x81;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return ok;
}

static void one_bcd(enum alu_bcdop op, uint16_t ax, uint64_t fin)
{
	static const uint8_t insn[4][2] = {{0x27, 0x90}, {0x2f, 0x90}, {0x37, 0x90}, {0x3f, 0x90}};
	static const char *const name[4] = {"daa", "das", "aaa", "aas"};
	uint32_t eax, fl;
	uint64_t f = fin;
	uint16_t v;

	compat_run(insn[op], 0x12340000u | ax, (uint32_t)fin, &eax, &fl);
	v = alu_bcd(op, ax, &f);
	check(name[op], 2, ax, 0, 0, fin, eax, fl, v, f, 0xffff,
	      compared(op == ALU_DAA || op == ALU_DAS ? ALU_FAM_DAA_DAS : ALU_FAM_AAA_AAS));
	check("bcd upper eax", 4, ax, 0, op, fin, eax >> 16, 0, 0x1234, 0, 0xffff, 0);
}

static void test_bcd(void **state)
{
	(void)state;
	if (!compat_setup()) {
		printf("SKIP bcd: no 32-bit compatibility code segment (selector %#x) on this kernel\n",
		       COMPAT_CS);
		skip();
	}
	family_begin();
	for (int op = ALU_DAA; op <= ALU_AAS; op++)
		for (uint32_t ax = 0; ax <= 0xffff; ax++) {
			/* All of AL with each CF/AF input; AH matters for AAA/AAS only. */
			if ((op == ALU_DAA || op == ALU_DAS) && (ax >> 8) != 0 && (ax >> 8) != 0xa5)
				continue;
			for (int k = 0; k < 4; k++) {
				uint64_t fin = F_FIXED | ((k & 1) ? F_CF : 0) | ((k & 2) ? F_AF : 0);

				one_bcd(op, (uint16_t)ax, fin);
				if ((ax & 0x3ff) == 0x3ff || ax < 0x100)
					one_bcd(op, (uint16_t)ax, fin | F_OF | F_SF | F_ZF | F_PF);
			}
		}
	for (int base = 0; base < 256; base++) {
		uint8_t aam[2] = {0xd4, (uint8_t)base}, aad[2] = {0xd5, (uint8_t)base};

		for (uint32_t ax = 0; ax <= 0xffff; ax++) {
			uint32_t eax, fl;
			uint64_t f, fin = (ax & 1) ? F_FIXED | F_ARITH : F_FIXED | (ax & F_ARITH);
			uint16_t v;
			bool ok;

			/* AAM reads only AL: a handful of AH values is enough. */
			if ((ax >> 8) == 0 || (ax >> 8) == 0x5a) {
				f = fin;
				ok = alu_aam((uint16_t)ax, (uint8_t)base, &v, &f);
				if (base == 0) {
					check("aam #DE", 1, ax, base, 0, fin, 0, 0, ok, 0, 1, 0);
				} else {
					compat_run(aam, ax, (uint32_t)fin, &eax, &fl);
					check("aam", 1, ax, base, 0, fin, eax, fl, ok ? v : ~0u, f, 0xffff,
					      compared(ALU_FAM_AAM_AAD));
				}
			}
			/* AAD: all of AL against a spread of AH. */
			if ((ax >> 8) % 23 == 0 || (ax >> 8) >= 0xfe || (ax >> 8) == 0x7f ||
			    (ax >> 8) == 0x80) {
				compat_run(aad, ax, (uint32_t)fin, &eax, &fl);
				f = fin;
				v = alu_aad((uint16_t)ax, (uint8_t)base, &f);
				check("aad", 1, ax, base, 0, fin, eax, fl, v, f, 0xffff,
				      compared(ALU_FAM_AAM_AAD));
			}
		}
	}
	family_end("bcd");
}

/* ---- BT BTS BTR BTC ---- */

struct bit_case {
	const char *what;
	enum alu_bitop op;
	nat_fn fn[4];
};

static const struct bit_case bit_cases[] = {
    {"bt", ALU_BT, {NULL, n_bt2, n_bt4, n_bt8}},
    {"bts", ALU_BTS, {NULL, n_bts2, n_bts4, n_bts8}},
    {"btr", ALU_BTR, {NULL, n_btr2, n_btr4, n_btr8}},
    {"btc", ALU_BTC, {NULL, n_btc2, n_btc4, n_btc8}},
};

static void one_bit(const struct bit_case *bc, unsigned w, uint64_t a, uint64_t bit, uint64_t fin)
{
	struct nregs r = {.a = a, .b = bit, .f = fin};
	uint64_t f = fin, v;

	bc->fn[widx(w)](&r);
	v = alu_bitop(bc->op, w, a, (unsigned)(bit % (8 * w)), &f);
	check(bc->what, w, a, bit, 0, fin, r.a, r.f, v, f, wmask(w), compared(ALU_FAM_BIT_TEST));
}

static void test_bitop(void **state)
{
	(void)state;
	family_begin();
	for (size_t i = 0; i < sizeof(bit_cases) / sizeof(bit_cases[0]); i++)
		for (int wi = 1; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (uint64_t bit = 0; bit < 2 * 8 * w + 3; bit++)
					for (int k = 0; k < N_FLAGSETS; k++)
						one_bit(&bit_cases[i], w, e[x], bit, flagsets[k]);
			for (int n = 0; n < N_RANDOM; n++)
				one_bit(&bit_cases[i], w, rand_val(w), rng() & wmask(w) & 0x7fff,
				        rand_flags());
		}
	family_end("bitop");
}

/* ---- BSF BSR TZCNT LZCNT POPCNT ---- */

struct scan_case {
	const char *what;
	enum alu_scanop op;
	nat_fn fn[4];
	unsigned leaf, bit;
	int reg; /* CPUID feature bit that must be present */
};

static const struct scan_case scan_cases[] = {
    {"bsf", ALU_BSF, {NULL, n_bsf2, n_bsf4, n_bsf8}, 0, 0, -1},
    {"bsr", ALU_BSR, {NULL, n_bsr2, n_bsr4, n_bsr8}, 0, 0, -1},
    {"tzcnt", ALU_TZCNT, {NULL, n_tzcnt2, n_tzcnt4, n_tzcnt8}, 7, 3, 1},          /* BMI1 */
    {"lzcnt", ALU_LZCNT, {NULL, n_lzcnt2, n_lzcnt4, n_lzcnt8}, 0x80000001, 5, 2}, /* ABM */
    {"popcnt", ALU_POPCNT, {NULL, n_popcnt2, n_popcnt4, n_popcnt8}, 1, 23, 2},
};

#define SCAN_DST 0x1122334455667788ull

static enum alu_family scan_family(enum alu_scanop op)
{
	switch (op) {
	case ALU_BSF:
	case ALU_BSR:
		return ALU_FAM_BSF_BSR;
	case ALU_TZCNT:
	case ALU_LZCNT:
		return ALU_FAM_TZCNT_LZCNT;
	case ALU_POPCNT:
		break;
	}
	return ALU_FAM_NONE;
}

static void one_scan(const struct scan_case *sc, unsigned w, uint64_t src, uint64_t fin)
{
	struct nregs r = {.a = SCAN_DST, .b = src, .f = fin};
	uint64_t f = fin, v, full;

	sc->fn[widx(w)](&r);
	v = alu_scan(sc->op, w, src, SCAN_DST, &f);
	/* The whole of RAX is compared: 32-bit writes zero-extend, 16-bit ones merge, none keeps all. */
	if (!alu_scan_writes(sc->op, w, src))
		full = SCAN_DST;
	else
		full = w == 2 ? (SCAN_DST & ~0xffffull) | v : v;
	check(sc->what, w, src, 0, 0, fin, r.a, r.f, full, f, ~0ull, compared(scan_family(sc->op)));
	/* The returned value is the destination itself whenever nothing is written. */
	if (!alu_scan_writes(sc->op, w, src))
		check("scan keeps dst", w, src, 0, 0, fin, SCAN_DST, 0, v, 0, wmask(w), 0);
}

static void test_scan(void **state)
{
	(void)state;
	family_begin();
	for (size_t i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
		const struct scan_case *sc = &scan_cases[i];

		if (sc->reg >= 0 && !host_has(sc->leaf, sc->reg, sc->bit)) {
			printf("SKIP %s: the host CPU does not have it\n", sc->what);
			continue;
		}
		for (int wi = 1; wi < 4; wi++) {
			unsigned w = widths[wi];
			uint64_t e[N_EDGE];

			edge_values(w, e);
			for (int x = 0; x < N_EDGE; x++)
				for (int k = 0; k < N_FLAGSETS; k++)
					one_scan(sc, w, e[x], flagsets[k]);
			for (unsigned b = 0; b < 8 * w; b++)
				for (int k = 0; k < N_FLAGSETS; k++) {
					one_scan(sc, w, 1ull << b, flagsets[k]);
					one_scan(sc, w, wmask(w) << b & wmask(w), flagsets[k]);
				}
			for (int n = 0; n < 64; n++)
				one_scan(sc, w, 0, rand_flags());
			for (int n = 0; n < N_RANDOM; n++)
				one_scan(sc, w, rand_val(w), rand_flags());
		}
	}
	family_end("scan");
}

/* ---- immediate forms: C0/C1 shifts, SHLD/SHRD ib, BT* ib, encoded at run time for all 256 immediates ----
 */

enum imm_kind { IMM_SHIFT, IMM_SHLD, IMM_SHRD, IMM_BIT };

static uint8_t *jit_page;

typedef uint64_t (*jit_fn)(uint64_t a, uint64_t fin, uint64_t *fout, uint64_t b);

/* Emits "mov rax, rdi; push rsi; popfq; <insn> rax, rcx, imm; pushfq; pop [rdx]; ret". */
static jit_fn jit_emit(enum imm_kind kind, int op, unsigned w, uint8_t imm)
{
	uint8_t *p = jit_page;
	int k = 0;

	p[k++] = 0x48, p[k++] = 0x89, p[k++] = 0xf8, p[k++] = 0x56, p[k++] = 0x9d;
	if (w == 2)
		p[k++] = 0x66;
	if (w == 8)
		p[k++] = 0x48;
	switch (kind) {
	case IMM_SHIFT:
		p[k++] = w == 1 ? 0xc0 : 0xc1, p[k++] = (uint8_t)(0xc0 + 8 * op);
		break;
	case IMM_SHLD:
	case IMM_SHRD:
		p[k++] = 0x0f, p[k++] = kind == IMM_SHLD ? 0xa4 : 0xac, p[k++] = 0xc8;
		break;
	case IMM_BIT:
		p[k++] = 0x0f, p[k++] = 0xba, p[k++] = (uint8_t)(0xc0 + 8 * (4 + op));
		break;
	}
	p[k++] = imm;
	p[k++] = 0x9c, p[k++] = 0x8f, p[k++] = 0x02, p[k++] = 0xc3;
	return (jit_fn)(void *)p;
}

static enum alu_family imm_family(enum imm_kind kind, int op, unsigned w, uint8_t imm)
{
	switch (kind) {
	case IMM_SHIFT:
		return alu_shift_family(op, w, imm);
	case IMM_SHLD:
	case IMM_SHRD:
		return alu_shxd_family(w, imm);
	case IMM_BIT:
		break;
	}
	return ALU_FAM_BIT_TEST;
}

static void one_imm(enum imm_kind kind, int op, unsigned w, uint8_t imm, jit_fn fn, uint64_t a, uint64_t b,
                    uint64_t fin)
{
	static const char *const names[4][8] = {
	    {"rol C0/C1 ib", "ror C0/C1 ib", "rcl C0/C1 ib", "rcr C0/C1 ib", "shl C0/C1 ib", "shr C0/C1 ib",
	     "sal C0/C1 ib", "sar C0/C1 ib"},
	    {"shld ib"},
	    {"shrd ib"},
	    {"bt ib", "bts ib", "btr ib", "btc ib"},
	};
	uint64_t fout = 0, f = fin, v = 0, r = fn(a, fin, &fout, b);

	native_runs++;

	switch (kind) {
	case IMM_SHIFT:
		v = alu_shift_imm(op, w, a, imm, &f);
		break;
	case IMM_SHLD:
		v = alu_shld(w, a, b, imm, &f);
		break;
	case IMM_SHRD:
		v = alu_shrd(w, a, b, imm, &f);
		break;
	case IMM_BIT:
		v = alu_bitop(op, w, a, imm % (8 * w), &f);
		break;
	}
	check(names[kind][op], w, a, b, imm, fin, r, fout, v, f,
	      compared_value(imm_family(kind, op, w, imm), wmask(w)), compared(imm_family(kind, op, w, imm)));
}

static void test_imm_forms(void **state)
{
	(void)state;
	jit_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(jit_page != MAP_FAILED);
	family_begin();
	for (int kind = IMM_SHIFT; kind <= IMM_BIT; kind++)
		for (int op = 0; op < (kind == IMM_SHIFT ? 8 : kind == IMM_BIT ? 4 : 1); op++)
			for (int wi = kind == IMM_SHIFT ? 0 : 1; wi < 4; wi++) {
				unsigned w = widths[wi];
				uint64_t e[N_EDGE];

				edge_values(w, e);
				for (int imm = 0; imm < 256; imm++) {
					jit_fn fn = jit_emit(kind, op, w, (uint8_t)imm);

					for (int x = 0; x < N_EDGE + 24; x++) {
						uint64_t a = x < N_EDGE ? e[x] : rand_val(w);
						uint64_t b = x < N_EDGE ? e[N_EDGE - 1 - x] : rand_val(w);

						one_imm(kind, op, w, (uint8_t)imm, fn, a, b, flagsets[x & 3]);
						one_imm(kind, op, w, (uint8_t)imm, fn, a, b, rand_flags());
					}
				}
			}
	munmap(jit_page, 4096);
	family_end("immediate forms");
}

/* ---- BSWAP ---- */

static void test_bswap(void **state)
{
	static const nat_fn fn[4] = {NULL, n_bswap2, n_bswap4, n_bswap8};

	(void)state;
	family_begin();
	for (int wi = 1; wi < 4; wi++) {
		unsigned w = widths[wi];

		for (int n = 0; n < N_RANDOM; n++) {
			uint64_t a = n < 4 ? (uint64_t)n * 0x0102030405060708ull : rng();
			struct nregs r = {.a = a, .f = F_FIXED};
			uint64_t v = alu_bswap(w, a), full;

			fn[wi](&r);
			/* A 16-bit result merges into RAX, a 32-bit one zero-extends. */
			full = w == 2 ? (a & ~0xffffull) | (v & 0xffff) : v;
			check("bswap", w, a, 0, 0, F_FIXED, r.a, r.f, full, F_FIXED, ~0ull,
			      compared(ALU_FAM_NONE));
		}
	}
	family_end("bswap");
}

/* ---- the undefined-flag table ---- */

static void test_undefined_table(void **state)
{
	(void)state;
	assert_int_equal(alu_undefined(ALU_FAM_NONE), 0);
	assert_int_equal(alu_undefined(ALU_FAM_LOGIC), F_AF);
	assert_int_equal(alu_undefined(ALU_FAM_SHIFT_N), F_AF | F_OF);
	assert_int_equal(alu_undefined(ALU_FAM_DIV), F_ARITH);
	assert_int_equal(alu_undefined(ALU_FAM_MUL), F_SF | F_ZF | F_AF | F_PF);
	assert_int_equal(alu_undefined(ALU_FAM_BSF_BSR), F_CF | F_OF | F_SF | F_AF | F_PF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_binop), cmocka_unit_test(test_unop),
	    cmocka_unit_test(test_shift), cmocka_unit_test(test_imm_forms),
	    cmocka_unit_test(test_shxd),  cmocka_unit_test(test_mul),
	    cmocka_unit_test(test_div),   cmocka_unit_test(test_bcd),
	    cmocka_unit_test(test_bitop), cmocka_unit_test(test_scan),
	    cmocka_unit_test(test_bswap), cmocka_unit_test(test_undefined_table),
	};
	int rc;

	host_intel = host_is_intel();
	if (!host_intel)
		printf("host CPU is not Intel: undefined flags are masked (alu.c follows Intel silicon)\n");
	rc = cmocka_run_group_tests(tests, NULL, NULL);

	printf("native sweep: %lu instructions run on the host, %lu #DE cases checked on alu.c alone, "
	       "%lu comparisons, %lu mismatches\n",
	       native_runs, de_cases, total_checked, total_failed);
	return rc;
}
