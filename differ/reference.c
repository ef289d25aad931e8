/* The reference rules (differ/reference.tsv): where a reference's recorded step ran more than one
 * instruction, as data the replayer acts on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "reference_tsv.h"

struct ref_row {
	char reference[32];
	char cls[40];
	struct differ_ref_rule rule;
};

struct differ_reference {
	size_t n;
	struct ref_row *v;
};

static int ref_error(char *err, size_t errlen, const char *source, unsigned line, const char *msg)
{
	snprintf(err, errlen, "%s:%u: %s", source, line, msg);
	return -EINVAL;
}

/* Splits line at tabs into at most n columns; returns how many. */
static size_t split_tabs(char *line, char **col, size_t n)
{
	size_t k = 0;
	while (k < n) {
		col[k++] = line;
		char *tab = strchr(line, '\t');
		if (!tab)
			break;
		*tab = '\0';
		line = tab + 1;
	}
	return k;
}

static int parse_row(char *line, struct ref_row *row, const char *source, unsigned ln, char *err,
                     size_t errlen)
{
	char *col[5];
	if (split_tabs(line, col, 5) != 5)
		return ref_error(err, errlen, source, ln, "expected 5 tab-separated columns");
	if (strlen(col[0]) >= sizeof(row->reference) || strlen(col[1]) >= sizeof(row->cls) || !*col[0] ||
	    !*col[1])
		return ref_error(err, errlen, source, ln, "empty or overlong reference or class");
	memset(row, 0, sizeof(*row));
	strcpy(row->reference, col[0]);
	strcpy(row->cls, col[1]);
	struct differ_ref_rule *r = &row->rule;
	r->line = ln;
	snprintf(r->detail, sizeof(r->detail), "%s", col[4]);
	if (strcmp(col[2], "iterate") && strcmp(col[2], "next"))
		return ref_error(err, errlen, source, ln, "the action must be iterate or next");
	char *end;
	unsigned long limit = strtoul(col[3], &end, 10);
	if (end == col[3] || *end || limit == 0 || limit > (1ul << 24))
		return ref_error(err, errlen, source, ln, "the limit must be a count from 1 to 16777216");
	r->action = col[2][0] == 'i' ? DIFFER_REF_ITERATE : DIFFER_REF_NEXT;
	r->limit = (unsigned)limit;
	return 0;
}

int differ_reference_parse(const char *text, size_t len, const char *source, struct differ_reference **out,
                           char *err, size_t errlen)
{
	struct differ_reference *t = calloc(1, sizeof(*t));
	char *copy = malloc(len + 1);
	int ret = 0;
	unsigned ln = 0;
	if (!t || !copy) {
		free(t);
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (char *line = copy, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		ln++;
		if (!*line || *line == '#')
			continue;
		struct ref_row *v = realloc(t->v, (t->n + 1) * sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			break;
		}
		t->v = v;
		ret = parse_row(line, &t->v[t->n], source, ln, err, errlen);
		if (ret < 0)
			break;
		t->n++;
	}
	free(copy);
	if (ret < 0) {
		differ_reference_free(t);
		return ret;
	}
	*out = t;
	return 0;
}

int differ_reference_default(struct differ_reference **out)
{
	char err[256];
	int ret = differ_reference_parse(differ_reference_tsv, sizeof(differ_reference_tsv) - 1,
	                                 "differ/reference.tsv (built in)", out, err, sizeof(err));
	if (ret == -EINVAL)
		fprintf(stderr, "emudiff: %s\n", err);
	return ret;
}

void differ_reference_free(struct differ_reference *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

size_t differ_reference_count(const struct differ_reference *t)
{
	return t->n;
}

const char *differ_reference_class(const struct differ_reference *t, size_t i)
{
	return t->v[i].cls;
}

const struct differ_ref_rule *differ_reference_find(const struct differ_reference *t, const char *reference,
                                                    const char *cls)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (differ_glob(t->v[i].reference, reference) && !strcmp(t->v[i].cls, cls))
			return &t->v[i].rule;
	return NULL;
}
