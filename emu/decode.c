/* The decoder: prefixes, opcode tables (decode flags and handler in one row),
 * ModRM/SIB/displacement/immediates, and the 15-byte limit. */
#include "gated.h"
#include "private.h"
#include "sse.h"

#define N(f)                                                                                                 \
	{                                                                                                    \
		(f), NULL, NULL                                                                              \
	} /* valid, not implemented yet: EMU_UNIMPLEMENTED */
#define X                                                                                                    \
	{                                                                                                    \
		D_UD, NULL, NULL                                                                             \
	} /* invalid: #UD */
#define I(f, h)                                                                                              \
	{                                                                                                    \
		(f), (h), NULL                                                                               \
	} /* flags and handler */
#define G(f, g)                                                                                              \
	{                                                                                                    \
		(f) | D_GROUP, NULL, (g)                                                                     \
	} /* the ModRM reg field picks a row of g */

#define M D_MODRM
#define B D_BYTE

/* ADD OR ADC SBB AND SUB XOR CMP: Eb,Gb  Ev,Gv  Gb,Eb  Gv,Ev  AL,Ib  eAX,Iz */
#define ALU6(lk)                                                                                             \
	I(M | B | (lk) | D_SAFE, em_alu), I(M | (lk) | D_SAFE, em_alu), I(M | B | D_SAFE, em_alu),           \
	    I(M | D_SAFE, em_alu), I(B | D_IB | D_SAFE, em_alu_acc), I(D_IZ | D_SAFE, em_alu_acc)

static const struct emu_opcode grp1[8] = {
    I(D_LOCK, em_grp1), I(D_LOCK, em_grp1), I(D_LOCK, em_grp1), I(D_LOCK, em_grp1),
    I(D_LOCK, em_grp1), I(D_LOCK, em_grp1), I(D_LOCK, em_grp1), I(0, em_grp1),
};

static const struct emu_opcode grp1a[8] = {
    I(D_STACK, em_pop_rm), X, X, X, X, X, X, X,
};

static const struct emu_opcode grp2[8] = {
    I(0, em_grp2), I(0, em_grp2), I(0, em_grp2), I(0, em_grp2),
    I(0, em_grp2), I(0, em_grp2), I(0, em_grp2), I(0, em_grp2),
};

static const struct emu_opcode grp3b[8] = {
    I(D_IB, em_grp3), I(D_IB, em_grp3), I(D_LOCK, em_grp3), I(D_LOCK, em_grp3),
    I(0, em_grp3),    I(0, em_grp3),    I(0, em_grp3),      I(0, em_grp3),
};

static const struct emu_opcode grp3v[8] = {
    I(D_IZ, em_grp3), I(D_IZ, em_grp3), I(D_LOCK, em_grp3), I(D_LOCK, em_grp3),
    I(0, em_grp3),    I(0, em_grp3),    I(0, em_grp3),      I(0, em_grp3),
};

static const struct emu_opcode grp4[8] = {
    I(D_LOCK, em_grp4), I(D_LOCK, em_grp4), X, X, X, X, X, X,
};

static const struct emu_opcode grp5[8] = {
    I(D_LOCK, em_grp5),    I(D_LOCK, em_grp5), I(D_FORCE64, em_grp5), I(D_MEM, em_grp5),
    I(D_FORCE64, em_grp5), I(D_MEM, em_grp5),  I(D_STACK, em_grp5),   X,
};

/* C6/C7 /0: MOV; C6 F8 (XABORT) and C7 F8 (XBEGIN) are RTM, absent here. */
static const struct emu_opcode grp11b[8] = {
    I(D_IB | D_SAFE, em_mov_rm_imm), X, X, X, X, X, X, X,
};
static const struct emu_opcode grp11v[8] = {
    I(D_IZ | D_SAFE, em_mov_rm_imm), X, X, X, X, X, X, X,
};

