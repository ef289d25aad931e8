/* --fallback emu: where KVM's emulator gives up (protected-mode IRET, INT n,
 * LAR on PVM hosts), emu executes that one instruction against the VM's
 * memory and devices, the result goes back into KVM, and the step is marked
 * FALLBACK so that no replay takes it for ground truth. The same callbacks
 * run every instruction of an --engine emu recording (engine_emu.c),
 * which also writes each port and MMIO access as an exits row, as KVM exits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../emu/emu.h"
#include "../machine/devices.h"
#include "../machine/pc.h"
#include "../vmx-shim/shim.h"
#include "private.h"

/* One value emu was given, as a single input row. */
static int fb_record_input(struct rec *r, enum trace_input_kind kind, uint64_t addr, unsigned size,
                           const void *data)
{
	return rec_add_input(r, kind, addr, size, 1, data);
}

/* --engine emu: the access as the exits row KVM would have given (KVM_EXIT_IO 2, KVM_EXIT_MMIO 6). */
static int fb_record_exit(struct rec *r, enum trace_exit_reason reason, uint64_t addr, unsigned size,
                          bool is_write, const void *data)
{
	if (!r->engine->emu_is_reference)
		return 0;
	struct trace_exit e = {
	    .step = r->summary->steps,
	    .reason = reason,
	    .kvm_reason = reason == TRACE_EXIT_IO ? 2 : 6,
	    .addr = addr,
	    .size = (uint8_t)size,
	    .is_write = is_write,
	    .count = 1,
	    .data_len = size,
	};
	memcpy(e.data, data, size);
	r->summary->exits++;
	return trace_append_exit(r->t, &e);
}

/* With the A20 gate off, 0x100000-0x10FFFF is the RAM at 0-0xFFFF again (as shim_set_a20 maps it). */
static uint64_t fb_a20(const struct rec *r, uint64_t gpa)
{
	return !r->a20_on && gpa >= 0x100000 && gpa < 0x110000 ? gpa - 0x100000 : gpa;
}

static enum emu_status fb_read_phys(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	struct rec *r = opaque;
	gpa = fb_a20(r, gpa);
	if (gpa + len <= r->ram_size) {
		memcpy(buf, r->ram + gpa, len);
		return EMU_OK;
	}
	/* ROM reads never exit on KVM; its writes do, as MMIO nobody claims. */
	if (r->rom && gpa >= r->rom_base && gpa + len <= r->rom_base + r->rom_len) {
		memcpy(buf, r->rom + (gpa - r->rom_base), len);
		return EMU_OK;
	}
	if (len > 8)
		return EMU_IO_ERROR;
	memset(buf, 0, len);
	devbus_mmio(r->bus, gpa, len, false, buf);
	if (fb_record_exit(r, TRACE_EXIT_MMIO, gpa, len, false, buf))
		return EMU_IO_ERROR;
	return fb_record_input(r, TRACE_INPUT_MMIO_READ, gpa, len, buf) ? EMU_IO_ERROR : EMU_OK;
}

static enum emu_status fb_write_phys(void *opaque, uint64_t gpa, const void *buf, unsigned len)
{
	struct rec *r = opaque;
	gpa = fb_a20(r, gpa);
	if (gpa + len <= r->ram_size) {
		/* Every write, the page walk's accessed and dirty bits too; host writes escape the dirty log.
		 */
		memcpy(r->ram + gpa, buf, len);
		if (r->shadow)
			memcpy(r->shadow + gpa, buf, len);
		return rec_add_write(r, gpa, buf, len) ? EMU_IO_ERROR : EMU_OK;
	}
	if (len > 8)
		return EMU_IO_ERROR;
	uint8_t tmp[8];
	memcpy(tmp, buf, len);
	devbus_mmio(r->bus, gpa, len, true, tmp);
	return fb_record_exit(r, TRACE_EXIT_MMIO, gpa, len, true, buf) ? EMU_IO_ERROR : EMU_OK;
}

