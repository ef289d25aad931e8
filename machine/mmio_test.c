/* The MMIO test region: a deterministic read sequence and plain storage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct mmio_test_state {
	uint64_t reads;
	uint8_t mem[DEVBUS_MMIO_TEST_SIZE];
};

uint64_t devbus_mmio_test_value(uint64_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ n;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

static uint64_t mmio_test_read(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size)
{
	struct mmio_test_state *t = opaque;
	uint64_t off = addr - DEVBUS_MMIO_TEST_BASE;
	uint64_t v;

	(void)sp;
	if (off < DEVBUS_MMIO_TEST_SEQ_SIZE) {
		v = devbus_mmio_test_value(t->reads++);
		return size >= 8 ? v : v & ((1ull << (8 * size)) - 1);
	}
	return devbus_load_le(t->mem + off, size);
}

static void mmio_test_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct mmio_test_state *t = opaque;

	(void)sp;
	devbus_store_le(t->mem + (addr - DEVBUS_MMIO_TEST_BASE), size, val);
}

static size_t mmio_test_save(const void *opaque, uint8_t *buf, size_t cap)
{
	if (cap >= sizeof(struct mmio_test_state))
		memcpy(buf, opaque, sizeof(struct mmio_test_state));
	return sizeof(struct mmio_test_state);
}

static int mmio_test_restore(void *opaque, const uint8_t *buf, size_t len)
{
	if (len != sizeof(struct mmio_test_state))
		return -EINVAL;
	memcpy(opaque, buf, len);
	return 0;
}

static const struct devbus_ops mmio_test_ops = {.name = "mmio-test",
                                                .read = mmio_test_read,
                                                .write = mmio_test_write,
                                                .save = mmio_test_save,
                                                .restore = mmio_test_restore,
                                                .free = free};

int devbus_add_mmio_test(struct devbus *bus)
{
	struct mmio_test_state *t = calloc(1, sizeof(*t));
	struct devbus_dev *dev;
	int err;

	if (!t)
		return -ENOMEM;
	err = devbus_add(bus, &mmio_test_ops, t, &dev);
	if (err)
		return err;
	bus->mmio_test = t;
	return devbus_map_mmio(bus, dev, DEVBUS_MMIO_TEST_BASE, DEVBUS_MMIO_TEST_SIZE);
}

uint8_t devbus_mmio_test_stored(const struct devbus *bus, uint32_t offset)
{
	const struct mmio_test_state *t = bus->mmio_test;

	return t && offset < DEVBUS_MMIO_TEST_SIZE ? t->mem[offset] : 0;
}

uint64_t devbus_mmio_test_reads(const struct devbus *bus)
{
	const struct mmio_test_state *t = bus->mmio_test;

	return t ? t->reads : 0;
}
