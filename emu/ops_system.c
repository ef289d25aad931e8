/* System instructions, the minimal set a boot passes through: HLT, CPUID,
 * RDTSC, RDMSR/WRMSR, control and debug registers, descriptor-table
 * registers, LMSW/SMSW/CLTS, cache and TLB maintenance as no-ops. */
#include <stdio.h>

#include "gated.h"
#include "private.h"
#include "system.h"

#define MSR_EFER    0xc0000080u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_TSC_AUX 0xc0000103u

static enum emu_status need_cpl0(struct emu_exec *x)
{
	return x->cpl ? EMU_RAISE_GP0(x) : EMU_OK;
}

enum emu_status em_hlt(struct emu_exec *x)
{
	EMU_TRY(need_cpl0(x));
	return EMU_HALT;
}

enum emu_status em_cpuid(struct emu_exec *x)
{
	uint32_t out[4] = {0, 0, 0, 0};
	if (x->ops->cpuid(x->opaque, (uint32_t)x->st->gpr[X86_RAX], (uint32_t)x->st->gpr[X86_RCX], out) !=
	    EMU_OK)
		return EMU_IO_ERROR;
	x->st->gpr[X86_RAX] = out[0];
	x->st->gpr[X86_RBX] = out[1];
	x->st->gpr[X86_RCX] = out[2];
	x->st->gpr[X86_RDX] = out[3];
	return EMU_OK;
}

enum emu_status em_rdtsc(struct emu_exec *x)
{
	uint64_t tsc;
	if ((x->st->cr4 & X86_CR4_TSD) && x->cpl)
		return EMU_RAISE_GP0(x);
	if (x->ops->rdtsc(x->opaque, &tsc) != EMU_OK)
		return EMU_IO_ERROR;
	x->st->gpr[X86_RAX] = (uint32_t)tsc;
	x->st->gpr[X86_RDX] = tsc >> 32;
	return EMU_OK;
}

static int msr_index(uint32_t msr)
{
	for (int k = 0; k < X86_NMSR; k++)
		if (x86_msr_numbers[k] == msr)
			return k;
	return -1;
}

static enum emu_status read_msr(struct emu_exec *x, uint32_t msr, uint64_t *v)
{
	bool known = false;
	int k;
	switch (msr) {
	case MSR_EFER:
		*v = x->st->efer;
		return EMU_OK;
	case MSR_FS_BASE:
		*v = x->st->seg[X86_FS].base;
		return EMU_OK;
	case MSR_GS_BASE:
		*v = x->st->seg[X86_GS].base;
		return EMU_OK;
	}
	k = msr_index(msr);
	if (k >= 0) {
		*v = x->st->msr[k];
		return EMU_OK;
	}
	if (!x->ops->rdmsr)
		return EMU_RAISE_GP0(x);
	if (x->ops->rdmsr(x->opaque, msr, v, &known) != EMU_OK)
		return EMU_IO_ERROR;
	return known ? EMU_OK : EMU_RAISE_GP0(x);
}

enum emu_status em_rdmsr(struct emu_exec *x)
{
	uint64_t v;
	EMU_TRY(need_cpl0(x));
	EMU_TRY(read_msr(x, (uint32_t)x->st->gpr[X86_RCX], &v));
	x->st->gpr[X86_RAX] = (uint32_t)v;
	x->st->gpr[X86_RDX] = v >> 32;
	return EMU_OK;
}

enum emu_status em_wrmsr(struct emu_exec *x)
{
	uint32_t msr = (uint32_t)x->st->gpr[X86_RCX];
	uint64_t v = (x->st->gpr[X86_RAX] & 0xffffffffu) | (x->st->gpr[X86_RDX] << 32);
	bool known = false;
	int k;
	EMU_TRY(need_cpl0(x));
	switch (msr) {
	case MSR_EFER:
		/* SCE, LME, NXE are writable; LMA follows CR0.PG; LME cannot change while paging is on. */
		if (v & ~(X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NXE))
			return EMU_RAISE_GP0(x);
		if ((x->st->cr0 & X86_CR0_PG) && ((v ^ x->st->efer) & X86_EFER_LME))
			return EMU_RAISE_GP0(x);
		x->st->efer = (v & ~X86_EFER_LMA) | (x->st->efer & X86_EFER_LMA);
		return EMU_OK;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case 0xc0000102: /* KERNEL_GS_BASE */
	case 0xc0000082: /* LSTAR */
	case 0xc0000083: /* CSTAR */
		if (!emu_canonical(v))
			return EMU_RAISE_GP0(x);
		if (msr == MSR_FS_BASE || msr == MSR_GS_BASE) {
			x->st->seg[msr == MSR_FS_BASE ? X86_FS : X86_GS].base = v;
			return EMU_OK;
		}
		break;
	}
	k = msr_index(msr);
	if (k >= 0) {
		x->st->msr[k] = v;
		return EMU_OK;
	}
	if (!x->ops->wrmsr)
		return EMU_RAISE_GP0(x);
	if (x->ops->wrmsr(x->opaque, msr, v, &known) != EMU_OK)
		return EMU_IO_ERROR;
	return known ? EMU_OK : EMU_RAISE_GP0(x);
}

