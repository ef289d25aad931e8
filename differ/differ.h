/* differ: compare a backend's step against the recording, name the divergence
 * by the rules table (differ/classes.tsv), apply the known-divergence list,
 * store results in SQLite and render reports. */
#ifndef EMUDIFF_DIFFER_H
#define EMUDIFF_DIFFER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../schema/trace.h"
#include "../x86/x86_state.h"
#include "backend_result.h"

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
	/* Every recorded exit of the step, in order (an XCHG with MMIO: a read, then a write); when
	 * n_expected_exits is 0, expected_exit alone is the step's exit. */
	const struct trace_exit *expected_exits;
	uint32_t n_expected_exits;
	const struct backend_result *actual;
	uint64_t undefined_rflags; /* flags the instruction leaves undefined */
	const char *reference; /* the trace's reference kind ("kvm-emulator"), for ref= rules; may be NULL */
	/* Optional: guest memory before the step. When set, a byte written on one side
	 * only is no divergence if it equals the memory it overwrote (a store of the same value). */
	int (*read_pre_mem)(void *arg, uint64_t gpa, void *buf, size_t len);
	void *mem_arg;
};

/* A side that did not make the access at all (memory byte not written, no port access). */
#define DIFFER_MISSING_EXPECTED 1u
#define DIFFER_MISSING_ACTUAL   2u

struct differ_field_diff {
	char field[32]; /* x86_fields name ("xmm3.hi": high half), "mem[0x1234]", "port.addr", ... */
	uint64_t expected;
	uint64_t actual;
	uint8_t width;   /* bytes compared: field size, or 1..8 for a run of memory bytes (little-endian) */
	uint8_t missing; /* DIFFER_MISSING_* */
};

#define DIFFER_MAX_FIELDS 32

struct differ_divergence {
	uint64_t step;
	char backend[16];
	char cls[40];     /* "iret.pm_outer", "backend.unsupported", "unclassified", ... */
	char detail[160]; /* "DS not nulled", the backend's reason, ... */
	uint32_t n_fields;
	struct differ_field_diff fields[DIFFER_MAX_FIELDS];
	/* Added for the results database and the reports. */
	uint32_t n_fields_total; /* all differing fields; fields[] holds the first DIFFER_MAX_FIELDS */
	enum backend_outcome outcome;
	enum x86_mode mode;
	unsigned cpl;
	uint8_t insn[16];
	uint8_t insn_len;
	char disasm[80]; /* Capstone: "iretd", "mov ss, ax", or "(bad)" */
	uint64_t undefined_rflags;
	struct x86_state pre, expected, actual, unobserved;
};

/* The rules table, loaded once; differ_rules_default() reads the built-in copy of classes.tsv. */
struct differ_rules;
int differ_rules_default(struct differ_rules **out);
int differ_rules_load(const char *path, struct differ_rules **out, char *err, size_t errlen);
void differ_rules_free(struct differ_rules *r);
/* The rows of a rules table, for listing and tests. */
size_t differ_rules_count(const struct differ_rules *r);
const char *differ_rules_class(const struct differ_rules *r, size_t i);
unsigned differ_rules_line(const struct differ_rules *r, size_t i);

/* The step matched with nothing a mask could hide: no divergence whatever the instruction's length or
 * undefined flags (differ_compare's fast path, which needs neither). */
bool differ_matches_exactly(const struct differ_input *in);
/* 1 and *out filled when the step diverges, 0 when it matches. */
int differ_compare(const struct differ_rules *rules, const struct differ_input *in,
                   struct differ_divergence *out);

/* Reference rules (differ/reference.tsv): where a reference's recorded step ran more than one instruction
 * (a REP chunk, an event with its handler's first instruction), the replayer runs a backend on to the same
 * boundary and compares again. */
enum differ_ref_action { DIFFER_REF_ITERATE, DIFFER_REF_NEXT };
struct differ_ref_rule {
	enum differ_ref_action action;
	unsigned limit; /* the most iterations or instructions to run on */
	char detail[120];
	unsigned line;
};
struct differ_reference;
int differ_reference_default(struct differ_reference **out);
int differ_reference_parse(const char *text, size_t len, const char *source, struct differ_reference **out,
                           char *err, size_t errlen);
void differ_reference_free(struct differ_reference *t);
size_t differ_reference_count(const struct differ_reference *t);
const char *differ_reference_class(const struct differ_reference *t, size_t i);
/* The first rule for a divergence class under a reference kind ("kvm-emulator"); NULL when none. */
const struct differ_ref_rule *differ_reference_find(const struct differ_reference *t, const char *reference,
                                                    const char *cls);
/* Whether a class names the recording's own artefact (ref.*, differ/classes.tsv), not an emulator's
 * divergence: such divergences are filed as expected and never fail a run. */
static inline bool differ_is_reference_class(const char *cls)
{
	return cls[0] == 'r' && cls[1] == 'e' && cls[2] == 'f' && cls[3] == '.';
}
/* Classes filed as expected, never new: the recording's artefacts and the last bit of an x87 transcendental
 * (where silicon itself differs by vendor). */
