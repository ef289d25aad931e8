/* PCI configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF data) with the
 * functions of QEMU's i440FX PC on bus 0: 00:00.0 i440FX host bridge, 00:01.0
 * PIIX3 PCI-to-ISA bridge, 00:01.1 PIIX3 IDE (legacy ports 0x1f0/0x170,
 * bus-master BAR 4 sized but not decoded), 00:01.3 PIIX4 power management with
 * its ACPI PM timer. Everything else reads all ones. Registers take only their
 * writable bits. The PAM registers are kept but do not remap memory:
 * 0xE0000-0xFFFFF is always RAM holding the firmware's copy.
 *
 * The PM timer is the firmware's clock: on a PVM host the guest's CPUID shows
 * a TSC whatever the VMM sets (measured), and RDTSC counts wall time, so a
 * firmware that calibrates the TSC is not deterministic; SeaBIOS takes the PM
 * timer instead when it finds this function. Its I/O space is decoded only at
 * PC_PM_PORT (where SeaBIOS puts it), and only while PMREGMISC enables it.
 * DEVACTB starts with APMC_EN set, which tells SeaBIOS SMM is set up: this PC
 * has no SMI, and SeaBIOS would wait forever for an SMI handler otherwise. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../pc.h"

#define PCI_NFN 4
#define PM_FN   3 /* index of 00:01.3 */

struct pci_regs {
	uint8_t cfg[PCI_NFN][256];
	uint32_t address; /* 0xCF8 */
	uint16_t pm_sts;  /* PM1 status (write 1 to clear) */
	uint16_t pm_en;   /* PM1 enable */
	uint16_t pm_cnt;  /* PM1 control */
	uint16_t pad;
};

struct pci {
	struct pci_regs r;
	uint8_t wmask[PCI_NFN][256];
	struct devbus *bus;
};

