/* Integer arithmetic with exact RFLAGS in portable C. Undefined flags follow
 * what the reference host (Intel Xeon, family 6 model 0xcf) leaves, as measured
 * by tests/test_native_sweep.c, which checks every function against the CPU:
 *   AND OR XOR TEST        AF cleared
 *   shifts, SHLD/SHRD      AF cleared; OF from the first one-bit step at any count
 *                          (SHR: MSB of the source; SAR: 0); CF 0 once the count passes the width
 *   C0/C1 ROL/ROR ib       OF unchanged for counts above 1 (CL forms write it)
 *   RCL/RCR by 9k / 17k    nothing changes, flags included
 *   MUL IMUL               SF and PF from the low half, ZF and AF cleared
 *   DIV IDIV               all flags unchanged
 *   DAA DAS                OF cleared; AAA AAS: OF cleared, SF ZF PF from the final AL
 *   AAM                    OF AF CF cleared; AAD: the flags of the 8-bit add AL + AH * base
 *   BT BTS BTR BTC         only CF written
 *   BSF BSR                CF OF SF AF cleared, PF from the index (set for a zero source)
 *   TZCNT LZCNT            OF SF AF PF cleared
 *   16-bit BSWAP           result 0 */
#include "alu.h"

#define F_CF    0x001ull
#define F_PF    0x004ull
#define F_AF    0x010ull
#define F_ZF    0x040ull
#define F_SF    0x080ull
#define F_OF    0x800ull
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

static uint64_t width_mask(unsigned width)
{
	return width >= 8 ? ~0ull : (1ull << (8 * width)) - 1;
}

static uint64_t width_msb(unsigned width)
{
	return 1ull << (8 * width - 1);
}

static int64_t sext(unsigned width, uint64_t v)
{
	uint64_t m = width_mask(width), s = width_msb(width);

	v &= m;
	return (int64_t)((v ^ s) - s);
}

static uint64_t bit_if(bool cond, uint64_t flag)
{
	return cond ? flag : 0;
}

static void set_flags(uint64_t *rflags, uint64_t mask, uint64_t value)
{
	*rflags = (*rflags & ~mask) | (value & mask);
}

static uint64_t parity_flag(uint64_t result)
{
	return bit_if(!(__builtin_popcount((unsigned)(result & 0xff)) & 1), F_PF);
}

uint64_t alu_szp(unsigned width, uint64_t result)
{
	result &= width_mask(width);
	return bit_if(result == 0, F_ZF) | bit_if(result & width_msb(width), F_SF) | parity_flag(result);
}

static uint64_t add_flags(unsigned width, uint64_t a, uint64_t b, uint64_t r, bool cf)
{
	uint64_t s = width_msb(width);

	return alu_szp(width, r) | bit_if(cf, F_CF) | ((a ^ b ^ r) & F_AF) |
	       bit_if((a ^ r) & (b ^ r) & s, F_OF);
}

static uint64_t sub_flags(unsigned width, uint64_t a, uint64_t b, uint64_t r, bool cf)
{
	uint64_t s = width_msb(width);

	return alu_szp(width, r) | bit_if(cf, F_CF) | ((a ^ b ^ r) & F_AF) |
	       bit_if((a ^ b) & (a ^ r) & s, F_OF);
}

uint64_t alu_binop(enum alu_binop op, unsigned width, uint64_t a, uint64_t b, uint64_t *rflags)
{
	uint64_t m = width_mask(width), r, c = *rflags & F_CF;

	a &= m;
	b &= m;
	switch (op) {
	case ALU_ADD:
		r = (a + b) & m;
		set_flags(rflags, F_ARITH, add_flags(width, a, b, r, r < a));
		return r;
	case ALU_ADC:
		r = (a + b + c) & m;
		set_flags(rflags, F_ARITH, add_flags(width, a, b, r, c ? r <= a : r < a));
		return r;
	case ALU_SUB:
	case ALU_CMP:
		r = (a - b) & m;
		set_flags(rflags, F_ARITH, sub_flags(width, a, b, r, a < b));
		return op == ALU_CMP ? a : r;
	case ALU_SBB:
		r = (a - b - c) & m;
		set_flags(rflags, F_ARITH, sub_flags(width, a, b, r, c ? a <= b : a < b));
		return r;
	case ALU_AND:
	case ALU_TEST:
		r = a & b;
		break;
	case ALU_OR:
		r = a | b;
		break;
	case ALU_XOR:
		r = a ^ b;
		break;
	default:
		return a;
	}
	/* Intel clears AF after the logical operations. */
	set_flags(rflags, F_ARITH, alu_szp(width, r));
	return op == ALU_TEST ? a : r;
}

