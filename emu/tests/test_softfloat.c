/* The float32/float64 soft-float operations against the host CPU's SSE unit: every operation
 * over edge and random operands, in every rounding mode with and without DAZ and FTZ, must
 * give the same result bits and the same MXCSR flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "softfloat.h"

enum op {
	ADD,
	SUB,
	MUL,
	DIV,
	SQRT,
	CMP,
	UCMP,
	TO_WIDE,
	TO_NARROW,
	TO_I32,
	TO_I32_TRUNC,
	TO_I64,
	TO_I64_TRUNC,
	FROM_I32,
	FROM_I64,
	ROUND,
};

struct row {
	const char *name;
	enum op op;
	bool f64;
};

/* clang-format off */
static const struct row rows[] = {
    {"addss", ADD, false},          {"addsd", ADD, true},
    {"subss", SUB, false},          {"subsd", SUB, true},
    {"mulss", MUL, false},          {"mulsd", MUL, true},
    {"divss", DIV, false},          {"divsd", DIV, true},
    {"sqrtss", SQRT, false},        {"sqrtsd", SQRT, true},
    {"comiss", CMP, false},         {"comisd", CMP, true},
    {"ucomiss", UCMP, false},       {"ucomisd", UCMP, true},
    {"cvtss2sd", TO_WIDE, false},   {"cvtsd2ss", TO_NARROW, true},
    {"cvtss2si", TO_I32, false},    {"cvtsd2si", TO_I32, true},
    {"cvttss2si", TO_I32_TRUNC, false}, {"cvttsd2si", TO_I32_TRUNC, true},
    {"cvtss2si r64", TO_I64, false}, {"cvtsd2si r64", TO_I64, true},
    {"cvttss2si r64", TO_I64_TRUNC, false}, {"cvttsd2si r64", TO_I64_TRUNC, true},
    {"cvtsi2ss", FROM_I32, false},  {"cvtsi2sd", FROM_I32, true},
    {"cvtsi2ss r64", FROM_I64, false}, {"cvtsi2sd r64", FROM_I64, true},
    {"roundss", ROUND, false},      {"roundsd", ROUND, true},
};
/* clang-format on */

static bool wide_result(const struct row *r)
{
	switch (r->op) {
	case TO_WIDE:
	case TO_I64:
	case TO_I64_TRUNC:
		return true;
	case TO_NARROW:
	case TO_I32:
	case TO_I32_TRUNC:
		return false;
	default:
		return r->f64;
	}
}

