/* Runs every guest of corpus/manifest.tsv on KVM through vmx-shim and the standard device bus and checks
 * that it ends as the manifest says: exit:N (status on the debug-exit port), shutdown (triple fault) or
 * emulation-failure (KVM's in-kernel emulator gave up). Multiboot guests need the PC's interrupt
 * controller and timer, which only the recorder drives: they run through `emudiff record --mode exits`. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot.h"
#include "devices.h"
#include "manifest.h"
#include "shim.h"

#define GUEST_RAM       (16u << 20)
#define GUEST_TIMEOUT_S 60

/* Instruction bytes KVM must report for the guests that stop at an emulation failure. */
static const struct {
	const char *name;
	uint8_t insn[2];
	size_t len;
	const char *file;
	int line;
} failing_insns[] = {
    {"pmiret", {0xcf}, 1, __FILE__, __LINE__},      /* iretd */
    {"pmint", {0xcd, 0x40}, 2, __FILE__, __LINE__}, /* int 0x40 */
    {"kvmgaps", {0x27}, 1, __FILE__, __LINE__},     /* daa */
    {"pmring", {0x9a}, 1, __FILE__, __LINE__},      /* call far through a call gate */
    {"task", {0xea}, 1, __FILE__, __LINE__},        /* jmp far to a TSS */
    {"v86", {0xcf}, 1, __FILE__, __LINE__},         /* iretd */
    {"longsys", {0xcc}, 1, __FILE__, __LINE__},     /* int3 */
};

static struct corpus_manifest manifest;
static char reference[32]; /* this host's, as recordings name it: the manifest's ends depend on it */
static const char *corpus_dir;

static void on_alarm(int sig)
{
	(void)sig;
}

/* A periodic signal makes a guest that never exits come back as SHIM_EXIT_INTR. */
static void arm_ticker(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	struct itimerval it = {.it_interval = {0, 200000}, .it_value = {0, 200000}};

	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm_ticker(void)
{
	struct itimerval it = {0};

	setitimer(ITIMER_REAL, &it, NULL);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check_failing_insn(const struct corpus_guest *g, const struct shim_exit *e)
{
	for (size_t i = 0; i < sizeof(failing_insns) / sizeof(failing_insns[0]); i++) {
		if (strcmp(failing_insns[i].name, g->name))
			continue;
		if (e->data_len < failing_insns[i].len ||
		    memcmp(e->data, failing_insns[i].insn, failing_insns[i].len))
			fail_msg("%s:%d: %s: KVM failed at another instruction (first byte %#x)",
			         failing_insns[i].file, failing_insns[i].line, g->name, e->data[0]);
	}
}

/* Runs one guest to its end and writes that end as the manifest spells it. */
static void run_guest(const struct corpus_guest *g, char *end, size_t endlen, struct devbus *bus,
                      struct shim_vm *vm)
{
	double deadline = now_s() + GUEST_TIMEOUT_S;
	struct x86_state st;
	struct shim_exit e;
	uint32_t status;

	boot_state_sector(&st);
	if (shim_set_state(vm, &st))
		fail_msg("%s: %s", g->name, shim_error(vm));
	for (;;) {
		if (shim_run(vm, &e))
			fail_msg("%s: %s", g->name, shim_error(vm));
		switch (e.kind) {
		case SHIM_EXIT_IO:
		case SHIM_EXIT_MMIO:
			if (e.kind == SHIM_EXIT_MMIO)
				devbus_mmio(bus, e.addr, e.size, e.is_write, e.data);
			else
				devbus_pio(bus, (uint16_t)e.addr, e.size, e.is_write,
				           e.data_len <= sizeof(e.data) ? e.data : e.pio_data, e.count);
			if (shim_complete_io(vm, &e))
				fail_msg("%s: %s", g->name, shim_error(vm));
			if (devbus_guest_exited(bus, &status)) {
				snprintf(end, endlen, "exit:%u", status);
				return;
			}
			break;
		case SHIM_EXIT_SHUTDOWN:
			snprintf(end, endlen, "shutdown");
			return;
		case SHIM_EXIT_INTERNAL_ERROR:
			if (e.suberror != 1)
				fail_msg("%s: KVM internal error, suberror %u", g->name, e.suberror);
			check_failing_insn(g, &e);
			snprintf(end, endlen, "emulation-failure");
			return;
		case SHIM_EXIT_INTR:
			if (now_s() > deadline)
				fail_msg("%s: still running after %d s", g->name, GUEST_TIMEOUT_S);
			break;
		case SHIM_EXIT_HLT:
			snprintf(end, endlen, "hlt");
			return;
		default:
			fail_msg("%s: unexpected exit kind %d (KVM reason %u)", g->name, e.kind,
			         e.kvm_reason);
		}
	}
}

/* A multiboot guest through the recorder (PC machine, interrupt injection): its end from the summary line. */
static void test_multiboot_guest(const struct corpus_guest *g)
{
	const char *bin = getenv("EMUDIFF_BIN");
	char cmd[8192], trace[64], line[1024], end[64] = "", optbuf[2048];
	const char *words[16];
	unsigned status;
	FILE *p;

	if (!bin)
		fail_msg("EMUDIFF_BIN must be set (run through ctest)");
	int n_words = corpus_guest_options(g, corpus_dir, optbuf, sizeof(optbuf), words, 16);
	if (n_words < 0)
		fail_msg("%s:%d: options '%s' too long", manifest.path, g->line, g->options);
	snprintf(trace, sizeof(trace), "/tmp/corpus_kvm_%d.trace", (int)getpid());
	int len = snprintf(cmd, sizeof(cmd),
	                   "'%s' record --mode exits --force --timeout %d --multiboot '%s/%s' -o %s", bin,
	                   GUEST_TIMEOUT_S, corpus_dir, g->binary, trace);
	for (int i = 0; i < n_words; i++)
		len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " '%s'", words[i]);
	snprintf(cmd + len, sizeof(cmd) - (size_t)len, " 2>&1");
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		const char *e = strstr(line, "ended: ");
		if (!e)
			continue;
		e += 7;
		if (sscanf(e, "guest exit: guest exited with status %u", &status) == 1)
			snprintf(end, sizeof(end), "exit:%u", status);
		else if (!strncmp(e, "KVM emulation failure", 21))
			snprintf(end, sizeof(end), "emulation-failure");
		else if (strstr(e, "shutdown"))
			snprintf(end, sizeof(end), "shutdown");
		else
			snprintf(end, sizeof(end), "other: %.40s", e);
	}
	pclose(p);
	unlink(trace);
	print_message("%-14s %-18s (emudiff record --multiboot)\n", g->name, end);
	const char *want = corpus_expected_end(g, reference, false);
	if (strcmp(end, want))
		fail_msg("%s:%d: %s ended %s, manifest says %s under %s", manifest.path, g->line, g->name,
		         end[0] ? end : "without a summary", want, reference);
}

