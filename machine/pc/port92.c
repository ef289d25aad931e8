/* System control port A (0x92): bit 1 is the fast A20 gate, bit 0 a write-1
 * fast reset (reads back as written until the reset happens). Other bits are
 * stored and read back, as on PIIX chipsets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc_private.h"

struct port92_regs {
	uint8_t value;
	uint8_t reset_requested;
};

struct port92 {
	struct port92_regs r;
};

static uint64_t port92_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	const struct port92 *p = opaque;
	(void)space;
	(void)addr;
	(void)size;
	return p->r.value;
}

static void port92_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct port92 *p = opaque;
	(void)space;
	(void)addr;
	(void)size;
	/* The reset is on the 0 -> 1 edge of bit 0. */
	if ((val & 1) && !(p->r.value & 1))
		p->r.reset_requested = 1;
	p->r.value = (uint8_t)val;
}

static size_t port92_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct port92 *p = opaque;
	if (cap >= sizeof(p->r))
		memcpy(buf, &p->r, sizeof(p->r));
	return sizeof(p->r);
}

static int port92_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct port92 *p = opaque;
	struct port92_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if (r.reset_requested > 1)
		return -EINVAL;
	p->r = r;
	return 0;
}

static const struct devbus_ops port92_ops = {
    .name = PC_DEV_PORT92,
    .read = port92_read,
    .write = port92_write,
    .save = port92_save,
    .restore = port92_restore,
    .free = free,
};

int pc_port92_add(struct devbus *bus)
{
	struct port92 *p = calloc(1, sizeof(*p));
	struct devbus_dev *dev;
	int err;

	if (!p)
		return -ENOMEM;
	p->r.value = 0x02; /* A20 on at power-up, as the i8042 output port */
	if ((err = devbus_add(bus, &port92_ops, p, &dev)))
		return err;
	return devbus_map_pio(bus, dev, 0x92, 1);
}

bool pc_port92_a20(const struct devbus *bus, bool *present)
{
	const struct port92 *p = devbus_find(bus, PC_DEV_PORT92);
	*present = p != NULL;
	return p && (p->r.value & 2);
}

bool pc_port92_reset(const struct devbus *bus)
{
	const struct port92 *p = devbus_find(bus, PC_DEV_PORT92);
	return p && p->r.reset_requested;
}
