/* The unicorn backend's child process: it owns the engine, takes requests and
 * hands back replies through shared memory, and runs one step. */
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../emu/emu.h"
#include "unicorn_private.h"

struct unicorn_child unicorn_child;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *timeout)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is in memory shared by two processes. */
	return syscall(SYS_futex, (uint32_t *)addr, op, val, timeout, NULL, 0);
}

static int64_t elapsed_ns(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)(t.tv_sec - t0->tv_sec) * 1000000000 + (t.tv_nsec - t0->tv_nsec);
}

/* Publishes a hand-off counter and wakes the other side when it sleeps on it. */
void unicorn_post(_Atomic uint32_t *v, uint32_t val, _Atomic uint32_t *sleeping)
{
	atomic_store(v, val);
	/* Both sides store then load (sequentially consistent): a waiter that missed the new value is
	 * seen sleeping here. */
	if (atomic_load(sleeping))
		futex(v, FUTEX_WAKE, 1, NULL);
}

/* Waits until *v differs from old: polls for up to UNICORN_SPIN_NS, then sleeps on *v in slices of 20 ms,
 * asking check (when given) after each whether to go on. 1 once *v changed, else check's answer. */
int unicorn_wait(_Atomic uint32_t *v, uint32_t old, _Atomic uint32_t *sleeping, unicorn_wait_check check,
                 void *arg)
{
	struct timespec t0;
	for (unsigned i = 0; i < 64; i++) {
		if (atomic_load(v) != old)
			return 1;
		__builtin_ia32_pause();
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* No sched_yield: with more processes than cores it hands the CPU to anyone, the other side seldom
	 * among them. */
	while (elapsed_ns(&t0) < UNICORN_SPIN_NS) {
		for (unsigned i = 0; i < 32; i++) {
			if (atomic_load(v) != old)
				return 1;
			__builtin_ia32_pause();
		}
	}
	atomic_store(sleeping, 1);
	int ret = 1;
	while (atomic_load(v) == old) {
		const struct timespec slice = {.tv_nsec = 20000000};
		if (futex(v, FUTEX_WAIT, old, check ? &slice : NULL) < 0 && errno == ETIMEDOUT && check &&
		    (ret = check(arg)) != 1)
			break;
	}
	atomic_store(sleeping, 0);
	return ret;
}

static uint64_t state_word(const struct x86_state *s, size_t i)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)s + 8 * i, 8);
	return v;
}

/* The patch taking from to to; PATCH_FULL when more words differ than a patch holds. */
void unicorn_state_diff(const struct x86_state *from, const struct x86_state *to, struct state_patch *p)
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

void unicorn_state_apply(struct x86_state *s, const struct state_patch *p)
{
	for (uint32_t i = 0; i < p->n && i < UNICORN_MAX_PATCH; i++)
		memcpy((uint8_t *)s + 8 * p->word[i], &p->value[i], 8);
}

