/* 8259A programmable interrupt controller pair (master at 0x20, slave at 0xa0 on
 * master IRQ 2) with the PIIX edge/level control registers at 0x4d0/0x4d1. It
 * is the bus's interrupt controller: the run loop asks it for a vector. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../pc.h"

struct pic_chip {
	uint8_t irr, imr, isr;
	uint8_t last_irr; /* line levels, for edge detection */
	uint8_t priority_add;
	uint8_t irq_base;
	uint8_t read_reg_select; /* OCW3: 1 reads ISR, 0 IRR */
	uint8_t poll;
	uint8_t special_mask;
	uint8_t init_state; /* 0 ready, 1..3: waiting for ICW2..ICW4 */
	uint8_t auto_eoi;
	uint8_t rotate_on_auto_eoi;
	uint8_t special_fully_nested;
	uint8_t init4;
	uint8_t single_mode;
	uint8_t elcr; /* 1: level triggered */
};

struct pic {
	struct pic_chip chip[2]; /* the checkpoint: plain bytes, no padding */
	struct devbus *bus;
};

static const uint8_t elcr_mask[2] = {0xf8, 0xde}; /* IRQ 0-2, 8 and 13 are always edge */

/* Highest priority set in mask, as 0..7 relative to priority_add; 8 when none. */
static int pic_priority(const struct pic_chip *c, uint8_t mask)
{
	if (!mask)
		return 8;
	int p = 0;
	while (!(mask & (1u << ((p + c->priority_add) & 7))))
		p++;
	return p;
}

/* The IRQ the chip would raise now, or -1. */
static int pic_chip_irq(const struct pic_chip *c, bool master)
{
	int p = pic_priority(c, c->irr & ~c->imr);
	if (p == 8)
		return -1;
	uint8_t mask = c->isr;
	if (c->special_mask)
		mask &= ~c->imr;
	if (c->special_fully_nested && master)
		mask &= ~(1u << 2);
	int cur = pic_priority(c, mask);
	return p < cur ? (p + c->priority_add) & 7 : -1;
}

static void pic_chip_set(struct pic_chip *c, unsigned irq, bool level)
{
	uint8_t m = (uint8_t)(1u << irq);
	if (c->elcr & m) {
		if (level) {
			c->irr |= m;
			c->last_irr |= m;
		} else {
			c->irr &= (uint8_t)~m;
			c->last_irr &= (uint8_t)~m;
		}
	} else if (level) {
		if (!(c->last_irr & m))
			c->irr |= m;
		c->last_irr |= m;
	} else {
		c->last_irr &= (uint8_t)~m;
	}
}

/* The slave's output is the master's IRQ 2 line. */
static void pic_update(struct pic *p)
{
	pic_chip_set(&p->chip[0], 2, pic_chip_irq(&p->chip[1], false) >= 0);
}

static void pic_intack(struct pic_chip *c, int irq)
{
	if (c->auto_eoi) {
		if (c->rotate_on_auto_eoi)
			c->priority_add = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= (uint8_t)(1u << irq);
	}
	if (!(c->elcr & (1u << irq)))
		c->irr &= (uint8_t) ~(1u << irq);
}

static void pic_chip_reset(struct pic_chip *c)
{
	uint8_t elcr = c->elcr;
	memset(c, 0, sizeof(*c));
	c->elcr = elcr;
}

static void pic_write_chip(struct pic *p, int n, unsigned reg, uint8_t val)
{
	struct pic_chip *c = &p->chip[n];
	if (reg == 0) {
		if (val & 0x10) { /* ICW1 */
			pic_chip_reset(c);
			c->init_state = 1;
			c->init4 = val & 1;
			c->single_mode = (val >> 1) & 1;
		} else if (val & 0x08) { /* OCW3 */
			if (val & 0x04)
				c->poll = 1;
			if (val & 0x02)
				c->read_reg_select = val & 1;
			if (val & 0x40)
				c->special_mask = (val >> 5) & 1;
		} else { /* OCW2 */
			unsigned cmd = val >> 5;
			int irq;
			switch (cmd) {
			case 0: /* rotate in auto-EOI mode clear / set */
			case 4:
				c->rotate_on_auto_eoi = (uint8_t)(cmd >> 2);
				break;
			case 1: /* non-specific EOI */
			case 5: /* rotate on non-specific EOI */
				irq = pic_priority(c, c->isr);
				if (irq != 8) {
					irq = (irq + c->priority_add) & 7;
					c->isr &= (uint8_t) ~(1u << irq);
					if (cmd == 5)
						c->priority_add = (uint8_t)((irq + 1) & 7);
				}
				break;
			case 3: /* specific EOI */
				c->isr &= (uint8_t) ~(1u << (val & 7));
				break;
			case 6: /* set priority */
				c->priority_add = (uint8_t)((val + 1) & 7);
				break;
			case 7: /* rotate on specific EOI */
				c->isr &= (uint8_t) ~(1u << (val & 7));
				c->priority_add = (uint8_t)((val + 1) & 7);
				break;
			default: /* 2: no operation */
				break;
			}
		}
	} else {
		switch (c->init_state) {
		case 0: /* OCW1 */
			c->imr = val;
			break;
		case 1: /* ICW2 */
			c->irq_base = val & 0xf8;
			c->init_state = c->single_mode ? (c->init4 ? 3 : 0) : 2;
			break;
		case 2: /* ICW3: cascade wiring is fixed */
			c->init_state = c->init4 ? 3 : 0;
			break;
		default: /* ICW4 */
			c->special_fully_nested = (val >> 4) & 1;
			c->auto_eoi = (val >> 1) & 1;
			c->init_state = 0;
			break;
		}
	}
	pic_update(p);
}

