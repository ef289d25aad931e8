/* Verifies a trace written by gen_write against the generator: states, steps, inputs and memory. */
#ifndef EMUDIFF_SCHEMA_TESTS_CHECK_H
#define EMUDIFF_SCHEMA_TESTS_CHECK_H

#include "gen.h"

static inline int check_bytes(const char *what, uint64_t step, const void *a, const void *b, size_t n)
{
	if (memcmp(a, b, n) == 0)
		return 0;
	print_error("%s differs at step %llu\n", what, (unsigned long long)step);
	return -1;
}

static inline int check_step(uint64_t seed, const struct trace_step *got, struct gen_step *g)
{
	gen_step(seed, got->index, g);
	const struct trace_step *want = &g->step;
	if (got->kind != want->kind || got->n_writes != want->n_writes || got->n_inputs != want->n_inputs)
		return check_bytes("kind/counts", got->index, "a", "b", 1);
	if (check_bytes("state", got->index, &got->pre, &want->pre, sizeof(want->pre)))
		return -1;
	for (uint32_t w = 0; w < want->n_writes; w++)
		if (got->writes[w].gpa != want->writes[w].gpa || got->writes[w].len != want->writes[w].len ||
		    check_bytes("write", got->index, got->writes[w].data, want->writes[w].data,
		                want->writes[w].len))
			return check_bytes("write", got->index, "a", "b", 1);
	for (uint32_t k = 0; k < want->n_inputs; k++)
		if (check_bytes("input", got->index, &got->inputs[k], &want->inputs[k],
		                sizeof(want->inputs[k])))
			return -1;
	return 0;
}

/* Walks steps [0, count) with an iterator; memory is compared on every page a step touches, the whole
 * region every `full_every` steps and through trace_memory_at at every step where memory_at_step(s). */
static inline int check_trace(struct trace *t, uint64_t seed, uint64_t count, uint64_t full_every,
                              int (*memory_at_step)(uint64_t s))
{
	struct gen_step *g = malloc(sizeof(*g));
	uint8_t *mem = malloc(GEN_BYTES), *got = malloc(GEN_BYTES);
	struct trace_iter *it = NULL;
	struct trace_step s;
	int rc = -1, more;

	if (!g || !mem || !got || trace_iter_start(t, 0, &it))
		goto out;
	gen_image(seed, mem);
	for (uint64_t i = 0; i <= count; i++) {
		gen_step(seed, i, g);
		gen_apply_put(g, mem); /* mem: before step i */
		if (memory_at_step && memory_at_step(i)) {
			if (trace_memory_at(t, i, GEN_BASE, got, GEN_BYTES) ||
			    check_bytes("trace_memory_at", i, got, mem, GEN_BYTES))
				goto out;
		}
		more = trace_iter_next(it, &s);
		if (i == count) {
			if (more != 0) {
				print_error("iterator goes past step %llu\n", (unsigned long long)count);
				goto out;
			}
			struct x86_state st, want;
			gen_state(seed, count, &want);
			if (trace_state_at(t, count, &st) ||
			    check_bytes("final state", count, &st, &want, sizeof(st)))
				goto out;
			break;
		}
		if (more != 1 || s.index != i) {
			print_error("iterator stopped at step %llu: %s\n", (unsigned long long)i,
			            trace_error(t));
			goto out;
		}
		if (check_step(seed, &s, g))
			goto out;
		gen_step(seed, i, g);
		if (i % full_every == 0) {
			if (trace_iter_memory(it, GEN_BASE, got, GEN_BYTES) ||
			    check_bytes("trace_iter_memory", i, got, mem, GEN_BYTES))
				goto out;
		}
		for (uint32_t w = 0; w < g->step.n_writes; w++) {
			uint64_t off = (g->writes[w].gpa - GEN_BASE) & ~(uint64_t)(TRACE_PAGE_SIZE - 1);
			size_t len = (g->writes[w].gpa - GEN_BASE) + g->writes[w].len - off;
			if (trace_iter_memory(it, GEN_BASE + off, got, len) ||
			    check_bytes("iter page", i, got, mem + off, len))
				goto out;
		}
		gen_apply_writes(g, mem);
	}
	rc = 0;
out:
	trace_iter_end(it);
	free(g);
	free(mem);
	free(got);
	return rc;
}

#endif
