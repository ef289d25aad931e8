/* Reports from a results database: text (read in ten seconds), JSON, JUnit.
 * Everything comes from the database in a fixed order, so reports are
 * byte-identical for identical results. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define TEXT_FIELDS 12 /* fields shown per divergence in the text report */

static void col_text(sqlite3_stmt *st, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static int rep_sql_error(struct rep *r)
{
	fprintf(stderr, "%s: reading results: %s\n", r->path, sqlite3_errmsg(r->db));
	return -EIO;
}

/* Room for one more element at the end of a growing array; NULL when out of memory. */
static void *append(void *array, size_t *n, size_t size)
{
	void **v = array;
	void *grown = realloc(*v, (*n + 1) * size);
	if (!grown)
		return NULL;
	*v = grown;
	return (char *)grown + (*n)++ * size;
}

const char *differ_reference_text(const char *reference)
{
	if (strcmp(reference, "silicon") == 0)
		return "silicon (hardware virtualization: the recording is the real CPU)";
	if (strcmp(reference, "qemu-tcg") == 0)
		return "qemu-tcg (KVM on the VT-x/SVM of QEMU's software CPU, a nested VM: TCG, not silicon)";
	if (strcmp(reference, "kvm-emulator") == 0)
		return "kvm-emulator (KVM's in-kernel instruction emulator, not silicon)";
	if (strcmp(reference, "emu") == 0)
		return "emu (recorded with --engine emu: emudiff's own emulator, not silicon)";
	return reference[0] ? reference : "unknown";
}

void rep_incomplete_text(const struct rep *r, char *buf, size_t len)
{
	if (r->stopped_at >= 0)
		snprintf(buf, len,
		         "INCOMPLETE: the replay was interrupted before step %" PRId64 " (steps %" PRId64
		         "..%" PRId64 " were not replayed); not a pass",
		         r->stopped_at, r->stopped_at, r->end_step);
	else
		snprintf(buf, len, "INCOMPLETE: the replay did not finish (killed or failed); not a pass");
}

int rep_load(struct rep *r, const char *path)
{
	sqlite3_stmt *st = NULL;
	int ret = -EIO;

	memset(r, 0, sizeof(*r));
	r->path = path;
	ret = differ_results_open_ro(path, &r->db);
	if (ret < 0)
		return ret;
	/* Every report checks every stored blob first: a damaged one is an error, not a wrong report. */
	char err[600];
	ret = differ_results_verify_db(r->db, path, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "%s\n", err);
		rep_free(r);
		return ret;
	}
	ret = -EIO;
	if (sqlite3_prepare_v2(
	        r->db,
	        "SELECT trace, reference, replay_mode, command_line, tool_version, first_step, end_step,"
	        " completed, stopped_at, part, run_steps, fallback_steps, native_steps FROM run WHERE id = 1",
	        -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	if (sqlite3_step(st) == SQLITE_ROW) {
		col_text(st, 0, r->trace, sizeof(r->trace));
		col_text(st, 1, r->reference, sizeof(r->reference));
		col_text(st, 2, r->replay_mode, sizeof(r->replay_mode));
		col_text(st, 3, r->command_line, sizeof(r->command_line));
		col_text(st, 4, r->tool_version, sizeof(r->tool_version));
		r->have_range = sqlite3_column_type(st, 5) != SQLITE_NULL;
		r->first_step = sqlite3_column_int64(st, 5);
		r->end_step = sqlite3_column_int64(st, 6);
		r->completed = sqlite3_column_int(st, 7) != 0;
		r->stopped_at = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 8);
		col_text(st, 9, r->part, sizeof(r->part));
		r->run_steps = sqlite3_column_int64(st, 10);
		r->fallback_steps = sqlite3_column_int64(st, 11);
		r->native_steps = sqlite3_column_int64(st, 12);
	}
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(r->db,
	                       "SELECT b.name, b.steps, b.stepped, b.unsupported, b.crashed, b.failed,"
	                       " (SELECT count(*) FROM divergence d WHERE d.backend = b.name),"
	                       " (SELECT count(*) FROM divergence d WHERE d.backend = b.name AND d.known = 0)"
	                       " FROM backend b ORDER BY b.id",
	                       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct rep_backend *b = append(&r->backends, &r->n_backends, sizeof(*b));
		if (!b)
			goto nomem;
		col_text(st, 0, b->name, sizeof(b->name));
		b->steps = sqlite3_column_int64(st, 1);
		b->stepped = sqlite3_column_int64(st, 2);
		b->unsupported = sqlite3_column_int64(st, 3);
		b->crashed = sqlite3_column_int64(st, 4);
		b->failed = sqlite3_column_int64(st, 5);
		b->divergences = sqlite3_column_int64(st, 6);
		b->new_div = sqlite3_column_int64(st, 7);
		b->expected = b->divergences - b->new_div;
	}
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(r->db,
	                       "SELECT g.backend, g.class, g.n, g.new, g.first_id,"
	                       " (SELECT step FROM divergence x WHERE x.id = g.first_id) FROM"
	                       " (SELECT d.backend, d.class, count(*) AS n, sum(d.known = 0) AS new,"
	                       " min(d.id) AS first_id, min(b.id) AS bid FROM divergence d"
	                       " JOIN backend b ON b.name = d.backend GROUP BY d.backend, d.class) g"
	                       " ORDER BY g.bid, g.class",
	                       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct rep_class *c = append(&r->classes, &r->n_classes, sizeof(*c));
		if (!c)
			goto nomem;
		col_text(st, 0, c->backend, sizeof(c->backend));
		col_text(st, 1, c->cls, sizeof(c->cls));
		c->n = sqlite3_column_int64(st, 2);
		c->new_div = sqlite3_column_int64(st, 3);
		c->expected = c->n - c->new_div;
		c->first_id = sqlite3_column_int64(st, 4);
		c->first_step = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	st = NULL;

	if (sqlite3_prepare_v2(r->db,
	                       "SELECT k.source, k.line, k.backend, k.class, k.step, k.comment, k.hits,"
	                       " k.id IN (SELECT id FROM xpass) FROM known k ORDER BY k.id",
	                       -1, &st, NULL) != SQLITE_OK)
		goto sqlfail;
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct rep_known *k = append(&r->known, &r->n_known, sizeof(*k));
		if (!k)
			goto nomem;
		col_text(st, 0, k->source, sizeof(k->source));
		k->line = sqlite3_column_int(st, 1);
		col_text(st, 2, k->backend, sizeof(k->backend));
		col_text(st, 3, k->cls, sizeof(k->cls));
		col_text(st, 4, k->step, sizeof(k->step));
		col_text(st, 5, k->comment, sizeof(k->comment));
		k->hits = sqlite3_column_int64(st, 6);
		k->status = k->hits ? "xfail" : sqlite3_column_int(st, 7) ? "xpass" : "not-run";
		if (k->hits)
			r->xfail++;
		else if (sqlite3_column_int(st, 7))
			r->xpass++;
	}
	sqlite3_finalize(st);
	return 0;
nomem:
	sqlite3_finalize(st);
	rep_free(r);
	return -ENOMEM;
sqlfail:
	ret = rep_sql_error(r);
	sqlite3_finalize(st);
	rep_free(r);
	return ret;
}

void rep_free(struct rep *r)
{
	free(r->backends);
	free(r->classes);
	free(r->known);
	sqlite3_finalize(r->div_stmt);
	sqlite3_finalize(r->field_stmt);
	sqlite3_close(r->db);
	memset(r, 0, sizeof(*r));
}

static bool blob_state(sqlite3_stmt *st, int i, struct x86_state *out)
{
	if (sqlite3_column_type(st, i) != SQLITE_BLOB || sqlite3_column_bytes(st, i) != (int)sizeof(*out))
		return false;
	memcpy(out, sqlite3_column_blob(st, i), sizeof(*out));
	return true;
}

int rep_div_load(struct rep *r, int64_t id, struct rep_div *d)
{
	sqlite3_stmt *st;
	int ret = -EIO;

	memset(d, 0, sizeof(*d));
	/* Prepared once per report: the JSON report loads every divergence. */
	if (!r->div_stmt &&
	    sqlite3_prepare_v2(
	        r->db,
	        "SELECT id, step, backend, class, detail, outcome, mode, rip, disasm, known, cpl, insn,"
	        " n_fields, pre, expected, actual, unobserved FROM divergence WHERE id = ?",
	        -1, &r->div_stmt, NULL) != SQLITE_OK)
		goto sqlfail;
	st = r->div_stmt;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto sqlfail;
	d->id = sqlite3_column_int64(st, 0);
	d->step = sqlite3_column_int64(st, 1);
	col_text(st, 2, d->backend, sizeof(d->backend));
	col_text(st, 3, d->cls, sizeof(d->cls));
	col_text(st, 4, d->detail, sizeof(d->detail));
	col_text(st, 5, d->outcome, sizeof(d->outcome));
	col_text(st, 6, d->mode, sizeof(d->mode));
	col_text(st, 7, d->rip, sizeof(d->rip));
	col_text(st, 8, d->disasm, sizeof(d->disasm));
	d->known = sqlite3_column_int(st, 9);
	d->cpl = sqlite3_column_int(st, 10);
	d->insn_len = sqlite3_column_bytes(st, 11);
	if (d->insn_len > (int)sizeof(d->insn))
		d->insn_len = sizeof(d->insn);
	if (d->insn_len)
		memcpy(d->insn, sqlite3_column_blob(st, 11), (size_t)d->insn_len);
	d->n_fields = sqlite3_column_int64(st, 12);
	d->have_states = blob_state(st, 13, &d->pre) && blob_state(st, 14, &d->expected) &&
	                 blob_state(st, 15, &d->actual) && blob_state(st, 16, &d->unobserved);
	sqlite3_reset(st);
	if (!r->field_stmt &&
	    sqlite3_prepare_v2(r->db,
	                       "SELECT name, ifnull(expected, 'none'), ifnull(actual, 'none') FROM field"
	                       " WHERE divergence = ? ORDER BY seq",
	                       -1, &r->field_stmt, NULL) != SQLITE_OK)
		goto sqlfail;
	st = r->field_stmt;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	while (d->n_shown < DIFFER_MAX_FIELDS && sqlite3_step(st) == SQLITE_ROW) {
		col_text(st, 0, d->fields[d->n_shown].name, sizeof(d->fields[0].name));
		col_text(st, 1, d->fields[d->n_shown].expected, sizeof(d->fields[0].expected));
		col_text(st, 2, d->fields[d->n_shown].actual, sizeof(d->fields[0].actual));
		d->n_shown++;
	}
	sqlite3_reset(st);
	return 0;
sqlfail:
	ret = rep_sql_error(r);
	return ret;
}

sqlite3_stmt *rep_div_ids(struct rep *r, const char *backend, const char *cls)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(r->db, "SELECT id FROM divergence WHERE backend = ? AND class = ? ORDER BY id",
	                       -1, &st, NULL) != SQLITE_OK) {
		rep_sql_error(r);
		return NULL;
	}
	sqlite3_bind_text(st, 1, backend, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, cls, -1, SQLITE_TRANSIENT);
	return st;
}

