/* The x87 unit: data movement, arithmetic, compares, integer and BCD conversions, the
 * environment, on the soft-float core. Registers are kept as FXSAVE keeps them: st[i] is
 * ST(i), ftw bit p tags physical register p. Every instruction works on a copy of the unit
 * that is committed only once no memory access can fault any more. */
#include <string.h>

#include "private.h"
#include "x87.h"

enum {
	FSW_IE = 1 << 0,
	FSW_DE = 1 << 1,
	FSW_ZE = 1 << 2,
	FSW_SF = 1 << 6,
	FSW_ES = 1 << 7,
	FSW_C0 = 1 << 8,
	FSW_C1 = 1 << 9,
	FSW_C2 = 1 << 10,
	FSW_C3 = 1 << 14,
	FSW_B = 1 << 15,
	FSW_EXC = 0x3f,
	FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3,
	PRE_EXC = SF_IE | SF_DE | SF_ZE, /* found before the result exists: nothing is written */
	FCW_FIXED = 1 << 6,              /* reserved, reads as one */
};

/* The QNaN "real indefinite" a masked invalid operation produces. */
static const struct sf_f80 indefinite = {0xc000000000000000ull, 0xffff};

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

static struct sf_f80 st_get(const struct x86_fpu *f, unsigned i)
{
	struct sf_f80 v;
	memcpy(&v.mant, f->st[i], 8);
	memcpy(&v.se, f->st[i] + 8, 2);
	return v;
}

static void st_put(struct x86_fpu *f, unsigned i, struct sf_f80 v)
{
	memset(f->st[i], 0, 16);
	memcpy(f->st[i], &v.mant, 8);
	memcpy(f->st[i] + 8, &v.se, 2);
	f->ftw |= (uint8_t)(1u << ((top_of(f) + i) & 7));
}

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
static bool x87_flag(struct x86_fpu *f, unsigned flags)
{
	f->fsw |= (uint16_t)flags;
	if (flags & FSW_EXC & ~f->fcw) {
		f->fsw |= FSW_ES | FSW_B;
		return true;
	}
	return false;
}

static void set_c1(struct x86_fpu *f, bool on)
{
	f->fsw = (uint16_t)((f->fsw & ~FSW_C1) | (on ? FSW_C1 : 0));
}

/* Stack fault: IE and SF, C1 = 1 for overflow, 0 for underflow; true when IE is unmasked. */
static bool stack_fault(struct x86_fpu *f, bool overflow)
{
	set_c1(f, overflow);
	return x87_flag(f, FSW_IE | FSW_SF);
}

static void pop(struct x86_fpu *f)
{
	f->ftw &= (uint8_t) ~(1u << top_of(f));
	rotate_up(f);
}

/* FLD-style push; a full stack loads the indefinite (masked) or leaves all unchanged. */
static void push(struct x86_fpu *f, struct sf_f80 v)
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

static struct sf_env env_of(const struct x86_fpu *f)
{
	return sf_env_x87(f->fcw);
}

/* Delivers an operation's flags: an unmasked IE, DE or ZE leaves the destination alone;
 * otherwise C1 tells whether the result was rounded up. True when the result is written. */
static bool deliver(struct x86_fpu *f, const struct sf_env *e)
{
	f->fsw &= ~FSW_C1;
	if (e->flags & PRE_EXC & ~f->fcw) {
		x87_flag(f, e->flags & PRE_EXC);
		return false;
	}
	set_c1(f, (e->flags & SF_PE) && e->rounded_up);
	x87_flag(f, e->flags);
	return true;
}

static void set_cc(struct x86_fpu *f, bool c3, bool c2, bool c1, bool c0)
{
	f->fsw = (uint16_t)((f->fsw & ~FSW_CC) | (c3 ? FSW_C3 : 0) | (c2 ? FSW_C2 : 0) | (c1 ? FSW_C1 : 0) |
	                    (c0 ? FSW_C0 : 0));
}

static void note_insn(struct emu_exec *x, bool mem)
{
	struct x86_fpu *f = &x->st->fpu;
	f->fop = (uint16_t)(((x->i->b & 7) << 8) | x->i->modrm);
	f->fip = x->st->rip;
	if (mem)
		f->fdp = x->i->ea;
}

/* Commits the working copy and the instruction pointers. */
static enum emu_status done(struct emu_exec *x, const struct x86_fpu *nf, bool mem)
{
	x->st->fpu = *nf;
	note_insn(x, mem);
	return EMU_OK;
}

/* A float32/float64 memory operand as an x87 operand: NaNs keep their signaling bit so the
 * NaN rules see them; a denormal is normalized and reported as DE. */
static struct sf_f80 mem_real(const struct x86_fpu *f, uint64_t raw, unsigned bits, unsigned *flags)
{
	struct sf_env e = env_of(f);
	struct sf_f80 v;
	if (bits == 32 ? sf_f32_is_nan((sf_f32)raw) : sf_f64_is_nan(raw)) {
		uint64_t frac = bits == 32 ? raw << 41 : raw << 12;
		v.mant = (1ull << 63) | (frac >> 1);
		v.se = (uint16_t)(((raw >> (bits - 1)) & 1 ? 0x8000 : 0) | 0x7fff);
		return v;
	}
	v = bits == 32 ? sf_f32_to_f80(&e, (sf_f32)raw) : sf_f64_to_f80(&e, raw);
	*flags |= e.flags;
	return v;
}

/* Reads the memory operand of D8 (m32), DA (m32int), DC (m64), DE (m16int). */
static enum emu_status read_operand(struct emu_exec *x, struct sf_f80 *v, unsigned *flags)
{
	static const unsigned size[4] = {4, 4, 8, 2};
	unsigned kind = (x->i->b >> 1) & 3;
	uint64_t raw;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, size[kind], &raw));
	*flags = 0;
	if (kind == 0 || kind == 2)
		*v = mem_real(&x->st->fpu, raw, size[kind] * 8, flags);
	else
		*v = sf_int_to_f80(kind == 1 ? (int32_t)raw : (int16_t)raw);
	return EMU_OK;
}

