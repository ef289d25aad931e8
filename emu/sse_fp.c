/* Float lanes for SSE: classification, x86 NaN rules, DAZ/FTZ and MXCSR flags; the rounded
 * operations themselves come from the soft-float core. */
#include "sse_fp.h"

#include "softfloat.h"

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

/* The soft-float environment MXCSR selects; its flags are added to e's. */
static struct sf_env sf_begin(const struct fp_env *e)
{
	return sf_env_sse(e->mxcsr);
}

static uint64_t sf_end(struct fp_env *e, const struct sf_env *s, uint64_t v)
{
	e->flags |= s->flags;
	return v;
}

uint64_t fp_arith(struct fp_env *e, unsigned op, uint64_t a, uint64_t b, unsigned w)
{
	struct sf_env s = sf_begin(e);
	uint64_t r;
	if (w == 4) {
		sf_f32 x = (sf_f32)a, y = (sf_f32)b;
		r = op == FP_ADD   ? sf_f32_add(&s, x, y)
		    : op == FP_SUB ? sf_f32_sub(&s, x, y)
		    : op == FP_MUL ? sf_f32_mul(&s, x, y)
		                   : sf_f32_div(&s, x, y);
	} else {
		r = op == FP_ADD   ? sf_f64_add(&s, a, b)
		    : op == FP_SUB ? sf_f64_sub(&s, a, b)
		    : op == FP_MUL ? sf_f64_mul(&s, a, b)
		                   : sf_f64_div(&s, a, b);
	}
	return sf_end(e, &s, r);
}

uint64_t fp_sqrt(struct fp_env *e, uint64_t v, unsigned w)
{
	struct sf_env s = sf_begin(e);
	return sf_end(e, &s, w == 4 ? sf_f32_sqrt(&s, (sf_f32)v) : sf_f64_sqrt(&s, v));
}

/* RCPPS/RSQRTPS: an approximation within the architectural 1.5 * 2^-12 relative error, here the
 * correctly rounded value (Intel's and AMD's tables differ from it and from each other). Denormal
 * inputs read as zero and tiny results become zero whatever MXCSR says; no flags are raised. */
static uint64_t approx(uint64_t v, bool rsqrt)
{
	struct sf_env s = sf_env_sse(0x1f80);
	uint32_t a = (uint32_t)v, sign = a & 0x80000000u;
	if (sf_f32_is_nan(a))
		return a | 0x400000u;
	if (!(a & 0x7f800000u))
		return sign | 0x7f800000u; /* zero or denormal: infinity of the sign */
	if (rsqrt && sign)
		return 0xffc00000u;
	sf_f64 x = sf_f32_to_f64(&s, a);
	if (rsqrt)
		x = sf_f64_sqrt(&s, x);
	uint32_t r = sf_f64_to_f32(&s, sf_f64_div(&s, 0x3ff0000000000000ull, x));
	return (r & 0x7f800000u) ? r : (r & 0x80000000u);
}

uint64_t fp_rcp(struct fp_env *e, uint64_t v, unsigned w)
{
	(void)e;
	(void)w;
	return approx(v, false);
}

uint64_t fp_rsqrt(struct fp_env *e, uint64_t v, unsigned w)
{
	(void)e;
	(void)w;
	return approx(v, true);
}

uint64_t fp_round_int(struct fp_env *e, uint64_t v, unsigned w, unsigned rc)
{
	struct sf_env s = sf_begin(e);
	s.round = (uint8_t)rc;
	return sf_end(e, &s, w == 4 ? sf_f32_round_int(&s, (sf_f32)v) : sf_f64_round_int(&s, v));
}

uint64_t fp_from_int(struct fp_env *e, int64_t v, unsigned w)
{
	struct sf_env s = sf_begin(e);
	return sf_end(e, &s, w == 4 ? sf_int_to_f32(&s, v) : sf_int_to_f64(&s, v));
}

uint64_t fp_to_int(struct fp_env *e, uint64_t v, unsigned w, unsigned iw, bool truncate)
{
	struct sf_env s = sf_begin(e);
	int64_t r =
	    w == 4 ? sf_f32_to_int(&s, (sf_f32)v, 8 * iw, truncate) : sf_f64_to_int(&s, v, 8 * iw, truncate);
	return sf_end(e, &s, (uint64_t)r & (iw == 8 ? ~0ull : 0xffffffffull));
}

uint64_t fp_convert_float(struct fp_env *e, uint64_t v, unsigned from, unsigned to)
{
	struct sf_env s = sf_begin(e);
	(void)to;
	uint64_t r = from == 4 ? sf_f32_to_f64(&s, (sf_f32)v) : sf_f64_to_f32(&s, v);
	/* An unmasked overflow or underflow reports PE when the significand does not fit in 24 bits,
	 * however far the exponent is out of range. */
	if (s.flags & ~(e->mxcsr >> 7) & (MX_OE | MX_UE)) {
		uint64_t m = (v & frac_bits(8)) | ((v & exp_bits(8)) ? 1ull << 52 : 0);
		unsigned bits = 0;
		while (m && !(m & 1))
			m >>= 1;
		for (; m; m >>= 1)
			bits++;
		s.flags = (uint8_t)((s.flags & ~MX_PE) | (bits > 24 ? MX_PE : 0));
	}
	return sf_end(e, &s, r);
}
