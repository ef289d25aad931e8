/* The unicorn replay backend. Guest RAM and a request block live in shared
 * memory; a child process owns the uc_engine, loads each state through the raw
 * uc_context (QEMU's CPUX86State inside libunicorn 2.0.1, see
 * notes/unicorn-2.0.1.md), single-steps with EFLAGS.TF and feeds the recorded
 * inputs from hooks. When unicorn aborts the child (tcg fatal error on some
 * invalid encodings) the step becomes backend.crash, the bytes it wrote are put
 * back and a new child takes over with the last good state. A state crosses
 * between the processes as the words that differ from one both already hold. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <unicorn/unicorn.h>

#include "../emu/emu.h"
#include "../x86/x86_paging.h"
#include "backend.h"

#define UNICORN_MAX_INPUTS 256
#define UNICORN_MAX_DIRTY  64
#define UNICORN_MAX_UNDO   128
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

/* Each side writes its own cache lines (the child only empties the dirty list), so a hand-off moves few. */
struct unicorn_shm {
	/* parent -> child */
	alignas(64) _Atomic uint32_t req; /* counts requests */
	_Atomic uint32_t parent_sleeping;
	uint32_t load; /* enum unicorn_load */
	uint32_t n_inputs;
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
	/* child -> parent; each side spins briefly on the other's counter, then sleeps in read() on the
	 * socket, saying so in its *_sleeping flag */
	alignas(64) _Atomic uint32_t resp; /* echoes the last request done */
	_Atomic uint32_t child_sleeping;
	struct unicorn_reply reply;
	alignas(64) int32_t status; /* start-up: 0 or -errno, with msg */
	char msg[200];
	uint32_t n_undo;
	bool undo_overflow;
	struct unicorn_undo undo[UNICORN_MAX_UNDO];
};

/* What the child inherits from the parent. */
struct unicorn_setup {
	struct unicorn_shm *shm;
	struct unicorn_region *regions;
	size_t n_regions;
	const uint32_t (*cpuid)[6];
	size_t n_cpuid;
	int fd; /* the child's end of the socketpair */
};

#define UNICORN_CMD_STEP    'S'
#define UNICORN_REPLY_READY 'R'
#define UNICORN_REPLY_DONE  'D'

/* How long each side polls the hand-off counters before sleeping on the socket. */
#define UNICORN_SPIN_NS 50000

/* Polls until (*v == val) == equal, for at most UNICORN_SPIN_NS; false on giving up. After the first
 * polls it yields the CPU between polls: with more busy processes than cores (parallel replays) the
 * other side may be waiting for this very CPU. */
static bool spin_wait(_Atomic uint32_t *v, uint32_t val, bool equal)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 1;; i++) {
		if ((atomic_load(v) == val) == equal)
			return true;
		if (i < 128) {
			__builtin_ia32_pause();
			continue;
		}
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > UNICORN_SPIN_NS)
			return false;
	}
}

/* ---- the child: owns the engine ---- */

/* Offsets into CPUX86State as libunicorn 2.0.1 lays it out; checked at start-up. */
#define CTX_DATA          16 /* struct uc_context header: size, mode, arch */
#define ENV_REGS          0
#define ENV_EIP           128
#define ENV_HFLAGS        176
#define ENV_SEGS          184
#define ENV_SEG_SIZE      24
#define ENV_LDT           328
#define ENV_TR            352
#define ENV_GDT           376
#define ENV_IDT           400
#define ENV_CR            424
#define ENV_EFER          560
#define ENV_ERROR_CODE    5352
#define ENV_OLD_EXCEPTION 5464
#define ENV_MIN_SIZE      5468
#define SEGC_BASE         8
#define SEGC_LIMIT        16
#define SEGC_FLAGS        20

/* QEMU's hflags bits (target/i386/cpu.h). */
#define HF_CPL_MASK    3u
#define HF_INHIBIT_IRQ (1u << 3)
#define HF_CS32        (1u << 4)
#define HF_SS32        (1u << 5)
#define HF_ADDSEG      (1u << 6)
#define HF_PE          (1u << 7)
#define HF_TF          (1u << 8)
#define HF_MP          (1u << 9)
#define HF_EM          (1u << 10)
#define HF_TS          (1u << 11)
#define HF_IOPL        (3u << 12)
#define HF_LMA         (1u << 14)
#define HF_CS64        (1u << 15)
#define HF_VM          (1u << 17)
#define HF_OSFXSR      (1u << 22)
#define HF_SMAP        (1u << 23)
/* Bits x86_update_hflags recomputes; the rest are kept. */
#define HF_RECOMPUTED                                                                                        \
	(HF_CPL_MASK | HF_INHIBIT_IRQ | HF_CS32 | HF_SS32 | HF_ADDSEG | HF_PE | HF_TF | HF_MP | HF_EM |      \
	 HF_TS | HF_IOPL | HF_LMA | HF_CS64 | HF_VM | HF_OSFXSR | HF_SMAP)

#define DESC_P (1u << 15)
#define DESC_L (1u << 21)
#define DESC_B (1u << 22)

#define PAGE_MASK_4K 0xfffull
#define PTE_ADDR     0x000ffffffffff000ull

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

struct child {
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

static struct child C;

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t state_word(const struct x86_state *s, size_t i)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)s + 8 * i, 8);
	return v;
}

/* The patch taking from to to; PATCH_FULL when more words differ than a patch holds. */
static void state_diff(const struct x86_state *from, const struct x86_state *to, struct state_patch *p)
{
	uint32_t n = 0;
	for (size_t i = 0; i < X86_STATE_WORDS; i++) {
		uint64_t v = state_word(to, i);
		if (v == state_word(from, i))
			continue;
		if (n == UNICORN_MAX_PATCH) {
			p->n = PATCH_FULL;
			return;
		}
		p->word[n] = (uint16_t)i;
		p->value[n++] = v;
	}
	p->n = n;
}

static void state_apply(struct x86_state *s, const struct state_patch *p)
{
	for (uint32_t i = 0; i < p->n && i < UNICORN_MAX_PATCH; i++)
		memcpy((uint8_t *)s + 8 * p->word[i], &p->value[i], 8);
}

static uint8_t *unicorn_host_ptr(const struct unicorn_region *regions, size_t n, uint64_t gpa, uint64_t len,
                                 const struct unicorn_region **which)
{
	for (size_t i = 0; i < n; i++) {
		const struct unicorn_region *r = &regions[i];
		if (gpa >= r->gpa && len <= r->len && gpa - r->gpa <= r->len - len) {
			if (which)
				*which = r;
			return r->host + (gpa - r->gpa);
		}
	}
	return NULL;
}

/* Queues [gpa, gpa+len) for translation invalidation before the next step. */
static void mark_dirty(struct unicorn_shm *shm, uint64_t gpa, uint64_t len)
{
	if (shm->dirty_overflow)
		return;
	if (shm->n_dirty) {
		uint64_t *lg = &shm->dirty[shm->n_dirty - 1].gpa, *ll = &shm->dirty[shm->n_dirty - 1].len;
		if (gpa >= *lg && gpa <= *lg + *ll) {
			if (gpa + len > *lg + *ll)
				*ll = gpa + len - *lg;
			return;
		}
	}
	if (shm->n_dirty >= UNICORN_MAX_DIRTY) {
		shm->dirty_overflow = true;
		return;
	}
	shm->dirty[shm->n_dirty].gpa = gpa;
	shm->dirty[shm->n_dirty].len = len;
	shm->n_dirty++;
}

/* Undoes a step's writes; says so in reason when the log overflowed. */
static void unicorn_undo_apply(const struct unicorn_setup *setup, char *reason, size_t len)
{
	struct unicorn_shm *shm = setup->shm;
	size_t used = strnlen(reason, len);
	if (shm->undo_overflow && used + 1 < len)
		snprintf(reason + used, len - used, " (guest memory not fully restored)");
	for (uint32_t i = shm->n_undo; i-- > 0;) {
		const struct unicorn_undo *u = &shm->undo[i];
		uint8_t *p = unicorn_host_ptr(setup->regions, setup->n_regions, u->gpa, u->len, NULL);
		if (p && memcmp(p, u->data, u->len) != 0) {
			memcpy(p, u->data, u->len);
			mark_dirty(shm, u->gpa, u->len);
		}
	}
	shm->n_undo = 0;
	shm->undo_overflow = false;
}

static uint8_t *ram(uint64_t gpa, uint64_t len, const struct unicorn_region **which)
{
	return unicorn_host_ptr(C.setup->regions, C.setup->n_regions, gpa, len, which);
}

static uint32_t attr_to_flags(uint32_t attr)
{
	uint32_t flags = ((attr & 0xffu) << 8) | ((attr & 0xf000u) << 8);
	if (attr & X86_SEG_UNUSABLE)
		flags &= ~DESC_P;
	return flags;
}

static uint32_t flags_to_attr(uint32_t flags)
{
	uint32_t attr = ((flags >> 8) & 0xffu) | ((flags >> 8) & 0xf000u);
	if (!(flags & DESC_P))
		attr |= X86_SEG_UNUSABLE;
	return attr;
}

