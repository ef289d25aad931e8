/* The emu backend: emudiff's own emulator on a private copy of guest memory.
 * Addresses outside every region are MMIO and read the step's recorded values;
 * IN, CPUID, RDTSC, RDRAND and RDMSR are answered from the recorded inputs too, and a WRMSR raises #GP
 * where the recording shows the reference refused it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../emu/emu.h"
#include "backend.h"
#include "backend_input.h"

struct emu_region {
	uint64_t gpa, len;
	bool rom;
	uint8_t *mem;
};

struct backend {
	struct emu_region *regions;
	size_t n_regions;
	uint32_t (*cpuid)[6];
	size_t n_cpuid;
	bool step_over_mov_ss_shadow; /* backend_config */
	struct x86_state st;          /* the state before the next step, unless loaded or post_current */
	/* set_state's state, still valid at the next step (backend.h): copied once, into the result. */
	const struct x86_state *loaded;
	/* last_out->post is the current state (the step ran and no state was loaded since): st is refreshed
	 * from it rather than copied back after every step. */
	bool post_current;
	const struct backend_result *last_out;
	const struct backend_result *unobserved_zeroed; /* the result whose unobserved mask is all zero */
	/* per step */
	const struct backend_step_input *in;
	struct backend_result *out;
	uint32_t *used; /* repetitions consumed of each recorded input */
	size_t used_cap;
	bool missing;
	char missing_reason[128];
	/* Kept across steps: emu resets its per-step part, so it is not cleared (it is large) every step. */
	struct emu_ctxt ctxt;
};

static struct emu_region *region_of(struct backend *b, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; i < b->n_regions; i++) {
		struct emu_region *r = &b->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->len && len <= r->len - (gpa - r->gpa))
			return r;
	}
	return NULL;
}

static const uint8_t *take_input(struct backend *b, uint8_t kind, uint64_t addr, bool match_addr,
                                 unsigned size)
{
	return backend_take_input(b->in, b->used, kind, addr, match_addr, size);
}

/* The step needs a value the recording does not have: a divergence of class io. */
static enum emu_status missing(struct backend *b, const char *what, uint64_t addr, unsigned size)
{
	if (!b->missing) {
		b->missing = true;
		snprintf(b->missing_reason, sizeof(b->missing_reason),
		         BACKEND_IO_REASON "no recorded %s 0x%llx (%u bytes)", what, (unsigned long long)addr,
		         size);
	}
	return EMU_IO_ERROR;
}

static uint64_t input_value(const uint8_t *data, unsigned size)
{
	uint64_t v = 0;
	memcpy(&v, data, size < 8 ? size : 8);
	return v;
}

static void note_port(struct backend *b, uint16_t port, unsigned size, bool is_out, uint32_t value)
{
	struct backend_result *out = b->out;
	if (out->n_ports == BACKEND_MAX_PORTS)
		return;
	out->ports[out->n_ports++] =
	    (struct backend_port){.port = port, .size = (uint8_t)size, .is_out = is_out, .value = value};
}

static enum emu_status cb_read_phys(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	struct backend *b = opaque;
	struct emu_region *r = region_of(b, gpa, len);
	if (r) {
		memcpy(buf, r->mem + (gpa - r->gpa), len);
		return EMU_OK;
	}
	const uint8_t *x = take_input(b, TRACE_INPUT_MMIO_READ, gpa, true, len);
	if (!x)
		return missing(b, "MMIO read at", gpa, len);
	memcpy(buf, x, len);
	return EMU_OK;
}

static enum emu_status cb_write_phys(void *opaque, uint64_t gpa, const void *buf, unsigned len)
{
	struct backend *b = opaque;
	struct emu_region *r = region_of(b, gpa, len);
	/* ROM and MMIO writes leave memory as it is but are stores all the same, as the recording has them.
	 */
	if (r && !r->rom)
		memcpy(r->mem + (gpa - r->gpa), buf, len);
	backend_result_add_write(b->out, gpa, buf, len, true);
	return EMU_OK;
}

static enum emu_status cb_port_in(void *opaque, uint16_t port, unsigned size, uint32_t *value)
{
	struct backend *b = opaque;
	const uint8_t *x = take_input(b, TRACE_INPUT_PIO_IN, port, true, size);
	if (!x)
		return missing(b, "IN from port", port, size);
	*value = (uint32_t)input_value(x, size);
	note_port(b, port, size, false, *value);
	return EMU_OK;
}

static enum emu_status cb_port_out(void *opaque, uint16_t port, unsigned size, uint32_t value)
{
	note_port(opaque, port, size, true, value);
	return EMU_OK;
}

