/* Records every guest of corpus/manifest.tsv with --engine emu (emu alone on 16 MiB of RAM and the
 * standard device bus, the PC machine for multiboot kernels; no KVM): each must run to its end without an
 * instruction emu lacks, and end as silicon would. The guests check themselves (EXPECT writes a failure
 * status to the debug-exit port), so a wrong result, flag, fault or frame in emu shows as an exit status
 * other than 0 and its console. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../recorder/recorder.h"
#include "../../schema/trace.h"
#include "manifest.h"

#define GUEST_RAM  (16u << 20)
#define STEP_LIMIT 50000000ull

static const char *corpus_dir;
static struct corpus_manifest manifest;
static char tmpdir[] = "/tmp/emudiff-corpus-emu-XXXXXX";

static void test_guest(void **state)
{
	const struct corpus_guest *g = *state;
	char image[4096], trace_path[512], end[64] = "", err[512] = "", console[4096] = "";
	const char *want = corpus_expected_end(g, "emu", false);
	struct rec_summary sum;
	struct trace *t;

	snprintf(image, sizeof(image), "%s/%s", corpus_dir, g->binary);
	snprintf(trace_path, sizeof(trace_path), "%s/%s.db", tmpdir, g->name);
	struct rec_options opt = {
	    .output = trace_path,
	    .force = true,
	    .engine = REC_ENGINE_EMU,
	    .mode = REC_MODE_STEP,
	    .max_steps = STEP_LIMIT,
	    .mem_bytes = GUEST_RAM,
	    .load_addr = g->load,
	    .guest_path = image,
	    /* A multiboot kernel runs on the PC machine (PIC, PIT) that its manifest row names. */
	    .multiboot_path = strcmp(g->start, "multiboot") ? NULL : image,
	    .kernel_cmdline = g->name,
	    .command_line = "corpus_emu",
	};
	/* The manifest's record options, as emudiff record takes them. */
	char optbuf[2048];
	const char *words[16], *modules[8];
	int n_words = corpus_guest_options(g, corpus_dir, optbuf, sizeof(optbuf), words, 16);
	if (n_words < 0 || n_words % 2)
		fail_msg("%s:%d: options '%s': want --name value pairs", manifest.path, g->line, g->options);
	for (int i = 0; i < n_words; i += 2) {
		if (!strcmp(words[i], "--device") && !strcmp(words[i + 1], "pc-testdev"))
			opt.pc_testdev = true;
		else if (!strcmp(words[i], "--debug-exit") && !strcmp(words[i + 1], "qemu"))
			opt.debug_exit_qemu = true;
		else if (!strcmp(words[i], "--module") && opt.n_modules < 8)
			modules[opt.n_modules++] = words[i + 1];
		else
			fail_msg(
			    "%s:%d: option %s %s: this test knows --device pc-testdev, --debug-exit qemu "
			    "and --module (8 at most)",
			    manifest.path, g->line, words[i], words[i + 1]);
	}
	opt.modules = modules;
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (rc)
		fail_msg("%s: %s (build the corpus target)", g->name, err);
	switch (sum.end) {
	case REC_END_GUEST_EXIT:
		snprintf(end, sizeof(end), "exit:%d", sum.guest_status);
		break;
	case REC_END_SHUTDOWN:
		snprintf(end, sizeof(end), "shutdown");
		break;
	case REC_END_EMULATION_FAILURE:
		fail_msg("%s: %s", g->name, sum.end_detail);
		break;
	default:
		fail_msg("%s: ended %s after %llu instructions: %s", g->name, rec_end_name(sum.end),
		         (unsigned long long)sum.steps, sum.end_detail);
	}
	assert_int_equal(trace_open(&t, trace_path), 0);
	trace_meta_get(t, "console", console, sizeof(console));
	trace_close(t);
	unlink(trace_path);
	print_message("%-14s %-10s %9llu instructions, console %zu bytes\n", g->name, end,
	              (unsigned long long)sum.steps, strlen(console));
	if (strcmp(end, want))
		fail_msg("%s:%d: %s ended %s in emu, silicon ends %s; console: %s", manifest.path, g->line,
		         g->name, end, want, console);
	/* A passing guest says so last (status 1 under QEMU's debug-exit convention). */
	if (!strcmp(end, opt.debug_exit_qemu ? "exit:1" : "exit:0")) {
		size_t n = strlen(console);
		assert_true(n >= 6 && !strcmp(console + n - 6, ": ok\r\n"));
	}
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
	static struct CMUnitTest tests[CORPUS_MAX_GUESTS];

	if (corpus_manifest_from_env(&manifest, &corpus_dir))
		return 1;
	for (size_t i = 0; i < manifest.n; i++) {
		tests[i].name = manifest.guests[i].name;
		tests[i].test_func = test_guest;
		tests[i].initial_state = &manifest.guests[i];
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	return _cmocka_run_group_tests("corpus_emu", tests, manifest.n, NULL, teardown);
}
