/* The known-divergence list (--known FILE): TSV lines
 * backend<TAB>class<TAB>steps<TAB>comment, and scope lines "[guest=G reference=R replay=M]"
 * restricting the entries below them to some traces; see differ/README.md. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define KNOWN_MAX_RANGES 32

/* A scope line: globs on the trace's guest image, its reference kind and the replay mode ("" = any). */
struct known_scope {
	char guest[64];
	char reference[32];
	char replay[16];
};

struct known_entry {
	unsigned line;
	char backend[16];
	char cls[40];
	bool any_step;
	uint64_t step; /* the first step of the first range */
	uint32_t n_ranges;
	uint64_t lo[KNOWN_MAX_RANGES], hi[KNOWN_MAX_RANGES]; /* inclusive step ranges */
	char step_text[192];
	struct known_scope scope;
	bool scoped;
	char comment[160];
	uint64_t hits;
};

struct differ_known {
	char source[256];
	size_t n, cap;
	struct known_entry *v;
	bool run_set;
	char guest[64], reference[32], replay[16];
};

static int known_error(char *err, size_t errlen, const char *path, unsigned line, const char *msg,
                       const char *what)
{
	snprintf(err, errlen, "%s:%u: %s%s%.40s%s", path, line, msg, what ? " '" : "", what ? what : "",
	         what ? "'" : "");
	return -EINVAL;
}

static bool valid_name(const char *s, bool glob)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-' && !(glob && (*s == '*' || *s == '?')))
			return false;
	return true;
}

static int parse_line(char *line, unsigned lineno, const char *path, struct known_entry *e, char *err,
                      size_t errlen)
{
	char *col[4] = {0};
	int n = 0;

	for (char *p = line;;) {
		if (n == 4)
			break;
		col[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	if (n < 3)
		return known_error(err, errlen, path, lineno,
		                   "expected backend<TAB>class<TAB>step-or-*<TAB>comment", NULL);
	memset(e, 0, sizeof(*e));
	e->line = lineno;
	if (!valid_name(col[0], true) || strlen(col[0]) >= sizeof(e->backend))
		return known_error(err, errlen, path, lineno, "bad backend name", col[0]);
	if (!valid_name(col[1], true) || strlen(col[1]) >= sizeof(e->cls))
		return known_error(err, errlen, path, lineno, "bad class", col[1]);
	snprintf(e->backend, sizeof(e->backend), "%s", col[0]);
	snprintf(e->cls, sizeof(e->cls), "%s", col[1]);
	if (strlen(col[2]) >= sizeof(e->step_text))
		return known_error(err, errlen, path, lineno, "step list too long", col[2]);
	snprintf(e->step_text, sizeof(e->step_text), "%s", col[2]);
	if (strcmp(col[2], "*") == 0) {
		e->any_step = true;
	} else {
		/* N, N-M (inclusive), or a comma list of those */
		const char *p = col[2];
		for (;;) {
			char *end;
			uint64_t lo, hi;
			errno = 0;
			if (!isdigit((unsigned char)*p))
				goto bad_step;
			lo = hi = strtoull(p, &end, 10);
			if (errno)
				goto bad_step;
			if (*end == '-') {
				if (!isdigit((unsigned char)end[1]))
					goto bad_step;
				hi = strtoull(end + 1, &end, 10);
				if (errno || hi < lo)
					goto bad_step;
			}
			if (e->n_ranges == KNOWN_MAX_RANGES)
				return known_error(err, errlen, path, lineno, "more than 32 step ranges in",
				                   col[2]);
			e->lo[e->n_ranges] = lo;
			e->hi[e->n_ranges] = hi;
			e->n_ranges++;
			if (!*end)
				break;
			if (*end != ',')
				goto bad_step;
			p = end + 1;
		}
		e->step = e->lo[0];
	}
	if (n == 4)
		snprintf(e->comment, sizeof(e->comment), "%s", col[3]);
	return 0;
bad_step:
	return known_error(err, errlen, path, lineno, "steps must be *, N, N-M or a comma list of those, not",
	                   col[2]);
}

static bool valid_glob(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-*?/+", *s))
			return false;
	return true;
}

/* "[guest=G reference=R replay=M]": each key at most once, values are globs; "[]" or "[*]" is every trace. */
static int parse_scope(char *line, unsigned lineno, const char *path, struct known_scope *sc, bool *scoped,
                       char *err, size_t errlen)
{
	char *end = strrchr(line, ']');
	memset(sc, 0, sizeof(*sc));
	*scoped = false;
	if (!end || end[strspn(end + 1, " \t") + 1])
		return known_error(err, errlen, path, lineno, "a scope line must end with ']'", NULL);
	*end = '\0';
	for (char *tok = strtok(line + 1, " \t"); tok; tok = strtok(NULL, " \t")) {
		char *eq = strchr(tok, '=');
		char *dst;
		size_t cap;
		if (!strcmp(tok, "*"))
			continue;
		if (!eq)
			return known_error(err, errlen, path, lineno, "expected key=glob in the scope, not",
			                   tok);
		*eq = '\0';
		if (!strcmp(tok, "guest"))
			dst = sc->guest, cap = sizeof(sc->guest);
		else if (!strcmp(tok, "reference"))
			dst = sc->reference, cap = sizeof(sc->reference);
		else if (!strcmp(tok, "replay"))
			dst = sc->replay, cap = sizeof(sc->replay);
		else
			return known_error(err, errlen, path, lineno,
			                   "unknown scope key (guest, reference, replay):", tok);
		if (dst[0])
			return known_error(err, errlen, path, lineno, "scope key given twice:", tok);
		if (!eq[1] || strlen(eq + 1) >= cap || !valid_glob(eq + 1))
			return known_error(err, errlen, path, lineno, "bad scope value", eq + 1);
		snprintf(dst, cap, "%s", eq + 1);
		*scoped = true;
	}
	return 0;
}

int differ_known_load(const char *path, struct differ_known **out, char *err, size_t errlen)
{
	struct differ_known *k = NULL;
	FILE *f;
	char line[1024];
	unsigned lineno = 0;
	int ret = 0;

	*out = NULL;
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open the known-divergence list: %s", path, strerror(errno));
		return ret;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		ret = -ENOMEM;
		goto out;
	}
	snprintf(k->source, sizeof(k->source), "%s", path);
	struct known_scope scope;
	memset(&scope, 0, sizeof(scope));
	bool scoped = false;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		lineno++;
		if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
			ret =
			    known_error(err, errlen, path, lineno, "line longer than 1022 characters", NULL);
			goto out;
		}
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		if (*p == '[') {
			ret = parse_scope((char *)p, lineno, path, &scope, &scoped, err, errlen);
			if (ret < 0)
				goto out;
			continue;
		}
		if (k->n == k->cap) {
			size_t ncap = k->cap ? k->cap * 2 : 32;
			struct known_entry *v = realloc(k->v, ncap * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				goto out;
			}
			k->v = v;
			k->cap = ncap;
		}
		ret = parse_line(line, lineno, path, &k->v[k->n], err, errlen);
		if (ret < 0)
			goto out;
		k->v[k->n].scope = scope;
		k->v[k->n].scoped = scoped;
		k->n++;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		ret = -EIO;
		goto out;
	}
	*out = k;
	k = NULL;
