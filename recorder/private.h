/* recorder internals: the state of one recording. */
#ifndef EMUDIFF_RECORDER_PRIVATE_H
#define EMUDIFF_RECORDER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../schema/trace.h"
#include "recorder.h"

/* Exit statuses shared with the command line (cli/cli.h). */
#define CLI_STATUS_USAGE       2
#define CLI_STATUS_ENVIRONMENT 3

#define REC_MAX_INPUTS 64
#define REC_MAX_HELD   16 /* exits of one instruction */

struct shim_vm;
struct devbus;

struct rec {
	const struct rec_options *opt;
	struct rec_summary *summary;
	char *errbuf;
	size_t errlen;
	struct shim_vm *vm;
	struct devbus *bus;
	struct trace *t;
	uint8_t *ram;
	size_t ram_size;
	uint8_t *shadow; /* guest memory as the trace knows it: dirty pages are diffed against it */
	struct x86_state cur;
	bool ended;
	int err; /* a failure inside a dirty-page callback */
	/* The step being recorded. */
	struct trace_write *writes;
	size_t n_writes, cap_writes;
	uint8_t *arena;
	size_t arena_used, arena_cap;
	struct trace_input inputs[REC_MAX_INPUTS];
	size_t n_inputs;
	uint64_t virtual_tsc; /* RDTSC values emu hands out in fallback steps */
	/* PC machine (--bios, --multiboot): interrupts and device checkpoints. */
	bool pc;
	bool injected;            /* an interrupt was injected before the step being recorded */
	bool irq_window;          /* exits mode: KVM exits once the guest can take an interrupt */
	uint64_t next_checkpoint; /* step of the next devices@<step> meta row */
	uint64_t last_checkpoint;
	char *serial; /* COM1 output alone */
	size_t serial_len, serial_cap;
	uint8_t uart_lcr;
	int pinned_cpu; /* host CPU the recording runs on, -1 when not pinned */
	bool a20_on;    /* the gate as last given to the shim */
	bool boot_bp;   /* breakpoint at the boot sector's entry armed (runs stop there once) */
};

/* Appends a byte range to the step being recorded (copied). */
int rec_add_write(struct rec *r, uint64_t gpa, const uint8_t *data, uint32_t len);

/* The instruction KVM could not execute, completed by emu and written back into KVM. */
int rec_fallback_step(struct rec *r, const struct x86_state *pre);

/* True when POPF/IRET at pre leaves EFLAGS.TF set (emu computes it from the pre-state and RAM). */
bool rec_guest_sets_tf(struct rec *r, const struct x86_state *pre);

/* "model name" of the host CPU. */
const char *rec_host_cpu(char *buf, size_t len);
/* The vCPU's CPUID table as text lines "function index: eax ebx ecx edx" (malloc'd). */
char *rec_cpuid_text(struct shim_vm *vm);

#endif
