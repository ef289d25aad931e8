/* Descriptor reads with the error code of each path, stacks built through
 * descriptors that are not loaded yet, and the descriptor-checking
 * instructions LAR, LSL, VERR, VERW. */
#include "system.h"

enum emu_status emu_desc_read(struct emu_exec *x, uint16_t sel, unsigned vec, uint32_t ext, uint64_t *d,
                              uint64_t *addr)
{
	const struct x86_state *st = x->st;
	uint64_t base;
	uint32_t limit;
	if (sel & EC_TI) {
		const struct x86_segment *ldt = &st->seg[X86_LDTR];
		if ((ldt->attr & X86_SEG_UNUSABLE) || !(ldt->attr & X86_SEG_P) || !(ldt->selector & ~3))
			return emu_raise(x, vec, true, (sel & 0xfffc) | ext);
		base = ldt->base;
		limit = ldt->limit;
	} else {
		base = st->gdtr.base;
		limit = st->gdtr.limit;
	}
	if ((uint32_t)(sel & ~7) + 7 > limit)
		return emu_raise(x, vec, true, (sel & 0xfffc) | ext);
	*addr = base + (sel & ~7u);
	if (!long_mode(x))
		*addr &= 0xffffffffu;
	return emu_lin_read(x, *addr, d, 8);
}

enum emu_status emu_desc_read_hi(struct emu_exec *x, uint16_t sel, unsigned vec, uint32_t ext, uint64_t *hi)
{
	const struct x86_state *st = x->st;
	const struct x86_segment *ldt = &st->seg[X86_LDTR];
	uint64_t base = (sel & EC_TI) ? ldt->base : st->gdtr.base;
	uint32_t limit = (sel & EC_TI) ? ldt->limit : st->gdtr.limit;
	if ((uint32_t)(sel & ~7) + 15 > limit)
		return emu_raise(x, vec, true, (sel & 0xfffc) | ext);
	return emu_lin_read(x, base + (sel & ~7u) + 8, hi, 8);
}

enum emu_status emu_desc_set_bits(struct emu_exec *x, uint64_t addr, uint64_t d, uint8_t bits)
{
	uint8_t b = (uint8_t)(d >> 40);
	if ((b & bits) == bits)
		return EMU_OK;
	b |= bits;
	return emu_lin_write(x, addr + 5, &b, 1);
}

void emu_seg_null(struct x86_segment *s, uint16_t sel)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->attr = X86_SEG_UNUSABLE;
}

enum emu_status emu_load_stack_seg(struct emu_exec *x, uint16_t sel, unsigned cpl, unsigned vec, uint32_t ext,
                                   struct x86_segment *out, uint64_t *addr, uint64_t *d)
{
	uint32_t ec = (sel & 0xfffc) | ext;
	if (!(sel & ~3))
		return emu_raise(x, vec, true, ext);
	if ((sel & 3) != cpl)
		return emu_raise(x, vec, true, ec);
	return emu_seg_load_desc(x, X86_SS, sel, cpl, vec, ext, out, d, addr);
}

enum emu_status emu_load_gate_cs(struct emu_exec *x, uint16_t sel, uint32_t ext, struct x86_segment *out,
                                 uint64_t *d, uint64_t *addr)
{
	if (!(sel & ~3))
		return emu_raise(x, EMU_GP, true, ext);
	EMU_TRY(emu_desc_read(x, sel, EMU_GP, ext, d, addr));
	x86_desc_to_segment(*d, sel, out);
	if (!attr_code(out->attr) || attr_dpl(out->attr) > x->cpl)
		return emu_raise(x, EMU_GP, true, (sel & 0xfffc) | ext);
	return EMU_OK;
}

enum emu_status emu_load_return_cs(struct emu_exec *x, uint16_t sel, struct x86_segment *out, uint64_t *d,
                                   uint64_t *addr)
{
	unsigned rpl = sel & 3u, dpl;
	if (!(sel & ~3))
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_desc_read(x, sel, EMU_GP, 0, d, addr));
	x86_desc_to_segment(*d, sel, out);
	dpl = attr_dpl(out->attr);
	if (!attr_code(out->attr) || rpl < x->cpl || (attr_conforming(out->attr) ? dpl > rpl : dpl != rpl))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	return EMU_OK;
}

enum emu_status emu_load_return_ss(struct emu_exec *x, uint16_t sel, unsigned rpl, bool target64,
                                   struct x86_segment *out, uint64_t *addr, uint64_t *d)
{
	if (sel & ~3)
		return emu_load_stack_seg(x, sel, rpl, EMU_GP, 0, out, addr, d);
	if (!target64 || rpl == 3 || (sel & 3u) != rpl)
		return EMU_RAISE_GP0(x);
	emu_seg_null(out, sel);
	out->attr |= rpl << X86_SEG_DPL_SHIFT;
	return EMU_OK;
}