enum emu_status emu_write_cr(struct emu_exec *x, unsigned cr, uint64_t v)
{
	struct x86_state *st = x->st;
	bool long_mode = st->efer & X86_EFER_LMA;
	switch (cr) {
	case 0:
		if (v >> 32)
			return EMU_RAISE_GP0(x);
		v |= X86_CR0_ET;
		if ((v & X86_CR0_PG) && !(v & X86_CR0_PE))
			return EMU_RAISE_GP0(x);
		if ((v & X86_CR0_NW) && !(v & X86_CR0_CD))
			return EMU_RAISE_GP0(x);
		if ((v & X86_CR0_PG) && !(st->cr0 & X86_CR0_PG) && (st->efer & X86_EFER_LME)) {
			/* Entering long mode: PAE required, and not from a 64-bit... (CS.L must be 0). */
			if (!(st->cr4 & X86_CR4_PAE) || (st->seg[X86_CS].attr & X86_SEG_L))
				return EMU_RAISE_GP0(x);
			st->efer |= X86_EFER_LMA;
		} else if (!(v & X86_CR0_PG) && (st->cr0 & X86_CR0_PG) && long_mode) {
			if (x->mode == X86_MODE_LONG64)
				return EMU_RAISE_GP0(x);
			st->efer &= ~X86_EFER_LMA;
		}
		if ((v ^ st->cr0) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
			emu_tlb_flush(x, true, 0);
		st->cr0 = v;
		return EMU_OK;
	case 2:
		st->cr2 = long_mode ? v : (uint32_t)v;
		return EMU_OK;
	case 3:
		if (long_mode && (v >> 52))
			return EMU_RAISE_GP0(x);
		st->cr3 = long_mode ? v : (uint32_t)v;
		emu_tlb_flush(x, true, 0);
		return EMU_OK;
	case 4:
		/* Bits this model knows; the rest are reserved. */
		if (v & ~0x3f7fffull)
			return EMU_RAISE_GP0(x);
		if (long_mode && !(v & X86_CR4_PAE))
			return EMU_RAISE_GP0(x);
		/* LA57 cannot change in IA-32e mode; OSXSAVE and PCIDE exist only where CPUID has them. */
		if (long_mode && ((v ^ st->cr4) & X86_CR4_LA57))
			return EMU_RAISE_GP0(x);
		uint64_t set = v & ~st->cr4;
		if ((set & X86_CR4_OSXSAVE) && !emu_cpu_has(x, EMU_CPU_XSAVE))
			return EMU_RAISE_GP0(x);
		if ((set & X86_CR4_PCIDE) &&
		    (!emu_cpu_has(x, EMU_CPU_PCID) || !long_mode || (st->cr3 & 0xfff)))
			return EMU_RAISE_GP0(x);
		if ((v ^ st->cr4) & (X86_CR4_PAE | X86_CR4_PGE | X86_CR4_PSE | X86_CR4_SMEP))
			emu_tlb_flush(x, true, 0);
		st->cr4 = v;
		return EMU_OK;
	case 8:
		if (v & ~0xfull)
			return EMU_RAISE_GP0(x);
		st->cr8 = v;
		return EMU_OK;
	}
	return EMU_RAISE_UD(x);
}

/* 0F 20 / 0F 22: the ModRM mod field is ignored; operands are 32-bit, or 64-bit in long mode */
enum emu_status em_mov_cr(struct emu_exec *x)
{
	unsigned cr = x->i->reg, w = x->mode == X86_MODE_LONG64 ? 8 : 4;
	uint64_t v;
	if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
		return EMU_RAISE_UD(x);
	if (cr == 8 && x->mode != X86_MODE_LONG64)
		return EMU_RAISE_UD(x);
	EMU_TRY(need_cpl0(x));
	if (x->i->b == 0x22)
		return emu_write_cr(x, cr, emu_reg_get(x, x->i->rm, w));
	switch (cr) {
	case 0:
		v = x->st->cr0;
		break;
	case 2:
		v = x->st->cr2;
		break;
	case 3:
		v = x->st->cr3;
		break;
	case 4:
		v = x->st->cr4;
		break;
	default:
		v = x->st->cr8;
	}
	emu_reg_set(x, x->i->rm, w, v);
	return EMU_OK;
}

/* 0F 21 / 0F 23: DR4/DR5 alias DR6/DR7 unless CR4.DE */
enum emu_status em_mov_dr(struct emu_exec *x)
{
	unsigned dr = x->i->reg, w = x->mode == X86_MODE_LONG64 ? 8 : 4;
	uint64_t v;
	if (dr > 7)
		return EMU_RAISE_UD(x);
	if (dr == 4 || dr == 5) {
		if (x->st->cr4 & X86_CR4_DE)
			return EMU_RAISE_UD(x);
		dr += 2;
	}
	EMU_TRY(need_cpl0(x));
	/* General detect: any MOV DR faults with #DB while DR7.GD is set. */
	if (x->st->dr7 & (1u << 13))
		return emu_raise(x, EMU_DB, false, 0);
	if (x->i->b == 0x23) {
		v = emu_reg_get(x, x->i->rm, w);
		if (dr < 4) {
			x->st->dr[dr] = v;
		} else {
			if (v >> 32)
				return EMU_RAISE_GP0(x);
			if (dr == 6)
				x->st->dr6 = (v & 0x1e00f) | 0xffff0ff0u;
			else
				x->st->dr7 = (v & 0xffff2bffu) | 0x400;
		}
		return EMU_OK;
	}
	v = dr < 4 ? x->st->dr[dr] : dr == 6 ? x->st->dr6 : x->st->dr7;
	emu_reg_set(x, x->i->rm, w, v);
	return EMU_OK;
}

enum emu_status em_clts(struct emu_exec *x)
{
	EMU_TRY(need_cpl0(x));
	x->st->cr0 &= ~X86_CR0_TS;
	return EMU_OK;
}

/* 0F 08 INVD, 0F 09 WBINVD: no caches are modeled */
enum emu_status em_wbinvd(struct emu_exec *x)
{
	return need_cpl0(x);
}

/* 0F 0B UD2, 0F B9 UD1, 0F FF UD0 */
enum emu_status em_ud(struct emu_exec *x)
{
	return EMU_RAISE_UD(x);
}

/* 0F 0D, 0F 18 - 0F 1F: prefetches and hint NOPs access no memory */
enum emu_status em_hint_nop(struct emu_exec *x)
{
	(void)x;
	return EMU_OK;
}

static bool umip_blocks(const struct emu_exec *x)
{
	return (x->st->cr4 & X86_CR4_UMIP) && x->cpl > 0;
}

/* SGDT/SIDT: limit, then a 32-bit base (64-bit in long mode) */
static enum emu_status store_dt(struct emu_exec *x, const struct x86_dtable *dt)
{
	uint8_t b[10];
	unsigned n = x->mode == X86_MODE_LONG64 ? 10 : 6;
	if (umip_blocks(x))
		return EMU_RAISE_GP0(x);
	b[0] = (uint8_t)dt->limit;
	b[1] = (uint8_t)(dt->limit >> 8);
	for (unsigned k = 0; k < 8; k++)
		b[2 + k] = (uint8_t)(dt->base >> (8 * k));
	return emu_mem_write(x, x->i->ea_seg, x->i->ea, b, n);
}

static enum emu_status load_dt(struct emu_exec *x, struct x86_dtable *dt)
{
	uint8_t b[10] = {0};
	unsigned n = x->mode == X86_MODE_LONG64 ? 10 : 6;
	uint64_t base = 0;
	EMU_TRY(need_cpl0(x));
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, b, n));
	for (unsigned k = 0; k < n - 2; k++)
		base |= (uint64_t)b[2 + k] << (8 * k);
	if (x->mode == X86_MODE_LONG64) {
		if (!emu_canonical(base))
			return EMU_RAISE_GP0(x);
	} else if (x->i->opsize == 2) {
		base &= 0xffffff;
	}
	dt->base = base;
	dt->limit = (uint32_t)b[0] | ((uint32_t)b[1] << 8);
	return EMU_OK;
}

