/* Integer SIMD (SSE2 to SSE4.2) on XMM registers with a 66 prefix, and the MMX-register
 * forms without one. Lanes are little-endian byte arrays, so results do not depend on the host. */
#include "gated.h"
#include "private.h"
#include "sse.h"

enum emu_status sse_load(struct emu_exec *x, struct simd *o, bool mmx, unsigned mem_bytes, bool align)
{
	struct x86_fpu *f = &x->st->fpu;
	o->mmx = mmx;
	o->n = mmx ? 8 : 16;
	memset(o->s, 0, 16);
	memset(o->d, 0, 16);
	EMU_TRY(mmx ? emu_mmx_check(x) : emu_sse_check(x));
	memcpy(o->d, mmx ? emu_mmx_reg(f, x->i->reg) : f->xmm[x->i->reg], o->n);
	if (x->i->mod == 3) {
		memcpy(o->s, mmx ? emu_mmx_reg(f, x->i->rm) : f->xmm[x->i->rm], o->n);
		return EMU_OK;
	}
	if (align && !mmx && !mem_bytes)
		EMU_TRY(emu_sse_align16(x));
	return emu_mem_read(x, x->i->ea_seg, x->i->ea, o->s, mem_bytes ? mem_bytes : o->n);
}

void sse_store(struct emu_exec *x, const struct simd *o)
{
	struct x86_fpu *f = &x->st->fpu;
	if (o->mmx) {
		emu_mmx_touch(f);
		emu_mmx_set(f, x->i->reg, sse_get(o->d, 8));
	} else {
		memcpy(f->xmm[x->i->reg], o->d, 16);
	}
}

/* Lane-wise operations: result lane k from destination lane k and source lane k. */
enum lane_op {
	L_NONE,
	L_ADD,
	L_ADDS,
	L_ADDUS,
	L_SUB,
	L_SUBS,
	L_SUBUS,
	L_CMPEQ,
	L_CMPGT,
	L_MINS,
	L_MINU,
	L_MAXS,
	L_MAXU,
	L_AVG,
	L_MULLO,
	L_MULHI,
	L_MULHU,
	L_AND,
	L_ANDN,
	L_OR,
	L_XOR,
	L_SIGN,
	L_MULHRS,
	L_MULUDQ,
	L_MULDQ,
};

struct lane_row {
	uint8_t op, w;
};

/* clang-format off */
static const struct lane_row lanes_0f[256] = {
    [0x64] = {L_CMPGT, 1}, [0x65] = {L_CMPGT, 2}, [0x66] = {L_CMPGT, 4},
    [0x74] = {L_CMPEQ, 1}, [0x75] = {L_CMPEQ, 2}, [0x76] = {L_CMPEQ, 4},
    [0xd4] = {L_ADD, 8},   [0xd5] = {L_MULLO, 2}, [0xd8] = {L_SUBUS, 1}, [0xd9] = {L_SUBUS, 2},
    [0xda] = {L_MINU, 1},  [0xdb] = {L_AND, 8},   [0xdc] = {L_ADDUS, 1}, [0xdd] = {L_ADDUS, 2},
    [0xde] = {L_MAXU, 1},  [0xdf] = {L_ANDN, 8},  [0xe0] = {L_AVG, 1},   [0xe3] = {L_AVG, 2},
    [0xe4] = {L_MULHU, 2}, [0xe5] = {L_MULHI, 2}, [0xe8] = {L_SUBS, 1},  [0xe9] = {L_SUBS, 2},
    [0xea] = {L_MINS, 2},  [0xeb] = {L_OR, 8},    [0xec] = {L_ADDS, 1},  [0xed] = {L_ADDS, 2},
    [0xee] = {L_MAXS, 2},  [0xf4] = {L_MULUDQ, 8}, [0xf8] = {L_SUB, 1},  [0xf9] = {L_SUB, 2},
    [0xfa] = {L_SUB, 4},   [0xfb] = {L_SUB, 8},   [0xfc] = {L_ADD, 1},   [0xfd] = {L_ADD, 2},
    [0xfe] = {L_ADD, 4},
};
/* 0F 38: 08-0B have MMX forms (SSSE3); from 28 on they are 66-only (SSE4.1/4.2). */
static const struct lane_row lanes_0f38[256] = {
    [0x08] = {L_SIGN, 1},  [0x09] = {L_SIGN, 2},  [0x0a] = {L_SIGN, 4},  [0x0b] = {L_MULHRS, 2},
    [0x28] = {L_MULDQ, 8}, [0x29] = {L_CMPEQ, 8}, [0x37] = {L_CMPGT, 8}, [0x38] = {L_MINS, 1},
    [0x39] = {L_MINS, 4},  [0x3a] = {L_MINU, 2},  [0x3b] = {L_MINU, 4},  [0x3c] = {L_MAXS, 1},
    [0x3d] = {L_MAXS, 4},  [0x3e] = {L_MAXU, 2},  [0x3f] = {L_MAXU, 4},  [0x40] = {L_MULLO, 4},
};
/* clang-format on */

