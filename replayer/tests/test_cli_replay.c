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
#include <sqlite3.h>

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
    {"replay %s -o %s", 2, "input file", __LINE__},
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

/* JUnit of a shard or a step range names the trace and the part in every suite. */
static void test_junit_names_the_part(void **state)
{
	static const struct {
		const char *opts;
		const char *suite; /* after "emudiff.<trace file name>" */
	} rows[] = {
	    {"--shard 2/2", "[shard 2/2].emu\""},
	    {"--from 1 --to 3", "[steps 1..3].emu\""},
	    {"", ".emu\""},
	};
	struct run *r = calloc(1, sizeof(*r));
	char *xml = synth_tmp(".xml"), args[1024], *buf = malloc(65536), want[512];
	const char *base = strrchr(planted_trace, '/') + 1;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(args, sizeof(args), "replay %s --backends emu %s --junit %s", planted_trace,
		         rows[i].opts, xml);
		run(r, args);
		read_file(xml, buf, 65536);
		snprintf(want, sizeof(want), "<testsuite name=\"emudiff.%s%s", base, rows[i].suite);
		if (r->status > 1 || !strstr(buf, want))
			fail_msg("%s: status %d, want %s in\n%s\n%s", rows[i].opts, r->status, want, buf,
			         r->err);
		snprintf(args, sizeof(args), "xmllint --noout --schema '%s/differ/tests/junit.xsd' '%s'",
		         getenv("EMUDIFF_SOURCE"), xml);
		assert_int_equal(system(args), 0);
	}
	unlink(xml);
	free(xml), free(buf), free(r);
}

