/* The rules table (differ/classes.tsv): parsing with file:line errors, and
 * classification of a divergence by the first matching row. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../x86/x86_paging.h"
#include "classes_tsv.h"
#include "private.h"

static const char *const placeholders[] = {"insn",   "mnemonic", "field",  "REG", "exp",     "act",
                                           "fields", "flags",    "reason", "len", "adv",     "cpl",
                                           "newcpl", "mode",     "eax",    "ecx", "exp_rip", "act_rip"};

static const struct {
	const char *name;
	uint64_t bit;
} flag_bits[] = {
    {"CF", X86_RFLAGS_CF}, {"PF", X86_RFLAGS_PF},     {"AF", X86_RFLAGS_AF},   {"ZF", X86_RFLAGS_ZF},
    {"SF", X86_RFLAGS_SF}, {"TF", X86_RFLAGS_TF},     {"IF", X86_RFLAGS_IF},   {"DF", X86_RFLAGS_DF},
    {"OF", X86_RFLAGS_OF}, {"IOPL", X86_RFLAGS_IOPL}, {"NT", X86_RFLAGS_NT},   {"RF", X86_RFLAGS_RF},
    {"VM", X86_RFLAGS_VM}, {"AC", X86_RFLAGS_AC},     {"VIF", X86_RFLAGS_VIF}, {"VIP", X86_RFLAGS_VIP},
    {"ID", X86_RFLAGS_ID},
};

static const struct {
	const char *name;
	enum rule_cond_kind kind;
} cond_names[] = {
    {"unsupported", COND_UNSUPPORTED},
    {"crash", COND_CRASH},
    {"failed", COND_FAILED},
    {"outer", COND_OUTER},
    {"same", COND_SAME},
    {"inner", COND_INNER},
    {"nt", COND_NT},
    {"to_v86", COND_TO_V86},
    {"rep", COND_REP},
    {"pre_shadow_mov_ss", COND_PRE_SHADOW_MOV_SS},
    {"pre_shadow_sti", COND_PRE_SHADOW_STI},
    {"exp0", COND_EXP0},
    {"next_rip", COND_NEXT_RIP},
    {"ad_bits", COND_AD_BITS},
    {"paging", COND_PAGING},
    {"cpl0", COND_CPL0},
    {"cpl3", COND_CPL3},
    {"fault_exp", COND_FAULT_EXP},
    {"fault_act", COND_FAULT_ACT},
    {"fault_both", COND_FAULT_BOTH},
    {"handler_exp", COND_HANDLER_EXP},
    {"handler_act", COND_HANDLER_ACT},
    {"accessed", COND_ACCESSED},
    {"exp_stayed", COND_EXP_STAYED},
    {"exit", COND_EXIT},
    {"exit_addr", COND_EXIT_ADDR},
    {"exp_ran_on", COND_EXP_RAN_ON},
    {"act_ran_on", COND_ACT_RAN_ON},
};

static const struct {
	const char *name;
	uint32_t modes;
} mode_names[] = {
    {"any", 0x3f},
    {"*", 0x3f},
    {"real", 1u << X86_MODE_REAL},
    {"v86", 1u << X86_MODE_V86},
    {"prot16", 1u << X86_MODE_PROT16},
    {"prot32", 1u << X86_MODE_PROT32},
    {"prot", (1u << X86_MODE_PROT16) | (1u << X86_MODE_PROT32)},
    {"long64", 1u << X86_MODE_LONG64},
    {"compat", 1u << X86_MODE_COMPAT},
    {"long", (1u << X86_MODE_LONG64) | (1u << X86_MODE_COMPAT)},
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

bool differ_glob(const char *pat, const char *s)
{
	const char *star = NULL, *retry = NULL;

	while (*s) {
		if (*pat == '*') {
			star = ++pat;
			retry = s;
		} else if (*pat && (*pat == '?' || *pat == *s)) {
			pat++;
			s++;
		} else if (star) {
			pat = star;
			s = ++retry;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

void differ_flag_names(uint64_t bits, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(flag_bits); i++) {
		if (!(bits & flag_bits[i].bit))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", flag_bits[i].name);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "%s", bits ? "reserved bits" : "none");
}

static int row_error(char *err, size_t errlen, const char *source, unsigned line, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err && errlen)
		snprintf(err, errlen, "%s:%u: %s", source, line, msg);
	return -EINVAL;
}

static bool is_hex_byte(const char *t)
{
	return strlen(t) == 2 && isxdigit((unsigned char)t[0]) && isxdigit((unsigned char)t[1]);
}

/* Splits s in place at sep; returns the count, or -1 when more than max. */
static int split(char *s, char sep, char **parts, int max)
{
	int n = 0;

	for (;;) {
		if (n == max)
			return -1;
		parts[n++] = s;
		char *p = strchr(s, sep);
		if (!p)
			return n;
		*p = '\0';
		s = p + 1;
	}
}

