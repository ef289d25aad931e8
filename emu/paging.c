/* Linear to physical address translation: no paging, 32-bit (PSE-36), PAE,
 * 4-level and 5-level paging; U/S, R/W, NX, CR0.WP, SMEP, SMAP with
 * EFLAGS.AC; reserved-bit faults; accessed/dirty bits set on a walk that
 * succeeds (as KVM's walker sets them); #PF error codes. Without
 * ctxt->cache every access walks the tables, which is a TLB that is flushed
 * after every access: a behaviour the architecture allows, the same on
 * every replay. With ctxt->cache, translations are kept in cache.c's TLB. */
#include "private.h"

#define PTE_P    (1ull << 0)
#define PTE_W    (1ull << 1)
#define PTE_U    (1ull << 2)
#define PTE_A    (1ull << 5)
#define PTE_D    (1ull << 6)
#define PTE_PS   (1ull << 7)
#define PTE_XD   (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

#define PFEC_P    (1u << 0)
#define PFEC_W    (1u << 1)
#define PFEC_U    (1u << 2)
#define PFEC_RSVD (1u << 3)
#define PFEC_I    (1u << 4)

static enum emu_status page_fault(struct emu_exec *x, uint64_t lin, uint32_t ec)
{
	enum emu_status rc = emu_raise(x, EMU_PF, true, ec);
	x->c->event.cr2 = lin;
	return rc;
}

static enum emu_status read_entry(struct emu_exec *x, uint64_t gpa, unsigned size, uint64_t *e)
{
	*e = 0;
	if (x->ops->read_phys(x->opaque, gpa, e, size) != EMU_OK)
		return EMU_IO_ERROR;
	return EMU_OK;
}

/* Accessed/dirty updates go straight to memory: silicon sets them even when the instruction faults later. */
static enum emu_status update_entry(struct emu_exec *x, uint64_t gpa, unsigned size, uint64_t e,
                                    uint64_t bits)
{
	if ((e & bits) == bits)
		return EMU_OK;
	e |= bits;
	if (x->ops->write_phys(x->opaque, gpa, &e, size) != EMU_OK)
		return EMU_IO_ERROR;
	return EMU_OK;
}