static void put_seg(uint8_t *p, const struct x86_segment *s)
{
	put32(p, s->selector);
	put64(p + SEGC_BASE, s->base);
	put32(p + SEGC_LIMIT, s->limit);
	put32(p + SEGC_FLAGS, attr_to_flags(s->attr));
}

/* Keeps the loaded segment exactly when the engine left its cache alone. */
static void get_seg(const uint8_t *p, const struct x86_segment *pre, struct x86_segment *s)
{
	uint16_t sel = (uint16_t)get32(p);
	uint64_t base = get64(p + SEGC_BASE);
	uint32_t limit = get32(p + SEGC_LIMIT);
	uint32_t flags = get32(p + SEGC_FLAGS);
	if (sel == pre->selector && base == pre->base && limit == pre->limit &&
	    flags == attr_to_flags(pre->attr)) {
		*s = *pre;
		return;
	}
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->attr = flags_to_attr(flags);
}

static uint32_t compute_hflags(const struct x86_state *st, uint32_t old)
{
	uint32_t cs = attr_to_flags(st->seg[X86_CS].attr), ss = attr_to_flags(st->seg[X86_SS].attr);
	uint32_t h = old & ~HF_RECOMPUTED;
	h |= x86_state_cpl(st) & HF_CPL_MASK;
	if (st->cr0 & X86_CR0_PE)
		h |= HF_PE;
	if (st->cr0 & X86_CR0_MP)
		h |= HF_MP;
	if (st->cr0 & X86_CR0_EM)
		h |= HF_EM;
	if (st->cr0 & X86_CR0_TS)
		h |= HF_TS;
	h |= (uint32_t)(st->rflags & (X86_RFLAGS_TF | X86_RFLAGS_VM | X86_RFLAGS_IOPL));
	if (st->cr4 & X86_CR4_OSFXSR)
		h |= HF_OSFXSR;
	if (st->cr4 & X86_CR4_SMAP)
		h |= HF_SMAP;
	if (st->efer & X86_EFER_LMA)
		h |= HF_LMA;
	if ((h & HF_LMA) && (cs & DESC_L)) {
		h |= HF_CS32 | HF_SS32 | HF_CS64;
	} else {
		if (cs & DESC_B)
			h |= HF_CS32;
		if (ss & DESC_B)
			h |= HF_SS32;
		if (!(st->cr0 & X86_CR0_PE) || (st->rflags & X86_RFLAGS_VM) || !(h & HF_CS32))
			h |= HF_ADDSEG;
		else if ((st->seg[X86_DS].base | st->seg[X86_ES].base | st->seg[X86_SS].base) != 0)
			h |= HF_ADDSEG;
	}
	if (st->events.shadow)
		h |= HF_INHIBIT_IRQ;
	return h;
}

/* A map and unmap flushes QEMU's TLB (notes/unicorn-2.0.1.md). */
static void flush_tlb(void)
{
	if (uc_mem_map(C.uc, C.dummy_page, 0x1000, UC_PROT_READ) == UC_ERR_OK)
		uc_mem_unmap(C.uc, C.dummy_page, 0x1000);
}

static const int fpu_regs[] = {
    UC_X86_REG_FP0, UC_X86_REG_FP1, UC_X86_REG_FP2, UC_X86_REG_FP3,
    UC_X86_REG_FP4, UC_X86_REG_FP5, UC_X86_REG_FP6, UC_X86_REG_FP7,
};

static void load_fpu(const struct x86_fpu *f)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint16_t tag = 0;
	for (unsigned i = 0; i < 8; i++) {
		/* FXSAVE keeps ST(i); unicorn's FPn is the physical register n. */
		uint8_t v[10];
		memcpy(v, f->st[i], 10);
		uc_reg_write(C.uc, fpu_regs[(top + i) & 7], v);
		if (!(f->ftw & (1u << i)))
			tag |= (uint16_t)(3u << (2 * i));
	}
	uint16_t fcw = f->fcw, fsw = f->fsw;
	uint32_t mxcsr = f->mxcsr;
	uc_reg_write(C.uc, UC_X86_REG_FPCW, &fcw);
	uc_reg_write(C.uc, UC_X86_REG_FPSW, &fsw);
	uc_reg_write(C.uc, UC_X86_REG_FPTAG, &tag);
	uc_reg_write(C.uc, UC_X86_REG_MXCSR, &mxcsr);
	for (int i = 0; i < 16; i++)
		uc_reg_write(C.uc, UC_X86_REG_XMM0 + i, f->xmm[i]);
}

static void read_fpu(struct x86_fpu *f)
{
	uint16_t fcw = 0, fsw = 0, tag = 0;
	uint32_t mxcsr = 0;
	uc_reg_read(C.uc, UC_X86_REG_FPCW, &fcw);
	uc_reg_read(C.uc, UC_X86_REG_FPSW, &fsw);
	uc_reg_read(C.uc, UC_X86_REG_FPTAG, &tag);
	uc_reg_read(C.uc, UC_X86_REG_MXCSR, &mxcsr);
	f->fcw = fcw;
	f->fsw = fsw;
	f->mxcsr = mxcsr;
	f->ftw = 0;
	unsigned top = (fsw >> 11) & 7;
	for (unsigned i = 0; i < 8; i++) {
		uint8_t v[16] = {0};
		uc_reg_read(C.uc, fpu_regs[(top + i) & 7], v);
		memset(v + 10, 0, 6);
		memcpy(f->st[i], v, 16);
		if (((tag >> (2 * i)) & 3) != 3)
			f->ftw |= (uint8_t)(1u << i);
	}
	for (int i = 0; i < 16; i++)
		uc_reg_read(C.uc, UC_X86_REG_XMM0 + i, f->xmm[i]);
}

/* The MSRs QEMU's wrmsr models; TSC and APIC_BASE are not among them. */
static bool msr_modelled(int i)
{
	return i != X86_MSR_TSC && i != X86_MSR_APIC_BASE;
}

/* Loads st into the engine; flush also drops the TLB (after page-table or mapping changes). */
static void load_state(const struct x86_state *st, bool flush)
{
	flush = flush || !C.loaded || st->cr0 != C.cur.cr0 || st->cr3 != C.cur.cr3 || st->cr4 != C.cur.cr4 ||
	        st->efer != C.cur.efer;
	uint8_t *env = C.env;

	uc_context_save(C.uc, C.ctx);
	for (int i = 0; i < X86_NGPR; i++)
		put64(env + ENV_REGS + 8 * i, st->gpr[i]);
	put64(env + ENV_EIP, st->rip);
	for (int i = X86_ES; i <= X86_GS; i++)
		put_seg(env + ENV_SEGS + ENV_SEG_SIZE * i, &st->seg[i]);
	put_seg(env + ENV_LDT, &st->seg[X86_LDTR]);
	put_seg(env + ENV_TR, &st->seg[X86_TR]);
	put64(env + ENV_GDT + SEGC_BASE, st->gdtr.base);
	put32(env + ENV_GDT + SEGC_LIMIT, st->gdtr.limit);
	put64(env + ENV_IDT + SEGC_BASE, st->idtr.base);
	put32(env + ENV_IDT + SEGC_LIMIT, st->idtr.limit);
	put64(env + ENV_CR + 0, st->cr0);
	put64(env + ENV_CR + 16, st->cr2);
	put64(env + ENV_CR + 24, st->cr3);
	put64(env + ENV_CR + 32, st->cr4);
	put64(env + ENV_EFER, st->efer);
	put32(env + ENV_HFLAGS, compute_hflags(st, get32(env + ENV_HFLAGS)));
	/* An exception the hook swallowed must not turn the next one into #DF (QEMU's check_exception). */
	put32(env + ENV_OLD_EXCEPTION, 0xffffffffu);
	uc_context_restore(C.uc, C.ctx);

	uint64_t rflags = st->rflags;
	uc_reg_write(C.uc, UC_X86_REG_RFLAGS, &rflags);
	/* C.cur is what the engine holds (loaded, or read back after the last step): only what differs is
	 * written through the register API, about thirty calls for the FPU and SSE registers alone. */
	for (int i = 0; i < 4; i++) {
		uint64_t v = st->dr[i];
		if (!C.loaded || v != C.cur.dr[i])
			uc_reg_write(C.uc, UC_X86_REG_DR0 + i, &v);
	}
	if (!C.loaded || memcmp(&st->fpu, &C.cur.fpu, sizeof(st->fpu)))
		load_fpu(&st->fpu);
	for (int i = 0; i < X86_NMSR; i++) {
		if (!msr_modelled(i) || (C.msrs_loaded && C.msr_loaded[i] == st->msr[i]))
			continue;
		uc_x86_msr m = {.rid = x86_msr_numbers[i], .value = st->msr[i]};
		uc_reg_write(C.uc, UC_X86_REG_MSR, &m);
		C.msr_loaded[i] = st->msr[i];
	}
	C.msrs_loaded = true;
	C.cur = *st;
	C.loaded = true;
	if (flush)
		flush_tlb();
}

/* Reads the engine's state after a step; what the instruction cannot change is taken from pre, sparing
 * some fifty register reads. */
