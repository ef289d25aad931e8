/* The unicorn backend's parts: the shared-memory protocol between the parent
 * (backend_unicorn.c) and the child that owns the engine (unicorn_child.c), the
 * engine's CPU-state layout (unicorn_state.c), its hooks (unicorn_hooks.c) and
 * the instruction classifier (unicorn_insn.c). Nothing outside replayer/ uses it. */
#ifndef EMUDIFF_UNICORN_PRIVATE_H
#define EMUDIFF_UNICORN_PRIVATE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <unicorn/unicorn.h>

#include "../x86/x86_state.h"
#include "backend.h"

/* Inputs of one step in the shared memory: KVM runs up to 1024 REP iterations in a single-step, and a
 * compare of two MMIO operands reads twice per iteration. */
#define UNICORN_MAX_INPUTS 4096
#define UNICORN_MAX_DIRTY  64
#define UNICORN_MAX_UNDO   1024 /* 8-byte pieces: more than one instruction stores (XSAVE, a task switch) */
#define UNICORN_MAX_WATCH  32

/* One RAM or ROM region, backed by a MAP_SHARED mapping both processes see. */
struct unicorn_region {
	uint64_t gpa;
	uint64_t len; /* rounded up to whole pages */
	bool rom;
	uint8_t *host;
};

/* Bytes a step overwrote, so an unsupported or crashed step leaves guest memory as it was. */
struct unicorn_undo {
	uint64_t gpa;
	uint8_t len;
	uint8_t data[8];
};

/* A state as the words that differ from one both sides hold: a step usually changes a handful, and
 * only those cross between the processes (whole states cost more cache-line transfers than the step). */
#define UNICORN_MAX_PATCH 32
#define PATCH_FULL        UINT32_MAX /* too many words: the whole state is sent instead */
struct state_patch {
	uint32_t n;
	uint16_t word[UNICORN_MAX_PATCH];
	uint64_t value[UNICORN_MAX_PATCH];
};

enum unicorn_load { LOAD_KEEP, LOAD_FULL, LOAD_PATCH };

/* After a step the child runs on ahead, up to this many steps, each from the state the last one left and
 * without inputs: in per-step replay the next recorded step is mostly exactly that, and its result is
 * then ready without a hand-off. */
#define UNICORN_MAX_AHEAD 2048
/* Undo entries of the steps run ahead; one more starts only while a step's worth is free. */
#define UNICORN_AHEAD_UNDO (64 * UNICORN_MAX_UNDO)

/* What the child sends back after a step; the post-state is a patch on the pre-state. */
struct unicorn_reply {
	enum backend_outcome outcome;
	uint32_t n_writes;
	bool writes_overflow;
	uint32_t n_ports;
	struct state_patch post;
	char reason[160];
	struct backend_write writes[BACKEND_MAX_WRITES];
	struct backend_port ports[BACKEND_MAX_PORTS];
	struct x86_state post_full; /* when post.n is PATCH_FULL */
};

/* A step run ahead: its reply, and where its undo entries are in ahead_undo. */
struct unicorn_ahead {
	uint32_t undo_first;
	uint32_t n_undo;
	struct unicorn_reply reply;
};

/* Each side writes its own cache lines (the child only empties the dirty list), so a hand-off moves few. */
struct unicorn_shm {
	/* parent -> child */
	alignas(64) _Atomic uint32_t req; /* counts requests */
	_Atomic uint32_t parent_sleeping;
	_Atomic uint32_t quit; /* the backend is closing: the child exits at the next request */
	uint32_t ahead_max;    /* how many steps to run ahead after this one */
	uint32_t load; /* enum unicorn_load; the child rewrites this and the inputs when running ahead */
	uint32_t n_inputs;
	bool inputs_continued; /* the same recorded step goes on: keep what was consumed */
	bool has_event;
	uint32_t n_dirty;
	bool dirty_overflow;
	struct state_patch patch;
	struct trace_event event;
	struct trace_input inputs[UNICORN_MAX_INPUTS];
	struct {
		uint64_t gpa;
		uint64_t len;
	} dirty[UNICORN_MAX_DIRTY];
	struct x86_state state; /* when load is LOAD_FULL */
	/* child -> parent; each side polls the other's counter briefly, then sleeps on it as a futex,
	 * saying so in its *_sleeping flag */
	alignas(64) _Atomic uint32_t resp; /* echoes the last request done */
	_Atomic uint32_t child_sleeping;
	_Atomic uint32_t child_gone; /* set by the child's fatal-signal handler, to wake the parent early */
	/* Published as each is complete, so a crash while running ahead blames no step the parent asked
	 * for. */
	_Atomic uint32_t replied;
	_Atomic uint32_t n_ahead;
	struct unicorn_reply reply;
	alignas(64) int32_t status; /* start-up: 0 or -errno, with msg */
	char msg[200];
	uint32_t n_undo;
	bool undo_overflow;
	struct unicorn_undo undo[UNICORN_MAX_UNDO];
	struct unicorn_ahead ahead[UNICORN_MAX_AHEAD];
	struct unicorn_undo ahead_undo[UNICORN_AHEAD_UNDO];
};

/* What the child inherits from the parent. */
struct unicorn_setup {
	struct unicorn_shm *shm;
	struct unicorn_region *regions;
	size_t n_regions;
	const uint32_t (*cpuid)[6];
	size_t n_cpuid;
	/* The reference stops right after MOV SS/POP SS (backend_config.step_over_mov_ss_shadow unset): such
	 * a step runs one instruction counted, not TF-stepped (which also runs the shadowed one). */
	bool mov_ss_alone;
	int fd; /* the child's end of the socketpair */
};

