/* The results database: one SQLite file per replay, with tables a user can
 * query directly (run, backend, divergence, field, known) and views (diff,
 * summary, xpass). Rows go in the order they are given, so the same replay
 * gives the same content. */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

#ifndef EMUDIFF_VERSION
#define EMUDIFF_VERSION "unknown"
#endif

#define COMMIT_EVERY 4096

/* A divergence row's blobs in column order: insn, pre, expected, actual, unobserved. */
#define ROW_BLOBS 5

/* FNV-1a 64 over the blobs, each preceded by its length (-1: NULL), so a blob cut short or moved to another
 * column does not keep the sum. */
int64_t differ_results_blob_sum(const void *const blobs[ROW_BLOBS], const int lens[ROW_BLOBS])
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (int b = 0; b < ROW_BLOBS; b++) {
		uint32_t n = (uint32_t)lens[b];
		const uint8_t *p = blobs[b];
		for (int i = 0; i < 4; i++)
			h = (h ^ ((n >> (8 * i)) & 0xff)) * 0x100000001b3ull;
		for (int i = 0; p && i < lens[b]; i++)
			h = (h ^ p[i]) * 0x100000001b3ull;
	}
	return (int64_t)h;
}

static const char results_ddl[] =
    "CREATE TABLE run(id INTEGER PRIMARY KEY, trace TEXT, reference TEXT, replay_mode TEXT,"
    " command_line TEXT, tool_version TEXT, first_step INTEGER, end_step INTEGER,"
    " stopped_at INTEGER, completed INTEGER NOT NULL DEFAULT 0, part TEXT, host TEXT,"
    " run_steps INTEGER NOT NULL DEFAULT 0, fallback_steps INTEGER NOT NULL DEFAULT 0,"
    " native_steps INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE TABLE backend(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, name TEXT NOT NULL,"
    " steps INTEGER NOT NULL, stepped INTEGER NOT NULL, unsupported INTEGER NOT NULL,"
    " crashed INTEGER NOT NULL, failed INTEGER NOT NULL) STRICT;"
    "CREATE TABLE divergence(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, backend TEXT NOT NULL,"
    " step INTEGER NOT NULL, class TEXT NOT NULL, detail TEXT NOT NULL, known INTEGER NOT NULL,"
    " outcome TEXT NOT NULL, mode TEXT NOT NULL, cpl INTEGER NOT NULL, rip TEXT NOT NULL, insn BLOB,"
    " disasm TEXT NOT NULL, n_fields INTEGER NOT NULL, undefined_rflags TEXT NOT NULL,"
    " pre BLOB, expected BLOB, actual BLOB, unobserved BLOB, blob_sum INTEGER NOT NULL) STRICT;"
    "CREATE INDEX divergence_class ON divergence(backend, class);"
    "CREATE TABLE field(divergence INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,"
    " expected TEXT, actual TEXT, width INTEGER NOT NULL, PRIMARY KEY(divergence, seq)) STRICT;"
    "CREATE TABLE known(id INTEGER PRIMARY KEY, source TEXT NOT NULL, line INTEGER NOT NULL,"
    " backend TEXT NOT NULL, class TEXT NOT NULL, step TEXT NOT NULL, comment TEXT NOT NULL,"
    " hits INTEGER NOT NULL) STRICT;"
    "CREATE VIEW diff AS SELECT d.run, d.backend, d.step, d.class, f.name AS field, f.expected, f.actual,"
    " d.known, d.detail FROM divergence d LEFT JOIN field f ON f.divergence = d.id ORDER BY d.id, f.seq;"
    "CREATE VIEW summary AS SELECT backend, class, count(*) AS divergences, sum(known = 0) AS new,"
    " sum(known) AS expected, min(step) AS first_step FROM divergence GROUP BY backend, class"
    " ORDER BY backend, class;"
    "CREATE VIEW xpass AS SELECT k.* FROM known k, run r WHERE k.hits = 0"
    " AND EXISTS (SELECT 1 FROM backend b WHERE b.name GLOB k.backend AND b.steps > 0)"
    " AND (k.step = '*' OR r.first_step IS NULL"
    " OR (CAST(k.step AS INTEGER) >= r.first_step"
    " AND CAST(k.step AS INTEGER) < coalesce(r.stopped_at, r.end_step)))"
    " ORDER BY k.id;";

