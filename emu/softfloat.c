/* Soft-float core: every format is handled as raw fields (sign, biased exponent, 64-bit
 * significand with the integer bit at 63), unpacked to sign / exponent / significand, computed
 * exactly in 128 bits with a sticky bit, then rounded and packed once. */
#include "softfloat.h"

#include <stddef.h>

__extension__ typedef unsigned __int128 u128;

struct fmt {
	int32_t bias;
	uint32_t emax_field; /* the all-ones exponent of infinities and NaNs */
	unsigned prec;       /* significand bits; 0: the float80 precision control decides */
	int32_t adjust;      /* the exponent bias of unmasked overflow and underflow results */
	bool x87;            /* x87 NaN rules and unsupported encodings */
};

static const struct fmt F32 = {127, 0xff, 24, 192, false};
static const struct fmt F64 = {1023, 0x7ff, 53, 1536, false};
static const struct fmt F80 = {16383, 0x7fff, 0, 24576, true};

/* A value in a format's fields; float32/float64 get their integer bit made explicit. */
struct raw {
	bool sign;
	uint32_t e;
	uint64_t m;
};

enum kind { K_ZERO, K_FINITE, K_INF, K_NAN };

/* value = sig * 2^(exp - 63), sig bit 63 set for K_FINITE. */
struct unp {
	enum kind kind;
	bool sign;
	bool denormal;
	int32_t exp;
	uint64_t sig;
};

#define QUIET_BIT (1ull << 62)
#define INT_BIT   (1ull << 63)

static struct raw raw_f32(sf_f32 a)
{
	uint32_t e = (a >> 23) & 0xff;
	struct raw r = {a >> 31, e, ((uint64_t)(a & 0x7fffff) << 40) | (e ? INT_BIT : 0)};
	return r;
}

static sf_f32 f32_raw(struct raw r)
{
	return ((uint32_t)r.sign << 31) | ((r.e & 0xff) << 23) | (uint32_t)((r.m >> 40) & 0x7fffff);
}

static struct raw raw_f64(sf_f64 a)
{
	uint32_t e = (a >> 52) & 0x7ff;
	struct raw r = {a >> 63, e, ((a & ((1ull << 52) - 1)) << 11) | (e ? INT_BIT : 0)};
	return r;
}

static sf_f64 f64_raw(struct raw r)
{
	return ((uint64_t)r.sign << 63) | ((uint64_t)(r.e & 0x7ff) << 52) |
	       ((r.m >> 11) & ((1ull << 52) - 1));
}

static struct raw raw_f80(struct sf_f80 a)
{
	struct raw r = {a.se >> 15, a.se & 0x7fffu, a.mant};
	return r;
}

static struct sf_f80 f80_raw(struct raw r)
{
	struct sf_f80 v = {r.m, (uint16_t)((r.sign ? 0x8000 : 0) | (r.e & 0x7fff))};
	return v;
}

static bool raw_is_nan(const struct fmt *f, struct raw r)
{
	return r.e == f->emax_field && (r.m << 1) != 0 && (r.m & INT_BIT);
}

static bool raw_is_snan(const struct fmt *f, struct raw r)
{
	return raw_is_nan(f, r) && !(r.m & QUIET_BIT);
}

/* Pseudo-NaN, pseudo-infinity (no integer bit at the top exponent) and unnormals. */
static bool raw_unsupported(const struct fmt *f, struct raw r)
{
	return f->x87 && r.e != 0 && !(r.m & INT_BIT);
}

static struct raw default_nan(const struct fmt *f)
{
	struct raw r = {true, f->emax_field, INT_BIT | QUIET_BIT};
	return r;
}

static struct raw quiet(struct raw r)
{
	r.m |= QUIET_BIT;
	return r;
}

bool sf_f80_is_unsupported(struct sf_f80 a)
{
	return raw_unsupported(&F80, raw_f80(a));
}

/* Two operands, at least one NaN: IE for an SNaN; SSE returns the first NaN, the x87 prefers a
 * QNaN to an SNaN and otherwise the larger significand. */
static struct raw propagate(struct sf_env *env, const struct fmt *f, struct raw a, struct raw b)
{
	bool na = raw_is_nan(f, a), nb = raw_is_nan(f, b);
	bool sa = raw_is_snan(f, a), sb = raw_is_snan(f, b);
	if (sa || sb)
		env->flags |= SF_IE;
	if (!f->x87 || !na || !nb)
		return quiet(na ? a : b);
	if (sa != sb)
		return quiet(sa ? b : a);
	uint64_t ma = a.m | QUIET_BIT, mb = b.m | QUIET_BIT;
	if (ma != mb)
		return quiet(ma > mb ? a : b);
	return quiet(a.sign ? b : a);
}

