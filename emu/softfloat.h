/* Soft-float: IEEE 754 binary32, binary64 and the x87 80-bit extended format in portable C
 * (no host FPU), with the x86 rules for NaNs, exception flags, denormals and rounding.
 * float32/float64 operations follow SSE (NaN of the first operand wins, default NaN negative
 * quiet); float80 operations follow the x87 (larger-significand NaN wins, real indefinite,
 * unsupported encodings invalid, precision control). */
#ifndef EMUDIFF_EMU_SOFTFLOAT_H
#define EMUDIFF_EMU_SOFTFLOAT_H

#include <stdbool.h>
#include <stdint.h>

/* Exception flags, at the bit positions FSW and MXCSR both use. */
enum {
	SF_IE = 1 << 0, /* invalid operation */
	SF_DE = 1 << 1, /* denormal operand */
	SF_ZE = 1 << 2, /* division by zero */
	SF_OE = 1 << 3, /* numeric overflow */
	SF_UE = 1 << 4, /* numeric underflow */
	SF_PE = 1 << 5, /* precision (inexact result) */
	SF_ALL = 0x3f,
};

/* Rounding control, encoded as FCW.RC and MXCSR.RC encode it. */
enum sf_round { SF_NEAREST = 0, SF_DOWN = 1, SF_UP = 2, SF_ZERO = 3 };

/* Result of a comparison. */
enum sf_relation { SF_LT, SF_EQ, SF_GT, SF_UNORDERED };

typedef uint32_t sf_f32; /* binary32 bits */
typedef uint64_t sf_f64; /* binary64 bits */

/* x87 extended: explicit integer bit in mant bit 63; se is sign (bit 15) and 15-bit exponent. */
struct sf_f80 {
	uint64_t mant;
	uint16_t se;
};

/* One operation's environment: the caller sets the inputs, operations OR their flags in. */
struct sf_env {
	uint8_t round;   /* enum sf_round */
	uint8_t prec;    /* significand bits of float80 results: 24, 53 or 64 (0 reads as 64) */
	uint8_t masks;   /* SF_* exceptions masked (0 = all unmasked: use the constructors below) */
	bool daz;        /* denormal operands read as signed zero, without DE (MXCSR.DAZ) */
	bool ftz;        /* tiny results become signed zero with UE and PE when UE is masked */
	uint8_t flags;   /* out: exceptions raised, accumulated */
	bool rounded_up; /* out: the last rounded result's magnitude grew (x87 C1) */
};

/* The environment FCW selects (rounding, precision, masks). */
static inline struct sf_env sf_env_x87(uint16_t fcw)
{
	static const uint8_t pc_bits[4] = {24, 64, 53, 64}; /* PC=01 is reserved: full precision */
	struct sf_env e = {(uint8_t)((fcw >> 10) & 3),
	                   pc_bits[(fcw >> 8) & 3],
	                   (uint8_t)(fcw & 0x3f),
	                   false,
	                   false,
	                   0,
	                   false};
	return e;
}

/* The environment MXCSR selects (rounding, masks, DAZ, FTZ). */
static inline struct sf_env sf_env_sse(uint32_t mxcsr)
{
	struct sf_env e = {(uint8_t)((mxcsr >> 13) & 3),
	                   64,
	                   (uint8_t)((mxcsr >> 7) & 0x3f),
	                   (mxcsr >> 6) & 1,
	                   (mxcsr >> 15) & 1,
	                   0,
	                   false};
	return e;
}

/* Unmasked OE/UE: a float80 result comes back with its exponent biased by -/+24576
 * (float64 1536, float32 192) as the x87 delivers it to a register, or as infinity/zero where
 * even that is out of range; UE is then raised for any tiny result, exact or not. SSE callers
 * write no result when an unmasked flag comes back. Conversions to integers and round to
 * integer of float32/float64 report no DE (as CVT*2SI and ROUNDS* do); FRNDINT does. */

/* Classification. */
bool sf_f32_is_nan(sf_f32 a);
bool sf_f32_is_snan(sf_f32 a);
bool sf_f64_is_nan(sf_f64 a);
bool sf_f64_is_snan(sf_f64 a);
bool sf_f80_is_nan(struct sf_f80 a);
bool sf_f80_is_snan(struct sf_f80 a);
bool sf_f80_is_unsupported(struct sf_f80 a); /* pseudo-NaN, pseudo-infinity, unnormal */

