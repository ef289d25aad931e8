/* The x87 and SSE instructions a BIOS and an early kernel use: FPU detection
 * and control word moves, 128-bit moves, XOR zeroing, MXCSR, FXSAVE/FXRSTOR.
 * Everything else in these opcode spaces reports EMU_UNIMPLEMENTED. */
#include <stdio.h>

#include "gated.h"
#include "private.h"
#include "sse.h"
#include "x87.h"

static enum emu_status fpu_check(struct emu_exec *x)
{
	if (x->st->cr0 & (X86_CR0_EM | X86_CR0_TS))
		return emu_raise(x, EMU_NM, false, 0);
	return EMU_OK;
}

enum emu_status emu_sse_check(struct emu_exec *x)
{
	if ((x->st->cr0 & X86_CR0_EM) || !(x->st->cr4 & X86_CR4_OSFXSR))
		return EMU_RAISE_UD(x);
	if (x->st->cr0 & X86_CR0_TS)
		return emu_raise(x, EMU_NM, false, 0);
	return EMU_OK;
}

/* Legacy SSE memory operands of 16 bytes must be 16-byte aligned (linear address). */
enum emu_status emu_sse_align16(struct emu_exec *x)
{
	uint64_t base = 0;
	if (x->mode != X86_MODE_LONG64 || x->i->ea_seg == X86_FS || x->i->ea_seg == X86_GS)
		base = x->st->seg[x->i->ea_seg].base;
	if ((base + x->i->ea) & 15)
		return EMU_RAISE_GP0(x);
	return EMU_OK;
}

static void fninit(struct x86_fpu *f)
{
	f->fcw = 0x37f;
	f->fsw = 0;
	f->ftw = 0;
	f->fop = 0;
	f->fip = 0;
	f->fdp = 0;
}

static enum emu_status x87_or_unimplemented(struct emu_exec *x)
{
	enum emu_status rc = emu_x87(x);
	return rc == EMU_UNIMPLEMENTED ? emu_unimplemented(x) : rc;
}

/* D8 - DF: the non-waiting control instructions here, everything else in x87.c. */
enum emu_status em_fpu(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, m = x->i->modrm, op = (m >> 3) & 7;
	EMU_TRY(fpu_check(x));
	if (x->i->mod == 3) {
		if (b == 0xdb && m == 0xe3) {
			fninit(f);
			return EMU_OK;
		}
		if (b == 0xdb && m == 0xe2) { /* FNCLEX */
			f->fsw &= 0x7f00;
			return EMU_OK;
		}
		if (b == 0xdb &&
		    (m == 0xe0 || m == 0xe1 || m == 0xe4)) /* FNENI FNDISI FNSETPM: 8087/287 only */
			return EMU_OK;
		if (b == 0xdf && m == 0xe0) { /* FNSTSW AX */
			emu_reg_set(x, X86_RAX, 2, f->fsw);
			return EMU_OK;
		}
		return x87_or_unimplemented(x);
	}
	if (b == 0xdd && op == 7)
		return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 2, f->fsw);
	if (b == 0xd9 && op == 7)
		return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 2, f->fcw);
	if ((b == 0xd9 || b == 0xdd) && op == 6) /* FNSTENV, FNSAVE */
		return emu_x87_store_env(x, b == 0xdd);
	return x87_or_unimplemented(x);
}

/* 9B: WAIT faults only when both MP and TS are set */
enum emu_status em_fwait(struct emu_exec *x)
{
	if ((x->st->cr0 & (X86_CR0_MP | X86_CR0_TS)) == (X86_CR0_MP | X86_CR0_TS))
		return emu_raise(x, EMU_NM, false, 0);
	return EMU_OK;
}

/* 0F 77 */
enum emu_status em_emms(struct emu_exec *x)
{
	EMU_TRY(emu_mmx_check(x));
	x->st->fpu.ftw = 0;
	return EMU_OK;
}

/* MMX registers alias the x87 mantissas; an MMX instruction empties nothing but marks all
 * registers valid and sets TOP to 0, and a write sets the aliased exponent to all ones. */