static struct raw propagate1(struct sf_env *env, const struct fmt *f, struct raw a)
{
	if (raw_is_snan(f, a))
		env->flags |= SF_IE;
	return quiet(a);
}

static unsigned clz64(uint64_t v)
{
	return v ? (unsigned)__builtin_clzll(v) : 64;
}

static unsigned clz128(u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64);
	return hi ? clz64(hi) : 64 + clz64((uint64_t)v);
}

/* Shifts right keeping every lost bit as a sticky bit 0. */
static u128 shr_jam(u128 v, unsigned n)
{
	if (!n)
		return v;
	if (n >= 128)
		return v != 0;
	return (v >> n) | ((v & (((u128)1 << n) - 1)) != 0);
}

static struct unp unpack(const struct sf_env *env, const struct fmt *f, struct raw r)
{
	struct unp u = {K_FINITE, r.sign, false, 0, r.m};
	if (r.e == f->emax_field) {
		u.kind = (r.m << 1) ? K_NAN : K_INF;
	} else if (r.e == 0) {
		if (!r.m || env->daz) {
			u.kind = K_ZERO;
		} else {
			unsigned s = clz64(r.m);
			u.denormal = true;
			u.sig = r.m << s;
			u.exp = 1 - f->bias - (int32_t)s;
		}
	} else {
		u.exp = (int32_t)r.e - f->bias;
	}
	return u;
}

static unsigned precision(const struct sf_env *env, const struct fmt *f)
{
	if (f->prec)
		return f->prec;
	return env->prec ? env->prec : 64;
}

static struct raw make(bool sign, uint32_t e, uint64_t m)
{
	struct raw r = {sign, e, m};
	return r;
}

static struct raw zero(bool sign)
{
	return make(sign, 0, 0);
}

static struct raw infinity(const struct fmt *f, bool sign)
{
	return make(sign, f->emax_field, INT_BIT);
}

/* Rounds sig (leading bit anywhere at or below 127) to its top p bit positions of 128. */
static u128 round_bits(struct sf_env *env, bool sign, u128 sig, unsigned p, bool *inexact, bool *up)
{
	unsigned drop = 128 - p;
	u128 rest = sig & (((u128)1 << drop) - 1), half = (u128)1 << (drop - 1);
	u128 kept = sig >> drop;
	*inexact = rest != 0;
	switch (env->round) {
	case SF_NEAREST:
		*up = rest > half || (rest == half && (kept & 1));
		break;
	case SF_DOWN:
		*up = *inexact && sign;
		break;
	case SF_UP:
		*up = *inexact && !sign;
		break;
	default:
		*up = false;
	}
	return kept + *up;
}

/* value = sig / 2^127 * 2^exp with sig bit 127 set; rounds to p bits, tininess after rounding. */
static struct raw round_pack_p(struct sf_env *env, const struct fmt *f, bool sign, int32_t exp, u128 sig,
                               unsigned p)
{
	int32_t emin = 1 - f->bias, emax = f->bias;
	bool inexact, up;
	u128 k = round_bits(env, sign, sig, p, &inexact, &up);
	int32_t e = exp;
	if (k >> p) {
		k >>= 1;
		e++;
	}
	env->rounded_up = up;
	if (e > emax) {
		bool unmasked = !(env->masks & SF_OE);
		if (unmasked && e - f->adjust <= emax) {
			env->flags |= SF_OE | (inexact ? SF_PE : 0);
			return make(sign, (uint32_t)(e + f->bias - f->adjust), (uint64_t)k << (64 - p));
		}
		env->flags |= SF_OE | SF_PE;
		/* Beyond the bias adjustment an unmasked overflow gives infinity whatever RC says. */
		bool to_inf = unmasked || env->round == SF_NEAREST || env->round == (sign ? SF_DOWN : SF_UP);
		env->rounded_up = to_inf;
		if (to_inf)
			return infinity(f, sign);
		return make(sign, f->emax_field - 1, (uint64_t)(((u128)1 << p) - 1) << (64 - p));
	}
	if (e < emin) {
		if (!(env->masks & SF_UE) && e + f->adjust >= emin) {
			env->flags |= SF_UE | (inexact ? SF_PE : 0);
			return make(sign, (uint32_t)(e + f->bias + f->adjust), (uint64_t)k << (64 - p));
		}
		if (env->ftz || !(env->masks & SF_UE)) { /* and zero beyond the bias adjustment */
			env->flags |= SF_UE | SF_PE;
			env->rounded_up = false;
			return zero(sign);
		}
		k = round_bits(env, sign, shr_jam(sig, (unsigned)(emin - exp)), p, &inexact, &up);
		env->rounded_up = up;
		if (inexact)
			env->flags |= SF_UE | SF_PE;
		uint64_t m = (uint64_t)k << (64 - p);
		return make(sign, (m & INT_BIT) ? 1 : 0, m);
	}
	if (inexact)
		env->flags |= SF_PE;
	return make(sign, (uint32_t)(e + f->bias), (uint64_t)k << (64 - p));
}