out:
	differ_known_free(k);
	fclose(f);
	return ret;
}

void differ_known_set_run(struct differ_known *k, const char *guest, const char *reference,
                          const char *replay)
{
	if (!k)
		return;
	k->run_set = true;
	snprintf(k->guest, sizeof(k->guest), "%s", guest ? guest : "");
	snprintf(k->reference, sizeof(k->reference), "%s", reference ? reference : "");
	snprintf(k->replay, sizeof(k->replay), "%s", replay ? replay : "");
}

static bool scope_field(const char *pat, const char *value)
{
	return !pat[0] || differ_glob(pat, value);
}

bool differ_known_active(const struct differ_known *k, size_t i)
{
	if (!k || i >= k->n)
		return false;
	const struct known_entry *e = &k->v[i];
	if (!e->scoped)
		return true;
	return k->run_set && scope_field(e->scope.guest, k->guest) &&
	       scope_field(e->scope.reference, k->reference) && scope_field(e->scope.replay, k->replay);
}

static bool step_in(const struct known_entry *e, uint64_t step)
{
	if (e->any_step)
		return true;
	for (uint32_t i = 0; i < e->n_ranges; i++)
		if (step >= e->lo[i] && step <= e->hi[i])
			return true;
	return false;
}

bool differ_known_match(struct differ_known *k, const struct differ_divergence *d)
{
	bool hit = false;

	for (size_t i = 0; k && i < k->n; i++) {
		struct known_entry *e = &k->v[i];
		if (!differ_glob(e->backend, d->backend) || !differ_glob(e->cls, d->cls))
			continue;
		if (!step_in(e, d->step) || !differ_known_active(k, i))
			continue;
		e->hits++;
		hit = true;
	}
	return hit;
}

const char *differ_known_steps(const struct differ_known *k, size_t i)
{
	return k && i < k->n ? k->v[i].step_text : "";
}

void differ_known_free(struct differ_known *k)
{
	if (!k)
		return;
	free(k->v);
	free(k);
}

size_t differ_known_count(const struct differ_known *k)
{
	return k ? k->n : 0;
}

uint64_t differ_known_hits(const struct differ_known *k, size_t i)
{
	return k && i < k->n ? k->v[i].hits : 0;
}

int differ_known_entry(const struct differ_known *k, size_t i, unsigned *line, const char **backend,
                       const char **cls, bool *any_step, uint64_t *step, const char **comment,
                       const char **source)
{
	if (!k || i >= k->n)
		return -ENOENT;
	const struct known_entry *e = &k->v[i];
	*line = e->line;
	*backend = e->backend;
	*cls = e->cls;
	*any_step = e->any_step;
	*step = e->step;
	*comment = e->comment;
	*source = k->source;
	return 0;
}

int differ_known_check(const struct differ_known *k, const struct differ_rules *rules, char *err,
                       size_t errlen)
{
	static const char *const backends[] = {"emu", "unicorn", "kvm"};
	for (size_t i = 0; k && i < k->n; i++) {
		const struct known_entry *e = &k->v[i];
		bool found = strpbrk(e->backend, "*?[") != NULL;
		for (size_t b = 0; !found && b < sizeof(backends) / sizeof(backends[0]); b++)
			found = !strcmp(e->backend, backends[b]);
		if (!found)
			return known_error(err, errlen, k->source, e->line,
			                   "no such backend (emu, unicorn or kvm)", e->backend);
		found = !strcmp(e->cls, "unclassified") || strpbrk(e->cls, "*?[") != NULL;
		for (size_t c = 0; !found && c < differ_rules_count(rules); c++)
			found = !strcmp(e->cls, differ_rules_class(rules, c));
		if (!found)
			return known_error(err, errlen, k->source, e->line,
			                   "no such divergence class (differ/classes.tsv lists them)",
			                   e->cls);
	}
	return 0;
}
