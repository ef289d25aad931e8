/* The recorder end to end: every corpus guest recorded in step mode on /dev/kvm matches an independent
 * single-step run that reads the full state with ioctls at every step; exits and demand modes agree with
 * step mode; recordings are deterministic; bad input gets exit status 2; SIGKILL leaves a readable trace;
 * the command's progress line shows on a terminal only.
 *   test_record kvm   all of it on /dev/kvm (skips, 77, without it)
 *   test_record emu   those that need no KVM, with --engine emu */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../corpus/tests/manifest.h"
#include "../../machine/devices.h"
#include "../../schema/trace.h"
#include "../../vmx-shim/shim.h"
#include "../recorder.h"
#include "engine.h"
#include "trace_compare.h"

static char tmpdir[256];
static bool engine_emu;

#define SEABIOS "/usr/share/seabios/bios.bin"

static void need_kvm_engine(void)
{
	if (engine_emu) {
		print_message("SKIP: compares with KVM's own single-step, or needs exits/demand mode\n");
		skip();
	}
}

static const char *tmp_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static int run_cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct rec_summary record_with(const char *guest, const char *out, enum rec_mode mode,
                                      uint64_t max_steps, bool with_emu, bool fallback)
{
	char gp[512];
	struct rec_options opt = {
	    .output = out,
	    .force = true,
	    .engine = with_emu ? REC_ENGINE_EMU : REC_ENGINE_KVM,
	    .mode = mode,
	    .demand = REC_DEMAND_REAL,
	    .max_steps = max_steps,
	    .fallback_emu = fallback,
	    .mem_bytes = 16u << 20,
	    .load_addr = 0x7c00,
	    .guest_path = corpus_path(guest, gp, sizeof(gp)),
	    .command_line = "test",
	};
	struct rec_summary sum;
	char err[512] = "";
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (rc)
		fail_msg("recording %s: status %d: %s", guest, rc, err);
	return sum;
}

static struct rec_summary record(const char *guest, const char *out, enum rec_mode mode, uint64_t max_steps)
{
	return record_with(guest, out, mode, max_steps, engine_emu, false);
}

/* Corpus guests recorded in step mode; each ends as corpus/manifest.tsv says for this host's reference.
 * tfstep, which single-steps itself, is test_guest_single_step's: the independent run here does not deliver
 * its #DBs.
 */
static const char *const step_guests[] = {"realloop", "strings", "modeswitch", "shadow", "realint",
                                          "io",       "triple",  "pmiret",     "pmint",  "kvmgaps"};
static struct corpus_manifest manifest;

static void expected_end(const char *name, const char *reference, enum rec_end *end, int *status)
{
	const char *text = NULL;
	unsigned n = 0;

	for (size_t i = 0; i < manifest.n; i++)
		if (!strcmp(manifest.guests[i].name, name))
			text = corpus_expected_end(&manifest.guests[i], reference, false);
	if (!text)
		fail_msg("%s: not in %s", name, manifest.path);
	*status = 0;
	if (sscanf(text, "exit:%u", &n) == 1)
		*end = REC_END_GUEST_EXIT, *status = (int)n;
	else if (!strcmp(text, "shutdown"))
		*end = REC_END_SHUTDOWN;
	else
		*end = REC_END_EMULATION_FAILURE;
}

/* An independent run: single-step with full-state ioctls at every step, devices answering I/O. */
static void check_against_kvm(const char *guest, struct trace *t)
{
	char gp[512];
	FILE *f = fopen(corpus_path(guest, gp, sizeof(gp)), "rb");
	assert_non_null(f);
	struct shim_vm *vm;
	struct shim_config cfg = {.ram_bytes = 16u << 20, .dirty_log = false};
	assert_int_equal(shim_open(&vm, &cfg), 0);
	size_t n = fread(shim_ram(vm) + 0x7c00, 1, 1 << 20, f);
	fclose(f);
	assert_true(n > 0);
	struct devbus *bus = devbus_new();
	assert_int_equal(devbus_add_standard(bus), 0);
	struct x86_state st, rec;
	assert_int_equal(trace_state_at(t, 0, &rec), 0);
	assert_int_equal(shim_set_state(vm, &rec), 0);
	assert_int_equal(shim_set_singlestep(vm, true), 0);
	uint64_t steps = trace_step_count(t);
	/* RAM before each step, for the VT-x/SVM stepping-TF clean-up the recorder does too. */
	uint8_t *before = malloc(shim_ram_size(vm));
	assert_non_null(before);
	for (uint64_t i = 0; i < steps; i++) {
		struct shim_exit ex;
		struct x86_state pre;
		assert_int_equal(shim_get_state(vm, &pre, true), 0);
		/* The stacks these guests push FLAGS on are below 64 KiB, identity-mapped. */
		memcpy(before, shim_ram(vm), 0x10000);
		do
			assert_int_equal(shim_run(vm, &ex), 0);
		while (ex.kind == SHIM_EXIT_INTR);
		while (ex.kind == SHIM_EXIT_IO || ex.kind == SHIM_EXIT_MMIO) {
			if (ex.kind == SHIM_EXIT_IO)
				devbus_pio(bus, (uint16_t)ex.addr, ex.size, ex.is_write,
				           ex.pio_data ? ex.pio_data : ex.data, ex.count ? ex.count : 1);
			else
				devbus_mmio(bus, ex.addr, ex.size, ex.is_write, ex.data);
			assert_int_equal(shim_complete_io(vm, &ex), 0);
			if (!shim_exit_pending(vm))
				break;
			assert_int_equal(shim_run(vm, &ex), 0);
		}
		bool io = ex.kind == SHIM_EXIT_IO || ex.kind == SHIM_EXIT_MMIO;
		if (!io && ex.kind != SHIM_EXIT_DEBUG && ex.kind != SHIM_EXIT_HLT) {
			fail_msg("%s step %llu: unexpected exit kind %d", guest, (unsigned long long)i,
			         ex.kind);
		}
		memset(&st, 0, sizeof(st));
		assert_int_equal(shim_get_state(vm, &st, true), 0);
		shim_step_unset_tf(vm, before, &pre, &st);
		assert_int_equal(trace_state_at(t, i + 1, &rec), 0);
		if (memcmp(&st, &rec, sizeof(st)) != 0) {
			for (size_t k = 0; k < x86_field_count; k++) {
				const struct x86_field *fd = &x86_fields[k];
				if (memcmp((uint8_t *)&st + fd->offset, (uint8_t *)&rec + fd->offset,
				           fd->size))
					print_error("%s step %llu: %s kvm %llx trace %llx\n", guest,
					            (unsigned long long)i, fd->name,
					            (unsigned long long)x86_field_get(&st, fd),
					            (unsigned long long)x86_field_get(&rec, fd));
			}
			fail_msg("%s: the trace's state after step %llu differs from KVM's", guest,
			         (unsigned long long)i);
		}
		uint8_t a[4096], b[4096];
		/* Memory: the page under the stack and the guest's own page match the live VM. */
		uint64_t pages[] = {0x7000, 0x7c00 & ~0xfffull, 0x0};
		for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
			assert_int_equal(
			    trace_memory_at(t, i + 1 < steps ? i + 1 : i, pages[p], a, sizeof(a)), 0);
			memcpy(b, shim_ram(vm) + pages[p], sizeof(b));
			if (i + 1 < steps && memcmp(a, b, sizeof(a)))
				fail_msg("%s: memory page 0x%llx before step %llu differs from KVM's", guest,
				         (unsigned long long)pages[p], (unsigned long long)(i + 1));
		}
	}
	free(before);
	devbus_free(bus);
	shim_close(vm);
}

