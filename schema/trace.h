/* The emudiff trace: one SQLite file (schema/trace.sql) holding a sequence of
 * CPU states and what happened between them.
 *
 * Model: a trace is states S0, S1, ..., Sn. Step i goes from Si to Si+1 and has
 * a kind: one instruction executed by the reference (INSN), an instruction the
 * reference could not execute and emu completed (FALLBACK), a stretch of
 * unrecorded execution between two exits (RUN), or an instruction after which
 * the reference also ran unrecorded native code (NATIVE). Each step carries the bytes it
 * wrote to guest memory (byte ranges; a RUN step's pages are stored instead as
 * memory before the next step) and the
 * inputs it consumed (IN and MMIO-read values, RDTSC, CPUID, ...). Exits and
 * injected events are plain rows naming their step. All functions return 0 or
 * -errno; trace_error() gives a one-line message naming the file. */
#ifndef EMUDIFF_TRACE_H
#define EMUDIFF_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../x86/x86_state.h"

#define TRACE_APPLICATION_ID 0x454d5544 /* "EMUD" */
/* Version 3: step kind NATIVE. Version 2: device checkpoints in their own table; version 1 kept them as meta
 * rows devices@<step> (hex). Both are still read. */
#define TRACE_FORMAT_VERSION        3
#define TRACE_FORMAT_VERSION_OLDEST 1
#define TRACE_PAGE_SIZE             4096u

struct trace;

enum trace_step_kind {
	TRACE_STEP_INSN = 0,     /* one instruction, executed by the reference */
	TRACE_STEP_RUN = 1,      /* unrecorded execution between exits: not one instruction */
	TRACE_STEP_FALLBACK = 2, /* the reference failed; emu executed this instruction */
	/* The reference ran this instruction, then native code it did not step (PVM runs 64-bit-mode CPL3
	 * code on the CPU): the post-state is real but not one instruction's. Since format version 3. */
	TRACE_STEP_NATIVE = 3,
};
#define TRACE_STEP_KINDS 4

enum trace_input_kind {
	TRACE_INPUT_PIO_IN = 1,    /* addr = port, value = data read */
	TRACE_INPUT_MMIO_READ = 2, /* addr = gpa */
	TRACE_INPUT_RDTSC = 3,
	TRACE_INPUT_CPUID = 4, /* addr = leaf | subleaf << 32; value: see data */
	TRACE_INPUT_RDRAND = 5,
	TRACE_INPUT_RDMSR = 6, /* addr = msr */
};

struct trace_input {
	uint8_t kind; /* enum trace_input_kind */
	uint8_t size; /* bytes of value: 1, 2, 4, 8; CPUID: 16 */
	uint16_t pad;
	uint32_t count; /* repetitions (rep ins), normally 1 */
	uint64_t addr;
	uint8_t data[16]; /* little-endian value; CPUID: eax ebx ecx edx */
};

/* A byte range written by a step: data points into the caller's buffer. */
struct trace_write {
	uint64_t gpa;
	uint32_t len;
	const uint8_t *data;
};

/* What the writer is given per step and what the reader gives back. */
struct trace_step {
	uint64_t index;
	enum trace_step_kind kind;
	struct x86_state pre; /* Si */
	uint32_t n_writes;
	const struct trace_write *writes; /* INSN/FALLBACK: exact bytes */
	uint32_t n_inputs;
	const struct trace_input *inputs;
};

enum trace_exit_reason {
	TRACE_EXIT_IO = 1,
	TRACE_EXIT_MMIO = 2,
	TRACE_EXIT_HLT = 3,
	TRACE_EXIT_SHUTDOWN = 4,       /* triple fault */
	TRACE_EXIT_INTERNAL_ERROR = 5, /* KVM emulation failure: a finding about the reference */
	TRACE_EXIT_DEBUG = 6,
	TRACE_EXIT_FAIL_ENTRY = 7,
	TRACE_EXIT_OTHER = 8,
};

struct trace_exit {
	uint64_t step;       /* the step (instruction) that caused it */
	uint32_t reason;     /* enum trace_exit_reason */
	uint32_t kvm_reason; /* the raw KVM_EXIT_* value */
	uint64_t addr;       /* port or gpa */
	uint8_t size;
	uint8_t is_write;
	uint16_t pad;
	uint32_t count;
	uint8_t data[16]; /* the value written or read; INTERNAL_ERROR: instruction bytes */
	uint32_t data_len;
	uint32_t suberror;
};

struct trace_event {
	uint64_t step; /* delivered before this step executes */
	uint8_t vector;
	uint8_t type; /* 0 external interrupt, 2 NMI, 3 exception, 4 software interrupt */
	uint8_t has_error;
	uint8_t pad;
	uint32_t error_code;
};

/* Opening. Create refuses an existing file unless force; open is read-only. */
int trace_create(struct trace **out, const char *path, bool force);
int trace_open(struct trace **out, const char *path);
/* Commits what is buffered and closes; a writer's trace is complete only after
 * trace_finish(). Safe on NULL. */
void trace_close(struct trace *t);
const char *trace_error(const struct trace *t);
/* A one-line message for an error before a struct trace exists. */
const char *trace_last_open_error(void);

/* meta: key/value text; written once, read back with trace_meta_get. trace_finish writes the keys
 * end_reason and steps; their presence marks a complete trace. */
