/* corpus/manifest.tsv reader shared by the corpus tests. */
#include "manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "END [REFERENCE=END...]": the silicon end, then the references that end otherwise. */
static int parse_expected(struct corpus_guest *g, char *text)
{
	static const char *const references[] = {"kvm-emulator", "qemu-tcg", "qemu-kernel", "emu"};
	char *save = NULL, *tok = strtok_r(text, " ", &save);

	if (!tok || strchr(tok, '='))
		return -EINVAL;
	snprintf(g->expected, sizeof(g->expected), "%s", tok);
	g->n_other_ends = 0;
	while ((tok = strtok_r(NULL, " ", &save))) {
		char *eq = strchr(tok, '=');
		bool known = false;
		if (!eq || !eq[1] || g->n_other_ends == sizeof(g->other_ends) / sizeof(g->other_ends[0]))
			return -EINVAL;
		*eq = 0;
		for (size_t i = 0; i < sizeof(references) / sizeof(references[0]); i++)
			known |= !strcmp(tok, references[i]);
		if (!known)
			return -EINVAL;
		snprintf(g->other_ends[g->n_other_ends].reference, sizeof(g->other_ends[0].reference), "%s",
		         tok);
		snprintf(g->other_ends[g->n_other_ends].end, sizeof(g->other_ends[0].end), "%s", eq + 1);
		g->n_other_ends++;
	}
	return 0;
}

const char *corpus_expected_end(const struct corpus_guest *g, const char *reference, bool fallback)
{
	for (unsigned i = 0; i < g->n_other_ends; i++) {
		if (strcmp(g->other_ends[i].reference, reference))
			continue;
		if (fallback && !strcmp(g->other_ends[i].end, "emulation-failure"))
			break;
		return g->other_ends[i].end;
	}
	return g->expected;
}

int corpus_manifest_load(struct corpus_manifest *m, const char *source_dir, char *err, size_t errlen)
{
	char line[1024];
	int lineno = 0;
	FILE *f;

	memset(m, 0, sizeof(*m));
	snprintf(m->path, sizeof(m->path), "%s/corpus/manifest.tsv", source_dir);
	f = fopen(m->path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", m->path, strerror(e));
		return -e;
	}
	while (fgets(line, sizeof(line), f)) {
		char *field[7] = {NULL}, *save = NULL, *p = line;
		struct corpus_guest *g;
		int n;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#' || !strncmp(line, "name\t", 5))
			continue;
		for (n = 0; n < 7 && (field[n] = strtok_r(p, "\t", &save)); n++)
			p = NULL;
		if (n < 6 || m->n == CORPUS_MAX_GUESTS) {
			snprintf(err, errlen, "%s:%d: want 6 or 7 tab-separated fields (at most %d rows)",
			         m->path, lineno, CORPUS_MAX_GUESTS);
			fclose(f);
			return -EINVAL;
		}
		g = &m->guests[m->n++];
		snprintf(g->name, sizeof(g->name), "%s", field[0]);
		snprintf(g->binary, sizeof(g->binary), "%s", field[1]);
		g->load = strtoull(field[2], NULL, 0);
		snprintf(g->start, sizeof(g->start), "%s", field[3]);
		g->line = lineno;
		snprintf(g->options, sizeof(g->options), "%s", field[6] ? field[6] : "");
		if (parse_expected(g, field[4])) {
			snprintf(err, errlen,
			         "%s:%d: expected '%s': want END [REFERENCE=END...], REFERENCE kvm-emulator, "
			         "qemu-tcg, qemu-kernel or emu (at most 4)",
			         m->path, lineno, field[4]);
			fclose(f);
			return -EINVAL;
		}
	}
	fclose(f);
	if (m->n == 0) {
		snprintf(err, errlen, "%s: no guests", m->path);
		return -EINVAL;
	}
	return 0;
}

int corpus_guest_options(const struct corpus_guest *g, const char *corpus_dir, char *buf, size_t len,
                         const char **words, int max)
{
	char text[sizeof(g->options)], *save = NULL;
	size_t used = 0;
	int n = 0;

	snprintf(text, sizeof(text), "%s", g->options);
	for (char *tok = strtok_r(text, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		bool file = n > 0 && !strcmp(words[n - 1], "--module");
		int w =
		    snprintf(buf + used, len - used, "%s%s%s", file ? corpus_dir : "", file ? "/" : "", tok);
		if (n == max || w < 0 || (size_t)w >= len - used)
			return -1;
		words[n++] = buf + used;
		used += (size_t)w + 1;
	}
	return n;
}

int corpus_manifest_from_env(struct corpus_manifest *m, const char **corpus_dir)
{
	const char *src = getenv("EMUDIFF_SOURCE");
	char err[512];

	*corpus_dir = getenv("EMUDIFF_CORPUS");
	if (!src || !*corpus_dir) {
		fprintf(stderr, "EMUDIFF_SOURCE and EMUDIFF_CORPUS must be set (run through ctest)\n");
		return 1;
	}
	if (corpus_manifest_load(m, src, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}