static void test_step_mode_matches_kvm(void **state)
{
	(void)state;
	need_kvm_engine();
	const char *reference = test_engine_reference(false), *dir;
	assert_int_equal(corpus_manifest_from_env(&manifest, &dir), 0);
	for (size_t g = 0; g < sizeof(step_guests) / sizeof(step_guests[0]); g++) {
		const char *name = step_guests[g];
		enum rec_end end;
		int status;
		char out[512];
		expected_end(name, reference, &end, &status);
		struct rec_summary sum =
		    record(name, tmp_path("step.db", out, sizeof(out)), REC_MODE_STEP, 0);
		if (sum.end != end || sum.guest_status != status)
			fail_msg("%s: ended '%s' (%s), status %d; expected '%s' status %d under %s (%s)",
			         name, rec_end_name(sum.end), sum.end_detail, sum.guest_status,
			         rec_end_name(end), status, reference, manifest.path);
		struct trace *t;
		assert_int_equal(trace_open(&t, out), 0);
		assert_true(trace_is_complete(t));
		assert_int_equal(trace_step_count(t), sum.steps);
		assert_true(sum.steps > 10);
		check_against_kvm(name, t);
		trace_close(t);
	}
}

/* CS:RIP of a step's pre-state, and whether a single step may run the next instruction with it: MOV SS, POP
 * SS (silicon), STI under qemu-tcg, a software interrupt (KVM's emulator enters the handler). */
static void step_place(struct trace *t, uint64_t step, bool sti_shadows, uint64_t *place, bool *shadows)
{
	struct x86_state st;
	uint8_t b[15];
	unsigned i = 0;

	assert_int_equal(trace_state_at(t, step, &st), 0);
	*place = (uint64_t)st.seg[X86_CS].selector << 48 | st.rip;
	/* The corpus guests run with CS base + RIP as the physical address (no paging or identity-mapped). */
	assert_int_equal(trace_memory_at(t, step, (st.seg[X86_CS].base + st.rip) & 0xffffffffu, b, sizeof(b)),
	                 0);
	while (i < sizeof(b) - 1 && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0x26 || b[i] == 0x2e ||
	                             b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x64 || b[i] == 0x65))
		i++;
	*shadows =
	    b[i] == 0x17 || (b[i] == 0x8e && ((b[i + 1] >> 3) & 7) == 2) || (sti_shadows && b[i] == 0xfb);
	/* INT n, INT3, INTO: KVM's emulator (PVM) also runs the handler's first instruction in that step. */
	*shadows |= b[i] == 0xcd || b[i] == 0xcc || b[i] == 0xce;
}

/* No step is lost: every instruction the emu engine records (one a step) is a step of the KVM recording too,
 * but for what a single-stepped CPU runs within one step, by design: the instruction a MOV SS/POP SS shadows,
 * the further iterations of a REP string instruction, and the handler a RUN step ran unstepped. These guests
 * do port I/O, MMIO, CR and EFER writes between plain instructions, where KVM emulates. */
