/* The interrupt-flag instructions under IOPL, CR4.VME (virtual-8086 mode)
 * and CR4.PVI (protected-mode virtual interrupts): CLI, STI, and the
 * virtual-8086 forms of PUSHF and POPF (SDM Vol. 3, 20.3 and 20.4). */
#include "system.h"

static unsigned iopl_of(const struct x86_state *st)
{
	return (unsigned)((st->rflags & X86_RFLAGS_IOPL) >> 12);
}

enum emu_status emu_cli_sti(struct emu_exec *x, bool sti)
{
	struct x86_state *st = x->st;
	uint64_t flag = X86_RFLAGS_IF;
	if (x->mode != X86_MODE_REAL) {
		bool v86 = x->mode == X86_MODE_V86;
		bool allowed = v86 ? iopl_of(st) == 3 : x->cpl <= iopl_of(st);
		if (!allowed) {
			/* VME in virtual-8086 mode, PVI at CPL 3: the virtual flag instead; STI with VIP set
			 * faults. */
			bool virt = v86 ? (st->cr4 & X86_CR4_VME) : (x->cpl == 3 && (st->cr4 & X86_CR4_PVI));
			if (!virt || (sti && (st->rflags & X86_RFLAGS_VIP)))
				return EMU_RAISE_GP0(x);
			flag = X86_RFLAGS_VIF;
		}
	}
	if (!sti) {
		st->rflags &= ~flag;
		return EMU_OK;
	}
	if (flag == X86_RFLAGS_IF && !(st->rflags & X86_RFLAGS_IF))
		x->new_shadow = X86_SHADOW_STI;
	st->rflags |= flag;
	return EMU_OK;
}

/* PUSHF in virtual-8086 mode with IOPL < 3: only the 16-bit form under VME, IF from VIF, IOPL read as 3. */
enum emu_status emu_pushf_vme(struct emu_exec *x)
{
	uint64_t f = x->st->rflags;
	if (!(x->st->cr4 & X86_CR4_VME) || x->i->opsize != 2)
		return EMU_RAISE_GP0(x);
	f = (f & 0xffff & ~X86_RFLAGS_IF) | X86_RFLAGS_IOPL | ((f & X86_RFLAGS_VIF) ? X86_RFLAGS_IF : 0);
	return emu_push(x, 2, f);
}

/* POPF in virtual-8086 mode with IOPL < 3: the 16-bit form under VME sets VIF from IF and keeps IF and
 * IOPL; TF set in the image, or IF set with VIP pending, is #GP(0). */
enum emu_status emu_popf_vme(struct emu_exec *x)
{
	struct x86_state *st = x->st;
	uint64_t v, m = 0x4dd5; /* NT OF DF TF SF ZF AF PF CF */
	if (!(st->cr4 & X86_CR4_VME) || x->i->opsize != 2)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_stack_read(x, 0, 2, &v));
	if ((v & X86_RFLAGS_TF) || ((v & X86_RFLAGS_IF) && (st->rflags & X86_RFLAGS_VIP)))
		return EMU_RAISE_GP0(x);
	emu_rsp_add(x, 2);
	st->rflags = (st->rflags & ~m & ~X86_RFLAGS_VIF & ~X86_RFLAGS_RF) | (v & m) | X86_RFLAGS_FIXED |
	             ((v & X86_RFLAGS_IF) ? X86_RFLAGS_VIF : 0);
	return EMU_OK;
}
