#include "trace_walk.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#define MAX_STEPS 4096 /* a fuzzed header may claim billions */

static void check_message(const char *what, const char *msg)
{
	if (!msg || !msg[0] || strchr(msg, '\n')) {
		fprintf(stderr, "%s failed with message \"%s\"\n", what, msg ? msg : "(null)");
		__builtin_trap();
	}
}

static int count_exit(void *arg, const struct trace_exit *e)
{
	(void)e;
	return ++*(unsigned *)arg > MAX_STEPS;
}

static int count_event(void *arg, const struct trace_event *e)
{
	(void)e;
	return ++*(unsigned *)arg > MAX_STEPS;
}

static int count_input(void *arg, uint64_t step, const struct trace_input *in)
{
	(void)step;
	if (in->size > sizeof(in->data))
		__builtin_trap();
	return ++*(unsigned *)arg > MAX_STEPS;
}

void trace_walk(const char *path)
{
	struct trace *t = NULL;
	struct trace_iter *it = NULL;
	struct trace_step step;
	struct trace_stats stats;
	struct x86_state st;
	uint32_t(*cpuid)[6] = NULL;
	size_t n_cpuid = 0;
	char meta[256];
	uint8_t mem[64];
	unsigned n = 0;

	if (trace_open(&t, path) < 0) {
		check_message("trace_open", trace_last_open_error());
		return;
	}
	(void)trace_meta_get(t, "mode", meta, sizeof(meta));
	if (trace_cpuid_table(t, &cpuid, &n_cpuid) == 0)
		free(cpuid);
	(void)trace_stats(t, &stats);
	uint64_t steps = trace_step_count(t);
	(void)trace_is_complete(t);
	if (trace_iter_start(t, 0, &it) == 0) {
		int rc;
		while (n < MAX_STEPS && (rc = trace_iter_next(it, &step)) == 1) {
			for (uint32_t w = 0; w < step.n_writes; w++)
				if (step.writes[w].len && !step.writes[w].data)
					__builtin_trap();
			(void)trace_iter_memory(it, step.pre.rip & 0xfffff, mem, sizeof(mem));
			n++;
		}
		if (rc < 0)
			check_message("trace_iter_next", trace_error(t));
		trace_iter_end(it);
	}
	if (steps) {
		if (trace_state_at(t, steps - 1, &st) < 0)
			check_message("trace_state_at", trace_error(t));
		if (trace_memory_at(t, steps / 2, 0x7c00, mem, sizeof(mem)) < 0)
			check_message("trace_memory_at", trace_error(t));
	}
	n = 0;
	(void)trace_foreach_exit(t, count_exit, &n);
	n = 0;
	(void)trace_foreach_event(t, count_event, &n);
	n = 0;
	(void)trace_foreach_input(t, TRACE_INPUT_PIO_IN, count_input, &n);
	trace_close(t);
}