uint8_t *unicorn_host_ptr(const struct unicorn_region *regions, size_t n, uint64_t gpa, uint64_t len,
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
void unicorn_mark_dirty(struct unicorn_shm *shm, uint64_t gpa, uint64_t len)
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

/* Puts back the bytes of undo entries, the last first. */
void unicorn_undo_entries(const struct unicorn_setup *setup, const struct unicorn_undo *u, uint32_t n)
{
	for (uint32_t i = n; i-- > 0;) {
		uint8_t *p = unicorn_host_ptr(setup->regions, setup->n_regions, u[i].gpa, u[i].len, NULL);
		if (p && memcmp(p, u[i].data, u[i].len) != 0) {
			memcpy(p, u[i].data, u[i].len);
			unicorn_mark_dirty(setup->shm, u[i].gpa, u[i].len);
		}
	}
}

/* Undoes a step's writes; says so in reason when the log overflowed. */
void unicorn_undo_apply(const struct unicorn_setup *setup, char *reason, size_t len)
{
	struct unicorn_shm *shm = setup->shm;
	size_t used = strnlen(reason, len);
	if (shm->undo_overflow && used + 1 < len)
		snprintf(reason + used, len - used, " (guest memory not fully restored)");
	unicorn_undo_entries(setup, shm->undo, shm->n_undo);
	shm->n_undo = 0;
	shm->undo_overflow = false;
}

uint8_t *unicorn_ram(uint64_t gpa, uint64_t len, const struct unicorn_region **which)
{
	return unicorn_host_ptr(unicorn_child.setup->regions, unicorn_child.setup->n_regions, gpa, len,
	                        which);
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
	for (unsigned i = 0; i < unicorn_child.n_scratch; i++)
		uc_mem_unmap(unicorn_child.uc, unicorn_child.scratch[i], 0x1000);
	unicorn_child.n_scratch = 0;
}

/* Drops what the engine wrote to ROM: the bus ignores such writes. */
static void undo_rom_writes(void)
{
	struct unicorn_shm *shm = unicorn_child.shm;
	for (uint32_t i = shm->n_undo; i-- > 0;) {
		const struct unicorn_undo *u = &shm->undo[i];
		const struct unicorn_region *r = NULL;
		uint8_t *p = unicorn_ram(u->gpa, u->len, &r);
		if (p && r->rom && memcmp(p, u->data, u->len) != 0) {
			memcpy(p, u->data, u->len);
			unicorn_mark_dirty(shm, u->gpa, u->len);
		}
	}
}

/* Clears TF (bit 0 of a flags image's second byte, at gpa) in the step's writes and in guest memory. */
static void hide_stepping_tf(uint64_t gpa)
{
	struct backend_result *res = unicorn_child.res;
	for (uint32_t i = 0; i < res->n_writes; i++) {
		struct backend_write *w = &res->writes[i];
		if (gpa < w->gpa || gpa - w->gpa >= w->len)
			continue;
		w->data[gpa - w->gpa] &= (uint8_t) ~(X86_RFLAGS_TF >> 8);
		uint8_t *p = unicorn_ram(gpa, 1, NULL);
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
	const uint8_t *p = unicorn_ram(pre->seg[X86_SS].base + sp, o32 ? 4 : 2, NULL);
	if (!p)
		return;
	post->rip = o32 ? get32(p) : (uint64_t)(p[0] | p[1] << 8);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_RIP, &post->rip);
}

static void step_once(void)
{
	struct unicorn_shm *shm = unicorn_child.shm;
	struct backend_result *res = &unicorn_child.result;
	const struct x86_state *pre = &unicorn_child.pre; /* the state the step starts from */
	uc_err err;

	res->outcome = BACKEND_STEPPED;
	res->reason[0] = '\0';
	res->n_writes = 0;
	res->writes_overflow = false;
	res->n_ports = 0;
	unicorn_child.res = res;
	shm->n_undo = 0;
	shm->undo_overflow = false;
	uint32_t n_inputs = shm->n_inputs < UNICORN_MAX_INPUTS ? shm->n_inputs : UNICORN_MAX_INPUTS;
	if (!shm->inputs_continued) {
		memset(unicorn_child.consumed, 0, n_inputs * sizeof(unicorn_child.consumed[0]));
		memset(unicorn_child.reps_used, 0, n_inputs * sizeof(unicorn_child.reps_used[0]));
	}
	unicorn_child.intr = -1;
	unicorn_child.paging_mismatch = false;
	unicorn_child.scratch_overflow = false;
	unicorn_child.n_watch = 0;

	bool dirty = shm->n_dirty || shm->dirty_overflow, reload = false;
	if (dirty) {
		/* uc_ctl_remove_cache translates its address through the guest page tables and sets
		 * their accessed bits: with paging on, run it with paging off and reload the state. */
		if (!unicorn_child.loaded || (unicorn_child.cur.cr0 & X86_CR0_PG)) {
			unicorn_paging_off();
			reload = true;
		}
		if (shm->dirty_overflow) {
			/* Not uc_ctl_flush_tlb: a TB flush clears the whole code buffer, which takes seconds.
			 */
			for (size_t i = 0; i < unicorn_child.setup->n_regions; i++)
				uc_ctl_remove_cache(unicorn_child.uc, unicorn_child.setup->regions[i].gpa,
				                    unicorn_child.setup->regions[i].gpa +
				                        unicorn_child.setup->regions[i].len);
		} else {
			for (uint32_t i = 0; i < shm->n_dirty; i++)
				uc_ctl_remove_cache(unicorn_child.uc, shm->dirty[i].gpa,
				                    shm->dirty[i].gpa + shm->dirty[i].len);
		}
		shm->n_dirty = 0;
		shm->dirty_overflow = false;
	}
	if (shm->load == LOAD_FULL || !unicorn_child.loaded) {
		unicorn_load_state(&shm->state, dirty && (shm->state.cr0 & X86_CR0_PG));
	} else if (shm->load == LOAD_PATCH) {
		struct x86_state st = unicorn_child.cur;
		unicorn_state_apply(&st, &shm->patch);
		unicorn_load_state(&st, dirty && (st.cr0 & X86_CR0_PG));
	} else if (reload) {
		unicorn_load_state(&unicorn_child.cur, true);
	}

	unicorn_child.pre = unicorn_child.cur;
	res->post = unicorn_child.pre;
	unicorn_child.paging = (pre->cr0 & X86_CR0_PG) && (pre->cr0 & X86_CR0_PE);

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
		/* One unicorn_walk per page: the bytes after it are at the same offsets. */
		if (n == 0 || ((la + n) & PAGE_MASK_4K) == 0) {
			if (!unicorn_walk(la + n, &pa))
				break;
		} else {
			pa++;
		}
		if (unicorn_child.paging && pa != la + n) {
			unsupported(
			    res,
			    "unicorn 2.0.1 discards the paging translation (linear %#llx is physical %#llx)",
			    (unsigned long long)(la + n), (unsigned long long)pa);
			return;
		}
		const uint8_t *p = unicorn_ram(pa, 1, NULL);
		if (!p)
			break;
		bytes[n] = *p;
	}
	if (n == 0) {
		unsupported(res, "instruction fetch at %#llx is not backed by a RAM/ROM region",
		            (unsigned long long)la);
		return;
	}
	struct insn_info insn = unicorn_classify(bytes, n, x86_state_mode(pre));
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

	/* A reference that stops right after MOV SS/POP SS: one instruction to an exit, where TF would also
	 * run the shadowed one. */
	bool counted = insn.loads_ss && unicorn_child.setup->mov_ss_alone;
	uint64_t rflags = pre->rflags | (counted ? 0 : X86_RFLAGS_TF);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_RFLAGS, &rflags);
	/* begin is RIP, not CS.base + RIP: the 64-bit engine stores it into EIP unchanged. The stop
	 * address is ignored: exits are enabled with an empty list (see child_start), because after
	 * each run unicorn invalidates the translation at until - 1, walking the page tables for it. */
	uint64_t until = 0;
	/* Stopped by an exit at the next instruction, not by a count: a count hook, once added, stays in
	 * every translated block and its removal flushes them all. The block holding the exit is translated
	 * anew with it and again without it. */
	uint64_t stop_at = la + insn.len;
	if (counted) {
		uc_ctl_set_exits(unicorn_child.uc, &stop_at, 1);
		uc_ctl_remove_cache(unicorn_child.uc, la, stop_at + 1);
	}
	err = uc_emu_start(unicorn_child.uc, pre->rip, until, 0, 0);
	if (counted) {
		uc_ctl_set_exits(unicorn_child.uc, NULL, 0);
		uc_ctl_remove_cache(unicorn_child.uc, la, stop_at + 1);
	}
	unmap_scratch();

	bool halted = false;
	if (unicorn_child.paging_mismatch) {
		unsupported(
		    res, "unicorn 2.0.1 discards the paging translation (linear %#llx is mapped elsewhere)",
		    (unsigned long long)unicorn_child.mismatch_la);
	} else if (unicorn_child.intr >= 0 && unicorn_child.intr != 1) {
		unsupported(res, "unicorn does not deliver exceptions/interrupts (vector %d)",
		            unicorn_child.intr);
	} else if (err == UC_ERR_INSN_INVALID) {
		unsupported(res, "unicorn does not deliver exceptions/interrupts (vector 6)");
	} else if (err == UC_ERR_FETCH_UNMAPPED) {
		unsupported(res, "instruction fetch outside the RAM/ROM regions");
	} else if (unicorn_child.scratch_overflow) {
		unsupported(res, "the step touches more MMIO pages than this backend maps");
	} else if (err != UC_ERR_OK) {
		unsupported(res, "unicorn stopped with: %s", uc_strerror(err));
	} else if (unicorn_child.intr < 0) {
		if (cls == INSN_HLT)
			halted = true;
		else if (!counted)
			unsupported(res, "unicorn stopped before the single-step trap");
	}
	if (res->outcome == BACKEND_STEPPED && cls == INSN_PAUSE) {
		/* PAUSE leaves the translated block before the TF check, so the trap comes an instruction
		 * late. */
		uint64_t rip = 0;
		uc_reg_read(unicorn_child.uc, UC_X86_REG_RIP, &rip);
		if (rip != pre->rip + insn.len)
			unsupported(
			    res, "unicorn 2.0.1 raises no single-step trap after PAUSE (it ran on to %#llx)",
			    (unsigned long long)rip);
	}
	if (res->outcome != BACKEND_STEPPED) {
		unicorn_undo_apply(unicorn_child.setup, res->reason, sizeof(res->reason));
		unicorn_load_state(pre, false);
		res->post = *pre;
		return;
	}
	undo_rom_writes();
	for (unsigned i = 0; i < unicorn_child.n_watch; i++) {
		uint64_t now = 0;
		const uint8_t *p = unicorn_ram(unicorn_child.watch[i].gpa, unicorn_child.watch[i].len, NULL);
		if (p)
			now = unicorn_child.watch[i].len == 8 ? get64(p) : get32(p);
		if (p && now != unicorn_child.watch[i].old)
			unicorn_add_write(unicorn_child.watch[i].gpa, unicorn_child.watch[i].len, now);
	}

	unicorn_read_state(pre, &res->post, insn.fpu, insn.msr, insn.dr);
	struct x86_state *post = &res->post;
	if (cls != INSN_POPF && cls != INSN_IRET)
		post->rflags = (post->rflags & ~X86_RFLAGS_TF) | (pre->rflags & X86_RFLAGS_TF);
	if (post->events.shadow)
		post->events.shadow = cls == INSN_STI ? X86_SHADOW_STI : X86_SHADOW_MOV_SS;
	/* Only an SS load outside a MOV SS shadow makes one (SDM Vol. 3A 6.8.3). A counted stop leaves
	 * CS.base + IP in unicorn's RIP outside 64-bit mode: the SS load falls through. */
	if (counted) {
		post->events.shadow = (pre->events.shadow & X86_SHADOW_MOV_SS) ? 0 : X86_SHADOW_MOV_SS;
		if (!long64) {
			uint64_t rip = (pre->rip + insn.len) &
			               ((pre->seg[X86_CS].attr & X86_SEG_DB) ? 0xffffffffu : 0xffffu);
			post->rip = rip;
			uc_reg_write(unicorn_child.uc, UC_X86_REG_RIP, &rip);
		}
	}
	/* Between two iterations RF is set (SDM Vol. 3B 17.3.1.1, the image an event there pushes); unicorn
	 * keeps no RF. */
	if (insn.rep_string && post->rip == pre->rip && post->gpr[X86_RCX] != pre->gpr[X86_RCX])
		post->rflags |= X86_RFLAGS_RF;
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
		uc_reg_write(unicorn_child.uc, UC_X86_REG_CR2, &post->cr2);
	}
	if (cls == INSN_RETF && (!(pre->cr0 & X86_CR0_PE) || (pre->rflags & X86_RFLAGS_VM)))
		fix_retf_eip(pre, insn.opsize, post);
	rflags = post->rflags & ~X86_RFLAGS_RF;
	uc_reg_write(unicorn_child.uc, UC_X86_REG_RFLAGS, &rflags);
	unicorn_child.cur = *post;
}

