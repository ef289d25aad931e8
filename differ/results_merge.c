/* Joining the results databases of the shards of one trace: the rows of each in step order, the counts
 * summed, so the joined database reads (and reports) as the one run over the whole range. */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct shard {
	const char *path;
	char trace[512], reference[64], replay_mode[32], command_line[2048], tool_version[64], part[64];
	char *known; /* the known list without hits, one line an entry */
	int64_t first, end, stopped_at;
	bool has_range, completed;
	unsigned k, n; /* from a "shard K/N" part; 0 when the part says otherwise */
};

static void col_copy(sqlite3_stmt *st, int c, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, c);
	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

/* The command line without its --shard option: the shards of one run differ only there. */
static void strip_shard(char *s)
{
	char *p = s;
	while ((p = strstr(p, " --shard")) != NULL) {
		char *end = p + 8;
		if (*end == '=' || *end == ' ') {
			end = strchr(end + 1, ' ');
			end = end ? end : p + strlen(p);
			memmove(p, end, strlen(end) + 1);
		} else {
			p = end;
		}
	}
}

static int read_shard(struct shard *s, char *err, size_t errlen)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	int ret = differ_results_open_ro(s->path, &db);
	if (ret < 0) {
		snprintf(err, errlen, "%s: not a readable results database (see above)", s->path);
		return -EINVAL;
	}
	ret = differ_results_verify_db(db, s->path, err, errlen);
	if (ret < 0)
		goto out;
	ret = -EIO;
	if (sqlite3_prepare_v2(db,
	                       "SELECT trace, reference, replay_mode, command_line, tool_version, first_step,"
	                       " end_step, completed, stopped_at, part FROM run WHERE id = 1",
	                       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s: run table: %s", s->path, sqlite3_errmsg(db));
		goto out;
	}
	col_copy(st, 0, s->trace, sizeof(s->trace));
	col_copy(st, 1, s->reference, sizeof(s->reference));
	col_copy(st, 2, s->replay_mode, sizeof(s->replay_mode));
	col_copy(st, 3, s->command_line, sizeof(s->command_line));
	col_copy(st, 4, s->tool_version, sizeof(s->tool_version));
	s->has_range = sqlite3_column_type(st, 5) != SQLITE_NULL;
	s->first = sqlite3_column_int64(st, 5);
	s->end = sqlite3_column_int64(st, 6);
	s->completed = sqlite3_column_int(st, 7) != 0;
	s->stopped_at = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 8);
	col_copy(st, 9, s->part, sizeof(s->part));
	strip_shard(s->command_line);
	if (sscanf(s->part, "shard %u/%u", &s->k, &s->n) != 2)
		s->k = s->n = 0;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT coalesce(group_concat(source || ':' || line || ' ' || backend || ' ' ||"
	        " class || ' ' || step || ' ' || comment, char(10)), '')"
	        " FROM (SELECT * FROM known ORDER BY id)",
	        -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    !(s->known = strdup((const char *)sqlite3_column_text(st, 0)))) {
		snprintf(err, errlen, "%s: known table: %s", s->path, sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

static int by_first_step(const void *a, const void *b)
{
	const struct shard *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first ? 1 : x->end < y->end ? -1 : x->end > y->end;
}

/* Whether the shards are the parts of one run that cover its range once: 0, or -EINVAL with err. */
static int check_parts(struct shard *s, size_t n, char *err, size_t errlen)
{
	static const char what[][24] = {"trace",   "reference",    "replay mode",
	                                "options", "tool version", "known list"};
	for (size_t i = 0; i < n; i++) {
		if (!s[i].has_range) {
			snprintf(err, errlen,
			         "%s: records no step range (written by an older emudiff): replay again",
			         s[i].path);
			return -EINVAL;
		}
		const char *a[] = {s[0].trace,        s[0].reference,    s[0].replay_mode,
		                   s[0].command_line, s[0].tool_version, s[0].known};
		const char *b[] = {s[i].trace,        s[i].reference,    s[i].replay_mode,
		                   s[i].command_line, s[i].tool_version, s[i].known};
		for (size_t f = 0; f < sizeof(what) / sizeof(what[0]); f++)
			if (strcmp(a[f], b[f])) {
				snprintf(
				    err, errlen,
				    "%s and %s are not shards of one run: different %s ('%.80s' and '%.80s')",
				    s[0].path, s[i].path, what[f], a[f], b[f]);
				return -EINVAL;
			}
	}
	qsort(s, n, sizeof(*s), by_first_step);
	for (size_t i = 1; i < n; i++) {
		if (s[i].first < s[i - 1].end || (s[i].k && s[i].k == s[i - 1].k && s[i].n == s[i - 1].n)) {
			snprintf(err, errlen,
			         "%s (steps %" PRId64 "..%" PRId64 ") and %s (steps %" PRId64 "..%" PRId64
			         ") overlap: give each shard once",
			         s[i - 1].path, s[i - 1].first, s[i - 1].end, s[i].path, s[i].first,
			         s[i].end);
			return -EINVAL;
		}
		if (s[i].first > s[i - 1].end) {
			snprintf(err, errlen,
			         "steps %" PRId64 "..%" PRId64
			         " are in no shard (between %s and %s): add the "
			         "missing shard's results",
			         s[i - 1].end, s[i].first, s[i - 1].path, s[i].path);
			return -EINVAL;
		}
	}
	/* Shards named K/N must all be there: a missing first or last one leaves no gap to see. */
	for (size_t i = 0; i < n; i++) {
		if (!s[i].n)
			continue;
		if (s[i].n != s[0].n || s[i].n != n) {
			unsigned want = s[i].n;
			unsigned k = 1;
			for (size_t j = 0; j < n && k <= want; j++)
				if (s[j].k == k)
					k++;
			snprintf(err, errlen,
			         "%s is shard %u/%u but %zu results were given: add shard %u/%u or drop the "
			         "extra ones",
			         s[i].path, s[i].k, s[i].n, n, k, want);
			return -EINVAL;
		}
	}
	return 0;
}

static int run_sql(sqlite3 *db, const char *sql, char *err, size_t errlen, const char *path)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s: %s", path, msg ? msg : "SQLite error");
	sqlite3_free(msg);
	return -EIO;
}

/* Rows past the first DIFFER_RESULTS_STATES_DEFAULT of a backend and class lose their states, as in one
 * run: each shard kept its own first ones. */
static int drop_extra_states(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int ret = -EIO, rc;
	char sql[400];
	snprintf(sql, sizeof(sql),
	         "SELECT id, insn FROM (SELECT id, insn, pre, row_number() OVER (PARTITION BY backend, class"
	         " ORDER BY id) AS nth FROM divergence) WHERE nth > %d AND pre IS NOT NULL ORDER BY id",
	         DIFFER_RESULTS_STATES_DEFAULT);
	if (sqlite3_prepare_v2(db, sql, -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "UPDATE divergence SET pre = NULL, expected = NULL, actual = NULL,"
	                       " unobserved = NULL, blob_sum = ? WHERE id = ?",
	                       -1, &upd, NULL) != SQLITE_OK)
		goto out;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		bool null = sqlite3_column_type(sel, 1) == SQLITE_NULL;
		const void *blobs[5] = {null ? NULL : sqlite3_column_blob(sel, 1)};
		int lens[5] = {null ? -1 : sqlite3_column_bytes(sel, 1), -1, -1, -1, -1};
		sqlite3_reset(upd);
		sqlite3_bind_int64(upd, 1, differ_results_blob_sum(blobs, lens));
		sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
		if (sqlite3_step(upd) != SQLITE_DONE)
			goto out;
	}
	if (rc == SQLITE_DONE)
		ret = 0;
out:
	if (ret < 0)
		snprintf(err, errlen, "%s: dropping states: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return ret;
}

static int copy_rows(sqlite3 *db, const struct shard *s, size_t n, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int ret = 0;
	for (size_t i = 0; i < n && !ret; i++) {
		/* Ids go on from the last shard's, so every field row follows its divergence. */
		static const char copy[] =
		    "INSERT INTO divergence SELECT d.id + o.n, 1, d.backend, d.step, d.class, d.detail, "
		    "d.known,"
		    " d.outcome, d.mode, d.cpl, d.rip, d.insn, d.disasm, d.n_fields, d.undefined_rflags, "
		    "d.pre,"
		    " d.expected, d.actual, d.unobserved, d.blob_sum FROM s.divergence d,"
		    " (SELECT coalesce(max(id), 0) AS n FROM main.divergence) o ORDER BY d.id;"
		    "INSERT INTO field SELECT f.divergence + o.n, f.seq, f.name, f.expected, f.actual, "
		    "f.width"
		    " FROM s.field f, (SELECT coalesce(max(id), 0) - (SELECT coalesce(max(id), 0) FROM"
		    " s.divergence) AS n FROM main.divergence) o ORDER BY f.divergence, f.seq;"
		    "INSERT INTO backend(run, name, steps, stepped, unsupported, crashed, failed)"
		    " SELECT 1, name, 0, 0, 0, 0, 0 FROM s.backend WHERE name NOT IN (SELECT name FROM"
		    " main.backend) ORDER BY id;"
		    "UPDATE main.backend AS b SET steps = b.steps + x.steps, stepped = b.stepped + x.stepped,"
		    " unsupported = b.unsupported + x.unsupported, crashed = b.crashed + x.crashed,"
		    " failed = b.failed + x.failed FROM s.backend x WHERE x.name = b.name;"
		    "UPDATE main.known AS k SET hits = k.hits + x.hits FROM s.known x WHERE x.id = k.id;"
		    "UPDATE main.run AS m SET run_steps = m.run_steps + x.run_steps,"
		    " fallback_steps = m.fallback_steps + x.fallback_steps,"
		    " native_steps = m.native_steps + x.native_steps FROM s.run x WHERE m.id = 1 AND x.id = "
		    "1;";
		if (sqlite3_prepare_v2(db, "ATTACH ? AS s", -1, &st, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
			return -EIO;
		}
		sqlite3_bind_text(st, 1, s[i].path, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			snprintf(err, errlen, "%s: %s", s[i].path, sqlite3_errmsg(db));
			ret = -EIO;
		}
		sqlite3_finalize(st);
		if (!ret)
			ret = run_sql(db, "BEGIN", err, errlen, path);
		if (!ret && i == 0)
			ret = run_sql(
			    db,
			    "INSERT INTO known SELECT id, source, line, backend, class, step, comment, 0"
			    " FROM s.known ORDER BY id",
			    err, errlen, path);
		if (!ret)
			ret = run_sql(db, copy, err, errlen, path);
		if (!ret)
			ret = run_sql(db, "COMMIT", err, errlen, path);
		if (run_sql(db, "DETACH s", err, errlen, path) < 0)
			ret = -EIO;
	}
	return ret;
}

int differ_results_merge(const char *out_path, const char *const *paths, size_t n, char *err, size_t errlen)
{
	return differ_results_merge_as(out_path, paths, n, NULL, err, errlen);
}

int differ_results_merge_as(const char *out_path, const char *const *paths, size_t n,
                            const char *command_line, char *err, size_t errlen)
{
	struct shard *s = calloc(n ? n : 1, sizeof(*s));
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct differ_results *r = NULL;
	int ret = -ENOMEM;

	err[0] = '\0';
	if (!s)
		return ret;
	ret = n ? 0 : -EINVAL;
	if (!n)
		snprintf(err, errlen, "no results databases to merge");
	for (size_t i = 0; i < n && !ret; i++) {
		s[i].path = paths[i];
		ret = read_shard(&s[i], err, errlen);
	}
	if (!ret)
		ret = check_parts(s, n, err, errlen);
	if (ret < 0)
		goto out;
	struct differ_run_info info = {.trace_path = s[0].trace,
	                               .reference = s[0].reference,
	                               .replay_mode = s[0].replay_mode,
	                               .command_line = command_line ? command_line : s[0].command_line};
	ret = differ_results_create(&r, out_path, &info, err, errlen);
	if (ret == 0)
		ret = differ_results_close(r);
	if (ret < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: cannot write the merged results", out_path);
		ret = -EIO;
		goto out;
	}
	ret = -EIO;
	if (sqlite3_open_v2(out_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", out_path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if (run_sql(db, "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY", err, errlen, out_path) < 0 ||
	    copy_rows(db, s, n, out_path, err, errlen) < 0 ||
	    run_sql(db, "BEGIN", err, errlen, out_path) < 0 ||
	    drop_extra_states(db, out_path, err, errlen) < 0)
		goto out;
	/* The run stopped where its first incomplete shard did. */
	const struct shard *stopped = NULL;
	for (size_t i = 0; i < n && !stopped; i++)
		if (!s[i].completed)
			stopped = &s[i];
	if (sqlite3_prepare_v2(db,
	                       "UPDATE run SET tool_version = ?, first_step = ?, end_step = ?, completed = ?,"
	                       " stopped_at = ? WHERE id = 1",
	                       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, s[0].tool_version, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s[0].first);
	sqlite3_bind_int64(st, 3, s[n - 1].end);
	sqlite3_bind_int(st, 4, !stopped);
	if (stopped && stopped->stopped_at >= 0)
		sqlite3_bind_int64(st, 5, stopped->stopped_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlfail;
	if (run_sql(db, "COMMIT", err, errlen, out_path) < 0)
		goto out;
	ret = 0;
	/* Shards of --from/--to: the run over their whole range names it as replay does. */
	if (!command_line && (strstr(s[0].command_line, " --from") || strstr(s[0].command_line, " --to"))) {
		char part[64];
		snprintf(part, sizeof(part), "steps %" PRId64 "..%" PRId64, s[0].first, s[n - 1].end);
		if (differ_results_set_part(out_path, part) < 0) {
			snprintf(err, errlen, "%s: cannot record the replayed part (see above)", out_path);
			ret = -EIO;
		}
	}
	goto out;
sqlfail:
	snprintf(err, errlen, "%s: %s", out_path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	for (size_t i = 0; i < n; i++)
		free(s[i].known);
	free(s);
	return ret;
}
