/* Trace store: round trip, memory exactness against a reference, bad files, determinism. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "check.h"
#include "trace.h"

static char dir[] = "/tmp/emudiff_trace_test_XXXXXX";

static const char *tpath(const char *name)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

struct exit_rows {
	struct trace_exit e[8];
	int n;
};

static int collect_exit(void *arg, const struct trace_exit *e)
{
	struct exit_rows *r = arg;
	if (r->n < 8)
		r->e[r->n] = *e;
	r->n++;
	return 0;
}

struct event_rows {
	struct trace_event e[8];
	int n;
};

static int collect_event(void *arg, const struct trace_event *e)
{
	struct event_rows *r = arg;
	if (r->n < 8)
		r->e[r->n] = *e;
	r->n++;
	return 0;
}

/* Exits as the recorder writes them; read back field for field. */
static const struct {
	struct trace_exit e;
	const char *file;
	int line;
} exit_table[] = {
    {{.step = 1,
      .reason = TRACE_EXIT_IO,
      .kvm_reason = 2,
      .addr = 0x3f8,
      .size = 1,
      .is_write = 1,
      .count = 1,
      .data = {0x41},
      .data_len = 1},
     __FILE__,
     __LINE__},
    {{.step = 1,
      .reason = TRACE_EXIT_IO,
      .kvm_reason = 2,
      .addr = 0x60,
      .size = 4,
      .count = 3,
      .data = {0xef, 0xbe, 0xad, 0xde},
      .data_len = 4},
     __FILE__,
     __LINE__},
    {{.step = 2,
      .reason = TRACE_EXIT_MMIO,
      .kvm_reason = 6,
      .addr = 0xfee00300,
      .size = 8,
      .is_write = 1,
      .count = 1,
      .data = {1, 2, 3, 4, 5, 6, 7, 0xff},
      .data_len = 8},
     __FILE__,
     __LINE__},
    {{.step = 3, .reason = TRACE_EXIT_HLT, .kvm_reason = 5}, __FILE__, __LINE__},
    {{.step = 3,
      .reason = TRACE_EXIT_INTERNAL_ERROR,
      .kvm_reason = 17,
      .suberror = 1,
      .data = {0xcf, 0x90, 0x90, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
      .data_len = 16},
     __FILE__,
     __LINE__},
    {{.step = 4, .reason = TRACE_EXIT_SHUTDOWN, .kvm_reason = 8, .addr = ~0ull}, __FILE__, __LINE__},
};

static const struct trace_event event_table[] = {
    {.step = 0, .vector = 0x20, .type = 0},
    {.step = 2, .vector = 13, .type = 3, .has_error = 1, .error_code = 0x18},
    {.step = 4, .vector = 2, .type = 2},
};

static const struct {
	const char *key, *value;
} meta_table[] = {
    {"tool_version", "0.1.0"},
    {"kvm_flavour", "pvm"},
    {"guest_sha256", "e3b0c442"},
    {"cmdline", "emudiff record x"},
};

static void test_roundtrip(void **state)
{
	struct trace *t;
	const uint64_t seed = 7, n = 2 * TRACE_BATCH_STEPS + 1234;
	(void)state;

	assert_int_equal(trace_create(&t, tpath("rt.trace"), false), 0);
	for (size_t i = 0; i < sizeof(meta_table) / sizeof(meta_table[0]); i++)
		assert_int_equal(trace_meta_set(t, meta_table[i].key, meta_table[i].value), 0);
	for (size_t i = 0; i < sizeof(event_table) / sizeof(event_table[0]); i++)
		assert_int_equal(trace_append_event(t, &event_table[i]), 0);
	for (size_t i = 0; i < sizeof(exit_table) / sizeof(exit_table[0]); i++)
		assert_int_equal(trace_append_exit(t, &exit_table[i].e), 0);
	assert_int_equal(gen_write(t, seed, n, 1), 0);
	assert_int_equal(trace_step_count(t), n);
	trace_close(t);
	struct stat sb;
	char wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", tpath("rt.trace"));
	assert_int_not_equal(stat(wal, &sb), 0); /* a finished trace is one file */

	assert_int_equal(trace_open(&t, tpath("rt.trace")), 0);
	assert_true(trace_is_complete(t));
	assert_int_equal(trace_step_count(t), n);
	char buf[64];
	for (size_t i = 0; i < sizeof(meta_table) / sizeof(meta_table[0]); i++) {
		assert_int_equal(trace_meta_get(t, meta_table[i].key, buf, sizeof(buf)), 0);
		assert_string_equal(buf, meta_table[i].value);
	}
	assert_int_equal(trace_meta_get(t, "end_reason", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "test");
	assert_int_equal(trace_meta_get(t, "absent", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(trace_meta_get(t, "cmdline", buf, 4), -ENOSPC);

	struct exit_rows er = {0};
	assert_int_equal(trace_foreach_exit(t, collect_exit, &er), 0);
	/* The table's rows come first: gen_write's exits are at steps >= 7. */
	assert_int_equal(er.n, (int)(sizeof(exit_table) / sizeof(exit_table[0]) + (n + 92) / 100));
	for (size_t i = 0; i < sizeof(exit_table) / sizeof(exit_table[0]); i++) {
		if (memcmp(&er.e[i], &exit_table[i].e, sizeof(er.e[i])) != 0)
			fail_msg("exit row from %s:%d differs after the round trip", exit_table[i].file,
			         exit_table[i].line);
	}
	struct event_rows ev = {0};
	assert_int_equal(trace_foreach_event(t, collect_event, &ev), 0);
	assert_int_equal(ev.n, 3);
	assert_memory_equal(ev.e, event_table, sizeof(event_table));

	struct trace_stats st;
	assert_int_equal(trace_stats(t, &st), 0);
	assert_int_equal(st.steps, n);
	assert_int_equal(st.insn_steps + st.run_steps + st.fallback_steps, n);
	assert_true(st.run_steps > 0 && st.fallback_steps > 0);
	assert_int_equal(st.exits, er.n);
	assert_int_equal(st.events, 3);
	assert_true(st.pages > 0 && st.file_bytes > 0);

	/* Every state, step, input and byte of memory, via the iterator and trace_memory_at. */
	assert_int_equal(check_trace(t, seed, n, 1000, NULL), 0);

	/* Random access, backwards included. */
	struct gen_step *g = malloc(sizeof(*g));
	assert_non_null(g);
	for (uint64_t k = 0; k < 50; k++) {
		uint64_t i = gen_mix(99, k) % n;
		struct trace_step s;
		assert_int_equal(trace_step_at(t, i, &s), 0);
		assert_int_equal(s.index, i);
		assert_int_equal(check_step(seed, &s, g), 0);
	}
	free(g);
	struct trace_step s;
	assert_int_equal(trace_step_at(t, n, &s), -ERANGE);
	struct x86_state x;
	assert_int_equal(trace_state_at(t, n + 1, &x), -ERANGE);
	assert_non_null(strstr(trace_error(t), "rt.trace"));
	/* A reader cannot write. */
	assert_int_equal(trace_append_step(t, &s), -EBADF);
	trace_close(t);
}

static int every_step(uint64_t s)
{
	(void)s;
	return 1;
}

static int sparse_steps(uint64_t s)
{
	uint64_t b = s % TRACE_BATCH_STEPS;
	return b < 3 || b > TRACE_BATCH_STEPS - 3 || s % 3001 == 17 || s % 3001 == 18 ||
	       gen_mix(5, s) % 400 == 0;
}

/* trace_memory_at against the reference at chunk edges, puts, and random steps. */
static void test_memory_exact(void **state)
{
	struct trace *t;
	const uint64_t seed = 11, n = 3 * TRACE_BATCH_STEPS + 77;
	(void)state;

	assert_int_equal(trace_create(&t, tpath("mem.trace"), false), 0);
	assert_int_equal(gen_write(t, seed, n, 1), 0);
	trace_close(t);
	assert_int_equal(trace_open(&t, tpath("mem.trace")), 0);
	assert_int_equal(check_trace(t, seed, n, 1, sparse_steps), 0);
	trace_close(t);

	/* Small trace, explicit commits mid-chunk, memory_at at every step. */
	assert_int_equal(trace_create(&t, tpath("mem2.trace"), false), 0);
	struct gen_step *g = malloc(sizeof(*g));
	uint8_t *mem = malloc(GEN_BYTES);
	assert_non_null(g);
	assert_non_null(mem);
	gen_image(seed, mem);
	assert_int_equal(trace_put_memory(t, GEN_BASE, mem, GEN_BYTES), 0);
	for (uint64_t i = 0; i < 3500; i++) {
		gen_step(seed, i, g);
		if (g->put_len)
			assert_int_equal(trace_put_memory(t, g->put_gpa, g->put, g->put_len), 0);
		assert_int_equal(trace_append_step(t, &g->step), 0);
		if (i % 1000 == 999)
			assert_int_equal(trace_commit(t), 0);
	}
	struct x86_state fin;
	gen_state(seed, 3500, &fin);
	assert_int_equal(trace_finish(t, &fin, "test"), 0);
	trace_close(t);
	free(g);
	free(mem);
	assert_int_equal(trace_open(&t, tpath("mem2.trace")), 0);
	assert_int_equal(trace_step_count(t), 3500);
	assert_true(trace_is_complete(t));
	assert_int_equal(check_trace(t, seed, 3500, 1, every_step), 0);
	trace_close(t);

	/* Frequent puts, commits before or after a step at random points. */
	const uint64_t sseed = 1001, sn = 6000;
	assert_int_equal(trace_create(&t, tpath("mem3.trace"), false), 0);
	g = malloc(sizeof(*g));
	mem = malloc(GEN_BYTES);
	assert_non_null(g);
	assert_non_null(mem);
	gen_image(sseed, mem);
	assert_int_equal(trace_put_memory(t, GEN_BASE, mem, GEN_BYTES), 0);
	int commits = 0;
	for (uint64_t i = 0; i < sn; i++) {
		uint64_t r = gen_mix(sseed + 8, i);
		gen_step(sseed, i, g);
		if (g->put_len)
			assert_int_equal(trace_put_memory(t, g->put_gpa, g->put, g->put_len), 0);
		if (r % 97 == 0)
			assert_int_equal(trace_commit(t), 0), commits++;
		assert_int_equal(trace_append_step(t, &g->step), 0);
		if (r % 89 == 1)
			assert_int_equal(trace_commit(t), 0), commits++;
	}
	assert_true(commits > 50);
	gen_state(sseed, sn, &fin);
	assert_int_equal(trace_finish(t, &fin, "test"), 0);
	trace_close(t);
	free(g);
	free(mem);
	assert_int_equal(trace_open(&t, tpath("mem3.trace")), 0);
	assert_int_equal(trace_step_count(t), sn);
	assert_int_equal(check_trace(t, sseed, sn, 1, every_step), 0);
	trace_close(t);
}

static void test_unwritten_memory_is_zero(void **state)
{
	struct trace *t;
	struct x86_state st;
	uint8_t page[TRACE_PAGE_SIZE], got[16];
	(void)state;

	x86_state_reset(&st);
	memset(page, 0x5a, sizeof(page));
	assert_int_equal(trace_create(&t, tpath("zero.trace"), false), 0);
	assert_int_equal(trace_put_memory(t, 0x2000, page, sizeof(page)), 0);
	assert_int_equal(trace_finish(t, &st, "empty"), 0);
	trace_close(t);
	assert_int_equal(trace_open(&t, tpath("zero.trace")), 0);
	assert_int_equal(trace_step_count(t), 0);
	assert_true(trace_is_complete(t));
	assert_int_equal(trace_memory_at(t, 0, 0x1ff8, got, 16), 0);
	static const uint8_t want[16] = {0,    0,    0,    0,    0,    0,    0,    0,
	                                 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
	assert_memory_equal(got, want, 16);
	struct x86_state back;
	assert_int_equal(trace_state_at(t, 0, &back), 0);
	assert_memory_equal(&back, &st, sizeof(st));
	trace_close(t);
}

/* An explicit commit right before trace_finish leaves a chunk of no steps holding the final state. */
static void test_commit_then_finish(void **state)
{
	struct trace *t;
	struct gen_step *g = malloc(sizeof(*g));
	struct x86_state st, fin;
	(void)state;

	assert_non_null(g);
	assert_int_equal(trace_create(&t, tpath("cf.trace"), false), 0);
	static uint8_t mem[GEN_BYTES];
	gen_image(21, mem);
	assert_int_equal(trace_put_memory(t, GEN_BASE, mem, GEN_BYTES), 0);
	for (uint64_t i = 0; i < 5; i++) {
		gen_step(21, i, g);
		assert_int_equal(trace_append_step(t, &g->step), 0);
	}
	assert_int_equal(trace_commit(t), 0);
	/* The writer reads what it committed; the state after the last step is not known yet. */
	assert_int_equal(trace_step_count(t), 5);
	assert_int_equal(trace_state_at(t, 4, &st), 0);
	gen_state(21, 4, &fin);
	assert_memory_equal(&st, &fin, sizeof(st));
	assert_int_equal(trace_state_at(t, 5, &st), -ERANGE);
	gen_state(21, 5, &fin);
	assert_int_equal(trace_finish(t, &fin, "test"), 0);
	assert_int_equal(trace_append_step(t, &g->step), -EINVAL); /* finished */
	trace_close(t);
	free(g);
	assert_int_equal(trace_open(&t, tpath("cf.trace")), 0);
	assert_true(trace_is_complete(t));
	assert_int_equal(trace_step_count(t), 5);
	assert_int_equal(trace_state_at(t, 5, &st), 0);
	assert_memory_equal(&st, &fin, sizeof(st));
	assert_int_equal(check_trace(t, 21, 5, 1, NULL), 0);
	trace_close(t);
}

/* A writer that dies without trace_close: committed chunks readable, trace incomplete. */
static void test_died_after_commit(void **state)
{
	struct trace *t;
	(void)state;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static struct gen_step g;
		static uint8_t mem[GEN_BYTES];
		if (trace_create(&t, tpath("died.trace"), false))
			_exit(1);
		gen_image(3, mem);
		if (trace_put_memory(t, GEN_BASE, mem, GEN_BYTES))
			_exit(1);
		for (uint64_t i = 0; i < 25; i++) {
			gen_step(3, i, &g);
			if (g.put_len && trace_put_memory(t, g.put_gpa, g.put, g.put_len))
				_exit(1);
			if (trace_append_step(t, &g.step))
				_exit(1);
			if (i == 19) {
				struct trace_exit e18 = gen_exit(3, 18), e19 = gen_exit(3, 19);
				if (trace_append_exit(t, &e18) || trace_append_exit(t, &e19) ||
				    trace_commit(t))
					_exit(1);
			}
		}
		_exit(0); /* no close: as if killed */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(trace_open(&t, tpath("died.trace")), 0);
	assert_false(trace_is_complete(t));
	/* 20 steps committed by an explicit commit: the state after step 19 was not known yet. */
	assert_int_equal(trace_step_count(t), 19);
	assert_int_equal(check_trace(t, 3, 19, 1, every_step), 0);
	/* The exit of step 19 was committed, but step 19 is not in the trace. */
	struct exit_rows er = {0};
	assert_int_equal(trace_foreach_exit(t, collect_exit, &er), 0);
	assert_int_equal(er.n, 1);
	assert_int_equal(er.e[0].step, 18);
	struct trace_stats st;
	assert_int_equal(trace_stats(t, &st), 0);
	assert_int_equal(st.exits, 1);
	assert_int_equal(st.steps, 19);
	trace_close(t);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void make_trace(const char *name, uint64_t seed, uint64_t n)
{
	struct trace *t;
	assert_int_equal(trace_create(&t, tpath(name), true), 0);
	assert_int_equal(gen_write(t, seed, n, 1), 0);
	trace_close(t);
}

static void copy_truncated(const char *from, const char *to, long keep)
{
	FILE *f = fopen(tpath(from), "rb");
	assert_non_null(f);
	char *buf = malloc((size_t)keep);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)keep, f), (size_t)keep);
	fclose(f);
	write_file(tpath(to), buf, (size_t)keep);
	free(buf);
}

static void test_bad_files(void **state)
{
	(void)state;
	make_trace("good.trace", 1, 5000);
	struct stat sb;
	assert_int_equal(stat(tpath("good.trace"), &sb), 0);
	write_file(tpath("empty.trace"), "", 0);
	write_file(tpath("text.trace"), "hello, this is not a database at all, just some words\n", 55);
	copy_truncated("good.trace", "half.trace", (long)sb.st_size / 2);
	copy_truncated("good.trace", "head.trace", 60);
	assert_int_equal(
	    sql_exec(tpath("foreign.trace"), "CREATE TABLE x (a INTEGER); INSERT INTO x VALUES (1)"),
	    SQLITE_OK);
	make_trace("version.trace", 1, 10);
	assert_int_equal(sql_exec(tpath("version.trace"), "PRAGMA user_version = 99"), SQLITE_OK);
	make_trace("appid.trace", 1, 10);
	assert_int_equal(sql_exec(tpath("appid.trace"), "PRAGMA application_id = 1"), SQLITE_OK);
	make_trace("notables.trace", 1, 10);
	assert_int_equal(sql_exec(tpath("notables.trace"), "DROP TABLE chunks"), SQLITE_OK);
	make_trace("gap.trace", 1, 40000);
	assert_int_equal(sql_exec(tpath("gap.trace"), "DELETE FROM chunks WHERE first_step = 16384"),
	                 SQLITE_OK);
	/* SQLite quotes the damaged schema text, line breaks and all, in its error. */
	make_trace("schema.trace", 1, 10);
	assert_int_equal(sql_exec(tpath("schema.trace"),
	                          "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = "
	                          "'CREATE TABLE meta (key TEXT PRIMARY KEY, `OT' || char(10) || 'NULL' "
	                          "WHERE name = 'meta'"),
	                 SQLITE_OK);

	static const struct {
		const char *name;
		int rc;
		const char *msg;
		const char *file;
		int line;
	} rows[] = {
	    {"missing.trace", -ENOENT, "No such file", __FILE__, __LINE__},
	    {"empty.trace", -EINVAL, "empty file", __FILE__, __LINE__},
	    {"text.trace", -EINVAL, "not an SQLite file", __FILE__, __LINE__},
	    {"half.trace", -EINVAL, "truncated", __FILE__, __LINE__},
	    {"head.trace", -EINVAL, "truncated", __FILE__, __LINE__},
	    {"foreign.trace", -EINVAL, "application_id", __FILE__, __LINE__},
	    {"version.trace", -EINVAL, "format version 99", __FILE__, __LINE__},
	    {"appid.trace", -EINVAL, "not an emudiff trace", __FILE__, __LINE__},
	    {"notables.trace", -EINVAL, "chunks", __FILE__, __LINE__},
	    {"gap.trace", -EINVAL, "step 16384", __FILE__, __LINE__},
	    {"schema.trace", -EINVAL, "malformed database schema", __FILE__, __LINE__},
	    {"", -EINVAL, "", __FILE__, __LINE__},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct trace *t = (struct trace *)1;
		const char *p = rows[i].name[0] ? tpath(rows[i].name) : rows[i].name;
		int rc = trace_open(&t, p);
		const char *msg = trace_last_open_error();
		if (rc != rows[i].rc || t != NULL || !strstr(msg, p) || !strstr(msg, rows[i].msg) ||
		    strchr(msg, '\n'))
			fail_msg("%s:%d: open %s gave %d \"%s\"", rows[i].file, rows[i].line, rows[i].name,
			         rc, msg);
	}
	struct trace *t;
	assert_int_equal(trace_open(&t, tpath("good.trace")), 0);
	trace_close(t);
}

/* Damaged chunk blobs: every read returns 0 or -EINVAL naming a step, never crashes. */
static void test_corrupt_chunks(void **state)
{
	(void)state;
	make_trace("c0.trace", 2, 300);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(tpath("c0.trace"), &db), SQLITE_OK);
	sqlite3_stmt *s;
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT raw_bytes, data FROM chunks WHERE first_step = 0", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	size_t raw_len = (size_t)sqlite3_column_int64(s, 0);
	uint8_t *raw = malloc(raw_len), *mut = malloc(raw_len);
	size_t zcap = ZSTD_compressBound(raw_len);
	uint8_t *z = malloc(zcap);
	assert_non_null(raw);
	assert_int_equal(
	    ZSTD_decompress(raw, raw_len, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1)),
	    raw_len);
	sqlite3_finalize(s);
	sqlite3_close(db);

	int failures = 0;
	for (int round = 0; round < 120; round++) {
		memcpy(mut, raw, raw_len);
		uint64_t r = gen_mix(42, (uint64_t)round);
		size_t len = raw_len;
		if (round < 40) {
			/* Header and early bytes: lengths, counts, first state. */
			mut[r % 64] ^= (uint8_t)(1 + (r >> 8) % 255);
		} else if (round < 100) {
			for (int k = 0; k < 1 + round % 4; k++)
				mut[gen_mix(43, (uint64_t)(round * 8 + k)) % raw_len] ^= (uint8_t)(1 + k);
		} else {
			len = r % raw_len; /* cut short */
		}
		size_t zl = ZSTD_compress(z, zcap, mut, len, 3);
		assert_false(ZSTD_isError(zl));
		assert_int_equal(sqlite3_open(tpath("c0.trace"), &db), SQLITE_OK);
		assert_int_equal(
		    sqlite3_prepare_v2(db, "UPDATE chunks SET data = ?1, raw_bytes = ?2 WHERE first_step = 0",
		                       -1, &s, NULL),
		    SQLITE_OK);
		sqlite3_bind_blob(s, 1, z, (int)zl, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)(len ? len : 1));
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		sqlite3_finalize(s);
		sqlite3_close(db);

		struct trace *t;
		assert_int_equal(trace_open(&t, tpath("c0.trace")), 0);
		struct trace_iter *it;
		struct trace_step st;
		uint8_t mem[64];
		int rc = trace_iter_start(t, 0, &it);
		assert_int_equal(rc, 0);
		while ((rc = trace_iter_next(it, &st)) == 1)
			if ((rc = trace_iter_memory(it, GEN_BASE, mem, sizeof(mem))))
				break;
		trace_iter_end(it);
		if (rc == 0)
			rc = trace_memory_at(t, 150, GEN_BASE + 100, mem, sizeof(mem));
		if (rc) {
			assert_int_equal(rc, -EINVAL);
			assert_non_null(strstr(trace_error(t), "step "));
			failures++;
		}
		trace_close(t);
	}
	/* Damage is detected where it can be (flips in written bytes or state words decode fine). */
	assert_true(failures > 10);

	/* Not zstd at all. */
	assert_int_equal(sql_exec(tpath("c0.trace"), "UPDATE chunks SET data = x'00112233'"), SQLITE_OK);
	struct trace *t;
	struct x86_state x;
	assert_int_equal(trace_open(&t, tpath("c0.trace")), 0);
	assert_int_equal(trace_state_at(t, 3, &x), -EINVAL);
	assert_non_null(strstr(trace_error(t), "step 0"));
	trace_close(t);
	/* A damaged page blob. */
	make_trace("c1.trace", 2, 300);
	assert_int_equal(sql_exec(tpath("c1.trace"), "UPDATE pages SET data = x'28b52ffd'"), SQLITE_OK);
	uint8_t b[8];
	assert_int_equal(trace_open(&t, tpath("c1.trace")), 0);
	assert_int_equal(trace_memory_at(t, 10, GEN_BASE + TRACE_PAGE_SIZE, b, sizeof(b)), -EINVAL);
	assert_non_null(strstr(trace_error(t), "step 10: page 0x11000"));
	trace_close(t);
	free(raw);
	free(mut);
	free(z);
}

