/* x87 transcendentals on finite operands: computed in a 128-bit significand float with
 * series on reduced arguments (error near 2^-120), then rounded once to float80. */
#include "x87.h"

__extension__ typedef unsigned __int128 u128;

/* value = sig * 2^(exp - 127); sig bit 127 set, or sig 0 for zero. */
struct xf {
	bool sign;
	int32_t exp;
	u128 sig;
};

static const struct xf xf_zero = {false, 0, 0};

static unsigned clz128(u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64), lo = (uint64_t)v;
	if (hi)
		return (unsigned)__builtin_clzll(hi);
	return lo ? 64 + (unsigned)__builtin_clzll(lo) : 128;
}

static struct xf xf_make(bool sign, int32_t exp, u128 sig)
{
	struct xf r = {sign, exp, sig};
	if (!sig)
		return xf_zero;
	unsigned lz = clz128(sig);
	r.sig <<= lz;
	r.exp -= (int32_t)lz;
	return r;
}

static struct xf xf_of_f80(struct sf_f80 a)
{
	int32_t e = a.se & 0x7fff;
	return xf_make(a.se >> 15, e ? e - 16383 : 1 - 16383, (u128)a.mant << 64);
}

static struct xf xf_of_int(int64_t n)
{
	uint64_t mag = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
	return xf_make(n < 0, 127, mag);
}

static struct xf xf_k(uint64_t hi, uint64_t lo, int32_t exp)
{
	struct xf r = {false, exp, ((u128)hi << 64) | lo};
	return r;
}

static struct xf xf_neg(struct xf a)
{
	a.sign = !a.sign;
	return a;
}

static struct xf xf_mul(struct xf a, struct xf b)
{
	if (!a.sig || !b.sig)
		return xf_zero;
	uint64_t ah = (uint64_t)(a.sig >> 64), al = (uint64_t)a.sig, bh = (uint64_t)(b.sig >> 64),
	         bl = (uint64_t)b.sig;
	u128 hh = (u128)ah * bh, hl = (u128)ah * bl, lh = (u128)al * bh, ll = (u128)al * bl;
	u128 mid = (hl & UINT64_MAX) + (lh & UINT64_MAX) + (ll >> 64);
	u128 top = hh + (hl >> 64) + (lh >> 64) + (mid >> 64);
	return xf_make(a.sign ^ b.sign, a.exp + b.exp + 1, top);
}

/* a plus a nonzero b far below its last bit: a moved by its last bit toward b's side. */
static struct xf xf_nudge(struct xf a, struct xf b)
{
	if (a.sign == b.sign)
		return xf_make(a.sign, a.exp, a.sig | 1);
	return xf_make(a.sign, a.exp, a.sig - 1);
}

static struct xf xf_add(struct xf a, struct xf b)
{
	if (!a.sig)
		return b;
	if (!b.sig)
		return a;
	if (a.exp < b.exp || (a.exp == b.exp && a.sig < b.sig)) {
		struct xf t = a;
		a = b;
		b = t;
	}
	if (a.exp - b.exp > 126)
		return xf_nudge(a, b);
	unsigned d = (unsigned)(a.exp - b.exp) + 1;
	u128 x = a.sig >> 1, y = d >= 128 ? 1 : (b.sig >> d) | ((b.sig & (((u128)1 << d) - 1)) != 0);
	u128 s = a.sign == b.sign ? x + y : x - y;
	return xf_make(a.sign, a.exp + 1, s);
}

static struct xf xf_sub(struct xf a, struct xf b)
{
	return xf_add(a, xf_neg(b));
}

static struct xf xf_div(struct xf a, struct xf b)
{
	if (!a.sig)
		return xf_zero;
	u128 r = a.sig, q = 0;
	bool carry = false;
	for (unsigned k = 0; k < 128; k++) {
		q <<= 1;
		if (carry || r >= b.sig) {
			r -= b.sig;
			q |= 1;
		}
		carry = r >> 127;
		r <<= 1;
	}
	return xf_make(a.sign ^ b.sign, a.exp - b.exp, q | (r != 0));
}

static struct sf_f80 xf_round(struct sf_env *env, struct xf a)
{
	if (!a.sig) {
		struct sf_f80 z = {0, (uint16_t)(a.sign ? 0x8000 : 0)};
		return z;
	}
	env->prec = 64; /* the precision control does not apply */
	return sf_f80_round_pack(env, a.sign, a.exp, (uint64_t)(a.sig >> 64), (uint64_t)a.sig);
}

/* clang-format off */
#define LN2   xf_k(0xb17217f7d1cf79abull, 0xc9e3b39803f2f6afull, -1)
#define PI    xf_k(0xc90fdaa22168c234ull, 0xc4c6628b80dc1cd1ull, 1)
#define PI_2  xf_k(0xc90fdaa22168c234ull, 0xc4c6628b80dc1cd1ull, 0)
#define PI_4  xf_k(0xc90fdaa22168c234ull, 0xc4c6628b80dc1cd1ull, -1)
/* clang-format on */

