/* The kvm backend: re-executes a step on /dev/kvm (state set, single-step once),
 * a live reference that makes a trace re-checkable on another host. Guest RAM
 * is one slot at GPA 0; ROM regions are read-only slots; the rest is MMIO and
 * reads the step's recorded values. Writes are found through the dirty log and
 * a shadow copy of RAM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vmx-shim/shim.h"
#include "../x86/x86_event.h"
#include "backend.h"
#include "backend_input.h"

struct kvm_rom {
	uint64_t gpa, len;
	uint8_t *data;
};

struct backend {
	struct shim_vm *vm;
	uint8_t *ram;    /* shim_ram() */
	uint8_t *shadow; /* RAM as the replayer last wrote it */
	size_t ram_size;
	struct kvm_rom *roms;
	size_t n_roms;
	bool roms_mapped;
	struct backend_result *out;
	uint32_t *used;
	size_t used_cap;
	int dirty_err;
};

static void kvm_close(struct backend *b)
{
	if (!b)
		return;
	shim_close(b->vm);
	for (size_t i = 0; i < b->n_roms; i++)
		free(b->roms[i].data);
	free(b->roms);
	free(b->shadow);
	free(b->used);
	free(b);
}

static int kvm_open(struct backend **out, const struct backend_config *cfg, char *err, size_t errlen)
{
	struct backend *b = calloc(1, sizeof(*b));
	uint64_t ram_end = 0;
	int ret = -ENOMEM;
	if (!b)
		goto nomem;
	b->roms = calloc(cfg->n_regions ? cfg->n_regions : 1, sizeof(*b->roms));
	if (!b->roms)
		goto nomem;
	for (size_t i = 0; i < cfg->n_regions; i++) {
		const struct backend_region *r = &cfg->regions[i];
		if (r->rom) {
			struct kvm_rom *rom = &b->roms[b->n_roms];
			rom->gpa = r->gpa;
			rom->len = r->len;
			rom->data = calloc(1, r->len ? r->len : 1);
			if (!rom->data)
				goto nomem;
			b->n_roms++;
		} else if (r->gpa + r->len > ram_end) {
			ram_end = r->gpa + r->len;
		}
	}
	ram_end = (ram_end + TRACE_PAGE_SIZE - 1) & ~(uint64_t)(TRACE_PAGE_SIZE - 1);
	struct shim_config sc = {.ram_bytes = ram_end ? ram_end : TRACE_PAGE_SIZE, .dirty_log = true};
	ret = shim_open(&b->vm, &sc);
	if (ret < 0) {
		snprintf(err, errlen, "kvm backend: %s", shim_last_open_error());
		if (ret == -ENOENT || ret == -EACCES || ret == -ENODEV || ret == -EPERM)
			ret = -ENODEV;
		goto out;
	}
	b->ram = shim_ram(b->vm);
	b->ram_size = shim_ram_size(b->vm);
	b->shadow = calloc(1, b->ram_size);
	if (!b->shadow)
		goto nomem;
	ret = shim_set_singlestep(b->vm, true);
	if (ret < 0) {
		snprintf(err, errlen, "kvm backend: %s", shim_error(b->vm));
		goto out;
	}
	*out = b;
	return 0;
nomem:
	snprintf(err, errlen, "kvm backend: out of memory for guest memory");
	ret = -ENOMEM;
out:
	kvm_close(b);
	return ret;
}

static struct kvm_rom *rom_of(struct backend *b, uint64_t gpa)
{
	for (size_t i = 0; i < b->n_roms; i++)
		if (gpa >= b->roms[i].gpa && gpa - b->roms[i].gpa < b->roms[i].len)
			return &b->roms[i];
	return NULL;
}

static int kvm_access_mem(struct backend *b, uint64_t gpa, void *data, size_t len, bool write)
{
	uint8_t *p = data;
	while (len) {
		size_t n;
		if (gpa < b->ram_size) {
			n = b->ram_size - gpa < len ? b->ram_size - gpa : len;
			if (write) {
				memcpy(b->ram + gpa, p, n);
				memcpy(b->shadow + gpa, p, n);
			} else {
				memcpy(p, b->ram + gpa, n);
			}
		} else {
			struct kvm_rom *rom = rom_of(b, gpa);
			if (!rom)
				return -EFAULT;
			n = rom->len - (gpa - rom->gpa) < len ? rom->len - (gpa - rom->gpa) : len;
			/* ROM contents are fixed once mapped. */
			if (write && !b->roms_mapped)
				memcpy(rom->data + (gpa - rom->gpa), p, n);
			else if (!write)
				memcpy(p, rom->data + (gpa - rom->gpa), n);
		}
		gpa += n, p += n, len -= n;
	}
	return 0;
}

static int kvm_write_mem(struct backend *b, uint64_t gpa, const void *data, size_t len)
{
	return kvm_access_mem(b, gpa, (void *)data, len, true);
}

static int kvm_read_mem(struct backend *b, uint64_t gpa, void *data, size_t len)
{
	return kvm_access_mem(b, gpa, data, len, false);
}

