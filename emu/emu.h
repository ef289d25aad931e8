/* emu: emudiff's own x86 emulator. Pure C, depends on nothing but libc.
 * It executes one instruction (or delivers one pending event) at a time on a
 * struct x86_state; it does segmentation and address translation itself and
 * reaches the outside world only through struct emu_ops. */
#ifndef EMUDIFF_EMU_H
#define EMUDIFF_EMU_H

#include <stdbool.h>
#include <stdint.h>

#include "../x86/x86_event.h"
#include "../x86/x86_state.h"

/* Every call of the core and of its callbacks returns one of these. */
enum emu_status {
	EMU_OK = 0,
	EMU_EXCEPTION,     /* ctxt->event names it; state is as before the instruction */
	EMU_HALT,          /* HLT executed; state after it */
	EMU_SHUTDOWN,      /* triple fault */
	EMU_UNIMPLEMENTED, /* ctxt->info.unimplemented names the opcode; state unchanged */
	EMU_IO_ERROR,      /* a callback failed (not a guest fault) */
};

const char *emu_status_name(enum emu_status s);

/* Callbacks. Memory is physical: the emulator translates. Each returns
 * EMU_OK, or EMU_IO_ERROR to abort the step. */
struct emu_ops {
	/* @gpa: [IN] physical address; @len: [IN] bytes, never crossing a 4 KiB page */
	enum emu_status (*read_phys)(void *opaque, uint64_t gpa, void *buf, unsigned len);
	enum emu_status (*write_phys)(void *opaque, uint64_t gpa, const void *buf, unsigned len);
	/* @size: [IN] 1, 2 or 4 */
	enum emu_status (*port_in)(void *opaque, uint16_t port, unsigned size, uint32_t *value);
	enum emu_status (*port_out)(void *opaque, uint16_t port, unsigned size, uint32_t value);
	/* @out: [OUT] eax, ebx, ecx, edx */
	enum emu_status (*cpuid)(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
	enum emu_status (*rdtsc)(void *opaque, uint64_t *tsc);
	/* @ok: [OUT] the CF result of RDRAND/RDSEED */
	enum emu_status (*rdrand)(void *opaque, bool seed, unsigned size, uint64_t *value, bool *ok);
	/* MSRs emu does not model. @known: [OUT] false raises #GP(0) */
	enum emu_status (*rdmsr)(void *opaque, uint32_t msr, uint64_t *value, bool *known);
	enum emu_status (*wrmsr)(void *opaque, uint32_t msr, uint64_t value, bool *known);
};

enum emu_access_kind { EMU_ACC_READ = 1, EMU_ACC_WRITE = 2, EMU_ACC_IN = 3, EMU_ACC_OUT = 4 };

/* One access of a step: physical address (or port) and the bytes moved. */
struct emu_access {
	uint64_t addr;
	uint8_t kind; /* enum emu_access_kind */
	uint8_t size; /* 1..16 bytes; larger accesses are split */
	uint8_t data[16];
};

#define EMU_MAX_ACCESSES 64

/* An exception raised by a step, or the event the step delivered. */
struct emu_event {
	uint8_t vector;
	bool has_error;
	uint32_t error_code;
	uint64_t cr2; /* #PF: faulting linear address */
};

/* What one step did. */
struct emu_step_info {
	uint8_t insn_len;
	uint8_t insn[15];
	uint32_t n_access;
	struct emu_access access[EMU_MAX_ACCESSES];
	bool access_overflow;   /* more accesses than EMU_MAX_ACCESSES */
	char unimplemented[48]; /* "0f 0b /2 in real mode"-style name of what is missing */
	bool delivered_event;   /* the step delivered an event instead of executing */
};

struct emu_ctxt {
	struct x86_state *st;
	const struct emu_ops *ops;
	void *opaque;
	struct emu_event event;    /* valid after EMU_EXCEPTION */
	struct emu_step_info info; /* reset at the start of each step */
	/* Deliver exceptions raised by an instruction through the IVT/IDT in the
	 * same step (as a single-stepped CPU does); false stops at EMU_EXCEPTION. */
	bool deliver_exceptions;
	/* Optional: a TLB and a decoded-instruction cache (emu_cache_new()); NULL walks the
	 * page tables and decodes on every step. */
	struct emu_cache *cache;
};

/* Caches for callers that run many steps on one state (free runs, benchmarks). A caller
 * that changes guest memory or the state behind emu's back calls emu_cache_flush(). */
struct emu_cache *emu_cache_new(void);
void emu_cache_free(struct emu_cache *cache);
void emu_cache_flush(struct emu_cache *cache);
/* A caller that stores to guest memory itself reports it: decoded instructions and translations that
 * depend on those bytes are dropped, the rest stays. */
void emu_cache_note_write(struct emu_cache *cache, uint64_t gpa, uint64_t len);

/* Executes one instruction, or delivers one pending event. */
enum emu_status emu_step(struct emu_ctxt *ctxt);

/* An injected event is queued into the state (x86_event_queue) and this step delivers it, as a
 * single-stepped CPU takes an injected event; x86_event_taken then clears what KVM does not report. */

/* The RFLAGS bits an instruction leaves architecturally undefined when it runs from pre (a shift or rotate
 * by CL: for CL's count), for the differ's masks. @insn: the instruction bytes at pre's RIP. */
uint64_t emu_undefined_flags(const uint8_t *insn, unsigned len, const struct x86_state *pre);

/* The length of the instruction at insn (0 when invalid or longer than 15). */
unsigned emu_insn_length(const uint8_t *insn, unsigned avail, enum x86_mode mode);

#define EMU_MAP_NONE 0xff

/* What an instruction is, as emu's decoder reads it: for modules that classify instructions without
 * executing them. */
struct emu_insn_id {
	uint8_t len;      /* the whole instruction; 0 when it is invalid or its bytes end early */
	uint8_t n_prefix; /* legacy prefixes and REX before the opcode */
	uint8_t map;      /* 0: one byte, 1: 0F, 2: 0F 38, 3: 0F 3A; EMU_MAP_NONE: the bytes end before it */
	uint8_t opcode;   /* the opcode byte within its map */
	uint8_t modrm;    /* valid when len is not 0 and the opcode has one */
	uint8_t rep;      /* the last F2/F3 prefix, or 0 */
	uint8_t rex;      /* effective REX in 64-bit code, or 0 */
	uint8_t opsize;   /* operand size in bytes (2, 4 or 8) when len is not 0 */
	bool pfx66;
	uint64_t imm;
};

/* Identifies the instruction at insn: the opcode is known even where the instruction is invalid. */
void emu_insn_identify(const uint8_t *insn, unsigned avail, enum x86_mode mode, struct emu_insn_id *out);

/* A value that entered the guest through the instruction itself rather than through memory or a port. */
enum emu_insn_input_kind {
	EMU_INSN_INPUT_NONE,
	EMU_INSN_INPUT_CPUID,
	EMU_INSN_INPUT_RDTSC,
	EMU_INSN_INPUT_RDMSR
};
struct emu_insn_input {
	enum emu_insn_input_kind kind;
	uint64_t addr;    /* CPUID: leaf | subleaf << 32; RDMSR: the MSR */
	unsigned size;    /* CPUID: 16 (EAX EBX ECX EDX); RDTSC, RDMSR: 8 (EDX:EAX) */
	uint8_t data[16]; /* little-endian */
};
/* The input a CPUID, RDTSC or RDMSR at pre's RIP received, read off the state after it (a reference that
 * runs it without an exit shows it only there): false for other instructions and for one that did not
 * complete (RIP not just past it), and for RDMSR of an MSR the state carries. */
bool emu_insn_input_from_post(const uint8_t *insn, unsigned avail, const struct x86_state *pre,
                              const struct x86_state *post, struct emu_insn_input *out);

#endif