static char *trim(char *s)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
	return s;
}

static int parse_alt(const char *alt, struct rule_alt *a)
{
	char *tok[8], text[64];
	int n = 0;

	if (strlen(alt) >= sizeof(text))
		return -1;
	snprintf(text, sizeof(text), "%s", alt);
	memset(a, 0, sizeof(*a));
	a->modrm_reg = -1;
	for (char *save = NULL, *t = strtok_r(text, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == 8)
			return -1;
		tok[n++] = t;
	}
	if (n == 0)
		return -1;
	bool bytes = true;
	for (int i = 0; i < n; i++)
		if (!is_hex_byte(tok[i]) && !(i == n - 1 && i > 0 && tok[i][0] == '/' && tok[i][1] >= '0' &&
		                              tok[i][1] <= '7' && tok[i][2] == '\0'))
			bytes = false;
	if (bytes) {
		a->bytes = true;
		for (int i = 0; i < n; i++) {
			if (tok[i][0] == '/') {
				a->modrm_reg = (int8_t)(tok[i][1] - '0');
			} else {
				if (a->n_op == sizeof(a->op))
					return -1;
				a->op[a->n_op++] = (uint8_t)strtoul(tok[i], NULL, 16);
			}
		}
		return 0;
	}
	if (n > 2 || strlen(tok[0]) >= sizeof(a->mnem) || (n == 2 && strlen(tok[1]) >= sizeof(a->operand)))
		return -1;
	for (const char *c = tok[0]; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '*' && *c != '?')
			return -1;
	for (const char *c = n == 2 ? tok[1] : ""; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '*' && *c != '?')
			return -1;
	snprintf(a->mnem, sizeof(a->mnem), "%s", tok[0]);
	if (n == 2)
		snprintf(a->operand, sizeof(a->operand), "%s", tok[1]);
	return 0;
}

static int parse_flags(const char *list, uint64_t *out)
{
	char buf[128], *parts[20];

	snprintf(buf, sizeof(buf), "%s", list);
	int n = split(buf, '|', parts, 20);
	if (n < 0)
		return -1;
	*out = 0;
	for (int i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < ARRAY_SIZE(flag_bits); j++)
			if (strcmp(parts[i], flag_bits[j].name) == 0)
				break;
		if (j == ARRAY_SIZE(flag_bits))
			return -1;
		*out |= flag_bits[j].bit;
	}
	return 0;
}

static int check_detail(const char *detail, char *bad, size_t badlen)
{
	for (const char *p = strchr(detail, '{'); p; p = strchr(p + 1, '{')) {
		const char *e = strchr(p, '}');
		if (!e) {
			snprintf(bad, badlen, "unclosed '{'");
			return -1;
		}
		size_t n = (size_t)(e - p - 1), i;
		for (i = 0; i < ARRAY_SIZE(placeholders); i++)
			if (strlen(placeholders[i]) == n && strncmp(p + 1, placeholders[i], n) == 0)
				break;
		if (i == ARRAY_SIZE(placeholders)) {
			snprintf(bad, badlen, "unknown placeholder {%.*s}", (int)(n > 40 ? 40 : n), p + 1);
			return -1;
		}
	}
	return 0;
}

static bool valid_class(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '.' && *s != '_')
			return false;
	return true;
}

