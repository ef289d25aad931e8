/* Hand-checked corner cases of emu/alu.c: one table row per case, each
 * pointing at its line. Values follow the SDM (Vol. 2) and were confirmed
 * on the host by test_native_sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "alu.h"

#define CF 0x001ull
#define PF 0x004ull
#define AF 0x010ull
#define ZF 0x040ull
#define SF 0x080ull
#define OF 0x800ull
#define DF 0x400ull /* never touched by alu.c: a canary in every row */

enum kind {
	K_BIN,
	K_UN,
	K_SHIFT,
	K_SHIFT_IMM,
	K_SHLD,
	K_SHRD,
	K_MUL,
	K_IMUL1,
	K_IMUL,
	K_DIV,
	K_IDIV,
	K_BCD,
	K_AAM,
	K_AAD,
	K_BIT,
	K_SCAN,
	K_BSWAP,
	K_UNDEF,
	K_SHIFT_FAM,
	K_SHXD_FAM
};

struct row {
	enum kind kind;
	int op;
	unsigned width;
	uint64_t a, b, c; /* operands; c is the count, the divisor or the scan destination */
	uint64_t fin;
	uint64_t result, result_hi; /* result_hi: high half of MUL, remainder of DIV */
	uint64_t fout;
	bool fault; /* #DE expected */
	const char *file;
	int line;
};

#define R(...)                                                                                               \
	{                                                                                                    \
		__VA_ARGS__, .file = __FILE__, .line = __LINE__                                              \
	}