static int64_t sat(int64_t v, unsigned w)
{
	int64_t hi = (int64_t)(emu_mask(w) >> 1), lo = -hi - 1;
	return v > hi ? hi : v < lo ? lo : v;
}

static uint64_t usat(int64_t v, unsigned w)
{
	return v < 0 ? 0 : (uint64_t)v > emu_mask(w) ? emu_mask(w) : (uint64_t)v;
}

static uint64_t lane(unsigned op, uint64_t a, uint64_t b, unsigned w)
{
	uint64_t m = emu_mask(w);
	int64_t sa = emu_sext(a, w), sb = emu_sext(b, w);
	switch (op) {
	case L_ADD:
		return (a + b) & m;
	case L_ADDS:
		return (uint64_t)sat(sa + sb, w) & m;
	case L_ADDUS:
		return usat((int64_t)(a + b), w);
	case L_SUB:
		return (a - b) & m;
	case L_SUBS:
		return (uint64_t)sat(sa - sb, w) & m;
	case L_SUBUS:
		return a > b ? a - b : 0;
	case L_CMPEQ:
		return a == b ? m : 0;
	case L_CMPGT:
		return sa > sb ? m : 0;
	case L_MINS:
		return sa < sb ? a : b;
	case L_MINU:
		return a < b ? a : b;
	case L_MAXS:
		return sa > sb ? a : b;
	case L_MAXU:
		return a > b ? a : b;
	case L_AVG:
		return (a + b + 1) >> 1;
	case L_MULLO:
		return (a * b) & m;
	case L_MULHI:
		return ((uint64_t)(sa * sb) >> (8 * w)) & m;
	case L_MULHU:
		return (a * b) >> (8 * w);
	case L_AND:
		return a & b;
	case L_ANDN:
		return ~a & b;
	case L_OR:
		return a | b;
	case L_XOR:
		return a ^ b;
	case L_SIGN:
		return sb < 0 ? (0 - a) & m : sb == 0 ? 0 : a;
	case L_MULHRS:
		return (uint64_t)((((sa * sb) >> 14) + 1) >> 1) & m;
	case L_MULUDQ:
		return (a & 0xffffffffu) * (b & 0xffffffffu);
	default: /* L_MULDQ */
		return (uint64_t)((int64_t)(int32_t)a * (int32_t)b);
	}
}

static void lanes(struct simd *o, unsigned op, unsigned w)
{
	for (unsigned k = 0; k < o->n; k += w)
		sse_put(o->d + k, w, lane(op, sse_get(o->d + k, w), sse_get(o->s + k, w), w));
}

/* Shifts by a count (imm8, or the source's low 64 bits). kind: 0 logical right, 1 arithmetic right,
 * 2 left. */
static void shift(struct simd *o, unsigned kind, unsigned w, uint64_t count)
{
	unsigned bits = 8 * w;
	for (unsigned k = 0; k < o->n; k += w) {
		uint64_t v = sse_get(o->d + k, w);
		if (kind == 1)
			v = (uint64_t)(emu_sext(v, w) >> (count >= bits ? bits - 1 : count));
		else if (count >= bits)
			v = 0;
		else
			v = kind == 0 ? v >> count : v << count;
		sse_put(o->d + k, w, v & emu_mask(w));
	}
}

