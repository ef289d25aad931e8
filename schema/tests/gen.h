/* A deterministic synthetic recording: step i is a pure function of (seed, i), so a test can verify any
 * committed part of a trace, and a flat reference memory replays what the trace must give back. */
#ifndef EMUDIFF_SCHEMA_TESTS_GEN_H
#define EMUDIFF_SCHEMA_TESTS_GEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#define GEN_BASE  0x10000ull
#define GEN_PAGES 24u
#define GEN_BYTES (GEN_PAGES * TRACE_PAGE_SIZE)

static inline uint64_t gen_mix(uint64_t seed, uint64_t i)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull + 0x94d049bb133111ebull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void gen_fill(uint64_t seed, uint64_t tag, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(gen_mix(seed ^ tag, i / 8) >> (8 * (i % 8)));
}

static inline void gen_state(uint64_t seed, uint64_t i, struct x86_state *st)
{
	uint64_t r = gen_mix(seed, i), slow = gen_mix(seed + 1, i / 250);

	x86_state_real(st, 0x1000, 0, 0x7000);
	st->gpr[slow % 16] ^= slow;
	st->gpr[X86_RCX] = i;
	st->gpr[X86_RSP] = 0x8000 - (i % 100) * 8;
	st->rip = 0x100 + r % 64;
	st->rflags = 2 | (r & 0x8d5);
	st->fpu.xmm[slow % 16][(i / 250) % 16] = (uint8_t)slow;
	st->seg[X86_DS].base = (i / 5000) * 16;
	st->msr[X86_MSR_TSC] = i * 3 + (r >> 60);
	st->events.shadow = (uint8_t)((r >> 20) % 5 == 0);
}

struct gen_step {
	struct trace_step step;
	struct trace_write writes[4];
	struct trace_input inputs[2];
	uint8_t data[4 * TRACE_PAGE_SIZE];
	/* Memory given with trace_put_memory before this step (len 0: none). */
	uint64_t put_gpa;
	size_t put_len;
	uint8_t put[3 * TRACE_PAGE_SIZE];
};

static inline void gen_step(uint64_t seed, uint64_t i, struct gen_step *g)
{
	uint64_t r = gen_mix(seed + 2, i);
	size_t used = 0;

	memset(&g->step, 0, sizeof(g->step));
	g->step.index = i;
	g->step.kind = i % 1013 == 5 ? TRACE_STEP_FALLBACK : i % 777 == 3 ? TRACE_STEP_RUN : TRACE_STEP_INSN;
	gen_state(seed, i, &g->step.pre);
	g->step.writes = g->writes;
	g->step.inputs = g->inputs;
	if (g->step.kind == TRACE_STEP_RUN) {
		/* RUN steps write whole pages. */
		g->writes[0].gpa = GEN_BASE + (r % GEN_PAGES) * TRACE_PAGE_SIZE;
		g->writes[0].len = TRACE_PAGE_SIZE;
		g->writes[0].data = g->data;
		gen_fill(seed, i * 8 + 1, g->data, TRACE_PAGE_SIZE);
		g->step.n_writes = 1;
	} else {
		g->step.n_writes = (uint32_t)(r % 4 == 0 ? 0 : r % 3);
		for (uint32_t w = 0; w < g->step.n_writes; w++) {
			uint64_t q = gen_mix(seed + 3, i * 4 + w);
			uint32_t len = (uint32_t)(q % 9 == 0 ? 1 + q % 300 : 1u << (q % 4));
			g->writes[w].gpa = GEN_BASE + (q >> 16) % (GEN_BYTES - len);
			g->writes[w].len = len;
			g->writes[w].data = g->data + used;
			gen_fill(seed, i * 8 + 2 + w, g->data + used, len);
			used += len;
		}
	}
	g->step.n_inputs = (uint32_t)((r >> 8) % 7 == 0 ? 1 + (r >> 12) % 2 : 0);
	for (uint32_t k = 0; k < g->step.n_inputs; k++) {
		struct trace_input *in = &g->inputs[k];
		uint64_t q = gen_mix(seed + 4, i * 2 + k);
		static const uint8_t sizes[] = {1, 2, 4, 8, 16};
		memset(in, 0, sizeof(*in));
		in->kind = (uint8_t)(1 + q % 6);
		in->size = in->kind == TRACE_INPUT_CPUID ? 16 : sizes[(q >> 8) % 4];
		in->count = 1 + (uint32_t)((q >> 16) % 3);
		in->addr = q >> 24;
		gen_fill(seed, i * 8 + 6 + k, in->data, in->size);
	}
	g->put_len = 0;
	/* Seeds from 1000 on put memory often: puts and commits in every order. */
	if (i % 3001 == 17 || (i && i % TRACE_BATCH_STEPS == 0) ||
	    (seed >= 1000 && gen_mix(seed + 7, i) % 53 == 0)) {
		uint64_t q = gen_mix(seed + 5, i);
		g->put_len = 1 + q % (3 * TRACE_PAGE_SIZE - 1);
		g->put_gpa = GEN_BASE + (q >> 20) % (GEN_BYTES - g->put_len);
		if ((q >> 40) % 3 == 0)
			memset(g->put, 0, g->put_len); /* zero content over pages that were not zero */
		else
			gen_fill(seed, i * 8 + 7, g->put, g->put_len);
	}
}

