/* Local APIC of the PC machine's one CPU: the xAPIC page (at IA32_APIC_BASE, 0xfee00000 after reset) and
 * the x2APIC MSRs 0x800-0x8ff, IA32_TSC_DEADLINE, the timer, IPIs to itself, and LINT0 in front of the
 * 8259 PIC. It becomes the bus's interrupt controller and keeps the PIC behind it as the ExtINT source; it
 * passes IRQ line changes and the EOIs of level-triggered vectors on to the I/O APIC (ioapic.c).
 *
 * Why a user-space model and not KVM's in-kernel LAPIC: the project runs KVM without an in-kernel irqchip
 * and injects every interrupt with KVM_INTERRUPT, so each interrupt is an events row the recorder chose at a
 * known step. KVM's LAPIC would take the timer from host time (hrtimers) and deliver interrupts inside
 * KVM_RUN, at points the recorder neither chooses nor sees; two recordings of one guest would differ and a
 * replay could not reproduce them. This model counts the bus's virtual clock (one unit per recorded step
 * or exit, as the PIT does), so timer interrupts land at the same step in every recording, and its state
 * is a device record in the checkpoints. Without an in-kernel LAPIC the xAPIC page is unbacked guest
 * memory, so KVM gives every access as an MMIO exit the recorder already answers from the bus and records;
 * under --engine emu the same accesses reach it through emu's MMIO callbacks, and the MSRs through emu's
 * RDMSR/WRMSR callbacks.
 *
 * Choices: the TSC that IA32_TSC_DEADLINE compares with is the virtual clock (pc_lapic_tsc), which is the
 * guest's TSC under --engine emu. Under KVM the guest's RDTSC reads the host's TSC plus an offset and runs
 * with wall time (KVM has no RDTSC exit, and TSC scaling only changes the rate), so no recorder can make it
 * deterministic; while the timer is in TSC-deadline mode (pc_lapic_tsc_deadline_mode) the KVM engine sets
 * the guest's TSC to the virtual clock before every run (KVM_VCPU_TSC_OFFSET), so it reads that clock plus
 * the host time since the run began. A deadline the guest computes from it is that much late: the timer
 * fires at a step that host timing chose, which the trace's events row then fixes for replay, and never
 * before the guest's TSC reaches the deadline. The timer
 * counts one virtual clock unit per tick before the divider. ICR deliveries complete at once (the
 * delivery-status bit never reads busy). There is no other CPU: an IPI reaches only this APIC (its own ID,
 * a broadcast or a matching logical destination, or the self shorthands). INIT to itself is a reset
 * request (pc_reset_requested), as INIT makes the bootstrap processor restart at the reset vector; a
 * SIPI to itself is dropped (the CPU never waits for one). IA32_APIC_BASE belongs to the CPU state (emu and
 * KVM keep it and check its writes); the run loop hands every change to pc_lapic_set_base. After reset
 * LINT0 is ExtINT and unmasked (virtual wire, as PC firmware and KVM set it up for the bootstrap
 * processor) so guests that only know the PIC run as without an APIC; globally disabling the APIC also
 * lets the PIC through, and re-enabling it starts from the power-up state (every LVT masked). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"
#include "private.h"

#define APIC_BASE_BSP    (1ull << 8)
#define APIC_BASE_EXTD   (1ull << 10)
#define APIC_BASE_EN     (1ull << 11)
#define APIC_BASE_ADDR   0x7ffffff000ull /* bits 38:12: the 39-bit physical addresses of the CPU models */
#define APIC_BASE_RESET  (PC_LAPIC_BASE | APIC_BASE_EN | APIC_BASE_BSP)
#define LAPIC_VERSION    0x00050014u /* version 0x14, six LVT entries (max LVT index 5), no EOI suppression */
#define LVT_MASKED       (1u << 16)
#define LVT_MODE(v)      (((v) >> 8) & 7u)
#define MODE_FIXED       0u
#define MODE_LOWEST      1u
#define MODE_NMI         4u
#define MODE_INIT        5u
#define MODE_SIPI        6u
#define MODE_EXTINT      7u
#define TIMER_ONESHOT    0u
#define TIMER_PERIODIC   1u
#define TIMER_DEADLINE   2u
#define SVR_ENABLE       (1u << 8)
#define ESR_SEND_ILLEGAL 0x20u
#define ESR_RECV_ILLEGAL 0x40u
#define ESR_ILLEGAL_REG  0x80u
#define MSR_TSC_DEADLINE 0x6e0u
#define MSR_X2APIC_FIRST 0x800u
#define MSR_X2APIC_LAST  0x8ffu

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, NLVT };