size_t rep_field_bits(const char *name, const char *expected, const char *actual, char *buf, size_t len)
{
	const struct x86_field *f = x86_field_find(name);
	char *end_e, *end_a;
	if (len)
		buf[0] = '\0';
	if (!f || f->size > 8)
		return 0;
	uint64_t e = strtoull(expected, &end_e, 0), a = strtoull(actual, &end_a, 0);
	if (end_e == expected || *end_e || end_a == actual || *end_a)
		return 0;
	return x86_format_bit_changes(f, e, a, buf, len);
}

bool rep_field_differs(const struct rep_div *d, const struct x86_field *f)
{
	for (int i = 0; i < d->n_shown; i++) {
		size_t n = strlen(f->name);
		if (strncmp(d->fields[i].name, f->name, n) == 0 &&
		    (d->fields[i].name[n] == '\0' || strcmp(d->fields[i].name + n, ".hi") == 0))
			return true;
	}
	return false;
}

/* Text. */

static void text_insn(FILE *f, const struct rep_div *d)
{
	fprintf(f, "      step %" PRId64 ", %s, CPL %d, rip %s, bytes", d->step, d->mode, d->cpl, d->rip);
	for (int i = 0; i < d->insn_len; i++)
		fprintf(f, " %02x", d->insn[i]);
	fprintf(f, ": %s\n", d->disasm);
}

