/* The results database and the reports: queryable with SQL, XFAIL/XPASS,
 * text/JSON/JUnit/HTML content, determinism, bad input. */
#include <errno.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <cmocka.h>

#include "differ.h"

static char tmpdir[] = "/tmp/differ-results-XXXXXX";

static char *tmp_path(const char *name)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Protected mode, CPL 0, 32-bit. */
static void prot_state(struct x86_state *st)
{
	x86_state_real(st, 0, 0x1000, 0x8000);
	st->cr0 |= X86_CR0_PE;
	st->seg[X86_CS].selector = 0x08;
	st->seg[X86_CS].attr |= X86_SEG_DB;
	st->seg[X86_SS].selector = 0x10;
	st->seg[X86_DS].selector = 0x10;
}

enum scenario { SC_IRET_OUTER, SC_FLAGS, SC_UNSUPPORTED, SC_SHADOW };

static void make_div(const struct differ_rules *rules, enum scenario sc, const char *backend, uint64_t step,
                     struct differ_divergence *d)
{
	static struct backend_result res;
	struct x86_state pre, exp;
	static const uint8_t iret[] = {0xcf}, add[] = {0x01, 0xc8}, lar[] = {0x0f, 0x02, 0xc0},
	                     movss[] = {0x8e, 0xd0};
	struct differ_input in = {.step = step, .backend = backend, .mode = X86_MODE_PROT32};

	prot_state(&pre);
	exp = pre;
	memset(&res, 0, sizeof(res));
	switch (sc) {
	case SC_IRET_OUTER:
		in.insn = iret;
		in.insn_len = 1;
		exp.rip = 0x2000;
		exp.seg[X86_CS].selector = 0x1b;
		exp.seg[X86_SS].selector = 0x23;
		exp.seg[X86_SS].attr |= 3u << X86_SEG_DPL_SHIFT;
		res.post = exp;
		exp.seg[X86_DS].selector = 0;
		break;
	case SC_FLAGS:
		in.insn = add;
		in.insn_len = 2;
		exp.rip += 2;
		res.post = exp;
		res.post.rflags |= X86_RFLAGS_CF;
		break;
	case SC_UNSUPPORTED:
		in.insn = lar;
		in.insn_len = 3;
		res.outcome = BACKEND_UNSUPPORTED;
		snprintf(res.reason, sizeof(res.reason), "emu: lar not implemented");
		break;
	case SC_SHADOW:
		in.insn = movss;
		in.insn_len = 2;
		exp.rip += 2;
		exp.events.shadow = X86_SHADOW_MOV_SS;
		res.post = exp;
		res.post.events.shadow = 0;
		break;
	}
	in.pre = &pre;
	in.expected = &exp;
	in.actual = &res;
	in.cpl = 0;
	assert_int_equal(differ_compare(rules, &in, d), 1);
}

static const char known_text[] = "unicorn\tshadow.mov_ss\t*\tKVM reports the shadow, unicorn has none\n"
                                 "emu\tflags.defined\t30\tone known step\n"
                                 "emu\tcpuid\t*\tfixed long ago\n"
                                 "kvm\tiret.real\t*\tkvm did not run\n";

/* Writes a results database: emu has 2 iret.pm_outer (new), 1 flags.defined (known),
 * 1 backend.unsupported (new); unicorn 1 shadow.mov_ss (known); cpuid entry is XPASS. */
static void build_results(const char *db_path, const char *known_path)
{
	struct differ_rules *rules;
	struct differ_known *known;
	struct differ_results *r;
	static struct differ_divergence d;
	char err[300];
	struct differ_run_info run = {.trace_path = "boot.trace",
	                              .reference = "kvm-emulator",
	                              .replay_mode = "per-step",
	                              .command_line = "emudiff replay boot.trace"};
	static const struct {
		enum scenario sc;
		const char *backend;
		uint64_t step;
	} divs[] = {
	    {SC_SHADOW, "unicorn", 5}, {SC_IRET_OUTER, "emu", 10},  {SC_IRET_OUTER, "emu", 20},
	    {SC_FLAGS, "emu", 30},     {SC_UNSUPPORTED, "emu", 40},
	};

	assert_int_equal(differ_rules_default(&rules), 0);
	FILE *f = fopen(known_path, "w");
	assert_non_null(f);
	fputs(known_text, f);
	fclose(f);
	assert_int_equal(differ_known_load(known_path, &known, err, sizeof(err)), 0);
	assert_int_equal(differ_results_create(&r, db_path, &run, err, sizeof(err)), 0);
	assert_int_equal(differ_results_set_range(r, 0, 50), 0);
	for (int s = 0; s < 50; s++) {
		assert_int_equal(
		    differ_results_count_step(r, "emu", s == 40 ? BACKEND_UNSUPPORTED : BACKEND_STEPPED), 0);
		assert_int_equal(differ_results_count_step(r, "unicorn", BACKEND_STEPPED), 0);
	}
	for (size_t i = 0; i < sizeof(divs) / sizeof(divs[0]); i++) {
		make_div(rules, divs[i].sc, divs[i].backend, divs[i].step, &d);
		assert_int_equal(differ_results_add(r, &d, differ_known_match(known, &d)), 0);
	}
	assert_int_equal(differ_results_add_known(r, known), 0);
	assert_int_equal(differ_results_set_end(r, true, 0), 0);
	assert_int_equal(differ_results_close(r), 0);
	differ_known_free(known);
	differ_rules_free(rules);
}

