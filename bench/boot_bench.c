/* SeaBIOS boot figures (Debian's /usr/share/seabios/bios.bin, or argv[1]), to "No bootable device" and the
 * default 20 virtual seconds:
 *   boot.seabios.exits_mode_s     wall time of an exits-mode recording (median of three)
 *   boot.seabios.step_mode_insn   instructions in a full step-mode recording
 *   boot.seabios.trace_mb         that step-mode trace's size in MB (10^6 bytes)
 *   boot.seabios.step_mode_s      its wall time
 * plus the step-mode instructions by mode (real, 16-bit and 32-bit protected). Those need /dev/kvm (exit 3
 * without it); first, on any host, the same boot recorded with --engine emu:
 *   boot.seabios.emu.step_insn    its instructions
 *   boot.seabios.emu.s            wall time of that recording
 *   boot.seabios.emu.trace_mb     its trace's size in MB */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../recorder/recorder.h"
#include "../schema/trace.h"
#include "bench_util.h"

static double record(const char *bios, const char *out, enum rec_engine engine, enum rec_mode mode,
                     struct rec_summary *sum)
{
	struct rec_options opt = {.output = out,
	                          .force = true,
	                          .engine = engine,
	                          .mode = mode,
	                          .mem_bytes = 128u << 20,
	                          .bios_path = bios,
	                          .guest_path = bios,
	                          .vtime_limit = 20ull * 1193182,
	                          .command_line = "bench"};
	char err[512];
	double t0 = now_s();
	int rc = recorder_run(&opt, sum, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "boot_bench: %s\n", err);
		exit(rc);
	}
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	const char *bios = argc > 1 ? argv[1] : "/usr/share/seabios/bios.bin";
	if (access(bios, R_OK) != 0) {
		fprintf(stderr, "boot_bench: %s missing (Debian package seabios); skipped\n", bios);
		return 3; /* bench/run: this host lacks what the benchmark needs */
	}
	char dir[] = "/tmp/emudiff-boot-bench-XXXXXX", path[600];
	if (!mkdtemp(dir))
		return 3;
	snprintf(path, sizeof(path), "%s/boot.trace", dir);

	struct rec_summary sum;
	struct stat sb;
	double emu_s = record(bios, path, REC_ENGINE_EMU, REC_MODE_STEP, &sum);
	if (stat(path, &sb))
		return 1;
	printf("boot.seabios.emu.step_insn %llu\n", (unsigned long long)sum.insn_steps);
	printf("boot.seabios.emu.s %.3f\n", emu_s);
	printf("boot.seabios.emu.trace_mb %.3f\n", (double)sb.st_size / 1e6);
	fflush(stdout);

	double exits[3];
	for (int i = 0; i < 3; i++)
		exits[i] = record(bios, path, REC_ENGINE_KVM, REC_MODE_EXITS, &sum);
	qsort(exits, 3, sizeof(exits[0]), cmp_double);

	double step_s = record(bios, path, REC_ENGINE_KVM, REC_MODE_STEP, &sum);
	if (stat(path, &sb))
		return 1;
	/* Instructions by mode, from the trace. */
	uint64_t by_mode[6] = {0};
	struct trace *t;
	struct trace_iter *it;
	struct trace_step s;
	if (trace_open(&t, path) || trace_iter_start(t, 0, &it))
		return 1;
	while (trace_iter_next(it, &s) == 1)
		if (s.kind == TRACE_STEP_INSN && (unsigned)x86_state_mode(&s.pre) < 6)
			by_mode[x86_state_mode(&s.pre)]++;
	trace_iter_end(it);
	trace_close(t);

	printf("boot.seabios.exits_mode_s %.3f\n", exits[1]);
	printf("boot.seabios.step_mode_insn %llu\n", (unsigned long long)sum.insn_steps);
	printf("boot.seabios.trace_mb %.3f\n", (double)sb.st_size / 1e6);
	printf("boot.seabios.step_mode_s %.3f\n", step_s);
	printf("boot.seabios.step_mode_insn.real %llu\n", (unsigned long long)by_mode[X86_MODE_REAL]);
	printf("boot.seabios.step_mode_insn.prot16 %llu\n", (unsigned long long)by_mode[X86_MODE_PROT16]);
	printf("boot.seabios.step_mode_insn.prot32 %llu\n", (unsigned long long)by_mode[X86_MODE_PROT32]);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
