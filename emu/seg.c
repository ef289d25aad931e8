/* Segmentation: effective address to linear address with the limit and type
 * checks of each mode, and descriptor loads for segment registers. */
#include "system.h"

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

enum emu_status emu_seg_load_desc(struct emu_exec *x, unsigned seg, uint16_t sel, unsigned cpl, unsigned vec,
                                  uint32_t ext, struct x86_segment *out, uint64_t *d, uint64_t *addr)
{
	uint32_t ec = (sel & 0xfffc) | ext;
	unsigned rpl = sel & 3u, dpl, type;
	EMU_TRY(emu_desc_read(x, sel, vec, ext, d, addr));
	x86_desc_to_segment(*d, sel, out);
	dpl = attr_dpl(out->attr);
	type = attr_type(out->attr);
	if (!(out->attr & X86_SEG_S))
		return emu_raise(x, vec, true, ec);
	if (seg == X86_SS) {
		/* Writable data with RPL = DPL = CPL; a missing stack is #SS. */
		if ((type & 0xa) != 0x2 || rpl != cpl || dpl != cpl)
			return emu_raise(x, vec, true, ec);
		return (out->attr & X86_SEG_P) ? EMU_OK : emu_raise(x, EMU_SS, true, ec);
	}
	if (seg == X86_CS) {
		if (!(type & 8) || (attr_conforming(out->attr) ? dpl > rpl : dpl != rpl))
			return emu_raise(x, vec, true, ec);
	} else if ((type & 0xa) == 0x8 || (!attr_conforming(out->attr) && (dpl < cpl || dpl < rpl))) {
		/* Data, or readable code; non-conforming needs DPL >= max(CPL, RPL). */
		return emu_raise(x, vec, true, ec);
	}
	return (out->attr & X86_SEG_P) ? EMU_OK : emu_raise(x, EMU_NP, true, ec);
}

void emu_seg_v86(struct x86_segment *s, uint16_t sel)
{
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->limit = 0xffff;
	/* Every v86 segment, CS included, is DPL 3 read/write accessed data (as VMX requires). */
	s->attr = 0x3 | X86_SEG_S | X86_SEG_P | (3u << X86_SEG_DPL_SHIFT);
}

enum emu_status emu_seg_load(struct emu_exec *x, unsigned seg, uint16_t sel, struct x86_segment *out)
{
	uint64_t d, addr;
	unsigned rpl = sel & 3;

	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86) {
		/* Real mode keeps the cached limit and attributes (unreal mode relies on it). */
		*out = x->st->seg[seg];
		if (x->mode == X86_MODE_V86) {
			emu_seg_v86(out, sel);
			return EMU_OK;
		}
		out->selector = sel;
		out->base = (uint64_t)sel << 4;
		return EMU_OK;
	}
	if (!(sel & ~3)) {
		/* Null selector: allowed for data segments; for SS only in 64-bit mode below CPL 3. */
		if (seg == X86_CS ||
		    (seg == X86_SS && (x->mode != X86_MODE_LONG64 || x->cpl == 3 || rpl != x->cpl)))
			return EMU_RAISE_GP0(x);
		emu_seg_null(out, sel);
		if (seg == X86_SS)
			out->attr |= (uint32_t)x->cpl << X86_SEG_DPL_SHIFT;
		return EMU_OK;
	}
	EMU_TRY(emu_seg_load_desc(x, seg, sel, x->cpl, EMU_GP, 0, out, &d, &addr));
	EMU_TRY(emu_desc_set_bits(x, addr, d, 1));
	out->attr |= 1;
	return EMU_OK;
}

enum emu_status emu_seg_load_system(struct emu_exec *x, unsigned seg, uint16_t sel, struct x86_segment *out,
                                    uint64_t *desc_addr)
{
	uint64_t d, addr, hi = 0;
	unsigned type;
	bool lm = long_mode(x);

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
	EMU_TRY(emu_desc_read(x, sel, EMU_GP, 0, &d, &addr));
	/* System descriptors are 16 bytes in long mode: the upper half holds base[63:32]. */
	if (lm)
		EMU_TRY(emu_desc_read_hi(x, sel, EMU_GP, 0, &hi));
	x86_desc_to_segment(d, sel, out);
	type = attr_type(out->attr);
	if (out->attr & X86_SEG_S)
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (seg == X86_LDTR ? type != 2 : (type != 9 && (lm || type != 1)))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(out->attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if (lm) {
		if (!emu_canonical(x86_desc_base64(out, hi)))
			return emu_raise(x, EMU_GP, true, sel & 0xfffc);
		out->base = x86_desc_base64(out, hi);
	}
	*desc_addr = addr;
	return EMU_OK;
}
