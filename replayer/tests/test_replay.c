/* The replay loop through the emu backend on synthetic traces with planted divergences. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../backend.h"
#include "../backend_input.h"
#include "../replay.h"
#include "synth.h"

struct seen {
	unsigned n;
	uint64_t steps[64];
	char cls[64][40];
	bool diverged[64];
	char fields[64][DIFFER_MAX_FIELDS * 33];
};

static int on_step(void *arg, const struct replay_step_report *r)
{
	struct seen *s = arg;
	if (s->n == 64)
		return 0;
	s->steps[s->n] = r->step;
	s->diverged[s->n] = r->divergence != NULL;
	if (r->divergence) {
		snprintf(s->cls[s->n], sizeof(s->cls[0]), "%s", r->divergence->cls);
		for (uint32_t i = 0; i < r->divergence->n_fields; i++) {
			strcat(s->fields[s->n], r->divergence->fields[i].field);
			strcat(s->fields[s->n], " ");
		}
	}
	s->n++;
	return 0;
}

static const char *emu_only[] = {"emu"};

/* Replays the trace at path through emu; returns the summary, fills seen. */
static void replay_path(const char *path, bool continuous, unsigned k, unsigned n, const char *results,
                        struct replay_summary *sum, struct seen *seen)
{
	char err[512];
	struct replay_options o = {.trace_path = path,
	                           .backends = emu_only,
	                           .n_backends = 1,
	                           .to = UINT64_MAX,
	                           .shard_k = k,
	                           .shard_n = n,
	                           .continuous = continuous,
	                           .results_path = results,
	                           .command_line = "emudiff replay synthetic",
	                           .on_step = on_step,
	                           .on_step_arg = seen};
	memset(seen, 0, sizeof(*seen));
	int ret = replay_run(&o, sum, err, sizeof(err));
	if (ret)
		fail_msg("replay_run: %d: %s", ret, err);
}

/* Writes a synthetic trace and replays it through emu. */
static void replay_synth(enum synth_plant plant, bool continuous, unsigned k, unsigned n, const char *results,
                         struct replay_summary *sum, struct seen *seen)
{
	char *path = synth_tmp(".db");
	assert_non_null(path);
	assert_int_equal(synth_trace(path, plant), 0);
	replay_path(path, continuous, k, n, results, sum, seen);
	unlink(path);
	free(path);
}

static void test_clean_trace_has_no_divergence(void **state)
{
	struct replay_summary sum;
	struct seen seen;
	(void)state;
	replay_synth(SYNTH_CLEAN, false, 0, 0, NULL, &sum, &seen);
	assert_int_equal(sum.insn_steps, SYNTH_STEPS);
	assert_int_equal(seen.n, SYNTH_STEPS);
	for (unsigned i = 0; i < seen.n; i++) {
		if (seen.diverged[i])
			fail_msg("step %u diverges: %s (%s)", (unsigned)seen.steps[i], seen.cls[i],
			         seen.fields[i]);
	}
	assert_int_equal(sum.divergences, 0);
	assert_false(sum.have_first);
	assert_string_equal(sum.reference, "kvm-emulator");
}

static void test_planted_rax_found_at_its_step(void **state)
{
	struct replay_summary sum;
	struct seen seen;
	(void)state;
	replay_synth(SYNTH_BAD_RAX_AT_4, false, 0, 0, NULL, &sum, &seen);
	assert_int_equal(sum.divergences, 1);
	assert_true(sum.have_first);
	assert_int_equal(sum.first_divergence.step, 4);
	assert_string_equal(sum.first_divergence.backend, "emu");
	bool rax = false;
	for (uint32_t i = 0; i < sum.first_divergence.n_fields; i++)
		rax |= !strcmp(sum.first_divergence.fields[i].field, "rax");
	assert_true(rax);
	for (unsigned i = 0; i < seen.n; i++)
		assert_int_equal(seen.diverged[i], seen.steps[i] == 4);
}

static void test_continuous_resyncs_and_finds_both(void **state)
{
	struct replay_summary sum;
	struct seen seen;
	(void)state;
	replay_synth(SYNTH_TWO_BAD, true, 0, 0, NULL, &sum, &seen);
	assert_int_equal(seen.n, SYNTH_STEPS);
	unsigned found = 0;
	for (unsigned i = 0; i < seen.n; i++) {
		if (!seen.diverged[i])
			continue;
		found++;
		if (seen.steps[i] != 1 && seen.steps[i] != 5)
			fail_msg("unexpected divergence at step %u: %s (%s)", (unsigned)seen.steps[i],
			         seen.cls[i], seen.fields[i]);
	}
	/* Without the resync after step 1, steps 2-4 would diverge too (push writes 35 12, not 99 12). */
	assert_int_equal(found, 2);
	assert_int_equal(sum.divergences, 2);
	assert_int_equal(sum.resyncs, 2);
	assert_int_equal(sum.first_divergence.step, 1);
}

static void test_stop_at_first(void **state)
{
	struct replay_summary sum;
	struct seen seen;
	char *path = synth_tmp(".db"), err[256];
	(void)state;
	assert_int_equal(synth_trace(path, SYNTH_TWO_BAD), 0);
	struct replay_options o = {.trace_path = path,
	                           .backends = emu_only,
	                           .n_backends = 1,
	                           .to = UINT64_MAX,
	                           .continuous = true,
	                           .stop_at_first = true,
	                           .on_step = on_step,
	                           .on_step_arg = &seen};
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(replay_run(&o, &sum, err, sizeof(err)), 0);
	assert_int_equal(sum.first_divergence.step, 1);
	assert_int_equal(seen.n, 2);
	unlink(path);
	free(path);
}

