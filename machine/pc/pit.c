/* 8254 programmable interval timer at 0x40-0x43, counting the bus's virtual
 * clock (one unit = one 1.193182 MHz input clock), and system control port B
 * (0x61: channel 2 gate, speaker enable, refresh toggle, channel 2 OUT).
 * Channel 0's OUT drives IRQ 0; counters are computed from the virtual time of
 * their last load, so reading them needs no tick. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../pc.h"

enum { RW_LATCHED = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

struct pit_channel {
	uint64_t load_time; /* virtual time the count was loaded */
	uint32_t count;     /* 1..0x10000 */
	uint16_t latched_count;
	uint8_t count_latched; /* RW_* state of the latch, 0: none */
	uint8_t status_latched;
	uint8_t status;
	uint8_t read_state;
	uint8_t write_state;
	uint8_t write_latch;
	uint8_t rw_mode;
	uint8_t mode;
	uint8_t bcd;
	uint8_t gate;
};

struct pit_regs {
	struct pit_channel ch[3];
	uint8_t port61; /* bits 0 (gate 2) and 1 (speaker data) as written */
	uint8_t irq0;   /* level last driven on IRQ 0 */
	uint8_t pad[6];
};

struct pit {
	struct pit_regs r;
	struct devbus *bus;
	struct devbus_dev *dev;
};

static uint32_t pit_count(const struct pit_channel *c, uint64_t now)
{
	uint64_t d = now - c->load_time;
	switch (c->mode) {
	case 0:
	case 1:
	case 4:
	case 5:
		return (uint32_t)((c->count - d) & 0xffff);
	case 3:
		return (uint32_t)(c->count - ((2 * d) % c->count));
	default:
		return (uint32_t)(c->count - (d % c->count));
	}
}

static int pit_out(const struct pit_channel *c, uint64_t now)
{
	uint64_t d = now - c->load_time;
	switch (c->mode) {
	default:
	case 0:
		return d >= c->count;
	case 1:
		return d < c->count;
	case 2:
		/* High, low for the one clock the count is 1, high again at the reload (the IRQ edge). */
		if (c->count == 1)
			return d != 0; /* count 1 is illegal in mode 2: one edge, then high */
		return (d % c->count) != c->count - 1;
	case 3:
		return (d % c->count) < ((c->count + 1) >> 1);
	case 4:
	case 5:
		/* High, a one-clock low strobe at terminal count. */
		return d != c->count;
	}
}

/* Virtual time of OUT's next change after now, DEVBUS_NEVER when none. */
static uint64_t pit_next_transition(const struct pit_channel *c, uint64_t now)
{
	uint64_t d = now - c->load_time, next, base, period2;
	switch (c->mode) {
	default:
	case 0:
	case 1:
		if (d < c->count)
			next = c->count;
		else
			return DEVBUS_NEVER;
		break;
	case 2:
		base = (d / c->count) * c->count;
		if (c->count == 1)
			next = d == 0 ? 1 : DEVBUS_NEVER;
		else if (d - base < c->count - 1)
			next = base + c->count - 1;
		else
			next = base + c->count;
		if (next == DEVBUS_NEVER)
			return DEVBUS_NEVER;
		break;
	case 3:
		base = (d / c->count) * c->count;
		period2 = (c->count + 1) >> 1;
		if (d - base < period2)
			next = base + period2;
		else
			next = base + c->count;
		break;
	case 4:
	case 5:
		if (d < c->count)
			next = c->count;
		else if (d == c->count)
			next = c->count + 1;
		else
			return DEVBUS_NEVER;
		break;
	}
	next += c->load_time;
	return next > now ? next : now + 1;
}

/* Drives IRQ 0 from channel 0's OUT and schedules its next change. */
static void pit_irq_update(struct pit *p, uint64_t now)
{
	const struct pit_channel *c = &p->r.ch[0];
	int out = pit_out(c, now);
	if (out != p->r.irq0) {
		p->r.irq0 = (uint8_t)out;
		devbus_irq_set(p->bus, 0, out);
	}
	devbus_set_deadline(p->bus, p->dev, pit_next_transition(c, now));
}

static uint64_t pit_tick(void *opaque, uint64_t now)
{
	struct pit *p = opaque;
	const struct pit_channel *c = &p->r.ch[0];
	int out = pit_out(c, now);
	if (out != p->r.irq0) {
		p->r.irq0 = (uint8_t)out;
		devbus_irq_set(p->bus, 0, out);
	}
	return pit_next_transition(c, now);
}

static void pit_load(struct pit *p, int n, uint32_t val, uint64_t now)
{
	struct pit_channel *c = &p->r.ch[n];
	c->count = val ? val : 0x10000;
	c->load_time = now;
	if (n == 0)
		pit_irq_update(p, now);
}

static void pit_latch_count(struct pit_channel *c, uint64_t now)
{
	if (!c->count_latched) {
		c->latched_count = (uint16_t)pit_count(c, now);
		c->count_latched = c->rw_mode;
	}
}