/* Writable bits of each LVT entry (delivery status and remote IRR are read-only). */
static const uint32_t lvt_writable[NLVT] = {0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff};

/* The checkpoint record: plain bytes, no padding. */
struct lapic_regs {
	uint64_t base;        /* IA32_APIC_BASE as the CPU last had it */
	uint64_t timer_start; /* virtual time the running count began */
	uint64_t tsc_deadline;
	uint32_t id; /* the x2APIC ID; xAPIC shows it in bits 31:24 */
	uint32_t tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
	uint32_t lvt[NLVT];
	uint32_t timer_initial, timer_count, timer_dcr; /* timer_count: the count timer_start began with */
	uint32_t isr[8], irr[8], tmr[8];
	uint8_t timer_running;
	uint8_t nmi_pending;
	uint8_t init_pending;
	uint8_t lint0_level; /* the PIC's output as last seen, for LINT0 in fixed or NMI mode */
	uint8_t pad[4];
};

struct lapic {
	struct lapic_regs r;
	struct devbus *bus;
	struct devbus_dev *dev;
	uint64_t mapped; /* where the xAPIC page is mapped on the bus */
	const struct devbus_intc_ops *pic;
	void *pic_opaque;
	struct ioapic *ioapic; /* told of IRQ line changes and of EOIs of level-triggered vectors */
};

static bool hw_enabled(const struct lapic *l)
{
	return l->r.base & APIC_BASE_EN;
}

