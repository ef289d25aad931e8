/* Device checkpoints: the table of format version 2, and version 1's meta rows devices@<step>, read alike. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"
#include "trace.h"

#define MAX_CKPT   4
#define CKPT_BYTES 5

/* A trace file of this process, removed with its WAL files by remove_trace. */
static void trace_path(char *buf, size_t len, const char *what, size_t row)
{
	snprintf(buf, len, "/tmp/emudiff_ckpt_%d_%s%zu.trace", (int)getpid(), what, row);
}

static void remove_trace(const char *path)
{
	static const char *const sides[] = {"", "-wal", "-shm"};
	char side[320];

	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		snprintf(side, sizeof(side), "%s%s", path, sides[i]);
		unlink(side);
	}
}

/* A checkpoint's bytes name its step, and hold 0x00 and 0xff so that hex and blobs are both exercised. */
static void ckpt_bytes(uint64_t step, uint8_t out[CKPT_BYTES])
{
	out[0] = (uint8_t)step;
	out[1] = (uint8_t)(step >> 8);
	out[2] = 0x00;
	out[3] = 0xff;
	out[4] = 0xa5;
}

/* A finished trace with checkpoints at steps[], in the layout of format version `version`. */
static void write_trace(const char *path, int version, const uint64_t *steps, size_t n)
{
	struct trace *t;
	sqlite3 *db;

	assert_int_equal(trace_create(&t, path, true), 0);
	for (size_t i = 0; i < n; i++) {
		uint8_t b[CKPT_BYTES];
		char key[48], hex[2 * CKPT_BYTES + 1];

		ckpt_bytes(steps[i], b);
		if (version >= 2) {
			assert_int_equal(trace_put_device_checkpoint(t, steps[i], b, sizeof(b)), 0);
			continue;
		}
		/* as the version-1 recorder wrote them */
		for (size_t k = 0; k < sizeof(b); k++)
			snprintf(hex + 2 * k, 3, "%02x", b[k]);
		snprintf(key, sizeof(key), "devices@%llu", (unsigned long long)steps[i]);
		assert_int_equal(trace_meta_set(t, key, hex), 0);
	}
	assert_int_equal(gen_write(t, 1, 10, 1), 0);
	trace_close(t);
	if (version >= 2)
		return;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "DROP TABLE device_checkpoints; PRAGMA user_version = 1", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
}

static void test_checkpoints(void **state)
{
	/* clang-format off */
	static const struct {
		int version;
		uint64_t steps[MAX_CKPT];
		size_t n;
		uint64_t query;
		int rc;
		uint64_t at;
		int line;
	} rows[] = {
	    {2, {0, 16384, 20000}, 3, 0, 0, 0, __LINE__},
	    {2, {0, 16384, 20000}, 3, 16383, 0, 0, __LINE__},
	    {2, {0, 16384, 20000}, 3, 16384, 0, 16384, __LINE__},
	    {2, {0, 16384, 20000}, 3, 99999, 0, 20000, __LINE__},
	    {2, {5}, 1, 4, -ENOENT, 0, __LINE__},
	    {2, {0}, 0, 0, -ENOENT, 0, __LINE__},
	    {1, {0, 16384, 20000}, 3, 0, 0, 0, __LINE__},
	    {1, {0, 16384, 20000}, 3, 16383, 0, 0, __LINE__},
	    {1, {0, 16384, 20000}, 3, 16384, 0, 16384, __LINE__},
	    {1, {0, 16384, 20000}, 3, 99999, 0, 20000, __LINE__},
	    {1, {5}, 1, 4, -ENOENT, 0, __LINE__},
	    {1, {0}, 0, 0, -ENOENT, 0, __LINE__},
	    /* "devices@100" sorts before "devices@2" as text: the step decides, not the key */
	    {1, {0, 100, 2}, 3, 50, 0, 2, __LINE__},
	    {1, {0, 100, 2}, 3, 100, 0, 100, __LINE__},
	};
	/* clang-format on */
	char path[300];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct trace *t;
		uint8_t *data = NULL, want[CKPT_BYTES];
		size_t len = 0;
		uint64_t at = UINT64_MAX;
		int rc;

		trace_path(path, sizeof(path), "ckpt", i);
		write_trace(path, rows[i].version, rows[i].steps, rows[i].n);
		assert_int_equal(trace_open(&t, path), 0);
		rc = trace_get_device_checkpoint(t, rows[i].query, &at, &data, &len);
		trace_close(t);
		remove_trace(path);
		if (rc != rows[i].rc)
			fail_msg("%s:%d: rc %d, want %d", __FILE__, rows[i].line, rc, rows[i].rc);
		if (rc)
			continue;
		ckpt_bytes(rows[i].at, want);
		if (at != rows[i].at || len != sizeof(want) || memcmp(data, want, len))
			fail_msg("%s:%d: checkpoint at %llu (%zu bytes), want %llu", __FILE__, rows[i].line,
			         (unsigned long long)at, len, (unsigned long long)rows[i].at);
		free(data);
	}
}

/* Versions outside [TRACE_FORMAT_VERSION_OLDEST, TRACE_FORMAT_VERSION] are refused. */
static void test_versions(void **state)
{
	static const struct {
		int version;
		int rc;
	} rows[] = {{0, -EINVAL}, {1, 0}, {2, 0}, {3, 0}, {4, -EINVAL}};
	char path[300], sql[64];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct trace *t = NULL;
		sqlite3 *db;
		int rc;

		trace_path(path, sizeof(path), "version", i);
		write_trace(path, 2, NULL, 0);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", rows[i].version);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		rc = trace_open(&t, path);
		trace_close(t);
		remove_trace(path);
		if (rc != rows[i].rc)
			fail_msg("version %d: open %d, want %d", rows[i].version, rc, rows[i].rc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checkpoints),
	    cmocka_unit_test(test_versions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
