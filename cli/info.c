/* emudiff info TRACE: what a trace holds and what its reference really is. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../schema/trace.h"
#include "cli.h"

struct exit_counts {
	uint64_t by_reason[16];
};

static int count_exit(void *arg, const struct trace_exit *e)
{
	struct exit_counts *c = arg;
	c->by_reason[e->reason < 16 ? e->reason : 0]++;
	return 0;
}

static const char *exit_reason_name(unsigned reason)
{
	static const char *const names[] = {
	    [TRACE_EXIT_IO] = "io",
	    [TRACE_EXIT_MMIO] = "mmio",
	    [TRACE_EXIT_HLT] = "hlt",
	    [TRACE_EXIT_SHUTDOWN] = "shutdown",
	    [TRACE_EXIT_INTERNAL_ERROR] = "emulation-failure",
	    [TRACE_EXIT_DEBUG] = "debug",
	    [TRACE_EXIT_FAIL_ENTRY] = "fail-entry",
	    [TRACE_EXIT_OTHER] = "other",
	};
	return reason < sizeof(names) / sizeof(names[0]) && names[reason] ? names[reason] : "unknown";
}

static void print_meta(struct trace *t, const char *label, const char *key)
{
	char buf[512];
	if (trace_meta_get(t, key, buf, sizeof(buf)) == 0 && buf[0])
		printf("%-12s %s\n", label, buf);
}

/* Guest output as text a terminal cannot act on: control and non-ASCII bytes as \xNN (ESC c would reset it).
 */
