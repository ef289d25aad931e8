/* Float SSE to SSE4.1: packed and scalar single/double, MXCSR rounding, DAZ/FTZ, exception
 * flags and unmasked exceptions. x86 NaN rules, operand checks and the MXCSR flags live here;
 * rounded arithmetic comes from the soft-float core through sse_fp.h. */
#include "private.h"
#include "sse.h"
#include "sse_fp.h"

#define CR4_OSXMMEXCPT (1ull << 10)

/* Pre-computation exceptions (invalid, denormal, divide by zero) stop the instruction before any
 * post-computation one is looked for. */
#define PRE_FLAGS (MX_IE | MX_DE | MX_ZE)

/* Ends a float instruction: unmasked flags raise #XM (#UD without CR4.OSXMMEXCPT) and leave the
 * destination alone, but the flags are set in MXCSR all the same. */
static enum emu_status fp_fault(struct emu_exec *x, const struct fp_env *e)
{
	uint32_t *m = &x->st->fpu.mxcsr;
	unsigned unmasked = ~(*m >> 7) & 0x3f, pre = e->flags & PRE_FLAGS;
	if (pre & unmasked) {
		*m |= e->done | pre;
		return (x->st->cr4 & CR4_OSXMMEXCPT) ? emu_raise(x, EMU_XM, false, 0) : EMU_RAISE_UD(x);
	}
	if (e->flags & unmasked) {
		*m |= e->done | e->flags;
		return (x->st->cr4 & CR4_OSXMMEXCPT) ? emu_raise(x, EMU_XM, false, 0) : EMU_RAISE_UD(x);
	}
	return EMU_OK;
}

/* The end of one stage of a multi-step instruction (DPPS): a later stage's pre-computation
 * exceptions do not hide an earlier stage's flags. */
static enum emu_status fp_stage(struct emu_exec *x, struct fp_env *e)
{
	EMU_TRY(fp_fault(x, e));
	e->done |= e->flags;
	e->flags = 0;
	return EMU_OK;
}

/* Commits o->d unless an unmasked exception was found. */
static enum emu_status fp_commit(struct emu_exec *x, const struct simd *o, const struct fp_env *e)
{
	EMU_TRY(fp_fault(x, e));
	x->st->fpu.mxcsr |= e->done | e->flags;
	sse_store(x, o);
	return EMU_OK;
}

static void env_init(struct fp_env *e, const struct emu_exec *x)
{
	e->mxcsr = x->st->fpu.mxcsr;
	e->flags = 0;
	e->done = 0;
}

/* Per-lane operations through the lane width w (4 or 8). */
enum { F_ADD, F_SUB, F_MUL, F_DIV, F_SQRT, F_MIN, F_MAX, F_CMP, F_RCP, F_RSQRT };

static bool cmp_pred(struct fp_env *e, uint64_t a, uint64_t b, unsigned w, unsigned pred)
{
	bool unord = fp_is_nan(a, w) || fp_is_nan(b, w);
	bool signaling = pred == 1 || pred == 2 || pred == 5 || pred == 6;
	if (unord) {
		if (signaling || fp_is_snan(a, w) || fp_is_snan(b, w))
			e->flags |= MX_IE;
	} else {
		a = fp_input(e, a, w);
		b = fp_input(e, b, w);
	}
	int c = unord ? 2 : fp_compare(a, b, w); /* -1 less, 0 equal, 1 greater, 2 unordered */
	switch (pred & 7) {
	case 0:
		return c == 0;
	case 1:
		return c == -1;
	case 2:
		return c == -1 || c == 0;
	case 3:
		return c == 2;
	case 4:
		return c != 0;
	case 5:
		return c != -1;
	case 6:
		return c == 1 || c == 2;
	default:
		return c != 2;
	}
}

static uint64_t minmax(struct fp_env *e, uint64_t a, uint64_t b, unsigned w, bool max)
{
	if (fp_is_nan(a, w) || fp_is_nan(b, w)) {
		e->flags |= MX_IE;
		return fp_is_nan(b, w) ? b : fp_daz(e, b, w); /* the source, flushed under DAZ */
	}
	a = fp_input(e, a, w);
	b = fp_input(e, b, w);
	int c = fp_compare(a, b, w);
	if (max)
		return c == 1 ? a : b;
	return c == -1 ? a : b;
}

