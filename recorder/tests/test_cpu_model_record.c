/* Recordings under --cpu MODEL with the engine given as argument (kvm: labelled kvm, in the nested VM; emu:
 * no KVM). The corpus guest cpuvendor prints the vendor, signature and SSE4.2 bit it reads: they must be the
 * model's (what KVM could not give is printed). Small guests read and write machine-check MSRs: #GP where
 * the model has none or its write rule refuses, the value read recorded as an RDMSR input. Bad --cpu text
 * is a usage error naming it, from recorder_run and from the command line; info shows the model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../machine/cpu_model.h"
#include "../../schema/trace.h"
#include "../recorder.h"
#include "engine.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GP_STATUS    0x47 /* the MSR guests' #GP handler exits with 'G' */

static bool engine_emu;
static char tmpdir[] = "/tmp/emudiff-cpu-model-XXXXXX";
static char warnings[4096];

static void collect_warning(void *arg, const char *text)
{
	(void)arg;
	size_t n = strlen(warnings);
	snprintf(warnings + n, sizeof(warnings) - n, "  %s\n", text);
}

static struct rec_options options(const char *guest_path, const char *out, const char *cpu)
{
	return (struct rec_options){
	    .output = out,
	    .force = true,
	    .engine = engine_emu ? REC_ENGINE_EMU : REC_ENGINE_KVM,
	    .mode = REC_MODE_STEP,
	    .max_steps = 200000,
	    .mem_bytes = 16u << 20,
	    .load_addr = 0x7c00,
	    .guest_path = guest_path,
	    .command_line = "test",
	    .cpu = cpu,
	    .warning = collect_warning,
	};
}

static struct rec_summary record(const char *guest_path, const char *out, const char *cpu)
{
	char err[2048] = "";
	struct rec_options opt = options(guest_path, out, cpu);
	struct rec_summary sum;
	warnings[0] = 0;
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (rc)
		fail_msg("recording under --cpu %s: status %d: %s", cpu, rc, err);
	if (warnings[0])
		print_message("--cpu %s: the recorder warned:\n%s", cpu, warnings);
	return sum;
}

static struct cpu_model model(const char *spec)
{
	struct cpu_model m;
	char err[1024];
	if (cpu_model_parse(spec, &m, err, sizeof(err)))
		fail_msg("%s", err);
	return m;
}

/* cpuvendor under a model: its exit status (0 passes; 2 unknown vendor; 3 an AMD vendor that leaf
 * 0x80000000 does not repeat) and, when it passes, the line the model's leaves 0 and 1 make. */
static const struct vendor_row {
	const char *cpu;
	int status;
	bool kvm; /* also on KVM */
} vendor_rows[] = {
    {"default", 0, false},
    {"intel-skylake", 0, true},
    {"amd-zen", 0, true},
    {"intel-skylake,-sse4_2", 0, false},
    {"amd-zen,-sse4_2", 0, false},
    {"default,vendor=AuthenticAMD", 3, false},
    {"amd-zen,vendor=CyrixInstead", 2, false},
};

static void test_vendor_guest(void **state)
{
	(void)state;
	char gp[512], path[512], line[256], serial[4096], meta[4096];
	corpus_path("cpuvendor", gp, sizeof(gp));
	for (size_t r = 0; r < ARRAY_LEN(vendor_rows); r++) {
		const struct vendor_row *row = &vendor_rows[r];
		if (!engine_emu && !row->kvm)
			continue;
		snprintf(path, sizeof(path), "%s/vendor%zu.db", tmpdir, r);
		struct rec_summary sum = record(gp, path, row->cpu);
		struct cpu_model m = model(row->cpu);
		const struct cpu_leaf *l0 = cpu_model_leaf(&m, 0, 0), *l1 = cpu_model_leaf(&m, 1, 0);
		char vendor[13] = "";
		memcpy(vendor, &l0->ebx, 4);
		memcpy(vendor + 4, &l0->edx, 4);
		memcpy(vendor + 8, &l0->ecx, 4);
		snprintf(line, sizeof(line), "cpuvendor: vendor %s signature %08x sse4_2 %u", vendor, l1->eax,
		         (l1->ecx >> 20) & 1);
		struct trace *t;
		assert_int_equal(trace_open(&t, path), 0);
		assert_int_equal(trace_meta_get(t, "serial", serial, sizeof(serial)), 0);
		assert_int_equal(trace_meta_get(t, "cpu_model", meta, sizeof(meta)), 0);
		assert_string_equal(meta, row->cpu);
		assert_int_equal(trace_meta_get(t, "cpuid", meta, sizeof(meta)), 0);
		char leaf0[80];
		snprintf(leaf0, sizeof(leaf0), "00000000 00000000: %08x %08x %08x %08x", l0->eax, l0->ebx,
		         l0->ecx, l0->edx);
		if (!strstr(meta, leaf0))
			fail_msg("--cpu %s: the cpuid meta lacks '%s': %s", row->cpu, leaf0, meta);
		trace_close(t);
		print_message("--cpu %-28s exit %d: %.*s\n", row->cpu, sum.guest_status,
		              (int)strcspn(serial, "\r\n"), serial);
		if (sum.end != REC_END_GUEST_EXIT || sum.guest_status != row->status)
			fail_msg("--cpu %s: ended %s status %d, want exit %d; serial: %s", row->cpu,
			         rec_end_name(sum.end), sum.guest_status, row->status, serial);
		if (row->status == 0 && !strstr(serial, line))
			fail_msg("--cpu %s: the guest saw '%.*s', the model is '%s'", row->cpu,
			         (int)strcspn(serial, "\r\n"), serial, line);
	}
}