/* Hands the step's result to the parent: the post-state as a patch on the pre-state both hold. */
static void publish_reply(struct unicorn_reply *r)
{
	const struct backend_result *res = &unicorn_child.result;
	r->outcome = res->outcome;
	if (res->outcome != BACKEND_STEPPED)
		memcpy(r->reason, res->reason, strnlen(res->reason, sizeof(r->reason) - 1) + 1);
	r->n_writes = res->n_writes;
	memcpy(r->writes, res->writes, res->n_writes * sizeof(res->writes[0]));
	r->writes_overflow = res->writes_overflow;
	r->n_ports = res->n_ports;
	memcpy(r->ports, res->ports, res->n_ports * sizeof(res->ports[0]));
	unicorn_state_diff(&unicorn_child.pre, &res->post, &r->post);
	if (r->post.n == PATCH_FULL)
		r->post_full = res->post;
}

/* Runs on ahead of the step just done while each step is a plain one: its result and undo entries go to
 * shm->ahead for the parent, who takes them while its steps are the same, and undoes the rest. */
static void run_ahead(void)
{
	struct unicorn_shm *shm = unicorn_child.shm;
	uint32_t max = shm->ahead_max < UNICORN_MAX_AHEAD ? shm->ahead_max : UNICORN_MAX_AHEAD;
	uint32_t undo_used = 0;
	bool go_on = unicorn_child.result.outcome == BACKEND_STEPPED;
	for (uint32_t n = 0; go_on && n < max && UNICORN_AHEAD_UNDO - undo_used >= UNICORN_MAX_UNDO; n++) {
		shm->load = LOAD_KEEP;
		shm->n_inputs = 0;
		shm->inputs_continued = false;
		shm->has_event = false;
		step_once();
		if (shm->undo_overflow) {
			/* Not undoable later: the step is left to be run when asked for. */
			unicorn_undo_apply(unicorn_child.setup, unicorn_child.result.reason,
			                   sizeof(unicorn_child.result.reason));
			unicorn_load_state(&unicorn_child.pre, false);
			return;
		}
		struct unicorn_ahead *a = &shm->ahead[n];
		publish_reply(&a->reply);
		a->undo_first = undo_used;
		a->n_undo = shm->n_undo;
		memcpy(&shm->ahead_undo[undo_used], shm->undo, shm->n_undo * sizeof(shm->undo[0]));
		undo_used += shm->n_undo;
		go_on = unicorn_child.result.outcome == BACKEND_STEPPED;
		atomic_store(&shm->n_ahead, n + 1);
	}
}