/* PACKSS/PACKUS: w-byte lanes of dest then source, saturated to w/2 bytes. */
static void pack(struct simd *o, unsigned w, bool is_unsigned)
{
	uint8_t r[16];
	unsigned h = w / 2, n = o->n / w;
	for (unsigned k = 0; k < 2 * n; k++) {
		const uint8_t *src = k < n ? o->d + k * w : o->s + (k - n) * w;
		int64_t v = emu_sext(sse_get(src, w), w);
		sse_put(r + k * h, h, is_unsigned ? usat(v, h) : (uint64_t)sat(v, h));
	}
	memcpy(o->d, r, o->n);
}

/* PUNPCKL* / PUNPCKH*: interleaves the low (or high) halves of dest and source. */
static void unpack(struct simd *o, unsigned w, bool high)
{
	uint8_t r[16];
	unsigned base = high ? o->n / 2 : 0;
	for (unsigned k = 0; k < o->n / 2; k += w) {
		memcpy(r + 2 * k, o->d + base + k, w);
		memcpy(r + 2 * k + w, o->s + base + k, w);
	}
	memcpy(o->d, r, o->n);
}

/* PHADD/PHSUB: adjacent pairs of dest, then of the source. */
static void horizontal(struct simd *o, unsigned w, bool sub, bool saturate)
{
	uint8_t r[16];
	unsigned half = o->n / 2;
	for (unsigned k = 0; k < o->n; k += w) {
		const uint8_t *p = (k < half ? o->d + 2 * k : o->s + 2 * (k - half));
		int64_t a = emu_sext(sse_get(p, w), w), b = emu_sext(sse_get(p + w, w), w);
		int64_t v = sub ? a - b : a + b;
		sse_put(r + k, w, (uint64_t)(saturate ? sat(v, w) : v));
	}
	memcpy(o->d, r, o->n);
}

static void pshufb(struct simd *o)
{
	uint8_t r[16];
	for (unsigned k = 0; k < o->n; k++)
		r[k] = (o->s[k] & 0x80) ? 0 : o->d[o->s[k] & (o->n - 1)];
	memcpy(o->d, r, o->n);
}

/* PMADDWD: signed word products summed in pairs; PMADDUBSW: unsigned by signed bytes, pairs saturated. */
static void pmadd(struct simd *o, bool bytes)
{
	uint8_t r[16];
	unsigned w = bytes ? 1 : 2;
	for (unsigned k = 0; k < o->n; k += 2 * w) {
		int64_t v = 0;
		for (unsigned j = 0; j < 2 * w; j += w) {
			int64_t a = bytes ? (int64_t)o->d[k + j] : emu_sext(sse_get(o->d + k + j, 2), 2);
			v += a * emu_sext(sse_get(o->s + k + j, w), w);
		}
		sse_put(r + k, 2 * w, (uint64_t)(bytes ? sat(v, 2) : v));
	}
	memcpy(o->d, r, o->n);
}

static void psadbw(struct simd *o)
{
	for (unsigned k = 0; k < o->n; k += 8) {
		unsigned sum = 0;
		for (unsigned j = 0; j < 8; j++)
			sum +=
			    o->d[k + j] > o->s[k + j] ? o->d[k + j] - o->s[k + j] : o->s[k + j] - o->d[k + j];
		sse_put(o->d + k, 8, sum);
	}
}

static void pabs(struct simd *o, unsigned w)
{
	for (unsigned k = 0; k < o->n; k += w) {
		int64_t v = emu_sext(sse_get(o->s + k, w), w);
		sse_put(o->d + k, w, (uint64_t)(v < 0 ? -v : v));
	}
}