uint64_t alu_unop(enum alu_unop op, unsigned width, uint64_t a, uint64_t *rflags)
{
	uint64_t m = width_mask(width), r;

	a &= m;
	switch (op) {
	case ALU_NOT:
		return ~a & m;
	case ALU_NEG:
		r = (0 - a) & m;
		set_flags(rflags, F_ARITH, sub_flags(width, 0, a, r, a != 0));
		return r;
	case ALU_INC:
		r = (a + 1) & m;
		set_flags(rflags, F_ARITH & ~F_CF, add_flags(width, a, 1, r, false));
		return r;
	case ALU_DEC:
		r = (a - 1) & m;
		set_flags(rflags, F_ARITH & ~F_CF, sub_flags(width, a, 1, r, false));
		return r;
	}
	return a;
}

/* Bit n of v, 0 when n is outside 0..63. */
static uint64_t bit_at(uint64_t v, unsigned n)
{
	return n < 64 ? (v >> n) & 1 : 0;
}

static uint64_t shl64(uint64_t v, unsigned n)
{
	return n < 64 ? v << n : 0;
}

static uint64_t shr64(uint64_t v, unsigned n)
{
	return n < 64 ? v >> n : 0;
}

static unsigned count_mask(unsigned width)
{
	return width == 8 ? 63 : 31;
}

/* Intel computes OF of a multi-bit shift or rotate from its first one-bit step. */
static uint64_t shift_of(enum alu_shiftop op, unsigned width, uint64_t a, uint64_t cin)
{
	uint64_t top = (a >> (8 * width - 1)) & 1, next = (a >> (8 * width - 2)) & 1;

	switch (op) {
	case ALU_ROL:
	case ALU_RCL:
	case ALU_SHL:
	case ALU_SAL:
		return bit_if(top ^ next, F_OF);
	case ALU_ROR:
		return bit_if(top ^ (a & 1), F_OF);
	case ALU_RCR:
		return bit_if(top ^ cin, F_OF);
	case ALU_SHR:
		return bit_if(top, F_OF);
	case ALU_SAR:
		break;
	}
	return 0;
}

static uint64_t shift_core(enum alu_shiftop op, unsigned width, uint64_t a, unsigned c, uint64_t *rflags)
{
	unsigned bits = 8 * width;
	uint64_t m = width_mask(width), s = width_msb(width), r, cf, cin = *rflags & F_CF;
	uint64_t of = shift_of(op, width, a, cin);

	switch (op) {
	case ALU_ROL: {
		unsigned n = c % bits;

		r = n ? ((a << n) | (a >> (bits - n))) & m : a;
		set_flags(rflags, F_CF | F_OF, (r & 1) | of);
		return r;
	}
	case ALU_ROR: {
		unsigned n = c % bits;

		r = n ? ((a >> n) | (a << (bits - n))) & m : a;
		set_flags(rflags, F_CF | F_OF, bit_if(r & s, F_CF) | of);
		return r;
	}
	case ALU_RCL: {
		unsigned n = width <= 2 ? c % (bits + 1) : c;

		/* A count that is a multiple of 9 or 17 changes nothing, flags included. */
		if (n == 0)
			return a;
		/* Rotate the (bits+1)-bit value CF:a left by n. */
		r = (shl64(a, n) | shl64(cin, n - 1) | shr64(a, bits + 1 - n)) & m;
		set_flags(rflags, F_CF | F_OF, bit_at(a, bits - n) | of);
		return r;
	}
	case ALU_RCR: {
		unsigned n = width <= 2 ? c % (bits + 1) : c;

		if (n == 0)
			return a;
		r = (shr64(a, n) | shl64(cin, bits - n) | shl64(a, bits + 1 - n)) & m;
		set_flags(rflags, F_CF | F_OF, bit_at(a, n - 1) | of);
		return r;
	}
	case ALU_SHL:
	case ALU_SAL:
		r = shl64(a, c) & m;
		cf = c <= bits ? bit_at(a, bits - c) : 0;
		break;
	case ALU_SHR:
		r = shr64(a, c);
		cf = bit_at(a, c - 1);
		break;
	case ALU_SAR: {
		/* Arithmetic shift written without relying on signed right shifts. */
		uint64_t fill = (a & s) ? ~0ull : 0;

		r = c >= bits ? fill & m : ((a >> c) | (fill << (bits - c))) & m;
		cf = c <= bits ? bit_at(a, c - 1) : fill & 1;
		break;
	}
	default:
		return a;
	}
	/* AF is cleared by every shift (Intel). */
	set_flags(rflags, F_ARITH, alu_szp(width, r) | cf | of);
	return r;
}

