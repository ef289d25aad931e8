/* Corpus regression: every guest of corpus/manifest.tsv (but the benchmark guest) is recorded on this host,
 * replayed per step and continuously against corpus/known.tsv, and must give exit status 0 and no
 * unclassified divergence. New guests are picked up from the manifest; what they legitimately diverge on
 * belongs in corpus/known.tsv with its reason.
 *   test_corpus_replay kvm   records on /dev/kvm (skipped without it), replays with emu, unicorn and kvm
 *   test_corpus_replay emu   records them with --engine emu and replays them with emu and unicorn: no
 *                            KVM needed, and emu must replay its own recording exactly */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../corpus/tests/manifest.h"
#include "../../recorder/tests/engine.h"

/* Wall-clock limits per child: far above what the corpus takes here (seconds). */
#define RECORD_LIMIT_S 300
#define REPLAY_LIMIT_S 600

static struct corpus_manifest manifest;
static struct corpus_guest *guests[CORPUS_MAX_GUESTS];
static bool engine_emu;       /* record with --engine emu, replay with emu and unicorn */
static const char *reference; /* what the recordings are: the manifest's ends depend on it */
static char tmpdir[256] = "/tmp/emudiff-corpus-replay-XXXXXX";

/* Runs argv with stdout and stderr to files; returns the exit status, -1 when it did not exit, -2 when it
 * ran longer than limit_s seconds (then it is killed: a guest that never ends fails, it does not hang). */
static int run(const char *const argv[], const char *out, const char *err, unsigned limit_s)
{
	pid_t pid = fork();
	int st;
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int n = open("/dev/null", O_RDONLY);
		if (o < 0 || e < 0 || n < 0)
			_exit(127);
		dup2(o, 1), dup2(e, 2), dup2(n, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (unsigned ms = 0;; ms += 20) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0)
			return -1;
		if (ms >= limit_s * 1000u) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -2;
		}
		usleep(20000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Prints the divergences not on the known list, so a failure says what to fix or to add. */
static void print_new(sqlite3 *db, const char *what)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT backend, class, count(*), min(step), max(step), min(detail) FROM divergence"
	        " WHERE known = 0 GROUP BY backend, class ORDER BY backend, class",
	        -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		print_message("%s: new: %s %s x%lld steps %lld..%lld: %s\n", what, sqlite3_column_text(st, 0),
		              sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2),
		              sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
		              sqlite3_column_text(st, 5));
	sqlite3_finalize(st);
}

/* A guest that ends at an emulation failure on this reference went on under --fallback emu: its trace must
 * hold the FALLBACK steps emu executed, not only the guest's exit status. */
static void expect_fallback_steps(const struct corpus_guest *g, const char *trace)
{
	char out[600], err[600], text[4096];
	const char *argv[] = {getenv("EMUDIFF_BIN"), "info", trace, NULL};
	unsigned long long insns = 0, runs = 0, fallbacks = 0;

	snprintf(out, sizeof(out), "%s/%s.info.out", tmpdir, g->name);
	snprintf(err, sizeof(err), "%s/%s.info.err", tmpdir, g->name);
	if (run(argv, out, err, RECORD_LIMIT_S) != 0)
		fail_msg("%s: emudiff info %s failed", g->name, trace);
	slurp(out, text, sizeof(text));
	const char *steps = strstr(text, "\nsteps ");
	if (!steps ||
	    sscanf(steps, "\nsteps %*s (instructions %llu, unrecorded runs %llu, emu fallbacks %llu)", &insns,
	           &runs, &fallbacks) != 3)
		fail_msg("%s: emudiff info prints no step counts: %s", g->name, text);
	if (fallbacks == 0)
		fail_msg("%s: recorded with --fallback emu to its end, but the trace has no FALLBACK step",
		         g->name);
}

