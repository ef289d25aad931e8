/* The record loop. One rule serves every exit: the state after an
 * instruction is the state once KVM has completed its pending I/O (measured
 * here: OUT and MMIO writes exit after the instruction, IN and MMIO reads
 * before it; completing with immediate_exit gives the post-state in both). */
#include "recorder.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../emu/emu.h"
#include "../schema/sha256.h"

#define BOOT_SECTOR_ENTRY 0x7c00u /* linear address where a BIOS starts the boot sector */
#include "../schema/trace.h"
#include "../machine/boot.h"
#include "../machine/devices.h"
#include "../machine/pc.h"
#include "../vmx-shim/shim.h"
#include "../x86/x86_paging.h"
#include "private.h"

static volatile sig_atomic_t rec_stop_signal;

static void rec_on_signal(int sig)
{
	rec_stop_signal = sig;
}

/* KVM_RUN ended by a signal: the stop signals are blocked again once it returns (KVM_SET_SIGNAL_MASK),
 * so one that ended it is still pending here; take it. True when a stop was asked. */
static bool rec_poll_signal(void)
{
	sigset_t set;
	struct timespec zero = {0, 0};
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	int sig = sigtimedwait(&set, NULL, &zero);
	if (sig > 0)
		rec_stop_signal = sig;
	return rec_stop_signal != 0;
}

const char *rec_end_name(enum rec_end end)
{
	static const char *const names[] = {
	    [REC_END_GUEST_EXIT] = "guest exit",
	    [REC_END_HALT] = "guest halted",
	    [REC_END_SHUTDOWN] = "triple fault (shutdown)",
	    [REC_END_MAX_STEPS] = "--max-steps reached",
	    [REC_END_EMULATION_FAILURE] = "KVM emulation failure",
	    [REC_END_INTERRUPTED] = "interrupted",
	    [REC_END_GUEST_TF] = "guest single-steps itself",
	    [REC_END_TIMEOUT] = "virtual-time timeout",
	    [REC_END_RESET] = "guest requested a system reset",
	};
	return (unsigned)end < sizeof(names) / sizeof(names[0]) ? names[end] : "?";
}