uint64_t alu_shift(enum alu_shiftop op, unsigned width, uint64_t a, uint64_t count, uint64_t *rflags)
{
	unsigned c = (unsigned)(count & count_mask(width));

	a &= width_mask(width);
	if (c == 0)
		return a;
	return shift_core(op, width, a, c, rflags);
}

uint64_t alu_shift_imm(enum alu_shiftop op, unsigned width, uint64_t a, uint64_t count, uint64_t *rflags)
{
	uint64_t of = *rflags & F_OF, r = alu_shift(op, width, a, count, rflags);
	unsigned c = (unsigned)(count & count_mask(width));

	/* Measured: the immediate forms of ROL/ROR by more than 1 do not write OF; the CL forms do. */
	if ((op == ALU_ROL || op == ALU_ROR) && c > 1)
		set_flags(rflags, F_OF, of);
	return r;
}

uint64_t alu_shld(unsigned width, uint64_t a, uint64_t b, uint64_t count, uint64_t *rflags)
{
	unsigned c = (unsigned)(count & count_mask(width)), bits = 8 * width;
	uint64_t m = width_mask(width), s = width_msb(width), r, cf;

	a &= m;
	b &= m;
	if (c == 0)
		return a;
	if (width == 2) {
		/* Counts above 16 shift the 48-bit a:b:a, as the host does. */
		uint64_t v = (a << 32) | (b << 16) | a;

		r = (v << c >> 32) & m;
		cf = (v >> (48 - c)) & 1;
	} else {
		r = (shl64(a, c) | shr64(b, bits - c)) & m;
		cf = bit_at(a, bits - c);
	}
	/* OF from the first one-bit step, as for the other shifts. */
	set_flags(rflags, F_ARITH, alu_szp(width, r) | cf | bit_if(!!(a & s) ^ !!(a & (s >> 1)), F_OF));
	return r;
}

uint64_t alu_shrd(unsigned width, uint64_t a, uint64_t b, uint64_t count, uint64_t *rflags)
{
	unsigned c = (unsigned)(count & count_mask(width)), bits = 8 * width;
	uint64_t m = width_mask(width), s = width_msb(width), r, cf;

	a &= m;
	b &= m;
	if (c == 0)
		return a;
	if (width == 2) {
		/* Counts above 16 shift the 48-bit a:b:a, as the host does. */
		uint64_t v = (a << 32) | (b << 16) | a;

		r = (v >> c) & m;
		cf = (v >> (c - 1)) & 1;
	} else {
		r = (shr64(a, c) | shl64(b, bits - c)) & m;
		cf = bit_at(a, c - 1);
	}
	set_flags(rflags, F_ARITH, alu_szp(width, r) | cf | bit_if(!!(a & s) ^ (b & 1), F_OF));
	return r;
}

/* 64x64 -> 128 unsigned multiply without compiler extensions. */
static void mul_u64(uint64_t a, uint64_t b, uint64_t *lo, uint64_t *hi)
{
	uint64_t al = a & 0xffffffff, ah = a >> 32, bl = b & 0xffffffff, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);

	*lo = (ll & 0xffffffff) | (mid << 32);
	*hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