static void query_rows(sqlite3 *db, const char *sql, char *out, size_t len)
{
	sqlite3_stmt *st;
	size_t used = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			const unsigned char *t = sqlite3_column_text(st, i);
			used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "|" : "",
			                         t ? (const char *)t : "NULL");
		}
		used += (size_t)snprintf(out + used, len - used, ";");
	}
	sqlite3_finalize(st);
}

static void test_db_queryable(void **state)
{
	const char *db_path = tmp_path("results.db");
	sqlite3 *db;
	char rows[2048];
	(void)state;

	build_results(db_path, tmp_path("known.tsv"));
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	query_rows(db, "select class, count(*) from divergence group by class order by class", rows,
	           sizeof(rows));
	assert_string_equal(rows, "backend.unsupported|1;flags.defined|1;iret.pm_outer|2;shadow.mov_ss|1;");
	query_rows(
	    db,
	    "select backend, step, class, field, expected, actual from diff where class = 'iret.pm_outer'",
	    rows, sizeof(rows));
	assert_string_equal(rows, "emu|10|iret.pm_outer|ds.sel|0|0x10;emu|20|iret.pm_outer|ds.sel|0|0x10;");
	query_rows(db, "select detail from divergence where step = 10", rows, sizeof(rows));
	assert_string_equal(rows, "DS not nulled on return to CPL 3 (expected 0, got 0x10);");
	query_rows(db, "select name, steps, stepped, unsupported from backend order by id", rows,
	           sizeof(rows));
	assert_string_equal(rows, "emu|50|49|1;unicorn|50|50|0;");
	query_rows(db, "select backend, class, known from divergence where known = 1 order by id", rows,
	           sizeof(rows));
	assert_string_equal(rows, "unicorn|shadow.mov_ss|1;emu|flags.defined|1;");
	query_rows(db, "select backend, class, step, hits from known order by id", rows, sizeof(rows));
	assert_string_equal(
	    rows, "unicorn|shadow.mov_ss|*|1;emu|flags.defined|30|1;emu|cpuid|*|0;kvm|iret.real|*|0;");
	query_rows(db, "select backend, class from xpass", rows, sizeof(rows));
	assert_string_equal(rows, "emu|cpuid;");
	query_rows(db,
	           "select disasm, hex(insn), length(pre), length(expected), length(actual) from divergence"
	           " where step = 10",
	           rows, sizeof(rows));
	char want[128];
	snprintf(want, sizeof(want), "iretd|CF|%zu|%zu|%zu;", sizeof(struct x86_state),
	         sizeof(struct x86_state), sizeof(struct x86_state));
	assert_string_equal(rows, want);
	query_rows(db, "select reference, trace, first_step, end_step from run", rows, sizeof(rows));
	assert_string_equal(rows, "kvm-emulator|boot.trace|0|50;");
	sqlite3_close(db);

	assert_int_equal(differ_results_new_count(db_path), 3);
	assert_int_equal(differ_results_xpass_count(db_path), 1);
}

