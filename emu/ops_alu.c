/* Integer arithmetic, logic, shifts, bit operations, multiply/divide, BCD and
 * flag instructions. The flag math is alu.c's; this file moves operands. */
#include <stdio.h>

#include "gated.h"
#include "private.h"
#include "system.h"

#define RFL (x->st->rflags)

/* 0x00 - 0x3d: op Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev */
enum emu_status em_alu(struct emu_exec *x)
{
	unsigned op = x->i->b >> 3, w = x->i->width;
	uint64_t a, b, r, f = RFL;
	bool to_reg = x->i->b & 2;
	if (to_reg) {
		a = emu_reg_get(x, x->i->reg, w);
		EMU_TRY(emu_rm_read(x, w, &b));
	} else {
		EMU_TRY(emu_rm_read(x, w, &a));
		b = emu_reg_get(x, x->i->reg, w);
	}
	r = alu_binop((enum alu_binop)op, w, a, b, &f);
	if (op != ALU_CMP) {
		if (to_reg)
			emu_reg_set(x, x->i->reg, w, r);
		else
			EMU_TRY(emu_rm_write(x, w, r));
	}
	RFL = f;
	return EMU_OK;
}

/* op AL,Ib / op eAX,Iz */
enum emu_status em_alu_acc(struct emu_exec *x)
{
	unsigned op = x->i->b >> 3, w = x->i->width;
	uint64_t f = RFL, r;
	r = alu_binop((enum alu_binop)op, w, emu_reg_get(x, X86_RAX, w), x->i->imm & emu_mask(w), &f);
	if (op != ALU_CMP)
		emu_reg_set(x, X86_RAX, w, r);
	RFL = f;
	return EMU_OK;
}

/* 0x80 - 0x83 */
enum emu_status em_grp1(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7, w = x->i->width;
	uint64_t a, r, f = RFL;
	EMU_TRY(emu_rm_read(x, w, &a));
	r = alu_binop((enum alu_binop)op, w, a, x->i->imm & emu_mask(w), &f);
	if (op != ALU_CMP)
		EMU_TRY(emu_rm_write(x, w, r));
	RFL = f;
	return EMU_OK;
}

enum emu_status em_test(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, f = RFL;
	EMU_TRY(emu_rm_read(x, w, &a));
	alu_binop(ALU_TEST, w, a, emu_reg_get(x, x->i->reg, w), &f);
	RFL = f;
	return EMU_OK;
}

enum emu_status em_test_acc(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t f = RFL;
	alu_binop(ALU_TEST, w, emu_reg_get(x, X86_RAX, w), x->i->imm & emu_mask(w), &f);
	RFL = f;
	return EMU_OK;
}

/* C0/C1/D0-D3: the count is an immediate, 1, or CL. */
enum emu_status em_grp2(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7, w = x->i->width;
	uint64_t a, r, f = RFL, count;
	if (x->i->b <= 0xc1)
		count = x->i->imm & 0xff;
	else if (x->i->b <= 0xd1)
		count = 1;
	else
		count = x->st->gpr[X86_RCX] & 0xff;
	EMU_TRY(emu_rm_read(x, w, &a));
	r = alu_shift((enum alu_shiftop)op, w, a, count, &f);
	/* A masked count of 0 leaves memory unwritten; a 32-bit register is still zero-extended. */
	if ((count & (w == 8 ? 63 : 31)) || x->i->mod == 3)
		EMU_TRY(emu_rm_write(x, w, r));
	RFL = f;
	return EMU_OK;
}