struct backend_count {
	char name[16];
	int64_t id;
	uint64_t n[4]; /* by enum backend_outcome */
};

struct class_count {
	char backend[16];
	char cls[40];
	unsigned n;
};

struct differ_results {
	sqlite3 *db;
	char path[512];
	sqlite3_stmt *ins_div, *ins_field;
	struct backend_count *backends;
	size_t n_backends;
	const char *counted_name; /* the name string of the last count, and its entry: one lookup a run */
	size_t counted;
	struct class_count *classes;
	size_t n_classes, cap_classes;
	unsigned states_per_class;
	unsigned pending;
	int error;
};

const char *differ_outcome_name(enum backend_outcome o)
{
	switch (o) {
	case BACKEND_STEPPED:
		return "stepped";
	case BACKEND_UNSUPPORTED:
		return "unsupported";
	case BACKEND_CRASH:
		return "crash";
	case BACKEND_FAILED:
		return "failed";
	}
	return "?";
}

static int db_error(struct differ_results *r, const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", r->path, what, sqlite3_errmsg(r->db));
	r->error = -EIO;
	return -EIO;
}

static int exec(struct differ_results *r, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", r->path, msg ? msg : "SQLite error");
		sqlite3_free(msg);
		r->error = -EIO;
		return -EIO;
	}
	return 0;
}

int differ_results_create(struct differ_results **out, const char *path, const struct differ_run_info *run,
                          char *err, size_t errlen)
{
	struct differ_results *r;
	sqlite3_stmt *st = NULL;
	char sql[256];
	int ret = -EIO;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->states_per_class =
	    run && run->states_per_class ? run->states_per_class : DIFFER_RESULTS_STATES_DEFAULT;
	/* A results file is output: start from nothing so the content depends only on this run. */
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot replace the results database: %s", path, strerror(errno));
		free(r);
		return ret;
	}
	for (const char *sfx = "-journal"; sfx; sfx = strcmp(sfx, "-journal") == 0 ? "-wal" : NULL) {
		char side[600];
		snprintf(side, sizeof(side), "%s%s", path, sfx);
		unlink(side);
	}
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot create the results database: %s", path,
		         r->db ? sqlite3_errmsg(r->db) : "out of memory");
		goto fail;
	}
	snprintf(sql, sizeof(sql),
	         "PRAGMA application_id=%d; PRAGMA user_version=%d;"
	         " PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY;",
	         DIFFER_RESULTS_APP_ID, DIFFER_RESULTS_VERSION);
	if (exec(r, sql) < 0 || exec(r, results_ddl) < 0) {
		snprintf(err, errlen, "%s: cannot create the results tables: %s", path,
		         sqlite3_errmsg(r->db));
		goto fail;
	}
	if (sqlite3_prepare_v2(
	        r->db,
	        "INSERT INTO run(id, trace, reference, replay_mode, command_line, tool_version)"
	        " VALUES(1, ?, ?, ?, ?, ?)",
	        -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, run && run->trace_path ? run->trace_path : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, run && run->reference ? run->reference : "unknown", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, run && run->replay_mode ? run->replay_mode : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, run && run->command_line ? run->command_line : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, EMUDIFF_VERSION, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(
	        r->db,
	        "INSERT INTO divergence(run, backend, step, class, detail, known, outcome, mode, cpl,"
	        " rip, insn, disasm, n_fields, undefined_rflags, pre, expected, actual, unobserved, blob_sum)"
	        " VALUES(1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	        -1, &r->ins_div, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
	                       "INSERT INTO field(divergence, seq, name, expected, actual, width)"
	                       " VALUES(?, ?, ?, ?, ?, ?)",
	                       -1, &r->ins_field, NULL) != SQLITE_OK)
		goto sqlfail;
	if (exec(r, "BEGIN") < 0)
		goto sqlfail;
	*out = r;
	return 0;
sqlfail:
	snprintf(err, errlen, "%s: results database: %s", path, sqlite3_errmsg(r->db));
fail:
	sqlite3_finalize(st);
	sqlite3_finalize(r->ins_div);
	sqlite3_finalize(r->ins_field);
	sqlite3_close(r->db);
	free(r);
	return ret;
}