static void test_shard_partitions_steps(void **state)
{
	(void)state;
	for (unsigned n = 1; n <= 4; n++) {
		bool hit[SYNTH_STEPS] = {false};
		uint64_t total = 0;
		for (unsigned k = 1; k <= n; k++) {
			struct replay_summary sum;
			struct seen seen;
			replay_synth(SYNTH_CLEAN, false, k, n, NULL, &sum, &seen);
			total += sum.insn_steps;
			for (unsigned i = 0; i < seen.n; i++) {
				assert_true(seen.steps[i] < SYNTH_STEPS);
				assert_false(hit[seen.steps[i]]);
				hit[seen.steps[i]] = true;
			}
		}
		assert_int_equal(total, SYNTH_STEPS);
		for (unsigned i = 0; i < SYNTH_STEPS; i++)
			assert_true(hit[i]);
	}
}

static const struct {
	uint64_t first, end;
	unsigned n;
	const char *file;
	int line;
} shard_rows[] = {
    {0, 0, 3, __FILE__, __LINE__},   {0, 1, 4, __FILE__, __LINE__},
    {5, 17, 5, __FILE__, __LINE__},  {0, 1000003, 7, __FILE__, __LINE__},
    {10, 11, 1, __FILE__, __LINE__}, {0, UINT64_MAX - 1, 3, __FILE__, __LINE__},
};

static void test_shard_ranges_table(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(shard_rows) / sizeof(shard_rows[0]); r++) {
		uint64_t expect = shard_rows[r].first, size_min = UINT64_MAX, size_max = 0;
		for (unsigned k = 1; k <= shard_rows[r].n; k++) {
			uint64_t lo, hi;
			replay_shard_range(shard_rows[r].first, shard_rows[r].end, k, shard_rows[r].n, &lo,
			                   &hi);
			if (lo != expect || hi < lo)
				fail_msg("%s:%d: shard %u: [%llu, %llu) does not follow %llu",
				         shard_rows[r].file, shard_rows[r].line, k, (unsigned long long)lo,
				         (unsigned long long)hi, (unsigned long long)expect);
			expect = hi;
			size_min = hi - lo < size_min ? hi - lo : size_min;
			size_max = hi - lo > size_max ? hi - lo : size_max;
		}
		if (expect != shard_rows[r].end || size_max - size_min > 1)
			fail_msg("%s:%d: shards do not cover the range evenly", shard_rows[r].file,
			         shard_rows[r].line);
	}
}

static const struct {
	const char *text;
	int ret;
	unsigned k, n;
	int line;
} parse_rows[] = {
    {"1/1", 0, 1, 1, __LINE__},        {"3/8", 0, 3, 8, __LINE__},        {"0/3", -EINVAL, 0, 0, __LINE__},
    {"4/3", -EINVAL, 0, 0, __LINE__},  {"1/", -EINVAL, 0, 0, __LINE__},   {"/2", -EINVAL, 0, 0, __LINE__},
    {"1/2x", -EINVAL, 0, 0, __LINE__}, {"-1/2", -EINVAL, 0, 0, __LINE__}, {"", -EINVAL, 0, 0, __LINE__},
};

static void test_parse_shard_table(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(parse_rows) / sizeof(parse_rows[0]); r++) {
		unsigned k = 0, n = 0;
		int ret = replay_parse_shard(parse_rows[r].text, &k, &n);
		if (ret != parse_rows[r].ret || (ret == 0 && (k != parse_rows[r].k || n != parse_rows[r].n)))
			fail_msg("%s:%d: '%s' parsed as %d %u/%u", __FILE__, parse_rows[r].line,
			         parse_rows[r].text, ret, k, n);
	}
}

/* Every table's rows, in a fixed order, as text. */
static char *dump_db(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *tables, *rows;
	size_t cap = 1 << 16, len = 0;
	char *out = calloc(1, cap);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1,
	                       &tables, NULL),
	    SQLITE_OK);
	unsigned n_tables = 0;
	while (sqlite3_step(tables) == SQLITE_ROW) {
		char q[256];
		n_tables++;
		snprintf(q, sizeof(q), "SELECT * FROM \"%s\" ORDER BY 1, 2", sqlite3_column_text(tables, 0));
		assert_int_equal(sqlite3_prepare_v2(db, q, -1, &rows, NULL), SQLITE_OK);
		len += snprintf(out + len, cap - len, "[%s]\n", sqlite3_column_text(tables, 0));
		while (sqlite3_step(rows) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(rows); c++) {
				const void *blob = sqlite3_column_blob(rows, c);
				int bytes = sqlite3_column_bytes(rows, c);
				if (len + 2 * (size_t)bytes + 64 > cap) {
					cap = 2 * (cap + 2 * (size_t)bytes + 64);
					out = realloc(out, cap);
				}
				for (int i = 0; blob && i < bytes; i++)
					len += snprintf(out + len, cap - len, "%02x",
					                ((const uint8_t *)blob)[i]);
				len += snprintf(out + len, cap - len, "|");
			}
			len += snprintf(out + len, cap - len, "\n");
		}
		sqlite3_finalize(rows);
	}
	sqlite3_finalize(tables);
	sqlite3_close(db);
	assert_true(n_tables > 0);
	return out;
}