/* LMSW changes PE MP EM TS only, and cannot clear PE */
static enum emu_status lmsw(struct emu_exec *x)
{
	uint64_t v, cr0 = x->st->cr0;
	EMU_TRY(need_cpl0(x));
	EMU_TRY(emu_rm_read(x, 2, &v));
	cr0 = (cr0 & ~0xeull) | (v & 0xe) | ((v | cr0) & X86_CR0_PE);
	return emu_write_cr(x, 0, cr0);
}

/* 0F 01 */
enum emu_status em_grp7(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7, rm = x->i->modrm & 7;
	struct x86_state *st = x->st;
	if (x->i->mod != 3) {
		switch (op) {
		case 0:
			return store_dt(x, &st->gdtr);
		case 1:
			return store_dt(x, &st->idtr);
		case 2: {
			struct x86_dtable dt;
			EMU_TRY(load_dt(x, &dt));
			st->gdtr.base = dt.base;
			st->gdtr.limit = dt.limit;
			return EMU_OK;
		}
		case 3: {
			struct x86_dtable dt;
			EMU_TRY(load_dt(x, &dt));
			st->idtr.base = dt.base;
			st->idtr.limit = dt.limit;
			return EMU_OK;
		}
		case 4:
			if (umip_blocks(x))
				return EMU_RAISE_GP0(x);
			return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 2, st->cr0);
		case 6:
			return lmsw(x);
		case 7:
			EMU_TRY(need_cpl0(x));
			emu_tlb_flush(x, false,
			              x->i->ea + ((x->mode != X86_MODE_LONG64 || x->i->ea_seg >= X86_FS)
			                              ? st->seg[x->i->ea_seg].base
			                              : 0));
			return EMU_OK;
		}
		return emu_unimplemented(x);
	}
	switch (op) {
	case 0:
		if (rm >= 1 && rm <= 4) /* VMCALL VMLAUNCH VMRESUME VMXOFF: no VMX operation, no hypervisor */
			return EMU_RAISE_UD(x);
		break;
	case 3: /* VMRUN VMMCALL VMLOAD VMSAVE STGI CLGI SKINIT INVLPGA: SVM is off, no hypervisor */
		return EMU_RAISE_UD(x);
	case 1:
		if (rm == 2 || rm == 3) { /* CLAC, STAC */
			if (!(st->cr4 & X86_CR4_SMAP))
				return EMU_RAISE_UD(x);
			EMU_TRY(need_cpl0(x));
			if (rm == 2)
				st->rflags &= ~X86_RFLAGS_AC;
			else
				st->rflags |= X86_RFLAGS_AC;
			return EMU_OK;
		}
		break;
	case 2:
		if (rm == 4) /* VMFUNC */
			return EMU_RAISE_UD(x);
		if (rm == 0 || rm == 1) { /* XGETBV, XSETBV */
			if (!(st->cr4 & X86_CR4_OSXSAVE))
				return EMU_RAISE_UD(x);
			if ((uint32_t)st->gpr[X86_RCX] != 0)
				return EMU_RAISE_GP0(x);
			if (rm == 0) {
				st->gpr[X86_RAX] = (uint32_t)st->xcr0;
				st->gpr[X86_RDX] = st->xcr0 >> 32;
				return EMU_OK;
			}
			EMU_TRY(need_cpl0(x));
			uint64_t v = (st->gpr[X86_RAX] & 0xffffffffu) | (st->gpr[X86_RDX] << 32);
			if (!(v & 1) || ((v & 4) && !(v & 2)))
				return EMU_RAISE_GP0(x);
			st->xcr0 = v;
			return EMU_OK;
		}
		break;
	case 4:
		if (umip_blocks(x))
			return EMU_RAISE_GP0(x);
		emu_reg_set(x, x->i->rm, x->i->opsize, st->cr0);
		return EMU_OK;
	case 6:
		return lmsw(x);
	case 7:
		if (rm == 0) { /* SWAPGS */
			if (x->mode != X86_MODE_LONG64)
				return EMU_RAISE_UD(x);
			EMU_TRY(need_cpl0(x));
			uint64_t t = st->seg[X86_GS].base;
			st->seg[X86_GS].base = st->msr[X86_MSR_KERNEL_GS_BASE];
			st->msr[X86_MSR_KERNEL_GS_BASE] = t;
			return EMU_OK;
		}
		if (rm == 1) { /* RDTSCP */
			uint64_t aux;
			EMU_TRY(em_rdtsc(x));
			EMU_TRY(read_msr(x, MSR_TSC_AUX, &aux));
			st->gpr[X86_RCX] = (uint32_t)aux;
			return EMU_OK;
		}
		break;
	}
	return emu_unimplemented(x);
}

