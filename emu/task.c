/* Task switches (SDM Vol. 3, 8.3): through a TSS descriptor or a task gate by
 * JMP, CALL, INT n/exception/interrupt, and by IRET with NT = 1 through the
 * back link. The current task is saved into its TSS, busy bits and the back
 * link are written, and the new task's state is loaded and checked.
 * Silicon raises the faults of the new task's segment checks after the
 * switch, in the new task; here every check runs before anything changes,
 * so such a fault leaves the old task in place (a known difference). */
#include "system.h"

/* The 32-bit and 16-bit TSS layouts: offsets of EIP/IP, EFLAGS/FLAGS, the first GPR, ES, LDT. */
struct tss_layout {
	unsigned eip, eflags, gpr, sreg, ldt, w, min_limit;
};
static const struct tss_layout tss32 = {0x20, 0x24, 0x28, 0x48, 0x60, 4, 0x67};
static const struct tss_layout tss16 = {0x0e, 0x10, 0x12, 0x22, 0x2a, 2, 0x2b};

/* A segment register of the new task, with the task-switch checks (#TS, #NP, #SS). */
static enum emu_status task_seg(struct emu_exec *x, unsigned reg, uint16_t sel, unsigned cpl,
                                struct x86_segment *out, uint64_t *d, uint64_t *addr, uint32_t ext)
{
	*addr = 0;
	if (!(sel & ~3)) {
		if (reg == X86_CS || reg == X86_SS)
			return emu_raise(x, EMU_TS, true, ext);
		emu_seg_null(out, sel);
		return EMU_OK;
	}
	return emu_seg_load_desc(x, reg, sel, cpl, EMU_TS, ext, out, d, addr);
}

static uint32_t get(const uint8_t *b, unsigned off, unsigned w)
{
	uint32_t v = 0;
	memcpy(&v, b + off, w);
	return v;
}

