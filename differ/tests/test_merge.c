/* differ_results_merge: shards written as replay writes them join into the rows of the one run over their
 * whole range (states past the first 100 of a class dropped, known hits summed); what is not one run is
 * refused with one line. */
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
#include <sqlite3.h>

#include "differ.h"

#define STEPS 300

static char dir[] = "/tmp/differ-merge-XXXXXX";
static char known_path[64];

static const char known_text[] = "emu\tclass.a\t7\tone step\n"
                                 "unicorn\tclass.b\t*\tevery b\n"
                                 "emu\tclass.c\t*\tnever occurs\n";

static char *path_of(const char *name)
{
	static char buf[8][128];
	static unsigned next;
	char *p = buf[next++ % 8];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

/* Step s diverges on emu (two in three) or unicorn, class.b every fifth step: class.a passes the 100 rows
 * whose states are kept. */
static void make_div(uint64_t s, struct differ_divergence *d)
{
	memset(d, 0, sizeof(*d));
	d->step = s;
	snprintf(d->backend, sizeof(d->backend), "%s", s % 3 ? "emu" : "unicorn");
	snprintf(d->cls, sizeof(d->cls), "%s", s % 5 ? "class.a" : "class.b");
	snprintf(d->detail, sizeof(d->detail), "rax differs at %u", (unsigned)s);
	d->n_fields = d->n_fields_total = 1;
	snprintf(d->fields[0].field, sizeof(d->fields[0].field), "rax");
	d->fields[0].expected = s;
	d->fields[0].actual = s + 1;
	d->fields[0].width = 8;
	d->insn[0] = 0x90;
	d->insn_len = 1;
	snprintf(d->disasm, sizeof(d->disasm), "nop");
	d->pre.rip = d->expected.rip = 0x1000 + s;
	d->actual.rip = d->unobserved.rip = 0x2000 + s;
}

/* One replay's results over [first, end), as replay -o writes them; stopped: the step it was interrupted
 * before, or 0 when it completed. */
static void write_run(const char *path, const char *trace, uint64_t first, uint64_t end, const char *part,
                      uint64_t stopped)
{
	struct differ_known *known;
	struct differ_results *r;
	static struct differ_divergence d;
	char err[300], cmd[128];
	snprintf(cmd, sizeof(cmd), "emudiff replay %s%s%s", trace, part ? " --shard " : "",
	         part ? part + 6 : "");
	struct differ_run_info run = {
	    .trace_path = trace, .reference = "silicon", .replay_mode = "per-step", .command_line = cmd};
	assert_int_equal(differ_known_load(known_path, &known, err, sizeof(err)), 0);
	differ_known_set_run(known, trace, "silicon", "per-step");
	assert_int_equal(differ_results_create(&r, path, &run, err, sizeof(err)), 0);
	assert_int_equal(differ_results_set_range(r, first, end), 0);
	uint64_t last = stopped ? stopped : end;
	for (uint64_t s = first; s < last; s++) {
		assert_int_equal(differ_results_count_step(r, "emu", BACKEND_STEPPED), 0);
		assert_int_equal(
		    differ_results_count_step(r, "unicorn", s % 7 ? BACKEND_STEPPED : BACKEND_UNSUPPORTED),
		    0);
		make_div(s, &d);
		assert_int_equal(differ_results_add(r, &d, differ_known_match(known, &d)), 0);
	}
	/* Steps compared on no backend: every 5th a RUN step, every 11th a FALLBACK one, every 13th a NATIVE
	 * one. */
	uint64_t not_compared[3] = {0};
	for (uint64_t s = first; s < last; s++)
		not_compared[0] += s % 5 == 0, not_compared[1] += s % 11 == 0, not_compared[2] += s % 13 == 0;
	assert_int_equal(
	    differ_results_set_not_compared(r, not_compared[0], not_compared[1], not_compared[2]), 0);
	assert_int_equal(differ_results_add_known(r, known), 0);
	assert_int_equal(differ_results_set_end(r, !stopped, stopped), 0);
	assert_int_equal(differ_results_close(r), 0);
	differ_known_free(known);
	if (part)
		assert_int_equal(differ_results_set_part(path, part), 0);
}

static size_t slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, len, f) : 0;
	if (f)
		fclose(f);
	return n;
}