static int parse_row(char *line, unsigned lineno, const char *source, struct differ_rule *r, char *err,
                     size_t errlen)
{
	char *col[7] = {0}, *parts[RULE_MAX_ALTS + 1];
	int ncol = split(line, '\t', col, 7);
	int n;

	if (ncol < 5 || ncol > 6)
		return row_error(
		    err, errlen, source, lineno,
		    "expected 6 tab-separated columns (class pattern mode condition fields detail), "
		    "found %s%d",
		    ncol < 0 ? "more than " : "", ncol < 0 ? 6 : ncol);
	memset(r, 0, sizeof(*r));
	r->line = lineno;
	if (!valid_class(col[0]) || strlen(col[0]) >= sizeof(r->cls))
		return row_error(err, errlen, source, lineno,
		                 "class '%.40s' must be lower-case letters, digits, '.' and '_'", col[0]);
	snprintf(r->cls, sizeof(r->cls), "%s", col[0]);

	if (strcmp(trim(col[1]), "*") == 0) {
		r->any_insn = true;
	} else {
		n = split(col[1], '|', parts, RULE_MAX_ALTS);
		if (n < 0)
			return row_error(err, errlen, source, lineno, "more than %d patterns", RULE_MAX_ALTS);
		for (int i = 0; i < n; i++)
			if (parse_alt(trim(parts[i]), &r->alts[i]) < 0)
				return row_error(
				    err, errlen, source, lineno,
				    "bad instruction pattern '%.40s' (want a mnemonic glob with an "
				    "optional operand, or hex opcode bytes with an optional /digit)",
				    parts[i]);
		r->n_alts = (uint8_t)n;
	}

	n = split(col[2], ',', parts, 8);
	if (n < 0)
		return row_error(err, errlen, source, lineno, "too many modes");
	for (int i = 0; i < n; i++) {
		size_t j;
		for (j = 0; j < ARRAY_SIZE(mode_names); j++)
			if (strcmp(trim(parts[i]), mode_names[j].name) == 0)
				break;
		if (j == ARRAY_SIZE(mode_names))
			return row_error(
			    err, errlen, source, lineno,
			    "unknown mode '%.20s' (real, v86, prot, prot16, prot32, long, long64, "
			    "compat, any)",
			    parts[i]);
		r->modes |= mode_names[j].modes;
	}

	if (strcmp(trim(col[3]), "*") != 0) {
		n = split(col[3], ',', parts, RULE_MAX_CONDS);
		if (n < 0)
			return row_error(err, errlen, source, lineno, "more than %d conditions",
			                 RULE_MAX_CONDS);
		for (int i = 0; i < n; i++) {
			struct rule_cond *c = &r->conds[i];
			char *t = trim(parts[i]);
			if (*t == '!') {
				c->negate = true;
				t++;
			}
			if (strncmp(t, "flags=", 6) == 0) {
				c->kind = COND_FLAGS;
				if (parse_flags(t + 6, &c->flags) < 0)
					return row_error(err, errlen, source, lineno,
					                 "bad flag list in '%.40s' (e.g. flags=SF|ZF|AF)", t);
				continue;
			}
			if (strncmp(t, "reason=", 7) == 0) {
				c->kind = COND_REASON;
				if (!t[7] || strlen(t + 7) >= sizeof(c->word))
					return row_error(err, errlen, source, lineno, "bad '%.40s'", t);
				snprintf(c->word, sizeof(c->word), "%s", t + 7);
				continue;
			}
			size_t j;
			for (j = 0; j < ARRAY_SIZE(cond_names); j++)
				if (strcmp(t, cond_names[j].name) == 0)
					break;
			if (j == ARRAY_SIZE(cond_names))
				return row_error(err, errlen, source, lineno,
				                 "unknown condition '%.30s' (see differ/README.md)", t);
			c->kind = cond_names[j].kind;
		}
		r->n_conds = (uint8_t)n;
	}

	char *f = trim(col[4]);
	if (strcmp(f, "*") == 0) {
		r->any_field = true;
	} else {
		if (*f == '=') {
			r->only = true;
			f++;
		}
		n = split(f, ',', parts, RULE_MAX_GLOBS);
		if (n < 0)
			return row_error(err, errlen, source, lineno, "more than %d field patterns",
			                 RULE_MAX_GLOBS);
		for (int i = 0; i < n; i++) {
			char *g = trim(parts[i]);
			if (!*g || strlen(g) >= sizeof(r->globs[0]))
				return row_error(err, errlen, source, lineno, "bad field pattern '%.40s'", g);
			snprintf(r->globs[i], sizeof(r->globs[0]), "%s", g);
		}
		r->n_globs = (uint8_t)n;
	}

	if (ncol == 6) {
		char bad[64];
		if (strlen(col[5]) >= sizeof(r->detail))
			return row_error(err, errlen, source, lineno, "detail longer than %zu characters",
			                 sizeof(r->detail) - 1);
		if (check_detail(col[5], bad, sizeof(bad)) < 0)
			return row_error(err, errlen, source, lineno, "detail: %s", bad);
		snprintf(r->detail, sizeof(r->detail), "%s", col[5]);
	}
	return 0;
}

