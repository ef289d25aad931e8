/* x86/x86_format.h: field text in both styles, the unobserved masks, and the side-by-side table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86_format.h"

/* clang-format off */
static const struct {
	const char *field;
	uint64_t lo, hi;
	unsigned flags;
	const char *text;
	int line;
} rows[] = {
    {"rax", 0, 0, 0, "0", __LINE__},
    {"rax", 0, 0, X86_FORMAT_0X, "0", __LINE__},
    {"rax", 0x1234, 0, 0, "1234", __LINE__},
    {"rax", 0x1234, 0, X86_FORMAT_0X, "0x1234", __LINE__},
    {"rax", UINT64_MAX, 0, X86_FORMAT_0X, "0xffffffffffffffff", __LINE__},
    {"xmm3", 0x0123456789abcdefull, 0xfedcba9876543210ull, 0, "fedcba98765432100123456789abcdef", __LINE__},
    {"xmm3", 1, 0, X86_FORMAT_0X, "0x00000000000000000000000000000001", __LINE__},
    {"xmm3", 0, 0, X86_FORMAT_0X, "0x00000000000000000000000000000000", __LINE__},
};
/* clang-format on */

/* clang-format off */
static const struct {
	const char *field;
	uint64_t a, b;
	const char *text;
	int line;
} bit_rows[] = {
    {"rflags", 0x42, 0x12, "AF 0 -> 1, ZF 1 -> 0", __LINE__},
    {"rflags", 0x2, 0x3002, "IOPL 0 -> 3", __LINE__},
    {"rflags", 0x2, 0x2, "", __LINE__},
    {"rflags", 0x2, 0x400002, "bit22 0 -> 1", __LINE__},
    {"cs.attr", 0xc09b, 0xc09a, "A 1 -> 0", __LINE__},
    {"ss.attr", 0xc093, 0xc0f3, "DPL 0 -> 3", __LINE__},
    {"ds.attr", 0xc093, 0xc09b, "type 3 -> 11", __LINE__},
    {"tr.attr", 0x8b, 0x1008b, "unusable 0 -> 1", __LINE__},
    {"ldtr.attr", 0xa09b, 0xc09b, "L 1 -> 0, D/B 0 -> 1", __LINE__},
    {"es.attr", 0x93, 0x8093, "G 0 -> 1", __LINE__},
    {"cr0", 0x11, 0x80000011, "PG 0 -> 1", __LINE__},
    {"cr4", 0x20, 0x1020, "LA57 0 -> 1", __LINE__},
    {"efer", 0x500, 0xd01, "SCE 0 -> 1, NXE 0 -> 1", __LINE__},
    {"dr6", 0xffff0ff0, 0xffff4ff0, "BS 0 -> 1", __LINE__},
    {"dr7", 0x400, 0x30402, "G0 0 -> 1, RW0 0 -> 3", __LINE__},
    {"rax", 1, 2, "", __LINE__},
    {"cs.base", 1, 2, "", __LINE__},
};
/* clang-format on */

static void test_bit_changes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bit_rows) / sizeof(bit_rows[0]); i++) {
		char buf[128];
		const struct x86_field *f = x86_field_find(bit_rows[i].field);
		assert_non_null(f);
		size_t n = x86_format_bit_changes(f, bit_rows[i].a, bit_rows[i].b, buf, sizeof(buf));
		if (strcmp(buf, bit_rows[i].text) || n != strlen(buf))
			fail_msg("%s:%d: %s: '%s' (%zu), want '%s'", __FILE__, bit_rows[i].line,
			         bit_rows[i].field, buf, n, bit_rows[i].text);
	}
	/* A short buffer truncates and stays terminated. */
	char small[8];
	size_t n = x86_format_bit_changes(x86_field_find("rflags"), 0x42, 0x12, small, sizeof(small));
	assert_string_equal(small, "AF 0 ->");
	assert_int_equal(n, 7);
}

static void set_field(struct x86_state *st, const struct x86_field *f, uint64_t lo, uint64_t hi)
{
	uint8_t *p = (uint8_t *)st + f->offset;
	memcpy(p, &lo, f->size < 8 ? f->size : 8);
	if (f->size == 16)
		memcpy(p + 8, &hi, 8);
}

static void test_field_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct x86_state st;
		char buf[40];
		const struct x86_field *f = x86_field_find(rows[i].field);
		assert_non_null(f);
		memset(&st, 0, sizeof(st));
		set_field(&st, f, rows[i].lo, rows[i].hi);
		x86_format_field(&st, f, rows[i].flags, buf, sizeof(buf));
		if (strcmp(buf, rows[i].text))
			fail_msg("%s:%d: %s: '%s', want '%s'", __FILE__, rows[i].line, rows[i].field, buf,
			         rows[i].text);
	}
}

static void test_masks(void **state)
{
	struct x86_state a, b, mask;
	const struct x86_field *rax = x86_field_find("rax"), *rbx = x86_field_find("rbx");
	(void)state;
	memset(&a, 0, sizeof(a));
	b = a;
	memset(&mask, 0, sizeof(mask));
	assert_false(x86_field_differs(&a, &b, rax));
	b.gpr[X86_RAX] = 1ull << 63;
	assert_true(x86_field_differs(&a, &b, rax));
	assert_false(x86_field_differs(&a, &b, rbx));
	memset(&mask.gpr[X86_RAX], 0xff, 1);
	assert_true(x86_field_masked_any(&mask, rax));
	assert_false(x86_field_masked_all(&mask, rax));
	memset(&mask.gpr[X86_RAX], 0xff, 8);
	assert_true(x86_field_masked_all(&mask, rax));
	assert_false(x86_field_masked_any(&mask, rbx));
}

static void test_diff_table(void **state)
{
	struct x86_state pre, exp, post, mask;
	char *text = NULL;
	size_t len = 0;
	(void)state;
	memset(&pre, 0, sizeof(pre));
	pre.rip = 0x100;
	exp = pre;
	exp.rip = 0x102;
	exp.gpr[X86_RAX] = 5;
	post = exp;
	post.gpr[X86_RAX] = 6;
	post.gpr[X86_RBX] = 7;
	post.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_AF;
	exp.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_ZF;
	memset(&mask, 0, sizeof(mask));
	memset(&mask.gpr[X86_RBX], 0xff, sizeof(mask.gpr[X86_RBX]));
	struct x86_diff_column col = {"emu", &post, &mask};
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	x86_print_diff(f, &pre, &exp, &col, 1);
	fclose(f);
	/* rip always, rax where the backend differs (marked), rbx unobserved ("-", unmarked). */
	assert_non_null(
	    strstr(text, "field            pre                recorded           emu                \n"));
	assert_non_null(
	    strstr(text, "\nrax              0                  5                  6                 *\n"));
	assert_non_null(
	    strstr(text, "\nrbx              0                  0                  -                  \n"));
	assert_non_null(
	    strstr(text, "\nrip              100                102                102                \n"));
	assert_null(strstr(text, "\nrcx "));
	/* The raw values, then the named bits against the recording. */
	assert_non_null(strstr(text, "\nrflags           0                  42                 12            "
	                             "    * AF 0 -> 1, ZF 1 -> 0\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_field_text),
	    cmocka_unit_test(test_masks),
	    cmocka_unit_test(test_bit_changes),
	    cmocka_unit_test(test_diff_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