static struct xf xf_one(void)
{
	return xf_of_int(1);
}

/* Adds a series term; false once the term fell past the precision (only nudging the sum):
 * the tail of these series has the sign of its first term, so later ones must not count. */
static bool series_add(struct xf *sum, struct xf term)
{
	bool past = !term.sig || (sum->sig && term.exp < sum->exp - 126);
	*sum = xf_add(*sum, term);
	return !past;
}

/* e^t - 1 for |t| below about 1: the Taylor series. */
static struct xf xf_expm1(struct xf t)
{
	struct xf sum = t, term = t;
	for (int n = 2; n < 60; n++) {
		term = xf_div(xf_mul(term, t), xf_of_int(n));
		if (!series_add(&sum, term))
			break;
	}
	return sum;
}

/* ln(m) for m in [sqrt(2)/2, sqrt(2)]: 2 atanh(s), s = (m - 1) / (m + 1). */
static struct xf xf_ln_near1(struct xf num, struct xf den)
{
	struct xf s = xf_div(num, den), s2 = xf_mul(s, s), term = s, sum = s;
	for (int n = 3; n < 200; n += 2) {
		term = xf_mul(term, s2);
		if (!series_add(&sum, xf_div(term, xf_of_int(n))))
			break;
	}
	sum.exp++;
	return sum;
}

/* atan(u) for |u| <= tan(pi/8): the Taylor series. */
static struct xf xf_atan_small(struct xf u)
{
	struct xf u2 = xf_mul(u, u), term = u, sum = u;
	for (int n = 3; n < 400; n += 2) {
		term = xf_neg(xf_mul(term, u2));
		if (!series_add(&sum, xf_div(term, xf_of_int(n))))
			break;
	}
	return sum;
}

/* atan(t) for 0 <= t <= 1. */
static struct xf xf_atan01(struct xf t)
{
	/* tan(pi/8) = 0.41421356...: above it, atan(t) = pi/4 + atan((t - 1) / (t + 1)). */
	if (t.exp > -2 || (t.exp == -2 && t.sig > xf_k(0xd413cccfe7799211ull, 0x65f626cdd52afa7cull, -2).sig))
		return xf_add(PI_4, xf_atan_small(xf_div(xf_sub(t, xf_one()), xf_add(t, xf_one()))));
	return xf_atan_small(t);
}

struct sf_f80 x87_f2xm1(struct sf_env *env, struct sf_f80 a)
{
	struct xf x = xf_of_f80(a);
	if (x.exp < 0)
		return xf_round(env, xf_expm1(xf_mul(x, LN2)));
	/* Outside [-1, 1]: 2^k * 2^f - 1 with |f| <= 1/2. */
	int64_t k = x.exp > 20 ? (x.sign ? -40000 : 40000) : (int64_t)(x.sig >> (127 - x.exp));
	if (x.sign)
		k = -k;
	struct xf f = xf_sub(x, xf_of_int(k));
	struct xf p = xf_add(xf_expm1(xf_mul(f, LN2)), xf_one());
	p.exp += (int32_t)k;
	return xf_round(env, xf_sub(p, xf_one()));
}

/* log2(v) for v > 0: e + ln(m) / ln 2 with m in [sqrt(2)/2, sqrt(2)]. */
static struct xf xf_log2(struct xf v)
{
	int32_t e = v.exp;
	v.exp = 0;
	if (v.sig > xf_k(0xb504f333f9de6484ull, 0x597d89b3754abe9full, 0).sig) { /* above sqrt(2) */
		v.exp = -1;
		e++;
	}
	struct xf ln = xf_ln_near1(xf_sub(v, xf_one()), xf_add(v, xf_one()));
	return xf_add(xf_of_int(e), xf_div(ln, LN2));
}

struct sf_f80 x87_fyl2x(struct sf_env *env, struct sf_f80 x, struct sf_f80 y, bool plus_one)
{
	struct xf v = xf_of_f80(x), lg;
	if (plus_one && v.exp < -2) /* ln(1 + v) = 2 atanh(v / (2 + v)), exact near 0 */
		lg = xf_div(xf_ln_near1(v, xf_add(xf_of_int(2), v)), LN2);
	else
		lg = xf_log2(plus_one ? xf_add(v, xf_one()) : v);
	/* The unit reports these inexact even where the product happens to be exact. */
	struct sf_f80 r = xf_round(env, xf_mul(lg, xf_of_f80(y)));
	env->flags |= SF_PE;
	if (!(r.se & 0x7fff) && r.mant)
		env->flags |= SF_UE;
	return r;
}

struct sf_f80 x87_fpatan(struct sf_env *env, struct sf_f80 y, struct sf_f80 x)
{
	struct xf vy = xf_of_f80(y), vx = xf_of_f80(x), ay = vy, ax = vx, r;
	ay.sign = ax.sign = false;
	bool swap = ay.exp > ax.exp || (ay.exp == ax.exp && ay.sig > ax.sig);
	if (!ay.sig)
		r = xf_zero;
	else if (!ax.sig)
		r = PI_2;
	else
		r = swap ? xf_sub(PI_2, xf_atan01(xf_div(ax, ay))) : xf_atan01(xf_div(ay, ax));
	if (x.se >> 15)
		r = xf_sub(PI, r);
	r.sign = y.se >> 15;
	return xf_round(env, r);
}