static bool x2apic(const struct lapic *l)
{
	return (l->r.base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

static int highest_bit(const uint32_t v[8])
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static void set_bit(uint32_t v[8], unsigned vec, bool on)
{
	if (on)
		v[vec / 32] |= 1u << (vec % 32);
	else
		v[vec / 32] &= ~(1u << (vec % 32));
}

static uint32_t ppr(const struct lapic *l)
{
	int isrv = highest_bit(l->r.isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
	return (l->r.tpr & 0xf0) >= isr_class ? l->r.tpr & 0xff : isr_class;
}

static void accept_fixed(struct lapic *l, unsigned vector, bool level);

/* An error bit: latched until the next ESR write, and the error LVT's interrupt. */
static void lapic_error(struct lapic *l, uint32_t bit)
{
	uint32_t lvt = l->r.lvt[LVT_ERROR];
	if (l->r.esr_pending & bit)
		return;
	l->r.esr_pending |= bit;
	if (!(lvt & LVT_MASKED))
		accept_fixed(l, lvt & 0xff, false);
}

/* A fixed interrupt arrives: IRR (and TMR for level), unless the APIC is software-disabled. */
static void accept_fixed(struct lapic *l, unsigned vector, bool level)
{
	if (!(l->r.svr & SVR_ENABLE))
		return;
	if (vector < 16) {
		lapic_error(l, ESR_RECV_ILLEGAL);
		return;
	}
	set_bit(l->r.irr, vector, true);
	set_bit(l->r.tmr, vector, level);
}

/* Local interrupt through an LVT entry (timer, LINT0/1 edge, error). */
static void lvt_deliver(struct lapic *l, unsigned idx)
{
	uint32_t lvt = l->r.lvt[idx];
	if (!hw_enabled(l) || (lvt & LVT_MASKED))
		return;
	switch (idx == LVT_TIMER || idx == LVT_ERROR ? MODE_FIXED : LVT_MODE(lvt)) {
	case MODE_FIXED:
		accept_fixed(l, lvt & 0xff, false);
		break;
	case MODE_NMI:
		l->r.nmi_pending = 1;
		break;
	default: /* SMI, INIT and ExtINT through an LVT have no source on this machine */
		break;
	}
}

static unsigned timer_mode(const struct lapic *l)
{
	return (l->r.lvt[LVT_TIMER] >> 17) & 3u;
}

static uint64_t timer_divisor(const struct lapic *l)
{
	unsigned v = (l->r.timer_dcr & 3u) | ((l->r.timer_dcr >> 1) & 4u);
	return v == 7 ? 1 : 2u << v;
}

static uint64_t timer_expiry(const struct lapic *l)
{
	return l->r.timer_start + (uint64_t)l->r.timer_count * timer_divisor(l);
}

static uint32_t timer_current(const struct lapic *l, uint64_t now)
{
	if (!l->r.timer_running || timer_mode(l) == TIMER_DEADLINE)
		return 0;
	uint64_t ticks = (now - l->r.timer_start) / timer_divisor(l);
	return ticks >= l->r.timer_count ? 0 : l->r.timer_count - (uint32_t)ticks;
}

static void timer_schedule(struct lapic *l)
{
	uint64_t when = DEVBUS_NEVER;
	if (timer_mode(l) == TIMER_DEADLINE)
		when = l->r.tsc_deadline ? l->r.tsc_deadline : DEVBUS_NEVER;
	else if (l->r.timer_running)
		when = timer_expiry(l);
	devbus_set_deadline(l->bus, l->dev, when);
}

static void timer_stop(struct lapic *l)
{
	l->r.timer_running = 0;
	l->r.timer_initial = 0;
	l->r.tsc_deadline = 0;
}

static uint64_t lapic_tick(void *opaque, uint64_t now)
{
	struct lapic *l = opaque;
	if (timer_mode(l) == TIMER_DEADLINE) {
		if (l->r.tsc_deadline && now >= l->r.tsc_deadline) {
			l->r.tsc_deadline = 0;
			lvt_deliver(l, LVT_TIMER);
		}
	} else if (l->r.timer_running && now >= timer_expiry(l)) {
		lvt_deliver(l, LVT_TIMER);
		if (timer_mode(l) == TIMER_PERIODIC && l->r.timer_initial) {
			/* Missed periods coalesce into the one IRR bit. */
			uint64_t period = (uint64_t)l->r.timer_initial * timer_divisor(l);
			uint64_t start = timer_expiry(l);
			start += (now - start) / period * period;
			l->r.timer_start = start;
			l->r.timer_count = l->r.timer_initial;
		} else {
			l->r.timer_running = 0;
		}
	}
	timer_schedule(l);
	return l->dev->deadline;
}

/* The power-up state of everything but the ID and IA32_APIC_BASE. */
static void lapic_reset_regs(struct lapic *l)
{
	struct lapic_regs *r = &l->r;
	uint64_t base = r->base;
	uint32_t id = r->id;
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->id = id;
	r->dfr = 0xffffffffu;
	r->svr = 0xff;
	for (unsigned i = 0; i < NLVT; i++)
		r->lvt[i] = LVT_MASKED;
}

static bool dest_matches(const struct lapic *l, uint32_t dest, bool logical)
{
	if (x2apic(l)) {
		uint32_t ldr = ((l->r.id >> 4) << 16) | (1u << (l->r.id & 0xf));
		if (dest == 0xffffffffu)
			return true;
		if (!logical)
			return dest == l->r.id;
		return ((dest >> 16) == (ldr >> 16) || (dest >> 16) == 0xffff) && (dest & ldr & 0xffff);
	}
	uint32_t d = dest >> 24, ldr = l->r.ldr >> 24;
	if (d == 0xff)
		return true;
	if (!logical)
		return d == (l->r.id & 0xff);
	if ((l->r.dfr >> 28) == 0xf)
		return (d & ldr) != 0;
	return ((d >> 4) == (ldr >> 4) || (d >> 4) == 0xf) && (d & ldr & 0xf);
}

/* An ICR write: the IPI reaches this APIC only (there is no other CPU). */
static void send_ipi(struct lapic *l)
{
	uint32_t lo = l->r.icr_lo;
	unsigned vector = lo & 0xff, mode = LVT_MODE(lo);
	bool to_self;
	switch ((lo >> 18) & 3u) {
	case 0:
		to_self = dest_matches(l, l->r.icr_hi, lo & (1u << 11));
		break;
	case 1:
	case 2:
		to_self = true;
		break;
	default:
		to_self = false;
		break;
	}
	if ((mode == MODE_FIXED || mode == MODE_LOWEST) && vector < 16) {
		lapic_error(l, ESR_SEND_ILLEGAL);
		return;
	}
	if (!to_self)
		return;
	switch (mode) {
	case MODE_FIXED:
	case MODE_LOWEST:
		accept_fixed(l, vector, lo & (1u << 15));
		break;
	case MODE_NMI:
		l->r.nmi_pending = 1;
		break;
	case MODE_INIT:
		/* The level de-assert form (level trigger, level 0) only synchronises arbitration IDs. */
		if (!((lo & (1u << 15)) && !(lo & (1u << 14))))
			l->r.init_pending = 1;
		break;
	default: /* SIPI (the CPU is not waiting for one), SMI (no SMM), ExtINT */
		break;
	}
}

static void set_lvt(struct lapic *l, unsigned idx, uint32_t val)
{
	uint32_t old_mode = timer_mode(l);
	uint32_t v = (l->r.lvt[idx] & ~lvt_writable[idx]) | (val & lvt_writable[idx]);
	if (idx == LVT_TIMER && ((v >> 17) & 3u) == 3u)
		v &= ~(3u << 17); /* the reserved mode 3 reads back as one-shot */
	if (!(l->r.svr & SVR_ENABLE))
		v |= LVT_MASKED;
	l->r.lvt[idx] = v;
	if (idx == LVT_TIMER && (old_mode == TIMER_DEADLINE) != (timer_mode(l) == TIMER_DEADLINE)) {
		timer_stop(l);
		timer_schedule(l);
	}
}

/* Register read at xAPIC offset reg (16-byte aligned); false when no register is there. */
static bool reg_read(const struct lapic *l, unsigned reg, uint32_t *v)
{
	const struct lapic_regs *r = &l->r;
	bool x2 = x2apic(l);
	if (reg >= 0x100 && reg < 0x280) {
		const uint32_t *bank = reg < 0x180 ? r->isr : reg < 0x200 ? r->tmr : r->irr;
		*v = bank[(reg >> 4) & 7];
		return true;
	}
	if (reg >= 0x320 && reg <= 0x370) {
		*v = r->lvt[(reg - 0x320) >> 4];
		return true;
	}
	switch (reg) {
	case 0x20:
		*v = x2 ? r->id : r->id << 24;
		return true;
	case 0x30:
		*v = LAPIC_VERSION;
		return true;
	case 0x80:
		*v = r->tpr;
		return true;
	case 0x90:
	case 0xb0: /* write-only EOI: the page reads 0, the MSR raises #GP */
	case 0xc0:
		*v = 0;
		return !x2;
	case 0xa0:
		*v = ppr(l);
		return true;
	case 0xd0:
		*v = x2 ? ((r->id >> 4) << 16) | (1u << (r->id & 0xf)) : r->ldr;
		return true;
	case 0xe0:
		*v = r->dfr;
		return !x2;
	case 0xf0:
		*v = r->svr;
		return true;
	case 0x280:
		*v = r->esr;
		return true;
	case 0x300:
		*v = r->icr_lo & ~(1u << 12); /* delivery is instant: never busy */
		return true;
	case 0x310:
		*v = r->icr_hi;
		return !x2;
	case 0x380:
		*v = timer_mode(l) == TIMER_DEADLINE ? 0 : r->timer_initial;
		return true;
	case 0x390:
		*v = timer_current(l, devbus_now(l->bus));
		return true;
	case 0x3e0:
		*v = r->timer_dcr;
		return true;
	default:
		return false;
	}
}

/* Register write; 0, or -EINVAL where an x2APIC WRMSR raises #GP (read-only, absent, bits that must be
 * zero). The xAPIC page ignores what the MSRs refuse. */
static int reg_write(struct lapic *l, unsigned reg, uint32_t val)
{
	struct lapic_regs *r = &l->r;
	bool x2 = x2apic(l);
	uint64_t now = devbus_now(l->bus);
	if (reg >= 0x320 && reg <= 0x370) {
		set_lvt(l, (reg - 0x320) >> 4, val);
		return 0;
	}
	switch (reg) {
	case 0x20:
		if (x2)
			return -EINVAL;
		r->id = val >> 24;
		return 0;
	case 0x80:
		r->tpr = val & 0xff;
		return 0;
	case 0xb0: {
		if (x2 && val)
			return -EINVAL;
		int v = highest_bit(r->isr);
		if (v < 0)
			return 0;
		set_bit(r->isr, (unsigned)v, false);
		/* The EOI message of a level-triggered vector goes to the I/O APIC (no directed EOI). */
		if (l->ioapic && (r->tmr[v / 32] & (1u << (v % 32))))
			ioapic_eoi(l->ioapic, (unsigned)v);
		return 0;
	}
	case 0xd0:
		if (x2)
			return -EINVAL;
		r->ldr = val & 0xff000000u;
		return 0;
	case 0xe0:
		if (x2)
			return -EINVAL;
		r->dfr = val | 0x0fffffffu;
		return 0;
	case 0xf0:
		r->svr = val & 0x1ff;
		if (!(r->svr & SVR_ENABLE))
			for (unsigned i = 0; i < NLVT; i++)
				r->lvt[i] |= LVT_MASKED;
		return 0;
	case 0x280:
		if (x2 && val)
			return -EINVAL;
		r->esr = r->esr_pending;
		r->esr_pending = 0;
		return 0;
	case 0x300:
		r->icr_lo = val & 0x000ccfffu;
		send_ipi(l);
		return 0;
	case 0x310:
		if (x2)
			return -EINVAL;
		r->icr_hi = val & 0xff000000u;
		return 0;
	case 0x380:
		if (timer_mode(l) == TIMER_DEADLINE)
			return 0;
		r->timer_initial = val;
		r->timer_count = val;
		r->timer_start = now;
		r->timer_running = val != 0;
		timer_schedule(l);
		return 0;
	case 0x3e0: {
		uint32_t cur = timer_current(l, now);
		r->timer_dcr = val & 0xb;
		if (r->timer_running && timer_mode(l) != TIMER_DEADLINE) {
			r->timer_start = now;
			r->timer_count = cur;
			r->timer_running = cur != 0;
			timer_schedule(l);
		}
		return 0;
	}
	case 0x3f0:
		if (!x2 || (val & ~0xffu))
			return -EINVAL;
		if (val < 16)
			lapic_error(l, ESR_RECV_ILLEGAL);
		else
			accept_fixed(l, val, false);
		return 0;
	default:
		return -EINVAL;
	}
}

/* The xAPIC page: aligned 32-bit registers every 16 bytes. Reads of part of a register see its bytes;
 * a write that is not 32 bits at a register's start is dropped. With the APIC disabled or in x2APIC mode
 * the page is not decoded (all ones, writes dropped). */
static uint64_t lapic_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct lapic *l = opaque;
	uint64_t off = addr - l->mapped;
	uint32_t v = 0;
	(void)space;
	if (!hw_enabled(l) || x2apic(l))
		return UINT64_MAX;
	if (!reg_read(l, (unsigned)(off & 0xff0), &v) || (off & 0xff0) == 0x3f0)
		lapic_error(l, ESR_ILLEGAL_REG);
	unsigned byte = (unsigned)(off & 0xf);
	uint64_t out = byte < 4 ? v >> (8 * byte) : 0;
	return size < 8 ? out & ((1ull << (8 * size)) - 1) : out;
}

static void lapic_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct lapic *l = opaque;
	uint64_t off = addr - l->mapped;
	uint32_t dummy;
	(void)space;
	if (!hw_enabled(l) || x2apic(l) || size != 4 || (off & 0xf))
		return;
	unsigned reg = (unsigned)off & 0xff0;
	/* Read-only registers ignore writes; an offset with no register is an illegal address. */
	if (!reg_read(l, reg, &dummy) && reg != 0xb0 && reg != 0x3f0) {
		lapic_error(l, ESR_ILLEGAL_REG);
		return;
	}
	if (reg == 0x3f0 || reg == 0x30 || reg == 0x90 || reg == 0xa0 || reg == 0xc0 || reg == 0x390 ||
	    (reg >= 0x100 && reg < 0x280)) {
		if (reg == 0x3f0)
			lapic_error(l, ESR_ILLEGAL_REG);
		return;
	}
	reg_write(l, reg, (uint32_t)val);
}

/* LINT0 in fixed or NMI mode: the PIC's output is an edge-triggered input there. */
static void lint0_sample(struct lapic *l)
{
	uint32_t lvt = l->r.lvt[LVT_LINT0];
	bool level = l->pic && l->pic->pending && l->pic->pending(l->pic_opaque);
	bool rising = level && !l->r.lint0_level;
	l->r.lint0_level = level;
	if (rising && hw_enabled(l) && !(lvt & LVT_MASKED) &&
	    (LVT_MODE(lvt) == MODE_FIXED || LVT_MODE(lvt) == MODE_NMI))
		lvt_deliver(l, LVT_LINT0);
}

/* The PIC's INTR reaches the CPU directly: APIC globally disabled, or LINT0 unmasked in ExtINT mode. */
static bool pic_passes(const struct lapic *l)
{
	uint32_t lvt = l->r.lvt[LVT_LINT0];
	return !hw_enabled(l) || (!(lvt & LVT_MASKED) && LVT_MODE(lvt) == MODE_EXTINT);
}

static int apic_deliverable(const struct lapic *l)
{
	int v = highest_bit(l->r.irr);
	if (!hw_enabled(l) || v < 0 || ((uint32_t)v & 0xf0) <= (ppr(l) & 0xf0))
		return -1;
	return v;
}

static void lapic_irq_changed(void *opaque, unsigned line, bool level)
{
	struct lapic *l = opaque;
	if (l->pic && l->pic->irq_changed)
		l->pic->irq_changed(l->pic_opaque, line, level);
	if (l->ioapic)
		ioapic_line_changed(l->ioapic, line, level);
}

static bool lapic_pending(void *opaque)
{
	struct lapic *l = opaque;
	if (!pic_passes(l))
		lint0_sample(l);
	if (apic_deliverable(l) >= 0)
		return true;
	return pic_passes(l) && l->pic && l->pic->pending && l->pic->pending(l->pic_opaque);
}

/* The APIC's own interrupts come before the PIC's (the ExtINT cycle is the CPU's last resort). */
static int lapic_ack(void *opaque)
{
	struct lapic *l = opaque;
	int v = apic_deliverable(l);
	if (v >= 0) {
		set_bit(l->r.irr, (unsigned)v, false);
		set_bit(l->r.isr, (unsigned)v, true);
		return v;
	}
	if (pic_passes(l) && l->pic && l->pic->ack)
		return l->pic->ack(l->pic_opaque);
	return -1;
}

static const struct devbus_intc_ops lapic_intc_ops = {
    .irq_changed = lapic_irq_changed,
    .pending = lapic_pending,
    .ack = lapic_ack,
};

static size_t lapic_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct lapic *l = opaque;
	if (cap >= sizeof(l->r))
		memcpy(buf, &l->r, sizeof(l->r));
	return sizeof(l->r);
}