static char *slurp_n(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 22);
	size_t n = fread(buf, 1, (1 << 22) - 1, f);
	buf[n] = 0;
	fclose(f);
	*len = n;
	return buf;
}

static char *slurp(const char *path)
{
	size_t n;
	return slurp_n(path, &n);
}

static void test_replay_twice_is_identical(void **state)
{
	char *db[2], *txt[2], *json[2], *trace = synth_tmp(".db");
	(void)state;
	assert_int_equal(synth_trace(trace, SYNTH_TWO_BAD), 0);
	for (int i = 0; i < 2; i++) {
		struct replay_summary sum;
		struct seen seen;
		db[i] = synth_tmp(".results.db");
		txt[i] = synth_tmp(".txt");
		json[i] = synth_tmp(".json");
		replay_path(trace, false, 0, 0, db[i], &sum, &seen);
		assert_int_equal(sum.divergences, 2);
		FILE *f = fopen(txt[i], "w");
		assert_non_null(f);
		assert_int_equal(differ_report_text(db[i], f), 0);
		fclose(f);
		assert_int_equal(differ_report_json(db[i], json[i]), 0);
		assert_int_equal(differ_results_new_count(db[i]), 2);
	}
	char *a = dump_db(db[0]), *b = dump_db(db[1]);
	assert_string_equal(a, b);
	free(a), free(b);
	/* The files themselves too: same content written in the same order. */
	size_t na, nb;
	a = slurp_n(db[0], &na), b = slurp_n(db[1], &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	free(a), free(b);
	a = slurp(txt[0]), b = slurp(txt[1]);
	assert_true(strlen(a) > 0);
	assert_string_equal(a, b);
	free(a), free(b);
	a = slurp(json[0]), b = slurp(json[1]);
	assert_string_equal(a, b);
	free(a), free(b);
	for (int i = 0; i < 2; i++) {
		unlink(db[i]), unlink(txt[i]), unlink(json[i]);
		free(db[i]), free(txt[i]), free(json[i]);
	}
	unlink(trace);
	free(trace);
}

static void test_missing_input_is_class_io(void **state)
{
	struct replay_summary sum;
	struct seen seen;
	(void)state;
	replay_synth(SYNTH_IN_NO_INPUT, false, 0, 0, NULL, &sum, &seen);
	assert_int_equal(sum.divergences, 1);
	assert_int_equal(sum.first_divergence.step, 0);
	assert_string_equal(sum.first_divergence.cls, "io");

	replay_synth(SYNTH_IN_WITH_INPUT, false, 0, 0, NULL, &sum, &seen);
	for (unsigned i = 0; i < seen.n; i++)
		if (seen.diverged[i])
			fail_msg("step %u diverges: %s (%s)", (unsigned)seen.steps[i], seen.cls[i],
			         seen.fields[i]);
	assert_int_equal(sum.divergences, 0);
}

/* A backend's own store goes back to the recorded bytes before the next step reads them. */
static void test_backend_writes_are_restored(void **state)
{
	(void)state;
	for (int continuous = 0; continuous < 2; continuous++) {
		struct replay_summary sum;
		struct seen seen;
		replay_synth(SYNTH_BAD_PUSH, continuous, 0, 0, NULL, &sum, &seen);
		assert_int_equal(seen.n, SYNTH_STEPS);
		for (unsigned i = 0; i < seen.n; i++)
			if (seen.diverged[i] != (seen.steps[i] == 0))
				fail_msg("continuous %d: step %u: diverged %d (%s %s)", continuous,
				         (unsigned)seen.steps[i], seen.diverged[i], seen.cls[i],
				         seen.fields[i]);
		assert_int_equal(sum.divergences, 1);
	}
}

/* A recording whose steps ran more than one instruction, as a reference does: states and the bytes each step
 * wrote, built by hand. */
#define GRAIN_MAX_STEPS 4
struct grain_trace {
	const char *name;
	const char *reference;
	unsigned n_steps;
	struct x86_state s[GRAIN_MAX_STEPS + 1]; /* s[n_steps]: the final state */
	struct trace_write w[GRAIN_MAX_STEPS];
	uint8_t wdata[GRAIN_MAX_STEPS][64];
	uint8_t *ram;
};

static char *write_grain_trace(const struct grain_trace *g)
{
	char *path = synth_tmp(".trace");
	struct trace *t;
	assert_non_null(path);
	assert_int_equal(trace_create(&t, path, true), 0);
	assert_int_equal(trace_meta_set(t, "ram_bytes", "65536"), 0);
	assert_int_equal(trace_meta_set(t, "reference", g->reference), 0);
	assert_int_equal(trace_put_memory(t, 0, g->ram, SYNTH_RAM), 0);
	for (unsigned i = 0; i < g->n_steps; i++) {
		struct trace_step st = {.index = i, .kind = TRACE_STEP_INSN, .pre = g->s[i]};
		if (g->w[i].len) {
			struct trace_write w = {g->w[i].gpa, g->w[i].len, g->wdata[i]};
			st.writes = &w;
			st.n_writes = 1;
			assert_int_equal(trace_append_step(t, &st), 0);
		} else {
			assert_int_equal(trace_append_step(t, &st), 0);
		}
	}
	assert_int_equal(trace_finish(t, &g->s[g->n_steps], "synthetic"), 0);
	trace_close(t);
	return path;
}

/* rep movsb of 40 bytes that KVM's emulator ran as a chunk of 32, then 8 left unretired at count 0. */
static void grain_rep(struct grain_trace *g, const char *reference, bool bad_byte)
{
	g->reference = reference;
	g->n_steps = 2;
	g->ram[SYNTH_CODE] = 0xf3, g->ram[SYNTH_CODE + 1] = 0xa4, g->ram[SYNTH_CODE + 2] = 0x90;
	for (unsigned i = 0; i < 40; i++)
		g->ram[0x3000 + i] = (uint8_t)(0x40 + i);
	x86_state_real(&g->s[0], 0, SYNTH_CODE, SYNTH_STACK);
	g->s[0].gpr[X86_RCX] = 40, g->s[0].gpr[X86_RSI] = 0x3000, g->s[0].gpr[X86_RDI] = 0x4000;
	g->s[1] = g->s[0];
	g->s[1].gpr[X86_RCX] = 8, g->s[1].gpr[X86_RSI] = 0x3020, g->s[1].gpr[X86_RDI] = 0x4020;
	g->s[1].rflags |= X86_RFLAGS_RF;
	g->s[2] = g->s[1];
	g->s[2].gpr[X86_RCX] = 0, g->s[2].gpr[X86_RSI] = 0x3028, g->s[2].gpr[X86_RDI] = 0x4028;
	g->w[0] = (struct trace_write){0x4000, 32, NULL};
	memcpy(g->wdata[0], g->ram + 0x3000, 32);
	g->w[1] = (struct trace_write){0x4020, 8, NULL};
	memcpy(g->wdata[1], g->ram + 0x3020, 8);
	if (bad_byte)
		g->wdata[0][17] ^= 0xff;
}

/* A real-mode int 0x10 whose recorded step also ran the handler's first instruction (inc ax). */
static void grain_int(struct grain_trace *g, const char *reference, bool bad_byte)
{
	(void)bad_byte;
	g->reference = reference;
	g->n_steps = 1;
	g->ram[SYNTH_CODE] = 0xcd, g->ram[SYNTH_CODE + 1] = 0x10;
	g->ram[0x40] = 0x00, g->ram[0x41] = 0x20; /* IVT[0x10] = 0000:2000 */
	g->ram[0x2000] = 0x40;
	x86_state_real(&g->s[0], 0, SYNTH_CODE, SYNTH_STACK);
	g->s[1] = g->s[0];
	g->s[1].rip = 0x2001;
	g->s[1].gpr[X86_RAX] = 1;
	g->s[1].gpr[X86_RSP] = SYNTH_STACK - 6;
	g->w[0] = (struct trace_write){SYNTH_STACK - 6, 6, NULL};
	memcpy(g->wdata[0], "\x02\x10\x00\x00\x02\x00", 6);
}

/* CPUID with no recorded input and no CPUID table: its result is taken from the recorded state after it. */
static void grain_cpuid(struct grain_trace *g, const char *reference, bool bad_byte)
{
	(void)bad_byte;
	g->reference = reference;
	g->n_steps = 1;
	g->ram[SYNTH_CODE] = 0x0f, g->ram[SYNTH_CODE + 1] = 0xa2;
	x86_state_real(&g->s[0], 0, SYNTH_CODE, SYNTH_STACK);
	g->s[0].gpr[X86_RAX] = 1;
	g->s[1] = g->s[0];
	g->s[1].rip = SYNTH_CODE + 2;
	g->s[1].gpr[X86_RAX] = 0x906ea, g->s[1].gpr[X86_RBX] = 0x800, g->s[1].gpr[X86_RCX] = 0xf6d83203,
	g->s[1].gpr[X86_RDX] = 0x1f8bfbff;
}

struct grain_row {
	const char *what;
	void (*build)(struct grain_trace *g, const char *reference, bool bad_byte);
	const char *reference;
	bool bad_byte;
	uint64_t new_divergences, run_on_steps, reference_artefacts;
	const char *first_class; /* of the first new divergence, or NULL */
	const char *first_field; /* its first differing field, or NULL */
};

/* clang-format off */
static const struct grain_row grain_rows[] = {
    {"REP chunk and unretired end under KVM's emulator", grain_rep,   "kvm-emulator", false, 0, 2, 1, NULL, NULL},
    {"a wrong byte inside the chunk is still found",      grain_rep,   "kvm-emulator", true,  1, 2, 1, "string.rep", "mem[0x4011]"},
    {"emu's recording: run on, RIP left is no artefact",  grain_rep,   "emu",          false, 1, 2, 0, "string.rep", "rip"},
    {"int n with the handler's first instruction",        grain_int,   "kvm-emulator", false, 0, 1, 0, NULL, NULL},
    {"the same step from silicon is a step.boundary",     grain_int,   "silicon",      false, 1, 0, 0, "step.boundary", NULL},
    {"CPUID result from the recorded post-state",         grain_cpuid, "kvm-emulator", false, 0, 0, 0, NULL, NULL},
};
/* clang-format on */

static void test_reference_step_granularity(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(grain_rows) / sizeof(grain_rows[0]); k++) {
		const struct grain_row *row = &grain_rows[k];
		static struct grain_trace g;
		memset(&g, 0, sizeof(g));
		g.ram = calloc(1, SYNTH_RAM);
		assert_non_null(g.ram);
		row->build(&g, row->reference, row->bad_byte);
		char *path = write_grain_trace(&g);
		struct replay_summary sum;
		struct seen seen;
		replay_path(path, false, 0, 0, NULL, &sum, &seen);
		if (sum.new_divergences != row->new_divergences || sum.run_on_steps != row->run_on_steps ||
		    sum.reference_artefacts != row->reference_artefacts ||
		    (row->first_class && strcmp(sum.first_divergence.cls, row->first_class)) ||
		    (row->first_field && strcmp(sum.first_divergence.fields[0].field, row->first_field)))
			fail_msg(
			    "%s: %llu new (want %llu), first %s (want %s), %llu run on (want %llu), %llu "
			    "reference artefacts (want %llu)",
			    row->what, (unsigned long long)sum.new_divergences,
			    (unsigned long long)row->new_divergences,
			    sum.new_divergences ? sum.first_divergence.cls : "-",
			    row->first_class ? row->first_class : "-", (unsigned long long)sum.run_on_steps,
			    (unsigned long long)row->run_on_steps,
			    (unsigned long long)sum.reference_artefacts,
			    (unsigned long long)row->reference_artefacts);
		unlink(path);
		free(path);
		free(g.ram);
	}
}

