/* Events around an instruction: an injected NMI (blocked by NMI blocking
 * and by the MOV SS shadow), DR0-DR3 instruction breakpoints before it, and
 * the TF single-step and data-breakpoint traps after it, deferred over
 * MOV SS/POP SS as silicon defers them (SDM Vol. 3, 6.8.3 and 18.3.1). A data
 * breakpoint hit by the MOV SS itself is dropped: the state has no place to
 * carry it to the next step. */
#include "system.h"

#define DR6_BS (1ull << 14)
#define DR6_B  0xfull
#define DR6_BD (1ull << 13)
#define DR7_GD (1ull << 13)

/* Delivers (or leaves pending) #DB with the DR6 bits of its cause. */
static enum emu_status raise_db(struct emu_ctxt *c, bool fault)
{
	struct x86_state *st = c->st;
	struct emu_event ev = {.vector = EMU_DB};
	enum emu_status rc;
	if (!c->deliver_exceptions) {
		if (fault) {
			c->event = ev;
			return EMU_EXCEPTION;
		}
		/* A trap with no delivery in this step: it is pending for the next one. */
		st->events.exc_pending = 1;
		st->events.exc_vector = EMU_DB;
		st->events.exc_has_error = 0;
		st->events.exc_error_code = 0;
		return EMU_OK;
	}
	rc = emu_deliver_event(c, &ev, true);
	c->event = ev;
	return rc;
}

/* The DR0-DR3 instruction breakpoints enabled in DR7 that match lin. */
static unsigned insn_breakpoints(const struct x86_state *st, uint64_t lin)
{
	unsigned hits = 0;
	for (unsigned n = 0; n < 4; n++) {
		unsigned rw = (unsigned)(st->dr7 >> (16 + 4 * n)) & 3;
		if (!((st->dr7 >> (2 * n)) & 3) || rw != 0)
			continue;
		if (st->dr[n] == lin)
			hits |= 1u << n;
	}
	return hits;
}

enum emu_status emu_debug_before(struct emu_ctxt *c, bool *done)
{
	struct x86_state *st = c->st;
	*done = false;
	if (st->events.nmi_pending && !st->events.nmi_masked && !(st->events.shadow & X86_SHADOW_MOV_SS)) {
		struct emu_event ev = {.vector = EMU_NMI};
		enum emu_status rc = emu_deliver_event(c, &ev, true);
		*done = true;
		if (rc == EMU_OK)
			st->events.nmi_pending = 0;
		return rc;
	}
	/* Debug exceptions are inhibited in the MOV SS shadow: an instruction breakpoint there is missed. */
	if ((st->dr7 & 0xff) && !(st->rflags & X86_RFLAGS_RF) && !st->events.halted &&
	    !(st->events.shadow & X86_SHADOW_MOV_SS)) {
		enum x86_mode mode = x86_state_mode(st);
		uint64_t lin =
		    mode == X86_MODE_LONG64 ? st->rip : (st->seg[X86_CS].base + st->rip) & 0xffffffffu;
		unsigned hits = insn_breakpoints(st, lin);
		if (hits) {
			*done = true;
			st->dr6 = (st->dr6 & ~DR6_B) | hits;
			return raise_db(c, true);
		}
	}
	return EMU_OK;
}

void emu_debug_data(struct emu_exec *x, uint64_t lin, unsigned len, bool write)
{
	const struct x86_state *st = x->st;
	static const unsigned lens[4] = {1, 2, 8, 4};
	for (unsigned n = 0; n < 4; n++) {
		unsigned rw = (unsigned)(st->dr7 >> (16 + 4 * n)) & 3,
		         ln = (unsigned)(st->dr7 >> (18 + 4 * n)) & 3;
		if (!((st->dr7 >> (2 * n)) & 3) || !(rw == 1 || rw == 3) || (rw == 1 && !write))
			continue;
		/* The breakpoint covers LEN bytes at DRn aligned down to LEN. */
		uint64_t lo = st->dr[n] & ~(uint64_t)(lens[ln] - 1), hi = lo + lens[ln];
		if (lin < hi && lin + len > lo)
			x->dr_hits |= (uint8_t)(1u << n);
	}
}

/* INT n, INT3, INT1 and a taken INTO deliver an event, which drops a pending single-step trap. */
static bool delivers(const struct emu_insn *i, uint64_t rflags)
{
	if (i->map != 0)
		return false;
	return i->b == 0xcc || i->b == 0xcd || i->b == 0xf1 || (i->b == 0xce && (rflags & X86_RFLAGS_OF));
}

void emu_debug_general_detect(struct x86_state *st, uint64_t rflags_before)
{
	bool held_step = (rflags_before & X86_RFLAGS_TF) && (st->events.shadow & X86_SHADOW_MOV_SS);
	st->dr6 |= DR6_BD | (held_step ? DR6_BS : 0);
	st->dr7 &= ~DR7_GD;
	st->rflags |= X86_RFLAGS_RF;
}

enum emu_status emu_debug_after(struct emu_exec *x, uint64_t rflags_before, enum emu_status rc)
{
	struct emu_ctxt *c = x->c;
	struct x86_state *st = c->st;
	if (rc != EMU_OK && rc != EMU_HALT)
		return rc;
	/* TF as the instruction began: POPF/IRET that set it trap after the next one. A MOV SS or POP SS
	 * holds the trap over the next instruction, whose own TF then raises it (one #DB for both). */
	bool step = (rflags_before & X86_RFLAGS_TF) && !delivers(x->i, rflags_before);
	if ((!step && !x->dr_hits) || (x->new_shadow & X86_SHADOW_MOV_SS))
		return rc;
	/* Data breakpoints report the matched ones in B0-B3; a single step sets BS. */
	if (x->dr_hits)
		st->dr6 = (st->dr6 & ~DR6_B) | x->dr_hits;
	if (step)
		st->dr6 |= DR6_BS;
	if (rc == EMU_HALT)
		st->events.halted = 0;
	return raise_db(c, false);
}
