/* Segmentation: effective address to linear address with the limit and type
 * checks of each mode, and descriptor loads for segment registers. */
#include <stdio.h>

#include "private.h"

static enum emu_status seg_fault(struct emu_exec *x, unsigned seg, uint32_t ec)
{
	return emu_raise(x, seg == X86_SS ? EMU_SS : EMU_GP, true, ec);
}

enum emu_status emu_seg_linear(struct emu_exec *x, unsigned seg, uint64_t off, unsigned len,
                               enum emu_seg_access acc, uint64_t *lin)
{
	const struct x86_segment *s = &x->st->seg[seg];
	uint64_t last = off + len - 1;
	uint32_t type;

	if (x->mode == X86_MODE_LONG64) {
		uint64_t l = off + ((seg == X86_FS || seg == X86_GS) ? s->base : 0);
		if (!emu_canonical(l) || !emu_canonical(l + len - 1))
			return seg_fault(x, seg, 0);
		*lin = l;
		return EMU_OK;
	}
	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86) {
		if (last > s->limit)
			return seg_fault(x, seg, 0);
		*lin = (s->base + off) & 0xffffffffu;
		return EMU_OK;
	}
	if ((s->attr & X86_SEG_UNUSABLE) || !(s->attr & X86_SEG_P))
		return seg_fault(x, seg, 0);
	type = s->attr & X86_SEG_TYPE_MASK;
	if (acc == SEG_WRITE && (type & 0xa) != 0x2)
		return seg_fault(x, seg, 0);
	if (acc == SEG_READ && (type & 0xa) == 0x8)
		return seg_fault(x, seg, 0);
	if ((type & 0xc) == 0x4) {
		/* Expand-down: valid offsets are above the limit. */
		uint64_t top = (s->attr & X86_SEG_DB) ? 0xffffffffu : 0xffffu;
		if (off <= s->limit || last > top)
			return seg_fault(x, seg, 0);
	} else if (last > s->limit) {
		return seg_fault(x, seg, 0);
	}
	*lin = (s->base + off) & 0xffffffffu;
	return EMU_OK;
}

/* Reads the 8-byte descriptor of sel from the GDT or LDT; #GP(sel) beyond the table limit. */
static enum emu_status read_desc(struct emu_exec *x, uint16_t sel, uint64_t *desc, uint64_t *addr)
{
	const struct x86_state *st = x->st;
	uint64_t base;
	uint32_t limit;
	if (sel & 4) {
		const struct x86_segment *ldt = &st->seg[X86_LDTR];
		if ((ldt->attr & X86_SEG_UNUSABLE) || !(ldt->attr & X86_SEG_P) || !(ldt->selector & ~3))
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		base = ldt->base;
		limit = ldt->limit;
	} else {
		base = st->gdtr.base;
		limit = st->gdtr.limit;
	}
	if ((uint32_t)(sel & ~7) + 7 > limit)
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	*addr = base + (sel & ~7u);
	return emu_lin_read(x, *addr, desc, 8);
}

static void desc_to_seg(uint64_t d, uint16_t sel, struct x86_segment *out)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	memset(out, 0, sizeof(*out));
	out->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	out->attr = (uint32_t)((d >> 40) & 0xf0ff);
	if (out->attr & X86_SEG_G)
		limit = (limit << 12) | 0xfff;
	out->limit = limit;
	out->selector = sel;
}

/* Sets the accessed bit in memory (a held write) and in the cache copy. */
static enum emu_status set_accessed(struct emu_exec *x, uint64_t addr, uint64_t d, struct x86_segment *out)
{
	uint8_t b = (uint8_t)(d >> 40);
	if (b & 1)
		return EMU_OK;
	b |= 1;
	out->attr |= 1;
	return emu_lin_write(x, addr + 5, &b, 1);
}

