/* The replay loop: runs the recorded INSN steps of a trace through one or more
 * backends and hands every step to the differ.
 *
 * Per-step mode gives every backend the recorded pre-state and memory of each
 * step (each instruction is an independent test case; --shard K/N splits the
 * range into N contiguous parts). Continuous mode lets each backend run on its
 * own state and resynchronises it from the trace only after a divergence, a
 * RUN step (unrecorded execution) or a FALLBACK step (never ground truth).
 * Functions return 0 or -errno with a one-line message in err; -ENODEV means
 * the environment lacks a requested backend (no /dev/kvm, ...). */
#ifndef EMUDIFF_REPLAY_H
#define EMUDIFF_REPLAY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../differ/differ.h"
#include "backend.h"

#define REPLAY_MAX_BACKENDS 4

/* Inputs an older trace lacks, taken from the recorded post-state. */
enum { REPLAY_INPUT_CPUID, REPLAY_INPUT_RDTSC, REPLAY_INPUT_RDMSR, REPLAY_INPUT_KINDS };

/* What the replayer hands to on_step for one backend on one compared step. */
struct replay_step_report {
	uint64_t step;
	const char *backend;
	const struct differ_input *input; /* recorded side: pre, expected post, writes, insn */
	const struct backend_result *result;
	const struct differ_divergence *divergence; /* NULL when the step matched */
	bool known;
};

struct replay_options {
	const char *trace_path;
	const char *const *backends; /* names for backend_find() */
	size_t n_backends;
	/* Drop a backend that is unavailable here (-ENODEV) with a note on stderr instead of failing. */
	bool optional_backends;
	uint64_t from;             /* first step */
	uint64_t to;               /* one past the last step; UINT64_MAX: to the end */
	unsigned shard_k, shard_n; /* part K (1-based) of N contiguous parts; 0/0 for all */
	bool continuous;
	bool stop_at_first; /* stop after the step with the first divergence */
	/* Worker processes, each replaying a contiguous part of the range into a results database of its own,
	 * joined in step order (replay_jobs.c); 0 or 1: this process alone. With on_step: this process alone.
	 */
	unsigned jobs;
	const char *results_path; /* results database to create; NULL for none */
	const char *known_path;   /* known divergences; NULL for none */
	const char *command_line;
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	/* Set (by a signal handler) to stop at the next step boundary: the run is then incomplete. */
	const volatile sig_atomic_t *stop;
	/* Called for every backend on every compared step; nonzero stops the replay. */
	int (*on_step)(void *arg, const struct replay_step_report *r);
	void *on_step_arg;
};

struct replay_summary {
	uint64_t first, end;      /* the steps replayed: [first, end) */
	uint64_t insn_steps;      /* compared */
	uint64_t run_steps;       /* not single instructions: backends resynchronised */
	uint64_t fallback_steps;  /* executed by emu while recording: not ground truth, skipped */
	uint64_t native_steps;    /* an instruction and unrecorded native code after it: not compared */
	uint64_t divergences;     /* (step, backend) pairs */
	uint64_t new_divergences; /* not on the known list */
	uint64_t unsupported, crashes, failures;
	uint64_t resyncs; /* continuous mode: resynchronisations after a divergence */
	/* (step, backend) pairs run on past one instruction to the reference's coarser step boundary */
	uint64_t run_on_steps;
	/* divergences filed as expected by their class: the recording's own artefacts (ref.*) and the last
	 * bit of an x87 transcendental */
	uint64_t reference_artefacts;
	bool have_first;
	struct differ_divergence first_divergence;
	char reference[32]; /* "silicon", "qemu-tcg", "kvm-emulator", "emu" or "unknown" */
	bool incomplete;    /* the recorder stopped before trace_finish: only committed steps exist */
	bool interrupted;   /* opt->stop was set: steps [stopped_at, end) were not replayed */
	uint64_t stopped_at;
	uint64_t trace_steps;
	char backends[REPLAY_MAX_BACKENDS][16];
	size_t n_backends;
	unsigned jobs; /* worker processes the run used; 1 for this process alone */
	/* An older trace without recorded CPUID, RDTSC and RDMSR results: the first step whose result was
	 * taken from the recorded post-state, per kind (REPLAY_INPUT_CPUID...); UINT64_MAX for none. */
	uint64_t input_from_post_first[REPLAY_INPUT_KINDS];
	char backend_notes[512]; /* requested backends unavailable here and dropped, a line each */
};

/* Replays and prints the run's notes (backends dropped, inputs taken from post-states) on stderr. */
int replay_run(const struct replay_options *opt, struct replay_summary *sum, char *err, size_t errlen);

/* The processors this process may run on (sched_getaffinity), at least 1: the default of --jobs. */
unsigned replay_default_jobs(void);

/* The reference a trace records, from its meta: "silicon", "qemu-tcg", "kvm-emulator", "emu" or "unknown". */
void replay_reference(struct trace *t, char *buf, size_t len);

/* Parses "K/N" (1 <= K <= N); -EINVAL when malformed. */
int replay_parse_shard(const char *s, unsigned *k, unsigned *n);
/* "K/N", or "auto/N" with K from a CI engine's index: EMUDIFF_SHARD_INDEX (0-based), SLURM_ARRAY_TASK_ID
 * (less SLURM_ARRAY_TASK_MIN), CI_NODE_INDEX (GitLab, 1-based), JOB_COMPLETION_INDEX (Kubernetes, 0-based),
 * the first set wins and is named in from ("" for K/N). -EINVAL with one line in err when none is set or
 * the index is out of range. */
int replay_parse_shard_auto(const char *s, unsigned *k, unsigned *n, char *from, size_t fromlen, char *err,
                            size_t errlen);

/* The steps of part K of N of [first, end): [*lo, *hi). */
void replay_shard_range(uint64_t first, uint64_t end, unsigned k, unsigned n, uint64_t *lo, uint64_t *hi);

#endif