/* op as the reg field encodes it with x = ST(0): 0 x+y, 1 x*y, 4 x-y, 5 y-x, 6 x/y, 7 y/x. */
static struct sf_f80 compute(struct sf_env *e, unsigned op, struct sf_f80 x, struct sf_f80 y)
{
	switch (op) {
	case 0:
		return sf_f80_add(e, x, y);
	case 1:
		return sf_f80_mul(e, x, y);
	case 4:
		return sf_f80_sub(e, x, y);
	case 5:
		return sf_f80_sub(e, y, x);
	case 6:
		return sf_f80_div(e, x, y);
	default:
		return sf_f80_div(e, y, x);
	}
}

/* A float32/float64 denormal memory operand arrives normalized: its DE counts where a
 * denormal register operand would report one (not beside a NaN, an invalid or a zero divisor). */
static void add_operand_flags(struct sf_env *e, struct sf_f80 other, unsigned mem_flags)
{
	if (!sf_f80_is_nan(other) && !sf_f80_is_unsupported(other) && !(e->flags & (SF_IE | SF_ZE)))
		e->flags |= (uint8_t)mem_flags;
}

static void arith(struct x86_fpu *f, unsigned op, unsigned dst, struct sf_f80 y, unsigned mem_flags,
                  bool do_pop)
{
	struct sf_env e = env_of(f);
	struct sf_f80 x0 = st_get(f, 0);
	struct sf_f80 r = compute(&e, op, x0, y);
	add_operand_flags(&e, x0, mem_flags);
	if (deliver(f, &e)) {
		st_put(f, dst, r);
		if (do_pop)
			pop(f);
	}
}

/* Stack underflow of an operation writing ST(dst): the indefinite when masked. */
static void underflow(struct x86_fpu *f, unsigned dst, bool do_pop)
{
	if (stack_fault(f, false))
		return;
	st_put(f, dst, indefinite);
	if (do_pop)
		pop(f);
}

/* FCOMI and FUCOMI: ZF PF CF as C3 C2 C0, OF SF AF cleared. */
static void set_eflags(struct emu_exec *x, bool zf, bool pf, bool cf)
{
	uint64_t fl = x->st->rflags & ~(X86_RFLAGS_ZF | X86_RFLAGS_PF | X86_RFLAGS_CF | X86_RFLAGS_OF |
	                                X86_RFLAGS_SF | X86_RFLAGS_AF);
	x->st->rflags = fl | (zf ? X86_RFLAGS_ZF : 0) | (pf ? X86_RFLAGS_PF : 0) | (cf ? X86_RFLAGS_CF : 0);
}

/* C3 C2 C0 or ZF PF CF from a relation: 000 greater, 001 less, 100 equal, 111 unordered. */
static void compare(struct emu_exec *x, struct x86_fpu *f, struct sf_f80 a, struct sf_f80 b, bool quiet,
                    unsigned mem_flags, unsigned pops, bool eflags)
{
	struct sf_env e = env_of(f);
	enum sf_relation rel = sf_f80_compare(&e, a, b, quiet);
	add_operand_flags(&e, a, mem_flags);
	f->fsw &= ~FSW_C1;
	/* The condition codes are set even when the exception is unmasked; the pops are not done. */
	if (x87_flag(f, e.flags))
		pops = 0;
	bool c3 = rel == SF_EQ || rel == SF_UNORDERED, c0 = rel == SF_LT || rel == SF_UNORDERED;
	bool c2 = rel == SF_UNORDERED;
	if (eflags) {
		set_eflags(x, c3, c2, c0);
	} else {
		set_cc(f, c3, c2, false, c0);
	}
	while (pops--)
		pop(f);
}

/* A compare with an empty operand: unordered when IE is masked. */
static void compare_underflow(struct emu_exec *x, struct x86_fpu *f, unsigned pops, bool eflags)
{
	if (stack_fault(f, false))
		return;
	if (eflags)
		set_eflags(x, true, true, true);
	else
		set_cc(f, true, true, false, true);
	while (pops--)
		pop(f);
}

/* D8 DA DC DE with a memory operand: arithmetic and compares with ST(0). */
static enum emu_status mem_arith(struct emu_exec *x)
{
	struct x86_fpu nf = x->st->fpu;
	unsigned op = x->i->reg & 7, flags;
	struct sf_f80 y;
	EMU_TRY(read_operand(x, &y, &flags));
	if (op == 2 || op == 3) {
		if (st_empty(&nf, 0))
			compare_underflow(x, &nf, op == 3, false);
		else
			compare(x, &nf, st_get(&nf, 0), y, false, flags, op == 3, false);
	} else if (st_empty(&nf, 0)) {
		underflow(&nf, 0, false);
	} else {
		arith(&nf, op, 0, y, flags, false);
	}
	return done(x, &nf, true);
}

/* D8 DC DE register forms: ST(0) op ST(i) into ST(0) (D8) or ST(i) (DC, DE pops). */
static void reg_arith(struct emu_exec *x, struct x86_fpu *f)
{
	unsigned b = x->i->b, op = (x->i->modrm >> 3) & 7, i = x->i->modrm & 7;
	if (op == 2 || op == 3) { /* FCOM, FCOMP (DC, DE D0-D7: the same), DE D9 FCOMPP */
		unsigned pops = b == 0xde ? (i == 1 && op == 3 ? 2 : 1) : op == 3;
		if (st_empty(f, 0) || st_empty(f, i))
			compare_underflow(x, f, pops, false);
		else
			compare(x, f, st_get(f, 0), st_get(f, i), false, 0, pops, false);
		return;
	}
	unsigned dst = b == 0xd8 ? 0 : i;
	if (st_empty(f, 0) || st_empty(f, i))
		underflow(f, dst, b == 0xde);
	else
		arith(f, op, dst, st_get(f, i), 0, b == 0xde);
}

