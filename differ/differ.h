/* differ: compare a backend's step against the recording, name the divergence
 * by the rules table (differ/classes.tsv), apply the known-divergence list,
 * store results in SQLite and render reports. */
#ifndef EMUDIFF_DIFFER_H
#define EMUDIFF_DIFFER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../replayer/backend.h"
#include "../schema/trace.h"
#include "../schema/x86_state.h"

/* One step as recorded and as a backend ran it. */
struct differ_input {
	uint64_t step;
	const char *backend;
	enum x86_mode mode;
	unsigned cpl;
	const uint8_t *insn; /* instruction bytes at the pre-state RIP */
	unsigned insn_len;
	const struct x86_state *pre;
	const struct x86_state *expected; /* recorded post-state */
	const struct trace_write *expected_writes;
	uint32_t n_expected_writes;
	const struct trace_exit *expected_exit; /* the recorded I/O of this step, or NULL */
	const struct backend_result *actual;
	uint64_t undefined_rflags; /* flags the instruction leaves undefined */
};

struct differ_field_diff {
	char field[32]; /* x86_fields name, or "mem[0x1234]", "port" */
	uint64_t expected;
	uint64_t actual;
};

#define DIFFER_MAX_FIELDS 32

struct differ_divergence {
	uint64_t step;
	char backend[16];
	char cls[40];	  /* "iret.pm_outer", "backend.unsupported", "unclassified", ... */
	char detail[160]; /* "DS not nulled", the backend's reason, ... */
	uint32_t n_fields;
	struct differ_field_diff fields[DIFFER_MAX_FIELDS];
};

/* The rules table, loaded once; differ_rules_default() reads the built-in copy of classes.tsv. */
struct differ_rules;
int differ_rules_default(struct differ_rules **out);
int differ_rules_load(const char *path, struct differ_rules **out, char *err, size_t errlen);
void differ_rules_free(struct differ_rules *r);

/* 1 and *out filled when the step diverges, 0 when it matches. */
int differ_compare(const struct differ_rules *rules, const struct differ_input *in, struct differ_divergence *out);

/* Known divergences (--known FILE). */
struct differ_known;
int differ_known_load(const char *path, struct differ_known **out, char *err, size_t errlen);
bool differ_known_match(struct differ_known *k, const struct differ_divergence *d);
void differ_known_free(struct differ_known *k);

/* Results database: run, backend, step, class, field, expected, actual. */
struct differ_results;
struct differ_run_info {
	const char *trace_path;
	const char *reference; /* "silicon" or "kvm-emulator" */
	const char *replay_mode; /* "per-step" or "continuous" */
	const char *command_line;
};
int differ_results_create(struct differ_results **out, const char *path, const struct differ_run_info *run,
			  char *err, size_t errlen);
int differ_results_count_step(struct differ_results *r, const char *backend, enum backend_outcome outcome);
/* known: true when the known list expects it (XFAIL). */
int differ_results_add(struct differ_results *r, const struct differ_divergence *d, bool known);
int differ_results_close(struct differ_results *r);

/* Reports from a results database; return 0, or -errno with a message on stderr. */
int differ_report_text(const char *results_path, FILE *out);
int differ_report_json(const char *results_path, const char *out_path);
int differ_report_junit(const char *results_path, const char *out_path);
int differ_report_html(const char *results_path, const char *out_path);
/* New (not known) divergences in a results database; <0 on error. */
long differ_results_new_count(const char *results_path);

#endif
