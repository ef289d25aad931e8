/* emudiff report over the shards of one run: the joined reports and database equal the unsharded run's;
 * shards that are not the parts of one run are refused with one line; --shard auto/N takes K from the CI
 * engine's index variable. */
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

static char dir[256];

/* Runs a shell command in dir with $E the emudiff binary, $T the planted and $C the clean trace; its exit
 * status, stderr in dir/err. */
static int sh(const char *fmt, ...)
{
	char cmd[2048], full[2600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && E='%s' T=planted.db C=clean.db; %s 2>err </dev/null", dir,
	         getenv("EMUDIFF_BIN"), cmd);
	int st = system(full);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static size_t slurp(const char *name, char *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return n;
}

static void assert_same_file(const char *a, const char *b)
{
	static char x[1 << 20], y[1 << 20];
	size_t nx = slurp(a, x, sizeof(x)), ny = slurp(b, y, sizeof(y));
	if (nx != ny || memcmp(x, y, nx))
		fail_msg("%s and %s differ (%zu and %zu bytes)", a, b, nx, ny);
	assert_true(nx > 0);
}

/* A database rewritten by VACUUM INTO: the same rows give the same bytes, whatever the history of updates. */
static void vacuum_into(const char *from, const char *to)
{
	char path[512], sql[600];
	sqlite3 *db;
	snprintf(path, sizeof(path), "%s/%s", dir, from);
	snprintf(sql, sizeof(sql), "VACUUM INTO '%s/%s'", dir, to);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_joined_shards_equal_the_whole_run(void **state)
{
	(void)state;
	int whole = sh("$E report whole.db --json w.json --junit w.xml --html w.html >w.txt");
	assert_int_equal(whole, 1);
	/* In any order: the shards are joined by their ranges. */
	assert_int_equal(sh("$E report s3.db s1.db s4.db s2.db -o merged.db --json m.json --junit m.xml "
	                    "--html m.html >m.txt"),
	                 whole);
	static const char *const ext[] = {"txt", "json", "xml", "html"};
	for (size_t i = 0; i < 4; i++) {
		char a[16], b[16];
		snprintf(a, sizeof(a), "w.%s", ext[i]);
		snprintf(b, sizeof(b), "m.%s", ext[i]);
		assert_same_file(a, b);
	}
	vacuum_into("whole.db", "whole.vac");
	vacuum_into("merged.db", "merged.vac");
	assert_same_file("whole.vac", "merged.vac");
	/* Shards of a --from/--to range join into that range's run. */
	assert_int_equal(sh("$E report range.db --json rw.json --junit rw.xml >rw.txt"), 1);
	assert_int_equal(sh("$E report r2.db r1.db -o rmerged.db --json rm.json --junit rm.xml >rm.txt"), 1);
	assert_same_file("rw.txt", "rm.txt");
	assert_same_file("rw.json", "rm.json");
	assert_same_file("rw.xml", "rm.xml");
	/* The joined database renders the same report again, its checksums intact. */
	assert_int_equal(sh("$E report merged.db >again.txt"), whole);
	assert_same_file("w.txt", "again.txt");
}

static const struct {
	const char *shards;
	const char *message;
	int line;
} refused[] = {
    {"s1.db s2.db s3.db", "add shard 4/4", __LINE__},
    {"s1.db s2.db s4.db", "in no shard", __LINE__},
    {"s1.db s2.db s2.db s3.db s4.db", "overlap", __LINE__},
    {"s1.db s2.db s3.db c4.db", "different trace", __LINE__},
    {"s1.db whole.db", "overlap", __LINE__},
    {"s1.db s2.db s3.db e4.db", "different options", __LINE__},
};

static void test_refuses_what_is_not_one_run(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char err[4096];
		int st = sh("rm -f refused.db; $E report %s -o refused.db >/dev/null", refused[i].shards);
		slurp("err", err, sizeof(err));
		if (st != 2 || !strstr(err, refused[i].message) || strchr(err, '\n') != err + strlen(err) - 1)
			fail_msg("row at line %d: exit %d, stderr '%s'", refused[i].line, st, err);
		assert_int_equal(sh("test ! -e refused.db"), 0);
	}
}

/* The CI engines' index variables, cleared before each row sets its own. */
#define NO_INDEX                                                                                             \
	"env -u EMUDIFF_SHARD_INDEX -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_MIN -u CI_NODE_INDEX "        \
	"-u JOB_COMPLETION_INDEX"

static const struct {
	const char *env;
	int status;
	const char *said; /* the results' part, or the one line on stderr */
	int line;
} auto_rows[] = {
    {"EMUDIFF_SHARD_INDEX=1", 1, "shard 2/4 (EMUDIFF_SHARD_INDEX=1)", __LINE__},
    {"SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_MIN=5", 0,
     "shard 3/4 (SLURM_ARRAY_TASK_ID=7, SLURM_ARRAY_TASK_MIN=5)", __LINE__},
    {"SLURM_ARRAY_TASK_ID=3", 1, "shard 4/4 (SLURM_ARRAY_TASK_ID=3)", __LINE__},
    {"CI_NODE_INDEX=1", 0, "shard 1/4 (CI_NODE_INDEX=1)", __LINE__},
    {"JOB_COMPLETION_INDEX=2", 0, "shard 3/4 (JOB_COMPLETION_INDEX=2)", __LINE__},
    {"JOB_COMPLETION_INDEX=2 EMUDIFF_SHARD_INDEX=0 SLURM_ARRAY_TASK_ID=1", 0,
     "shard 1/4 (EMUDIFF_SHARD_INDEX=0)", __LINE__},
    {"SLURM_ARRAY_TASK_ID=1 CI_NODE_INDEX=4", 1, "shard 2/4 (SLURM_ARRAY_TASK_ID=1)", __LINE__},
    {"CI_NODE_INDEX=4 JOB_COMPLETION_INDEX=0", 1, "shard 4/4 (CI_NODE_INDEX=4)", __LINE__},
    {"", 2, "no shard index in the environment: set EMUDIFF_SHARD_INDEX", __LINE__},
    {"CI_NODE_INDEX=0", 2, "CI_NODE_INDEX=0 gives no shard of 4 (want 1..4)", __LINE__},
    {"JOB_COMPLETION_INDEX=4", 2, "JOB_COMPLETION_INDEX=4 gives no shard of 4 (want 0..3)", __LINE__},
    {"SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=3", 2,
     "SLURM_ARRAY_TASK_ID=2 gives no shard of 4 (want 3..6", __LINE__},
    {"EMUDIFF_SHARD_INDEX=1x", 2, "EMUDIFF_SHARD_INDEX=1x gives no shard", __LINE__},
};

static void part_of(const char *name, char *buf, size_t len)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT part FROM run", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_shard_auto_takes_the_ci_index(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(auto_rows) / sizeof(auto_rows[0]); i++) {
		char said[4096];
		int st = sh("rm -f auto.db; " NO_INDEX
		            " %s $E replay $T --backends emu --shard auto/4 -o auto.db >/dev/null",
		            auto_rows[i].env);
		if (auto_rows[i].status == 2)
			slurp("err", said, sizeof(said));
		else
			part_of("auto.db", said, sizeof(said));
		if (st != auto_rows[i].status || !strstr(said, auto_rows[i].said))
			fail_msg("row at line %d: exit %d, said '%s'", auto_rows[i].line, st, said);
	}
	/* Shards by index join as shards by number do. */
	for (int k = 0; k < 4; k++)
		assert_int_equal(sh(NO_INDEX
		                    " JOB_COMPLETION_INDEX=%d $E replay $T --backends emu --shard auto/4 "
		                    "-o a%d.db >/dev/null; test -s a%d.db",
		                    k, k, k),
		                 0);
	assert_int_equal(sh("$E report a2.db a0.db a3.db a1.db >auto.txt"), 1);
	assert_same_file("w.txt", "auto.txt");
}