enum emu_status emu_translate(struct emu_exec *x, uint64_t lin, enum emu_seg_access acc, bool user,
                              uint64_t *gpa)
{
	const struct x86_state *st = x->st;
	uint64_t ent_addr[5], ent[5], table, phys, offmask;
	unsigned levels, esize, n = 0, lvl;
	bool nxe = st->efer & X86_EFER_NXE, wr = acc == SEG_WRITE, fetch = acc == SEG_EXEC;
	bool allow_w = true, allow_u = true, allow_x = true;
	/* SMAP: supervisor data accesses to user pages fault when implicit, or when EFLAGS.AC is clear. */
	bool smap =
	    (st->cr4 & X86_CR4_SMAP) && !user && !fetch && (x->implicit_sv || !(st->rflags & X86_RFLAGS_AC));
	uint32_t ec;

	if (!(st->cr0 & X86_CR0_PG)) {
		*gpa = (st->efer & X86_EFER_LMA) ? lin : (lin & 0xffffffffu);
		return EMU_OK;
	}
	if (x->c->cache && !smap && emu_tlb_lookup(x, lin, acc, user, gpa))
		return EMU_OK;
	ec = (wr ? PFEC_W : 0) | (user ? PFEC_U : 0);
	if (fetch && ((st->cr4 & X86_CR4_SMEP) || (nxe && (st->cr4 & X86_CR4_PAE))))
		ec |= PFEC_I;

	if (!(st->cr4 & X86_CR4_PAE)) {
		levels = 2;
		esize = 4;
		table = st->cr3 & 0xfffff000u;
		lin &= 0xffffffffu;
	} else if (st->efer & X86_EFER_LMA) {
		levels = (st->cr4 & X86_CR4_LA57) ? 5 : 4;
		esize = 8;
		table = st->cr3 & PTE_ADDR;
	} else {
		uint64_t pdpte, a = (st->cr3 & 0xffffffe0u) + ((lin >> 30) & 3) * 8;
		lin &= 0xffffffffu;
		EMU_TRY(read_entry(x, a, 8, &pdpte));
		if (!(pdpte & PTE_P))
			return page_fault(x, lin, ec);
		levels = 2;
		esize = 8;
		table = pdpte & PTE_ADDR;
	}

	for (lvl = levels; lvl >= 1; lvl--) {
		unsigned shift = esize == 4 ? 12 + 10 * (lvl - 1) : 12 + 9 * (lvl - 1);
		unsigned idx = (unsigned)((lin >> shift) & (esize == 4 ? 0x3ff : 0x1ff));
		uint64_t e;
		ent_addr[n] = table + (uint64_t)idx * esize;
		EMU_TRY(read_entry(x, ent_addr[n], esize, &e));
		ent[n++] = e;
		if (!(e & PTE_P))
			return page_fault(x, lin, ec);
		if ((e & PTE_XD) && esize == 8 && !nxe)
			return page_fault(x, lin, ec | PFEC_P | PFEC_RSVD);
		/* PS is reserved in PML4 and PML5 entries. */
		if (esize == 8 && lvl >= 4 && (e & PTE_PS))
			return page_fault(x, lin, ec | PFEC_P | PFEC_RSVD);
		if (!(e & PTE_W))
			allow_w = false;
		if (!(e & PTE_U))
			allow_u = false;
		if ((e & PTE_XD) && nxe)
			allow_x = false;
		if (lvl > 1 && (e & PTE_PS) && (esize == 8 || (st->cr4 & X86_CR4_PSE))) {
			offmask = (1ull << shift) - 1;
			if (esize == 4) {
				/* PSE-36: PDE bits 20:13 give physical bits 39:32; bit 21 is reserved. */
				if (e & (1ull << 21))
					return page_fault(x, lin, ec | PFEC_P | PFEC_RSVD);
				phys = (e & 0xffc00000u) | (((e >> 13) & 0xff) << 32);
			} else {
				/* Bits 12 (PAT) to the page size are the large page's; above PAT they must be
				 * 0. */
				if (e & PTE_ADDR & offmask & ~0x1fffull)
					return page_fault(x, lin, ec | PFEC_P | PFEC_RSVD);
				phys = e & PTE_ADDR & ~offmask;
			}
			goto leaf;
		}
		table = e & (esize == 4 ? 0xfffff000u : PTE_ADDR);
		if (lvl == 1) {
			offmask = 0xfff;
			phys = table;
			goto leaf;
		}
	}
	return page_fault(x, lin, ec);
leaf:
	if (user && !allow_u)
		return page_fault(x, lin, ec | PFEC_P);
	if (wr && !allow_w && (user || (st->cr0 & X86_CR0_WP)))
		return page_fault(x, lin, ec | PFEC_P);
	if (fetch && !allow_x)
		return page_fault(x, lin, ec | PFEC_P);
	if (!user && allow_u && fetch && (st->cr4 & X86_CR4_SMEP))
		return page_fault(x, lin, ec | PFEC_P);
	if (smap && allow_u)
		return page_fault(x, lin, ec | PFEC_P);
	for (unsigned k = 0; k < n; k++) {
		uint64_t bits = PTE_A | ((k == n - 1 && wr) ? PTE_D : 0);
		EMU_TRY(update_entry(x, ent_addr[k], esize, ent[k], bits));
	}
	*gpa = phys | (lin & offmask);
	if (x->c->cache) {
		emu_tlb_fill(x, lin, *gpa, allow_w, allow_u, allow_x, wr || (ent[n - 1] & PTE_D));
		for (unsigned k = 0; k < n; k++)
			emu_tlb_note_table(x->c->cache, ent_addr[k]);
	}
	return EMU_OK;
}