static inline bool differ_is_tolerated_class(const char *cls)
{
	return differ_is_reference_class(cls) || !strcmp(cls, "x87.transcendental");
}

/* Known divergences (--known FILE). */
struct differ_known;
int differ_known_load(const char *path, struct differ_known **out, char *err, size_t errlen);
bool differ_known_match(struct differ_known *k, const struct differ_divergence *d);
/* The run the list is applied to: the trace's guest image name (basename), its reference kind
 * ("kvm-emulator", "silicon") and the replay mode ("per-step", "continuous"). Entries under a scope line
 * apply only when it matches; before this call they apply nowhere. */
void differ_known_set_run(struct differ_known *k, const char *guest, const char *reference,
                          const char *replay);
/* Whether entry i applies to the run (no scope, or a scope that matches it). */
bool differ_known_active(const struct differ_known *k, size_t i);
/* Entry i's steps as written: "*", "395", "100-120,300". */
const char *differ_known_steps(const struct differ_known *k, size_t i);
void differ_known_free(struct differ_known *k);
/* Entries of the list and how many divergences each matched so far. */
size_t differ_known_count(const struct differ_known *k);
/* An entry naming a backend or class that does not exist (a typo) can never match: -EINVAL with
 * "FILE:LINE: ..." in err. Globs are not checked. */
int differ_known_check(const struct differ_known *k, const struct differ_rules *rules, char *err,
                       size_t errlen);
uint64_t differ_known_hits(const struct differ_known *k, size_t i);

/* Results database: run, backend, step, class, field, expected, actual. */
struct differ_results;
struct differ_run_info {
	const char *trace_path;
	const char *reference;   /* "silicon", "qemu-tcg", "kvm-emulator" or "emu" */
	const char *replay_mode; /* "per-step" or "continuous" */
	const char *command_line;
	/* Full states are stored for the first N divergences of each backend and class; 0: 100. */
	unsigned states_per_class;
};
int differ_results_create(struct differ_results **out, const char *path, const struct differ_run_info *run,
                          char *err, size_t errlen);
int differ_results_count_step(struct differ_results *r, const char *backend, enum backend_outcome outcome);
/* known: true when the known list expects it (XFAIL). */
int differ_results_add(struct differ_results *r, const struct differ_divergence *d, bool known);
/* Optional: the replayed step range [first, end); known entries for steps outside it are not XPASS. */
int differ_results_set_range(struct differ_results *r, uint64_t first, uint64_t end);
/* Stores the known list with its hit counts: call after the last differ_known_match, before close.
 * An entry that matched nothing on a backend that ran is reported as fixed (XPASS). */
int differ_results_add_known(struct differ_results *r, const struct differ_known *k);
/* How the run ended: completed (every step of its range), or stopped before step stopped_at (interrupted). A
 * run never marked completed (killed, crashed) reads as not completed. */
int differ_results_set_end(struct differ_results *r, bool completed, uint64_t stopped_at);
/* The replayed steps no backend was compared on, by kind: RUN, FALLBACK and NATIVE steps. */
int differ_results_set_not_compared(struct differ_results *r, uint64_t run, uint64_t fallback,
                                    uint64_t native);
/* 1 when the run in results_path completed, 0 when not (*stopped_at: the step it stopped before, or -1 when
 * unknown), -errno when the file cannot be read (a message on stderr). */
int differ_results_completed(const char *results_path, int64_t *stopped_at);
/* Every stored blob is as written: 0, or -errno with one line naming the file, the table and the step of the
 * damaged row in err. The reports check it too. */
int differ_results_verify(const char *results_path, char *err, size_t errlen);
/* Names the part of the trace a finished run replayed ("shard 2/4", "steps 100..200"), so reports of several
 * parts stay apart, and the host it ran on; 0 or -EIO with a message on stderr. */
int differ_results_set_part(const char *results_path, const char *part);
int differ_results_close(struct differ_results *r);
/* Joins the results databases of the shards of one trace (any order) into out_path as if one run had
 * replayed their whole range: 0, or -EINVAL with one line in err when they are not the parts of one run
 * (different traces, options or versions, overlapping or missing ranges, a damaged blob), -EIO. */
int differ_results_merge(const char *out_path, const char *const *shards, size_t n, char *err, size_t errlen);
/* The same for the parts of one replay run by worker processes: the joined run keeps command_line as it is
 * (the shards' own, --shard and all) and names no part. */
int differ_results_merge_as(const char *out_path, const char *const *parts, size_t n,
                            const char *command_line, char *err, size_t errlen);

/* Reports from a results database; return 0, or -errno with a message on stderr. */
int differ_report_text(const char *results_path, FILE *out);
int differ_report_json(const char *results_path, const char *out_path);
int differ_report_junit(const char *results_path, const char *out_path);
int differ_report_html(const char *results_path, const char *out_path);
/* A reference kind ("silicon", "qemu-tcg", ...) as a sentence for a report's "reference:" line. */
const char *differ_reference_text(const char *reference);
/* New (not known) divergences in a results database; <0 on error. */
long differ_results_new_count(const char *results_path);
/* Known entries that no longer occur (XPASS) in a results database; <0 on error. */
long differ_results_xpass_count(const char *results_path);

#endif
