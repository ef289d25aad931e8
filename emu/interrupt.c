/* Event delivery: the real-mode IVT; the protected-mode IDT through
 * interrupt, trap and task gates with the stack switch through the TSS; the
 * long-mode IDT with IST; and the double-fault and shutdown rules of an
 * event whose delivery faults (SDM Vol. 3, 6.12-6.15, INT n pseudocode). */
#include <stdio.h>

#include "system.h"

bool emu_vector_is_fault(unsigned vector)
{
	switch (vector) {
	case EMU_DE:
	case EMU_BR:
	case EMU_UD:
	case EMU_NM:
	case EMU_TS:
	case EMU_NP:
	case EMU_SS:
	case EMU_GP:
	case EMU_PF:
	case EMU_MF:
	case EMU_AC:
	case EMU_XM:
	case 20: /* #VE */
	case 21: /* #CP */
		return true;
	}
	return false;
}

static enum emu_status deliver_real(struct emu_exec *x, const struct emu_ev *ev)
{
	struct x86_state *st = x->st;
	uint16_t ivt[2];
	struct emu_stk s;

	if ((uint64_t)ev->vector * 4 + 3 > st->idtr.limit)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_lin_read(x, (st->idtr.base + (uint64_t)ev->vector * 4) & 0xffffffffu, ivt, 4));
	emu_stk_current(x, &s);
	EMU_TRY(emu_stk_push(x, &s, 2, st->rflags & 0xffff));
	EMU_TRY(emu_stk_push(x, &s, 2, st->seg[X86_CS].selector));
	EMU_TRY(emu_stk_push(x, &s, 2, ev->ret_rip & 0xffff));
	/* Only the selector and base change: the cached limit and attributes stay (unreal mode). */
	st->seg[X86_CS].selector = ivt[1];
	st->seg[X86_CS].base = (uint64_t)ivt[1] << 4;
	st->rflags &= ~(X86_RFLAGS_IF | X86_RFLAGS_TF | X86_RFLAGS_AC | X86_RFLAGS_RF);
	emu_stk_set_rsp(st, &s);
	st->rip = ivt[0];
	x->rip_set = true;
	return EMU_OK;
}

/* Reads the CS descriptor a gate names and checks it for an interrupt: code, DPL <= CPL, present. */
static enum emu_status gate_code_seg(struct emu_exec *x, uint16_t sel, uint32_t ext, struct x86_segment *cs,
                                     uint64_t *d, uint64_t *addr)
{
	EMU_TRY(emu_load_gate_cs(x, sel, ext, cs, d, addr));
	if (long_mode(x) && (!(cs->attr & X86_SEG_L) || (cs->attr & X86_SEG_DB)))
		return emu_raise(x, EMU_GP, true, (sel & 0xfffc) | ext);
	if (!(cs->attr & X86_SEG_P))
		return emu_raise(x, EMU_NP, true, (sel & 0xfffc) | ext);
	return EMU_OK;
}

static enum emu_status deliver_protected(struct emu_exec *x, const struct emu_ev *ev)
{
	struct x86_state *st = x->st;
	bool lm = long_mode(x), v86 = x->mode == X86_MODE_V86;
	uint32_t ext = ev->kind == EV_SOFT ? 0 : EC_EXT;
	uint32_t idt_ec = ev->vector * 8 + EC_IDT + ext;
	unsigned esize = lm ? 16 : 8, type, cdpl, w;
	uint64_t g, ghi = 0, off, cd, caddr, rfl;
	uint16_t sel;
	struct x86_gate gate;
	struct x86_segment cs, ss;
	struct emu_stk s;
	bool outer, gate16;