/* Runs one SSE instruction on the host under mxcsr; returns the result bits and MXCSR after. */
static uint64_t host(const struct row *r, uint32_t mxcsr, uint64_t a, uint64_t b, uint32_t *flags)
{
	uint64_t out = 0;
	uint32_t csr = mxcsr, after;
	__asm__ volatile("ldmxcsr %0" : : "m"(csr));
	switch (r->op * 2 + r->f64) {
#define BIN(OP, INSN)                                                                                        \
	case OP * 2:                                                                                         \
		__asm__ volatile("movd %k1, %%xmm0\n\tmovd %k2, %%xmm1\n\t" INSN                             \
		                 "ss %%xmm1, %%xmm0\n\tmovd %%xmm0, %k0"                                     \
		                 : "=r"(out)                                                                 \
		                 : "r"(a), "r"(b)                                                            \
		                 : "xmm0", "xmm1");                                                          \
		break;                                                                                       \
	case OP * 2 + 1:                                                                                     \
		__asm__ volatile("movq %1, %%xmm0\n\tmovq %2, %%xmm1\n\t" INSN                               \
		                 "sd %%xmm1, %%xmm0\n\tmovq %%xmm0, %0"                                      \
		                 : "=r"(out)                                                                 \
		                 : "r"(a), "r"(b)                                                            \
		                 : "xmm0", "xmm1");                                                          \
		break;
		BIN(ADD, "add")
		BIN(SUB, "sub")
		BIN(MUL, "mul")
		BIN(DIV, "div")
		BIN(SQRT, "sqrt")
#undef BIN
#define CMPOP(OP, INSN)                                                                                      \
	case OP * 2:                                                                                         \
		__asm__ volatile("movd %k1, %%xmm0\n\tmovd %k2, %%xmm1\n\t" INSN                             \
		                 "ss %%xmm1, %%xmm0\n\tpushfq\n\tpopq %0"                                    \
		                 : "=r"(out)                                                                 \
		                 : "r"(a), "r"(b)                                                            \
		                 : "xmm0", "xmm1", "cc");                                                    \
		break;                                                                                       \
	case OP * 2 + 1:                                                                                     \
		__asm__ volatile("movq %1, %%xmm0\n\tmovq %2, %%xmm1\n\t" INSN                               \
		                 "sd %%xmm1, %%xmm0\n\tpushfq\n\tpopq %0"                                    \
		                 : "=r"(out)                                                                 \
		                 : "r"(a), "r"(b)                                                            \
		                 : "xmm0", "xmm1", "cc");                                                    \
		break;
		CMPOP(CMP, "comi")
		CMPOP(UCMP, "ucomi")
#undef CMPOP
	case TO_WIDE * 2:
		__asm__ volatile("movd %k1, %%xmm0\n\tcvtss2sd %%xmm0, %%xmm0\n\tmovq %%xmm0, %0"
		                 : "=r"(out)
		                 : "r"(a)
		                 : "xmm0");
		break;
	case TO_NARROW * 2 + 1:
		__asm__ volatile("movq %1, %%xmm0\n\tcvtsd2ss %%xmm0, %%xmm0\n\tmovd %%xmm0, %k0"
		                 : "=r"(out)
		                 : "r"(a)
		                 : "xmm0");
		break;
#define TOINT(OP, INSN, W)                                                                                   \
	case OP * 2:                                                                                         \
		__asm__ volatile("movd %k1, %%xmm0\n\t" INSN "ss2si %%xmm0, %" W "0"                         \
		                 : "=r"(out)                                                                 \
		                 : "r"(a)                                                                    \
		                 : "xmm0");                                                                  \
		break;                                                                                       \
	case OP * 2 + 1:                                                                                     \
		__asm__ volatile("movq %1, %%xmm0\n\t" INSN "sd2si %%xmm0, %" W "0"                          \
		                 : "=r"(out)                                                                 \
		                 : "r"(a)                                                                    \
		                 : "xmm0");                                                                  \
		break;
		TOINT(TO_I32, "cvt", "k")
		TOINT(TO_I32_TRUNC, "cvtt", "k")
		TOINT(TO_I64, "cvt", "q")
		TOINT(TO_I64_TRUNC, "cvtt", "q")
#undef TOINT
	case FROM_I32 * 2:
		__asm__ volatile("cvtsi2ssl %k1, %%xmm0\n\tmovd %%xmm0, %k0" : "=r"(out) : "r"(a) : "xmm0");
		break;
	case FROM_I32 * 2 + 1:
		__asm__ volatile("cvtsi2sdl %k1, %%xmm0\n\tmovq %%xmm0, %0" : "=r"(out) : "r"(a) : "xmm0");
		break;
	case FROM_I64 * 2:
		__asm__ volatile("cvtsi2ssq %1, %%xmm0\n\tmovd %%xmm0, %k0" : "=r"(out) : "r"(a) : "xmm0");
		break;
	case FROM_I64 * 2 + 1:
		__asm__ volatile("cvtsi2sdq %1, %%xmm0\n\tmovq %%xmm0, %0" : "=r"(out) : "r"(a) : "xmm0");
		break;
	case ROUND * 2: /* imm 4: the MXCSR rounding mode, PE reported */
		__asm__ volatile("movd %k1, %%xmm0\n\troundss $4, %%xmm0, %%xmm0\n\tmovd %%xmm0, %k0"
		                 : "=r"(out)
		                 : "r"(a)
		                 : "xmm0");
		break;
	case ROUND * 2 + 1:
		__asm__ volatile("movq %1, %%xmm0\n\troundsd $4, %%xmm0, %%xmm0\n\tmovq %%xmm0, %0"
		                 : "=r"(out)
		                 : "r"(a)
		                 : "xmm0");
		break;
	}
	__asm__ volatile("stmxcsr %0" : "=m"(after));
	csr = 0x1f80;
	__asm__ volatile("ldmxcsr %0" : : "m"(csr));
	*flags = after & 0x3f;
	if (!wide_result(r))
		out &= 0xffffffffu;
	if (r->op == CMP || r->op == UCMP)
		out &= 0x45; /* ZF PF CF */
	return out;
}