/* Two real-mode WRMSRs of the same MSR, which the trace gives no input for: the one at refused_ip raised #GP
 * in the recording (its step ends in the handler at 0000:2000, the frame on the stack), the other completed.
 * The handler is a WRMSR too, so either order is one trace of two steps. */
static void grain_wrmsr(struct grain_trace *g, uint16_t refused_ip)
{
	g->reference = "kvm-emulator";
	g->n_steps = 2;
	g->ram[SYNTH_CODE] = 0x0f, g->ram[SYNTH_CODE + 1] = 0x30;
	g->ram[SYNTH_CODE + 2] = 0x0f, g->ram[SYNTH_CODE + 3] = 0x30;
	g->ram[0x2000] = 0x0f, g->ram[0x2001] = 0x30;
	g->ram[4 * 13] = 0x00, g->ram[4 * 13 + 1] = 0x20; /* IVT[13] = 0000:2000 */
	x86_state_real(&g->s[0], 0, SYNTH_CODE, SYNTH_STACK);
	g->s[0].gpr[X86_RCX] = 0x1a0; /* IA32_MISC_ENABLE: emu leaves it to its callbacks */
	g->s[0].gpr[X86_RAX] = 1;
	for (unsigned i = 0; i < 2; i++) {
		struct x86_state *next = &g->s[i + 1];
		*next = g->s[i];
		if (g->s[i].rip != refused_ip) {
			next->rip = g->s[i].rip + 2;
			continue;
		}
		next->rip = 0x2000;
		next->gpr[X86_RSP] = g->s[i].gpr[X86_RSP] - 6;
		g->w[i] = (struct trace_write){next->gpr[X86_RSP], 6, NULL};
		/* IP of the WRMSR itself (a fault), CS 0, FLAGS. */
		g->wdata[i][0] = (uint8_t)refused_ip, g->wdata[i][1] = (uint8_t)(refused_ip >> 8);
		g->wdata[i][4] = (uint8_t)g->s[i].rflags, g->wdata[i][5] = (uint8_t)(g->s[i].rflags >> 8);
	}
}