/* Appends a byte range to the step's write list, copying the data into the arena. */
int rec_add_write(struct rec *r, uint64_t gpa, const uint8_t *data, uint32_t len)
{
	if (r->n_writes == r->cap_writes) {
		size_t cap = r->cap_writes ? r->cap_writes * 2 : 64;
		struct trace_write *w = realloc(r->writes, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		r->writes = w;
		r->cap_writes = cap;
	}
	if (r->arena_used + len > r->arena_cap) {
		size_t cap = r->arena_cap ? r->arena_cap : 65536;
		while (cap < r->arena_used + len)
			cap *= 2;
		uint8_t *a = realloc(r->arena, cap);
		if (!a)
			return -ENOMEM;
		/* Earlier writes point into the arena: rebase them. */
		for (size_t i = 0; i < r->n_writes; i++)
			r->writes[i].data = a + (r->writes[i].data - r->arena);
		r->arena = a;
		r->arena_cap = cap;
	}
	memcpy(r->arena + r->arena_used, data, len);
	r->writes[r->n_writes++] =
	    (struct trace_write){.gpa = gpa, .len = len, .data = r->arena + r->arena_used};
	r->arena_used += len;
	return 0;
}

static void rec_reset_step(struct rec *r)
{
	r->n_writes = 0;
	r->arena_used = 0;
	r->n_inputs = 0;
}

/* Byte ranges where a dirty page differs from the shadow copy; the shadow is then updated. */
static void rec_diff_page(void *arg, uint64_t gpa)
{
	struct rec *r = arg;
	if (gpa + TRACE_PAGE_SIZE > r->ram_size || r->err)
		return;
	uint8_t *now = r->ram + gpa, *old = r->shadow + gpa;
	if (!memcmp(now, old, TRACE_PAGE_SIZE))
		return;
	uint32_t i = 0;
	while (i < TRACE_PAGE_SIZE) {
		if (now[i] == old[i]) {
			i++;
			continue;
		}
		uint32_t start = i, end = i + 1, j = i + 1;
		/* Runs separated by fewer than 8 equal bytes become one range: cheaper to store. */
		while (j < TRACE_PAGE_SIZE && j - end < 8) {
			if (now[j] != old[j])
				end = j + 1;
			j++;
		}
		if (rec_add_write(r, gpa + start, now + start, end - start))
			r->err = -ENOMEM;
		i = end;
	}
	memcpy(old, now, TRACE_PAGE_SIZE);
}

/* For RUN steps: whole pages written during native execution become page snapshots. */
static void rec_snapshot_page(void *arg, uint64_t gpa)
{
	struct rec *r = arg;
	if (gpa + TRACE_PAGE_SIZE > r->ram_size || r->err)
		return;
	if (!memcmp(r->ram + gpa, r->shadow + gpa, TRACE_PAGE_SIZE))
		return;
	memcpy(r->shadow + gpa, r->ram + gpa, TRACE_PAGE_SIZE);
	int rc = trace_put_memory(r->t, gpa, r->ram + gpa, TRACE_PAGE_SIZE);
	if (rc)
		r->err = rc;
}

static int rec_add_input(struct rec *r, enum trace_input_kind kind, uint64_t addr, unsigned size,
                         uint32_t count, const uint8_t *data)
{
	if (r->n_inputs == REC_MAX_INPUTS)
		return -E2BIG;
	struct trace_input *in = &r->inputs[r->n_inputs++];
	memset(in, 0, sizeof(*in));
	in->kind = (uint8_t)kind;
	in->size = (uint8_t)size;
	in->count = count;
	in->addr = addr;
	memcpy(in->data, data, size < sizeof(in->data) ? size : sizeof(in->data));
	return 0;
}

static int rec_append_exit(struct rec *r, uint64_t step, const struct shim_exit *ex)
{
	static const uint32_t reason[] = {
	    [SHIM_EXIT_IO] = TRACE_EXIT_IO,
	    [SHIM_EXIT_MMIO] = TRACE_EXIT_MMIO,
	    [SHIM_EXIT_HLT] = TRACE_EXIT_HLT,
	    [SHIM_EXIT_DEBUG] = TRACE_EXIT_DEBUG,
	    [SHIM_EXIT_SHUTDOWN] = TRACE_EXIT_SHUTDOWN,
	    [SHIM_EXIT_INTERNAL_ERROR] = TRACE_EXIT_INTERNAL_ERROR,
	    [SHIM_EXIT_FAIL_ENTRY] = TRACE_EXIT_FAIL_ENTRY,
	    [SHIM_EXIT_INTR] = TRACE_EXIT_OTHER,
	    [SHIM_EXIT_OTHER] = TRACE_EXIT_OTHER,
	};
	struct trace_exit e = {
	    .step = step,
	    .reason = reason[ex->kind],
	    .kvm_reason = ex->kvm_reason,
	    .addr = ex->addr,
	    .size = ex->size,
	    .is_write = ex->is_write,
	    .count = ex->count,
	    .data_len = ex->data_len < sizeof(e.data) ? ex->data_len : sizeof(e.data),
	    .suberror = ex->suberror,
	};
	memcpy(e.data, ex->data, e.data_len);
	r->summary->exits++;
	return trace_append_exit(r->t, &e);
}

/* COM1's transmitted bytes alone (the console also has the debug ports), for the trace's "serial" meta:
 * THR writes while LCR.DLAB is clear. */
void rec_serial_out(struct rec *r, uint16_t port, unsigned size, const uint8_t *buf, uint32_t count)
{
	if (size != 1)
		return;
	if (port == DEVBUS_PORT_COM1 + 3 && count)
		r->uart_lcr = buf[count - 1];
	if (port != DEVBUS_PORT_COM1 || (r->uart_lcr & 0x80))
		return;
	if (r->serial_len + count > r->serial_cap) {
		size_t cap = r->serial_cap ? r->serial_cap : 4096;
		while (cap < r->serial_len + count)
			cap *= 2;
		char *p = realloc(r->serial, cap);
		if (!p)
			return; /* the meta is a convenience: the exits rows hold every byte anyway */
		r->serial = p;
		r->serial_cap = cap;
	}
	memcpy(r->serial + r->serial_len, buf, count);
	r->serial_len += count;
}

/* Answers an I/O or MMIO exit from the device model and lets KVM complete the instruction. */
static int rec_answer_io(struct rec *r, struct shim_exit *ex)
{
	int rc;
	if (ex->kind == SHIM_EXIT_IO) {
		unsigned size = ex->size, count = ex->count ? ex->count : 1;
		uint8_t *buf = ex->pio_data ? ex->pio_data : ex->data;
		if (!ex->pio_data && (size_t)size * count > sizeof(ex->data)) {
			snprintf(r->errbuf, r->errlen,
			         "port 0x%llx: %u x %u-byte I/O without KVM's data buffer",
			         (unsigned long long)ex->addr, count, size);
			return -E2BIG;
		}
		devbus_pio(r->bus, (uint16_t)ex->addr, size, ex->is_write, buf, count);
		if (ex->is_write)
			rec_serial_out(r, (uint16_t)ex->addr, size, buf, count);
		if (!ex->is_write) {
			/* REP INS may move more than one input row holds: one row per 16 bytes. */
			size_t total = (size_t)size * count;
			for (size_t off = 0; off < total; off += sizeof(ex->data)) {
				size_t n = total - off < sizeof(ex->data) ? total - off : sizeof(ex->data);
				rc = rec_add_input(r, TRACE_INPUT_PIO_IN, ex->addr, (unsigned)n,
				                   (uint32_t)(n / size), buf + off);
				if (rc)
					return rc;
			}
			memcpy(ex->data, buf, total < sizeof(ex->data) ? total : sizeof(ex->data));
		}
	} else {
		devbus_mmio(r->bus, ex->addr, ex->size, ex->is_write, ex->data);
		if (!ex->is_write) {
			ex->data_len = ex->size;
			rc = rec_add_input(r, TRACE_INPUT_MMIO_READ, ex->addr, ex->size, 1, ex->data);
			if (rc)
				return rc;
		}
	}
	rc = shim_complete_io(r->vm, ex);
	if (rc)
		snprintf(r->errbuf, r->errlen, "completing I/O: %s", shim_error(r->vm));
	return rc;
}

/* Answers an I/O exit and every further exit the same instruction needs (the write half of
 * a read-modify-write to MMIO, the next chunk of a string I/O), ending with the instruction
 * complete. Exits are appended at `step`, or with `held` kept there (up to REC_MAX_HELD)
 * for the caller to append once it knows their step. */
static int rec_answer_collect(struct rec *r, struct shim_exit *ex, uint64_t step, struct shim_exit *held,
                              size_t *n_held)
{
	for (;;) {
		int rc = rec_answer_io(r, ex);
		if (!rc && held) {
			if (*n_held == REC_MAX_HELD)
				rc = -E2BIG;
			else
				held[(*n_held)++] = *ex;
		} else if (!rc) {
			rc = rec_append_exit(r, step, ex);
		}
		if (rc || !shim_exit_pending(r->vm))
			return rc;
		rc = shim_run(r->vm, ex);
		if (rc) {
			snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
			return rc;
		}
		if (ex->kind != SHIM_EXIT_IO && ex->kind != SHIM_EXIT_MMIO) {
			snprintf(r->errbuf, r->errlen, "KVM exit %u in the middle of an I/O instruction",
			         ex->kvm_reason);
			return -EIO;
		}
	}
}

static int rec_answer_instruction(struct rec *r, struct shim_exit *ex, uint64_t step)
{
	return rec_answer_collect(r, ex, step, NULL, NULL);
}

/* The instruction bytes at the state's CS:RIP, read from RAM through the page tables. */
static unsigned rec_fetch_insn(const struct rec *r, const struct x86_state *st, uint8_t insn[15])
{
	uint64_t linear = st->seg[X86_CS].base + st->rip;
	if (x86_state_mode(st) != X86_MODE_LONG64)
		linear &= 0xffffffffu;
	unsigned got = 0;
	while (got < 15) {
		uint64_t gpa;
		if (!x86_translate_ram(st, r->ram, r->ram_size, linear + got, &gpa) || gpa >= r->ram_size)
			break;
		unsigned chunk = TRACE_PAGE_SIZE - (unsigned)(gpa & (TRACE_PAGE_SIZE - 1));
		if (chunk > 15 - got)
			chunk = 15 - got;
		if (gpa + chunk > r->ram_size)
			chunk = (unsigned)(r->ram_size - gpa);
		memcpy(insn + got, r->ram + gpa, chunk);
		got += chunk;
	}
	return got;
}

/* The one-byte-map opcode after prefixes as emu's decoder reads them, 0x0f for the 0F maps, -1 when the bytes
 * end before the opcode. */
static int rec_opcode(const uint8_t *insn, unsigned len, enum x86_mode mode)
{
	struct emu_insn_id id;

	emu_insn_identify(insn, len, mode, &id);
	return id.map == EMU_MAP_NONE ? -1 : id.map == 0 ? id.opcode : 0x0f;
}

/* FPU, SSE, debug registers, XCR0 and MSRs change only through 0F-map, x87 and FWAIT opcodes. */
static bool rec_touches_slow_state(int opcode)
{
	return opcode < 0 || opcode == 0x0f || opcode == 0x9b || (opcode >= 0xd8 && opcode <= 0xdf);
}

static bool rec_predicate(const struct rec *r, const struct x86_state *st)
{
	switch (r->opt->mode) {
	case REC_MODE_STEP:
		return true;
	case REC_MODE_EXITS:
		return false;
	case REC_MODE_DEMAND:
		break;
	}
	switch (r->opt->demand) {
	case REC_DEMAND_REAL:
		return !(st->cr0 & X86_CR0_PE);
	case REC_DEMAND_CPL0:
		return x86_state_cpl(st) == 0;
	case REC_DEMAND_RIP:
		return st->rip >= r->opt->rip_lo && st->rip < r->opt->rip_hi;
	}
	return false;
}

static void rec_end(struct rec *r, enum rec_end end, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rec_end(struct rec *r, enum rec_end end, const char *fmt, ...)
{
	r->ended = true;
	r->summary->end = end;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->summary->end_detail, sizeof(r->summary->end_detail), fmt, ap);
		va_end(ap);
	}
}