static void record(const struct corpus_guest *g, const char *trace)
{
	const char *bin = getenv("EMUDIFF_BIN"), *corpus = getenv("EMUDIFF_CORPUS");
	char image[512], out[600], err[600], msg[4096], load[32];
	bool fallback =
	    !engine_emu && strcmp(corpus_expected_end(g, reference, false), "emulation-failure") == 0;

	snprintf(image, sizeof(image), "%s/%s", corpus, g->binary);
	snprintf(load, sizeof(load), "0x%llx", (unsigned long long)g->load);
	if (access(image, R_OK) != 0)
		fail_msg("%s: %s is not built (build the corpus target)", g->name, image);
	snprintf(out, sizeof(out), "%s/%s.rec.out", tmpdir, g->name);
	snprintf(err, sizeof(err), "%s/%s.rec.err", tmpdir, g->name);
	char optbuf[2048];
	const char *words[16];
	int n_words = corpus_guest_options(g, corpus, optbuf, sizeof(optbuf), words, 16);
	if (n_words < 0)
		fail_msg("%s: options '%s' too long", g->name, g->options);
	for (int exits = 0; exits < 2; exits++) {
		const char *argv[40];
		int n = 0;
		argv[n++] = bin;
		argv[n++] = "record";
		argv[n++] = "--mode";
		argv[n++] = exits ? "exits" : "step";
		if (engine_emu) {
			argv[n++] = "--engine";
			argv[n++] = "emu";
		}
		if (fallback) {
			argv[n++] = "--fallback";
			argv[n++] = "emu";
		}
		argv[n++] = "-o";
		argv[n++] = trace;
		for (int i = 0; i < n_words; i++)
			argv[n++] = words[i];
		/* Start column: a multiboot kernel goes through the PC loader, a flat image at its load
		 * address. */
		if (!strcmp(g->start, "multiboot")) {
			argv[n++] = "--multiboot";
		} else if (g->load != 0x7c00) {
			argv[n++] = "--load";
			argv[n++] = load;
		}
		argv[n++] = image;
		argv[n] = NULL;
		unlink(trace);
		int st = run(argv, out, err, RECORD_LIMIT_S);
		if (st == -2)
			fail_msg("%s: record did not end within %u s", g->name, RECORD_LIMIT_S);
		slurp(err, msg, sizeof(msg));
		/* A step recording the recorder ended where the guest single-steps itself in a way it cannot
		 * follow (status 0, a complete trace of part of the run): the whole run in exits mode. */
		if (!exits && !engine_emu && st == 0 && strstr(msg, "ended: guest single-steps itself"))
			continue;
		if (st == 0 && fallback)
			expect_fallback_steps(g, trace);
		if (st == 0)
			return;
		fail_msg("%s: record (--mode %s%s%s) exited %d: %s", g->name, exits ? "exits" : "step",
		         engine_emu ? " --engine emu" : "", fallback ? " --fallback emu" : "", st, msg);
	}
}

/* Replays in one mode; false (with the reasons printed) when the run fails. */
static bool replay(const struct corpus_guest *g, const char *trace, bool continuous)
{
	const char *bin = getenv("EMUDIFF_BIN"), *src = getenv("EMUDIFF_SOURCE");
	const char *mode = continuous ? "continuous" : "per-step";
	char known[512], db[600], out[600], err[600], msg[4096], what[128];
	const char *argv[16];
	int n = 0;
	sqlite3 *h;

	snprintf(known, sizeof(known), "%s/corpus/known.tsv", src);
	snprintf(db, sizeof(db), "%s/%s.%s.db", tmpdir, g->name, mode);
	snprintf(out, sizeof(out), "%s/%s.%s.out", tmpdir, g->name, mode);
	snprintf(err, sizeof(err), "%s/%s.%s.err", tmpdir, g->name, mode);
	snprintf(what, sizeof(what), "%s (%s)", g->name, mode);
	argv[n++] = bin;
	argv[n++] = "replay";
	argv[n++] = trace;
	argv[n++] = "--backends";
	argv[n++] = engine_emu ? "emu,unicorn" : "emu,unicorn,kvm";
	if (continuous)
		argv[n++] = "--continuous";
	argv[n++] = "--known";
	argv[n++] = known;
	argv[n++] = "-o";
	argv[n++] = db;
	argv[n] = NULL;
	int st = run(argv, out, err, REPLAY_LIMIT_S);
	slurp(err, msg, sizeof(msg));
	if (st == -2) {
		print_message("%s: replay did not end within %u s\n", what, REPLAY_LIMIT_S);
		return false;
	}
	if (st != 0 && st != 1) {
		print_message("%s: replay exited %d: %s", what, st, msg);
		return false;
	}
	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		print_message("%s: cannot open the results database %s\n", what, db);
		return false;
	}
	int64_t unclassified = query_int(h, "SELECT count(*) FROM divergence WHERE class = 'unclassified'");
	int64_t fresh = query_int(h, "SELECT count(*) FROM divergence WHERE known = 0");
	int64_t backends = query_int(h, "SELECT count(*) FROM backend WHERE steps > 0");
	int64_t emu_divergences = query_int(h, "SELECT count(*) FROM divergence WHERE backend = 'emu'");
	int64_t steps = query_int(h, "SELECT min(steps) FROM backend");
	if (fresh)
		print_new(h, what);
	int64_t xpass = query_int(h, "SELECT count(*) FROM xpass");
	sqlite3_close(h);
	bool ok = true;
	/* A recording by emu is the same on every host: an entry for it that matches nothing is stale. */
	if (engine_emu && xpass != 0) {
		print_message(
		    "%s: %lld entries of corpus/known.tsv no longer occur (XPASS): remove or rescope them\n",
		    what, (long long)xpass);
		ok = false;
	}
	if (unclassified != 0) {
		print_message("%s: %lld unclassified divergences (a rule is missing in differ/classes.tsv)\n",
		              what, (long long)unclassified);
		ok = false;
	}
	if (st != 0 || fresh != 0) {
		print_message(
		    "%s: replay exited %d with %lld divergences not in corpus/known.tsv (listed above)\n",
		    what, st, (long long)fresh);
		ok = false;
	}
	/* Every backend really ran: a replay of nothing would pass trivially. */
	if (backends != (engine_emu ? 2 : 3) || steps <= 0) {
		print_message("%s: %lld of %d backends ran (min steps %lld)\n", what, (long long)backends,
		              engine_emu ? 2 : 3, (long long)steps);
		ok = false;
	}
	/* emu replaying what emu recorded: any difference is a replay or trace bug, never a known one. */
	if (engine_emu && emu_divergences != 0) {
		print_message("%s: emu diverges %lld times from its own recording\n", what,
		              (long long)emu_divergences);
		ok = false;
	}
	return ok;
}