static void test_no_lost_steps(void **state)
{
	(void)state;
	need_kvm_engine();
	const char *reference = test_engine_reference(false);
	const bool sti_shadows = !strcmp(reference, "qemu-tcg");
	const char *names[] = {"modeswitch", "io", "strings", "shadow"};
	for (size_t g = 0; g < sizeof(names) / sizeof(names[0]); g++) {
		char a[512], b[512];
		record_with(names[g], tmp_path("kvm.db", a, sizeof(a)), REC_MODE_STEP, 0, false, false);
		record_with(names[g], tmp_path("emu.db", b, sizeof(b)), REC_MODE_STEP, 0, true, false);
		struct trace *tk, *te;
		assert_int_equal(trace_open(&tk, a), 0);
		assert_int_equal(trace_open(&te, b), 0);
		uint64_t nk = trace_step_count(tk), ne = trace_step_count(te), j = 0, merged = 0,
		         unstepped = 0;
		uint64_t kplace = 0, eplace, prev_place = UINT64_MAX, prev_kplace = UINT64_MAX;
		bool kshadows, eshadows, prev_shadows = false, after_run = false;
		struct trace_step ks;
		if (nk)
			step_place(tk, 0, sti_shadows, &kplace, &kshadows);
		for (uint64_t i = 0; i < ne; i++) {
			step_place(te, i, sti_shadows, &eplace, &eshadows);
			/* KVM's last REP OUTS iteration leaves RIP on the instruction: one more step there.
			 */
			while (j < nk && eplace != kplace && kplace == prev_kplace) {
				merged++;
				if (++j < nk)
					step_place(tk, j, sti_shadows, &kplace, &kshadows);
			}
			if (j < nk && eplace == kplace) {
				prev_kplace = kplace;
				assert_int_equal(trace_step_at(tk, j, &ks), 0);
				after_run = ks.kind == TRACE_STEP_RUN;
				if (++j < nk)
					step_place(tk, j, sti_shadows, &kplace, &kshadows);
			} else if (eplace == prev_place || prev_shadows) {
				merged++;
			} else if (after_run) {
				unstepped++;
			} else {
				for (uint64_t k = j > 3 ? j - 3 : 0; k < j + 3 && k < nk; k++) {
					uint64_t pl;
					bool sh;
					step_place(tk, k, sti_shadows, &pl, &sh);
					assert_int_equal(trace_step_at(tk, k, &ks), 0);
					print_message("  KVM step %llu: %04llx:%llx%s rcx %llx\n",
					              (unsigned long long)k, (unsigned long long)(pl >> 48),
					              (unsigned long long)(pl & 0xffffffffffffull),
					              ks.kind == TRACE_STEP_RUN ? " (RUN)" : "",
					              (unsigned long long)ks.pre.gpr[X86_RCX]);
				}
				fail_msg("%s: emu step %llu (%04llx:%llx) is not in the KVM recording (%s) "
				         "after its step "
				         "%llu: a lost step",
				         names[g], (unsigned long long)i, (unsigned long long)(eplace >> 48),
				         (unsigned long long)(eplace & 0xffffffffffffull), reference,
				         (unsigned long long)j);
			}
			prev_place = eplace;
			prev_shadows = eshadows;
		}
		print_message(
		    "%s: %llu emu steps; KVM (%s) %llu steps, %llu instructions merged by design, %llu in "
		    "unstepped handlers\n",
		    names[g], (unsigned long long)ne, reference, (unsigned long long)nk,
		    (unsigned long long)merged, (unsigned long long)unstepped);
		if (j != nk)
			fail_msg("%s: KVM step %llu (of %llu) matches no emu step", names[g],
			         (unsigned long long)j, (unsigned long long)nk);
		trace_close(tk);
		trace_close(te);
	}
}

/* Values KVM hands the guest without an exit are inputs of their step: pfault's CPUID 0x80000001 (the NX
 * check) carries the leaf and the four registers the step left; its RDMSR of EFER, which the state holds,
 * none. The emu engine records the same from its CPU model. */
static void test_instruction_inputs(void **state)
{
	(void)state;
	char out[512];
	record("pfault", tmp_path("inputs.db", out, sizeof(out)), REC_MODE_STEP, 400);
	struct trace *t;
	assert_int_equal(trace_open(&t, out), 0);
	uint64_t n = trace_step_count(t), cpuids = 0;
	for (uint64_t i = 0; i + 1 < n; i++) {
		struct trace_step s;
		struct x86_state post;
		uint8_t b[2];
		assert_int_equal(trace_step_at(t, i, &s), 0);
		assert_int_equal(
		    trace_memory_at(t, i, (s.pre.seg[X86_CS].base + s.pre.rip) & 0xffffffffu, b, 2), 0);
		bool cpuid = b[0] == 0x0f && b[1] == 0xa2, rdmsr = b[0] == 0x0f && b[1] == 0x32;
		uint64_t leaf = s.pre.gpr[X86_RAX] & 0xffffffffu;
		uint32_t n_inputs = s.n_inputs;
		struct trace_input in = n_inputs ? s.inputs[0] : (struct trace_input){0};
		if (!cpuid && !rdmsr)
			continue;
		assert_int_equal(trace_state_at(t, i + 1, &post), 0);
		if (rdmsr) {
			assert_int_equal(s.pre.gpr[X86_RCX], 0xc0000080u);
			assert_int_equal(n_inputs, 0);
			continue;
		}
		cpuids++;
		assert_int_equal(n_inputs, 1);
		assert_int_equal(in.kind, TRACE_INPUT_CPUID);
		assert_int_equal(in.addr, leaf | (s.pre.gpr[X86_RCX] & 0xffffffffu) << 32);
		uint32_t regs[4] = {(uint32_t)post.gpr[X86_RAX], (uint32_t)post.gpr[X86_RBX],
		                    (uint32_t)post.gpr[X86_RCX], (uint32_t)post.gpr[X86_RDX]};
		assert_memory_equal(in.data, regs, 16);
		assert_true(regs[3] & (1u << 20)); /* NX, which pfault checks */
	}
	assert_int_equal(cpuids, 1);
	trace_close(t);
}

/* Two recordings of one guest: identical states, writes and inputs at every step. */
static void test_deterministic(void **state)
{
	(void)state;
	const char *names[] = {"realloop", "modeswitch", "shadow"};
	for (size_t g = 0; g < 3; g++) {
		char a[512], b[512];
		record(names[g], tmp_path("a.db", a, sizeof(a)), REC_MODE_STEP, 0);
		record(names[g], tmp_path("b.db", b, sizeof(b)), REC_MODE_STEP, 0);
		trace_compare_steps(a, b);
	}
}