/* On the PC machine (a multiboot kernel): without --cpu the PC's own CPU hides TSC and the local APIC from
 * firmware; a model asked for is the guest's whole, APIC and TSC included. */
static const struct pc_row {
	const char *cpu;     /* NULL: no --cpu */
	const char *model;   /* the table it must be: NULL for the PC's own CPU */
	uint32_t edx1, ecx1; /* leaf 1 bits the guest must see set (TSC, APIC; x2APIC, TSC-deadline) */
} pc_rows[] = {
    {NULL, NULL, 0, 0},
    {"intel-skylake", "intel-skylake", 1u << 4, 0},
    {"amd-zen", "amd-zen", 1u << 4, 0},
    {"default,+apic,+x2apic,+tsc_deadline", "default,+apic,+x2apic,+tsc_deadline", 1u << 4 | 1u << 9,
     1u << 21 | 1u << 24},
};

static void test_pc_machine_cpuid(void **state)
{
	(void)state;
	char kernel[512], path[512];
	corpus_path("stihlt", kernel, sizeof(kernel));
	for (size_t i = 0; i < ARRAY_LEN(pc_rows); i++) {
		const struct pc_row *row = &pc_rows[i];
		/* The KVM engine's own table is the host's; the rows with a model say what a model does
		 * there. */
		if (!engine_emu && !row->cpu)
			continue;
		snprintf(path, sizeof(path), "%s/pc%zu.db", tmpdir, i);
		char err[2048] = "";
		struct rec_options opt = options(kernel, path, row->cpu);
		opt.multiboot_path = kernel;
		opt.load_addr = 0x100000;
		opt.mem_bytes = 32u << 20;
		struct rec_summary sum;
		warnings[0] = 0;
		int rc = recorder_run(&opt, &sum, err, sizeof(err));
		if (rc)
			fail_msg("--cpu %s on the PC: status %d: %s", row->cpu ? row->cpu : "(none)", rc,
			         err);
		if (!engine_emu && !strstr(warnings, "host time"))
			fail_msg(
			    "--cpu %s under KVM on the PC: no warning that the TSC counts host time:\n%s",
			    row->cpu, warnings);
		struct trace *t;
		uint32_t(*table)[6] = NULL;
		size_t n = 0;
		assert_int_equal(trace_open(&t, path), 0);
		assert_int_equal(trace_cpuid_table(t, &table, &n), 0);
		trace_close(t);
		struct cpu_model want = model(row->model ? row->model : "default");
		if (!row->model)
			cpu_model_for_pc(&want);
		static const uint32_t leaves[] = {1, 0x80000001};
		for (size_t k = 0; k < ARRAY_LEN(leaves); k++) {
			const struct cpu_leaf *l = cpu_model_leaf(&want, leaves[k], 0);
			size_t e = 0;
			while (e < n && table[e][0] != leaves[k])
				e++;
			if (e == n)
				fail_msg("--cpu %s on the PC: the trace's CPUID table lacks leaf %#x",
				         row->cpu, leaves[k]);
			if (table[e][4] != l->ecx || table[e][5] != l->edx)
				fail_msg(
				    "--cpu %s on the PC: leaf %#x ecx:edx %08x:%08x, the model has %08x:%08x",
				    row->cpu ? row->cpu : "(none)", leaves[k], table[e][4], table[e][5],
				    l->ecx, l->edx);
		}
		/* What the PC's own CPU hides, a model asked for keeps. */
		const struct cpu_leaf *l1 = cpu_model_leaf(&want, 1, 0);
		uint32_t hidden = 1u << 4 | 1u << 9;
		assert_int_equal(l1->edx & hidden, row->edx1);
		assert_int_equal(l1->ecx & (1u << 21 | 1u << 24), row->ecx1);
		free(table);
	}
}