/* PALIGNR: the source then dest as one 2n-byte value, shifted right by imm bytes. */
static void palignr(struct simd *o, unsigned imm)
{
	uint8_t cat[32];
	memcpy(cat, o->s, o->n);
	memcpy(cat + o->n, o->d, o->n);
	for (unsigned k = 0; k < o->n; k++)
		o->d[k] = k + imm < 2 * o->n ? cat[k + imm] : 0;
}

/* PSHUFD, PSHUFLW, PSHUFHW, PSHUFW: lanes of the source picked by imm8 fields. */
static void pshuf(struct simd *o, unsigned w, unsigned first, unsigned imm)
{
	memcpy(o->d, o->s, o->n);
	for (unsigned k = 0; k < 4; k++)
		memcpy(o->d + first + k * w, o->s + first + ((imm >> (2 * k)) & 3) * w, w);
}

/* PMOVSX/PMOVZX: source lanes of sw bytes widened to dw bytes. */
static void pmovx(struct simd *o, unsigned sw, unsigned dw, bool sign)
{
	for (unsigned k = 0; k < 16 / dw; k++) {
		uint64_t v = sse_get(o->s + k * sw, sw);
		sse_put(o->d + k * dw, dw, sign ? (uint64_t)emu_sext(v, sw) : v);
	}
}

static void mpsadbw(struct simd *o, unsigned imm)
{
	uint8_t r[16];
	unsigned a = (imm & 4) ? 4 : 0, b = (imm & 3) * 4;
	for (unsigned k = 0; k < 8; k++) {
		unsigned sum = 0;
		for (unsigned j = 0; j < 4; j++) {
			unsigned p = o->d[a + k + j], q = o->s[b + j];
			sum += p > q ? p - q : q - p;
		}
		sse_put(r + 2 * k, 2, sum);
	}
	memcpy(o->d, r, 16);
}

static void phminposuw(struct simd *o)
{
	unsigned best = 0;
	for (unsigned k = 1; k < 8; k++)
		if (sse_get(o->s + 2 * k, 2) < sse_get(o->s + 2 * best, 2))
			best = k;
	uint64_t v = sse_get(o->s + 2 * best, 2);
	memset(o->d, 0, 16);
	sse_put(o->d, 2, v);
	sse_put(o->d + 2, 2, best);
}

static void set_flags(struct emu_exec *x, uint64_t set)
{
	x->st->rflags = (x->st->rflags & ~(uint64_t)(X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF |
	                                             X86_RFLAGS_ZF | X86_RFLAGS_SF | X86_RFLAGS_OF)) |
	                set;
}

/* PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM (SSE4.2): d is the first string (the set, ranges or
 * needle), s the second (the text). */
static unsigned str_len(struct emu_exec *x, const uint8_t *p, unsigned w, unsigned n, bool expl, unsigned reg)
{
	if (expl) {
		int64_t v = (x->i->rex & 8) ? (int64_t)x->st->gpr[reg] : (int32_t)x->st->gpr[reg];
		uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
		return a > n ? n : (unsigned)a;
	}
	for (unsigned k = 0; k < n; k++)
		if (!sse_get(p + k * w, w))
			return k;
	return n;
}