static int kvm_set_state(struct backend *b, const struct x86_state *st)
{
	return shim_set_state(b->vm, st);
}

/* Turns one dirty page into byte-range writes against the shadow copy. */
static void dirty_page(void *arg, uint64_t gpa)
{
	struct backend *b = arg;
	if (gpa >= b->ram_size)
		return;
	size_t end = gpa + TRACE_PAGE_SIZE <= b->ram_size ? gpa + TRACE_PAGE_SIZE : b->ram_size;
	for (size_t i = gpa; i < end;) {
		if (b->ram[i] == b->shadow[i]) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < end && b->ram[j] != b->shadow[j])
			j++;
		if (b->out)
			backend_result_add_write(b->out, i, b->ram + i, (unsigned)(j - i), false);
		memcpy(b->shadow + i, b->ram + i, j - i);
		i = j;
	}
}

/* Answers one I/O or MMIO exit from the recorded inputs and completes it. */
static int answer_io(struct backend *b, const struct backend_step_input *in, struct backend_result *out,
                     struct shim_exit *exp)
{
	struct shim_exit ex = *exp;
	bool pio = ex.kind == SHIM_EXIT_IO;
	if (!ex.is_write) {
		uint32_t reps = pio && ex.count ? ex.count : 1;
		/* REP INS of more than 16 bytes reads into KVM's buffer. */
		bool big = pio && ex.pio_data && (uint64_t)reps * ex.size > sizeof(ex.data);
		uint8_t *dst = big ? ex.pio_data : ex.data;
		uint64_t room = big ? (uint64_t)reps * ex.size : sizeof(ex.data);
		for (uint32_t r = 0; r < reps && (uint64_t)(r + 1) * ex.size <= room; r++) {
			const uint8_t *x =
			    backend_take_input(in, b->used, pio ? TRACE_INPUT_PIO_IN : TRACE_INPUT_MMIO_READ,
			                       ex.addr, true, ex.size);
			if (!x) {
				if (out->outcome == BACKEND_STEPPED) {
					out->outcome = BACKEND_UNSUPPORTED;
					snprintf(out->reason, sizeof(out->reason),
					         BACKEND_IO_REASON "no recorded %s 0x%llx (%u bytes)",
					         pio ? "IN from port" : "MMIO read at",
					         (unsigned long long)ex.addr, ex.size);
				}
				break;
			}
			memcpy(dst + (uint64_t)r * ex.size, x, ex.size);
		}
	}
	/* MMIO stores are stores: the recording lists them with the step's writes. */
	if (!pio && ex.is_write)
		backend_result_add_write(out, ex.addr, ex.data,
		                         ex.size < sizeof(ex.data) ? ex.size : sizeof(ex.data), false);
	if (pio && out->n_ports < BACKEND_MAX_PORTS) {
		uint32_t v = 0;
		memcpy(&v, ex.data, ex.size < 4 ? ex.size : 4);
		out->ports[out->n_ports++] = (struct backend_port){
		    .port = (uint16_t)ex.addr, .size = ex.size, .is_out = ex.is_write, .value = v};
	}
	*exp = ex;
	return shim_complete_io(b->vm, &ex);
}

/* An MSR KVM hands to user space (the local APIC's, without an in-kernel one): a RDMSR takes the recorded
 * value, and without one raises #GP as it did when recorded; a WRMSR raises #GP where the recording did. */
static int answer_msr(struct backend *b, const struct backend_step_input *in, struct shim_exit *ex)
{
	if (!ex->is_write) {
		const uint8_t *x = backend_take_input(in, b->used, TRACE_INPUT_RDMSR, ex->addr, true, 8);
		ex->msr_gp = !x;
		if (x)
			memcpy(ex->data, x, 8);
	} else if (in->expected) {
		struct x86_state at;
		int ret = shim_get_state(b->vm, &at, false);
		if (ret < 0)
			return ret;
		/* KVM says no length: 0F 30, the encoding compilers and assemblers emit. */
		ex->msr_gp = !backend_wrmsr_taken(in, &at, 2);
	}
	return shim_complete_io(b->vm, ex);
}

static int kvm_backend_step(struct backend *b, const struct backend_step_input *in,
                            struct backend_result *out)
{
	struct shim_exit ex;
	int ret;

