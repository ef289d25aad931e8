/* x87 data movement without arithmetic: loads of constants and integers, stores of
 * integers with the rounding control, register moves, exchanges and stack control.
 * Registers are kept as FXSAVE keeps them: st[i] is ST(i), ftw bit p tags physical p. */
#include <string.h>

#include "private.h"
#include "x87.h"

enum {
	FSW_IE = 1 << 0,
	FSW_PE = 1 << 5,
	FSW_SF = 1 << 6,
	FSW_ES = 1 << 7,
	FSW_C1 = 1 << 9,
	FSW_B = 1 << 15,
	FSW_EXC = 0x3f,
};

struct f80 {
	uint64_t mant;
	uint16_t se; /* sign and 15-bit exponent */
};

static unsigned top_of(const struct x86_fpu *f)
{
	return (f->fsw >> 11) & 7;
}

static void set_top(struct x86_fpu *f, unsigned top)
{
	f->fsw = (uint16_t)((f->fsw & ~0x3800) | ((top & 7) << 11));
}

static bool st_empty(const struct x86_fpu *f, unsigned i)
{
	return !(f->ftw & (1u << ((top_of(f) + i) & 7)));
}

static struct f80 st_get(const struct x86_fpu *f, unsigned i)
{
	struct f80 v;
	memcpy(&v.mant, f->st[i], 8);
	memcpy(&v.se, f->st[i] + 8, 2);
	return v;
}

static void st_put(struct x86_fpu *f, unsigned i, struct f80 v)
{
	memset(f->st[i], 0, 16);
	memcpy(f->st[i], &v.mant, 8);
	memcpy(f->st[i] + 8, &v.se, 2);
	f->ftw |= (uint8_t)(1u << ((top_of(f) + i) & 7));
}

/* The QNaN "real indefinite" a masked invalid operation produces. */
static const struct f80 indefinite = {0xc000000000000000ull, 0xffff};

/* Rotates the ST(i) view by one slot: the physical registers stay where they are. */
static void rotate_down(struct x86_fpu *f)
{
	uint8_t last[16];
	memcpy(last, f->st[7], 16);
	memmove(f->st[1], f->st[0], 7 * 16);
	memcpy(f->st[0], last, 16);
	set_top(f, top_of(f) - 1);
}

static void rotate_up(struct x86_fpu *f)
{
	uint8_t first[16];
	memcpy(first, f->st[0], 16);
	memmove(f->st[0], f->st[1], 7 * 16);
	memcpy(f->st[7], first, 16);
	set_top(f, top_of(f) + 1);
}

/* Raises the exception flags; true when one of them is unmasked (ES and B then set). */
static bool x87_flag(struct x86_fpu *f, uint16_t flags)
{
	f->fsw |= flags;
	if (flags & FSW_EXC & ~f->fcw) {
		f->fsw |= FSW_ES | FSW_B;
		return true;
	}
	return false;
}

/* Stack fault: IE and SF, C1 = 1 for overflow, 0 for underflow. */
static bool stack_fault(struct x86_fpu *f, bool overflow)
{
	f->fsw = (uint16_t)((f->fsw & ~FSW_C1) | (overflow ? FSW_C1 : 0));
	return x87_flag(f, FSW_IE | FSW_SF);
}

static void pop(struct x86_fpu *f)
{
	f->ftw &= (uint8_t) ~(1u << top_of(f));
	rotate_up(f);
}

/* FLD-style push; a full stack loads the indefinite (masked) or leaves all unchanged. */
static void push(struct x86_fpu *f, struct f80 v)
{
	if (!st_empty(f, 7)) {
		if (stack_fault(f, true))
			return;
		v = indefinite;
	} else {
		f->fsw &= ~FSW_C1;
	}
	rotate_down(f);
	st_put(f, 0, v);
}

static struct f80 from_int(int64_t n)
{
	struct f80 v = {0, 0};
	if (!n)
		return v;
	uint64_t mag = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
	unsigned lz = (unsigned)__builtin_clzll(mag);
	v.mant = mag << lz;
	v.se = (uint16_t)((n < 0 ? 0x8000 : 0) | (16383 + 63 - lz));
	return v;
}

