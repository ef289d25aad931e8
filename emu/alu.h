/* emu internals: integer arithmetic with exact RFLAGS, in portable C. Every
 * function takes an operand width in bytes (1, 2, 4, 8), reads and updates
 * *rflags (only the six arithmetic flags; others untouched) and returns the
 * result truncated to the width. Undefined flags are set the way current
 * Intel silicon sets them; alu_undefined() lists them for the differ. */
#ifndef EMUDIFF_EMU_ALU_H
#define EMUDIFF_EMU_ALU_H

#include <stdbool.h>
#include <stdint.h>

/* In the order of the ModRM reg field of opcodes 80-83 (/0 .. /7). */
enum alu_binop { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, ALU_TEST };

/* In the order of the ModRM reg field of C0/C1/D0-D3 (/6 is SAL, an alias of SHL). */
enum alu_shiftop { ALU_ROL, ALU_ROR, ALU_RCL, ALU_RCR, ALU_SHL, ALU_SHR, ALU_SAL, ALU_SAR };

enum alu_unop { ALU_NOT, ALU_NEG, ALU_INC, ALU_DEC };

enum alu_bitop { ALU_BT, ALU_BTS, ALU_BTR, ALU_BTC };

enum alu_scanop { ALU_BSF, ALU_BSR, ALU_TZCNT, ALU_LZCNT, ALU_POPCNT };

enum alu_bcdop { ALU_DAA, ALU_DAS, ALU_AAA, ALU_AAS };

/* CMP and TEST return a unchanged (the result is discarded by the caller). */
uint64_t alu_binop(enum alu_binop op, unsigned width, uint64_t a, uint64_t b, uint64_t *rflags);
uint64_t alu_unop(enum alu_unop op, unsigned width, uint64_t a, uint64_t *rflags);
/* count is the raw count operand; the function masks it (5 bits, 6 for width 8). */
uint64_t alu_shift(enum alu_shiftop op, unsigned width, uint64_t a, uint64_t count, uint64_t *rflags);
/* The C0/C1 forms (count from an immediate): as alu_shift, except that ROL and
 * ROR by a masked count above 1 leave OF unchanged on the host Intel CPU. */
uint64_t alu_shift_imm(enum alu_shiftop op, unsigned width, uint64_t a, uint64_t count, uint64_t *rflags);
/* SHLD/SHRD: a is the destination, b supplies the bits shifted in. */
uint64_t alu_shld(unsigned width, uint64_t a, uint64_t b, uint64_t count, uint64_t *rflags);
uint64_t alu_shrd(unsigned width, uint64_t a, uint64_t b, uint64_t count, uint64_t *rflags);

/* One-operand MUL/IMUL: a * b -> *hi:*lo (AH:AL for width 1, DX:AX, EDX:EAX, RDX:RAX). */
void alu_mul(bool is_signed, unsigned width, uint64_t a, uint64_t b, uint64_t *lo, uint64_t *hi,
             uint64_t *rflags);
/* Two- and three-operand IMUL: the truncated product. */
uint64_t alu_imul(unsigned width, uint64_t a, uint64_t b, uint64_t *rflags);
/* DIV/IDIV of hi:lo by divisor; false means #DE (divide by zero or overflow).
 * Flags are undefined after DIV; *rflags gets what silicon leaves. */
bool alu_div(bool is_signed, unsigned width, uint64_t hi, uint64_t lo, uint64_t divisor, uint64_t *quot,
             uint64_t *rem, uint64_t *rflags);

/* DAA/DAS/AAA/AAS on AX (AAA/AAS change AH too). */
uint16_t alu_bcd(enum alu_bcdop op, uint16_t ax, uint64_t *rflags);
/* AAM/AAD with immediate base; AAM with base 0 is #DE (returns false). */
bool alu_aam(uint16_t ax, uint8_t base, uint16_t *out, uint64_t *rflags);
uint16_t alu_aad(uint16_t ax, uint8_t base, uint64_t *rflags);

/* BT/BTS/BTR/BTC on a value; bit is already reduced modulo the width. */
uint64_t alu_bitop(enum alu_bitop op, unsigned width, uint64_t value, unsigned bit, uint64_t *rflags);
/* BSF/BSR leave dst unchanged on a zero source (as Intel silicon does). */
uint64_t alu_scan(enum alu_scanop op, unsigned width, uint64_t src, uint64_t dst, uint64_t *rflags);
/* False when the instruction must not write its destination at all: BSF/BSR
 * with a zero source keep the whole register, even at width 4 in 64-bit mode
 * (no zero-extension of the upper half on the host Intel CPU). */
bool alu_scan_writes(enum alu_scanop op, unsigned width, uint64_t src);

uint64_t alu_bswap(unsigned width, uint64_t a);

/* The arithmetic flags computed by SF/ZF/PF rules for a result (helper). */
uint64_t alu_szp(unsigned width, uint64_t result);

/* Which instruction families leave which flags undefined (SDM Vol. 2). */
enum alu_family {
	ALU_FAM_NONE,
	ALU_FAM_LOGIC,       /* AND OR XOR TEST: AF */
	ALU_FAM_SHIFT_1,     /* shifts by 1: AF (OF defined) */
	ALU_FAM_SHIFT_N,     /* shifts by count != 1: AF, OF */
	ALU_FAM_ROTATE_N,    /* rotates by count != 1: OF */
	ALU_FAM_SHxD,        /* SHLD/SHRD: AF; OF when count != 1; all when count > width */
	ALU_FAM_MUL,         /* MUL/IMUL: SF ZF AF PF */
	ALU_FAM_DIV,         /* DIV/IDIV: CF OF SF ZF AF PF */
	ALU_FAM_BCD_ADJ,     /* DAA/DAS: OF; AAA/AAS: OF SF ZF PF */
	ALU_FAM_AAM_AAD,     /* OF AF CF */
	ALU_FAM_BIT_TEST,    /* BT*: OF SF AF PF */
	ALU_FAM_BSF_BSR,     /* CF OF SF AF PF */
	ALU_FAM_TZCNT_LZCNT, /* OF SF AF PF */
	ALU_FAM_SHIFT_WIDE,  /* SHL/SHR by a masked count >= width (8/16-bit only): CF OF AF */
	ALU_FAM_SHxD_WIDE,   /* SHLD/SHRD by a count > width (16-bit only): all six */
	ALU_FAM_DAA_DAS,     /* OF (ALU_FAM_BCD_ADJ covers DAA-AAS together) */
	ALU_FAM_AAA_AAS,     /* OF SF ZF PF */
};

uint64_t alu_undefined(enum alu_family family);
/* The family of one shift/rotate or SHLD/SHRD, from its operation, width and raw count. */
enum alu_family alu_shift_family(enum alu_shiftop op, unsigned width, uint64_t count);
enum alu_family alu_shxd_family(unsigned width, uint64_t count);

#endif
