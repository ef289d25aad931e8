/* IRET in every form (SDM Vol. 2A, IRET pseudocode): real mode, virtual-8086
 * mode (IOPL 3 and VME), task return through the back link (NT = 1),
 * protected mode to the same or an outer privilege level, to virtual-8086
 * mode, and IRETQ. Every path checks before it changes anything. */
#include "system.h"

/* EFLAGS bits an IRET loads from its image, by operand size and privilege (old CPL). */
static uint64_t iret_flags(const struct emu_exec *x, uint64_t cur, uint64_t img, unsigned w)
{
	uint64_t mask = X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | X86_RFLAGS_SF |
	                X86_RFLAGS_TF | X86_RFLAGS_DF | X86_RFLAGS_OF | X86_RFLAGS_NT;
	unsigned iopl = (unsigned)((cur & X86_RFLAGS_IOPL) >> 12);
	if (w > 2)
		mask |= X86_RFLAGS_RF | X86_RFLAGS_AC | X86_RFLAGS_ID;
	if (x->mode == X86_MODE_REAL || x->cpl <= iopl)
		mask |= X86_RFLAGS_IF;
	if (x->mode == X86_MODE_REAL || x->cpl == 0) {
		mask |= X86_RFLAGS_IOPL;
		if (w > 2 && x->mode != X86_MODE_REAL)
			mask |= X86_RFLAGS_VIF | X86_RFLAGS_VIP;
	}
	return (cur & ~mask) | (img & mask) | X86_RFLAGS_FIXED;
}

/* Real and v86 mode: pops IP, CS, FLAGS from the current stack; the new IP must be within CS's limit. */
static enum emu_status pop_frame16(struct emu_exec *x, struct emu_stk *s, uint64_t *ip, uint64_t *cs,
                                   uint64_t *fl)
{
	unsigned w = x->i->opsize;
	emu_stk_current(x, s);
	EMU_TRY(emu_stk_pop(x, s, w, ip));
	EMU_TRY(emu_stk_pop(x, s, w, cs));
	EMU_TRY(emu_stk_pop(x, s, w, fl));
	return *ip > x->st->seg[X86_CS].limit ? EMU_RAISE_GP0(x) : EMU_OK;
}

static enum emu_status iret_real(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	unsigned w = x->i->opsize;
	uint64_t ip, cs, fl;
	struct emu_stk s;
	EMU_TRY(pop_frame16(x, &s, &ip, &cs, &fl));
	/* Real mode: VM, VIP and VIF keep their values whatever the image holds. */
	st->rflags = iret_flags(x, st->rflags, fl, w);
	st->seg[X86_CS].selector = (uint16_t)cs;
	st->seg[X86_CS].base = (cs & 0xffff) << 4;
	emu_stk_set_rsp(st, &s);
	st->rip = ip;
	return EMU_OK;
}

/* IRET in virtual-8086 mode: IOPL 3, or a 16-bit IRET with CR4.VME (SDM 20.3). */
static enum emu_status iret_v86(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	unsigned w = x->i->opsize, iopl = (unsigned)((st->rflags & X86_RFLAGS_IOPL) >> 12);
	uint64_t ip, cs, fl, nf;
	struct emu_stk s;
	bool vme = iopl < 3;
	if (vme && (!(st->cr4 & X86_CR4_VME) || w != 2))
		return EMU_RAISE_GP0(x);
	EMU_TRY(pop_frame16(x, &s, &ip, &cs, &fl));
	if (vme) {
		if (((fl & X86_RFLAGS_IF) && (st->rflags & X86_RFLAGS_VIP)) || (fl & X86_RFLAGS_TF))
			return EMU_RAISE_GP0(x);
		uint64_t m = 0x4dd5; /* NT OF DF TF SF ZF AF PF CF */
		nf = (st->rflags & ~m) | (fl & m) | X86_RFLAGS_FIXED;
		nf = (nf & ~X86_RFLAGS_VIF) | ((fl & X86_RFLAGS_IF) ? X86_RFLAGS_VIF : 0);
	} else {
		uint64_t m = 0x4fd5 | (w > 2 ? X86_RFLAGS_RF | X86_RFLAGS_AC | X86_RFLAGS_ID : 0);
		m |= X86_RFLAGS_IF;
		m &= emu_mask(w);
		nf = (st->rflags & ~m) | (fl & m) | X86_RFLAGS_FIXED;
	}
	st->rflags = nf;
	st->seg[X86_CS].selector = (uint16_t)cs;
	st->seg[X86_CS].base = (cs & 0xffff) << 4;
	emu_stk_set_rsp(st, &s);
	st->rip = ip;
	return EMU_OK;
}

/* From CPL 0 with VM set in the image: pops ESP, SS, ES, DS, FS, GS and enters virtual-8086 mode. */
static enum emu_status iret_to_v86(struct emu_exec *x, struct emu_stk *s, uint64_t ip, uint16_t cs,
                                   uint64_t fl)
{
	struct x86_state *st = x->st;
	uint64_t v[6];
	for (unsigned k = 0; k < 6; k++)
		EMU_TRY(emu_stk_pop(x, s, 4, &v[k]));
	st->rflags = (fl & 0x3f7fd5) | X86_RFLAGS_FIXED;
	emu_seg_v86(&st->seg[X86_CS], cs);
	emu_seg_v86(&st->seg[X86_SS], (uint16_t)v[1]);
	emu_seg_v86(&st->seg[X86_ES], (uint16_t)v[2]);
	emu_seg_v86(&st->seg[X86_DS], (uint16_t)v[3]);
	emu_seg_v86(&st->seg[X86_FS], (uint16_t)v[4]);
	emu_seg_v86(&st->seg[X86_GS], (uint16_t)v[5]);
	st->gpr[X86_RSP] = (uint32_t)v[0];
	st->rip = ip & 0xffff;
	return EMU_OK;
}