	if ((uint64_t)ev->vector * esize + esize - 1 > st->idtr.limit)
		return emu_raise(x, EMU_GP, true, idt_ec);
	EMU_TRY(emu_lin_read(x, (st->idtr.base + (uint64_t)ev->vector * esize) & (lm ? ~0ull : 0xffffffffu),
	                     &g, 8));
	if (lm)
		EMU_TRY(emu_lin_read(x, st->idtr.base + (uint64_t)ev->vector * esize + 8, &ghi, 8));
	x86_desc_to_gate(g, ghi, &gate);
	type = gate.type;
	if (lm ? (type != X86_DESC_INT32 && type != X86_DESC_TRAP32)
	       : (type != X86_DESC_TASK && type != X86_DESC_INT16 && type != X86_DESC_TRAP16 &&
	          type != X86_DESC_INT32 && type != X86_DESC_TRAP32))
		return emu_raise(x, EMU_GP, true, idt_ec);
	if (ev->kind == EV_SOFT && gate.dpl < x->cpl)
		return emu_raise(x, EMU_GP, true, idt_ec);
	if (!gate.present)
		return emu_raise(x, EMU_NP, true, idt_ec);
	sel = gate.selector;
	if (type == X86_DESC_TASK) {
		uint64_t td, taddr;
		if (sel & EC_TI)
			return emu_raise(x, EMU_GP, true, (sel & 0xfffc) | ext);
		EMU_TRY(emu_desc_read(x, sel, EMU_GP, ext, &td, &taddr));
		return emu_task_switch(x, sel, td, taddr, TASK_INT, ext, ev->has_error, ev->error,
		                       ev->ret_rip);
	}
	off = gate.offset;
	gate16 = type == X86_DESC_INT16 || type == X86_DESC_TRAP16;
	EMU_TRY(gate_code_seg(x, sel, ext, &cs, &cd, &caddr));
	cdpl = attr_dpl(cs.attr);
	outer = !attr_conforming(cs.attr) && cdpl < x->cpl;
	if (v86 && (!outer || cdpl != 0))
		return emu_raise(x, EMU_GP, true, (sel & 0xfffc) | ext);
	w = lm ? 8 : gate16 ? 2 : 4;
	if (lm) {
		unsigned ist = gate.ist;
		uint64_t rsp;
		uint16_t nss;
		if (ist)
			EMU_TRY(emu_tss_read(x, 0x24 + 8 * (ist - 1), 8, ext, &rsp));
		else if (outer)
			EMU_TRY(emu_tss_stack(x, cdpl, ext, &nss, &rsp));
		else {
			rsp = st->gpr[X86_RSP];
		}
		if (outer)
			emu_seg_null(&ss, (uint16_t)cdpl);
		else
			ss = st->seg[X86_SS];
		if (outer)
			ss.attr |= cdpl << X86_SEG_DPL_SHIFT;
		s.ss = ss;
		s.sp = rsp & ~0xfull;
		s.size = 8;
		s.user = cdpl == 3;
		s.ec = ext;
		if (!emu_canonical(off))
			return emu_raise(x, EMU_GP, true, ext);
	} else if (outer) {
		uint16_t nss;
		uint64_t nsp, sd, saddr;
		EMU_TRY(emu_tss_stack(x, cdpl, ext, &nss, &nsp));
		EMU_TRY(emu_load_stack_seg(x, nss, cdpl, EMU_TS, ext, &ss, &saddr, &sd));
		EMU_TRY(emu_desc_set_bits(x, saddr, sd, 1));
		ss.attr |= 1;
		s.ss = ss;
		s.size = (ss.attr & X86_SEG_DB) ? 4 : 2;
		s.sp = nsp & emu_mask(s.size);
		s.user = false;
		s.ec = (nss & 0xfffc) | ext;
	} else {
		emu_stk_current(x, &s);
		s.ec = ext;
		ss = s.ss;
	}
	if (!lm && off > cs.limit)
		return emu_raise(x, EMU_GP, true, ext);