/* x mod pi/2 exactly, with the 66-bit pi the x87 reduces by: the remainder and the quadrant. */
static struct xf reduce(struct xf x, unsigned *quadrant)
{
	/* pi/2 as the unit keeps it, to 66 bits, scaled by 2^190 */
	static const uint64_t half_pi[3] = {0, 0x6000000000000000ull, 0x6487ed5110b4611aull};
	*quadrant = 0;
	if (x.exp < 0)
		return x;
	/* |x| = sig * 2^(exp - 127); long division of sig * 2^(exp + 63) by half_pi (scaled 2^190). */
	uint64_t r[4] = {0, 0, 0, 0};
	uint64_t q = 0;
	unsigned bits = 128 + (unsigned)x.exp + 63;
	for (unsigned k = 0; k < bits; k++) {
		unsigned pos = bits - 1 - k; /* bit of sig * 2^(exp + 63) */
		unsigned bit = pos >= (unsigned)x.exp + 63 ? (unsigned)(x.sig >> (pos - x.exp - 63)) & 1 : 0;
		r[3] = r[3] << 1 | r[2] >> 63;
		r[2] = r[2] << 1 | r[1] >> 63;
		r[1] = r[1] << 1 | r[0] >> 63;
		r[0] = r[0] << 1 | bit;
		bool ge =
		    r[3] || r[2] > half_pi[2] ||
		    (r[2] == half_pi[2] && (r[1] > half_pi[1] || (r[1] == half_pi[1] && r[0] >= half_pi[0])));
		q <<= 1;
		if (ge) {
			uint64_t b0 = r[0] < half_pi[0], b1;
			r[0] -= half_pi[0];
			b1 = r[1] < half_pi[1] || (r[1] == half_pi[1] && b0);
			r[1] -= half_pi[1] + b0;
			r[2] -= half_pi[2] + b1;
			r[3] = 0;
			q |= 1;
		}
	}
	/* Past pi/4 the remainder is taken from the next multiple: |r| <= pi/4. */
	bool past = r[2] > half_pi[2] >> 1 ||
	            (r[2] == half_pi[2] >> 1 && r[1] >= (half_pi[1] >> 1 | half_pi[2] << 63));
	bool sign = false;
	if (past) {
		uint64_t b0 = half_pi[0] < r[0], b1;
		r[0] = half_pi[0] - r[0];
		b1 = half_pi[1] < r[1] || (half_pi[1] == r[1] && b0);
		r[1] = half_pi[1] - r[1] - b0;
		r[2] = half_pi[2] - r[2] - b1;
		q++;
		sign = true;
	}
	*quadrant = (unsigned)q & 3;
	/* the remainder is r / 2^190 */
	struct xf rem = r[2] ? xf_make(sign, 1, ((u128)r[2] << 64 | r[1]) | (r[0] != 0))
	                     : xf_make(sign, -63, (u128)r[1] << 64 | r[0]);
	return rem;
}

static struct xf xf_sin_series(struct xf r, bool cosine)
{
	struct xf r2 = xf_mul(r, r), term = cosine ? xf_one() : r, sum = term;
	for (int n = cosine ? 1 : 2; n < 80; n += 2) {
		term = xf_neg(xf_div(xf_mul(term, r2), xf_of_int((int64_t)n * (n + 1))));
		if (!series_add(&sum, term))
			break;
	}
	return sum;
}

struct sf_f80 x87_trig(struct sf_env *env, struct sf_f80 a, unsigned which)
{
	unsigned quadrant;
	struct xf x = xf_of_f80(a);
	bool neg = x.sign;
	x.sign = false;
	struct xf r = reduce(x, &quadrant);
	struct xf s = xf_sin_series(r, false), c = xf_sin_series(r, true), v;
	/* sin(r + q pi/2) and cos(r + q pi/2) by quadrant */
	struct xf sq = quadrant & 1 ? c : s, cq = quadrant & 1 ? s : c;
	if (quadrant & 2)
		sq = xf_neg(sq);
	if ((quadrant + 1) & 2)
		cq = xf_neg(cq);
	if (which == 0) {
		v = sq;
		if (neg)
			v = xf_neg(v);
	} else if (which == 1) {
		v = cq;
	} else if (!(quadrant & 1) && r.sig && r.exp < -40) {
		/* tan r = r + r^3/3 + ...: the rest is past the precision, where sin/cos would lose it */
		v = xf_add(r, xf_div(xf_mul(r, xf_mul(r, r)), xf_of_int(3)));
		v = xf_nudge(v, v);
		if (neg)
			v = xf_neg(v);
	} else {
		v = xf_div(sq, cq);
		if (neg)
			v = xf_neg(v);
	}
	return xf_round(env, v);
}