/* Function index of 00:dev.fn, -1 when absent. */
static int pci_fn_index(unsigned dev, unsigned fn)
{
	if (dev == 0 && fn == 0)
		return 0;
	if (dev == 1 && fn <= 1)
		return 1 + (int)fn;
	if (dev == 1 && fn == 3)
		return PM_FN;
	return -1;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void pci_reset(struct pci *p)
{
	memset(p->r.cfg, 0, sizeof(p->r.cfg));
	memset(p->wmask, 0, sizeof(p->wmask));
	p->r.address = 0;

	/* i440FX PMC. */
	uint8_t *c = p->r.cfg[0], *w = p->wmask[0];
	put16(c + 0x00, 0x8086);
	put16(c + 0x02, 0x1237);
	put16(c + 0x04, 0x0006);
	put16(c + 0x06, 0x0280);
	c[0x08] = 0x02;
	c[0x0a] = 0x00;
	c[0x0b] = 0x06;
	w[0x04] = 0x42; /* memory, SERR# ... as far as the PMC implements them */
	w[0x0d] = 0xf8;
	c[0x51] = 0x01;
	for (unsigned i = 0x50; i < 0x58; i++)
		w[i] = 0xff;
	w[0x59] = 0x30; /* PAM0: only the 0xF0000 segment's bits */
	for (unsigned i = 0x5a; i <= 0x5f; i++)
		w[i] = 0x33;
	for (unsigned i = 0x60; i <= 0x67; i++) {
		c[i] = 0x01; /* DRB: row boundaries, 8 MiB units */
		w[i] = 0xff;
	}
	c[0x72] = 0x02; /* SMRAM: C_BASE_SEG */
	w[0x72] = 0x78;

	/* PIIX3 ISA bridge (multi-function device). */
	c = p->r.cfg[1];
	w = p->wmask[1];
	put16(c + 0x00, 0x8086);
	put16(c + 0x02, 0x7000);
	put16(c + 0x04, 0x0007);
	put16(c + 0x06, 0x0200);
	c[0x08] = 0x00;
	c[0x0a] = 0x01;
	c[0x0b] = 0x06;
	c[0x0e] = 0x80;
	w[0x04] = 0x08; /* special cycle enable; I/O, memory and master are hard-wired on */
	c[0x4c] = 0x4d;
	c[0x4e] = 0x03;
	for (unsigned i = 0x4c; i <= 0x4f; i++)
		w[i] = 0xff;
	for (unsigned i = 0x60; i <= 0x63; i++) {
		c[i] = 0x80; /* PIRQ routing disabled */
		w[i] = 0x8f;
	}
	c[0x69] = 0x02;
	c[0x70] = 0x80;
	c[0x76] = 0x0c;
	c[0x77] = 0x0c;
	c[0x78] = 0x02;
	for (unsigned i = 0x69; i <= 0x6b; i++)
		w[i] = 0xff;
	for (unsigned i = 0x70; i <= 0x82; i++)
		w[i] = 0xff;
	for (unsigned i = 0xa0; i <= 0xab; i++)
		w[i] = 0xff;

	/* PIIX3 IDE in compatibility mode, bus-master capable. */
	c = p->r.cfg[2];
	w = p->wmask[2];
	put16(c + 0x00, 0x8086);
	put16(c + 0x02, 0x7010);
	put16(c + 0x06, 0x0280);
	c[0x09] = 0x80;
	c[0x0a] = 0x01;
	c[0x0b] = 0x01;
	w[0x04] = 0x05; /* I/O space, bus master */
	w[0x0d] = 0xf0;
	c[0x20] = 0x01; /* BAR4: 16 bytes of I/O */
	w[0x20] = 0xf0;
	w[0x21] = 0xff;
	/* Bits 31:16 writable (as QEMU has them): read-only zeros there make a 32-bit sizing see 4 GiB - 64
	 * KiB. */
	w[0x22] = 0xff;
	w[0x23] = 0xff;
	for (unsigned i = 0x40; i <= 0x44; i++)
		w[i] = 0xff;

	/* PIIX4 power management (as QEMU pairs it with the PIIX3). */
	c = p->r.cfg[PM_FN];
	w = p->wmask[PM_FN];
	put16(c + 0x00, 0x8086);
	put16(c + 0x02, 0x7113);
	put16(c + 0x06, 0x0280);
	c[0x08] = 0x03;
	c[0x0a] = 0x80;
	c[0x0b] = 0x06;
	c[0x3d] = 0x01; /* INTA# */
	w[0x04] = 0x01; /* I/O space */
	w[0x3c] = 0xff;
	c[0x40] = 0x01; /* PMBA: I/O, bits 15:6 writable */
	w[0x40] = 0xc0;
	w[0x41] = 0xff;
	c[0x5b] = 0x02; /* DEVACTB.APMC_EN (bit 25): see the header */
	for (unsigned i = 0x58; i <= 0x5b; i++)
		w[i] = 0xff;
	w[0x80] = 0x01; /* PMREGMISC.PMIOSE */
	c[0x90] = 0x01; /* SMBBA: I/O, bits 15:4 writable (SMBus itself absent) */
	w[0x90] = 0xf0;
	w[0x91] = 0xff;
	w[0xd2] = 0x0f;
}

/* True when the PM I/O space is decoded at PC_PM_PORT. */
static bool pm_decoded(const struct pci *p)
{
	const uint8_t *c = p->r.cfg[PM_FN];
	return (c[0x80] & 1) && ((c[0x40] | c[0x41] << 8) & 0xffc0) == PC_PM_PORT;
}

/* PM register block: 0 PM1 status, 2 enable, 4 control, 8 the 24-bit timer at 3.579545 MHz (three
 * per PIT clock); the rest reads zero and ignores writes. */
static uint64_t pm_read(const struct pci *p, unsigned off, unsigned size, uint64_t now)
{
	uint8_t regs[16] = {0};
	uint32_t tmr = (uint32_t)(now * 3) & 0xffffff;
	regs[0] = (uint8_t)p->r.pm_sts;
	regs[1] = (uint8_t)(p->r.pm_sts >> 8);
	regs[2] = (uint8_t)p->r.pm_en;
	regs[3] = (uint8_t)(p->r.pm_en >> 8);
	regs[4] = (uint8_t)p->r.pm_cnt;
	regs[5] = (uint8_t)(p->r.pm_cnt >> 8);
	for (unsigned i = 0; i < 4; i++)
		regs[8 + i] = (uint8_t)(tmr >> (8 * i));
	uint64_t v = 0;
	for (unsigned i = 0; i < size; i++)
		if (off + i < sizeof(regs))
			v |= (uint64_t)regs[off + i] << (8 * i);
	return v;
}

static void pm_write(struct pci *p, unsigned off, unsigned size, uint64_t val)
{
	for (unsigned i = 0; i < size; i++) {
		unsigned o = off + i;
		uint16_t b = (uint16_t)((val >> (8 * i)) & 0xff), sh = (uint16_t)((o & 1) * 8);
		if (o < 2)
			p->r.pm_sts &= (uint16_t) ~(b << sh); /* write 1 to clear */
		else if (o < 4)
			p->r.pm_en = (uint16_t)((p->r.pm_en & ~(0xff << sh)) | (b << sh)) & 0x0521;
		else if (o < 6)
			/* SLP_EN (bit 13) is a write-only trigger: sleeping is not modelled. */
			p->r.pm_cnt = (uint16_t)((p->r.pm_cnt & ~(0xff << sh)) | (b << sh)) & 0x1c07;
	}
}

static uint64_t pci_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct pci *p = opaque;
	(void)space;
	if (addr >= PC_PM_PORT && addr < PC_PM_PORT + PC_PM_SIZE)
		return pm_decoded(p) ? pm_read(p, (unsigned)(addr - PC_PM_PORT), size, devbus_now(p->bus))
		                     : ~0ull;
	if (addr < 0xcfc)
		return (addr == 0xcf8 && size == 4) ? p->r.address : ~0ull;
	uint32_t a = p->r.address;
	int idx = pci_fn_index((a >> 11) & 31, (a >> 8) & 7);
	if (!(a & 0x80000000u) || ((a >> 16) & 0xff) || idx < 0)
		return ~0ull;
	unsigned off = (a & 0xfc) + (unsigned)(addr - 0xcfc);
	uint64_t v = 0;
	for (unsigned i = 0; i < size && off + i < 256; i++)
		v |= (uint64_t)p->r.cfg[idx][off + i] << (8 * i);
	return v;
}

