/* x86_desc_to_segment and x86_desc_to_gate: code, data and system descriptors, the G bit's limit
 * scaling, every attribute bit, and call, interrupt, trap and task gates, a row each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x86_desc.h"

static const struct {
	const char *what;
	uint64_t desc;
	uint16_t sel;
	uint64_t base;
	uint32_t limit;
	uint32_t attr;
} seg_rows[] = {
    {"flat 32-bit code, DPL 0, page granular", 0x00cf9a000000ffffull, 0x08, 0, 0xffffffffu, 0xc09a},
    {"64-bit code (L), accessed", 0x00af9b000000ffffull, 0x2b, 0, 0xffffffffu, 0xa09b},
    {"byte-granular 32-bit data, base in three pieces", 0x1245923456784321ull, 0x10, 0x12345678, 0x54321,
     0x4092},
    {"G scales a limit of 1 to 0x1fff", 0x0080f30000000001ull, 0x53, 0, 0x1fff, 0x80f3},
    {"busy 32-bit TSS (S = 0)", 0x00008b0060000067ull, 0x58, 0x6000, 0x67, 0x008b},
    {"LDT with AVL", 0xab1082cdef010fffull, 0xa0, 0xabcdef01, 0xfff, 0x1082},
    {"not-present expand-down data", 0x000016000000ffffull, 0x18, 0, 0xffff, 0x0016},
};

static void test_segment(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(seg_rows) / sizeof(seg_rows[0]); k++) {
		struct x86_segment s;
		memset(&s, 0xa5, sizeof(s));
		x86_desc_to_segment(seg_rows[k].desc, seg_rows[k].sel, &s);
		print_message("%s\n", seg_rows[k].what);
		assert_int_equal(s.selector, seg_rows[k].sel);
		assert_int_equal(s.base, seg_rows[k].base);
		assert_int_equal(s.limit, seg_rows[k].limit);
		assert_int_equal(s.attr, seg_rows[k].attr);
	}
}

static const struct {
	const char *what;
	uint64_t lo, hi;
	struct x86_gate want;
} gate_rows[] = {
    {"32-bit interrupt gate",
     0x12348e0000085678ull,
     0,
     {.offset = 0x12345678, .selector = 0x08, .type = X86_DESC_INT32, .present = true}},
    {"16-bit trap gate keeps offset bits 15:0",
     0xffff87000010abcdull,
     0,
     {.offset = 0xabcd, .selector = 0x10, .type = X86_DESC_TRAP16, .present = true}},
    {"long-mode interrupt gate, IST 2, DPL 3",
     0x5678ee0200281234ull,
     0xffffffffull,
     {.offset = 0xffffffff56781234ull,
      .selector = 0x28,
      .type = X86_DESC_INT32,
      .dpl = 3,
      .present = true,
      .params = 2,
      .ist = 2}},
    {"32-bit call gate, 5 parameters",
     0x0000ec0500181000ull,
     0,
     {.offset = 0x1000,
      .selector = 0x18,
      .type = X86_DESC_CALL32,
      .dpl = 3,
      .present = true,
      .params = 5,
      .ist = 5}},
    {"16-bit call gate, 31 parameters",
     0x1234e41f00182000ull,
     0,
     {.offset = 0x2000,
      .selector = 0x18,
      .type = X86_DESC_CALL16,
      .dpl = 3,
      .present = true,
      .params = 31,
      .ist = 7}},
    {"not-present task gate", 0x0000050000580000ull, 0, {.selector = 0x58, .type = X86_DESC_TASK}},
    {"a code segment read as a gate has S in type",
     0x00cf9a000000ffffull,
     0,
     {.offset = 0xcfffff, .type = 0x1a, .present = true}},
};

static void test_gate(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(gate_rows) / sizeof(gate_rows[0]); k++) {
		struct x86_gate g;
		const struct x86_gate *w = &gate_rows[k].want;
		memset(&g, 0xa5, sizeof(g));
		x86_desc_to_gate(gate_rows[k].lo, gate_rows[k].hi, &g);
		print_message("%s\n", gate_rows[k].what);
		assert_int_equal(g.offset, w->offset);
		assert_int_equal(g.selector, w->selector);
		assert_int_equal(g.type, w->type);
		assert_int_equal(g.dpl, w->dpl);
		assert_int_equal(g.present, w->present);
		assert_int_equal(g.params, w->params);
		assert_int_equal(g.ist, w->ist);
	}
}

static void test_base64(void **state)
{
	(void)state;
	struct x86_segment s;
	x86_desc_to_segment(0x00008b0060000067ull, 0x58, &s);
	assert_int_equal(x86_desc_base64(&s, 0xdeadbeef12345678ull), 0x1234567800006000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_segment),
	    cmocka_unit_test(test_gate),
	    cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