static struct backend_count *find_backend(struct differ_results *r, const char *name)
{
	for (size_t i = 0; i < r->n_backends; i++)
		if (strcmp(r->backends[i].name, name) == 0)
			return &r->backends[i];
	struct backend_count *v = realloc(r->backends, (r->n_backends + 1) * sizeof(*v));
	if (!v)
		return NULL;
	r->backends = v;
	struct backend_count *b = &v[r->n_backends];
	memset(b, 0, sizeof(*b));
	snprintf(b->name, sizeof(b->name), "%s", name);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(r->db,
	                       "INSERT INTO backend(run, name, steps, stepped, unsupported, crashed, failed)"
	                       " VALUES(1, ?, 0, 0, 0, 0, 0)",
	                       -1, &st, NULL) != SQLITE_OK) {
		db_error(r, "backend");
		return NULL;
	}
	sqlite3_bind_text(st, 1, b->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_error(r, "backend");
		return NULL;
	}
	b->id = sqlite3_last_insert_rowid(r->db);
	r->n_backends++;
	return b;
}

static int flush_backends(struct differ_results *r)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(
	        r->db,
	        "UPDATE backend SET steps = ?, stepped = ?, unsupported = ?, crashed = ?, failed = ?"
	        " WHERE id = ?",
	        -1, &st, NULL) != SQLITE_OK)
		return db_error(r, "backend");
	for (size_t i = 0; i < r->n_backends; i++) {
		const struct backend_count *b = &r->backends[i];
		uint64_t total = b->n[0] + b->n[1] + b->n[2] + b->n[3];
		sqlite3_bind_int64(st, 1, (int64_t)total);
		for (int k = 0; k < 4; k++)
			sqlite3_bind_int64(st, 2 + k, (int64_t)b->n[k]);
		sqlite3_bind_int64(st, 6, b->id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return db_error(r, "backend");
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return 0;
}

int differ_results_count_step(struct differ_results *r, const char *backend, enum backend_outcome outcome)
{
	if (!r || !backend)
		return -EINVAL;
	struct backend_count *b;
	if (backend == r->counted_name) {
		b = &r->backends[r->counted];
	} else {
		b = find_backend(r, backend);
		if (!b)
			return r->error ? r->error : -ENOMEM;
		r->counted_name = backend;
		r->counted = (size_t)(b - r->backends);
	}
	b->n[(unsigned)outcome < 4 ? outcome : BACKEND_FAILED]++;
	return 0;
}

int differ_results_set_range(struct differ_results *r, uint64_t first, uint64_t end)
{
	char sql[160];
	if (!r)
		return -EINVAL;
	snprintf(sql, sizeof(sql),
	         "UPDATE run SET first_step = %" PRId64 ", end_step = %" PRId64 " WHERE id = 1",
	         (int64_t)first, end > INT64_MAX ? INT64_MAX : (int64_t)end);
	return exec(r, sql);
}

int differ_results_set_end(struct differ_results *r, bool completed, uint64_t stopped_at)
{
	char sql[160];
	if (!r)
		return -EINVAL;
	if (completed)
		return exec(r, "UPDATE run SET completed = 1, stopped_at = NULL WHERE id = 1");
	snprintf(sql, sizeof(sql), "UPDATE run SET completed = 0, stopped_at = %" PRId64 " WHERE id = 1",
	         stopped_at > INT64_MAX ? INT64_MAX : (int64_t)stopped_at);
	return exec(r, sql);
}

int differ_results_set_not_compared(struct differ_results *r, uint64_t run, uint64_t fallback,
                                    uint64_t native)
{
	char sql[200];
	if (!r)
		return -EINVAL;
	snprintf(sql, sizeof(sql),
	         "UPDATE run SET run_steps = %" PRId64 ", fallback_steps = %" PRId64
	         ", native_steps = %" PRId64 " WHERE id = 1",
	         (int64_t)run, (int64_t)fallback, (int64_t)native);
	return exec(r, sql);
}

int differ_results_set_part(const char *path, const char *part)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int ret = -EIO;

	/* Where a part ran, to find a shard's machine; the whole run and a merged one name none. */
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "UPDATE run SET part = ?, host = ? WHERE id = 1", -1, &st, NULL) ==
	        SQLITE_OK) {
		sqlite3_bind_text(st, 1, part, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1)
			ret = 0;
	}
	if (ret < 0)
		fprintf(stderr, "%s: cannot record the replayed part: %s\n", path,
		        db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

int differ_results_verify_db(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	static const char *const names[ROW_BLOBS] = {"insn", "pre", "expected", "actual", "unobserved"};
	sqlite3_stmt *st = NULL;
	int ret = 0, rc;

	if (sqlite3_prepare_v2(
	        db,
	        "SELECT step, backend, class, blob_sum, insn, pre, expected, actual, unobserved"
	        " FROM divergence ORDER BY id",
	        -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: divergence table: %s", path, sqlite3_errmsg(db));
		return -EIO;
	}
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blobs[ROW_BLOBS];
		int lens[ROW_BLOBS];
		char why[80] = "";
		for (int b = 0; b < ROW_BLOBS; b++) {
			bool null = sqlite3_column_type(st, 4 + b) == SQLITE_NULL;
			blobs[b] = null ? NULL : sqlite3_column_blob(st, 4 + b);
			lens[b] = null ? -1 : sqlite3_column_bytes(st, 4 + b);
		}
		/* An instruction is at most 16 bytes; states are stored all four (whole) or none. */
		if (lens[0] > 16)
			snprintf(why, sizeof(why), "insn: %d bytes, at most 16", lens[0]);
		for (int b = 1; b < ROW_BLOBS && !why[0]; b++) {
			int want = lens[1] < 0 ? -1 : (int)sizeof(struct x86_state);
			if (lens[b] != want)
				snprintf(why, sizeof(why), "%s: %d bytes, want %d", names[b],
				         lens[b] < 0 ? 0 : lens[b], want < 0 ? 0 : want);
		}
		if (!why[0] && differ_results_blob_sum(blobs, lens) != sqlite3_column_int64(st, 3))
			snprintf(why, sizeof(why), "checksum mismatch");
		if (why[0]) {
			snprintf(err, errlen,
			         "%s: divergence row at step %" PRId64 " (%s, %s): a damaged blob (%s)", path,
			         (int64_t)sqlite3_column_int64(st, 0),
			         (const char *)sqlite3_column_text(st, 1),
			         (const char *)sqlite3_column_text(st, 2), why);
			ret = -EIO;
		}
	}
	if (!ret && rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: divergence table: %s", path, sqlite3_errmsg(db));
		ret = -EIO;
	}
	sqlite3_finalize(st);
	return ret;
}

int differ_results_verify(const char *path, char *err, size_t errlen)
{
	sqlite3 *db;
	int ret = differ_results_open_ro(path, &db);
	if (ret < 0) {
		snprintf(err, errlen, "%s: not a readable results database (see above)", path);
		return ret;
	}
	ret = differ_results_verify_db(db, path, err, errlen);
	sqlite3_close(db);
	return ret;
}

int differ_results_completed(const char *path, int64_t *stopped_at)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int ret = -EIO;

	*stopped_at = -1;
	if (differ_results_open_ro(path, &db) < 0)
		return -EINVAL;
	if (sqlite3_prepare_v2(db, "SELECT completed, stopped_at FROM run WHERE id = 1", -1, &st, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		ret = sqlite3_column_int(st, 0) != 0;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*stopped_at = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

static void hex_value(char *buf, size_t len, const struct differ_field_diff *f, uint64_t v)
{
	if (strncmp(f->field, "mem[", 4) == 0) {
		size_t used = 0;
		buf[0] = '\0';
		for (unsigned i = 0; i < f->width && i < 8 && used + 4 < len; i++)
			used += (size_t)snprintf(buf + used, len - used, "%s%02x", i ? " " : "",
			                         (unsigned)((v >> (8 * i)) & 0xff));
		return;
	}
	snprintf(buf, len, "%#" PRIx64, v);
}

static unsigned *class_counter(struct differ_results *r, const char *backend, const char *cls)
{
	for (size_t i = 0; i < r->n_classes; i++)
		if (strcmp(r->classes[i].backend, backend) == 0 && strcmp(r->classes[i].cls, cls) == 0)
			return &r->classes[i].n;
	if (r->n_classes == r->cap_classes) {
		size_t ncap = r->cap_classes ? r->cap_classes * 2 : 32;
		struct class_count *v = realloc(r->classes, ncap * sizeof(*v));
		if (!v)
			return NULL;
		r->classes = v;
		r->cap_classes = ncap;
	}
	struct class_count *c = &r->classes[r->n_classes++];
	snprintf(c->backend, sizeof(c->backend), "%s", backend);
	snprintf(c->cls, sizeof(c->cls), "%s", cls);
	c->n = 0;
	return &c->n;
}

int differ_results_add(struct differ_results *r, const struct differ_divergence *d, bool known)
{
	sqlite3_stmt *st;
	char buf[64];
	int64_t id;

	if (!r || !d)
		return -EINVAL;
	if (!find_backend(r, d->backend))
		return r->error ? r->error : -ENOMEM;
	unsigned *cnt = class_counter(r, d->backend, d->cls);
	if (!cnt)
		return -ENOMEM;
	bool states = (*cnt)++ < r->states_per_class;

	st = r->ins_div;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, 1, d->backend, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (int64_t)d->step);
	sqlite3_bind_text(st, 3, d->cls, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, d->detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 5, known);
	sqlite3_bind_text(st, 6, differ_outcome_name(d->outcome), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, x86_mode_name(d->mode), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, (int)d->cpl);
	snprintf(buf, sizeof(buf), "%#" PRIx64, d->pre.rip);
	sqlite3_bind_text(st, 9, buf, -1, SQLITE_TRANSIENT);
	int insn_len = d->insn_len > sizeof(d->insn) ? (int)sizeof(d->insn) : (int)d->insn_len;
	sqlite3_bind_blob(st, 10, d->insn, insn_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, d->disasm[0] ? d->disasm : "(bad)", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 12, d->n_fields_total > d->n_fields ? d->n_fields_total : d->n_fields);
	snprintf(buf, sizeof(buf), "%#" PRIx64, d->undefined_rflags);
	sqlite3_bind_text(st, 13, buf, -1, SQLITE_TRANSIENT);
	if (states) {
		sqlite3_bind_blob(st, 14, &d->pre, sizeof(d->pre), SQLITE_STATIC);
		sqlite3_bind_blob(st, 15, &d->expected, sizeof(d->expected), SQLITE_STATIC);
		sqlite3_bind_blob(st, 16, &d->actual, sizeof(d->actual), SQLITE_STATIC);
		sqlite3_bind_blob(st, 17, &d->unobserved, sizeof(d->unobserved), SQLITE_STATIC);
	}
	int state_len = states ? (int)sizeof(d->pre) : -1;
	const void *blobs[ROW_BLOBS] = {d->insn, &d->pre, &d->expected, &d->actual, &d->unobserved};
	const int lens[ROW_BLOBS] = {insn_len, state_len, state_len, state_len, state_len};
	sqlite3_bind_int64(st, 18, differ_results_blob_sum(blobs, lens));
	if (sqlite3_step(st) != SQLITE_DONE)
		return db_error(r, "storing a divergence");
	id = sqlite3_last_insert_rowid(r->db);

	st = r->ins_field;
	for (uint32_t i = 0; i < d->n_fields && i < DIFFER_MAX_FIELDS; i++) {
		const struct differ_field_diff *f = &d->fields[i];
		char e[64], a[64];
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, (int)i);
		sqlite3_bind_text(st, 3, f->field, -1, SQLITE_TRANSIENT);
		if (!(f->missing & DIFFER_MISSING_EXPECTED)) {
			hex_value(e, sizeof(e), f, f->expected);
			sqlite3_bind_text(st, 4, e, -1, SQLITE_TRANSIENT);
		}
		if (!(f->missing & DIFFER_MISSING_ACTUAL)) {
			hex_value(a, sizeof(a), f, f->actual);
			sqlite3_bind_text(st, 5, a, -1, SQLITE_TRANSIENT);
		}
		sqlite3_bind_int(st, 6, f->width);
		if (sqlite3_step(st) != SQLITE_DONE)
			return db_error(r, "storing a field");
	}
	if (++r->pending >= COMMIT_EVERY) {
		r->pending = 0;
		if (flush_backends(r) < 0 || exec(r, "COMMIT; BEGIN") < 0)
			return -EIO;
	}
	return 0;
}

int differ_results_add_known(struct differ_results *r, const struct differ_known *k)
{
	sqlite3_stmt *st = NULL;
	unsigned line;
	const char *backend, *cls, *comment, *source;
	bool any;
	uint64_t step;
	char sbuf[192];

	if (!r)
		return -EINVAL;
	if (sqlite3_prepare_v2(r->db,
	                       "INSERT INTO known(source, line, backend, class, step, comment, hits)"
	                       " VALUES(?, ?, ?, ?, ?, ?, ?)",
	                       -1, &st, NULL) != SQLITE_OK)
		return db_error(r, "known");
	for (size_t i = 0;
	     differ_known_entry(k, i, &line, &backend, &cls, &any, &step, &comment, &source) == 0; i++) {
		/* Entries scoped to other traces or modes are not part of this run's list. */
		if (!differ_known_active(k, i))
			continue;
		snprintf(sbuf, sizeof(sbuf), "%s", differ_known_steps(k, i));
		if (!sbuf[0])
			snprintf(sbuf, sizeof(sbuf), any ? "*" : "%" PRIu64, step);
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 2, (int)line);
		sqlite3_bind_text(st, 3, backend, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, cls, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, sbuf, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, comment, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, (int64_t)differ_known_hits(k, i));
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return db_error(r, "known");
		}
	}
	sqlite3_finalize(st);
	return 0;
}