enum emu_status emu_task_switch(struct emu_exec *x, uint16_t sel, uint64_t desc, uint64_t desc_addr,
                                enum task_reason reason, uint32_t ext, bool has_error, uint32_t error,
                                uint64_t ret_rip)
{
	struct x86_state *st = x->st;
	struct x86_segment nt, ntss_old = st->seg[X86_TR], ldt, segs[6];
	uint64_t sd[6], saddr[6], ldt_d = 0, ldt_addr = 0, old_d, old_addr;
	uint32_t ec = (sel & 0xfffc) | ext;
	unsigned type, cpl;
	uint8_t nb[0x68], ob[0x68];
	const struct tss_layout *nl, *ol;
	enum emu_status rc;

	x86_desc_to_segment(desc, sel, &nt);
	type = nt.attr & (X86_SEG_S | X86_SEG_TYPE_MASK);
	if (type != X86_DESC_TSS16_AVAIL && type != X86_DESC_TSS16_BUSY && type != X86_DESC_TSS32_AVAIL &&
	    type != X86_DESC_TSS32_BUSY)
		return emu_raise(x, reason == TASK_IRET ? EMU_TS : EMU_GP, true, ec);
	if (reason != TASK_IRET && (type & 2))
		return emu_raise(x, EMU_GP, true, ec);
	if (!(nt.attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, ec);
	nl = (type & 8) ? &tss32 : &tss16;
	ol = (attr_type(ntss_old.attr) & 8) ? &tss32 : &tss16;
	if (nt.limit < nl->min_limit)
		return emu_raise(x, EMU_TS, true, ec);
	if (ntss_old.limit < ol->min_limit)
		return emu_raise(x, EMU_TS, true, (ntss_old.selector & 0xfffc) | ext);

	/* The old task's state goes into its TSS; NT is cleared in the image when leaving for good. */
	uint64_t oflags = st->rflags & ~X86_RFLAGS_RF;
	if (reason == TASK_JMP || reason == TASK_IRET)
		oflags &= ~X86_RFLAGS_NT;
	memset(ob, 0, sizeof(ob));
	memcpy(ob + ol->eip, &ret_rip, ol->w);
	memcpy(ob + ol->eflags, &oflags, ol->w);
	for (unsigned r = 0; r < 8; r++)
		memcpy(ob + ol->gpr + r * ol->w, &st->gpr[r], ol->w);
	EMU_TRY(
	    emu_lin_write(x, (ntss_old.base + ol->eip) & 0xffffffffu, ob + ol->eip, 2 * ol->w + 8 * ol->w));
	for (unsigned s = 0; s < (ol == &tss32 ? 6u : 4u); s++)
		EMU_TRY(emu_lin_write(x, (ntss_old.base + ol->sreg + s * ol->w) & 0xffffffffu,
		                      &st->seg[s].selector, 2));
	if (reason == TASK_JMP || reason == TASK_IRET) {
		EMU_TRY(emu_desc_read(x, ntss_old.selector, EMU_GP, ext, &old_d, &old_addr));
		uint8_t b = (uint8_t)(old_d >> 40) & ~2;
		EMU_TRY(emu_lin_write(x, old_addr + 5, &b, 1));
	}

	/* The new task's state (read after the save, which may overlap it). */
	EMU_TRY(emu_lin_read(x, nt.base & 0xffffffffu, nb, nl->min_limit + 1));
	if (reason != TASK_IRET) {
		uint8_t b = (uint8_t)(desc >> 40) | 2;
		EMU_TRY(emu_lin_write(x, desc_addr + 5, &b, 1));
	}
	if (reason == TASK_CALL || reason == TASK_INT)
		EMU_TRY(emu_lin_write(x, nt.base & 0xffffffffu, &ntss_old.selector, 2));

	uint64_t nflags = get(nb, nl->eflags, nl->w) | X86_RFLAGS_FIXED;
	uint64_t nip = get(nb, nl->eip, nl->w), cr3 = st->cr3;
	uint16_t sels[6], ldt_sel = (uint16_t)get(nb, nl->ldt, 2);
	if (nl == &tss16)
		nflags = (st->rflags & ~0xffffull) | (nflags & 0xffff);
	if (reason == TASK_CALL || reason == TASK_INT)
		nflags |= X86_RFLAGS_NT;
	for (unsigned s = 0; s < 6; s++)
		sels[s] = s < 4 || nl == &tss32 ? (uint16_t)get(nb, nl->sreg + s * nl->w, 2) : 0;
	bool vm = nl == &tss32 && (nflags & X86_RFLAGS_VM);

	/* Checks under the new task's CR3 and LDT; put back if one faults. */
	struct x86_segment save_ldt = st->seg[X86_LDTR];
	if (nl == &tss32 && (st->cr0 & X86_CR0_PG))
		st->cr3 = get(nb, 0x1c, 4);
	rc = EMU_OK;
	if (ldt_sel & ~3) {
		if (ldt_sel & EC_TI) {
			rc = emu_raise(x, EMU_TS, true, (ldt_sel & 0xfffc) | ext);
		} else if ((rc = emu_desc_read(x, ldt_sel, EMU_TS, ext, &ldt_d, &ldt_addr)) == EMU_OK) {
			x86_desc_to_segment(ldt_d, ldt_sel, &ldt);
			if ((ldt.attr & X86_SEG_S) || attr_type(ldt.attr) != X86_DESC_LDT ||
			    !(ldt.attr & X86_SEG_P))
				rc = emu_raise(x, EMU_TS, true, (ldt_sel & 0xfffc) | ext);
		}
	} else {
		emu_seg_null(&ldt, ldt_sel);
	}
	if (rc == EMU_OK)
		st->seg[X86_LDTR] = ldt;
	cpl = vm ? 3 : sels[X86_CS] & 3u;
	for (unsigned s = 0; rc == EMU_OK && s < 6; s++) {
		static const unsigned order[6] = {X86_CS, X86_SS, X86_DS, X86_ES, X86_FS, X86_GS};
		unsigned r = order[s];
		if (vm) {
			emu_seg_v86(&segs[r], sels[r]);
			segs[r].pad[0] = segs[r].pad[1] = segs[r].pad[2] = 0;
			saddr[r] = 0;
			continue;
		}
		rc = task_seg(x, r, sels[r], cpl, &segs[r], &sd[r], &saddr[r], ext);
	}
	if (rc == EMU_OK && !vm && nip > segs[X86_CS].limit)
		rc = emu_raise(x, EMU_GP, true, ext);
	/* An exception's error code goes on the new task's stack. */
	struct emu_stk s;
	if (rc == EMU_OK && has_error) {
		s.ss = segs[X86_SS];
		s.size = vm ? 2 : (segs[X86_SS].attr & X86_SEG_DB) ? 4 : 2;
		s.sp = get(nb, nl->gpr + X86_RSP * nl->w, nl->w) & emu_mask(s.size);
		s.user = cpl == 3;
		s.ec = ext;
		rc = emu_stk_push(x, &s, nl->w, error);
	}
	for (unsigned r = 0; rc == EMU_OK && r < 6; r++)
		if (saddr[r])
			rc = emu_desc_set_bits(x, saddr[r], sd[r], 1);
	if (rc != EMU_OK) {
		st->cr3 = cr3;
		st->seg[X86_LDTR] = save_ldt;
		return rc;
	}
	if (st->cr3 != cr3)
		emu_tlb_flush(x, true, 0);

	/* The switch. */
	for (unsigned r = 0; r < 8; r++) {
		uint64_t v = get(nb, nl->gpr + r * nl->w, nl->w);
		st->gpr[r] = nl == &tss32 ? v : (st->gpr[r] & ~0xffffull) | v;
	}
	for (unsigned r = 0; r < 6; r++) {
		if (saddr[r])
			segs[r].attr |= 1;
		st->seg[r] = segs[r];
	}
	nt.attr |= 2;
	st->seg[X86_TR] = nt;
	st->rflags = nflags;
	x->rf_loaded = nl == &tss32;
	st->rip = nip;
	st->cr0 |= X86_CR0_TS;
	if (has_error)
		emu_stk_set_rsp(st, &s);
	x->rip_set = true;
	return EMU_OK;
}