/* 8C/8E: only ES CS SS DS FS GS exist; MOV to CS is #UD. */
static const struct emu_opcode grp_sreg_from[8] = {
    I(0, em_mov_from_sreg),
    I(0, em_mov_from_sreg),
    I(0, em_mov_from_sreg),
    I(0, em_mov_from_sreg),
    I(0, em_mov_from_sreg),
    I(0, em_mov_from_sreg),
    X,
    X,
};
static const struct emu_opcode grp_sreg_to[8] = {
    I(0, em_mov_to_sreg),
    X,
    I(0, em_mov_to_sreg),
    I(0, em_mov_to_sreg),
    I(0, em_mov_to_sreg),
    I(0, em_mov_to_sreg),
    X,
    X,
};

static const struct emu_opcode grp6[8] = {
    I(0, em_grp6), I(0, em_grp6), I(0, em_grp6), I(0, em_grp6), I(0, em_grp6), I(0, em_grp6), X, X,
};

static const struct emu_opcode grp8[8] = {
    X, X, X, X, I(0, em_grp8), I(D_LOCK, em_grp8), I(D_LOCK, em_grp8), I(D_LOCK, em_grp8),
};

static const struct emu_opcode grp9[8] = {
    X, I(D_LOCK | D_MEM, em_grp9), X, N(D_MEM), N(D_MEM), N(D_MEM), I(0, em_grp9), I(0, em_grp9),
};

