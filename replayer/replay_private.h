/* Internals of the replayer shared by the replay loop (replay.c) and its worker processes (replay_jobs.c). */
#ifndef EMUDIFF_REPLAY_PRIVATE_H
#define EMUDIFF_REPLAY_PRIVATE_H

#include "replay.h"

/* Opens the trace (left open in *t, NULL when it did not open) and fills what the summary says of it and of
 * the range to replay; 0 or -errno with one line in err. */
int replay_plan(const struct replay_options *opt, struct trace **t, struct replay_summary *sum, char *err,
                size_t errlen);

/* The replay in this process, whatever opt->jobs says. */
int replay_run_one(const struct replay_options *opt, struct replay_summary *sum, char *err, size_t errlen);

/* The replay on opt->jobs worker processes, joined as replay_run_one would have written it; -ECHILD when a
 * worker died without a result (the error names it, its steps and the signal). */
int replay_run_jobs(const struct replay_options *opt, struct replay_summary *sum, char *err, size_t errlen);

#endif
