/* QEMU's pc-testdev (hw/misc/pc-testdev.c) as kvm-unit-tests use it: a scratch port, IRQ lines the guest
 * drives, and a RAM-like MMIO window. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct pc_testdev {
	struct devbus *bus;
	uint32_t scratch;
	uint8_t iomem[DEVBUS_TESTDEV_IOMEM_SIZE];
};

/* The scratch register seen through a window of 4 ports: the access's bytes at (port & 3) * 8. An unaligned
 * access reaches the bytes it covers, as the CPU splits it into bus cycles (QEMU's TCG drops it instead). */
static uint64_t testdev_scratch_read(const struct pc_testdev *t, uint64_t port, unsigned size)
{
	unsigned shift = (unsigned)(port & 3) * 8;
	uint64_t mask = (size >= 4 ? 0xffffffffull : (1ull << (8 * size)) - 1) << shift;
	return (t->scratch & mask) >> shift;
}

static void testdev_scratch_write(struct pc_testdev *t, uint64_t port, unsigned size, uint64_t val)
{
	unsigned shift = (unsigned)(port & 3) * 8;
	uint64_t mask = (size >= 4 ? 0xffffffffull : (1ull << (8 * size)) - 1) << shift;
	t->scratch = (uint32_t)((t->scratch & ~mask) | ((val << shift) & mask));
}

static uint64_t testdev_read(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size)
{
	struct pc_testdev *t = opaque;

	if (sp == DEVBUS_MMIO)
		return devbus_load_le(t->iomem + (addr - DEVBUS_TESTDEV_IOMEM), size);
	if (addr >= DEVBUS_PORT_TESTDEV && addr < DEVBUS_PORT_TESTDEV + 4)
		return testdev_scratch_read(t, addr, size);
	if (addr >= DEVBUS_PORT_TESTDEV_BYTE && addr < DEVBUS_PORT_TESTDEV_BYTE + 4) {
		/* Byte by byte, as QEMU implements this window. */
		uint64_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= testdev_scratch_read(t, addr + i, 1) << (8 * i);
		return v;
	}
	if (addr >= DEVBUS_PORT_TESTDEV_IRQ)
		return 0;
	return size >= 4 ? 0xffffffffull : (1ull << (8 * size)) - 1; /* the flush port is write-only */
}

static void testdev_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct pc_testdev *t = opaque;

	if (sp == DEVBUS_MMIO) {
		devbus_store_le(t->iomem + (addr - DEVBUS_TESTDEV_IOMEM), size, val);
	} else if (addr >= DEVBUS_PORT_TESTDEV && addr < DEVBUS_PORT_TESTDEV + 4) {
		testdev_scratch_write(t, addr, size, val);
	} else if (addr >= DEVBUS_PORT_TESTDEV_BYTE && addr < DEVBUS_PORT_TESTDEV_BYTE + 4) {
		for (unsigned i = 0; i < size; i++)
			testdev_scratch_write(t, addr + i, 1, val >> (8 * i));
	} else if (addr >= DEVBUS_PORT_TESTDEV_IRQ && size == 1) {
		devbus_irq_set(t->bus, (unsigned)(addr - DEVBUS_PORT_TESTDEV_IRQ), (val & 0xff) != 0);
	}
	/* The flush port (0xe4) unmaps and maps a host page in QEMU: nothing the guest can see. */
}

enum { TESTDEV_STATE_SIZE = 4 + DEVBUS_TESTDEV_IOMEM_SIZE };

static size_t testdev_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct pc_testdev *t = opaque;

	if (cap >= TESTDEV_STATE_SIZE) {
		devbus_store_le(buf, 4, t->scratch);
		memcpy(buf + 4, t->iomem, sizeof(t->iomem));
	}
	return TESTDEV_STATE_SIZE;
}

static int testdev_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct pc_testdev *t = opaque;

	if (len != TESTDEV_STATE_SIZE)
		return -EINVAL;
	t->scratch = (uint32_t)devbus_load_le(buf, 4);
	memcpy(t->iomem, buf + 4, sizeof(t->iomem));
	return 0;
}

static const struct devbus_ops testdev_ops = {.name = DEVBUS_DEV_TESTDEV,
                                              .read = testdev_read,
                                              .write = testdev_write,
                                              .save = testdev_save,
                                              .restore = testdev_restore,
                                              .free = free};

int devbus_add_pc_testdev(struct devbus *bus)
{
	struct pc_testdev *t = calloc(1, sizeof(*t));
	struct devbus_dev *dev;
	int err;

	if (!t)
		return -ENOMEM;
	t->bus = bus;
	if ((err = devbus_add(bus, &testdev_ops, t, &dev)))
		return err;
	/* 0xe9 stays the debug console (QEMU overlaps the two; guests that print there come first). */
	if ((err = devbus_map_pio(bus, dev, DEVBUS_PORT_TESTDEV, 9)) ||
	    (err = devbus_map_pio(bus, dev, DEVBUS_PORT_TESTDEV_BYTE + 2, 2)) ||
	    (err = devbus_map_pio(bus, dev, DEVBUS_PORT_TESTDEV_IRQ, DEVBUS_TESTDEV_IRQ_PORTS)))
		return err;
	return devbus_map_mmio(bus, dev, DEVBUS_TESTDEV_IOMEM, DEVBUS_TESTDEV_IOMEM_SIZE);
}
