/* The rules table and the known list as files: loading, errors naming
 * file:line, XFAIL/XPASS matching. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "differ.h"

static char tmpdir[] = "/tmp/differ-files-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

struct bad_file {
	const char *file;
	int line;
	const char *text;
	const char *error; /* substring after "path:" */
};

#define B(text, error)                                                                                       \
	{                                                                                                    \
		__FILE__, __LINE__, text, error                                                              \
	}

static const struct bad_file bad_rules[] = {
    B("a\t*\tany\t*\n", ":1: expected 6 tab-separated columns"),
    B("# c\n\nok\t*\tany\t*\t*\tx\nBad.Class\t*\tany\t*\t*\tx\n", ":4: class 'Bad.Class'"),
    B("x\t*\tsmm\t*\t*\td\n", ":1: unknown mode 'smm'"),
    B("x\t*\tany\tmaybe\t*\td\n", ":1: unknown condition 'maybe'"),
    B("x\t*\tany\tflags=QF\t*\td\n", ":1: bad flag list"),
    B("x\tmov SS\tany\t*\t*\td\n", ":1: bad instruction pattern 'mov SS'"),
    B("x\t0f 01 /9\tany\t*\t*\td\n", ":1: bad instruction pattern"),
    B("x\t*\tany\t*\t*\t{nope} here\n", ":1: detail: unknown placeholder {nope}"),
    B("x\t*\tany\t*\t*\t{field\n", ":1: detail: unclosed '{'"),
    B("x\t*\tany\t*\t*\td\textra\n", ":1: expected 6 tab-separated columns"),
    B("# only comments\n", ":1: no rules in the table"),
    B("x\t*\tany\t*\t,\td\n", ":1: bad field pattern"),
};

static const struct bad_file bad_known[] = {
    B("emu\tiret.real\n", ":1: expected backend<TAB>class<TAB>step-or-*<TAB>comment"),
    B("# c\nemu\tiret.real\tlater\tx\n", ":2: steps must be *, N, N-M or a comma list of those, not 'later'"),
    B("emu\tiret.real\t12x\tx\n", ":1: steps must be *, N, N-M"),
    B("emu\tiret.real\t12-10\tx\n", ":1: steps must be *, N, N-M"),
    B("emu\tiret.real\t1,\tx\n", ":1: steps must be *, N, N-M"),
    B("[guest=io.bin\nemu\tiret.real\t1\tx\n", ":1: a scope line must end with ']'"),
    B("# c\n[trace=io.bin]\n", ":2: unknown scope key (guest, reference, replay): 'trace'"),
    B("[guest]\n", ":1: expected key=glob in the scope, not 'guest'"),
    B("[guest=a guest=b]\n", ":1: scope key given twice: 'guest'"),
    B("emu\tIRET\t*\tx\n", ":1: bad class 'IRET'"),
    B("\tiret.real\t*\tx\n", ":1: bad backend name"),
};

static void test_bad_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_rules) / sizeof(bad_rules[0]); i++) {
		const struct bad_file *b = &bad_rules[i];
		struct differ_rules *r = (struct differ_rules *)1;
		char err[300] = "", want[300];
		const char *path = write_file("rules.tsv", b->text);
		int ret = differ_rules_load(path, &r, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, b->error);
		if (ret != -EINVAL || r != NULL)
			fail_msg("%s:%d: load returned %d, want -EINVAL", b->file, b->line, ret);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("%s:%d: error '%s', want it to start with '%s'", b->file, b->line, err,
			         want);
	}
}

static void test_bad_known(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_known) / sizeof(bad_known[0]); i++) {
		const struct bad_file *b = &bad_known[i];
		struct differ_known *k = (struct differ_known *)1;
		char err[300] = "", want[300];
		const char *path = write_file("known.tsv", b->text);
		int ret = differ_known_load(path, &k, err, sizeof(err));
		snprintf(want, sizeof(want), "%s%s", path, b->error);
		if (ret != -EINVAL || k != NULL)
			fail_msg("%s:%d: load returned %d, want -EINVAL", b->file, b->line, ret);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("%s:%d: error '%s', want it to start with '%s'", b->file, b->line, err,
			         want);
	}
}

