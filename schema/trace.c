/* Opening, validating and reading a trace; the writer is in trace_write.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"
#include "trace_sql.h"

static _Thread_local char open_err[512];

static const char *const stmt_sql[ST_COUNT] = {
    [ST_META_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_CHUNK_INS] =
        "INSERT INTO chunks (first_step, n_steps, end_state, insn_steps, run_steps, fallback_steps, "
        "raw_bytes, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_CHUNK_GET] = "SELECT n_steps, raw_bytes, data FROM chunks WHERE first_step = ?1",
    [ST_PAGE_HAS] = "SELECT 1 FROM pages WHERE hash = ?1",
    [ST_PAGE_INS] = "INSERT INTO pages (hash, data) VALUES (?1, ?2)",
    [ST_PAGE_GET] = "SELECT data FROM pages WHERE hash = ?1",
    [ST_MAP_INS] = "INSERT OR REPLACE INTO page_map (gpa, step, hash) VALUES (?1, ?2, ?3)",
    [ST_MAP_AT] = "SELECT step, hash FROM page_map WHERE gpa = ?1 AND step <= ?2 ORDER BY step DESC LIMIT 1",
    [ST_MAP_RANGE] = "SELECT step, gpa FROM page_map WHERE step > ?1 AND step <= ?2 ORDER BY step",
    [ST_EXIT_INS] =
        "INSERT INTO exits (step, reason, reason_code, kvm_reason, suberror, addr, size, direction, "
        "count, data_len, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [ST_EVENT_INS] =
        "INSERT INTO events (step, vector, type, has_error, error_code) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INPUT_INS] = "INSERT INTO inputs (step, kind, kind_code, addr, size, value, count) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_INPUT_RANGE] = "SELECT step, kind_code, addr, size, value, count FROM inputs "
                       "WHERE step >= ?1 AND step < ?2 ORDER BY step, seq",
};

int trace_set_err(struct trace *t, int rc, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(t->err, sizeof(t->err), "%s: %s", t->path ? t->path : "trace", msg);
	/* SQLite quotes damaged schema text, line breaks included: a message stays one line. */
	for (char *c = t->err; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	return rc;
}