static int count_inputs(void *arg, uint64_t step, const struct trace_input *in)
{
	(void)step;
	(void)in;
	++*(unsigned *)arg;
	return 0;
}

/* A damaged inputs row is an error naming its step in both readers, never a value past trace_input. */
static void test_damaged_input_rows(void **state)
{
	static const struct {
		const char *damage;
		const char *message;
	} rows[] = {
	    {"UPDATE inputs SET size = 200, value = zeroblob(200) WHERE seq = (SELECT min(seq) FROM inputs)",
	     "damaged input row"},
	    {"UPDATE inputs SET size = -1 WHERE seq = (SELECT min(seq) FROM inputs)", "damaged input row"},
	    {"UPDATE inputs SET size = 16, value = zeroblob(4) WHERE seq = (SELECT min(seq) FROM inputs)",
	     "damaged input value"},
	    {"UPDATE inputs SET count = -5 WHERE seq = (SELECT min(seq) FROM inputs)", "damaged input row"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct trace *t;
		struct trace_iter *it;
		struct trace_step st;
		unsigned n = 0;
		int rc, kind;

		make_trace("in.trace", 5, 300);
		assert_int_equal(sql_exec(tpath("in.trace"), rows[i].damage), SQLITE_OK);
		assert_int_equal(trace_open(&t, tpath("in.trace")), 0);
		for (kind = TRACE_INPUT_PIO_IN, rc = 0; kind <= TRACE_INPUT_RDMSR && rc == 0; kind++)
			rc = trace_foreach_input(t, (enum trace_input_kind)kind, count_inputs, &n);
		if (rc != -EINVAL || !strstr(trace_error(t), rows[i].message))
			fail_msg("row %zu: trace_foreach_input returned %d (%s)", i, rc, trace_error(t));
		assert_int_equal(trace_iter_start(t, 0, &it), 0);
		while ((rc = trace_iter_next(it, &st)) == 1)
			;
		trace_iter_end(it);
		if (rc != -EINVAL || !strstr(trace_error(t), rows[i].message) ||
		    !strstr(trace_error(t), "step "))
			fail_msg("row %zu: the step iterator returned %d (%s)", i, rc, trace_error(t));
		trace_close(t);
	}
}

static void test_create_refuses_existing(void **state)
{
	struct trace *t;
	(void)state;

	make_trace("exists.trace", 4, 100);
	assert_int_equal(trace_create(&t, tpath("exists.trace"), false), -EEXIST);
	assert_null(t);
	assert_non_null(strstr(trace_last_open_error(), tpath("exists.trace")));
	/* The refused file is untouched. */
	assert_int_equal(trace_open(&t, tpath("exists.trace")), 0);
	assert_int_equal(trace_step_count(t), 100);
	trace_close(t);
	/* A stale WAL of the old file must not leak into the new one. */
	write_file(tpath("exists.trace-wal"), "junk", 4);
	assert_int_equal(trace_create(&t, tpath("exists.trace"), true), 0);
	assert_int_equal(gen_write(t, 4, 10, 1), 0);
	trace_close(t);
	assert_int_equal(trace_open(&t, tpath("exists.trace")), 0);
	assert_int_equal(trace_step_count(t), 10);
	assert_int_equal(check_trace(t, 4, 10, 1, every_step), 0);
	trace_close(t);
	assert_int_equal(trace_create(&t, "/nonexistent-dir/x.trace", false), -ENOENT);
	assert_non_null(strstr(trace_last_open_error(), "/nonexistent-dir/x.trace"));
}

static uint64_t table_digest(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	uint64_t h = 1469598103934665603ull;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(s); c++) {
			const uint8_t *p = sqlite3_column_blob(s, c);
			int n = sqlite3_column_bytes(s, c);
			for (int i = 0; i < n; i++)
				h = (h ^ p[i]) * 1099511628211ull;
			h = (h ^ (uint64_t)sqlite3_column_type(s, c)) * 1099511628211ull;
		}
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return h;
}