static int lapic_move(struct lapic *l)
{
	uint64_t want = l->r.base & APIC_BASE_ADDR;
	if (want == l->mapped)
		return 0;
	int err = devbus_remap_mmio(l->bus, l->dev, l->mapped, want);
	if (!err)
		l->mapped = want;
	return err;
}

static int lapic_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct lapic *l = opaque;
	struct lapic_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if ((r.base & ~(APIC_BASE_ADDR | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP)) ||
	    r.timer_running > 1 || r.nmi_pending > 1 || r.init_pending > 1 || r.lint0_level > 1 ||
	    (r.timer_dcr & ~0xbu))
		return -EINVAL;
	struct lapic_regs old = l->r;
	l->r = r;
	if (lapic_move(l)) {
		l->r = old;
		return -EINVAL;
	}
	return 0;
}

static const struct devbus_ops lapic_ops = {
    .name = PC_DEV_LAPIC,
    .read = lapic_read,
    .write = lapic_write,
    .tick = lapic_tick,
    .save = lapic_save,
    .restore = lapic_restore,
    .free = free,
};

int pc_lapic_add(struct devbus *bus)
{
	struct lapic *l = calloc(1, sizeof(*l));
	int err;
	if (!l)
		return -ENOMEM;
	l->bus = bus;
	l->r.base = APIC_BASE_RESET;
	lapic_reset_regs(l);
	l->r.lvt[LVT_LINT0] = MODE_EXTINT << 8;
	l->pic = bus->intc;
	l->pic_opaque = bus->intc_opaque;
	if ((err = devbus_add(bus, &lapic_ops, l, &l->dev)))
		return err;
	l->mapped = PC_LAPIC_BASE;
	if ((err = devbus_map_mmio(bus, l->dev, PC_LAPIC_BASE, 0x1000)))
		return err;
	devbus_set_intc(bus, &lapic_intc_ops, l);
	return 0;
}