static int errno_of_sqlite(int src)
{
	switch (src & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_MISMATCH:
	case SQLITE_CONSTRAINT:
	case SQLITE_ERROR:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int trace_sql_err(struct trace *t, int src, const char *what)
{
	return trace_set_err(t, errno_of_sqlite(src), "%s: %s", what,
	                     t->db ? sqlite3_errmsg(t->db) : sqlite3_errstr(src));
}

int trace_prepare_all(struct trace *t)
{
	for (int i = 0; i < ST_COUNT; i++) {
		int src =
		    sqlite3_prepare_v3(t->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &t->st[i], NULL);
		if (src != SQLITE_OK)
			return trace_set_err(t, -EINVAL, "not an emudiff trace or damaged (%s)",
			                     sqlite3_errmsg(t->db));
	}
	return 0;
}

int trace_chunk_index_add(struct trace *t, uint64_t first, uint64_t n, bool has_end)
{
	if (t->n_chunks == t->cap_chunks) {
		size_t cap = t->cap_chunks ? t->cap_chunks * 2 : 64;
		struct chunk_ref *nc = realloc(t->chunks, cap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		t->chunks = nc;
		t->cap_chunks = cap;
	}
	t->chunks[t->n_chunks++] = (struct chunk_ref){first, n, has_end};
	t->committed = first + n;
	t->count = has_end ? t->committed : t->committed - 1;
	return 0;
}

int trace_load_chunks(struct trace *t)
{
	sqlite3_stmt *s = NULL;
	int src, rc = 0;
	uint64_t expect = 0;

	src = sqlite3_prepare_v2(
	    t->db, "SELECT first_step, n_steps, end_state FROM chunks ORDER BY first_step", -1, &s, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "reading the chunk index");
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		sqlite3_int64 first = sqlite3_column_int64(s, 0), n = sqlite3_column_int64(s, 1);
		sqlite3_int64 end = sqlite3_column_int64(s, 2);
		if ((uint64_t)first != expect || n < 0 || (n == 0 && !end) || (end != 0 && end != 1)) {
			rc = trace_set_err(t, -EINVAL,
			                   "step %llu: damaged chunk index (a chunk starts at %lld)",
			                   (unsigned long long)expect, (long long)first);
			goto out;
		}
		rc = trace_chunk_index_add(t, (uint64_t)first, (uint64_t)n, end);
		if (rc)
			goto out;
		expect = (uint64_t)first + (uint64_t)n;
	}
	if (src != SQLITE_DONE)
		rc = trace_sql_err(t, src, "reading the chunk index");
out:
	sqlite3_finalize(s);
	return rc;
}

static struct trace *trace_alloc(const char *path)
{
	struct trace *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->path = strdup(path);
	t->cctx = ZSTD_createCCtx();
	t->dctx = ZSTD_createDCtx();
	if (!t->path || !t->cctx || !t->dctx) {
		free(t->path);
		ZSTD_freeCCtx(t->cctx);
		ZSTD_freeDCtx(t->dctx);
		free(t);
		return NULL;
	}
	return t;
}

static void trace_free(struct trace *t)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(t->st[i]);
	sqlite3_close(t->db);
	chunk_free(&t->rc);
	free(t->chunks);
	for (size_t i = 0; i < t->image.cap; i++) {
		struct wpage *p = t->image.vals[i];
		if (p) {
			free(p->data);
			free(p);
		}
	}
	u64map_free(&t->image);
	buf_free(&t->kinds);
	buf_free(&t->states);
	buf_free(&t->wmeta);
	buf_free(&t->wdata);
	buf_free(&t->raw);
	buf_free(&t->dirty);
	buf_free(&t->zbuf);
	ZSTD_freeCCtx(t->cctx);
	ZSTD_freeDCtx(t->dctx);
	free(t->path);
	free(t);
}

static int open_fail(struct trace *t, int rc)
{
	snprintf(open_err, sizeof(open_err), "%s", t->err);
	trace_free(t);
	return rc;
}

const char *trace_last_open_error(void)
{
	return open_err;
}

const char *trace_error(const struct trace *t)
{
	return t ? t->err : open_err;
}

static int pragma_int(struct trace *t, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int src = sqlite3_prepare_v2(t->db, sql, -1, &s, NULL);
	if (src == SQLITE_OK) {
		src = sqlite3_step(s);
		if (src == SQLITE_ROW) {
			*out = sqlite3_column_int64(s, 0);
			src = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return src;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Catches the common bad files with a precise message before SQLite says "malformed". */
static int check_file(struct trace *t)
{
	struct stat sb, wal;
	uint8_t hdr[100];
	char walpath[4096];
	int fd, rc = 0;

	if (stat(t->path, &sb))
		return trace_set_err(t, -errno, "cannot open: %s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return trace_set_err(t, -EINVAL, "not a regular file, not an emudiff trace");
	snprintf(walpath, sizeof(walpath), "%s-wal", t->path);
	bool has_wal = stat(walpath, &wal) == 0 && wal.st_size > 0;
	if (sb.st_size == 0 && !has_wal)
		return trace_set_err(t, -EINVAL, "empty file, not an emudiff trace");
	if (sb.st_size == 0)
		return 0;
	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return trace_set_err(t, -errno, "cannot open: %s", strerror(errno));
	ssize_t got = read(fd, hdr, sizeof(hdr));
	close(fd);
	if (got < 16 || memcmp(hdr, "SQLite format 3", 16) != 0)
		return trace_set_err(t, -EINVAL, "not an SQLite file, so not an emudiff trace");
	if (got < (ssize_t)sizeof(hdr))
		return trace_set_err(t, -EINVAL, "truncated (%lld bytes, shorter than an SQLite header)",
		                     (long long)sb.st_size);
	uint64_t psize = (uint64_t)hdr[16] << 8 | hdr[17];
	if (psize == 1)
		psize = 65536;
	uint64_t pages = be32(hdr + 28);
	/* The in-header size is valid when the change counter matches; a WAL may still hold the rest. */
	if (!has_wal && be32(hdr + 24) == be32(hdr + 92) && pages && (uint64_t)sb.st_size < pages * psize)
		rc = trace_set_err(t, -EINVAL, "truncated (%lld of %llu bytes); the file was cut short",
		                   (long long)sb.st_size, (unsigned long long)(pages * psize));
	return rc;
}

static int check_identity(struct trace *t)
{
	int64_t app = 0, ver = 0;
	int src = pragma_int(t, "PRAGMA application_id", &app);
	if (src == SQLITE_OK)
		src = pragma_int(t, "PRAGMA user_version", &ver);
	if (src != SQLITE_OK)
		return trace_set_err(t, errno_of_sqlite(src), "not a readable SQLite database (%s)",
		                     sqlite3_errmsg(t->db));
	if ((uint32_t)app != TRACE_APPLICATION_ID)
		return trace_set_err(t, -EINVAL,
		                     "not an emudiff trace (SQLite application_id 0x%08x, expected 0x%08x)",
		                     (unsigned)app, TRACE_APPLICATION_ID);
	if (ver < TRACE_FORMAT_VERSION_OLDEST || ver > TRACE_FORMAT_VERSION)
		return trace_set_err(t, -EINVAL,
		                     "trace format version %lld; this emudiff reads versions %d to %d",
		                     (long long)ver, TRACE_FORMAT_VERSION_OLDEST, TRACE_FORMAT_VERSION);
	t->version = (int)ver;
	return 0;
}

static int read_meta(const struct trace *t, const char *key, char *buf, size_t len)
{
	sqlite3_stmt *s = t->st[ST_META_GET];
	int rc;

	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);
		size_t n = v ? strlen(v) : 0;
		if (n >= len) {
			rc = -ENOSPC;
		} else {
			memcpy(buf, v ? v : "", n + 1);
			rc = 0;
		}
	} else {
		rc = src == SQLITE_DONE ? -ENOENT : errno_of_sqlite(src);
	}
	sqlite3_reset(s);
	return rc;
}

int trace_open(struct trace **out, const char *path)
{
	struct trace *t;
	int rc, src;
	char steps[32];

	*out = NULL;
	if (!path || !*path) {
		snprintf(open_err, sizeof(open_err), "trace: no file name given");
		return -EINVAL;
	}
	t = trace_alloc(path);
	if (!t) {
		snprintf(open_err, sizeof(open_err), "%s: out of memory", path);
		return -ENOMEM;
	}
	rc = check_file(t);
	if (rc)
		return open_fail(t, rc);
	src = sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READONLY, NULL);
	if (src != SQLITE_OK)
		return open_fail(
		    t, trace_set_err(t, errno_of_sqlite(src), "cannot open: %s", sqlite3_errmsg(t->db)));
	sqlite3_busy_timeout(t->db, 5000);
	rc = check_identity(t);
	if (!rc)
		rc = trace_prepare_all(t);
	if (!rc)
		rc = trace_load_chunks(t);
	/* One read transaction for the reader's life: a snapshot, and no lock round trip per statement. */
	if (!rc && (src = sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
		rc = trace_sql_err(t, src, "starting a read transaction");
	if (rc)
		return open_fail(t, rc);
	if (read_meta(t, "end_reason", steps, sizeof(steps)) != -ENOENT &&
	    read_meta(t, "steps", steps, sizeof(steps)) == 0)
		t->complete = t->n_chunks && t->chunks[t->n_chunks - 1].has_end &&
		              strtoull(steps, NULL, 10) == t->count;
	*out = t;
	return 0;
}

/* Writer opening: exclusive creation, schema from trace.sql, one transaction open at all times. */
int trace_create(struct trace **out, const char *path, bool force)
{
	struct trace *t;
	int rc, src, fd;
	char side[4096];
	static const char *const sides[] = {"-wal", "-shm", "-journal"};

	*out = NULL;
	if (!path || !*path) {
		snprintf(open_err, sizeof(open_err), "trace: no file name given");
		return -EINVAL;
	}
	t = trace_alloc(path);
	if (!t) {
		snprintf(open_err, sizeof(open_err), "%s: out of memory", path);
		return -ENOMEM;
	}
	t->writer = true;
	if (force) {
		/* An old trace's WAL must never be replayed into the new file. */
		for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
			snprintf(side, sizeof(side), "%s%s", path, sides[i]);
			if (unlink(side) && errno != ENOENT)
				return open_fail(t, trace_set_err(t, -errno, "cannot remove %s: %s", side,
				                                  strerror(errno)));
		}
		if (unlink(path) && errno != ENOENT)
			return open_fail(
			    t, trace_set_err(t, -errno, "cannot remove the old trace: %s", strerror(errno)));
	}
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return open_fail(
			    t, trace_set_err(t, -EEXIST,
			                     "exists; refusing to overwrite it (force replaces it)"));
		return open_fail(t, trace_set_err(t, -errno, "cannot create: %s", strerror(errno)));
	}
	close(fd);
	src = sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READWRITE, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_exec(t->db,
		                   "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
		                   "PRAGMA cache_size = -16384",
		                   NULL, NULL, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_exec(t->db, trace_sql, NULL, NULL, NULL);
	if (src == SQLITE_OK)
		src = sqlite3_exec(t->db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	if (src != SQLITE_OK) {
		rc = trace_sql_err(t, src, "creating the schema");
		goto fail;
	}
	rc = check_identity(t);
	if (!rc)
		rc = trace_prepare_all(t);
	if (!rc) {
		src = sqlite3_exec(t->db, "BEGIN", NULL, NULL, NULL);
		if (src != SQLITE_OK)
			rc = trace_sql_err(t, src, "starting a transaction");
	}
	if (rc)
		goto fail;
	t->in_txn = true;
	*out = t;
	return 0;
fail:
	open_fail(t, rc);
	unlink(path);
	return rc;
}

int trace_meta_set(struct trace *t, const char *key, const char *value)
{
	sqlite3_stmt *s = t->st[ST_META_SET];

	if (!t->writer)
		return trace_set_err(t, -EBADF, "opened read-only; meta %s not written", key);
	if (!key || !value)
		return trace_set_err(t, -EINVAL, "meta key and value must be given");
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	int src = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return src == SQLITE_DONE ? 0 : trace_sql_err(t, src, "writing meta");
}

int trace_meta_get(const struct trace *t, const char *key, char *buf, size_t len)
{
	return read_meta(t, key, buf, len);
}

int trace_cpuid_table(const struct trace *t, uint32_t (**out)[6], size_t *n)
{
	size_t cap = 1 << 16;
	char *text = malloc(cap), *save = NULL;
	uint32_t(*rows)[6] = NULL;

	*out = NULL;
	*n = 0;
	if (!text)
		return -ENOMEM;
	if (read_meta(t, "cpuid", text, cap) < 0) {
		free(text);
		return 0;
	}
	for (char *line = strtok_r(text, "\n;", &save); line; line = strtok_r(NULL, "\n;", &save)) {
		unsigned v[6];
		/* "leaf subleaf: eax ebx ecx edx" in hex, as the recorder writes it */
		if (sscanf(line, "%x %x: %x %x %x %x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
			continue;
		uint32_t(*grown)[6] = realloc(rows, (*n + 1) * sizeof(*grown));
		if (!grown) {
			free(rows);
			free(text);
			*n = 0;
			return -ENOMEM;
		}
		rows = grown;
		for (int i = 0; i < 6; i++)
			rows[*n][i] = (uint32_t)v[i];
		(*n)++;
	}
	free(text);
	*out = rows;
	return 0;
}

uint64_t trace_step_count(const struct trace *t)
{
	return t->writer ? t->appended : t->count;
}

bool trace_is_complete(const struct trace *t)
{
	return t->complete;
}

int trace_state_at(struct trace *t, uint64_t step, struct x86_state *out)
{
	uint64_t words[X86_STATE_WORDS];
	int rc;

	if (!t->n_chunks)
		return trace_set_err(t, -ENOENT, "step %llu: the trace holds no committed state",
		                     (unsigned long long)step);
	if (step > t->count)
		return trace_set_err(t, -ERANGE, "step %llu: not in the trace (it has %llu steps)",
		                     (unsigned long long)step, (unsigned long long)t->count);
	rc = chunk_load(t, &t->rc, step);
	if (!rc)
		rc = chunk_state(t, &t->rc, step - t->rc.first, words);
	if (!rc)
		memcpy(out, words, sizeof(*out));
	return rc;
}

int trace_memory_at(struct trace *t, uint64_t step, uint64_t gpa, void *buf, size_t len)
{
	struct chunk *c = NULL;
	int rc;

	if (step > t->count)
		return trace_set_err(t, -ERANGE, "step %llu: not in the trace (it has %llu steps)",
		                     (unsigned long long)step, (unsigned long long)t->count);
	if (step < t->committed) {
		rc = chunk_load(t, &t->rc, step);
		if (rc)
			return rc;
		c = &t->rc;
	}
	return memory_read(t, c, step, gpa, buf, len);
}

int trace_step_at(struct trace *t, uint64_t step, struct trace_step *out)
{
	if (step >= t->count)
		return trace_set_err(t, -ERANGE, "step %llu: not in the trace (it has %llu steps)",
		                     (unsigned long long)step, (unsigned long long)t->count);
	int rc = chunk_load(t, &t->rc, step);
	return rc ? rc : chunk_step(t, &t->rc, step, out);
}

struct trace_iter {
	struct trace *t;
	struct chunk c;
	uint64_t next, cur;
	bool has_cur;
	struct u64map image; /* page number -> 4 KiB: only pages asked for */
	uint64_t *map_step, *map_page;
	size_t map_n, map_i;
	uint64_t *stored; /* pages stored anew before the current step (trace_iter_stored_pages) */
	size_t n_stored, cap_stored;
};

/* The image's copy of a page that holds only zeros: shared, and copied on the first write. */
static const uint8_t zero_page[TRACE_PAGE_SIZE];

static void iter_free_page(void *p)
{
	if (p != zero_page)
		free(p);
}

static void iter_drop_page(struct trace_iter *it, uint64_t page)
{
	iter_free_page(u64map_del(&it->image, page));
}

/* Page map rows inside the chunk: content replaced by a put, so cached copies go stale. */
static int iter_load_map(struct trace_iter *it, uint64_t after)
{
	struct trace *t = it->t;
	sqlite3_stmt *s = t->st[ST_MAP_RANGE];
	size_t cap = 0;
	int src, rc = 0;

	free(it->map_step);
	free(it->map_page);
	it->map_step = it->map_page = NULL;
	it->map_n = it->map_i = 0;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(it->c.first + it->c.n));
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (it->map_n == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *a = realloc(it->map_step, cap * sizeof(uint64_t));
			uint64_t *b = a ? realloc(it->map_page, cap * sizeof(uint64_t)) : NULL;
			if (a)
				it->map_step = a;
			if (b)
				it->map_page = b;
			if (!a || !b) {
				rc = -ENOMEM;
				goto out;
			}
		}
		it->map_step[it->map_n] = (uint64_t)sqlite3_column_int64(s, 0);
		it->map_page[it->map_n] = (uint64_t)sqlite3_column_int64(s, 1) >> TRACE_PAGE_SHIFT;
		it->map_n++;
	}
	if (src != SQLITE_DONE)
		rc = trace_sql_err(t, src, "reading the page map");
out:
	sqlite3_reset(s);
	return rc;
}

int trace_iter_start(struct trace *t, uint64_t first_step, struct trace_iter **out)
{
	*out = NULL;
	if (first_step > t->count)
		return trace_set_err(t, -ERANGE, "step %llu: not in the trace (it has %llu steps)",
		                     (unsigned long long)first_step, (unsigned long long)t->count);
	struct trace_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->t = t;
	it->next = first_step;
	*out = it;
	return 0;
}

static int iter_apply_writes(struct trace_iter *it, uint64_t step)
{
	struct chunk *c = &it->c;
	uint64_t j = step - c->first;
	struct rd r = {c->raw + c->wmeta_off[j], c->raw + c->wmeta_off[j + 1]};
	const uint8_t *data = c->raw + c->wdata_off[j];
	uint64_t nw, gpa, len;

	if (!it->image.n)
		return 0;
	if (rd_varint(&r, &nw))
		return -EINVAL;
	for (uint64_t w = 0; w < nw; w++) {
		if (rd_varint(&r, &gpa) || rd_varint(&r, &len))
			return -EINVAL;
		for (uint64_t a = gpa; a < gpa + len;) {
			uint64_t pn = a >> TRACE_PAGE_SHIFT, off = a & (TRACE_PAGE_SIZE - 1);
			uint64_t n =
			    TRACE_PAGE_SIZE - off < gpa + len - a ? TRACE_PAGE_SIZE - off : gpa + len - a;
			void **slot = u64map_get(&it->image, pn);
			if (slot && *slot == zero_page) {
				void *np = calloc(1, TRACE_PAGE_SIZE);
				if (!np)
					return -ENOMEM;
				*slot = np;
			}
			if (slot)
				memcpy((uint8_t *)*slot + off, data + (a - gpa), n);
			a += n;
		}
		data += len;
	}
	return 0;
}

int trace_iter_next(struct trace_iter *it, struct trace_step *out)
{
	struct trace *t = it->t;
	uint64_t s = it->next;
	int rc;

	if (s >= t->count)
		return 0;
	if (it->has_cur) {
		rc = iter_apply_writes(it, it->cur);
		if (rc)
			return trace_set_err(t, rc, "step %llu: damaged writes", (unsigned long long)it->cur);
		it->n_stored = 0;
		for (; it->map_i < it->map_n && it->map_step[it->map_i] <= s; it->map_i++) {
			if (it->map_step[it->map_i] != s)
				continue;
			iter_drop_page(it, it->map_page[it->map_i]);
			rc = u64_push(&it->stored, &it->n_stored, &it->cap_stored, it->map_page[it->map_i]);
			if (rc)
				return rc;
		}
	}
	if (!it->c.valid || s >= it->c.first + it->c.n) {
		rc = chunk_load(t, &it->c, s);
		if (!rc)
			rc = iter_load_map(it, s);
		if (rc)
			return rc;
	}
	rc = chunk_step(t, &it->c, s, out);
	if (rc)
		return rc;
	it->cur = s;
	it->has_cur = true;
	it->next = s + 1;
	return 1;
}

int trace_iter_memory(struct trace_iter *it, uint64_t gpa, void *buf, size_t len)
{
	struct trace *t = it->t;
	uint8_t *dst = buf;

	if (!it->has_cur)
		return trace_set_err(t, -EINVAL, "trace_iter_memory before the first trace_iter_next");
	if (gpa + len < gpa)
		return trace_set_err(t, -EINVAL, "memory range 0x%llx+%zu wraps", (unsigned long long)gpa,
		                     len);
	while (len) {
		uint64_t pn = gpa >> TRACE_PAGE_SHIFT, off = gpa & (TRACE_PAGE_SIZE - 1);
		size_t n = TRACE_PAGE_SIZE - off < len ? TRACE_PAGE_SIZE - off : len;
		void **slot = u64map_get(&it->image, pn);
		if (!slot) {
			uint8_t page[TRACE_PAGE_SIZE];
			void *p = (void *)zero_page;
			int rc = page_at(t, &it->c, it->cur, pn, page);
			if (!rc && memcmp(page, zero_page, sizeof(page))) {
				p = malloc(TRACE_PAGE_SIZE);
				if (!p)
					return -ENOMEM;
				memcpy(p, page, sizeof(page));
			}
			if (!rc)
				rc = u64map_put(&it->image, pn, p);
			if (rc) {
				iter_free_page(p);
				return rc;
			}
			slot = u64map_get(&it->image, pn);
		}
		memcpy(dst, (uint8_t *)*slot + off, n);
		dst += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

void trace_iter_end(struct trace_iter *it)
{
	if (!it)
		return;
	for (size_t i = 0; i < it->image.cap; i++)
		iter_free_page(it->image.vals[i]);
	u64map_free(&it->image);
	chunk_free(&it->c);
	free(it->map_step);
	free(it->map_page);
	free(it->stored);
	free(it);
}

size_t trace_iter_stored_pages(const struct trace_iter *it, const uint64_t **pages)
{
	*pages = it->stored;
	return it->n_stored;
}

static void le_bytes(uint8_t *dst, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n && i < 8; i++)
		dst[i] = (uint8_t)(v >> (8 * i));
}

/* Rows of steps an incomplete trace does not hold (written before the writer died) are left out. */
static sqlite3_int64 row_limit(const struct trace *t)
{
	return t->writer || t->complete ? INT64_MAX : (sqlite3_int64)t->count;
}

int trace_foreach_exit(struct trace *t, int (*fn)(void *arg, const struct trace_exit *e), void *arg)
{
	sqlite3_stmt *s = NULL;
	int src, rc = 0;

	src = sqlite3_prepare_v2(
	    t->db,
	    "SELECT step, reason_code, kvm_reason, suberror, addr, size, direction, count, "
	    "data_len, data FROM exits WHERE step < ?1 ORDER BY step, seq",
	    -1, &s, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "reading exits");
	sqlite3_bind_int64(s, 1, row_limit(t));
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		struct trace_exit e = {0};
		sqlite3_int64 dlen = sqlite3_column_int64(s, 8);
		e.step = (uint64_t)sqlite3_column_int64(s, 0);
		e.reason = (uint32_t)sqlite3_column_int64(s, 1);
		e.kvm_reason = (uint32_t)sqlite3_column_int64(s, 2);
		e.suberror = (uint32_t)sqlite3_column_int64(s, 3);
		e.addr = (uint64_t)sqlite3_column_int64(s, 4);
		e.size = (uint8_t)sqlite3_column_int64(s, 5);
		const char *dir = (const char *)sqlite3_column_text(s, 6);
		e.is_write = dir && strcmp(dir, "write") == 0;
		e.count = (uint32_t)sqlite3_column_int64(s, 7);
		int type = sqlite3_column_type(s, 9);
		if (dlen < 0 || dlen > 16 || (type == SQLITE_INTEGER && dlen > 8) ||
		    (type == SQLITE_BLOB && sqlite3_column_bytes(s, 9) != dlen) ||
		    (type == SQLITE_NULL && dlen) || type == SQLITE_TEXT || type == SQLITE_FLOAT) {
			rc = trace_set_err(t, -EINVAL, "step %llu: damaged exit row",
			                   (unsigned long long)e.step);
			goto out;
		}
		e.data_len = (uint32_t)dlen;
		if (type == SQLITE_INTEGER)
			le_bytes(e.data, (uint64_t)sqlite3_column_int64(s, 9), (size_t)dlen);
		else if (type == SQLITE_BLOB)
			memcpy(e.data, sqlite3_column_blob(s, 9), (size_t)dlen);
		rc = fn(arg, &e);
		if (rc)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = trace_sql_err(t, src, "reading exits");
out:
	sqlite3_finalize(s);
	return rc;
}

int trace_foreach_event(struct trace *t, int (*fn)(void *arg, const struct trace_event *e), void *arg)
{
	sqlite3_stmt *s = NULL;
	int src, rc = 0;

	src = sqlite3_prepare_v2(
	    t->db,
	    "SELECT step, vector, type, has_error, error_code FROM events WHERE step < ?1 ORDER BY step, seq",
	    -1, &s, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "reading events");
	sqlite3_bind_int64(s, 1, row_limit(t));
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		struct trace_event e = {0};
		e.step = (uint64_t)sqlite3_column_int64(s, 0);
		e.vector = (uint8_t)sqlite3_column_int64(s, 1);
		e.type = (uint8_t)sqlite3_column_int64(s, 2);
		e.has_error = (uint8_t)sqlite3_column_int64(s, 3);
		e.error_code = (uint32_t)sqlite3_column_int64(s, 4);
		rc = fn(arg, &e);
		if (rc)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = trace_sql_err(t, src, "reading events");
out:
	sqlite3_finalize(s);
	return rc;
}

int trace_foreach_input(struct trace *t, enum trace_input_kind kind,
                        int (*fn)(void *arg, uint64_t step, const struct trace_input *in), void *arg)
{
	sqlite3_stmt *s = NULL;
	int src, rc = 0;

	src = sqlite3_prepare_v2(
	    t->db,
	    "SELECT step, kind_code, addr, size, value, count FROM inputs WHERE kind_code = ?1 AND step < ?2"
	    " ORDER BY seq",
	    -1, &s, NULL);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "reading inputs");
	sqlite3_bind_int64(s, 1, kind);
	sqlite3_bind_int64(s, 2, row_limit(t));
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		struct trace_input in;
		if ((rc = trace_input_row(t, s, &in)) < 0)
			goto out;
		rc = fn(arg, (uint64_t)sqlite3_column_int64(s, 0), &in);
		if (rc)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = trace_sql_err(t, src, "reading inputs");
out:
	sqlite3_finalize(s);
	return rc;
}

static int count_rows(struct trace *t, const char *sql, uint64_t *out)
{
	sqlite3_stmt *s = NULL;
	int src = sqlite3_prepare_v2(t->db, sql, -1, &s, NULL);
	if (src == SQLITE_OK) {
		if (sqlite3_bind_parameter_count(s))
			sqlite3_bind_int64(s, 1, row_limit(t));
		src = sqlite3_step(s);
		if (src == SQLITE_ROW) {
			*out = (uint64_t)sqlite3_column_int64(s, 0);
			src = SQLITE_OK;
		}
	}
	sqlite3_finalize(s);
	return src == SQLITE_OK ? 0 : trace_sql_err(t, src, "reading sizes");
}

int trace_stats(struct trace *t, struct trace_stats *out)
{
	sqlite3_stmt *s = NULL;
	int64_t pc = 0, ps = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	out->steps = t->count;
	int src = sqlite3_prepare_v2(t->db,
	                             "SELECT total(insn_steps), total(run_steps), total(fallback_steps),"
	                             " total(n_steps - insn_steps - run_steps - fallback_steps) FROM chunks",
	                             -1, &s, NULL);
	if (src == SQLITE_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
		out->insn_steps = (uint64_t)sqlite3_column_int64(s, 0);
		out->run_steps = (uint64_t)sqlite3_column_int64(s, 1);
		out->fallback_steps = (uint64_t)sqlite3_column_int64(s, 2);
		out->native_steps = (uint64_t)sqlite3_column_int64(s, 3);
		src = SQLITE_OK;
	}
	sqlite3_finalize(s);
	if (src != SQLITE_OK)
		return trace_sql_err(t, src, "reading sizes");
	if ((rc = count_rows(t, "SELECT count(*) FROM exits WHERE step < ?1", &out->exits)) ||
	    (rc = count_rows(t, "SELECT count(*) FROM events WHERE step < ?1", &out->events)) ||
	    (rc = count_rows(t, "SELECT count(*) FROM pages", &out->pages)))
		return rc;
	if (pragma_int(t, "PRAGMA page_count", &pc) != SQLITE_OK ||
	    pragma_int(t, "PRAGMA page_size", &ps) != SQLITE_OK)
		return trace_sql_err(t, SQLITE_ERROR, "reading the file size");
	out->file_bytes = (uint64_t)pc * (uint64_t)ps;
	return 0;
}

void trace_close(struct trace *t)
{
	if (!t)
		return;
	if (t->writer && !t->finished)
		trace_commit(t);
	if (t->writer && t->in_txn)
		sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
	/* A finished trace is one self-contained file: readers then need no -wal/-shm beside it. */
	if (t->writer && t->finished)
		sqlite3_exec(t->db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
	trace_free(t);
}
