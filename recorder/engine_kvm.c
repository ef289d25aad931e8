/* The KVM engine: the guest runs on a vCPU, single-stepped or natively to the next exit. One rule serves
 * every exit: the state after an instruction is the state once KVM has completed its pending I/O (measured
 * here: OUT and MMIO writes exit after the instruction, IN and MMIO reads before it; completing with
 * immediate_exit gives the post-state in both). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../emu/emu.h"
#include "../machine/boot.h"
#include "../machine/devices.h"
#include "../machine/pc.h"
#include "../schema/trace.h"
#include "../vmx-shim/shim.h"
#include "../x86/x86_paging.h"
#include "private.h"

#define BOOT_SECTOR_ENTRY 0x7c00u /* linear address where a BIOS starts the boot sector */

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
	    [SHIM_EXIT_MSR] = TRACE_EXIT_OTHER,
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

/* An MSR KVM hands to user space (shim_msr_exits_enabled): the local APIC's x2APIC MSRs and
 * IA32_TSC_DEADLINE, else #GP as KVM would raise. A value read is an input of the step. */
static int rec_answer_msr(struct rec *r, struct shim_exit *ex)
{
	uint32_t msr = (uint32_t)ex->addr;
	uint64_t value = 0;
	int rc;

	if (ex->is_write) {
		memcpy(&value, ex->data, sizeof(value));
		rc = r->pc ? pc_lapic_wrmsr(r->bus, msr, value) : 1;
	} else {
		rc = r->pc ? pc_lapic_rdmsr(r->bus, msr, &value) : 1;
	}
	ex->msr_gp = rc != 0;
	if (!ex->is_write && !ex->msr_gp) {
		memcpy(ex->data, &value, sizeof(value));
		if ((rc = rec_add_input(r, TRACE_INPUT_RDMSR, msr, 8, 1, ex->data)))
			return rc;
	}
	rc = shim_complete_io(r->vm, ex);
	if (rc)
		snprintf(r->errbuf, r->errlen, "completing %s of MSR %#x: %s",
		         ex->is_write ? "WRMSR" : "RDMSR", msr, shim_error(r->vm));
	return rc;
}

/* Keeps an exit of the instruction being run for its step, growing the list as the instruction needs. */
static int rec_hold_exit(struct rec *r, const struct shim_exit *ex)
{
	if (r->n_held == r->cap_held) {
		size_t cap = r->cap_held ? r->cap_held * 2 : 16;
		struct shim_exit *grown = realloc(r->held, cap * sizeof(*grown));
		if (!grown) {
			snprintf(r->errbuf, r->errlen, "step %llu: out of memory for its %zu exits",
			         (unsigned long long)r->summary->steps, r->n_held + 1);
			return -ENOMEM;
		}
		r->held = grown;
		r->cap_held = cap;
	}
	r->held[r->n_held++] = *ex;
	return 0;
}

/* Answers an I/O exit and every further exit the same instruction needs (the write half of
 * a read-modify-write to MMIO, the next chunk of a string I/O), ending with the instruction
 * complete. Exits are appended at `step`, or with `hold` kept in r->held (as many as the
 * instruction makes) for the caller to append once it knows their step. */
