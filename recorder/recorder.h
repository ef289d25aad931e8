/* recorder: run a guest on KVM through vmx-shim and write what it does into a
 * trace. Modes: step (every instruction), exits (every VM exit, the guest runs
 * natively between them), demand (step while a predicate holds). */
#ifndef EMUDIFF_RECORDER_H
#define EMUDIFF_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rec_mode { REC_MODE_STEP, REC_MODE_EXITS, REC_MODE_DEMAND };

enum rec_demand { REC_DEMAND_REAL, REC_DEMAND_CPL0, REC_DEMAND_RIP };

/* What executes the guest: KVM (the reference is silicon or KVM's emulator), or emu alone (no /dev/kvm
 * needed; the reference is emu itself, for replaying other emulators and later emu commits against it). */
enum rec_engine { REC_ENGINE_KVM, REC_ENGINE_EMU };

struct rec_options {
	const char *output;
	bool force;
	enum rec_engine engine;
	enum rec_mode mode;
	enum rec_demand demand;
	uint64_t rip_lo, rip_hi; /* REC_DEMAND_RIP: [lo, hi) */
	uint64_t max_steps;      /* 0: no limit */
	size_t mem_bytes;
	uint64_t load_addr;
	const char *guest_path;
	bool fallback_emu; /* complete KVM emulation failures in emu */
	bool echo_console; /* copy guest serial output to stderr */
	const char *command_line;
	/* PC boots: firmware image (started at the reset vector), raw disk on the
	 * primary IDE master, or a multiboot kernel with its command line. */
	const char *bios_path;
	const char *disk_path;
	const char *multiboot_path;
	const char *kernel_cmdline;
	const char *const *modules; /* --module FILE[,ARGS] for the multiboot kernel, in order */
	size_t n_modules;
	bool pc_testdev; /* --device pc-testdev: QEMU's test device (devbus_add_pc_testdev) */
	bool
	    debug_exit_qemu; /* --debug-exit=qemu: the status is (value << 1) | 1, as QEMU's isa-debug-exit */
	uint64_t vtime_limit; /* virtual clock units (PIT clocks), 0: none */
	/* --cpu MODEL[,+feat,-feat,vendor=NAME] (machine/cpu_model.h); NULL: the engine's default, "default"
	 * for emu, "host" (KVM_GET_SUPPORTED_CPUID as it is) for KVM. */
	const char *cpu;
	/* Called once before the run with what the engine could not give the guest of the --cpu model; NULL:
	 * not told. */
	void (*warning)(void *arg, const char *text);
	void *warning_arg;
	/* Called from the record loop every REC_PROGRESS_STEPS steps with the steps written and the virtual
	 * clock (PIT clocks); NULL: none. */
	void (*progress)(void *arg, uint64_t steps, uint64_t vtime);
	void *progress_arg;
};

#define REC_PROGRESS_STEPS 4096

/* Why a recording ended. */
enum rec_end {
	REC_END_GUEST_EXIT, /* the guest wrote its status to the debug-exit port */
	REC_END_HALT,       /* HLT with nothing that could wake the guest */
	REC_END_SHUTDOWN,   /* triple fault */
	REC_END_MAX_STEPS,
	REC_END_EMULATION_FAILURE, /* KVM could not execute an instruction (no --fallback emu) */
	REC_END_INTERRUPTED,       /* SIGINT/SIGTERM: the trace is complete up to here */
	REC_END_GUEST_TF,          /* step mode: the guest set TF, which KVM's single-step hides from it */
	REC_END_TIMEOUT,           /* the virtual clock reached --timeout */
	REC_END_RESET,             /* the guest asked the PC for a system reset */
};

struct rec_summary {
	uint64_t steps;
	uint64_t insn_steps;
	uint64_t exits;
	uint64_t fallback_steps;
	uint64_t interrupts; /* external interrupts injected */
	uint64_t vtime;      /* virtual clock at the end */
	enum rec_end end;
	int guest_status; /* REC_END_GUEST_EXIT */
	char end_detail[160];
};

const char *rec_end_name(enum rec_end end);

/* Returns 0, or a cli exit status (2 bad input, 3 environment) with a
 * one-line message in err. */
int recorder_run(const struct rec_options *opt, struct rec_summary *out, char *err, size_t errlen);

#endif