/* A blob damaged after the replay: report exits 2 with one line naming the file, the table and the step. */
static void test_report_refuses_damaged_blob(void **state)
{
	struct run *r = calloc(1, sizeof(*r));
	char *db = synth_tmp(".damaged.db"), args[1024], want[600];
	sqlite3 *sql;
	(void)state;
	snprintf(args, sizeof(args), "replay %s --backends emu -o %s", planted_trace, db);
	run(r, args);
	assert_int_equal(r->status, 1);
	assert_int_equal(sqlite3_open(db, &sql), SQLITE_OK);
	assert_int_equal(sqlite3_exec(sql,
	                              "UPDATE divergence SET expected = zeroblob(length(expected))"
	                              " WHERE id = (SELECT min(id) FROM divergence)",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_changes(sql), 1);
	sqlite3_close(sql);
	snprintf(args, sizeof(args), "report %s", db);
	run(r, args);
	snprintf(want, sizeof(want), "emudiff report: %s: divergence row at step ", db);
	if (r->status != 2 || strncmp(r->err, want, strlen(want)) ||
	    !strstr(r->err, "): a damaged blob (checksum mismatch)\n") ||
	    strchr(r->err, '\n') != r->err + strlen(r->err) - 1 || r->out[0])
		fail_msg("status %d, stdout '%s', stderr '%s'; want 2 and one line '%s...'", r->status,
		         r->out, r->err, want);
	unlink(db);
	free(db), free(r);
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
	/* The table's columns, to the byte: name 16, values 18, a mark after each backend's value. */
	assert_string_equal(line + 1,
	                    "rax              1236               5555               1236              *");
	assert_non_null(
	    strstr(r->out, "\nfield            pre                recorded           emu                \n"));
	free(r);
}

/* info counts the steps that ran native code beside RUN and FALLBACK steps, by their kind or, in a trace
 * without it, by the rule; diff names such a step and compares nothing; replay's summary line counts it. */
static void test_native_steps_counted(void **state)
{
	static const struct {
		const char *reference;
		enum synth_iretq how;
		const char *steps;    /* info's steps line */
		const char *diff;     /* in diff --step 0's output */
		const char *replayed; /* the end of replay's not compared: line */
		int line;
	} rows[] = {
	    {"kvm-emulator", SYNTH_IRETQ_RAN_PAST,
	     "(instructions 2, unrecorded runs 0, emu fallbacks 0, instruction then native code 1)",
	     "step 0 is a NATIVE step", ", 1 NATIVE steps (", __LINE__},
	    {"kvm-emulator", SYNTH_IRETQ_NATIVE_KIND,
	     "(instructions 2, unrecorded runs 0, emu fallbacks 0, instruction then native code 1)",
	     "step 0 is a NATIVE step", ", 1 NATIVE steps (", __LINE__},
	    {"kvm-emulator", SYNTH_IRETQ_AT_TARGET,
	     "(instructions 3, unrecorded runs 0, emu fallbacks 0, instruction then native code 0)", "\nrip ",
	     ", 0 NATIVE steps (", __LINE__},
	    {"silicon", SYNTH_IRETQ_RAN_PAST,
	     "(instructions 3, unrecorded runs 0, emu fallbacks 0, instruction then native code 0)", "\nrip ",
	     ", 0 NATIVE steps (", __LINE__},
	};
	struct run *r = calloc(1, sizeof(*r));
	char args[1024];
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *path = synth_tmp(".db");
		assert_int_equal(synth_iretq_trace(path, rows[i].reference, rows[i].how), 0);
		snprintf(args, sizeof(args), "info %s", path);
		run(r, args);
		if (r->status != 0 || !strstr(r->out, rows[i].steps))
			fail_msg("line %d: info: status %d\n%s\n%s", rows[i].line, r->status, r->out, r->err);
		snprintf(args, sizeof(args), "diff %s --step 0 --backends emu", path);
		run(r, args);
		if (!strstr(r->out, rows[i].diff))
			fail_msg("line %d: diff: status %d\n%s\n%s", rows[i].line, r->status, r->out, r->err);
		char *json = synth_tmp(".json"), *junit = synth_tmp(".xml"), *html = synth_tmp(".html");
		snprintf(args, sizeof(args), "replay %s --backends emu --json %s --junit %s --html %s", path,
		         json, junit, html);
		run(r, args);
		if (!strstr(r->out, rows[i].replayed))
			fail_msg("line %d: replay: status %d\n%s\n%s", rows[i].line, r->status, r->out,
			         r->err);
		/* The reports say the same count. */
		unsigned native = rows[i].replayed[2] == '1';
		char want[3][96];
		snprintf(want[0], sizeof(want[0]), "\"native_steps\": %u,", native);
		snprintf(want[1], sizeof(want[1]), "<property name=\"native_steps\" value=\"%u\"/>", native);
		snprintf(want[2], sizeof(want[2]), ", %u NATIVE steps (", native);
		const char *files[3] = {json, junit, html};
		for (int k = 0; k < 3; k++) {
			read_file(files[k], r->out, sizeof(r->out));
			if (!strstr(r->out, want[k]))
				fail_msg("line %d: %s lacks '%s'", rows[i].line, files[k], want[k]);
			unlink(files[k]);
		}
		free(json), free(junit), free(html);
		unlink(path);
		free(path);
	}
	free(r);
}

/* A file that is not a trace (or not a results database) is bad input, named in a one-line message. */
static void test_not_a_trace(void **state)
{
	static const char *const cmds[] = {"replay %s", "diff %s --step 0", "bisect %s", "report %s"};
	char *path = synth_tmp(".db"), args[1024];
	struct run *r = calloc(1, sizeof(*r));
	FILE *f = fopen(path, "w");
	(void)state;
	assert_non_null(f);
	fputs("not a trace\n", f);
	fclose(f);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(args, sizeof(args), cmds[i], path);
		run(r, args);
		if (r->status != 2 || !strstr(r->err, path))
			fail_msg("emudiff %s: status %d, stderr '%s'; want 2 naming the file", args,
			         r->status, r->err);
	}
	unlink(path);
	free(path), free(r);
}

/* Runs cmd through sh; returns its exit status and fills r's stdout/stderr. */
static int run_sh(struct run *r, const char *cmd)
{
	char *out = synth_tmp(".out"), *err = synth_tmp(".err"), *full = malloc(strlen(cmd) + 1024);
	assert_non_null(full);
	sprintf(full, "%s >%s 2>%s </dev/null", cmd, out, err);
	int st = system(full);
	assert_true(WIFEXITED(st));
	read_file(out, r->out, sizeof(r->out));
	read_file(err, r->err, sizeof(r->err));
	unlink(out), unlink(err);
	free(out), free(err), free(full);
	return WEXITSTATUS(st);
}