static void read_state(const struct x86_state *pre, struct x86_state *st, bool fpu, bool msr, bool dr)
{
	const uint8_t *env = C.env;

	*st = *pre;
	uc_context_save(C.uc, C.ctx);
	for (int i = 0; i < X86_NGPR; i++)
		st->gpr[i] = get64(env + ENV_REGS + 8 * i);
	st->rip = get64(env + ENV_EIP);
	for (int i = X86_ES; i <= X86_GS; i++)
		get_seg(env + ENV_SEGS + ENV_SEG_SIZE * i, &pre->seg[i], &st->seg[i]);
	get_seg(env + ENV_LDT, &pre->seg[X86_LDTR], &st->seg[X86_LDTR]);
	get_seg(env + ENV_TR, &pre->seg[X86_TR], &st->seg[X86_TR]);
	st->gdtr.base = get64(env + ENV_GDT + SEGC_BASE);
	st->gdtr.limit = get32(env + ENV_GDT + SEGC_LIMIT);
	st->idtr.base = get64(env + ENV_IDT + SEGC_BASE);
	st->idtr.limit = get32(env + ENV_IDT + SEGC_LIMIT);
	st->cr0 = get64(env + ENV_CR + 0);
	st->cr2 = get64(env + ENV_CR + 16);
	st->cr3 = get64(env + ENV_CR + 24);
	st->cr4 = get64(env + ENV_CR + 32);
	st->efer = get64(env + ENV_EFER);
	st->events.shadow = (get32(env + ENV_HFLAGS) & HF_INHIBIT_IRQ) ? X86_SHADOW_MOV_SS : 0;
	uint64_t rflags = 0;
	uc_reg_read(C.uc, UC_X86_REG_RFLAGS, &rflags);
	st->rflags = rflags;
	for (int i = 0; dr && i < 4; i++) {
		uint64_t v = 0;
		uc_reg_read(C.uc, UC_X86_REG_DR0 + i, &v);
		st->dr[i] = v;
	}
	if (fpu)
		read_fpu(&st->fpu);
	for (int i = 0; msr && i < X86_NMSR; i++) {
		if (!msr_modelled(i))
			continue;
		uc_x86_msr m = {.rid = x86_msr_numbers[i], .value = 0};
		uc_reg_read(C.uc, UC_X86_REG_MSR, &m);
		st->msr[i] = m.value;
		C.msr_loaded[i] = m.value;
	}
}

/* Fields of x86_state this backend cannot observe: the differ skips them. */
static void mark_unobserved(struct x86_state *u);

static void mark_unobserved(struct x86_state *u)
{
	memset(u, 0, sizeof(*u));
	u->cr8 = ~0ull;
	u->xcr0 = ~0ull;
	u->dr6 = ~0ull;
	u->dr7 = ~0ull;
	u->msr[X86_MSR_TSC] = ~0ull;
	u->msr[X86_MSR_APIC_BASE] = ~0ull;
	memset(&u->events, 0xff, sizeof(u->events));
	u->events.shadow = 0;
	u->events.halted = 0;
	u->fpu.fip = ~0ull;
	u->fpu.fdp = ~0ull;
	u->fpu.fop = 0xffff;
	for (int i = 0; i < 8; i++)
		memset(u->fpu.st[i] + 10, 0xff, 6);
}

/* Reads a paging-structure entry and remembers its value before the step, so the
 * accessed/dirty bits the engine's own walk sets come back as writes (and can be undone). */
static bool pte_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *e)
{
	(void)ctx;
	const uint8_t *p = ram(gpa, size, NULL);
	if (!p)
		return false;
	*e = size == 8 ? get64(p) : get32(p);
	if (!C.paging)
		return true;
	for (unsigned i = 0; i < C.n_watch; i++)
		if (C.watch[i].gpa == gpa)
			return true;
	struct unicorn_shm *shm = C.shm;
	if (C.n_watch >= UNICORN_MAX_WATCH || shm->n_undo >= UNICORN_MAX_UNDO)
		return true;
	C.watch[C.n_watch].gpa = gpa;
	C.watch[C.n_watch].len = (uint8_t)size;
	C.watch[C.n_watch++].old = *e;
	struct unicorn_undo *u = &shm->undo[shm->n_undo++];
	u->gpa = gpa;
	u->len = (uint8_t)size;
	memcpy(u->data, p, size);
	return true;
}

/* Guest linear to physical through the guest's own page tables; false when not present. */
static bool walk(uint64_t la, uint64_t *pa)
{
	return x86_page_walk(&C.cur, la, pte_read, NULL, pa);
}

/* Unicorn 2.0.1 accesses the linear address as if it were physical: flag every access where it is not. */
static bool paging_differs(uint64_t la, int size)
{
	if (!C.paging)
		return false;
	uint64_t last = la + (uint64_t)(size > 0 ? size - 1 : 0);
	uint64_t pa;
	for (uint64_t a = la & ~PAGE_MASK_4K; a <= (last & ~PAGE_MASK_4K); a += 0x1000) {
		if (walk(a, &pa) && pa != a) {
			if (!C.paging_mismatch)
				C.mismatch_la = a;
			C.paging_mismatch = true;
			uc_emu_stop(C.uc);
			return true;
		}
		if (a + 0x1000 < a)
			break;
	}
	return false;
}

static bool in_scratch(uint64_t addr)
{
	for (unsigned i = 0; i < C.n_scratch; i++)
		if ((addr & ~PAGE_MASK_4K) == C.scratch[i])
			return true;
	return false;
}

/* The next recorded input of this kind; repetitions of one row are consumed one by one. */
static const struct trace_input *next_input(uint8_t kind, uint32_t *rep)
{
	struct unicorn_shm *shm = C.shm;
	for (uint32_t i = 0; i < shm->n_inputs && i < UNICORN_MAX_INPUTS; i++) {
		const struct trace_input *in = &shm->inputs[i];
		if (C.consumed[i] || in->kind != kind)
			continue;
		uint32_t count = in->count ? in->count : 1;
		*rep = C.reps_used[i]++;
		if (C.reps_used[i] >= count)
			C.consumed[i] = true;
		return in;
	}
	return NULL;
}

/* The value of repetition rep, little-endian, size bytes. */
static uint64_t input_value(const struct trace_input *in, uint32_t rep, int size)
{
	uint64_t v = 0;
	unsigned sz = in->size ? in->size : (unsigned)size;
	unsigned off = (sz * rep + sz <= sizeof(in->data)) ? sz * rep : 0;
	memcpy(&v, in->data + off, sz > 8 ? 8 : sz);
	if (size < 8)
		v &= (1ull << (8 * size)) - 1;
	return v;
}

static void hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
	(void)user;
	if (C.intr < 0)
		C.intr = (int)intno;
	uc_emu_stop(uc);
}

static void hook_mem_read(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
	(void)type, (void)value, (void)user;
	if (paging_differs(addr, size) || !in_scratch(addr))
		return;
	uint32_t rep = 0;
	const struct trace_input *in = next_input(TRACE_INPUT_MMIO_READ, &rep);
	uint64_t v = in ? input_value(in, rep, size) : ~0ull;
	uint8_t buf[8];
	memcpy(buf, &v, 8);
	uc_mem_write(uc, addr, buf, (size_t)(size > 8 ? 8 : size));
}

static void add_write(uint64_t addr, int size, uint64_t value)
{
	struct backend_result *res = C.res;
	uint8_t bytes[8];
	memcpy(bytes, &value, 8);
	if (res->n_writes) {
		struct backend_write *w = &res->writes[res->n_writes - 1];
		if (w->gpa + w->len == addr && w->len + size <= 16) {
			memcpy(w->data + w->len, bytes, (size_t)size);
			w->len = (uint8_t)(w->len + size);
			return;
		}
	}
	if (res->n_writes >= BACKEND_MAX_WRITES) {
		res->writes_overflow = true;
		return;
	}
	struct backend_write *w = &res->writes[res->n_writes++];
	w->gpa = addr;
	w->len = (uint8_t)size;
	memset(w->data, 0, sizeof(w->data));
	memcpy(w->data, bytes, (size_t)size);
}

static void hook_mem_write(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                           void *user)
{
	(void)uc, (void)type, (void)user;
	if (size <= 0 || size > 8 || paging_differs(addr, size))
		return;
	const struct unicorn_region *r = NULL;
	uint8_t *p = ram(addr, (uint64_t)size, &r);
	if (!p) {
		add_write(addr, size, (uint64_t)value); /* MMIO: the recording lists these writes too */
		return;
	}
	struct unicorn_shm *shm = C.shm;
	if (shm->n_undo < UNICORN_MAX_UNDO) {
		struct unicorn_undo *u = &shm->undo[shm->n_undo++];
		u->gpa = addr;
		u->len = (uint8_t)size;
		memcpy(u->data, p, (size_t)size);
	} else {
		shm->undo_overflow = true;
	}
	if (!r->rom)
		add_write(addr, size, (uint64_t)value);
}