/* FLD m32/m64: an SNaN loads quiet with IE, a denormal raises DE. */
static enum emu_status fld_real(struct emu_exec *x, unsigned bits)
{
	struct x86_fpu nf = x->st->fpu;
	uint64_t raw;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, bits / 8, &raw));
	if (!st_empty(&nf, 7)) {
		push(&nf, indefinite);
		return done(x, &nf, true);
	}
	struct sf_env e = env_of(&nf);
	struct sf_f80 v = bits == 32 ? sf_f32_to_f80(&e, (sf_f32)raw) : sf_f64_to_f80(&e, raw);
	nf.fcw |= SF_DE; /* an unmasked DE still loads */
	bool loads = deliver(&nf, &e);
	nf.fcw = x->st->fpu.fcw;
	if (e.flags & ~nf.fcw & FSW_EXC)
		nf.fsw |= FSW_ES | FSW_B;
	if (loads)
		push(&nf, v);
	return done(x, &nf, true);
}

/* FST/FSTP m32/m64: rounded under RC; unmasked IE, OE or UE stores nothing. */
static enum emu_status fst_real(struct emu_exec *x, unsigned bits, bool do_pop)
{
	struct x86_fpu nf = x->st->fpu;
	uint64_t raw;
	if (st_empty(&nf, 0)) {
		if (stack_fault(&nf, false))
			return done(x, &nf, true);
		raw = bits == 32 ? 0xffc00000u : 0xfff8000000000000ull;
	} else {
		struct sf_env e = env_of(&nf);
		struct sf_f80 v = st_get(&nf, 0);
		raw = bits == 32 ? sf_f80_to_f32(&e, v) : sf_f80_to_f64(&e, v);
		e.flags &= ~SF_DE; /* stores do not report denormal operands */
		set_c1(&nf, (e.flags & SF_PE) && e.rounded_up);
		if (e.flags & ~nf.fcw & (SF_IE | SF_OE | SF_UE)) { /* nothing stored, no PE */
			nf.fsw &= ~FSW_C1;
			x87_flag(&nf, e.flags & (SF_IE | SF_OE | SF_UE));
			return done(x, &nf, true);
		}
		x87_flag(&nf, e.flags);
	}
	EMU_TRY(emu_mem_write_u(x, x->i->ea_seg, x->i->ea, bits / 8, raw));
	if (do_pop)
		pop(&nf);
	return done(x, &nf, true);
}

static bool has_sse3(struct emu_exec *x)
{
	uint32_t out[4] = {0};
	if (x->ops->cpuid(x->opaque, 1, 0, out) != EMU_OK)
		return true;
	return out[2] & 1;
}

/* FIST/FISTP/FISTTP m16/m32/m64. */
static enum emu_status fist(struct emu_exec *x, unsigned bits, bool do_pop, bool truncate)
{
	struct x86_fpu nf = x->st->fpu;
	int64_t n;
	if (truncate && !has_sse3(x))
		return EMU_RAISE_UD(x);
	if (st_empty(&nf, 0)) {
		if (stack_fault(&nf, false))
			return done(x, &nf, true);
		n = INT64_MIN;
	} else {
		struct sf_env e = env_of(&nf);
		n = sf_f80_to_int(&e, st_get(&nf, 0), bits, truncate);
		if (!deliver(&nf, &e))
			return done(x, &nf, true);
	}
	uint64_t raw = n == INT64_MIN ? 1ull << (bits - 1) : (uint64_t)n;
	EMU_TRY(emu_mem_write_u(x, x->i->ea_seg, x->i->ea, bits / 8, raw));
	if (do_pop)
		pop(&nf);
	return done(x, &nf, true);
}

static enum emu_status fild(struct emu_exec *x, unsigned bits)
{
	struct x86_fpu nf = x->st->fpu;
	uint64_t raw;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, bits / 8, &raw));
	int64_t n = bits == 16 ? (int16_t)raw : bits == 32 ? (int32_t)raw : (int64_t)raw;
	push(&nf, sf_int_to_f80(n));
	return done(x, &nf, true);
}

static enum emu_status fld80(struct emu_exec *x)
{
	struct x86_fpu nf = x->st->fpu;
	uint8_t b[10];
	struct sf_f80 v;
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, b, 10));
	memcpy(&v.mant, b, 8);
	memcpy(&v.se, b + 8, 2);
	push(&nf, v);
	return done(x, &nf, true);
}

static enum emu_status fstp80(struct emu_exec *x)
{
	struct x86_fpu nf = x->st->fpu;
	struct sf_f80 v = st_get(&nf, 0);
	uint8_t b[10];
	if (st_empty(&nf, 0)) {
		if (stack_fault(&nf, false))
			return done(x, &nf, true);
		v = indefinite;
	} else {
		nf.fsw &= ~FSW_C1;
	}
	memcpy(b, &v.mant, 8);
	memcpy(b + 8, &v.se, 2);
	EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, b, 10));
	pop(&nf);
	return done(x, &nf, true);
}

/* FBLD: 18 packed BCD digits and a sign byte, loaded exactly. */
static enum emu_status fbld(struct emu_exec *x)
{
	struct x86_fpu nf = x->st->fpu;
	uint8_t b[10];
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, b, 10));
	int64_t n = 0;
	for (unsigned k = 9; k-- > 0;)
		n = n * 100 + (b[k] >> 4) * 10 + (b[k] & 15);
	struct sf_f80 v = sf_int_to_f80(n);
	v.se |= b[9] & 0x80 ? 0x8000 : 0;
	push(&nf, v);
	return done(x, &nf, true);
}