static enum emu_status cb_cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	struct backend *b = opaque;
	const uint8_t *x = take_input(b, TRACE_INPUT_CPUID, leaf | (uint64_t)subleaf << 32, true, 16);
	if (x) {
		memcpy(out, x, 16);
		return EMU_OK;
	}
	/* Not recorded per step (KVM answers CPUID itself): the recording's CPUID table answers. */
	const uint32_t *only = NULL;
	size_t n_leaf = 0;
	for (size_t i = 0; i < b->n_cpuid; i++) {
		if (b->cpuid[i][0] != leaf)
			continue;
		if (b->cpuid[i][1] == subleaf) {
			memcpy(out, &b->cpuid[i][2], 16);
			return EMU_OK;
		}
		only = b->cpuid[i];
		n_leaf++;
	}
	/* A leaf with one entry does not depend on the subleaf. */
	if (n_leaf == 1) {
		memcpy(out, &only[2], 16);
		return EMU_OK;
	}
	return missing(b, "CPUID for leaf", leaf | (uint64_t)subleaf << 32, 16);
}

static enum emu_status cb_rdtsc(void *opaque, uint64_t *tsc)
{
	struct backend *b = opaque;
	const uint8_t *x = take_input(b, TRACE_INPUT_RDTSC, 0, false, 8);
	if (!x)
		return missing(b, "RDTSC value at", 0, 8);
	*tsc = input_value(x, 8);
	return EMU_OK;
}

static enum emu_status cb_rdrand(void *opaque, bool seed, unsigned size, uint64_t *value, bool *ok)
{
	struct backend *b = opaque;
	(void)seed;
	const uint8_t *x = take_input(b, TRACE_INPUT_RDRAND, 0, false, size);
	if (!x)
		return missing(b, "RDRAND value at", 0, size);
	*value = input_value(x, size);
	*ok = true;
	return EMU_OK;
}

static enum emu_status cb_rdmsr(void *opaque, uint32_t msr, uint64_t *value, bool *known)
{
	struct backend *b = opaque;
	const uint8_t *x = take_input(b, TRACE_INPUT_RDMSR, msr, true, 8);
	/* No recorded value: the reference raised #GP for it. */
	*known = x != NULL;
	*value = x ? input_value(x, 8) : 0;
	return EMU_OK;
}

/* The trace keeps no WRMSR input: the reference refused the write (#GP) when its recorded post-state is
 * not the instruction after the WRMSR. Without a recorded state the write is taken. */
static enum emu_status cb_wrmsr(void *opaque, uint32_t msr, uint64_t value, bool *known)
{
	struct backend *b = opaque;
	(void)msr, (void)value;
	*known = backend_wrmsr_taken(b->in, b->ctxt.st, b->ctxt.info.insn_len);
	return EMU_OK;
}

static const struct emu_ops emu_backend_ops = {
    .read_phys = cb_read_phys,
    .write_phys = cb_write_phys,
    .port_in = cb_port_in,
    .port_out = cb_port_out,
    .cpuid = cb_cpuid,
    .rdtsc = cb_rdtsc,
    .rdrand = cb_rdrand,
    .rdmsr = cb_rdmsr,
    .wrmsr = cb_wrmsr,
};

static void emu_close(struct backend *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_regions; i++)
		free(b->regions[i].mem);
	free(b->regions);
	free(b->cpuid);
	free(b->used);
	emu_cache_free(b->ctxt.cache);
	free(b);
}

static int emu_open(struct backend **out, const struct backend_config *cfg, char *err, size_t errlen)
{
	struct backend *b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	b->regions = calloc(cfg->n_regions ? cfg->n_regions : 1, sizeof(*b->regions));
	if (!b->regions)
		goto nomem;
	for (size_t i = 0; i < cfg->n_regions; i++) {
		struct emu_region *r = &b->regions[b->n_regions];
		r->gpa = cfg->regions[i].gpa;
		r->len = cfg->regions[i].len;
		r->rom = cfg->regions[i].rom;
		r->mem = calloc(1, r->len ? r->len : 1);
		if (!r->mem)
			goto nomem;
		b->n_regions++;
	}
	/* Translations and decoded instructions carry from step to step: every store the replayer makes
	 * is reported to the cache, which drops what it invalidates. */
	b->ctxt.cache = emu_cache_new();
	if (!b->ctxt.cache)
		goto nomem;
	if (cfg->n_cpuid) {
		b->cpuid = calloc(cfg->n_cpuid, sizeof(*b->cpuid));
		if (!b->cpuid)
			goto nomem;
		memcpy(b->cpuid, cfg->cpuid, cfg->n_cpuid * sizeof(*b->cpuid));
		b->n_cpuid = cfg->n_cpuid;
	}
	b->step_over_mov_ss_shadow = cfg->step_over_mov_ss_shadow;
	*out = b;
	return 0;
nomem:
	snprintf(err, errlen, "emu backend: out of memory for guest memory");
	emu_close(b);
	return -ENOMEM;
}

static int emu_write_mem(struct backend *b, uint64_t gpa, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		struct emu_region *r = region_of(b, gpa, 1);
		if (!r)
			return -EFAULT;
		size_t n = r->len - (gpa - r->gpa);
		if (n > len)
			n = len;
		memcpy(r->mem + (gpa - r->gpa), p, n);
		emu_cache_note_write(b->ctxt.cache, gpa, n);
		gpa += n, p += n, len -= n;
	}
	return 0;
}

