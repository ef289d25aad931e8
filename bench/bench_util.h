/* What every benchmark program needs: a monotonic clock, sorting for medians, and a scratch directory with
 * a corpus guest's step-mode recording in it. */
#ifndef EMUDIFF_BENCH_UTIL_H
#define EMUDIFF_BENCH_UTIL_H

#include <stddef.h>

#include "../recorder/recorder.h"

/* Seconds on the monotonic clock. */
double now_s(void);

/* qsort's comparison of doubles, ascending. */
int cmp_double(const void *a, const void *b);

/* The median of n values (sorts them). */
double median(double *v, size_t n);

/* A benchmark's files: a fresh temporary directory holding step.db (the trace) and results.db, and the
 * corpus guest's path (argv[1], else $EMUDIFF_CORPUS, else build/corpus). */
struct bench_files {
	char dir[64], trace[600], results[600], guest[512];
};

/* 0, or 3 when no temporary directory can be made (the host lacks what the bench needs). */
int bench_files_make(struct bench_files *f, const char *prog, const char *guest_file, int argc, char **argv);

/* Step-mode recording options of the guest (16 MiB, loaded at 0x7c00) into f's trace. */
struct rec_options bench_record_options(const struct bench_files *f, enum rec_engine engine);

#endif