/* FBSTP: ST(0) rounded under RC to 18 BCD digits; out of range stores the BCD indefinite. */
static enum emu_status fbstp(struct emu_exec *x)
{
	struct x86_fpu nf = x->st->fpu;
	uint8_t b[10] = {0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff};
	if (st_empty(&nf, 0)) {
		if (stack_fault(&nf, false))
			return done(x, &nf, true);
	} else {
		struct sf_env e = env_of(&nf);
		struct sf_f80 v = st_get(&nf, 0);
		int64_t n = sf_f80_to_int(&e, v, 64, false);
		uint64_t mag = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
		if (!(e.flags & SF_IE) && mag > 999999999999999999ull) {
			e.flags = SF_IE;
			e.rounded_up = false;
		}
		if (!deliver(&nf, &e))
			return done(x, &nf, true);
		if (!(e.flags & SF_IE)) {
			for (unsigned k = 0; k < 9; k++, mag /= 100)
				b[k] = (uint8_t)((mag % 10) | ((mag / 10 % 10) << 4));
			b[9] = v.se & 0x8000 ? 0x80 : 0;
		}
	}
	EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, b, 10));
	pop(&nf);
	return done(x, &nf, true);
}

/* Tag of a register's contents for the full tag word: 0 valid, 1 zero, 2 special. */
static unsigned content_tag(struct sf_f80 v)
{
	unsigned e = v.se & 0x7fff;
	if (e == 0x7fff || sf_f80_is_unsupported(v))
		return 2;
	if (e == 0)
		return v.mant ? 2 : 1;
	return 0;
}

static uint16_t full_tag_word(const struct x86_fpu *f)
{
	uint16_t tw = 0;
	for (unsigned p = 0; p < 8; p++) {
		unsigned tag = 3;
		if (f->ftw & (1u << p))
			tag = content_tag(st_get(f, (p - top_of(f)) & 7));
		tw |= (uint16_t)(tag << (2 * p));
	}
	return tw;
}

static uint8_t abridged_tag(uint16_t tw)
{
	uint8_t ftw = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((tw >> (2 * p)) & 3) != 3)
			ftw |= (uint8_t)(1u << p);
	return ftw;
}

/* ES and B follow the unmasked flags after the control word or status word is loaded. */
static void recompute_es(struct x86_fpu *f)
{
	if (f->fsw & FSW_EXC & ~f->fcw)
		f->fsw |= FSW_ES | FSW_B;
	else
		f->fsw &= (uint16_t) ~(FSW_ES | FSW_B);
}

static bool env_real_mode(const struct emu_exec *x)
{
	return x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

/* The FSTENV image: 14 bytes (16-bit operand size) or 28, protected- or real-mode layout. */
static unsigned env_image(struct emu_exec *x, const struct x86_fpu *f, uint8_t *img)
{
	unsigned w = x->i->opsize == 2 ? 2 : 4;
	memset(img, 0, 28);
	if (w == 4) /* the reserved upper halves of the control, status and tag dwords read as ones */
		for (unsigned k = 0; k < 3; k++)
			put_le(img + 4 * k + 2, 0xffff, 2);
	put_le(img, f->fcw, 2);
	put_le(img + w, f->fsw, 2);
	put_le(img + 2 * w, full_tag_word(f), 2);
	if (env_real_mode(x)) {
		put_le(img + 3 * w, f->fip & 0xffff, 2);
		put_le(img + 4 * w, ((f->fip >> 16) & (w == 4 ? 0xffff : 0xf)) << 12 | (f->fop & 0x7ff),
		       w == 4 ? 4 : 2);
		put_le(img + 5 * w, f->fdp & 0xffff, 2);
		put_le(img + 6 * w, ((f->fdp >> 16) & (w == 4 ? 0xffff : 0xf)) << 12, w);
	} else {
		put_le(img + 3 * w, f->fip, w);
		put_le(img + 4 * w, (f->fip >> 32) & 0xffff, 2);
		if (w == 4)
			put_le(img + 4 * w + 2, f->fop & 0x7ff, 2);
		put_le(img + 5 * w, f->fdp, w);
		put_le(img + 6 * w, (f->fdp >> 32) & 0xffff, 2);
	}
	return 7 * w;
}

static void load_env_image(struct emu_exec *x, struct x86_fpu *f, const uint8_t *img)
{
	unsigned w = x->i->opsize == 2 ? 2 : 4;
	f->fcw = (uint16_t)(get_le(img, 2) | FCW_FIXED);
	f->fsw = (uint16_t)get_le(img + w, 2);
	f->ftw = abridged_tag((uint16_t)get_le(img + 2 * w, 2));
	if (env_real_mode(x)) {
		uint64_t hi = get_le(img + 4 * w, w);
		f->fip = get_le(img + 3 * w, 2) | ((hi >> 12) << 16);
		f->fop = (uint16_t)(hi & 0x7ff);
		f->fdp = get_le(img + 5 * w, 2) | ((get_le(img + 6 * w, w) >> 12) << 16);
	} else {
		f->fip = get_le(img + 3 * w, w) | (get_le(img + 4 * w, 2) << 32);
		f->fop = w == 4 ? (uint16_t)(get_le(img + 4 * w + 2, 2) & 0x7ff) : 0;
		f->fdp = get_le(img + 5 * w, w) | (get_le(img + 6 * w, 2) << 32);
	}
	recompute_es(f);
}

/* FLDENV (D9 /4), FRSTOR (DD /4); FNSTENV (D9 /6), FNSAVE (DD /6) come without waiting. */
static enum emu_status environment(struct emu_exec *x, bool store, bool regs)
{
	struct x86_fpu nf = x->st->fpu;
	uint8_t img[28 + 80];
	unsigned len = env_image(x, &nf, img);
	if (store) {
		for (unsigned k = 0; regs && k < 8; k++)
			memcpy(img + len + 10 * k, nf.st[k], 10);
		EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, img, len + (regs ? 80 : 0)));
		nf.fcw |= FSW_EXC; /* FNSTENV masks every exception */
		if (regs) {
			nf.fcw = 0x37f;
			nf.fsw = 0;
			nf.ftw = 0;
			nf.fop = 0;
			nf.fip = 0;
			nf.fdp = 0;
		}
		x->st->fpu = nf;
		return EMU_OK;
	}
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, img, len + (regs ? 80 : 0)));
	load_env_image(x, &nf, img);
	for (unsigned k = 0; regs && k < 8; k++) {
		memset(nf.st[k], 0, 16);
		memcpy(nf.st[k], img + len + 10 * k, 10);
	}
	x->st->fpu = nf;
	return EMU_OK;
}