static int rec_append(struct rec *r, enum trace_step_kind kind, const struct x86_state *pre)
{
	struct trace_step s = {
	    .index = r->summary->steps,
	    .kind = kind,
	    .pre = *pre,
	    .n_writes = (uint32_t)r->n_writes,
	    .writes = r->writes,
	    .n_inputs = (uint32_t)r->n_inputs,
	    .inputs = r->inputs,
	};
	int rc = trace_append_step(r->t, &s);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return rc;
	}
	r->summary->steps++;
	if (kind == TRACE_STEP_INSN)
		r->summary->insn_steps++;
	else if (kind == TRACE_STEP_FALLBACK)
		r->summary->fallback_steps++;
	return 0;
}

/* HLT on the PC machine: with IF set the CPU sleeps until an interrupt comes, so the virtual clock jumps
 * from deadline to deadline until the interrupt controller has one to deliver (or --timeout is reached). */
static void rec_idle(struct rec *r)
{
	if (!(r->cur.rflags & X86_RFLAGS_IF)) {
		rec_end(r, REC_END_HALT, "HLT with interrupts off at %04x:%llx", r->cur.seg[X86_CS].selector,
		        (unsigned long long)r->cur.rip);
		return;
	}
	for (unsigned n = 0; !devbus_intr_pending(r->bus); n++) {
		uint64_t now = devbus_now(r->bus), next = devbus_next_deadline(r->bus);
		if (next == DEVBUS_NEVER || n >= (1u << 20)) {
			rec_end(r, REC_END_HALT,
			        "HLT at %04x:%llx with no interrupt to come (masked or no source)",
			        r->cur.seg[X86_CS].selector, (unsigned long long)r->cur.rip);
			return;
		}
		if (r->opt->vtime_limit && next >= r->opt->vtime_limit) {
			if (r->opt->vtime_limit > now)
				devbus_advance(r->bus, r->opt->vtime_limit - now);
			return;
		}
		devbus_advance(r->bus, next - now);
	}
}

/* What ends the recording after an instruction: the debug-exit port, or HLT with nothing to wake it. */
static void rec_check_end(struct rec *r, int opcode)
{
	uint32_t status;
	if (devbus_guest_exited(r->bus, &status)) {
		r->summary->guest_status = (int)status;
		rec_end(r, REC_END_GUEST_EXIT, "%s", devbus_exit_message(r->bus));
	} else if (opcode == 0xf4 && r->pc) {
		rec_idle(r);
	} else if (opcode == 0xf4 && !devbus_intr_pending(r->bus)) {
		rec_end(r, REC_END_HALT, "HLT with no interrupt source");
	}
}

/* The reference could not execute the instruction: record it, and complete it in emu when asked. */
static int rec_emulation_failure(struct rec *r, const struct x86_state *pre, struct shim_exit *ex)
{
	int rc = rec_append_exit(r, r->summary->steps, ex);
	if (rc)
		return rc;
	if (!r->opt->fallback_emu) {
		char bytes[64] = "";
		for (unsigned i = 0; i < ex->data_len && i < 15; i++)
			snprintf(bytes + 3 * i, sizeof(bytes) - 3 * i, "%02x ", ex->data[i]);
		rec_end(r, REC_END_EMULATION_FAILURE,
		        "KVM's emulator cannot execute the instruction at %04x:%llx (%s); rerun with "
		        "--fallback emu "
		        "to complete it in emu",
		        pre->seg[X86_CS].selector, (unsigned long long)pre->rip, bytes);
		return 0;
	}
	return rec_fallback_step(r, pre);
}

/* An MSR the state itself carries (EFER, FS/GS base, x86_msr_numbers): a replay reads it from there. */
static bool rec_state_msr(uint32_t msr)
{
	if (msr == 0xc0000080u || msr == 0xc0000100u || msr == 0xc0000101u)
		return true;
	for (size_t i = 0; i < X86_NMSR; i++)
		if (x86_msr_numbers[i] == msr)
			return true;
	return false;
}

/* Values KVM gave the stepped instruction without an exit (CPUID, RDTSC, RDMSR), read off its post-state as
 * the inputs a replay feeds its backends. Only for an instruction that completed (RIP moved past it). */
static int rec_record_insn_inputs(struct rec *r, const struct x86_state *pre, const struct x86_state *post,
                                  const uint8_t *insn, unsigned len)
{
	struct emu_insn_id id;
	const uint64_t *g = post->gpr;
	uint64_t edx_eax = (g[X86_RDX] & 0xffffffffu) << 32 | (g[X86_RAX] & 0xffffffffu);

	emu_insn_identify(insn, len, x86_state_mode(pre), &id);
	if (!id.len || ((post->rip - pre->rip) & 0xffffffffu) != id.len ||
	    post->seg[X86_CS].selector != pre->seg[X86_CS].selector || id.map != 1)
		return 0;
	switch (id.opcode) {
	case 0xa2: {
		uint32_t out[4] = {(uint32_t)g[X86_RAX], (uint32_t)g[X86_RBX], (uint32_t)g[X86_RCX],
		                   (uint32_t)g[X86_RDX]};
		uint64_t leaf = (pre->gpr[X86_RAX] & 0xffffffffu) | (pre->gpr[X86_RCX] & 0xffffffffu) << 32;
		return rec_add_input(r, TRACE_INPUT_CPUID, leaf, 16, 1, (const uint8_t *)out);
	}
	case 0x31:
		return rec_add_input(r, TRACE_INPUT_RDTSC, 0, 8, 1, (const uint8_t *)&edx_eax);
	case 0x32:
		if (rec_state_msr((uint32_t)pre->gpr[X86_RCX]))
			return 0;
		return rec_add_input(r, TRACE_INPUT_RDMSR, (uint32_t)pre->gpr[X86_RCX], 8, 1,
		                     (const uint8_t *)&edx_eax);
	default:
		return 0;
	}
}

