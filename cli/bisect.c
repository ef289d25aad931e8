/* emudiff bisect: the first divergent step of a trace (continuous replay), or the first commit whose emu
 * diverges on a set of traces (git bisect run ci/bisect-step). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../differ/differ.h"
#include "../replayer/replay.h"
#include "args.h"
#include "cli.h"

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
static int bisect_commits(const struct cli_opts *o)
{
	char good[256], bad[256], top[PATH_MAX], script[PATH_MAX + 32], tmpl[PATH_MAX];
	const char *dots = strstr(o->commits, "..");
	int status = CLI_EXIT_USAGE;
	char *cmd = NULL;

	if (!dots || dots == o->commits || !dots[2] || strstr(dots + 2, ".."))
		return cli_usage_error(o->cmd, "--commits: expected GOOD..BAD, got", o->commits);
	snprintf(good, sizeof(good), "%.*s", (int)(dots - o->commits), o->commits);
	snprintf(bad, sizeof(bad), "%s", dots + 2);
	if (!safe_rev(good) || !safe_rev(bad))
		return cli_usage_error(o->cmd, "--commits: not a commit name:", o->commits);
	if (!o->n_traces)
		return cli_usage_error(o->cmd, "--commits needs at least one TRACE", NULL);
	for (size_t i = 0; i < o->n_traces; i++) {
		int s = cli_check_input(o->cmd, "trace (.db)", o->traces[i]);
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

int cli_bisect(int argc, char **argv)
{
	static const char *const allowed[] = {"--backend", "--commits", "--known", "--from",
	                                      "--to",      "-j",        "--jobs",  NULL};
	struct cli_opts o;
	struct replay_options ro = {0};
	struct replay_summary sum;
	char err[512];
	int status = cli_parse_opts(argc, argv, &o, allowed), ret;

	if (status)
		return status;
	if (o.help) {
		printf(
		    "usage: emudiff bisect TRACE [--backend B] [--known FILE] [--from N] [--to N] [-j N]\n"
		    "       emudiff bisect --commits GOOD..BAD TRACE...\n"
		    "The first divergent step of TRACE (continuous replay, stops at the first new "
		    "divergence),\n"
		    "or the first commit whose emu diverges on the traces (git bisect run "
		    "ci/bisect-step).\n"
		    "  --backend B  the backend to replay with: emu (default), unicorn or kvm\n"
		    "  -j, --jobs N worker processes, each searching a contiguous part; the first "
		    "divergence\n"
		    "               is the earliest of theirs (default: the processors available, %u)\n"
		    "exit: 0 no new divergence, 1 a divergent step (or commit) found, 2 bad usage or input,\n"
		    "      3 environment (no KVM, a commit that cannot be built)\n",
		    replay_default_jobs());
		return 0;
	}
	if (o.commits)
		return bisect_commits(&o);
	if (o.n_traces != 1)
		return cli_usage_error(o.cmd, o.n_traces ? "exactly one TRACE, got more:" : "missing TRACE",
		                       o.n_traces > 1 ? o.traces[1] : NULL);
	const char *backend = o.backend_arg ? o.backend_arg : "emu";
	if (strcmp(backend, "emu") && strcmp(backend, "unicorn") && strcmp(backend, "kvm"))
		return cli_usage_error(o.cmd, "--backend: choose emu, unicorn or kvm, not", backend);
	status = cli_check_input(o.cmd, "trace (.db)", o.trace);
	if (status)
		return status;
	ro.trace_path = o.trace;
	ro.backends = &backend;
	ro.n_backends = 1;
	ro.from = o.from;
	ro.to = o.to;
	ro.continuous = true;
	ro.stop_at_first = true;
	ro.jobs = o.jobs ? o.jobs : replay_default_jobs();
	ro.known_path = o.known;
	struct cli_progress prog = {.last_pct = -1};
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	if (isatty(STDERR_FILENO)) {
		ro.progress = cli_progress_bar;
		ro.progress_arg = &prog;
	}
	ret = replay_run(&ro, &sum, err, sizeof(err));
	if (prog.shown)
		fprintf(stderr, "\r%*s\r", 79, "");
	if (ret < 0)
		return cli_replay_error(o.cmd, ret, err);
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