/* ST(0) to a signed integer of `bits` under FCW.RC; false for an invalid operation. */
static bool to_int(struct x86_fpu *f, struct f80 v, unsigned bits, int64_t *out)
{
	bool neg = v.se >> 15;
	unsigned exp = v.se & 0x7fff;
	unsigned rc = (f->fcw >> 10) & 3;
	uint64_t mag, rest = 0, half = 0;
	bool inexact;

	if (exp == 0x7fff || (exp && !(v.mant >> 63)))
		return false; /* infinity, NaN, pseudo-denormal forms: invalid */
	int shift = (int)exp - 16383 - 63;
	if (!exp)
		shift = 1 - 16383 - 63;
	if (shift >= 0) {
		if (v.mant && shift > 0)
			return false; /* at least 2^64 */
		mag = v.mant;
	} else if (shift <= -65) {
		mag = 0;
		rest = v.mant ? 1 : 0; /* far below one half */
		half = 2;
	} else {
		unsigned r = (unsigned)-shift;
		mag = r == 64 ? 0 : v.mant >> r;
		rest = r == 64 ? v.mant : v.mant & ((1ull << r) - 1);
		half = 1ull << (r - 1);
	}
	inexact = rest != 0;
	bool up = false;
	if (inexact) {
		if (rc == 0)
			up = rest > half || (rest == half && (mag & 1));
		else if (rc == 1)
			up = neg;
		else if (rc == 2)
			up = !neg;
	}
	if (up) {
		if (mag == UINT64_MAX)
			return false;
		mag++;
	}
	uint64_t limit = (bits == 64 ? 1ull << 63 : 1ull << (bits - 1)) - (neg ? 0 : 1);
	if (mag > limit)
		return false;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	if (inexact) {
		f->fsw = (uint16_t)((f->fsw & ~FSW_C1) | (up ? FSW_C1 : 0));
		x87_flag(f, FSW_PE);
	} else {
		f->fsw &= ~FSW_C1;
	}
	return true;
}

static void note_insn(struct emu_exec *x, bool mem)
{
	struct x86_fpu *f = &x->st->fpu;
	f->fop = (uint16_t)(((x->i->b & 7) << 8) | x->i->modrm);
	f->fip = x->st->rip;
	if (mem)
		f->fdp = x->i->ea;
}

/* FIST/FISTP m16/m32/m64. */
static enum emu_status fist(struct emu_exec *x, unsigned bits, bool do_pop)
{
	struct x86_fpu *f = &x->st->fpu, nf = *f;
	int64_t n = 0;
	bool unmasked;

	if (st_empty(&nf, 0)) {
		unmasked = stack_fault(&nf, false);
		n = INT64_MIN;
	} else if (!to_int(&nf, st_get(&nf, 0), bits, &n)) {
		nf.fsw &= ~FSW_C1;
		unmasked = x87_flag(&nf, FSW_IE);
		n = INT64_MIN;
	} else {
		unmasked = false; /* PE and DE never stop the store */
	}
	if (!unmasked || !(nf.fsw & FSW_IE)) {
		uint64_t raw = n == INT64_MIN ? 1ull << (bits - 1) : (uint64_t)n;
		EMU_TRY(emu_mem_write_u(x, x->i->ea_seg, x->i->ea, bits / 8, raw));
		if (do_pop)
			pop(&nf);
	}
	*f = nf;
	note_insn(x, true);
	return EMU_OK;
}

static enum emu_status fild(struct emu_exec *x, unsigned bits)
{
	uint64_t raw;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, bits / 8, &raw));
	int64_t n = bits == 16 ? (int16_t)raw : bits == 32 ? (int32_t)raw : (int64_t)raw;
	push(&x->st->fpu, from_int(n));
	note_insn(x, true);
	return EMU_OK;
}

static enum emu_status fld80(struct emu_exec *x)
{
	uint8_t b[10];
	struct f80 v;
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, b, 10));
	memcpy(&v.mant, b, 8);
	memcpy(&v.se, b + 8, 2);
	push(&x->st->fpu, v);
	note_insn(x, true);
	return EMU_OK;
}

static enum emu_status fstp80(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu, nf = *f;
	struct f80 v = st_get(&nf, 0);
	uint8_t b[10];
	if (st_empty(&nf, 0)) {
		if (stack_fault(&nf, false)) {
			*f = nf;
			note_insn(x, true);
			return EMU_OK;
		}
		v = indefinite;
	} else {
		nf.fsw &= ~FSW_C1;
	}
	memcpy(b, &v.mant, 8);
	memcpy(b + 8, &v.se, 2);
	EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, b, 10));
	pop(&nf);
	*f = nf;
	note_insn(x, true);
	return EMU_OK;
}