/* F6/F7: TEST NOT NEG MUL IMUL DIV IDIV */
enum emu_status em_grp3(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7, w = x->i->width;
	uint64_t a, f = RFL, lo, hi, q, rem;
	EMU_TRY(emu_rm_read(x, w, &a));
	switch (op) {
	case 0:
	case 1:
		alu_binop(ALU_TEST, w, a, x->i->imm & emu_mask(w), &f);
		break;
	case 2:
		EMU_TRY(emu_rm_write(x, w, ~a & emu_mask(w)));
		break;
	case 3:
		EMU_TRY(emu_rm_write(x, w, alu_unop(ALU_NEG, w, a, &f)));
		break;
	case 4:
	case 5:
		alu_mul(op == 5, w, emu_reg_get(x, X86_RAX, w), a, &lo, &hi, &f);
		if (w == 1) {
			emu_reg_set(x, X86_RAX, 2, (hi << 8) | (lo & 0xff));
		} else {
			emu_reg_set(x, X86_RAX, w, lo);
			emu_reg_set(x, X86_RDX, w, hi);
		}
		break;
	default:
		if (w == 1) {
			uint64_t ax = x->st->gpr[X86_RAX] & 0xffff;
			if (!alu_div(op == 7, 1, ax >> 8, ax & 0xff, a, &q, &rem, &f))
				return emu_raise(x, EMU_DE, false, 0);
			emu_reg_set(x, X86_RAX, 2, ((rem & 0xff) << 8) | (q & 0xff));
		} else {
			if (!alu_div(op == 7, w, emu_reg_get(x, X86_RDX, w), emu_reg_get(x, X86_RAX, w), a,
			             &q, &rem, &f))
				return emu_raise(x, EMU_DE, false, 0);
			emu_reg_set(x, X86_RAX, w, q);
			emu_reg_set(x, X86_RDX, w, rem);
		}
	}
	RFL = f;
	return EMU_OK;
}

/* 0x40 - 0x4f outside 64-bit mode */
enum emu_status em_incdec_r(struct emu_exec *x)
{
	unsigned r = x->i->b & 7, w = x->i->opsize;
	uint64_t f = RFL;
	emu_reg_set(x, r, w, alu_unop((x->i->b & 8) ? ALU_DEC : ALU_INC, w, emu_reg_get(x, r, w), &f));
	RFL = f;
	return EMU_OK;
}

/* FE /0 /1 and FF /0 /1 */
enum emu_status em_grp4(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, f = RFL;
	EMU_TRY(emu_rm_read(x, w, &a));
	EMU_TRY(emu_rm_write(x, w, alu_unop((x->i->modrm & 0x08) ? ALU_DEC : ALU_INC, w, a, &f)));
	RFL = f;
	return EMU_OK;
}

/* 69/6B: IMUL Gv,Ev,imm */
enum emu_status em_imul3(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, f = RFL;
	EMU_TRY(emu_rm_read(x, w, &a));
	emu_reg_set(x, x->i->reg, w, alu_imul(w, a, x->i->imm & emu_mask(w), &f));
	RFL = f;
	return EMU_OK;
}

/* 0F AF: IMUL Gv,Ev */
enum emu_status em_imul2(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, f = RFL;
	EMU_TRY(emu_rm_read(x, w, &a));
	emu_reg_set(x, x->i->reg, w, alu_imul(w, emu_reg_get(x, x->i->reg, w), a, &f));
	RFL = f;
	return EMU_OK;
}

/* 0F A4/A5 SHLD, 0F AC/AD SHRD */
enum emu_status em_shxd(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t a, r, f = RFL, count = (x->i->b & 1) ? x->st->gpr[X86_RCX] & 0xff : x->i->imm & 0xff;
	uint64_t b = emu_reg_get(x, x->i->reg, w);
	EMU_TRY(emu_rm_read(x, w, &a));
	if (x->i->b < 0xa8)
		r = alu_shld(w, a, b, count, &f);
	else
		r = alu_shrd(w, a, b, count, &f);
	if ((count & (w == 8 ? 63 : 31)) || x->i->mod == 3)
		EMU_TRY(emu_rm_write(x, w, r));
	RFL = f;
	return EMU_OK;
}