static void test_guest(void **state)
{
	const struct corpus_guest *g = *state;
	struct shim_config cfg = {.ram_bytes = GUEST_RAM};
	struct devbus *bus = devbus_new();
	struct shim_vm *vm = NULL;
	char path[4096], end[64];
	const uint8_t *con;
	size_t conlen;
	int r;

	if (!strcmp(g->start, "multiboot")) {
		if (bus)
			devbus_free(bus);
		test_multiboot_guest(g);
		return;
	}
	assert_non_null(bus);
	assert_int_equal(devbus_add_standard(bus), 0);
	assert_string_equal(g->start, "real");
	r = shim_open(&vm, &cfg);
	if (r)
		fail_msg("shim_open: %s", shim_last_open_error());
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, g->binary);
	if (shim_load_flat(vm, path, g->load, NULL))
		fail_msg("%s:%d: %s: %s (build the corpus target)", manifest.path, g->line, path,
		         shim_error(vm));
	arm_ticker();
	run_guest(g, end, sizeof(end), bus, vm);
	disarm_ticker();
	con = devbus_console(bus, &conlen);
	print_message("%-14s %-18s console %zu bytes\n", g->name, end, conlen);
	const char *want = corpus_expected_end(g, reference, false);
	if (strcmp(end, want))
		fail_msg("%s:%d: %s ended %s, manifest says %s under %s; console: %.*s", manifest.path,
		         g->line, g->name, end, want, reference, (int)conlen, (const char *)con);
	/* A passing guest says so last; a guest that stops early never printed it. */
	if (!strcmp(end, "exit:0"))
		assert_true(conlen >= 6 && !memcmp(con + conlen - 6, ": ok\r\n", 6));
	else if (strncmp(end, "exit:", 5))
		assert_false(devbus_guest_exited(bus, NULL));
	shim_close(vm);
	devbus_free(bus);
}

int main(void)
{
	static struct CMUnitTest tests[CORPUS_MAX_GUESTS];
	struct shim_config cfg = {.ram_bytes = GUEST_RAM};
	struct shim_vm *vm;
	int r;

	if (corpus_manifest_from_env(&manifest, &corpus_dir))
		return 1;
	r = shim_open(&vm, &cfg);
	if (r == -ENOENT || r == -EACCES || r == -ENODEV) {
		fprintf(stderr, "skipped: %s\n", shim_last_open_error());
		return 77;
	}
	if (r) {
		fprintf(stderr, "shim_open: %s\n", shim_last_open_error());
		return 1;
	}
	snprintf(reference, sizeof(reference), "%s", shim_reference(vm));
	print_message("reference %s: each guest must end as the manifest says for it\n", reference);
	shim_close(vm);
	for (size_t i = 0; i < manifest.n; i++) {
		tests[i].name = manifest.guests[i].name;
		tests[i].test_func = test_guest;
		tests[i].initial_state = &manifest.guests[i];
	}
	return _cmocka_run_group_tests("corpus_kvm", tests, manifest.n, NULL, NULL);
}