/* One single-stepped instruction. */
static int rec_step_one(struct rec *r)
{
	struct x86_state pre = r->cur;
	struct shim_exit ex;
	uint8_t insn[15];
	unsigned insn_len = rec_fetch_insn(r, &pre, insn);
	int opcode = rec_opcode(insn, insn_len, x86_state_mode(&pre));
	int rc;

	rec_reset_step(r);
	for (;;) {
		rc = shim_run(r->vm, &ex);
		if (rc) {
			snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
			return rc;
		}
		if (ex.kind == SHIM_EXIT_INTR && rec_poll_signal()) {
			rec_end(r, REC_END_INTERRUPTED, "signal %d", (int)rec_stop_signal);
			return 0;
		}
		if (ex.kind != SHIM_EXIT_INTR)
			break;
	}
	switch (ex.kind) {
	case SHIM_EXIT_DEBUG:
	case SHIM_EXIT_HLT:
		break;
	case SHIM_EXIT_IO:
	case SHIM_EXIT_MMIO:
		rc = rec_answer_instruction(r, &ex, r->summary->steps);
		if (rc)
			return rc;
		break;
	case SHIM_EXIT_SHUTDOWN:
		rc = rec_append_exit(r, r->summary->steps, &ex);
		rec_end(r, REC_END_SHUTDOWN, "triple fault at %04x:%llx", pre.seg[X86_CS].selector,
		        (unsigned long long)pre.rip);
		return rc;
	case SHIM_EXIT_INTERNAL_ERROR:
		return rec_emulation_failure(r, &pre, &ex);
	default:
		snprintf(r->errbuf, r->errlen, "unexpected KVM exit %u (%s) at %04x:%llx", ex.kvm_reason,
		         ex.kind == SHIM_EXIT_FAIL_ENTRY ? "entry failed" : "unhandled",
		         pre.seg[X86_CS].selector, (unsigned long long)pre.rip);
		return -EIO;
	}
	/* A step that began with an injected interrupt ran the handler's first instruction, not pre's. */
	rc = shim_get_state(r->vm, &r->cur, rec_touches_slow_state(opcode) || r->injected);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	/* VT-x/SVM: an event's handler ran unstepped in this step, which is then no single instruction. */
	bool ran_handler = shim_step_unset_tf(r->vm, r->shadow, &pre, &r->cur) == 1;
	rc = shim_dirty_pages(r->vm, rec_diff_page, r);
	if (rc || r->err) {
		snprintf(r->errbuf, r->errlen, "dirty log: %s", rc ? shim_error(r->vm) : strerror(-r->err));
		return rc ? rc : r->err;
	}
	if (!ran_handler && !r->injected && (rc = rec_record_insn_inputs(r, &pre, &r->cur, insn, insn_len))) {
		snprintf(r->errbuf, r->errlen, "step %llu: too many inputs",
		         (unsigned long long)r->summary->steps);
		return rc;
	}
	rc = rec_append(r, ran_handler ? TRACE_STEP_RUN : TRACE_STEP_INSN, &pre);
	if (rc)
		return rc;
	if (!r->injected && (opcode == 0x9d || opcode == 0xcf) && rec_guest_sets_tf(r, &pre)) {
		rec_end(r, REC_END_GUEST_TF,
		        "the guest sets EFLAGS.TF at %04x:%llx; KVM hides and swallows guest TF while it "
		        "single-steps, so record this guest with --mode exits",
		        pre.seg[X86_CS].selector, (unsigned long long)pre.rip);
		return 0;
	}
	devbus_advance(r->bus, 1);
	rec_check_end(r, r->injected ? -1 : opcode);
	return 0;
}

/* --engine emu: one instruction (or an exception and its delivery, as a single-stepped CPU does) in emu. */
int rec_emu_step(struct rec *r)
{
	struct x86_state pre = r->cur;
	struct emu_ctxt ctxt = {.st = &r->cur,
	                        .ops = &rec_emu_ops,
	                        .opaque = r,
	                        .deliver_exceptions = true,
	                        .cache = r->emu_cache};
	enum emu_status s;
	int rc;

	rec_reset_step(r);
	/* The injected interrupt is the events row of this step, not part of its pre-state. */
	if (r->injected)
		x86_event_queue(&r->cur, X86_EVENT_EXTINT, r->injected_vector, false, 0);
	s = emu_step(&ctxt);
	if (r->injected)
		x86_event_taken(&r->cur);
	switch (s) {
	case EMU_OK:
	case EMU_HALT:
		break;
	case EMU_SHUTDOWN: {
		struct trace_exit e = {
		    .step = r->summary->steps, .reason = TRACE_EXIT_SHUTDOWN, .kvm_reason = 8};
		r->cur = pre;
		r->summary->exits++;
		rc = trace_append_exit(r->t, &e);
		if (rc) {
			snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
			return rc;
		}
		rec_end(r, REC_END_SHUTDOWN, "triple fault at %04x:%llx", pre.seg[X86_CS].selector,
		        (unsigned long long)pre.rip);
		return 0;
	}
	default:
		r->cur = pre;
		rec_end(r, REC_END_EMULATION_FAILURE,
		        "emu cannot execute the instruction at %04x:%llx (%s%s%s)", pre.seg[X86_CS].selector,
		        (unsigned long long)pre.rip, emu_status_name(s),
		        ctxt.info.unimplemented[0] ? ": " : "", ctxt.info.unimplemented);
		return 0;
	}
	rc = rec_append(r, TRACE_STEP_INSN, &pre);
	if (rc)
		return rc;
	devbus_advance(r->bus, 1);
	rec_check_end(r, s == EMU_HALT ? 0xf4 : -1);
	return 0;
}

/* The port access size of an OUT: 1 for E6/EE, else 2 or 4 by the decoder's operand size (REX.W does not
 * widen port I/O): matching the exit's size tells `66 ef` from a lone `ef` (measured: SeaBIOS's 32-bit code
 * has both). */
static unsigned rec_out_size(const struct emu_insn_id *id)
{
	if (id->opcode == 0xe6 || id->opcode == 0xee)
		return 1;
	return id->opsize == 2 ? 2 : 4;
}

/* Instruction length of OUT/HLT forms that exit after the instruction, so the pre-state can be rebuilt. */
static unsigned rec_post_exit_insn_len(const struct rec *r, const struct x86_state *post,
                                       const struct shim_exit *ex)
{
	enum x86_mode mode = x86_state_mode(post);
	for (unsigned len = 1; len <= 15 && len <= post->rip; len++) {
		struct x86_state cand = *post;
		struct emu_insn_id id;
		uint8_t insn[15];
		unsigned got;

		cand.rip -= len;
		got = rec_fetch_insn(r, &cand, insn);
		if (got < len)
			continue;
		emu_insn_identify(insn, got, mode, &id);
		if (id.len != len || id.map != 0)
			continue;
		if (ex->kind == SHIM_EXIT_HLT && id.opcode == 0xf4)
			return len;
		if (ex->kind == SHIM_EXIT_IO && ex->is_write && ex->count <= 1 &&
		    (id.opcode == 0xe6 || id.opcode == 0xe7 || id.opcode == 0xee || id.opcode == 0xef) &&
		    rec_out_size(&id) == ex->size)
			return len;
	}
	return 0;
}

