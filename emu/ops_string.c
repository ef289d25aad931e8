/* String instructions and port I/O. A REP-prefixed string instruction runs
 * one iteration per step, as silicon single-steps it: RIP stays on the
 * instruction until the counter (CX/ECX/RCX by address size) runs out. */
#include "private.h"

/* The source segment may be overridden; the destination is always ES. */
static void advance_by(struct emu_exec *x, unsigned r, unsigned w)
{
	int64_t d = (x->st->rflags & X86_RFLAGS_DF) ? -(int64_t)w : (int64_t)w;
	emu_areg_set(x, r, emu_areg_get(x, r) + (uint64_t)d);
}

static void advance(struct emu_exec *x, unsigned r)
{
	advance_by(x, r, x->i->width);
}

/* A REP with a zero counter does nothing but move past the instruction. */
static bool rep_empty(const struct emu_exec *x)
{
	return x->i->rep && emu_areg_get(x, X86_RCX) == 0;
}

/* After one iteration: decrement the counter and stay on the instruction unless done. */
static void rep_next(struct emu_exec *x, bool cmp)
{
	uint64_t cnt;
	if (!x->i->rep)
		return;
	cnt = (emu_areg_get(x, X86_RCX) - 1) & emu_mask(x->i->adsize);
	emu_areg_set(x, X86_RCX, cnt);
	if (cnt == 0)
		return;
	if (cmp) {
		bool zf = x->st->rflags & X86_RFLAGS_ZF;
		if ((x->i->rep == 0xf3 && !zf) || (x->i->rep == 0xf2 && zf))
			return;
	}
	x->rip_set = true; /* st->rip still points at this instruction */
	/* Between iterations RF is set, as the EFLAGS image of an event taken there has it (SDM Vol. 3B
	 * 17.3.1.1): a code breakpoint on the instruction does not fire again for the next iteration. */
	x->st->rflags |= X86_RFLAGS_RF;
	x->rf_loaded = true;
}

enum emu_status em_movs(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t v;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, emu_areg_get(x, X86_RSI), w, &v));
	EMU_TRY(emu_mem_write_u(x, X86_ES, emu_areg_get(x, X86_RDI), w, v));
	advance(x, X86_RSI);
	advance(x, X86_RDI);
	rep_next(x, false);
	return EMU_OK;
}

enum emu_status em_cmps(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, b, f = x->st->rflags;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, emu_areg_get(x, X86_RSI), w, &a));
	EMU_TRY(emu_mem_read_u(x, X86_ES, emu_areg_get(x, X86_RDI), w, &b));
	alu_binop(ALU_CMP, w, a, b, &f);
	x->st->rflags = f;
	advance(x, X86_RSI);
	advance(x, X86_RDI);
	rep_next(x, true);
	return EMU_OK;
}

enum emu_status em_stos(struct emu_exec *x)
{
	unsigned w = x->i->width;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_mem_write_u(x, X86_ES, emu_areg_get(x, X86_RDI), w, emu_reg_get(x, X86_RAX, w)));
	advance(x, X86_RDI);
	rep_next(x, false);
	return EMU_OK;
}

enum emu_status em_lods(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t v;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, emu_areg_get(x, X86_RSI), w, &v));
	emu_reg_set(x, X86_RAX, w, v);
	advance(x, X86_RSI);
	rep_next(x, false);
	return EMU_OK;
}

enum emu_status em_scas(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t v, f = x->st->rflags;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_mem_read_u(x, X86_ES, emu_areg_get(x, X86_RDI), w, &v));
	alu_binop(ALU_CMP, w, emu_reg_get(x, X86_RAX, w), v, &f);
	x->st->rflags = f;
	advance(x, X86_RDI);
	rep_next(x, true);
	return EMU_OK;
}

static unsigned io_size(const struct emu_exec *x)
{
	return x->i->width == 1 ? 1 : x->i->width == 2 ? 2 : 4;
}

/* INS: the destination is checked before the port is read, so a fault has no device side effect. */
enum emu_status em_ins(struct emu_exec *x)
{
	unsigned sz = io_size(x);
	uint16_t port = (uint16_t)x->st->gpr[X86_RDX];
	uint64_t lin, gpa, di = emu_areg_get(x, X86_RDI);
	uint32_t v;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_io_allowed(x, port, sz));
	EMU_TRY(emu_seg_linear(x, X86_ES, di, sz, SEG_WRITE, &lin));
	EMU_TRY(emu_translate(x, lin, SEG_WRITE, x->cpl == 3, &gpa));
	if (((lin + sz - 1) & ~0xfffull) != (lin & ~0xfffull))
		EMU_TRY(emu_translate(x, lin + sz - 1, SEG_WRITE, x->cpl == 3, &gpa));
	EMU_TRY(emu_port_in(x, port, sz, &v));
	EMU_TRY(emu_mem_write_u(x, X86_ES, di, sz, v));
	advance_by(x, X86_RDI, sz);
	rep_next(x, false);
	return EMU_OK;
}

enum emu_status em_outs(struct emu_exec *x)
{
	unsigned sz = io_size(x);
	uint16_t port = (uint16_t)x->st->gpr[X86_RDX];
	uint64_t v;
	if (rep_empty(x))
		return EMU_OK;
	EMU_TRY(emu_io_allowed(x, port, sz));
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, emu_areg_get(x, X86_RSI), sz, &v));
	EMU_TRY(emu_port_out(x, port, sz, (uint32_t)v));
	advance_by(x, X86_RSI, sz);
	rep_next(x, false);
	return EMU_OK;
}

/* E4/E5 (imm8 port) and EC/ED (DX) */
enum emu_status em_in(struct emu_exec *x)
{
	unsigned sz = io_size(x);
	uint16_t port = x->i->b < 0xe8 ? (uint16_t)(x->i->imm & 0xff) : (uint16_t)x->st->gpr[X86_RDX];
	uint32_t v;
	EMU_TRY(emu_io_allowed(x, port, sz));
	EMU_TRY(emu_port_in(x, port, sz, &v));
	emu_reg_set(x, X86_RAX, sz, v);
	return EMU_OK;
}

enum emu_status em_out(struct emu_exec *x)
{
	unsigned sz = io_size(x);
	uint16_t port = x->i->b < 0xe8 ? (uint16_t)(x->i->imm & 0xff) : (uint16_t)x->st->gpr[X86_RDX];
	EMU_TRY(emu_io_allowed(x, port, sz));
	return emu_port_out(x, port, sz, (uint32_t)emu_reg_get(x, X86_RAX, sz));
}