static uint64_t fp_lane(struct fp_env *e, unsigned op, uint64_t a, uint64_t b, unsigned w, unsigned imm)
{
	switch (op) {
	case F_MIN:
	case F_MAX:
		return minmax(e, a, b, w, op == F_MAX);
	case F_CMP:
		return cmp_pred(e, a, b, w, imm) ? fp_ones(w) : 0;
	case F_RCP:
		return fp_rcp(e, b, w);
	case F_RSQRT:
		return fp_rsqrt(e, b, w);
	case F_SQRT:
		return fp_sqrt(e, b, w);
	default:
		return fp_arith(e,
		                op == F_ADD   ? FP_ADD
		                : op == F_SUB ? FP_SUB
		                : op == F_MUL ? FP_MUL
		                              : FP_DIV,
		                a, b, w);
	}
}

/* An arithmetic instruction of ADDPS form: packed (NP/66) or scalar (F3/F2). */
static enum emu_status fp_binary(struct emu_exec *x, unsigned p, unsigned op, unsigned imm)
{
	struct simd o;
	struct fp_env e;
	unsigned w = (p == PFX_NP || p == PFX_F3) ? 4 : 8, n = (p <= PFX_66) ? 16 : w;
	uint8_t r[16];
	EMU_TRY(sse_load(x, &o, false, n == 16 ? 0 : w, true));
	env_init(&e, x);
	memcpy(r, o.d, 16);
	for (unsigned k = 0; k < n; k += w)
		sse_put(r + k, w, fp_lane(&e, op, sse_get(o.d + k, w), sse_get(o.s + k, w), w, imm));
	memcpy(o.d, r, 16);
	return fp_commit(x, &o, &e);
}

/* COMISS/UCOMISS/COMISD/UCOMISD: ZF PF CF from the comparison, OF SF AF cleared. */
static enum emu_status comis(struct emu_exec *x, unsigned p, bool signaling)
{
	struct simd o;
	struct fp_env e;
	unsigned w = p == PFX_66 ? 8 : 4;
	uint64_t fl;
	EMU_TRY(sse_load(x, &o, false, w, false));
	env_init(&e, x);
	uint64_t a = sse_get(o.d, w), b = sse_get(o.s, w);
	if (fp_is_nan(a, w) || fp_is_nan(b, w)) {
		if (signaling || fp_is_snan(a, w) || fp_is_snan(b, w))
			e.flags |= MX_IE;
		fl = X86_RFLAGS_ZF | X86_RFLAGS_PF | X86_RFLAGS_CF;
	} else {
		int c = fp_compare(fp_input(&e, a, w), fp_input(&e, b, w), w);
		fl = c == 0 ? X86_RFLAGS_ZF : c < 0 ? X86_RFLAGS_CF : 0;
	}
	EMU_TRY(fp_fault(x, &e));
	x->st->fpu.mxcsr |= e.flags;
	x->st->rflags = (x->st->rflags & ~(uint64_t)(X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF |
	                                             X86_RFLAGS_ZF | X86_RFLAGS_SF | X86_RFLAGS_OF)) |
	                fl;
	return EMU_OK;
}

/* HADD/HSUB (pairs of dest, then of the source) and ADDSUB (subtract in even lanes). */
static enum emu_status fp_horizontal(struct emu_exec *x, unsigned p, int kind)
{
	struct simd o;
	struct fp_env e;
	unsigned w = p == PFX_66 ? 8 : 4;
	uint8_t r[16];
	if (p != PFX_66 && p != PFX_F2)
		return EMU_RAISE_UD(x);
	EMU_TRY(sse_load(x, &o, false, 0, true));
	env_init(&e, x);
	for (unsigned k = 0; k < 16; k += w) {
		uint64_t a, b;
		unsigned op;
		if (kind == 2) {
			a = sse_get(o.d + k, w);
			b = sse_get(o.s + k, w);
			op = (k / w) & 1 ? FP_ADD : FP_SUB;
		} else {
			const uint8_t *q = k < 8 ? o.d + 2 * k : o.s + 2 * (k - 8);
			a = sse_get(q, w);
			b = sse_get(q + w, w);
			op = kind ? FP_SUB : FP_ADD;
		}
		sse_put(r + k, w, fp_arith(&e, op, a, b, w));
	}
	memcpy(o.d, r, 16);
	return fp_commit(x, &o, &e);
}