/* 66 0F 38 82: INVPCID type, [descriptor]; every type drops this model's whole TLB (it has no PCIDs) */
enum emu_status em_invpcid(struct emu_exec *x)
{
	uint64_t desc[2];
	if (!x->i->pfx66 || x->i->rep || !emu_cpu_has(x, EMU_CPU_INVPCID))
		return EMU_RAISE_UD(x);
	if (x->mode == X86_MODE_V86)
		return EMU_RAISE_GP0(x);
	EMU_TRY(need_cpl0(x));
	uint64_t type = emu_reg_get(x, x->i->reg, x->mode == X86_MODE_LONG64 ? 8 : 4);
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, 8, &desc[0]));
	EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea + 8, 8, &desc[1]));
	/* Reserved descriptor bits, an unknown type, a PCID without CR4.PCIDE, a non-canonical address. */
	if (type > 3 || (desc[0] & ~0xfffull) ||
	    (type <= 1 && (desc[0] & 0xfff) && !(x->st->cr4 & X86_CR4_PCIDE)) ||
	    (type == 0 && !emu_canonical(desc[1])))
		return EMU_RAISE_GP0(x);
	emu_tlb_flush(x, true, 0);
	return EMU_OK;
}

/* 0F 00: SLDT and STR here; LLDT LTR VERR VERW need the descriptor checks of the next issue */
enum emu_status em_grp6(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7;
	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86)
		return EMU_RAISE_UD(x);
	switch (op) {
	case 0:
	case 1:
		if (umip_blocks(x))
			return EMU_RAISE_GP0(x);
		{
			uint16_t sel = x->st->seg[op == 0 ? X86_LDTR : X86_TR].selector;
			if (x->i->mod == 3) {
				emu_reg_set(x, x->i->rm, x->i->opsize, sel);
				return EMU_OK;
			}
			return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 2, sel);
		}
	case 2:
	case 3: {
		/* LLDT, LTR */
		unsigned seg = op == 2 ? X86_LDTR : X86_TR;
		struct x86_segment s;
		uint64_t v, addr;
		EMU_TRY(need_cpl0(x));
		EMU_TRY(emu_rm_read(x, 2, &v));
		EMU_TRY(emu_seg_load_system(x, seg, (uint16_t)v, &s, &addr));
		if (seg == X86_TR) {
			/* The TSS descriptor becomes busy, in memory and in TR. */
			uint8_t type = (uint8_t)((s.attr & 0xff) | 2);
			EMU_TRY(emu_lin_write(x, addr + 5, &type, 1));
			s.attr |= 2;
		}
		x->st->seg[seg] = s;
		return EMU_OK;
	}
	case 4:
	case 5:
		return emu_verr_verw(x, op == 5);
	case 6:
	case 7:
		return EMU_RAISE_UD(x);
	}
	return emu_unimplemented(x);
}