int differ_rules_parse(const char *text, size_t len, const char *source, struct differ_rules **out, char *err,
                       size_t errlen)
{
	struct differ_rules *r = calloc(1, sizeof(*r));
	size_t cap = 0;
	unsigned lineno = 0;
	int ret = 0;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	snprintf(r->source, sizeof(r->source), "%s", source);
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char line[1024];

		lineno++;
		if (n && text[pos + n - 1] == '\r')
			n--;
		if (n >= sizeof(line)) {
			ret = row_error(err, errlen, source, lineno, "line longer than %zu characters",
			                sizeof(line) - 1);
			goto out;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		if (nl && text[pos - 1] == '\r')
			pos++;
		if (memchr(line, '\0', n)) {
			ret = row_error(err, errlen, source, lineno, "NUL byte in the line");
			goto out;
		}
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (r->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct differ_rule *v = realloc(r->rows, ncap * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				goto out;
			}
			r->rows = v;
			cap = ncap;
		}
		ret = parse_row(line, lineno, source, &r->rows[r->n], err, errlen);
		if (ret < 0)
			goto out;
		r->n++;
	}
	if (r->n == 0) {
		ret = row_error(err, errlen, source, lineno, "no rules in the table");
		goto out;
	}
	differ_rules_open_cs(r);
	*out = r;
	r = NULL;
out:
	differ_rules_free(r);
	return ret;
}

int differ_rules_default(struct differ_rules **out)
{
	char err[300];
	int ret = differ_rules_parse(differ_classes_tsv, sizeof(differ_classes_tsv) - 1,
	                             "differ/classes.tsv (built in)", out, err, sizeof(err));
	if (ret < 0)
		fprintf(stderr, "%s\n", err);
	return ret;
}

int differ_rules_load(const char *path, struct differ_rules **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int ret;

	*out = NULL;
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open the rules table: %s", path, strerror(errno));
		return ret;
	}
	for (;;) {
		if (len + 4096 > cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > (64u << 20)) {
				snprintf(err, errlen, "%s: rules table larger than 64 MiB", path);
				ret = -EFBIG;
				goto out;
			}
			char *nb = realloc(buf, cap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		ret = -EIO;
		goto out;
	}
	ret = differ_rules_parse(buf ? buf : "", len, path, out, err, errlen);
out:
	free(buf);
	fclose(f);
	return ret;
}

void differ_rules_free(struct differ_rules *r)
{
	if (!r)
		return;
	differ_rules_close_cs(r);
	free(r->rows);
	free(r);
}

size_t differ_rules_count(const struct differ_rules *r)
{
	return r ? r->n : 0;
}

const char *differ_rules_class(const struct differ_rules *r, size_t i)
{
	return r && i < r->n ? r->rows[i].cls : NULL;
}

unsigned differ_rules_line(const struct differ_rules *r, size_t i)
{
	return r && i < r->n ? r->rows[i].line : 0;
}

/* Classification. */

static bool alt_matches(const struct rule_alt *a, const struct differ_class_ctx *c)
{
	const struct differ_divergence *d = c->d;

	if (a->bytes) {
		bool rep;
		unsigned p = differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
		if (p + a->n_op + (a->modrm_reg >= 0) > d->insn_len)
			return false;
		if (memcmp(d->insn + p, a->op, a->n_op) != 0)
			return false;
		return a->modrm_reg < 0 || ((d->insn[p + a->n_op] >> 3) & 7) == a->modrm_reg;
	}
	if (!differ_glob(a->mnem, c->mnemonic))
		return false;
	return !a->operand[0] || differ_glob(a->operand, c->operand1);
}

static bool field_matches(const struct differ_rule *r, const char *name)
{
	for (unsigned i = 0; i < r->n_globs; i++)
		if (differ_glob(r->globs[i], name))
			return true;
	return false;
}

static unsigned post_cpl(const struct differ_divergence *d)
{
	return x86_state_cpl(&d->expected);
}

