/* The POST port: the last code written; the state lives in the bus. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static uint64_t post_read(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size)
{
	const struct devbus *bus = opaque;

	(void)sp;
	(void)addr;
	(void)size;
	return bus->post < 0 ? 0xff : (uint64_t)bus->post;
}

static void post_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct devbus *bus = opaque;

	(void)sp;
	(void)addr;
	(void)size;
	bus->post = (int)(val & 0xff);
}

static size_t post_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct devbus *bus = opaque;
	int32_t v = bus->post;

	if (cap >= 4)
		memcpy(buf, &v, 4);
	return 4;
}

static int post_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct devbus *bus = opaque;
	int32_t v;

	if (len != 4)
		return -EINVAL;
	memcpy(&v, buf, 4);
	if (v < -1 || v > 0xff)
		return -EINVAL;
	bus->post = v;
	return 0;
}

static const struct devbus_ops post_ops = {
    .name = "post", .read = post_read, .write = post_write, .save = post_save, .restore = post_restore};

int devbus_add_post(struct devbus *bus)
{
	struct devbus_dev *dev;
	int err = devbus_add(bus, &post_ops, bus, &dev);

	return err ? err : devbus_map_pio(bus, dev, DEVBUS_PORT_POST, 1);
}

int devbus_post_code(const struct devbus *bus)
{
	return bus->post;
}
