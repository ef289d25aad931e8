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
struct emu_cache;
struct emu_ops;

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
	uint8_t injected_vector;  /* its vector (--engine emu delivers it as that step) */
	bool irq_window;          /* exits mode: KVM exits once the guest can take an interrupt */
	uint64_t next_checkpoint; /* step of the next devices@<step> meta row */
	uint64_t last_checkpoint;
	char *serial; /* COM1 output alone */
	size_t serial_len, serial_cap;
	uint8_t uart_lcr;
	int pinned_cpu;              /* host CPU the recording runs on, -1 when not pinned */
	bool a20_on;                 /* the gate as last given to the shim */
	bool boot_bp;                /* breakpoint at the boot sector's entry armed (runs stop there once) */
	struct emu_cache *emu_cache; /* --engine emu: emu's TLB and decoded-instruction cache */
	uint8_t *rom;                /* --engine emu: the firmware, read-only at rom_base */
	uint64_t rom_base;
	size_t rom_len;
	uint64_t misc_enable; /* --engine emu: IA32_MISC_ENABLE of the CPU model */
};

/* COM1's transmitted bytes for the "serial" meta (port writes as they happen). */
void rec_serial_out(struct rec *r, uint16_t port, unsigned size, const uint8_t *buf, uint32_t count);

/* The callbacks through which emu reaches r's memory and devices (fallback steps, --engine emu). */
extern const struct emu_ops rec_emu_ops;

/* Appends a byte range to the step being recorded (copied). */
int rec_add_write(struct rec *r, uint64_t gpa, const uint8_t *data, uint32_t len);

/* The instruction KVM could not execute, completed by emu and written back into KVM. */
int rec_fallback_step(struct rec *r, const struct x86_state *pre);

/* True when POPF/IRET at pre leaves EFLAGS.TF set (emu computes it from the pre-state and RAM). */
bool rec_guest_sets_tf(struct rec *r, const struct x86_state *pre);

/* "model name" of the host CPU. */
const char *rec_host_cpu(char *buf, size_t len);
/* The CPUID table the guest sees: the vCPU's, or with --engine emu a fixed CPU model. */
struct shim_cpuid_entry;
int rec_cpuid_entries(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n);
/* That table as text lines "function index: eax ebx ecx edx" (malloc'd). */
char *rec_cpuid_text(const struct rec *r);

/* --engine emu: emu executes the instruction at r->cur against r's memory and devices, and the step is
 * recorded as the reference's (TRACE_STEP_INSN), with its port and MMIO accesses as exits rows. */
int rec_emu_step(struct rec *r);

#endif