/* Native execution up to the next exit, then the exiting instruction. */
static int rec_run_to_exit(struct rec *r)
{
	struct x86_state run_pre = r->cur, at_exit = r->cur;
	struct shim_exit ex;
	int rc;

	rec_reset_step(r);
	for (;;) {
		rc = shim_run(r->vm, &ex);
		if (rc) {
			snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
			return rc;
		}
		if (ex.kind != SHIM_EXIT_INTR)
			break;
		if (rec_poll_signal()) {
			rec_end(r, REC_END_INTERRUPTED, "signal %d", (int)rec_stop_signal);
			break;
		}
	}
	rc = shim_get_state(r->vm, &at_exit, true);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	/* The unrecorded stretch: one RUN step, then the pages it wrote as seen at the exit. A write or HLT
	 * exits after its instruction, so an exit state equal to where the run began means a whole loop ran
	 * (the same byte printed again), not nothing: the run still ends at that instruction's pre-state. */
	bool after_insn = ex.kind == SHIM_EXIT_HLT ||
	                  ((ex.kind == SHIM_EXIT_IO || ex.kind == SHIM_EXIT_MMIO) && ex.is_write);
	if (after_insn || memcmp(&at_exit, &run_pre, sizeof(at_exit)) != 0) {
		rc = rec_append(r, TRACE_STEP_RUN, &run_pre);
		if (rc)
			return rc;
	}
	rc = shim_dirty_pages(r->vm, rec_snapshot_page, r);
	if (rc || r->err) {
		snprintf(r->errbuf, r->errlen, "dirty log: %s", rc ? shim_error(r->vm) : strerror(-r->err));
		return rc ? rc : r->err;
	}
	r->cur = at_exit;
	if (r->ended)
		return 0;

	struct shim_exit held[REC_MAX_HELD];
	size_t n_held = 0;
	switch (ex.kind) {
	case SHIM_EXIT_IO:
	case SHIM_EXIT_MMIO:
		rc = rec_answer_collect(r, &ex, 0, held, &n_held);
		break;
	case SHIM_EXIT_HLT:
		held[n_held++] = ex;
		break;
	case SHIM_EXIT_DEBUG:
		/* The boot sector's entry: the run ends exactly there (a fault-like stop before it); disarm.
		 */
		if (r->boot_bp) {
			r->boot_bp = false;
			rc = rec_append_exit(r, r->summary->steps, &ex);
			if (!rc && shim_set_breakpoint(r->vm, 0, false)) {
				snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
				rc = -EIO;
			}
			return rc;
		}
		return 0;
	case SHIM_EXIT_SHUTDOWN:
		rc = rec_append_exit(r, r->summary->steps, &ex);
		rec_end(r, REC_END_SHUTDOWN, "triple fault at %04x:%llx", at_exit.seg[X86_CS].selector,
		        (unsigned long long)at_exit.rip);
		return rc;
	case SHIM_EXIT_INTERNAL_ERROR:
		return rec_emulation_failure(r, &at_exit, &ex);
	case SHIM_EXIT_OTHER:
		/* KVM_EXIT_IRQ_WINDOW_OPEN: the guest can now take the interrupt the run loop holds. */
		if (ex.kvm_reason == 7 && r->irq_window)
			return 0;
		/* fall through */
	default:
		snprintf(r->errbuf, r->errlen, "unexpected KVM exit %u at %04x:%llx", ex.kvm_reason,
		         at_exit.seg[X86_CS].selector, (unsigned long long)at_exit.rip);
		return -EIO;
	}
	if (rc)
		return rc;
	struct x86_state post;
	memset(&post, 0, sizeof(post));
	rc = shim_get_state(r->vm, &post, true);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	/* IN and MMIO reads exit before the instruction; OUT, MMIO writes and HLT after it. */
	struct x86_state pre = at_exit;
	bool have_pre = memcmp(&post, &at_exit, sizeof(post)) != 0;
	if (!have_pre) {
		unsigned len = rec_post_exit_insn_len(r, &post, &ex);
		if (len) {
			pre.rip -= len;
			have_pre = true;
		}
	}
	uint8_t insn[15];
	unsigned insn_len = rec_fetch_insn(r, &pre, insn);
	int opcode = rec_opcode(insn, insn_len, x86_state_mode(&pre));
	if (have_pre) {
		/* The RUN step ends where the next step begins: at this instruction's pre-state. */
		rc = shim_dirty_pages(r->vm, rec_diff_page, r);
		if (rc || r->err) {
			snprintf(r->errbuf, r->errlen, "dirty log: %s",
			         rc ? shim_error(r->vm) : strerror(-r->err));
			return rc ? rc : r->err;
		}
		for (size_t i = 0; i < n_held && !rc; i++)
			rc = rec_append_exit(r, r->summary->steps, &held[i]);
		if (!rc)
			rc = rec_append(r, TRACE_STEP_INSN, &pre);
	} else {
		for (size_t i = 0; i < n_held && !rc; i++)
			rc = rec_append_exit(r, r->summary->steps ? r->summary->steps - 1 : 0, &held[i]);
		if (!rc)
			rc = shim_dirty_pages(r->vm, rec_snapshot_page, r);
	}
	if (rc)
		return rc;
	r->cur = post;
	devbus_advance(r->bus, 1);
	rec_check_end(r, ex.kind == SHIM_EXIT_HLT ? 0xf4 : opcode);
	return 0;
}

/* An ELF file or a multiboot kernel: run as a flat binary it would execute its headers. */
static bool is_kernel_image(const uint8_t *image, size_t len)
{
	static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};
	return (len >= 4 && !memcmp(image, elf_magic, 4)) || boot_multiboot_header(image, len) != SIZE_MAX;
}

static int rec_read_guest(struct rec *r, uint8_t **image, size_t *len)
{
	const char *path = r->opt->guest_path;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(r->errbuf, r->errlen, "%s: cannot open the guest image: %s", path, strerror(errno));
		return CLI_STATUS_USAGE;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
		snprintf(r->errbuf, r->errlen, "%s: not a regular file; pass a flat guest binary", path);
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	if (sb.st_size == 0 || (uint64_t)sb.st_size + r->opt->load_addr > r->opt->mem_bytes ||
	    (uint64_t)sb.st_size + r->opt->load_addr > 0x100000) {
		snprintf(r->errbuf, r->errlen,
		         "%s: %lld bytes do not fit between the load address 0x%llx and the end of memory or "
		         "of the "
		         "first MiB; use a smaller image, --load or --mem",
		         path, (long long)sb.st_size, (unsigned long long)r->opt->load_addr);
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*image = malloc((size_t)sb.st_size);
	if (!*image || fread(*image, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(r->errbuf, r->errlen, "%s: cannot read the guest image: %s", path,
		         *image ? strerror(errno ? errno : EIO) : "out of memory");
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*len = (size_t)sb.st_size;
	fclose(f);
	if (is_kernel_image(*image, *len)) {
		snprintf(
		    r->errbuf, r->errlen,
		    "%s: an ELF file or a multiboot kernel, not a flat binary; record it with --multiboot %s",
		    path, path);
		free(*image);
		*image = NULL;
		return CLI_STATUS_USAGE;
	}
	return 0;
}

/* A whole file for --bios / --multiboot (or a disk to hash); 0 or a cli status with the message in errbuf. */
static int rec_read_file(struct rec *r, const char *path, const char *option, size_t max, uint8_t **buf,
                         size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	if (!f) {
		snprintf(r->errbuf, r->errlen, "%s: cannot open the %s file: %s", path, option,
		         strerror(errno));
		return CLI_STATUS_USAGE;
	}
	if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode) || sb.st_size == 0 || (uint64_t)sb.st_size > max) {
		snprintf(r->errbuf, r->errlen, "%s: %s takes a regular, non-empty file of at most %zu MiB",
		         path, option, max >> 20);
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*buf = malloc((size_t)sb.st_size);
	if (!*buf || fread(*buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(r->errbuf, r->errlen, "%s: cannot read the %s file: %s", path, option,
		         *buf ? strerror(errno ? errno : EIO) : "out of memory");
		free(*buf);
		*buf = NULL;
		fclose(f);
		return CLI_STATUS_USAGE;
	}
	*len = (size_t)sb.st_size;
	fclose(f);
	return 0;
}

/* Device checkpoint: devbus_save() as hex under meta key devices@<step>, the state before that step. */
static int rec_checkpoint(struct rec *r, bool force)
{
	uint64_t step = r->summary->steps;
	if (!r->pc || step == r->last_checkpoint || (!force && step < r->next_checkpoint))
		return 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = devbus_save(r->bus, &buf, &len);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "saving the device state: %s", strerror(-rc));
		return rc;
	}
	char *hex = malloc(2 * len + 1), key[48];
	if (!hex) {
		free(buf);
		snprintf(r->errbuf, r->errlen, "saving the device state: out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", buf[i]);
	hex[2 * len] = 0;
	snprintf(key, sizeof(key), "devices@%llu", (unsigned long long)step);
	rc = trace_meta_set(r->t, key, hex);
	free(hex);
	free(buf);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return rc;
	}
	r->last_checkpoint = step;
	r->next_checkpoint = step - step % TRACE_BATCH_STEPS + TRACE_BATCH_STEPS;
	return 0;
}

/* --engine emu: the firmware image, kept for reads at its place below 4 GiB. */
static int rec_map_rom(void *opaque, uint64_t gpa, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct rec *r = opaque;
	if (r->rom || gpa < r->ram_size) {
		snprintf(err, errlen, "a second ROM, or one overlapping RAM, is not supported");
		return -EEXIST;
	}
	r->rom = malloc(len);
	if (!r->rom) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(r->rom, data, len);
	r->rom_base = gpa;
	r->rom_len = len;
	return 0;
}

/* The one injection point: before a step (or a run to the next exit), when the PIC has an interrupt and the
 * guest can take it (IF set, no STI/MOV SS shadow, nothing else pending). In exits mode an interrupt that
 * must wait opens KVM's interrupt window, so the guest exits as soon as it can take it. With --engine emu
 * the interrupt becomes the pending event emu delivers as the next step. The events row names the step. */
static int rec_inject(struct rec *r, bool stepping)
{
	bool pending = devbus_intr_pending(r->bus);
	bool ready = pending && (r->cur.rflags & X86_RFLAGS_IF) && !r->cur.events.shadow &&
	             (r->vm ? shim_can_inject(r->vm) : !r->cur.events.exc_pending);
	bool window = r->vm && pending && !ready && !stepping;
	if (window != r->irq_window) {
		shim_request_irq_window(r->vm, window);
		r->irq_window = window;
	}
	if (!ready)
		return 0;
	int vec = devbus_intr_ack(r->bus);
	if (vec < 0)
		return 0;
	int rc = 0;
	r->injected_vector = (uint8_t)vec;
	if (r->vm)
		rc = shim_inject_interrupt(r->vm, (uint8_t)vec);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	struct trace_event ev = {.step = r->summary->steps, .vector = (uint8_t)vec, .type = 0};
	rc = trace_append_event(r->t, &ev);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return rc;
	}
	r->injected = true;
	r->summary->interrupts++;
	return 0;
}

