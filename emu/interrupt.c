/* Event delivery and IRET. Real mode goes through the IVT; protected-mode and
 * long-mode delivery (IDT gates, stack switches, error codes) and IRET out of
 * protected mode are the next issue: they report EMU_UNIMPLEMENTED by name. */
#include <stdio.h>

#include "private.h"

static enum emu_status deliver_real(struct emu_exec *x, unsigned vector, uint64_t ret_rip)
{
	struct x86_state *st = x->st;
	uint16_t ivt[2];
	struct x86_segment cs;

	if ((uint64_t)vector * 4 + 3 > st->idtr.limit)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_lin_read(x, st->idtr.base + (uint64_t)vector * 4, ivt, 4));
	EMU_TRY(emu_push(x, 2, st->rflags & 0xffff));
	EMU_TRY(emu_push(x, 2, st->seg[X86_CS].selector));
	EMU_TRY(emu_push(x, 2, ret_rip & 0xffff));
	EMU_TRY(emu_seg_load(x, X86_CS, ivt[1], &cs));
	st->rflags &= ~(X86_RFLAGS_IF | X86_RFLAGS_TF | X86_RFLAGS_AC | X86_RFLAGS_RF);
	st->seg[X86_CS] = cs;
	st->rip = ivt[0];
	x->rip_set = true;
	return EMU_OK;
}

/* The place for protected-mode delivery: IDT gate lookup, privilege checks, stack switch, error code. */
static enum emu_status deliver_protected(struct emu_exec *x, unsigned vector, bool has_error, uint32_t error,
                                         bool soft, uint64_t ret_rip)
{
	(void)has_error;
	(void)error;
	(void)soft;
	(void)ret_rip;
	snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented), "vector %u delivery in %s mode",
	         vector, x->mode == X86_MODE_V86 ? "v86" : "protected");
	return EMU_UNIMPLEMENTED;
}

enum emu_status emu_deliver(struct emu_exec *x, unsigned vector, bool has_error, uint32_t error, bool soft,
                            uint64_t ret_rip)
{
	if (x->mode == X86_MODE_REAL)
		return deliver_real(x, vector, ret_rip);
	return deliver_protected(x, vector, has_error, error, soft, ret_rip);
}

enum emu_status emu_iret(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	unsigned w = x->i->opsize;
	uint64_t ip, cs, fl;
	struct x86_segment seg;

	if (x->mode != X86_MODE_REAL) {
		snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented), "iret in %s mode",
		         x->mode == X86_MODE_V86      ? "v86"
		         : x->mode == X86_MODE_LONG64 ? "long"
		                                      : "protected");
		return EMU_UNIMPLEMENTED;
	}
	EMU_TRY(emu_stack_read(x, 0, w, &ip));
	EMU_TRY(emu_stack_read(x, w, w, &cs));
	EMU_TRY(emu_stack_read(x, 2 * w, w, &fl));
	if (ip > st->seg[X86_CS].limit)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_seg_load(x, X86_CS, (uint16_t)cs, &seg));
	emu_rsp_add(x, 3 * w);
	if (w == 4)
		st->rflags = (fl & 0x257fd5) | (st->rflags & 0x1a0000) | X86_RFLAGS_FIXED;
	else
		st->rflags = (st->rflags & ~0xffffull) | (fl & 0x7fd5) | X86_RFLAGS_FIXED;
	st->seg[X86_CS] = seg;
	st->rip = ip;
	x->rip_set = true;
	st->events.nmi_masked = 0;
	return EMU_OK;
}
