/* emudiff replay: the recorded instructions of a trace through the backends, with reports. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../differ/differ.h"
#include "../replayer/replay.h"
#include "args.h"
#include "cli.h"

/* The command line stored with the results: without output file names and worker count, so two runs of the
 * same replay store the same. */
static char *command_line(int argc, char **argv)
{
	static const char *const outputs[] = {"-o", "--json", "--junit", "--html", "-j", "--jobs", NULL};
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
			} else if (cli_opt_is(argv[i], outputs[k])) {
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

static double elapsed(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

void cli_progress_bar(void *arg, uint64_t done, uint64_t total)
{
	struct cli_progress *p = arg;
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

int cli_replay_error(const char *cmd, int ret, const char *err)
{
	fprintf(stderr, "emudiff %s: %s\n", cmd, err[0] ? err : strerror(-ret));
	/* No backend here, or a worker process killed from outside (out of memory, a signal). */
	return ret == -ENODEV || ret == -ECHILD ? CLI_EXIT_ENVIRONMENT : CLI_EXIT_USAGE;
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void replay_help(void)
{
	printf("usage: emudiff replay TRACE [--backends emu,unicorn,kvm] [--from N] [--to N] [--shard K/N]\n"
	       "                      [-j N] [--continuous] [-o RESULTS] [--json F] [--junit F] [--html F]\n"
	       "                      [--known FILE]\n"
	       "Replays the recorded instructions of TRACE through the backends and reports divergences.\n"
	       "  --backends   engines to compare (default emu,unicorn; kvm needs /dev/kvm)\n"
	       "  --from/--to  steps [from, to) (default: all)\n"
	       "  --shard K/N  replay part K (1..N) of N equal contiguous parts of the range; with auto/N,\n"
	       "               K from EMUDIFF_SHARD_INDEX, SLURM_ARRAY_TASK_ID, CI_NODE_INDEX or\n"
	       "               JOB_COMPLETION_INDEX; 'emudiff report' joins the shards' results\n"
	       "  -j, --jobs N worker processes, each replaying a contiguous part, joined in step order;\n"
	       "               the reports are the same for any N (default: the processors available, %u)\n"
	       "  --continuous run each backend on its own state, resynchronising after a divergence\n"
	       "               (default: per-step, every step from the recorded state)\n"
	       "  -o RESULTS   keep the results database (SQLite); --json/--junit/--html render reports\n"
	       "  --known FILE known divergences: reported, not failing\n"
	       "exit: 0 no new divergence, 1 new divergences, 2 bad usage or input, 3 environment,\n"
	       "      130 interrupted (SIGINT/SIGTERM): the reports cover the steps replayed and say "
	       "INCOMPLETE\n",
	       replay_default_jobs());
}

int cli_replay(int argc, char **argv)
{
	static const char *const allowed[] = {"--backends", "--from", "--to",    "--shard", "--continuous",
	                                      "-o",         "--json", "--junit", "--html",  "--known",
	                                      "-j",         "--jobs", NULL};
	struct cli_opts o;
	struct replay_options ro = {0};
	struct replay_summary sum;
	const char *names[REPLAY_MAX_BACKENDS];
	char bbuf[256], err[512], tmp[PATH_MAX] = "";
	char *cmdline = NULL;
	int status = cli_parse_opts(argc, argv, &o, allowed), ret;

	if (status)
		return status;
	if (o.help) {
		replay_help();
		return 0;
	}
	if (o.n_traces != 1)
		return cli_usage_error(o.cmd, o.n_traces ? "exactly one TRACE, got more:" : "missing TRACE",
		                       o.n_traces > 1 ? o.traces[1] : NULL);
	ro.optional_backends = !o.backends_arg;
	status = cli_split_backends(o.cmd, o.backends_arg ? o.backends_arg : "emu,unicorn", bbuf,
	                            sizeof(bbuf), names, &ro.n_backends);
	if (status)
		return status;
	char shard_from[160] = "";
	if (o.shard && replay_parse_shard_auto(o.shard, &ro.shard_k, &ro.shard_n, shard_from,
	                                       sizeof(shard_from), err, sizeof(err)) < 0)
		return cli_usage_error(o.cmd, err, NULL);
	if (o.to != UINT64_MAX && o.from > o.to)
		return cli_usage_error(o.cmd, "--from is past --to", NULL);
	status = cli_check_input(o.cmd, "trace (.db)", o.trace);
	if (status)
		return status;
	if (o.known) {
		status = cli_check_input(o.cmd, "known-divergence list", o.known);
		if (status)
			return status;
	}
	status = cli_check_outputs(&o, o.trace);
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
	struct cli_progress prog;
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	prog.shown = false;
	prog.last_pct = -1;
	ro.trace_path = o.trace;
	ro.backends = names;
	ro.from = o.from;
	ro.to = o.to;
	ro.continuous = o.continuous;
	ro.jobs = o.jobs ? o.jobs : replay_default_jobs();
	ro.results_path = results;
	ro.known_path = o.known;
	ro.command_line = cmdline;
	if (isatty(STDERR_FILENO)) {
		ro.progress = cli_progress_bar;
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
		status = cli_replay_error(o.cmd, ret, err);
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
	/* Reports of the parts of one trace must not share test names. */
	if (o.shard || o.from || o.to != UINT64_MAX) {
		char part[256];
		if (o.shard)
			snprintf(part, sizeof(part), "shard %u/%u%s%s%s", ro.shard_k, ro.shard_n,
			         shard_from[0] ? " (" : "", shard_from, shard_from[0] ? ")" : "");
		else
			snprintf(part, sizeof(part), "steps %" PRIu64 "..%" PRIu64, sum.first, sum.end);
		if (differ_results_set_part(results, part) < 0) {
			status = CLI_EXIT_ENVIRONMENT;
			goto out;
		}
	}
	fflush(stdout);
	if (differ_report_text(results, stdout) < 0) {
		status = CLI_EXIT_USAGE;
		goto out;
	}
	printf("not compared: %" PRIu64 " RUN steps (unrecorded execution, not single instructions), %" PRIu64
	       " FALLBACK steps (executed by emu while recording: not ground truth), %" PRIu64
	       " NATIVE steps (the reference ran native code it did not step after the instruction)\n",
	       sum.run_steps, sum.fallback_steps, sum.native_steps);
	if (sum.run_on_steps)
		printf("run on: %" PRIu64
		       " backend steps were run on past one instruction to the reference's "
		       "coarser step boundary (differ/reference.tsv), then compared\n",
		       sum.run_on_steps);
	if (cli_render_reports(o.cmd, results, &o) < 0) {
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