static enum emu_status bitop(struct emu_exec *x, enum alu_bitop op, int64_t bitoff, bool reg_offset)
{
	unsigned w = x->i->width, bits = w * 8;
	uint64_t v, r, f = RFL;
	if (x->i->mod == 3) {
		v = emu_reg_get(x, x->i->rm, w);
		r = alu_bitop(op, w, v, (unsigned)((uint64_t)bitoff & (bits - 1)), &f);
		if (op != ALU_BT)
			emu_reg_set(x, x->i->rm, w, r);
		RFL = f;
		return EMU_OK;
	}
	/* A register bit offset addresses memory beyond the operand: signed, in operand-size units. */
	uint64_t ea = x->i->ea;
	if (reg_offset) {
		/* Floor division; -(bitoff + 1) cannot overflow, -bitoff can (INT64_MIN). */
		int64_t units = bitoff >= 0 ? bitoff / (int64_t)bits : -1 - (-(bitoff + 1)) / (int64_t)bits;
		ea = (ea + (uint64_t)(units * (int64_t)w)) & emu_mask(x->i->adsize);
	}
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, ea, w, &v));
	r = alu_bitop(op, w, v, (unsigned)((uint64_t)bitoff & (bits - 1)), &f);
	if (op != ALU_BT)
		EMU_TRY(emu_mem_write_u(x, x->i->ea_seg, ea, w, r));
	RFL = f;
	return EMU_OK;
}

/* 0F A3 BT, AB BTS, B3 BTR, BB BTC */
enum emu_status em_bt(struct emu_exec *x)
{
	unsigned w = x->i->width;
	if (x->i->lock && ((x->i->b >> 3) & 3) == 0)
		return EMU_RAISE_UD(x);
	return bitop(x, (enum alu_bitop)((x->i->b >> 3) & 3), emu_sext(emu_reg_get(x, x->i->reg, w), w),
	             true);
}

/* 0F BA /4-/7 */
enum emu_status em_grp8(struct emu_exec *x)
{
	unsigned op = ((x->i->modrm >> 3) & 7) - 4;
	if (x->i->lock && op == 0)
		return EMU_RAISE_UD(x);
	return bitop(x, (enum alu_bitop)op, (int64_t)(x->i->imm & 0xff), false);
}

/* 0F BC/BD: BSF/BSR, with F3 TZCNT/LZCNT */
enum emu_status em_bsf_bsr(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t src, f = RFL, r, dst = emu_reg_get(x, x->i->reg, w);
	enum alu_scanop op;
	/* Without BMI1 (TZCNT) or ABM (LZCNT) the F3 prefix is ignored. */
	if (x->i->rep == 0xf3 && emu_cpu_has(x, x->i->b == 0xbc ? EMU_CPU_BMI1 : EMU_CPU_ABM))
		op = x->i->b == 0xbc ? ALU_TZCNT : ALU_LZCNT;
	else
		op = x->i->b == 0xbc ? ALU_BSF : ALU_BSR;
	EMU_TRY(emu_rm_read(x, w, &src));
	r = alu_scan(op, w, src, dst, &f);
	/* BSF/BSR with a zero source leave the whole destination register alone. */
	if (src || op == ALU_TZCNT || op == ALU_LZCNT)
		emu_reg_set(x, x->i->reg, w, r);
	RFL = f;
	return EMU_OK;
}

/* F3 0F B8: POPCNT (0F B8 alone is JMPE, absent) */
enum emu_status em_popcnt(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t src, f = RFL;
	if (x->i->rep != 0xf3 || !emu_cpu_has(x, EMU_CPU_POPCNT))
		return EMU_RAISE_UD(x);
	EMU_TRY(emu_rm_read(x, w, &src));
	emu_reg_set(x, x->i->reg, w, alu_scan(ALU_POPCNT, w, src, 0, &f));
	RFL = f;
	return EMU_OK;
}

/* 27 DAA, 2F DAS, 37 AAA, 3F AAS */
enum emu_status em_bcd(struct emu_exec *x)
{
	static const enum alu_bcdop ops[4] = {ALU_DAA, ALU_DAS, ALU_AAA, ALU_AAS};
	uint64_t f = RFL;
	unsigned k = ((x->i->b >> 4) - 2) * 2 + ((x->i->b >> 3) & 1);
	emu_reg_set(x, X86_RAX, 2, alu_bcd(ops[k], (uint16_t)x->st->gpr[X86_RAX], &f));
	RFL = f;
	return EMU_OK;
}