#define MSR_STAR_SEL(v, shift) ((uint16_t)((v) >> (shift)))

static void flat_seg(struct x86_segment *s, uint16_t sel, uint32_t attr)
{
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffffu;
	s->attr = attr;
}

/* 0F 05: SYSCALL. Flat CS/SS from STAR, RIP from LSTAR (CSTAR in compatibility mode is AMD-only). */
enum emu_status em_syscall(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	uint64_t star = st->msr[X86_MSR_STAR];
	uint16_t cs = MSR_STAR_SEL(star, 32) & 0xfffc;
	if (!(st->efer & X86_EFER_SCE) || !(st->efer & X86_EFER_LMA) || x->mode != X86_MODE_LONG64)
		return EMU_RAISE_UD(x);
	st->gpr[X86_RCX] = x->next_rip;
	st->gpr[X86_R11] = st->rflags & ~X86_RFLAGS_RF;
	st->rflags &= ~(st->msr[X86_MSR_SFMASK] | X86_RFLAGS_RF);
	st->rflags |= X86_RFLAGS_FIXED;
	flat_seg(&st->seg[X86_CS], cs, 0xa09b);
	flat_seg(&st->seg[X86_SS], (uint16_t)(cs + 8), 0xc093);
	st->rip = st->msr[X86_MSR_LSTAR];
	x->rip_set = true;
	return EMU_OK;
}