static struct raw round_pack(struct sf_env *env, const struct fmt *f, bool sign, int32_t exp, u128 sig)
{
	return round_pack_p(env, f, sign, exp, sig, precision(env, f));
}

/* Normalizes a nonzero sig whose value is sig * 2^(exp - 127 + extra) and rounds it. */
static struct raw norm_round(struct sf_env *env, const struct fmt *f, bool sign, int32_t exp, u128 sig)
{
	unsigned lz = clz128(sig);
	return round_pack(env, f, sign, exp - (int32_t)lz, sig << lz);
}

static void note_denormal(struct sf_env *env, struct unp a, struct unp b)
{
	if (a.denormal || b.denormal)
		env->flags |= SF_DE;
}

/* A finite value, exactly, in a format wide enough for it (no rounding). */
static struct raw pack_exact(struct sf_env *env, const struct fmt *f, struct unp u)
{
	struct sf_env exact = *env;
	exact.masks = SF_ALL;
	exact.ftz = false;
	struct raw r = round_pack_p(&exact, f, u.sign, u.exp, (u128)u.sig << 64, 64);
	env->rounded_up = false;
	return r;
}

/* Unsupported encodings and NaNs decide the result before any arithmetic. */
static bool nan_operands(struct sf_env *env, const struct fmt *f, struct raw a, struct raw b, struct raw *out)
{
	if (raw_unsupported(f, a) || raw_unsupported(f, b)) {
		env->flags |= SF_IE;
		*out = default_nan(f);
		return true;
	}
	if (raw_is_nan(f, a) || raw_is_nan(f, b)) {
		*out = propagate(env, f, a, b);
		return true;
	}
	return false;
}

static struct raw invalid(struct sf_env *env, const struct fmt *f)
{
	env->flags |= SF_IE;
	return default_nan(f);
}

static struct raw op_add(struct sf_env *env, const struct fmt *f, struct raw a, struct raw b, bool negate)
{
	struct raw nan;
	if (nan_operands(env, f, a, b, &nan))
		return nan;
	struct unp ua = unpack(env, f, a), ub = unpack(env, f, b);
	ub.sign ^= negate;
	if (ua.kind == K_INF || ub.kind == K_INF) {
		if (ua.kind == K_INF && ub.kind == K_INF && ua.sign != ub.sign) {
			env->flags |= SF_IE;
			return default_nan(f);
		}
		note_denormal(env, ua, ub);
		return infinity(f, ua.kind == K_INF ? ua.sign : ub.sign);
	}
	note_denormal(env, ua, ub);
	if (ua.kind == K_ZERO && ub.kind == K_ZERO)
		return zero(ua.sign == ub.sign ? ua.sign : env->round == SF_DOWN);
	if (ua.kind == K_ZERO || ub.kind == K_ZERO) {
		struct unp u = ua.kind == K_ZERO ? ub : ua;
		return round_pack(env, f, u.sign, u.exp, (u128)u.sig << 64);
	}
	if (ua.exp < ub.exp || (ua.exp == ub.exp && ua.sig < ub.sig)) {
		struct unp t = ua;
		ua = ub;
		ub = t;
	}
	u128 x = (u128)ua.sig << 62, y = shr_jam((u128)ub.sig << 62, (unsigned)(ua.exp - ub.exp));
	u128 s = ua.sign == ub.sign ? x + y : x - y;
	if (!s)
		return zero(env->round == SF_DOWN);
	return norm_round(env, f, ua.sign, ua.exp + 2, s);
}