static bool map_scratch(uint64_t addr, int size)
{
	uint64_t last = addr + (uint64_t)(size > 0 ? size - 1 : 0);
	for (uint64_t a = addr & ~PAGE_MASK_4K; a <= (last & ~PAGE_MASK_4K); a += 0x1000) {
		if (in_scratch(a) || ram(a, 1, NULL))
			continue;
		if (C.n_scratch >= sizeof(C.scratch) / sizeof(C.scratch[0])) {
			C.scratch_overflow = true;
			return false;
		}
		if (uc_mem_map(C.uc, a, 0x1000, UC_PROT_READ | UC_PROT_WRITE) != UC_ERR_OK)
			return false;
		C.scratch[C.n_scratch++] = a;
	}
	return true;
}

static bool hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value, void *user)
{
	(void)uc, (void)value, (void)user;
	if (type == UC_MEM_FETCH_UNMAPPED || paging_differs(addr, size))
		return false;
	return map_scratch(addr, size);
}

static void add_port(uint16_t port, int size, bool is_out, uint32_t value)
{
	struct backend_result *res = C.res;
	if (res->n_ports >= BACKEND_MAX_PORTS)
		return;
	struct backend_port *p = &res->ports[res->n_ports++];
	p->port = port;
	p->size = (uint8_t)size;
	p->is_out = is_out;
	p->value = value;
}

static uint32_t hook_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	(void)uc, (void)user;
	uint32_t rep = 0;
	const struct trace_input *in = next_input(TRACE_INPUT_PIO_IN, &rep);
	uint32_t v = in ? (uint32_t)input_value(in, rep, size) : (uint32_t)((1ull << (8 * size)) - 1);
	add_port((uint16_t)port, size, false, v);
	return v;
}

static void hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	(void)uc, (void)user;
	add_port((uint16_t)port, size, true, value);
}

/* CPUID answers come from the recording, then the recorded CPUID table, then unicorn itself. */
static int hook_cpuid(uc_engine *uc, void *user)
{
	(void)user;
	uint64_t rax = 0, rcx = 0;
	uc_reg_read(uc, UC_X86_REG_RAX, &rax);
	uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
	uint32_t leaf = (uint32_t)rax, sub = (uint32_t)rcx, out[4];
	uint32_t rep = 0;
	const struct trace_input *in = next_input(TRACE_INPUT_CPUID, &rep);
	if (in) {
		memcpy(out, in->data, 16);
	} else {
		size_t i, n = C.setup->n_cpuid;
		const uint32_t(*t)[6] = C.setup->cpuid;
		for (i = 0; i < n; i++)
			if (t[i][0] == leaf && t[i][1] == sub)
				break;
		for (size_t j = 0; i == n && j < n; j++)
			if (t[j][0] == leaf && t[j][1] == 0)
				i = j;
		if (i == n)
			return 0;
		memcpy(out, &t[i][2], 16);
	}
	static const int regs[4] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX};
	for (int r = 0; r < 4; r++) {
		uint64_t v = out[r];
		uc_reg_write(uc, regs[r], &v);
	}
	return 1;
}

/* What the instruction at RIP is, as far as this backend needs to know. */
struct insn_info {
	enum insn_class cls;
	unsigned vector; /* INSN_SOFT_INT */
	unsigned cr;     /* INSN_MOV_TO_CR */
	bool opsize;     /* a 66 prefix */
	unsigned len;    /* INSN_PAUSE */
	/* What the instruction can change beyond the registers read back after every step. */
	bool fpu; /* x87, MMX, SSE or AVX state */
	bool msr; /* WRMSR, SWAPGS */
	bool dr;  /* MOV to DR0-7 */
};

/* Conservative: anything that is not plainly an integer instruction may change x87/SSE state. */
static bool may_touch_fpu(const struct emu_insn_id *id)
{
	uint8_t op = id->opcode;
	if (id->map == 0)
		/* x87, FWAIT, VEX/EVEX (or LES/LDS/BOUND/POP: the read-back is harmless) */
		return (op >= 0xd8 && op <= 0xdf) || op == 0x9b || op == 0xc4 || op == 0xc5 || op == 0x62 ||
		       op == 0x8f;
	if (id->map != 1)
		return true; /* 0F 38, 0F 3A, or bytes that end within the opcode */
	return op == 0x0e || op == 0x0f || (op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) ||
	       (op >= 0x50 && op <= 0x7f) || op == 0xae || op == 0xb8 || (op >= 0xc2 && op <= 0xc7) ||
	       op >= 0xd0;
}

/* Whether any prefix byte before the opcode has the given bits (a REX anywhere, not only the last). */
static bool prefix_has(const uint8_t *b, unsigned n_prefix, uint8_t mask, uint8_t value)
{
	for (unsigned i = 0; i < n_prefix; i++)
		if ((b[i] & mask) == value)
			return true;
	return false;
}

static struct insn_info classify(const uint8_t *b, size_t n, enum x86_mode mode)
{
	struct insn_info in = {.cls = INSN_OTHER};
	struct emu_insn_id id;

	emu_insn_identify(b, (unsigned)n, mode, &id);
	size_t i = id.n_prefix; /* the opcode's first byte */
	in.opsize = id.pfx66;
	if (i >= n) {
		in.fpu = in.msr = in.dr = true;
		return in;
	}
	/* 0F alone: the second opcode byte is missing, so it may be anything. */
	bool op2_missing = b[i] == 0x0f && i + 1 >= n;
	in.fpu = may_touch_fpu(&id);
	in.msr = op2_missing || (id.map == 1 && (id.opcode == 0x30 || id.opcode == 0x01));
	in.dr = op2_missing || (id.map == 1 && id.opcode == 0x23);
	if (id.map == 1) {
		if (id.opcode == 0x31)
			in.cls = INSN_RDTSC;
		else if (id.opcode == 0x01 && i + 3 < n && b[i + 2] == 0xf9)
			in.cls = INSN_RDTSC; /* RDTSCP: 0F 01 F9 */
		else if (id.opcode == 0x22 && i + 2 < n)
			in.cls = INSN_MOV_TO_CR, in.cr = (b[i + 2] >> 3) & 7; /* ModRM.reg */
		return in;
	}
	if (id.map != 0)
		return in;
	switch (id.opcode) {
	case 0x9c:
		in.cls = INSN_PUSHF;
		break;
	case 0x9d:
		in.cls = INSN_POPF;
		break;
	case 0xcf:
		in.cls = INSN_IRET;
		break;
	case 0xca:
	case 0xcb:
		in.cls = INSN_RETF;
		break;
	case 0xf4:
		in.cls = INSN_HLT;
		break;
	case 0x90:
		/* F3 90 is PAUSE; with REX.B it is XCHG r8, rax. */
		if (prefix_has(b, id.n_prefix, 0xff, 0xf3) &&
		    !(mode == X86_MODE_LONG64 && prefix_has(b, id.n_prefix, 0xf1, 0x41)))
			in.cls = INSN_PAUSE, in.len = (unsigned)i + 1;
		break;
	case 0xfb:
		in.cls = INSN_STI;
		break;
	case 0xcc:
		in.cls = INSN_SOFT_INT, in.vector = 3;
		break;
	case 0xf1:
		in.cls = INSN_SOFT_INT, in.vector = 1;
		break;
	case 0xcd:
		in.cls = INSN_SOFT_INT, in.vector = i + 1 < n ? b[i + 1] : 0;
		break;
	default:
		break;
	}
	return in;
}

