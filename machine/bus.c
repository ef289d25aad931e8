/* The deterministic device bus: devices, port and MMIO dispatch, the virtual clock, IRQ lines, DMA, console.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

/* A guest printing forever must not exhaust the host: later bytes are dropped. */
#define CONSOLE_MAX (64u << 20)

struct devbus *devbus_new(void)
{
	struct devbus *bus = calloc(1, sizeof(*bus));

	if (bus)
		bus->post = -1;
	return bus;
}

void devbus_free(struct devbus *bus)
{
	if (!bus)
		return;
	for (size_t i = 0; i < bus->ndevs; i++) {
		struct devbus_dev *d = bus->devs[i];

		if (d->ops->free)
			d->ops->free(d->opaque);
		free(d);
	}
	free(bus->devs);
	free(bus->ranges[0]);
	free(bus->ranges[1]);
	free(bus->console);
	free(bus);
}

struct devbus_dev *devbus_find_dev(const struct devbus *bus, const char *name)
{
	for (size_t i = 0; i < bus->ndevs; i++)
		if (strcmp(bus->devs[i]->ops->name, name) == 0)
			return bus->devs[i];
	return NULL;
}

int devbus_add(struct devbus *bus, const struct devbus_ops *ops, void *opaque, struct devbus_dev **out)
{
	struct devbus_dev *d = NULL, **devs;
	int err = 0;

	if (out)
		*out = NULL;
	if (!ops->name || !ops->name[0] || strlen(ops->name) > 255) {
		err = -EINVAL;
		goto fail;
	}
	if (devbus_find_dev(bus, ops->name)) {
		err = -EEXIST;
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	devs = realloc(bus->devs, (bus->ndevs + 1) * sizeof(*devs));
	if (!d || !devs) {
		free(d);
		err = -ENOMEM;
		goto fail;
	}
	bus->devs = devs;
	d->ops = ops;
	d->opaque = opaque;
	d->deadline = DEVBUS_NEVER;
	d->index = (unsigned)bus->ndevs;
	bus->devs[bus->ndevs++] = d;
	if (out)
		*out = d;
	return 0;
fail:
	if (ops->free)
		ops->free(opaque);
	return err;
}

static int map_range(struct devbus *bus, enum devbus_space sp, struct devbus_dev *dev, uint64_t base,
                     uint64_t len)
{
	struct devbus_range *r;

	if (!dev || len == 0 || base + len < base || (sp == DEVBUS_PIO && base + len > 0x10000))
		return -EINVAL;
	for (size_t i = 0; i < bus->nranges[sp]; i++) {
		r = &bus->ranges[sp][i];
		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	r = realloc(bus->ranges[sp], (bus->nranges[sp] + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	bus->ranges[sp] = r;
	r[bus->nranges[sp]++] = (struct devbus_range){base, len, dev};
	return 0;
}

int devbus_map_pio(struct devbus *bus, struct devbus_dev *dev, uint16_t base, uint32_t len)
{
	return map_range(bus, DEVBUS_PIO, dev, base, len);
}

int devbus_map_mmio(struct devbus *bus, struct devbus_dev *dev, uint64_t base, uint64_t len)
{
	return map_range(bus, DEVBUS_MMIO, dev, base, len);
}

int devbus_remap_mmio(struct devbus *bus, struct devbus_dev *dev, uint64_t old_base, uint64_t new_base)
{
	struct devbus_range *moved = NULL;

	for (size_t i = 0; i < bus->nranges[DEVBUS_MMIO]; i++) {
		struct devbus_range *r = &bus->ranges[DEVBUS_MMIO][i];

		if (r->dev == dev && r->base == old_base)
			moved = r;
	}
	if (!moved)
		return -ENOENT;
	if (new_base + moved->len < new_base)
		return -EINVAL;
	for (size_t i = 0; i < bus->nranges[DEVBUS_MMIO]; i++) {
		struct devbus_range *r = &bus->ranges[DEVBUS_MMIO][i];

		if (r != moved && new_base < r->base + r->len && r->base < new_base + moved->len)
			return -EEXIST;
	}
	moved->base = new_base;
	return 0;
}

void *devbus_find(const struct devbus *bus, const char *name)
{
	struct devbus_dev *d = devbus_find_dev(bus, name);

	return d ? d->opaque : NULL;
}

static const struct devbus_range *lookup(const struct devbus *bus, enum devbus_space sp, uint64_t addr)
{
	for (size_t i = 0; i < bus->nranges[sp]; i++) {
		const struct devbus_range *r = &bus->ranges[sp][i];

		if (addr >= r->base && addr - r->base < r->len)
			return r;
	}
	return NULL;
}

/* One access of a legal size: whole when one range holds it, else byte by byte. Returns claimed. */
static bool bus_access(struct devbus *bus, enum devbus_space sp, uint64_t addr, unsigned size, bool is_write,
                       uint8_t *data)
{
	const struct devbus_range *r = lookup(bus, sp, addr);
	bool claimed = false;

	if (r && addr + size - 1 - r->base < r->len) {
		const struct devbus_ops *ops = r->dev->ops;

		if (is_write) {
			if (ops->write)
				ops->write(r->dev->opaque, sp, addr, size, devbus_load_le(data, size));
		} else {
			uint64_t v = ops->read ? ops->read(r->dev->opaque, sp, addr, size) : UINT64_MAX;

			devbus_store_le(data, size, v);
		}
		return true;
	}
	if (size == 1) {
		if (!is_write)
			data[0] = 0xff;
		return false;
	}
	for (unsigned i = 0; i < size; i++)
		claimed |= bus_access(bus, sp, addr + i, 1, is_write, data + i);
	return claimed;
}

int devbus_pio(struct devbus *bus, uint16_t port, unsigned size, bool is_write, uint8_t *data, uint32_t count)
{
	bool claimed = false;

	if (size != 1 && size != 2 && size != 4) {
		if (!is_write)
			memset(data, 0xff, size <= 4 ? size : 4);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < count; i++)
		claimed |= bus_access(bus, DEVBUS_PIO, port, size, is_write, data + (size_t)i * size);
	return claimed ? 0 : 1;
}

int devbus_mmio(struct devbus *bus, uint64_t gpa, unsigned size, bool is_write, uint8_t *data)
{
	bool claimed = false;

	if (size == 0 || size > 8) {
		if (!is_write && size > 8)
			memset(data, 0xff, 8);
		return -EINVAL;
	}
	if (size == 1 || size == 2 || size == 4 || size == 8) {
		claimed = bus_access(bus, DEVBUS_MMIO, gpa, size, is_write, data);
	} else {
		for (unsigned i = 0; i < size; i++)
			claimed |= bus_access(bus, DEVBUS_MMIO, gpa + i, 1, is_write, data + i);
	}
	return claimed ? 0 : 1;
}

bool devbus_claims_mmio(const struct devbus *bus, uint64_t gpa)
{
	return lookup(bus, DEVBUS_MMIO, gpa) != NULL;
}

uint64_t devbus_now(const struct devbus *bus)
{
	return bus->now;
}

static struct devbus_dev *next_due(const struct devbus *bus, uint64_t until)
{
	struct devbus_dev *best = NULL;

	for (size_t i = 0; i < bus->ndevs; i++) {
		struct devbus_dev *d = bus->devs[i];

		if (d->deadline <= until && (!best || d->deadline < best->deadline))
			best = d;
	}
	return best;
}

void devbus_advance(struct devbus *bus, uint64_t delta)
{
	uint64_t target = bus->now + delta < bus->now ? DEVBUS_NEVER - 1 : bus->now + delta;
	struct devbus_dev *d;

	/* Event order: each tick sees the clock at its own deadline. */
	while ((d = next_due(bus, target))) {
		uint64_t next;

		if (d->deadline > bus->now)
			bus->now = d->deadline;
		next = d->ops->tick ? d->ops->tick(d->opaque, bus->now) : DEVBUS_NEVER;
		d->deadline = next > bus->now ? next : bus->now + 1;
	}
	bus->now = target;
}

void devbus_set_deadline(struct devbus *bus, struct devbus_dev *dev, uint64_t when)
{
	(void)bus;
	if (dev)
		dev->deadline = when;
}

uint64_t devbus_next_deadline(const struct devbus *bus)
{
	uint64_t best = DEVBUS_NEVER;

	for (size_t i = 0; i < bus->ndevs; i++)
		if (bus->devs[i]->deadline < best)
			best = bus->devs[i]->deadline;
	return best;
}

void devbus_irq_set(struct devbus *bus, unsigned line, bool level)
{
	uint32_t bit;

	if (line >= DEVBUS_NIRQ)
		return;
	bit = 1u << line;
	if (!!(bus->irq_levels & bit) == level)
		return;
	bus->irq_levels ^= bit;
	if (bus->intc && bus->intc->irq_changed)
		bus->intc->irq_changed(bus->intc_opaque, line, level);
}

bool devbus_irq_level(const struct devbus *bus, unsigned line)
{
	return line < DEVBUS_NIRQ && (bus->irq_levels & (1u << line));
}

void devbus_set_intc(struct devbus *bus, const struct devbus_intc_ops *ops, void *opaque)
{
	bus->intc = ops;
	bus->intc_opaque = opaque;
	if (!ops || !ops->irq_changed)
		return;
	for (unsigned line = 0; line < DEVBUS_NIRQ; line++)
		if (bus->irq_levels & (1u << line))
			ops->irq_changed(opaque, line, true);
}

bool devbus_intr_pending(struct devbus *bus)
{
	return bus->intc && bus->intc->pending && bus->intc->pending(bus->intc_opaque);
}

int devbus_intr_ack(struct devbus *bus)
{
	return bus->intc && bus->intc->ack ? bus->intc->ack(bus->intc_opaque) : -1;
}

void devbus_set_memory(struct devbus *bus, const struct devbus_mem_ops *ops, void *opaque)
{
	bus->mem = ops;
	bus->mem_opaque = opaque;
}

int devbus_dma_read(struct devbus *bus, uint64_t gpa, void *buf, size_t len)
{
	if (!bus->mem || !bus->mem->read)
		return -ENODEV;
	return bus->mem->read(bus->mem_opaque, gpa, buf, len);
}

int devbus_dma_write(struct devbus *bus, uint64_t gpa, const void *buf, size_t len)
{
	if (!bus->mem || !bus->mem->write)
		return -ENODEV;
	return bus->mem->write(bus->mem_opaque, gpa, buf, len);
}

/* Console. */

void devbus_console_put(struct devbus *bus, uint8_t c)
{
	if (bus->echo) {
		ssize_t r = write(STDERR_FILENO, &c, 1);

		(void)r;
	}
	if (bus->console_len == bus->console_cap) {
		size_t cap = bus->console_cap ? bus->console_cap * 2 : 4096;
		uint8_t *p;

		if (bus->console_cap >= CONSOLE_MAX)
			return;
		p = realloc(bus->console, cap);
		if (!p)
			return;
		bus->console = p;
		bus->console_cap = cap;
	}
	bus->console[bus->console_len++] = c;
}

const uint8_t *devbus_console(const struct devbus *bus, size_t *len)
{
	*len = bus->console_len;
	return bus->console ? bus->console : (const uint8_t *)"";
}

void devbus_set_echo(struct devbus *bus, bool on)
{
	bus->echo = on;
}

int devbus_add_standard(struct devbus *bus)
{
	int err;

	if ((err = devbus_add_uart(bus, "com1", DEVBUS_PORT_COM1, DEVBUS_IRQ_COM1)) ||
	    (err = devbus_add_debug_exit(bus)) || (err = devbus_add_post(bus)) ||
	    (err = devbus_add_debugcon(bus)) ||
	    (err = devbus_add_debugcon_at(bus, "seabios-debug", DEVBUS_PORT_SEABIOS_DEBUG)) ||
	    (err = devbus_add_mmio_test(bus)))
		return err;
	return 0;
}