const struct emu_opcode emu_onebyte[256] = {
    /* 0x00 - 0x07 */
    ALU6(D_LOCK),
    I(D_NO64 | D_STACK, em_push_sreg),
    I(D_NO64 | D_STACK, em_pop_sreg),
    /* 0x08 - 0x0f */
    ALU6(D_LOCK),
    I(D_NO64 | D_STACK, em_push_sreg),
    X,
    /* 0x10 - 0x17 */
    ALU6(D_LOCK),
    I(D_NO64 | D_STACK, em_push_sreg),
    I(D_NO64 | D_STACK, em_pop_sreg),
    /* 0x18 - 0x1f */
    ALU6(D_LOCK),
    I(D_NO64 | D_STACK, em_push_sreg),
    I(D_NO64 | D_STACK, em_pop_sreg),
    /* 0x20 - 0x27 */
    ALU6(D_LOCK),
    X,
    I(D_NO64, em_bcd),
    /* 0x28 - 0x2f */
    ALU6(D_LOCK),
    X,
    I(D_NO64, em_bcd),
    /* 0x30 - 0x37 */
    ALU6(D_LOCK),
    X,
    I(D_NO64, em_bcd),
    /* 0x38 - 0x3f */
    ALU6(0),
    X,
    I(D_NO64, em_bcd),
    /* 0x40 - 0x47: REX in 64-bit mode (the prefix loop takes them) */
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    /* 0x48 - 0x4f */
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    I(0 | D_SAFE, em_incdec_r),
    /* 0x50 - 0x57 */
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    I(D_STACK | D_SAFE, em_push_r),
    /* 0x58 - 0x5f */
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    I(D_STACK | D_SAFE, em_pop_r),
    /* 0x60 - 0x67: 0x62 is EVEX and 0x63 MOVSXD in 64-bit mode */
    I(D_NO64, em_pusha),
    I(D_NO64, em_popa),
    I(M | D_NO64 | D_MEM, em_bound),
    I(M, em_movsxd),
    X,
    X,
    X,
    X,
    /* 0x68 - 0x6f */
    I(D_STACK | D_IZ | D_SAFE, em_push_imm),
    I(M | D_IZ | D_SAFE, em_imul3),
    I(D_STACK | D_IB | D_SAFE, em_push_imm),
    I(M | D_IB | D_SAFE, em_imul3),
    I(B, em_ins),
    I(0, em_ins),
    I(B, em_outs),
    I(0, em_outs),
    /* 0x70 - 0x77 */
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    /* 0x78 - 0x7f */
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IB | D_FORCE64 | D_SAFE, em_jcc),
    /* 0x80 - 0x87 */
    G(M | B | D_IB | D_SAFE, grp1),
    G(M | D_IZ | D_SAFE, grp1),
    G(M | B | D_IB | D_NO64 | D_SAFE, grp1),
    G(M | D_IB | D_SAFE, grp1),
    I(M | B | D_SAFE, em_test),
    I(M | D_SAFE, em_test),
    I(M | B | D_LOCK | D_SAFE, em_xchg),
    I(M | D_LOCK | D_SAFE, em_xchg),
    /* 0x88 - 0x8f */
    I(M | B | D_SAFE, em_mov),
    I(M | D_SAFE, em_mov),
    I(M | B | D_SAFE, em_mov),
    I(M | D_SAFE, em_mov),
    G(M, grp_sreg_from),
    I(M | D_MEM | D_SAFE, em_lea),
    G(M, grp_sreg_to),
    G(M, grp1a),
    /* 0x90 - 0x97 */
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    I(0 | D_SAFE, em_xchg_acc),
    /* 0x98 - 0x9f */
    I(0 | D_SAFE, em_cbw),
    I(0 | D_SAFE, em_cwd),
    I(D_FAR | D_NO64, em_call_far),
    I(0, em_fwait),
    I(D_STACK, em_pushf),
    I(D_STACK, em_popf),
    I(0 | D_SAFE, em_sahf),
    I(0 | D_SAFE, em_lahf),
    /* 0xa0 - 0xa7 */
    I(B | D_MOFFS | D_SAFE, em_mov_moffs),
    I(D_MOFFS | D_SAFE, em_mov_moffs),
    I(B | D_MOFFS | D_SAFE, em_mov_moffs),
    I(D_MOFFS | D_SAFE, em_mov_moffs),
    I(B, em_movs),
    I(0, em_movs),
    I(B, em_cmps),
    I(0, em_cmps),
    /* 0xa8 - 0xaf */
    I(B | D_IB | D_SAFE, em_test_acc),
    I(D_IZ | D_SAFE, em_test_acc),
    I(B, em_stos),
    I(0, em_stos),
    I(B, em_lods),
    I(0, em_lods),
    I(B, em_scas),
    I(0, em_scas),
    /* 0xb0 - 0xb7 */
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    I(B | D_IB | D_SAFE, em_mov_imm_r),
    /* 0xb8 - 0xbf */
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    I(D_IV | D_SAFE, em_mov_imm_r),
    /* 0xc0 - 0xc7: 0xc4/0xc5 are VEX in 64-bit mode (and with mod == 3) */
    G(M | B | D_IB | D_SAFE, grp2),
    G(M | D_IB | D_SAFE, grp2),
    I(D_IW | D_STACK, em_ret),
    I(D_STACK, em_ret),
    I(M | D_NO64 | D_MEM, em_lxs),
    I(M | D_NO64 | D_MEM, em_lxs),
    G(M | B, grp11b),
    G(M, grp11v),
    /* 0xc8 - 0xcf */
    I(D_IW | D_IB2 | D_STACK, em_enter),
    I(D_STACK, em_leave),
    I(D_IW, em_retf),
    I(0, em_retf),
    I(0, em_int3),
    I(D_IB, em_int),
    I(D_NO64, em_into),
    I(0, em_iret),
    /* 0xd0 - 0xd7 */
    G(M | B | D_SAFE, grp2),
    G(M | D_SAFE, grp2),
    G(M | B | D_SAFE, grp2),
    G(M | D_SAFE, grp2),
    I(D_IB | D_NO64, em_aam),
    I(D_IB | D_NO64, em_aad),
    I(D_NO64, em_salc),
    I(0, em_xlat),
    /* 0xd8 - 0xdf: x87 */
    I(M, em_fpu),
    I(M, em_fpu),
    I(M, em_fpu),
    I(M, em_fpu),
    I(M, em_fpu),
    I(M, em_fpu),
    I(M, em_fpu),
    I(M, em_fpu),
    /* 0xe0 - 0xe7 */
    I(D_IB | D_FORCE64, em_loop),
    I(D_IB | D_FORCE64, em_loop),
    I(D_IB | D_FORCE64, em_loop),
    I(D_IB | D_FORCE64, em_jcxz),
    I(B | D_IB, em_in),
    I(D_IB, em_in),
    I(B | D_IB, em_out),
    I(D_IB, em_out),
    /* 0xe8 - 0xef */
    I(D_IZ | D_FORCE64, em_call_rel),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jmp_rel),
    I(D_FAR | D_NO64, em_jmp_far),
    I(D_IB | D_FORCE64 | D_SAFE, em_jmp_rel),
    I(B, em_in),
    I(0, em_in),
    I(B, em_out),
    I(0, em_out),
    /* 0xf0 - 0xf7: f0 f2 f3 are prefixes */
    X,
    I(0, em_int1),
    X,
    X,
    I(0, em_hlt),
    I(0 | D_SAFE, em_flags),
    G(M | B | D_SAFE, grp3b),
    G(M | D_SAFE, grp3v),
    /* 0xf8 - 0xff */
    I(0 | D_SAFE, em_flags),
    I(0 | D_SAFE, em_flags),
    I(0 | D_SAFE, em_flags),
    I(0 | D_SAFE, em_flags),
    I(0 | D_SAFE, em_flags),
    I(0 | D_SAFE, em_flags),
    G(M | B | D_SAFE, grp4),
    G(M, grp5),
};