static void pci_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct pci *p = opaque;
	(void)space;
	if (addr >= PC_PM_PORT && addr < PC_PM_PORT + PC_PM_SIZE) {
		if (pm_decoded(p))
			pm_write(p, (unsigned)(addr - PC_PM_PORT), size, val);
		return;
	}
	if (addr < 0xcfc) {
		if (addr == 0xcf8 && size == 4)
			p->r.address = (uint32_t)val & 0x80fffffcu;
		return;
	}
	uint32_t a = p->r.address;
	int idx = pci_fn_index((a >> 11) & 31, (a >> 8) & 7);
	if (!(a & 0x80000000u) || ((a >> 16) & 0xff) || idx < 0)
		return;
	unsigned off = (a & 0xfc) + (unsigned)(addr - 0xcfc);
	for (unsigned i = 0; i < size && off + i < 256; i++) {
		uint8_t w = p->wmask[idx][off + i], b = (uint8_t)(val >> (8 * i));
		p->r.cfg[idx][off + i] = (uint8_t)((p->r.cfg[idx][off + i] & ~w) | (b & w));
	}
}

static size_t pci_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct pci *p = opaque;
	if (cap >= sizeof(p->r))
		memcpy(buf, &p->r, sizeof(p->r));
	return sizeof(p->r);
}

static int pci_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct pci *p = opaque;
	struct pci_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if (r.address & ~0x80fffffcu || r.pm_en & ~0x0521 || r.pm_cnt & ~0x1c07 || r.pad)
		return -EINVAL;
	/* Read-only bytes must match the hardware's. */
	for (int f = 0; f < PCI_NFN; f++)
		for (int i = 0; i < 256; i++)
			if ((r.cfg[f][i] ^ p->r.cfg[f][i]) & ~p->wmask[f][i])
				return -EINVAL;
	p->r = r;
	return 0;
}

static const struct devbus_ops pci_ops = {
    .name = PC_DEV_PCI,
    .read = pci_read,
    .write = pci_write,
    .save = pci_save,
    .restore = pci_restore,
    .free = free,
};

int pc_pci_add(struct devbus *bus)
{
	struct pci *p = calloc(1, sizeof(*p));
	struct devbus_dev *dev;
	int err;

	if (!p)
		return -ENOMEM;
	pci_reset(p);
	p->bus = bus;
	if ((err = devbus_add(bus, &pci_ops, p, &dev)))
		return err;
	if ((err = devbus_map_pio(bus, dev, 0xcf8, 8)))
		return err;
	return devbus_map_pio(bus, dev, PC_PM_PORT, PC_PM_SIZE);
}

uint8_t pc_pci_config_byte(const struct devbus *bus, unsigned dev, unsigned fn, unsigned offset)
{
	const struct pci *p = devbus_find(bus, PC_DEV_PCI);
	int idx = pci_fn_index(dev, fn);
	return p && idx >= 0 && offset < 256 ? p->r.cfg[idx][offset] : 0xff;
}