static int emu_read_mem(struct backend *b, uint64_t gpa, void *data, size_t len)
{
	uint8_t *p = data;
	while (len) {
		struct emu_region *r = region_of(b, gpa, 1);
		if (!r)
			return -EFAULT;
		size_t n = r->len - (gpa - r->gpa);
		if (n > len)
			n = len;
		memcpy(p, r->mem + (gpa - r->gpa), n);
		gpa += n, p += n, len -= n;
	}
	return 0;
}

static int emu_set_state(struct backend *b, const struct x86_state *st)
{
	b->loaded = st;
	b->post_current = false;
	return 0;
}

/* An injected event becomes a pending event that emu delivers as this step. */
static void inject(struct x86_state *st, const struct trace_event *ev)
{
	x86_event_queue(st, ev->type, ev->vector, ev->has_error, ev->error_code);
}

/* A step that did not run leaves the state it started from (with its injected event), also for a next step
 * without set_state. */
static void not_run(struct backend *b, const struct x86_state *pre, const struct trace_event *ev,
                    struct backend_result *out)
{
	out->post = *pre;
	if (ev)
		inject(&out->post, ev);
	b->st = out->post;
}

static int emu_backend_step(struct backend *b, const struct backend_step_input *in,
                            struct backend_result *out)
{
	/* Only what this step sets: the write and port arrays count from zero. */
	out->outcome = BACKEND_STEPPED;
	out->reason[0] = '\0';
	out->n_writes = 0;
	out->writes_overflow = false;
	out->n_ports = 0;
	/* emu observes everything: the mask is zeroed once per result struct, not every step. */
	if (b->unobserved_zeroed != out) {
		memset(&out->unobserved, 0, sizeof(out->unobserved));
		b->unobserved_zeroed = out;
	}
	if (in->n_inputs > b->used_cap) {
		uint32_t *u = realloc(b->used, in->n_inputs * sizeof(*u));
		if (!u)
			return -ENOMEM;
		b->used = u;
		b->used_cap = in->n_inputs;
	}
	if (in->n_inputs && !in->continued)
		memset(b->used, 0, in->n_inputs * sizeof(*b->used));
	b->in = in;
	b->out = out;
	b->missing = false;
	/* emu runs on the result's copy; pre is the state before it, for a step that does not run. */
	const struct x86_state *pre = &b->st;
	if (b->loaded)
		pre = b->loaded, out->post = *pre;
	else if (b->post_current && out == b->last_out)
		b->st = out->post;
	else if (b->post_current)
		b->st = b->last_out->post, out->post = b->st;
	else
		out->post = b->st;
	b->loaded = NULL;
	b->post_current = false;
	b->last_out = out;
	if (in->event)
		inject(&out->post, in->event);
	struct emu_ctxt *ctxt = &b->ctxt;
	ctxt->st = &out->post;
	ctxt->ops = &emu_backend_ops;
	ctxt->opaque = b;
	ctxt->deliver_exceptions = true;
	enum emu_status s = emu_step(ctxt);
	/* MOV SS/POP SS from outside a shadow: silicon's single-step also runs the instruction it shadows. */
	if (s == EMU_OK && b->step_over_mov_ss_shadow && (out->post.events.shadow & X86_SHADOW_MOV_SS) &&
	    !(pre->events.shadow & X86_SHADOW_MOV_SS))
		s = emu_step(ctxt);
	b->in = NULL;
	b->out = NULL;
	switch (s) {
	case EMU_OK:
	case EMU_HALT:
	case EMU_SHUTDOWN:
	case EMU_EXCEPTION:
		/* An exception that could not be delivered stays pending, as KVM reports it. */
		if (s == EMU_EXCEPTION) {
			out->post.events.exc_pending = 1;
			out->post.events.exc_vector = ctxt->event.vector;
			out->post.events.exc_has_error = ctxt->event.has_error;
			out->post.events.exc_error_code = ctxt->event.error_code;
		}
		if (in->event)
			x86_event_taken(&out->post);
		if (s == EMU_SHUTDOWN)
			snprintf(out->reason, sizeof(out->reason), "triple fault");
		out->outcome = BACKEND_STEPPED;
		b->post_current = true;
		break;
	case EMU_UNIMPLEMENTED:
		out->outcome = BACKEND_UNSUPPORTED;
		snprintf(out->reason, sizeof(out->reason), "emu: %s not implemented",
		         ctxt->info.unimplemented[0] ? ctxt->info.unimplemented : "instruction");
		not_run(b, pre, in->event, out);
		break;
	case EMU_IO_ERROR:
	default:
		out->outcome = BACKEND_UNSUPPORTED;
		snprintf(out->reason, sizeof(out->reason), "%s",
		         b->missing ? b->missing_reason : "emu: a memory or I/O callback failed");
		not_run(b, pre, in->event, out);
		break;
	}
	return 0;
}

const struct backend_ops backend_emu_ops = {
    .name = "emu",
    .open = emu_open,
    .write_mem = emu_write_mem,
    .read_mem = emu_read_mem,
    .set_state = emu_set_state,
    .step = emu_backend_step,
    .close = emu_close,
};