static void pcmpstr(struct emu_exec *x, struct simd *o, bool expl, bool index)
{
	unsigned imm = (unsigned)x->i->imm & 0xff, w = (imm & 1) ? 2 : 1, n = 16 / w, agg = (imm >> 2) & 3;
	bool sgn = imm & 2;
	unsigned l1 = str_len(x, o->d, w, n, expl, X86_RAX), l2 = str_len(x, o->s, w, n, expl, X86_RDX);
	uint32_t res = 0;
	for (unsigned j = 0; j < n; j++) {
		int64_t b = sgn ? emu_sext(sse_get(o->s + j * w, w), w) : (int64_t)sse_get(o->s + j * w, w);
		bool bit = false;
		if (agg == 0 || agg == 1) { /* equal any, ranges */
			for (unsigned i = 0; i < l1 && j < l2; i++) {
				int64_t a = sgn ? emu_sext(sse_get(o->d + i * w, w), w)
				                : (int64_t)sse_get(o->d + i * w, w);
				if (agg == 0)
					bit |= a == b;
				else if (i & 1)
					bit |= false;
				else if (i + 1 < l1) {
					int64_t hi = sgn ? emu_sext(sse_get(o->d + (i + 1) * w, w), w)
					                 : (int64_t)sse_get(o->d + (i + 1) * w, w);
					bit |= a <= b && b <= hi;
				}
			}
		} else if (agg == 2) { /* equal each */
			int64_t a =
			    sgn ? emu_sext(sse_get(o->d + j * w, w), w) : (int64_t)sse_get(o->d + j * w, w);
			bit = (j >= l1 && j >= l2) || (j < l1 && j < l2 && a == b);
		} else { /* equal ordered: the needle d matches the text from position j */
			bit = true;
			for (unsigned k = 0; k < n - j && k < l1 && bit; k++) {
				unsigned t = j + k;
				bit = t < l2 && sse_get(o->d + k * w, w) == sse_get(o->s + t * w, w);
			}
		}
		res |= (uint32_t)bit << j;
	}
	uint32_t all = (1u << n) - 1;
	switch ((imm >> 4) & 3) {
	case 1:
		res = ~res & all;
		break;
	case 3:
		res ^= (1u << l2) - 1;
		break;
	}
	set_flags(x, (res ? X86_RFLAGS_CF : 0) | (l2 < n ? X86_RFLAGS_ZF : 0) | (l1 < n ? X86_RFLAGS_SF : 0) |
	                 ((res & 1) ? X86_RFLAGS_OF : 0));
	if (index) {
		unsigned idx = n;
		for (unsigned k = 0; k < n; k++)
			if (res & (1u << k)) {
				idx = k;
				if (!(imm & 0x40))
					break;
			}
		emu_reg_set(x, X86_RCX, 4, idx);
		return;
	}
	memset(o->d, 0, 16);
	if (imm & 0x40) {
		for (unsigned k = 0; k < n; k++)
			sse_put(o->d + k * w, w, (res >> k) & 1 ? emu_mask(w) : 0);
	} else {
		sse_put(o->d, 2, res);
	}
	memcpy(x->st->fpu.xmm[0], o->d, 16);
}

/* Stores to memory or a register operand of ModRM rm: PEXTR*, MOVNT*, MASKMOV*. */
static enum emu_status store_rm(struct emu_exec *x, unsigned w, uint64_t v)
{
	if (x->i->mod == 3) {
		emu_reg_set(x, x->i->rm, w == 8 ? 8 : 4, v);
		return EMU_OK;
	}
	return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, w, v);
}

/* MASKMOVQ/MASKMOVDQU: bytes of reg whose mask byte (rm) has bit 7 set go to DS:rDI. */
static enum emu_status maskmov(struct emu_exec *x, bool mmx)
{
	struct simd o;
	unsigned seg = x->i->seg_ovr >= 0 ? (unsigned)x->i->seg_ovr : X86_DS;
	if (x->i->mod != 3)
		return EMU_RAISE_UD(x);
	EMU_TRY(sse_load(x, &o, mmx, 0, false));
	uint64_t di = emu_areg_get(x, X86_RDI);
	for (unsigned k = 0; k < o.n; k++)
		if (o.s[k] & 0x80)
			EMU_TRY(emu_mem_write(x, seg, (di + k) & emu_mask(x->i->adsize), o.d + k, 1));
	if (mmx)
		emu_mmx_touch(&x->st->fpu);
	return EMU_OK;
}