/* emu replay raises #GP at a WRMSR exactly where the recording shows the reference refused it. */
static void test_wrmsr_refused_where_recorded(void **state)
{
	static const struct {
		const char *what;
		uint16_t refused_ip;
		int line;
	} rows[] = {
	    {"refused first, then taken in the #GP handler", SYNTH_CODE, __LINE__},
	    {"taken first, then refused", SYNTH_CODE + 2, __LINE__},
	};
	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		for (int continuous = 0; continuous < 2; continuous++) {
			static struct grain_trace g;
			memset(&g, 0, sizeof(g));
			g.ram = calloc(1, SYNTH_RAM);
			assert_non_null(g.ram);
			grain_wrmsr(&g, rows[k].refused_ip);
			char *path = write_grain_trace(&g);
			struct replay_summary sum;
			struct seen seen;
			replay_path(path, continuous, 0, 0, NULL, &sum, &seen);
			if (sum.insn_steps != 2 || sum.divergences)
				fail_msg("%s:%d: %s (%s): %llu steps, %llu divergences, first at step %llu "
				         "(%s: %s)",
				         __FILE__, rows[k].line, rows[k].what,
				         continuous ? "continuous" : "per step",
				         (unsigned long long)sum.insn_steps,
				         (unsigned long long)sum.divergences,
				         (unsigned long long)sum.first_divergence.step,
				         sum.first_divergence.cls, sum.first_divergence.detail);
			unlink(path);
			free(path);
			free(g.ram);
		}
	}
}

static void test_cpuid_from_the_recorded_table(void **state)
{
	struct replay_summary sum;
	struct seen seen;
	(void)state;
	replay_synth(SYNTH_CPUID, false, 0, 0, NULL, &sum, &seen);
	for (unsigned i = 0; i < seen.n; i++)
		if (seen.diverged[i])
			fail_msg("step %u diverges: %s (%s)", (unsigned)seen.steps[i], seen.cls[i],
			         seen.fields[i]);
	assert_int_equal(sum.insn_steps, SYNTH_STEPS);
	assert_int_equal(sum.divergences, 0);
}