/* 0F 07: SYSRET to 64-bit (REX.W) or compatibility mode at CPL 3. */
enum emu_status em_sysret(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	uint64_t star = st->msr[X86_MSR_STAR];
	uint16_t base = MSR_STAR_SEL(star, 48);
	bool to64 = x->i->opsize == 8;
	if (!(st->efer & X86_EFER_SCE) || x->mode != X86_MODE_LONG64)
		return EMU_RAISE_UD(x);
	EMU_TRY(need_cpl0(x));
	if (to64 && !emu_canonical(st->gpr[X86_RCX]))
		return EMU_RAISE_GP0(x);
	st->rflags = (st->gpr[X86_R11] & 0x3c7fd7) | X86_RFLAGS_FIXED;
	if (to64) {
		flat_seg(&st->seg[X86_CS], (uint16_t)((base + 16) | 3), 0xa0fb);
		st->rip = st->gpr[X86_RCX];
	} else {
		flat_seg(&st->seg[X86_CS], (uint16_t)(base | 3), 0xc0fb);
		st->rip = (uint32_t)st->gpr[X86_RCX];
	}
	/* SS keeps its cached descriptor apart from selector and DPL, as Intel CPUs do. */
	st->seg[X86_SS].selector = (uint16_t)((base + 8) | 3);
	st->seg[X86_SS].attr = (st->seg[X86_SS].attr & ~X86_SEG_DPL_MASK) | (3u << X86_SEG_DPL_SHIFT);
	x->rip_set = true;
	return EMU_OK;
}

/* 0F 34: SYSENTER to CPL 0, flat segments from SYSENTER_CS. */
enum emu_status em_sysenter(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	uint16_t cs = (uint16_t)(st->msr[X86_MSR_SYSENTER_CS] & 0xfffc);
	bool lma = st->efer & X86_EFER_LMA;
	if (x->mode == X86_MODE_REAL || !cs)
		return EMU_RAISE_GP0(x);
	st->rflags &= ~(X86_RFLAGS_VM | X86_RFLAGS_IF | X86_RFLAGS_RF);
	flat_seg(&st->seg[X86_CS], cs, lma ? 0xa09b : 0xc09b);
	flat_seg(&st->seg[X86_SS], (uint16_t)(cs + 8), 0xc093);
	st->gpr[X86_RSP] = lma ? st->msr[X86_MSR_SYSENTER_ESP] : (uint32_t)st->msr[X86_MSR_SYSENTER_ESP];
	st->rip = lma ? st->msr[X86_MSR_SYSENTER_EIP] : (uint32_t)st->msr[X86_MSR_SYSENTER_EIP];
	x->rip_set = true;
	return EMU_OK;
}

/* 0F 35: SYSEXIT to CPL 3 (REX.W: to 64-bit code). */
enum emu_status em_sysexit(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	uint16_t cs = (uint16_t)(st->msr[X86_MSR_SYSENTER_CS] & 0xfffc);
	bool to64 = x->i->opsize == 8;
	if (x->mode == X86_MODE_REAL || x->mode == X86_MODE_V86 || !cs)
		return EMU_RAISE_GP0(x);
	EMU_TRY(need_cpl0(x));
	if (to64 && (!emu_canonical(st->gpr[X86_RDX]) || !emu_canonical(st->gpr[X86_RCX])))
		return EMU_RAISE_GP0(x);
	if (to64) {
		flat_seg(&st->seg[X86_CS], (uint16_t)((cs + 32) | 3), 0xa0fb);
		flat_seg(&st->seg[X86_SS], (uint16_t)((cs + 40) | 3), 0xc0f3);
		st->rip = st->gpr[X86_RDX];
		st->gpr[X86_RSP] = st->gpr[X86_RCX];
	} else {
		flat_seg(&st->seg[X86_CS], (uint16_t)((cs + 16) | 3), 0xc0fb);
		flat_seg(&st->seg[X86_SS], (uint16_t)((cs + 24) | 3), 0xc0f3);
		st->rip = (uint32_t)st->gpr[X86_RDX];
		st->gpr[X86_RSP] = (uint32_t)st->gpr[X86_RCX];
	}
	x->rip_set = true;
	return EMU_OK;
}