/* #DB traps tfstep's handler counts, by reference and mode (its expected end is the manifest's): silicon's by
 * the SDM, the others measured; kvm-emulator's step mode is unmeasured (no PVM host since). Step mode: the
 * recorder delivers the traps KVM's single-step takes for its own as silicon raises them, none after a MOV SS
 * or POP SS (the next instruction's trap covers both). Exits mode: the reference's own; KVM's emulator (PVM)
 * traps after MOV SS and POP SS too, QEMU's TCG holds the trap as silicon does. */
static const struct {
	const char *reference;
	enum rec_mode mode;
	unsigned traps;
} tf_traps_expected[] = {
    {"silicon", REC_MODE_STEP, 10},  {"silicon", REC_MODE_EXITS, 10},  {"emu", REC_MODE_STEP, 10},
    {"qemu-tcg", REC_MODE_STEP, 10}, {"qemu-tcg", REC_MODE_EXITS, 10}, {"kvm-emulator", REC_MODE_EXITS, 13},
};

/* Records tfstep in mode to its end (as corpus/manifest.tsv says) and checks the #DB count it prints: that
 * count. */
static unsigned record_tfstep(const char *out, enum rec_mode mode, const char *reference)
{
	enum rec_end end;
	int status;
	unsigned traps = 0, want = 0;
	char console[512] = "";

	expected_end("tfstep", reference, &end, &status);
	/* About 1700 steps: the limit only stops a run gone astray. */
	struct rec_summary sum = record("tfstep", out, mode, 100000);
	if (sum.end != end || sum.guest_status != status)
		fail_msg("tfstep (mode %d): ended '%s' (%s), status %d; expected '%s' status %d under %s",
		         (int)mode, rec_end_name(sum.end), sum.end_detail, sum.guest_status,
		         rec_end_name(end), status, reference);
	struct trace *t;
	assert_int_equal(trace_open(&t, out), 0);
	assert_true(trace_is_complete(t));
	assert_int_equal(trace_meta_get(t, "console", console, sizeof(console)), 0);
	trace_close(t);
	if (sscanf(console, "tfstep: #DB count %x", &traps) != 1)
		fail_msg("tfstep printed no #DB count: \"%s\"", console);
	for (size_t i = 0; i < sizeof(tf_traps_expected) / sizeof(tf_traps_expected[0]); i++)
		if (!strcmp(tf_traps_expected[i].reference, reference) && tf_traps_expected[i].mode == mode)
			want = tf_traps_expected[i].traps;
	if (!want)
		fail_msg(
		    "tfstep gave %u #DB traps in mode %d under %s, which has no expected count: measure it "
		    "and add it to tf_traps_expected",
		    traps, (int)mode, reference);
	if (traps != want)
		fail_msg("tfstep gave %u #DB traps in mode %d under %s, expected %u: \"%s\"", traps,
		         (int)mode, reference, want, console);
	return traps;
}

/* Exits mode: every recorded instruction is a (pre, post) pair that step mode also saw. */
static void test_exits_mode_agrees_with_step_mode(void **state)
{
	(void)state;
	need_kvm_engine();
	char sp[512], ep[512];
	record("realloop", tmp_path("s.db", sp, sizeof(sp)), REC_MODE_STEP, 0);
	struct rec_summary sum = record("realloop", tmp_path("e.db", ep, sizeof(ep)), REC_MODE_EXITS, 0);
	assert_int_equal(sum.end, REC_END_GUEST_EXIT);
	struct trace *ts, *te;
	assert_int_equal(trace_open(&ts, sp), 0);
	assert_int_equal(trace_open(&te, ep), 0);
	uint64_t ns = trace_step_count(ts), ne = trace_step_count(te);
	assert_true(ne < ns);
	struct x86_state *step_states = calloc(ns + 1, sizeof(*step_states));
	for (uint64_t i = 0; i <= ns; i++)
		assert_int_equal(trace_state_at(ts, i, &step_states[i]), 0);
	uint64_t insns = 0, runs = 0, k = 0;
	for (uint64_t i = 0; i < ne; i++) {
		struct trace_step s;
		struct x86_state post;
		assert_int_equal(trace_step_at(te, i, &s), 0);
		assert_int_equal(trace_state_at(te, i + 1, &post), 0);
		if (s.kind == TRACE_STEP_RUN) {
			runs++;
			continue;
		}
		assert_int_equal(s.kind, TRACE_STEP_INSN);
		insns++;
		while (k < ns && memcmp(&step_states[k], &s.pre, sizeof(s.pre)))
			k++;
		if (k == ns)
			fail_msg("exits-mode step %llu: its pre-state (rip %llx) is not a step-mode state",
			         (unsigned long long)i, (unsigned long long)s.pre.rip);
		assert_memory_equal(&step_states[k + 1], &post, sizeof(post));
	}
	assert_true(insns > 0);
	assert_true(runs > 0);
	/* A guest that single-steps itself keeps its own TF in exits mode: the reference delivers its #DBs.
	 */
	char tp[512];
	const char *dir;
	assert_int_equal(corpus_manifest_from_env(&manifest, &dir), 0);
	record_tfstep(tmp_path("tf.db", tp, sizeof(tp)), REC_MODE_EXITS, test_engine_reference(false));
	/* The final states agree. */
	struct x86_state fe;
	assert_int_equal(trace_state_at(te, ne, &fe), 0);
	assert_memory_equal(&fe, &step_states[ns], sizeof(fe));
	free(step_states);
	trace_close(ts);
	trace_close(te);
}

/* tfstep sets TF itself. Step mode runs it to its exit: the steps under the guest's TF have it in their
 * pre-state, each #DB the guest counts is delivered through its IVT in the step that raised it, and emu
 * replays the trace with no new divergence. */