	rfl = st->rflags | (ev->set_rf ? X86_RFLAGS_RF : 0);
	if (v86) {
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_GS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_FS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_DS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_ES].selector));
	}
	if (lm || outer) {
		EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_SS].selector));
		EMU_TRY(emu_stk_push(x, &s, w, st->gpr[X86_RSP] & emu_mask(lm ? 8 : w)));
	}
	EMU_TRY(emu_stk_push(x, &s, w, rfl & emu_mask(w)));
	EMU_TRY(emu_stk_push(x, &s, w, st->seg[X86_CS].selector));
	EMU_TRY(emu_stk_push(x, &s, w, ev->ret_rip & emu_mask(w)));
	if (ev->has_error)
		EMU_TRY(emu_stk_push(x, &s, w, ev->error));
	EMU_TRY(emu_desc_set_bits(x, caddr, cd, 1));

	/* No fault is possible from here on. */
	cs.attr |= 1;
	cs.selector = (uint16_t)((sel & ~3u) | (outer ? cdpl : x->cpl));
	if (!outer)
		cs.selector = (uint16_t)((sel & ~3u) | x->cpl);
	if (v86) {
		emu_seg_null(&st->seg[X86_ES], 0);
		emu_seg_null(&st->seg[X86_DS], 0);
		emu_seg_null(&st->seg[X86_FS], 0);
		emu_seg_null(&st->seg[X86_GS], 0);
	}
	st->seg[X86_CS] = cs;
	st->seg[X86_SS] = s.ss;
	if (lm)
		st->gpr[X86_RSP] = s.sp;
	else
		emu_stk_set_rsp(st, &s);
	st->rflags &= ~(X86_RFLAGS_TF | X86_RFLAGS_NT | X86_RFLAGS_VM | X86_RFLAGS_RF);
	if (type == X86_DESC_INT16 || type == X86_DESC_INT32)
		st->rflags &= ~X86_RFLAGS_IF;
	st->rip = off;
	x->rip_set = true;
	return EMU_OK;
}

/* V86 INT n with CR4.VME: the TSS redirection bitmap sends it through the v86 IVT (SDM 20.3.3). */
static enum emu_status v86_redirect(struct emu_exec *x, const struct emu_ev *ev, bool *done)
{
	struct x86_state *st = x->st;
	const struct x86_segment *tr = &st->seg[X86_TR];
	unsigned iopl = (unsigned)((st->rflags & X86_RFLAGS_IOPL) >> 12);
	uint16_t map, ivt[2];
	uint8_t bits;
	uint64_t fl;
	struct emu_stk s;

	*done = false;
	if (attr_type(tr->attr) != X86_DESC_TSS32_BUSY || tr->limit < 0x67)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_lin_read(x, (tr->base + 0x66) & 0xffffffffu, &map, 2));
	if ((uint32_t)map - 32 + ev->vector / 8 > tr->limit || map < 32)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_lin_read(x, (tr->base + map - 32 + ev->vector / 8) & 0xffffffffu, &bits, 1));
	if ((bits >> (ev->vector & 7)) & 1) {
		if (iopl < 3)
			return EMU_RAISE_GP0(x);
		return EMU_OK; /* protected-mode delivery */
	}
	EMU_TRY(emu_lin_read(x, (uint64_t)ev->vector * 4, ivt, 4));
	fl = st->rflags & 0xffff;
	if (iopl < 3)
		fl = (fl & ~(X86_RFLAGS_IF | X86_RFLAGS_IOPL)) | X86_RFLAGS_IOPL |
		     ((st->rflags & X86_RFLAGS_VIF) ? X86_RFLAGS_IF : 0);
	emu_stk_current(x, &s);
	EMU_TRY(emu_stk_push(x, &s, 2, fl));
	EMU_TRY(emu_stk_push(x, &s, 2, st->seg[X86_CS].selector));
	EMU_TRY(emu_stk_push(x, &s, 2, ev->ret_rip & 0xffff));
	st->seg[X86_CS].selector = ivt[1];
	st->seg[X86_CS].base = (uint64_t)ivt[1] << 4;
	emu_stk_set_rsp(st, &s);
	if (iopl < 3)
		st->rflags &= ~X86_RFLAGS_VIF;
	else
		st->rflags &= ~X86_RFLAGS_IF;
	st->rflags &= ~(X86_RFLAGS_TF | X86_RFLAGS_RF);
	st->rip = ivt[0];
	x->rip_set = true;
	*done = true;
	return EMU_OK;
}

