/* Data movement: MOV forms, segment register moves, LEA, MOVZX/MOVSX/MOVSXD,
 * XCHG, XLAT, far pointer loads, MOVBE. */
#include "gated.h"
#include "private.h"

/* 88-8B */
enum emu_status em_mov(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t v;
	if (x->i->b & 2) {
		EMU_TRY(emu_rm_read(x, w, &v));
		emu_reg_set(x, x->i->reg, w, v);
		return EMU_OK;
	}
	return emu_rm_write(x, w, emu_reg_get(x, x->i->reg, w));
}

/* B0-BF */
enum emu_status em_mov_imm_r(struct emu_exec *x)
{
	emu_reg_set(x, (x->i->b & 7) | ((x->i->rex & 1) << 3), x->i->width, x->i->imm);
	return EMU_OK;
}

/* C6/C7 /0 */
enum emu_status em_mov_rm_imm(struct emu_exec *x)
{
	return emu_rm_write(x, x->i->width, x->i->imm & emu_mask(x->i->width));
}

/* A0-A3: the offset is an address-size immediate */
enum emu_status em_mov_moffs(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t v;
	if (x->i->b & 2)
		return emu_mem_write_u(x, x->i->ea_seg, x->i->imm, w, emu_reg_get(x, X86_RAX, w));
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->imm, w, &v));
	emu_reg_set(x, X86_RAX, w, v);
	return EMU_OK;
}

/* 8C: a register destination gets the zero-extended selector, memory 16 bits */
enum emu_status em_mov_from_sreg(struct emu_exec *x)
{
	unsigned s = (x->i->modrm >> 3) & 7;
	if (s > X86_GS)
		return EMU_RAISE_UD(x);
	if (x->i->mod == 3) {
		emu_reg_set(x, x->i->rm, x->i->opsize, x->st->seg[s].selector);
		return EMU_OK;
	}
	return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 2, x->st->seg[s].selector);
}

/* 8E: MOV Sreg; MOV SS blocks interrupts and debug traps for one instruction, unless already in a MOV SS
 * shadow (SDM Vol. 3A 6.8.3: of consecutive SS loads only the first inhibits; KVM's emulator and dosemu2 do
 * the same) */
enum emu_status em_mov_to_sreg(struct emu_exec *x)
{
	unsigned s = (x->i->modrm >> 3) & 7;
	struct x86_segment seg;
	uint64_t v;
	if (s == X86_CS || s > X86_GS)
		return EMU_RAISE_UD(x);
	EMU_TRY(emu_rm_read(x, 2, &v));
	EMU_TRY(emu_seg_load(x, s, (uint16_t)v, &seg));
	x->st->seg[s] = seg;
	if (s == X86_SS && !(x->st->events.shadow & X86_SHADOW_MOV_SS))
		x->new_shadow = X86_SHADOW_MOV_SS;
	return EMU_OK;
}

enum emu_status em_lea(struct emu_exec *x)
{
	if (x->i->mod == 3)
		return EMU_RAISE_UD(x);
	emu_reg_set(x, x->i->reg, x->i->opsize, x->i->ea);
	return EMU_OK;
}

/* 0F B6/B7 */
enum emu_status em_movzx(struct emu_exec *x)
{
	uint64_t v;
	EMU_TRY(emu_rm_read(x, (x->i->b & 1) ? 2 : 1, &v));
	emu_reg_set(x, x->i->reg, x->i->opsize, v);
	return EMU_OK;
}

/* 0F BE/BF */
enum emu_status em_movsx(struct emu_exec *x)
{
	unsigned sw = (x->i->b & 1) ? 2 : 1;
	uint64_t v;
	EMU_TRY(emu_rm_read(x, sw, &v));
	emu_reg_set(x, x->i->reg, x->i->opsize, (uint64_t)emu_sext(v, sw));
	return EMU_OK;
}

