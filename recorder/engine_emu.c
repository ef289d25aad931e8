/* The emu engine: emu executes every instruction against r's memory and devices, and is the reference; no
 * /dev/kvm needed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../emu/emu.h"
#include "../machine/boot.h"
#include "../machine/devices.h"
#include "../machine/pc.h"
#include "../schema/trace.h"
#include "../vmx-shim/shim.h"
#include "private.h"

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

/* An NMI the local APIC sent (ICR, LVT): like an injected interrupt, the events row of this step, taken
 * once the CPU accepts NMIs (not blocked until IRET, no MOV SS shadow, no other event). */
static int emu_deliver_nmi(struct rec *r)
{
	const struct x86_events *ev = &r->cur.events;
	if (!r->pc || ev->nmi_masked || ev->nmi_pending || ev->exc_pending ||
	    (ev->shadow & X86_SHADOW_MOV_SS) || !pc_lapic_take_nmi(r->bus))
		return 0;
	int rc = rec_add_event(r, X86_EVENT_NMI, 2);
	if (rc)
		return rc;
	x86_event_queue(&r->cur, X86_EVENT_NMI, 2, false, 0);
	r->summary->interrupts++;
	return 0;
}

/* --engine emu: one instruction (or an exception and its delivery, as a single-stepped CPU does) in emu. */
static int rec_emu_step(struct rec *r)
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
	else if ((rc = emu_deliver_nmi(r)))
		return rc;
	s = emu_step(&ctxt);
	if (r->injected)
		x86_event_taken(&r->cur);
	/* The APIC follows the CPU's IA32_APIC_BASE before the next injection point looks at it. */
	if (r->pc)
		pc_lapic_set_base(r->bus, r->cur.msr[X86_MSR_APIC_BASE]);
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

static int emu_open(struct rec *r)
{
	if (r->opt->mode != REC_MODE_STEP) {
		snprintf(r->errbuf, r->errlen, "--engine emu records every instruction: use --mode step");
		return CLI_STATUS_USAGE;
	}
	int status = rec_cpu_setup(r);
	if (status)
		return status;
	r->ram_size = r->opt->mem_bytes;
	r->ram = calloc(1, r->ram_size);
	r->emu_cache = emu_cache_new();
	if (!r->ram || !r->emu_cache) {
		snprintf(r->errbuf, r->errlen, "cannot allocate %zu bytes of guest memory", r->ram_size);
		return CLI_STATUS_ENVIRONMENT;
	}
	return 0;
}

static int emu_boot_memory(struct rec *r, struct boot_memory *mem)
{
	*mem =
	    (struct boot_memory){.ram = r->ram, .ram_size = r->ram_size, .map_rom = rec_map_rom, .opaque = r};
	return 0;
}

/* emu works on r->ram and r->cur directly: nothing to hand over. */
static int emu_start(struct rec *r)
{
	(void)r;
	return 0;
}

static const char *emu_flavour(const struct rec *r)
{
	(void)r;
	return "none";
}

static const char *emu_reference(const struct rec *r)
{
	(void)r;
	return "emu";
}

static int emu_cpuid_entries(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n)
{
	*e = r->cpuid;
	*n = r->n_cpuid;
	return 0;
}

static bool emu_wants_step(const struct rec *r)
{
	(void)r;
	return true;
}

static int emu_set_stepping(struct rec *r, bool on)
{
	(void)r;
	(void)on;
	return 0;
}

static int emu_set_a20(struct rec *r)
{
	emu_cache_flush(r->emu_cache);
	return 0;
}

static bool emu_can_inject(const struct rec *r)
{
	return !r->cur.events.exc_pending;
}

/* The interrupt becomes the pending event emu delivers as the next step (rec_emu_step). */
static int emu_inject(struct rec *r, uint8_t vector)
{
	(void)r;
	(void)vector;
	return 0;
}

static int emu_run(struct rec *r, bool stepping)
{
	(void)stepping;
	return rec_emu_step(r);
}

static void emu_close(struct rec *r)
{
	free(r->ram);
	emu_cache_free(r->emu_cache);
}

const struct rec_engine_ops rec_engine_emu = {
    .name = "emu",
    .emu_is_reference = true,
    .open = emu_open,
    .boot_memory = emu_boot_memory,
    .start = emu_start,
    .flavour = emu_flavour,
    .reference = emu_reference,
    .cpuid_entries = emu_cpuid_entries,
    .wants_step = emu_wants_step,
    .set_stepping = emu_set_stepping,
    .set_a20 = emu_set_a20,
    .can_inject = emu_can_inject,
    .inject = emu_inject,
    .step = emu_run,
    .close = emu_close,
};