/* VACUUM INTO: the same rows in the same order give the same bytes, whatever the history of updates. */
static void assert_same_rows(const char *a, const char *b)
{
	static char x[4 << 20], y[4 << 20];
	const char *in[2] = {a, b}, *out[2] = {path_of("a.vac"), path_of("b.vac")};
	for (int i = 0; i < 2; i++) {
		sqlite3 *db;
		char sql[300];
		unlink(out[i]);
		snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", out[i]);
		assert_int_equal(sqlite3_open_v2(in[i], &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	size_t nx = slurp(out[0], x, sizeof(x)), ny = slurp(out[1], y, sizeof(y));
	assert_true(nx > 0);
	if (nx != ny || memcmp(x, y, nx))
		fail_msg("%s and %s hold different rows", a, b);
}

static int64_t query(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Shard boundaries, 0 ended; the shards are given to the merge last first. */
static const struct {
	uint64_t cuts[6];
	int line;
} splits[] = {
    {{0, STEPS}, __LINE__},
    {{0, 150, STEPS}, __LINE__},
    {{0, 1, 99, 260, STEPS}, __LINE__},
    {{0, 100, 100, 200, STEPS}, __LINE__}, /* an empty shard */
};

static size_t write_shards(const uint64_t *cuts, const char *trace, uint64_t stopped, const char **paths)
{
	size_t n = 0;
	while (cuts[n + 1] || !n)
		n++;
	for (size_t k = 0; k < n; k++) {
		char name[48], part[48];
		snprintf(name, sizeof(name), "shard%zu.db", k);
		snprintf(part, sizeof(part), "shard %zu/%zu", k + 1, n);
		paths[n - 1 - k] = path_of(name);
		bool stops = stopped >= cuts[k] && stopped < cuts[k + 1];
		write_run(paths[n - 1 - k], trace, cuts[k], cuts[k + 1], part, stops ? stopped : 0);
	}
	return n;
}

static void test_shards_join_into_the_whole_run(void **state)
{
	(void)state;
	char err[700];
	write_run(path_of("whole.db"), "t.db", 0, STEPS, NULL, 0);
	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		const char *paths[6];
		size_t n = write_shards(splits[i].cuts, "t.db", 0, paths);
		if (differ_results_merge(path_of("merged.db"), paths, n, err, sizeof(err)) != 0)
			fail_msg("split at line %d: %s", splits[i].line, err);
		assert_same_rows(path_of("whole.db"), path_of("merged.db"));
		assert_int_equal(differ_results_verify(path_of("merged.db"), err, sizeof(err)), 0);
		/* The counts of steps not compared are the shards' sums. */
		assert_int_equal(query(path_of("merged.db"), "SELECT native_steps FROM run"),
		                 (STEPS + 12) / 13);
		assert_int_equal(query(path_of("merged.db"), "SELECT run_steps + fallback_steps FROM run"),
		                 (STEPS + 4) / 5 + (STEPS + 10) / 11);
	}
	/* The rows cover a class past the states kept, so dropping them was part of the join. */
	assert_true(query(path_of("whole.db"), "SELECT count(*) FROM divergence WHERE pre IS NOT NULL") <
	            query(path_of("whole.db"), "SELECT count(*) FROM divergence"));
}

static void test_interrupted_shard_leaves_the_run_incomplete(void **state)
{
	(void)state;
	char err[700];
	const char *paths[6];
	static const uint64_t cuts[] = {0, 100, 200, STEPS, 0};
	size_t n = write_shards(cuts, "t.db", 150, paths);
	assert_int_equal(differ_results_merge(path_of("merged.db"), paths, n, err, sizeof(err)), 0);
	int64_t stopped_at;
	assert_int_equal(differ_results_completed(path_of("merged.db"), &stopped_at), 0);
	assert_int_equal(stopped_at, 150);
}

static const struct {
	uint64_t first, end; /* of the odd shard out, "shard 2/2" of trace */
	const char *trace;
	const char *message;
	int line;
} refused[] = {
    {150, STEPS, "u.db", "different trace ('t.db' and 'u.db')", __LINE__},
    {140, STEPS, "t.db", "overlap", __LINE__},
    {160, STEPS, "t.db", "steps 150..160 are in no shard", __LINE__},
    {150, 290, "t.db", NULL, __LINE__}, /* a shorter range is not a gap: it is the run over 0..290 */
};

static void test_refuses_what_is_not_one_run(void **state)
{
	(void)state;
	char err[700];
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *paths[2] = {path_of("one.db"), path_of("two.db")};
		write_run(paths[0], "t.db", 0, 150, "shard 1/2", 0);
		write_run(paths[1], refused[i].trace, refused[i].first, refused[i].end, "shard 2/2", 0);
		unlink(path_of("merged.db"));
		int ret = differ_results_merge(path_of("merged.db"), paths, 2, err, sizeof(err));
		if (!refused[i].message ? ret != 0 : ret != -EINVAL || !strstr(err, refused[i].message))
			fail_msg("row at line %d: %d, '%s'", refused[i].line, ret, err);
		assert_int_equal(access(path_of("merged.db"), F_OK) == 0, !refused[i].message);
		assert_null(strchr(err, '\n'));
	}
	/* A missing first or last shard leaves no gap: the K/N parts say it. */
	const char *one = path_of("one.db");
	assert_int_equal(differ_results_merge(path_of("merged.db"), &one, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "add shard 2/2"));
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(known_path, sizeof(known_path), "%s/known.tsv", dir);
	FILE *f = fopen(known_path, "w");
	if (!f)
		return -1;
	fputs(known_text, f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shards_join_into_the_whole_run),
	    cmocka_unit_test(test_interrupted_shard_leaves_the_run_incomplete),
	    cmocka_unit_test(test_refuses_what_is_not_one_run),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