static void test_text_report(void **state)
{
	const char *db_path = tmp_path("results.db");
	char *buf = NULL;
	size_t len = 0;
	(void)state;

	build_results(db_path, tmp_path("known.tsv"));
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(differ_report_text(db_path, f), 0);
	fclose(f);
	/* Reference kind first, per-backend steps, per-class counts, first divergence with disassembly and
	 * bytes. */
	assert_memory_equal(buf, "reference: kvm-emulator", strlen("reference: kvm-emulator"));
	assert_non_null(strstr(buf, "\nemu                  50           49            1"));
	assert_non_null(strstr(buf, "  iret.pm_outer                       2/2              -\n"));
	assert_non_null(strstr(buf, "  shadow.mov_ss                         -            0/1\n"));
	assert_non_null(strstr(buf, "[emu] iret.pm_outer: 2 (2 new) - DS not nulled on return to CPL 3"));
	assert_non_null(strstr(buf, "step 10, prot32, CPL 0, rip 0x1000, bytes cf: iretd"));
	assert_non_null(strstr(buf, "ds.sel             0x10                 0                    0x10"));
	assert_non_null(strstr(buf, "[emu] backend.unsupported: 1 (1 new) - emu: lar not implemented"));
	/* Flags name their differing bits beside the raw values. */
	assert_non_null(strstr(
	    buf,
	    "rflags             0x2                  0x2                  0x3                  CF 0 -> 1\n"));
	assert_non_null(strstr(buf, "XPASS "));
	assert_non_null(strstr(buf, "emu cpuid step *: fixed - fixed long ago"));
	assert_null(strstr(buf, "kvm iret.real"));
	assert_non_null(strstr(buf, "5 divergences (3 new, 2 known); 1 known entry no longer occurs: FAIL"));
	free(buf);
}

/* A small JSON checker: values nest properly and the document is one value. */
static const char *json_value(const char *p);
static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}
static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p && *p != '"'; p++)
		if (*p == '\\' && !*++p)
			return NULL;
	return *p == '"' ? p + 1 : NULL;
}
static const char *json_value(const char *p)
{
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = json_string(json_ws(p));
				if (!p || *(p = json_ws(p)) != ':')
					return NULL;
				p++;
			}
			p = json_value(p);
			if (!p)
				return NULL;
			p = json_ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
		return p;
	}
	return NULL;
}

static void test_json_report(void **state)
{
	const char *db_path = tmp_path("results.db"), *out = tmp_path("r.json");
	(void)state;

	build_results(db_path, tmp_path("known.tsv"));
	assert_int_equal(differ_report_json(db_path, out), 0);
	char *buf = slurp(out, NULL);
	assert_non_null(buf);
	const char *end = json_value(buf);
	assert_non_null(end);
	assert_int_equal(*json_ws(end), '\0');
	static const char *const keys[] = {
	    "\"run\":",
	    "\"reference\": \"kvm-emulator\"",
	    "\"backends\":",
	    "\"classes\":",
	    "\"divergences\":",
	    "\"known\":",
	    "\"status\": \"xpass\"",
	    "\"status\": \"xfail\"",
	    "\"status\": \"not-run\"",
	    "\"disasm\": \"iretd\"",
	    "\"expected\": \"0\", \"actual\": \"0x10\"",
	    "\"expected\": \"0x2\", \"actual\": \"0x3\", \"bits\": \"CF 0 -> 1\"",
	    "\"steps\": 50"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strstr(buf, keys[i]))
			fail_msg("JSON lacks %s", keys[i]);
	assert_int_equal(count_of(buf, "\"step\": "), 5 + 4); /* divergences and known entries */
	free(buf);
}

/* xmllint against differ/tests/junit.xsd: the schema CI systems read JUnit reports by. */
static void assert_valid_junit(const char *path)
{
	char cmd[1024], out[600];
	snprintf(out, sizeof(out), "%s.xmllint", path);
	snprintf(cmd, sizeof(cmd), "xmllint --noout --schema '%s' '%s' >'%s' 2>&1", JUNIT_XSD, path, out);
	int rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) == 127)
		fail_msg("cannot run xmllint (Debian package libxml2-utils; ci/setup installs it)");
	if (WEXITSTATUS(rc) != 0) {
		char *msg = slurp(out, NULL);
		fail_msg("%s does not validate against %s: %s", path, JUNIT_XSD, msg ? msg : "");
	}
}