/* Register forms D9 C0-FF and DD C0-DF, DF C0-C7 (FFREEP). */
static enum emu_status reg_form(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, m = x->i->modrm, i = m & 7;
	static const struct f80 one = {1ull << 63, 16383}, zero = {0, 0};

	if (b == 0xd9 && m >= 0xc0 && m <= 0xc7) { /* FLD ST(i) */
		struct f80 v = st_get(f, i);
		if (st_empty(f, i)) {
			if (stack_fault(f, false))
				goto done;
			v = indefinite;
		}
		push(f, v);
	} else if (b == 0xd9 && m >= 0xc8 && m <= 0xcf) { /* FXCH ST(i) */
		bool e0 = st_empty(f, 0), ei = st_empty(f, i);
		if (e0 || ei) {
			if (stack_fault(f, false))
				goto done;
		} else {
			f->fsw &= ~FSW_C1;
		}
		struct f80 a = e0 ? indefinite : st_get(f, 0), c = ei ? indefinite : st_get(f, i);
		st_put(f, 0, c);
		st_put(f, i, a);
	} else if (b == 0xd9 && (m == 0xe0 || m == 0xe1)) { /* FCHS, FABS */
		if (st_empty(f, 0)) {
			if (stack_fault(f, false))
				goto done;
			st_put(f, 0, indefinite);
		} else {
			struct f80 v = st_get(f, 0);
			v.se = m == 0xe0 ? v.se ^ 0x8000 : v.se & 0x7fff;
			st_put(f, 0, v);
			f->fsw &= ~FSW_C1;
		}
	} else if (b == 0xd9 && (m == 0xe8 || m == 0xee)) { /* FLD1, FLDZ */
		push(f, m == 0xe8 ? one : zero);
	} else if (b == 0xd9 && (m == 0xf6 || m == 0xf7)) { /* FDECSTP, FINCSTP */
		if (m == 0xf6)
			rotate_down(f);
		else
			rotate_up(f);
		f->fsw &= ~FSW_C1;
	} else if ((b == 0xdd && m >= 0xd0 && m <= 0xdf)) { /* FST, FSTP ST(i) */
		if (st_empty(f, 0)) {
			if (stack_fault(f, false))
				goto done;
			st_put(f, i, indefinite);
		} else {
			st_put(f, i, st_get(f, 0));
			f->fsw &= ~FSW_C1;
		}
		if (m >= 0xd8)
			pop(f);
	} else if ((b == 0xdd || b == 0xdf) && m >= 0xc0 && m <= 0xc7) { /* FFREE, FFREEP */
		f->ftw &= (uint8_t) ~(1u << ((top_of(f) + i) & 7));
		if (b == 0xdf)
			pop(f);
	} else {
		return EMU_UNIMPLEMENTED;
	}
done:
	note_insn(x, false);
	return EMU_OK;
}

enum emu_status emu_x87(struct emu_exec *x)
{
	unsigned b = x->i->b, op = (x->i->modrm >> 3) & 7;
	struct x86_fpu *f = &x->st->fpu;

	/* A waiting instruction first reports an unmasked exception left pending. */
	if (f->fsw & FSW_ES) {
		if (!(x->st->cr0 & X86_CR0_NE))
			return EMU_UNIMPLEMENTED; /* FERR# to the interrupt controller: not modelled */
		return emu_raise(x, EMU_MF, false, 0);
	}
	if (x->i->mod == 3)
		return reg_form(x);
	switch (b) {
	case 0xdf:
		return op == 0              ? fild(x, 16)
		       : op == 5            ? fild(x, 64)
		       : op == 2 || op == 3 ? fist(x, 16, op == 3)
		       : op == 7            ? fist(x, 64, true)
		                            : EMU_UNIMPLEMENTED;
	case 0xdb:
		return op == 0              ? fild(x, 32)
		       : op == 2 || op == 3 ? fist(x, 32, op == 3)
		       : op == 5            ? fld80(x)
		       : op == 7            ? fstp80(x)
		                            : EMU_UNIMPLEMENTED;
	default:
		return EMU_UNIMPLEMENTED;
	}
}