static int rec_write_meta(struct rec *r, const uint8_t *image, size_t image_len)
{
	char buf[512], sha[65];
	const char *mode = r->opt->mode == REC_MODE_STEP    ? "step"
	                   : r->opt->mode == REC_MODE_EXITS ? "exits"
	                                                    : "demand";
	sha256_hex(image, image_len, sha);
	const char *image_path = r->opt->bios_path        ? r->opt->bios_path
	                         : r->opt->multiboot_path ? r->opt->multiboot_path
	                                                  : r->opt->guest_path;
	const char *base = strrchr(image_path, '/');
	int rc = 0;
	rc |= trace_meta_set(r->t, "tool_version", "emudiff " EMUDIFF_VERSION);
	rc |= trace_meta_set(r->t, "engine", r->vm ? "kvm" : "emu");
	rc |= trace_meta_set(r->t, "kvm_flavour", r->vm ? shim_flavour_name(shim_flavour(r->vm)) : "none");
	rc |= trace_meta_set(r->t, "reference", r->vm ? shim_reference(r->vm) : "emu");
	rc |= trace_meta_set(r->t, "guest_image", base ? base + 1 : image_path);
	rc |= trace_meta_set(r->t, "guest_sha256", sha);
	rc |= trace_meta_set(r->t, "mode", mode);
	if (r->opt->mode == REC_MODE_DEMAND) {
		if (r->opt->demand == REC_DEMAND_RIP)
			snprintf(buf, sizeof(buf), "rip=0x%llx-0x%llx", (unsigned long long)r->opt->rip_lo,
			         (unsigned long long)r->opt->rip_hi);
		else
			snprintf(buf, sizeof(buf), "%s", r->opt->demand == REC_DEMAND_REAL ? "real" : "cpl0");
		rc |= trace_meta_set(r->t, "demand", buf);
	}
	rc |= trace_meta_set(r->t, "command_line", r->opt->command_line);
	rc |= trace_meta_set(r->t, "host_cpu", rec_host_cpu(buf, sizeof(buf)));
	snprintf(buf, sizeof(buf), "%d", r->pinned_cpu);
	rc |= trace_meta_set(r->t, "host_cpu_pinned", buf);
	if (r->opt->bios_path)
		snprintf(
		    buf, sizeof(buf),
		    "ram 0x0-0x%llx; firmware rom 0x%llx-0x100000000 (read-only); its last %zu KiB copied "
		    "into ram at 0x%llx-0x100000; start at the reset vector f000:fff0 (cs base 0xffff0000)",
		    (unsigned long long)r->ram_size, (unsigned long long)(0x100000000ull - image_len),
		    (image_len < BOOT_BIOS_ALIAS ? image_len : BOOT_BIOS_ALIAS) >> 10,
		    (unsigned long long)(0x100000 -
		                         (image_len < BOOT_BIOS_ALIAS ? image_len : BOOT_BIOS_ALIAS)));
	else if (r->opt->multiboot_path)
		snprintf(
		    buf, sizeof(buf),
		    "ram 0x0-0x%llx; multiboot kernel; information at 0x%x; start 32-bit protected mode at "
		    "0x%llx with eax 0x%x",
		    (unsigned long long)r->ram_size, BOOT_MB_INFO, (unsigned long long)r->cur.rip,
		    BOOT_MB_MAGIC);
	else
		snprintf(buf, sizeof(buf),
		         "ram 0x0-0x%llx; mmio-test 0x%llx-0x%llx; load 0x%llx; start real mode 0000:%04llx",
		         (unsigned long long)r->ram_size, (unsigned long long)DEVBUS_MMIO_TEST_BASE,
		         (unsigned long long)(DEVBUS_MMIO_TEST_BASE + DEVBUS_MMIO_TEST_SIZE),
		         (unsigned long long)r->opt->load_addr, (unsigned long long)r->opt->load_addr);
	rc |= trace_meta_set(r->t, "memory_layout", buf);
	snprintf(buf, sizeof(buf), "%zu", r->ram_size);
	rc |= trace_meta_set(r->t, "ram_bytes", buf);
	if (r->pc) {
		rc |= trace_meta_set(
		    r->t, "clock_unit",
		    "PIT input clocks (1.193182 MHz): the clock advances by one per recorded "
		    "instruction (step) and per exit (exits); a HLT with IF set jumps it to the next "
		    "device deadline");
		rc |= trace_meta_set(
		    r->t, "machine",
		    "pc: 8259A pair, 8254 + port 0x61, cmos/rtc, i440fx + piix3 isa/ide, fw_cfg, "
		    "i8042, port 0x92, ata disk on the primary master, com1, debug ports 0x402/0xe9");
		rc |= trace_meta_set(r->t, "rtc_epoch", PC_RTC_EPOCH);
		if (r->opt->bios_path && r->opt->mode != REC_MODE_STEP)
			rc |= trace_meta_set(
			    r->t, "boot_breakpoint",
			    "an instruction breakpoint at linear 0x7c00 ends the run there once (a debug "
			    "exit row): the boot sector's entry is the pre-state of a step");
		rc |= trace_meta_set(r->t, "interrupts",
		                     "events rows: type 0 = external interrupt from the 8259A, "
		                     "injected before the step they name");
		rc |= trace_meta_set(
		    r->t, "device_checkpoints",
		    "devices@N: hex devbus_save() before step N, at step 0, every 16384 steps and at "
		    "the end");
		if (r->opt->multiboot_path)
			rc |= trace_meta_set(r->t, "kernel_cmdline",
			                     r->opt->kernel_cmdline ? r->opt->kernel_cmdline : "");
		if (r->opt->vtime_limit) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->opt->vtime_limit);
			rc |= trace_meta_set(r->t, "vtime_limit", buf);
		}
	} else {
		rc |= trace_meta_set(r->t, "clock_unit", "instructions (step) or exits (exits)");
	}
	if (r->opt->disk_path) {
		uint8_t *disk = NULL;
		size_t disk_len = 0;
		const char *dbase = strrchr(r->opt->disk_path, '/');
		rc |= trace_meta_set(r->t, "disk_image", dbase ? dbase + 1 : r->opt->disk_path);
		if (!rec_read_file(r, r->opt->disk_path, "--disk", (size_t)1 << 30, &disk, &disk_len)) {
			sha256_hex(disk, disk_len, sha);
			rc |= trace_meta_set(r->t, "disk_sha256", sha);
		} else {
			rc |= trace_meta_set(r->t, "disk_sha256",
			                     "not hashed (unreadable or larger than 1 GiB)");
			r->errbuf[0] = 0;
		}
		free(disk);
	}
	char *cpuid = rec_cpuid_text(r);
	rc |= trace_meta_set(r->t, "cpuid", cpuid ? cpuid : "");
	free(cpuid);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return CLI_STATUS_USAGE;
	}
	return 0;
}

