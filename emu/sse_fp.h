/* Scalar float lanes for the SSE files: x86 NaN rules, DAZ, FTZ and the MXCSR flags around the
 * soft-float core's rounded arithmetic. Values are raw bits; w is 4 (single) or 8 (double). */
#ifndef EMUDIFF_EMU_SSE_FP_H
#define EMUDIFF_EMU_SSE_FP_H

#include <stdbool.h>
#include <stdint.h>

/* MXCSR bits. */
#define MX_IE  0x0001u
#define MX_DE  0x0002u
#define MX_ZE  0x0004u
#define MX_OE  0x0008u
#define MX_UE  0x0010u
#define MX_PE  0x0020u
#define MX_DAZ 0x0040u
#define MX_UM  0x0800u
#define MX_FZ  0x8000u

/* One instruction's float environment: MXCSR on entry and the flags its lanes raised. */
struct fp_env {
	uint32_t mxcsr;
	unsigned flags;
	unsigned done; /* flags of the earlier stages of a multi-step instruction */
};

enum { FP_ADD, FP_SUB, FP_MUL, FP_DIV };

bool fp_is_nan(uint64_t v, unsigned w);
bool fp_is_snan(uint64_t v, unsigned w);
/* All ones in a lane: a true comparison. */
uint64_t fp_ones(unsigned w);
/* A denormal becomes a signed zero under DAZ, with no flag. */
uint64_t fp_daz(const struct fp_env *e, uint64_t v, unsigned w);
/* An input operand: a denormal becomes a signed zero under DAZ, else raises DE. */
uint64_t fp_input(struct fp_env *e, uint64_t v, unsigned w);
/* Ordered comparison of two non-NaN values: -1, 0 or 1. */
int fp_compare(uint64_t a, uint64_t b, unsigned w);

uint64_t fp_arith(struct fp_env *e, unsigned op, uint64_t a, uint64_t b, unsigned w);
uint64_t fp_sqrt(struct fp_env *e, uint64_t v, unsigned w);
uint64_t fp_rcp(struct fp_env *e, uint64_t v, unsigned w);
uint64_t fp_rsqrt(struct fp_env *e, uint64_t v, unsigned w);
/* ROUND*: to an integral value in rounding mode rc (MXCSR.RC encoding). */
uint64_t fp_round_int(struct fp_env *e, uint64_t v, unsigned w, unsigned rc);
/* CVTSI2SS and friends: a signed integer to format w, rounded by MXCSR.RC. */
uint64_t fp_from_int(struct fp_env *e, int64_t v, unsigned w);
/* CVT(T)SS2SI and friends: to a signed integer of iw bytes; out of range or NaN: the integer indefinite. */
uint64_t fp_to_int(struct fp_env *e, uint64_t v, unsigned w, unsigned iw, bool truncate);
/* CVTSS2SD, CVTSD2SS. */
uint64_t fp_convert_float(struct fp_env *e, uint64_t v, unsigned from, unsigned to);

#endif