static uint64_t pit_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct pit *p = opaque;
	uint64_t now = devbus_now(p->bus);
	(void)space;
	(void)size;
	if (addr == 0x61) {
		const struct pit_channel *c2 = &p->r.ch[2];
		/* Bit 4 toggles with DRAM refresh, every 15.085 us (18 input clocks). */
		return (p->r.port61 & 3) | (((now / 18) & 1) << 4) | (pit_out(c2, now) << 5);
	}
	if (addr == 0x43)
		return 0xff; /* the control word register cannot be read */
	struct pit_channel *c = &p->r.ch[addr - 0x40];
	uint32_t count;
	uint8_t ret;
	if (c->status_latched) {
		c->status_latched = 0;
		return c->status;
	}
	switch (c->count_latched) {
	case RW_LSB:
		c->count_latched = 0;
		return c->latched_count & 0xff;
	case RW_MSB:
		c->count_latched = 0;
		return c->latched_count >> 8;
	case RW_WORD0:
		c->count_latched = RW_MSB;
		return c->latched_count & 0xff;
	default:
		break;
	}
	count = pit_count(c, now);
	switch (c->read_state) {
	default:
	case RW_LSB:
		ret = count & 0xff;
		break;
	case RW_MSB:
		ret = (count >> 8) & 0xff;
		break;
	case RW_WORD0:
		ret = count & 0xff;
		c->read_state = RW_WORD1;
		break;
	case RW_WORD1:
		ret = (count >> 8) & 0xff;
		c->read_state = RW_WORD0;
		break;
	}
	return ret;
}

static void pit_set_gate(struct pit *p, int n, int gate, uint64_t now)
{
	struct pit_channel *c = &p->r.ch[n];
	/* A rising gate restarts counting in modes 1, 2, 3 and 5. */
	if (!c->gate && gate && (c->mode == 1 || c->mode == 2 || c->mode == 3 || c->mode == 5)) {
		c->load_time = now;
		if (n == 0)
			pit_irq_update(p, now);
	}
	c->gate = (uint8_t)gate;
}

static void pit_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val64)
{
	struct pit *p = opaque;
	uint64_t now = devbus_now(p->bus);
	uint8_t val = (uint8_t)val64;
	(void)space;
	(void)size;
	if (addr == 0x61) {
		p->r.port61 = val & 3;
		pit_set_gate(p, 2, val & 1, now);
		return;
	}
	if (addr == 0x43) {
		unsigned n = val >> 6;
		if (n == 3) { /* read-back */
			for (int i = 0; i < 3; i++) {
				struct pit_channel *c = &p->r.ch[i];
				if (!(val & (2u << i)))
					continue;
				if (!(val & 0x20))
					pit_latch_count(c, now);
				if (!(val & 0x10) && !c->status_latched) {
					c->status = (uint8_t)((pit_out(c, now) << 7) | (c->rw_mode << 4) |
					                      (c->mode << 1) | c->bcd);
					c->status_latched = 1;
				}
			}
			return;
		}
		struct pit_channel *c = &p->r.ch[n];
		unsigned access = (val >> 4) & 3;
		if (access == 0) {
			pit_latch_count(c, now);
		} else {
			c->rw_mode = (uint8_t)access;
			c->read_state = (uint8_t)access;
			c->write_state = (uint8_t)access;
			c->mode = (val >> 1) & 7;
			if (c->mode > 5)
				c->mode &= 3; /* 6 and 7 are modes 2 and 3 */
			c->bcd = val & 1;
			if (n == 0)
				pit_irq_update(p, now);
		}
		return;
	}
	int n = (int)(addr - 0x40);
	struct pit_channel *c = &p->r.ch[n];
	switch (c->write_state) {
	default:
	case RW_LSB:
		pit_load(p, n, val, now);
		break;
	case RW_MSB:
		pit_load(p, n, (uint32_t)val << 8, now);
		break;
	case RW_WORD0:
		c->write_latch = val;
		c->write_state = RW_WORD1;
		break;
	case RW_WORD1:
		pit_load(p, n, c->write_latch | ((uint32_t)val << 8), now);
		c->write_state = RW_WORD0;
		break;
	}
}

static size_t pit_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct pit *p = opaque;
	if (cap >= sizeof(p->r))
		memcpy(buf, &p->r, sizeof(p->r));
	return sizeof(p->r);
}

static int pit_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct pit *p = opaque;
	struct pit_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	for (int i = 0; i < 3; i++) {
		const struct pit_channel *c = &r.ch[i];
		if (c->count < 1 || c->count > 0x10000 || c->mode > 5 || c->rw_mode < 1 || c->rw_mode > 3 ||
		    c->read_state < 1 || c->read_state > 4 || c->write_state < 1 || c->write_state > 4 ||
		    c->count_latched > 3 || c->bcd > 1 || c->gate > 1 || c->status_latched > 1)
			return -EINVAL;
	}
	if (r.port61 > 3 || r.irq0 > 1)
		return -EINVAL;
	p->r = r;
	return 0;
}

static const struct devbus_ops pit_ops = {
    .name = PC_DEV_PIT,
    .read = pit_read,
    .write = pit_write,
    .tick = pit_tick,
    .save = pit_save,
    .restore = pit_restore,
    .free = free,
};

int pc_pit_add(struct devbus *bus)
{
	struct pit *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->bus = bus;
	/* Power-on: mode 3 with count 0x10000 and the gate high, as PC firmware
	 * expects before it programs the timer; channel 2's gate follows port 0x61. */
	for (int i = 0; i < 3; i++) {
		struct pit_channel *c = &p->r.ch[i];
		c->mode = 3;
		c->gate = i != 2;
		c->rw_mode = c->read_state = c->write_state = RW_WORD0;
		c->count = 0x10000;
	}
	if ((err = devbus_add(bus, &pit_ops, p, &p->dev)))
		return err;
	if ((err = devbus_map_pio(bus, p->dev, 0x40, 4)) || (err = devbus_map_pio(bus, p->dev, 0x61, 1)))
		return err;
	pit_irq_update(p, devbus_now(bus));
	return 0;
}
