/* emu_insn_identify: prefixes, maps, ModRM, operand size and early-ending bytes, a row each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "emu.h"

static const struct {
	const char *what;
	enum x86_mode mode;
	uint8_t bytes[15];
	unsigned avail;
	struct emu_insn_id want;
} rows[] = {
    {"hlt", X86_MODE_REAL, {0xf4}, 1, {.len = 1, .map = 0, .opcode = 0xf4, .opsize = 2}},
    {"rep movsb",
     X86_MODE_PROT32,
     {0xf3, 0xa4},
     2,
     {.len = 2, .n_prefix = 1, .opcode = 0xa4, .rep = 0xf3, .opsize = 4}},
    {"pause",
     X86_MODE_LONG64,
     {0xf3, 0x90},
     2,
     {.len = 2, .n_prefix = 1, .opcode = 0x90, .rep = 0xf3, .opsize = 4}},
    {"out dx, ax",
     X86_MODE_PROT32,
     {0x66, 0xef},
     2,
     {.len = 2, .n_prefix = 1, .opcode = 0xef, .opsize = 2, .pfx66 = true}},
    {"rex.w cpuid",
     X86_MODE_LONG64,
     {0x48, 0x0f, 0xa2},
     3,
     {.len = 3, .n_prefix = 1, .map = 1, .opcode = 0xa2, .rex = 0x48, .opsize = 8}},
    {"a legacy prefix after REX cancels it",
     X86_MODE_LONG64,
     {0x48, 0x66, 0x90},
     3,
     {.len = 3, .n_prefix = 2, .opcode = 0x90, .opsize = 2, .pfx66 = true}},
    {"0x48 is DEC in 32-bit code", X86_MODE_PROT32, {0x48}, 1, {.len = 1, .opcode = 0x48, .opsize = 4}},
    {"mov cr3, eax",
     X86_MODE_PROT32,
     {0x0f, 0x22, 0xd8},
     3,
     {.len = 3, .map = 1, .opcode = 0x22, .modrm = 0xd8, .opsize = 4}},
    {"rdtscp",
     X86_MODE_LONG64,
     {0x0f, 0x01, 0xf9},
     3,
     {.len = 3, .map = 1, .opcode = 0x01, .modrm = 0xf9, .opsize = 4}},
    {"int 0x21", X86_MODE_REAL, {0xcd, 0x21}, 2, {.len = 2, .opcode = 0xcd, .opsize = 2, .imm = 0x21}},
    {"0f 38 map",
     X86_MODE_LONG64,
     {0x0f, 0x38, 0xf0, 0x07},
     4,
     {.len = 4, .map = 2, .opcode = 0xf0, .modrm = 0x07, .opsize = 4}},
    {"bytes end before the opcode",
     X86_MODE_PROT32,
     {0x66, 0xf3},
     2,
     {.n_prefix = 2, .map = EMU_MAP_NONE, .rep = 0xf3, .pfx66 = true}},
    {"bytes end inside 0F", X86_MODE_PROT32, {0x0f}, 1, {.map = EMU_MAP_NONE}},
    {"bytes end before the immediate", X86_MODE_REAL, {0xcd}, 1, {.opcode = 0xcd}},
    {"invalid in 64-bit code, opcode still known", X86_MODE_LONG64, {0x27}, 1, {.opcode = 0x27}},
};

static void test_identify_rows(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		struct emu_insn_id got;
		const struct emu_insn_id *w = &rows[k].want;

		emu_insn_identify(rows[k].bytes, rows[k].avail, rows[k].mode, &got);
		if (got.len != w->len || got.n_prefix != w->n_prefix || got.map != w->map ||
		    got.opcode != w->opcode || (w->len && got.modrm != w->modrm) || got.rep != w->rep ||
		    got.rex != w->rex || (w->len && got.opsize != w->opsize) || got.pfx66 != w->pfx66 ||
		    (w->len && got.imm != w->imm))
			fail_msg("%s: len %u pfx %u map %u op %02x modrm %02x rep %02x rex %02x opsize %u "
			         "imm %llx",
			         rows[k].what, got.len, got.n_prefix, got.map, got.opcode, got.modrm, got.rep,
			         got.rex, got.opsize, (unsigned long long)got.imm);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_identify_rows)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