/* The state went on to the next instruction (or stayed on a REP instruction between iterations). */
static bool sequential(const struct differ_class_ctx *c, const struct x86_state *st)
{
	const struct differ_divergence *d = c->d;
	uint64_t mask = d->mode == X86_MODE_LONG64                                   ? ~0ull
	                : (d->mode == X86_MODE_PROT32 || d->mode == X86_MODE_COMPAT) ? 0xffffffffull
	                                                                             : 0xffffull;
	bool rep;

	if (((st->rip - d->pre.rip - c->len) & mask) == 0)
		return true;
	differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
	return rep && st->rip == d->pre.rip;
}

/* A memory field's address: "mem[0x1234]"; false for other fields. */
static bool mem_addr(const struct differ_field_diff *f, uint64_t *addr)
{
	char *end;
	if (strncmp(f->field, "mem[", 4) != 0)
		return false;
	*addr = strtoull(f->field + 4, &end, 16);
	return *end == ']';
}

/* Every difference is the accessed bit of a descriptor: bit 0 of a segment's type, or of a descriptor
 * byte in memory (a byte written on one side only must have it set). */
static bool only_accessed_bits(const struct differ_diff_list *l)
{
	uint64_t addr;

	if (!l->n)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		const struct differ_field_diff *f = &l->v[i];
		size_t n = strlen(f->field);
		if (n > 5 && strcmp(f->field + n - 5, ".attr") == 0) {
			if (f->missing || (f->expected ^ f->actual) != 1)
				return false;
			continue;
		}
		if (!mem_addr(f, &addr) || f->width != 1)
			return false;
		if (f->missing & DIFFER_MISSING_ACTUAL) {
			if (!(f->expected & 1))
				return false;
		} else if (f->missing & DIFFER_MISSING_EXPECTED) {
			if (!(f->actual & 1))
				return false;
		} else if ((f->expected ^ f->actual) != 1) {
			return false;
		}
	}
	return true;
}

/* Every differing memory byte lies in the access of one of the step's recorded MMIO exits. */
static bool mem_in_exit(const struct differ_diff_list *l, const struct differ_input *in)
{
	const struct trace_exit *xv;
	uint32_t nx = differ_exits(in, &xv);
	uint64_t addr;
	bool any = false;

	for (size_t i = 0; i < l->n; i++) {
		if (!mem_addr(&l->v[i], &addr))
			continue;
		bool inside = false;
		for (uint32_t k = 0; k < nx && !inside; k++)
			inside = xv[k].reason == TRACE_EXIT_MMIO && addr >= xv[k].addr &&
			         addr + l->v[i].width <= xv[k].addr + (xv[k].size ? xv[k].size : 1);
		if (!inside)
			return false;
		any = true;
	}
	return any;
}

/* A paging-structure entry from guest memory before the step. */
static bool read_pre_entry(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry)
{
	const struct differ_input *in = ctx;
	*entry = 0;
	return in->read_pre_mem(in->mem_arg, gpa, entry, width) >= 0;
}

/* `further` is `at` plus one instruction: the side at `at` stopped one instruction earlier. The
 * instruction is read from guest memory before the step, through its page tables when paging is on. */
static bool ran_on(const struct differ_class_ctx *c, const struct x86_state *at,
                   const struct x86_state *further)
{
	const struct differ_divergence *d = c->d;
	struct differ_decoded dec;
	uint8_t buf[15];

	if (!c->in->read_pre_mem || at->rip == d->pre.rip ||
	    at->seg[X86_CS].selector != further->seg[X86_CS].selector || further->rip <= at->rip)
		return false;
	uint64_t lin = at->seg[X86_CS].base + at->rip;
	if (x86_state_mode(at) != X86_MODE_LONG64)
		lin &= 0xffffffffu;
	for (unsigned got = 0; got < sizeof(buf);) {
		uint64_t gpa, l = lin + got;
		unsigned chunk = 4096 - (unsigned)(l & 4095);
		if (chunk > sizeof(buf) - got)
			chunk = sizeof(buf) - got;
		if (!x86_page_walk(at, l, read_pre_entry, (void *)c->in, &gpa) ||
		    c->in->read_pre_mem(c->in->mem_arg, gpa, buf + got, chunk) < 0)
			return false;
		got += chunk;
	}
	differ_disasm(c->rules, x86_state_mode(at), at->rip, buf, sizeof(buf), &dec);
	return dec.size && further->rip == at->rip + dec.size;
}