static void test_guest(void **state)
{
	const struct corpus_guest *g = *state;
	char trace[400];
	/* A reference that ends the guest otherwise than silicon took another path: no replay can pin it. */
	const char *end = corpus_expected_end(g, reference, true);
	if (strcmp(end, g->expected)) {
		print_message(
		    "%s: skipped: under %s it ends %s, not %s as on silicon (corpus/manifest.tsv)\n", g->name,
		    reference, end, g->expected);
		skip();
	}
	snprintf(trace, sizeof(trace), "%s/%s.trace", tmpdir, g->name);
	record(g, trace);
	bool per_step = replay(g, trace, false);
	bool continuous = replay(g, trace, true);
	if (!per_step || !continuous)
		fail_msg("%s: replay failed%s%s", g->name, per_step ? "" : " per step",
		         continuous ? ""
		         : per_step ? " continuously"
		                    : " and continuously");
}

static int teardown_all(void **state)
{
	char cmd[600];
	(void)state;
	/* EMUDIFF_KEEP=DIR keeps the traces and results there for a look. */
	if (!getenv("EMUDIFF_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *src = getenv("EMUDIFF_SOURCE");
	static struct CMUnitTest tests[CORPUS_MAX_GUESTS];
	char err[512];
	size_t n = 0;

	int status = test_engine_select(argc, argv, "test_corpus_replay", &engine_emu);
	if (status >= 0)
		return status;
	if (!src || !getenv("EMUDIFF_BIN") || !getenv("EMUDIFF_CORPUS")) {
		fprintf(stderr,
		        "test_corpus_replay: EMUDIFF_SOURCE, EMUDIFF_BIN and EMUDIFF_CORPUS must be set\n");
		return 1;
	}
	reference = test_engine_reference(engine_emu);
	if (corpus_manifest_load(&manifest, src, err, sizeof(err))) {
		fprintf(stderr, "test_corpus_replay: %s\n", err);
		return 1;
	}
	/* The benchmark guest (a million steps) is bench/'s to replay. */
	for (size_t i = 0; i < manifest.n; i++)
		if (strcmp(manifest.guests[i].name, "modeswitch_1m"))
			guests[n++] = &manifest.guests[i];
	const char *keep = getenv("EMUDIFF_KEEP");
	if (keep) {
		snprintf(tmpdir, sizeof(tmpdir), "%s", keep);
		if (mkdir(tmpdir, 0755) < 0 && access(tmpdir, W_OK) < 0) {
			perror(tmpdir);
			return 1;
		}
	} else if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){
		    .name = guests[i]->name, .test_func = test_guest, .initial_state = guests[i]};
	return _cmocka_run_group_tests(engine_emu ? "corpus_replay_emu" : "corpus_replay", tests, n, NULL,
	                               teardown_all);
}