/* DPPS/DPPD: products of the lanes imm[7:4] picks, summed, into the lanes imm[3:0] picks. */
static enum emu_status fp_dot(struct emu_exec *x, unsigned w)
{
	struct simd o;
	struct fp_env e;
	unsigned imm = (unsigned)x->i->imm & 0xff, n = 16 / w;
	uint64_t prod[4], sum;
	EMU_TRY(sse_load(x, &o, false, 0, true));
	env_init(&e, x);
	for (unsigned k = 0; k < n; k++)
		prod[k] = (imm & (0x10u << k))
		              ? fp_arith(&e, FP_MUL, sse_get(o.d + k * w, w), sse_get(o.s + k * w, w), w)
		              : 0;
	EMU_TRY(fp_stage(x, &e));
	sum = fp_arith(&e, FP_ADD, prod[0], prod[1], w);
	if (n == 4) {
		uint64_t high = fp_arith(&e, FP_ADD, prod[2], prod[3], w);
		EMU_TRY(fp_stage(x, &e));
		sum = fp_arith(&e, FP_ADD, sum, high, w);
	}
	for (unsigned k = 0, off = 0; off + w <= sizeof(o.d); k++, off += w)
		sse_put(o.d + off, w, (imm & (1u << k)) ? sum : 0);
	return fp_commit(x, &o, &e);
}

/* ROUNDPS/PD/SS/SD: imm[1:0] the rounding, imm[2] MXCSR.RC instead, imm[3] no precision exception. */
static enum emu_status fp_round(struct emu_exec *x)
{
	struct simd o;
	struct fp_env e;
	unsigned b = x->i->b, w = (b & 1) ? 8 : 4, n = b <= 0x09 ? 16 : w, imm = (unsigned)x->i->imm & 0xff;
	unsigned rc = (imm & 4) ? (x->st->fpu.mxcsr >> 13) & 3 : imm & 3;
	EMU_TRY(sse_load(x, &o, false, n == 16 ? 0 : w, true));
	env_init(&e, x);
	for (unsigned k = 0; k < n; k += w) {
		unsigned before = e.flags;
		sse_put(o.d + k, w, fp_round_int(&e, sse_get(o.s + k, w), w, rc));
		if (imm & 8)
			e.flags = (e.flags & ~MX_PE) | (before & MX_PE);
	}
	return fp_commit(x, &o, &e);
}