#define SSE  I(M, em_sse_mov)
#define SSEN I(M, em_simd)
#define SSEI I(M | D_IB, em_simd)

const struct emu_opcode emu_twobyte[256] = {
    /* 0x00 - 0x07 */
    G(M, grp6),
    I(M, em_grp7),
    I(M, em_lar_lsl),
    I(M, em_lar_lsl),
    X,
    I(0, em_syscall),
    I(0, em_clts),
    I(0, em_sysret),
    /* 0x08 - 0x0f: 0f 0f is 3DNow! (ModRM and an opcode byte) */
    I(0, em_wbinvd),
    I(0, em_wbinvd),
    X,
    I(0, em_ud),
    X,
    I(M | D_SAFE, em_hint_nop),
    X,
    X,
    /* 0x10 - 0x17 */
    SSE,
    SSE,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0x18 - 0x1f: hint NOPs */
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    I(M | D_SAFE, em_hint_nop),
    /* 0x20 - 0x27 */
    I(M | D_REG | D_FORCE64, em_mov_cr),
    I(M | D_REG | D_FORCE64, em_mov_dr),
    I(M | D_REG | D_FORCE64, em_mov_cr),
    I(M | D_REG | D_FORCE64, em_mov_dr),
    X,
    X,
    X,
    X,
    /* 0x28 - 0x2f */
    SSE,
    SSE,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0x30 - 0x37 */
    I(0, em_wrmsr),
    I(0, em_rdtsc),
    I(0, em_rdmsr),
    N(0),
    I(0, em_sysenter),
    I(0, em_sysexit),
    X,
    N(0),
    /* 0x38 - 0x3f: 0f 38 and 0f 3a are escapes (decoded before the table) */
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    X,
    /* 0x40 - 0x47 */
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    /* 0x48 - 0x4f */
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    I(M | D_SAFE, em_cmovcc),
    /* 0x50 - 0x57 */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    I(M, em_sse_xor),
    /* 0x58 - 0x5f */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0x60 - 0x67 */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0x68 - 0x6f */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    I(M, em_sse_movd),
    SSE,
    /* 0x70 - 0x77 */
    SSEI,
    SSEI,
    SSEI,
    SSEI,
    SSEN,
    SSEN,
    SSEN,
    I(0, em_emms),
    /* 0x78 - 0x7f */
    N(M),
    N(M),
    X,
    X,
    SSEN,
    SSEN,
    I(M, em_sse_movd),
    SSE,
    /* 0x80 - 0x87 */
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    /* 0x88 - 0x8f */
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    I(D_IZ | D_FORCE64 | D_SAFE, em_jcc),
    /* 0x90 - 0x97 */
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    /* 0x98 - 0x9f */
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    I(M | B | D_SAFE, em_setcc),
    /* 0xa0 - 0xa7 */
    I(D_STACK, em_push_sreg),
    I(D_STACK, em_pop_sreg),
    I(0, em_cpuid),
    I(M | D_SAFE, em_bt),
    I(M | D_IB | D_SAFE, em_shxd),
    I(M | D_SAFE, em_shxd),
    X,
    X,
    /* 0xa8 - 0xaf */
    I(D_STACK, em_push_sreg),
    I(D_STACK, em_pop_sreg),
    N(0),
    I(M | D_LOCK | D_SAFE, em_bt),
    I(M | D_IB | D_SAFE, em_shxd),
    I(M | D_SAFE, em_shxd),
    I(M, em_grp15),
    I(M | D_SAFE, em_imul2),
    /* 0xb0 - 0xb7 */
    I(M | B | D_LOCK, em_cmpxchg),
    I(M | D_LOCK, em_cmpxchg),
    I(M | D_MEM, em_lxs),
    I(M | D_LOCK | D_SAFE, em_bt),
    I(M | D_MEM, em_lxs),
    I(M | D_MEM, em_lxs),
    I(M | D_SAFE, em_movzx),
    I(M | D_SAFE, em_movzx),
    /* 0xb8 - 0xbf */
    I(M | D_SAFE, em_popcnt),
    I(M, em_ud),
    G(M | D_IB, grp8),
    I(M | D_LOCK | D_SAFE, em_bt),
    I(M | D_SAFE, em_bsf_bsr),
    I(M | D_SAFE, em_bsf_bsr),
    I(M | D_SAFE, em_movsx),
    I(M | D_SAFE, em_movsx),
    /* 0xc0 - 0xc7 */
    I(M | B | D_LOCK, em_xadd),
    I(M | D_LOCK, em_xadd),
    SSEI,
    I(M | D_MEM, em_simd),
    SSEI,
    SSEI,
    SSEI,
    G(M, grp9),
    /* 0xc8 - 0xcf */
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    I(0 | D_SAFE, em_bswap),
    /* 0xd0 - 0xd7 */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0xd8 - 0xdf */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0xe0 - 0xe7 */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0xe8 - 0xef */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    I(M, em_sse_xor),
    /* 0xf0 - 0xf7 */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    /* 0xf8 - 0xff */
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    SSEN,
    I(M, em_ud),
};