/* Poll mode: the read acknowledges the highest request like an INTA cycle. */
static uint8_t pic_poll_read(struct pic *p, int n)
{
	struct pic_chip *c = &p->chip[n];
	int irq = pic_chip_irq(c, n == 0);
	c->poll = 0;
	if (irq < 0)
		return 0;
	pic_intack(c, irq);
	pic_update(p);
	return (uint8_t)(0x80 | irq);
}

static uint64_t pic_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct pic *p = opaque;
	(void)space;
	(void)size;
	if (addr == 0x4d0 || addr == 0x4d1)
		return p->chip[addr - 0x4d0].elcr;
	int n = addr >= 0xa0;
	struct pic_chip *c = &p->chip[n];
	if (c->poll)
		return pic_poll_read(p, n);
	if (addr & 1)
		return c->imr;
	return c->read_reg_select ? c->isr : c->irr;
}

static void pic_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct pic *p = opaque;
	(void)space;
	(void)size;
	if (addr == 0x4d0 || addr == 0x4d1) {
		int n = (int)(addr - 0x4d0);
		p->chip[n].elcr = (uint8_t)val & elcr_mask[n];
		pic_update(p);
		return;
	}
	pic_write_chip(p, addr >= 0xa0, (unsigned)(addr & 1), (uint8_t)val);
}

static void pic_irq_changed(void *opaque, unsigned line, bool level)
{
	struct pic *p = opaque;
	if (line >= 16 || line == 2)
		return; /* IRQ 2 is the cascade; IOAPIC-only pins do not reach the 8259 */
	pic_chip_set(&p->chip[line >> 3], line & 7, level);
	pic_update(p);
}

static bool pic_pending(void *opaque)
{
	struct pic *p = opaque;
	return pic_chip_irq(&p->chip[0], true) >= 0;
}

static int pic_ack(void *opaque)
{
	struct pic *p = opaque;
	int irq = pic_chip_irq(&p->chip[0], true), vec;
	if (irq < 0)
		return -1;
	pic_intack(&p->chip[0], irq);
	if (irq == 2) {
		int irq2 = pic_chip_irq(&p->chip[1], false);
		if (irq2 >= 0)
			pic_intack(&p->chip[1], irq2);
		else
			irq2 = 7; /* spurious on the slave */
		vec = p->chip[1].irq_base + irq2;
	} else {
		vec = p->chip[0].irq_base + irq;
	}
	pic_update(p);
	return vec;
}

static size_t pic_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct pic *p = opaque;
	if (cap >= sizeof(p->chip))
		memcpy(buf, p->chip, sizeof(p->chip));
	return sizeof(p->chip);
}

static int pic_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct pic *p = opaque;
	struct pic_chip c[2];
	if (len != sizeof(c))
		return -EINVAL;
	memcpy(c, buf, sizeof(c));
	for (int i = 0; i < 2; i++)
		if (c[i].init_state > 3 || c[i].priority_add > 7 || (c[i].irq_base & 7) ||
		    c[i].elcr & ~elcr_mask[i] || c[i].read_reg_select > 1 || c[i].poll > 1 ||
		    c[i].special_mask > 1 || c[i].auto_eoi > 1 || c[i].rotate_on_auto_eoi > 1 ||
		    c[i].special_fully_nested > 1 || c[i].init4 > 1 || c[i].single_mode > 1)
			return -EINVAL;
	memcpy(p->chip, c, sizeof(c));
	return 0;
}

static const struct devbus_ops pic_ops = {
    .name = PC_DEV_PIC,
    .read = pic_read,
    .write = pic_write,
    .save = pic_save,
    .restore = pic_restore,
    .free = free,
};

static const struct devbus_intc_ops pic_intc_ops = {
    .irq_changed = pic_irq_changed,
    .pending = pic_pending,
    .ack = pic_ack,
};

int pc_pic_add(struct devbus *bus)
{
	struct pic *p = calloc(1, sizeof(*p));
	struct devbus_dev *dev;
	int err;

	if (!p)
		return -ENOMEM;
	p->bus = bus;
	if ((err = devbus_add(bus, &pic_ops, p, &dev)))
		return err;
	if ((err = devbus_map_pio(bus, dev, 0x20, 2)) || (err = devbus_map_pio(bus, dev, 0xa0, 2)) ||
	    (err = devbus_map_pio(bus, dev, 0x4d0, 2)))
		return err;
	devbus_set_intc(bus, &pic_intc_ops, p);
	return 0;
}