static uint64_t relation_flags(enum sf_relation rel)
{
	return rel == SF_UNORDERED ? 0x45 : rel == SF_LT ? 0x01 : rel == SF_EQ ? 0x40 : 0;
}

static uint64_t soft(const struct row *r, uint32_t mxcsr, uint64_t a, uint64_t b, uint32_t *flags)
{
	struct sf_env env = sf_env_sse(mxcsr);
	uint64_t out = 0;
	uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b;
	bool d = r->f64;
	switch (r->op) {
	case ADD:
		out = d ? sf_f64_add(&env, a, b) : sf_f32_add(&env, a32, b32);
		break;
	case SUB:
		out = d ? sf_f64_sub(&env, a, b) : sf_f32_sub(&env, a32, b32);
		break;
	case MUL:
		out = d ? sf_f64_mul(&env, a, b) : sf_f32_mul(&env, a32, b32);
		break;
	case DIV:
		out = d ? sf_f64_div(&env, a, b) : sf_f32_div(&env, a32, b32);
		break;
	case SQRT:
		out = d ? sf_f64_sqrt(&env, b) : sf_f32_sqrt(&env, b32);
		break;
	case CMP:
	case UCMP:
		out = relation_flags(d ? sf_f64_compare(&env, a, b, r->op == UCMP)
		                       : sf_f32_compare(&env, a32, b32, r->op == UCMP));
		break;
	case TO_WIDE:
		out = sf_f32_to_f64(&env, a32);
		break;
	case TO_NARROW:
		out = sf_f64_to_f32(&env, a);
		break;
	case TO_I32:
	case TO_I32_TRUNC:
	case TO_I64:
	case TO_I64_TRUNC: {
		unsigned bits = r->op <= TO_I32_TRUNC ? 32 : 64;
		bool trunc = r->op == TO_I32_TRUNC || r->op == TO_I64_TRUNC;
		int64_t n = d ? sf_f64_to_int(&env, a, bits, trunc) : sf_f32_to_int(&env, a32, bits, trunc);
		out = bits == 32 ? (uint32_t)n : (uint64_t)n;
		break;
	}
	case FROM_I32:
		out = d ? sf_int_to_f64(&env, (int32_t)a) : sf_int_to_f32(&env, (int32_t)a);
		break;
	case FROM_I64:
		out = d ? sf_int_to_f64(&env, (int64_t)a) : sf_int_to_f32(&env, (int64_t)a);
		break;
	case ROUND:
		out = d ? sf_f64_round_int(&env, a) : sf_f32_round_int(&env, a32);
		break;
	}
	*flags = env.flags;
	return out;
}

