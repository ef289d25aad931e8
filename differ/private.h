/* differ internals: the parsed rules table, the full list of differing fields
 * and the classification context shared by compare.c and rules.c. */
#ifndef EMUDIFF_DIFFER_PRIVATE_H
#define EMUDIFF_DIFFER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "differ.h"

/* The recorded exits of a step: expected_exits, else expected_exit alone; returns how many. */
static inline uint32_t differ_exits(const struct differ_input *in, const struct trace_exit **v)
{
	if (in->n_expected_exits && in->expected_exits) {
		*v = in->expected_exits;
		return in->n_expected_exits;
	}
	*v = in->expected_exit;
	return in->expected_exit ? 1 : 0;
}

#define RULE_MAX_ALTS  24
#define RULE_MAX_GLOBS 24
#define RULE_MAX_CONDS 8

struct rule_alt {
	bool bytes; /* opcode bytes after prefixes, else mnemonic [operand] globs */
	uint8_t op[4];
	uint8_t n_op;
	int8_t modrm_reg; /* /n: ModRM.reg of the byte after op, -1 when absent */
	char mnem[24];
	char operand[16]; /* first operand glob, "" for any */
};

enum rule_cond_kind {
	COND_UNSUPPORTED,
	COND_CRASH,
	COND_FAILED,
	COND_REASON,
	COND_OUTER,
	COND_SAME,
	COND_INNER,
	COND_NT,
	COND_TO_V86,
	COND_REP,
	COND_PRE_SHADOW_MOV_SS,
	COND_PRE_SHADOW_STI,
	COND_EXP0,
	COND_NEXT_RIP,
	COND_AD_BITS,
	COND_PAGING,
	COND_CPL0,
	COND_CPL3,
	COND_FLAGS,
	COND_FAULT_EXP,
	COND_FAULT_ACT,
	COND_FAULT_BOTH,
	COND_HANDLER_EXP,
	COND_HANDLER_ACT,
	COND_ACCESSED,
	COND_EXP_STAYED,
	COND_EXIT,
	COND_EXIT_ADDR,
	COND_EXP_RAN_ON,
	COND_ACT_RAN_ON,
	COND_REFERENCE,
	COND_REP_UNRETIRED,
	COND_V86_LOST,
	COND_LAST_BIT,
	COND_FSW_C1,
};

struct rule_cond {
	enum rule_cond_kind kind;
	bool negate;
	uint64_t flags; /* COND_FLAGS: the differing flags must lie within these */
	char word[48];  /* COND_REASON: the reason starts with "word:"; COND_REFERENCE: |-separated reference
	                   globs */
};

struct differ_rule {
	unsigned line;
	char cls[40];
	bool any_insn;
	uint8_t n_alts;
	struct rule_alt alts[RULE_MAX_ALTS];
	uint32_t modes; /* bit per enum x86_mode */
	uint8_t n_conds;
	struct rule_cond conds[RULE_MAX_CONDS];
	bool any_field; /* "*": matches whatever differs, even nothing */
	bool only;      /* "=": every differing field must match a glob */
	uint8_t n_globs;
	char globs[RULE_MAX_GLOBS][32];
	char detail[160];
};

struct differ_rules {
	char source[256];
	size_t n;
	struct differ_rule *rows;
	/* Capstone handles for 16-, 32- and 64-bit code, opened with the table (opening costs more than a
	 * decode). */
	size_t cs[3];
	bool cs_ok[3];
};

/* One differing field, before truncation to DIFFER_MAX_FIELDS. */
struct differ_diff_list {
	size_t n, cap;
	struct differ_field_diff *v;
	/* Memory bytes that differ, for the A/D-bit test. */
	bool mem_ad_only;
	uint64_t rflags_diff; /* differing RFLAGS bits after masks */
};

struct differ_class_ctx {
	const struct differ_input *in;
	const struct differ_divergence *d;
	const struct differ_diff_list *diffs;
	const char *mnemonic; /* without prefixes: "movsb" for "rep movsb" */
	const char *operand1; /* first operand text */
	const char *reason;
	unsigned len;                     /* decoded length (Capstone), else the length given */
	bool branch;                      /* jump, call, return, interrupt or IRET: RIP moves by design */
	const struct differ_rules *rules; /* for its Capstone handles */
};

int differ_rules_parse(const char *text, size_t len, const char *source, struct differ_rules **out, char *err,
                       size_t errlen);
/* Fills d->cls and d->detail from the first matching row, or "unclassified". */
void differ_classify(const struct differ_rules *rules, const struct differ_class_ctx *ctx,
                     struct differ_divergence *d);

/* Glob with '*' and '?' only ('[' is literal: field names like "mem[0x10]"). */
bool differ_glob(const char *pat, const char *s);

/* Decodes the instruction with Capstone: disassembly, mnemonic without prefixes, first operand,
 * length (0 when it does not decode) and whether it transfers control. */
struct differ_decoded {
	char text[80];
	char mnem[32];
	char op1[48];
	unsigned size;
	bool branch;
};
void differ_disasm(const struct differ_rules *rules, enum x86_mode mode, uint64_t rip, const uint8_t *insn,
                   unsigned len, struct differ_decoded *out);
/* Opens and closes the Capstone handles of a table. */
void differ_rules_open_cs(struct differ_rules *r);
void differ_rules_close_cs(struct differ_rules *r);

/* The length of the legacy prefixes (and REX in 64-bit mode) of an instruction. */
unsigned differ_prefix_len(enum x86_mode mode, const uint8_t *insn, unsigned len, bool *rep);

/* Names of RFLAGS bits, "CF,ZF". */
void differ_flag_names(uint64_t bits, char *buf, size_t len);

/* One entry of a known list, for results.c; -ENOENT past the end. */
int differ_known_entry(const struct differ_known *k, size_t i, unsigned *line, const char **backend,
                       const char **cls, bool *any_step, uint64_t *step, const char **comment,
                       const char **source);

/* Results database layout, shared by results.c and the reports. */
#define DIFFER_RESULTS_APP_ID  0x454d5552 /* "EMUR" */
#define DIFFER_RESULTS_VERSION 5

struct sqlite3;
/* Opens a results database read-only and checks it is one; messages go to stderr. */
int differ_results_open_ro(const char *path, struct sqlite3 **out);
/* Checks every divergence row's blobs (lengths and checksum); -EIO with "PATH: divergence row at step N
 * (backend, class): a damaged blob (...)" in err at the first damaged row. */
int differ_results_verify_db(struct sqlite3 *db, const char *path, char *err, size_t errlen);
const char *differ_outcome_name(enum backend_outcome o);
/* Full states are kept for the first this many divergences of a backend and class unless a run says. */
#define DIFFER_RESULTS_STATES_DEFAULT 100
/* A divergence row's blob_sum: insn, pre, expected, actual, unobserved (len -1: NULL). */
int64_t differ_results_blob_sum(const void *const blobs[5], const int lens[5]);

#endif
