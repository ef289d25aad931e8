/* emudiff record: option parsing; the work is recorder_run(). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../machine/cpu_model.h"
#include "../machine/pc.h"
#include "../recorder/recorder.h"
#include "args.h"
#include "cli.h"

#define RECORD_BIOS_TIMEOUT_S 20

static void record_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: emudiff record [-o TRACE] [--force] [--engine kvm|emu] [--mode step|exits|demand]\n"
	    "                      [--demand real|cpl0|rip=A-B] [--max-steps N] [--mem MiB]\n"
	    "                      [--load ADDR] [--fallback emu] [--echo] [--timeout SECONDS]\n"
	    "                      [--device pc-testdev] [--debug-exit plain|qemu]\n"
	    "                      [--bios FILE [--disk FILE] |\n"
	    "                       --multiboot FILE [--cmdline TEXT] [--module FILE[,ARGS]]... | GUEST]\n"
	    "                      [--cpu MODEL[,+FEATURE,-FEATURE,vendor=NAME]]\n"
	    "Runs GUEST (a flat binary, loaded at ADDR, default 0x7c00, started in real mode at 0:ADDR)\n"
	    "on /dev/kvm and writes a trace (default trace.db). Without GUEST, records the bundled\n"
	    "corpus guest modeswitch.bin.\n"
	    "--bios FILE boots a PC from firmware (e.g. /usr/share/seabios/bios.bin; --mem defaults to\n"
	    "128 there), with --disk FILE as the IDE primary master; --multiboot FILE starts a multiboot\n"
	    "kernel in 32-bit protected mode on the same PC, as QEMU's -kernel: at any load address, the\n"
	    "information, command line (\"FILE TEXT\", FILE's base name) and each --module (its string\n"
	    "\"FILE ARGS\") page-aligned after the kernel, the 8259A at vectors 0x08/0x70 and the IVT as\n"
	    "SeaBIOS leaves them. --timeout ends the recording after SECONDS of virtual time (default\n"
	    "%d for --bios, none otherwise).\n"
	    "--engine emu runs a flat GUEST in emudiff's own emulator instead of KVM (step mode, no\n"
	    "/dev/kvm needed): the trace's reference is then emu, not silicon or KVM's emulator.\n"
	    "--device pc-testdev adds QEMU's test device (ports 0xe0-0xeb but 0xe9, IRQ lines at\n"
	    "0x2000-0x2017, 64 KiB of MMIO at 0xff000000); off by default. --debug-exit qemu makes a\n"
	    "write V to port 0xf4 end with status (V << 1) | 1, as QEMU's isa-debug-exit; plain (the\n"
	    "default) makes V the status. Both are in the trace's meta (devices, debug_exit).\n"
	    "--cpu picks the CPU model (its CPUID table; with --engine emu its MSRs too): %s, or\n"
	    "host (KVM's supported table, the KVM engine's default). +FEATURE/-FEATURE set or clear a\n"
	    "CPUID feature bit (sse4_2, x2apic, pcid, invpcid, xsave, ...); vendor=NAME replaces the\n"
	    "12-character vendor string of leaf 0 and nothing else.\n"
	    "On a terminal, stderr shows the steps recorded, their rate and the virtual time as it runs.\n"
	    "Exit status 130 after SIGINT or SIGTERM: the trace is complete up to the signal, the run is "
	    "not.\n",
	    RECORD_BIOS_TIMEOUT_S, cpu_model_names());
}

/* What the engine could not give the guest of the --cpu model, before the run. */
static void record_warning(void *arg, const char *text)
{
	(void)arg;
	fprintf(stderr, "emudiff record: warning: %s\n", text);
}

/* The status line on a terminal: redrawn at most every 0.2 s, so a short recording shows none. */
struct record_progress {
	struct timespec start, drawn;
	bool shown;
};