static void do_step(void)
{
	struct unicorn_shm *shm = unicorn_child.shm;
	step_once();
	publish_reply(&shm->reply);
	atomic_store(&shm->replied, 1);
	run_ahead();
}

static int child_start(char *msg, size_t len)
{
	const struct unicorn_setup *s = unicorn_child.setup;
	uc_hook h;
	uc_err err = uc_open(UC_ARCH_X86, UC_MODE_64, &unicorn_child.uc);
	if (err != UC_ERR_OK) {
		snprintf(msg, len, "uc_open: %s", uc_strerror(err));
		return -ENODEV;
	}
	if (uc_context_alloc(unicorn_child.uc, &unicorn_child.ctx) != UC_ERR_OK) {
		snprintf(msg, len, "uc_context_alloc failed");
		return -ENOMEM;
	}
	unicorn_child.env = unicorn_env(unicorn_child.ctx);
	int ret = unicorn_check_layout(msg, len);
	if (ret)
		return ret;
	for (size_t i = 0; i < s->n_regions; i++) {
		const struct unicorn_region *r = &s->regions[i];
		err = uc_mem_map_ptr(unicorn_child.uc, r->gpa, r->len, UC_PROT_ALL, r->host);
		if (err != UC_ERR_OK) {
			snprintf(msg, len, "uc_mem_map_ptr(%#llx, %#llx): %s", (unsigned long long)r->gpa,
			         (unsigned long long)r->len, uc_strerror(err));
			return -EINVAL;
		}
	}
	unicorn_child.dummy_page = 0xffffff000ull;
	while (unicorn_ram(unicorn_child.dummy_page, 0x1000, NULL) ||
	       unicorn_ram(unicorn_child.dummy_page, 1, NULL))
		unicorn_child.dummy_page -= 0x10000000ull;
	if (uc_ctl_exits_enable(unicorn_child.uc) != UC_ERR_OK) {
		snprintf(msg, len, "uc_ctl_exits_enable failed");
		return -ENODEV;
	}
	if (uc_hook_add(unicorn_child.uc, &h, UC_HOOK_INTR, (void *)unicorn_hook_intr, NULL, 1, 0) ||
	    uc_hook_add(unicorn_child.uc, &h, UC_HOOK_MEM_READ, (void *)unicorn_hook_mem_read, NULL, 1, 0) ||
	    uc_hook_add(unicorn_child.uc, &h, UC_HOOK_MEM_WRITE, (void *)unicorn_hook_mem_write, NULL, 1,
	                0) ||
	    uc_hook_add(unicorn_child.uc, &h, UC_HOOK_MEM_UNMAPPED, (void *)unicorn_hook_unmapped, NULL, 1,
	                0) ||
	    uc_hook_add(unicorn_child.uc, &h, UC_HOOK_INSN, (void *)unicorn_hook_in, NULL, 1, 0,
	                UC_X86_INS_IN) ||
	    uc_hook_add(unicorn_child.uc, &h, UC_HOOK_INSN, (void *)unicorn_hook_out, NULL, 1, 0,
	                UC_X86_INS_OUT) ||
	    uc_hook_add(unicorn_child.uc, &h, UC_HOOK_INSN, (void *)unicorn_hook_cpuid, NULL, 1, 0,
	                UC_X86_INS_CPUID)) {
		snprintf(msg, len, "uc_hook_add failed");
		return -ENODEV;
	}
	return 0;
}