enum emu_status emu_mmx_check(struct emu_exec *x)
{
	if (x->st->cr0 & X86_CR0_EM)
		return EMU_RAISE_UD(x);
	if (x->st->cr0 & X86_CR0_TS)
		return emu_raise(x, EMU_NM, false, 0);
	/* An unmasked x87 exception left pending is reported first (FERR# outside with CR0.NE clear). */
	if ((x->st->fpu.fsw & 0x80) && (x->st->cr0 & X86_CR0_NE))
		return emu_raise(x, EMU_MF, false, 0);
	return EMU_OK;
}

/* MMX register n is the physical x87 register R[n], which is ST((n - TOP) & 7) in st[]. */
uint8_t *emu_mmx_reg(struct x86_fpu *f, unsigned n)
{
	return f->st[(n - ((unsigned)f->fsw >> 11)) & 7];
}

static uint64_t mmx_get(struct x86_fpu *f, unsigned r)
{
	uint64_t v;
	memcpy(&v, emu_mmx_reg(f, r), 8);
	return v;
}

void emu_mmx_touch(struct x86_fpu *f)
{
	unsigned top = ((unsigned)f->fsw >> 11) & 7;
	/* st[] is numbered from TOP: with TOP 0, st[i] becomes R[i]. */
	if (top) {
		uint8_t old[8][16];
		memcpy(old, f->st, sizeof(old));
		for (unsigned i = 0; i < 8; i++)
			memcpy(f->st[i], old[(i - top) & 7], 16);
	}
	f->fsw &= (uint16_t)~0x3800u;
	f->ftw = 0xff;
}

void emu_mmx_set(struct x86_fpu *f, unsigned r, uint64_t v)
{
	uint8_t *p = emu_mmx_reg(f, r);
	memcpy(p, &v, 8);
	p[8] = 0xff;
	p[9] = 0xff;
}

/* 0F 6E/7E MOVD, 0F 6F/7F MOVQ, 0F EF PXOR on MMX registers (no mandatory prefix) */
static enum emu_status mmx_op(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned w = (x->i->rex & 8) ? 8 : 4;
	uint64_t v;
	EMU_TRY(emu_mmx_check(x));
	switch (x->i->b) {
	case 0x6e:
		EMU_TRY(emu_rm_read(x, w, &v));
		emu_mmx_touch(f);
		emu_mmx_set(f, x->i->reg, v);
		return EMU_OK;
	case 0x7e:
		EMU_TRY(emu_rm_write(x, w, mmx_get(f, x->i->reg) & emu_mask(w)));
		emu_mmx_touch(f);
		return EMU_OK;
	case 0x6f:
	case 0xef:
		if (x->i->mod == 3)
			v = mmx_get(f, x->i->rm);
		else
			EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, 8, &v));
		emu_mmx_touch(f);
		emu_mmx_set(f, x->i->reg, x->i->b == 0xef ? v ^ mmx_get(f, x->i->reg) : v);
		return EMU_OK;
	default: /* 7F */
		if (x->i->mod == 3) {
			emu_mmx_touch(f);
			emu_mmx_set(f, x->i->rm, mmx_get(f, x->i->reg));
			return EMU_OK;
		}
		EMU_TRY(emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 8, mmx_get(f, x->i->reg)));
		emu_mmx_touch(f);
		return EMU_OK;
	}
}

/* 0F 10/11 MOVUPS MOVUPD MOVSS MOVSD, 0F 28/29 MOVAPS MOVAPD, 66/F3 0F 6F/7F MOVDQA MOVDQU */
enum emu_status em_sse_mov(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, size = 16;
	bool aligned = false, store = b == 0x11 || b == 0x29 || b == 0x7f;
	uint8_t tmp[16];
	switch (b) {
	case 0x10:
	case 0x11:
		size = x->i->rep == 0xf3 ? 4 : x->i->rep == 0xf2 ? 8 : 16;
		break;
	case 0x28:
	case 0x29:
		if (x->i->rep)
			return EMU_RAISE_UD(x);
		aligned = true;
		break;
	default: /* 6F, 7F */
		if (x->i->rep == 0xf2)
			return EMU_RAISE_UD(x);
		if (!x->i->rep && !x->i->pfx66)
			return mmx_op(x); /* MMX MOVQ */
		aligned = x->i->rep != 0xf3;
	}
	EMU_TRY(emu_sse_check(x));
	if (x->i->mod == 3) {
		uint8_t *dst = store ? f->xmm[x->i->rm] : f->xmm[x->i->reg];
		const uint8_t *src = store ? f->xmm[x->i->reg] : f->xmm[x->i->rm];
		memmove(dst, src, size);
		return EMU_OK;
	}
	if (aligned)
		EMU_TRY(emu_sse_align16(x));
	if (store)
		return emu_mem_write(x, x->i->ea_seg, x->i->ea, f->xmm[x->i->reg], size);
	memset(tmp, 0, sizeof(tmp));
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, tmp, size));
	memcpy(f->xmm[x->i->reg], tmp, 16); /* a scalar load from memory zeroes the upper part */
	return EMU_OK;
}