static void test_missing_files(void **state)
{
	struct differ_rules *r;
	struct differ_known *k;
	char err[300];
	(void)state;
	assert_int_equal(differ_rules_load("/nonexistent/rules.tsv", &r, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/rules.tsv: cannot open"));
	assert_int_equal(differ_known_load("/nonexistent/known.tsv", &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/known.tsv: cannot open"));
}

/* A table loaded from a path replaces the built-in one; first matching row wins. */
static void test_rules_from_path(void **state)
{
	struct differ_rules *r;
	char err[300];
	struct x86_state pre, exp;
	static struct backend_result res;
	static struct differ_divergence d;
	const uint8_t insn[] = {0x01, 0xd8};
	(void)state;

	const char *path = write_file(
	    "rules.tsv", "# custom\r\n"
	                 "my.first\tadd\tprot\t*\t=rax\tfirst: {field} {exp}->{act} in {mnemonic}\r\n"
	                 "my.second\tadd\tany\t*\t*\tsecond\r\n");
	assert_int_equal(differ_rules_load(path, &r, err, sizeof(err)), 0);
	assert_int_equal(differ_rules_count(r), 2);
	assert_int_equal(differ_rules_line(r, 1), 3);

	x86_state_real(&pre, 0, 0x100, 0x1000);
	pre.cr0 |= X86_CR0_PE;
	pre.seg[X86_CS].attr |= X86_SEG_DB;
	exp = pre;
	exp.rip += 2;
	memset(&res, 0, sizeof(res));
	res.post = exp;
	res.post.gpr[X86_RAX] = 3;
	struct differ_input in = {.backend = "emu",
	                          .mode = X86_MODE_PROT32,
	                          .insn = insn,
	                          .insn_len = 2,
	                          .pre = &pre,
	                          .expected = &exp,
	                          .actual = &res};
	assert_int_equal(differ_compare(r, &in, &d), 1);
	assert_string_equal(d.cls, "my.first");
	assert_string_equal(d.detail, "first: rax 0->0x3 in add");
	/* Real mode: the first row's mode excludes it, the second matches. */
	in.mode = X86_MODE_REAL;
	assert_int_equal(differ_compare(r, &in, &d), 1);
	assert_string_equal(d.cls, "my.second");
	/* With rbx differing too, "=rax" no longer holds. */
	in.mode = X86_MODE_PROT32;
	res.post.gpr[X86_RBX] = 1;
	assert_int_equal(differ_compare(r, &in, &d), 1);
	assert_string_equal(d.cls, "my.second");
	differ_rules_free(r);
}

/* The shipped files load from their paths; the table equals the built-in copy. */
static void test_shipped_files(void **state)
{
	const char *src = getenv("EMUDIFF_SOURCE");
	struct differ_rules *builtin, *file;
	struct differ_known *k;
	char path[512], err[300];
	(void)state;

	if (!src)
		skip();
	assert_int_equal(differ_rules_default(&builtin), 0);
	snprintf(path, sizeof(path), "%s/differ/classes.tsv", src);
	if (differ_rules_load(path, &file, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(differ_rules_count(file), differ_rules_count(builtin));
	for (size_t i = 0; i < differ_rules_count(file); i++) {
		assert_string_equal(differ_rules_class(file, i), differ_rules_class(builtin, i));
		assert_int_equal(differ_rules_line(file, i), differ_rules_line(builtin, i));
	}
	differ_rules_free(file);
	differ_rules_free(builtin);
	snprintf(path, sizeof(path), "%s/differ/known.tsv", src);
	if (differ_known_load(path, &k, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	differ_known_free(k);
	/* The corpus regression test's list. */
	snprintf(path, sizeof(path), "%s/corpus/known.tsv", src);
	if (access(path, F_OK) == 0) {
		if (differ_known_load(path, &k, err, sizeof(err)) < 0)
			fail_msg("%s", err);
		differ_known_free(k);
	}
}

static struct differ_divergence *div_of(const char *backend, const char *cls, uint64_t step)
{
	static struct differ_divergence d;
	memset(&d, 0, sizeof(d));
	snprintf(d.backend, sizeof(d.backend), "%s", backend);
	snprintf(d.cls, sizeof(d.cls), "%s", cls);
	d.step = step;
	return &d;
}

static void test_known_matching(void **state)
{
	struct differ_known *k;
	char err[300];
	(void)state;

	const char *path =
	    write_file("known.tsv", "# backend\tclass\tstep\tcomment\n"
	                            "unicorn\tiret.pm_outer\t*\tunicorn 2.0.1 does not null DS\n"
	                            "emu\tshadow.mov_ss\t1234\tone step only\n"
	                            "*\tbackend.unsupported\t*\n"
	                            "emu\tiret.*\t*\tglob on class\n"
	                            "kvm\tcpuid\t*\tnever happens\n");
	assert_int_equal(differ_known_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(differ_known_count(k), 5);

	assert_true(differ_known_match(k, div_of("unicorn", "iret.pm_outer", 7)));
	assert_true(differ_known_match(k, div_of("unicorn", "iret.pm_outer", 9)));
	assert_true(differ_known_match(k, div_of("emu", "iret.pm_same", 7)));
	assert_true(differ_known_match(k, div_of("emu", "shadow.mov_ss", 1234)));
	assert_false(differ_known_match(k, div_of("emu", "shadow.mov_ss", 1235)));
	assert_false(differ_known_match(k, div_of("unicorn", "shadow.mov_ss", 1234)));
	assert_true(differ_known_match(k, div_of("kvm", "backend.unsupported", 1)));
	assert_true(differ_known_match(k, div_of("emu", "backend.unsupported", 2)));
	assert_false(differ_known_match(k, div_of("emu", "flags.defined", 2)));

	assert_int_equal(differ_known_hits(k, 0), 2);
	assert_int_equal(differ_known_hits(k, 1), 1);
	assert_int_equal(differ_known_hits(k, 2), 2);
	assert_int_equal(differ_known_hits(k, 3), 1);
	assert_int_equal(differ_known_hits(k, 4), 0); /* XPASS candidate */
	differ_known_free(k);
}

/* Scope lines restrict the entries below them; step lists and ranges. */
static void test_known_scopes(void **state)
{
	struct differ_known *k;
	char err[300];
	(void)state;

	const char *path = write_file("known.tsv", "unicorn\tshadow.mov_ss\t4\tevery trace\n"
	                                           "[guest=io.bin reference=kvm-emulator]\n"
	                                           "emu\tstring.rep\t250-260,391\tio only\n"
	                                           "[guest=strings.bin replay=continuous]\n"
	                                           "emu\tstring.rep\t*\tstrings, continuous\n"
	                                           "[]\n"
	                                           "kvm\tio\t7\tevery trace again\n");
	assert_int_equal(differ_known_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(differ_known_count(k), 4);
	assert_string_equal(differ_known_steps(k, 1), "250-260,391");

	/* Before the run is named, scoped entries apply nowhere. */
	assert_true(differ_known_match(k, div_of("unicorn", "shadow.mov_ss", 4)));
	assert_false(differ_known_match(k, div_of("emu", "string.rep", 250)));
	assert_false(differ_known_active(k, 1));

	differ_known_set_run(k, "io.bin", "kvm-emulator", "per-step");
	assert_true(differ_known_active(k, 0));
	assert_true(differ_known_active(k, 1));
	assert_false(differ_known_active(k, 2));
	assert_true(differ_known_active(k, 3));
	assert_true(differ_known_match(k, div_of("emu", "string.rep", 250)));
	assert_true(differ_known_match(k, div_of("emu", "string.rep", 260)));
	assert_true(differ_known_match(k, div_of("emu", "string.rep", 391)));
	assert_false(differ_known_match(k, div_of("emu", "string.rep", 261)));
	assert_false(differ_known_match(k, div_of("emu", "string.rep", 249)));
	assert_true(differ_known_match(k, div_of("kvm", "io", 7)));

	differ_known_set_run(k, "io.bin", "silicon", "per-step");
	assert_false(differ_known_match(k, div_of("emu", "string.rep", 250)));

	differ_known_set_run(k, "strings.bin", "kvm-emulator", "per-step");
	assert_false(differ_known_match(k, div_of("emu", "string.rep", 11)));
	differ_known_set_run(k, "strings.bin", "kvm-emulator", "continuous");
	assert_true(differ_known_match(k, div_of("emu", "string.rep", 11)));
	assert_false(differ_known_active(k, 1));

	assert_int_equal(differ_known_hits(k, 1), 3);
	assert_int_equal(differ_known_hits(k, 2), 1);
	differ_known_free(k);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[300];
	(void)state;
	snprintf(path, sizeof(path), "%s/rules.tsv", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/known.tsv", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_rules),      cmocka_unit_test(test_bad_known),
	    cmocka_unit_test(test_missing_files),  cmocka_unit_test(test_rules_from_path),
	    cmocka_unit_test(test_known_matching), cmocka_unit_test(test_shipped_files),
	    cmocka_unit_test(test_known_scopes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