static const struct row rows[] = {
    /* ADD: AF from a nibble carry, OF on signed overflow. */
    R(.kind = K_BIN, .op = ALU_ADD, .width = 1, .a = 0x0f, .b = 0x01, .result = 0x10, .fout = AF),
    R(.kind = K_BIN, .op = ALU_ADD, .width = 1, .a = 0x7f, .b = 0x01, .result = 0x80, .fout = AF | SF | OF),
    R(.kind = K_BIN, .op = ALU_ADD, .width = 4, .a = 0xffffffff, .b = 1, .result = 0,
      .fout = CF | AF | ZF | PF),
    R(.kind = K_BIN, .op = ALU_ADC, .width = 8, .a = ~0ull, .b = 0, .fin = CF, .result = 0,
      .fout = CF | AF | ZF | PF),
    R(.kind = K_BIN, .op = ALU_SBB, .width = 2, .a = 0, .b = 0xffff, .fin = CF, .result = 0,
      .fout = CF | AF | ZF | PF),
    R(.kind = K_BIN, .op = ALU_SUB, .width = 1, .a = 0x80, .b = 1, .result = 0x7f, .fout = AF | OF),
    R(.kind = K_BIN, .op = ALU_CMP, .width = 1, .a = 0x10, .b = 0x11, .result = 0x10,
      .fout = CF | AF | SF | PF),
    R(.kind = K_BIN, .op = ALU_XOR, .width = 8, .a = 5, .b = 5, .fin = CF | OF | AF, .result = 0,
      .fout = ZF | PF),
    /* NEG of the most negative value overflows. */
    R(.kind = K_UN, .op = ALU_NEG, .width = 1, .a = 0x80, .result = 0x80, .fout = CF | SF | OF),
    R(.kind = K_UN, .op = ALU_NEG, .width = 8, .a = 1ull << 63, .result = 1ull << 63,
      .fout = CF | SF | OF | PF),
    R(.kind = K_UN, .op = ALU_NEG, .width = 2, .a = 0, .fin = CF, .result = 0, .fout = ZF | PF),
    /* INC/DEC keep CF. */
    R(.kind = K_UN, .op = ALU_INC, .width = 1, .a = 0xff, .fin = CF, .result = 0, .fout = CF | AF | ZF | PF),
    R(.kind = K_UN, .op = ALU_DEC, .width = 4, .a = 0x80000000, .result = 0x7fffffff, .fout = AF | OF | PF),
    R(.kind = K_UN, .op = ALU_NOT, .width = 2, .a = 0x00ff, .fin = ZF, .result = 0xff00, .fout = ZF),
    /* RCL through CF: the carry enters bit 0, bit 7 leaves into CF. */
    R(.kind = K_SHIFT, .op = ALU_RCL, .width = 1, .a = 0x80, .c = 1, .fin = CF, .result = 0x01,
      .fout = CF | OF),
    R(.kind = K_SHIFT, .op = ALU_RCL, .width = 1, .a = 0x01, .c = 9, .fin = CF, .result = 0x01, .fout = CF),
    R(.kind = K_SHIFT, .op = ALU_RCL, .width = 2, .a = 0x8000, .c = 17, .fin = OF, .result = 0x8000,
      .fout = OF),
    R(.kind = K_SHIFT, .op = ALU_RCL, .width = 2, .a = 0x8000, .c = 18, .result = 0, .fout = CF | OF),
    R(.kind = K_SHIFT, .op = ALU_RCR, .width = 1, .a = 0x01, .c = 1, .result = 0, .fout = CF),
    /* Rotates leave SF ZF AF PF alone; OF comes from the first one-bit step at any count. */
    R(.kind = K_SHIFT, .op = ALU_ROL, .width = 1, .a = 0x80, .c = 1, .fin = ZF, .result = 0x01,
      .fout = ZF | CF | OF),
    R(.kind = K_SHIFT, .op = ALU_ROL, .width = 1, .a = 0x40, .c = 8, .result = 0x40, .fout = OF),
    R(.kind = K_SHIFT, .op = ALU_ROR, .width = 4, .a = 1, .c = 1, .result = 0x80000000, .fout = CF | OF),
    /* A masked count of 0 touches nothing. */
    R(.kind = K_SHIFT, .op = ALU_SHL, .width = 1, .a = 0x81, .c = 0, .fin = CF | OF | ZF, .result = 0x81,
      .fout = CF | OF | ZF),
    R(.kind = K_SHIFT, .op = ALU_SHL, .width = 1, .a = 0x81, .c = 0x20, .fin = SF, .result = 0x81,
      .fout = SF),
    R(.kind = K_SHIFT, .op = ALU_SHL, .width = 8, .a = 1, .c = 0x40, .fin = AF, .result = 1, .fout = AF),
    /* 8/16-bit shifts by counts >= width. */
    R(.kind = K_SHIFT, .op = ALU_SHL, .width = 1, .a = 0xff, .c = 8, .fin = AF, .result = 0,
      .fout = CF | ZF | PF),
    R(.kind = K_SHIFT, .op = ALU_SHL, .width = 1, .a = 0xff, .c = 9, .result = 0, .fout = ZF | PF),
    R(.kind = K_SHIFT, .op = ALU_SAL, .width = 1, .a = 0x40, .c = 1, .result = 0x80, .fout = SF | OF),
    R(.kind = K_SHIFT, .op = ALU_SHR, .width = 2, .a = 0x8000, .c = 1, .result = 0x4000, .fout = OF | PF),
    R(.kind = K_SHIFT, .op = ALU_SHR, .width = 2, .a = 0x8000, .c = 3, .result = 0x1000, .fout = OF | PF),
    R(.kind = K_SHIFT, .op = ALU_SAR, .width = 1, .a = 0x80, .c = 31, .result = 0xff, .fout = CF | SF | PF),
    /* SHLD/SHRD; 16-bit counts above 16 shift a:b:a. */
    R(.kind = K_SHLD, .width = 2, .a = 0x1234, .b = 0x5678, .c = 4, .result = 0x2345, .fout = CF),
    R(.kind = K_SHLD, .width = 2, .a = 0x1234, .b = 0x5678, .c = 20, .result = 0x6781, .fout = CF | PF),
    R(.kind = K_SHRD, .width = 4, .a = 1, .b = 3, .c = 1, .result = 0x80000000, .fout = CF | OF | SF | PF),
    R(.kind = K_SHRD, .width = 8, .a = 1, .b = 3, .c = 64, .fin = CF, .result = 1, .fout = CF),
    /* MUL/IMUL: CF=OF=overflow; SF and PF from the low half; ZF and AF cleared. */
    R(.kind = K_MUL, .width = 1, .a = 0x80, .b = 2, .fin = ZF | AF, .result = 0, .result_hi = 1,
      .fout = CF | OF | PF),
    R(.kind = K_MUL, .width = 8, .a = ~0ull, .b = ~0ull, .result = 1, .result_hi = ~1ull, .fout = CF | OF),
    R(.kind = K_IMUL1, .width = 1, .a = 0x80, .b = 0xff, .result = 0x80, .result_hi = 0,
      .fout = CF | OF | SF),
    R(.kind = K_IMUL, .width = 8, .a = ~0ull, .b = ~0ull, .fin = ZF | CF, .result = 1, .fout = 0),
    R(.kind = K_IMUL, .width = 2, .a = 0x4000, .b = 2, .result = 0x8000, .fout = CF | OF | SF | PF),
    /* DIV/IDIV leave the flags alone; #DE on zero and on quotient overflow. */
    R(.kind = K_DIV, .width = 1, .a = 0x01, .b = 0x00, .c = 2, .fin = SF | CF, .result = 0x80,
      .fout = SF | CF),
    R(.kind = K_DIV, .width = 1, .a = 0x02, .b = 0x00, .c = 2, .fault = true),
    R(.kind = K_DIV, .width = 4, .a = 0, .b = 5, .c = 0, .fault = true),
    R(.kind = K_DIV, .width = 8, .a = 1, .b = 0, .c = 3, .result = 0x5555555555555555ull, .result_hi = 1),
    R(.kind = K_IDIV, .width = 1, .a = 0xff, .b = 0x80, .c = 0xff, .fault = true),
    R(.kind = K_IDIV, .width = 8, .a = ~0ull, .b = 1ull << 63, .c = ~0ull, .fault = true),
    R(.kind = K_IDIV, .width = 8, .a = ~0ull, .b = 1ull << 63, .c = 1, .result = 1ull << 63),
    R(.kind = K_IDIV, .width = 2, .a = 0xffff, .b = 0xfff9, .c = 2, .result = 0xfffd, .result_hi = 0xffff),
    R(.kind = K_IDIV, .width = 4, .a = 0xffffffff, .b = 0x80000000, .c = 0xffffffff, .fault = true),
    R(.kind = K_IDIV, .width = 4, .a = 0, .b = 0x80000000, .c = 0xffffffff, .result = 0x80000000),
    /* The DAA and DAS examples of the SDM, with the arithmetic before them. */
    R(.kind = K_BIN, .op = ALU_ADD, .width = 1, .a = 0x79, .b = 0x35, .result = 0xae, .fout = OF | SF),
    R(.kind = K_BCD, .op = ALU_DAA, .a = 0xae, .fin = OF | SF, .result = 0x14, .fout = AF | PF | CF),
    R(.kind = K_BCD, .op = ALU_DAA, .a = 0x2e, .result = 0x34, .fout = AF),
    R(.kind = K_BIN, .op = ALU_SUB, .width = 1, .a = 0x35, .b = 0x47, .result = 0xee,
      .fout = SF | AF | PF | CF),
    R(.kind = K_BCD, .op = ALU_DAS, .a = 0xee, .fin = SF | AF | PF | CF, .result = 0x88,
      .fout = SF | AF | PF | CF),
    /* AAA/AAS adjust AX as a whole (AL's carry reaches AH). */
    R(.kind = K_BCD, .op = ALU_AAA, .a = 0x000f, .result = 0x0105, .fout = AF | CF | PF),
    R(.kind = K_BCD, .op = ALU_AAA, .a = 0x00fa, .result = 0x0200, .fout = AF | CF | ZF | PF),
    R(.kind = K_BCD, .op = ALU_AAS, .a = 0x0200, .fin = AF, .result = 0x000a, .fout = AF | CF | PF),
    R(.kind = K_BCD, .op = ALU_AAA, .a = 0x1234, .fin = OF | CF, .result = 0x1204, .fout = 0),
    /* AAM/AAD; AAM 0 is #DE. AAD sets the flags of AL + AH * base. */
    R(.kind = K_AAM, .a = 0x003f, .b = 10, .fin = CF | OF | AF, .result = 0x0603, .fout = PF),
    R(.kind = K_AAM, .a = 0x003f, .b = 0, .fault = true),
    R(.kind = K_AAD, .a = 0x0603, .b = 10, .result = 0x003f, .fout = PF),
    R(.kind = K_AAD, .a = 0x0909, .b = 0x10, .result = 0x0099, .fout = SF | PF),
    R(.kind = K_AAD, .a = 0x01ff, .b = 1, .result = 0x0000, .fout = CF | AF | ZF | PF),
    /* BT*: CF gets the bit; OF SF ZF AF PF stay as they were. */
    R(.kind = K_BIT, .op = ALU_BT, .width = 4, .a = 0x80000000, .b = 31, .fin = ZF | OF, .result = 0x80000000,
      .fout = ZF | OF | CF),
    R(.kind = K_BIT, .op = ALU_BTC, .width = 2, .a = 1, .b = 0, .result = 0, .fout = CF),
    R(.kind = K_BIT, .op = ALU_BTS, .width = 8, .a = 0, .b = 63, .fin = CF, .result = 1ull << 63, .fout = 0),
    R(.kind = K_BIT, .op = ALU_BTR, .width = 8, .a = ~0ull, .b = 5, .result = ~0x20ull, .fout = CF),
    /* BSF/BSR: a zero source keeps dst, sets ZF and PF and clears the rest. */
    R(.kind = K_SCAN, .op = ALU_BSF, .width = 4, .a = 0, .c = 0x12345678, .fin = CF | SF,
      .result = 0x12345678, .fout = ZF | PF),
    R(.kind = K_SCAN, .op = ALU_BSF, .width = 2, .a = 0x8000, .fin = ZF, .result = 15, .fout = PF),
    R(.kind = K_SCAN, .op = ALU_BSR, .width = 8, .a = 1ull << 63, .result = 63, .fout = PF),
    R(.kind = K_SCAN, .op = ALU_TZCNT, .width = 2, .a = 0, .fin = ZF | PF | SF, .result = 16, .fout = CF),
    R(.kind = K_SCAN, .op = ALU_TZCNT, .width = 8, .a = 1, .result = 0, .fout = ZF),
    R(.kind = K_SCAN, .op = ALU_LZCNT, .width = 4, .a = 1, .result = 31, .fout = 0),
    R(.kind = K_SCAN, .op = ALU_POPCNT, .width = 8, .a = ~0ull, .fin = CF | PF | AF | ZF | SF | OF,
      .result = 64),
    R(.kind = K_SCAN, .op = ALU_POPCNT, .width = 2, .a = 0, .result = 0, .fout = ZF),
    /* BSWAP; the 16-bit form gives 0 on the host. */
    R(.kind = K_BSWAP, .width = 4, .a = 0x11223344, .result = 0x44332211),
    R(.kind = K_BSWAP, .width = 8, .a = 0x0102030405060708ull, .result = 0x0807060504030201ull),
    R(.kind = K_BSWAP, .width = 2, .a = 0x1234, .result = 0),
    /* The undefined-flag table (SDM Vol. 2) and the family of a shift. */
    R(.kind = K_UNDEF, .op = ALU_FAM_NONE, .result = 0),
    R(.kind = K_UNDEF, .op = ALU_FAM_LOGIC, .result = AF),
    R(.kind = K_UNDEF, .op = ALU_FAM_SHIFT_1, .result = AF),
    R(.kind = K_UNDEF, .op = ALU_FAM_SHIFT_N, .result = AF | OF),
    R(.kind = K_UNDEF, .op = ALU_FAM_ROTATE_N, .result = OF),
    R(.kind = K_UNDEF, .op = ALU_FAM_SHxD, .result = AF | OF),
    R(.kind = K_UNDEF, .op = ALU_FAM_MUL, .result = SF | ZF | AF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_DIV, .result = CF | OF | SF | ZF | AF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_BCD_ADJ, .result = OF | SF | ZF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_AAM_AAD, .result = OF | AF | CF),
    R(.kind = K_UNDEF, .op = ALU_FAM_BIT_TEST, .result = OF | SF | AF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_BSF_BSR, .result = CF | OF | SF | AF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_TZCNT_LZCNT, .result = OF | SF | AF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_SHIFT_WIDE, .result = CF | OF | AF),
    R(.kind = K_UNDEF, .op = ALU_FAM_SHxD_WIDE, .result = CF | OF | SF | ZF | AF | PF),
    R(.kind = K_UNDEF, .op = ALU_FAM_DAA_DAS, .result = OF),
    R(.kind = K_UNDEF, .op = ALU_FAM_AAA_AAS, .result = OF | SF | ZF | PF),
    R(.kind = K_SHIFT_FAM, .op = ALU_SHL, .width = 4, .c = 32, .result = ALU_FAM_NONE),
    R(.kind = K_SHIFT_FAM, .op = ALU_SHL, .width = 4, .c = 33, .result = ALU_FAM_SHIFT_1),
    R(.kind = K_SHIFT_FAM, .op = ALU_SHR, .width = 1, .c = 8, .result = ALU_FAM_SHIFT_WIDE),
    R(.kind = K_SHIFT_FAM, .op = ALU_SAR, .width = 1, .c = 8, .result = ALU_FAM_SHIFT_N),
    R(.kind = K_SHIFT_FAM, .op = ALU_ROL, .width = 8, .c = 1, .result = ALU_FAM_NONE),
    /* RCR by 18 rotates nothing: Intel keeps OF, AMD writes it, so OF is undefined. */
    R(.kind = K_SHIFT_FAM, .op = ALU_RCR, .width = 1, .c = 18, .result = ALU_FAM_ROTATE_N),
    R(.kind = K_SHIFT_FAM, .op = ALU_RCR, .width = 1, .c = 10, .result = ALU_FAM_ROTATE_N),
    R(.kind = K_SHXD_FAM, .width = 2, .c = 17, .result = ALU_FAM_SHxD_WIDE),
    R(.kind = K_SHXD_FAM, .width = 8, .c = 1, .result = ALU_FAM_SHIFT_1),
    R(.kind = K_SHXD_FAM, .width = 4, .c = 32, .result = ALU_FAM_NONE),
    R(.kind = K_SHXD_FAM, .width = 4, .c = 31, .result = ALU_FAM_SHxD),
    /* Immediate-count ROL/ROR by more than 1 keep OF; by 1 they set it like D0/D1. */
    R(.kind = K_SHIFT_IMM, .op = ALU_ROL, .width = 1, .a = 0x40, .c = 8, .fin = OF, .result = 0x40,
      .fout = OF),
    R(.kind = K_SHIFT_IMM, .op = ALU_ROL, .width = 1, .a = 0x40, .c = 2, .fin = 0, .result = 0x01,
      .fout = CF),
    R(.kind = K_SHIFT_IMM, .op = ALU_ROR, .width = 4, .a = 1, .c = 1, .result = 0x80000000, .fout = CF | OF),
    R(.kind = K_SHIFT_IMM, .op = ALU_SHL, .width = 2, .a = 0x4000, .c = 2, .fin = 0, .result = 0,
      .fout = CF | OF | ZF | PF),
};