static void test_guest_single_step(void **state)
{
	(void)state;
	const char *reference = test_engine_reference(engine_emu), *dir;
	char out[512], results[512];
	assert_int_equal(corpus_manifest_from_env(&manifest, &dir), 0);
	unsigned traps = record_tfstep(tmp_path("tfstep.db", out, sizeof(out)), REC_MODE_STEP, reference);
	struct trace *t;
	assert_int_equal(trace_open(&t, out), 0);
	uint64_t n = trace_step_count(t), tf_steps = 0, db_entries = 0;
	struct x86_state st, next;
	uint8_t ivt[4];
	/* IVT entry 1, as the guest set it: its #DB handler. */
	assert_int_equal(trace_memory_at(t, n - 1, 4, ivt, sizeof(ivt)), 0);
	assert_int_equal(trace_state_at(t, 0, &st), 0);
	for (uint64_t i = 0; i < n; i++, st = next) {
		assert_int_equal(trace_state_at(t, i + 1, &next), 0);
		if (!(st.rflags & X86_RFLAGS_TF))
			continue;
		tf_steps++;
		if (!(next.rflags & X86_RFLAGS_TF) && next.rip == (uint64_t)(ivt[0] | ivt[1] << 8) &&
		    next.seg[X86_CS].selector == (ivt[2] | ivt[3] << 8))
			db_entries++;
	}
	trace_close(t);
	print_message("tfstep under %s: %llu steps, %llu with the guest's TF, %llu enter its #DB handler\n",
	              reference, (unsigned long long)n, (unsigned long long)tf_steps,
	              (unsigned long long)db_entries);
	/* Each trap the guest counted entered its handler in the step of the instruction that raised it. */
	assert_int_equal(db_entries, traps);
	assert_true(tf_steps >= db_entries);
	int st_replay = run_cli("replay %s --backends emu -o %s", out,
	                        tmp_path("tfstep-replay.db", results, sizeof(results)));
	if (st_replay != 0)
		fail_msg("emu's replay of tfstep's step-mode trace exited %d (1: new divergences): see %s",
		         st_replay, results);
}

/* --fallback emu, exits mode, on the corpus guests some reference cannot run to their end: where this host's
 * reference stops at an emulation failure (KVM's emulator on PVM), the guest goes on to its exit and its
 * trace holds the FALLBACK steps emu executed; where the reference runs them (silicon, QEMU's TCG), no step
 * falls back and the guest ends as the manifest says for the reference. */
static void test_fallback_steps(void **state)
{
	(void)state;
	need_kvm_engine();
	const char *reference = test_engine_reference(false), *dir;
	unsigned guests = 0;
	assert_int_equal(corpus_manifest_from_env(&manifest, &dir), 0);
	for (size_t i = 0; i < manifest.n; i++) {
		const struct corpus_guest *g = &manifest.guests[i];
		bool somewhere = false;
		for (unsigned k = 0; k < g->n_other_ends; k++)
			somewhere |= !strcmp(g->other_ends[k].end, "emulation-failure");
		if (!somewhere || strcmp(g->start, "real") || g->load != 0x7c00)
			continue;
		guests++;
		bool needs = !strcmp(corpus_expected_end(g, reference, false), "emulation-failure");
		enum rec_end end;
		int status;
		char out[512];
		expected_end(g->name, reference, &end, &status);
		struct rec_summary sum = record_with(g->name, tmp_path("fallback.db", out, sizeof(out)),
		                                     REC_MODE_EXITS, 1000000, false, true);
		struct trace *t;
		struct trace_step s;
		uint64_t fallback_rows = 0;
		assert_int_equal(trace_open(&t, out), 0);
		for (uint64_t k = 0; k < trace_step_count(t); k++) {
			assert_int_equal(trace_step_at(t, k, &s), 0);
			fallback_rows += s.kind == TRACE_STEP_FALLBACK;
		}
		trace_close(t);
		print_message("%-10s under %s with --fallback emu: '%s' status %d, %llu FALLBACK steps\n",
		              g->name, reference, rec_end_name(sum.end), sum.guest_status,
		              (unsigned long long)fallback_rows);
		assert_int_equal(fallback_rows, sum.fallback_steps);
		/* Where emu completes what the reference cannot, the guest's status is the reference's mix.
		 */
		if (needs && (sum.end != REC_END_GUEST_EXIT || fallback_rows == 0))
			fail_msg("%s: recorded with --fallback emu under %s, ended '%s' (%s) with %llu "
			         "FALLBACK steps",
			         g->name, reference, rec_end_name(sum.end), sum.end_detail,
			         (unsigned long long)fallback_rows);
		if (!needs && (sum.end != end || sum.guest_status != status || fallback_rows != 0))
			fail_msg("%s: under %s, which runs it, --fallback emu gave '%s' status %d and %llu "
			         "FALLBACK "
			         "steps; expected '%s' status %d and none",
			         g->name, reference, rec_end_name(sum.end), sum.guest_status,
			         (unsigned long long)fallback_rows, rec_end_name(end), status);
	}
	assert_true(guests >= 5);
}

/* Demand mode (real): every instruction recorded while CR0.PE=0, and only those stepped. */
static void test_demand_real(void **state)
{
	(void)state;
	need_kvm_engine();
	char dp[512];
	struct rec_summary sum = record("modeswitch", tmp_path("d.db", dp, sizeof(dp)), REC_MODE_DEMAND, 0);
	assert_int_equal(sum.end, REC_END_GUEST_EXIT);
	struct trace *t;
	assert_int_equal(trace_open(&t, dp), 0);
	uint64_t real_insns = 0, prot_insns = 0;
	for (uint64_t i = 0; i < trace_step_count(t); i++) {
		struct trace_step s;
		assert_int_equal(trace_step_at(t, i, &s), 0);
		if (s.kind != TRACE_STEP_INSN)
			continue;
		if (s.pre.cr0 & X86_CR0_PE)
			prot_insns++;
		else
			real_insns++;
	}
	assert_true(real_insns > 10);
	/* Protected-mode instructions appear only where an exit recorded them (the exit-port OUT). */
	assert_true(prot_insns <= sum.exits);
	assert_true(sum.insn_steps < 4000);
	trace_close(t);
}

