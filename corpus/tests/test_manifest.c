/* corpus/manifest.tsv against the sources and the built corpus: well-formed rows, unique names, an
 * expected end the KVM test understands, a built binary for every row and a row for every guest source, flat
 * guests that start with code. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define MAX_ROWS 64

struct row {
	char field[7][1024]; /* the 7th, record options, may be absent (empty) */
	int line;
};

static struct row rows[MAX_ROWS];
static size_t nrows;
static char manifest[4096];
static const char *src_dir, *corpus_dir;

static void load(void **state)
{
	char line[1024];
	int lineno = 0;
	bool header = false;
	FILE *f;

	(void)state;
	f = fopen(manifest, "r");
	if (!f)
		fail_msg("%s: cannot open: %s", manifest, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *tab;
		int n = 0;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		if (line[0] == '#')
			continue;
		if (!header) {
			assert_string_equal(line, "name\tbinary\tload\tstart\texpected\texercises\toptions");
			header = true;
			continue;
		}
		if (!line[0])
			continue;
		if (nrows == MAX_ROWS)
			fail_msg("%s:%d: more than %d rows", manifest, lineno, MAX_ROWS);
		for (; n < 7; n++) {
			tab = strchr(p, '\t');
			if (tab)
				*tab = 0;
			if (!*p)
				fail_msg("%s:%d: field %d is empty", manifest, lineno, n + 1);
			snprintf(rows[nrows].field[n], sizeof(rows[nrows].field[n]), "%s", p);
			if (!tab)
				break;
			p = tab + 1;
		}
		if (n != 5 && n != 6)
			fail_msg("%s:%d: want 6 or 7 tab-separated fields", manifest, lineno);
		rows[nrows++].line = lineno;
	}
	fclose(f);
	assert_true(nrows > 0);
}

/* The load_addr of the guest's multiboot header (address fields, flag 16). */
static unsigned long long multiboot_load_addr(const struct row *r)
{
	unsigned char head[8192];
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, r->field[1]);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s:%d: %s: cannot open: %s (build the corpus target)", manifest, r->line, path,
		         strerror(errno));
	size_t n = fread(head, 1, sizeof(head), f);
	fclose(f);
	for (size_t off = 0; off + 32 <= n; off += 4) {
		uint32_t w[5];
		memcpy(w, head + off, sizeof(w));
		if (w[0] == 0x1badb002u && (uint32_t)(w[0] + w[1] + w[2]) == 0 && (w[1] & 0x10000u))
			return w[4];
	}
	fail_msg("%s:%d: %s has no multiboot header with address fields", manifest, r->line, r->field[1]);
	return 0;
}