/* Conversions between float formats and integers. */
static enum emu_status fp_convert(struct emu_exec *x, unsigned p)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, iw = (x->i->rex & 8) ? 8 : 4;
	struct simd o;
	struct fp_env e;
	uint8_t r[16];
	uint64_t v;

	switch (b) {
	case 0x2a:
		if (p == PFX_F3 || p == PFX_F2) { /* CVTSI2SS/SD */
			unsigned w = p == PFX_F3 ? 4 : 8;
			EMU_TRY(emu_sse_check(x));
			EMU_TRY(emu_rm_read(x, iw, &v));
			env_init(&e, x);
			memcpy(r, f->xmm[x->i->reg], 16);
			sse_put(r, w, fp_from_int(&e, emu_sext(v, iw), w));
			EMU_TRY(fp_fault(x, &e));
			f->mxcsr |= e.flags;
			memcpy(f->xmm[x->i->reg], r, 16);
			return EMU_OK;
		}
		/* CVTPI2PS/PD xmm, mm/m64: the MMX register form is an MMX instruction */
		EMU_TRY(emu_sse_check(x));
		if (x->i->mod == 3) {
			EMU_TRY(emu_mmx_check(x));
			v = sse_get(emu_mmx_reg(f, x->i->rm), 8);
		} else {
			EMU_TRY(emu_mem_read_u(x, x->i->ea_seg, x->i->ea, 8, &v));
		}
		env_init(&e, x);
		memcpy(r, f->xmm[x->i->reg], 16);
		for (unsigned k = 0; k < 2; k++) {
			unsigned w = p == PFX_NP ? 4 : 8;
			sse_put(r + k * w, w, fp_from_int(&e, (int32_t)(uint32_t)(v >> (32 * k)), w));
		}
		EMU_TRY(fp_fault(x, &e));
		f->mxcsr |= e.flags;
		if (x->i->mod == 3)
			emu_mmx_touch(f);
		memcpy(f->xmm[x->i->reg], r, 16);
		return EMU_OK;
	case 0x2c:
	case 0x2d: {
		bool trunc = b == 0x2c;
		if (p == PFX_F3 || p == PFX_F2) { /* CVT(T)SS2SI, CVT(T)SD2SI */
			unsigned w = p == PFX_F3 ? 4 : 8;
			EMU_TRY(sse_load(x, &o, false, w, false));
			env_init(&e, x);
			v = fp_to_int(&e, sse_get(o.s, w), w, iw, trunc);
			EMU_TRY(fp_fault(x, &e));
			f->mxcsr |= e.flags;
			emu_reg_set(x, x->i->reg, iw, v);
			return EMU_OK;
		}
		/* CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128 */
		unsigned w = p == PFX_NP ? 4 : 8;
		EMU_TRY(sse_load(x, &o, false, p == PFX_NP ? 8 : 0, true));
		EMU_TRY(emu_mmx_check(x));
		env_init(&e, x);
		v = 0;
		for (unsigned k = 0; k < 2; k++)
			v |= fp_to_int(&e, sse_get(o.s + k * w, w), w, 4, trunc) << (32 * k);
		EMU_TRY(fp_fault(x, &e));
		f->mxcsr |= e.flags;
		emu_mmx_touch(f);
		emu_mmx_set(f, x->i->reg, v);
		return EMU_OK;
	}
	case 0x5a: { /* CVTPS2PD, CVTPD2PS, CVTSS2SD, CVTSD2SS */
		unsigned from = (p == PFX_NP || p == PFX_F3) ? 4 : 8, to = 12 - from;
		unsigned n = p == PFX_NP ? 2 : p == PFX_66 ? 2 : 1;
		EMU_TRY(sse_load(x, &o, false, p == PFX_NP ? 8 : p == PFX_66 ? 0 : from, true));
		env_init(&e, x);
		memcpy(r, o.d, 16);
		if (p == PFX_66)
			memset(r + 8, 0, 8);
		for (unsigned k = 0; k < n; k++)
			sse_put(r + k * to, to,
			        fp_convert_float(&e, sse_get(o.s + k * from, from), from, to));
		memcpy(o.d, r, 16);
		return fp_commit(x, &o, &e);
	}
	case 0x5b: /* CVTDQ2PS, CVTPS2DQ, CVTTPS2DQ */
		if (p == PFX_F2)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, false, 0, true));
		env_init(&e, x);
		for (unsigned k = 0; k < 16; k += 4) {
			uint64_t a = sse_get(o.s + k, 4);
			sse_put(o.d + k, 4,
			        p == PFX_NP ? fp_from_int(&e, (int32_t)(uint32_t)a, 4)
			                    : fp_to_int(&e, a, 4, 4, p == PFX_F3));
		}
		return fp_commit(x, &o, &e);
	default: /* E6: CVTTPD2DQ (66), CVTDQ2PD (F3), CVTPD2DQ (F2) */
		if (p == PFX_NP)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, false, p == PFX_F3 ? 8 : 0, true));
		env_init(&e, x);
		memset(r, 0, 16);
		for (unsigned k = 0; k < 2; k++) {
			if (p == PFX_F3)
				sse_put(r + 8 * k, 8,
				        fp_from_int(&e, (int32_t)(uint32_t)sse_get(o.s + 4 * k, 4), 8));
			else
				sse_put(r + 4 * k, 4,
				        fp_to_int(&e, sse_get(o.s + 8 * k, 8), 8, 4, p == PFX_66));
		}
		memcpy(o.d, r, 16);
		return fp_commit(x, &o, &e);
	}
}

