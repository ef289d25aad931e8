/* The replay subcommands: replay, diff, bisect, report. Each parses its options
 * and calls the replayer or the differ. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../differ/differ.h"
#include "../replayer/replay.h"
#include "../x86/x86_format.h"
#include "cli.h"

#define MAX_TRACES 64

struct opts {
	const char *cmd;
	const char *trace;
	const char *traces[MAX_TRACES];
	size_t n_traces;
	const char *backends_arg;
	const char *backend_arg;
	uint64_t from, to, step;
	bool have_step;
	const char *shard;
	bool continuous;
	const char *out, *json, *junit, *html, *known, *commits;
	bool help;
};

static int usage_error(const char *cmd, const char *msg, const char *arg)
{
	fprintf(stderr, "emudiff %s: %s%s%s; run 'emudiff %s --help'\n", cmd, msg, arg ? " " : "",
	        arg ? arg : "", cmd);
	return CLI_EXIT_USAGE;
}

static bool parse_u64(const char *cmd, const char *option, const char *text, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!text || !*text || *text == '-' || *text == '+') {
		fprintf(stderr, "emudiff %s: %s: '%s' is not a step number\n", cmd, option, text ? text : "");
		return false;
	}
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || *end) {
		fprintf(stderr, "emudiff %s: %s: '%s' is not a step number\n", cmd, option, text);
		return false;
	}
	*out = v;
	return true;
}

/* Splits "--opt=value" and "--opt value"; returns the value or NULL (message printed). */
static const char *opt_value(const char *cmd, int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc) {
		fprintf(stderr, "emudiff %s: %s needs a value; run 'emudiff %s --help'\n", cmd, name, cmd);
		return NULL;
	}
	return argv[++*i];
}

static bool opt_is(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(arg, name, n) && (arg[n] == 0 || (arg[n] == '=' && name[1] == '-'));
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

/* Parses the options every subcommand shares; 0 or an exit status. */
static int parse(int argc, char **argv, struct opts *o, const char *const *allowed)
{
	static const char *const valued[] = {"--backends", "--backend", "--from",  "--to",   "--shard",
	                                     "-o",         "--json",    "--junit", "--html", "--known",
	                                     "--step",     "--commits", NULL};
	memset(o, 0, sizeof(*o));
	o->cmd = argv[0];
	o->to = UINT64_MAX;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->help = true;
			return 0;
		}
		if (a[0] != '-' || !a[1]) {
			if (o->n_traces == MAX_TRACES)
				return usage_error(o->cmd, "too many traces", NULL);
			o->traces[o->n_traces++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			for (i++; i < argc && o->n_traces < MAX_TRACES; i++)
				o->traces[o->n_traces++] = argv[i];
			break;
		}
		const char *name = NULL;
		bool ok = false;
		for (size_t k = 0; allowed[k]; k++) {
			if (opt_is(a, allowed[k])) {
				name = allowed[k];
				ok = true;
				break;
			}
		}
		if (!ok)
			return usage_error(o->cmd, "unknown option", a);
		if (!strcmp(name, "--continuous")) {
			o->continuous = true;
			continue;
		}
		bool needs = false;
		for (size_t k = 0; valued[k]; k++)
			needs |= !strcmp(valued[k], name);
		if (!needs)
			continue;
		const char *v = opt_value(o->cmd, argc, argv, &i, name);
		if (!v)
			return CLI_EXIT_USAGE;
		if (!strcmp(name, "--backends"))
			o->backends_arg = v;
		else if (!strcmp(name, "--backend"))
			o->backend_arg = v;
		else if (!strcmp(name, "--from")) {
			if (!parse_u64(o->cmd, name, v, &o->from))
				return CLI_EXIT_USAGE;
		} else if (!strcmp(name, "--to")) {
			if (!parse_u64(o->cmd, name, v, &o->to))
				return CLI_EXIT_USAGE;
		} else if (!strcmp(name, "--step")) {
			if (!parse_u64(o->cmd, name, v, &o->step))
				return CLI_EXIT_USAGE;
			o->have_step = true;
		} else if (!strcmp(name, "--shard"))
			o->shard = v;
		else if (!strcmp(name, "-o"))
			o->out = v;
		else if (!strcmp(name, "--json"))
			o->json = v;
		else if (!strcmp(name, "--junit"))
			o->junit = v;
		else if (!strcmp(name, "--html"))
			o->html = v;
		else if (!strcmp(name, "--known"))
			o->known = v;
		else if (!strcmp(name, "--commits"))
			o->commits = v;
	}
	if (o->n_traces)
		o->trace = o->traces[0];
	return 0;
}