static void test_junit_report(void **state)
{
	const char *db_path = tmp_path("results.db"), *out = tmp_path("r.xml");
	static const char *const cases[] = {
	    "<testcase classname=\"emudiff.boot.trace.emu\" name=\"iret.pm_outer\">",
	    "<testcase classname=\"emudiff.boot.trace.emu\" name=\"flags.defined\">",
	    "<testcase classname=\"emudiff.boot.trace.emu\" name=\"backend.unsupported\">",
	    "<testcase classname=\"emudiff.boot.trace.unicorn\" name=\"shadow.mov_ss\">",
	};
	(void)state;

	build_results(db_path, tmp_path("known.tsv"));
	assert_int_equal(differ_report_junit(db_path, out), 0);
	char *buf = slurp(out, NULL);
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (count_of(buf, cases[i]) != 1)
			fail_msg("JUnit has %zu of %s, want 1", count_of(buf, cases[i]), cases[i]);
	/* One per class per backend, plus one for the XPASS entry. */
	assert_int_equal(count_of(buf, "<testcase "), 5);
	assert_int_equal(count_of(buf, "<testsuite "), 2);
	assert_int_equal(count_of(buf, "<failure "), 2);
	assert_int_equal(count_of(buf, "<skipped "), 2);
	assert_non_null(
	    strstr(buf, "<testsuites name=\"emudiff\" tests=\"5\" failures=\"2\" skipped=\"2\">"));
	assert_non_null(strstr(buf, "XPASS: "));
	assert_int_equal(count_of(buf, "</testcase>"), 5);
	assert_non_null(strstr(buf, "; rflags: CF 0 -&gt; 1\"/>"));
	free(buf);
	assert_valid_junit(out);
}

/* Suites and classnames carry the trace and the replayed part, so reports of several shards stay apart. */
static void test_junit_names_carry_trace_and_part(void **state)
{
	const char *db_path = tmp_path("results.db"), *out = tmp_path("part.xml");
	(void)state;

	build_results(db_path, tmp_path("known.tsv"));
	assert_int_equal(differ_results_set_part(db_path, "shard 2/4"), 0);
	assert_int_equal(differ_report_junit(db_path, out), 0);
	char *buf = slurp(out, NULL);
	assert_non_null(buf);
	assert_int_equal(count_of(buf, "<testsuite name=\"emudiff.boot.trace[shard 2/4].emu\" "), 1);
	assert_int_equal(count_of(buf, "<testsuite name=\"emudiff.boot.trace[shard 2/4].unicorn\" "), 1);
	assert_int_equal(count_of(buf, "<testcase classname=\"emudiff.boot.trace[shard 2/4]."), 5);
	free(buf);
	assert_valid_junit(out);
	assert_true(differ_results_set_part(tmp_path("missing.db"), "shard 1/2") < 0);
}

static void test_html_report(void **state)
{
	const char *db_path = tmp_path("results.db"), *out = tmp_path("r.html");
	(void)state;

	build_results(db_path, tmp_path("known.tsv"));
	assert_int_equal(differ_report_html(db_path, out), 0);
	char *buf = slurp(out, NULL);
	assert_non_null(buf);
	static const char *const banned[] = {"http:", "https:",  "src=", "<script",
	                                     "<link", "@import", "url("};
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		if (strstr(buf, banned[i]))
			fail_msg("HTML is not self-contained: it has %s", banned[i]);
	assert_non_null(strstr(buf, "<style>"));
	assert_non_null(strstr(buf, "<p>Verdict: <b>FAIL</b>: 3 new divergences</p>"));
	assert_int_equal(count_of(buf, "<details>"), 5);
	/* Full state for the four stepped divergences; the unsupported step has none. */
	assert_int_equal(count_of(buf, "<table class=\"st\">"), 4);
	assert_non_null(strstr(buf, "The backend did not step (unsupported)"));
	/* The full state side by side, the differing field highlighted. */
	assert_non_null(strstr(buf, "<th>expected (recorded)</th>"));
	assert_non_null(
	    strstr(buf, "<tr class=\"d\"><td>ds.sel</td><td>0x10</td><td>0</td><td>0x10</td></tr>"));
	assert_non_null(strstr(buf, "<tr><td>rax</td>"));
	assert_non_null(strstr(buf, "<tr><td>rflags</td><td>0x2</td><td>0x3</td><td>CF 0 -&gt; 1</td></tr>"));
	assert_non_null(strstr(buf, "href=\"#c-emu-iret.pm_outer\""));
	assert_non_null(strstr(buf, "id=\"c-emu-iret.pm_outer\""));
	assert_non_null(strstr(buf, "</html>\n"));
	free(buf);
}

