/* Replay on several workers and in shards, each ratio measured side by side in one run on one step-mode
 * recording of corpus modeswitch_16m (about 16,000,000 instructions, recorded with --engine emu), per-step
 * replay with the emu backend and a results database:
 *   replay.emu.jobs2_speedup        wall time with 1 worker / with 2 workers (median of 3, alternating)
 *   replay.emu.jobs1.insn_per_s     compared instructions per second, 1 worker (median)
 *   replay.emu.jobs2.insn_per_s     the same, 2 workers (median)
 *   replay.shard_merge_overhead     wall time of the 4 shards one after another plus joining their results /
 *                                   of the unsharded replay (median of 3)
 *   replay.jobs.processors          the processors this process may run on: the speedup's ceiling */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../differ/differ.h"
#include "../recorder/recorder.h"
#include "../replayer/replay.h"
#include "bench_util.h"

enum { RUNS = 3, SHARDS = 4 };

/* Wall time of one replay of the trace (shard k of n, or all for n = 0) on jobs workers; the steps compared
 * in *steps. */
static double replay_time(const char *trace, const char *results, unsigned jobs, unsigned k, unsigned n,
                          uint64_t *steps)
{
	const char *names[] = {"emu"};
	struct replay_options opt = {.trace_path = trace,
	                             .backends = names,
	                             .n_backends = 1,
	                             .to = UINT64_MAX,
	                             .shard_k = k,
	                             .shard_n = n,
	                             .jobs = jobs,
	                             .results_path = results,
	                             .command_line = "bench"};
	struct replay_summary sum;
	char err[512];
	unlink(results);
	double t0 = now_s();
	if (replay_run(&opt, &sum, err, sizeof(err)) < 0) {
		fprintf(stderr, "jobs_bench: %s\n", err);
		exit(1);
	}
	if (steps)
		*steps = sum.insn_steps;
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	struct bench_files f;
	char err[512];
	int made = bench_files_make(&f, "jobs-bench", "modeswitch_16m.bin", argc, argv);
	if (made)
		return made;
	const char *dir = f.dir, *trace = f.trace, *results = f.results, *guest = f.guest;
	struct rec_options ropt = bench_record_options(&f, REC_ENGINE_EMU);
	struct rec_summary rsum;
	if (recorder_run(&ropt, &rsum, err, sizeof(err)) != 0) {
		fprintf(stderr, "jobs_bench: %s: %s\n", guest, err);
		return 1;
	}

	double one[RUNS], two[RUNS], speedup[RUNS], overhead[RUNS];
	uint64_t steps = 0;
	for (int i = 0; i < RUNS; i++) {
		one[i] = replay_time(trace, results, 1, 0, 0, &steps);
		two[i] = replay_time(trace, results, 2, 0, 0, NULL);
		speedup[i] = one[i] / two[i];
		/* The shards as a CI engine runs them, one after another here, then joined. */
		char shard[SHARDS][640];
		const char *paths[SHARDS];
		double t0 = now_s();
		for (unsigned k = 0; k < SHARDS; k++) {
			snprintf(shard[k], sizeof(shard[k]), "%s/shard%u.db", dir, k + 1);
			paths[k] = shard[k];
			replay_time(trace, shard[k], 1, k + 1, SHARDS, NULL);
		}
		char merged[640];
		snprintf(merged, sizeof(merged), "%s/merged.db", dir);
		if (differ_results_merge(merged, paths, SHARDS, err, sizeof(err)) < 0) {
			fprintf(stderr, "jobs_bench: %s\n", err);
			return 1;
		}
		overhead[i] = (now_s() - t0) / one[i];
	}
	printf("replay.emu.jobs2_speedup %.2f\n", median(speedup, RUNS));
	printf("replay.emu.jobs1.insn_per_s %.0f\n", (double)steps / median(one, RUNS));
	printf("replay.emu.jobs2.insn_per_s %.0f\n", (double)steps / median(two, RUNS));
	printf("replay.shard_merge_overhead %.2f\n", median(overhead, RUNS));
	printf("replay.jobs.processors %u\n", replay_default_jobs());
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