/* 66 0F 6E MOVD/MOVQ xmm, r/m; 66 0F 7E MOVD/MOVQ r/m, xmm; F3 0F 7E MOVQ xmm, xmm/m64 */
enum emu_status em_sse_movd(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned w = (x->i->rex & 8) ? 8 : 4;
	uint64_t v;
	if (x->i->b == 0x7e && x->i->rep == 0xf3) {
		EMU_TRY(emu_sse_check(x));
		if (x->i->mod == 3)
			memcpy(&v, f->xmm[x->i->rm], 8);
		else
			EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, 8, &v));
		memset(f->xmm[x->i->reg], 0, 16);
		memcpy(f->xmm[x->i->reg], &v, 8);
		return EMU_OK;
	}
	if (x->i->rep)
		return EMU_RAISE_UD(x);
	if (!x->i->pfx66)
		return mmx_op(x); /* MMX MOVD/MOVQ */
	EMU_TRY(emu_sse_check(x));
	if (x->i->b == 0x6e) {
		EMU_TRY(emu_rm_read(x, w, &v));
		memset(f->xmm[x->i->reg], 0, 16);
		memcpy(f->xmm[x->i->reg], &v, w);
		return EMU_OK;
	}
	v = 0;
	memcpy(&v, f->xmm[x->i->reg], w);
	return emu_rm_write(x, w, v);
}

/* 66 0F D6: MOVQ xmm/m64, xmm */
enum emu_status em_sse_movq_store(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	if (!x->i->pfx66 || x->i->rep)
		return x->i->rep ? emu_unimplemented(x) : EMU_RAISE_UD(x);
	EMU_TRY(emu_sse_check(x));
	if (x->i->mod == 3) {
		uint8_t t[8];
		memcpy(t, f->xmm[x->i->reg], 8);
		memset(f->xmm[x->i->rm], 0, 16);
		memcpy(f->xmm[x->i->rm], t, 8);
		return EMU_OK;
	}
	return emu_mem_write(x, x->i->ea_seg, x->i->ea, f->xmm[x->i->reg], 8);
}

/* 0F 57 XORPS, 66 0F 57 XORPD, 66 0F EF PXOR */
enum emu_status em_sse_xor(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	uint8_t src[16];
	if (x->i->rep)
		return EMU_RAISE_UD(x);
	if (x->i->b == 0xef && !x->i->pfx66)
		return mmx_op(x); /* MMX PXOR */
	EMU_TRY(emu_sse_check(x));
	if (x->i->mod == 3) {
		memcpy(src, f->xmm[x->i->rm], 16);
	} else {
		EMU_TRY(emu_sse_align16(x));
		EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, src, 16));
	}
	for (unsigned k = 0; k < 16; k++)
		f->xmm[x->i->reg][k] ^= src[k];
	return EMU_OK;
}

static void put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

#define MXCSR_MASK 0xffffu

static enum emu_status fxsave(struct emu_exec *x)
{
	const struct x86_fpu *f = &x->st->fpu;
	uint8_t img[512];
	unsigned nxmm = x->mode == X86_MODE_LONG64 ? 16 : 8;
	memset(img, 0, sizeof(img));
	put(img + 0, f->fcw, 2);
	put(img + 2, f->fsw, 2);
	img[4] = f->ftw;
	put(img + 6, f->fop, 2);
	put(img + 8, f->fip, 8);
	put(img + 16, f->fdp, 8);
	put(img + 24, f->mxcsr, 4);
	put(img + 28, MXCSR_MASK, 4);
	for (unsigned k = 0; k < 8; k++)
		memcpy(img + 32 + 16 * k, f->st[k], 10);
	/* With CR4.OSFXSR clear the XMM registers and MXCSR are not saved. */
	if (x->st->cr4 & X86_CR4_OSFXSR)
		for (unsigned k = 0; k < nxmm; k++)
			memcpy(img + 160 + 16 * k, f->xmm[k], 16);
	return emu_mem_write(x, x->i->ea_seg, x->i->ea, img, 512);
}

