/* Stack instructions: PUSH/POP of registers, immediates, memory and segment
 * registers, PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE. */
#include "private.h"
#include "system.h"

static unsigned sreg_of(const struct emu_insn *i)
{
	if (i->map == 1)
		return i->b < 0xa8 ? X86_FS : X86_GS;
	return (i->b >> 3) & 3; /* 06 ES, 0E CS, 16 SS, 1E DS */
}

enum emu_status em_push_r(struct emu_exec *x)
{
	unsigned r = (x->i->b & 7) | ((x->i->rex & 1) << 3);
	return emu_push(x, x->i->opsize, emu_reg_get(x, r, x->i->opsize));
}

enum emu_status em_pop_r(struct emu_exec *x)
{
	unsigned r = (x->i->b & 7) | ((x->i->rex & 1) << 3);
	uint64_t v;
	EMU_TRY(emu_pop(x, x->i->opsize, &v));
	emu_reg_set(x, r, x->i->opsize, v);
	return EMU_OK;
}

enum emu_status em_push_imm(struct emu_exec *x)
{
	return emu_push(x, x->i->opsize, x->i->imm & emu_mask(x->i->opsize));
}

/* Recent Intel CPUs move only the 16-bit selector, leaving the rest of a wider slot alone. */
enum emu_status em_push_sreg(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	uint64_t sp = (x->st->gpr[X86_RSP] - w) & emu_mask(emu_stack_size(x));
	EMU_TRY(emu_mem_write_u(x, X86_SS, sp, 2, x->st->seg[sreg_of(x->i)].selector));
	emu_rsp_add(x, -(int64_t)w);
	return EMU_OK;
}

enum emu_status em_pop_sreg(struct emu_exec *x)
{
	unsigned s = sreg_of(x->i);
	struct x86_segment seg;
	uint64_t v;
	EMU_TRY(emu_stack_read(x, 0, x->i->opsize, &v));
	EMU_TRY(emu_seg_load(x, s, (uint16_t)v, &seg));
	emu_rsp_add(x, x->i->opsize);
	x->st->seg[s] = seg;
	/* A POP SS right after another SS load starts no new shadow (see em_mov_to_sreg). */
	if (s == X86_SS && !(x->st->events.shadow & X86_SHADOW_MOV_SS))
		x->new_shadow = X86_SHADOW_MOV_SS;
	return EMU_OK;
}

/* 8F /0: the destination address is computed with RSP already incremented */
enum emu_status em_pop_rm(struct emu_exec *x)
{
	uint64_t v;
	EMU_TRY(emu_pop(x, x->i->opsize, &v));
	if (x->i->mod != 3)
		emu_calc_ea(x);
	return emu_rm_write(x, x->i->opsize, v);
}

enum emu_status em_pusha(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	uint64_t sp = x->st->gpr[X86_RSP];
	for (unsigned r = X86_RAX; r <= X86_RDI; r++)
		EMU_TRY(emu_push(x, w, r == X86_RSP ? sp & emu_mask(w) : emu_reg_get(x, r, w)));
	return EMU_OK;
}

enum emu_status em_popa(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	uint64_t v[8];
	for (unsigned k = 0; k < 8; k++)
		EMU_TRY(emu_stack_read(x, (uint64_t)k * w, w, &v[7 - k]));
	for (unsigned r = X86_RAX; r <= X86_RDI; r++)
		if (r != X86_RSP)
			emu_reg_set(x, r, w, v[r]);
	emu_rsp_add(x, 8 * w);
	return EMU_OK;
}

/* 9C: the image has VM and RF clear */
enum emu_status em_pushf(struct emu_exec *x)
{
	uint64_t f = x->st->rflags;
	if (x->mode == X86_MODE_V86 && ((f & X86_RFLAGS_IOPL) >> 12) < 3)
		return emu_pushf_vme(x);
	return emu_push(x, x->i->opsize, f & ~(X86_RFLAGS_VM | X86_RFLAGS_RF) & emu_mask(x->i->opsize));
}

/* 9D: IOPL changes only at CPL 0, IF only at CPL <= IOPL; VM, VIF, VIP never change here */
enum emu_status em_popf(struct emu_exec *x)
{
	uint64_t v, f = x->st->rflags, mask = 0x247fd5; /* ID AC NT IOPL OF DF IF TF SF ZF AF PF CF */
	unsigned iopl = (unsigned)((f & X86_RFLAGS_IOPL) >> 12);
	if (x->mode == X86_MODE_V86) {
		if (iopl < 3)
			return emu_popf_vme(x);
		mask &= ~X86_RFLAGS_IOPL;
	} else if (x->mode != X86_MODE_REAL) {
		if (x->cpl > 0)
			mask &= ~X86_RFLAGS_IOPL;
		if (x->cpl > iopl)
			mask &= ~X86_RFLAGS_IF;
	}
	EMU_TRY(emu_pop(x, x->i->opsize, &v));
	mask &= emu_mask(x->i->opsize);
	x->st->rflags = (f & ~mask & ~X86_RFLAGS_RF) | (v & mask) | X86_RFLAGS_FIXED;
	return EMU_OK;
}

/* C8: ENTER size, level */
enum emu_status em_enter(struct emu_exec *x)
{
	unsigned w = x->i->opsize, ss = emu_stack_size(x), level = x->i->imm2 & 31;
	uint64_t size = x->i->imm & 0xffff, frame, bp = x->st->gpr[X86_RBP], v;
	EMU_TRY(emu_push(x, w, emu_reg_get(x, X86_RBP, w)));
	frame = x->st->gpr[X86_RSP] & emu_mask(ss);
	if (level) {
		for (unsigned k = 1; k < level; k++) {
			bp = (bp - w) & emu_mask(ss);
			EMU_TRY(emu_mem_read_u(x, X86_SS, bp, w, &v));
			EMU_TRY(emu_push(x, w, v));
		}
		EMU_TRY(emu_push(x, w, frame));
	}
	/* The final stack pointer must be writable: silicon probes it. */
	uint64_t nsp = (x->st->gpr[X86_RSP] - size) & emu_mask(ss);
	if (size)
		EMU_TRY(emu_mem_check_write(x, X86_SS, nsp, 1));
	emu_reg_set(x, X86_RBP, w, frame);
	emu_rsp_add(x, -(int64_t)size);
	return EMU_OK;
}

/* C9: rSP = rBP, pop rBP */
enum emu_status em_leave(struct emu_exec *x)
{
	unsigned w = x->i->opsize, ss = emu_stack_size(x);
	uint64_t bp = x->st->gpr[X86_RBP] & emu_mask(ss), v;
	EMU_TRY(emu_mem_read_u(x, X86_SS, bp, w, &v));
	emu_reg_set(x, X86_RSP, ss, bp + w);
	emu_reg_set(x, X86_RBP, w, v);
	return EMU_OK;
}
