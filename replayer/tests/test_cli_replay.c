/* The replay, diff, bisect and report subcommands through the emudiff binary: exit statuses and messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "synth.h"

static char *clean_trace, *planted_trace;

struct run {
	int status;
	char out[65536];
	char err[8192];
};

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}

/* Runs emudiff with args (already shell-quoted where needed). */
static void run(struct run *r, const char *args)
{
	const char *bin = getenv("EMUDIFF_BIN");
	char *out = synth_tmp(".out"), *err = synth_tmp(".err"), cmd[4096];
	assert_non_null(bin);
	snprintf(cmd, sizeof(cmd), "'%s' %s >%s 2>%s </dev/null", bin, args, out, err);
	int st = system(cmd);
	assert_true(WIFEXITED(st));
	r->status = WEXITSTATUS(st);
	read_file(out, r->out, sizeof(r->out));
	read_file(err, r->err, sizeof(r->err));
	unlink(out), unlink(err);
	free(out), free(err);
}

static const struct {
	const char *args; /* %s: the clean trace */
	int status;
	const char *message; /* on stderr */
	int line;
} usage_rows[] = {
    {"replay", 2, "missing TRACE", __LINE__},
    {"replay /nonexistent/trace.db", 2, "/nonexistent/trace.db", __LINE__},
    {"replay %s --shard 0/3", 2, "--shard", __LINE__},
    {"replay %s --shard 2", 2, "--shard", __LINE__},
    {"replay %s --from abc", 2, "--from", __LINE__},
    {"replay %s --to", 2, "--to", __LINE__},
    {"replay %s --backends emu,foo", 2, "foo", __LINE__},
    {"replay %s --bogus", 2, "--bogus", __LINE__},
    {"replay %s --from 5 --to 2", 2, "--from", __LINE__},
    {"replay %s --from 100", 2, "--from", __LINE__},
    {"replay %s --known /nonexistent/known.tsv", 2, "/nonexistent/known.tsv", __LINE__},
    {"replay %s %s", 2, "exactly one TRACE", __LINE__},
    {"replay /", 2, "not a regular file", __LINE__},
    {"diff %s", 2, "--step", __LINE__},
    {"diff %s --step 99", 2, "--step 99", __LINE__},
    {"diff /nonexistent/trace.db --step 1", 2, "/nonexistent/trace.db", __LINE__},
    {"bisect", 2, "missing TRACE", __LINE__},
    {"bisect %s --backend qemu", 2, "qemu", __LINE__},
    {"bisect --commits HEAD %s", 2, "GOOD..BAD", __LINE__},
    {"report", 2, "missing RESULTS", __LINE__},
    {"report /nonexistent/results.db", 2, "/nonexistent/results.db", __LINE__},
};

static void test_usage_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(usage_rows) / sizeof(usage_rows[0]); i++) {
		struct run *r = calloc(1, sizeof(*r));
		char args[1024];
		snprintf(args, sizeof(args), usage_rows[i].args, clean_trace, clean_trace);
		run(r, args);
		if (r->status != usage_rows[i].status || !strstr(r->err, usage_rows[i].message) ||
		    strchr(r->err, '\n') != r->err + strlen(r->err) - 1)
			fail_msg(
			    "%s:%d: emudiff %s: status %d, stderr '%s'; want %d and one line naming '%s'",
			    __FILE__, usage_rows[i].line, args, r->status, r->err, usage_rows[i].status,
			    usage_rows[i].message);
		free(r);
	}
}

static void test_replay_exit_status(void **state)
{
	struct run *r = calloc(1, sizeof(*r));
	char args[1024];
	(void)state;
	snprintf(args, sizeof(args), "replay %s --backends emu", clean_trace);
	run(r, args);
	if (r->status != 0)
		fail_msg("clean trace: status %d\n%s\n%s", r->status, r->out, r->err);
	assert_true(!strncmp(r->out, "reference: kvm-emulator", strlen("reference: kvm-emulator")));

	snprintf(args, sizeof(args), "replay %s --backends emu --continuous", planted_trace);
	run(r, args);
	if (r->status != 1)
		fail_msg("planted trace: status %d\n%s\n%s", r->status, r->out, r->err);
	free(r);
}

static void test_replay_writes_results_and_report_rerenders(void **state)
{
	struct run *r = calloc(1, sizeof(*r)), *r2 = calloc(1, sizeof(*r2));
	char *db = synth_tmp(".results.db"), *html = synth_tmp(".html"), args[1024];
	(void)state;
	snprintf(args, sizeof(args), "replay %s --backends emu -o %s", planted_trace, db);
	run(r, args);
	assert_int_equal(r->status, 1);
	snprintf(args, sizeof(args), "report %s --html %s", db, html);
	run(r2, args);
	assert_int_equal(r2->status, 1);
	assert_true(access(html, R_OK) == 0);
	/* The report of the database is the report the replay printed. */
	assert_true(strlen(r2->out) > 0);
	assert_true(!strncmp(r->out, r2->out, strlen(r2->out)));
	unlink(db), unlink(html);
	free(db), free(html), free(r), free(r2);
}

static void test_bisect_and_diff(void **state)
{
	struct run *r = calloc(1, sizeof(*r));
	char args[1024];
	(void)state;
	snprintf(args, sizeof(args), "bisect %s", planted_trace);
	run(r, args);
	if (r->status != 1 || !strstr(r->out, "first divergent step: 4 "))
		fail_msg("bisect: status %d\n%s\n%s", r->status, r->out, r->err);
	assert_non_null(strstr(r->out, "continuous replay"));

	snprintf(args, sizeof(args), "bisect %s", clean_trace);
	run(r, args);
	assert_int_equal(r->status, 0);

	snprintf(args, sizeof(args), "diff %s --step 4 --backends emu", planted_trace);
	run(r, args);
	if (r->status != 1)
		fail_msg("diff: status %d\n%s\n%s", r->status, r->out, r->err);
	/* rax: pre 1236, recorded 5555, emu 1236 marked. */
	char *line = strstr(r->out, "\nrax ");
	assert_non_null(line);
	char *eol = strchr(line + 1, '\n');
	assert_non_null(eol);
	*eol = 0;
	assert_non_null(strstr(line, "5555"));
	assert_non_null(strstr(line, "1236"));
	assert_non_null(strchr(line, '*'));
	free(r);
}

static int setup(void **state)
{
	(void)state;
	clean_trace = synth_tmp(".db");
	planted_trace = synth_tmp(".db");
	if (synth_trace(clean_trace, SYNTH_CLEAN) || synth_trace(planted_trace, SYNTH_BAD_RAX_AT_4))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(clean_trace), unlink(planted_trace);
	free(clean_trace), free(planted_trace);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_replay_exit_status),
	    cmocka_unit_test(test_replay_writes_results_and_report_rerenders),
	    cmocka_unit_test(test_bisect_and_diff),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