static struct lapic *lapic_of(const struct devbus *bus)
{
	return devbus_find(bus, PC_DEV_LAPIC);
}

struct lapic *lapic_attach_ioapic(struct devbus *bus, struct ioapic *io)
{
	struct lapic *l = lapic_of(bus);
	if (l)
		l->ioapic = io;
	return l;
}

/* QEMU's rule: 0xff broadcasts in either mode; in x2APIC mode an 8-bit physical ID is the whole ID. */
static bool message_reaches(const struct lapic *l, uint8_t dest, bool logical)
{
	if (x2apic(l))
		return dest == 0xff || (logical ? dest_matches(l, dest, true) : dest == l->r.id);
	return dest_matches(l, (uint32_t)dest << 24, logical);
}

void lapic_message(struct lapic *l, unsigned mode, unsigned vector, bool level, uint8_t dest, bool logical)
{
	if (!hw_enabled(l) || !message_reaches(l, dest, logical))
		return;
	switch (mode) {
	case MODE_FIXED:
	case MODE_LOWEST: /* the one CPU has the lowest priority */
		accept_fixed(l, vector & 0xff, level);
		break;
	case MODE_NMI:
		l->r.nmi_pending = 1;
		break;
	case MODE_INIT:
		l->r.init_pending = 1;
		break;
	case MODE_EXTINT: {
		/* As QEMU: the PIC's vector, acknowledged now, arrives as a fixed interrupt. */
		int v = l->pic && l->pic->ack ? l->pic->ack(l->pic_opaque) : -1;
		if (v >= 0)
			accept_fixed(l, (unsigned)v, level);
		break;
	}
	default: /* SMI (no SMM), SIPI and the reserved mode are not I/O APIC messages here */
		break;
	}
}