/* A trace or results file the user named must be a readable regular file. */
static int check_input(const char *cmd, const char *what, const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		fprintf(stderr, "emudiff %s: %s: %s%s\n", cmd, path, strerror(errno),
		        errno == ENOENT ? "; check the path" : "");
		return CLI_EXIT_USAGE;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(stderr, "emudiff %s: %s: not a regular file; pass a %s\n", cmd, path, what);
		return CLI_EXIT_USAGE;
	}
	if (access(path, R_OK) < 0) {
		fprintf(stderr, "emudiff %s: %s: %s\n", cmd, path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* An output that would overwrite an input is refused rather than destroying the trace. */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int check_outputs(const struct opts *o, const char *input)
{
	const char *outs[] = {o->out, o->json, o->junit, o->html};
	const char *names[] = {"-o", "--json", "--junit", "--html"};
	for (size_t i = 0; i < 4; i++) {
		if (same_file(outs[i], input) || same_file(outs[i], o->known)) {
			fprintf(stderr, "emudiff %s: %s %s: that is an input file; name a new file\n", o->cmd,
			        names[i], outs[i]);
			return CLI_EXIT_USAGE;
		}
	}
	return 0;
}

/* "emu,unicorn" into names (pointing into buf). */
static int split_backends(const char *cmd, const char *arg, char *buf, size_t len, const char **names,
                          size_t *n)
{
	snprintf(buf, len, "%s", arg);
	*n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "unicorn") || !strcmp(tok, "emu") || !strcmp(tok, "kvm")) {
			if (*n == REPLAY_MAX_BACKENDS)
				return usage_error(cmd, "--backends: too many backends in", arg);
			names[(*n)++] = tok;
			continue;
		}
		fprintf(stderr,
		        "emudiff %s: --backends: unknown backend '%s'; choose from emu, unicorn, kvm\n", cmd,
		        tok);
		return CLI_EXIT_USAGE;
	}
	if (!*n)
		return usage_error(cmd, "--backends: no backend named in", arg[0] ? arg : "''");
	return 0;
}