/* The record options: --name value pairs the corpus tests pass on; a module a file of the built corpus. */
static void check_options(const struct row *r)
{
	char text[sizeof(r->field[6])], *save = NULL;
	snprintf(text, sizeof(text), "%s", r->field[6]);
	for (char *name = strtok_r(text, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
		char *value = strtok_r(NULL, " ", &save), path[4096];
		struct stat sb;
		if (!value)
			fail_msg("%s:%d: option %s has no value", manifest, r->line, name);
		if (!strcmp(name, "--device") && !strcmp(value, "pc-testdev"))
			continue;
		if (!strcmp(name, "--debug-exit") && !strcmp(value, "qemu"))
			continue;
		if (strcmp(name, "--module"))
			fail_msg(
			    "%s:%d: option %s %s: want --device pc-testdev, --debug-exit qemu or --module "
			    "FILE[,ARGS]",
			    manifest, r->line, name, value);
		snprintf(path, sizeof(path), "%s/%.*s", corpus_dir, (int)strcspn(value, ","), value);
		if (stat(path, &sb))
			fail_msg("%s:%d: --module %s: %s is not built", manifest, r->line, value, path);
	}
}

static void test_rows(void **state)
{
	(void)state;
	assert_true(nrows > 0);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		const char *exp = r->field[4];
		char path[4096], *endp;
		struct stat sb;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(rows[j].field[0], r->field[0]))
				fail_msg("%s:%d: name %s repeats line %d", manifest, r->line, r->field[0],
				         rows[j].line);
		/* Flat guests start in real mode at 0x7c00; multiboot kernels (the PC with its PIC and PIT)
		 * load where their header says. */
		bool mb = !strcmp(r->field[3], "multiboot");
		if (!mb && strcmp(r->field[3], "real"))
			fail_msg("%s:%d: start mode %s, guests start in real or multiboot", manifest, r->line,
			         r->field[3]);
		unsigned long long want_load = mb ? multiboot_load_addr(r) : 0x7c00u;
		if (strtoull(r->field[2], &endp, 0) != want_load || *endp)
			fail_msg("%s:%d: load address %s, the guest loads at %#llx", manifest, r->line,
			         r->field[2], want_load);
		check_options(r);
		/* END, then REFERENCE=END for the references that end otherwise. */
		char ends[sizeof(r->field[4])], *save = NULL;
		snprintf(ends, sizeof(ends), "%s", exp);
		for (char *tok = strtok_r(ends, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			char *end = strchr(tok, '=');
			if (end && tok == ends)
				fail_msg(
				    "%s:%d: expected %s starts with a reference: the silicon end comes first",
				    manifest, r->line, exp);
			if (end && (end - tok != 8 || strncmp(tok, "qemu-tcg", 8)) &&
			    (end - tok != 12 || strncmp(tok, "kvm-emulator", 12)) &&
			    (end - tok != 11 || strncmp(tok, "qemu-kernel", 11)) &&
			    (end - tok != 3 || strncmp(tok, "emu", 3)))
				fail_msg("%s:%d: %s: the references are kvm-emulator, qemu-tcg, qemu-kernel "
				         "and emu",
				         manifest, r->line, tok);
			end = end ? end + 1 : tok;
			if (!strncmp(end, "exit:", 5)) {
				strtoul(end + 5, &endp, 10);
				if (endp == end + 5 || *endp)
					fail_msg("%s:%d: expected end %s is not exit:N", manifest, r->line,
					         end);
			} else if (strcmp(end, "shutdown") && strcmp(end, "emulation-failure")) {
				fail_msg("%s:%d: expected end %s: want exit:N, shutdown or emulation-failure",
				         manifest, r->line, end);
			}
		}
		snprintf(path, sizeof(path), "%s/%s", corpus_dir, r->field[1]);
		if (stat(path, &sb) || sb.st_size == 0 || sb.st_size > 0x10000)
			fail_msg("%s:%d: %s missing, empty or over 64 KiB (build the corpus target)",
			         manifest, r->line, path);
	}
}

/* A flat guest runs from its first byte: zeros there (00 00 is add [bx+si],al, what a section alignment pads
 * with) would be executed before the guest's own code. */
static void test_flat_guests_start_with_code(void **state)
{
	(void)state;
	assert_true(nrows > 0);
	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		unsigned char head[2] = {0, 0};
		char path[4096];
		FILE *f;

		if (strcmp(r->field[3], "real"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", corpus_dir, r->field[1]);
		f = fopen(path, "rb");
		if (!f)
			fail_msg("%s:%d: %s: cannot open: %s", manifest, r->line, path, strerror(errno));
		size_t n = fread(head, 1, sizeof(head), f);
		fclose(f);
		if (n == sizeof(head) && !head[0] && !head[1])
			fail_msg("%s:%d: %s starts with zero bytes at its load address %s, not code",
			         manifest, r->line, r->field[1], r->field[2]);
	}
}

/* Each NAME.asm is a guest: some row builds NAME.bin from it. */
static void test_every_source_listed(void **state)
{
	char dir[4096];
	struct dirent *d;
	DIR *dp;
	size_t seen = 0;

	(void)state;
	assert_true(nrows > 0);
	snprintf(dir, sizeof(dir), "%s/corpus", src_dir);
	dp = opendir(dir);
	if (!dp)
		fail_msg("%s: cannot open: %s", dir, strerror(errno));
	while ((d = readdir(dp))) {
		size_t len = strlen(d->d_name);
		char bin[256];
		bool found = false;

		if (len < 5 || strcmp(d->d_name + len - 4, ".asm"))
			continue;
		snprintf(bin, sizeof(bin), "%.*s.bin", (int)(len - 4), d->d_name);
		for (size_t i = 0; i < nrows && !found; i++)
			found = !strcmp(rows[i].field[1], bin);
		if (!found) {
			closedir(dp);
			fail_msg("%s/%s has no row building %s in %s", dir, d->d_name, bin, manifest);
		}
		seen++;
	}
	closedir(dp);
	assert_true(seen > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(load),
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_every_source_listed),
	    cmocka_unit_test(test_flat_guests_start_with_code),
	};

	src_dir = getenv("EMUDIFF_SOURCE");
	corpus_dir = getenv("EMUDIFF_CORPUS");
	if (!src_dir || !corpus_dir) {
		fprintf(stderr, "EMUDIFF_SOURCE and EMUDIFF_CORPUS must be set (run through ctest)\n");
		return 1;
	}
	snprintf(manifest, sizeof(manifest), "%s/corpus/manifest.tsv", src_dir);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