	memset(out, 0, sizeof(*out));
	if (in->n_inputs > b->used_cap) {
		uint32_t *u = realloc(b->used, in->n_inputs * sizeof(*u));
		if (!u)
			return -ENOMEM;
		b->used = u;
		b->used_cap = in->n_inputs;
	}
	if (in->n_inputs && !in->continued)
		memset(b->used, 0, in->n_inputs * sizeof(*b->used));
	if (!b->roms_mapped) {
		for (size_t i = 0; i < b->n_roms; i++) {
			ret = shim_map_rom(b->vm, b->roms[i].gpa, b->roms[i].data, b->roms[i].len);
			if (ret < 0)
				goto failed;
		}
		b->roms_mapped = true;
	}
	if (in->event && in->event->type == 0) {
		/* An external interrupt goes in as the recorder injected it: KVM_INTERRUPT. */
		ret = shim_inject_interrupt(b->vm, in->event->vector);
		if (ret < 0)
			goto failed;
	} else if (in->event && in->event->type == X86_EVENT_NMI) {
		/* As the recorder injected it: single-step's BLOCKIRQ holds back a pending NMI. */
		ret = shim_inject_nmi(b->vm);
		if (ret < 0)
			goto failed;
	} else if (in->event) {
		struct x86_state st;
		ret = shim_get_state(b->vm, &st, true);
		if (ret < 0)
			goto failed;
		x86_event_queue(&st, in->event->type, in->event->vector, in->event->has_error,
		                in->event->error_code);
		ret = shim_set_state(b->vm, &st);
		if (ret < 0)
			goto failed;
	}
	/* Forget writes made before this step (the replayer's own go through the shadow). */
	b->out = NULL;
	ret = shim_dirty_pages(b->vm, dirty_page, b);
	if (ret < 0)
		goto failed;

	struct x86_state pre;
	bool guest_tf = shim_step_uses_guest_tf(b->vm);
	if (guest_tf && (ret = shim_get_state(b->vm, &pre, false)) < 0)
		goto failed;
	out->outcome = BACKEND_STEPPED;
	for (int spins = 0;; spins++) {
		ret = shim_run(b->vm, &ex);
		if (ret < 0)
			goto failed;
		if (ex.kind == SHIM_EXIT_INTR && spins < 16)
			continue;
		/* A refused MSR's #GP is delivered in the same step, as the recording did. */
		if (ex.kind == SHIM_EXIT_MSR && ((ret = answer_msr(b, in, &ex)) < 0 || ex.msr_gp)) {
			if (ret < 0)
				goto failed;
			continue;
		}
		break;
	}
	switch (ex.kind) {
	case SHIM_EXIT_IO:
	case SHIM_EXIT_MMIO:
		/* One instruction may need several exits (MMIO read-modify-write, chunked string I/O). */
		for (;;) {
			ret = answer_io(b, in, out, &ex);
			if (ret < 0 || !shim_exit_pending(b->vm))
				break;
			ret = shim_run(b->vm, &ex);
			if (ret < 0)
				break;
			if (ex.kind != SHIM_EXIT_IO && ex.kind != SHIM_EXIT_MMIO) {
				out->outcome = BACKEND_FAILED;
				snprintf(out->reason, sizeof(out->reason),
				         "kvm: exit %u in the middle of an I/O instruction", ex.kvm_reason);
				break;
			}
		}
		if (ret < 0)
			goto failed;
		break;
	case SHIM_EXIT_DEBUG:
	case SHIM_EXIT_HLT:
	case SHIM_EXIT_MSR:
		break;
	case SHIM_EXIT_SHUTDOWN:
		snprintf(out->reason, sizeof(out->reason), "triple fault");
		break;
	case SHIM_EXIT_INTERNAL_ERROR:
		out->outcome = BACKEND_UNSUPPORTED;
		snprintf(out->reason, sizeof(out->reason), "kvm: emulation failure (suberror %u)",
		         ex.suberror);
		break;
	default:
		out->outcome = BACKEND_FAILED;
		snprintf(out->reason, sizeof(out->reason), "kvm: unexpected exit %u while single-stepping",
		         ex.kvm_reason);
		break;
	}
	ret = shim_get_state(b->vm, &out->post, true);
	if (ret < 0)
		goto failed;
	if (guest_tf && shim_step_unset_tf(b->vm, b->shadow, &pre, &out->post) == 1 &&
	    out->outcome == BACKEND_STEPPED) {
		out->outcome = BACKEND_UNSUPPORTED;
		snprintf(out->reason, sizeof(out->reason),
		         "kvm: the step delivered an interrupt or exception whose handler ran unstepped "
		         "(VT-x/SVM single-step: the delivery clears TF)");
	}
	/* The shim never reads the TSC (wall time) and KVM without an irqchip has no halted state. */
	memset(&out->unobserved.msr[X86_MSR_TSC], 0xff, sizeof(out->unobserved.msr[0]));
	out->unobserved.events.halted = 0xff;
	b->out = out;
	ret = shim_dirty_pages(b->vm, dirty_page, b);
	b->out = NULL;
	if (ret < 0)
		goto failed;
	return 0;
failed:
	b->out = NULL;
	out->outcome = BACKEND_FAILED;
	snprintf(out->reason, sizeof(out->reason), "kvm: %s", shim_error(b->vm));
	return 0;
}

const struct backend_ops backend_kvm_ops = {
    .name = "kvm",
    .open = kvm_open,
    .write_mem = kvm_write_mem,
    .read_mem = kvm_read_mem,
    .set_state = kvm_set_state,
    .step = kvm_backend_step,
    .close = kvm_close,
};