enum emu_status emu_tss_read(struct emu_exec *x, uint32_t off, unsigned len, uint32_t ext, void *buf)
{
	const struct x86_segment *tr = &x->st->seg[X86_TR];
	uint64_t lin = tr->base + off;
	if (off + len - 1 > tr->limit)
		return emu_raise(x, EMU_TS, true, (tr->selector & 0xfffc) | ext);
	return emu_lin_read(x, long_mode(x) ? lin : lin & 0xffffffffu, buf, len);
}

enum emu_status emu_tss_stack(struct emu_exec *x, unsigned dpl, uint32_t ext, uint16_t *ss, uint64_t *sp)
{
	unsigned type = attr_type(x->st->seg[X86_TR].attr);
	/* The width of a stack pointer: a 16-bit TSS holds SP:SS pairs, a 32-bit one ESP:SS, a 64-bit one
	 * RSPn. */
	unsigned w = long_mode(x) ? 8 : (type == X86_DESC_TSS16_BUSY || type == X86_DESC_TSS16_AVAIL) ? 2 : 4;
	uint32_t off = w == 8 ? 4 + 8 * dpl : w + 2 * w * dpl;
	uint8_t v[8];
	EMU_TRY(emu_tss_read(x, off, w == 8 ? 8 : 2 * w, ext, v));
	*sp = 0;
	memcpy(sp, v, w); /* little-endian host */
	*ss = w == 8 ? (uint16_t)dpl : (uint16_t)(v[w] | v[w + 1] << 8);
	return EMU_OK;
}

void emu_null_inaccessible(struct x86_state *st, unsigned cpl)
{
	static const unsigned regs[] = {X86_ES, X86_DS, X86_FS, X86_GS};
	for (unsigned k = 0; k < 4; k++) {
		struct x86_segment *s = &st->seg[regs[k]];
		/* Conforming code stays usable; so does a segment that is already null. */
		if (!(s->attr & X86_SEG_UNUSABLE) && (s->attr & X86_SEG_S) && !attr_conforming(s->attr) &&
		    attr_dpl(s->attr) < cpl)
			emu_seg_null(s, 0);
	}
}

/* The linear address of a stack access with the limit (or canonical) check of that stack. */
static enum emu_status stk_linear(struct emu_exec *x, const struct emu_stk *s, uint64_t off, unsigned len,
                                  uint64_t *lin)
{
	uint64_t last = off + len - 1;
	if (s->size == 8) {
		if (!emu_canonical(off) || !emu_canonical(last))
			return emu_raise(x, EMU_SS, true, s->ec);
		*lin = off;
		return EMU_OK;
	}
	if ((attr_type(s->ss.attr) & 0xc) == 0x4) {
		uint64_t top = (s->ss.attr & X86_SEG_DB) ? 0xffffffffu : 0xffffu;
		if (off <= s->ss.limit || last > top)
			return emu_raise(x, EMU_SS, true, s->ec);
	} else if (last > s->ss.limit) {
		return emu_raise(x, EMU_SS, true, s->ec);
	}
	*lin = (s->ss.base + off) & 0xffffffffu;
	return EMU_OK;
}

enum emu_status emu_stk_push(struct emu_exec *x, struct emu_stk *s, unsigned width, uint64_t v)
{
	uint64_t sp = (s->sp - width) & emu_mask(s->size), lin;
	EMU_TRY(stk_linear(x, s, sp, width, &lin));
	EMU_TRY(emu_lin_access(x, lin, &v, width, true, s->user));
	s->sp = sp;
	return EMU_OK;
}

enum emu_status emu_stk_pop(struct emu_exec *x, struct emu_stk *s, unsigned width, uint64_t *v)
{
	uint64_t sp = s->sp & emu_mask(s->size), lin;
	*v = 0;
	EMU_TRY(stk_linear(x, s, sp, width, &lin));
	EMU_TRY(emu_lin_access(x, lin, v, width, false, s->user));
	s->sp = (sp + width) & emu_mask(s->size);
	return EMU_OK;
}

void emu_stk_current(struct emu_exec *x, struct emu_stk *s)
{
	s->ss = x->st->seg[X86_SS];
	s->size = emu_stack_size(x);
	s->sp = x->st->gpr[X86_RSP] & emu_mask(s->size);
	s->user = x->cpl == 3;
	s->ec = 0;
}

void emu_stk_set_rsp(struct x86_state *st, const struct emu_stk *s)
{
	if (s->size == 2)
		st->gpr[X86_RSP] = (st->gpr[X86_RSP] & ~0xffffull) | (s->sp & 0xffff);
	else
		st->gpr[X86_RSP] = s->sp & emu_mask(s->size);
}

/* The descriptor LAR/LSL/VERR/VERW look at: false (ZF = 0) for a null selector, one beyond its table,
 * or one that names no LDT; no fault for any of these. */
