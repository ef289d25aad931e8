/* The recorder's demand fallback: KVM's emulator on PVM hosts cannot run a protected-mode IRET,
 * INT n, DAA, BOUND, x87 and more; with --fallback emu, emu runs them and the guests pmiret,
 * pmint and kvmgaps end as on silicon (or, under another reference, as corpus/manifest.tsv says). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../corpus/tests/manifest.h"
#include "../../recorder/tests/engine.h"

static const char *bin, *corpus, *reference;
static struct corpus_manifest manifest;

static void record(const char *guest)
{
	char cmd[1024], line[512], db[128], want[64] = "";
	bool ok = false;
	for (size_t i = 0; i < manifest.n; i++)
		if (!strcmp(manifest.guests[i].name, guest))
			snprintf(want, sizeof(want), "%s",
			         corpus_expected_end(&manifest.guests[i], reference, true));
	unsigned status;
	if (sscanf(want, "exit:%u", &status) != 1)
		fail_msg("%s: corpus/manifest.tsv gives no exit status under %s (%s)", guest, reference,
		         want);
	snprintf(want, sizeof(want), "guest exited with status %u\n", status);
	snprintf(db, sizeof(db), "/tmp/emudiff-sys-fallback-%d-%s.db", (int)getpid(), guest);
	snprintf(cmd, sizeof(cmd), "%s record --fallback emu --force -o %s %s/%s.bin 2>&1", bin, db, corpus,
	         guest);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		print_message("%s", line);
		if (strstr(line, want))
			ok = true;
	}
	pclose(p);
	unlink(db);
	snprintf(cmd, sizeof(cmd), "%s-wal", db);
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "%s-shm", db);
	unlink(cmd);
	if (!ok)
		fail_msg("%s: the recording did not end with '%.*s' (%s)", guest, (int)strlen(want) - 1, want,
		         reference);
}

static void test_pmiret(void **state)
{
	(void)state;
	record("pmiret");
}

static void test_pmint(void **state)
{
	(void)state;
	record("pmint");
}

static void test_kvmgaps(void **state)
{
	(void)state;
	record("kvmgaps");
}

int main(void)
{
	int fd = open("/dev/kvm", O_RDWR);
	bin = getenv("EMUDIFF_BIN");
	corpus = getenv("EMUDIFF_CORPUS");
	if (fd < 0) {
		fprintf(stderr, "test_sys_fallback: /dev/kvm cannot be opened: skipped\n");
		return 77;
	}
	close(fd);
	if (!bin || !corpus) {
		fprintf(
		    stderr,
		    "test_sys_fallback: EMUDIFF_BIN and EMUDIFF_CORPUS must be set (run through ctest)\n");
		return 77;
	}
	const char *dir;
	if (corpus_manifest_from_env(&manifest, &dir))
		return 1;
	reference = test_engine_reference(false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pmiret),
	    cmocka_unit_test(test_pmint),
	    cmocka_unit_test(test_kvmgaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