/* The constants, 128 bits each, rounded under RC (not PC). */
static struct sf_f80 constant(const struct x86_fpu *f, unsigned which)
{
	/* clang-format off */
	static const struct { uint64_t hi, lo; uint16_t se; } k[] = {
	    {0xd49a784bcd1b8afeull, 0x492bf6ff4dafdb4cull, 16384}, /* log2(10) */
	    {0xb8aa3b295c17f0bbull, 0xbe87fed0691d3e88ull, 16383}, /* log2(e) */
	    {0xc90fdaa22168c234ull, 0xc4c6628b80dc1cd1ull, 16384}, /* pi */
	    {0x9a209a84fbcff798ull, 0x8f8959ac0b7c9178ull, 16381}, /* log10(2) */
	    {0xb17217f7d1cf79abull, 0xc9e3b39803f2f6afull, 16382}, /* ln(2) */
	};
	/* clang-format on */
	unsigned rc = (f->fcw >> 10) & 3;
	uint64_t lo = k[which].lo, half = 1ull << 63;
	bool up = rc == SF_NEAREST ? lo > half || (lo == half && (k[which].hi & 1)) : rc == SF_UP && lo;
	struct sf_f80 v = {k[which].hi + up, k[which].se};
	return v;
}

/* FXAM: C3 C2 C0 = class, C1 = sign; an empty register is 101. */
static void fxam(struct x86_fpu *f)
{
	struct sf_f80 v = st_get(f, 0);
	unsigned e = v.se & 0x7fff;
	bool c3, c2, c0;
	if (st_empty(f, 0)) {
		c3 = true, c2 = false, c0 = true;
	} else if (sf_f80_is_unsupported(v)) {
		c3 = false, c2 = false, c0 = false;
	} else if (e == 0x7fff) {
		c3 = false, c2 = !(v.mant << 1), c0 = true; /* infinity 011, NaN 001 */
	} else if (e == 0) {
		c3 = true, c2 = v.mant != 0, c0 = false; /* zero 100, denormal 110 */
	} else {
		c3 = false, c2 = true, c0 = false;
	}
	set_cc(f, c3, c2, v.se >> 15, c0);
}

/* FCMOVcc: DA C0-DF B E BE U, DB C0-DF NB NE NBE NU. */
static void fcmov(struct emu_exec *x, struct x86_fpu *f)
{
	uint64_t fl = x->st->rflags;
	unsigned m = x->i->modrm, i = m & 7, cond = (m >> 3) & 3;
	bool take = cond == 0   ? (fl & X86_RFLAGS_CF) != 0
	            : cond == 1 ? (fl & X86_RFLAGS_ZF) != 0
	            : cond == 2 ? (fl & (X86_RFLAGS_CF | X86_RFLAGS_ZF)) != 0
	                        : (fl & X86_RFLAGS_PF) != 0;
	if (x->i->b == 0xdb)
		take = !take;
	if (st_empty(f, 0) || st_empty(f, i)) {
		underflow(f, 0, false);
		return;
	}
	f->fsw &= ~FSW_C1;
	if (take)
		st_put(f, 0, st_get(f, i));
}

/* One-operand ST(0) operations of D9 E0-FF that produce a new ST(0). */
static void unary(struct x86_fpu *f, unsigned m)
{
	struct sf_env e = env_of(f);
	struct sf_f80 v = st_get(f, 0), r;
	if (st_empty(f, 0)) {
		underflow(f, 0, false);
		return;
	}
	switch (m) {
	case 0xe0: /* FCHS */
	case 0xe1: /* FABS */
		v.se = m == 0xe0 ? v.se ^ 0x8000 : v.se & 0x7fff;
		st_put(f, 0, v);
		f->fsw &= ~FSW_C1;
		return;
	case 0xfa:
		r = sf_f80_sqrt(&e, v);
		break;
	default: /* FC FRNDINT */
		r = sf_f80_round_int(&e, v);
		break;
	}
	if (deliver(f, &e))
		st_put(f, 0, r);
}

/* FSCALE: ST(0) * 2^trunc(ST(1)). */
static void fscale(struct x86_fpu *f)
{
	struct sf_env e = env_of(f);
	struct sf_f80 a = st_get(f, 0), b = st_get(f, 1), r;
	e.prec = 64;
	unsigned ea = a.se & 0x7fff, eb = b.se & 0x7fff;
	bool a_zero = !ea && !a.mant, a_inf = ea == 0x7fff && !(a.mant << 1);
	bool b_inf = eb == 0x7fff && !(b.mant << 1);
	if (sf_f80_is_unsupported(a) || sf_f80_is_unsupported(b) || sf_f80_is_nan(a) || sf_f80_is_nan(b)) {
		r = sf_f80_add(&e, a, b); /* the two-operand NaN and invalid rules */
	} else if (b_inf) {
		bool up = !(b.se >> 15);
		if ((a_zero && up) || (a_inf && !up)) {
			e.flags |= SF_IE;
			r = indefinite;
		} else {
			if (!ea && a.mant)
				e.flags |= SF_DE;
			r = a;
			if (!a_zero && !a_inf) {
				r.mant = up ? 1ull << 63 : 0;
				r.se = (uint16_t)((a.se & 0x8000) | (up ? 0x7fff : 0));
			}
		}
	} else {
		struct sf_env t = e;
		t.round = SF_ZERO;
		t.masks = SF_ALL;
		int64_t n = sf_f80_to_int(&t, b, 64, true);
		if (t.flags & SF_IE) /* beyond 2^63: saturate */
			n = b.se >> 15 ? -(1 << 20) : 1 << 20;
		n = n > (1 << 20) ? 1 << 20 : n < -(1 << 20) ? -(1 << 20) : n;
		if (!eb && b.mant)
			e.flags |= SF_DE;
		r = sf_f80_scale(&e, a, (int32_t)n);
	}
	if (deliver(f, &e))
		st_put(f, 0, r);
}

