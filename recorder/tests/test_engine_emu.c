/* The recorder with --engine emu (no KVM; test_record emu checks determinism, bad input and SIGKILL): the
 * trace says its reference is emu and holds the exits KVM would have given (port and MMIO accesses with their
 * inputs), the end of the run is recorded as such, and options the engine cannot honour get exit status 2. */
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

#include "../../schema/trace.h"
#include "../recorder.h"
#include "engine.h"

static char tmpdir[] = "/tmp/emudiff-record-emu-XXXXXX";

static const char *tmp_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static struct rec_options emu_options(const char *guest, char *gp, size_t gplen, const char *out)
{
	return (struct rec_options){
	    .output = out,
	    .force = true,
	    .engine = REC_ENGINE_EMU,
	    .mode = REC_MODE_STEP,
	    .mem_bytes = 16u << 20,
	    .load_addr = 0x7c00,
	    .guest_path = corpus_path(guest, gp, gplen),
	    .command_line = "test",
	};
}

static struct rec_summary record(const char *guest, const char *out)
{
	char gp[512], err[512] = "";
	struct rec_options opt = emu_options(guest, gp, sizeof(gp), out);
	struct rec_summary sum;
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (rc)
		fail_msg("recording %s with --engine emu: status %d: %s", guest, rc, err);
	return sum;
}

struct exit_count {
	unsigned io_in, io_out, mmio_read, mmio_write, shutdown;
};

static int count_exit(void *arg, const struct trace_exit *e)
{
	struct exit_count *c = arg;
	if (e->reason == TRACE_EXIT_IO)
		e->is_write ? c->io_out++ : c->io_in++;
	else if (e->reason == TRACE_EXIT_MMIO)
		e->is_write ? c->mmio_write++ : c->mmio_read++;
	else if (e->reason == TRACE_EXIT_SHUTDOWN)
		c->shutdown++;
	return 0;
}

