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
	K_BSWAP
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
};

static void run_row(const struct row *r)
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
	}
	if (fault != r->fault || (!fault && (v != r->result || hi != r->result_hi || f != (r->fout | DF)))) {
		print_error("%s:%d: got %s result %#llx:%#llx flags %#llx, want %s %#llx:%#llx flags %#llx\n",
		            r->file, r->line, fault ? "#DE" : "ok", (unsigned long long)hi,
		            (unsigned long long)v, (unsigned long long)f, r->fault ? "#DE" : "ok",
		            (unsigned long long)r->result_hi, (unsigned long long)r->result,
		            (unsigned long long)(r->fout | DF));
		fail();
	}
}

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(&rows[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