/* Moves, shuffles, logic and blends: bits only, no MXCSR. */
static enum emu_status fp_bits(struct emu_exec *x, unsigned p)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, imm = (unsigned)x->i->imm & 0xff;
	bool mem = x->i->mod != 3;
	struct simd o;
	uint8_t r[16];

	if (x->i->map == 1) {
		switch (b) {
		case 0x12:
		case 0x16:
			if (p == PFX_F2 && b == 0x16)
				return EMU_RAISE_UD(x);
			if (p == PFX_66 && !mem)
				return EMU_RAISE_UD(x);
			EMU_TRY(sse_load(x, &o, false, p <= PFX_66 || p == PFX_F2 ? 8 : 0, p == PFX_F3));
			if (p == PFX_F3) { /* MOVSLDUP, MOVSHDUP */
				unsigned odd = b == 0x16 ? 4 : 0;
				for (unsigned k = 0; k < 16; k += 8) {
					memcpy(o.d + k, o.s + k + odd, 4);
					memcpy(o.d + k + 4, o.s + k + odd, 4);
				}
			} else if (p == PFX_F2) { /* MOVDDUP */
				memcpy(o.d, o.s, 8);
				memcpy(o.d + 8, o.s, 8);
			} else if (b == 0x12) { /* MOVLPS/MOVLPD xmm, m64; MOVHLPS */
				if (!mem)
					memcpy(o.s, f->xmm[x->i->rm] + 8, 8);
				memcpy(o.d, o.s, 8);
			} else { /* MOVHPS/MOVHPD xmm, m64; MOVLHPS */
				memcpy(o.d + 8, o.s, 8);
			}
			sse_store(x, &o);
			return EMU_OK;
		case 0x13:
		case 0x17:
		case 0x2b:
			if (p > PFX_66 || !mem)
				return EMU_RAISE_UD(x);
			EMU_TRY(emu_sse_check(x));
			if (b == 0x2b) {
				EMU_TRY(emu_sse_align16(x));
				return emu_mem_write(x, x->i->ea_seg, x->i->ea, f->xmm[x->i->reg], 16);
			}
			return emu_mem_write(x, x->i->ea_seg, x->i->ea,
			                     f->xmm[x->i->reg] + (b == 0x17 ? 8 : 0), 8);
		case 0x14:
		case 0x15: { /* UNPCKLPS/PD, UNPCKHPS/PD */
			unsigned w = p == PFX_NP ? 4 : 8, base = b == 0x15 ? 8 : 0;
			if (p > PFX_66)
				return EMU_RAISE_UD(x);
			EMU_TRY(sse_load(x, &o, false, 0, true));
			for (unsigned k = 0; k < 8; k += w) {
				memcpy(r + 2 * k, o.d + base + k, w);
				memcpy(r + 2 * k + w, o.s + base + k, w);
			}
			memcpy(o.d, r, 16);
			sse_store(x, &o);
			return EMU_OK;
		}
		case 0x50: { /* MOVMSKPS/PD */
			unsigned w = p == PFX_NP ? 4 : 8, m = 0;
			if (p > PFX_66 || mem)
				return EMU_RAISE_UD(x);
			EMU_TRY(emu_sse_check(x));
			for (unsigned k = 0; k < 16 / w; k++)
				m |= (unsigned)(f->xmm[x->i->rm][k * w + w - 1] >> 7) << k;
			emu_reg_set(x, x->i->reg, 4, m);
			return EMU_OK;
		}
		case 0x54 ... 0x56:
			if (p > PFX_66)
				return EMU_RAISE_UD(x);
			EMU_TRY(sse_load(x, &o, false, 0, true));
			for (unsigned k = 0; k < 16; k++)
				o.d[k] = b == 0x54   ? o.d[k] & o.s[k]
				         : b == 0x55 ? (uint8_t)(~o.d[k] & o.s[k])
				                     : o.d[k] | o.s[k];
			sse_store(x, &o);
			return EMU_OK;
		default: /* C6: SHUFPS, SHUFPD */
			if (p > PFX_66)
				return EMU_RAISE_UD(x);
			EMU_TRY(sse_load(x, &o, false, 0, true));
			if (p == PFX_NP) {
				for (unsigned k = 0; k < 4; k++)
					memcpy(r + 4 * k, (k < 2 ? o.d : o.s) + 4 * ((imm >> (2 * k)) & 3),
					       4);
			} else {
				memcpy(r, o.d + 8 * (imm & 1), 8);
				memcpy(r + 8, o.s + 8 * ((imm >> 1) & 1), 8);
			}
			memcpy(o.d, r, 16);
			sse_store(x, &o);
			return EMU_OK;
		}
	}
	if (x->i->map == 2) { /* 66 0F 38 14/15: BLENDVPS, BLENDVPD */
		unsigned w = b == 0x14 ? 4 : 8;
		EMU_TRY(sse_load(x, &o, false, 0, true));
		for (unsigned k = 0; k < 16; k += w)
			if (f->xmm[0][k + w - 1] & 0x80)
				memcpy(o.d + k, o.s + k, w);
		sse_store(x, &o);
		return EMU_OK;
	}
	switch (b) {
	case 0x0c:
	case 0x0d: { /* BLENDPS, BLENDPD */
		unsigned w = b == 0x0c ? 4 : 8;
		EMU_TRY(sse_load(x, &o, false, 0, true));
		for (unsigned k = 0; k < 16 / w; k++)
			if (imm & (1u << k))
				memcpy(o.d + k * w, o.s + k * w, w);
		sse_store(x, &o);
		return EMU_OK;
	}
	case 0x17: /* EXTRACTPS r/m32, xmm */
		EMU_TRY(emu_sse_check(x));
		if (mem)
			return emu_mem_write(x, x->i->ea_seg, x->i->ea, f->xmm[x->i->reg] + 4 * (imm & 3), 4);
		emu_reg_set(x, x->i->rm, 4, sse_get(f->xmm[x->i->reg] + 4 * (imm & 3), 4));
		return EMU_OK;
	default: /* 21: INSERTPS */
		EMU_TRY(sse_load(x, &o, false, 4, false));
		memcpy(o.d + 4 * ((imm >> 4) & 3), o.s + (mem ? 0 : 4 * (imm >> 6)), 4);
		for (unsigned k = 0; k < 4; k++)
			if (imm & (1u << k))
				memset(o.d + 4 * k, 0, 4);
		sse_store(x, &o);
		return EMU_OK;
	}
}