static void test_deterministic(void **state)
{
	static const char *const tables[] = {
	    "SELECT * FROM chunks ORDER BY first_step",  "SELECT * FROM pages ORDER BY hash",
	    "SELECT * FROM page_map ORDER BY gpa, step", "SELECT * FROM inputs ORDER BY seq",
	    "SELECT * FROM exits ORDER BY seq",          "SELECT * FROM events ORDER BY seq",
	    "SELECT * FROM meta ORDER BY key",
	};
	(void)state;
	make_trace("d1.trace", 8, 20000);
	make_trace("d2.trace", 8, 20000);
	make_trace("d3.trace", 9, 20000);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		uint64_t a = table_digest(tpath("d1.trace"), tables[i]);
		if (a != table_digest(tpath("d2.trace"), tables[i]))
			fail_msg("%s differs between two identical recordings", tables[i]);
		/* The digest sees content: a different recording differs (meta aside). */
		if (i < 3 && a == table_digest(tpath("d3.trace"), tables[i]))
			fail_msg("%s does not depend on the recording", tables[i]);
	}
}

static void test_schema_identity(void **state)
{
	(void)state;
	make_trace("id.trace", 1, 10);
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open_v2(tpath("id.trace"), &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal((uint32_t)sqlite3_column_int64(s, 0), TRACE_APPLICATION_ID);
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(s, 0), TRACE_FORMAT_VERSION);
	sqlite3_finalize(s);
	/* Every table is STRICT and the plain rows are queryable. */
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND "
	                       "name NOT LIKE 'sqlite_%' AND strict = 0",
	                       -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT reason, direction, data FROM exits WHERE step = 7", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "io");
	assert_int_equal(sqlite3_column_type(s, 2), SQLITE_INTEGER);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_memory_exact),
	    cmocka_unit_test(test_unwritten_memory_is_zero),
	    cmocka_unit_test(test_commit_then_finish),
	    cmocka_unit_test(test_died_after_commit),
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_corrupt_chunks),
	    cmocka_unit_test(test_damaged_input_rows),
	    cmocka_unit_test(test_create_refuses_existing),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_schema_identity),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