/* 0F map: the integer instructions. */
static enum emu_status int_0f(struct emu_exec *x, unsigned p)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, imm = (unsigned)x->i->imm & 0xff, grp = (x->i->modrm >> 3) & 7;
	bool mmx = p == PFX_NP;
	struct simd o;
	const struct lane_row *row = &lanes_0f[b];

	if (row->op) {
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		lanes(&o, row->op, row->w);
		sse_store(x, &o);
		return EMU_OK;
	}
	switch (b) {
	case 0x60 ... 0x62:
	case 0x68 ... 0x6a:
	case 0x6c:
	case 0x6d:
		if (p > PFX_66 || (b >= 0x6c && mmx))
			return EMU_RAISE_UD(x);
		/* MMX low unpacks read 4 bytes of memory */
		EMU_TRY(sse_load(x, &o, mmx, mmx && b < 0x68 ? 4 : 0, true));
		unpack(&o, b >= 0x6c ? 8 : 1u << (b & 3), b >= 0x68 && b != 0x6c);
		sse_store(x, &o);
		return EMU_OK;
	case 0x63:
	case 0x67:
	case 0x6b:
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		pack(&o, b == 0x6b ? 4 : 2, b == 0x67);
		sse_store(x, &o);
		return EMU_OK;
	case 0x70:
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		if (p == PFX_NP || p == PFX_66)
			pshuf(&o, mmx ? 2 : 4, 0, imm);
		else
			pshuf(&o, 2, p == PFX_F3 ? 8 : 0, imm);
		sse_store(x, &o);
		return EMU_OK;
	case 0x71 ... 0x73: {
		static const int8_t kinds[3][8] = {{-1, -1, 0, -1, 1, -1, 2, -1},
		                                   {-1, -1, 0, -1, 1, -1, 2, -1},
		                                   {-1, -1, 0, 3, -1, -1, 2, 4}};
		int kind = kinds[b - 0x71][grp];
		unsigned w = 2u << (b - 0x71);
		if (x->i->mod != 3 || p > PFX_66 || kind < 0 || (kind > 2 && mmx))
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, false));
		memcpy(o.d, o.s, 16); /* the register is rm */
		if (kind == 3 || kind == 4) {
			uint8_t r[16] = {0};
			for (unsigned k = 0; k < 16; k++) {
				unsigned from = kind == 3 ? k + imm : k - imm;
				if (kind == 3 ? from < 16 : k >= imm)
					r[k] = o.d[from];
			}
			memcpy(o.d, r, 16);
		} else {
			shift(&o, (unsigned)kind, w, imm);
		}
		if (mmx) {
			emu_mmx_touch(f);
			emu_mmx_set(f, x->i->rm, sse_get(o.d, 8));
		} else {
			memcpy(f->xmm[x->i->rm], o.d, 16);
		}
		return EMU_OK;
	}
	case 0xd1 ... 0xd3:
	case 0xe1:
	case 0xe2:
	case 0xf1 ... 0xf3:
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		shift(&o, b < 0xe0 ? 0 : b < 0xf0 ? 1 : 2, 1u << (b & 3), sse_get(o.s, 8));
		sse_store(x, &o);
		return EMU_OK;
	case 0xc3: /* MOVNTI */
		if (p != PFX_NP || x->i->mod == 3)
			return EMU_RAISE_UD(x);
		return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, x->i->opsize == 8 ? 8 : 4,
		                       emu_reg_get(x, x->i->reg, x->i->opsize == 8 ? 8 : 4));
	case 0xc4: { /* PINSRW */
		uint64_t v;
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		EMU_TRY(mmx ? emu_mmx_check(x) : emu_sse_check(x));
		EMU_TRY(emu_rm_read(x, 2, &v));
		o.mmx = mmx;
		o.n = mmx ? 8 : 16;
		memcpy(o.d, mmx ? emu_mmx_reg(f, x->i->reg) : f->xmm[x->i->reg], o.n);
		sse_put(o.d + 2 * (imm & (o.n / 2 - 1)), 2, v);
		sse_store(x, &o);
		return EMU_OK;
	}
	case 0xc5: /* PEXTRW r, mm/xmm */
		if (p > PFX_66 || x->i->mod != 3)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, false));
		emu_reg_set(x, x->i->reg, 4, sse_get(o.s + 2 * (imm & (o.n / 2 - 1)), 2));
		if (mmx)
			emu_mmx_touch(f);
		return EMU_OK;
	case 0xd6:
		if (p == PFX_F3 || p == PFX_F2) { /* MOVQ2DQ xmm, mm; MOVDQ2Q mm, xmm */
			uint64_t v;
			if (x->i->mod != 3)
				return EMU_RAISE_UD(x);
			EMU_TRY(emu_sse_check(x));
			EMU_TRY(emu_mmx_check(x));
			emu_mmx_touch(f);
			if (p == PFX_F3) {
				v = sse_get(emu_mmx_reg(f, x->i->rm), 8);
				memset(f->xmm[x->i->reg], 0, 16);
				sse_put(f->xmm[x->i->reg], 8, v);
			} else {
				emu_mmx_set(f, x->i->reg, sse_get(f->xmm[x->i->rm], 8));
			}
			return EMU_OK;
		}
		return em_sse_movq_store(x);
	case 0xd7: /* PMOVMSKB */
		if (p > PFX_66 || x->i->mod != 3)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, false));
		{
			uint32_t m = 0;
			for (unsigned k = 0; k < o.n; k++)
				m |= (uint32_t)(o.s[k] >> 7) << k;
			emu_reg_set(x, x->i->reg, 4, m);
		}
		if (mmx)
			emu_mmx_touch(f);
		return EMU_OK;
	case 0xe7: /* MOVNTQ, MOVNTDQ */
		if (p > PFX_66 || x->i->mod == 3)
			return EMU_RAISE_UD(x);
		EMU_TRY(mmx ? emu_mmx_check(x) : emu_sse_check(x));
		if (!mmx)
			EMU_TRY(emu_sse_align16(x));
		EMU_TRY(emu_mem_write(x, x->i->ea_seg, x->i->ea,
		                      mmx ? emu_mmx_reg(f, x->i->reg) : f->xmm[x->i->reg], mmx ? 8 : 16));
		if (mmx)
			emu_mmx_touch(f);
		return EMU_OK;
	case 0xf0: /* LDDQU */
		if (p != PFX_F2 || x->i->mod == 3)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, false, 0, false));
		memcpy(o.d, o.s, 16);
		sse_store(x, &o);
		return EMU_OK;
	case 0xf5:
	case 0xf6:
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		if (b == 0xf5)
			pmadd(&o, false);
		else
			psadbw(&o);
		sse_store(x, &o);
		return EMU_OK;
	case 0xf7:
		if (p > PFX_66)
			return EMU_RAISE_UD(x);
		return maskmov(x, mmx);
	}
	return emu_sse_float(x, p);
}