enum emu_status emu_seg_load(struct emu_exec *x, unsigned seg, uint16_t sel, struct x86_segment *out)
{
	uint64_t d, addr;
	unsigned rpl = sel & 3, dpl, type;

	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86) {
		/* Real mode keeps the cached limit and attributes (unreal mode relies on it). */
		*out = x->st->seg[seg];
		out->selector = sel;
		out->base = (uint64_t)sel << 4;
		if (x->mode == X86_MODE_V86) {
			out->limit = 0xffff;
			/* Every v86 segment, CS included, is DPL 3 read/write accessed data (as VMX requires). */
			out->attr = 0x3 | X86_SEG_S | X86_SEG_P | (3u << X86_SEG_DPL_SHIFT);
		}
		return EMU_OK;
	}
	if (!(sel & ~3)) {
		/* Null selector: allowed for data segments; for SS only in 64-bit mode below CPL 3. */
		if (seg == X86_CS ||
		    (seg == X86_SS && (x->mode != X86_MODE_LONG64 || x->cpl == 3 || rpl != x->cpl)))
			return EMU_RAISE_GP0(x);
		memset(out, 0, sizeof(*out));
		out->selector = sel;
		out->attr = X86_SEG_UNUSABLE;
		if (seg == X86_SS)
			out->attr |= (uint32_t)x->cpl << X86_SEG_DPL_SHIFT;
		return EMU_OK;
	}
	EMU_TRY(read_desc(x, sel, &d, &addr));
	desc_to_seg(d, sel, out);
	type = out->attr & X86_SEG_TYPE_MASK;
	dpl = (out->attr & X86_SEG_DPL_MASK) >> X86_SEG_DPL_SHIFT;
	if (!(out->attr & X86_SEG_S))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (seg == X86_SS) {
		if ((type & 0xa) != 0x2 || rpl != x->cpl || dpl != x->cpl)
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		if (!(out->attr & X86_SEG_P))
			return emu_raise(x, EMU_SS, true, sel & 0xfffc);
	} else {
		/* Data, or readable code; non-conforming needs DPL >= max(CPL, RPL). */
		if ((type & 0xa) == 0x8)
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		if ((type & 0xc) != 0xc && (dpl < x->cpl || dpl < rpl))
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		if (!(out->attr & X86_SEG_P))
			return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	}
	return set_accessed(x, addr, d, out);
}

enum emu_status emu_seg_load_cs(struct emu_exec *x, uint16_t sel, unsigned cpl, struct x86_segment *out)
{
	uint64_t d, addr;
	unsigned rpl = sel & 3, dpl, type;

	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86)
		return emu_seg_load(x, X86_CS, sel, out);
	if (!(sel & ~3))
		return EMU_RAISE_GP0(x);
	EMU_TRY(read_desc(x, sel, &d, &addr));
	desc_to_seg(d, sel, out);
	type = out->attr & X86_SEG_TYPE_MASK;
	dpl = (out->attr & X86_SEG_DPL_MASK) >> X86_SEG_DPL_SHIFT;
	if (!(out->attr & X86_SEG_S)) {
		/* Call gates, task gates and TSS: the far-transfer corners of the next issue. */
		snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented),
		         "far transfer through system descriptor type %u", type);
		return EMU_UNIMPLEMENTED;
	}
	if (!(type & 8))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (type & 4) {
		if (dpl > cpl)
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	} else if (rpl > cpl || dpl != cpl) {
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	}
	if (!(out->attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if ((x->st->efer & X86_EFER_LMA) && (out->attr & X86_SEG_L) && (out->attr & X86_SEG_DB))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	out->selector = (uint16_t)((sel & ~3u) | cpl);
	return set_accessed(x, addr, d, out);
}

enum emu_status emu_seg_set_accessed(struct emu_exec *x, uint16_t sel)
{
	uint64_t d, addr;
	struct x86_segment tmp;
	EMU_TRY(read_desc(x, sel, &d, &addr));
	return set_accessed(x, addr, d, &tmp);
}

enum emu_status emu_seg_load_system(struct emu_exec *x, unsigned seg, uint16_t sel, struct x86_segment *out,
                                    uint64_t *desc_addr)
{
	uint64_t d, addr, hi = 0;
	unsigned type;
	bool long_mode = x->st->efer & X86_EFER_LMA;

	if (!(sel & ~3)) {
		/* A null LDT selector leaves LDTR unusable; TR cannot be null. */
		if (seg == X86_TR)
			return EMU_RAISE_GP0(x);
		memset(out, 0, sizeof(*out));
		out->selector = sel;
		out->attr = X86_SEG_UNUSABLE;
		*desc_addr = 0;
		return EMU_OK;
	}
	if (sel & 4)
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	EMU_TRY(read_desc(x, sel, &d, &addr));
	if (long_mode) {
		/* System descriptors are 16 bytes in long mode: the upper half holds base[63:32]. */
		if ((uint32_t)(sel & ~7) + 15 > x->st->gdtr.limit)
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		EMU_TRY(emu_lin_read(x, addr + 8, &hi, 8));
	}
	desc_to_seg(d, sel, out);
	type = out->attr & X86_SEG_TYPE_MASK;
	if (out->attr & X86_SEG_S)
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (seg == X86_LDTR ? type != 2 : (type != 9 && (long_mode || type != 1)))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(out->attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if (long_mode) {
		if (!emu_canonical(out->base | (hi << 32)))
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		out->base |= (hi & 0xffffffffu) << 32;
	}
	*desc_addr = addr;
	return EMU_OK;
}