static enum emu_status fb_port_in(void *opaque, uint16_t port, unsigned size, uint32_t *value)
{
	struct rec *r = opaque;
	uint8_t data[4] = {0};
	devbus_pio(r->bus, port, size, false, data, 1);
	*value =
	    (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	if (fb_record_exit(r, TRACE_EXIT_IO, port, size, false, data))
		return EMU_IO_ERROR;
	return fb_record_input(r, TRACE_INPUT_PIO_IN, port, size, data) ? EMU_IO_ERROR : EMU_OK;
}

static enum emu_status fb_port_out(void *opaque, uint16_t port, unsigned size, uint32_t value)
{
	struct rec *r = opaque;
	uint8_t data[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
	                   (uint8_t)(value >> 24)};
	devbus_pio(r->bus, port, size, true, data, 1);
	rec_serial_out(r, port, size, data, 1);
	return fb_record_exit(r, TRACE_EXIT_IO, port, size, true, data) ? EMU_IO_ERROR : EMU_OK;
}

/* The entry for (leaf, subleaf): one that names its index (KVM_CPUID_FLAG_SIGNIFCANT_INDEX) only for that
 * index, else the first of the leaf; NULL reads as zeros. */
static const struct shim_cpuid_entry *fb_cpuid_entry(const struct shim_cpuid_entry *e, size_t n,
                                                     uint32_t leaf, uint32_t subleaf)
{
	const struct shim_cpuid_entry *any = NULL;
	for (size_t i = 0; i < n; i++) {
		if (e[i].function != leaf)
			continue;
		if (e[i].index == subleaf)
			return &e[i];
		if (!(e[i].flags & 1u) && !any)
			any = &e[i];
	}
	return any;
}

static enum emu_status fb_cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	struct rec *r = opaque;
	const struct shim_cpuid_entry *e, *hit = NULL;
	size_t n;
	memset(out, 0, 4 * sizeof(out[0]));
	if (rec_cpuid_entries(r, &e, &n) == 0)
		hit = fb_cpuid_entry(e, n, leaf, subleaf);
	if (hit)
		out[0] = hit->eax, out[1] = hit->ebx, out[2] = hit->ecx, out[3] = hit->edx;
	return fb_record_input(r, TRACE_INPUT_CPUID, leaf | (uint64_t)subleaf << 32, 16, out) ? EMU_IO_ERROR
	                                                                                      : EMU_OK;
}

/* The virtual TSC advances with recorded steps, never with wall time; on the PC machine under --engine emu
 * it is the virtual clock, which the local APIC's TSC-deadline timer compares with. */
static enum emu_status fb_rdtsc(void *opaque, uint64_t *tsc)
{
	struct rec *r = opaque;
	if (r->pc && r->engine->emu_is_reference)
		*tsc = pc_lapic_tsc(r->bus);
	else
		*tsc = r->virtual_tsc = r->virtual_tsc + r->summary->steps + 1;
	return fb_record_input(r, TRACE_INPUT_RDTSC, 0, 8, tsc) ? EMU_IO_ERROR : EMU_OK;
}

/* A recorded fallback has no entropy source: RDRAND reports failure (CF=0), as silicon may. */
static enum emu_status fb_rdrand(void *opaque, bool seed, unsigned size, uint64_t *value, bool *ok)
{
	struct rec *r = opaque;
	*value = 0;
	*ok = false;
	return fb_record_input(r, TRACE_INPUT_RDRAND, seed, size, value) ? EMU_IO_ERROR : EMU_OK;
}

static enum emu_status fb_msr_unknown(void *opaque, uint32_t msr, uint64_t *value, bool *known)
{
	(void)opaque;
	(void)msr;
	*value = 0;
	*known = false;
	return EMU_OK;
}

static enum emu_status fb_wrmsr_unknown(void *opaque, uint32_t msr, uint64_t value, bool *known)
{
	(void)opaque;
	(void)msr;
	(void)value;
	*known = false;
	return EMU_OK;
}

/* --engine emu: the MSRs of the --cpu model (machine/cpu_model.c: MISC_ENABLE, the machine-check banks) and
 * their write rules; every other MSR emu does not model raises #GP. A value read is an input of the step. */
static enum emu_status fb_rdmsr(void *opaque, uint32_t msr, uint64_t *value, bool *known)
{
	struct rec *r = opaque;
	if (!r->engine->emu_is_reference)
		return fb_msr_unknown(opaque, msr, value, known);
	/* The local APIC's MSRs, then the CPU model's; elsewhere #GP (a replay raises #GP where no value was
	 * recorded). */
	if ((!r->pc || pc_lapic_rdmsr(r->bus, msr, value)) && !cpu_msr_read(&r->cpu, &r->msrs, msr, value))
		return fb_msr_unknown(opaque, msr, value, known);
	*known = true;
	return fb_record_input(r, TRACE_INPUT_RDMSR, msr, 8, value) ? EMU_IO_ERROR : EMU_OK;
}