/* Real mode at 0x7c00: IVT entry 13 (#GP) to a handler that exits 'G'; mov ecx, MSR; mov eax, LO; mov edx,
 * HI; wrmsr or rdmsr; exit 0. */
static void write_msr_guest(const char *path, bool write, uint32_t msr, uint64_t value)
{
	uint8_t g[] = {0x31, 0xc0, /* xor ax, ax */
	               0x8e, 0xd8, /* mov ds, ax */
	               0xc7, 0x06,
	               0x34, 0x00,
	               0x28, 0x7c, /* mov word [0x34], 0x7c28 */
	               0xc7, 0x06,
	               0x36, 0x00,
	               0x00, 0x00, /* mov word [0x36], 0 */
	               0x66, 0xb9,
	               0,    0,
	               0,    0, /* mov ecx, msr */
	               0x66, 0xb8,
	               0,    0,
	               0,    0, /* mov eax, lo */
	               0x66, 0xba,
	               0,    0,
	               0,    0,                   /* mov edx, hi */
	               0x0f, write ? 0x30 : 0x32, /* wrmsr / rdmsr */
	               0xb0, 0x00,
	               0xe6, 0xf4, /* exit 0 */
	               0xb0, GP_STATUS,
	               0xe6, 0xf4}; /* 0x7c28: exit 'G' */
	uint32_t lo = (uint32_t)value, hi = (uint32_t)(value >> 32);
	memcpy(g + 18, &msr, 4);
	memcpy(g + 24, &lo, 4);
	memcpy(g + 30, &hi, 4);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(g, 1, sizeof(g), f), sizeof(g));
	assert_int_equal(fclose(f), 0);
}

static const struct msr_row {
	const char *cpu;
	bool write;
	uint32_t msr;
	uint64_t value;
	bool gp;
	bool kvm; /* KVM's own MSRs answer the same */
} msr_rows[] = {
    {"intel-skylake", false, 0x179, 0, false, true}, /* MCG_CAP */
    {"amd-zen", false, 0x179, 0, false, true},
    {"default", false, 0x179, 0, true, false}, /* no MCA */
    {"intel-skylake", false, 0x1a0, 0, false, false},
    {"amd-zen", false, 0x1a0, 0, true, false}, /* AMD: no MISC_ENABLE */
    {"intel-skylake", false, 0x17b, 0, false, true},
    {"intel-skylake", true, 0x401, 0, false, true},         /* MC0_STATUS cleared */
    {"intel-skylake", true, 0x401, 1ull << 63, true, true}, /* MC0_STATUS: only zeros */
    {"intel-skylake", true, 0x400, 0x1234, true, true},     /* MC0_CTL: zeros or ones */
    {"intel-skylake", true, 0x179, 0, true, true},          /* MCG_CAP is read-only */
    {"intel-skylake", false, 0x428, 0, true, false},        /* past the 10 banks */
};

/* The RDMSR input of the trace, if any. */
static bool rdmsr_input(struct trace *t, uint64_t steps, uint32_t msr, uint64_t *value)
{
	for (uint64_t i = 0; i < steps; i++) {
		struct trace_step s;
		assert_int_equal(trace_step_at(t, i, &s), 0);
		for (uint32_t k = 0; k < s.n_inputs; k++)
			if (s.inputs[k].kind == TRACE_INPUT_RDMSR && s.inputs[k].addr == msr) {
				memcpy(value, s.inputs[k].data, 8);
				return true;
			}
	}
	return false;
}