static double seconds_between(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

static void record_progress_line(void *arg, uint64_t steps, uint64_t vtime)
{
	struct record_progress *p = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (seconds_between(&p->drawn, &now) < 0.2)
		return;
	p->drawn = now;
	double t = seconds_between(&p->start, &now);
	/* Short enough for an 80-column terminal: \r must not wrap. */
	fprintf(stderr, "\r%" PRIu64 " steps, %.0fk steps/s, virtual %.3f s ", steps,
	        (double)steps / t / 1000, (double)vtime / PC_PIT_HZ);
	p->shown = true;
}

static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = calloc(1, len);
	if (!s)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* The bundled default guest lives in corpus/ beside the binary. */
static const char *default_guest(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	snprintf(buf, len, "%s/corpus/modeswitch.bin", self);
	return access(buf, R_OK) == 0 ? buf : NULL;
}

static bool parse_demand(const char *text, struct rec_options *opt)
{
	if (!strcmp(text, "real")) {
		opt->demand = REC_DEMAND_REAL;
		return true;
	}
	if (!strcmp(text, "cpl0")) {
		opt->demand = REC_DEMAND_CPL0;
		return true;
	}
	if (!strncmp(text, "rip=", 4)) {
		char lo[64], *dash = strchr(text + 4, '-');
		if (dash && (size_t)(dash - (text + 4)) < sizeof(lo)) {
			memcpy(lo, text + 4, (size_t)(dash - (text + 4)));
			lo[dash - (text + 4)] = 0;
			if (cli_parse_u64("record", "--demand rip=A-B", lo, &opt->rip_lo) &&
			    cli_parse_u64("record", "--demand rip=A-B", dash + 1, &opt->rip_hi) &&
			    opt->rip_lo < opt->rip_hi) {
				opt->demand = REC_DEMAND_RIP;
				return true;
			}
		}
	}
	fprintf(stderr, "emudiff record: --demand takes real, cpl0 or rip=A-B (A < B), not '%s'\n", text);
	return false;
}

struct record_args {
	struct rec_options opt;
	const char **modules; /* --module, in order */
	char *cmdline_buf;    /* the kernel's command line when --cmdline is given */
	bool demand_given, mem_given, timeout_given;
	const char *guests[2];
	int n_guests;
};

static int record_operand(void *arg, const char *text)
{
	struct record_args *r = arg;
	if (r->n_guests == 2) {
		fprintf(stderr, "emudiff record: one GUEST at most, got '%s' and '%s'\n", r->guests[0],
		        r->guests[1]);
		return CLI_EXIT_USAGE;
	}
	r->guests[r->n_guests++] = text;
	return 0;
}

/* A value out of its range: one line naming the option and the range. */
static int record_range_error(const char *option, const char *range, const char *value)
{
	fprintf(stderr, "emudiff record: %s %s, not %s\n", option, range, value);
	return CLI_EXIT_USAGE;
}

static int record_option(void *arg, const char *name, const char *v)
{
	struct record_args *r = arg;
	struct rec_options *opt = &r->opt;
	uint64_t n;

	if (!strcmp(name, "-o") || !strcmp(name, "--output")) {
		opt->output = v;
	} else if (!strcmp(name, "--force")) {
		opt->force = true;
	} else if (!strcmp(name, "--mode")) {
		if (!strcmp(v, "step"))
			opt->mode = REC_MODE_STEP;
		else if (!strcmp(v, "exits"))
			opt->mode = REC_MODE_EXITS;
		else if (!strcmp(v, "demand"))
			opt->mode = REC_MODE_DEMAND;
		else
			return record_range_error("--mode", "takes step, exits or demand", v);
	} else if (!strcmp(name, "--demand")) {
		if (!parse_demand(v, opt))
			return CLI_EXIT_USAGE;
		r->demand_given = true;
	} else if (!strcmp(name, "--max-steps")) {
		if (!cli_parse_u64("record", name, v, &opt->max_steps))
			return CLI_EXIT_USAGE;
	} else if (!strcmp(name, "--mem")) {
		if (!cli_parse_u64("record", name, v, &n))
			return CLI_EXIT_USAGE;
		if (n < 1 || n > 3072)
			return record_range_error("--mem", "takes MiB between 1 and 3072", v);
		opt->mem_bytes = (size_t)n << 20;
		r->mem_given = true;
	} else if (!strcmp(name, "--bios")) {
		opt->bios_path = v;
	} else if (!strcmp(name, "--disk")) {
		opt->disk_path = v;
	} else if (!strcmp(name, "--multiboot")) {
		opt->multiboot_path = v;
	} else if (!strcmp(name, "--cmdline")) {
		opt->kernel_cmdline = v;
	} else if (!strcmp(name, "--module")) {
		if (!v[0] || v[0] == ',')
			return record_range_error("--module", "takes FILE[,ARGS]", v[0] ? v : "''");
		const char **m = realloc(r->modules, (opt->n_modules + 1) * sizeof(*m));
		if (!m) {
			fprintf(stderr, "emudiff record: --module %s: out of memory\n", v);
			return CLI_EXIT_ENVIRONMENT;
		}
		m[opt->n_modules++] = v;
		r->modules = m;
		opt->modules = m;
	} else if (!strcmp(name, "--device")) {
		if (strcmp(v, "pc-testdev"))
			return record_range_error("--device", "takes pc-testdev (the one optional device)",
			                          v);
		opt->pc_testdev = true;
	} else if (!strcmp(name, "--debug-exit")) {
		if (!strcmp(v, "qemu"))
			opt->debug_exit_qemu = true;
		else if (!strcmp(v, "plain"))
			opt->debug_exit_qemu = false;
		else
			return record_range_error("--debug-exit", "takes plain or qemu", v);
	} else if (!strcmp(name, "--timeout")) {
		if (!cli_parse_u64("record", name, v, &n))
			return CLI_EXIT_USAGE;
		if (n < 1 || n > 100000)
			return record_range_error("--timeout", "takes virtual seconds between 1 and 100000",
			                          v);
		opt->vtime_limit = n * PC_PIT_HZ;
		r->timeout_given = true;
	} else if (!strcmp(name, "--load")) {
		if (!cli_parse_u64("record", name, v, &opt->load_addr))
			return CLI_EXIT_USAGE;
		if (opt->load_addr > 0xffff0)
			return record_range_error("--load", "must be below 1 MiB (real-mode start)", v);
	} else if (!strcmp(name, "--engine")) {
		if (!strcmp(v, "kvm")) {
			opt->engine = REC_ENGINE_KVM;
		} else if (!strcmp(v, "emu")) {
			opt->engine = REC_ENGINE_EMU;
		} else {
			fprintf(stderr, "emudiff record: --engine takes kvm or emu, not '%s'\n", v);
			return CLI_EXIT_USAGE;
		}
	} else if (!strcmp(name, "--fallback")) {
		if (strcmp(v, "emu") != 0) {
			fprintf(stderr, "emudiff record: --fallback takes 'emu', not '%s'\n", v);
			return CLI_EXIT_USAGE;
		}
		opt->fallback_emu = true;
	} else if (!strcmp(name, "--cpu")) {
		/* Checked here so that a bad model is named before the guest is read. */
		struct cpu_model m;
		char err[1024];
		if (strcmp(v, "host") && cpu_model_parse(v, &m, err, sizeof(err))) {
			fprintf(stderr, "emudiff record: %s\n", err);
			return CLI_EXIT_USAGE;
		}
		opt->cpu = v;
	} else if (!strcmp(name, "--echo")) {
		opt->echo_console = true;
	}
	return 0;
}

static int record_run(int argc, char **argv, struct record_args *ra)
{
	static const struct cli_optdef defs[] = {
	    {"-o", true},          {"--output", true},    {"--force", false},     {"--mode", true},
	    {"--demand", true},    {"--max-steps", true}, {"--mem", true},        {"--load", true},
	    {"--fallback", true},  {"--echo", false},     {"--bios", true},       {"--disk", true},
	    {"--multiboot", true}, {"--cmdline", true},   {"--timeout", true},    {"--engine", true},
	    {"--module", true},    {"--device", true},    {"--debug-exit", true}, {"--cpu", true},
	    {NULL, false},
	};
	struct rec_options opt;
	bool help;
	int scan = cli_scan("record", argc, argv, defs, record_option, record_operand, ra, &help);
	if (scan)
		return scan;
	if (help) {
		record_usage(stdout);
		return CLI_EXIT_OK;
	}
	opt = ra->opt;
	bool demand_given = ra->demand_given, mem_given = ra->mem_given, timeout_given = ra->timeout_given;
	if (opt.engine == REC_ENGINE_EMU && opt.fallback_emu) {
		fprintf(stderr,
		        "emudiff record: --fallback emu is for the KVM engine; with --engine emu every "
		        "instruction runs in emu\n");
		return CLI_EXIT_USAGE;
	}
	if (demand_given && opt.mode != REC_MODE_DEMAND) {
		fprintf(stderr, "emudiff record: --demand needs --mode demand\n");
		return CLI_EXIT_USAGE;
	}
	if (opt.bios_path && opt.multiboot_path) {
		fprintf(stderr, "emudiff record: --bios and --multiboot exclude each other; pass one\n");
		return CLI_EXIT_USAGE;
	}
	if (opt.disk_path && !opt.bios_path) {
		fprintf(stderr, "emudiff record: --disk needs --bios (the firmware boots the disk)\n");
		return CLI_EXIT_USAGE;
	}
	if (opt.kernel_cmdline && !opt.multiboot_path) {
		fprintf(stderr, "emudiff record: --cmdline needs --multiboot\n");
		return CLI_EXIT_USAGE;
	}
	if ((opt.bios_path || opt.multiboot_path) && ra->n_guests) {
		fprintf(stderr, "emudiff record: GUEST '%s' given with %s; pass one of them\n", ra->guests[0],
		        opt.bios_path ? "--bios" : "--multiboot");
		return CLI_EXIT_USAGE;
	}
	if (opt.bios_path && !mem_given)
		opt.mem_bytes = 128u << 20;
	if (opt.bios_path && !timeout_given)
		opt.vtime_limit = RECORD_BIOS_TIMEOUT_S * PC_PIT_HZ;
	if (opt.n_modules && !opt.multiboot_path) {
		fprintf(stderr,
		        "emudiff record: --module needs --multiboot (modules of a multiboot kernel)\n");
		return CLI_EXIT_USAGE;
	}
	if (opt.multiboot_path) {
		/* QEMU's -kernel: the kernel's file name first, then the text (kernels skip the first word).
		 */
		const char *b = strrchr(opt.multiboot_path, '/');
		b = b ? b + 1 : opt.multiboot_path;
		if (opt.kernel_cmdline && asprintf(&ra->cmdline_buf, "%s %s", b, opt.kernel_cmdline) < 0) {
			fprintf(stderr, "emudiff record: --cmdline: out of memory\n");
			return CLI_EXIT_ENVIRONMENT;
		}
		opt.kernel_cmdline = opt.kernel_cmdline ? ra->cmdline_buf : b;
	}
	if (ra->n_guests > 1) {
		fprintf(stderr, "emudiff record: one GUEST at most, got '%s' and '%s'\n", ra->guests[0],
		        ra->guests[1]);
		return CLI_EXIT_USAGE;
	}
	char defbuf[PATH_MAX + 32];
	if (opt.bios_path || opt.multiboot_path) {
		opt.guest_path = opt.bios_path ? opt.bios_path : opt.multiboot_path;
	} else if (ra->n_guests) {
		opt.guest_path = ra->guests[0];
	} else if (!(opt.guest_path = default_guest(defbuf, sizeof(defbuf)))) {
		fprintf(stderr,
		        "emudiff record: no GUEST given and the bundled corpus/modeswitch.bin is not beside "
		        "the binary; pass a guest image\n");
		return CLI_EXIT_USAGE;
	}
	/* --force replaces the output, never the guest it records. */
	struct stat out_sb, in_sb;
	if (stat(opt.output, &out_sb) == 0 && stat(opt.guest_path, &in_sb) == 0 &&
	    out_sb.st_dev == in_sb.st_dev && out_sb.st_ino == in_sb.st_ino) {
		fprintf(stderr,
		        "emudiff record: -o %s is the guest image itself; write the trace elsewhere\n",
		        opt.output);
		return CLI_EXIT_USAGE;
	}
	char *cmdline = join_args(argc, argv);
	opt.command_line = cmdline ? cmdline : "record";

	struct record_progress prog = {.shown = false};
	clock_gettime(CLOCK_MONOTONIC, &prog.start);
	prog.drawn = prog.start;
	if (isatty(STDERR_FILENO)) {
		opt.progress = record_progress_line;
		opt.progress_arg = &prog;
	}
	opt.warning = record_warning;
	struct rec_summary sum;
	char err[1536] = "";
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (prog.shown)
		fprintf(stderr, "\r%*s\r", 79, "");
	if (rc) {
		fprintf(stderr, "emudiff record: %s\n", err);
		free(cmdline);
		return rc;
	}
	fprintf(stderr, "emudiff record: %s: %llu steps (%llu instructions, %llu exits), ended: %s%s%s\n",
	        opt.output, (unsigned long long)sum.steps, (unsigned long long)sum.insn_steps,
	        (unsigned long long)sum.exits, rec_end_name(sum.end), sum.end_detail[0] ? ": " : "",
	        sum.end_detail);
	if (opt.bios_path || opt.multiboot_path)
		fprintf(stderr, "emudiff record: %llu interrupts injected, virtual clock %llu (%.3f s)\n",
		        (unsigned long long)sum.interrupts, (unsigned long long)sum.vtime,
		        (double)sum.vtime / PC_PIT_HZ);
	free(cmdline);
	if (sum.end == REC_END_INTERRUPTED) {
		fprintf(stderr,
		        "emudiff record: interrupted: %s is a complete trace of the %llu steps before the "
		        "signal, not of the whole run\n",
		        opt.output, (unsigned long long)sum.steps);
		return CLI_EXIT_INTERRUPTED;
	}
	return CLI_EXIT_OK;
}

int cli_record(int argc, char **argv)
{
	struct record_args r = {.opt = {
	                            .output = "trace.db",
	                            .mode = REC_MODE_STEP,
	                            .demand = REC_DEMAND_REAL,
	                            .mem_bytes = 16u << 20,
	                            .load_addr = 0x7c00,
	                        }};
	int status = record_run(argc, argv, &r);
	free(r.modules);
	free(r.cmdline_buf);
	return status;
}
