/* The multiboot guests of corpus/manifest.tsv booted by QEMU itself: qemu-system-x86_64 -accel tcg -kernel
 * GUEST, their --module files as -initrd, --cmdline as -append, --device pc-testdev as -device pc-testdev,
 * and isa-debug-exit at the corpus's exit port 0xf4. Each must end as the manifest says for qemu-kernel (else
 * as on silicon): this shows the images are QEMU -kernel images, and where QEMU ends one otherwise the
 * manifest says why. Skipped (77) where qemu-system-x86_64 is not installed. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest.h"

#define QEMU            "qemu-system-x86_64"
#define DEBUG_EXIT_PORT "0xf4" /* corpus/inc/guest.inc GUEST_EXIT */
#define GUEST_LIMIT_S   120    /* wall-clock guard against a guest QEMU never ends (TCG takes seconds) */

static struct corpus_manifest manifest;
static const char *corpus_dir;
static char tmpdir[] = "/tmp/emudiff-corpus-qemu-XXXXXX";

/* A program found in PATH. */
static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[4096];
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(dir, sizeof(dir), "%.*s/%s", (int)n, path, prog);
		if (n && access(dir, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/* The QEMU command line for g, and the status QEMU's isa-debug-exit gives for the manifest's exit:N. */
struct qemu_run {
	const char *argv[48];
	char kernel[600];
	char initrd[2048];
	char serial[512];
	char words_buf[1024];
	bool qemu_exit; /* --debug-exit qemu: the recorder already reports (V << 1) | 1, as QEMU does */
};

static void qemu_command(const struct corpus_guest *g, struct qemu_run *q)
{
	const char *words[16];
	int n = 0, nw = corpus_guest_options(g, corpus_dir, q->words_buf, sizeof(q->words_buf), words, 16);
	if (nw < 0)
		fail_msg("%s: options '%s' too long", g->name, g->options);
	snprintf(q->kernel, sizeof(q->kernel), "%s/%s", corpus_dir, g->binary);
	snprintf(q->serial, sizeof(q->serial), "file:%s/%s.serial", tmpdir, g->name);
	q->initrd[0] = 0;
	q->qemu_exit = false;
	const char *fixed[] = {QEMU,
	                       "-accel",
	                       "tcg",
	                       "-cpu",
	                       "max",
	                       "-m",
	                       "128",
	                       "-kernel",
	                       q->kernel,
	                       "-device",
	                       "isa-debug-exit,iobase=" DEBUG_EXIT_PORT ",iosize=4",
	                       "-nodefaults",
	                       "-display",
	                       "none",
	                       "-serial",
	                       q->serial,
	                       "-monitor",
	                       "none",
	                       "-no-reboot"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		q->argv[n++] = fixed[i];
	for (int i = 0; i + 1 < nw; i += 2) {
		const char *opt = words[i], *val = words[i + 1];
		if (!strcmp(opt, "--module")) {
			/* QEMU's -initrd: "FILE ARGS" per module, modules separated by commas. */
			size_t len = strlen(q->initrd);
			const char *comma = strchr(val, ',');
			snprintf(q->initrd + len, sizeof(q->initrd) - len, "%s%.*s%s%s", len ? "," : "",
			         comma ? (int)(comma - val) : (int)strlen(val), val, comma ? " " : "",
			         comma ? comma + 1 : "");
		} else if (!strcmp(opt, "--cmdline")) {
			q->argv[n++] = "-append";
			q->argv[n++] = val;
		} else if (!strcmp(opt, "--device") && !strcmp(val, "pc-testdev")) {
			q->argv[n++] = "-device";
			q->argv[n++] = "pc-testdev";
		} else if (!strcmp(opt, "--debug-exit") && !strcmp(val, "qemu")) {
			q->qemu_exit = true;
		} else {
			fail_msg("%s: corpus/manifest.tsv option %s %s has no QEMU equivalent here", g->name,
			         opt, val);
		}
	}
	if (q->initrd[0]) {
		q->argv[n++] = "-initrd";
		q->argv[n++] = q->initrd;
	}
	q->argv[n] = NULL;
}

/* Runs argv, output to files in tmpdir; the exit status, -1 when it did not exit, -2 past the guard. */
static int run_qemu(const char *const argv[], const char *name)
{
	char out[600];
	int st;
	snprintf(out, sizeof(out), "%s/%s.out", tmpdir, name);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), nul = open("/dev/null", O_RDONLY);
		if (o < 0 || nul < 0)
			_exit(127);
		dup2(o, 1), dup2(o, 2), dup2(nul, 0);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (unsigned waited_ms = 0; waitpid(pid, &st, WNOHANG) != pid; waited_ms += 50) {
		if (waited_ms >= GUEST_LIMIT_S * 1000u) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -2;
		}
		usleep(50000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last len - 1 bytes of a file (QEMU's messages, the guest's serial output), "" when unreadable. */
static void tail_of(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t got = -1;
	if (fd >= 0) {
		off_t size = lseek(fd, 0, SEEK_END);
		if (size >= 0 && lseek(fd, size > (off_t)len - 1 ? size - (off_t)len + 1 : 0, SEEK_SET) >= 0)
			got = read(fd, buf, len - 1);
		close(fd);
	}
	buf[got > 0 ? got : 0] = 0;
}

static void test_guest(void **state)
{
	const struct corpus_guest *g = *state;
	const char *end = corpus_expected_end(g, "qemu-kernel", false);
	unsigned long want = 0;
	char *endp;
	if (strncmp(end, "exit:", 5) || (want = strtoul(end + 5, &endp, 10), *endp))
		fail_msg("%s: expected end %s: only exit:N can be told from QEMU's status", g->name, end);
	static struct qemu_run q;
	qemu_command(g, &q);
	/* isa-debug-exit ends QEMU with (V << 1) | 1 for the value V the guest writes. */
	int want_status = (int)((q.qemu_exit ? want : want << 1 | 1) & 0xff);
	int st = run_qemu(q.argv, g->name);
	if (st == want_status)
		return;
	char out[512], serial[512], path[600];
	snprintf(path, sizeof(path), "%s/%s.out", tmpdir, g->name);
	tail_of(path, out, sizeof(out));
	snprintf(path, sizeof(path), "%s/%s.serial", tmpdir, g->name);
	tail_of(path, serial, sizeof(serial));
	if (st == -2)
		fail_msg("%s: QEMU did not end within %u s (serial: %s)", g->name, GUEST_LIMIT_S, serial);
	fail_msg("%s: QEMU ended with status %d, want %d (%s%s under qemu-kernel, corpus/manifest.tsv line "
	         "%d): guest value %d; QEMU said: %s; serial: %s",
	         g->name, st, want_status, end, q.qemu_exit ? ", QEMU's exit codes" : "", g->line,
	         st >= 0 && (st & 1) && !q.qemu_exit ? st >> 1 : st, out, serial);
}

static int teardown_all(void **state)
{
	char cmd[600];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_corpus_qemu: could not remove %s\n", tmpdir);
	return 0;
}

int main(void)
{
	static struct CMUnitTest tests[CORPUS_MAX_GUESTS];
	size_t n = 0;

	if (corpus_manifest_from_env(&manifest, &corpus_dir))
		return 1;
	if (!in_path(QEMU)) {
		printf("test_corpus_qemu: skipped: %s is not in PATH (ci/setup installs qemu-system-x86)\n",
		       QEMU);
		return 77;
	}
	if (!mkdtemp(tmpdir)) {
		perror(tmpdir);
		return 1;
	}
	for (size_t i = 0; i < manifest.n; i++) {
		if (strcmp(manifest.guests[i].start, "multiboot"))
			continue;
		tests[n] = (struct CMUnitTest){.name = manifest.guests[i].name,
		                               .test_func = test_guest,
		                               .initial_state = &manifest.guests[i]};
		n++;
	}
	return _cmocka_run_group_tests("test_corpus_qemu", tests, n, NULL, teardown_all);
}