enum emu_status emu_deliver_ev(struct emu_exec *x, const struct emu_ev *ev)
{
	if (x->mode == X86_MODE_REAL)
		return deliver_real(x, ev);
	if (x->mode == X86_MODE_V86 && ev->kind == EV_SOFT && ev->vector != EMU_BP && ev->vector != EMU_OF) {
		/* INT n (not INT3/INTO): IOPL < 3 is #GP(0) unless VME redirects it. */
		unsigned iopl = (unsigned)((x->st->rflags & X86_RFLAGS_IOPL) >> 12);
		if (x->st->cr4 & X86_CR4_VME) {
			bool done;
			EMU_TRY(v86_redirect(x, ev, &done));
			if (done)
				return EMU_OK;
		} else if (iopl < 3) {
			return EMU_RAISE_GP0(x);
		}
	}
	return deliver_protected(x, ev);
}

enum emu_status emu_deliver(struct emu_exec *x, unsigned vector, bool has_error, uint32_t error, bool soft,
                            uint64_t ret_rip)
{
	struct emu_ev ev = {.vector = vector,
	                    .has_error = has_error,
	                    .error = error,
	                    .kind = soft ? EV_SOFT : (vector == EMU_DB && !has_error ? EV_ICEBP : EV_HW),
	                    .set_rf = false,
	                    .ret_rip = ret_rip};
	return emu_deliver_ev(x, &ev);
}

static bool contributory(unsigned v)
{
	return v == EMU_DE || v == EMU_TS || v == EMU_NP || v == EMU_SS || v == EMU_GP;
}

enum emu_status emu_deliver_event(struct emu_ctxt *c, const struct emu_event *first, bool injected)
{
	struct x86_state *st = c->st;
	struct emu_ev ev = {.vector = first->vector,
	                    .has_error = first->has_error,
	                    .error = first->error_code,
	                    .kind = EV_HW,
	                    .set_rf = emu_vector_is_fault(first->vector),
	                    .ret_rip = st->rip};
	uint64_t gpr[X86_NGPR], rip, rflags;
	struct emu_exec x;
	enum emu_status rc;

	if (ev.vector == EMU_PF && !injected)
		st->cr2 = first->cr2;
	for (unsigned tries = 0; tries < 4; tries++) {
		emu_exec_init(&x, c);
		/* No instruction was decoded: the event's frame reads no prefix. */
		memset(&x.ibuf, 0, sizeof(x.ibuf));
		x.ibuf.seg_ovr = -1;
		memcpy(gpr, st->gpr, sizeof(gpr));
		rip = st->rip;
		rflags = st->rflags;
		rc = emu_deliver_ev(&x, &ev);
		if (rc == EMU_OK) {
			rc = emu_commit_writes(&x);
			if (rc != EMU_OK)
				return rc;
			st->events.shadow = 0;
			st->events.halted = 0;
			if (ev.vector == EMU_NMI && ev.kind == EV_HW)
				st->events.nmi_masked = 1;
			c->info.delivered_event = true;
			return EMU_OK;
		}
		memcpy(st->gpr, gpr, sizeof(gpr));
		st->rip = rip;
		st->rflags = rflags;
		if (rc != EMU_EXCEPTION)
			return rc;
		/* A fault while delivering (SDM Vol. 3, table 6-5): benign ones are delivered in turn,
		 * contributory after contributory and anything but a benign one after #PF make #DF,
		 * and a fault while delivering #DF shuts the processor down. */
		unsigned second = c->event.vector;
		if (ev.vector == EMU_DF)
			return EMU_SHUTDOWN;
		if ((contributory(ev.vector) && contributory(second)) ||
		    (ev.vector == EMU_PF && (second == EMU_PF || contributory(second)))) {
			ev.vector = EMU_DF;
			ev.has_error = true;
			ev.error = 0;
		} else {
			ev.vector = second;
			ev.has_error = c->event.has_error;
			ev.error = c->event.error_code;
		}
		if (second == EMU_PF)
			st->cr2 = c->event.cr2;
		ev.kind = EV_HW;
		ev.set_rf = emu_vector_is_fault(ev.vector);
	}
	return EMU_SHUTDOWN;
}