/* Three-byte maps: SIMD (0f 38 xx /r, 0f 3a xx /r ib), MOVBE, CRC32 and INVPCID. */
static const struct emu_opcode op_0f38 = I(M, em_simd);
static const struct emu_opcode op_0f38_movbe = I(M | D_MEM, em_movbe);
static const struct emu_opcode op_0f38_crc32 = I(M, em_crc32);
static const struct emu_opcode op_0f38_invpcid = I(M | D_MEM, em_invpcid);
static const struct emu_opcode op_0f3a = I(M | D_IB, em_simd);

/* 16-bit addressing: base and index registers by rm (0xff: none). */
static const uint8_t rm16_base[8] = {X86_RBX, X86_RBX, X86_RBP, X86_RBP, 0xff, 0xff, X86_RBP, X86_RBX};
static const uint8_t rm16_index[8] = {X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, 0xff, 0xff};

static inline uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

/* Bytes needed beyond those available: past 15 the CPU raises #GP. */
#define NEED(k)                                                                                              \
	do {                                                                                                 \
		if (n + (k) > avail)                                                                         \
			return n + (k) > 15 ? DEC_GP : DEC_MORE;                                             \
	} while (0)

enum emu_decode_result emu_decode(struct emu_insn *i, const uint8_t *buf, unsigned avail, enum x86_mode mode)
{
	bool is64 = mode == X86_MODE_LONG64;
	unsigned def = (mode == X86_MODE_PROT32 || mode == X86_MODE_COMPAT || is64) ? 4 : 2;
	unsigned n = 0, a67 = 0;
	const struct emu_opcode *op;
	uint32_t flags;
	uint8_t b;