/* replay -j N equals the run in one process: the same exit status, reports and database, for any N (more
 * workers than steps too), both replay modes, a range and a shard, and corpus traces whose Unicorn steps
 * diverge in many classes (states dropped past the kept ones), crash (pmring) and hit the known list. */
static const struct {
	const char *trace;
	const char *options;
	unsigned jobs;
	int line;
} jobs_rows[] = {
    {"$T", "--backends emu", 2, __LINE__},
    {"$T", "--backends emu", 5, __LINE__},
    {"$T", "--backends emu", 64, __LINE__},
    {"$T", "--backends emu --continuous", 3, __LINE__},
    {"$T", "--backends emu --from 1 --to 5", 2, __LINE__},
    {"$T", "--backends emu --shard 2/2", 2, __LINE__},
    {"$C", "--backends emu", 3, __LINE__},
    {"fparith.db", "--backends emu,unicorn", 2, __LINE__},
    {"fparith.db", "--backends unicorn --known \"$EMUDIFF_SOURCE/corpus/known.tsv\"", 3, __LINE__},
    {"fparith.db", "--backends unicorn --continuous", 4, __LINE__},
    {"pmring.db", "--backends emu,unicorn", 2, __LINE__},
};

static void test_jobs_equal_one_process(void **state)
{
	(void)state;
	static const char *const ext[] = {"txt", "json", "xml", "html", "vac"};
	for (size_t i = 0; i < sizeof(jobs_rows) / sizeof(jobs_rows[0]); i++) {
		int st[2];
		for (int side = 0; side < 2; side++) {
			unsigned jobs = side ? jobs_rows[i].jobs : 1;
			st[side] =
			    sh("rm -f j%d.*; $E replay %s %s -j %u -o j%d.db --json j%d.json --junit j%d.xml "
			       "--html j%d.html >j%d.txt",
			       side, jobs_rows[i].trace, jobs_rows[i].options, jobs, side, side, side, side,
			       side);
			char db[32], vac[32];
			snprintf(db, sizeof(db), "j%d.db", side);
			snprintf(vac, sizeof(vac), "j%d.vac", side);
			vacuum_into(db, vac);
		}
		if (st[0] != st[1] || st[0] > 1)
			fail_msg("row at line %d: exit %d with -j 1, %d with -j %u", jobs_rows[i].line, st[0],
			         st[1], jobs_rows[i].jobs);
		for (size_t e = 0; e < sizeof(ext) / sizeof(ext[0]); e++) {
			char a[32], b[32];
			snprintf(a, sizeof(a), "j0.%s", ext[e]);
			snprintf(b, sizeof(b), "j1.%s", ext[e]);
			static char x[1 << 20], y[1 << 20];
			size_t nx = slurp(a, x, sizeof(x)), ny = slurp(b, y, sizeof(y));
			if (!nx || nx != ny || memcmp(x, y, nx))
				fail_msg("row at line %d: %s and %s differ (%zu and %zu bytes)",
				         jobs_rows[i].line, a, b, nx, ny);
		}
		assert_int_equal(sh("ls j1.db.job* 2>/dev/null"), 2);
	}
}