int differ_results_close(struct differ_results *r)
{
	int ret;

	if (!r)
		return 0;
	ret = r->error;
	if (flush_backends(r) < 0 || exec(r, "COMMIT") < 0)
		ret = -EIO;
	sqlite3_finalize(r->ins_div);
	sqlite3_finalize(r->ins_field);
	if (sqlite3_close(r->db) != SQLITE_OK && !ret)
		ret = -EIO;
	free(r->backends);
	free(r->classes);
	free(r);
	return ret;
}

int differ_results_open_ro(const char *path, sqlite3 **out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int app = 0, ver = 0;

	*out = NULL;
	if (access(path, R_OK) < 0) {
		fprintf(stderr, "%s: cannot read the results database: %s\n", path, strerror(errno));
		return -ENOENT;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto bad;
	if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto bad;
	app = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto bad;
	ver = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (app != DIFFER_RESULTS_APP_ID) {
		fprintf(stderr, "%s: not an emudiff results database (give the file written by replay -o)\n",
		        path);
		sqlite3_close(db);
		return -EINVAL;
	}
	if (ver != DIFFER_RESULTS_VERSION) {
		fprintf(stderr, "%s: results format %d, this emudiff reads %d: replay again\n", path, ver,
		        DIFFER_RESULTS_VERSION);
		sqlite3_close(db);
		return -EINVAL;
	}
	*out = db;
	return 0;
bad:
	fprintf(stderr, "%s: not a readable SQLite results database: %s\n", path,
	        db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return -EINVAL;
}

static long count_query(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	long n = -EIO;

	if (differ_results_open_ro(path, &db) < 0)
		return -EINVAL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	else
		fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

long differ_results_new_count(const char *results_path)
{
	return count_query(results_path, "SELECT count(*) FROM divergence WHERE known = 0");
}

long differ_results_xpass_count(const char *results_path)
{
	return count_query(results_path, "SELECT count(*) FROM xpass");
}