/* 0F 38 map. */
static enum emu_status int_0f38(struct emu_exec *x, unsigned p)
{
	unsigned b = x->i->b;
	bool mmx = p == PFX_NP;
	const struct lane_row *row = &lanes_0f38[b];
	struct simd o;

	if (p > PFX_66 || (mmx && b >= 0x10 && (b < 0x1c || b > 0x1e)))
		return EMU_RAISE_UD(x);
	if (row->op) {
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		lanes(&o, row->op, row->w);
		sse_store(x, &o);
		return EMU_OK;
	}
	switch (b) {
	case 0x00 ... 0x07:
	case 0x1c ... 0x1e:
		EMU_TRY(sse_load(x, &o, mmx, 0, true));
		if (b == 0x00)
			pshufb(&o);
		else if (b == 0x04)
			pmadd(&o, true);
		else if (b >= 0x1c)
			pabs(&o, 1u << (b - 0x1c));
		else
			horizontal(&o, (b & 3) == 2 ? 4 : 2, b & 4, (b & 3) == 3);
		sse_store(x, &o);
		return EMU_OK;
	case 0x10: /* PBLENDVB */
		EMU_TRY(sse_load(x, &o, false, 0, true));
		for (unsigned k = 0; k < 16; k++)
			if (x->st->fpu.xmm[0][k] & 0x80)
				o.d[k] = o.s[k];
		sse_store(x, &o);
		return EMU_OK;
	case 0x17: { /* PTEST */
		bool z = true, c = true;
		EMU_TRY(sse_load(x, &o, false, 0, true));
		for (unsigned k = 0; k < 16; k++) {
			z &= !(o.d[k] & o.s[k]);
			c &= !(~o.d[k] & o.s[k]);
		}
		set_flags(x, (z ? X86_RFLAGS_ZF : 0) | (c ? X86_RFLAGS_CF : 0));
		return EMU_OK;
	}
	case 0x20 ... 0x25:
	case 0x30 ... 0x35: {
		static const uint8_t sw[6] = {1, 1, 1, 2, 2, 4}, dw[6] = {2, 4, 8, 4, 8, 8};
		unsigned k = b & 7;
		EMU_TRY(sse_load(x, &o, false, 16 / dw[k] * sw[k], false));
		pmovx(&o, sw[k], dw[k], b < 0x30);
		sse_store(x, &o);
		return EMU_OK;
	}
	case 0x2a: /* MOVNTDQA */
		if (x->i->mod == 3)
			return EMU_RAISE_UD(x);
		EMU_TRY(sse_load(x, &o, false, 0, true));
		memcpy(o.d, o.s, 16);
		sse_store(x, &o);
		return EMU_OK;
	case 0x2b:
		EMU_TRY(sse_load(x, &o, false, 0, true));
		pack(&o, 4, true);
		sse_store(x, &o);
		return EMU_OK;
	case 0x41:
		EMU_TRY(sse_load(x, &o, false, 0, true));
		phminposuw(&o);
		sse_store(x, &o);
		return EMU_OK;
	}
	return emu_sse_float(x, p);
}

