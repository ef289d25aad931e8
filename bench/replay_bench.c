/* Replay figures on one step-mode recording of corpus modeswitch_1m (about 1,001,420 instructions),
 * per-step replay with full comparison and a results database, one backend at a time, single core:
 *   replay.emu.insn_per_s        compared instructions per second, emu backend (median of 3)
 *   replay.unicorn.insn_per_s    the same, unicorn backend (one run)
 *   replay.unicorn.two_at_once.slowdown  wall time of two unicorn replays at once / of one (200,000 steps)
 *   replay.emu_vs_record.ratio   emu replay speed / recording speed of the same trace
 *   replay.record.insn_per_s     the recording speed that ratio divides by
 * Without /dev/kvm the trace is recorded with --engine emu: the replay figures, and
 *   replay.record_engine_emu.insn_per_s   that recording's speed, instead of the last two. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../recorder/recorder.h"
#include "../replayer/replay.h"
#include "bench_util.h"

/* Compared instructions per second of one per-step replay with one backend, of steps [0, to). */
static double replay_rate_to(const char *trace, const char *backend, const char *results, uint64_t to)
{
	const char *names[] = {backend};
	struct replay_options opt = {.trace_path = trace,
	                             .backends = names,
	                             .n_backends = 1,
	                             .to = to,
	                             .results_path = results,
	                             .command_line = "bench"};
	struct replay_summary sum;
	char err[512];
	unlink(results);
	double t0 = now_s();
	int ret = replay_run(&opt, &sum, err, sizeof(err));
	double dt = now_s() - t0;
	if (ret < 0) {
		fprintf(stderr, "replay_bench: %s backend: %s\n", backend, err);
		exit(ret == -ENODEV ? 3 : 1);
	}
	return (double)sum.insn_steps / dt;
}

static double replay_rate(const char *trace, const char *backend, const char *results)
{
	return replay_rate_to(trace, backend, results, UINT64_MAX);
}

/* Wall time of two unicorn replays of steps [0, to) at once (as --shard runs them) over the time of one:
 * 1 when each has cores of its own, 2 when they share the cores fairly. */
static double unicorn_two_at_once(const char *trace, const char *dir, uint64_t to)
{
	char results[2][600];
	snprintf(results[0], sizeof(results[0]), "%s/r0.db", dir);
	snprintf(results[1], sizeof(results[1]), "%s/r1.db", dir);
	double t0 = now_s();
	replay_rate_to(trace, "unicorn", results[0], to);
	double alone = now_s() - t0;
	t0 = now_s();
	pid_t pid = fork();
	if (pid == 0)
		_exit(replay_rate_to(trace, "unicorn", results[1], to) > 0 ? 0 : 1);
	replay_rate_to(trace, "unicorn", results[0], to);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return (now_s() - t0) / alone;
}

int main(int argc, char **argv)
{
	struct bench_files f;
	char err[512];
	int made = bench_files_make(&f, "replay-bench", "modeswitch_1m.bin", argc, argv);
	if (made)
		return made;
	const char *dir = f.dir, *trace = f.trace, *results = f.results;
	/* KVM first (the engine's default): its recording rate is the ratio's divisor. */
	struct rec_options ropt = bench_record_options(&f, REC_ENGINE_KVM);
	struct rec_summary rsum;
	double t0 = now_s();
	int rc = recorder_run(&ropt, &rsum, err, sizeof(err));
	bool kvm = rc != 3;
	if (!kvm) {
		/* No /dev/kvm: the replay figures from the same guest recorded by emu, the ratio needs KVM.
		 */
		fprintf(stderr,
		        "replay_bench: %s; recording with --engine emu (no replay.emu_vs_record.ratio)\n",
		        err);
		ropt.engine = REC_ENGINE_EMU;
		t0 = now_s();
		rc = recorder_run(&ropt, &rsum, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "replay_bench: %s\n", err);
		unlink(trace);
		rmdir(dir);
		return rc;
	}
	double record_rate = (double)rsum.insn_steps / (now_s() - t0);

	enum { RUNS = 3 };
	double emu[RUNS];
	for (int i = 0; i < RUNS; i++)
		emu[i] = replay_rate(trace, "emu", results);
	qsort(emu, RUNS, sizeof(emu[0]), cmp_double);
	double uc = replay_rate(trace, "unicorn", results);

	double two = unicorn_two_at_once(trace, dir, 200000);

	printf("replay.emu.insn_per_s %.0f\n", emu[RUNS / 2]);
	printf("replay.unicorn.insn_per_s %.0f\n", uc);
	printf("replay.unicorn.two_at_once.slowdown %.2f\n", two);
	if (kvm) {
		printf("replay.emu_vs_record.ratio %.2f\n", emu[RUNS / 2] / record_rate);
		printf("replay.record.insn_per_s %.0f\n", record_rate);
	} else {
		printf("replay.record_engine_emu.insn_per_s %.0f\n", record_rate);
	}
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