/* Full product of two width-sized values into hi:lo halves of that width. */
static void mul_full(bool is_signed, unsigned width, uint64_t a, uint64_t b, uint64_t *lo, uint64_t *hi)
{
	uint64_t m = width_mask(width);

	if (width == 8) {
		uint64_t l, h;

		mul_u64(a, b, &l, &h);
		/* Signed high half: subtract b when a < 0 and a when b < 0. */
		if (is_signed) {
			if (a >> 63)
				h -= b;
			if (b >> 63)
				h -= a;
		}
		*lo = l;
		*hi = h;
		return;
	}
	uint64_t p = is_signed ? (uint64_t)(sext(width, a) * sext(width, b)) : (a & m) * (b & m);

	*lo = p & m;
	*hi = (p >> (8 * width)) & m;
}

static uint64_t mul_flags(unsigned width, uint64_t lo, bool overflow)
{
	/* SF ZF PF come from the low half; AF is cleared (Intel). */
	return (alu_szp(width, lo) & (F_SF | F_PF)) | bit_if(overflow, F_CF | F_OF);
}

void alu_mul(bool is_signed, unsigned width, uint64_t a, uint64_t b, uint64_t *lo, uint64_t *hi,
             uint64_t *rflags)
{
	uint64_t m = width_mask(width);
	bool ovf;

	a &= m;
	b &= m;
	mul_full(is_signed, width, a, b, lo, hi);
	if (is_signed)
		ovf = *hi != ((*lo & width_msb(width)) ? m : 0);
	else
		ovf = *hi != 0;
	set_flags(rflags, F_ARITH, mul_flags(width, *lo, ovf));
}

uint64_t alu_imul(unsigned width, uint64_t a, uint64_t b, uint64_t *rflags)
{
	uint64_t lo, hi;

	alu_mul(true, width, a, b, &lo, &hi, rflags);
	return lo;
}

/* Unsigned hi:lo / d for 64-bit halves; false when the quotient needs more than 64 bits. */
static bool div_u128(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *q, uint64_t *r)
{
	uint64_t rem = hi, quo = 0;

	if (d == 0 || hi >= d)
		return false;
	for (int i = 63; i >= 0; i--) {
		uint64_t top = rem >> 63;

		rem = (rem << 1) | ((lo >> i) & 1);
		quo <<= 1;
		if (top || rem >= d) {
			rem -= d;
			quo |= 1;
		}
	}
	*q = quo;
	*r = rem;
	return true;
}

bool alu_div(bool is_signed, unsigned width, uint64_t hi, uint64_t lo, uint64_t divisor, uint64_t *quot,
             uint64_t *rem, uint64_t *rflags)
{
	uint64_t m = width_mask(width), s = width_msb(width), q, r;
	unsigned bits = 8 * width;

	hi &= m;
	lo &= m;
	divisor &= m;
	if (divisor == 0)
		return false;
	if (!is_signed) {
		if (width == 8) {
			if (!div_u128(hi, lo, divisor, &q, &r))
				return false;
		} else {
			uint64_t n = (hi << bits) | lo;

			q = n / divisor;
			r = n % divisor;
			if (q > m)
				return false;
		}
	} else {
		bool nneg = hi & s, dneg = divisor & s;
		uint64_t nhi = hi, nlo = lo, dabs = dneg ? (0 - divisor) & m : divisor;

		if (nneg) {
			/* Negate the double-width dividend. */
			nlo = (0 - lo) & m;
			nhi = (~hi + (lo == 0)) & m;
		}
		if (width == 8) {
			if (!div_u128(nhi, nlo, dabs, &q, &r))
				return false;
		} else {
			uint64_t n = (nhi << bits) | nlo;

			q = n / dabs;
			r = n % dabs;
		}
		/* The magnitude must fit the signed range of the quotient's sign. */
		if (nneg != dneg) {
			if (q > s)
				return false;
			q = (0 - q) & m;
		} else if (q >= s) {
			return false;
		}
		if (nneg)
			r = (0 - r) & m;
	}
	*quot = q & m;
	*rem = r & m;
	/* The host leaves every flag as it was. */
	(void)rflags;
	return true;
}

