/* The rules table (differ/classes.tsv): parsing with file:line errors, loading
 * and listing; rules.c classifies a divergence by the first matching row. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    {"rep_unretired", COND_REP_UNRETIRED},
    {"v86_lost", COND_V86_LOST},
    {"last_bit", COND_LAST_BIT},
    {"fsw_c1", COND_FSW_C1},
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
			if (strncmp(t, "reason=", 7) == 0 || strncmp(t, "ref=", 4) == 0) {
				bool ref = t[2] == 'f';
				const char *arg = strchr(t, '=') + 1;
				c->kind = ref ? COND_REFERENCE : COND_REASON;
				if (!*arg || strlen(arg) >= sizeof(c->word))
					return row_error(err, errlen, source, lineno, "bad '%.40s'", t);
				snprintf(c->word, sizeof(c->word), "%s", arg);
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