/* The side's CS:RIP is the entry of an exception handler (vectors 0-31) in the interrupt table of the
 * state before the step, and its stack went down: it delivered an exception there. Needs read_pre_mem. */
static bool at_exception_handler(const struct differ_class_ctx *c, const struct x86_state *post)
{
	const struct x86_state *pre = &c->d->pre;
	enum x86_mode mode = c->d->mode;
	bool real = mode == X86_MODE_REAL;
	bool long_mode = mode == X86_MODE_LONG64 || mode == X86_MODE_COMPAT;
	unsigned size = real ? 4 : long_mode ? 16 : 8;
	uint64_t sp_mask = (pre->seg[X86_SS].attr & X86_SEG_DB) || long_mode ? ~0ull : 0xffffull;

	if (!c->in->read_pre_mem || ((post->gpr[X86_RSP] & sp_mask) >= (pre->gpr[X86_RSP] & sp_mask) &&
	                             post->seg[X86_SS].selector == pre->seg[X86_SS].selector))
		return false;
	for (unsigned v = 0; v < 32 && (v + 1) * size - 1 <= pre->idtr.limit; v++) {
		uint8_t g[16];
		uint64_t gpa, lin = pre->idtr.base + (uint64_t)v * size;
		if (!(real ? (gpa = lin, true)
		           : x86_page_walk(pre, lin, read_pre_entry, (void *)c->in, &gpa)) ||
		    c->in->read_pre_mem(c->in->mem_arg, gpa, g, size) < 0)
			return false;
		uint16_t sel = (uint16_t)(g[2] | g[3] << 8);
		uint64_t off = (uint64_t)(g[0] | g[1] << 8);
		if (real) {
			if (post->seg[X86_CS].selector == sel && post->rip == off)
				return true;
			continue;
		}
		unsigned type = g[5] & 0x1f;
		if (type != 0x0e && type != 0x0f && type != 0x06 && type != 0x07)
			continue; /* not present, a task gate, or no gate */
		if (!(g[5] & 0x80))
			continue;
		if (type & 0x08)
			off |= (uint64_t)(g[6] | g[7] << 8) << 16;
		if (long_mode)
			off |= (uint64_t)(g[8] | g[9] << 8 | g[10] << 16 | (uint32_t)g[11] << 24) << 32;
		if ((post->seg[X86_CS].selector & ~3u) == (sel & ~3u) && post->rip == off)
			return true;
	}
	return false;
}

static bool cond_holds(const struct rule_cond *k, const struct differ_class_ctx *c,
                       const struct differ_field_diff *matched)
{
	const struct differ_divergence *d = c->d;
	bool v = false, rep;

	switch (k->kind) {
	case COND_UNSUPPORTED:
		v = d->outcome == BACKEND_UNSUPPORTED;
		break;
	case COND_CRASH:
		v = d->outcome == BACKEND_CRASH;
		break;
	case COND_FAILED:
		v = d->outcome == BACKEND_FAILED;
		break;
	case COND_REASON: {
		size_t n = strlen(k->word);
		v = strncmp(c->reason, k->word, n) == 0 && c->reason[n] == ':';
		break;
	}
	case COND_OUTER:
		v = post_cpl(d) > d->cpl;
		break;
	case COND_SAME:
		v = post_cpl(d) == d->cpl;
		break;
	case COND_INNER:
		v = post_cpl(d) < d->cpl;
		break;
	case COND_NT:
		v = (d->pre.rflags & X86_RFLAGS_NT) != 0;
		break;
	case COND_TO_V86:
		v = (d->expected.rflags & X86_RFLAGS_VM) && !(d->pre.rflags & X86_RFLAGS_VM);
		break;
	case COND_REP:
		differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
		v = rep;
		break;
	case COND_PRE_SHADOW_MOV_SS:
		v = (d->pre.events.shadow & X86_SHADOW_MOV_SS) != 0;
		break;
	case COND_PRE_SHADOW_STI:
		v = (d->pre.events.shadow & X86_SHADOW_STI) != 0;
		break;
	case COND_EXP0:
		v = matched && !matched->missing && matched->expected == 0 && matched->actual != 0;
		break;
	case COND_NEXT_RIP:
		v = sequential(c, &d->expected) && d->actual.rip != d->expected.rip;
		break;
	case COND_AD_BITS:
		v = (d->pre.cr0 & X86_CR0_PG) && c->diffs->mem_ad_only;
		break;
	case COND_PAGING:
		v = (d->pre.cr0 & X86_CR0_PG) != 0;
		break;
	case COND_CPL0:
		v = d->cpl == 0;
		break;
	case COND_CPL3:
		v = d->cpl == 3;
		break;
	case COND_FAULT_EXP:
		v = !c->branch && !sequential(c, &d->expected) && sequential(c, &d->actual);
		break;
	case COND_FAULT_ACT:
		v = !c->branch && sequential(c, &d->expected) && !sequential(c, &d->actual);
		break;
	case COND_FAULT_BOTH:
		v = !c->branch && !sequential(c, &d->expected) && !sequential(c, &d->actual) &&
		    d->expected.rip != d->actual.rip;
		break;
	case COND_HANDLER_EXP:
		v = at_exception_handler(c, &d->expected) && !at_exception_handler(c, &d->actual);
		break;
	case COND_HANDLER_ACT:
		v = at_exception_handler(c, &d->actual) && !at_exception_handler(c, &d->expected);
		break;
	case COND_ACCESSED:
		v = only_accessed_bits(c->diffs);
		break;
	case COND_EXP_STAYED:
		differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
		v = !rep && d->expected.rip == d->pre.rip;
		break;
	case COND_EXIT:
		v = c->in->expected_exit != NULL || c->in->n_expected_exits;
		break;
	case COND_EXP_RAN_ON:
		v = ran_on(c, &d->actual, &d->expected);
		break;
	case COND_ACT_RAN_ON:
		v = ran_on(c, &d->expected, &d->actual);
		break;
	case COND_EXIT_ADDR:
		v = mem_in_exit(c->diffs, c->in);
		break;
	case COND_FLAGS:
		v = c->diffs->rflags_diff && !(c->diffs->rflags_diff & ~k->flags);
		break;
	}
	return v != k->negate;
}