static void text_fields(FILE *f, const struct rep_div *d)
{
	if (!d->n_shown)
		return;
	fprintf(f, "      %-18s %-20s %-20s %s\n", "field", "before", "expected", "actual");
	for (int i = 0; i < d->n_shown && i < TEXT_FIELDS; i++) {
		char before[64] = "-";
		const struct x86_field *xf = x86_field_find(d->fields[i].name);
		if (xf && d->have_states && xf->size <= 8)
			x86_format_field(&d->pre, xf, X86_FORMAT_0X, before, sizeof(before));
		char bits[160];
		fprintf(f, "      %-18s %-20s %-20s ", d->fields[i].name, before, d->fields[i].expected);
		if (rep_field_bits(d->fields[i].name, d->fields[i].expected, d->fields[i].actual, bits,
		                   sizeof(bits)))
			fprintf(f, "%-20s %s\n", d->fields[i].actual, bits);
		else
			fprintf(f, "%s\n", d->fields[i].actual);
	}
	if (d->n_fields > TEXT_FIELDS)
		fprintf(f, "      ... %" PRId64 " fields in all\n", d->n_fields);
}

int differ_report_text(const char *results_path, FILE *out)
{
	struct rep r;
	int ret = rep_load(&r, results_path);
	int64_t total = 0, total_new = 0;

	if (ret < 0)
		return ret;
	fprintf(out, "reference: %s\n", differ_reference_text(r.reference));
	fprintf(out, "trace: %s", r.trace);
	if (r.replay_mode[0])
		fprintf(out, ", %s replay", r.replay_mode);
	if (r.part[0])
		fprintf(out, ", %s", r.part);
	if (r.have_range)
		fprintf(out, ", steps %" PRId64 "..%" PRId64, r.first_step, r.end_step);
	fprintf(out, "\n\n");

	fprintf(out, "%-10s %12s %12s %12s %8s %8s %12s %8s %8s\n", "backend", "steps", "stepped",
	        "unsupported", "crashed", "failed", "divergences", "new", "known");
	for (size_t i = 0; i < r.n_backends; i++) {
		const struct rep_backend *b = &r.backends[i];
		fprintf(out,
		        "%-10s %12" PRId64 " %12" PRId64 " %12" PRId64 " %8" PRId64 " %8" PRId64 " %12" PRId64
		        " %8" PRId64 " %8" PRId64 "\n",
		        b->name, b->steps, b->stepped, b->unsupported, b->crashed, b->failed, b->divergences,
		        b->new_div, b->expected);
		total += b->divergences;
		total_new += b->new_div;
	}

	if (r.n_classes) {
		fprintf(out, "\ndivergences per class (new/all)\n  %-24s", "class");
		for (size_t i = 0; i < r.n_backends; i++)
			fprintf(out, " %14s", r.backends[i].name);
		fprintf(out, "\n");
		/* Rows by class name across backends: collect distinct names in sorted order. */
		const char *prev = NULL;
		for (;;) {
			const char *next = NULL;
			for (size_t i = 0; i < r.n_classes; i++)
				if ((!prev || strcmp(r.classes[i].cls, prev) > 0) &&
				    (!next || strcmp(r.classes[i].cls, next) < 0))
					next = r.classes[i].cls;
			if (!next)
				break;
			fprintf(out, "  %-24s", next);
			for (size_t b = 0; b < r.n_backends; b++) {
				char cell[32] = "-";
				for (size_t i = 0; i < r.n_classes; i++)
					if (strcmp(r.classes[i].cls, next) == 0 &&
					    strcmp(r.classes[i].backend, r.backends[b].name) == 0)
						snprintf(cell, sizeof(cell), "%" PRId64 "/%" PRId64,
						         r.classes[i].new_div, r.classes[i].n);
				fprintf(out, " %14s", cell);
			}
			fprintf(out, "\n");
			prev = next;
		}
	}

	if (r.n_known) {
		fprintf(out,
		        "\nknown list: %" PRId64 " entries matched (XFAIL), %" PRId64
		        " no longer occur (XPASS)\n",
		        r.xfail, r.xpass);
		for (size_t i = 0; i < r.n_known; i++) {
			const struct rep_known *k = &r.known[i];
			if (strcmp(k->status, "xpass") == 0)
				fprintf(out, "  XPASS %s:%d: %s %s step %s: fixed%s%s\n", k->source, k->line,
				        k->backend, k->cls, k->step, k->comment[0] ? " - " : "", k->comment);
		}
	}

	if (r.n_classes)
		fprintf(out, "\nfirst divergence of each class\n");
	for (size_t i = 0; i < r.n_classes; i++) {
		const struct rep_class *c = &r.classes[i];
		struct rep_div d;
		if (rep_div_load(&r, c->first_id, &d) < 0) {
			rep_free(&r);
			return -EIO;
		}
		fprintf(out, "  [%s] %s: %" PRId64 " (%" PRId64 " new%s) - %s\n", c->backend, c->cls, c->n,
		        c->new_div,
		        differ_is_reference_class(c->cls) ? ", the recording's own"
		        : c->new_div                      ? ""
		                                          : ", all known",
		        d.detail);
		text_insn(out, &d);
		text_fields(out, &d);
	}
	int64_t reference_artefacts = 0;
	for (size_t i = 0; i < r.n_classes; i++)
		if (differ_is_reference_class(r.classes[i].cls))
			reference_artefacts += r.classes[i].n;
	if (reference_artefacts)
		fprintf(out,
		        "\n%" PRId64
		        " of the known are the recording's own artefacts (ref.*): steps of the reference "
		        "that no emulator reaches by running (differ/classes.tsv says why); they never fail "
		        "a run\n",
		        reference_artefacts);
	fprintf(out,
	        "\n%" PRId64 " divergences (%" PRId64 " new, %" PRId64 " known); %" PRId64
	        " known %s no longer occur%s: %s\n",
	        total, total_new, total - total_new, r.xpass, r.xpass == 1 ? "entry" : "entries",
	        r.xpass == 1 ? "s" : "",
	        total_new     ? "FAIL"
	        : r.completed ? "PASS"
	                      : "INCOMPLETE");
	if (!r.completed) {
		char line[200];
		rep_incomplete_text(&r, line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
	rep_free(&r);
	return ferror(out) ? -EIO : 0;
}

/* JSON. */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static FILE *open_out(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "%s: cannot write the report: %s\n", path, strerror(errno));
	return f;
}

static int close_out(FILE *f, const char *path, int ret)
{
	if (ferror(f) && !ret)
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -EIO;
	if (ret == -EIO)
		fprintf(stderr, "%s: write error\n", path);
	return ret;
}

static void json_div(FILE *f, const struct rep_div *d)
{
	fprintf(f, "    {\"backend\": ");
	json_str(f, d->backend);
	fprintf(f, ", \"step\": %" PRId64 ", \"class\": ", d->step);
	json_str(f, d->cls);
	fprintf(f, ", \"detail\": ");
	json_str(f, d->detail);
	fprintf(f, ", \"known\": %s, \"outcome\": ", d->known ? "true" : "false");
	json_str(f, d->outcome);
	fprintf(f, ", \"mode\": ");
	json_str(f, d->mode);
	fprintf(f, ", \"cpl\": %d, \"rip\": ", d->cpl);
	json_str(f, d->rip);
	fprintf(f, ", \"insn\": \"");
	for (int i = 0; i < d->insn_len; i++)
		fprintf(f, "%s%02x", i ? " " : "", d->insn[i]);
	fprintf(f, "\", \"disasm\": ");
	json_str(f, d->disasm);
	fprintf(f, ", \"n_fields\": %" PRId64 ", \"fields\": [", d->n_fields);
	for (int i = 0; i < d->n_shown; i++) {
		fprintf(f, "%s{\"name\": ", i ? ", " : "");
		json_str(f, d->fields[i].name);
		fprintf(f, ", \"expected\": ");
		if (strcmp(d->fields[i].expected, "none") == 0)
			fprintf(f, "null");
		else
			json_str(f, d->fields[i].expected);
		fprintf(f, ", \"actual\": ");
		if (strcmp(d->fields[i].actual, "none") == 0)
			fprintf(f, "null");
		else
			json_str(f, d->fields[i].actual);
		char bits[160];
		if (rep_field_bits(d->fields[i].name, d->fields[i].expected, d->fields[i].actual, bits,
		                   sizeof(bits))) {
			fprintf(f, ", \"bits\": ");
			json_str(f, bits);
		}
		fprintf(f, "}");
	}
	fprintf(f, "]}");
}

int differ_report_json(const char *results_path, const char *out_path)
{
	struct rep r;
	sqlite3_stmt *st = NULL;
	int ret = rep_load(&r, results_path);
	FILE *f;

	if (ret < 0)
		return ret;
	f = open_out(out_path);
	if (!f) {
		rep_free(&r);
		return -EIO;
	}
	fprintf(f, "{\n  \"format\": \"emudiff-results\",\n  \"version\": %d,\n  \"run\": {\"trace\": ",
	        DIFFER_RESULTS_VERSION);
	json_str(f, r.trace);
	fprintf(f, ", \"reference\": ");
	json_str(f, r.reference);
	fprintf(f, ", \"replay_mode\": ");
	json_str(f, r.replay_mode);
	fprintf(f, ", \"command_line\": ");
	json_str(f, r.command_line);
	fprintf(f, ", \"tool_version\": ");
	json_str(f, r.tool_version);
	if (r.have_range)
		fprintf(f, ", \"first_step\": %" PRId64 ", \"end_step\": %" PRId64, r.first_step, r.end_step);
	if (r.part[0]) {
		fprintf(f, ", \"part\": ");
		json_str(f, r.part);
	}
	fprintf(f,
	        ", \"run_steps\": %" PRId64 ", \"fallback_steps\": %" PRId64 ", \"native_steps\": %" PRId64,
	        r.run_steps, r.fallback_steps, r.native_steps);
	fprintf(f, ", \"completed\": %s", r.completed ? "true" : "false");
	if (!r.completed && r.stopped_at >= 0)
		fprintf(f, ", \"stopped_at\": %" PRId64, r.stopped_at);
	fprintf(f, "},\n  \"backends\": [");
	for (size_t i = 0; i < r.n_backends; i++) {
		const struct rep_backend *b = &r.backends[i];
		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, b->name);
		fprintf(f,
		        ", \"steps\": %" PRId64 ", \"stepped\": %" PRId64 ", \"unsupported\": %" PRId64
		        ", \"crashed\": %" PRId64 ", \"failed\": %" PRId64 ", \"divergences\": %" PRId64
		        ", \"new\": %" PRId64 ", \"known\": %" PRId64 "}",
		        b->steps, b->stepped, b->unsupported, b->crashed, b->failed, b->divergences,
		        b->new_div, b->expected);
	}
	fprintf(f, "\n  ],\n  \"classes\": [");
	for (size_t i = 0; i < r.n_classes; i++) {
		const struct rep_class *c = &r.classes[i];
		fprintf(f, "%s\n    {\"backend\": ", i ? "," : "");
		json_str(f, c->backend);
		fprintf(f, ", \"class\": ");
		json_str(f, c->cls);
		fprintf(f,
		        ", \"divergences\": %" PRId64 ", \"new\": %" PRId64 ", \"known\": %" PRId64
		        ", \"first_step\": %" PRId64 "}",
		        c->n, c->new_div, c->expected, c->first_step);
	}
	fprintf(f, "\n  ],\n  \"known\": [");
	for (size_t i = 0; i < r.n_known; i++) {
		const struct rep_known *k = &r.known[i];
		fprintf(f, "%s\n    {\"source\": ", i ? "," : "");
		json_str(f, k->source);
		fprintf(f, ", \"line\": %d, \"backend\": ", k->line);
		json_str(f, k->backend);
		fprintf(f, ", \"class\": ");
		json_str(f, k->cls);
		fprintf(f, ", \"step\": ");
		json_str(f, k->step);
		fprintf(f, ", \"comment\": ");
		json_str(f, k->comment);
		fprintf(f, ", \"hits\": %" PRId64 ", \"status\": \"%s\"}", k->hits, k->status);
	}
	fprintf(f, "\n  ],\n  \"divergences\": [");
	if (sqlite3_prepare_v2(r.db, "SELECT id FROM divergence ORDER BY id", -1, &st, NULL) != SQLITE_OK) {
		ret = rep_sql_error(&r);
		goto out;
	}
	for (int n = 0; sqlite3_step(st) == SQLITE_ROW; n++) {
		struct rep_div d;
		ret = rep_div_load(&r, sqlite3_column_int64(st, 0), &d);
		if (ret < 0)
			goto out;
		fprintf(f, "%s\n", n ? "," : "");
		json_div(f, &d);
	}
	fprintf(f, "\n  ]\n}\n");
out:
	sqlite3_finalize(st);
	rep_free(&r);
	return close_out(f, out_path, ret);
}