int pc_lapic_set_base(struct devbus *bus, uint64_t base)
{
	struct lapic *l = lapic_of(bus);
	if (!l)
		return -ENODEV;
	if (base == l->r.base)
		return 0;
	bool was_enabled = hw_enabled(l);
	l->r.base = base & (APIC_BASE_ADDR | APIC_BASE_EN | APIC_BASE_EXTD | APIC_BASE_BSP);
	if (was_enabled && !hw_enabled(l)) {
		lapic_reset_regs(l);
		timer_schedule(l);
	}
	return lapic_move(l);
}

uint64_t pc_lapic_tsc(const struct devbus *bus)
{
	return devbus_now(bus);
}

bool pc_lapic_tsc_deadline_mode(const struct devbus *bus)
{
	const struct lapic *l = lapic_of(bus);
	return l && hw_enabled(l) && timer_mode(l) == TIMER_DEADLINE;
}

bool pc_lapic_nmi_waiting(const struct devbus *bus)
{
	const struct lapic *l = lapic_of(bus);
	return l && l->r.nmi_pending;
}

int pc_lapic_rdmsr(struct devbus *bus, uint32_t msr, uint64_t *value)
{
	struct lapic *l = lapic_of(bus);
	uint32_t v;
	*value = 0;
	if (!l)
		return 1;
	if (msr == MSR_TSC_DEADLINE) {
		*value = timer_mode(l) == TIMER_DEADLINE ? l->r.tsc_deadline : 0;
		return 0;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return 1;
	unsigned reg = (msr - MSR_X2APIC_FIRST) << 4;
	if (!x2apic(l) || reg == 0x3f0 || reg == 0xb0 || !reg_read(l, reg, &v))
		return -EINVAL;
	*value = reg == 0x300 ? (uint64_t)l->r.icr_hi << 32 | v : v;
	return 0;
}

int pc_lapic_wrmsr(struct devbus *bus, uint32_t msr, uint64_t value)
{
	struct lapic *l = lapic_of(bus);
	if (!l)
		return 1;
	if (msr == MSR_TSC_DEADLINE) {
		if (timer_mode(l) != TIMER_DEADLINE)
			return 0;
		l->r.tsc_deadline = value;
		/* A deadline already passed fires now. */
		if (value && value <= pc_lapic_tsc(bus)) {
			l->r.tsc_deadline = 0;
			lvt_deliver(l, LVT_TIMER);
		}
		timer_schedule(l);
		return 0;
	}
	if (msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return 1;
	unsigned reg = (msr - MSR_X2APIC_FIRST) << 4;
	uint32_t dummy;
	if (!x2apic(l))
		return -EINVAL;
	if (reg == 0x300) {
		l->r.icr_hi = (uint32_t)(value >> 32);
		return reg_write(l, reg, (uint32_t)value);
	}
	if (value >> 32)
		return -EINVAL;
	/* Read-only registers raise #GP; EOI and SELF IPI are write-only. */
	if (reg != 0xb0 && reg != 0x3f0 &&
	    (!reg_read(l, reg, &dummy) || reg == 0x30 || reg == 0xa0 || reg == 0x390 ||
	     (reg >= 0x100 && reg < 0x280)))
		return -EINVAL;
	return reg_write(l, reg, (uint32_t)value);
}

bool pc_lapic_take_nmi(struct devbus *bus)
{
	struct lapic *l = lapic_of(bus);
	if (!l || !l->r.nmi_pending)
		return false;
	l->r.nmi_pending = 0;
	return true;
}

bool pc_lapic_init_requested(const struct devbus *bus)
{
	const struct lapic *l = lapic_of(bus);
	return l && l->r.init_pending;
}
