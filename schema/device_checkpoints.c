/* Device checkpoints: a table of their own since format version 2, meta rows devices@<step> before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define META_PREFIX "devices@"

int trace_put_device_checkpoint(struct trace *t, uint64_t step, const void *data, size_t len)
{
	sqlite3_stmt *s = NULL;
	int src;

	if (!t->writer)
		return trace_set_err(t, -EBADF, "opened read-only; device checkpoint not written");
	src = sqlite3_prepare_v2(
	    t->db, "INSERT OR REPLACE INTO device_checkpoints (step, data) VALUES (?1, ?2)", -1, &s, NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)step);
		sqlite3_bind_blob64(s, 2, len ? data : "", len, SQLITE_STATIC);
		src = sqlite3_step(s);
	}
	sqlite3_finalize(s);
	return src == SQLITE_DONE ? 0 : trace_sql_err(t, src, "writing a device checkpoint");
}

static int copy_out(const void *src, size_t len, uint8_t **data, size_t *out_len)
{
	*data = malloc(len ? len : 1);
	if (!*data)
		return -ENOMEM;
	memcpy(*data, src, len);
	*out_len = len;
	return 0;
}

/* Bytes from the hex text version 1 stored; -EINVAL when it is not hex. */
static int from_hex(const char *hex, uint8_t **data, size_t *len)
{
	size_t n = strlen(hex) / 2;

	*data = malloc(n ? n : 1);
	if (!*data)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			free(*data);
			*data = NULL;
			return -EINVAL;
		}
		(*data)[i] = (uint8_t)byte;
	}
	*len = n;
	return 0;
}

/* Version 1: the row devices@N with the greatest N <= step, its value hex. */
static int get_from_meta(struct trace *t, uint64_t step, uint64_t *at, uint8_t **data, size_t *len)
{
	sqlite3_stmt *s = NULL;
	char *hex = NULL;
	uint64_t best = 0;
	int src, rc;

	src = sqlite3_prepare_v2(t->db, "SELECT key, value FROM meta WHERE key LIKE '" META_PREFIX "%'", -1,
	                         &s, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(s);
	for (; src == SQLITE_ROW; src = sqlite3_step(s)) {
		const char *key = (const char *)sqlite3_column_text(s, 0) + strlen(META_PREFIX);
		char *end;
		uint64_t n = strtoull(key, &end, 10);

		if (end == key || *end || n > step || (hex && n <= best))
			continue;
		free(hex);
		hex = strdup((const char *)sqlite3_column_text(s, 1));
		if (!hex)
			break;
		best = n;
	}
	sqlite3_finalize(s);
	if (src == SQLITE_ROW)
		rc = -ENOMEM;
	else if (src != SQLITE_DONE)
		rc = trace_sql_err(t, src, "reading device checkpoints");
	else if (!hex)
		rc = -ENOENT;
	else if ((rc = from_hex(hex, data, len)) == -EINVAL)
		rc = trace_set_err(t, -EINVAL, "meta %s%llu: not hex", META_PREFIX, (unsigned long long)best);
	if (!rc)
		*at = best;
	free(hex);
	return rc;
}

int trace_get_device_checkpoint(struct trace *t, uint64_t step, uint64_t *at, uint8_t **data, size_t *len)
{
	sqlite3_stmt *s = NULL;
	int src, rc;

	*data = NULL;
	*len = 0;
	if (t->version < 2)
		return get_from_meta(t, step, at, data, len);
	src = sqlite3_prepare_v2(
	    t->db, "SELECT step, data FROM device_checkpoints WHERE step <= ?1 ORDER BY step DESC LIMIT 1",
	    -1, &s, NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)step);
		src = sqlite3_step(s);
	}
	if (src == SQLITE_ROW) {
		*at = (uint64_t)sqlite3_column_int64(s, 0);
		rc = copy_out(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), data, len);
	} else {
		rc = src == SQLITE_DONE ? -ENOENT : trace_sql_err(t, src, "reading device checkpoints");
	}
	sqlite3_finalize(s);
	return rc;
}