enum emu_status em_aam(struct emu_exec *x)
{
	uint64_t f = RFL;
	uint16_t out;
	if (!alu_aam((uint16_t)x->st->gpr[X86_RAX], (uint8_t)x->i->imm, &out, &f))
		return emu_raise(x, EMU_DE, false, 0);
	emu_reg_set(x, X86_RAX, 2, out);
	RFL = f;
	return EMU_OK;
}

enum emu_status em_aad(struct emu_exec *x)
{
	uint64_t f = RFL;
	emu_reg_set(x, X86_RAX, 2, alu_aad((uint16_t)x->st->gpr[X86_RAX], (uint8_t)x->i->imm, &f));
	RFL = f;
	return EMU_OK;
}

/* D6: SALC, undocumented: AL = CF ? FF : 00 */
enum emu_status em_salc(struct emu_exec *x)
{
	emu_reg_set(x, X86_RAX, 1, (RFL & X86_RFLAGS_CF) ? 0xff : 0);
	return EMU_OK;
}

/* 98: CBW/CWDE/CDQE */
enum emu_status em_cbw(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	emu_reg_set(x, X86_RAX, w, (uint64_t)emu_sext(x->st->gpr[X86_RAX], w / 2));
	return EMU_OK;
}

/* 99: CWD/CDQ/CQO */
enum emu_status em_cwd(struct emu_exec *x)
{
	unsigned w = x->i->opsize;
	emu_reg_set(x, X86_RDX, w, emu_sext(x->st->gpr[X86_RAX], w) < 0 ? ~0ull : 0);
	return EMU_OK;
}

enum emu_status em_setcc(struct emu_exec *x)
{
	return emu_rm_write(x, 1, emu_cond(RFL, x->i->b & 0xf));
}

/* CMOVcc reads its source (and may fault) whatever the condition; a 32-bit destination is always
 * zero-extended. */
enum emu_status em_cmovcc(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t v;
	EMU_TRY(emu_rm_read(x, w, &v));
	if (emu_cond(RFL, x->i->b & 0xf))
		emu_reg_set(x, x->i->reg, w, v);
	else if (w == 4)
		emu_reg_set(x, x->i->reg, 4, emu_reg_get(x, x->i->reg, 4));
	return EMU_OK;
}

enum emu_status em_xadd(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t d, s = emu_reg_get(x, x->i->reg, w), f = RFL, sum;
	EMU_TRY(emu_rm_read(x, w, &d));
	sum = alu_binop(ALU_ADD, w, d, s, &f);
	emu_reg_set(x, x->i->reg, w, d);
	EMU_TRY(emu_rm_write(x, w, sum));
	RFL = f;
	return EMU_OK;
}

enum emu_status em_cmpxchg(struct emu_exec *x)
{
	unsigned w = x->i->width;
	uint64_t d, acc = emu_reg_get(x, X86_RAX, w), f = RFL;
	EMU_TRY(emu_rm_read(x, w, &d));
	alu_binop(ALU_CMP, w, acc, d, &f);
	if (f & X86_RFLAGS_ZF) {
		EMU_TRY(emu_rm_write(x, w, emu_reg_get(x, x->i->reg, w)));
	} else {
		/* Memory is written back unchanged on failure (the locked cycle always writes). */
		if (x->i->mod != 3)
			EMU_TRY(emu_rm_write(x, w, d));
		emu_reg_set(x, X86_RAX, w, d);
	}
	RFL = f;
	return EMU_OK;
}