/* Arithmetic, correctly rounded under env. */
sf_f32 sf_f32_add(struct sf_env *env, sf_f32 a, sf_f32 b);
sf_f32 sf_f32_sub(struct sf_env *env, sf_f32 a, sf_f32 b);
sf_f32 sf_f32_mul(struct sf_env *env, sf_f32 a, sf_f32 b);
sf_f32 sf_f32_div(struct sf_env *env, sf_f32 a, sf_f32 b);
sf_f32 sf_f32_sqrt(struct sf_env *env, sf_f32 a);
sf_f64 sf_f64_add(struct sf_env *env, sf_f64 a, sf_f64 b);
sf_f64 sf_f64_sub(struct sf_env *env, sf_f64 a, sf_f64 b);
sf_f64 sf_f64_mul(struct sf_env *env, sf_f64 a, sf_f64 b);
sf_f64 sf_f64_div(struct sf_env *env, sf_f64 a, sf_f64 b);
sf_f64 sf_f64_sqrt(struct sf_env *env, sf_f64 a);
struct sf_f80 sf_f80_add(struct sf_env *env, struct sf_f80 a, struct sf_f80 b);
struct sf_f80 sf_f80_sub(struct sf_env *env, struct sf_f80 a, struct sf_f80 b);
struct sf_f80 sf_f80_mul(struct sf_env *env, struct sf_f80 a, struct sf_f80 b);
struct sf_f80 sf_f80_div(struct sf_env *env, struct sf_f80 a, struct sf_f80 b);
struct sf_f80 sf_f80_sqrt(struct sf_env *env, struct sf_f80 a);

/* Round to an integral value in env->round; PE when inexact. */
sf_f32 sf_f32_round_int(struct sf_env *env, sf_f32 a);
sf_f64 sf_f64_round_int(struct sf_env *env, sf_f64 a);
struct sf_f80 sf_f80_round_int(struct sf_env *env, struct sf_f80 a);

/* FPREM (nearest false: truncated quotient) and FPREM1 (nearest true) partial remainder:
 * *quotient gets the low quotient bits, *incomplete is set when the reduction stopped early. */
struct sf_f80 sf_f80_rem(struct sf_env *env, struct sf_f80 a, struct sf_f80 b, bool nearest,
                         uint64_t *quotient, bool *incomplete);

/* a * 2^n (FSCALE), rounded under env only on overflow or underflow. */
struct sf_f80 sf_f80_scale(struct sf_env *env, struct sf_f80 a, int32_t n);

/* Rounds sign * sig / 2^127 * 2^exp (sig = hi:lo, bit 127 set, lo's low bit sticky) to float80
 * under env: for results computed elsewhere at higher precision. */
struct sf_f80 sf_f80_round_pack(struct sf_env *env, bool sign, int32_t exp, uint64_t hi, uint64_t lo);

/* Comparisons: quiet ones raise IE for SNaN only, signaling ones for every NaN. */
enum sf_relation sf_f32_compare(struct sf_env *env, sf_f32 a, sf_f32 b, bool quiet);
enum sf_relation sf_f64_compare(struct sf_env *env, sf_f64 a, sf_f64 b, bool quiet);
enum sf_relation sf_f80_compare(struct sf_env *env, struct sf_f80 a, struct sf_f80 b, bool quiet);

/* Conversions between the formats (narrowing rounds under env; an SNaN becomes quiet, IE). */
sf_f64 sf_f32_to_f64(struct sf_env *env, sf_f32 a);
sf_f32 sf_f64_to_f32(struct sf_env *env, sf_f64 a);
struct sf_f80 sf_f32_to_f80(struct sf_env *env, sf_f32 a);
struct sf_f80 sf_f64_to_f80(struct sf_env *env, sf_f64 a);
sf_f32 sf_f80_to_f32(struct sf_env *env, struct sf_f80 a);
sf_f64 sf_f80_to_f64(struct sf_env *env, struct sf_f80 a);

/* To a signed integer of 16, 32 or 64 bits, rounding in env->round or truncating; NaN,
 * infinity and out-of-range give the integer indefinite (only the top bit set) and IE. */
int64_t sf_f32_to_int(struct sf_env *env, sf_f32 a, unsigned bits, bool truncate);
int64_t sf_f64_to_int(struct sf_env *env, sf_f64 a, unsigned bits, bool truncate);
int64_t sf_f80_to_int(struct sf_env *env, struct sf_f80 a, unsigned bits, bool truncate);

/* From a signed integer (float32/float64 round under env; float80 is exact). */
sf_f32 sf_int_to_f32(struct sf_env *env, int64_t n);
sf_f64 sf_int_to_f64(struct sf_env *env, int64_t n);
struct sf_f80 sf_int_to_f80(int64_t n);

#endif