uint16_t alu_bcd(enum alu_bcdop op, uint16_t ax, uint64_t *rflags)
{
	uint8_t al = ax & 0xff, old_al = al;
	bool cf = *rflags & F_CF, af = *rflags & F_AF;
	uint64_t fl;

	switch (op) {
	case ALU_DAA: {
		bool ncf = false, naf = false;

		if ((al & 0x0f) > 9 || af) {
			ncf = cf || al > 0xf9;
			al += 6;
			naf = true;
		}
		if (old_al > 0x99 || cf) {
			al += 0x60;
			ncf = true;
		}
		fl = alu_szp(1, al) | bit_if(ncf, F_CF) | bit_if(naf, F_AF);
		set_flags(rflags, F_ARITH, fl);
		return (uint16_t)((ax & 0xff00) | al);
	}
	case ALU_DAS: {
		bool ncf = false, naf = false;

		if ((al & 0x0f) > 9 || af) {
			ncf = cf || al < 6;
			al -= 6;
			naf = true;
		}
		if (old_al > 0x99 || cf) {
			al -= 0x60;
			ncf = true;
		}
		fl = alu_szp(1, al) | bit_if(ncf, F_CF) | bit_if(naf, F_AF);
		set_flags(rflags, F_ARITH, fl);
		return (uint16_t)((ax & 0xff00) | al);
	}
	case ALU_AAA:
	case ALU_AAS: {
		bool adj = (al & 0x0f) > 9 || af;

		if (adj)
			ax = op == ALU_AAA ? (uint16_t)(ax + 0x106) : (uint16_t)(ax - 0x106);
		ax &= 0xff0f;
		fl = alu_szp(1, ax & 0xff) | bit_if(adj, F_CF | F_AF);
		set_flags(rflags, F_ARITH, fl);
		return ax;
	}
	}
	return ax;
}

bool alu_aam(uint16_t ax, uint8_t base, uint16_t *out, uint64_t *rflags)
{
	uint8_t al = ax & 0xff;

	if (base == 0)
		return false;
	*out = (uint16_t)(((al / base) << 8) | (al % base));
	set_flags(rflags, F_ARITH, alu_szp(1, al % base));
	return true;
}

uint16_t alu_aad(uint16_t ax, uint8_t base, uint64_t *rflags)
{
	uint8_t al = ax & 0xff, t = (uint8_t)((ax >> 8) * base), r = (uint8_t)(al + t);

	/* Intel sets the flags of the 8-bit addition AL + AH * base. */
	set_flags(rflags, F_ARITH, add_flags(1, al, t, r, r < al));
	return r;
}

uint64_t alu_bitop(enum alu_bitop op, unsigned width, uint64_t value, unsigned bit, uint64_t *rflags)
{
	uint64_t m = width_mask(width), b = 1ull << (bit % (8 * width));

	value &= m;
	set_flags(rflags, F_CF, bit_if(value & b, F_CF));
	switch (op) {
	case ALU_BT:
		return value;
	case ALU_BTS:
		return value | b;
	case ALU_BTR:
		return value & ~b;
	case ALU_BTC:
		return value ^ b;
	}
	return value;
}

uint64_t alu_scan(enum alu_scanop op, unsigned width, uint64_t src, uint64_t dst, uint64_t *rflags)
{
	unsigned bits = 8 * width;
	uint64_t m = width_mask(width), r;

	src &= m;
	dst &= m;
	switch (op) {
	case ALU_BSF:
	case ALU_BSR:
		/* Intel: CF OF SF AF cleared, PF from the index (from 0 on a zero source). */
		if (src == 0) {
			set_flags(rflags, F_ARITH, F_ZF | F_PF);
			return dst;
		}
		r = op == ALU_BSF ? (uint64_t)__builtin_ctzll(src) : (uint64_t)(63 - __builtin_clzll(src));
		set_flags(rflags, F_ARITH, parity_flag(r));
		return r;
	case ALU_TZCNT:
	case ALU_LZCNT:
		if (src == 0)
			r = bits;
		else if (op == ALU_TZCNT)
			r = (uint64_t)__builtin_ctzll(src);
		else
			r = (uint64_t)(__builtin_clzll(src) - (64 - (int)bits));
		/* Intel: OF SF AF PF cleared. */
		set_flags(rflags, F_ARITH, bit_if(src == 0, F_CF) | bit_if(r == 0, F_ZF));
		return r;
	case ALU_POPCNT:
		r = (uint64_t)__builtin_popcountll(src);
		set_flags(rflags, F_ARITH, bit_if(src == 0, F_ZF));
		return r;
	}
	return dst;
}

