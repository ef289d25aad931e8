/* PCI configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF data) with the
 * functions of a PIIX3 PC on bus 0: 00:00.0 i440FX host bridge, 00:01.0 PIIX3
 * PCI-to-ISA bridge, 00:01.1 PIIX3 IDE (legacy ports 0x1f0/0x170, bus-master
 * BAR 4 sized but not decoded). Everything else reads all ones. Registers take
 * only their writable bits. The PAM registers are kept but do not remap
 * memory: 0xE0000-0xFFFFF is always RAM holding the firmware's copy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../pc.h"

#define PCI_NFN 3

struct pci_regs {
	uint8_t cfg[PCI_NFN][256];
	uint32_t address; /* 0xCF8 */
};

struct pci {
	struct pci_regs r;
	uint8_t wmask[PCI_NFN][256];
};

/* Function index of 00:dev.fn, -1 when absent. */
static int pci_fn_index(unsigned dev, unsigned fn)
{
	if (dev == 0 && fn == 0)
		return 0;
	if (dev == 1 && fn <= 1)
		return 1 + (int)fn;
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
	for (unsigned i = 0x40; i <= 0x44; i++)
		w[i] = 0xff;
}

static uint64_t pci_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct pci *p = opaque;
	(void)space;
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
	if (r.address & ~0x80fffffcu)
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
	if ((err = devbus_add(bus, &pci_ops, p, &dev)))
		return err;
	return devbus_map_pio(bus, dev, 0xcf8, 8);
}

uint8_t pc_pci_config_byte(const struct devbus *bus, unsigned dev, unsigned fn, unsigned offset)
{
	const struct pci *p = devbus_find(bus, PC_DEV_PCI);
	int idx = pci_fn_index(dev, fn);
	return p && idx >= 0 && offset < 256 ? p->r.cfg[idx][offset] : 0xff;
}