/* bisect -j N names the step -j 1 names: the earliest of the workers' first divergences, though a later
 * worker finds its own first; and a range without a divergence says so alike. */
static const struct {
	const char *args;
	unsigned jobs;
	int line;
} bisect_rows[] = {
    {"$T", 2, __LINE__},
    {"$T", 6, __LINE__},
    {"$T --from 2", 3, __LINE__},
    {"$C", 4, __LINE__},
    {"fparith.db --backend unicorn", 2, __LINE__},
    {"fparith.db --backend unicorn --from 600", 3, __LINE__},
};

static void test_bisect_jobs_find_the_first(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bisect_rows) / sizeof(bisect_rows[0]); i++) {
		int one = sh("$E bisect %s -j 1 >b0.txt", bisect_rows[i].args);
		int many = sh("$E bisect %s -j %u >b1.txt", bisect_rows[i].args, bisect_rows[i].jobs);
		char x[4096], y[4096];
		slurp("b0.txt", x, sizeof(x));
		slurp("b1.txt", y, sizeof(y));
		if (one != many || one > 1 || strcmp(x, y) ||
		    !strstr(x, one ? "first divergent step" : "no new"))
			fail_msg("row at line %d: -j 1 exit %d '%s', -j %u exit %d '%s'", bisect_rows[i].line,
			         one, x, bisect_rows[i].jobs, many, y);
	}
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/emudiff-merge.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	char path[512];
	snprintf(path, sizeof(path), "%s/planted.db", dir);
	if (synth_trace(path, SYNTH_TWO_BAD))
		return -1;
	snprintf(path, sizeof(path), "%s/clean.db", dir);
	if (synth_trace(path, SYNTH_CLEAN))
		return -1;
	/* The whole run and its four shards, the same options but --shard. */
	if (sh("$E replay $T --backends emu -o whole.db >/dev/null") != 1)
		return -1;
	if (sh("$E record --engine emu -o fparith.db \"$EMUDIFF_CORPUS/fparith.bin\" >/dev/null && "
	       "$E record --engine emu -o pmring.db \"$EMUDIFF_CORPUS/pmring.bin\" >/dev/null"))
		return -1;
	for (int k = 1; k <= 4; k++)
		if (sh("$E replay $T --backends emu --shard %d/4 -o s%d.db >/dev/null; test -s s%d.db", k, k,
		       k))
			return -1;
	if (sh("$E replay $T --backends emu --from 1 --to 5 -o range.db >/dev/null") != 1 ||
	    sh("$E replay $T --backends emu --from 1 --to 5 --shard 1/2 -o r1.db >/dev/null; test -s "
	       "r1.db") ||
	    sh("$E replay $T --backends emu --from 1 --to 5 --shard 2/2 -o r2.db >/dev/null; test -s "
	       "r2.db") ||
	    sh("$E replay $C --backends emu --shard 4/4 -o c4.db >/dev/null") ||
	    sh(": >empty.known; $E replay $T --backends emu --shard=4/4 --known empty.known -o e4.db "
	       ">/dev/null; test -s e4.db"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return sh("cd / && rm -rf '%s'", dir);
}

int main(void)
{
	if (!getenv("EMUDIFF_BIN")) {
		printf("skipped: EMUDIFF_BIN is not set; run it through ctest\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_joined_shards_equal_the_whole_run),
	    cmocka_unit_test(test_refuses_what_is_not_one_run),
	    cmocka_unit_test(test_shard_auto_takes_the_ci_index),
	    cmocka_unit_test(test_jobs_equal_one_process),
	    cmocka_unit_test(test_bisect_jobs_find_the_first),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