__attribute__((format(printf, 2, 3))) static void unsupported(struct backend_result *res, const char *fmt,
                                                              ...)
{
	va_list ap;
	res->outcome = BACKEND_UNSUPPORTED;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

static void unmap_scratch(void)
{
	for (unsigned i = 0; i < C.n_scratch; i++)
		uc_mem_unmap(C.uc, C.scratch[i], 0x1000);
	C.n_scratch = 0;
}

/* Drops what the engine wrote to ROM: the bus ignores such writes. */
static void undo_rom_writes(void)
{
	struct unicorn_shm *shm = C.shm;
	for (uint32_t i = shm->n_undo; i-- > 0;) {
		const struct unicorn_undo *u = &shm->undo[i];
		const struct unicorn_region *r = NULL;
		uint8_t *p = ram(u->gpa, u->len, &r);
		if (p && r->rom && memcmp(p, u->data, u->len) != 0) {
			memcpy(p, u->data, u->len);
			mark_dirty(shm, u->gpa, u->len);
		}
	}
}

/* Clears TF (bit 0 of a flags image's second byte, at gpa) in the step's writes and in guest memory. */
static void hide_stepping_tf(uint64_t gpa)
{
	struct backend_result *res = C.res;
	for (uint32_t i = 0; i < res->n_writes; i++) {
		struct backend_write *w = &res->writes[i];
		if (gpa < w->gpa || gpa - w->gpa >= w->len)
			continue;
		w->data[gpa - w->gpa] &= (uint8_t) ~(X86_RFLAGS_TF >> 8);
		uint8_t *p = ram(gpa, 1, NULL);
		if (p)
			*p &= (uint8_t) ~(X86_RFLAGS_TF >> 8);
	}
}

/* With memory hooks, unicorn 2.0.1 stores the instruction's own address into EIP before each
 * memory access; a real-mode RETF pops the selector after setting EIP, so EIP ends up back at the
 * RETF. Put the popped offset where it belongs. */
static void fix_retf_eip(const struct x86_state *pre, bool opsize, struct x86_state *post)
{
	bool o32 = ((pre->seg[X86_CS].attr & X86_SEG_DB) != 0) != opsize;
	uint64_t sp = pre->gpr[X86_RSP] & ((pre->seg[X86_SS].attr & X86_SEG_DB) ? 0xffffffffull : 0xffffull);
	const uint8_t *p = ram(pre->seg[X86_SS].base + sp, o32 ? 4 : 2, NULL);
	if (!p)
		return;
	post->rip = o32 ? get32(p) : (uint64_t)(p[0] | p[1] << 8);
	uc_reg_write(C.uc, UC_X86_REG_RIP, &post->rip);
}

static void step_once(void)
{
	struct unicorn_shm *shm = C.shm;
	struct backend_result *res = &C.result;
	const struct x86_state *pre = &C.pre; /* the state the step starts from */
	uc_err err;

	res->outcome = BACKEND_STEPPED;
	res->reason[0] = '\0';
	res->n_writes = 0;
	res->writes_overflow = false;
	res->n_ports = 0;
	C.res = res;
	shm->n_undo = 0;
	shm->undo_overflow = false;
	uint32_t n_inputs = shm->n_inputs < UNICORN_MAX_INPUTS ? shm->n_inputs : UNICORN_MAX_INPUTS;
	memset(C.consumed, 0, n_inputs * sizeof(C.consumed[0]));
	memset(C.reps_used, 0, n_inputs * sizeof(C.reps_used[0]));
	C.intr = -1;
	C.paging_mismatch = false;
	C.scratch_overflow = false;
	C.n_watch = 0;

	bool dirty = shm->n_dirty || shm->dirty_overflow, reload = false;
	if (dirty) {
		/* uc_ctl_remove_cache translates its address through the guest page tables and sets
		 * their accessed bits: with paging on, run it with paging off and reload the state. */
		if (!C.loaded || (C.cur.cr0 & X86_CR0_PG)) {
			uc_context_save(C.uc, C.ctx);
			put64(C.env + ENV_CR, get64(C.env + ENV_CR) & ~X86_CR0_PG);
			uc_context_restore(C.uc, C.ctx);
			reload = true;
		}
		if (shm->dirty_overflow) {
			/* Not uc_ctl_flush_tlb: a TB flush clears the whole code buffer, which takes seconds.
			 */
			for (size_t i = 0; i < C.setup->n_regions; i++)
				uc_ctl_remove_cache(C.uc, C.setup->regions[i].gpa,
				                    C.setup->regions[i].gpa + C.setup->regions[i].len);
		} else {
			for (uint32_t i = 0; i < shm->n_dirty; i++)
				uc_ctl_remove_cache(C.uc, shm->dirty[i].gpa,
				                    shm->dirty[i].gpa + shm->dirty[i].len);
		}
		shm->n_dirty = 0;
		shm->dirty_overflow = false;
	}
	if (shm->load == LOAD_FULL || !C.loaded) {
		load_state(&shm->state, dirty && (shm->state.cr0 & X86_CR0_PG));
	} else if (shm->load == LOAD_PATCH) {
		struct x86_state st = C.cur;
		state_apply(&st, &shm->patch);
		load_state(&st, dirty && (st.cr0 & X86_CR0_PG));
	} else if (reload) {
		load_state(&C.cur, true);
	}

	C.pre = C.cur;
	res->post = C.pre;
	C.paging = (pre->cr0 & X86_CR0_PG) && (pre->cr0 & X86_CR0_PE);

	if (shm->has_event) {
		unsupported(res, "unicorn does not deliver exceptions/interrupts (vector %u)",
		            shm->event.vector);
		return;
	}
	if (pre->events.halted) {
		unsupported(res,
		            "the recorded state is halted (HLT); unicorn has no halted state to resume from");
		return;
	}
	if (pre->rflags & X86_RFLAGS_TF) {
		unsupported(res, "guest EFLAGS.TF is set: unicorn does not deliver the #DB (vector 1)");
		return;
	}

	bool long64 = (pre->efer & X86_EFER_LMA) && (pre->seg[X86_CS].attr & X86_SEG_L);
	uint64_t la = long64 ? pre->rip : pre->seg[X86_CS].base + pre->rip;
	if (!long64 && !(pre->efer & X86_EFER_LMA))
		la &= 0xffffffffull;
	uint8_t bytes[15] = {0};
	size_t n = 0;
	uint64_t pa = la;
	for (n = 0; n < sizeof(bytes); n++) {
		/* One walk per page: the bytes after it are at the same offsets. */
		if (n == 0 || ((la + n) & PAGE_MASK_4K) == 0) {
			if (!walk(la + n, &pa))
				break;
		} else {
			pa++;
		}
		if (C.paging && pa != la + n) {
			unsupported(
			    res,
			    "unicorn 2.0.1 discards the paging translation (linear %#llx is physical %#llx)",
			    (unsigned long long)(la + n), (unsigned long long)pa);
			return;
		}
		const uint8_t *p = ram(pa, 1, NULL);
		if (!p)
			break;
		bytes[n] = *p;
	}
	if (n == 0) {
		unsupported(res, "instruction fetch at %#llx is not backed by a RAM/ROM region",
		            (unsigned long long)la);
		return;
	}
	struct insn_info insn = classify(bytes, n, x86_state_mode(pre));
	enum insn_class cls = insn.cls;
	if (cls == INSN_SOFT_INT) {
		unsupported(res, "unicorn does not deliver exceptions/interrupts (vector %u)", insn.vector);
		return;
	}
	if (cls == INSN_RDTSC) {
		unsupported(res,
		            "unicorn 2.0.1 cannot be fed a recorded RDTSC value (RDTSC is not hookable)");
		return;
	}
	for (uint32_t i = 0; i < shm->n_inputs; i++) {
		if (shm->inputs[i].kind == TRACE_INPUT_RDMSR || shm->inputs[i].kind == TRACE_INPUT_RDTSC ||
		    shm->inputs[i].kind == TRACE_INPUT_RDRAND) {
			unsupported(res, "unicorn 2.0.1 cannot be fed a recorded %s value",
			            shm->inputs[i].kind == TRACE_INPUT_RDMSR   ? "RDMSR"
			            : shm->inputs[i].kind == TRACE_INPUT_RDTSC ? "RDTSC"
			                                                       : "RDRAND");
			return;
		}
	}

	uint64_t rflags = pre->rflags | X86_RFLAGS_TF;
	uc_reg_write(C.uc, UC_X86_REG_RFLAGS, &rflags);
	/* begin is RIP, not CS.base + RIP: the 64-bit engine stores it into EIP unchanged. The stop
	 * address is ignored: exits are enabled with an empty list (see child_start), because after
	 * each run unicorn invalidates the translation at until - 1, walking the page tables for it. */
	uint64_t until = 0;
	err = uc_emu_start(C.uc, pre->rip, until, 0, 0);
	unmap_scratch();

	bool halted = false;
	if (C.paging_mismatch) {
		unsupported(
		    res, "unicorn 2.0.1 discards the paging translation (linear %#llx is mapped elsewhere)",
		    (unsigned long long)C.mismatch_la);
	} else if (C.intr >= 0 && C.intr != 1) {
		unsupported(res, "unicorn does not deliver exceptions/interrupts (vector %d)", C.intr);
	} else if (err == UC_ERR_INSN_INVALID) {
		unsupported(res, "unicorn does not deliver exceptions/interrupts (vector 6)");
	} else if (err == UC_ERR_FETCH_UNMAPPED) {
		unsupported(res, "instruction fetch outside the RAM/ROM regions");
	} else if (C.scratch_overflow) {
		unsupported(res, "the step touches more MMIO pages than this backend maps");
	} else if (err != UC_ERR_OK) {
		unsupported(res, "unicorn stopped with: %s", uc_strerror(err));
	} else if (C.intr < 0) {
		if (cls == INSN_HLT)
			halted = true;
		else
			unsupported(res, "unicorn stopped before the single-step trap");
	}
	if (res->outcome == BACKEND_STEPPED && cls == INSN_PAUSE) {
		/* PAUSE leaves the translated block before the TF check, so the trap comes an instruction
		 * late. */
		uint64_t rip = 0;
		uc_reg_read(C.uc, UC_X86_REG_RIP, &rip);
		if (rip != pre->rip + insn.len)
			unsupported(
			    res, "unicorn 2.0.1 raises no single-step trap after PAUSE (it ran on to %#llx)",
			    (unsigned long long)rip);
	}
	if (res->outcome != BACKEND_STEPPED) {
		unicorn_undo_apply(C.setup, res->reason, sizeof(res->reason));
		load_state(pre, false);
		res->post = *pre;
		return;
	}
	undo_rom_writes();
	for (unsigned i = 0; i < C.n_watch; i++) {
		uint64_t now = 0;
		const uint8_t *p = ram(C.watch[i].gpa, C.watch[i].len, NULL);
		if (p)
			now = C.watch[i].len == 8 ? get64(p) : get32(p);
		if (p && now != C.watch[i].old)
			add_write(C.watch[i].gpa, C.watch[i].len, now);
	}

	read_state(pre, &res->post, insn.fpu, insn.msr, insn.dr);
	struct x86_state *post = &res->post;
	if (cls != INSN_POPF && cls != INSN_IRET)
		post->rflags = (post->rflags & ~X86_RFLAGS_TF) | (pre->rflags & X86_RFLAGS_TF);
	if (post->events.shadow)
		post->events.shadow = cls == INSN_STI ? X86_SHADOW_STI : X86_SHADOW_MOV_SS;
	post->events.halted = halted;
	/* The stepping TF must not show in a flags image the step stored: the pushed one, or the one a task
	 * switch saves in the outgoing TSS. */
	if (!(pre->rflags & X86_RFLAGS_TF)) {
		if (cls == INSN_PUSHF && res->n_writes && res->writes[0].len >= 2)
			hide_stepping_tf(res->writes[0].gpa + 1);
		if (post->seg[X86_TR].selector != pre->seg[X86_TR].selector ||
		    post->seg[X86_TR].base != pre->seg[X86_TR].base) {
			bool tss32 = pre->seg[X86_TR].attr & 0x8; /* type 9/B; 1/3 is a 16-bit TSS */
			hide_stepping_tf(pre->seg[X86_TR].base + (tss32 ? 0x24 : 0x10) + 1);
		}
	}
	if (post->cr2 != pre->cr2 && !(cls == INSN_MOV_TO_CR && insn.cr == 2)) {
		/* Only unicorn's probe of the stop address wrote it: no #PF was raised. */
		post->cr2 = pre->cr2;
		uc_reg_write(C.uc, UC_X86_REG_CR2, &post->cr2);
	}
	if (cls == INSN_RETF && (!(pre->cr0 & X86_CR0_PE) || (pre->rflags & X86_RFLAGS_VM)))
		fix_retf_eip(pre, insn.opsize, post);
	rflags = post->rflags;
	uc_reg_write(C.uc, UC_X86_REG_RFLAGS, &rflags);
	C.cur = *post;
}

/* Hands the step's result to the parent: the post-state as a patch on the pre-state both hold. */
static void publish_reply(void)
{
	struct unicorn_reply *r = &C.shm->reply;
	const struct backend_result *res = &C.result;
	r->outcome = res->outcome;
	if (res->outcome != BACKEND_STEPPED)
		memcpy(r->reason, res->reason, strnlen(res->reason, sizeof(r->reason) - 1) + 1);
	r->n_writes = res->n_writes;
	memcpy(r->writes, res->writes, res->n_writes * sizeof(res->writes[0]));
	r->writes_overflow = res->writes_overflow;
	r->n_ports = res->n_ports;
	memcpy(r->ports, res->ports, res->n_ports * sizeof(res->ports[0]));
	state_diff(&C.pre, &res->post, &r->post);
	if (r->post.n == PATCH_FULL)
		r->post_full = res->post;
}

static void do_step(void)
{
	step_once();
	publish_reply();
}

/* Round-trips known values between the register API and the raw context. */
static int check_layout(char *msg, size_t len)
{
	static const int gprs[X86_NGPR] = {
	    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
	    UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
	    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
	};
	const char *bad = NULL;
	size_t off = 0;
	uint8_t *env = C.env;

	if (uc_context_size(C.uc) < CTX_DATA + ENV_MIN_SIZE) {
		snprintf(msg, len,
		         "libunicorn context is %zu bytes, expected at least %d; emudiff needs 2.0.1",
		         uc_context_size(C.uc), CTX_DATA + ENV_MIN_SIZE);
		return -ENODEV;
	}
	for (int i = 0; i < X86_NGPR; i++) {
		uint64_t v = 0x1111111111111111ull * (uint64_t)(i + 1) + 0x0102030405ull;
		uc_reg_write(C.uc, gprs[i], &v);
	}
	uint64_t rip = 0x123456789aull, cr2 = 0xabcdef012345ull, cr3 = 0x7654000ull, fsb = 0x5555aaaa0000ull,
	         gsb = 0x6666bbbb0000ull;
	uc_reg_write(C.uc, UC_X86_REG_RIP, &rip);
	uc_reg_write(C.uc, UC_X86_REG_CR2, &cr2);
	uc_reg_write(C.uc, UC_X86_REG_CR3, &cr3);
	uc_reg_write(C.uc, UC_X86_REG_FS_BASE, &fsb);
	uc_reg_write(C.uc, UC_X86_REG_GS_BASE, &gsb);
	uc_x86_mmr ldt = {.selector = 0x28, .base = 0x12345000, .limit = 0x3ff, .flags = 0x8200};
	uc_x86_mmr tr = {.selector = 0x30, .base = 0x23456000, .limit = 0x67, .flags = 0x8b00};
	uc_x86_mmr gdt = {.selector = 0, .base = 0x34567000, .limit = 0x1ff, .flags = 0};
	uc_x86_mmr idt = {.selector = 0, .base = 0x45678000, .limit = 0x7ff, .flags = 0};
	uc_reg_write(C.uc, UC_X86_REG_LDTR, &ldt);
	uc_reg_write(C.uc, UC_X86_REG_TR, &tr);
	uc_reg_write(C.uc, UC_X86_REG_GDTR, &gdt);
	uc_reg_write(C.uc, UC_X86_REG_IDTR, &idt);
	uc_x86_msr efer = {.rid = 0xc0000080, .value = 0};
	uc_reg_read(C.uc, UC_X86_REG_MSR, &efer);
	uc_context_save(C.uc, C.ctx);

	for (int i = 0; i < X86_NGPR && !bad; i++)
		if (get64(env + ENV_REGS + 8 * i) !=
		    0x1111111111111111ull * (uint64_t)(i + 1) + 0x0102030405ull)
			bad = "general registers", off = ENV_REGS + 8 * (size_t)i;
	if (!bad && get64(env + ENV_EIP) != rip)
		bad = "eip", off = ENV_EIP;
	if (!bad && (get32(env + ENV_HFLAGS) & (HF_LMA | HF_CS64 | HF_PE)) != (HF_LMA | HF_CS64 | HF_PE))
		bad = "hflags", off = ENV_HFLAGS;
	if (!bad && get64(env + ENV_SEGS + 4 * ENV_SEG_SIZE + SEGC_BASE) != fsb)
		bad = "segs[FS].base", off = ENV_SEGS + 4 * ENV_SEG_SIZE + SEGC_BASE;
	if (!bad && get64(env + ENV_SEGS + 5 * ENV_SEG_SIZE + SEGC_BASE) != gsb)
		bad = "segs[GS].base", off = ENV_SEGS + 5 * ENV_SEG_SIZE + SEGC_BASE;
	const struct {
		const char *name;
		size_t at;
		const uc_x86_mmr *m;
		bool full;
	} tabs[] = {
	    {"ldt", ENV_LDT, &ldt, true},
	    {"tr", ENV_TR, &tr, true},
	    {"gdt", ENV_GDT, &gdt, false},
	    {"idt", ENV_IDT, &idt, false},
	};
	for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]) && !bad; i++) {
		const uint8_t *p = env + tabs[i].at;
		if (get64(p + SEGC_BASE) != tabs[i].m->base || get32(p + SEGC_LIMIT) != tabs[i].m->limit ||
		    (tabs[i].full &&
		     (get32(p) != tabs[i].m->selector || get32(p + SEGC_FLAGS) != tabs[i].m->flags)))
			bad = tabs[i].name, off = tabs[i].at;
	}
	if (!bad && get64(env + ENV_CR + 16) != cr2)
		bad = "cr2", off = ENV_CR + 16;
	if (!bad && get64(env + ENV_CR + 24) != cr3)
		bad = "cr3", off = ENV_CR + 24;
	if (!bad && get32(env + ENV_OLD_EXCEPTION) != 0xffffffffu)
		bad = "old_exception", off = ENV_OLD_EXCEPTION;
	if (!bad && (get64(env + ENV_EFER) != efer.value || !(efer.value & X86_EFER_LMA)))
		bad = "efer", off = ENV_EFER;

	/* The other direction: raw pokes must read back through the API. */
	if (!bad) {
		put32(env + ENV_SEGS + X86_DS * ENV_SEG_SIZE, 0x1234);
		put64(env + ENV_CR + 32, X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_PGE);
		put64(env + ENV_CR + 0, X86_CR0_PE | X86_CR0_ET | X86_CR0_PG);
		uc_context_restore(C.uc, C.ctx);
		uint16_t ds = 0;
		uint64_t cr4 = 0, cr0 = 0;
		uc_reg_read(C.uc, UC_X86_REG_DS, &ds);
		uc_reg_read(C.uc, UC_X86_REG_CR4, &cr4);
		uc_reg_read(C.uc, UC_X86_REG_CR0, &cr0);
		if (ds != 0x1234)
			bad = "segs[DS].selector", off = ENV_SEGS + X86_DS * ENV_SEG_SIZE;
		else if (cr4 != (X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_PGE))
			bad = "cr4", off = ENV_CR + 32;
		else if (cr0 != (X86_CR0_PE | X86_CR0_ET | X86_CR0_PG))
			bad = "cr0", off = ENV_CR;
	}
	if (bad) {
		snprintf(
		    msg, len,
		    "libunicorn raw context layout differs from 2.0.1 (%s at offset %zu); install Debian's "
		    "libunicorn-dev 2.0.1",
		    bad, off);
		return -ENODEV;
	}
	return 0;
}

