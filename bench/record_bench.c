/* Recorder figures, each ratio measured side by side in one run on the same guest:
 *   record.step.rate_ratio       step-mode recording rate / raw single-step rate
 *   record.exits.overhead_ratio  exits-mode recording time / unrecorded run time
 *   trace.step.bytes_per_insn    trace file bytes / instructions, step mode
 * Inside a QEMU TCG VM (bench/run starts one where the host has no /dev/kvm) stepping runs at a few thousand
 * steps a second: the step pairs are shorter, the rate is record.step.nested_steps_per_s, and the
 * whole-guest size figures are left out.
 * With --emu-apic (no KVM, so bench/run runs it on the host) only:
 *   record.emu.apic_timer_guest.steps_per_s  --engine emu recording rate of apictimer_bench.bin (the local
 *                                            APIC's periodic timer interrupting 20000 times), median of 5 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../machine/devices.h"
#include "../recorder/recorder.h"
#include "../vmx-shim/shim.h"
#include "bench_util.h"

static struct shim_vm *boot(const char *guest)
{
	struct shim_vm *vm;
	struct shim_config cfg = {.ram_bytes = 16u << 20, .dirty_log = false};
	if (shim_open(&vm, &cfg)) {
		fprintf(stderr, "record_bench: %s\n", shim_last_open_error());
		exit(3);
	}
	FILE *f = fopen(guest, "rb");
	if (!f || fread(shim_ram(vm) + 0x7c00, 1, 1 << 20, f) == 0) {
		fprintf(stderr, "record_bench: cannot read %s\n", guest);
		exit(2);
	}
	fclose(f);
	struct x86_state st;
	x86_state_real(&st, 0, 0x7c00, 0);
	shim_set_state(vm, &st);
	return vm;
}

/* The guest on KVM with its devices and nothing recorded. */
static double run_unrecorded(const char *guest)
{
	struct shim_vm *vm = boot(guest);
	struct devbus *bus = devbus_new();
	devbus_add_standard(bus);
	double t0 = now_s();
	for (;;) {
		struct shim_exit ex;
		if (shim_run(vm, &ex))
			break;
		if (ex.kind == SHIM_EXIT_IO || ex.kind == SHIM_EXIT_MMIO) {
			if (ex.kind == SHIM_EXIT_IO)
				devbus_pio(bus, (uint16_t)ex.addr, ex.size, ex.is_write,
				           ex.pio_data ? ex.pio_data : ex.data, ex.count ? ex.count : 1);
			else
				devbus_mmio(bus, ex.addr, ex.size, ex.is_write, ex.data);
			shim_complete_io(vm, &ex);
			if (devbus_guest_exited(bus, NULL))
				break;
		} else if (ex.kind != SHIM_EXIT_INTR) {
			break;
		}
	}
	double dt = now_s() - t0;
	devbus_free(bus);
	shim_close(vm);
	return dt;
}

/* Single-steps with nothing else (no state reads, no dirty log): the physical limit. */
static double raw_rate(const char *guest, uint64_t n)
{
	struct shim_vm *vm = boot(guest);
	uint64_t done = 0;
	double t0 = now_s();
	shim_step_raw(vm, n, &done);
	double rate = (double)done / (now_s() - t0);
	shim_close(vm);
	return rate;
}

/* Seconds to record guest in mode (at most max_steps steps when not 0). */
static double record(const char *guest, const char *out, enum rec_mode mode, uint64_t max_steps,
                     struct rec_summary *sum)
{
	struct rec_options opt = {.output = out,
	                          .force = true,
	                          .mode = mode,
	                          .mem_bytes = 16u << 20,
	                          .load_addr = 0x7c00,
	                          .guest_path = guest,
	                          .command_line = "bench",
	                          .max_steps = max_steps};
	char err[512];
	double t0 = now_s();
	if (recorder_run(&opt, sum, err, sizeof(err))) {
		fprintf(stderr, "record_bench: %s\n", err);
		exit(1);
	}
	return now_s() - t0;
}