static enum emu_status fxrstor(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	uint8_t img[512];
	unsigned nxmm = x->mode == X86_MODE_LONG64 ? 16 : 8;
	uint32_t mxcsr;
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, img, 512));
	mxcsr = (uint32_t)get(img + 24, 4);
	if (mxcsr & ~MXCSR_MASK)
		return EMU_RAISE_GP0(x);
	f->fcw = (uint16_t)get(img + 0, 2);
	f->fsw = (uint16_t)get(img + 2, 2);
	f->ftw = img[4];
	f->fop = (uint16_t)get(img + 6, 2);
	f->fip = get(img + 8, 8);
	f->fdp = get(img + 16, 8);
	for (unsigned k = 0; k < 8; k++) {
		memset(f->st[k], 0, 16);
		memcpy(f->st[k], img + 32 + 16 * k, 10);
	}
	if (x->st->cr4 & X86_CR4_OSFXSR) {
		f->mxcsr = mxcsr;
		for (unsigned k = 0; k < nxmm; k++)
			memcpy(f->xmm[k], img + 160 + 16 * k, 16);
	}
	return EMU_OK;
}

/* XSAVE/XSAVEOPT and XRSTOR in the standard form, for the x87 and SSE components only:
 * the state model has no AVX upper halves, so other components report EMU_UNIMPLEMENTED. */
static enum emu_status xsave_rfbm(struct emu_exec *x, uint64_t *rfbm)
{
	const struct x86_state *st = x->st;
	if (!(st->cr4 & X86_CR4_OSXSAVE))
		return EMU_RAISE_UD(x);
	if (st->cr0 & X86_CR0_TS)
		return emu_raise(x, EMU_NM, false, 0);
	*rfbm = st->xcr0 & ((st->gpr[X86_RAX] & 0xffffffffu) | (st->gpr[X86_RDX] << 32));
	if (*rfbm & ~3ull) {
		snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented),
		         "xsave of components %#llx", (unsigned long long)(*rfbm & ~3ull));
		return EMU_UNIMPLEMENTED;
	}
	uint64_t base =
	    (x->mode != X86_MODE_LONG64 || x->i->ea_seg >= X86_FS) ? st->seg[x->i->ea_seg].base : 0;
	if ((base + x->i->ea) & 63)
		return EMU_RAISE_GP0(x);
	return EMU_OK;
}

static enum emu_status xsave(struct emu_exec *x)
{
	const struct x86_fpu *f = &x->st->fpu;
	uint8_t img[576];
	uint64_t rfbm, bv;
	unsigned nxmm = x->mode == X86_MODE_LONG64 ? 16 : 8;
	EMU_TRY(xsave_rfbm(x, &rfbm));
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, img, sizeof(img)));
	if (rfbm & 1) {
		put(img + 0, f->fcw, 2);
		put(img + 2, f->fsw, 2);
		img[4] = f->ftw;
		put(img + 6, f->fop, 2);
		put(img + 8, f->fip, 8);
		put(img + 16, f->fdp, 8);
		for (unsigned k = 0; k < 8; k++)
			memcpy(img + 32 + 16 * k, f->st[k], 10);
	}
	if (rfbm & 2) {
		put(img + 24, f->mxcsr, 4);
		put(img + 28, MXCSR_MASK, 4);
		for (unsigned k = 0; k < nxmm; k++)
			memcpy(img + 160 + 16 * k, f->xmm[k], 16);
	}
	/* No init tracking: every saved component is marked in use. */
	bv = (get(img + 512, 8) & ~rfbm) | rfbm;
	put(img + 512, bv, 8);
	return emu_mem_write(x, x->i->ea_seg, x->i->ea, img, sizeof(img));
}

