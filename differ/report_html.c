/* The HTML report: one self-contained file (inline style, no script, no
 * external URL): summary table, per-class lists, and each divergence
 * expandable to the full state side by side. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

#define HTML_PER_CLASS 200 /* divergences listed per backend and class */

static const char html_style[] = "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222}"
                                 "table{border-collapse:collapse;margin:.5em 0}"
                                 "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
                                 "th{background:#eee}"
                                 "td.n{text-align:right}"
                                 "code,pre,.st td{font-family:monospace}"
                                 "tr.d td{background:#fdd}"
                                 "tr.m td{color:#999}"
                                 ".new{color:#b00;font-weight:bold}"
                                 ".known{color:#777}"
                                 "details{margin:2px 0}"
                                 "summary{cursor:pointer}";

void rep_markup_escape(FILE *f, const char *s, const char *keep)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*p < 0x20 && !strchr(keep, *p) ? '?' : *p, f);
		}
	}
}

void rep_html_escape(FILE *f, const char *s)
{
	rep_markup_escape(f, s, "\n");
}

static void anchor(FILE *f, const char *backend, const char *cls)
{
	fprintf(f, "c-");
	rep_html_escape(f, backend);
	fprintf(f, "-");
	rep_html_escape(f, cls);
}

static void html_state(FILE *f, const struct rep_div *d)
{
	fprintf(f, "<table class=\"st\"><tr><th>field</th><th>before</th><th>expected (recorded)</th>"
	           "<th>actual (");
	rep_html_escape(f, d->backend);
	fprintf(f, ")</th></tr>\n");
	for (size_t i = 0; i < x86_field_count; i++) {
		const struct x86_field *xf = &x86_fields[i];
		char pre[40], exp[40], act[40];
		bool differs = rep_field_differs(d, xf), masked = x86_field_masked_any(&d->unobserved, xf);
		x86_format_field(&d->pre, xf, X86_FORMAT_0X, pre, sizeof(pre));
		x86_format_field(&d->expected, xf, X86_FORMAT_0X, exp, sizeof(exp));
		x86_format_field(&d->actual, xf, X86_FORMAT_0X, act, sizeof(act));
		fprintf(f, "<tr%s><td>%s%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
		        differs  ? " class=\"d\""
		        : masked ? " class=\"m\""
		                 : "",
		        xf->name, masked ? " (unobserved)" : "", pre, exp, act);
	}
	fprintf(f, "</table>\n");
}

static void html_div(FILE *f, const struct rep_div *d)
{
	fprintf(f, "<details><summary>step %" PRId64 " <code>", d->step);
	rep_html_escape(f, d->disasm);
	fprintf(f, "</code> ");
	rep_html_escape(f, d->detail);
	fprintf(f, "%s</summary>\n<p>%s, CPL %d, rip <code>%s</code>, bytes <code>",
	        d->known ? " (known)" : "", d->mode, d->cpl, d->rip);
	for (int i = 0; i < d->insn_len; i++)
		fprintf(f, "%s%02x", i ? " " : "", d->insn[i]);
	fprintf(f, "</code>, outcome %s, %" PRId64 " differing fields</p>\n", d->outcome, d->n_fields);
	if (d->n_shown) {
		fprintf(f, "<table><tr><th>field</th><th>expected</th><th>actual</th><th>bits</th></tr>\n");
		for (int i = 0; i < d->n_shown; i++) {
			char bits[160];
			rep_field_bits(d->fields[i].name, d->fields[i].expected, d->fields[i].actual, bits,
			               sizeof(bits));
			fprintf(f, "<tr><td>");
			rep_html_escape(f, d->fields[i].name);
			fprintf(f, "</td><td>");
			rep_html_escape(f, d->fields[i].expected);
			fprintf(f, "</td><td>");
			rep_html_escape(f, d->fields[i].actual);
			fprintf(f, "</td><td>");
			rep_html_escape(f, bits);
			fprintf(f, "</td></tr>\n");
		}
		fprintf(f, "</table>\n");
	}
	if (strcmp(d->outcome, "stepped") != 0)
		fprintf(f, "<p>The backend did not step (%s): there is no post-state to compare.</p>\n",
		        d->outcome);
	else if (d->have_states)
		html_state(f, d);
	else
		fprintf(f, "<p>Full states are stored for the first divergences of each class only.</p>\n");
	fprintf(f, "</details>\n");
}