static enum emu_status peek_desc(struct emu_exec *x, uint16_t sel, uint64_t *d, uint64_t *hi, bool *ok)
{
	const struct x86_state *st = x->st;
	const struct x86_segment *ldt = &st->seg[X86_LDTR];
	uint64_t base = st->gdtr.base;
	uint32_t limit = st->gdtr.limit;
	*ok = false;
	*hi = 0;
	if (!(sel & ~3))
		return EMU_OK;
	if (sel & EC_TI) {
		if ((ldt->attr & X86_SEG_UNUSABLE) || !(ldt->attr & X86_SEG_P) || !(ldt->selector & ~3))
			return EMU_OK;
		base = ldt->base;
		limit = ldt->limit;
	}
	if ((uint32_t)(sel & ~7) + 7 > limit)
		return EMU_OK;
	base += sel & ~7u;
	if (!long_mode(x))
		base &= 0xffffffffu;
	EMU_TRY(emu_lin_read(x, base, d, 8));
	/* Long mode: system descriptors are 16 bytes, the upper half must fit too. */
	if (long_mode(x) && !((*d >> 44) & 1)) {
		if ((uint32_t)(sel & ~7) + 15 > limit)
			return EMU_OK;
		EMU_TRY(emu_lin_read(x, base + 8, hi, 8));
	}
	*ok = true;
	return EMU_OK;
}

/* Whether LAR (lsl = false) or LSL accepts the descriptor's type and privilege. */
static bool lar_lsl_valid(const struct emu_exec *x, uint16_t sel, uint64_t d, uint64_t hi, bool lsl)
{
	struct x86_segment s;
	x86_desc_to_segment(d, sel, &s);
	unsigned type = attr_type(s.attr), dpl = attr_dpl(s.attr);
	if (!(s.attr & X86_SEG_S)) {
		if (long_mode(x)) {
			if (type != X86_DESC_LDT && type != X86_DESC_TSS32_AVAIL &&
			    type != X86_DESC_TSS32_BUSY && (lsl || type != X86_DESC_CALL32))
				return false;
			if ((hi >> 40) & 0x1f)
				return false;
		} else {
			static const uint16_t lar_types =
			    1u << 1 | 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5 | 1u << 9 | 1u << 11 | 1u << 12;
			static const uint16_t lsl_types = 1u << 1 | 1u << 2 | 1u << 3 | 1u << 9 | 1u << 11;
			if (!(((lsl ? lsl_types : lar_types) >> type) & 1))
				return false;
		}
	} else if (attr_conforming(s.attr)) {
		return true; /* conforming code: no privilege check */
	}
	return dpl >= x->cpl && dpl >= (sel & 3u);
}

static void set_zf(struct x86_state *st, bool zf)
{
	st->rflags = zf ? st->rflags | X86_RFLAGS_ZF : st->rflags & ~X86_RFLAGS_ZF;
}

/* 0F 02 LAR, 0F 03 LSL: ZF = 1 and the access rights or the limit, or ZF = 0 and the register unchanged. */
enum emu_status em_lar_lsl(struct emu_exec *x)
{
	bool lsl = x->i->b == 0x03, ok;
	uint64_t v, d, hi;
	unsigned w = x->i->opsize;
	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86)
		return EMU_RAISE_UD(x);
	EMU_TRY(emu_rm_read(x, 2, &v));
	EMU_TRY(peek_desc(x, (uint16_t)v, &d, &hi, &ok));
	if (!ok || !lar_lsl_valid(x, (uint16_t)v, d, hi, lsl)) {
		set_zf(x->st, false);
		return EMU_OK;
	}
	if (lsl) {
		struct x86_segment s;
		x86_desc_to_segment(d, (uint16_t)v, &s);
		v = s.limit;
	} else {
		v = (d >> 32) & 0x00f0ff00u;
	}
	emu_reg_set(x, x->i->reg, w == 8 ? 8 : w, v & emu_mask(w));
	set_zf(x->st, true);
	return EMU_OK;
}

/* 0F 00 /4 VERR, /5 VERW: whether the segment could be read or written at this CPL and RPL. */
enum emu_status emu_verr_verw(struct emu_exec *x, bool write)
{
	bool ok;
	uint64_t v, d, hi;
	EMU_TRY(emu_rm_read(x, 2, &v));
	EMU_TRY(peek_desc(x, (uint16_t)v, &d, &hi, &ok));
	if (ok) {
		struct x86_segment s;
		x86_desc_to_segment(d, (uint16_t)v, &s);
		unsigned type = attr_type(s.attr), dpl = attr_dpl(s.attr);
		bool conforming = attr_conforming(s.attr);
		if (!(s.attr & X86_SEG_S))
			ok = false;
		else if (write)
			ok = (type & 0xa) == 0x2;
		else
			ok = !(type & 8) || (type & 2);
		if (ok && !(conforming && !write) && (dpl < x->cpl || dpl < ((unsigned)v & 3)))
			ok = false;
	}
	set_zf(x->st, ok);
	return EMU_OK;
}