/* FXTRACT: ST(0) becomes its significand and the exponent is pushed below it. */
static void fxtract(struct x86_fpu *f)
{
	struct sf_env e = env_of(f);
	struct sf_f80 a = st_get(f, 0), sig = a, exp;
	unsigned ea = a.se & 0x7fff;
	if (!st_empty(f, 7)) {
		if (stack_fault(f, true))
			return;
		st_put(f, 0, indefinite);
		push(f, indefinite);
		return;
	}
	if (sf_f80_is_unsupported(a) || sf_f80_is_nan(a)) {
		sig = exp = sf_f80_add(&e, a, a);
	} else if (ea == 0x7fff) {
		exp.mant = 1ull << 63, exp.se = 0x7fff;
	} else if (!ea && !a.mant) {
		e.flags |= SF_ZE;
		exp.mant = 1ull << 63, exp.se = 0xffff;
	} else {
		int32_t true_exp = (int32_t)ea - 16383;
		if (!ea) {
			unsigned lz = (unsigned)__builtin_clzll(a.mant);
			e.flags |= SF_DE;
			true_exp = 1 - 16383 - (int32_t)lz;
			sig.mant = a.mant << lz;
		}
		sig.se = (uint16_t)((a.se & 0x8000) | 16383);
		exp = sf_int_to_f80(true_exp);
	}
	if (!deliver(f, &e))
		return;
	st_put(f, 0, exp);
	push(f, sig);
}

/* FPREM (D9 F8) and FPREM1 (D9 F5): C2 set while incomplete, else Q2 Q1 Q0 in C0 C3 C1. */
static void fprem(struct x86_fpu *f, bool nearest)
{
	struct sf_env e = env_of(f);
	uint64_t q;
	bool incomplete;
	struct sf_f80 r = sf_f80_rem(&e, st_get(f, 0), st_get(f, 1), nearest, &q, &incomplete);
	if (!deliver(f, &e))
		return;
	st_put(f, 0, r);
	if (e.flags & SF_IE)
		return;
	if (incomplete)
		set_cc(f, false, true, false, false);
	else
		set_cc(f, (q >> 1) & 1, false, q & 1, (q >> 2) & 1);
}

static bool is_zero(struct sf_f80 v)
{
	return !(v.se & 0x7fff) && !v.mant;
}

static bool is_inf(struct sf_f80 v)
{
	return (v.se & 0x7fff) == 0x7fff && v.mant == 1ull << 63;
}

static struct sf_f80 signed_value(bool neg, uint64_t mant, uint16_t exp)
{
	struct sf_f80 v = {mant, (uint16_t)((neg ? 0x8000 : 0) | exp)};
	return v;
}

/* F2XM1: 2^ST(0) - 1. */
static struct sf_f80 f2xm1(struct sf_env *e, struct sf_f80 a)
{
	if (sf_f80_is_nan(a) || sf_f80_is_unsupported(a))
		return sf_f80_add(e, a, a);
	if (is_zero(a))
		return a;
	if (is_inf(a))
		return a.se >> 15 ? signed_value(true, 1ull << 63, 16383) : a;
	if ((a.se & 0x7fff) >= 16383) { /* outside [-1, 1) the unit hands the operand back, inexact */
		e->flags |= SF_PE;
		if (a.se == 0xbfff && a.mant == 1ull << 63)
			return signed_value(true, 1ull << 63, 16382); /* 2^-1 - 1 */
		return a;
	}
	if (!(a.se & 0x7fff))
		e->flags |= SF_DE;
	return x87_f2xm1(e, a);
}

/* FYL2X and FYL2XP1: ST(1) * log2(ST(0)) or ST(1) * log2(ST(0) + 1). */
static struct sf_f80 fyl2x(struct sf_env *e, struct sf_f80 x, struct sf_f80 y, bool plus_one)
{
	static const struct sf_f80 one = {1ull << 63, 16383};
	if (sf_f80_is_nan(x) || sf_f80_is_unsupported(x) || sf_f80_is_nan(y) || sf_f80_is_unsupported(y))
		return sf_f80_add(e, x, y);
	bool xneg = x.se >> 15;
	/* where the logarithm is zero, negative or minus infinity decides the special cases */
	struct sf_env t = *e;
	enum sf_relation to_one = plus_one
	                              ? sf_f80_compare(&t, x, signed_value(true, 1ull << 63, 16383), true)
	                              : sf_f80_compare(&t, x, one, true);
	if ((!plus_one && xneg && !is_zero(x)) || (plus_one && xneg && is_inf(x))) {
		e->flags |= SF_IE;
		return indefinite;
	}
	if ((!(x.se & 0x7fff) && x.mant) || (!(y.se & 0x7fff) && y.mant))
		e->flags |= SF_DE;
	if (plus_one && to_one != SF_GT) { /* ST(0) <= -1: the unit hands ST(0) back, inexact */
		if (is_zero(y) || is_inf(y))
			return signed_value(!(y.se >> 15), y.mant, y.se & 0x7fff);
		e->flags |= SF_PE;
		return x;
	}
	bool log_zero = plus_one ? is_zero(x) : to_one == SF_EQ;
	bool log_minf = plus_one ? to_one == SF_EQ : is_zero(x);
	bool log_neg = plus_one ? xneg : to_one == SF_LT;
	if (log_zero) { /* log is a signed zero */
		if (is_inf(y)) {
			e->flags |= SF_IE;
			return indefinite;
		}
		return signed_value((y.se >> 15) ^ log_neg, 0, 0);
	}
	if (log_minf) {
		if (is_zero(y)) {
			e->flags |= SF_IE;
			return indefinite;
		}
		if (!is_inf(y)) /* ZE comes before DE; infinity times log2(0) is no division */
			e->flags = (uint8_t)((e->flags & ~SF_DE) | SF_ZE);
		return signed_value(!(y.se >> 15), 1ull << 63, 0x7fff);
	}
	if (is_inf(x)) {
		if (is_zero(y)) {
			e->flags |= SF_IE;
			return indefinite;
		}
		return signed_value(y.se >> 15, 1ull << 63, 0x7fff);
	}
	if (is_inf(y) || is_zero(y))
		return signed_value((y.se >> 15) ^ log_neg, is_inf(y) ? 1ull << 63 : 0,
		                    is_inf(y) ? 0x7fff : 0);
	return x87_fyl2x(e, x, y, plus_one);
}