/* The initial image: every fourth page zero. */
static inline void gen_image(uint64_t seed, uint8_t *mem)
{
	gen_fill(seed, 0xabcdef, mem, GEN_BYTES);
	for (unsigned p = 0; p < GEN_PAGES; p += 4)
		memset(mem + p * TRACE_PAGE_SIZE, 0, TRACE_PAGE_SIZE);
}

static inline void gen_apply_put(const struct gen_step *g, uint8_t *mem)
{
	if (g->put_len)
		memcpy(mem + (g->put_gpa - GEN_BASE), g->put, g->put_len);
}

static inline void gen_apply_writes(const struct gen_step *g, uint8_t *mem)
{
	for (uint32_t w = 0; w < g->step.n_writes; w++)
		memcpy(mem + (g->writes[w].gpa - GEN_BASE), g->writes[w].data, g->writes[w].len);
}

static inline struct trace_exit gen_exit(uint64_t seed, uint64_t i)
{
	uint64_t q = gen_mix(seed + 6, i);
	struct trace_exit e = {.step = i, .reason = TRACE_EXIT_IO, .kvm_reason = 2, .addr = q & 0xffff};
	e.size = 1 << (q >> 20) % 3;
	e.is_write = (uint8_t)((q >> 30) & 1);
	e.count = 1;
	e.data_len = e.size;
	for (unsigned b = 0; b < e.size; b++)
		e.data[b] = (uint8_t)(q >> (32 + 8 * b));
	return e;
}

/* Writes steps [0, n) of the generator (exits every 100 steps); finishes with state n when finish. */
static inline int gen_write(struct trace *t, uint64_t seed, uint64_t n, int finish)
{
	struct gen_step *g = malloc(sizeof(*g));
	uint8_t *mem = malloc(GEN_BYTES);
	int rc = 0;

	if (!g || !mem) {
		rc = -12;
		goto out;
	}
	gen_image(seed, mem);
	rc = trace_put_memory(t, GEN_BASE, mem, GEN_BYTES);
	for (uint64_t i = 0; !rc && i < n; i++) {
		gen_step(seed, i, g);
		if (g->put_len)
			rc = trace_put_memory(t, g->put_gpa, g->put, g->put_len);
		if (!rc)
			rc = trace_append_step(t, &g->step);
		if (!rc && i % 100 == 7) {
			struct trace_exit e = gen_exit(seed, i);
			rc = trace_append_exit(t, &e);
		}
	}
	if (!rc && finish) {
		struct x86_state st;
		gen_state(seed, n, &st);
		rc = trace_finish(t, &st, "test");
	}
out:
	free(g);
	free(mem);
	return rc;
}

#endif