static int child_start(char *msg, size_t len)
{
	const struct unicorn_setup *s = C.setup;
	uc_hook h;
	uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &C.uc);
	if (err != UC_ERR_OK) {
		snprintf(msg, len, "uc_open: %s", uc_strerror(err));
		return -ENODEV;
	}
	if (uc_context_alloc(C.uc, &C.ctx) != UC_ERR_OK) {
		snprintf(msg, len, "uc_context_alloc failed");
		return -ENOMEM;
	}
	C.env = (uint8_t *)C.ctx + CTX_DATA;
	int ret = check_layout(msg, len);
	if (ret)
		return ret;
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct unicorn_region *r = &s->regions[i];
		err = uc_mem_map_ptr(C.uc, r->gpa, r->len, UC_PROT_ALL, r->host);
		if (err != UC_ERR_OK) {
			snprintf(msg, len, "uc_mem_map_ptr(%#llx, %#llx): %s", (unsigned long long)r->gpa,
			         (unsigned long long)r->len, uc_strerror(err));
			return -EINVAL;
		}
	}
	C.dummy_page = 0xffffff000ull;
	while (ram(C.dummy_page, 0x1000, NULL) || ram(C.dummy_page, 1, NULL))
		C.dummy_page -= 0x10000000ull;
	if (uc_ctl_exits_enable(C.uc) != UC_ERR_OK) {
		snprintf(msg, len, "uc_ctl_exits_enable failed");
		return -ENODEV;
	}
	if (uc_hook_add(C.uc, &h, UC_HOOK_INTR, (void *)hook_intr, NULL, 1, 0) ||
	    uc_hook_add(C.uc, &h, UC_HOOK_MEM_READ, (void *)hook_mem_read, NULL, 1, 0) ||
	    uc_hook_add(C.uc, &h, UC_HOOK_MEM_WRITE, (void *)hook_mem_write, NULL, 1, 0) ||
	    uc_hook_add(C.uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)hook_unmapped, NULL, 1, 0) ||
	    uc_hook_add(C.uc, &h, UC_HOOK_INSN, (void *)hook_in, NULL, 1, 0, UC_X86_INS_IN) ||
	    uc_hook_add(C.uc, &h, UC_HOOK_INSN, (void *)hook_out, NULL, 1, 0, UC_X86_INS_OUT) ||
	    uc_hook_add(C.uc, &h, UC_HOOK_INSN, (void *)hook_cpuid, NULL, 1, 0, UC_X86_INS_CPUID)) {
		snprintf(msg, len, "uc_hook_add failed");
		return -ENODEV;
	}
	return 0;
}