static struct raw op_mul(struct sf_env *env, const struct fmt *f, struct raw a, struct raw b)
{
	struct raw nan;
	if (nan_operands(env, f, a, b, &nan))
		return nan;
	struct unp ua = unpack(env, f, a), ub = unpack(env, f, b);
	bool sign = ua.sign ^ ub.sign;
	if ((ua.kind == K_INF && ub.kind == K_ZERO) || (ua.kind == K_ZERO && ub.kind == K_INF))
		return invalid(env, f);
	note_denormal(env, ua, ub);
	if (ua.kind == K_INF || ub.kind == K_INF)
		return infinity(f, sign);
	if (ua.kind == K_ZERO || ub.kind == K_ZERO)
		return zero(sign);
	return norm_round(env, f, sign, ua.exp + ub.exp + 1, (u128)ua.sig * ub.sig);
}

static struct raw op_div(struct sf_env *env, const struct fmt *f, struct raw a, struct raw b)
{
	struct raw nan;
	if (nan_operands(env, f, a, b, &nan))
		return nan;
	struct unp ua = unpack(env, f, a), ub = unpack(env, f, b);
	bool sign = ua.sign ^ ub.sign;
	if ((ua.kind == K_INF && ub.kind == K_INF) || (ua.kind == K_ZERO && ub.kind == K_ZERO))
		return invalid(env, f);
	if (ub.kind == K_ZERO) {
		if (ua.kind != K_INF)
			env->flags |= SF_ZE;
		return infinity(f, sign);
	}
	note_denormal(env, ua, ub);
	if (ua.kind == K_INF)
		return infinity(f, sign);
	if (ua.kind == K_ZERO || ub.kind == K_INF)
		return zero(sign);
	u128 n1 = (u128)ua.sig << 62;
	uint64_t q1 = (uint64_t)(n1 / ub.sig), r1 = (uint64_t)(n1 % ub.sig);
	u128 n2 = (u128)r1 << 64;
	uint64_t q2 = (uint64_t)(n2 / ub.sig), r2 = (uint64_t)(n2 % ub.sig);
	u128 q = ((u128)q1 << 64) | q2;
	unsigned lz = clz128(q);
	q = (q << lz) | (r2 != 0);
	return round_pack(env, f, sign, ua.exp - ub.exp + 1 - (int32_t)lz, q);
}

/* floor(sqrt(x * 2^(2 * extra))) bit by bit, with a sticky bit for the remainder. */
static u128 isqrt_jam(u128 x, unsigned bits)
{
	u128 rem = 0, root = 0;
	for (unsigned i = 0; i < bits; i++) {
		rem = (rem << 2) | (uint64_t)(x >> 126);
		x <<= 2;
		u128 trial = (root << 2) | 1;
		root <<= 1;
		if (rem >= trial) {
			rem -= trial;
			root |= 1;
		}
	}
	return (root << 1) | (rem != 0);
}

static struct raw op_sqrt(struct sf_env *env, const struct fmt *f, struct raw a)
{
	if (raw_unsupported(f, a))
		return invalid(env, f);
	if (raw_is_nan(f, a))
		return propagate1(env, f, a);
	struct unp u = unpack(env, f, a);
	if (u.kind == K_ZERO)
		return zero(u.sign);
	if (u.sign)
		return invalid(env, f);
	note_denormal(env, u, u);
	if (u.kind == K_INF)
		return infinity(f, false);
	/* m = sig / 2^63 in [1, 2): sqrt(m * 2^e) from sig << 63 (even e) or sig << 64 (odd e). */
	bool odd = u.exp & 1;
	u128 root = isqrt_jam((u128)u.sig << (odd ? 64 : 63), 68); /* 68 bits, then sticky */
	int32_t half_exp = (u.exp - (odd ? 1 : 0)) / 2;
	return norm_round(env, f, false, half_exp + 127 - 68, root);
}

/* Integer part of a finite value under a rounding mode: magnitude, or false past 2^64 - 1. */
static bool integer_part(struct sf_env *env, struct unp u, enum sf_round mode, uint64_t *mag, bool *inexact)
{
	*inexact = false;
	if (u.kind == K_ZERO) {
		*mag = 0;
		return true;
	}
	if (u.exp >= 64)
		return false;
	if (u.exp == 63) {
		*mag = u.sig;
		return true;
	}
	struct sf_env e = *env;
	e.round = (uint8_t)mode;
	bool up;
	u128 fixed = shr_jam((u128)u.sig << 64, (unsigned)(63 - u.exp));
	u128 k = round_bits(&e, u.sign, fixed, 64, inexact, &up);
	env->rounded_up = up;
	if (k >> 64)
		return false;
	*mag = (uint64_t)k;
	return true;
}