/* Recorded inputs: {kind, size, count, addr, data} rows, then accesses and the value each should get. */
static void test_take_input_table(void **state)
{
	static const struct trace_input rows[] = {
	    {.kind = TRACE_INPUT_PIO_IN, .size = 1, .count = 1, .addr = 0x60, .data = {0x11}},
	    /* REP INSW of three words packed in one row, as the recorder writes it */
	    {.kind = TRACE_INPUT_PIO_IN, .size = 6, .count = 3, .addr = 0x1f0, .data = {1, 2, 3, 4, 5, 6}},
	    {.kind = TRACE_INPUT_MMIO_READ,
	     .size = 4,
	     .count = 1,
	     .addr = 0xfeb00000,
	     .data = {0xef, 0xbe, 0xad, 0xde}},
	    {.kind = TRACE_INPUT_PIO_IN, .size = 1, .count = 1, .addr = 0x60, .data = {0x22}},
	};
	static const struct {
		uint8_t kind;
		uint64_t addr;
		unsigned size;
		int want; /* first byte, or -1 for none */
		int line;
	} acc[] = {
	    {TRACE_INPUT_PIO_IN, 0x60, 1, 0x11, __LINE__},
	    {TRACE_INPUT_PIO_IN, 0x1f0, 2, 1, __LINE__},
	    {TRACE_INPUT_PIO_IN, 0x1f0, 2, 3, __LINE__},
	    {TRACE_INPUT_PIO_IN, 0x60, 1, 0x22, __LINE__},
	    {TRACE_INPUT_PIO_IN, 0x60, 1, -1, __LINE__},
	    {TRACE_INPUT_MMIO_READ, 0xfeb00000, 2, -1, __LINE__},
	    {TRACE_INPUT_MMIO_READ, 0xfeb00000, 4, 0xef, __LINE__},
	    {TRACE_INPUT_PIO_IN, 0x1f0, 2, 5, __LINE__},
	    {TRACE_INPUT_PIO_IN, 0x1f0, 2, -1, __LINE__},
	    {TRACE_INPUT_RDTSC, 0, 8, -1, __LINE__},
	};
	uint32_t used[4] = {0};
	struct backend_step_input in = {.inputs = rows, .n_inputs = 4};
	(void)state;
	for (size_t i = 0; i < sizeof(acc) / sizeof(acc[0]); i++) {
		const uint8_t *v = backend_take_input(&in, used, acc[i].kind, acc[i].addr, true, acc[i].size);
		int got = v ? v[0] : -1;
		if (got != acc[i].want)
			fail_msg("%s:%d: got %d, want %d", __FILE__, acc[i].line, got, acc[i].want);
	}
}

static void test_run_and_fallback_are_not_compared(void **state)
{
	(void)state;
	for (int continuous = 0; continuous < 2; continuous++) {
		struct replay_summary sum;
		struct seen seen;
		replay_synth(SYNTH_RUN_FALLBACK, continuous, 0, 0, NULL, &sum, &seen);
		assert_int_equal(sum.run_steps, 1);
		assert_int_equal(sum.fallback_steps, 1);
		assert_int_equal(sum.insn_steps, SYNTH_STEPS - 2);
		for (unsigned i = 0; i < seen.n; i++) {
			assert_true(seen.steps[i] != 2 && seen.steps[i] != 3);
			/* Steps after the RUN step need the page it wrote: a stale image would diverge. */
			if (seen.diverged[i])
				fail_msg("step %u diverges: %s (%s)", (unsigned)seen.steps[i], seen.cls[i],
				         seen.fields[i]);
		}
	}
}