/* JUnit: one testsuite per backend, one testcase per class that occurred. */

static void xml_str(FILE *f, const char *s)
{
	rep_markup_escape(f, s, "\n\t");
}

#define JUNIT_LISTED 20

static int64_t junit_xpass_count(const struct rep *r, const char *backend)
{
	int64_t n = 0;
	for (size_t i = 0; i < r->n_known; i++)
		n += strcmp(r->known[i].status, "xpass") == 0 && differ_glob(r->known[i].backend, backend);
	return n;
}

/* "; rflags: CF 0 -> 1" for each field with named bits. */
static void junit_bits(FILE *f, const struct rep_div *d)
{
	for (int i = 0; i < d->n_shown; i++) {
		char bits[160];
		if (!rep_field_bits(d->fields[i].name, d->fields[i].expected, d->fields[i].actual, bits,
		                    sizeof(bits)))
			continue;
		fprintf(f, "; ");
		xml_str(f, d->fields[i].name);
		fprintf(f, ": ");
		xml_str(f, bits);
	}
}

/* "emudiff.<trace file name>[<part>]": suites and classnames of several traces or shards stay apart. */
static void junit_prefix(FILE *f, const struct rep *r)
{
	const char *base = strrchr(r->trace, '/');
	fprintf(f, "emudiff.");
	xml_str(f, base ? base + 1 : r->trace);
	if (r->part[0]) {
		fprintf(f, "[");
		xml_str(f, r->part);
		fprintf(f, "]");
	}
}

