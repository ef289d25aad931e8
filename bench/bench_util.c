/* Helpers shared by the benchmark programs. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double median(double *v, size_t n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

int bench_files_make(struct bench_files *f, const char *prog, const char *guest_file, int argc, char **argv)
{
	const char *corpus = getenv("EMUDIFF_CORPUS");
	snprintf(f->guest, sizeof(f->guest), "%s/%s",
	         argc > 1 ? argv[1]
	         : corpus ? corpus
	                  : "build/corpus",
	         guest_file);
	snprintf(f->dir, sizeof(f->dir), "/tmp/emudiff-%s-XXXXXX", prog);
	if (!mkdtemp(f->dir)) {
		perror(f->dir);
		return 3;
	}
	snprintf(f->trace, sizeof(f->trace), "%s/step.db", f->dir);
	snprintf(f->results, sizeof(f->results), "%s/results.db", f->dir);
	return 0;
}

struct rec_options bench_record_options(const struct bench_files *f, enum rec_engine engine)
{
	return (struct rec_options){.output = f->trace,
	                            .force = true,
	                            .engine = engine,
	                            .mode = REC_MODE_STEP,
	                            .mem_bytes = 16u << 20,
	                            .load_addr = 0x7c00,
	                            .guest_path = f->guest,
	                            .command_line = "bench"};
}