/* FPATAN: atan2(ST(1), ST(0)). */
static struct sf_f80 fpatan(struct sf_env *e, struct sf_f80 y, struct sf_f80 x)
{
	if (sf_f80_is_nan(x) || sf_f80_is_unsupported(x) || sf_f80_is_nan(y) || sf_f80_is_unsupported(y))
		return sf_f80_add(e, y, x);
	if ((!(x.se & 0x7fff) && x.mant) || (!(y.se & 0x7fff) && y.mant))
		e->flags |= SF_DE;
	/* Infinities stand as units so that the result is a multiple of pi/4. */
	bool yneg = y.se >> 15, xneg = x.se >> 15, yi = is_inf(y), xi = is_inf(x);
	if (yi || xi) {
		y = signed_value(yneg, yi ? 1ull << 63 : 0, yi ? 16383 : 0);
		x = signed_value(xneg, xi ? 1ull << 63 : 0, xi ? 16383 : 0);
	}
	return x87_fpatan(e, y, x);
}

/* FPTAN, FSIN, FCOS, FSINCOS: C2 set and nothing else done for |ST(0)| >= 2^63. */
static void trig(struct x86_fpu *f, unsigned m)
{
	static const struct sf_f80 one = {1ull << 63, 16383};
	bool pushes = m == 0xf2 || m == 0xfb;
	struct sf_env e = env_of(f);
	struct sf_f80 a = st_get(f, 0), r1, r2 = one;
	if (st_empty(f, 0) || (pushes && !st_empty(f, 7))) {
		if (stack_fault(f, !st_empty(f, 0)))
			return;
		st_put(f, 0, indefinite);
		if (pushes)
			push(f, indefinite);
		return;
	}
	f->fsw &= ~FSW_C2;
	if (sf_f80_is_nan(a) || sf_f80_is_unsupported(a)) {
		r1 = r2 = sf_f80_add(&e, a, a);
	} else if (is_inf(a)) {
		e.flags |= SF_IE;
		r1 = r2 = indefinite;
	} else if ((a.se & 0x7fff) >= 16383 + 63) {
		f->fsw |= FSW_C2;
		f->fsw &= ~FSW_C1;
		return;
	} else if (is_zero(a)) {
		r1 = m == 0xff ? one : a;
		r2 = m == 0xfb ? one : r2;
	} else {
		if (!(a.se & 0x7fff))
			e.flags |= SF_DE;
		unsigned which = m == 0xff ? 1 : m == 0xf2 ? 2 : 0;
		r1 = x87_trig(&e, a, which);
		if (m == 0xfb) {
			struct sf_env ec = e;
			r2 = x87_trig(&ec, a, 1);
			e.flags |= ec.flags;
		}
	}
	if (!deliver(f, &e))
		return;
	st_put(f, 0, r1);
	if (pushes)
		push(f, r2);
}

/* F2XM1, FYL2X, FPATAN, FYL2XP1 */
static void transcendental(struct x86_fpu *f, unsigned m)
{
	struct sf_env e = env_of(f);
	bool two = m != 0xf0;
	if (st_empty(f, 0) || (two && st_empty(f, 1))) {
		underflow(f, two, two);
		return;
	}
	struct sf_f80 a = st_get(f, 0), b = st_get(f, 1), r;
	if (m == 0xf0)
		r = f2xm1(&e, a);
	else if (m == 0xf3)
		r = fpatan(&e, b, a);
	else
		r = fyl2x(&e, a, b, m == 0xf9);
	if (!deliver(f, &e))
		return;
	st_put(f, two, r);
	if (two)
		pop(f);
}

/* Register forms D9 C0-FF, DA, DB, DD C0-EF, DF C0-F7 but FNSTSW AX. */
static enum emu_status reg_form(struct emu_exec *x)
{
	struct x86_fpu nf = x->st->fpu, *f = &nf;
	unsigned b = x->i->b, m = x->i->modrm, i = m & 7, op = (m >> 3) & 7;