/* What a waiter checks between sleeps: 1 to wait on, or what unicorn_wait is to return (0 or -errno). */
typedef int (*unicorn_wait_check)(void *arg);

#define UNICORN_REPLY_READY 'R'

/* How long a side polls the other's hand-off counter before it sleeps on it (a sleep and wake costs
 * tens of microseconds, a poll that succeeds well under one). */
#define UNICORN_SPIN_NS 50000

#define PAGE_MASK_4K 0xfffull

enum insn_class {
	INSN_OTHER,
	INSN_PUSHF,
	INSN_POPF,
	INSN_IRET,
	INSN_HLT,
	INSN_PAUSE,
	INSN_STI,
	INSN_RDTSC,
	INSN_SOFT_INT,
	INSN_RETF,
	INSN_MOV_TO_CR,
};

/* What the instruction at RIP is, as far as this backend needs to know. */
struct insn_info {
	enum insn_class cls;
	unsigned vector; /* INSN_SOFT_INT */
	unsigned cr;     /* INSN_MOV_TO_CR */
	bool opsize;     /* a 66 prefix */
	unsigned len;    /* INSN_PAUSE, loads_ss */
	/* What the instruction can change beyond the registers read back after every step. */
	bool fpu;        /* x87, MMX, SSE or AVX state */
	bool msr;        /* WRMSR, SWAPGS */
	bool dr;         /* MOV to DR0-7 */
	bool rep_string; /* a REP-prefixed string instruction: a step may end between its iterations */
	bool loads_ss;   /* MOV SS or POP SS: the next instruction is in its shadow */
};

/* The child's engine and the step it is running; one per child process. */
struct unicorn_child {
	const struct unicorn_setup *setup;
	struct unicorn_shm *shm;
	uc_engine *uc;
	uc_context *ctx;
	uint8_t *env;
	struct x86_state cur; /* the guest state in the engine (guest TF, not the stepping TF) */
	uint64_t dummy_page;  /* mapped and unmapped to flush the TLB; backs no region */
	bool loaded;
	bool msrs_loaded;
	uint64_t msr_loaded[X86_NMSR];
	/* per step, in the child's own memory until the reply is published */
	struct x86_state pre;
	struct backend_result result;
	struct backend_result *res;
	bool consumed[UNICORN_MAX_INPUTS];
	uint32_t reps_used[UNICORN_MAX_INPUTS];
	int intr;
	bool paging;
	bool paging_mismatch;
	uint64_t mismatch_la;
	uint64_t scratch[8];
	unsigned n_scratch;
	struct {
		uint64_t gpa;
		uint64_t old;
		uint8_t len;
	} watch[UNICORN_MAX_WATCH];
	unsigned n_watch;
	bool scratch_overflow;
};

extern struct unicorn_child unicorn_child;

static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* unicorn_child.c: the hand-off between the processes, guest memory, the step. */
void unicorn_post(_Atomic uint32_t *v, uint32_t val, _Atomic uint32_t *sleeping);
int unicorn_wait(_Atomic uint32_t *v, uint32_t old, _Atomic uint32_t *sleeping, unicorn_wait_check check,
                 void *arg);
void unicorn_state_diff(const struct x86_state *from, const struct x86_state *to, struct state_patch *p);
void unicorn_state_apply(struct x86_state *s, const struct state_patch *p);
uint8_t *unicorn_host_ptr(const struct unicorn_region *regions, size_t n, uint64_t gpa, uint64_t len,
                          const struct unicorn_region **which);
void unicorn_mark_dirty(struct unicorn_shm *shm, uint64_t gpa, uint64_t len);
void unicorn_undo_apply(const struct unicorn_setup *setup, char *reason, size_t len);
void unicorn_undo_entries(const struct unicorn_setup *setup, const struct unicorn_undo *u, uint32_t n);
uint8_t *unicorn_ram(uint64_t gpa, uint64_t len, const struct unicorn_region **which);
__attribute__((noreturn)) void unicorn_child_main(const struct unicorn_setup *setup);

/* unicorn_state.c: x86_state to and from QEMU's CPUX86State in the engine. */
void unicorn_load_state(const struct x86_state *st, bool flush);
void unicorn_read_state(const struct x86_state *pre, struct x86_state *st, bool fpu, bool msr, bool dr);
void unicorn_mark_unobserved(struct x86_state *u);
int unicorn_check_layout(char *msg, size_t len);
void unicorn_paging_off(void);
uint8_t *unicorn_env(uc_context *ctx);

/* unicorn_hooks.c: the engine's callbacks during a step; they read and fill unicorn_child. */
bool unicorn_walk(uint64_t la, uint64_t *pa);
void unicorn_hook_intr(uc_engine *uc, uint32_t intno, void *user);
void unicorn_hook_mem_read(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                           void *user);
void unicorn_add_write(uint64_t addr, int size, uint64_t value);
void unicorn_hook_mem_write(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                            void *user);
bool unicorn_hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                           void *user);
uint32_t unicorn_hook_in(uc_engine *uc, uint32_t port, int size, void *user);
void unicorn_hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user);
int unicorn_hook_cpuid(uc_engine *uc, void *user);

/* unicorn_insn.c: what the instruction at RIP is, as far as this backend needs to know. */
struct insn_info unicorn_classify(const uint8_t *b, size_t n, enum x86_mode mode);

#endif