	if (avail > 15)
		avail = 15;
	i->pfx66 = 0;
	i->rep = 0;
	i->lock = 0;
	i->seg_ovr = -1;
	i->rex = 0;
	i->mode = (uint8_t)mode;
	for (;;) {
		NEED(1);
		b = buf[n];
		switch (b) {
		case 0x26:
			i->seg_ovr = X86_ES;
			break;
		case 0x2e:
			i->seg_ovr = X86_CS;
			break;
		case 0x36:
			i->seg_ovr = X86_SS;
			break;
		case 0x3e:
			i->seg_ovr = X86_DS;
			break;
		case 0x64:
			i->seg_ovr = X86_FS;
			break;
		case 0x65:
			i->seg_ovr = X86_GS;
			break;
		case 0x66:
			i->pfx66 = 1;
			break;
		case 0x67:
			a67 = 1;
			break;
		case 0xf0:
			i->lock = 1;
			break;
		case 0xf2:
		case 0xf3:
			i->rep = b;
			break;
		default:
			if (is64 && (b & 0xf0) == 0x40) {
				i->rex = b;
				n++;
				continue;
			}
			goto opcode;
		}
		/* A legacy prefix after REX cancels the REX. */
		i->rex = 0;
		n++;
	}
opcode:
	i->n_pfx = (uint8_t)n;
	n++;
	if (b == 0x0f) {
		NEED(1);
		b = buf[n++];
		if (b == 0x38 || b == 0x3a) {
			i->map = b == 0x38 ? 2 : 3;
			NEED(1);
			b = buf[n++];
			op = i->map == 3             ? &op_0f3a
			     : b == 0x82 && i->pfx66 ? &op_0f38_invpcid
			     : (b & 0xfe) != 0xf0    ? &op_0f38
			     : i->rep == 0xf2        ? &op_0f38_crc32
			                             : &op_0f38_movbe;
		} else {
			i->map = 1;
			op = &emu_twobyte[b];
		}
	} else {
		i->map = 0;
		op = &emu_onebyte[b];
	}
	i->b = b;
	flags = op->flags;

	if (is64)
		i->adsize = a67 ? 4 : 8;
	else
		i->adsize = (uint8_t)(a67 ? def ^ 6 : def);