/* The io guest reads ports and the MMIO test region: each read is an exit and an input of its step. */
static void test_meta_exits_and_inputs(void **state)
{
	(void)state;
	char path[512], buf[4096];
	struct rec_summary sum = record("io", tmp_path("io.db", path, sizeof(path)));
	struct trace *t;
	struct exit_count c = {0};
	unsigned long long in_inputs = 0, mmio_inputs = 0;

	assert_int_equal(sum.end, REC_END_GUEST_EXIT);
	assert_int_equal(sum.guest_status, 0);
	assert_int_equal(sum.fallback_steps, 0);
	assert_int_equal(sum.insn_steps, sum.steps);
	assert_int_equal(trace_open(&t, path), 0);
	assert_true(trace_is_complete(t));
	assert_int_equal(trace_meta_get(t, "reference", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "emu");
	assert_int_equal(trace_meta_get(t, "engine", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "emu");
	assert_int_equal(trace_meta_get(t, "kvm_flavour", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "none");
	assert_int_equal(trace_meta_get(t, "cpuid", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "756e6547 6c65746e 49656e69")); /* GenuineIntel in ebx ecx edx */
	assert_int_equal(trace_foreach_exit(t, count_exit, &c), 0);
	assert_int_equal(c.io_in + c.io_out + c.mmio_read + c.mmio_write, sum.exits);
	assert_true(c.io_in > 0 && c.io_out > 0 && c.mmio_read > 0 && c.mmio_write > 0);
	for (uint64_t i = 0; i < sum.steps; i++) {
		struct trace_step s;
		assert_int_equal(trace_step_at(t, i, &s), 0);
		for (uint32_t k = 0; k < s.n_inputs; k++) {
			in_inputs += s.inputs[k].kind == TRACE_INPUT_PIO_IN;
			mmio_inputs += s.inputs[k].kind == TRACE_INPUT_MMIO_READ;
		}
	}
	assert_int_equal(in_inputs, c.io_in);
	assert_int_equal(mmio_inputs, c.mmio_read);
	assert_int_equal(trace_meta_get(t, "serial", buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "io: ok"));
	trace_close(t);
}

/* A triple fault ends the recording with a shutdown exit at the step that caused it. */
static void test_shutdown(void **state)
{
	(void)state;
	char path[512];
	struct rec_summary sum = record("triple", tmp_path("triple.db", path, sizeof(path)));
	struct trace *t;
	struct exit_count c = {0};

	assert_int_equal(sum.end, REC_END_SHUTDOWN);
	assert_int_equal(trace_open(&t, path), 0);
	assert_true(trace_is_complete(t));
	assert_int_equal(trace_foreach_exit(t, count_exit, &c), 0);
	assert_int_equal(c.shutdown, 1);
	trace_close(t);
}

/* The CPU model's IA32_MISC_ENABLE reads as the recorded RDMSR input the replay needs; mov ecx, 0x1a0;
 * rdmsr; cmp eax, 0x1801; jne fail; out 0xf4 with 0 (fail: with 1). */
static void test_misc_enable(void **state)
{
	(void)state;
	static const uint8_t guest[] = {0x66, 0xb9, 0xa0, 0x01, 0x00, 0x00, 0x0f, 0x32,
	                                0x66, 0x3d, 0x01, 0x18, 0x00, 0x00, 0x75, 0x04,
	                                0xb0, 0x00, 0xe6, 0xf4, 0xb0, 0x01, 0xe6, 0xf4};
	char gp[512], path[512], err[512] = "";
	FILE *f = fopen(tmp_path("msr.bin", gp, sizeof(gp)), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(guest, 1, sizeof(guest), f), sizeof(guest));
	assert_int_equal(fclose(f), 0);
	char cp[512];
	struct rec_options opt =
	    emu_options("realloop", cp, sizeof(cp), tmp_path("msr.db", path, sizeof(path)));
	opt.guest_path = gp;
	struct rec_summary sum;
	assert_int_equal(recorder_run(&opt, &sum, err, sizeof(err)), 0);
	assert_int_equal(sum.end, REC_END_GUEST_EXIT);
	assert_int_equal(sum.guest_status, 0);
	struct trace *t;
	struct trace_step s;
	assert_int_equal(trace_open(&t, path), 0);
	assert_int_equal(trace_step_at(t, 1, &s), 0); /* rdmsr */
	assert_int_equal(s.n_inputs, 1);
	assert_int_equal(s.inputs[0].kind, TRACE_INPUT_RDMSR);
	assert_int_equal(s.inputs[0].addr, 0x1a0);
	assert_int_equal(s.inputs[0].data[0], 0x01);
	assert_int_equal(s.inputs[0].data[1], 0x18);
	trace_close(t);
}

static void test_max_steps(void **state)
{
	(void)state;
	char gp[512], path[512], err[512] = "";
	struct rec_options opt =
	    emu_options("modeswitch", gp, sizeof(gp), tmp_path("max.db", path, sizeof(path)));
	struct rec_summary sum;

	opt.max_steps = 100;
	assert_int_equal(recorder_run(&opt, &sum, err, sizeof(err)), 0);
	assert_int_equal(sum.end, REC_END_MAX_STEPS);
	assert_int_equal(sum.steps, 100);
}

/* The progress callback reports every REC_PROGRESS_STEPS steps, with step counts that only grow and a virtual
 * clock that never goes back, up to the end of the recording. */
struct progress_calls {
	unsigned n;
	uint64_t steps[16], vtime[16];
};

static void note_progress(void *arg, uint64_t steps, uint64_t vtime)
{
	struct progress_calls *c = arg;
	if (c->n < 16) {
		c->steps[c->n] = steps;
		c->vtime[c->n] = vtime;
	}
	c->n++;
}

static void test_progress(void **state)
{
	(void)state;
	char gp[512], path[512], err[512] = "";
	struct rec_options opt =
	    emu_options("modeswitch_1m", gp, sizeof(gp), tmp_path("progress.db", path, sizeof(path)));
	struct progress_calls calls = {0};
	struct rec_summary sum;

	opt.max_steps = 5 * REC_PROGRESS_STEPS + 100;
	opt.progress = note_progress;
	opt.progress_arg = &calls;
	assert_int_equal(recorder_run(&opt, &sum, err, sizeof(err)), 0);
	assert_int_equal(sum.steps, opt.max_steps);
	assert_int_equal(calls.n, 5);
	for (unsigned i = 0; i < calls.n; i++) {
		assert_true(calls.steps[i] >= (i + 1) * (uint64_t)REC_PROGRESS_STEPS);
		assert_true(calls.steps[i] < (i + 2) * (uint64_t)REC_PROGRESS_STEPS);
		assert_true(calls.vtime[i] > 0);
		if (i) {
			assert_true(calls.steps[i] > calls.steps[i - 1]);
			assert_true(calls.vtime[i] >= calls.vtime[i - 1]);
		}
	}
}

/* What the engine cannot do, or a guest image it cannot load, is refused before anything is written, with
 * status 2. */
static void test_refused_options(void **state)
{
	(void)state;
	static const struct {
		enum rec_mode mode;
		bool bios;
		const char *message;
	} rows[] = {
	    {REC_MODE_EXITS, false, "--mode step"},
	    {REC_MODE_DEMAND, false, "--mode step"},
	    {REC_MODE_STEP, true, "a multiple of 4 KiB"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char gp[512], path[512], err[512] = "";
		struct rec_options opt =
		    emu_options("realloop", gp, sizeof(gp), tmp_path("refused.db", path, sizeof(path)));
		struct rec_summary sum;

		unlink(path);
		opt.mode = rows[i].mode;
		if (rows[i].bios)
			opt.bios_path = opt.guest_path;
		assert_int_equal(recorder_run(&opt, &sum, err, sizeof(err)), 2);
		if (!strstr(err, rows[i].message))
			fail_msg("row %zu: message '%s' lacks '%s'", i, err, rows[i].message);
		assert_int_equal(access(path, F_OK), -1);
	}
}

static int teardown(void **state)
{
	char cmd[600];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meta_exits_and_inputs), cmocka_unit_test(test_shutdown),
	    cmocka_unit_test(test_misc_enable),           cmocka_unit_test(test_max_steps),
	    cmocka_unit_test(test_refused_options),       cmocka_unit_test(test_progress),
	};
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, teardown);
}