static int rec_answer_collect(struct rec *r, struct shim_exit *ex, uint64_t step, bool hold)
{
	for (;;) {
		int rc = rec_answer_io(r, ex);
		if (!rc && hold) {
			rc = rec_hold_exit(r, ex);
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
	return rec_answer_collect(r, ex, step, false);
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

/* Guest memory as it was before the step: the shadow copy, until the step's dirty pages are diffed. */
static int rec_read_before_step(void *arg, uint64_t gpa, void *buf, size_t len)
{
	const struct rec *r = arg;
	if (gpa >= r->ram_size || len > r->ram_size - gpa)
		return -EFAULT;
	memcpy(buf, r->shadow + gpa, len);
	return 0;
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

/* What the vCPU's table or the guest (who) read against what the model set, told once a leaf: KVM (PVM) may
 * answer otherwise. The
 * APIC ID (leaf 1 EBX[31:24]), OSXSAVE and OSPKE follow the vCPU's state, not the table. */
static void kvm_check_cpuid(struct rec *r, bool guest, uint32_t leaf, uint32_t subleaf, const uint32_t got[4])
{
	const struct cpu_leaf *l = cpu_model_leaf(&r->cpu, leaf, subleaf);
	if (!l || !r->opt->warning)
		return;
	/* ECX selects nothing in a leaf without subleaves. */
	if (!l->indexed)
		subleaf = 0;
	uint32_t want[4] = {l->eax, l->ebx, l->ecx, l->edx}, mask[4] = {~0u, ~0u, ~0u, ~0u};
	if (leaf == 1)
		mask[1] = 0x00ffffffu, mask[2] = ~(1u << 27);
	else if (leaf == 7 && subleaf == 0)
		mask[2] = ~(1u << 4);
	bool same = true;
	for (int i = 0; i < 4; i++)
		same = same && !((want[i] ^ got[i]) & mask[i]);
	uint64_t key = leaf | (uint64_t)subleaf << 32 | (guest ? 0 : 1ull << 63);
	for (size_t i = 0; i < r->n_cpuid_warned && !same; i++)
		same = r->cpuid_warned[i] == key;
	if (same || r->n_cpuid_warned == sizeof(r->cpuid_warned) / sizeof(r->cpuid_warned[0]))
		return;
	r->cpuid_warned[r->n_cpuid_warned++] = key;
	char msg[CPU_MODEL_SPEC_MAX + 192];
	snprintf(msg, sizeof(msg),
	         "--cpu %s: %s CPUID leaf %#x.%u as %08x %08x %08x %08x, the model sets %08x %08x %08x "
	         "%08x: KVM did not give it the model",
	         r->cpu.spec, guest ? "the guest read" : "KVM_GET_CPUID2 after KVM_SET_CPUID2 reads", leaf,
	         subleaf, got[0], got[1], got[2], got[3], want[0], want[1], want[2], want[3]);
	r->opt->warning(r->opt->warning_arg, msg);
}

/* Values KVM gave the stepped instruction without an exit (CPUID, RDTSC, RDMSR), read off its post-state as
 * the inputs a replay feeds its backends. Only for an instruction that completed (RIP moved past it). */
static int rec_record_insn_inputs(struct rec *r, const struct x86_state *pre, const struct x86_state *post,
                                  const uint8_t *insn, unsigned len)
{
	static const uint8_t kinds[] = {[EMU_INSN_INPUT_CPUID] = TRACE_INPUT_CPUID,
	                                [EMU_INSN_INPUT_RDTSC] = TRACE_INPUT_RDTSC,
	                                [EMU_INSN_INPUT_RDMSR] = TRACE_INPUT_RDMSR};
	struct emu_insn_input in;

	if (!emu_insn_input_from_post(insn, len, pre, post, &in))
		return 0;
	if (in.kind == EMU_INSN_INPUT_CPUID && r->cpu_set) {
		uint32_t out[4];
		for (unsigned i = 0; i < 4; i++)
			out[i] = (uint32_t)in.data[4 * i] | (uint32_t)in.data[4 * i + 1] << 8 |
			         (uint32_t)in.data[4 * i + 2] << 16 | (uint32_t)in.data[4 * i + 3] << 24;
		kvm_check_cpuid(r, true, (uint32_t)in.addr, (uint32_t)(in.addr >> 32), out);
	}
	return rec_add_input(r, (enum trace_input_kind)kinds[in.kind], in.addr, in.size, 1, in.data);
}

/* KVM_RUN until an exit other than a signal's, or until a stop signal ends the recording (r->ended, ex then
 * SHIM_EXIT_INTR). */
static int rec_run_vcpu(struct rec *r, struct shim_exit *ex)
{
	for (;;) {
		int rc = shim_run(r->vm, ex);

		if (rc) {
			snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
			return rc;
		}
		if (ex->kind != SHIM_EXIT_INTR)
			return 0;
		if (rec_poll_signal()) {
			rec_end(r, REC_END_INTERRUPTED, "signal %d", rec_stop_signal());
			return 0;
		}
	}
}

/* The guest's own EFLAGS.TF under KVM's single-step: KVM reports no TF and takes the guest's single-step
 * traps for its own (an exit to user space), so the recorder keeps the guest's TF in r->cur and delivers each
 * #DB the guest is owed in the step of the instruction that raised it, as emu records it (SDM Vol. 3
 * 17.3.1.4). Whether one is owed, a probe tells: emu on a copy of pre, reading memory, dropping writes. */
static enum emu_status tf_probe_read(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	const struct rec *r = opaque;
	if (gpa + len > r->ram_size)
		return EMU_IO_ERROR;
	memcpy(buf, r->ram + gpa, len);
	return EMU_OK;
}

static enum emu_status tf_probe_write(void *opaque, uint64_t gpa, const void *buf, unsigned len)
{
	(void)opaque, (void)gpa, (void)buf, (void)len;
	return EMU_OK;
}

/* Port I/O moves no TF: the values are the probe's own. */
static enum emu_status tf_probe_in(void *opaque, uint16_t port, unsigned size, uint32_t *value)
{
	(void)opaque, (void)port, (void)size;
	*value = ~0u;
	return EMU_OK;
}

static enum emu_status tf_probe_out(void *opaque, uint16_t port, unsigned size, uint32_t value)
{
	(void)opaque, (void)port, (void)size, (void)value;
	return EMU_OK;
}

/* CPUID, RDTSC and MSRs: KVM's values are not the probe's to know, so such a step is not judged. */
static enum emu_status tf_probe_cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)opaque, (void)leaf, (void)subleaf, (void)out;
	return EMU_IO_ERROR;
}

static enum emu_status tf_probe_rdtsc(void *opaque, uint64_t *tsc)
{
	(void)opaque, (void)tsc;
	return EMU_IO_ERROR;
}

static enum emu_status tf_probe_rdmsr(void *opaque, uint32_t msr, uint64_t *value, bool *known)
{
	(void)opaque, (void)msr, (void)value, (void)known;
	return EMU_IO_ERROR;
}

static enum emu_status tf_probe_wrmsr(void *opaque, uint32_t msr, uint64_t value, bool *known)
{
	(void)opaque, (void)msr, (void)value, (void)known;
	return EMU_IO_ERROR;
}

/* The probe's result after one instruction from pre, or two where silicon holds the trap over a MOV SS or POP
 * SS: true when it ends where KVM's step ended (post's CS:RIP). */
static bool tf_probe(struct rec *r, const struct x86_state *pre, const struct x86_state *post,
                     struct x86_state *out)
{
	static const struct emu_ops ops = {.read_phys = tf_probe_read,
	                                   .write_phys = tf_probe_write,
	                                   .port_in = tf_probe_in,
	                                   .port_out = tf_probe_out,
	                                   .cpuid = tf_probe_cpuid,
	                                   .rdtsc = tf_probe_rdtsc,
	                                   .rdmsr = tf_probe_rdmsr,
	                                   .wrmsr = tf_probe_wrmsr};
	struct emu_ctxt ctxt = {.st = out, .ops = &ops, .opaque = r};

	*out = *pre;
	for (int i = 0; i < 2; i++) {
		enum emu_status s = emu_step(&ctxt);
		if (s != EMU_OK && s != EMU_HALT)
			return false;
		if (out->rip == post->rip && out->seg[X86_CS].selector == post->seg[X86_CS].selector)
			return true;
		if (!(out->events.shadow & X86_SHADOW_MOV_SS) || out->events.exc_pending)
			return false;
	}
	return false;
}

/* The single-step #DB the guest is owed, through its IVT/IDT: emu writes the frame (this step's writes) and
 * KVM goes on at the handler. */
static int tf_deliver_db(struct rec *r, const struct x86_state *pre)
{
	struct emu_ctxt ctxt = {.st = &r->cur, .ops = &rec_emu_ops, .opaque = r, .deliver_exceptions = true};

	r->cur.dr6 |= 1ull << 14; /* DR6.BS */
	x86_event_queue(&r->cur, X86_EVENT_EXCEPTION, 1, false, 0);
	enum emu_status s = emu_step(&ctxt);
	x86_event_taken(&r->cur);
	if (s == EMU_SHUTDOWN) {
		rec_end(r, REC_END_SHUTDOWN,
		        "triple fault delivering the guest's single-step #DB after %04x:%llx",
		        pre->seg[X86_CS].selector, (unsigned long long)pre->rip);
		return 0;
	}
	if (s != EMU_OK) {
		snprintf(r->errbuf, r->errlen, "delivering the guest's single-step #DB after %04x:%llx: %s",
		         pre->seg[X86_CS].selector, (unsigned long long)pre->rip, emu_status_name(s));
		return -EIO;
	}
	if (shim_set_state(r->vm, &r->cur)) {
		snprintf(r->errbuf, r->errlen, "entering the guest's #DB handler: %s", shim_error(r->vm));
		return -EIO;
	}
	return 0;
}

/* After KVM's step from pre to r->cur: the guest's TF back into r->cur, and its #DB delivered where owed.
 * *judged false: a step under the guest's TF that emu cannot match (an event or fault ran its handler, or
 * CPUID, RDTSC or an MSR). */
static int tf_follow(struct rec *r, const struct x86_state *pre, int opcode, bool *judged)
{
	struct x86_state probe;

	*judged = true;
	if (!(pre->rflags & X86_RFLAGS_TF)) {
		/* POPF or IRET may set it. */
		if ((opcode == 0x9d || opcode == 0xcf) && rec_guest_sets_tf(r, pre))
			r->cur.rflags |= X86_RFLAGS_TF;
		return 0;
	}
	if (r->injected || !tf_probe(r, pre, &r->cur, &probe)) {
		*judged = false;
		return 0;
	}
	r->cur.rflags |= probe.rflags & X86_RFLAGS_TF;
	if (probe.events.exc_pending && probe.events.exc_vector == 1)
		return tf_deliver_db(r, pre);
	return 0;
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
	/* An MSR refused with #GP: the same step goes on into its delivery, as a faulting instruction's does.
	 */
	bool msr_exit = false;
	do {
		rc = rec_run_vcpu(r, &ex);
		if (rc || r->ended)
			return rc;
		if (ex.kind == SHIM_EXIT_MSR && (rc = rec_answer_msr(r, &ex)))
			return rc;
		msr_exit = msr_exit || ex.kind == SHIM_EXIT_MSR;
	} while (ex.kind == SHIM_EXIT_MSR && ex.msr_gp);
	switch (ex.kind) {
	case SHIM_EXIT_DEBUG:
	case SHIM_EXIT_HLT:
	case SHIM_EXIT_MSR:
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
	/* PVM returns to CPL 3 itself and runs user code natively before the step ends. */
	bool native = !ran_handler && !r->injected &&
	              trace_step_ran_native(shim_reference(r->vm), &pre, &r->cur, rec_read_before_step, r);
	rc = shim_dirty_pages(r->vm, rec_diff_page, r);
	if (rc || r->err) {
		snprintf(r->errbuf, r->errlen, "dirty log: %s", rc ? shim_error(r->vm) : strerror(-r->err));
		return rc ? rc : r->err;
	}
	if (!ran_handler && !r->injected && !msr_exit &&
	    (rc = rec_record_insn_inputs(r, &pre, &r->cur, insn, insn_len))) {
		snprintf(r->errbuf, r->errlen, "step %llu: too many inputs",
		         (unsigned long long)r->summary->steps);
		return rc;
	}
	bool judged;
	if ((rc = tf_follow(r, &pre, opcode, &judged)))
		return rc;
	rc = rec_append(r,
	                ran_handler || !judged ? TRACE_STEP_RUN
	                : native               ? TRACE_STEP_NATIVE
	                                       : TRACE_STEP_INSN,
	                &pre);
	if (rc)
		return rc;
	if (!judged) {
		rec_end(
		    r, REC_END_GUEST_TF,
		    "the guest single-steps itself (EFLAGS.TF) over %04x:%llx, where an event, a fault or "
		    "CPUID/MSR/RDTSC leaves its #DB unknown to the recorder; record this guest with --mode "
		    "exits",
		    pre.seg[X86_CS].selector, (unsigned long long)pre.rip);
		return 0;
	}
	devbus_advance(r->bus, 1);
	rec_check_end(r, r->injected ? -1 : opcode);
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
	rc = rec_run_vcpu(r, &ex);
	if (rc)
		return rc;
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
	bool run_step = after_insn || memcmp(&at_exit, &run_pre, sizeof(at_exit)) != 0;
	if (run_step) {
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
	/* A WRMSR to IA32_APIC_BASE in the run moved or switched the APIC the exit may be about to reach. */
	if (r->pc)
		pc_lapic_set_base(r->bus, at_exit.msr[X86_MSR_APIC_BASE]);

	r->n_held = 0;
	switch (ex.kind) {
	case SHIM_EXIT_IO:
	case SHIM_EXIT_MMIO:
		rc = rec_answer_collect(r, &ex, 0, true);
		break;
	case SHIM_EXIT_HLT:
		rc = rec_hold_exit(r, &ex);
		break;
	case SHIM_EXIT_MSR:
		rc = rec_answer_msr(r, &ex);
		/* A refused MSR leaves its #GP for the next run to deliver: the instruction ends a RUN step,
		 * which no replay compares, not an INSN step whose post-state would hold an undelivered
		 * exception. */
		if (!rc && ex.msr_gp && !run_step)
			rc = rec_append(r, TRACE_STEP_RUN, &run_pre);
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
	bool msr_fault = ex.kind == SHIM_EXIT_MSR && ex.msr_gp;
	bool have_pre = !msr_fault && memcmp(&post, &at_exit, sizeof(post)) != 0;
	if (!have_pre && !msr_fault) {
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
		for (size_t i = 0; i < r->n_held && !rc; i++)
			rc = rec_append_exit(r, r->summary->steps, &r->held[i]);
		if (!rc)
			rc = rec_append(r, TRACE_STEP_INSN, &pre);
	} else {
		for (size_t i = 0; i < r->n_held && !rc; i++)
			rc = rec_append_exit(r, r->summary->steps ? r->summary->steps - 1 : 0, &r->held[i]);
		if (!rc)
			rc = shim_dirty_pages(r->vm, rec_snapshot_page, r);
	}
	if (rc)
		return rc;
	/* KVM without an in-kernel irqchip leaves halting to user space, so its vCPU reads runnable: the
	 * guest is in the HLT state until the recorder delivers the next event. */
	if (ex.kind == SHIM_EXIT_HLT)
		post.events.halted = 1;
	r->cur = post;
	devbus_advance(r->bus, 1);
	rec_check_end(r, ex.kind == SHIM_EXIT_HLT ? 0xf4 : opcode);
	return 0;
}

#define KVM_SUPPORTED_MAX 512

/* --cpu MODEL on KVM: the model's table in place of KVM's supported one, said at the start where KVM lacks a
 * feature bit it sets (the guest then reads the bit, but KVM may not implement the feature) and where the
 * vCPU's table, read back, is not the model's. */
static int kvm_set_cpu_model(struct rec *r)
{
	static struct shim_cpuid_entry sup[KVM_SUPPORTED_MAX];
	static struct cpu_leaf leaves[KVM_SUPPORTED_MAX];
	size_t n = shim_supported_cpuid(r->vm, sup, KVM_SUPPORTED_MAX);
	for (size_t i = 0; i < n; i++)
		leaves[i] = (struct cpu_leaf){.function = sup[i].function,
		                              .index = sup[i].index,
		                              .indexed = sup[i].flags & 1u,
		                              .eax = sup[i].eax,
		                              .ebx = sup[i].ebx,
		                              .ecx = sup[i].ecx,
		                              .edx = sup[i].edx};
	if (cpu_model_unsupported(&r->cpu, leaves, n, r->cpu_unsupported, sizeof(r->cpu_unsupported)) &&
	    r->opt->warning) {
		char msg[CPU_MODEL_SPEC_MAX + sizeof(r->cpu_unsupported) + 96];
		snprintf(msg, sizeof(msg),
		         "--cpu %s: KVM_GET_SUPPORTED_CPUID lacks %s: set anyway; KVM may not implement them",
		         r->cpu.spec, r->cpu_unsupported);
		r->opt->warning(r->opt->warning_arg, msg);
	}
	int got;
	if (shim_set_cpuid(r->vm, r->cpuid, r->n_cpuid) ||
	    (r->cpu.mcg_cap && shim_setup_mce(r->vm, r->cpu.mcg_cap)) ||
	    (got = shim_vcpu_cpuid(r->vm, sup, KVM_SUPPORTED_MAX)) < 0) {
		snprintf(r->errbuf, r->errlen, "--cpu %s: %s", r->cpu.spec, shim_error(r->vm));
		return CLI_STATUS_ENVIRONMENT;
	}
	for (int i = 0; i < got; i++) {
		uint32_t regs[4] = {sup[i].eax, sup[i].ebx, sup[i].ecx, sup[i].edx};
		kvm_check_cpuid(r, false, sup[i].function, sup[i].index, regs);
	}
	return 0;
}

static int kvm_open(struct rec *r)
{
	/* A native run can write more pages than KVM's dirty ring holds: outside step mode use the bitmap. */
	struct shim_config cfg = {.ram_bytes = r->opt->mem_bytes,
	                          .dirty_log = true,
	                          .no_dirty_ring = r->opt->mode != REC_MODE_STEP};

	if (shim_open(&r->vm, &cfg)) {
		snprintf(r->errbuf, r->errlen, "%s", shim_last_open_error());
		return CLI_STATUS_ENVIRONMENT;
	}
	r->ram = shim_ram(r->vm);
	r->ram_size = shim_ram_size(r->vm);
	int status = rec_cpu_setup(r);
	return status ? status : r->cpu_set ? kvm_set_cpu_model(r) : 0;
}

static int kvm_boot_memory(struct rec *r, struct boot_memory *mem)
{
	*mem = boot_memory_of_vm(r->vm);
	/* A --cpu model is already the PC machine's (cpu_model_for_pc). */
	if (!r->cpu_set && boot_pc_cpuid(r->vm)) {
		snprintf(r->errbuf, r->errlen, "setting the vCPU's CPUID: %s", shim_error(r->vm));
		return CLI_STATUS_ENVIRONMENT;
	}
	return 0;
}

static int kvm_start(struct rec *r)
{
	/* KVM's dirty pages are diffed against the shadow (emu reports every write itself). */
	r->shadow = malloc(r->ram_size);
	if (!r->shadow) {
		snprintf(r->errbuf, r->errlen,
		         "cannot allocate %zu bytes for the shadow copy of guest memory", r->ram_size);
		return CLI_STATUS_ENVIRONMENT;
	}
	memcpy(r->shadow, r->ram, r->ram_size);
	if (shim_set_state(r->vm, &r->cur) || shim_get_state(r->vm, &r->cur, true) ||
	    shim_dirty_pages(r->vm, NULL, NULL)) {
		snprintf(r->errbuf, r->errlen, "setting up the vCPU: %s", shim_error(r->vm));
		return CLI_STATUS_ENVIRONMENT;
	}
	/* Runs stop once at 0000:7C00, so the boot sector's first instruction starts a step (exits mode) or
	 * is stepped (demand real) even though the firmware gets there without an exit. */
	if (r->opt->bios_path && r->opt->mode != REC_MODE_STEP) {
		if (shim_set_breakpoint(r->vm, BOOT_SECTOR_ENTRY, true)) {
			snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
			return CLI_STATUS_ENVIRONMENT;
		}
		r->boot_bp = true;
	}
	return 0;
}

static const char *kvm_flavour(const struct rec *r)
{
	return shim_flavour_name(shim_flavour(r->vm));
}

static const char *kvm_reference(const struct rec *r)
{
	return shim_reference(r->vm);
}

static int kvm_cpuid_entries(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n)
{
	return shim_cpuid_table(r->vm, e, n);
}

static int kvm_run_sigmask(struct rec *r, const sigset_t *mask)
{
	return shim_set_run_sigmask(r->vm, mask);
}

/* Whether the vCPU must not take an NMI now: blocked until an IRET, a MOV SS shadow, or another event. */
static bool kvm_nmi_blocked(const struct rec *r)
{
	const struct x86_events *ev = &r->cur.events;
	return r->injected || ev->nmi_masked || ev->nmi_pending || ev->exc_pending ||
	       (ev->shadow & X86_SHADOW_MOV_SS);
}

static bool kvm_wants_step(const struct rec *r)
{
	return rec_predicate(r, &r->cur) || (r->pc && pc_lapic_nmi_waiting(r->bus) && kvm_nmi_blocked(r));
}

static int kvm_set_stepping(struct rec *r, bool on)
{
	/* KVM's single-step leaves without the guest's own TF (tf_follow kept it): it goes back for the run.
	 */
	if (shim_set_singlestep(r->vm, on) ||
	    (!on && (r->cur.rflags & X86_RFLAGS_TF) && shim_set_state(r->vm, &r->cur))) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return -EIO;
	}
	return 0;
}

static int kvm_set_a20(struct rec *r)
{
	if (shim_set_a20(r->vm, r->a20_on)) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return -EIO;
	}
	return 0;
}

static bool kvm_can_inject(const struct rec *r)
{
	return shim_can_inject(r->vm);
}

static void kvm_request_irq_window(struct rec *r, bool on)
{
	shim_request_irq_window(r->vm, on);
}

static int kvm_inject(struct rec *r, uint8_t vector)
{
	int rc = shim_inject_interrupt(r->vm, vector);

	if (rc)
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
	return rc;
}

/* An NMI the local APIC sent (ICR, LVT) goes in once the vCPU can take it: the events row of the step that
 * begins with its delivery, as an injected interrupt's. While it waits, the run is single-stepped
 * (kvm_wants_step), since KVM reports no exit when an IRET unblocks NMIs. */
static int kvm_deliver_nmi(struct rec *r)
{
	if (!r->pc || kvm_nmi_blocked(r) || !pc_lapic_take_nmi(r->bus))
		return 0;
	int rc = rec_add_event(r, X86_EVENT_NMI, 2);
	if (rc)
		return rc;
	if ((rc = shim_inject_nmi(r->vm))) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	r->injected = true;
	r->summary->interrupts++;
	return 0;
}

/* Without an in-kernel LAPIC, KVM keeps IA32_APIC_BASE (and checks its writes); the APIC model follows it. */
static int kvm_step(struct rec *r, bool stepping)
{
	int rc = kvm_deliver_nmi(r);
	if (rc)
		return rc;
	/* The TSC the deadline compares with starts every run at the virtual clock (machine/lapic.c says why
	 * it cannot be more). */
	if (r->pc && pc_lapic_tsc_deadline_mode(r->bus) &&
	    (rc = shim_set_guest_tsc(r->vm, pc_lapic_tsc(r->bus))) && rc != -EOPNOTSUPP) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	rc = stepping ? rec_step_one(r) : rec_run_to_exit(r);
	if (!rc && r->pc)
		pc_lapic_set_base(r->bus, r->cur.msr[X86_MSR_APIC_BASE]);
	return rc;
}

static void kvm_close(struct rec *r)
{
	if (r->vm)
		shim_close(r->vm);
}

const struct rec_engine_ops rec_engine_kvm = {
    .name = "kvm",
    .open = kvm_open,
    .boot_memory = kvm_boot_memory,
    .start = kvm_start,
    .flavour = kvm_flavour,
    .reference = kvm_reference,
    .cpuid_entries = kvm_cpuid_entries,
    .run_sigmask = kvm_run_sigmask,
    .wants_step = kvm_wants_step,
    .set_stepping = kvm_set_stepping,
    .set_a20 = kvm_set_a20,
    .can_inject = kvm_can_inject,
    .request_irq_window = kvm_request_irq_window,
    .inject = kvm_inject,
    .step = kvm_step,
    .close = kvm_close,
};