static void put_value(char *buf, size_t len, const struct differ_field_diff *f, bool expected)
{
	if (!f)
		snprintf(buf, len, "?");
	else if (f->missing & (expected ? DIFFER_MISSING_EXPECTED : DIFFER_MISSING_ACTUAL))
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%#" PRIx64, expected ? f->expected : f->actual);
}

static void expand_detail(const char *tmpl, const struct differ_class_ctx *c,
                          const struct differ_field_diff *m, char *out, size_t outlen)
{
	const struct differ_divergence *d = c->d;
	size_t used = 0;

	out[0] = '\0';
	for (const char *p = tmpl; *p && used + 1 < outlen;) {
		char val[160];
		const char *e;

		if (*p != '{' || !(e = strchr(p, '}'))) {
			out[used++] = *p++;
			out[used] = '\0';
			continue;
		}
		size_t n = (size_t)(e - p - 1);
		const char *name = p + 1;
#define IS(s) (n == strlen(s) && strncmp(name, s, n) == 0)
		val[0] = '\0';
		if (IS("insn")) {
			snprintf(val, sizeof(val), "%s", d->disasm);
		} else if (IS("mnemonic")) {
			snprintf(val, sizeof(val), "%s", c->mnemonic[0] ? c->mnemonic : "(bad)");
		} else if (IS("field")) {
			snprintf(val, sizeof(val), "%s", m ? m->field : "?");
		} else if (IS("REG")) {
			size_t i;
			const char *src = m ? m->field : "?";
			for (i = 0; src[i] && src[i] != '.' && i + 1 < sizeof(val); i++)
				val[i] = (char)toupper((unsigned char)src[i]);
			val[i] = '\0';
		} else if (IS("exp")) {
			put_value(val, sizeof(val), m, true);
		} else if (IS("act")) {
			put_value(val, sizeof(val), m, false);
		} else if (IS("fields")) {
			size_t u = 0;
			for (size_t i = 0; i < c->diffs->n && u + 1 < sizeof(val); i++) {
				int k = snprintf(val + u, sizeof(val) - u, "%s%s", i ? "," : "",
				                 c->diffs->v[i].field);
				if (k < 0 || (size_t)k >= sizeof(val) - u ||
				    (i == 5 && i + 1 < c->diffs->n)) {
					snprintf(val + u, sizeof(val) - u, ",... (%zu fields)", c->diffs->n);
					break;
				}
				u += (size_t)k;
			}
			if (!c->diffs->n)
				snprintf(val, sizeof(val), "nothing");
		} else if (IS("flags")) {
			differ_flag_names(c->diffs->rflags_diff, val, sizeof(val));
		} else if (IS("reason")) {
			snprintf(val, sizeof(val), "%s", c->reason[0] ? c->reason : "no reason given");
		} else if (IS("len")) {
			snprintf(val, sizeof(val), "%u", d->insn_len);
		} else if (IS("adv")) {
			snprintf(val, sizeof(val), "%" PRId64, (int64_t)(d->actual.rip - d->pre.rip));
		} else if (IS("cpl")) {
			snprintf(val, sizeof(val), "%u", d->cpl);
		} else if (IS("newcpl")) {
			snprintf(val, sizeof(val), "%u", post_cpl(d));
		} else if (IS("mode")) {
			snprintf(val, sizeof(val), "%s", x86_mode_name(d->mode));
		} else if (IS("exp_rip")) {
			snprintf(val, sizeof(val), "%#" PRIx64, d->expected.rip);
		} else if (IS("act_rip")) {
			snprintf(val, sizeof(val), "%#" PRIx64, d->actual.rip);
		} else if (IS("eax")) {
			snprintf(val, sizeof(val), "%#" PRIx32, (uint32_t)d->pre.gpr[X86_RAX]);
		} else if (IS("ecx")) {
			snprintf(val, sizeof(val), "%#" PRIx32, (uint32_t)d->pre.gpr[X86_RCX]);
		} else {
			snprintf(val, sizeof(val), "{%.*s}", (int)(n > 40 ? 40 : n), name);
		}
#undef IS
		int k = snprintf(out + used, outlen - used, "%s", val);
		used += k < 0 ? 0 : ((size_t)k >= outlen - used ? outlen - used - 1 : (size_t)k);
		p = e + 1;
	}
}