/* clang-format off */
static const uint32_t f32_edges[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000,
    0x00800001, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc12345,
    0x7f800001, 0xff812345, 0x3f800000, 0xbf800000, 0x3f800001, 0x3fffffff, 0x40000000, 0x3f000000,
    0x3fc00000, 0x40200000, 0x4f000000, 0xcf000000, 0x5f000000, 0xdf000000, 0x4effffff, 0x00400000,
    0x34000000, 0x33800000, 0x0c000000, 0x72800000, 0x3eaaaaab, 0x4b000001, 0x4b7fffff, 0x4b800000,
};
static const uint64_t f64_edges[] = {
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
    0x000fffffffffffff, 0x800fffffffffffff, 0x0010000000000000, 0x8010000000000000,
    0x0010000000000001, 0x7fefffffffffffff, 0xffefffffffffffff, 0x7ff0000000000000,
    0xfff0000000000000, 0x7ff8000000000000, 0xfff8000000000000, 0x7ff8000000012345,
    0x7ff0000000000001, 0xfff0000000012345, 0x3ff0000000000000, 0xbff0000000000000,
    0x3ff0000000000001, 0x3fffffffffffffff, 0x4000000000000000, 0x3fe0000000000000,
    0x3ff8000000000000, 0x4004000000000000, 0x41e0000000000000, 0xc1e0000000000000,
    0x43e0000000000000, 0xc3e0000000000000, 0x41dfffffffc00000, 0x0008000000000000,
    0x3ca0000000000000, 0x3c90000000000000, 0x0180000000000000, 0x7e50000000000000,
    0x3fd5555555555555, 0x4330000000000001, 0x433fffffffffffff, 0x4340000000000000,
    0x380fffffe0000000, 0x3810000000000000, 0x36a0000000000000, 0x47efffffe0000000,
    0x47efffffefffffff, 0x47effffff0000000, 0xc1e0000000100000, 0x41dfffffffffffff,
};
/* clang-format on */

static const uint32_t mxcsrs[] = {0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x1fc0, 0x9f80, 0x9fc0, 0xdf80};

static uint64_t seed = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

/* A random operand near the edges: random fields, exponents biased toward the extremes. */
static uint64_t random_operand(bool f64)
{
	uint64_t v = next();
	if (!f64) {
		v &= 0xffffffffu;
		if (v & 0x10000)
			v = (v & 0x807fffffu) |
			    ((uint64_t)(next() % 3 == 0 ? next() % 4 : 126 + next() % 4) << 23);
	} else if (v & 0x10000) {
		v = (v & 0x800fffffffffffffull) | ((next() % 3 == 0 ? next() % 4 : 1022 + next() % 4) << 52);
	}
	return v;
}

static void test_sse_ops(void **state)
{
	(void)state;
	unsigned runs = 0, mismatches = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		unsigned row_mismatches = 0;
		size_t n = r->f64 ? sizeof(f64_edges) / 8 : sizeof(f32_edges) / 4;
		for (size_t c = 0; c < sizeof(mxcsrs) / sizeof(mxcsrs[0]); c++)
			for (size_t k = 0; k < (n + 60) * (n + 60); k++) {
				size_t ia = k / (n + 60), ib = k % (n + 60);
				uint64_t a = ia < n ? (r->f64 ? f64_edges[ia] : f32_edges[ia])
				                    : random_operand(r->f64);
				uint64_t b = ib < n ? (r->f64 ? f64_edges[ib] : f32_edges[ib])
				                    : random_operand(r->f64);
				if (r->op == FROM_I32 || r->op == FROM_I64)
					a = (k & 1) ? a : a >> (next() % 64);
				uint32_t hf, sf;
				uint64_t want = host(r, mxcsrs[c], a, b, &hf);
				uint64_t got = soft(r, mxcsrs[c], a, b, &sf);
				runs++;
				if (want == got && hf == sf)
					continue;
				mismatches++;
				if (row_mismatches++ < 4)
					fprintf(stderr,
					        "%s mxcsr %#x a %#llx b %#llx: host %#llx flags %#x, soft "
					        "%#llx flags %#x\n",
					        r->name, mxcsrs[c], (unsigned long long)a,
					        (unsigned long long)b, (unsigned long long)want, hf,
					        (unsigned long long)got, sf);
			}
	}
	fprintf(stderr, "softfloat against host SSE: %u operations, %u mismatches\n", runs, mismatches);
	assert_int_equal(mismatches, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sse_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
