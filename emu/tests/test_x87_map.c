/* The D8-DF opcode map: every register form (mod = 3, each ModRM byte) and every memory
 * form (each reg field) runs in emu; none may report EMU_UNIMPLEMENTED, the reserved
 * encodings raise #UD and everything else completes (exceptions masked, two registers
 * loaded). FISTTP needs SSE3 in CPUID and raises #UD without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define DATA 0x3000u

struct map_row {
	uint8_t op;
	uint8_t mem_ud;     /* reg fields whose memory form is reserved */
	uint8_t mem_sse3;   /* reg fields that need SSE3 (FISTTP) */
	const char *reg_ud; /* reserved ModRM bytes of the register forms, as "lo-hi" ranges */
};

/* clang-format off */
static const struct map_row rows[] = {
    {0xd8, 0x00, 0x00, ""},
    {0xd9, 0x02, 0x00, "d1-d7 e2-e3 e6-e7 ef-ef"},
    {0xda, 0x00, 0x00, "e0-e8 ea-ff"},
    {0xdb, 0x50, 0x02, "e5-e7 f8-ff"},
    {0xdc, 0x00, 0x00, ""},
    {0xdd, 0x20, 0x02, "f0-ff"},
    {0xde, 0x00, 0x00, "d8-d8 da-df"},
    {0xdf, 0x00, 0x02, "e1-e7 f8-ff"},
};
/* clang-format on */

static bool sse3;

static enum emu_status cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	enum emu_status rc = th_ops.cpuid(opaque, leaf, subleaf, out);
	if (leaf == 1)
		out[2] = sse3 ? out[2] | 1 : out[2] & ~1u;
	return rc;
}

static bool in_ranges(const char *ranges, unsigned m)
{
	unsigned lo, hi;
	int used;
	while (sscanf(ranges, " %x-%x%n", &lo, &hi, &used) == 2) {
		if (m >= lo && m <= hi)
			return true;
		ranges += used;
	}
	return false;
}

/* Runs fld1; fldz; then the instruction; returns its status and the vector raised. */
static enum emu_status run(uint8_t op, uint8_t modrm, int *vector)
{
	static struct emu_ops ops;
	struct x86_state st;
	ops = th_ops;
	ops.cpuid = cpuid;
	th_reset();
	th_state(&st, X86_MODE_LONG64);
	st.cr0 |= X86_CR0_NE;
	st.cr4 |= X86_CR4_OSFXSR;
	st.gpr[X86_RDI] = DATA;
	uint8_t code[] = {0xd9, 0xe8, 0xd9, 0xee, op, modrm};
	memcpy(th.mem + TH_CODE, code, sizeof(code));
	struct emu_ctxt c = {.st = &st, .ops = &ops, .opaque = &th};
	assert_int_equal(emu_step(&c), EMU_OK);
	assert_int_equal(emu_step(&c), EMU_OK);
	enum emu_status rc = emu_step(&c);
	*vector = rc == EMU_EXCEPTION ? (int)c.event.vector : -1;
	return rc;
}

static void check(uint8_t op, uint8_t modrm, bool reserved, unsigned *failures)
{
	int vector;
	enum emu_status rc = run(op, modrm, &vector);
	bool ok = reserved ? rc == EMU_EXCEPTION && vector == 6 : rc == EMU_OK;
	if (!ok && (*failures)++ < 20)
		fprintf(stderr, "%02x %02x: status %d vector %d, want %s\n", op, modrm, rc, vector,
		        reserved ? "#UD" : "EMU_OK");
}

static void test_map(void **state)
{
	(void)state;
	unsigned failures = 0, runs = 0;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const struct map_row *row = &rows[r];
		for (unsigned with_sse3 = 0; with_sse3 < 2; with_sse3++) {
			sse3 = with_sse3;
			for (unsigned reg = 0; reg < 8; reg++, runs++) {
				bool ud = (row->mem_ud >> reg & 1) || (!sse3 && (row->mem_sse3 >> reg & 1));
				check(row->op, (uint8_t)(reg << 3 | 7), ud, &failures); /* [rdi] */
			}
			for (unsigned m = 0xc0; m <= 0xff; m++, runs++)
				check(row->op, (uint8_t)m, in_ranges(row->reg_ud, m), &failures);
		}
	}
	fprintf(stderr, "x87 opcode map: %u encodings, %u failures\n", runs, failures);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