static enum emu_status rdrand(struct emu_exec *x, bool seed)
{
	unsigned w = x->i->opsize;
	uint64_t v = 0;
	bool ok = false;
	if (x->i->rep || x->i->lock)
		return EMU_RAISE_UD(x);
	if (!x->ops->rdrand) {
		snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented),
		         "rdrand without a callback");
		return EMU_UNIMPLEMENTED;
	}
	if (x->ops->rdrand(x->opaque, seed, w, &v, &ok) != EMU_OK)
		return EMU_IO_ERROR;
	emu_reg_set(x, x->i->rm, w, ok ? v : 0);
	RFL &=
	    ~(X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF | X86_RFLAGS_SF | X86_RFLAGS_OF);
	if (ok)
		RFL |= X86_RFLAGS_CF;
	return EMU_OK;
}

/* 0F C7: /1 CMPXCHG8B/16B, /6 RDRAND, /7 RDSEED */
enum emu_status em_grp9(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7;
	if (x->i->mod == 3 && (op == 6 || op == 7))
		return rdrand(x, op == 7);
	if (op == 1 && x->i->mod != 3) {
		unsigned w = (x->i->rex & 8) ? 8 : 4;
		uint64_t m[2], f = RFL;
		if (w == 8 && (x->i->ea & 15))
			return EMU_RAISE_GP0(x);
		EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, m, 2 * w));
		if (w == 4) {
			uint64_t v = m[0];
			uint64_t cmp = (x->st->gpr[X86_RAX] & 0xffffffffu) | (x->st->gpr[X86_RDX] << 32);
			if (v == cmp) {
				uint64_t nv =
				    (x->st->gpr[X86_RBX] & 0xffffffffu) | (x->st->gpr[X86_RCX] << 32);
				EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, &nv, 8));
				f |= X86_RFLAGS_ZF;
			} else {
				EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, &v, 8));
				emu_reg_set(x, X86_RAX, 4, v);
				emu_reg_set(x, X86_RDX, 4, v >> 32);
				f &= ~X86_RFLAGS_ZF;
			}
		} else {
			if (m[0] == x->st->gpr[X86_RAX] && m[1] == x->st->gpr[X86_RDX]) {
				uint64_t nv[2] = {x->st->gpr[X86_RBX], x->st->gpr[X86_RCX]};
				EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, nv, 16));
				f |= X86_RFLAGS_ZF;
			} else {
				EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea, m, 16));
				x->st->gpr[X86_RAX] = m[0];
				x->st->gpr[X86_RDX] = m[1];
				f &= ~X86_RFLAGS_ZF;
			}
		}
		RFL = f;
		return EMU_OK;
	}
	return emu_unimplemented(x);
}

enum emu_status em_bswap(struct emu_exec *x)
{
	unsigned r = (x->i->b & 7) | ((x->i->rex & 1) << 3), w = x->i->opsize;
	emu_reg_set(x, r, w, alu_bswap(w, emu_reg_get(x, r, w)));
	return EMU_OK;
}

/* F5 CMC, F8 CLC, F9 STC, FA CLI, FB STI, FC CLD, FD STD */
enum emu_status em_flags(struct emu_exec *x)
{
	switch (x->i->b) {
	case 0xf5:
		RFL ^= X86_RFLAGS_CF;
		break;
	case 0xf8:
		RFL &= ~X86_RFLAGS_CF;
		break;
	case 0xf9:
		RFL |= X86_RFLAGS_CF;
		break;
	case 0xfa:
	case 0xfb:
		/* IOPL, VME and PVI: sysinsn.c */
		return emu_cli_sti(x, x->i->b == 0xfb);
	case 0xfc:
		RFL &= ~X86_RFLAGS_DF;
		break;
	case 0xfd:
		RFL |= X86_RFLAGS_DF;
		break;
	}
	return EMU_OK;
}

enum emu_status em_lahf(struct emu_exec *x)
{
	x->st->gpr[X86_RAX] = (x->st->gpr[X86_RAX] & ~0xff00ull) | ((RFL & 0xd7) << 8) | 0x200;
	return EMU_OK;
}

enum emu_status em_sahf(struct emu_exec *x)
{
	uint64_t ah = (x->st->gpr[X86_RAX] >> 8) & 0xd5;
	RFL = (RFL & ~0xd5ull) | ah | X86_RFLAGS_FIXED;
	return EMU_OK;
}
