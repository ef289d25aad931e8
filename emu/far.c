/* Protected-mode and long-mode far JMP, CALL and RET (SDM Vol. 2A, their
 * pseudocode): code segments, conforming or not; call gates with the stack
 * switch through the TSS and the parameter copy; task gates and TSS
 * descriptors (task.c); far returns to the same or an outer level. */
#include "system.h"

/* The checks of a code segment reached directly (no gate) by JMP or CALL. */
static enum emu_status direct_code(struct emu_exec *x, uint16_t sel, const struct x86_segment *cs)
{
	unsigned dpl = attr_dpl(cs->attr), rpl = sel & 3;
	if (!attr_code(cs->attr))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (attr_conforming(cs->attr) ? dpl > x->cpl : (rpl > x->cpl || dpl != x->cpl))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(cs->attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if (long_mode(x) && (cs->attr & X86_SEG_L) && (cs->attr & X86_SEG_DB))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	return EMU_OK;
}

/* The new RIP: canonical for 64-bit code, within the limit otherwise. */
static enum emu_status check_target(struct emu_exec *x, const struct x86_segment *cs, uint64_t off)
{
	if (long_mode(x) && (cs->attr & X86_SEG_L))
		return emu_canonical(off) ? EMU_OK : EMU_RAISE_GP0(x);
	return off > cs->limit ? EMU_RAISE_GP0(x) : EMU_OK;
}

static void set_cs(struct emu_exec *x, struct x86_segment *cs, uint16_t sel, unsigned cpl, uint64_t off)
{
	cs->attr |= 1;
	cs->selector = (uint16_t)((sel & ~3u) | cpl);
	x->st->seg[X86_CS] = *cs;
	x->st->rip = off;
	x->rip_set = true;
}

/* A far JMP or CALL that stays at CPL (d at addr: the code descriptor); CALL pushes CS:rIP. */
static enum emu_status same_level(struct emu_exec *x, struct x86_segment *cs, uint16_t sel, uint64_t off,
                                  unsigned w, bool call, uint64_t d, uint64_t addr)
{
	struct emu_stk s;
	if (call) {
		emu_stk_current(x, &s);
		EMU_TRY(emu_stk_push(x, &s, w, x->st->seg[X86_CS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, x->next_rip & emu_mask(w)));
	}
	EMU_TRY(check_target(x, cs, off));
	EMU_TRY(emu_desc_set_bits(x, addr, d, 1));
	if (call)
		emu_stk_set_rsp(x->st, &s);
	set_cs(x, cs, sel, x->cpl, off);
	return EMU_OK;
}

static enum emu_status call_gate(struct emu_exec *x, uint16_t gsel, uint64_t g, bool call)
{
	struct x86_state *st = x->st;
	bool lm = long_mode(x);
	unsigned w, params, dpl;
	uint16_t sel;
	uint64_t off, hi = 0, cd, caddr;
	struct x86_gate gate;
	struct x86_segment cs;
	struct emu_stk s;

	if (lm) {
		EMU_TRY(emu_desc_read_hi(x, gsel, EMU_GP, 0, &hi));
		if ((hi >> 40) & 0x1f)
			return emu_raise(x, EMU_GP, true, gsel & 0xfffc);
	}
	x86_desc_to_gate(g, hi, &gate);
	w = lm ? 8 : gate.type == X86_DESC_CALL16 ? 2 : 4;
	params = gate.params;
	sel = gate.selector;
	off = gate.offset;
	EMU_TRY(emu_load_gate_cs(x, sel, 0, &cs, &cd, &caddr));
	dpl = attr_dpl(cs.attr);
	if (!call && !attr_conforming(cs.attr) && dpl != x->cpl)
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(cs.attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if (lm && (!(cs.attr & X86_SEG_L) || (cs.attr & X86_SEG_DB)))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);

	if (call && !attr_conforming(cs.attr) && dpl < x->cpl) {
		/* More privilege: the stack of ring dpl from the TSS, then the caller's SS:ESP and
		 * parameters. */
		uint16_t nss = 0; /* emu_tss_stack() sets it on success; -O1 cannot see that */
		uint64_t nsp, sd = 0, saddr = 0, v[32];
		struct x86_segment ss;
		struct emu_stk old;
		EMU_TRY(emu_tss_stack(x, dpl, 0, &nss, &nsp));
		if (lm) {
			emu_seg_null(&ss, (uint16_t)dpl);
			ss.attr |= dpl << X86_SEG_DPL_SHIFT;
			s.sp = nsp;
			s.size = 8;
			s.ec = 0;
		} else {
			EMU_TRY(emu_load_stack_seg(x, nss, dpl, EMU_TS, 0, &ss, &saddr, &sd));
			s.size = (ss.attr & X86_SEG_DB) ? 4 : 2;
			s.sp = nsp & emu_mask(s.size);
			s.ec = nss & 0xfffc;
		}
		s.ss = ss;
		s.user = false;
		emu_stk_current(x, &old);
		if (!lm)
			for (unsigned k = 0; k < params; k++)
				EMU_TRY(emu_stk_pop(x, &old, w, &v[k]));
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_SS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, st->gpr[X86_RSP] & emu_mask(w)));
		if (!lm)
			for (unsigned k = params; k-- > 0;)
				EMU_TRY(emu_stk_push(x, &s, w, v[k]));
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_CS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, x->next_rip & emu_mask(w)));
		EMU_TRY(check_target(x, &cs, off));
		if (!lm) {
			EMU_TRY(emu_desc_set_bits(x, saddr, sd, 1));
			s.ss.attr |= 1;
		}
		EMU_TRY(emu_desc_set_bits(x, caddr, cd, 1));
		st->seg[X86_SS] = s.ss;
		if (lm)
			st->gpr[X86_RSP] = s.sp;
		else
			emu_stk_set_rsp(st, &s);
		set_cs(x, &cs, sel, dpl, off);
		return EMU_OK;
	}
	return same_level(x, &cs, sel, off, w, call, cd, caddr);
}