/* NT = 1: return to the task named by the back link of the current TSS. */
static enum emu_status iret_task(struct emu_exec *x)
{
	const struct x86_segment *tr = &x->st->seg[X86_TR];
	uint16_t link;
	uint64_t d, addr;
	EMU_TRY(emu_lin_read(x, tr->base & 0xffffffffu, &link, 2));
	if (link & EC_TI)
		return emu_raise(x, EMU_TS, true, link & 0xfffc);
	EMU_TRY(emu_desc_read(x, link, EMU_TS, 0, &d, &addr));
	struct x86_segment tss;
	x86_desc_to_segment(d, link, &tss);
	/* S and type: a busy TSS. */
	unsigned type = tss.attr & (X86_SEG_S | X86_SEG_TYPE_MASK);
	if (type != X86_DESC_TSS32_BUSY && type != X86_DESC_TSS16_BUSY)
		return emu_raise(x, EMU_TS, true, link & 0xfffc);
	if (!(tss.attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, link & 0xfffc);
	return emu_task_switch(x, link, d, addr, TASK_IRET, 0, false, 0, x->next_rip);
}

static enum emu_status iret_protected(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	unsigned w = x->i->opsize, rpl;
	bool l64 = x->mode == X86_MODE_LONG64, target64, outer;
	uint64_t ip, cs64, fl, sp = 0, ss64 = 0, cd, caddr, sd = 0, saddr = 0;
	uint16_t sel, ssel = 0; /* set on every path that reads it; -O2 cannot see that */
	struct x86_segment cs, ss;
	struct emu_stk s;

	if (st->rflags & X86_RFLAGS_NT) {
		if (long_mode(x))
			return EMU_RAISE_GP0(x);
		return iret_task(x);
	}
	emu_stk_current(x, &s);
	EMU_TRY(emu_stk_pop(x, &s, w, &ip));
	EMU_TRY(emu_stk_pop(x, &s, w, &cs64));
	EMU_TRY(emu_stk_pop(x, &s, w, &fl));
	sel = (uint16_t)cs64;
	if (w == 4 && (fl & X86_RFLAGS_VM) && x->cpl == 0 && !long_mode(x))
		return iret_to_v86(x, &s, ip, sel, fl);

	/* The return code segment. */
	rpl = sel & 3;
	EMU_TRY(emu_load_return_cs(x, sel, &cs, &cd, &caddr));
	if (long_mode(x) && (cs.attr & X86_SEG_L) && (cs.attr & X86_SEG_DB))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(cs.attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	target64 = long_mode(x) && (cs.attr & X86_SEG_L);
	outer = rpl > x->cpl;

	/* 64-bit mode pops SS:RSP at every privilege level. */
	if (outer || l64) {
		EMU_TRY(emu_stk_pop(x, &s, w, &sp));
		EMU_TRY(emu_stk_pop(x, &s, w, &ss64));
		ssel = (uint16_t)ss64;
		EMU_TRY(emu_load_return_ss(x, ssel, rpl, target64, &ss, &saddr, &sd));
	}
	if (target64) {
		if (!emu_canonical(ip))
			return EMU_RAISE_GP0(x);
	} else {
		if (w == 2)
			ip &= 0xffff;
		if (ip > cs.limit)
			return EMU_RAISE_GP0(x);
	}
	EMU_TRY(emu_desc_set_bits(x, caddr, cd, 1));
	if ((outer || l64) && (ssel & ~3))
		EMU_TRY(emu_desc_set_bits(x, saddr, sd, 1));

	/* Nothing faults from here on. */
	st->rflags = iret_flags(x, st->rflags, fl, w);
	cs.attr |= 1;
	st->seg[X86_CS] = cs;
	st->rip = ip;
	if (outer || l64) {
		if (ssel & ~3)
			ss.attr |= 1;
		st->seg[X86_SS] = ss;
		if (target64 || w == 8)
			st->gpr[X86_RSP] = sp;
		else if (!(ss.attr & X86_SEG_DB) && !(ss.attr & X86_SEG_UNUSABLE))
			/* A 16-bit stack gets SP only: the upper half of ESP stays (the espfix leak). */
			st->gpr[X86_RSP] = (s.sp & 0xffff0000u) | (sp & 0xffff);
		else
			st->gpr[X86_RSP] = (uint32_t)sp;
		if (outer)
			emu_null_inaccessible(st, rpl);
	} else {
		emu_stk_set_rsp(st, &s);
	}
	return EMU_OK;
}

enum emu_status emu_iret(struct emu_exec *x)
{
	enum emu_status rc;
	switch (x->mode) {
	case X86_MODE_REAL:
		rc = iret_real(x);
		break;
	case X86_MODE_V86:
		rc = iret_v86(x);
		break;
	default:
		rc = iret_protected(x);
	}
	if (rc != EMU_OK)
		return rc;
	x->rip_set = true;
	/* A 16-bit image has no RF; a task return loads it from the TSS (emu_task_switch). */
	if (x->i->opsize > 2)
		x->rf_loaded = true;
	/* Any IRET that completes ends NMI blocking. */
	x->st->events.nmi_masked = 0;
	return EMU_OK;
}
