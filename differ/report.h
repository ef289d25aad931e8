/* Shared by the report writers: the summary of a results database read into memory. */
#ifndef EMUDIFF_DIFFER_REPORT_H
#define EMUDIFF_DIFFER_REPORT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../x86/x86_format.h"
#include "private.h"

struct rep_backend {
	char name[16];
	int64_t steps, stepped, unsupported, crashed, failed;
	int64_t divergences, new_div, expected;
};

struct rep_class {
	char backend[16];
	char cls[40];
	int64_t n, new_div, expected;
	int64_t first_id; /* divergence.id of the first one */
	int64_t first_step;
};

struct rep_known {
	char source[256];
	int line;
	char backend[16];
	char cls[40];
	char step[24];
	char comment[160];
	int64_t hits;
	const char *status; /* "xfail", "xpass", "not-run" */
};

struct rep {
	const char *path;
	sqlite3 *db;
	char trace[512], reference[32], replay_mode[32], command_line[1024], tool_version[32];
	char part[64]; /* "shard 2/4", "steps 100..200"; "" for the whole trace */
	bool have_range;
	int64_t first_step, end_step;
	bool completed;     /* the replay ran its whole range */
	int64_t stopped_at; /* when interrupted: the first step not replayed; -1 unknown (killed) */
	int64_t run_steps, fallback_steps, native_steps; /* replayed steps compared on no backend, by kind */
	struct rep_backend *backends;
	size_t n_backends;
	struct rep_class *classes; /* by backend (order of appearance), then class name */
	size_t n_classes;
	struct rep_known *known;
	size_t n_known;
	int64_t xfail, xpass;
	sqlite3_stmt *div_stmt, *field_stmt; /* rep_div_load's, prepared on first use */
};

/* One stored divergence with its fields and, when stored, states. */
struct rep_div {
	int64_t id, step;
	char backend[16], cls[40], detail[160], outcome[16], mode[16], rip[24], disasm[80];
	int known, cpl;
	uint8_t insn[16];
	int insn_len;
	int64_t n_fields;
	bool have_states;
	struct x86_state pre, expected, actual, unobserved;
	int n_shown;
	struct {
		char name[32];
		char expected[64], actual[64]; /* "none" when absent */
	} fields[DIFFER_MAX_FIELDS];
};

int rep_load(struct rep *r, const char *path);
/* One line on how far an incomplete run got, for every report format. */
void rep_incomplete_text(const struct rep *r, char *buf, size_t len);
void rep_free(struct rep *r);
/* Reads divergence id; 0 or -EIO. */
int rep_div_load(struct rep *r, int64_t id, struct rep_div *d);
/* Iterates the divergences of one backend and class in order; the statement is the caller's to finalize. */
sqlite3_stmt *rep_div_ids(struct rep *r, const char *backend, const char *cls);
const char *rep_reference_text(const char *reference);
/* The named bits that differ between a stored field's expected and actual text ("" for fields without
 * bit names or with a value absent); the length of the text. */
size_t rep_field_bits(const char *name, const char *expected, const char *actual, char *buf, size_t len);
bool rep_field_differs(const struct rep_div *d, const struct x86_field *f);
/* Escapes <, >, & and " for XML and HTML; control characters other than those in keep become '?'. */
void rep_markup_escape(FILE *f, const char *s, const char *keep);
void rep_html_escape(FILE *f, const char *s);
int differ_report_html_write(struct rep *r, FILE *f);

#endif
