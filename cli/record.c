/* emudiff record: option parsing; the work is recorder_run(). */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
	    "                      [--bios FILE [--disk FILE] | --multiboot FILE [--cmdline TEXT] | GUEST]\n"
	    "Runs GUEST (a flat binary, loaded at ADDR, default 0x7c00, started in real mode at 0:ADDR)\n"
	    "on /dev/kvm and writes a trace (default trace.db). Without GUEST, records the bundled\n"
	    "corpus guest modeswitch.bin.\n"
	    "--bios FILE boots a PC from firmware (e.g. /usr/share/seabios/bios.bin; --mem defaults to\n"
	    "128 there), with --disk FILE as the IDE primary master; --multiboot FILE starts a multiboot\n"
	    "ELF kernel in 32-bit protected mode on the same PC. --timeout ends the recording after\n"
	    "SECONDS of virtual time (default %d for --bios, none otherwise).\n"
	    "--engine emu runs a flat GUEST in emudiff's own emulator instead of KVM (step mode, no\n"
	    "/dev/kvm needed): the trace's reference is then emu, not silicon or KVM's emulator.\n"
	    "On a terminal, stderr shows the steps recorded, their rate and the virtual time as it runs.\n"
	    "Exit status 130 after SIGINT or SIGTERM: the trace is complete up to the signal, the run is "
	    "not.\n",
	    RECORD_BIOS_TIMEOUT_S);
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

int cli_record(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'f'},
	    {"mode", required_argument, NULL, 'm'},
	    {"demand", required_argument, NULL, 'd'},
	    {"max-steps", required_argument, NULL, 'n'},
	    {"mem", required_argument, NULL, 'M'},
	    {"load", required_argument, NULL, 'l'},
	    {"fallback", required_argument, NULL, 'F'},
	    {"echo", no_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {"bios", required_argument, NULL, 'B'},
	    {"disk", required_argument, NULL, 'D'},
	    {"multiboot", required_argument, NULL, 'K'},
	    {"cmdline", required_argument, NULL, 'C'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"engine", required_argument, NULL, 'E'},
	    {NULL, 0, NULL, 0},
	};
	struct rec_options opt = {
	    .output = "trace.db",
	    .mode = REC_MODE_STEP,
	    .demand = REC_DEMAND_REAL,
	    .mem_bytes = 16u << 20,
	    .load_addr = 0x7c00,
	};
	bool demand_given = false, mem_given = false, timeout_given = false;
	uint64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			opt.output = optarg;
			break;
		case 'f':
			opt.force = true;
			break;
		case 'm':
			if (!strcmp(optarg, "step"))
				opt.mode = REC_MODE_STEP;
			else if (!strcmp(optarg, "exits"))
				opt.mode = REC_MODE_EXITS;
			else if (!strcmp(optarg, "demand"))
				opt.mode = REC_MODE_DEMAND;
			else {
				fprintf(stderr,
				        "emudiff record: --mode takes step, exits or demand, not '%s'\n",
				        optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'd':
			if (!parse_demand(optarg, &opt))
				return CLI_EXIT_USAGE;
			demand_given = true;
			break;
		case 'n':
			if (!cli_parse_u64("record", "--max-steps", optarg, &opt.max_steps))
				return CLI_EXIT_USAGE;
			break;
		case 'M':
			if (!cli_parse_u64("record", "--mem", optarg, &v))
				return CLI_EXIT_USAGE;
			if (v < 1 || v > 3072) {
				fprintf(stderr,
				        "emudiff record: --mem takes MiB between 1 and 3072, not %s\n",
				        optarg);
				return CLI_EXIT_USAGE;
			}
			opt.mem_bytes = (size_t)v << 20;
			mem_given = true;
			break;
		case 'B':
			opt.bios_path = optarg;
			break;
		case 'D':
			opt.disk_path = optarg;
			break;
		case 'K':
			opt.multiboot_path = optarg;
			break;
		case 'C':
			opt.kernel_cmdline = optarg;
			break;
		case 'T':
			if (!cli_parse_u64("record", "--timeout", optarg, &v))
				return CLI_EXIT_USAGE;
			if (v < 1 || v > 100000) {
				fprintf(
				    stderr,
				    "emudiff record: --timeout takes virtual seconds between 1 and 100000, "
				    "not %s\n",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			opt.vtime_limit = v * PC_PIT_HZ;
			timeout_given = true;
			break;
		case 'l':
			if (!cli_parse_u64("record", "--load", optarg, &opt.load_addr))
				return CLI_EXIT_USAGE;
			if (opt.load_addr > 0xffff0) {
				fprintf(
				    stderr,
				    "emudiff record: --load must be below 1 MiB (real-mode start), not %s\n",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'E':
			if (!strcmp(optarg, "kvm")) {
				opt.engine = REC_ENGINE_KVM;
			} else if (!strcmp(optarg, "emu")) {
				opt.engine = REC_ENGINE_EMU;
			} else {
				fprintf(stderr, "emudiff record: --engine takes kvm or emu, not '%s'\n",
				        optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'F':
			if (strcmp(optarg, "emu") != 0) {
				fprintf(stderr, "emudiff record: --fallback takes 'emu', not '%s'\n", optarg);
				return CLI_EXIT_USAGE;
			}
			opt.fallback_emu = true;
			break;
		case 'e':
			opt.echo_console = true;
			break;
		case 'h':
			record_usage(stdout);
			return CLI_EXIT_OK;
		default:
			record_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
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
	if ((opt.bios_path || opt.multiboot_path) && optind < argc) {
		fprintf(stderr, "emudiff record: GUEST '%s' given with %s; pass one of them\n", argv[optind],
		        opt.bios_path ? "--bios" : "--multiboot");
		return CLI_EXIT_USAGE;
	}
	if (opt.bios_path && !mem_given)
		opt.mem_bytes = 128u << 20;
	if (opt.bios_path && !timeout_given)
		opt.vtime_limit = RECORD_BIOS_TIMEOUT_S * PC_PIT_HZ;
	if (opt.multiboot_path && !opt.kernel_cmdline) {
		const char *b = strrchr(opt.multiboot_path, '/');
		opt.kernel_cmdline = b ? b + 1 : opt.multiboot_path;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "emudiff record: one GUEST at most, got '%s' and '%s'\n", argv[optind],
		        argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	char defbuf[PATH_MAX + 32];
	if (opt.bios_path || opt.multiboot_path) {
		opt.guest_path = opt.bios_path ? opt.bios_path : opt.multiboot_path;
	} else if (optind < argc) {
		opt.guest_path = argv[optind];
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
	struct rec_summary sum;
	char err[512] = "";
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