/* A known list naming a backend or class that does not exist is refused (file:line), not silently unmatched.
 */
static void test_known_typos(void **state)
{
	(void)state;
	static const struct {
		const char *entry, *message;
	} rows[] = {
	    {"unicron\tshadow.mov_ss\t4\ttypo\n", ":1: no such backend (emu, unicorn or kvm) 'unicron'"},
	    {"emu\tshadow.movss\t4\ttypo\n", ":1: no such divergence class"},
	};
	struct run *r = calloc(1, sizeof(*r));
	char *known = synth_tmp(".known.tsv"), args[2048];
	assert_non_null(r);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		FILE *f = fopen(known, "w");
		assert_non_null(f);
		fputs(rows[i].entry, f);
		fclose(f);
		snprintf(args, sizeof(args), "replay %s --backends emu --known %s", clean_trace, known);
		run(r, args);
		assert_int_equal(r->status, 2);
		if (!strstr(r->err, rows[i].message) || !strstr(r->err, known))
			fail_msg("row %zu: stderr \"%s\" lacks \"%s\"", i, r->err, rows[i].message);
	}
	unlink(known);
	free(known), free(r);
}

/* SIGINT (a CI timeout sends SIGTERM alike) stops a replay at a step boundary: exit 130, and neither its own
 * reports nor a later 'report' of its results say PASS; with workers, each stops and their parts are joined
 * into one incomplete run, the parts' files gone. A row per worker count: the file whose existence says the
 * replay is under way. */
static const struct {
	unsigned jobs;
	const char *started; /* a suffix of the results path */
} interrupted_rows[] = {
    {1, ""},
    {2, ".job2-of-2"},
};

static void test_interrupted_replay_is_not_a_pass(void **state)
{
	(void)state;
	const char *bin = getenv("EMUDIFF_BIN"), *corpus = getenv("EMUDIFF_CORPUS");
	char *trace = synth_tmp(".1m.db"), *db = synth_tmp(".int.results.db"), *junit = synth_tmp(".int.xml");
	char *junit2 = synth_tmp(".int2.xml"), *cmd = malloc(8192);
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(cmd);
	assert_non_null(r);
	assert_non_null(corpus);
	snprintf(cmd, 8192, "'%s' record --engine emu --force -o %s %s/modeswitch_1m.bin", bin, trace,
	         corpus);
	assert_int_equal(run_sh(r, cmd), 0);
	for (size_t i = 0; i < sizeof(interrupted_rows) / sizeof(interrupted_rows[0]); i++) {
		unsigned jobs = interrupted_rows[i].jobs;
		snprintf(cmd, 8192,
		         "{ '%s' replay %s --backends emu,unicorn -j %u -o %s --junit %s & p=$!; "
		         "while [ ! -e %s%s ]; do sleep 0.01; done; sleep 0.05; kill -INT $p; wait $p; }",
		         bin, trace, jobs, db, junit, db, interrupted_rows[i].started);
		int st = run_sh(r, cmd);
		if (st != 130)
			fail_msg("-j %u: interrupted replay exited %d, expected 130; stderr: %s", jobs, st,
			         r->err);
		assert_non_null(strstr(r->err, "interrupted by signal 2"));
		assert_non_null(strstr(r->out, "INCOMPLETE: the replay was interrupted before step"));
		assert_null(strstr(r->out, "PASS"));
		char xml[65536];
		read_file(junit, xml, sizeof(xml));
		assert_non_null(strstr(xml, "type=\"incomplete\""));
		snprintf(cmd, 8192, "'%s' report %s --junit %s", bin, db, junit2);
		st = run_sh(r, cmd);
		assert_int_equal(st, 130);
		assert_non_null(strstr(r->out, "INCOMPLETE"));
		assert_null(strstr(r->out, "PASS"));
		read_file(junit2, xml, sizeof(xml));
		assert_non_null(strstr(xml, "type=\"incomplete\""));
		snprintf(cmd, 8192, "ls %s.job* 2>/dev/null", db);
		if (run_sh(r, cmd) == 0)
			fail_msg("-j %u: the workers' results are left behind: %s", jobs, r->out);
		unlink(db), unlink(junit), unlink(junit2);
	}
	unlink(trace);
	free(trace), free(db), free(junit), free(junit2), free(cmd), free(r);
}