/* The native_steps the results database of path holds. */
static int64_t results_native_steps(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT native_steps FROM run WHERE id = 1", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* An IRETQ to CPL 3 whose recorded step ran on past its target is, on PVM (kvm-emulator), an instruction and
 * native code: not compared, the backends resynchronised to its post-state. Silicon single-steps IRETQ
 * exactly, so there the same step is compared and diverges; a step that stopped at the target is compared
 * everywhere. A step written as NATIVE is one whatever the reference. */
static void test_native_steps_are_not_compared(void **state)
{
	static const struct {
		const char *reference;
		enum synth_iretq how;
		unsigned native, divergences;
		int line;
	} rows[] = {
	    {"kvm-emulator", SYNTH_IRETQ_RAN_PAST, 1, 0, __LINE__},
	    {"kvm-emulator", SYNTH_IRETQ_AT_TARGET, 0, 0, __LINE__},
	    {"kvm-emulator", SYNTH_IRETQ_NATIVE_KIND, 1, 0, __LINE__},
	    {"silicon", SYNTH_IRETQ_RAN_PAST, 0, 1, __LINE__},
	    {"silicon", SYNTH_IRETQ_AT_TARGET, 0, 0, __LINE__},
	    {"silicon", SYNTH_IRETQ_NATIVE_KIND, 1, 0, __LINE__},
	    {"qemu-tcg", SYNTH_IRETQ_RAN_PAST, 0, 1, __LINE__},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (int continuous = 0; continuous < 2; continuous++) {
			char *path = synth_tmp(".db"), *results = synth_tmp(".results.db");
			struct replay_summary sum;
			struct seen seen;
			assert_int_equal(synth_iretq_trace(path, rows[i].reference, rows[i].how), 0);
			replay_path(path, continuous, 0, 0, results, &sum, &seen);
			unsigned diverged = 0;
			for (unsigned k = 0; k < seen.n; k++)
				diverged += seen.diverged[k];
			if (sum.native_steps != rows[i].native ||
			    sum.insn_steps != SYNTH_IRETQ_STEPS - rows[i].native ||
			    diverged != rows[i].divergences || sum.new_divergences != rows[i].divergences ||
			    results_native_steps(results) != rows[i].native)
				fail_msg("line %d (continuous %d): native %u, compared %u, divergences %u "
				         "(%u new; first: "
				         "%s %s), results native_steps %lld",
				         rows[i].line, continuous, (unsigned)sum.native_steps,
				         (unsigned)sum.insn_steps, diverged, (unsigned)sum.new_divergences,
				         seen.n ? seen.cls[0] : "", seen.n ? seen.fields[0] : "",
				         (long long)results_native_steps(results));
			/* A step not compared is never reported to on_step. */
			for (unsigned k = 0; k < seen.n && rows[i].native; k++)
				assert_true(seen.steps[k] != 0);
			unlink(path), unlink(results);
			free(path), free(results);
		}
	}
}

/* What a RUN step wrote, as a page the trace stores anew at the next step or as the step's own writes, is in
 * memory when the next INSN step reads it: pop cx gets the 0x1234 the unrecorded push left, not the 77 77 of
 * the image before it. */
static void test_run_step_pages_reach_the_next_step(void **state)
{
	(void)state;
	for (int row = 0; row < 4; row++) {
		bool continuous = row & 1;
		enum synth_plant plant = row < 2 ? SYNTH_RUN_PUSH : SYNTH_RUN_PUSH_BYTES;
		struct replay_summary sum;
		struct seen seen;
		replay_synth(plant, continuous, 0, 0, NULL, &sum, &seen);
		assert_int_equal(sum.run_steps, 1);
		assert_int_equal(sum.insn_steps, SYNTH_STEPS - 1);
		if (sum.divergences)
			fail_msg("row %d, %s: %llu divergences, first at step %llu (%s: %s)", row,
			         continuous ? "continuous" : "per-step", (unsigned long long)sum.divergences,
			         (unsigned long long)sum.first_divergence.step, sum.first_divergence.cls,
			         sum.first_divergence.detail);
	}
}

static void test_bad_inputs(void **state)
{
	struct replay_summary sum;
	char err[512];
	(void)state;
	struct replay_options o = {
	    .trace_path = "/nonexistent/trace.db", .backends = emu_only, .n_backends = 1, .to = UINT64_MAX};
	assert_true(replay_run(&o, &sum, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/trace.db"));

	char *path = synth_tmp(".db");
	assert_int_equal(synth_trace(path, SYNTH_CLEAN), 0);
	o.trace_path = path;
	o.from = 100;
	assert_true(replay_run(&o, &sum, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "--from"));
	o.from = 0;
	const char *bogus[] = {"bogus"};
	o.backends = bogus;
	assert_true(replay_run(&o, &sum, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "bogus"));
	unlink(path);
	free(path);
}

/* The emu backend reads set_state's state during the next step only: a step that cannot run (an IN with no
 * recorded value) leaves that state, and so does the step after it, with no set_state in between. */
static void test_emu_not_run_keeps_state(void **state)
{
	(void)state;
	static const struct backend_region ram = {.gpa = 0, .len = 0x10000};
	struct backend_config cfg = {.regions = &ram, .n_regions = 1};
	struct backend *b;
	char err[256];
	static struct backend_result res;
	struct backend_step_input in = {.step = 0};
	assert_int_equal(backend_emu_ops.open(&b, &cfg, err, sizeof(err)), 0);
	assert_int_equal(backend_emu_ops.write_mem(b, 0x7c00, "\xec", 1), 0); /* in al, dx */
	struct x86_state *pre = malloc(sizeof(*pre)), want;
	assert_non_null(pre);
	x86_state_real(pre, 0, 0x7c00, 0x7000);
	pre->gpr[X86_RAX] = 0x1234;
	pre->gpr[X86_RDX] = 0x60;
	want = *pre;
	assert_int_equal(backend_emu_ops.set_state(b, pre), 0);
	assert_int_equal(backend_emu_ops.step(b, &in, &res), 0);
	assert_int_equal(res.outcome, BACKEND_UNSUPPORTED);
	assert_memory_equal(&res.post, &want, sizeof(want));
	memset(pre, 0xa5, sizeof(*pre)); /* the caller's copy is gone after the step */
	free(pre);
	assert_int_equal(backend_emu_ops.step(b, &in, &res), 0);
	assert_int_equal(res.outcome, BACKEND_UNSUPPORTED);
	assert_memory_equal(&res.post, &want, sizeof(want));
	backend_emu_ops.close(b);
}

/* mov ss, ax; inc bx; nop; nop at 0000:1000 in real mode. */
static const uint8_t mov_ss_code[] = {0x8e, 0xd0, 0x43, 0x90, 0x90};

static struct backend *emu_with_mov_ss_code(bool step_over)
{
	static const struct backend_region ram = {.gpa = 0, .len = 0x10000};
	struct backend_config cfg = {.regions = &ram, .n_regions = 1, .step_over_mov_ss_shadow = step_over};
	struct backend *b;
	char err[256];
	assert_int_equal(backend_emu_ops.open(&b, &cfg, err, sizeof(err)), 0);
	assert_int_equal(backend_emu_ops.write_mem(b, 0x1000, mov_ss_code, sizeof(mov_ss_code)), 0);
	return b;
}

/* Against a silicon reference the emu backend runs MOV SS and the instruction it shadows as one step. */
static void test_emu_steps_over_mov_ss_shadow(void **state)
{
	(void)state;
	static struct backend_result res;
	struct backend_step_input in = {.step = 0};
	struct x86_state pre;
	x86_state_real(&pre, 0, 0x1000, 0x8000);
	for (int step_over = 0; step_over < 2; step_over++) {
		struct backend *b = emu_with_mov_ss_code(step_over);
		assert_int_equal(backend_emu_ops.set_state(b, &pre), 0);
		assert_int_equal(backend_emu_ops.step(b, &in, &res), 0);
		assert_int_equal(res.outcome, BACKEND_STEPPED);
		assert_int_equal(res.post.rip, step_over ? 0x1003 : 0x1002);
		assert_int_equal(res.post.gpr[X86_RBX], step_over ? 1 : 0);
		assert_int_equal(res.post.events.shadow, step_over ? 0 : X86_SHADOW_MOV_SS);
		/* The next step goes on from there: one instruction, the shadow already spent. */
		assert_int_equal(backend_emu_ops.step(b, &in, &res), 0);
		assert_int_equal(res.post.rip, step_over ? 0x1004 : 0x1003);
		assert_int_equal(res.post.gpr[X86_RBX], 1);
		backend_emu_ops.close(b);
	}
}

/* A trace recorded as silicon steps (mov ss with inc bx, then nop) replays through emu without a
 * divergence when its reference says silicon, and diverges as shadow.mov_ss when it says KVM's emulator. */
static void test_replay_silicon_mov_ss_step(void **state)
{
	(void)state;
	static struct backend_result res;
	struct backend_step_input in = {.step = 0};
	struct x86_state s[3];
	x86_state_real(&s[0], 0, 0x1000, 0x8000);
	struct backend *b = emu_with_mov_ss_code(true);
	assert_int_equal(backend_emu_ops.set_state(b, &s[0]), 0);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(backend_emu_ops.step(b, &in, &res), 0);
		s[i] = res.post;
	}
	backend_emu_ops.close(b);
	assert_int_equal(s[1].rip, 0x1003);

	static const char *const refs[] = {"silicon", "kvm-emulator"};
	for (int k = 0; k < 2; k++) {
		char *path = synth_tmp(".trace");
		struct trace *t;
		uint8_t *ram = calloc(1, SYNTH_RAM);
		assert_non_null(ram);
		memcpy(ram + 0x1000, mov_ss_code, sizeof(mov_ss_code));
		assert_int_equal(trace_create(&t, path, true), 0);
		assert_int_equal(trace_meta_set(t, "ram_bytes", "65536"), 0);
		assert_int_equal(trace_meta_set(t, "reference", refs[k]), 0);
		assert_int_equal(trace_put_memory(t, 0, ram, SYNTH_RAM), 0);
		for (unsigned i = 0; i < 2; i++) {
			struct trace_step st = {.index = i, .kind = TRACE_STEP_INSN, .pre = s[i]};
			assert_int_equal(trace_append_step(t, &st), 0);
		}
		assert_int_equal(trace_finish(t, &s[2], "synthetic"), 0);
		trace_close(t);
		free(ram);

		const char *names[] = {"emu"};
		struct replay_options opt = {.trace_path = path,
		                             .backends = names,
		                             .n_backends = 1,
		                             .to = UINT64_MAX,
		                             .command_line = "test"};
		struct replay_summary sum;
		char err[512];
		assert_int_equal(replay_run(&opt, &sum, err, sizeof(err)), 0);
		assert_int_equal(sum.insn_steps, 2);
		if (k == 0) {
			assert_int_equal(sum.divergences, 0);
		} else {
			assert_int_equal(sum.divergences, 1);
			assert_string_equal(sum.first_divergence.cls, "shadow.mov_ss");
		}
		unlink(path);
		free(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_trace_has_no_divergence),
	    cmocka_unit_test(test_planted_rax_found_at_its_step),
	    cmocka_unit_test(test_continuous_resyncs_and_finds_both),
	    cmocka_unit_test(test_stop_at_first),
	    cmocka_unit_test(test_shard_partitions_steps),
	    cmocka_unit_test(test_shard_ranges_table),
	    cmocka_unit_test(test_parse_shard_table),
	    cmocka_unit_test(test_replay_twice_is_identical),
	    cmocka_unit_test(test_missing_input_is_class_io),
	    cmocka_unit_test(test_emu_not_run_keeps_state),
	    cmocka_unit_test(test_emu_steps_over_mov_ss_shadow),
	    cmocka_unit_test(test_replay_silicon_mov_ss_step),
	    cmocka_unit_test(test_run_and_fallback_are_not_compared),
	    cmocka_unit_test(test_run_step_pages_reach_the_next_step),
	    cmocka_unit_test(test_cpuid_from_the_recorded_table),
	    cmocka_unit_test(test_reference_step_granularity),
	    cmocka_unit_test(test_wrmsr_refused_where_recorded),
	    cmocka_unit_test(test_backend_writes_are_restored),
	    cmocka_unit_test(test_native_steps_are_not_compared),
	    cmocka_unit_test(test_take_input_table),
	    cmocka_unit_test(test_bad_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
