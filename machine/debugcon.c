/* Bochs/QEMU debug console ports: written bytes go to the bus console. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct debugcon {
	struct devbus_ops ops;
	struct devbus *bus;
	char name[32];
};

static uint64_t debugcon_read(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size)
{
	(void)opaque;
	(void)sp;
	(void)addr;
	(void)size;
	return 0xe9; /* what Bochs and QEMU return: "the port is there" */
}

static void debugcon_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	(void)sp;
	(void)addr;
	(void)size;
	devbus_console_put(((struct debugcon *)opaque)->bus, (uint8_t)val);
}

int devbus_add_debugcon_at(struct devbus *bus, const char *name, uint16_t port)
{
	struct debugcon *d = calloc(1, sizeof(*d));
	struct devbus_dev *dev;
	int err;

	if (!d)
		return -ENOMEM;
	if (!name || strlen(name) >= sizeof(d->name)) {
		free(d);
		return -EINVAL;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->bus = bus;
	d->ops = (struct devbus_ops){
	    .name = d->name, .read = debugcon_read, .write = debugcon_write, .free = free};
	err = devbus_add(bus, &d->ops, d, &dev);
	return err ? err : devbus_map_pio(bus, dev, port, 1);
}

int devbus_add_debugcon(struct devbus *bus)
{
	return devbus_add_debugcon_at(bus, "debugcon", DEVBUS_PORT_DEBUGCON);
}