/* 63: MOVSXD in 64-bit mode, ARPL elsewhere */
enum emu_status em_movsxd(struct emu_exec *x)
{
	uint64_t v;
	if (x->mode == X86_MODE_LONG64) {
		EMU_TRY(emu_rm_read(x, x->i->opsize == 2 ? 2 : 4, &v));
		emu_reg_set(x, x->i->reg, x->i->opsize, x->i->opsize == 8 ? (uint64_t)emu_sext(v, 4) : v);
		return EMU_OK;
	}
	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86)
		return EMU_RAISE_UD(x);
	uint64_t src = emu_reg_get(x, x->i->reg, 2);
	EMU_TRY(emu_rm_read(x, 2, &v));
	if ((v & 3) < (src & 3)) {
		EMU_TRY(emu_rm_write(x, 2, (v & ~3ull) | (src & 3)));
		x->st->rflags |= X86_RFLAGS_ZF;
	} else {
		x->st->rflags &= ~X86_RFLAGS_ZF;
	}
	return EMU_OK;
}

/* 86/87 */
enum emu_status em_xchg(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, b = emu_reg_get(x, x->i->reg, w);
	EMU_TRY(emu_rm_read(x, w, &a));
	EMU_TRY(emu_rm_write(x, w, b));
	emu_reg_set(x, x->i->reg, w, a);
	return EMU_OK;
}

/* 90-97: 90 without REX.B is NOP (F3 90 PAUSE), and does not zero-extend EAX */
enum emu_status em_xchg_acc(struct emu_exec *x)
{
	unsigned r = (x->i->b & 7) | ((x->i->rex & 1) << 3), w = x->i->opsize;
	uint64_t a;
	if (r == 0)
		return EMU_OK;
	a = emu_reg_get(x, X86_RAX, w);
	emu_reg_set(x, X86_RAX, w, emu_reg_get(x, r, w));
	emu_reg_set(x, r, w, a);
	return EMU_OK;
}

enum emu_status em_nop(struct emu_exec *x)
{
	(void)x;
	return EMU_OK;
}

/* D7: AL = [seg:rBX + AL] */
enum emu_status em_xlat(struct emu_exec *x)
{
	uint64_t v;
	uint64_t off = (emu_areg_get(x, X86_RBX) + (x->st->gpr[X86_RAX] & 0xff)) & emu_mask(x->i->adsize);
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, off, 1, &v));
	emu_reg_set(x, X86_RAX, 1, v);
	return EMU_OK;
}

/* C4 LES, C5 LDS, 0F B2 LSS, 0F B4 LFS, 0F B5 LGS */
enum emu_status em_lxs(struct emu_exec *x)
{
	unsigned w = x->i->opsize, s;
	uint64_t off, sel;
	struct x86_segment seg;
	if (x->i->map == 0)
		s = x->i->b == 0xc4 ? X86_ES : X86_DS;
	else
		s = x->i->b == 0xb2 ? X86_SS : x->i->b == 0xb4 ? X86_FS : X86_GS;
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, w, &off));
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, (x->i->ea + w) & emu_mask(x->i->adsize), 2, &sel));
	EMU_TRY(emu_seg_load(x, s, (uint16_t)sel, &seg));
	emu_reg_set(x, x->i->reg, w, off);
	x->st->seg[s] = seg;
	return EMU_OK;
}

static uint64_t swap_bytes(unsigned w, uint64_t v)
{
	uint64_t r = 0;
	for (unsigned k = 0; k < w; k++)
		r |= ((v >> (8 * k)) & 0xff) << (8 * (w - 1 - k));
	return r;
}

/* 0F 38 F0/F1 */
enum emu_status em_movbe(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	uint64_t v;
	if (!emu_cpu_has(x, EMU_CPU_MOVBE))
		return EMU_RAISE_UD(x);
	if (x->i->b == 0xf0) {
		EMU_TRY(emu_rm_read(x, w, &v));
		emu_reg_set(x, x->i->reg, w, swap_bytes(w, v));
		return EMU_OK;
	}
	return emu_rm_write(x, w, swap_bytes(w, emu_reg_get(x, x->i->reg, w)));
}