static enum emu_status xrstor(struct emu_exec *x)
{
	struct x86_fpu *f = &x->st->fpu;
	uint8_t img[576];
	uint64_t rfbm, bv, comp;
	unsigned nxmm = x->mode == X86_MODE_LONG64 ? 16 : 8;
	uint32_t mxcsr;
	EMU_TRY(xsave_rfbm(x, &rfbm));
	EMU_TRY(emu_mem_read(x, x->i->ea_seg, x->i->ea, img, sizeof(img)));
	bv = get(img + 512, 8);
	comp = get(img + 520, 8);
	if (comp & (1ull << 63)) {
		snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented),
		         "xrstor of the compacted form");
		return EMU_UNIMPLEMENTED;
	}
	if ((bv & ~x->st->xcr0) || comp || get(img + 528, 8))
		return EMU_RAISE_GP0(x);
	mxcsr = (uint32_t)get(img + 24, 4);
	if ((rfbm & 2) && (mxcsr & ~MXCSR_MASK))
		return EMU_RAISE_GP0(x);
	if (rfbm & 1) {
		if (bv & 1) {
			f->fcw = (uint16_t)get(img + 0, 2);
			f->fsw = (uint16_t)get(img + 2, 2);
			f->ftw = img[4];
			f->fop = (uint16_t)get(img + 6, 2);
			f->fip = get(img + 8, 8);
			f->fdp = get(img + 16, 8);
			for (unsigned k = 0; k < 8; k++) {
				memset(f->st[k], 0, 16);
				memcpy(f->st[k], img + 32 + 16 * k, 10);
			}
		} else {
			fninit(f);
			memset(f->st, 0, sizeof(f->st));
		}
	}
	if (rfbm & 2) {
		f->mxcsr = mxcsr;
		for (unsigned k = 0; k < nxmm; k++) {
			if (bv & 2)
				memcpy(f->xmm[k], img + 160 + 16 * k, 16);
			else
				memset(f->xmm[k], 0, 16);
		}
	}
	return EMU_OK;
}

/* 0F AE */
enum emu_status em_grp15(struct emu_exec *x)
{
	unsigned op = (x->i->modrm >> 3) & 7;
	uint64_t v;
	if (x->i->mod == 3) {
		if (x->i->rep == 0xf3 && op <= 3) { /* RDFSBASE RDGSBASE WRFSBASE WRGSBASE */
			unsigned w = (x->i->rex & 8) ? 8 : 4, s = (op & 1) ? X86_GS : X86_FS;
			if (x->mode != X86_MODE_LONG64 || !(x->st->cr4 & X86_CR4_FSGSBASE))
				return EMU_RAISE_UD(x);
			if (op <= 1) {
				emu_reg_set(x, x->i->rm, w, x->st->seg[s].base);
				return EMU_OK;
			}
			v = emu_reg_get(x, x->i->rm, w);
			if (!emu_canonical(v))
				return EMU_RAISE_GP0(x);
			x->st->seg[s].base = v;
			return EMU_OK;
		}
		if (!x->i->rep && !x->i->pfx66 && op >= 5) /* LFENCE MFENCE SFENCE */
			return EMU_OK;
		return emu_unimplemented(x);
	}
	if (x->i->rep)
		return emu_unimplemented(x);
	switch (op) {
	case 0:
	case 1:
		if (x->st->cr0 & X86_CR0_EM)
			return EMU_RAISE_UD(x);
		if (x->st->cr0 & X86_CR0_TS)
			return emu_raise(x, EMU_NM, false, 0);
		EMU_TRY(emu_sse_align16(x));
		return op == 0 ? fxsave(x) : fxrstor(x);
	case 2:
		EMU_TRY(emu_sse_check(x));
		EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, 4, &v));
		if (v & ~(uint64_t)MXCSR_MASK)
			return EMU_RAISE_GP0(x);
		x->st->fpu.mxcsr = (uint32_t)v;
		return EMU_OK;
	case 3:
		EMU_TRY(emu_sse_check(x));
		return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, 4, x->st->fpu.mxcsr);
	case 4:
		return xsave(x);
	case 5:
		return xrstor(x);
	case 6:
		if (x->i->pfx66) /* CLWB: no caches are modeled */
			return emu_cpu_has(x, EMU_CPU_CLWB) ? EMU_OK : EMU_RAISE_UD(x);
		return xsave(x); /* XSAVEOPT: the same image without the modified-state optimization */
	case 7:                  /* CLFLUSH, CLFLUSHOPT: no caches are modeled */
		return !x->i->pfx66 || emu_cpu_has(x, EMU_CPU_CLFLUSHOPT) ? EMU_OK : EMU_RAISE_UD(x);
	}
	return emu_unimplemented(x);
}