int trace_meta_set(struct trace *t, const char *key, const char *value);
/* Copies the value into buf; -ENOENT when absent. */
int trace_meta_get(const struct trace *t, const char *key, char *buf, size_t len);
/* The CPUID table the recorder set (meta "cpuid"), one row {leaf, subleaf, eax, ebx, ecx, edx} an entry, in
 * *out (malloc'd, NULL and 0 rows without one); 0 or -ENOMEM. */
int trace_cpuid_table(const struct trace *t, uint32_t (**out)[6], size_t *n);

/* Device checkpoints: the device model's saved state (devbus_save) before step `step`, one a step. */
int trace_put_device_checkpoint(struct trace *t, uint64_t step, const void *data, size_t len);
/* The latest checkpoint at or before `step`: its step in *at and its bytes in *data (malloc'd, the caller
 * frees); -ENOENT when there is none. Version-1 traces' meta rows devices@<step> are read the same way. */
int trace_get_device_checkpoint(struct trace *t, uint64_t step, uint64_t *at, uint8_t **data, size_t *len);

/* Writer. Memory: trace_put_memory stores whole guest memory contents as seen
 * before the next appended step (the initial image, or pages dirtied by a RUN
 * step); pages are content-addressed. Memory never stored reads as zeros, so
 * zero pages of an image cost nothing. step->index must be the next index. */
int trace_put_memory(struct trace *t, uint64_t gpa, const void *data, size_t len);
int trace_append_step(struct trace *t, const struct trace_step *step);
int trace_append_exit(struct trace *t, const struct trace_exit *exit);
int trace_append_event(struct trace *t, const struct trace_event *event);
/* The state after the last step and why recording ended; commits. */
int trace_finish(struct trace *t, const struct x86_state *final_state, const char *end_reason);
/* Commit now (the writer also commits every TRACE_BATCH_STEPS steps). This ends
 * a chunk without the state after its last step: if the writer dies before
 * the next commit, the trace ends one step earlier. Not meant for every step. */
int trace_commit(struct trace *t);
#define TRACE_BATCH_STEPS 16384

/* Reader. States: 0..trace_step_count() inclusive (the last is the final state).
 * On a writer, trace_step_count() is the number of steps appended, and the
 * reader calls see committed steps only. */
uint64_t trace_step_count(const struct trace *t);
bool trace_is_complete(const struct trace *t);
int trace_state_at(struct trace *t, uint64_t step, struct x86_state *out);
/* The exact guest memory before step `step` executes. */
int trace_memory_at(struct trace *t, uint64_t step, uint64_t gpa, void *buf, size_t len);
/* One step with its writes and inputs; pointers stay valid until the next call. */
int trace_step_at(struct trace *t, uint64_t step, struct trace_step *out);

/* Forward iteration over steps keeps a running memory image: cheap per step. */
struct trace_iter;
int trace_iter_start(struct trace *t, uint64_t first_step, struct trace_iter **out);
/* 1 with a step, 0 at the end, -errno on error. */
int trace_iter_next(struct trace_iter *it, struct trace_step *out);
/* Memory before the step most recently returned by trace_iter_next. */
int trace_iter_memory(struct trace_iter *it, uint64_t gpa, void *buf, size_t len);
/* The pages (page numbers) whose contents the trace stores anew before the step most recently returned: what
 * the RUN step before it wrote, as seen at its end (after the first step, which starts from the stored
 * image). Valid until the next trace_iter_next. */
size_t trace_iter_stored_pages(const struct trace_iter *it, const uint64_t **pages);
void trace_iter_end(struct trace_iter *it);

/* Exits and events in step order: callback returns nonzero to stop. */
int trace_foreach_exit(struct trace *t, int (*fn)(void *arg, const struct trace_exit *e), void *arg);
int trace_foreach_event(struct trace *t, int (*fn)(void *arg, const struct trace_event *e), void *arg);
/* The recorded inputs of one kind in step order, each with its step. */
int trace_foreach_input(struct trace *t, enum trace_input_kind kind,
                        int (*fn)(void *arg, uint64_t step, const struct trace_input *in), void *arg);

/* Reads guest-physical memory as it was before the step: 0 or -errno. */
typedef int (*trace_read_phys_fn)(void *arg, uint64_t gpa, void *buf, size_t len);

/* Whether the reference may run code natively inside a step (PVM: "kvm-emulator"). */
bool trace_reference_runs_native(const char *reference);

/* Whether a step the reference recorded as one instruction also ran native code it did not step, and so is a
 * TRACE_STEP_NATIVE step: on PVM (reference "kvm-emulator"), an IRET, far RET, SYSRET or SYSEXIT from 64-bit
 * CPL 0 to CPL 3 whose post-state is at CPL 3 but not at the CS:RIP the instruction itself computes (PVM
 * returns to user mode itself and the user code runs on before the single-step trap). Reads the instruction
 * and its stack frame with read; false when they cannot be read. */
bool trace_step_ran_native(const char *reference, const struct x86_state *pre, const struct x86_state *post,
                           trace_read_phys_fn read, void *arg);

/* Sizes for `emudiff info`. */
struct trace_stats {
	uint64_t steps, insn_steps, run_steps, fallback_steps, native_steps;
	uint64_t exits, events, pages, file_bytes;
};
int trace_stats(struct trace *t, struct trace_stats *out);

#endif