bool alu_scan_writes(enum alu_scanop op, unsigned width, uint64_t src)
{
	return !((op == ALU_BSF || op == ALU_BSR) && (src & width_mask(width)) == 0);
}

uint64_t alu_bswap(unsigned width, uint64_t a)
{
	uint64_t r = 0;

	/* 16-bit BSWAP is undefined; Intel silicon writes zero to the low 16 bits. */
	if (width == 2)
		return 0;
	for (unsigned i = 0; i < width; i++)
		r |= ((a >> (8 * i)) & 0xff) << (8 * (width - 1 - i));
	return r;
}

uint64_t alu_undefined(enum alu_family family)
{
	switch (family) {
	case ALU_FAM_NONE:
		return 0;
	case ALU_FAM_LOGIC:
	case ALU_FAM_SHIFT_1:
		return F_AF;
	case ALU_FAM_SHIFT_N:
		return F_AF | F_OF;
	case ALU_FAM_ROTATE_N:
		return F_OF;
	case ALU_FAM_SHxD:
		return F_AF | F_OF;
	case ALU_FAM_MUL:
		return F_SF | F_ZF | F_AF | F_PF;
	case ALU_FAM_DIV:
		return F_ARITH;
	case ALU_FAM_BCD_ADJ:
	case ALU_FAM_AAA_AAS:
		return F_OF | F_SF | F_ZF | F_PF;
	case ALU_FAM_DAA_DAS:
		return F_OF;
	case ALU_FAM_SHIFT_WIDE:
		return F_CF | F_OF | F_AF;
	case ALU_FAM_SHxD_WIDE:
		return F_ARITH;
	case ALU_FAM_AAM_AAD:
		return F_OF | F_AF | F_CF;
	case ALU_FAM_BIT_TEST:
		return F_OF | F_SF | F_AF | F_PF;
	case ALU_FAM_BSF_BSR:
		return F_CF | F_OF | F_SF | F_AF | F_PF;
	case ALU_FAM_TZCNT_LZCNT:
		return F_OF | F_SF | F_AF | F_PF;
	}
	return 0;
}

enum alu_family alu_shift_family(enum alu_shiftop op, unsigned width, uint64_t count)
{
	unsigned c = (unsigned)(count & count_mask(width)), bits = 8 * width;

	if (c == 0)
		return ALU_FAM_NONE;
	switch (op) {
	case ALU_ROL:
	case ALU_ROR:
		return c == 1 ? ALU_FAM_NONE : ALU_FAM_ROTATE_N;
	case ALU_RCL:
	case ALU_RCR:
		/* By a multiple of 9 or 17 Intel changes no flag, AMD still writes OF: undefined either way.
		 */
		return c == 1 ? ALU_FAM_NONE : ALU_FAM_ROTATE_N;
	case ALU_SHL:
	case ALU_SAL:
	case ALU_SHR:
		if (c >= bits)
			return ALU_FAM_SHIFT_WIDE;
		break;
	case ALU_SAR:
		break;
	}
	return c == 1 ? ALU_FAM_SHIFT_1 : ALU_FAM_SHIFT_N;
}

enum alu_family alu_shxd_family(unsigned width, uint64_t count)
{
	unsigned c = (unsigned)(count & count_mask(width));

	if (c == 0)
		return ALU_FAM_NONE;
	if (c > 8 * width)
		return ALU_FAM_SHxD_WIDE;
	return c == 1 ? ALU_FAM_SHIFT_1 : ALU_FAM_SHxD;
}