	i->mod = 3;
	i->rip_rel = false;
	i->base = 0xff;
	i->index = 0xff;
	i->scale = 0;
	i->disp = 0;
	if (flags & D_MODRM) {
		uint8_t m;
		NEED(1);
		m = buf[n++];
		i->modrm = m;
		i->mod = m >> 6;
		i->reg = (uint8_t)(((m >> 3) & 7) | ((i->rex & 4) << 1));
		i->rm = m & 7;
		if (op->group) {
			op = &op->group[(m >> 3) & 7];
			flags |= op->flags;
		}
		if (flags & D_REG)
			i->mod = 3;
		if (i->mod == 3) {
			i->rm |= (uint8_t)((i->rex & 1) << 3);
		} else if (i->adsize == 2) {
			i->base = rm16_base[i->rm];
			i->index = rm16_index[i->rm];
			if (i->mod == 0 && i->rm == 6) {
				i->base = 0xff;
				NEED(2);
				i->disp = (int16_t)get_le(buf + n, 2);
				n += 2;
			} else if (i->mod == 1) {
				NEED(1);
				i->disp = (int8_t)buf[n++];
			} else if (i->mod == 2) {
				NEED(2);
				i->disp = (int16_t)get_le(buf + n, 2);
				n += 2;
			}
			i->ea_seg = i->base == X86_RBP ? X86_SS : X86_DS;
		} else {
			uint8_t base = i->rm;
			if (base == 4) {
				uint8_t sib;
				NEED(1);
				sib = buf[n++];
				i->scale = sib >> 6;
				i->index = (uint8_t)(((sib >> 3) & 7) | ((i->rex & 2) << 2));
				if (i->index == 4)
					i->index = 0xff;
				base = sib & 7;
				if (base == 5 && i->mod == 0) {
					i->base = 0xff;
					NEED(4);
					i->disp = (int32_t)get_le(buf + n, 4);
					n += 4;
				} else {
					i->base = (uint8_t)(base | ((i->rex & 1) << 3));
				}
			} else if (base == 5 && i->mod == 0) {
				i->rip_rel = is64;
				NEED(4);
				i->disp = (int32_t)get_le(buf + n, 4);
				n += 4;
			} else {
				i->base = (uint8_t)(base | ((i->rex & 1) << 3));
			}
			if (i->mod == 1) {
				NEED(1);
				i->disp = (int8_t)buf[n++];
			} else if (i->mod == 2) {
				NEED(4);
				i->disp = (int32_t)get_le(buf + n, 4);
				n += 4;
			}
			i->ea_seg = (i->base == X86_RSP || i->base == X86_RBP) ? X86_SS : X86_DS;
		}
		if (i->seg_ovr >= 0)
			i->ea_seg = (uint8_t)i->seg_ovr;
	} else {
		i->ea_seg = i->seg_ovr >= 0 ? (uint8_t)i->seg_ovr : X86_DS;
	}

	/* Operand size after the group row: FF /2 and /4 are 64-bit, FF /6 defaults to it. */
	if (is64) {
		if (i->rex & 8)
			i->opsize = 8;
		else if (flags & D_FORCE64)
			i->opsize = 8;
		else if (i->pfx66)
			i->opsize = 2;
		else
			i->opsize = (flags & D_STACK) ? 8 : 4;
	} else {
		i->opsize = (uint8_t)(i->pfx66 ? def ^ 6 : def);
	}
	i->imm = 0;
	i->imm2 = 0;
	if (flags & (D_IB | D_IW | D_IZ | D_IV | D_MOFFS | D_FAR)) {
		unsigned sz;
		if (flags & D_IW) {
			NEED(2);
			i->imm = get_le(buf + n, 2);
			n += 2;
			if (flags & D_IB2) {
				NEED(1);
				i->imm2 = buf[n++];
			}
		} else if (flags & D_IB) {
			NEED(1);
			i->imm = (uint64_t)(int64_t)(int8_t)buf[n++];
		} else if (flags & D_IZ) {
			sz = i->opsize == 2 ? 2 : 4;
			NEED(sz);
			i->imm = (uint64_t)emu_sext(get_le(buf + n, sz), sz);
			n += sz;
		} else if (flags & D_IV) {
			sz = (flags & D_BYTE) ? 1 : i->opsize;
			NEED(sz);
			i->imm = get_le(buf + n, sz);
			n += sz;
		} else if (flags & D_MOFFS) {
			NEED(i->adsize);
			i->imm = get_le(buf + n, i->adsize);
			n += i->adsize;
		} else {
			sz = i->opsize == 2 ? 2 : 4;
			NEED(sz + 2);
			i->imm = get_le(buf + n, sz);
			i->imm2 = get_le(buf + n + sz, 2);
			n += sz + 2;
		}
	}
	i->len = (uint8_t)n;
	i->op = op;
	i->flags = flags;
	i->width = (flags & D_BYTE) ? 1 : i->opsize;