/* Opens a testcase whose classname is the suite's. */
static void junit_case(FILE *f, const struct rep *r, const char *backend)
{
	fprintf(f, "    <testcase classname=\"");
	junit_prefix(f, r);
	fprintf(f, ".");
	xml_str(f, backend);
	fprintf(f, "\" name=\"");
}

int differ_report_junit(const char *results_path, const char *out_path)
{
	struct rep r;
	int ret = rep_load(&r, results_path);
	int64_t tests = 0, failures = 0, skipped = 0;
	FILE *f;

	if (ret < 0)
		return ret;
	f = open_out(out_path);
	if (!f) {
		rep_free(&r);
		return -EIO;
	}
	for (size_t i = 0; i < r.n_classes; i++) {
		tests++;
		if (r.classes[i].new_div)
			failures++;
		else
			skipped++;
	}
	for (size_t b = 0; b < r.n_backends; b++) {
		int64_t n = junit_xpass_count(&r, r.backends[b].name);
		for (size_t i = 0; i < r.n_classes; i++)
			n += strcmp(r.classes[i].backend, r.backends[b].name) == 0;
		tests += junit_xpass_count(&r, r.backends[b].name) + (n == 0);
	}
	/* An incomplete run is one more failing test case, so no CI reads it as green. */
	if (!r.completed)
		tests++, failures++;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
	        "<testsuites name=\"emudiff\" tests=\"%" PRId64 "\" failures=\"%" PRId64
	        "\" skipped=\"%" PRId64 "\">\n",
	        tests, failures, skipped);
	if (!r.completed) {
		char line[200];
		rep_incomplete_text(&r, line, sizeof(line));
		fprintf(f, "  <testsuite name=\"");
		junit_prefix(f, &r);
		fprintf(f, ".run\" tests=\"1\" failures=\"1\" skipped=\"0\">\n");
		junit_case(f, &r, "run");
		fprintf(f, "complete\">\n      <failure type=\"incomplete\" message=\"");
		xml_str(f, line);
		fprintf(f, "\"/>\n    </testcase>\n  </testsuite>\n");
	}
	for (size_t b = 0; b < r.n_backends && !ret; b++) {
		const char *bn = r.backends[b].name;
		int64_t t = 0, fl = 0, sk = 0;
		for (size_t i = 0; i < r.n_classes; i++)
			if (strcmp(r.classes[i].backend, bn) == 0) {
				t++;
				fl += r.classes[i].new_div != 0;
				sk += r.classes[i].new_div == 0;
			}
		t += junit_xpass_count(&r, bn);
		/* A backend without divergences still shows as one passing test case. */
		bool clean = t == 0;
		if (clean)
			t = 1;
		fprintf(f, "  <testsuite name=\"");
		junit_prefix(f, &r);
		fprintf(f, ".");
		xml_str(f, bn);
		fprintf(f, "\" tests=\"%" PRId64 "\" failures=\"%" PRId64 "\" skipped=\"%" PRId64 "\">\n", t,
		        fl, sk);
		fprintf(f, "    <properties>\n      <property name=\"reference\" value=\"");
		xml_str(f, r.reference);
		fprintf(f, "\"/>\n      <property name=\"trace\" value=\"");
		xml_str(f, r.trace);
		fprintf(f,
		        "\"/>\n      <property name=\"steps\" value=\"%" PRId64
		        "\"/>\n      <property name=\"run_steps\" value=\"%" PRId64
		        "\"/>\n      <property name=\"fallback_steps\" value=\"%" PRId64
		        "\"/>\n      <property name=\"native_steps\" value=\"%" PRId64
		        "\"/>\n    </properties>\n",
		        r.backends[b].steps, r.run_steps, r.fallback_steps, r.native_steps);
		for (size_t i = 0; i < r.n_classes && !ret; i++) {
			const struct rep_class *c = &r.classes[i];
			struct rep_div d;
			if (strcmp(c->backend, bn) != 0)
				continue;
			junit_case(f, &r, bn);
			xml_str(f, c->cls);
			fprintf(f, "\">\n");
			ret = rep_div_load(&r, c->first_id, &d);
			if (ret < 0)
				break;
			if (!c->new_div) {
				fprintf(f,
				        "      <skipped message=\"XFAIL: %" PRId64
				        " known divergences, first at step %" PRId64 ": ",
				        c->n, c->first_step);
				xml_str(f, d.detail);
				junit_bits(f, &d);
				fprintf(f, "\"/>\n");
			} else {
				fprintf(f, "      <failure type=\"");
				xml_str(f, c->cls);
				fprintf(f,
				        "\" message=\"%" PRId64 " new divergences, first at step %" PRId64
				        ": ",
				        c->new_div, c->first_step);
				xml_str(f, d.detail);
				junit_bits(f, &d);
				fprintf(f, "\">");
				sqlite3_stmt *st = rep_div_ids(&r, bn, c->cls);
				for (int n = 0; st && n < JUNIT_LISTED && sqlite3_step(st) == SQLITE_ROW;
				     n++) {
					struct rep_div x;
					if (rep_div_load(&r, sqlite3_column_int64(st, 0), &x) < 0)
						break;
					fprintf(f, "step %" PRId64 " %s rip %s %s%s: ", x.step, x.mode, x.rip,
					        x.disasm, x.known ? " (known)" : "");
					xml_str(f, x.detail);
					junit_bits(f, &x);
					fprintf(f, "\n");
				}
				if (c->n > JUNIT_LISTED)
					fprintf(f, "... %" PRId64 " in all\n", c->n);
				sqlite3_finalize(st);
				fprintf(f, "</failure>\n");
			}
			fprintf(f, "    </testcase>\n");
		}
		for (size_t i = 0; i < r.n_known; i++) {
			const struct rep_known *k = &r.known[i];
			if (strcmp(k->status, "xpass") != 0 || !differ_glob(k->backend, bn))
				continue;
			junit_case(f, &r, bn);
			fprintf(f, "known ");
			xml_str(f, k->cls);
			fprintf(f, " step %s\">\n      <system-out>XPASS: ", k->step);
			xml_str(f, k->source);
			fprintf(f, ":%d no longer occurs: ", k->line);
			xml_str(f, k->comment);
			fprintf(f, "</system-out>\n    </testcase>\n");
		}
		if (clean) {
			junit_case(f, &r, bn);
			fprintf(f,
			        "no divergences\">\n      <system-out>%" PRId64
			        " steps, no divergence</system-out>\n    </testcase>\n",
			        r.backends[b].steps);
		}
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
	rep_free(&r);
	return close_out(f, out_path, ret);
}

int differ_report_html(const char *results_path, const char *out_path)
{
	struct rep r;
	int ret = rep_load(&r, results_path);
	FILE *f;

	if (ret < 0)
		return ret;
	f = open_out(out_path);
	if (!f) {
		rep_free(&r);
		return -EIO;
	}
	ret = differ_report_html_write(&r, f);
	rep_free(&r);
	return close_out(f, out_path, ret);
}