/* A worker killed from outside (the OOM killer, a stray kill) is an environment failure naming the worker,
 * its steps and the signal, and leaves neither a results database nor its parts: nothing half-written. */
static void test_killed_worker_fails_the_run(void **state)
{
	(void)state;
	const char *bin = getenv("EMUDIFF_BIN"), *corpus = getenv("EMUDIFF_CORPUS");
	char *trace = synth_tmp(".kill.db"), *db = synth_tmp(".kill.results.db"), *cmd = malloc(8192);
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(cmd);
	assert_non_null(r);
	snprintf(cmd, 8192,
	         "'%s' record --engine emu --force -o %s %s/modeswitch_1m.bin && "
	         "{ '%s' replay %s --backends emu,unicorn -j 2 -o %s & p=$!; "
	         "while [ ! -e %s.job2-of-2 ]; do sleep 0.01; done; "
	         "kill -KILL $(pgrep -P $p | head -1); wait $p; }",
	         bin, trace, corpus, bin, trace, db, db);
	int st = run_sh(r, cmd);
	if (st != 3 || !strstr(r->err, "replay worker 1 of 2 (steps 0..") ||
	    !strstr(r->err, "killed by signal 9"))
		fail_msg("exit %d, stderr '%s'", st, r->err);
	snprintf(cmd, 8192, "ls %s %s.job* 2>/dev/null", db, db);
	if (run_sh(r, cmd) == 0)
		fail_msg("files left behind: %s", r->out);
	unlink(trace);
	free(trace), free(db), free(cmd), free(r);
}

/* Without /dev/kvm (hidden in a private mount namespace) a requested kvm backend is an environment error. */
static void test_kvm_without_dev_kvm(void **state)
{
	struct run *r = calloc(1, sizeof(*r));
	char cmd[4096];
	(void)state;
	if (system("unshare -m sh -c 'mount -t tmpfs none /dev' >/dev/null 2>&1") != 0) {
		free(r);
		skip();
	}
	/* EMUDIFF_BIN and the trace become $0 and $1 of the inner shell. */
	snprintf(cmd, sizeof(cmd),
	         "unshare -m sh -c 'mount -t tmpfs none /dev && exec \"$0\" replay \"$1\" --backends "
	         "emu,kvm' '%s' '%s'",
	         getenv("EMUDIFF_BIN"), clean_trace);
	int st = run_sh(r, cmd);
	if (st != 3 || !strstr(r->err, "/dev/kvm"))
		fail_msg("status %d, stderr '%s'; want 3 naming /dev/kvm", st, r->err);
	/* kvm is not a default backend: the default replay works without /dev/kvm. */
	snprintf(cmd, sizeof(cmd),
	         "unshare -m sh -c 'mount -t tmpfs none /dev && exec \"$0\" replay \"$1\"' '%s' '%s'",
	         getenv("EMUDIFF_BIN"), clean_trace);
	st = run_sh(r, cmd);
	if (st != 0)
		fail_msg("default backends without /dev/kvm: status %d, stderr '%s'", st, r->err);
	free(r);
}

/* bisect --commits drives git bisect run with ci/bisect-step on a small repository whose "emudiff"
 * is a script: commits c3 and c4 diverge, so c3 is the first bad one. */