static int rec_finish(struct rec *r)
{
	r->summary->vtime = devbus_now(r->bus);
	if (rec_checkpoint(r, true))
		return -EIO;
	size_t clen = 0;
	const uint8_t *con = devbus_console(r->bus, &clen);
	char *console = malloc(clen + 1);
	if (console) {
		memcpy(console, con, clen);
		console[clen] = 0;
		trace_meta_set(r->t, "console", console);
		free(console);
	}
	char *ser = malloc(r->serial_len + 1);
	if (ser) {
		memcpy(ser, r->serial ? r->serial : "", r->serial_len);
		ser[r->serial_len] = 0;
		trace_meta_set(r->t, "serial", ser);
		free(ser);
	}
	char buf[64];
	if (r->pc) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->summary->vtime);
		trace_meta_set(r->t, "vtime_end", buf);
	}
	snprintf(buf, sizeof(buf), "%d", r->summary->guest_status);
	if (r->summary->end == REC_END_GUEST_EXIT)
		trace_meta_set(r->t, "guest_status", buf);
	char reason[256];
	snprintf(reason, sizeof(reason), "%s%s%s", rec_end_name(r->summary->end),
	         r->summary->end_detail[0] ? ": " : "", r->summary->end_detail);
	int rc = trace_finish(r->t, &r->cur, reason);
	if (rc)
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
	return rc;
}