/* Unicorn's fatal errors (abort, a wild access): the parent is woken now rather than at its next check,
 * then the signal kills the process as it would have. */
static void on_fatal_signal(int sig)
{
	atomic_store(&unicorn_child.shm->child_gone, 1);
	futex(&unicorn_child.shm->resp, FUTEX_WAKE, 1, NULL);
	raise(sig);
}

__attribute__((noreturn)) void unicorn_child_main(const struct unicorn_setup *setup)
{
	static const int fatal[] = {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE};
	struct unicorn_shm *shm = setup->shm;
	/* Taken before READY: the parent may post the first request right after it. */
	uint32_t last = atomic_load(&shm->req);
	char c;
	memset(&unicorn_child, 0, sizeof(unicorn_child));
	unicorn_child.setup = setup;
	unicorn_child.shm = shm;
	struct sigaction sa = {.sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND | SA_NODEFER};
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	shm->status = child_start(shm->msg, sizeof(shm->msg));
	c = UNICORN_REPLY_READY;
	if (write(setup->fd, &c, 1) != 1 || shm->status)
		_exit(1);
	for (;;) {
		unicorn_wait(&shm->req, last, &shm->child_sleeping, NULL, NULL);
		last = atomic_load(&shm->req);
		if (atomic_load(&shm->quit))
			_exit(0); /* the parent closed the backend */
		do_step();
		unicorn_post(&shm->resp, last, &shm->parent_sleeping);
	}
}