static void test_msr_guests(void **state)
{
	(void)state;
	char gp[512], path[512];
	for (size_t r = 0; r < ARRAY_LEN(msr_rows); r++) {
		const struct msr_row *row = &msr_rows[r];
		if (!engine_emu && !row->kvm)
			continue;
		snprintf(gp, sizeof(gp), "%s/msr%zu.bin", tmpdir, r);
		snprintf(path, sizeof(path), "%s/msr%zu.db", tmpdir, r);
		write_msr_guest(gp, row->write, row->msr, row->value);
		struct rec_summary sum = record(gp, path, row->cpu);
		int want = row->gp ? GP_STATUS : 0;
		if (sum.end != REC_END_GUEST_EXIT || sum.guest_status != want)
			fail_msg("--cpu %s: %s %#x: ended %s status %#x, want %s", row->cpu,
			         row->write ? "wrmsr" : "rdmsr", row->msr, rec_end_name(sum.end),
			         sum.guest_status, row->gp ? "#GP" : "no #GP");
		if (row->write || row->gp)
			continue;
		struct cpu_model m = model(row->cpu);
		struct cpu_msrs s;
		uint64_t want_value, got;
		cpu_msrs_reset(&m, &s);
		assert_true(cpu_msr_read(&m, &s, row->msr, &want_value));
		struct trace *t;
		assert_int_equal(trace_open(&t, path), 0);
		bool found = rdmsr_input(t, sum.steps, row->msr, &got);
		trace_close(t);
		if (!found || got != want_value)
			fail_msg("--cpu %s: rdmsr %#x: recorded %s%#llx, the model has %#llx", row->cpu,
			         row->msr, found ? "" : "no input ", (unsigned long long)(found ? got : 0),
			         (unsigned long long)want_value);
	}
}

/* Bad --cpu text: status 2 and a message naming it, before anything is recorded. */
static void test_bad_cpu(void **state)
{
	(void)state;
	static const struct {
		const char *cpu, *message;
		bool emu_only;
	} rows[] = {
	    {"bogus", "--cpu: unknown model 'bogus'; models: default, intel-skylake, amd-zen", false},
	    {"default,+nope", "--cpu: unknown feature 'nope'", false},
	    {"default,x2apic", "'x2apic' is not +FEATURE", false},
	    {"host", "--cpu host is the KVM engine's table", true},
	};
	char gp[512], path[512];
	corpus_path("cpuvendor", gp, sizeof(gp));
	snprintf(path, sizeof(path), "%s/bad.db", tmpdir);
	for (size_t r = 0; r < ARRAY_LEN(rows); r++) {
		if (rows[r].emu_only && !engine_emu)
			continue;
		char err[2048] = "";
		struct rec_options opt = options(gp, path, rows[r].cpu);
		struct rec_summary sum;
		assert_int_equal(recorder_run(&opt, &sum, err, sizeof(err)), 2);
		if (!strstr(err, rows[r].message))
			fail_msg("--cpu %s: '%s' lacks '%s'", rows[r].cpu, err, rows[r].message);
		assert_int_equal(sum.steps, 0);
	}
}

/* The command line: one line and exit status 2 for a bad model; info shows a recorded one. */
static void test_cli(void **state)
{
	(void)state;
	const char *bin = getenv("EMUDIFF_BIN");
	char gp[512], cmd[2048], out[4096];
	if (!bin || !engine_emu)
		skip();
	corpus_path("cpuvendor", gp, sizeof(gp));
	snprintf(cmd, sizeof(cmd), "'%s' record --engine emu --cpu=i486 -o '%s/cli.db' '%s' 2>&1", bin,
	         tmpdir, gp);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	int status = pclose(p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 2);
	assert_non_null(strstr(out, "emudiff record: --cpu: unknown model 'i486'; models: default,"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);

	snprintf(
	    cmd, sizeof(cmd),
	    "'%s' record --engine emu --cpu amd-zen,-sse4_2 -o '%s/cli.db' '%s' 2>/dev/null && '%s' info "
	    "'%s/cli.db'",
	    bin, tmpdir, gp, bin, tmpdir);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	assert_int_equal(pclose(p), 0);
	if (!strstr(out, "cpu model    amd-zen,-sse4_2\n") || !strstr(out, "cpu msrs     MISC_ENABLE absent"))
		fail_msg("info does not show the model: %s", out);
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int status = test_engine_select(argc, argv, "test_cpu_model_record", &engine_emu);
	if (status >= 0)
		return status;
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vendor_guest),
	    cmocka_unit_test(test_msr_guests),
	    cmocka_unit_test(test_pc_machine_cpuid),
	    cmocka_unit_test(test_bad_cpu),
	    cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