/* The command line stored with the results: without output file names, so two runs store the same. */
static char *command_line(int argc, char **argv)
{
	static const char *const outputs[] = {"-o", "--json", "--junit", "--html", NULL};
	size_t len = 16;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	snprintf(s, len, "emudiff");
	for (int i = 0; i < argc; i++) {
		bool skip = false;
		for (size_t k = 0; outputs[k]; k++) {
			if (!strcmp(argv[i], outputs[k])) {
				skip = true;
				i++;
			} else if (opt_is(argv[i], outputs[k])) {
				skip = true;
			}
		}
		if (skip)
			continue;
		strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

struct progress {
	struct timespec start;
	bool shown;
	int last_pct;
};

static double elapsed(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress_bar(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	if (!p->shown && elapsed(&p->start) < 2.0)
		return;
	int pct = total ? (int)(done * 100 / total) : 100;
	int bar = pct * 20 / 100;
	if (p->shown && pct == p->last_pct)
		return;
	p->last_pct = pct;
	double t = elapsed(&p->start), rate = t > 0 ? (double)done / t : 0;
	unsigned left = rate > 0 ? (unsigned)((double)(total - done) / rate + 0.5) : 0;
	char eta[32];
	if (left < 120)
		snprintf(eta, sizeof(eta), "%u s", left);
	else
		snprintf(eta, sizeof(eta), "%u min", (left + 30) / 60);
	/* Short enough for an 80-column terminal: \r must not wrap. */
	fprintf(stderr, "\r[%.*s%*s] %3d%% %" PRIu64 "/%" PRIu64 " steps, %.0fk/s, %s left ", bar,
	        "####################", 20 - bar, "", pct, done, total, rate / 1000, eta);
	p->shown = true;
}

static int replay_error(const char *cmd, int ret, const char *err)
{
	fprintf(stderr, "emudiff %s: %s\n", cmd, err[0] ? err : strerror(-ret));
	return ret == -ENODEV ? CLI_EXIT_ENVIRONMENT : CLI_EXIT_USAGE;
}

static int render(const char *cmd, const char *results, const struct opts *o)
{
	int ret = 0;
	if (o->json && differ_report_json(results, o->json) < 0)
		ret = -EIO;
	if (o->junit && differ_report_junit(results, o->junit) < 0)
		ret = -EIO;
	if (o->html && differ_report_html(results, o->html) < 0)
		ret = -EIO;
	if (ret < 0)
		fprintf(stderr, "emudiff %s: a report could not be written (see above)\n", cmd);
	return ret;
}

static void replay_help(void)
{
	printf("usage: emudiff replay TRACE [--backends emu,unicorn,kvm] [--from N] [--to N] [--shard K/N]\n"
	       "                      [--continuous] [-o RESULTS] [--json F] [--junit F] [--html F] [--known "
	       "FILE]\n"
	       "Replays the recorded instructions of TRACE through the backends and reports divergences.\n"
	       "  --backends   engines to compare (default emu,unicorn; kvm needs /dev/kvm)\n"
	       "  --from/--to  steps [from, to) (default: all)\n"
	       "  --shard K/N  replay part K (1..N) of N equal contiguous parts of the range\n"
	       "  --continuous run each backend on its own state, resynchronising after a divergence\n"
	       "               (default: per-step, every step from the recorded state)\n"
	       "  -o RESULTS   keep the results database (SQLite); --json/--junit/--html render reports\n"
	       "  --known FILE known divergences: reported, not failing\n"
	       "exit: 0 no new divergence, 1 new divergences, 2 bad usage or input, 3 environment\n");
}

int cli_replay(int argc, char **argv)
{
	static const char *const allowed[] = {"--backends",   "--from",  "--to",   "--shard",
	                                      "--continuous", "-o",      "--json", "--junit",
	                                      "--html",       "--known", NULL};
	struct opts o;
	struct replay_options ro = {0};
	struct replay_summary sum;
	const char *names[REPLAY_MAX_BACKENDS];
	char bbuf[256], err[512], tmp[PATH_MAX] = "";
	char *cmdline = NULL;
	int status = parse(argc, argv, &o, allowed), ret;

	if (status)
		return status;
	if (o.help) {
		replay_help();
		return 0;
	}
	if (o.n_traces != 1)
		return usage_error(o.cmd, o.n_traces ? "exactly one TRACE, got more:" : "missing TRACE",
		                   o.n_traces > 1 ? o.traces[1] : NULL);
	ro.optional_backends = !o.backends_arg;
	status = split_backends(o.cmd, o.backends_arg ? o.backends_arg : "emu,unicorn", bbuf, sizeof(bbuf),
	                        names, &ro.n_backends);
	if (status)
		return status;
	if (o.shard && replay_parse_shard(o.shard, &ro.shard_k, &ro.shard_n) < 0)
		return usage_error(o.cmd, "--shard: expected K/N with 1 <= K <= N, got", o.shard);
	if (o.to != UINT64_MAX && o.from > o.to)
		return usage_error(o.cmd, "--from is past --to", NULL);
	status = check_input(o.cmd, "trace (.db)", o.trace);
	if (status)
		return status;
	if (o.known) {
		status = check_input(o.cmd, "known-divergence list", o.known);
		if (status)
			return status;
	}
	status = check_outputs(&o, o.trace);
	if (status)
		return status;

	const char *results = o.out;
	if (!results) {
		snprintf(tmp, sizeof(tmp), "%s/emudiff-results.XXXXXX",
		         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		int fd = mkstemp(tmp);
		if (fd < 0) {
			fprintf(stderr, "emudiff %s: %s: cannot create a temporary results file: %s\n", o.cmd,
			        tmp, strerror(errno));
			return CLI_EXIT_ENVIRONMENT;
		}
		close(fd);
		unlink(tmp);
		results = tmp;
	} else {
		/* A fresh database each run: results of two runs never mix. */
		unlink(results);
	}
	cmdline = command_line(argc, argv);
	struct progress prog;
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	prog.shown = false;
	prog.last_pct = -1;
	ro.trace_path = o.trace;
	ro.backends = names;
	ro.from = o.from;
	ro.to = o.to;
	ro.continuous = o.continuous;
	ro.results_path = results;
	ro.known_path = o.known;
	ro.command_line = cmdline;
	if (isatty(STDERR_FILENO)) {
		ro.progress = progress_bar;
		ro.progress_arg = &prog;
	}
	/* SIGINT/SIGTERM (a CI timeout) stop the replay at a step boundary; its reports say it is incomplete.
	 */
	struct sigaction stop_action = {.sa_handler = on_stop_signal}, old_int, old_term;
	sigemptyset(&stop_action.sa_mask);
	stop_signal = 0;
	sigaction(SIGINT, &stop_action, &old_int);
	sigaction(SIGTERM, &stop_action, &old_term);
	ro.stop = &stop_signal;
	ret = replay_run(&ro, &sum, err, sizeof(err));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (prog.shown)
		fprintf(stderr, "\r%*s\r", 79, "");
	if (ret < 0) {
		status = replay_error(o.cmd, ret, err);
		goto out;
	}
	if (sum.interrupted)
		fprintf(stderr,
		        "emudiff %s: interrupted by signal %d before step %" PRIu64 " of %" PRIu64
		        "..%" PRIu64
		        "; the reports cover the steps before it and say the run is incomplete\n",
		        o.cmd, (int)stop_signal, sum.stopped_at, sum.first, sum.end);
	if (sum.incomplete)
		fprintf(stderr,
		        "emudiff %s: note: %s is incomplete (the recorder stopped before finishing); "
		        "replayed its %" PRIu64 " committed steps\n",
		        o.cmd, o.trace, sum.trace_steps);
	fflush(stdout);
	if (differ_report_text(results, stdout) < 0) {
		status = CLI_EXIT_USAGE;
		goto out;
	}
	/* The results database counts backend steps; what was not compared is said here. */
	printf("not compared: %" PRIu64 " RUN steps (unrecorded execution, not single instructions), %" PRIu64
	       " FALLBACK steps (executed by emu while recording: not ground truth)\n",
	       sum.run_steps, sum.fallback_steps);
	if (render(o.cmd, results, &o) < 0) {
		status = CLI_EXIT_USAGE;
		goto out;
	}
	status = sum.interrupted       ? CLI_EXIT_INTERRUPTED
	         : sum.new_divergences ? CLI_EXIT_DIVERGED
	                               : CLI_EXIT_OK;
out:
	if (tmp[0])
		unlink(tmp);
	free(cmdline);
	return status;
}

/* diff: one step, every backend side by side. */
#define DIFF_COLS (REPLAY_MAX_BACKENDS + 2)

struct diff_state {
	size_t n;
	char names[REPLAY_MAX_BACKENDS][16];
	struct backend_result res[REPLAY_MAX_BACKENDS];
	struct differ_divergence div[REPLAY_MAX_BACKENDS];
	bool diverged[REPLAY_MAX_BACKENDS], known[REPLAY_MAX_BACKENDS];
	struct x86_state pre, expected;
	uint8_t insn[16];
	unsigned insn_len;
	struct trace_write writes[64];
	uint8_t wdata[64][16];
	uint32_t n_writes;
	bool have_exit;
	struct trace_exit exit;
};

static int diff_collect(void *arg, const struct replay_step_report *r)
{
	struct diff_state *d = arg;
	if (d->n == REPLAY_MAX_BACKENDS)
		return 0;
	if (!d->n) {
		if (r->input->expected_exit) {
			d->have_exit = true;
			d->exit = *r->input->expected_exit;
		}
		d->pre = *r->input->pre;
		d->expected = *r->input->expected;
		d->insn_len = r->input->insn_len > 15 ? 15 : r->input->insn_len;
		memcpy(d->insn, r->input->insn, d->insn_len);
		for (uint32_t i = 0; i < r->input->n_expected_writes && d->n_writes < 64; i++) {
			const struct trace_write *w = &r->input->expected_writes[i];
			uint32_t len = w->len > 16 ? 16 : w->len;
			memcpy(d->wdata[d->n_writes], w->data, len);
			d->writes[d->n_writes] =
			    (struct trace_write){.gpa = w->gpa, .len = len, .data = d->wdata[d->n_writes]};
			d->n_writes++;
		}
	}
	snprintf(d->names[d->n], sizeof(d->names[0]), "%s", r->backend);
	d->res[d->n] = *r->result;
	d->diverged[d->n] = r->divergence != NULL;
	d->known[d->n] = r->known;
	if (r->divergence)
		d->div[d->n] = *r->divergence;
	d->n++;
	return 0;
}

static void print_diff(const struct diff_state *d, uint64_t step)
{
	printf("step %" PRIu64 ": ", step);
	for (unsigned i = 0; i < d->insn_len; i++)
		printf("%02x%s", d->insn[i], i + 1 < d->insn_len ? " " : "");
	printf("  (%s, cpl %u)\n", x86_mode_name(x86_state_mode(&d->pre)), x86_state_cpl(&d->pre));
	struct x86_diff_column cols[REPLAY_MAX_BACKENDS];
	for (size_t b = 0; b < d->n; b++)
		cols[b] = (struct x86_diff_column){d->names[b], &d->res[b].post, &d->res[b].unobserved};
	x86_print_diff(stdout, &d->pre, &d->expected, cols, d->n);
	for (uint32_t i = 0; i < d->n_writes; i++) {
		printf("recorded write  [0x%" PRIx64 "] ", d->writes[i].gpa);
		for (uint32_t k = 0; k < d->writes[i].len; k++)
			printf("%02x", d->writes[i].data[k]);
		printf("\n");
	}
	if (d->have_exit && (d->exit.reason == TRACE_EXIT_IO || d->exit.reason == TRACE_EXIT_MMIO)) {
		uint64_t v = 0;
		memcpy(&v, d->exit.data, d->exit.size < 8 ? d->exit.size : 8);
		printf("recorded exit   %s %s 0x%" PRIx64 " size %u count %u value 0x%" PRIx64 "\n",
		       d->exit.reason == TRACE_EXIT_IO ? "io" : "mmio", d->exit.is_write ? "write" : "read",
		       d->exit.addr, d->exit.size, d->exit.count, v);
	}
	for (size_t b = 0; b < d->n; b++) {
		for (uint32_t i = 0; i < d->res[b].n_ports; i++) {
			const struct backend_port *pt = &d->res[b].ports[i];
			printf("%-7s port    %s 0x%x size %u value 0x%x\n", d->names[b],
			       pt->is_out ? "out" : "in", pt->port, pt->size, pt->value);
		}
	}
	for (size_t b = 0; b < d->n; b++) {
		for (uint32_t i = 0; i < d->res[b].n_writes; i++) {
			printf("%-7s write   [0x%" PRIx64 "] ", d->names[b], d->res[b].writes[i].gpa);
			for (uint32_t k = 0; k < d->res[b].writes[i].len; k++)
				printf("%02x", d->res[b].writes[i].data[k]);
			printf("\n");
		}
	}
	for (size_t b = 0; b < d->n; b++) {
		const struct backend_result *r = &d->res[b];
		if (d->diverged[b])
			printf("%s: diverges, class %s%s%s%s\n", d->names[b], d->div[b].cls,
			       d->div[b].detail[0] ? " (" : "", d->div[b].detail,
			       d->div[b].detail[0] ? ")" : "");
		else
			printf("%s: matches the recording%s%s\n", d->names[b], r->reason[0] ? "; " : "",
			       r->reason);
		if (d->known[b])
			printf("%s: this divergence is on the known list\n", d->names[b]);
	}
	printf("(* marks a field that differs from the recording; - a field the backend cannot observe)\n");
}

int cli_diff(int argc, char **argv)
{
	static const char *const allowed[] = {"--step", "--backends", "--known", NULL};
	struct opts o;
	struct replay_options ro = {0};
	struct replay_summary sum;
	const char *names[REPLAY_MAX_BACKENDS];
	char bbuf[256], err[512];
	int status = parse(argc, argv, &o, allowed), ret;

	if (status)
		return status;
	if (o.help) {
		printf("usage: emudiff diff TRACE --step N [--backends emu,unicorn,kvm] [--known FILE]\n"
		       "Runs one step through every backend and shows the fields side by side.\n");
		return 0;
	}
	if (o.n_traces != 1)
		return usage_error(o.cmd, o.n_traces ? "exactly one TRACE, got more:" : "missing TRACE",
		                   o.n_traces > 1 ? o.traces[1] : NULL);
	if (!o.have_step)
		return usage_error(o.cmd, "missing --step N", NULL);
	ro.optional_backends = !o.backends_arg;
	status = split_backends(o.cmd, o.backends_arg ? o.backends_arg : "emu,unicorn", bbuf, sizeof(bbuf),
	                        names, &ro.n_backends);
	if (status)
		return status;
	status = check_input(o.cmd, "trace (.db)", o.trace);
	if (status)
		return status;

	struct trace *t;
	ret = trace_open(&t, o.trace);
	if (ret < 0) {
		fprintf(stderr, "emudiff %s: %s\n", o.cmd, trace_last_open_error());
		return CLI_EXIT_USAGE;
	}
	uint64_t count = trace_step_count(t);
	struct trace_step s;
	int kind = -1;
	if (o.step >= count) {
		trace_close(t);
		fprintf(stderr, "emudiff %s: --step %" PRIu64 ": %s has steps 0..%" PRIu64 "\n", o.cmd,
		        o.step, o.trace, count ? count - 1 : 0);
		return CLI_EXIT_USAGE;
	}
	/* A step that cannot be read is a damaged trace, never a step with nothing to compare. */
	if (trace_step_at(t, o.step, &s) != 0) {
		fprintf(stderr, "emudiff %s: %s: step %" PRIu64 " cannot be read: %s\n", o.cmd, o.trace,
		        o.step, trace_error(t));
		trace_close(t);
		return CLI_EXIT_USAGE;
	}
	kind = (int)s.kind;
	trace_close(t);
	if (kind != TRACE_STEP_INSN) {
		printf("step %" PRIu64 " is a %s step: %s\n", o.step,
		       kind == TRACE_STEP_RUN ? "RUN" : "FALLBACK",
		       kind == TRACE_STEP_RUN
		           ? "unrecorded execution, not one instruction; nothing to compare"
		           : "executed by emu while recording, not ground truth; nothing to compare");
		return CLI_EXIT_OK;
	}

	struct diff_state *d = calloc(1, sizeof(*d));
	if (!d)
		return CLI_EXIT_ENVIRONMENT;
	ro.trace_path = o.trace;
	ro.backends = names;
	ro.from = o.step;
	ro.to = o.step + 1;
	ro.known_path = o.known;
	ro.on_step = diff_collect;
	ro.on_step_arg = d;
	ret = replay_run(&ro, &sum, err, sizeof(err));
	if (ret < 0) {
		status = replay_error(o.cmd, ret, err);
		goto out;
	}
	printf("reference: %s\n", differ_reference_text(sum.reference));
	print_diff(d, o.step);
	status = sum.new_divergences ? CLI_EXIT_DIVERGED : CLI_EXIT_OK;
out:
	free(d);
	return status;
}

/* Quotes a word for /bin/sh. */
static void shell_quote(char *dst, size_t len, const char *s)
{
	size_t n = 0;
	if (n + 1 < len)
		dst[n++] = '\'';
	for (; *s && n + 5 < len; s++) {
		if (*s == '\'') {
			memcpy(dst + n, "'\\''", 4);
			n += 4;
		} else {
			dst[n++] = *s;
		}
	}
	if (n + 1 < len)
		dst[n++] = '\'';
	dst[n] = 0;
}

static bool safe_rev(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      strchr("_-./~^@{}", *s)))
			return false;
	return true;
}

/* bisect --commits GOOD..BAD TRACE...: git bisect run with ci/bisect-step. */
static int bisect_commits(const struct opts *o)
{
	char good[256], bad[256], top[PATH_MAX], script[PATH_MAX + 32], tmpl[PATH_MAX];
	const char *dots = strstr(o->commits, "..");
	int status = CLI_EXIT_USAGE;
	char *cmd = NULL;

	if (!dots || dots == o->commits || !dots[2] || strstr(dots + 2, ".."))
		return usage_error(o->cmd, "--commits: expected GOOD..BAD, got", o->commits);
	snprintf(good, sizeof(good), "%.*s", (int)(dots - o->commits), o->commits);
	snprintf(bad, sizeof(bad), "%s", dots + 2);
	if (!safe_rev(good) || !safe_rev(bad))
		return usage_error(o->cmd, "--commits: not a commit name:", o->commits);
	if (!o->n_traces)
		return usage_error(o->cmd, "--commits needs at least one TRACE", NULL);
	for (size_t i = 0; i < o->n_traces; i++) {
		int s = check_input(o->cmd, "trace (.db)", o->traces[i]);
		if (s)
			return s;
	}
	FILE *p = popen("git rev-parse --show-toplevel 2>/dev/null", "r");
	if (!p || !fgets(top, sizeof(top), p)) {
		if (p)
			pclose(p);
		fprintf(stderr,
		        "emudiff %s: --commits: not inside a git work tree; run it from the emudiff source "
		        "tree\n",
		        o->cmd);
		return CLI_EXIT_ENVIRONMENT;
	}
	pclose(p);
	top[strcspn(top, "\n")] = 0;
	/* A name git does not know is bad input, not a commit that cannot be built. */
	for (int i = 0; i < 2; i++) {
		char check[600];
		snprintf(check, sizeof(check), "git rev-parse --verify --quiet '%s^{commit}' >/dev/null 2>&1",
		         i ? bad : good);
		if (system(check) != 0) {
			fprintf(stderr,
			        "emudiff %s: --commits: '%s' is no commit of this repository (%s); name one "
			        "'git log' shows\n",
			        o->cmd, i ? bad : good, top);
			return CLI_EXIT_USAGE;
		}
	}
	snprintf(script, sizeof(script), "%s/ci/bisect-step", top);
	if (access(script, R_OK) < 0) {
		fprintf(stderr, "emudiff %s: %s: missing; the work tree has no ci/bisect-step\n", o->cmd,
		        script);
		return CLI_EXIT_ENVIRONMENT;
	}
	/* Old commits lack the script: bisect runs a copy that stays put while git checks them out. */
	snprintf(tmpl, sizeof(tmpl), "%s/emudiff-bisect-step.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int fd = mkstemp(tmpl);
	FILE *in = fopen(script, "r");
	if (fd < 0 || !in) {
		fprintf(stderr, "emudiff %s: cannot copy %s to %s: %s\n", o->cmd, script, tmpl,
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		if (in)
			fclose(in);
		return CLI_EXIT_ENVIRONMENT;
	}
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (write(fd, buf, n) != (ssize_t)n)
			break;
	fclose(in);
	fchmod(fd, 0700);
	close(fd);

	size_t len = 2048 + 2 * strlen(tmpl);
	for (size_t i = 0; i < o->n_traces; i++)
		len += 4 * (strlen(o->traces[i]) + PATH_MAX) + 8;
	cmd = malloc(len);
	char *traces = malloc(len);
	if (!cmd || !traces) {
		free(traces);
		goto out;
	}
	char q[4 * PATH_MAX + 8], g[300], b[300];
	shell_quote(g, sizeof(g), good);
	shell_quote(b, sizeof(b), bad);
	shell_quote(q, sizeof(q), tmpl);
	int off = snprintf(traces, len, "%s", q);
	for (size_t i = 0; i < o->n_traces; i++) {
		char abs[PATH_MAX];
		if (!realpath(o->traces[i], abs))
			snprintf(abs, sizeof(abs), "%s", o->traces[i]);
		shell_quote(q, sizeof(q), abs);
		off += snprintf(traces + off, len - off, " %s", q);
	}
	/* git bisect run trusts that BAD is bad and GOOD good: check both first, each in a scratch worktree.
	 */
	static const char *const ends[] = {"bad", "good"};
	fprintf(stderr, "emudiff %s: checking that %s diverges and %s does not (one build each)\n", o->cmd,
	        bad, good);
	for (int e = 0; e < 2; e++) {
		snprintf(cmd, len,
		         "d=$(mktemp -d) && git worktree add -q --detach \"$d/wt\" %s >/dev/null 2>&1 && "
		         "(cd \"$d/wt\" && %s >/dev/null); rc=$?; git worktree remove --force \"$d/wt\" "
		         ">/dev/null 2>&1; "
		         "rm -rf \"$d\"; exit $rc",
		         e ? g : b, traces);
		int st = system(cmd);
		int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 125;
		const char *rev = e ? good : bad;
		if (rc != 0 && rc != 1) {
			fprintf(
			    stderr,
			    "emudiff %s: --commits: %s (%s) cannot be built or cannot replay the traces\n",
			    o->cmd, rev, ends[e]);
			status = CLI_EXIT_ENVIRONMENT;
		} else if (e == 0 && rc == 0) {
			printf("%s does not diverge on these traces: nothing to bisect\n", bad);
			status = CLI_EXIT_OK;
		} else if (e == 1 && rc == 1) {
			fprintf(stderr,
			        "emudiff %s: --commits: %s already diverges on these traces; name an older "
			        "good commit\n",
			        o->cmd, good);
			status = CLI_EXIT_USAGE;
		} else {
			continue;
		}
		free(traces);
		goto out;
	}
	snprintf(cmd, len, "git bisect start %s %s >/dev/null && git bisect run %s 2>&1", b, g, traces);
	free(traces);
	printf("bisecting %s..%s with git bisect run (ci/bisect-step: build, replay with emu)\n", good, bad);
	fflush(stdout);
	p = popen(cmd, "r");
	char line[1024], first[1024] = "";
	bool found = false;
	while (p && fgets(line, sizeof(line), p)) {
		fputs(line, stderr);
		char *at = strstr(line, " is the first bad commit");
		if (at && !found) {
			*at = 0;
			snprintf(first, sizeof(first), "%s", line);
			found = true;
		}
	}
	int rc = p ? pclose(p) : -1;
	if (system("git bisect reset >/dev/null 2>&1") != 0)
		fprintf(stderr, "emudiff %s: 'git bisect reset' failed; run it by hand\n", o->cmd);
	if (found) {
		char show[1200], subject[512] = "";
		snprintf(show, sizeof(show), "git log -1 --format=%%s %s 2>/dev/null", first);
		FILE *s = popen(show, "r");
		if (s && fgets(subject, sizeof(subject), s))
			subject[strcspn(subject, "\n")] = 0;
		if (s)
			pclose(s);
		printf("first bad commit: %s %s\n", first, subject);
		status = CLI_EXIT_DIVERGED;
	} else {
		fprintf(
		    stderr,
		    "emudiff %s: git bisect found no first bad commit (status %d); see its output above\n",
		    o->cmd, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
		status = CLI_EXIT_ENVIRONMENT;
	}
out:
	unlink(tmpl);
	free(cmd);
	return status;
}

struct first_state {
	bool found;
	struct differ_divergence d;
};

int cli_bisect(int argc, char **argv)
{
	static const char *const allowed[] = {"--backend", "--commits", "--known", "--from", "--to", NULL};
	struct opts o;
	struct replay_options ro = {0};
	struct replay_summary sum;
	char err[512];
	int status = parse(argc, argv, &o, allowed), ret;

	if (status)
		return status;
	if (o.help) {
		printf("usage: emudiff bisect TRACE [--backend B] [--known FILE]\n"
		       "       emudiff bisect --commits GOOD..BAD TRACE...\n"
		       "The first divergent step of TRACE (continuous replay, stops at the first new "
		       "divergence),\n"
		       "or the first commit whose emu diverges on the traces (git bisect run "
		       "ci/bisect-step).\n");
		return 0;
	}
	if (o.commits)
		return bisect_commits(&o);
	if (o.n_traces != 1)
		return usage_error(o.cmd, o.n_traces ? "exactly one TRACE, got more:" : "missing TRACE",
		                   o.n_traces > 1 ? o.traces[1] : NULL);
	const char *backend = o.backend_arg ? o.backend_arg : "emu";
	if (strcmp(backend, "emu") && strcmp(backend, "unicorn") && strcmp(backend, "kvm"))
		return usage_error(o.cmd, "--backend: choose emu, unicorn or kvm, not", backend);
	status = check_input(o.cmd, "trace (.db)", o.trace);
	if (status)
		return status;
	ro.trace_path = o.trace;
	ro.backends = &backend;
	ro.n_backends = 1;
	ro.from = o.from;
	ro.to = o.to;
	ro.continuous = true;
	ro.stop_at_first = true;
	ro.known_path = o.known;
	struct progress prog = {.last_pct = -1};
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	if (isatty(STDERR_FILENO)) {
		ro.progress = progress_bar;
		ro.progress_arg = &prog;
	}
	ret = replay_run(&ro, &sum, err, sizeof(err));
	if (prog.shown)
		fprintf(stderr, "\r%*s\r", 79, "");
	if (ret < 0)
		return replay_error(o.cmd, ret, err);
	printf("reference: %s\n", differ_reference_text(sum.reference));
	if (!sum.have_first) {
		printf("no new divergence on %s in steps [%" PRIu64 ", %" PRIu64 ") (%" PRIu64
		       " instructions compared, continuous replay)\n",
		       backend, sum.first, sum.end, sum.insn_steps);
		return CLI_EXIT_OK;
	}
	const struct differ_divergence *d = &sum.first_divergence;
	printf("first divergent step: %" PRIu64 " (backend %s, class %s%s%s%s)\n", d->step, d->backend,
	       d->cls, d->detail[0] ? ": " : "", d->detail, "");
	printf("found by continuous replay from step %" PRIu64
	       ", stopping at the first new divergence: replay is "
	       "linear, so no binary search is needed\n",
	       sum.first);
	return CLI_EXIT_DIVERGED;
}

int cli_report(int argc, char **argv)
{
	static const char *const allowed[] = {"--html", "--json", "--junit", NULL};
	struct opts o;
	int status = parse(argc, argv, &o, allowed);

	if (status)
		return status;
	if (o.help) {
		printf("usage: emudiff report RESULTS [--html F] [--json F] [--junit F]\n"
		       "Renders a results database written by 'emudiff replay -o RESULTS' again.\n"
		       "Exit status 130 when that replay did not finish (interrupted or killed).\n");
		return 0;
	}
	if (o.n_traces != 1)
		return usage_error(o.cmd, o.n_traces ? "exactly one RESULTS, got more:" : "missing RESULTS",
		                   o.n_traces > 1 ? o.traces[1] : NULL);
	status = check_input(o.cmd, "results database (emudiff replay -o)", o.trace);
	if (!status)
		status = check_outputs(&o, o.trace);
	if (status)
		return status;
	if (differ_report_text(o.trace, stdout) < 0)
		return CLI_EXIT_USAGE;
	if (render(o.cmd, o.trace, &o) < 0)
		return CLI_EXIT_USAGE;
	long n = differ_results_new_count(o.trace);
	int64_t stopped_at;
	int completed = differ_results_completed(o.trace, &stopped_at);
	if (n < 0 || completed < 0)
		return CLI_EXIT_USAGE;
	return !completed ? CLI_EXIT_INTERRUPTED : n ? CLI_EXIT_DIVERGED : CLI_EXIT_OK;
}
