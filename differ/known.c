/* The known-divergence list (--known FILE): TSV lines
 * backend<TAB>class<TAB>step-or-*<TAB>comment; see differ/README.md. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct known_entry {
	unsigned line;
	char backend[16];
	char cls[40];
	bool any_step;
	uint64_t step;
	char comment[160];
	uint64_t hits;
};

struct differ_known {
	char source[256];
	size_t n, cap;
	struct known_entry *v;
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
	if (strcmp(col[2], "*") == 0) {
		e->any_step = true;
	} else {
		char *end;
		errno = 0;
		if (!isdigit((unsigned char)col[2][0]))
			return known_error(err, errlen, path, lineno,
			                   "step must be a decimal number or *, not", col[2]);
		e->step = strtoull(col[2], &end, 10);
		if (errno || *end)
			return known_error(err, errlen, path, lineno,
			                   "step must be a decimal number or *, not", col[2]);
	}
	if (n == 4)
		snprintf(e->comment, sizeof(e->comment), "%s", col[3]);
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

bool differ_known_match(struct differ_known *k, const struct differ_divergence *d)
{
	bool hit = false;

	for (size_t i = 0; k && i < k->n; i++) {
		struct known_entry *e = &k->v[i];
		if (!differ_glob(e->backend, d->backend) || !differ_glob(e->cls, d->cls))
			continue;
		if (!e->any_step && e->step != d->step)
			continue;
		e->hits++;
		hit = true;
	}
	return hit;
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
