/* I/O APIC of the PC machine: an 82093AA-style unit at PC_IOAPIC_BASE with QEMU's register file (version
 * 0x11, 24 redirection entries, IOREGSEL at +0x00 and IOWIN at +0x10, the 256-byte window repeating over its
 * 4 KiB page) and QEMU's wiring: every ISA IRQ line of the bus reaches both the 8259A pair and this unit,
 * ISA IRQ 0 (the PIT) on pin 2 as the MADT interrupt-source override says, any other line n on pin n.
 *
 * How interrupts reach the CPU: the local APIC (lapic.c) is the bus's interrupt controller. The 8259A sits
 * behind its LINT0 (ExtINT after reset: the CPU's acknowledge takes the PIC's vector). This unit sends its
 * messages straight into the local APIC: fixed and lowest-priority set the IRR (and the TMR for level
 * entries), NMI and INIT set the APIC's NMI and INIT latches, ExtINT acknowledges the PIC at once and sends
 * its vector as a fixed interrupt (QEMU's way). The local APIC's EOI of a level-triggered vector comes back
 * here and clears Remote IRR (EOI broadcast; there is no directed EOI). Under --engine emu the recorder asks
 * devbus_intr_pending/ack before each step; under KVM (no in-kernel irqchip) this page is unbacked, so each
 * access is an MMIO exit the recorder answers from the bus, and it injects the vector with KVM_INTERRUPT (an
 * NMI as a vCPU event). Everything happens synchronously with IRQ line changes, EOIs and register writes,
 * which the virtual clock (steps or exits) orders, so every recording of a guest gives the same trace.
 *
 * Choices, as QEMU: an edge that arrives while its pin is masked is lost; a level pin delivers while it is
 * asserted, unmasked and Remote IRR is clear (after the EOI that clears Remote IRR it delivers again);
 * delivery completes at once (delivery status never reads 1); polarity is stored and not applied (lines
 * are levels as the devices assert them); writing an entry as edge-triggered clears its Remote IRR; the
 * arbitration register reads the ID; IOWIN accesses narrower than 32 bits read 0 and are dropped. Unlike
 * QEMU, a pin switched to level-triggered while its line is already asserted delivers (the 82093AA samples
 * the level; QEMU only notes levels that arrive while the entry is level-triggered). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"
#include "private.h"

#define IOAPIC_PINS    24u
#define IOAPIC_VERSION 0x00170011u /* version 0x11, highest entry 23 */
#define IOAPIC_WINDOW  0xffu       /* the registers repeat every 256 bytes of the page */
#define IOREGSEL       0x00u
#define IOWIN          0x10u
#define REG_ID         0x00u
#define REG_VERSION    0x01u
#define REG_ARB        0x02u
#define REG_REDIR      0x10u
#define ID_MASK        0x0f000000u
#define RTE_VECTOR     0xffull
#define RTE_MODE(e)    (((unsigned)(e) >> 8) & 7u)
#define RTE_LOGICAL    (1ull << 11)
#define RTE_BUSY       (1ull << 12) /* delivery status */
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL      (1ull << 15)
#define RTE_MASKED     (1ull << 16)
#define RTE_DEST(e)    ((uint8_t)((e) >> 56))
#define RTE_READ_ONLY  (RTE_BUSY | RTE_REMOTE_IRR)
#define ISA_PIT_LINE   0u
#define PIT_PIN        2u

/* The checkpoint record: plain bytes, no padding. */
struct ioapic_regs {
	uint64_t redir[IOAPIC_PINS];
	uint32_t id; /* bits 27:24 as the ID register shows them */
	uint8_t regsel;
	uint8_t pad[3];
};

struct ioapic {
	struct ioapic_regs r;
	struct devbus *bus;
	struct lapic *lapic;
};

/* The pin a bus line drives (QEMU's GSI rule). */
static unsigned line_pin(unsigned line)
{
	return line == ISA_PIT_LINE ? PIT_PIN : line;
}

static bool pin_asserted(const struct ioapic *io, unsigned pin)
{
	return devbus_irq_level(io->bus, pin) || (pin == PIT_PIN && devbus_irq_level(io->bus, ISA_PIT_LINE));
}

static void deliver(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->r.redir[pin];
	bool level = e & RTE_LEVEL;
	if (level)
		io->r.redir[pin] |= RTE_REMOTE_IRR;
	lapic_message(io->lapic, RTE_MODE(e), (unsigned)(e & RTE_VECTOR), level, RTE_DEST(e),
	              e & RTE_LOGICAL);
}

/* A level-triggered pin delivers while it is asserted, unmasked and not waiting for its EOI. */
static void level_service(struct ioapic *io, unsigned pin)
{
	uint64_t e = io->r.redir[pin];
	if ((e & RTE_LEVEL) && !(e & (RTE_MASKED | RTE_REMOTE_IRR)) && pin_asserted(io, pin))
		deliver(io, pin);
}