static bool rule_matches(const struct differ_rule *r, const struct differ_class_ctx *c,
                         const struct differ_field_diff **matched)
{
	const struct differ_diff_list *l = c->diffs;

	*matched = NULL;
	if (!(r->modes & (1u << c->d->mode)))
		return false;
	if (!r->any_insn) {
		unsigned i;
		for (i = 0; i < r->n_alts; i++)
			if (alt_matches(&r->alts[i], c))
				break;
		if (i == r->n_alts)
			return false;
	}
	if (r->any_field) {
		*matched = l->n ? &l->v[0] : NULL;
	} else {
		for (size_t i = 0; i < l->n; i++) {
			if (field_matches(r, l->v[i].field)) {
				if (!*matched)
					*matched = &l->v[i];
			} else if (r->only) {
				return false;
			}
		}
		if (!*matched)
			return false;
	}
	for (unsigned i = 0; i < r->n_conds; i++)
		if (!cond_holds(&r->conds[i], c, *matched))
			return false;
	return true;
}

/* A row that names the reason's kind (reason=io) shows the reason without that "io: " prefix. */
static const char *reason_after_word(const struct differ_rule *r, const char *reason)
{
	for (unsigned i = 0; reason && i < r->n_conds; i++) {
		const struct rule_cond *k = &r->conds[i];
		if (k->kind != COND_REASON || k->negate)
			continue;
		size_t n = strlen(k->word);
		if (strncmp(reason, k->word, n) == 0 && reason[n] == ':')
			return reason + n + 1 + (reason[n + 1] == ' ');
	}
	return reason;
}

void differ_classify(const struct differ_rules *rules, const struct differ_class_ctx *ctx,
                     struct differ_divergence *d)
{
	const struct differ_field_diff *m;

	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct differ_rule *r = &rules->rows[i];
		if (!rule_matches(r, ctx, &m))
			continue;
		snprintf(d->cls, sizeof(d->cls), "%s", r->cls);
		struct differ_class_ctx named = *ctx;
		named.reason = reason_after_word(r, ctx->reason);
		expand_detail(r->detail, &named, m, d->detail, sizeof(d->detail));
		return;
	}
	snprintf(d->cls, sizeof(d->cls), "unclassified");
	expand_detail(d->outcome == BACKEND_STEPPED ? "{fields} differ after {insn} ({mode}, CPL {cpl})"
	                                            : "{reason}",
	              ctx, ctx->diffs->n ? &ctx->diffs->v[0] : NULL, d->detail, sizeof(d->detail));
}
