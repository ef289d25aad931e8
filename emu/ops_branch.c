/* Control flow: Jcc, JMP/CALL/RET near and far, LOOP/JCXZ, INT n, IRET, BOUND. */
#include <stdio.h>

#include "private.h"
#include "system.h"

enum emu_status em_jcc(struct emu_exec *x)
{
	if (!emu_cond(x->st->rflags, x->i->b & 0xf))
		return EMU_OK;
	return emu_jump(x, x->next_rip + x->i->imm, x->i->opsize);
}

enum emu_status em_jmp_rel(struct emu_exec *x)
{
	return emu_jump(x, x->next_rip + x->i->imm, x->i->opsize);
}

enum emu_status em_call_rel(struct emu_exec *x)
{
	EMU_TRY(emu_push(x, x->i->opsize, x->next_rip & emu_mask(x->i->opsize)));
	return emu_jump(x, x->next_rip + x->i->imm, x->i->opsize);
}

/* C2/C3 */
enum emu_status em_ret(struct emu_exec *x)
{
	uint64_t ip;
	EMU_TRY(emu_pop(x, x->i->opsize, &ip));
	EMU_TRY(emu_jump(x, ip, x->i->opsize));
	if (x->i->b == 0xc2)
		emu_rsp_add(x, (int64_t)(x->i->imm & 0xffff));
	return EMU_OK;
}

/* Loads CS:rIP for a far transfer at the current privilege level. */
static enum emu_status far_target(struct emu_exec *x, uint16_t sel, uint64_t off, unsigned w)
{
	struct x86_segment cs;
	if (x->mode != X86_MODE_REAL && x->mode != X86_MODE_V86)
		return emu_far_transfer(x, sel, off, false);
	EMU_TRY(emu_seg_load(x, X86_CS, sel, &cs));
	off &= emu_mask(w);
	if ((cs.attr & X86_SEG_L) && (x->st->efer & X86_EFER_LMA)) {
		if (!emu_canonical(off))
			return EMU_RAISE_GP0(x);
	} else if (off > cs.limit) {
		return EMU_RAISE_GP0(x);
	}
	x->st->seg[X86_CS] = cs;
	x->st->rip = off;
	x->rip_set = true;
	return EMU_OK;
}

/* CB/CA: protected-mode returns (outer levels too) are in far.c */
enum emu_status em_retf(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	uint64_t ip, cs;
	if (x->mode != X86_MODE_REAL && x->mode != X86_MODE_V86)
		return emu_far_return(x, x->i->b == 0xca ? (uint16_t)x->i->imm : 0);
	EMU_TRY(emu_stack_read(x, 0, w, &ip));
	EMU_TRY(emu_stack_read(x, w, w, &cs));
	EMU_TRY(far_target(x, (uint16_t)cs, ip, w));
	emu_rsp_add(x, 2 * (int64_t)w + (x->i->b == 0xca ? (int64_t)(x->i->imm & 0xffff) : 0));
	return EMU_OK;
}

/* EA: JMP ptr16:16/32 */
enum emu_status em_jmp_far(struct emu_exec *x)
{
	return far_target(x, (uint16_t)x->i->imm2, x->i->imm, x->i->opsize);
}

static enum emu_status call_far(struct emu_exec *x, uint16_t sel, uint64_t off)
{
	unsigned w = x->i->opsize;
	uint16_t old_cs = x->st->seg[X86_CS].selector;
	if (x->mode != X86_MODE_REAL && x->mode != X86_MODE_V86)
		return emu_far_transfer(x, sel, off, true);
	/* The pushes go to the held write buffer; the target checks may still fault. */
	EMU_TRY(emu_push(x, w, old_cs));
	EMU_TRY(emu_push(x, w, x->next_rip & emu_mask(w)));
	return far_target(x, sel, off, w);
}

/* 9A: CALL ptr16:16/32 */
enum emu_status em_call_far(struct emu_exec *x)
{
	return call_far(x, (uint16_t)x->i->imm2, x->i->imm);
}

/* E0 LOOPNE, E1 LOOPE, E2 LOOP: the counter is CX/ECX/RCX by address size */
enum emu_status em_loop(struct emu_exec *x)
{
	uint64_t cnt = (emu_areg_get(x, X86_RCX) - 1) & emu_mask(x->i->adsize);
	bool zf = x->st->rflags & X86_RFLAGS_ZF, take = cnt != 0;
	if (x->i->b == 0xe1)
		take = take && zf;
	else if (x->i->b == 0xe0)
		take = take && !zf;
	if (take)
		EMU_TRY(emu_jump(x, x->next_rip + x->i->imm, x->i->opsize));
	emu_areg_set(x, X86_RCX, cnt);
	return EMU_OK;
}

enum emu_status em_jcxz(struct emu_exec *x)
{
	if (emu_areg_get(x, X86_RCX))
		return EMU_OK;
	return emu_jump(x, x->next_rip + x->i->imm, x->i->opsize);
}

/* FF: INC DEC CALL CALLF JMP JMPF PUSH */
enum emu_status em_grp5(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7, w = x->i->opsize;
	uint64_t v, sel;
	switch (op) {
	case 0:
	case 1:
		return em_grp4(x);
	case 2:
		EMU_TRY(emu_rm_read(x, w, &v));
		EMU_TRY(emu_push(x, w, x->next_rip & emu_mask(w)));
		return emu_jump(x, v, w);
	case 4:
		EMU_TRY(emu_rm_read(x, w, &v));
		return emu_jump(x, v, w);
	case 3:
	case 5:
		EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, w, &v));
		EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, (x->i->ea + w) & emu_mask(x->i->adsize), 2, &sel));
		if (op == 3)
			return call_far(x, (uint16_t)sel, v);
		return far_target(x, (uint16_t)sel, v, w);
	case 6:
		EMU_TRY(emu_rm_read(x, w, &v));
		return emu_push(x, w, v);
	}
	return EMU_RAISE_UD(x);
}

/* Software interrupts: the v86 IOPL and VME rules are in interrupt.c. */
static enum emu_status soft_int(struct emu_exec *x, unsigned vector)
{
	return emu_deliver(x, vector, false, 0, true, x->next_rip);
}

enum emu_status em_int(struct emu_exec *x)
{
	return soft_int(x, x->i->imm & 0xff);
}

enum emu_status em_int3(struct emu_exec *x)
{
	return soft_int(x, EMU_BP);
}

enum emu_status em_into(struct emu_exec *x)
{
	if (!(x->st->rflags & X86_RFLAGS_OF))
		return EMU_OK;
	return soft_int(x, EMU_OF);
}

enum emu_status em_int1(struct emu_exec *x)
{
	return emu_deliver(x, EMU_DB, false, 0, false, x->next_rip);
}

enum emu_status em_iret(struct emu_exec *x)
{
	return emu_iret(x);
}

/* 62: BOUND Gv, Ma: signed index against [lower, upper] */
enum emu_status em_bound(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	uint64_t lo, hi;
	int64_t idx = emu_sext(emu_reg_get(x, x->i->reg, w), w);
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, w, &lo));
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, (x->i->ea + w) & emu_mask(x->i->adsize), w, &hi));
	if (idx < emu_sext(lo, w) || idx > emu_sext(hi, w))
		return emu_raise(x, EMU_BR, false, 0);
	return EMU_OK;
}