static struct raw op_round_int(struct sf_env *env, const struct fmt *f, struct raw a)
{
	if (raw_unsupported(f, a))
		return invalid(env, f);
	if (raw_is_nan(f, a))
		return propagate1(env, f, a);
	struct unp u = unpack(env, f, a);
	if (f->x87)
		note_denormal(env, u, u); /* FRNDINT reports DE, ROUNDSS/ROUNDSD do not */
	if (u.kind == K_ZERO)
		return zero(u.sign);
	if (u.kind == K_INF || u.exp >= 63)
		return a;
	uint64_t mag;
	bool inexact;
	env->rounded_up = false;
	integer_part(env, u, (enum sf_round)env->round, &mag, &inexact);
	if (inexact)
		env->flags |= SF_PE;
	if (!mag)
		return zero(u.sign);
	unsigned lz = clz64(mag);
	struct unp r = {K_FINITE, u.sign, false, 63 - (int32_t)lz, mag << lz};
	bool up = env->rounded_up;
	struct raw out = pack_exact(env, f, r);
	env->rounded_up = up;
	return out;
}

static enum sf_relation op_compare(struct sf_env *env, const struct fmt *f, struct raw a, struct raw b,
                                   bool quiet_cmp)
{
	if (raw_unsupported(f, a) || raw_unsupported(f, b)) {
		env->flags |= SF_IE;
		return SF_UNORDERED;
	}
	if (raw_is_nan(f, a) || raw_is_nan(f, b)) {
		if (!quiet_cmp || raw_is_snan(f, a) || raw_is_snan(f, b))
			env->flags |= SF_IE;
		return SF_UNORDERED;
	}
	struct unp ua = unpack(env, f, a), ub = unpack(env, f, b);
	note_denormal(env, ua, ub);
	if (ua.kind == K_ZERO && ub.kind == K_ZERO)
		return SF_EQ;
	/* Order magnitudes as (kind, exp, sig) with zero < finite < infinity. */
	int ka = ua.kind == K_ZERO ? 0 : ua.kind == K_INF ? 2 : 1;
	int kb = ub.kind == K_ZERO ? 0 : ub.kind == K_INF ? 2 : 1;
	bool sa = ka ? ua.sign : false, sb = kb ? ub.sign : false;
	if (sa != sb)
		return sa ? SF_LT : SF_GT;
	int mag;
	if (ka != kb)
		mag = ka < kb ? -1 : 1;
	else if (ka != 1 || (ua.exp == ub.exp && ua.sig == ub.sig))
		mag = 0;
	else if (ua.exp != ub.exp)
		mag = ua.exp < ub.exp ? -1 : 1;
	else
		mag = ua.sig < ub.sig ? -1 : 1;
	if (sa)
		mag = -mag;
	return mag < 0 ? SF_LT : mag > 0 ? SF_GT : SF_EQ;
}

/* Between formats: NaNs keep the top of their payload, finite values round to the target. */
static struct raw convert(struct sf_env *env, const struct fmt *from, const struct fmt *to, struct raw a)
{
	if (raw_unsupported(from, a)) {
		env->flags |= SF_IE;
		return default_nan(to);
	}
	if (raw_is_nan(from, a)) {
		struct raw r = propagate1(env, from, a);
		r.e = to->emax_field;
		return r;
	}
	struct unp u = unpack(env, from, a);
	note_denormal(env, u, u);
	if (u.kind == K_ZERO)
		return zero(u.sign);
	if (u.kind == K_INF)
		return infinity(to, u.sign);
	return round_pack_p(env, to, u.sign, u.exp, (u128)u.sig << 64, to->prec ? to->prec : 64);
}

sf_f64 sf_f32_to_f64(struct sf_env *env, sf_f32 a)
{
	return f64_raw(convert(env, &F32, &F64, raw_f32(a)));
}

sf_f32 sf_f64_to_f32(struct sf_env *env, sf_f64 a)
{
	return f32_raw(convert(env, &F64, &F32, raw_f64(a)));
}