enum emu_status emu_far_transfer(struct emu_exec *x, uint16_t sel, uint64_t off, bool call)
{
	unsigned w = x->i->opsize, type, dpl;
	uint64_t d, addr;
	struct x86_segment cs;

	if (!(sel & ~3))
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_desc_read(x, sel, EMU_GP, 0, &d, &addr));
	x86_desc_to_segment(d, sel, &cs);
	if (cs.attr & X86_SEG_S) {
		EMU_TRY(direct_code(x, sel, &cs));
		return same_level(x, &cs, sel, off & emu_mask(w), w, call, d, addr);
	}
	type = attr_type(cs.attr);
	dpl = attr_dpl(cs.attr);
	if (long_mode(x) ? type != X86_DESC_CALL32
	                 : (type != X86_DESC_CALL16 && type != X86_DESC_CALL32 && type != X86_DESC_TASK &&
	                    type != X86_DESC_TSS16_AVAIL && type != X86_DESC_TSS32_AVAIL))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (dpl < x->cpl || dpl < (sel & 3u))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(cs.attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if (type == X86_DESC_CALL16 || type == X86_DESC_CALL32)
		return call_gate(x, sel, d, call);
	if (type == X86_DESC_TASK) {
		struct x86_gate gate;
		uint64_t td, taddr;
		x86_desc_to_gate(d, 0, &gate);
		uint16_t tsel = gate.selector;
		if (tsel & EC_TI)
			return emu_raise(x, EMU_GP, true, tsel & 0xfffc);
		EMU_TRY(emu_desc_read(x, tsel, EMU_GP, 0, &td, &taddr));
		return emu_task_switch(x, tsel, td, taddr, call ? TASK_CALL : TASK_JMP, 0, false, 0,
		                       x->next_rip);
	}
	return emu_task_switch(x, sel, d, addr, call ? TASK_CALL : TASK_JMP, 0, false, 0, x->next_rip);
}

enum emu_status emu_far_return(struct emu_exec *x, uint16_t imm)
{
	struct x86_state *st = x->st;
	unsigned w = x->i->opsize, rpl;
	uint64_t ip, cs64, cd, caddr;
	uint16_t sel;
	struct x86_segment cs;
	struct emu_stk s;

	emu_stk_current(x, &s);
	EMU_TRY(emu_stk_pop(x, &s, w, &ip));
	EMU_TRY(emu_stk_pop(x, &s, w, &cs64));
	sel = (uint16_t)cs64;
	rpl = sel & 3;
	EMU_TRY(emu_load_return_cs(x, sel, &cs, &cd, &caddr));
	if (!(cs.attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, sel & 0xfffc);
	if (long_mode(x) && (cs.attr & X86_SEG_L) && (cs.attr & X86_SEG_DB))
		return emu_raise(x, EMU_GP, true, sel & 0xfffc);
	if (!(long_mode(x) && (cs.attr & X86_SEG_L)) && w == 2)
		ip &= 0xffff;
	s.sp = (s.sp + imm) & emu_mask(s.size);
	if (rpl == x->cpl) {
		EMU_TRY(check_target(x, &cs, ip));
		EMU_TRY(emu_desc_set_bits(x, caddr, cd, 1));
		emu_stk_set_rsp(st, &s);
		set_cs(x, &cs, sel, rpl, ip);
		return EMU_OK;
	}

	/* To an outer level: SS:ESP from the stack, checked like IRET's. */
	uint64_t sp, ss64, sd = 0, saddr = 0;
	struct x86_segment ss;
	uint16_t ssel;
	bool target64 = long_mode(x) && (cs.attr & X86_SEG_L);
	EMU_TRY(emu_stk_pop(x, &s, w, &sp));
	EMU_TRY(emu_stk_pop(x, &s, w, &ss64));
	ssel = (uint16_t)ss64;
	EMU_TRY(emu_load_return_ss(x, ssel, rpl, target64, &ss, &saddr, &sd));
	EMU_TRY(check_target(x, &cs, ip));
	EMU_TRY(emu_desc_set_bits(x, caddr, cd, 1));
	if (ssel & ~3) {
		EMU_TRY(emu_desc_set_bits(x, saddr, sd, 1));
		ss.attr |= 1;
	}
	st->seg[X86_SS] = ss;
	if (target64 || w == 8) {
		st->gpr[X86_RSP] = sp + imm;
	} else {
		struct emu_stk ns = {.ss = ss, .sp = sp + imm, .size = (ss.attr & X86_SEG_DB) ? 4 : 2};
		ns.sp &= emu_mask(ns.size);
		emu_stk_set_rsp(st, &ns);
	}
	set_cs(x, &cs, sel, rpl, ip);
	emu_null_inaccessible(st, rpl);
	return EMU_OK;
}