static bool run_row(const struct row *r)
{
	uint64_t f = r->fin | DF, v = 0, hi = 0;
	bool fault = false;

	switch (r->kind) {
	case K_BIN:
		v = alu_binop(r->op, r->width, r->a, r->b, &f);
		break;
	case K_UN:
		v = alu_unop(r->op, r->width, r->a, &f);
		break;
	case K_SHIFT:
		v = alu_shift(r->op, r->width, r->a, r->c, &f);
		break;
	case K_SHIFT_IMM:
		v = alu_shift_imm(r->op, r->width, r->a, r->c, &f);
		break;
	case K_SHLD:
		v = alu_shld(r->width, r->a, r->b, r->c, &f);
		break;
	case K_SHRD:
		v = alu_shrd(r->width, r->a, r->b, r->c, &f);
		break;
	case K_MUL:
	case K_IMUL1:
		alu_mul(r->kind == K_IMUL1, r->width, r->a, r->b, &v, &hi, &f);
		break;
	case K_IMUL:
		v = alu_imul(r->width, r->a, r->b, &f);
		break;
	case K_DIV:
	case K_IDIV:
		fault = !alu_div(r->kind == K_IDIV, r->width, r->a, r->b, r->c, &v, &hi, &f);
		break;
	case K_BCD:
		v = alu_bcd(r->op, (uint16_t)r->a, &f);
		break;
	case K_AAM: {
		uint16_t out = 0;

		fault = !alu_aam((uint16_t)r->a, (uint8_t)r->b, &out, &f);
		v = out;
		break;
	}
	case K_AAD:
		v = alu_aad((uint16_t)r->a, (uint8_t)r->b, &f);
		break;
	case K_BIT:
		v = alu_bitop(r->op, r->width, r->a, (unsigned)r->b, &f);
		break;
	case K_SCAN:
		v = alu_scan(r->op, r->width, r->a, r->c, &f);
		break;
	case K_BSWAP:
		v = alu_bswap(r->width, r->a);
		break;
	case K_UNDEF:
		v = alu_undefined((enum alu_family)r->op);
		break;
	case K_SHIFT_FAM:
		v = alu_shift_family(r->op, r->width, r->c);
		break;
	case K_SHXD_FAM:
		v = alu_shxd_family(r->width, r->c);
		break;
	}
	if (fault != r->fault || (!fault && (v != r->result || hi != r->result_hi || f != (r->fout | DF)))) {
		print_error("%s:%d: got %s result %#llx:%#llx flags %#llx, want %s %#llx:%#llx flags %#llx\n",
		            r->file, r->line, fault ? "#DE" : "ok", (unsigned long long)hi,
		            (unsigned long long)v, (unsigned long long)f, r->fault ? "#DE" : "ok",
		            (unsigned long long)r->result_hi, (unsigned long long)r->result,
		            (unsigned long long)(r->fout | DF));
		return false;
	}
	return true;
}

static void test_rows(void **state)
{
	(void)state;
	size_t bad = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		bad += !run_row(&rows[i]);
	printf("%zu rows, %zu wrong\n", sizeof(rows) / sizeof(rows[0]), bad);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