static enum emu_status fb_wrmsr(void *opaque, uint32_t msr, uint64_t value, bool *known)
{
	struct rec *r = opaque;
	if (!r->engine->emu_is_reference)
		return fb_wrmsr_unknown(opaque, msr, value, known);
	if (r->pc && !pc_lapic_wrmsr(r->bus, msr, value))
		*known = true;
	else
		*known = cpu_msr_write(&r->cpu, &r->msrs, msr, value);
	return EMU_OK;
}

const struct emu_ops rec_emu_ops = {
    .read_phys = fb_read_phys,
    .write_phys = fb_write_phys,
    .port_in = fb_port_in,
    .port_out = fb_port_out,
    .cpuid = fb_cpuid,
    .rdtsc = fb_rdtsc,
    .rdrand = fb_rdrand,
    .rdmsr = fb_rdmsr,
    .wrmsr = fb_wrmsr,
};

int rec_fallback_step(struct rec *r, const struct x86_state *pre)
{
	struct x86_state st;
	int rc = shim_get_state(r->vm, &st, true);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", shim_error(r->vm));
		return rc;
	}
	struct x86_state before = st;
	struct emu_ctxt ctxt = {.st = &st, .ops = &rec_emu_ops, .opaque = r, .deliver_exceptions = true};
	r->n_writes = 0;
	r->arena_used = 0;
	r->n_inputs = 0;
	enum emu_status s = emu_step(&ctxt);
	switch (s) {
	case EMU_OK:
	case EMU_HALT:
	case EMU_EXCEPTION:
		break;
	case EMU_SHUTDOWN:
		r->ended = true;
		r->summary->end = REC_END_SHUTDOWN;
		snprintf(r->summary->end_detail, sizeof(r->summary->end_detail),
		         "triple fault in the emu fallback at %04x:%llx", pre->seg[X86_CS].selector,
		         (unsigned long long)pre->rip);
		return 0;
	default:
		r->ended = true;
		r->summary->end = REC_END_EMULATION_FAILURE;
		snprintf(r->summary->end_detail, sizeof(r->summary->end_detail),
		         "KVM and emu both cannot execute the instruction at %04x:%llx (emu: %s %s)",
		         pre->seg[X86_CS].selector, (unsigned long long)pre->rip, emu_status_name(s),
		         ctxt.info.unimplemented);
		return 0;
	}
	rc = shim_set_state(r->vm, &st);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "writing the emu result back into KVM: %s", shim_error(r->vm));
		return rc;
	}
	struct trace_step step = {
	    .index = r->summary->steps,
	    .kind = TRACE_STEP_FALLBACK,
	    .pre = before,
	    .n_writes = (uint32_t)r->n_writes,
	    .writes = r->writes,
	    .n_inputs = (uint32_t)r->n_inputs,
	    .inputs = r->inputs,
	};
	rc = trace_append_step(r->t, &step);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return rc;
	}
	r->summary->steps++;
	r->summary->fallback_steps++;
	r->cur = st;
	return 0;
}

/* Reads only: the instruction is run on a copy of the state and its writes are dropped. */
static enum emu_status probe_write_phys(void *opaque, uint64_t gpa, const void *buf, unsigned len)
{
	(void)opaque;
	(void)gpa;
	(void)buf;
	(void)len;
	return EMU_OK;
}

static enum emu_status probe_read_phys(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	struct rec *r = opaque;
	if (gpa + len > r->ram_size)
		return EMU_IO_ERROR;
	memcpy(buf, r->ram + gpa, len);
	return EMU_OK;
}

bool rec_guest_sets_tf(struct rec *r, const struct x86_state *pre)
{
	static const struct emu_ops probe_ops = {
	    .read_phys = probe_read_phys,
	    .write_phys = probe_write_phys,
	    .rdmsr = fb_msr_unknown,
	    .wrmsr = fb_wrmsr_unknown,
	};
	struct x86_state st = *pre;
	struct emu_ctxt ctxt = {.st = &st, .ops = &probe_ops, .opaque = r};
	return emu_step(&ctxt) == EMU_OK && (st.rflags & X86_RFLAGS_TF);
}