	if (b == 0xd8 || b == 0xdc || b == 0xde) {
		if (b == 0xde && op == 3 && i != 1)
			return EMU_RAISE_UD(x);
		reg_arith(x, f);
	} else if ((b == 0xda || b == 0xdb) && op <= 3) {
		fcmov(x, f);
	} else if ((b == 0xda && m == 0xe9) || (b == 0xdd && (op == 4 || op == 5))) { /* FUCOMPP, FUCOM(P) */
		unsigned pops = b == 0xda ? 2 : op == 5, j = b == 0xda ? 1 : i;
		if (st_empty(f, 0) || st_empty(f, j))
			compare_underflow(x, f, pops, false);
		else
			compare(x, f, st_get(f, 0), st_get(f, j), true, 0, pops, false);
	} else if ((b == 0xdb || b == 0xdf) && (op == 5 || op == 6)) { /* FUCOMI(P), FCOMI(P) */
		bool do_pop = b == 0xdf;
		if (st_empty(f, 0) || st_empty(f, i))
			compare_underflow(x, f, do_pop, true);
		else
			compare(x, f, st_get(f, 0), st_get(f, i), op == 5, 0, do_pop, true);
	} else if (b == 0xd9 && op == 0) { /* FLD ST(i) */
		struct sf_f80 v = st_get(f, i);
		if (st_empty(f, i)) {
			if (stack_fault(f, false))
				return done(x, f, false);
			v = indefinite;
		}
		push(f, v);
	} else if ((b == 0xd9 && op == 1) || (b == 0xdd && op == 1) || (b == 0xdf && op == 1)) { /* FXCH */
		bool e0 = st_empty(f, 0), ei = st_empty(f, i);
		if (e0 || ei) {
			if (stack_fault(f, false))
				return done(x, f, false);
		} else {
			f->fsw &= ~FSW_C1;
		}
		struct sf_f80 a = e0 ? indefinite : st_get(f, 0), c = ei ? indefinite : st_get(f, i);
		st_put(f, 0, c);
		st_put(f, i, a);
	} else if (b == 0xd9 && m == 0xd0) { /* FNOP */
	} else if ((b == 0xd9 && op == 3) || (b == 0xdd && (op == 2 || op == 3)) ||
	           (b == 0xdf && (op == 2 || op == 3))) {
		/* FST, FSTP ST(i); D9 D8-DF and DF D0-DF are FSTP too */
		bool do_pop = !(b == 0xdd && op == 2);
		if (st_empty(f, 0)) {
			if (stack_fault(f, false))
				return done(x, f, false);
			st_put(f, i, indefinite);
		} else {
			st_put(f, i, st_get(f, 0));
			f->fsw &= ~FSW_C1;
		}
		if (do_pop)
			pop(f);
	} else if ((b == 0xdd || b == 0xdf) && op == 0) { /* FFREE, FFREEP */
		f->ftw &= (uint8_t) ~(1u << ((top_of(f) + i) & 7));
		if (b == 0xdf)
			pop(f);
	} else if (b == 0xd9 && (m == 0xe0 || m == 0xe1 || m == 0xfa || m == 0xfc)) {
		unary(f, m);
	} else if (b == 0xd9 && m == 0xe4) { /* FTST */
		static const struct sf_f80 zero = {0, 0};
		if (st_empty(f, 0))
			compare_underflow(x, f, 0, false);
		else
			compare(x, f, st_get(f, 0), zero, false, 0, 0, false);
	} else if (b == 0xd9 && m == 0xe5) {
		fxam(f);
	} else if (b == 0xd9 && m >= 0xe8 && m <= 0xee && m != 0xef) { /* FLD1 FLDL2T ... FLDZ */
		static const struct sf_f80 one = {1ull << 63, 16383}, zero = {0, 0};
		push(f, m == 0xe8 ? one : m == 0xee ? zero : constant(f, m - 0xe9));
	} else if (b == 0xd9 && (m == 0xf6 || m == 0xf7)) { /* FDECSTP, FINCSTP */
		if (m == 0xf6)
			rotate_down(f);
		else
			rotate_up(f);
		f->fsw &= ~FSW_C1;
	} else if (b == 0xd9 && (m == 0xfd || m == 0xf8 || m == 0xf5)) { /* FSCALE, FPREM, FPREM1 */
		if (st_empty(f, 0) || st_empty(f, 1))
			underflow(f, 0, false);
		else if (m == 0xfd)
			fscale(f);
		else
			fprem(f, m == 0xf5);
	} else if (b == 0xd9 && m == 0xf4) {
		if (st_empty(f, 0)) {
			if (!stack_fault(f, false)) {
				st_put(f, 0, indefinite);
				push(f, indefinite);
			}
		} else {
			fxtract(f);
		}
	} else if (b == 0xd9 && (m == 0xf2 || m == 0xfb || m == 0xfe || m == 0xff)) {
		trig(f, m);
	} else if (b == 0xd9 && (m == 0xf0 || m == 0xf1 || m == 0xf3 || m == 0xf9)) {
		transcendental(f, m);
	} else {
		return EMU_RAISE_UD(x);
	}
	return done(x, f, false);
}

enum emu_status emu_x87(struct emu_exec *x)
{
	unsigned b = x->i->b, op = x->i->reg & 7;
	struct x86_fpu *f = &x->st->fpu;

	/* A waiting instruction first reports an unmasked exception left pending; with CR0.NE
	 * clear the unit signals FERR# outside and carries on (IGNNE#), the exception stays. */
	if ((f->fsw & FSW_ES) && (x->st->cr0 & X86_CR0_NE))
		return emu_raise(x, EMU_MF, false, 0);
	if (x->i->mod == 3)
		return reg_form(x);
	switch (b) {
	case 0xd8:
	case 0xda:
	case 0xdc:
	case 0xde:
		return mem_arith(x);
	case 0xd9:
		switch (op) {
		case 0:
			return fld_real(x, 32);
		case 2:
		case 3:
			return fst_real(x, 32, op == 3);
		case 4:
			return environment(x, false, false);
		case 5: {
			uint64_t cw;
			EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, 2, &cw));
			f->fcw = (uint16_t)(cw | FCW_FIXED);
			recompute_es(f);
			return EMU_OK;
		}
		default:
			return EMU_RAISE_UD(x);
		}
	case 0xdd:
		switch (op) {
		case 0:
			return fld_real(x, 64);
		case 1:
			return fist(x, 64, true, true);
		case 2:
		case 3:
			return fst_real(x, 64, op == 3);
		case 4:
			return environment(x, false, true);
		default:
			return EMU_RAISE_UD(x);
		}
	case 0xdf:
		switch (op) {
		case 0:
			return fild(x, 16);
		case 1:
			return fist(x, 16, true, true);
		case 2:
		case 3:
			return fist(x, 16, op == 3, false);
		case 4:
			return fbld(x);
		case 5:
			return fild(x, 64);
		case 6:
			return fbstp(x);
		default:
			return fist(x, 64, true, false);
		}
	default: /* DB */
		switch (op) {
		case 0:
			return fild(x, 32);
		case 1:
			return fist(x, 32, true, true);
		case 2:
		case 3:
			return fist(x, 32, op == 3, false);
		case 5:
			return fld80(x);
		case 7:
			return fstp80(x);
		default:
			return EMU_RAISE_UD(x);
		}
	}
}

/* FNSTENV and FNSAVE: no wait for pending exceptions. */
enum emu_status emu_x87_store_env(struct emu_exec *x, bool regs)
{
	return environment(x, true, regs);
}