/* --engine emu on the PC machine: the APIC timer guest recorded whole, steps per second (median of 5). */
static int emu_apic_rate(const char *corpus)
{
	enum { RUNS = 5 };
	char guest[512], out[] = "/tmp/emudiff-bench-XXXXXX", trace_path[600], err[512];
	double rates[RUNS];
	snprintf(guest, sizeof(guest), "%s/apictimer_bench.bin", corpus);
	if (!mkdtemp(out))
		return 3;
	snprintf(trace_path, sizeof(trace_path), "%s/apic.db", out);
	for (int i = 0; i < RUNS; i++) {
		struct rec_summary sum;
		struct rec_options opt = {.output = trace_path,
		                          .force = true,
		                          .engine = REC_ENGINE_EMU,
		                          .mode = REC_MODE_STEP,
		                          .mem_bytes = 16u << 20,
		                          .multiboot_path = guest,
		                          .kernel_cmdline = "apictimer_bench",
		                          .command_line = "bench"};
		double t0 = now_s();
		if (recorder_run(&opt, &sum, err, sizeof(err)) || sum.end != REC_END_GUEST_EXIT ||
		    sum.guest_status != 0) {
			fprintf(stderr, "record_bench: %s: %s\n", guest, err[0] ? err : sum.end_detail);
			return 1;
		}
		rates[i] = (double)sum.steps / (now_s() - t0);
	}
	qsort(rates, RUNS, sizeof(rates[0]), cmp_double);
	printf("record.emu.apic_timer_guest.steps_per_s %.0f\n", rates[RUNS / 2]);
	unlink(trace_path);
	return rmdir(out) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *corpus = getenv("EMUDIFF_CORPUS");
	if (argc > 1 && !strcmp(argv[1], "--emu-apic"))
		return emu_apic_rate(argc > 2 ? argv[2] : corpus ? corpus : "build/corpus");
	char guest[512], out[] = "/tmp/emudiff-bench-XXXXXX";
	snprintf(guest, sizeof(guest), "%s/modeswitch_1m.bin",
	         argc > 1 ? argv[1]
	         : corpus ? corpus
	                  : "build/corpus");
	if (!mkdtemp(out))
		return 3;
	char trace_path[600];
	snprintf(trace_path, sizeof(trace_path), "%s/step.db", out);

	/* Step mode: alternating pairs of raw stepping and recording the same steps, median ratio. */
	enum { PAIRS = 5 };
	const bool nested = shim_host_is_qemu_tcg();
	const uint64_t pair_steps = nested ? 10000 : 200000;
	double step_ratios[PAIRS], raw = 0, rec_rate = 0;
	for (int i = 0; i < PAIRS; i++) {
		struct rec_summary psum;
		double r = raw_rate(guest, pair_steps);
		double t = record(guest, trace_path, REC_MODE_STEP, pair_steps, &psum);
		double rr = (double)psum.insn_steps / t;
		step_ratios[i] = rr / r;
		raw += r / PAIRS;
		rec_rate += rr / PAIRS;
	}
	qsort(step_ratios, PAIRS, sizeof(step_ratios[0]), cmp_double);
	/* Size: the whole guest, step mode (a million steps: not in the nested VM). */
	struct rec_summary sum = {0};
	struct stat sb = {0};
	if (!nested) {
		record(guest, trace_path, REC_MODE_STEP, 0, &sum);
		stat(trace_path, &sb);
	}

	/* Exits mode: alternating pairs too, the median ratio. */
	double ratios[PAIRS], plain_s = 0, exits_s = 0;
	for (int i = 0; i < PAIRS; i++) {
		struct rec_summary esum;
		double p = run_unrecorded(guest), e = record(guest, trace_path, REC_MODE_EXITS, 0, &esum);
		ratios[i] = e / p;
		plain_s += p / PAIRS;
		exits_s += e / PAIRS;
	}
	qsort(ratios, PAIRS, sizeof(ratios[0]), cmp_double);

	printf("record.step.raw_steps_per_s %.0f\n", raw);
	printf("record.step.%s %.0f\n", nested ? "nested_steps_per_s" : "steps_per_s", rec_rate);
	printf("record.step.rate_ratio %.3f\n", step_ratios[PAIRS / 2]);
	printf("record.exits.unrecorded_s %.3f\n", plain_s);
	printf("record.exits.recorded_s %.3f\n", exits_s);
	printf("record.exits.overhead_ratio %.3f\n", ratios[PAIRS / 2]);
	if (!nested) {
		printf("trace.step.insns %llu\n", (unsigned long long)sum.insn_steps);
		printf("trace.step.bytes_per_insn %.3f\n", (double)sb.st_size / (double)sum.insn_steps);
	}
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", out);
	return system(cmd) == 0 ? 0 : 1;
}
