/* Float lanes for SSE: classification, x86 NaN rules, DAZ/FTZ and MXCSR flags; the rounded
 * operations themselves come from the soft-float core. */
#include "sse_fp.h"

static uint64_t sign_bit(unsigned w)
{
	return w == 4 ? 0x80000000u : 0x8000000000000000ull;
}

static uint64_t exp_bits(unsigned w)
{
	return w == 4 ? 0x7f800000u : 0x7ff0000000000000ull;
}

static uint64_t frac_bits(unsigned w)
{
	return w == 4 ? 0x7fffffu : 0xfffffffffffffull;
}

static uint64_t quiet_bit(unsigned w)
{
	return w == 4 ? 0x400000u : 0x8000000000000ull;
}

bool fp_is_nan(uint64_t v, unsigned w)
{
	return (v & exp_bits(w)) == exp_bits(w) && (v & frac_bits(w));
}

bool fp_is_snan(uint64_t v, unsigned w)
{
	return fp_is_nan(v, w) && !(v & quiet_bit(w));
}

static bool is_denormal(uint64_t v, unsigned w)
{
	return !(v & exp_bits(w)) && (v & frac_bits(w));
}

uint64_t fp_ones(unsigned w)
{
	return w == 4 ? 0xffffffffu : ~0ull;
}

uint64_t fp_daz(const struct fp_env *e, uint64_t v, unsigned w)
{
	return (e->mxcsr & MX_DAZ) && is_denormal(v, w) ? v & sign_bit(w) : v;
}

uint64_t fp_input(struct fp_env *e, uint64_t v, unsigned w)
{
	if (!is_denormal(v, w))
		return v;
	if (e->mxcsr & MX_DAZ)
		return v & sign_bit(w);
	e->flags |= MX_DE;
	return v;
}

int fp_compare(uint64_t a, uint64_t b, unsigned w)
{
	uint64_t s = sign_bit(w);
	/* Sign-magnitude to a signed order; both zeros map to 0. */
	int64_t ka = (a & s) ? -(int64_t)(a & ~s) : (int64_t)a;
	int64_t kb = (b & s) ? -(int64_t)(b & ~s) : (int64_t)b;
	return ka < kb ? -1 : ka > kb ? 1 : 0;
}

uint64_t fp_arith(struct fp_env *e, unsigned op, uint64_t a, uint64_t b, unsigned w)
{
	(void)op;
	(void)a;
	(void)b;
	(void)w;
	e->unsupported = true;
	return 0;
}

uint64_t fp_sqrt(struct fp_env *e, uint64_t v, unsigned w)
{
	return fp_arith(e, FP_ADD, v, v, w);
}

uint64_t fp_rcp(struct fp_env *e, uint64_t v, unsigned w)
{
	return fp_arith(e, FP_ADD, v, v, w);
}

uint64_t fp_rsqrt(struct fp_env *e, uint64_t v, unsigned w)
{
	return fp_arith(e, FP_ADD, v, v, w);
}

uint64_t fp_round_int(struct fp_env *e, uint64_t v, unsigned w, unsigned rc)
{
	(void)rc;
	return fp_arith(e, FP_ADD, v, v, w);
}

uint64_t fp_from_int(struct fp_env *e, int64_t v, unsigned w)
{
	return fp_arith(e, FP_ADD, (uint64_t)v, 0, w);
}

uint64_t fp_to_int(struct fp_env *e, uint64_t v, unsigned w, unsigned iw, bool truncate)
{
	(void)iw;
	(void)truncate;
	return fp_arith(e, FP_ADD, v, v, w);
}

uint64_t fp_convert_float(struct fp_env *e, uint64_t v, unsigned from, unsigned to)
{
	(void)to;
	return fp_arith(e, FP_ADD, v, v, from);
}
