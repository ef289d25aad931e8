/* The debug-exit port: the guest writes its exit status (or, QEMU's way, a value the status is made of); the
 * state lives in the bus. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static void debug_exit_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct devbus *bus = opaque;

	(void)sp;
	(void)addr;
	uint32_t value = (uint32_t)(size >= 4 ? val : val & ((1ull << (8 * size)) - 1));
	bus->exited = true;
	bus->exit_status = bus->exit_qemu ? (value << 1) | 1 : value;
	if (bus->exit_qemu)
		snprintf(bus->exit_msg, sizeof(bus->exit_msg), "guest exited with status %u (wrote %u)",
		         bus->exit_status, value);
	else
		snprintf(bus->exit_msg, sizeof(bus->exit_msg), "guest exited with status %u",
		         bus->exit_status);
}

void devbus_set_debug_exit_qemu(struct devbus *bus, bool on)
{
	bus->exit_qemu = on;
}

static const struct devbus_ops debug_exit_ops = {.name = "debug-exit", .write = debug_exit_write};

int devbus_add_debug_exit(struct devbus *bus)
{
	struct devbus_dev *dev;
	int err = devbus_add(bus, &debug_exit_ops, bus, &dev);

	return err ? err : devbus_map_pio(bus, dev, DEVBUS_PORT_DEBUG_EXIT, 4);
}

bool devbus_guest_exited(const struct devbus *bus, uint32_t *status)
{
	if (bus->exited && status)
		*status = bus->exit_status;
	return bus->exited;
}

const char *devbus_exit_message(const struct devbus *bus)
{
	return bus->exited ? bus->exit_msg : NULL;
}