static void test_deterministic(void **state)
{
	const char *a = tmp_path("a.db"), *b = tmp_path("b.db");
	size_t la, lb;
	(void)state;

	build_results(a, tmp_path("known.tsv"));
	build_results(b, tmp_path("known.tsv"));
	char *da = slurp(a, &la), *db = slurp(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
	const char *outs[2] = {tmp_path("a.html"), tmp_path("b.html")};
	assert_int_equal(differ_report_html(a, outs[0]), 0);
	assert_int_equal(differ_report_html(b, outs[1]), 0);
	/* The trace path is the same; the file name of the database appears nowhere in the report. */
	da = slurp(outs[0], &la);
	db = slurp(outs[1], &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(da, db, la);
	free(da);
	free(db);
}

/* No divergence: the text says PASS, JUnit shows one passing case per backend. */
static void test_clean_run(void **state)
{
	const char *db_path = tmp_path("results.db"), *xml = tmp_path("r.xml");
	struct differ_results *r;
	struct differ_run_info run = {.trace_path = "t.trace", .reference = "silicon"};
	char err[300], *buf = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(differ_results_create(&r, db_path, &run, err, sizeof(err)), 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(differ_results_count_step(r, "emu", BACKEND_STEPPED), 0);
	assert_int_equal(differ_results_set_end(r, true, 0), 0);
	assert_int_equal(differ_results_close(r), 0);
	assert_int_equal(differ_results_new_count(db_path), 0);
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(differ_report_text(db_path, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "reference: silicon"));
	assert_non_null(strstr(buf, "0 divergences (0 new, 0 known)"));
	assert_non_null(strstr(buf, ": PASS\n"));
	assert_null(strstr(buf, "first divergence"));
	free(buf);
	assert_int_equal(differ_report_junit(db_path, xml), 0);
	buf = slurp(xml, NULL);
	assert_non_null(strstr(buf, "tests=\"1\" failures=\"0\""));
	assert_int_equal(count_of(buf, "<testcase "), 1);
	assert_non_null(strstr(buf, "name=\"no divergences\""));
	assert_non_null(strstr(buf, "7 steps, no divergence"));
	free(buf);
	assert_valid_junit(xml);
}

/* A run interrupted before step 7 of 0..20, and one never marked done (killed): no report says PASS. */
static void test_incomplete_run(void **state)
{
	const char *db_path = tmp_path("incomplete.db"), *xml = tmp_path("incomplete.xml");
	const char *json = tmp_path("incomplete.json");
	struct differ_run_info run = {.trace_path = "t.trace", .reference = "silicon"};
	char err[300], *buf = NULL;
	size_t len = 0;
	int64_t stopped_at;
	(void)state;

	for (int killed = 0; killed < 2; killed++) {
		struct differ_results *r;
		assert_int_equal(differ_results_create(&r, db_path, &run, err, sizeof(err)), 0);
		assert_int_equal(differ_results_set_range(r, 0, 20), 0);
		for (int i = 0; i < 7; i++)
			assert_int_equal(differ_results_count_step(r, "emu", BACKEND_STEPPED), 0);
		if (!killed)
			assert_int_equal(differ_results_set_end(r, false, 7), 0);
		assert_int_equal(differ_results_close(r), 0);
		assert_int_equal(differ_results_completed(db_path, &stopped_at), 0);
		assert_int_equal(stopped_at, killed ? -1 : 7);
		FILE *f = open_memstream(&buf, &len);
		assert_int_equal(differ_report_text(db_path, f), 0);
		fclose(f);
		assert_null(strstr(buf, "PASS"));
		assert_non_null(strstr(buf, killed ? "INCOMPLETE: the replay did not finish"
		                                   : "INCOMPLETE: the replay was interrupted before step 7 "
		                                     "(steps 7..20 were not replayed)"));
		free(buf);
		assert_int_equal(differ_report_junit(db_path, xml), 0);
		buf = slurp(xml, NULL);
		assert_non_null(strstr(buf, "tests=\"2\" failures=\"1\""));
		assert_non_null(strstr(buf, "type=\"incomplete\""));
		free(buf);
		assert_valid_junit(xml);
		assert_int_equal(differ_report_json(db_path, json), 0);
		buf = slurp(json, NULL);
		assert_non_null(strstr(buf, killed ? "\"completed\": false}"
		                                   : "\"completed\": false, \"stopped_at\": 7"));
		free(buf);
	}
}

static void test_bad_database(void **state)
{
	const char *notdb = tmp_path("not.db");
	FILE *f = fopen(notdb, "w");
	(void)state;
	assert_non_null(f);
	fputs("this is not sqlite\n", f);
	fclose(f);
	FILE *devnull = fopen("/dev/null", "w");
	assert_int_equal(differ_report_text(notdb, devnull), -EINVAL);
	assert_true(differ_report_text(tmp_path("missing.db"), devnull) < 0);
	assert_true(differ_results_new_count(notdb) < 0);
	fclose(devnull);

	/* A valid SQLite file that is not a results database (e.g. a trace given by mistake). */
	const char *other = tmp_path("other.db");
	sqlite3 *db;
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "create table t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(differ_report_json(other, tmp_path("x.json")), -EINVAL);
	unlink(notdb);
	unlink(other);
}

/* A blob damaged after writing is found, naming the row, whatever report reads it. */
static const struct {
	const char *damage;  /* SQL run on a good results database */
	const char *message; /* in the error; NULL: no error */
	int line;
} damage_rows[] = {
    {"SELECT 1", NULL, __LINE__},
    {"UPDATE divergence SET actual = zeroblob(length(actual)) WHERE step = 10",
     "damaged.db: divergence row at step 10 (emu, iret.pm_outer): a damaged blob (checksum mismatch)",
     __LINE__},
    {"UPDATE divergence SET insn = x'cc' WHERE step = 5",
     "damaged.db: divergence row at step 5 (unicorn, shadow.mov_ss): a damaged blob (checksum mismatch)",
     __LINE__},
    {"UPDATE divergence SET pre = substr(pre, 1, 100) WHERE step = 30",
     "damaged.db: divergence row at step 30 (emu, flags.defined): a damaged blob (pre: 100 bytes, want ",
     __LINE__},
    {"UPDATE divergence SET unobserved = NULL WHERE step = 20",
     "divergence row at step 20 (emu, iret.pm_outer): a damaged blob (unobserved: 0 bytes, want ", __LINE__},
    {"UPDATE divergence SET insn = zeroblob(17) WHERE step = 40",
     "divergence row at step 40 (emu, backend.unsupported): a damaged blob (insn: 17 bytes, at most 16)",
     __LINE__},
    {"UPDATE divergence SET blob_sum = blob_sum + 1 WHERE step = 40",
     "divergence row at step 40 (emu, backend.unsupported): a damaged blob (checksum mismatch)", __LINE__},
};

static void test_damaged_blobs(void **state)
{
	const char *db_path = tmp_path("damaged.db");
	FILE *devnull = fopen("/dev/null", "w");
	(void)state;
	assert_non_null(devnull);
	for (size_t i = 0; i < sizeof(damage_rows) / sizeof(damage_rows[0]); i++) {
		char err[600] = "";
		sqlite3 *db;
		build_results(db_path, tmp_path("known.tsv"));
		assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, damage_rows[i].damage, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		int ret = differ_results_verify(db_path, err, sizeof(err));
		int text = differ_report_text(db_path, devnull);
		int json = differ_report_json(db_path, tmp_path("damaged.json"));
		bool want_error = damage_rows[i].message != NULL;
		if ((ret < 0) != want_error || (text < 0) != want_error || (json < 0) != want_error ||
		    (want_error && !strstr(err, damage_rows[i].message)))
			fail_msg("%s:%d: verify %d, text %d, json %d, '%s'; want %s", __FILE__,
			         damage_rows[i].line, ret, text, json, err,
			         want_error ? damage_rows[i].message : "no error");
	}
	fclose(devnull);
	unlink(db_path);
	unlink(tmp_path("damaged.json"));
}

/* A database of the previous format, without checksums, is refused with what to do. */
static void test_older_format_refused(void **state)
{
	const char *db_path = tmp_path("results.db");
	char err[600] = "";
	sqlite3 *db;
	(void)state;
	build_results(db_path, tmp_path("known.tsv"));
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(differ_results_verify(db_path, err, sizeof(err)), -EINVAL);
	assert_int_equal(differ_report_junit(db_path, tmp_path("r.xml")), -EINVAL);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *const names[] = {"results.db", "known.tsv", "r.json", "r.xml", "r.html",
	                                    "a.db",       "b.db",      "a.html", "b.html"};
	(void)state;
	/* DIFFER_KEEP=1 leaves the reports in the temporary directory for a look. */
	if (getenv("DIFFER_KEEP")) {
		fprintf(stderr, "reports kept in %s\n", tmpdir);
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tmp_path(names[i]));
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_db_queryable),   cmocka_unit_test(test_text_report),
	    cmocka_unit_test(test_json_report),    cmocka_unit_test(test_junit_report),
	    cmocka_unit_test(test_html_report),    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_incomplete_run), cmocka_unit_test(test_bad_database),
	    cmocka_unit_test(test_clean_run),      cmocka_unit_test(test_junit_names_carry_trace_and_part),
	    cmocka_unit_test(test_damaged_blobs),  cmocka_unit_test(test_older_format_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
