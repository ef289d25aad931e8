/* Replay on worker processes. Per-step replay makes every step an independent test case, so the range is cut
 * into contiguous parts, one a worker; each worker replays its part into a results database of its own, and
 * the parts are joined in step order as the shards of one run (differ_results_merge), which reads and
 * reports byte for byte as the run in one process. Processes, not threads: a worker owns its backends (the
 * Unicorn engine process stays a child of its worker), its trace handle and its guest memory image, and
 * shares nothing mutable with the others. */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "replay_private.h"

/* What a worker and the parent share: written by the worker, read by the parent once the worker exited. */
struct job_slot {
	_Atomic uint64_t done;      /* steps of its part replayed so far, for the progress bar */
	volatile sig_atomic_t stop; /* set by the parent: stop at the next step boundary */
	bool finished;              /* ret, sum and err are written */
	int ret;
	struct replay_summary sum;
	char err[512];
};

struct job {
	pid_t pid;
	uint64_t lo, hi;
	char *results; /* its part's results database; NULL when the run keeps none */
	bool running;
	int status; /* from waitpid */
};

unsigned replay_default_jobs(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void job_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)total;
	atomic_store(&((struct job_slot *)arg)->done, done);
}

static _Noreturn void run_worker(const struct replay_options *opt, struct job_slot *slot,
                                 const struct job *job, pid_t parent)
{
	/* The parent stops the workers on SIGINT/SIGTERM; a worker never outlives it. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	struct replay_options o = *opt;
	o.from = job->lo;
	o.to = job->hi;
	o.shard_k = o.shard_n = 0;
	o.jobs = 1;
	o.results_path = job->results;
	o.progress = job_progress;
	o.progress_arg = slot;
	o.stop = &slot->stop;
	slot->ret = replay_run_one(&o, &slot->sum, slot->err, sizeof(slot->err));
	slot->finished = true;
	_exit(0);
}

/* Adds a worker's summary (of the part after the ones already added) to the run's. */
static void add_summary(struct replay_summary *sum, const struct replay_summary *w)
{
	sum->insn_steps += w->insn_steps;
	sum->run_steps += w->run_steps;
	sum->native_steps += w->native_steps;
	sum->fallback_steps += w->fallback_steps;
	sum->divergences += w->divergences;
	sum->new_divergences += w->new_divergences;
	sum->unsupported += w->unsupported;
	sum->crashes += w->crashes;
	sum->failures += w->failures;
	sum->resyncs += w->resyncs;
	sum->run_on_steps += w->run_on_steps;
	sum->reference_artefacts += w->reference_artefacts;
	if (!sum->have_first && w->have_first) {
		sum->have_first = true;
		sum->first_divergence = w->first_divergence;
	}
	if (!sum->interrupted && w->interrupted) {
		sum->interrupted = true;
		sum->stopped_at = w->stopped_at;
	}
	for (size_t k = 0; k < REPLAY_INPUT_KINDS; k++)
		if (w->input_from_post_first[k] < sum->input_from_post_first[k])
			sum->input_from_post_first[k] = w->input_from_post_first[k];
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits for every worker, passing on a stop and the progress; with stop_at_first, a part's first divergence
 * makes the parts after it pointless, and they are stopped. */
static void supervise(const struct replay_options *opt, struct job *jobs, struct job_slot *slots, unsigned n,
                      uint64_t total)
{
	unsigned running = n;
	uint64_t shown = UINT64_MAX;
	while (running) {
		for (unsigned k = 0; k < n; k++) {
			if (!jobs[k].running || waitpid(jobs[k].pid, &jobs[k].status, WNOHANG) != jobs[k].pid)
				continue;
			jobs[k].running = false;
			running--;
			if (opt->stop_at_first && slots[k].finished && slots[k].sum.have_first)
				for (unsigned j = k + 1; j < n; j++)
					slots[j].stop = 1;
		}
		if (opt->stop && *opt->stop)
			for (unsigned k = 0; k < n; k++)
				slots[k].stop = 1;
		uint64_t done = 0;
		for (unsigned k = 0; k < n; k++)
			done += atomic_load(&slots[k].done);
		if (opt->progress && done != shown) {
			opt->progress(opt->progress_arg, done, total);
			shown = done;
		}
		if (running)
			sleep_ms(5);
	}
}

/* Why a worker left no result: its exit status or signal. */
static void describe_death(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d before reporting", WEXITSTATUS(status));
}

int replay_run_jobs(const struct replay_options *opt, struct replay_summary *sum, char *err, size_t errlen)
{
	struct trace *t;
	int ret = replay_plan(opt, &t, sum, err, errlen);
	trace_close(t);
	if (ret < 0)
		return ret;
	uint64_t total = sum->end - sum->first;
	unsigned n = opt->jobs;
	if (n > total)
		n = (unsigned)total;
	if (n <= 1)
		return replay_run_one(opt, sum, err, errlen);

	struct job *jobs = calloc(n, sizeof(*jobs));
	struct job_slot *slots =
	    mmap(NULL, n * sizeof(*slots), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!jobs || slots == MAP_FAILED) {
		free(jobs);
		if (slots != MAP_FAILED)
			munmap(slots, n * sizeof(*slots));
		snprintf(err, errlen, "cannot set up %u replay workers: out of memory", n);
		return -ENOMEM;
	}
	memset(slots, 0, n * sizeof(*slots));
	ret = 0;
	for (unsigned k = 0; k < n && !ret; k++) {
		replay_shard_range(sum->first, sum->end, k + 1, n, &jobs[k].lo, &jobs[k].hi);
		if (opt->results_path &&
		    asprintf(&jobs[k].results, "%s.job%u-of-%u", opt->results_path, k + 1, n) < 0) {
			jobs[k].results = NULL;
			snprintf(err, errlen, "cannot set up %u replay workers: out of memory", n);
			ret = -ENOMEM;
		}
	}
	/* Buffered output would be written again by every worker. */
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	for (unsigned k = 0; k < n && !ret; k++) {
		jobs[k].pid = fork();
		if (jobs[k].pid == 0)
			run_worker(opt, &slots[k], &jobs[k], parent);
		if (jobs[k].pid < 0) {
			snprintf(err, errlen, "cannot start replay worker %u of %u: %s", k + 1, n,
			         strerror(errno));
			ret = -errno;
			for (unsigned j = 0; j < k; j++)
				slots[j].stop = 1;
			break;
		}
		jobs[k].running = true;
	}
	unsigned started = 0;
	while (started < n && jobs[started].running)
		started++;
	supervise(opt, jobs, slots, started, total);

	/* The run is the parts up to the one with the first divergence (stop_at_first), else all of them. */
	unsigned last = started ? started - 1 : 0;
	for (unsigned k = 0; k < started && !ret; k++) {
		if (!slots[k].finished) {
			char why[128];
			describe_death(jobs[k].status, why, sizeof(why));
			snprintf(err, errlen,
			         "%s: replay worker %u of %u (steps %" PRIu64 "..%" PRIu64 ") %s",
			         opt->trace_path, k + 1, n, jobs[k].lo, jobs[k].hi, why);
			ret = -ECHILD;
		} else if (slots[k].ret < 0) {
			snprintf(err, errlen, "%s", slots[k].err);
			ret = slots[k].ret;
		} else if (opt->stop_at_first && slots[k].sum.have_first) {
			last = k;
			break;
		}
	}
	if (!ret) {
		sum->jobs = n;
		sum->n_backends = slots[0].sum.n_backends;
		memcpy(sum->backends, slots[0].sum.backends, sizeof(sum->backends));
		memcpy(sum->backend_notes, slots[0].sum.backend_notes, sizeof(sum->backend_notes));
		for (unsigned k = 0; k <= last; k++)
			add_summary(sum, &slots[k].sum);
	}
	if (!ret && opt->results_path) {
		const char **parts = calloc(last + 1, sizeof(*parts));
		if (!parts) {
			ret = -ENOMEM;
		} else {
			for (unsigned k = 0; k <= last; k++)
				parts[k] = jobs[k].results;
			char merr[512];
			if (differ_results_merge_as(opt->results_path, parts, last + 1,
			                            opt->command_line ? opt->command_line : "", merr,
			                            sizeof(merr)) < 0) {
				snprintf(err, errlen, "%s: joining the workers' results: %s",
				         opt->results_path, merr);
				ret = -EIO;
			}
			free(parts);
		}
	}
	for (unsigned k = 0; k < n; k++) {
		if (jobs[k].results)
			unlink(jobs[k].results);
		free(jobs[k].results);
	}
	free(jobs);
	munmap(slots, n * sizeof(*slots));
	return ret;
}