void ioapic_line_changed(struct ioapic *io, unsigned line, bool level)
{
	unsigned pin = line_pin(line);
	if (pin >= IOAPIC_PINS)
		return;
	uint64_t e = io->r.redir[pin];
	if (e & RTE_LEVEL) {
		level_service(io, pin);
		return;
	}
	/* Pin 2 has two lines (ISA 0 and 2): its edge is the rise of either while the other is low. */
	bool other_high =
	    pin == PIT_PIN && devbus_irq_level(io->bus, line == ISA_PIT_LINE ? PIT_PIN : ISA_PIT_LINE);
	if (level && !other_high && !(e & RTE_MASKED))
		deliver(io, pin);
}

void ioapic_eoi(struct ioapic *io, unsigned vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->r.redir[pin];
		if ((e & RTE_VECTOR) != vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
			continue;
		io->r.redir[pin] = e & ~RTE_REMOTE_IRR;
		level_service(io, pin);
	}
}

static uint32_t reg_read(const struct ioapic *io)
{
	unsigned sel = io->r.regsel;
	switch (sel) {
	case REG_ID:
	case REG_ARB:
		return io->r.id;
	case REG_VERSION:
		return IOAPIC_VERSION;
	default:
		if (sel < REG_REDIR || sel >= REG_REDIR + 2 * IOAPIC_PINS)
			return 0;
		uint64_t e = io->r.redir[(sel - REG_REDIR) / 2];
		return (uint32_t)(sel & 1 ? e >> 32 : e);
	}
}

static void reg_write(struct ioapic *io, uint32_t val)
{
	unsigned sel = io->r.regsel;
	if (sel == REG_ID) {
		io->r.id = val & ID_MASK;
		return;
	}
	if (sel < REG_REDIR || sel >= REG_REDIR + 2 * IOAPIC_PINS)
		return; /* version, arbitration and absent registers are read-only */
	unsigned pin = (sel - REG_REDIR) / 2;
	uint64_t old = io->r.redir[pin];
	uint64_t e = sel & 1 ? (old & 0xffffffffull) | (uint64_t)val << 32 : (old & ~0xffffffffull) | val;
	e = (e & ~RTE_READ_ONLY) | (old & RTE_READ_ONLY);
	if (!(e & RTE_LEVEL))
		e &= ~RTE_REMOTE_IRR;
	io->r.redir[pin] = e;
	level_service(io, pin);
}

static uint64_t ioapic_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	const struct ioapic *io = opaque;
	unsigned off = (unsigned)(addr - PC_IOAPIC_BASE) & IOAPIC_WINDOW;
	uint64_t v = 0;
	(void)space;
	if (off == IOREGSEL)
		v = io->r.regsel;
	else if (off == IOWIN && size >= 4)
		v = reg_read(io);
	return size < 8 ? v & ((1ull << (8 * size)) - 1) : v;
}

static void ioapic_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct ioapic *io = opaque;
	unsigned off = (unsigned)(addr - PC_IOAPIC_BASE) & IOAPIC_WINDOW;
	(void)space;
	if (off == IOREGSEL)
		io->r.regsel = (uint8_t)val;
	else if (off == IOWIN && size >= 4)
		reg_write(io, (uint32_t)val);
}

static size_t ioapic_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct ioapic *io = opaque;
	if (cap >= sizeof(io->r))
		memcpy(buf, &io->r, sizeof(io->r));
	return sizeof(io->r);
}

static int ioapic_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct ioapic *io = opaque;
	struct ioapic_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if ((r.id & ~ID_MASK) || r.pad[0] || r.pad[1] || r.pad[2])
		return -EINVAL;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		if ((r.redir[pin] & RTE_BUSY) ||
		    ((r.redir[pin] & RTE_REMOTE_IRR) && !(r.redir[pin] & RTE_LEVEL)))
			return -EINVAL;
	io->r = r;
	return 0;
}

static const struct devbus_ops ioapic_ops = {
    .name = PC_DEV_IOAPIC,
    .read = ioapic_read,
    .write = ioapic_write,
    .save = ioapic_save,
    .restore = ioapic_restore,
    .free = free,
};

int pc_ioapic_add(struct devbus *bus)
{
	struct ioapic *io = calloc(1, sizeof(*io));
	struct devbus_dev *dev;
	int err;
	if (!io)
		return -ENOMEM;
	io->bus = bus;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->r.redir[pin] = RTE_MASKED;
	if (!devbus_find(bus, PC_DEV_LAPIC)) {
		free(io);
		return -ENODEV;
	}
	if ((err = devbus_add(bus, &ioapic_ops, io, &dev)))
		return err;
	io->lapic = lapic_attach_ioapic(bus, io);
	return devbus_map_mmio(bus, dev, PC_IOAPIC_BASE, 0x1000);
}