static void test_bisect_commits(void **state)
{
	const char *src = getenv("EMUDIFF_SOURCE");
	char *dir = synth_tmp(".git.d"), *script = synth_tmp(".sh"), cmd[4096];
	struct run *r = calloc(1, sizeof(*r));
	(void)state;
	assert_non_null(src);
	if (system("git --version >/dev/null 2>&1") != 0) {
		free(r), free(dir), free(script);
		skip();
	}
	FILE *f = fopen(script, "w");
	assert_non_null(f);
	fprintf(f,
	        "set -e\n"
	        "export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t\n"
	        "mkdir -p '%s/ci' && cd '%s' && git init -q . && cp '%s/ci/bisect-step' ci/\n"
	        "cat > CMakeLists.txt <<'EOF'\n"
	        "cmake_minimum_required(VERSION 3.20)\n"
	        "project(fake NONE)\n"
	        "include(status.cmake)\n"
	        "configure_file(emudiff.in ${CMAKE_BINARY_DIR}/emudiff @ONLY\n"
	        "  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)\n"
	        "add_custom_target(emudiff)\n"
	        "EOF\n"
	        "printf '#!/bin/sh\\nexit @STATUS@\\n' > emudiff.in\n"
	        "for i in 1 2 3 4; do\n"
	        "  s=0; [ $i -ge 3 ] && s=1\n"
	        "  echo \"set(STATUS $s)\" > status.cmake; echo $i > n.txt\n"
	        "  git add -A && git commit -qm c$i && git tag c$i\n"
	        "done\n",
	        dir, dir, src);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh '%s'", script);
	if (run_sh(r, cmd) != 0)
		fail_msg("making the repository: %s", r->err);

	/* A name the repository does not have is bad input (2), not an unbuildable commit (3). */
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' bisect --commits c1..nosuchcommit '%s'", dir,
	         getenv("EMUDIFF_BIN"), clean_trace);
	assert_int_equal(run_sh(r, cmd), 2);
	assert_non_null(strstr(r->err, "'nosuchcommit' is no commit of this repository"));

	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' bisect --commits c1..c4 '%s'", dir, getenv("EMUDIFF_BIN"),
	         clean_trace);
	int st = run_sh(r, cmd);
	char sha[64] = "", want[128];
	snprintf(cmd, sizeof(cmd), "git -C '%s' rev-parse c3", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(sha, sizeof(sha), p));
	pclose(p);
	sha[strcspn(sha, "\n")] = 0;
	snprintf(want, sizeof(want), "first bad commit: %s c3", sha);
	if (st != 1 || !strstr(r->out, want))
		fail_msg("status %d; want 1 and '%s'\nstdout: %s\nstderr: %s", st, want, r->out, r->err);
	/* The ends are checked first: a BAD that does not diverge, a GOOD that does. */
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' bisect --commits c1..c2 '%s'", dir, getenv("EMUDIFF_BIN"),
	         clean_trace);
	st = run_sh(r, cmd);
	if (st != 0 || !strstr(r->out, "nothing to bisect"))
		fail_msg("c1..c2: status %d\nstdout: %s\nstderr: %s", st, r->out, r->err);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' bisect --commits c3..c4 '%s'", dir, getenv("EMUDIFF_BIN"),
	         clean_trace);
	st = run_sh(r, cmd);
	if (st != 2 || !strstr(r->err, "c3 already diverges"))
		fail_msg("c3..c4: status %d\nstdout: %s\nstderr: %s", st, r->out, r->err);
	/* git bisect reset ran and the scratch worktrees are gone. */
	snprintf(cmd, sizeof(cmd), "test \"$(git -C '%s' worktree list | wc -l)\" = 1", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "test ! -e '%s/.git/BISECT_LOG' && rm -rf '%s'", dir, dir);
	assert_int_equal(system(cmd), 0);
	unlink(script);
	free(dir), free(script), free(r);
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
	if (!getenv("EMUDIFF_BIN") || !getenv("EMUDIFF_SOURCE")) {
		printf("skipped: EMUDIFF_BIN and EMUDIFF_SOURCE are not set; run it through ctest\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_replay_exit_status),
	    cmocka_unit_test(test_replay_writes_results_and_report_rerenders),
	    cmocka_unit_test(test_junit_names_the_part),
	    cmocka_unit_test(test_report_refuses_damaged_blob),
	    cmocka_unit_test(test_bisect_and_diff),
	    cmocka_unit_test(test_native_steps_counted),
	    cmocka_unit_test(test_not_a_trace),
	    cmocka_unit_test(test_kvm_without_dev_kvm),
	    cmocka_unit_test(test_bisect_commits),
	    cmocka_unit_test(test_interrupted_replay_is_not_a_pass),
	    cmocka_unit_test(test_killed_worker_fails_the_run),
	    cmocka_unit_test(test_known_typos),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