/* 0F 3A map. */
static enum emu_status int_0f3a(struct emu_exec *x, unsigned p)
{
	struct x86_fpu *f = &x->st->fpu;
	unsigned b = x->i->b, imm = (unsigned)x->i->imm & 0xff;
	struct simd o;
	uint64_t v;

	if (b == 0x0f && p <= PFX_66) { /* PALIGNR */
		EMU_TRY(sse_load(x, &o, p == PFX_NP, 0, true));
		palignr(&o, imm);
		sse_store(x, &o);
		return EMU_OK;
	}
	if (p != PFX_66)
		return emu_sse_float(x, p);
	switch (b) {
	case 0x0e: /* PBLENDW */
		EMU_TRY(sse_load(x, &o, false, 0, true));
		for (unsigned k = 0; k < 8; k++)
			if (imm & (1u << k))
				memcpy(o.d + 2 * k, o.s + 2 * k, 2);
		sse_store(x, &o);
		return EMU_OK;
	case 0x14 ... 0x16: { /* PEXTRB, PEXTRW, PEXTRD/Q */
		unsigned w = b == 0x14 ? 1 : b == 0x15 ? 2 : (x->i->rex & 8) ? 8 : 4;
		EMU_TRY(emu_sse_check(x));
		return store_rm(x, x->i->mod == 3 && w < 4 ? 4 : w,
		                sse_get(f->xmm[x->i->reg] + w * (imm & (16 / w - 1)), w));
	}
	case 0x20:
	case 0x22: { /* PINSRB, PINSRD/Q */
		unsigned w = b == 0x20 ? 1 : (x->i->rex & 8) ? 8 : 4;
		EMU_TRY(emu_sse_check(x));
		EMU_TRY(emu_rm_read(x, x->i->mod == 3 && w == 1 ? 4 : w, &v));
		sse_put(f->xmm[x->i->reg] + w * (imm & (16 / w - 1)), w, v);
		return EMU_OK;
	}
	case 0x42:
		EMU_TRY(sse_load(x, &o, false, 0, true));
		mpsadbw(&o, imm);
		sse_store(x, &o);
		return EMU_OK;
	case 0x60 ... 0x63:
		EMU_TRY(sse_load(x, &o, false, 0, false));
		pcmpstr(x, &o, b < 0x62, b & 1);
		return EMU_OK;
	}
	return emu_sse_float(x, p);
}

/* Every SIMD opcode of the 0F, 0F 38 and 0F 3A maps without a handler of its own. */
enum emu_status em_simd(struct emu_exec *x)
{
	unsigned p = sse_pfx(x->i);
	switch (x->i->map) {
	case 1:
		return int_0f(x, p);
	case 2:
		return int_0f38(x, p);
	default:
		return int_0f3a(x, p);
	}
}