struct sf_f80 sf_f32_to_f80(struct sf_env *env, sf_f32 a)
{
	return f80_raw(convert(env, &F32, &F80, raw_f32(a)));
}

struct sf_f80 sf_f64_to_f80(struct sf_env *env, sf_f64 a)
{
	return f80_raw(convert(env, &F64, &F80, raw_f64(a)));
}

sf_f32 sf_f80_to_f32(struct sf_env *env, struct sf_f80 a)
{
	return f32_raw(convert(env, &F80, &F32, raw_f80(a)));
}

sf_f64 sf_f80_to_f64(struct sf_env *env, struct sf_f80 a)
{
	return f64_raw(convert(env, &F80, &F64, raw_f80(a)));
}

static int64_t to_int(struct sf_env *env, const struct fmt *f, struct raw a, unsigned bits, bool truncate)
{
	int64_t indefinite = (int64_t)(UINT64_MAX << (bits - 1));
	if (raw_unsupported(f, a) || raw_is_nan(f, a)) {
		env->flags |= SF_IE;
		return indefinite;
	}
	struct unp u = unpack(env, f, a);
	if (u.kind == K_INF) {
		env->flags |= SF_IE;
		return indefinite;
	}
	uint64_t mag;
	bool inexact;
	struct sf_env e = *env;
	if (!integer_part(&e, u, truncate ? SF_ZERO : (enum sf_round)env->round, &mag, &inexact) ||
	    mag > (1ull << (bits - 1)) - (u.sign ? 0 : 1)) {
		env->flags |= SF_IE;
		return indefinite;
	}
	env->rounded_up = inexact && e.rounded_up;
	if (inexact)
		env->flags |= SF_PE;
	return u.sign ? (int64_t)(0 - mag) : (int64_t)mag;
}

static struct raw from_int(struct sf_env *env, const struct fmt *f, int64_t n)
{
	if (!n)
		return zero(false);
	bool sign = n < 0;
	uint64_t mag = sign ? 0 - (uint64_t)n : (uint64_t)n;
	return norm_round(env, f, sign, 127, (u128)mag);
}