__attribute__((noreturn)) static void unicorn_child_main(const struct unicorn_setup *setup)
{
	struct unicorn_shm *shm = setup->shm;
	/* Taken before READY: the parent may post the first request right after it. */
	uint32_t last = atomic_load(&shm->req);
	char c;
	memset(&C, 0, sizeof(C));
	C.setup = setup;
	C.shm = shm;
	shm->status = child_start(shm->msg, sizeof(shm->msg));
	c = UNICORN_REPLY_READY;
	if (write(setup->fd, &c, 1) != 1 || shm->status)
		_exit(1);
	for (;;) {
		if (!spin_wait(&shm->req, last, false)) {
			atomic_store(&shm->child_sleeping, 1);
			while (atomic_load(&shm->req) == last) {
				ssize_t n = read(setup->fd, &c, 1);
				if (n == 0 || (n < 0 && errno != EINTR))
					_exit(0); /* the parent closed the backend */
			}
			atomic_store(&shm->child_sleeping, 0);
		}
		last = atomic_load(&shm->req);
		do_step();
		atomic_store(&shm->resp, last);
		c = UNICORN_REPLY_DONE;
		if (atomic_load(&shm->parent_sleeping) && write(setup->fd, &c, 1) != 1)
			_exit(1);
	}
}

/* ---- the parent: backend_ops ---- */

#define UNICORN_REPLY_TIMEOUT_S 10

struct backend {
	struct unicorn_setup setup;
	struct unicorn_region *regions;
	uint32_t (*cpuid)[6];
	pid_t pid;
	int fd;
	int errfd;
	bool dead;
	uint32_t seq;           /* the last request handed to the child */
	struct x86_state state; /* the state the engine holds (as of its last reply), for a restart */
	struct x86_state pre;   /* the state the next step starts from */
	enum unicorn_load load; /* how the next request brings the engine from state to pre */
	bool fresh;             /* a new engine that has not loaded a state yet */
	struct x86_state unobserved_stepped;
	/* The result whose unobserved mask holds unobserved_stepped: it is copied only when it changes. */
	const struct backend_result *mask_stepped_in;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static void set_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* 1 with the reply byte, 0 when the child is gone, -ETIMEDOUT when it hangs (SO_RCVTIMEO). */
static int wait_reply(struct backend *b, char *c)
{
	for (;;) {
		ssize_t r = read(b->fd, c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -ETIMEDOUT;
		return r == 1 ? 1 : 0;
	}
}

/* Reaps the child; describes how it ended and what it printed. */
static void reap_child(struct backend *b, char *why, size_t len)
{
	int status = 0;
	char out[512] = "";
	if (b->pid > 0) {
		if (waitpid(b->pid, &status, WNOHANG) == 0) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &status, 0);
		}
	}
	if (b->errfd >= 0) {
		ssize_t n = read(b->errfd, out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = '\0';
		char *nl = strchr(out, '\n');
		if (nl)
			*nl = '\0';
		close(b->errfd);
		b->errfd = -1;
	}
	if (b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
	if (why) {
		if (b->pid > 0 && WIFSIGNALED(status))
			set_msg(why, len, "unicorn died with signal %d%s%s", WTERMSIG(status),
			        out[0] ? ": " : "", out);
		else
			set_msg(why, len, "unicorn exited with status %d%s%s",
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1, out[0] ? ": " : "", out);
	}
	b->pid = -1;
}

static int start_child(struct backend *b)
{
	int sv[2] = {-1, -1}, ep[2] = {-1, -1};
	char c = 0;
	int ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_sv;
	}
	b->setup.shm->status = 0;
	b->setup.shm->msg[0] = '\0';
	b->setup.shm->state = b->state;
	b->pre = b->state;
	b->load = LOAD_FULL;
	b->fresh = true;
	atomic_store(&b->setup.shm->req, 0);
	atomic_store(&b->setup.shm->resp, 0);
	atomic_store(&b->setup.shm->child_sleeping, 0);
	atomic_store(&b->setup.shm->parent_sleeping, 0);
	b->seq = 0;
	pid_t pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out_ep;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		close(ep[0]);
		/* Keep only stdin/stdout, stderr (the pipe) and the socket (as fd 3): the parent's other
		 * files (trace, /dev/kvm) must not stay open in the engine process. */
		if (dup2(ep[1], STDERR_FILENO) < 0 || dup2(sv[1], 3) < 0)
			_exit(1);
		close_range(4, ~0u, 0);
		signal(SIGPIPE, SIG_IGN);
		b->setup.fd = 3;
		unicorn_child_main(&b->setup);
	}
	close(sv[1]);
	close(ep[1]);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	struct timeval tv = {.tv_sec = UNICORN_REPLY_TIMEOUT_S};
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	b->pid = pid;
	b->fd = sv[0];
	b->errfd = ep[0];
	ret = wait_reply(b, &c);
	if (ret == 1 && c == UNICORN_REPLY_READY && b->setup.shm->status == 0)
		return 0;
	if (ret == 1 || ret == 0) {
		ret = b->setup.shm->status ? b->setup.shm->status : -ECHILD;
		if (b->setup.shm->msg[0])
			set_msg(b->err, b->errlen, "unicorn backend: %s", b->setup.shm->msg);
		else
			reap_child(b, b->err, b->errlen);
	} else {
		set_msg(b->err, b->errlen, "unicorn backend: the engine process did not start");
	}
	reap_child(b, NULL, 0);
	return ret;
out_ep:
	close(ep[0]);
	close(ep[1]);
out_sv:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

static void unicorn_close(struct backend *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd); /* the child sees end-of-file and exits */
	b->fd = -1;
	if (b->pid > 0)
		waitpid(b->pid, NULL, 0);
	b->pid = -1;
	if (b->errfd >= 0)
		close(b->errfd);
	for (size_t i = 0; b->regions && i < b->setup.n_regions; i++)
		if (b->regions[i].host)
			munmap(b->regions[i].host, b->regions[i].len);
	if (b->setup.shm)
		munmap(b->setup.shm, sizeof(*b->setup.shm));
	free(b->regions);
	free(b->cpuid);
	free(b);
}