static int run_cli(const char *fmt, ...)
{
	char args[1024], cmd[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	const char *bin = getenv("EMUDIFF_BIN");
	snprintf(cmd, sizeof(cmd), "%s %s 2>%s/stderr.txt >/dev/null", bin ? bin : "emudiff", args, tmpdir);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void read_tmp(const char *name, char *buf, size_t len)
{
	char p[512];
	FILE *f = fopen(tmp_path(name, p, sizeof(p)), "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}

static void assert_stderr_mentions(const char *what)
{
	char buf[2048] = "";
	read_tmp("stderr.txt", buf, sizeof(buf));
	if (!strstr(buf, what))
		fail_msg("stderr '%s' does not mention '%s'", buf, what);
	/* One clear line. */
	assert_non_null(strchr(buf, '\n'));
	assert_null(strchr(strchr(buf, '\n') + 1, '\n'));
}

struct bad_input {
	const char *args;
	int status;
	const char *mentions;
	const char *file;
	int line;
};

static void test_bad_input(void **state)
{
	(void)state;
	char big[512], junk[512], trunc[512], good[512], exist[512], cmd[2048];
	tmp_path("big.bin", big, sizeof(big));
	tmp_path("junk.db", junk, sizeof(junk));
	tmp_path("trunc.db", trunc, sizeof(trunc));
	tmp_path("exists.db", exist, sizeof(exist));
	FILE *f = fopen(big, "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 2 << 20), 0);
	fclose(f);
	f = fopen(junk, "wb");
	fputs("this is not a trace\n", f);
	fclose(f);
	f = fopen(exist, "wb");
	fputs("precious", f);
	fclose(f);
	/* A real trace cut in half. */
	record("realloop", tmp_path("good.db", good, sizeof(good)), REC_MODE_STEP, 0);
	snprintf(cmd, sizeof(cmd), "head -c 3000 %s > %s", good, trunc);
	assert_int_equal(system(cmd), 0);
	char guest[512];
	corpus_path("realloop", guest, sizeof(guest));

	/* The guest as its own output, and a trace whose first state chunk is cut in half. */
	char self[512], damaged[512], swapped[512], flipped[512], setup[8192];
	tmp_path("flipped.db", flipped, sizeof(flipped));
	tmp_path("self.bin", self, sizeof(self));
	tmp_path("damaged.db", damaged, sizeof(damaged));
	tmp_path("swapped.db", swapped, sizeof(swapped));
	snprintf(
	    setup, sizeof(setup),
	    "cp %s %s && cp %s %s && sqlite3 %s \"UPDATE chunks SET data = substr(data, 1, length(data) / 2)"
	    " WHERE first_step = 0\" && cp %s %s && sqlite3 %s \"UPDATE pages SET data = (SELECT data FROM"
	    " pages p WHERE p.hash != pages.hash LIMIT 1) WHERE rowid = (SELECT min(rowid) FROM pages)\""
	    " && cp %s %s && sqlite3 %s \"UPDATE chunks SET data = CAST(substr(data, 1, length(data) / 2) ||"
	    " CASE WHEN substr(data, length(data) / 2 + 1, 1) = X'5a' THEN X'a5' ELSE X'5a' END ||"
	    " substr(data, length(data) / 2 + 2) AS BLOB) WHERE first_step = 0\"",
	    guest, self, good, damaged, damaged, good, swapped, swapped, good, flipped, flipped);
	assert_int_equal(system(setup), 0);
	char a[23][1200], kernel[512];
	corpus_path("stihlt", kernel, sizeof(kernel)); /* a multiboot kernel */
	const char *record = engine_emu ? "record --engine emu" : "record";
	snprintf(a[0], sizeof(a[0]), "%s -o %s/x.db %s/missing.bin", record, tmpdir, tmpdir);
	snprintf(a[1], sizeof(a[1]), "%s -o %s/x.db %s", record, tmpdir, big);
	snprintf(a[2], sizeof(a[2]), "%s -o %s %s", record, exist, guest);
	snprintf(a[3], sizeof(a[3]), "info %s", junk);
	snprintf(a[4], sizeof(a[4]), "info %s", trunc);
	snprintf(a[5], sizeof(a[5]), "info %s/nothing.db", tmpdir);
	snprintf(a[6], sizeof(a[6]), "%s --mode sideways %s", record, guest);
	snprintf(a[7], sizeof(a[7]), "%s --max-steps -5 %s", record, guest);
	snprintf(a[8], sizeof(a[8]), "record --engine sideways %s", guest);
	snprintf(a[9], sizeof(a[9]), "record --engine emu --fallback emu %s", guest);
	snprintf(a[10], sizeof(a[10]), "%s -o %s/x.db %s", record, tmpdir, kernel);
	snprintf(a[11], sizeof(a[11]), "%s --force -o %s %s", record, self, self);
	snprintf(a[12], sizeof(a[12]), "diff %s --step 3 --backends emu", damaged);
	snprintf(a[13], sizeof(a[13]), "replay %s --backends emu", swapped);
	/* One byte changed inside a state chunk: its zstd checksum fails. */
	snprintf(a[14], sizeof(a[14]), "replay %s --backends emu", flipped);
	/* The option scanner: one line naming the option, not the whole usage. */
	snprintf(a[15], sizeof(a[15]), "%s --bogus %s", record, guest);
	snprintf(a[16], sizeof(a[16]), "%s %s --mem", record, guest);
	snprintf(a[17], sizeof(a[17]), "%s --force=yes %s", record, guest);
	/* The multiboot and test-device options: each names itself. */
	snprintf(a[18], sizeof(a[18]), "%s --device sideways %s", record, guest);
	snprintf(a[19], sizeof(a[19]), "%s --debug-exit=sideways %s", record, guest);
	snprintf(a[20], sizeof(a[20]), "%s --module %s %s", record, kernel, guest);
	snprintf(a[21], sizeof(a[21]), "%s -o %s/x.db --multiboot %s --module %s/gone.bin,x", record, tmpdir,
	         kernel, tmpdir);
	snprintf(a[22], sizeof(a[22]), "%s -o %s/x.db --multiboot %s --module ,x", record, tmpdir, kernel);
	const struct bad_input cases[] = {
	    {a[0], 2, "missing.bin", __FILE__, __LINE__},
	    {a[1], 2, "big.bin", __FILE__, __LINE__},
	    {a[2], 2, "exists.db", __FILE__, __LINE__},
	    {a[3], 2, "junk.db", __FILE__, __LINE__},
	    {a[4], 2, "trunc.db", __FILE__, __LINE__},
	    {a[5], 2, "nothing.db", __FILE__, __LINE__},
	    {a[6], 2, "--mode", __FILE__, __LINE__},
	    {a[7], 2, "--max-steps", __FILE__, __LINE__},
	    {a[8], 2, "--engine", __FILE__, __LINE__},
	    {a[9], 2, "--fallback", __FILE__, __LINE__},
	    {a[10], 2, "--multiboot", __FILE__, __LINE__},
	    {a[11], 2, "self.bin", __FILE__, __LINE__},
	    {a[12], 2, "damaged.db", __FILE__, __LINE__},
	    {a[13], 2, "does not match its hash", __FILE__, __LINE__},
	    {a[14], 2, "checksum", __FILE__, __LINE__},
	    {a[15], 2, "unknown option --bogus", __FILE__, __LINE__},
	    {a[16], 2, "--mem needs a value", __FILE__, __LINE__},
	    {a[17], 2, "unknown option --force=yes", __FILE__, __LINE__},
	    {a[18], 2, "--device takes pc-testdev", __FILE__, __LINE__},
	    {a[19], 2, "--debug-exit takes plain or qemu", __FILE__, __LINE__},
	    {a[20], 2, "--module needs --multiboot", __FILE__, __LINE__},
	    {a[21], 2, "gone.bin: cannot open the --module file", __FILE__, __LINE__},
	    {a[22], 2, "--module takes FILE[,ARGS]", __FILE__, __LINE__},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = run_cli("%s", cases[i].args);
		if (st != cases[i].status)
			fail_msg("%s:%d: 'emudiff %s' exited %d, expected %d", cases[i].file, cases[i].line,
			         cases[i].args, st, cases[i].status);
		assert_stderr_mentions(cases[i].mentions);
	}
	/* The refused output file is untouched. */
	f = fopen(exist, "r");
	char buf[16] = "";
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "precious");
	/* So is the guest given as the output. */
	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", guest, self);
	assert_int_equal(system(cmd), 0);
}

/* info shows what a guest printed without handing its control bytes to the terminal: ESC c (a reset) on the
 * 0xe9 console comes out as \x1b. */
static void test_info_escapes_guest_output(void **state)
{
	(void)state;
	/* mov al, 0x1b; out 0xe9, al; mov al, 'c'; out 0xe9, al; mov al, 0; out 0xf4, al; hlt */
	static const uint8_t guest[] = {0xb0, 0x1b, 0xe6, 0xe9, 0xb0, 0x63, 0xe6,
	                                0xe9, 0xb0, 0x00, 0xe6, 0xf4, 0xf4};
	char image[512], trace[512], out[512], cmd[2048], text[4096] = "";
	tmp_path("esc.bin", image, sizeof(image));
	tmp_path("esc.db", trace, sizeof(trace));
	tmp_path("esc.txt", out, sizeof(out));
	FILE *f = fopen(image, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(guest, 1, sizeof(guest), f), sizeof(guest));
	fclose(f);
	assert_int_equal(
	    run_cli("record %s --force -o %s %s", engine_emu ? "--engine emu" : "", trace, image), 0);
	snprintf(cmd, sizeof(cmd), "%s info %s > %s", getenv("EMUDIFF_BIN"), trace, out);
	assert_int_equal(system(cmd), 0);
	f = fopen(out, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	assert_null(strchr(text, 0x1b));
	if (!strstr(text, "\\x1bc"))
		fail_msg("info does not show the console's ESC c as \\x1bc:\n%s", text);
}

/* info names a CPUID leaf the guest read otherwise than the table the recorder set (on PVM the guest's leaf 7
 * differs): pfault's CPUID 0x80000001 against a table whose EAX for it was changed afterwards. */
static void test_info_cpuid_difference(void **state)
{
	(void)state;
	char trace[512], out[512], cmd[2048], text[8192] = "";
	tmp_path("cpuid.db", trace, sizeof(trace));
	tmp_path("cpuid.txt", out, sizeof(out));
	record("pfault", trace, REC_MODE_STEP, 400);
	snprintf(cmd, sizeof(cmd),
	         "sqlite3 %s \"UPDATE meta SET value = replace(value, '80000001 00000000: ' ||"
	         " substr(value, instr(value, '80000001 00000000: ') + 19, 8), '80000001 00000000: 0000abcd')"
	         " WHERE key = 'cpuid'\" && %s info %s > %s",
	         trace, getenv("EMUDIFF_BIN"), trace, out);
	assert_int_equal(system(cmd), 0);
	FILE *f = fopen(out, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	if (!strstr(text, "leaf 0x80000001.0 at step") || !strstr(text, "(set 0x0000abcd)"))
		fail_msg("info does not name the CPUID leaf that differs:\n%s", text);
}

static pid_t start_recording(const char *out, const char *guest)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *bin = getenv("EMUDIFF_BIN");
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		/* emu records much faster than KVM single-steps: the SeaBIOS boot lasts long enough to kill.
		 */
		if (engine_emu)
			execl(bin, bin, "record", "--engine", "emu", "--force", "-o", out, "--bios", SEABIOS,
			      (char *)NULL);
		else
			execl(bin, bin, "record", "--force", "-o", out, guest, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* record draws its progress line only on a terminal: with stderr a file it writes the summary line alone. */
static void test_progress_only_on_terminal(void **state)
{
	(void)state;
	if (!engine_emu) {
		print_message(
		    "SKIP: the progress line is the command's, whatever the engine; test_record_emu\n");
		skip();
	}
	char out[512], guest[512], buf[8192], cmd[2048];
	tmp_path("progress.db", out, sizeof(out));
	corpus_path("modeswitch_1m", guest, sizeof(guest));
	assert_int_equal(run_cli("record --engine emu --force -o %s %s", out, guest), 0);
	assert_stderr_mentions("steps (");
	read_tmp("stderr.txt", buf, sizeof(buf));
	assert_null(strchr(buf, '\r'));
	assert_int_equal(strncmp(buf, "emudiff record: ", 16), 0);
	if (access("/usr/bin/script", X_OK)) {
		print_message("SKIP: no /usr/bin/script (util-linux) to give the recorder a terminal\n");
		return;
	}
	/* The same recording (about a second) on a pseudo-terminal redraws the line in place. */
	const char *bin = getenv("EMUDIFF_BIN");
	snprintf(cmd, sizeof(cmd),
	         "script -qec \"'%s' record --engine emu --force -o %s %s\" /dev/null >%s/tty.txt",
	         bin ? bin : "emudiff", out, guest, tmpdir);
	assert_int_equal(system(cmd), 0);
	read_tmp("tty.txt", buf, sizeof(buf));
	if (!strstr(buf, "\r") || !strstr(buf, "k steps/s, virtual "))
		fail_msg("no progress line on a terminal: '%s'", buf);
	assert_non_null(strstr(buf, "emudiff record: "));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Steps committed so far by a running recorder, 0 while none are readable. */
static uint64_t committed_steps(const char *path)
{
	struct trace *t;
	if (trace_open(&t, path))
		return 0;
	uint64_t n = trace_step_count(t);
	trace_close(t);
	return n;
}

/* SIGKILL at any moment leaves a trace that opens and reads up to its last batch. */
static void test_sigkill_leaves_readable_trace(void **state)
{
	(void)state;
	if (engine_emu && access(SEABIOS, R_OK) != 0) {
		print_message("SKIP: %s missing (Debian package seabios)\n", SEABIOS);
		skip();
	}
	char out[512], guest[512];
	tmp_path("killed.db", out, sizeof(out));
	corpus_path("modeswitch_1m", guest, sizeof(guest));
	/* Killed after the first batch, at varied points inside the next ones. */
	const long extra_ms[] = {0, 170, 430};
	for (size_t d = 0; d < 3; d++) {
		unlink(out);
		pid_t pid = start_recording(out, guest);
		for (int waited = 0; committed_steps(out) < TRACE_BATCH_STEPS; waited += 50) {
			int early;
			if (waitpid(pid, &early, WNOHANG) == pid)
				fail_msg("the recorder ended (status 0x%x) before committing a batch", early);
			if (waited > 120000)
				fail_msg("no batch of %u steps committed within 120 s", TRACE_BATCH_STEPS);
			sleep_ms(50);
		}
		sleep_ms(extra_ms[d]);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		struct trace *t;
		assert_int_equal(trace_open(&t, out), 0);
		assert_false(trace_is_complete(t));
		uint64_t n = trace_step_count(t);
		assert_true(n >= TRACE_BATCH_STEPS);
		assert_int_equal(n % TRACE_BATCH_STEPS, 0);
		/* Every committed step iterates, and state and memory before the last one read back. */
		struct trace_iter *it;
		struct trace_step s;
		uint64_t seen = 0;
		assert_int_equal(trace_iter_start(t, 0, &it), 0);
		while (trace_iter_next(it, &s) == 1)
			seen++;
		trace_iter_end(it);
		assert_int_equal(seen, n);
		struct x86_state last;
		assert_int_equal(trace_state_at(t, n - 1, &last), 0);
		assert_true(last.rip != 0);
		uint8_t page[4096];
		assert_int_equal(trace_memory_at(t, n - 1, 0x7000, page, sizeof(page)), 0);
		trace_close(t);
		assert_int_equal(run_cli("info %s", out), 0);
	}
	/* Killed before any batch: the file opens with no steps, or is refused with a clear error. */
	unlink(out);
	pid_t pid = start_recording(out, guest);
	sleep_ms(30);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	int st = run_cli("info %s", out);
	assert_true(st == 0 || st == 2);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/emudiff-test-record-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int status = test_engine_select(argc, argv, "test_record", &engine_emu);
	if (status >= 0)
		return status;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_step_mode_matches_kvm),
	    cmocka_unit_test(test_no_lost_steps),
	    cmocka_unit_test(test_instruction_inputs),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_exits_mode_agrees_with_step_mode),
	    cmocka_unit_test(test_guest_single_step),
	    cmocka_unit_test(test_fallback_steps),
	    cmocka_unit_test(test_demand_real),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_info_escapes_guest_output),
	    cmocka_unit_test(test_info_cpuid_difference),
	    cmocka_unit_test(test_sigkill_leaves_readable_trace),
	    cmocka_unit_test(test_progress_only_on_terminal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