	if (flags & D_UD)
		return DEC_UD;
	if ((flags & D_NO64) && is64)
		return DEC_UD;
	if ((flags & D_ONLY64) && !is64)
		return DEC_UD;
	if ((flags & D_MEM) && i->mod == 3)
		return DEC_UD;
	if (i->lock && (!(flags & D_LOCK) || i->mod == 3))
		return DEC_UD;
	return DEC_OK;
}

unsigned emu_insn_length(const uint8_t *insn, unsigned avail, enum x86_mode mode)
{
	struct emu_insn i;
	if (emu_decode(&i, insn, avail, mode) != DEC_OK)
		return 0;
	return i.len;
}

/* The undefined RFLAGS bits of a decoded instruction. A count in CL is not known from the
 * bytes: the mask is then the union over all counts. */
static uint64_t undef_mask(const struct emu_insn *i, uint8_t cl)
{
	unsigned r = (i->modrm >> 3) & 7;
	if (i->map == 0) {
		switch (i->b) {
		case 0x08 ... 0x0d:
		case 0x20 ... 0x25:
		case 0x30 ... 0x35:
		case 0x84:
		case 0x85:
		case 0xa8:
		case 0xa9:
			return alu_undefined(ALU_FAM_LOGIC);
		case 0x80 ... 0x83:
			return (r == 1 || r == 4 || r == 6) ? alu_undefined(ALU_FAM_LOGIC) : 0;
		case 0x27:
		case 0x2f:
			return alu_undefined(ALU_FAM_DAA_DAS);
		case 0x37:
		case 0x3f:
			return alu_undefined(ALU_FAM_AAA_AAS);
		case 0xd4:
		case 0xd5:
			return alu_undefined(ALU_FAM_AAM_AAD);
		case 0x69:
		case 0x6b:
			return alu_undefined(ALU_FAM_MUL);
		case 0xc0:
		case 0xc1:
			return alu_undefined(alu_shift_family((enum alu_shiftop)r, i->width, i->imm & 0xff));
		case 0xd0:
		case 0xd1:
			return alu_undefined(alu_shift_family((enum alu_shiftop)r, i->width, 1));
		case 0xd2:
		case 0xd3:
			return alu_undefined(alu_shift_family((enum alu_shiftop)r, i->width, cl));
		case 0xf6:
		case 0xf7:
			if (r <= 1)
				return alu_undefined(ALU_FAM_LOGIC);
			if (r == 4 || r == 5)
				return alu_undefined(ALU_FAM_MUL);
			if (r >= 6)
				return alu_undefined(ALU_FAM_DIV);
			return 0;
		}
	} else if (i->map == 1) {
		switch (i->b) {
		case 0xa4:
		case 0xac:
			return alu_undefined(alu_shxd_family(i->width, i->imm & 0xff));
		case 0xa5:
		case 0xad:
			return alu_undefined(alu_shxd_family(i->width, cl));
		case 0xaf:
			return alu_undefined(ALU_FAM_MUL);
		case 0xa3:
		case 0xab:
		case 0xb3:
		case 0xbb:
		case 0xba:
			return alu_undefined(ALU_FAM_BIT_TEST);
		case 0xbc:
		case 0xbd:
			return alu_undefined(i->rep == 0xf3 ? ALU_FAM_TZCNT_LZCNT : ALU_FAM_BSF_BSR);
		}
	}
	return 0;
}

uint64_t emu_undefined_flags(const uint8_t *insn, unsigned len, const struct x86_state *pre)
{
	struct emu_insn i;
	if (emu_decode(&i, insn, len, x86_state_mode(pre)) != DEC_OK)
		return 0;
	return undef_mask(&i, (uint8_t)pre->gpr[X86_RCX]);
}