/* The public operations of one format, over its raw fields. */
#define FORMAT_OPS(PFX, T, FMT)                                                                              \
	bool sf_##PFX##_is_nan(T a)                                                                          \
	{                                                                                                    \
		return raw_is_nan(&FMT, raw_##PFX(a));                                                       \
	}                                                                                                    \
	bool sf_##PFX##_is_snan(T a)                                                                         \
	{                                                                                                    \
		return raw_is_snan(&FMT, raw_##PFX(a));                                                      \
	}                                                                                                    \
	T sf_##PFX##_add(struct sf_env *env, T a, T b)                                                       \
	{                                                                                                    \
		return PFX##_raw(op_add(env, &FMT, raw_##PFX(a), raw_##PFX(b), false));                      \
	}                                                                                                    \
	T sf_##PFX##_sub(struct sf_env *env, T a, T b)                                                       \
	{                                                                                                    \
		return PFX##_raw(op_add(env, &FMT, raw_##PFX(a), raw_##PFX(b), true));                       \
	}                                                                                                    \
	T sf_##PFX##_mul(struct sf_env *env, T a, T b)                                                       \
	{                                                                                                    \
		return PFX##_raw(op_mul(env, &FMT, raw_##PFX(a), raw_##PFX(b)));                             \
	}                                                                                                    \
	T sf_##PFX##_div(struct sf_env *env, T a, T b)                                                       \
	{                                                                                                    \
		return PFX##_raw(op_div(env, &FMT, raw_##PFX(a), raw_##PFX(b)));                             \
	}                                                                                                    \
	T sf_##PFX##_sqrt(struct sf_env *env, T a)                                                           \
	{                                                                                                    \
		return PFX##_raw(op_sqrt(env, &FMT, raw_##PFX(a)));                                          \
	}                                                                                                    \
	T sf_##PFX##_round_int(struct sf_env *env, T a)                                                      \
	{                                                                                                    \
		return PFX##_raw(op_round_int(env, &FMT, raw_##PFX(a)));                                     \
	}                                                                                                    \
	enum sf_relation sf_##PFX##_compare(struct sf_env *env, T a, T b, bool quiet_cmp)                    \
	{                                                                                                    \
		return op_compare(env, &FMT, raw_##PFX(a), raw_##PFX(b), quiet_cmp);                         \
	}                                                                                                    \
	int64_t sf_##PFX##_to_int(struct sf_env *env, T a, unsigned bits, bool truncate)                     \
	{                                                                                                    \
		return to_int(env, &FMT, raw_##PFX(a), bits, truncate);                                      \
	}

FORMAT_OPS(f32, sf_f32, F32)
FORMAT_OPS(f64, sf_f64, F64)
FORMAT_OPS(f80, struct sf_f80, F80)

sf_f32 sf_int_to_f32(struct sf_env *env, int64_t n)
{
	return f32_raw(from_int(env, &F32, n));
}

sf_f64 sf_int_to_f64(struct sf_env *env, int64_t n)
{
	return f64_raw(from_int(env, &F64, n));
}

struct sf_f80 sf_int_to_f80(int64_t n)
{
	struct sf_env env = sf_env_x87(0x37f);
	return f80_raw(from_int(&env, &F80, n));
}

struct sf_f80 sf_f80_scale(struct sf_env *env, struct sf_f80 a, int32_t n)
{
	struct raw r = raw_f80(a);
	if (raw_unsupported(&F80, r))
		return f80_raw(invalid(env, &F80));
	if (raw_is_nan(&F80, r))
		return f80_raw(propagate1(env, &F80, r));
	struct unp u = unpack(env, &F80, r);
	note_denormal(env, u, u);
	if (u.kind != K_FINITE)
		return a;
	return f80_raw(round_pack(env, &F80, u.sign, u.exp + n, (u128)u.sig << 64));
}

struct sf_f80 sf_f80_rem(struct sf_env *env, struct sf_f80 a, struct sf_f80 b, bool nearest,
                         uint64_t *quotient, bool *incomplete)
{
	struct raw ra = raw_f80(a), rb = raw_f80(b), out;
	*quotient = 0;
	*incomplete = false;
	if (nan_operands(env, &F80, ra, rb, &out))
		return f80_raw(out);
	struct unp ua = unpack(env, &F80, ra), ub = unpack(env, &F80, rb);
	if (ua.kind == K_INF || ub.kind == K_ZERO)
		return f80_raw(invalid(env, &F80));
	note_denormal(env, ua, ub);
	if (ua.kind == K_ZERO)
		return a;
	/* A remainder of a itself is exact but may be tiny: unmasked UE biases it. */
	if (ub.kind == K_INF)
		return f80_raw(round_pack_p(env, &F80, ua.sign, ua.exp, (u128)ua.sig << 64, 64));
	int32_t d = ua.exp - ub.exp;
	bool sign = ua.sign;
	if (d < 0) {
		if (nearest && d == -1 && ua.sig > ub.sig) {      /* |a| > |b| / 2: q = 1, |r| = |b| - |a| */
			u128 diff = ((u128)ub.sig << 1) - ua.sig; /* in units of 2^(ua.exp - 63) */
			unsigned lz = clz128(diff);
			*quotient = 1;
			return f80_raw(
			    round_pack_p(env, &F80, !sign, ua.exp + 64 - (int32_t)lz, diff << lz, 64));
		}
		return f80_raw(round_pack_p(env, &F80, ua.sign, ua.exp, (u128)ua.sig << 64, 64));
	}
	unsigned shift = (unsigned)d;
	if (d >= 64) { /* partial: reduce the exponent difference to between 32 and 63 */
		shift = 32 + (unsigned)(d % 32);
		*incomplete = true;
		nearest = false;
	}
	u128 num = (u128)ua.sig << shift;
	u128 q = num / ub.sig;
	u128 r = num % ub.sig;
	if (nearest && (r << 1 > ub.sig || (r << 1 == ub.sig && (q & 1)))) {
		r = ub.sig - r;
		q++;
		sign = !sign;
	}
	*quotient = (uint64_t)q;
	/* r is in units of 2^(ua.exp - 63 - shift) */
	if (!r)
		return f80_raw(zero(ua.sign));
	unsigned lz = clz128(r);
	return f80_raw(
	    round_pack_p(env, &F80, sign, ua.exp - (int32_t)shift + 64 - (int32_t)lz, r << lz, 64));
}

struct sf_f80 sf_f80_round_pack(struct sf_env *env, bool sign, int32_t exp, uint64_t hi, uint64_t lo)
{
	return f80_raw(round_pack(env, &F80, sign, exp, (u128)hi << 64 | lo));
}
