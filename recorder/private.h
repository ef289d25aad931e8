/* recorder internals: the state of one recording. */
#ifndef EMUDIFF_RECORDER_PRIVATE_H
#define EMUDIFF_RECORDER_PRIVATE_H

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../machine/cpu_model.h"
#include "../schema/trace.h"
#include "../vmx-shim/shim.h"
#include "recorder.h"

/* Exit statuses shared with the command line (cli/cli.h). */
#define CLI_STATUS_USAGE       2
#define CLI_STATUS_ENVIRONMENT 3

struct shim_vm;
struct shim_exit;
struct devbus;
struct emu_cache;
struct emu_ops;
struct boot_memory;
struct boot_module;
struct shim_cpuid_entry;
struct rec;

/* What executes the guest. Every member is set unless its comment says NULL is allowed; a member that returns
 * int gives 0, or -errno or a cli status (open, boot_memory, start) with the message in r->errbuf. */
struct rec_engine_ops {
	const char *name;      /* the "engine" meta */
	bool emu_is_reference; /* emu's port and MMIO accesses are the exits rows, and its MSR model the CPU's
	                        */
	/* Guest RAM (r->ram, r->ram_size) and whatever runs the guest. */
	int (*open)(struct rec *r);
	/* The memory the PC loaders fill; the engine's CPU made to match the PC machine. */
	int (*boot_memory)(struct rec *r, struct boot_memory *mem);
	/* RAM and r->cur are in place: the engine takes them. */
	int (*start)(struct rec *r);
	const char *(*flavour)(const struct rec *r);   /* the "kvm_flavour" meta */
	const char *(*reference)(const struct rec *r); /* the "reference" meta */
	int (*cpuid_entries)(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n);
	/* The signal mask while the guest runs; NULL: stop signals are not blocked outside it. */
	int (*run_sigmask)(struct rec *r, const sigset_t *mask);
	/* Whether the next step is one instruction (else a run to the next exit). */
	bool (*wants_step)(const struct rec *r);
	int (*set_stepping)(struct rec *r, bool on);
	int (*set_a20)(struct rec *r); /* r->a20_on changed */
	bool (*can_inject)(const struct rec *r);
	/* Exit as soon as the guest can take an interrupt; NULL: the engine steps every instruction. */
	void (*request_irq_window)(struct rec *r, bool on);
	int (*inject)(struct rec *r, uint8_t vector);
	/* One step (stepping) or a run to the next exit, recorded. */
	int (*step)(struct rec *r, bool stepping);
	void (*close)(struct rec *r); /* also after a failed open */
};

extern const struct rec_engine_ops rec_engine_kvm, rec_engine_emu;

struct rec {
	const struct rec_options *opt;
	const struct rec_engine_ops *engine;
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
	struct trace_input *inputs; /* grows as a step needs (a REP string instruction over MMIO) */
	size_t n_inputs, cap_inputs;
	struct shim_exit
	    *held; /* exits mode: the exits of one instruction, appended once its step is known */
	size_t n_held, cap_held;
	uint64_t virtual_tsc; /* RDTSC values emu hands out in fallback steps */
	/* PC machine (--bios, --multiboot): interrupts and device checkpoints. */
	bool pc;
	bool injected;            /* an interrupt was injected before the step being recorded */
	uint8_t injected_vector;  /* its vector (--engine emu delivers it as that step) */
	bool irq_window;          /* exits mode: KVM exits once the guest can take an interrupt */
	uint64_t next_checkpoint; /* step of the next device checkpoint */
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
	/* --cpu: the model (cpu_set false: KVM's own table, "host"), its CPUID table as given to the engine,
	 * and (--engine emu) its MSRs as the guest wrote them. */
	bool cpu_set;
	struct cpu_model cpu;
	struct shim_cpuid_entry cpuid[CPU_MODEL_MAX_LEAVES];
	size_t n_cpuid;
	struct cpu_msrs msrs;
	char cpu_unsupported[512]; /* KVM: the model's feature bits KVM_GET_SUPPORTED_CPUID lacks */
	uint64_t cpuid_warned[16]; /* KVM: leaf | subleaf << 32 the guest read otherwise, told once each */
	size_t n_cpuid_warned;
	uint64_t next_progress; /* step count of the next progress call */
	uint8_t *image;         /* the guest image, firmware or kernel file */
	size_t image_len;
	struct boot_module *modules; /* --module files for the multiboot kernel */
	uint64_t mb_info;            /* where the multiboot information went */
};

/* Stop signals: the handlers and mask a recording replaces, restored at its end. */
struct rec_signals {
	struct sigaction old_int, old_term;
	sigset_t old_mask;
	bool installed;
};

/* The host state a recording changes: the CPU it is pinned to, the signals. */
struct rec_host {
	cpu_set_t old_affinity;
	bool pinned;
	struct rec_signals signals;
};

void rec_signals_install(struct rec *r, struct rec_signals *s);
void rec_signals_restore(struct rec_signals *s);
/* The stop signal that came, 0 when none. */
int rec_stop_signal(void);
/* A KVM_RUN ended by a signal: takes a pending stop signal; true when a stop was asked. */
bool rec_poll_signal(void);

/* The step being recorded starts empty. */
void rec_reset_step(struct rec *r);
int rec_add_input(struct rec *r, enum trace_input_kind kind, uint64_t addr, unsigned size, uint32_t count,
                  const uint8_t *data);
/* Appends the step (the writes and inputs gathered) with pre as its pre-state. */
int rec_append(struct rec *r, enum trace_step_kind kind, const struct x86_state *pre);
/* An events row for the step being recorded (an injected interrupt, an NMI): 0, or -errno with the message in
 * r->errbuf. */
int rec_add_event(struct rec *r, uint8_t type, uint8_t vector);
/* The recording ends after this step, for this reason. */
void rec_end(struct rec *r, enum rec_end end, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The debug-exit port, or HLT (opcode 0xf4) with nothing to wake the guest, ends the recording. */
void rec_check_end(struct rec *r, int opcode);
/* Whether --mode asks for single steps at st. */
bool rec_predicate(const struct rec *r, const struct x86_state *st);
/* Device checkpoint before the current step: at step 0, every TRACE_BATCH_STEPS steps, and forced at the end.
 */
int rec_checkpoint(struct rec *r, bool force);

/* A flat guest binary (not an ELF or multiboot kernel) that fits below the first MiB; a cli status. */
int rec_read_guest(struct rec *r, uint8_t **image, size_t *len);
/* A whole file of at most max bytes for option; 0 or a cli status with the message in errbuf. */
int rec_read_file(struct rec *r, const char *path, const char *option, size_t max, uint8_t **buf,
                  size_t *len);

/* The meta rows of how the recording was made; 0 or a cli status. */
int rec_write_meta(struct rec *r, const uint8_t *image, size_t image_len);
/* The meta rows of what it produced: console, serial, vtime_end, guest_status. */
void rec_write_end_meta(struct rec *r);

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
/* The --cpu model (opt->cpu, else the engine's default) into r->cpu and r->cpuid; 0 or a cli status. */
int rec_cpu_setup(struct rec *r);
/* The CPUID table the guest sees: the vCPU's, or with --engine emu a fixed CPU model. */
int rec_cpuid_entries(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n);
/* That table as text lines "function index: eax ebx ecx edx" (malloc'd). */
char *rec_cpuid_text(const struct rec *r);

#endif