static void print_guest_text(const char *label, const char *text, size_t len, const char *suffix)
{
	printf("%-12s ", label);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if ((c < 0x20 && c != '\t') || c >= 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("%s\n", suffix);
}

/* The CPUID table the recorder set (meta "cpuid") and the leaves the guest read that came out otherwise. */
struct cpuid_check {
	uint32_t (*table)[6];
	size_t n;
	uint64_t shown[16]; /* leaf | subleaf << 32 already reported */
	size_t n_shown, more;
};

static int check_cpuid_input(void *arg, uint64_t step, const struct trace_input *in)
{
	struct cpuid_check *c = arg;
	uint32_t got[4], leaf = (uint32_t)in->addr, subleaf = (uint32_t)(in->addr >> 32);
	const uint32_t *set = NULL;
	static const char *const regs[4] = {"eax", "ebx", "ecx", "edx"};

	memcpy(got, in->data, sizeof(got));
	for (size_t i = 0; i < c->n; i++)
		if (c->table[i][0] == leaf && (c->table[i][1] == subleaf || !set))
			set = c->table[i];
	/* A leaf the table lacks reads as zeros (or the highest leaf's values): nothing was set to compare.
	 */
	if (!set || !memcmp(got, &set[2], sizeof(got)))
		return 0;
	for (size_t i = 0; i < c->n_shown; i++)
		if (c->shown[i] == in->addr)
			return 0;
	if (c->n_shown == sizeof(c->shown) / sizeof(c->shown[0])) {
		c->more++;
		return 0;
	}
	c->shown[c->n_shown++] = in->addr;
	printf("%-12s leaf %#x.%u at step %llu:", "cpuid", leaf, subleaf, (unsigned long long)step);
	for (int r = 0; r < 4; r++)
		if (got[r] != set[2 + r])
			printf(" %s 0x%08x (set 0x%08x)", regs[r], got[r], set[2 + r]);
	printf("\n");
	return 0;
}

static void print_cpuid_differences(struct trace *t)
{
	struct cpuid_check c = {0};
	if (trace_cpuid_table(t, &c.table, &c.n) < 0)
		return;
	trace_foreach_input(t, TRACE_INPUT_CPUID, check_cpuid_input, &c);
	if (c.more)
		printf("%-12s %zu more leaves differ from the table the recorder set\n", "cpuid", c.more);
	free(c.table);
}

struct step_counts {
	uint64_t per_mode[6], per_cpl[4];
	uint64_t native_by_rule; /* INSN steps of an older trace that trace_step_ran_native finds native */
};

struct memory_before {
	struct trace *t;
	uint64_t step;
};

static int read_memory_before(void *arg, uint64_t gpa, void *buf, size_t len)
{
	const struct memory_before *m = arg;
	return trace_memory_at(m->t, m->step, gpa, buf, len);
}

/* Counts steps by mode and CPL from every recorded pre-state, and the INSN steps that ran native code by the
 * rule the recorder applies now (traces recorded before the NATIVE kind). */
static int count_steps(struct trace *t, const char *reference, struct step_counts *c)
{
	struct trace_iter *it = NULL;
	struct trace_step steps[2]; /* this step and the one before, by turns: no state is copied */
	struct x86_state post;
	unsigned cur = 0;
	bool prev_insn = false;
	uint64_t i = 0;
	int rc = trace_iter_start(t, 0, &it);

	memset(c, 0, sizeof(*c));
	while (rc >= 0 && (rc = trace_iter_next(it, &steps[cur])) == 1) {
		const struct trace_step *step = &steps[cur];
		struct memory_before m = {t, i - 1};
		if (prev_insn &&
		    trace_step_ran_native(reference, &steps[cur ^ 1].pre, &step->pre, read_memory_before, &m))
			c->native_by_rule++;
		prev_insn = step->kind == TRACE_STEP_INSN;
		cur ^= 1;
		i++;
		if (step->kind == TRACE_STEP_RUN)
			continue;
		c->per_mode[x86_state_mode(&step->pre)]++;
		c->per_cpl[x86_state_cpl(&step->pre) & 3]++;
	}
	trace_iter_end(it);
	struct memory_before m = {t, i - 1};
	if (rc == 0 && prev_insn && trace_state_at(t, i, &post) == 0 &&
	    trace_step_ran_native(reference, &steps[cur ^ 1].pre, &post, read_memory_before, &m))
		c->native_by_rule++;
	return rc;
}

int cli_info(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			printf("usage: emudiff info TRACE\n");
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "usage: emudiff info TRACE\n");
		return CLI_EXIT_USAGE;
	}
	const char *path = argv[1];
	struct trace *t = NULL;
	if (trace_open(&t, path)) {
		fprintf(stderr, "emudiff info: %s\n", trace_last_open_error());
		return CLI_EXIT_USAGE;
	}
	struct trace_stats st;
	if (trace_stats(t, &st)) {
		fprintf(stderr, "emudiff info: %s\n", trace_error(t));
		trace_close(t);
		return CLI_EXIT_USAGE;
	}
	char ref[64] = "unknown", flavour[32] = "unknown";
	trace_meta_get(t, "reference", ref, sizeof(ref));
	trace_meta_get(t, "kvm_flavour", flavour, sizeof(flavour));
	printf("%-12s %s\n", "trace", path);
	if (!strcmp(ref, "kvm-emulator"))
		printf("%-12s %s (KVM %s: real mode, protected mode and CPL0 code ran in KVM's in-kernel "
		       "emulator, "
		       "not on silicon)\n",
		       "reference", ref, flavour);
	else if (!strcmp(ref, "emu"))
		printf(
		    "%-12s %s (recorded with --engine emu: emudiff's own emulator ran every instruction, no "
		    "KVM; not silicon)\n",
		    "reference", ref);
	else if (!strcmp(ref, "qemu-tcg"))
		printf("%-12s %s (KVM %s inside a QEMU TCG VM: QEMU's software CPU ran the guest, not "
		       "silicon)\n",
		       "reference", ref, flavour);
	else
		printf("%-12s %s (KVM %s)\n", "reference", ref, flavour);
	print_meta(t, "guest", "guest_image");
	print_meta(t, "sha256", "guest_sha256");
	print_meta(t, "mode", "mode");
	print_meta(t, "demand", "demand");
	print_meta(t, "command", "command_line");
	print_meta(t, "host cpu", "host_cpu");
	print_meta(t, "cpu model", "cpu_model");
	print_meta(t, "cpu is", "cpu_model_summary");
	print_meta(t, "cpu msrs", "cpu_msrs");
	print_meta(t, "cpu not set", "cpu_unsupported");
	print_meta(t, "memory", "memory_layout");
	print_meta(t, "disk", "disk_image");
	print_meta(t, "kernel cmd", "kernel_cmdline");
	char vt[64];
	if (trace_meta_get(t, "vtime_end", vt, sizeof(vt)) == 0 && vt[0])
		printf("%-12s %s PIT clocks at the end (%.3f virtual s)\n", "clock", vt,
		       strtod(vt, NULL) / 1193182.0);
	if (trace_is_complete(t))
		print_meta(t, "ended", "end_reason");
	else
		printf(
		    "%-12s INCOMPLETE: the recorder stopped before finishing; the %llu steps up to its last "
		    "commit are readable\n",
		    "ended", (unsigned long long)st.steps);

	struct step_counts sc;
	if (count_steps(t, ref, &sc) < 0) {
		fprintf(stderr, "emudiff info: %s\n", trace_error(t));
		trace_close(t);
		return CLI_EXIT_USAGE;
	}
	printf("%-12s %llu (instructions %llu, unrecorded runs %llu, emu fallbacks %llu, instruction then "
	       "native code %llu)\n",
	       "steps", (unsigned long long)st.steps, (unsigned long long)(st.insn_steps - sc.native_by_rule),
	       (unsigned long long)st.run_steps, (unsigned long long)st.fallback_steps,
	       (unsigned long long)(st.native_steps + sc.native_by_rule));

	struct exit_counts ec;
	memset(&ec, 0, sizeof(ec));
	int rc = trace_foreach_exit(t, count_exit, &ec);
	printf("%-12s %llu", "exits", (unsigned long long)st.exits);
	const char *sep = " (";
	for (unsigned i = 0; i < 16; i++) {
		if (!ec.by_reason[i])
			continue;
		printf("%s%s %llu", sep, exit_reason_name(i), (unsigned long long)ec.by_reason[i]);
		sep = ", ";
	}
	printf("%s\n", strcmp(sep, " (") ? ")" : "");
	printf("%-12s %llu\n", "events", (unsigned long long)st.events);

	if (rc < 0) {
		fprintf(stderr, "emudiff info: %s\n", trace_error(t));
		trace_close(t);
		return CLI_EXIT_USAGE;
	}
	printf("%-12s", "modes");
	for (int m = 0; m < 6; m++)
		if (sc.per_mode[m])
			printf(" %s %llu", x86_mode_name((enum x86_mode)m),
			       (unsigned long long)sc.per_mode[m]);
	printf("\n%-12s", "cpls");
	for (int c = 0; c < 4; c++)
		if (sc.per_cpl[c])
			printf(" cpl%d %llu", c, (unsigned long long)sc.per_cpl[c]);
	printf("\n");
	uint64_t insns = st.insn_steps + st.fallback_steps + st.native_steps;
	printf("%-12s %llu bytes, %llu distinct pages", "size", (unsigned long long)st.file_bytes,
	       (unsigned long long)st.pages);
	if (insns)
		printf(", %.2f bytes/instruction", (double)st.file_bytes / (double)insns);
	printf("\n");
	static char console[1 << 20];
	if (trace_meta_get(t, "console", console, sizeof(console)) == 0 && console[0]) {
		size_t n = strcspn(console, "\r\n");
		print_guest_text("console", console, n, console[n] && console[n + 1] ? " ..." : "");
		/* The last line too: where a boot got to. */
		size_t len = strlen(console);
		while (len && (console[len - 1] == '\n' || console[len - 1] == '\r'))
			len--;
		size_t start = len;
		while (start && console[start - 1] != '\n')
			start--;
		if (start > n)
			print_guest_text("console end", console + start, len - start, "");
	}
	/* COM1 alone (the console above also has the debug ports): its last non-empty line. */
	if (trace_meta_get(t, "serial", console, sizeof(console)) == 0 && console[0]) {
		size_t len = strlen(console);
		while (len && (console[len - 1] == '\n' || console[len - 1] == '\r'))
			len--;
		size_t start = len;
		while (start && console[start - 1] != '\n')
			start--;
		size_t end = start;
		while (end < len && console[end] != '\r' && console[end] != '\n')
			end++;
		print_guest_text("serial end", console + start, end - start, "");
	}
	print_cpuid_differences(t);
	trace_close(t);
	return CLI_EXIT_OK;
}