int differ_report_html_write(struct rep *r, FILE *f)
{
	int ret = 0;

	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>emudiff: ");
	rep_html_escape(f, r->trace);
	fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>emudiff results</h1>\n", html_style);
	/* The verdict first, as the text report's last line gives it. */
	int64_t total_new = 0;
	for (size_t i = 0; i < r->n_backends; i++)
		total_new += r->backends[i].new_div;
	fprintf(f, "<p>Verdict: <b>%s</b>: %" PRId64 " new divergence%s%s</p>\n",
	        total_new      ? "FAIL"
	        : r->completed ? "PASS"
	                       : "INCOMPLETE",
	        total_new, total_new == 1 ? "" : "s", r->completed ? "" : "; the replay did not finish");
	fprintf(f, "<p>Reference: <b>");
	rep_html_escape(f, differ_reference_text(r->reference));
	fprintf(f, "</b><br>Trace: <code>");
	rep_html_escape(f, r->trace);
	fprintf(f, "</code>");
	if (r->replay_mode[0]) {
		fprintf(f, ", ");
		rep_html_escape(f, r->replay_mode);
		fprintf(f, " replay");
	}
	if (r->have_range)
		fprintf(f, ", steps %" PRId64 "..%" PRId64, r->first_step, r->end_step);
	fprintf(f,
	        "<br>Not compared: %" PRId64 " RUN steps (unrecorded execution), %" PRId64
	        " FALLBACK steps (executed by emu while recording), %" PRId64
	        " NATIVE steps (the reference ran native code it did not step after the instruction)",
	        r->run_steps, r->fallback_steps, r->native_steps);
	if (!r->completed) {
		char line[200];
		rep_incomplete_text(r, line, sizeof(line));
		fprintf(f, "<br><b>");
		rep_html_escape(f, line);
		fprintf(f, "</b>");
	}
	if (r->command_line[0]) {
		fprintf(f, "<br>Command: <code>");
		rep_html_escape(f, r->command_line);
		fprintf(f, "</code>");
	}
	fprintf(f, "</p>\n<h2>Backends</h2>\n<table><tr><th>backend</th><th>steps</th><th>stepped</th>"
	           "<th>unsupported</th><th>crashed</th><th>failed</th><th>divergences</th><th>new</th>"
	           "<th>known</th></tr>\n");
	for (size_t i = 0; i < r->n_backends; i++) {
		const struct rep_backend *b = &r->backends[i];
		fprintf(f, "<tr><td>");
		rep_html_escape(f, b->name);
		fprintf(f,
		        "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
		        "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
		        "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
		        "</td><td class=\"n%s\">%" PRId64 "</td><td class=\"n\">%" PRId64 "</td></tr>\n",
		        b->steps, b->stepped, b->unsupported, b->crashed, b->failed, b->divergences,
		        b->new_div ? " new" : "", b->new_div, b->expected);
	}
	fprintf(f, "</table>\n<h2>Divergences per class</h2>\n");
	if (!r->n_classes)
		fprintf(f, "<p>No divergences.</p>\n");
	else
		fprintf(
		    f,
		    "<table><tr><th>backend</th><th>class</th><th>divergences</th><th>new</th><th>known</th>"
		    "<th>first step</th></tr>\n");
	for (size_t i = 0; i < r->n_classes; i++) {
		const struct rep_class *c = &r->classes[i];
		fprintf(f, "<tr><td>");
		rep_html_escape(f, c->backend);
		fprintf(f, "</td><td><a href=\"#");
		anchor(f, c->backend, c->cls);
		fprintf(f, "\">");
		rep_html_escape(f, c->cls);
		fprintf(f,
		        "</a></td><td class=\"n\">%" PRId64 "</td><td class=\"n%s\">%" PRId64
		        "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64 "</td></tr>\n",
		        c->n, c->new_div ? " new" : "", c->new_div, c->expected, c->first_step);
	}
	if (r->n_classes)
		fprintf(f, "</table>\n");

	if (r->n_known) {
		fprintf(
		    f,
		    "<h2>Known divergences</h2>\n<p>%" PRId64 " entries matched (XFAIL), %" PRId64
		    " no longer occur (XPASS).</p>\n<table><tr><th>status</th><th>entry</th><th>backend</th>"
		    "<th>class</th><th>step</th><th>matched</th><th>comment</th></tr>\n",
		    r->xfail, r->xpass);
		for (size_t i = 0; i < r->n_known; i++) {
			const struct rep_known *k = &r->known[i];
			fprintf(f, "<tr><td>%s</td><td>", k->status);
			rep_html_escape(f, k->source);
			fprintf(f, ":%d</td><td>", k->line);
			rep_html_escape(f, k->backend);
			fprintf(f, "</td><td>");
			rep_html_escape(f, k->cls);
			fprintf(f, "</td><td>");
			rep_html_escape(f, k->step);
			fprintf(f, "</td><td class=\"n\">%" PRId64 "</td><td>", k->hits);
			rep_html_escape(f, k->comment);
			fprintf(f, "</td></tr>\n");
		}
		fprintf(f, "</table>\n");
	}

	for (size_t i = 0; i < r->n_classes && !ret; i++) {
		const struct rep_class *c = &r->classes[i];
		fprintf(f, "<h3 id=\"");
		anchor(f, c->backend, c->cls);
		fprintf(f, "\">");
		rep_html_escape(f, c->backend);
		fprintf(f, ": ");
		rep_html_escape(f, c->cls);
		fprintf(f, " (%" PRId64 ")</h3>\n", c->n);
		sqlite3_stmt *st = rep_div_ids(r, c->backend, c->cls);
		if (!st) {
			ret = -EIO;
			break;
		}
		for (int n = 0; n < HTML_PER_CLASS && sqlite3_step(st) == SQLITE_ROW; n++) {
			struct rep_div d;
			ret = rep_div_load(r, sqlite3_column_int64(st, 0), &d);
			if (ret < 0)
				break;
			html_div(f, &d);
		}
		sqlite3_finalize(st);
		if (c->n > HTML_PER_CLASS)
			fprintf(f, "<p>%" PRId64 " more in the results database.</p>\n",
			        c->n - HTML_PER_CLASS);
	}
	fprintf(f, "</body></html>\n");
	return ret;
}