enum emu_status emu_sse_float(struct emu_exec *x, unsigned p)
{
	unsigned b = x->i->b;
	if (x->i->map == 2) {
		if ((b == 0x14 || b == 0x15) && p == PFX_66)
			return fp_bits(x, p);
		return EMU_RAISE_UD(x);
	}
	if (x->i->map == 3) {
		switch (b) {
		case 0x08 ... 0x0b:
			return fp_round(x);
		case 0x0c:
		case 0x0d:
		case 0x17:
		case 0x21:
			return fp_bits(x, p);
		case 0x40:
		case 0x41:
			return fp_dot(x, b == 0x40 ? 4 : 8);
		}
		return EMU_RAISE_UD(x);
	}
	switch (b) {
	case 0x12 ... 0x17:
	case 0x2b:
	case 0x50:
	case 0x54 ... 0x56:
	case 0xc6:
		return fp_bits(x, p);
	case 0x2a:
	case 0x2c:
	case 0x2d:
	case 0x5a:
	case 0x5b:
	case 0xe6:
		return fp_convert(x, p);
	case 0x2e:
	case 0x2f:
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		return comis(x, p, b == 0x2f);
	case 0x51:
		return fp_binary(x, p, F_SQRT, 0);
	case 0x52:
	case 0x53:
		if (p != PFX_NP && p != PFX_F3)
			return EMU_RAISE_UD(x);
		return fp_binary(x, p, b == 0x52 ? F_RSQRT : F_RCP, 0);
	case 0x58:
	case 0x59:
	case 0x5c ... 0x5f: {
		static const uint8_t ops[8] = {F_ADD, F_MUL, 0, 0, F_SUB, F_MIN, F_DIV, F_MAX};
		return fp_binary(x, p, ops[b - 0x58], 0);
	}
	case 0xc2:
		return fp_binary(x, p, F_CMP, (unsigned)x->i->imm & 7);
	case 0x7c:
	case 0x7d:
		return fp_horizontal(x, p, b - 0x7c);
	case 0xd0:
		return fp_horizontal(x, p, 2);
	}
	return EMU_RAISE_UD(x);
}
