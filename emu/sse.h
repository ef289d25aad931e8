/* SIMD internals shared by the SSE files and ops_fpu.c: checks, operands, lanes. */
#ifndef EMUDIFF_EMU_SSE_H
#define EMUDIFF_EMU_SSE_H

#include "private.h"

/* #UD/#NM rules: SSE needs CR4.OSFXSR and CR0.EM clear, MMX only CR0.EM clear; CR0.TS gives #NM. */
enum emu_status emu_sse_check(struct emu_exec *x);
enum emu_status emu_mmx_check(struct emu_exec *x);
/* Legacy SSE memory operands of 16 bytes must be 16-byte aligned (linear address). */
enum emu_status emu_sse_align16(struct emu_exec *x);
/* An MMX instruction sets TOP to 0 and tags every register valid; an MMX write sets the exponent to ones. */
void emu_mmx_touch(struct x86_fpu *f);
/* The bytes of MMX register n: the physical x87 register R[n] (st[] is numbered from TOP). */
uint8_t *emu_mmx_reg(struct x86_fpu *f, unsigned n);
void emu_mmx_set(struct x86_fpu *f, unsigned r, uint64_t v);

/* The mandatory prefix: 0 none, 1 66, 2 F2, 3 F3 (F2/F3 win over 66). */
enum { PFX_NP, PFX_66, PFX_F2, PFX_F3 };
static inline unsigned sse_pfx(const struct emu_insn *i)
{
	return i->rep == 0xf3 ? PFX_F3 : i->rep == 0xf2 ? PFX_F2 : i->pfx66 ? PFX_66 : PFX_NP;
}

/* The operands of one instruction, copied: the destination register and the source. */
struct simd {
	unsigned n; /* bytes: 8 for MMX, 16 for XMM */
	bool mmx;
	uint8_t d[16];
	uint8_t s[16];
};

/* Checks the #UD/#NM rules and reads the destination register and the source operand (mem_bytes
 * of memory, zero-extended; 0: the full width). @align: a 16-byte memory operand must be aligned. */
enum emu_status sse_load(struct emu_exec *x, struct simd *o, bool mmx, unsigned mem_bytes, bool align);
/* Writes o->d to the destination register (the ModRM reg field). */
void sse_store(struct emu_exec *x, const struct simd *o);

static inline uint64_t sse_get(const uint8_t *p, unsigned w)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < w; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

static inline void sse_put(uint8_t *p, unsigned w, uint64_t v)
{
	for (unsigned k = 0; k < w; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* The decoder's handler for SIMD opcodes of the 0F, 0F 38 and 0F 3A maps. */
enum emu_status em_simd(struct emu_exec *x);

/* Float SSE: ops on 0F, 0F 38 and 0F 3A the integer files do not take. */
enum emu_status emu_sse_float(struct emu_exec *x, unsigned pfx);

#endif