int recorder_run(const struct rec_options *opt, struct rec_summary *out, char *err, size_t errlen)
{
	struct rec r = {.opt = opt,
	                .summary = out,
	                .errbuf = err,
	                .errlen = errlen,
	                .last_checkpoint = UINT64_MAX,
	                .a20_on = true};
	uint8_t *image = NULL;
	size_t image_len = 0;
	int status = 0, rc;
	struct sigaction sa = {.sa_handler = rec_on_signal}, old_int, old_term;
	sigset_t stop, old_mask, run_mask;
	bool signals_set = false;

	memset(out, 0, sizeof(*out));
	r.pc = opt->bios_path || opt->multiboot_path;
	/* One host CPU for the whole recording: on PVM the guest's CPUID leaf 1 EBX[31:24] is the APIC ID of
	 * the host CPU the vCPU runs on, whatever KVM_SET_CPUID2 says (measured), so a migrating thread would
	 * make two recordings of the same guest differ. */
	cpu_set_t old_affinity, one;
	bool pinned = false;
	r.pinned_cpu = -1;
	if (sched_getaffinity(0, sizeof(old_affinity), &old_affinity) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++) {
			if (!CPU_ISSET(c, &old_affinity))
				continue;
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
			r.pinned_cpu = pinned ? c : -1;
			break;
		}
	}
	if (opt->bios_path)
		status = rec_read_file(&r, opt->bios_path, "--bios", BOOT_BIOS_MAX, &image, &image_len);
	else if (opt->multiboot_path)
		status = rec_read_file(&r, opt->multiboot_path, "--multiboot", (size_t)64 << 20, &image,
		                       &image_len);
	else
		status = rec_read_guest(&r, &image, &image_len);
	if (status)
		goto out;

	if (opt->engine == REC_ENGINE_EMU) {
		if (opt->mode != REC_MODE_STEP) {
			snprintf(err, errlen, "--engine emu records every instruction: use --mode step");
			status = CLI_STATUS_USAGE;
			goto out;
		}
		r.ram_size = opt->mem_bytes;
		r.misc_enable = 1u | 1u << 11 | 1u << 12; /* fast strings; no BTS, no PEBS */
		r.ram = calloc(1, r.ram_size);
		r.emu_cache = emu_cache_new();
		if (!r.ram || !r.emu_cache) {
			snprintf(err, errlen, "cannot allocate %zu bytes of guest memory", r.ram_size);
			status = CLI_STATUS_ENVIRONMENT;
			goto out;
		}
	} else {
		/* A native run can write more pages than KVM's dirty ring holds: outside step mode use the
		 * bitmap. */
		struct shim_config cfg = {.ram_bytes = opt->mem_bytes,
		                          .dirty_log = true,
		                          .no_dirty_ring = opt->mode != REC_MODE_STEP};
		rc = shim_open(&r.vm, &cfg);
		if (rc) {
			snprintf(err, errlen, "%s", shim_last_open_error());
			status = CLI_STATUS_ENVIRONMENT;
			goto out;
		}
		r.ram = shim_ram(r.vm);
		r.ram_size = shim_ram_size(r.vm);
	}
	r.bus = devbus_new();
	if (!r.bus || devbus_add_standard(r.bus)) {
		snprintf(err, errlen, "cannot set up the device model: out of memory");
		status = CLI_STATUS_ENVIRONMENT;
		goto out;
	}
	devbus_set_echo(r.bus, opt->echo_console);
	if (r.pc) {
		struct pc_config pcfg = {
		    .ram_bytes = r.ram_size, .disk_path = opt->disk_path, .sercon = true};
		struct boot_memory mem = {
		    .ram = r.ram, .ram_size = r.ram_size, .map_rom = rec_map_rom, .opaque = &r};
		if (r.vm) {
			mem = boot_memory_of_vm(r.vm);
			if (boot_pc_cpuid(r.vm)) {
				snprintf(err, errlen, "setting the vCPU's CPUID: %s", shim_error(r.vm));
				status = CLI_STATUS_ENVIRONMENT;
				goto out;
			}
		}
		if (opt->bios_path)
			rc = boot_load_bios(&mem, image, image_len, &r.cur, err, errlen);
		else
			rc = boot_load_multiboot(&mem, image, image_len, opt->kernel_cmdline, &r.cur, NULL,
			                         NULL, err, errlen);
		if (!rc)
			rc = pc_machine_add(r.bus, &pcfg, err, errlen);
		if (rc) {
			char msg[400];
			snprintf(msg, sizeof(msg), "%s: %s",
			         opt->disk_path && strstr(err, opt->disk_path) ? "--disk"
			         : opt->bios_path                              ? opt->bios_path
			                                                       : opt->multiboot_path,
			         err);
			snprintf(err, errlen, "%s", msg);
			status = rc == -ENOMEM ? CLI_STATUS_ENVIRONMENT : CLI_STATUS_USAGE;
			goto out;
		}
	} else {
		memcpy(r.ram + opt->load_addr, image, image_len);
	}
	/* KVM's dirty pages are diffed against the shadow; emu reports every write itself. */
	if (r.vm) {
		r.shadow = malloc(r.ram_size);
		if (!r.shadow) {
			snprintf(err, errlen, "cannot allocate %zu bytes for the shadow copy of guest memory",
			         r.ram_size);
			status = CLI_STATUS_ENVIRONMENT;
			goto out;
		}
		memcpy(r.shadow, r.ram, r.ram_size);
	}

	/* CS:IP = 0:ADDR while ADDR fits in IP (the boot-sector convention), else ADDR>>4:ADDR&15. */
	if (r.pc)
		; /* the loader set the state */
	else if (opt->load_addr <= 0xffff)
		x86_state_real(&r.cur, 0, (uint16_t)opt->load_addr, 0);
	else
		x86_state_real(&r.cur, (uint16_t)(opt->load_addr >> 4), (uint16_t)(opt->load_addr & 0xf), 0);
	if (r.vm && (shim_set_state(r.vm, &r.cur) || shim_get_state(r.vm, &r.cur, true) ||
	             shim_dirty_pages(r.vm, NULL, NULL))) {
		snprintf(err, errlen, "setting up the vCPU: %s", shim_error(r.vm));
		status = CLI_STATUS_ENVIRONMENT;
		goto out;
	}

	/* SIGINT/SIGTERM are blocked except inside KVM_RUN: one that comes while the host works stays pending
	 * and ends the next KVM_RUN at once, so a guest that never exits cannot hide it. Handled from before
	 * the trace exists, so a signal that comes as soon as the file appears still ends the recording
	 * cleanly. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signals_set = true;
	rec_stop_signal = 0;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(r.vm ? SIG_BLOCK : SIG_UNBLOCK, &stop, &old_mask);
	run_mask = old_mask;
	sigdelset(&run_mask, SIGINT);
	sigdelset(&run_mask, SIGTERM);
	if (r.vm && shim_set_run_sigmask(r.vm, &run_mask))
		sigprocmask(SIG_SETMASK, &old_mask, NULL); /* without it: handled anywhere, as before */

	rc = trace_create(&r.t, opt->output, opt->force);
	if (rc) {
		snprintf(err, errlen, "%s", trace_last_open_error());
		status = CLI_STATUS_USAGE;
		goto out;
	}
	status = rec_write_meta(&r, image, image_len);
	if (status)
		goto out;
	if (trace_put_memory(r.t, 0, r.ram, r.ram_size) ||
	    (opt->bios_path && trace_put_memory(r.t, 0x100000000ull - image_len, image, image_len))) {
		snprintf(err, errlen, "%s", trace_error(r.t));
		status = CLI_STATUS_USAGE;
		goto out;
	}

	/* Runs stop once at 0000:7C00, so the boot sector's first instruction starts a step (exits mode) or
	 * is stepped (demand real) even though the firmware gets there without an exit. */
	if (opt->bios_path && opt->mode != REC_MODE_STEP) {
		if (shim_set_breakpoint(r.vm, BOOT_SECTOR_ENTRY, true)) {
			snprintf(err, errlen, "%s", shim_error(r.vm));
			status = CLI_STATUS_ENVIRONMENT;
			goto out;
		}
		r.boot_bp = true;
	}

	bool stepping = false;
	while (!r.ended) {
		if (opt->max_steps && out->steps >= opt->max_steps) {
			rec_end(&r, REC_END_MAX_STEPS, "%llu steps", (unsigned long long)opt->max_steps);
			break;
		}
		if (rec_stop_signal) {
			rec_end(&r, REC_END_INTERRUPTED, "signal %d", (int)rec_stop_signal);
			break;
		}
		if (r.pc && pc_reset_requested(r.bus)) {
			rec_end(&r, REC_END_RESET, "port 0x92 or the i8042 pulsed the reset line");
			break;
		}
		if (opt->vtime_limit && devbus_now(r.bus) >= opt->vtime_limit) {
			rec_end(&r, REC_END_TIMEOUT, "virtual clock at %llu units",
			        (unsigned long long)devbus_now(r.bus));
			break;
		}
		/* The A20 gate follows port 0x92 and the i8042 between steps, when every dirty page is
		 * harvested. */
		if (r.pc && pc_a20_enabled(r.bus) != r.a20_on) {
			r.a20_on = !r.a20_on;
			if (r.emu_cache)
				emu_cache_flush(r.emu_cache);
			if (r.vm && shim_set_a20(r.vm, r.a20_on)) {
				snprintf(err, errlen, "%s", shim_error(r.vm));
				rc = -EIO;
				break;
			}
		}
		bool want = !r.vm || rec_predicate(&r, &r.cur);
		if (want != stepping) {
			if (r.vm && shim_set_singlestep(r.vm, want)) {
				snprintf(err, errlen, "%s", shim_error(r.vm));
				rc = -EIO;
				break;
			}
			stepping = want;
		}
		if (r.pc && ((rc = rec_checkpoint(&r, false)) || (rc = rec_inject(&r, stepping))))
			break;
		rc = !r.vm ? rec_emu_step(&r) : stepping ? rec_step_one(&r) : rec_run_to_exit(&r);
		r.injected = false;
		if (rc)
			break;
	}
	if (!r.ended) {
		/* A host-side failure: keep what was recorded, marked incomplete by the missing finish. */
		trace_commit(r.t);
		status = CLI_STATUS_ENVIRONMENT;
		goto out;
	}
	if (rec_finish(&r)) {
		status = CLI_STATUS_USAGE;
		goto out;
	}
out:
	if (signals_set) {
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	if (pinned)
		sched_setaffinity(0, sizeof(old_affinity), &old_affinity);
	trace_close(r.t);
	devbus_free(r.bus);
	if (r.vm)
		shim_close(r.vm);
	else
		free(r.ram);
	emu_cache_free(r.emu_cache);
	free(r.rom);
	free(r.shadow);
	free(r.writes);
	free(r.arena);
	free(r.serial);
	free(image);
	return status;
}