static int unicorn_open(struct backend **out, const struct backend_config *cfg, char *err, size_t errlen)
{
	unsigned major = 0, minor = 0;
	unsigned v = uc_version(&major, &minor);
	unsigned patch = (v >> 8) & 0xff;
	struct backend *b;
	int ret;

	*out = NULL;
	if (major != 2 || minor != 0 || patch != 1) {
		set_msg(err, errlen, "libunicorn %u.%u.%u found; emudiff needs 2.0.1 (Debian libunicorn-dev)",
		        major, minor, patch);
		return -ENODEV;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd = b->errfd = -1;
	b->pid = -1;
	b->err = err;
	b->errlen = errlen;
	x86_state_reset(&b->state);
	mark_unobserved(&b->unobserved_stepped);
	b->setup.shm =
	    mmap(NULL, sizeof(*b->setup.shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->setup.shm == MAP_FAILED) {
		b->setup.shm = NULL;
		ret = -errno;
		set_msg(err, errlen, "unicorn backend: cannot map the shared request block");
		goto out;
	}
	b->regions = calloc(cfg->n_regions ? cfg->n_regions : 1, sizeof(*b->regions));
	if (!b->regions) {
		ret = -ENOMEM;
		goto out;
	}
	b->setup.regions = b->regions;
	for (size_t i = 0; i < cfg->n_regions; i++) {
		const struct backend_region *r = &cfg->regions[i];
		uint64_t len = (r->len + 0xfff) & ~0xfffull;
		if ((r->gpa & 0xfff) || !r->len || len < r->len) {
			set_msg(err, errlen, "unicorn backend: region %#llx+%#llx is not page-aligned",
			        (unsigned long long)r->gpa, (unsigned long long)r->len);
			ret = -EINVAL;
			goto out;
		}
		void *host = mmap(NULL, len, PROT_READ | PROT_WRITE,
		                  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (host == MAP_FAILED) {
			ret = -errno;
			set_msg(err, errlen, "unicorn backend: cannot map %llu bytes of guest memory",
			        (unsigned long long)len);
			goto out;
		}
		b->regions[i] =
		    (struct unicorn_region){.gpa = r->gpa, .len = len, .rom = r->rom, .host = host};
		b->setup.n_regions = i + 1;
	}
	if (cfg->n_cpuid) {
		b->cpuid = calloc(cfg->n_cpuid, sizeof(*b->cpuid));
		if (!b->cpuid) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(b->cpuid, cfg->cpuid, cfg->n_cpuid * sizeof(*b->cpuid));
	}
	b->setup.cpuid = (const uint32_t(*)[6])b->cpuid;
	b->setup.n_cpuid = cfg->n_cpuid;
	ret = start_child(b);
	if (ret)
		goto out;
	*out = b;
	return 0;
out:
	unicorn_close(b);
	return ret;
}

static int unicorn_write_mem(struct backend *b, uint64_t gpa, const void *data, size_t len)
{
	uint8_t *p = unicorn_host_ptr(b->regions, b->setup.n_regions, gpa, len, NULL);
	if (!p)
		return -EFAULT;
	/* The replayer mostly writes back what the engine itself just wrote: no code to invalidate. */
	if (memcmp(p, data, len) == 0)
		return 0;
	memcpy(p, data, len);
	mark_dirty(b->setup.shm, gpa, len);
	return 0;
}

static int unicorn_read_mem(struct backend *b, uint64_t gpa, void *data, size_t len)
{
	const uint8_t *p = unicorn_host_ptr(b->regions, b->setup.n_regions, gpa, len, NULL);
	if (!p)
		return -EFAULT;
	memcpy(data, p, len);
	return 0;
}

static int unicorn_set_state(struct backend *b, const struct x86_state *st)
{
	struct unicorn_shm *shm = b->setup.shm;
	b->pre = *st;
	b->load = LOAD_FULL;
	if (!b->fresh) {
		state_diff(&b->state, st, &shm->patch);
		if (shm->patch.n != PATCH_FULL)
			b->load = shm->patch.n ? LOAD_PATCH : LOAD_KEEP;
	}
	if (b->load == LOAD_FULL)
		shm->state = *st;
	return 0;
}

static void result_invalid(struct backend *b, struct backend_result *out, enum backend_outcome outcome)
{
	out->outcome = outcome;
	out->post = b->pre;
	memset(&out->unobserved, 0xff, sizeof(out->unobserved));
	b->mask_stepped_in = NULL;
	out->n_writes = 0;
	out->n_ports = 0;
	out->writes_overflow = false;
}

/* Hands the request in shm to the child: 1 when it is done, 0 when the child is gone,
 * -ETIMEDOUT when it hangs. */
static int run_child_step(struct backend *b)
{
	struct unicorn_shm *shm = b->setup.shm;
	uint32_t seq = ++b->seq;
	char c = UNICORN_CMD_STEP;
	int ret = 1;

	atomic_store(&shm->req, seq);
	if (atomic_load(&shm->child_sleeping) && send(b->fd, &c, 1, MSG_NOSIGNAL) != 1)
		return 0;
	if (spin_wait(&shm->resp, seq, true))
		return 1;
	atomic_store(&shm->parent_sleeping, 1);
	while (atomic_load(&shm->resp) != seq) {
		/* A byte may be left over from an earlier step: only the counter says done. */
		ret = wait_reply(b, &c);
		if (ret != 1)
			break;
	}
	atomic_store(&shm->parent_sleeping, 0);
	return ret;
}

/* The child's reply as a result: the post-state is the step's pre-state with the reply's patch, and
 * becomes the state the engine holds. */
static void take_reply(struct backend *b, struct backend_result *out)
{
	const struct unicorn_reply *r = &b->setup.shm->reply;
	out->outcome = r->outcome;
	out->reason[0] = '\0';
	if (r->outcome != BACKEND_STEPPED) {
		memcpy(out->reason, r->reason, strnlen(r->reason, sizeof(r->reason) - 1) + 1);
		out->reason[sizeof(out->reason) - 1] = '\0';
	}
	if (r->post.n == PATCH_FULL)
		b->pre = r->post_full;
	else
		state_apply(&b->pre, &r->post);
	out->post = b->state = b->pre;
	if (r->outcome != BACKEND_STEPPED) {
		memset(&out->unobserved, 0xff, sizeof(out->unobserved));
		b->mask_stepped_in = NULL;
	} else if (b->mask_stepped_in != out) {
		out->unobserved = b->unobserved_stepped;
		b->mask_stepped_in = out;
	}
	out->n_writes = r->n_writes < BACKEND_MAX_WRITES ? r->n_writes : BACKEND_MAX_WRITES;
	memcpy(out->writes, r->writes, out->n_writes * sizeof(out->writes[0]));
	out->writes_overflow = r->writes_overflow;
	out->n_ports = r->n_ports < BACKEND_MAX_PORTS ? r->n_ports : BACKEND_MAX_PORTS;
	memcpy(out->ports, r->ports, out->n_ports * sizeof(out->ports[0]));
}

static int unicorn_step(struct backend *b, const struct backend_step_input *in, struct backend_result *out)
{
	struct unicorn_shm *shm = b->setup.shm;
	int ret;

	if (b->dead) {
		result_invalid(b, out, BACKEND_FAILED);
		set_msg(out->reason, sizeof(out->reason), "unicorn engine process could not be restarted");
		return 0;
	}
	if (in->n_inputs > UNICORN_MAX_INPUTS) {
		result_invalid(b, out, BACKEND_UNSUPPORTED);
		set_msg(out->reason, sizeof(out->reason),
		        "step %llu has %u recorded inputs; this backend takes %d",
		        (unsigned long long)in->step, in->n_inputs, UNICORN_MAX_INPUTS);
		return 0;
	}
	shm->n_inputs = in->n_inputs;
	if (in->n_inputs)
		memcpy(shm->inputs, in->inputs, in->n_inputs * sizeof(*in->inputs));
	shm->has_event = in->event != NULL;
	if (in->event)
		shm->event = *in->event;
	shm->load = b->load;

	ret = run_child_step(b);
	if (ret == 1) {
		take_reply(b, out);
		b->load = LOAD_KEEP;
		b->fresh = false;
		return 0;
	}

	/* The engine died or hung: undo its writes, report the step, carry on with a new one. */
	char why[sizeof(out->reason)];
	reap_child(b, why, sizeof(why));
	result_invalid(b, out, BACKEND_CRASH);
	if (ret == -ETIMEDOUT)
		set_msg(out->reason, sizeof(out->reason), "unicorn did not finish the step within %d s",
		        UNICORN_REPLY_TIMEOUT_S);
	else
		set_msg(out->reason, sizeof(out->reason), "%s", why);
	unicorn_undo_apply(&b->setup, out->reason, sizeof(out->reason));
	b->state = b->pre; /* the new engine starts from the step's state */
	if (start_child(b) != 0)
		b->dead = true;
	return 0;
}

const struct backend_ops backend_unicorn_ops = {
    .name = "unicorn",
    .open = unicorn_open,
    .write_mem = unicorn_write_mem,
    .read_mem = unicorn_read_mem,
    .set_state = unicorn_set_state,
    .step = unicorn_step,
    .close = unicorn_close,
};
