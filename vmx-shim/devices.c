/* The deterministic device bus and the standard devices (UART, debug exit, POST, debug console, MMIO test).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices.h"

/* A guest printing forever must not exhaust the host: later bytes are dropped. */
#define CONSOLE_MAX (64u << 20)
#define SAVE_MAGIC  "EDBUS01"

struct devbus_dev {
	const struct devbus_ops *ops;
	void *opaque;
	uint64_t deadline;
	unsigned index;
};

struct devbus_range {
	uint64_t base, len;
	struct devbus_dev *dev;
};

struct devbus {
	struct devbus_dev **devs;
	size_t ndevs;
	struct devbus_range *ranges[2]; /* by enum devbus_space */
	size_t nranges[2];
	uint64_t now;
	uint32_t irq_levels;
	const struct devbus_intc_ops *intc;
	void *intc_opaque;
	uint8_t *console;
	size_t console_len, console_cap;
	bool echo;
	bool exited;
	uint32_t exit_status;
	char exit_msg[48];
	int post;
	void *mmio_test;
	const struct devbus_mem_ops *mem;
	void *mem_opaque;
};

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

static struct devbus_dev *find_dev(const struct devbus *bus, const char *name)
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
	if (find_dev(bus, ops->name)) {
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

void *devbus_find(const struct devbus *bus, const char *name)
{
	struct devbus_dev *d = find_dev(bus, name);

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

static uint64_t load_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void store_le(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
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
				ops->write(r->dev->opaque, sp, addr, size, load_le(data, size));
		} else {
			uint64_t v = ops->read ? ops->read(r->dev->opaque, sp, addr, size) : UINT64_MAX;

			store_le(data, size, v);
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

/* Checkpoints. */

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void buf_put(struct buf *b, const void *data, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Saves into a new buffer; also used for the rollback copy in restore. */
int devbus_save(const struct devbus *bus, uint8_t **out, size_t *out_len)
{
	struct buf b = {0};
	uint32_t ndevs = (uint32_t)bus->ndevs;
	uint8_t exited = bus->exited;

	*out = NULL;
	*out_len = 0;
	buf_put(&b, SAVE_MAGIC, 8);
	buf_put(&b, &bus->now, 8);
	buf_put(&b, &bus->irq_levels, 4);
	buf_put(&b, &exited, 1);
	buf_put(&b, &bus->exit_status, 4);
	buf_put(&b, &ndevs, 4);
	for (size_t i = 0; i < bus->ndevs; i++) {
		const struct devbus_dev *d = bus->devs[i];
		uint8_t nlen = (uint8_t)strlen(d->ops->name);
		uint32_t slen = d->ops->save ? (uint32_t)d->ops->save(d->opaque, NULL, 0) : 0;
		buf_put(&b, &nlen, 1);
		buf_put(&b, d->ops->name, nlen);
		buf_put(&b, &d->deadline, 8);
		buf_put(&b, &slen, 4);
		if (slen && !b.oom) {
			uint8_t *tmp = malloc(slen);

			if (!tmp) {
				b.oom = true;
				break;
			}
			if (d->ops->save(d->opaque, tmp, slen) != slen)
				memset(tmp, 0, slen);
			buf_put(&b, tmp, slen);
			free(tmp);
		}
	}
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

struct rec {
	struct devbus_dev *dev;
	uint64_t deadline;
	const uint8_t *state;
	uint32_t len;
};

static bool take(const uint8_t **p, size_t *left, void *dst, size_t n)
{
	if (*left < n)
		return false;
	if (dst)
		memcpy(dst, *p, n);
	*p += n;
	*left -= n;
	return true;
}

/* Parses and checks a whole checkpoint; recs gets one entry per device, in bus order. */
static int parse(const struct devbus *bus, const uint8_t *p, size_t left, struct rec *recs, uint64_t *now,
                 uint32_t *irq, uint8_t *exited, uint32_t *status)
{
	char magic[8];
	uint32_t ndevs;

	if (!take(&p, &left, magic, 8) || memcmp(magic, SAVE_MAGIC, 8) != 0 || !take(&p, &left, now, 8) ||
	    !take(&p, &left, irq, 4) || !take(&p, &left, exited, 1) || !take(&p, &left, status, 4) ||
	    !take(&p, &left, &ndevs, 4) || ndevs != bus->ndevs)
		return -EINVAL;
	memset(recs, 0, bus->ndevs * sizeof(*recs));
	for (uint32_t i = 0; i < ndevs; i++) {
		char name[256];
		uint8_t nlen;
		struct rec r;
		struct devbus_dev *d;

		if (!take(&p, &left, &nlen, 1) || !take(&p, &left, name, nlen))
			return -EINVAL;
		name[nlen] = 0;
		if (!take(&p, &left, &r.deadline, 8) || !take(&p, &left, &r.len, 4))
			return -EINVAL;
		r.state = p;
		if (!take(&p, &left, NULL, r.len))
			return -EINVAL;
		d = find_dev(bus, name);
		if (!d || recs[d->index].dev)
			return -EINVAL;
		if (r.len && !d->ops->restore)
			return -EINVAL;
		r.dev = d;
		recs[d->index] = r;
	}
	return left == 0 ? 0 : -EINVAL;
}

static int apply(struct devbus *bus, const uint8_t *buf, size_t len)
{
	struct rec *recs = calloc(bus->ndevs ? bus->ndevs : 1, sizeof(*recs));
	uint64_t now;
	uint32_t irq, status;
	uint8_t exited;
	int err;

	if (!recs)
		return -ENOMEM;
	err = parse(bus, buf, len, recs, &now, &irq, &exited, &status);
	if (err)
		goto out;
	for (size_t i = 0; i < bus->ndevs; i++) {
		struct devbus_dev *d = recs[i].dev;

		if (d->ops->save && d->ops->restore &&
		    (err = d->ops->restore(d->opaque, recs[i].state, recs[i].len)))
			goto out;
		d->deadline = recs[i].deadline;
	}
	bus->now = now;
	for (unsigned line = 0; line < DEVBUS_NIRQ; line++)
		devbus_irq_set(bus, line, irq & (1u << line));
	bus->exited = exited;
	bus->exit_status = status;
	snprintf(bus->exit_msg, sizeof(bus->exit_msg), "guest exited with status %u", status);
out:
	free(recs);
	return err;
}

int devbus_restore(struct devbus *bus, const uint8_t *buf, size_t len)
{
	uint8_t *backup;
	size_t blen;
	int err;

	err = devbus_save(bus, &backup, &blen);
	if (err)
		return err;
	err = apply(bus, buf, len);
	/* A device refused its record after others took theirs: put everything back. */
	if (err)
		apply(bus, backup, blen);
	free(backup);
	return err;
}

/* Console. */

static void console_put(struct devbus *bus, uint8_t c)
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

/* 16550A UART. */

#define UART_RXQ 256

enum { UART_RBR, UART_IER, UART_IIR, UART_LCR, UART_MCR, UART_LSR, UART_MSR, UART_SCR };
#define LCR_DLAB 0x80
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define IER_RDA  0x01
#define IER_THRE 0x02

struct uart_regs {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, thre_pending;
	uint16_t rx_head, rx_count; /* receive queue: host input and loopback bytes */
	uint8_t rx[UART_RXQ];
};

struct uart {
	struct devbus *bus;
	struct devbus_ops ops;
	char name[32];
	uint16_t base;
	unsigned irq;
	struct uart_regs r;
};

/* A full queue drops the byte, as an overrun would. */
static bool uart_push(struct uart *u, uint8_t v)
{
	if (u->r.rx_count == UART_RXQ)
		return false;
	u->r.rx[(u->r.rx_head + u->r.rx_count) % UART_RXQ] = v;
	u->r.rx_count++;
	return true;
}

static void uart_update_irq(struct uart *u)
{
	bool level = ((u->r.ier & IER_THRE) && u->r.thre_pending) || ((u->r.ier & IER_RDA) && u->r.rx_count);

	/* PC wiring: the UART's interrupt reaches the bus only with OUT2 set. */
	devbus_irq_set(u->bus, u->irq, level && (u->r.mcr & MCR_OUT2));
}

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->r.fcr & 1) ? 0xc0 : 0;

	if ((u->r.ier & IER_RDA) && u->r.rx_count)
		return fifo | 0x04;
	if ((u->r.ier & IER_THRE) && u->r.thre_pending)
		return fifo | 0x02;
	return fifo | 0x01;
}

static uint64_t uart_read(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = 0;

	(void)sp;
	(void)size;
	switch (addr - u->base) {
	case UART_RBR:
		if (u->r.lcr & LCR_DLAB) {
			v = u->r.dll;
		} else {
			v = u->r.rx_count ? u->r.rx[u->r.rx_head] : 0;
			if (u->r.rx_count) {
				u->r.rx_head = (uint16_t)((u->r.rx_head + 1) % UART_RXQ);
				u->r.rx_count--;
			}
		}
		break;
	case UART_IER:
		v = (u->r.lcr & LCR_DLAB) ? u->r.dlm : u->r.ier;
		break;
	case UART_IIR:
		v = uart_iir(u);
		/* Reading IIR while it reports THRE acknowledges it. */
		if ((v & 0x0f) == 0x02)
			u->r.thre_pending = 0;
		break;
	case UART_LCR:
		v = u->r.lcr;
		break;
	case UART_MCR:
		v = u->r.mcr;
		break;
	case UART_LSR:
		/* Transmission is instant: a polling guest never waits. */
		v = LSR_THRE | LSR_TEMT | (u->r.rx_count ? LSR_DR : 0);
		break;
	case UART_MSR:
		if (u->r.mcr & MCR_LOOP)
			v = (uint8_t)(((u->r.mcr & 0x01) << 5) | ((u->r.mcr & 0x02) << 3) |
			              ((u->r.mcr & 0x04) << 4) | ((u->r.mcr & 0x08) << 4));
		else
			v = 0xb0; /* DCD, DSR, CTS: a terminal is attached */
		break;
	case UART_SCR:
		v = u->r.scr;
		break;
	}
	uart_update_irq(u);
	return v;
}

static void uart_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct uart *u = opaque;
	uint8_t v = (uint8_t)val;

	(void)sp;
	(void)size;
	switch (addr - u->base) {
	case UART_RBR:
		if (u->r.lcr & LCR_DLAB) {
			u->r.dll = v;
		} else if (u->r.mcr & MCR_LOOP) {
			uart_push(u, v);
			u->r.thre_pending = 1;
		} else {
			console_put(u->bus, v);
			u->r.thre_pending = 1;
		}
		break;
	case UART_IER:
		if (u->r.lcr & LCR_DLAB) {
			u->r.dlm = v;
		} else {
			/* Enabling THRE with an empty transmitter raises it at once, as a 16550 does. */
			if ((v & IER_THRE) && !(u->r.ier & IER_THRE))
				u->r.thre_pending = 1;
			u->r.ier = v & 0x0f;
		}
		break;
	case UART_IIR:
		u->r.fcr = v & 0xc9;
		if (v & 0x02) /* clear the receive FIFO */
			u->r.rx_head = u->r.rx_count = 0;
		break;
	case UART_LCR:
		u->r.lcr = v;
		break;
	case UART_MCR:
		u->r.mcr = v & 0x1f;
		break;
	case UART_SCR:
		u->r.scr = v;
		break;
	default: /* LSR, MSR: read-only */
		break;
	}
	uart_update_irq(u);
}

static size_t uart_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct uart *u = opaque;

	if (cap >= sizeof(u->r))
		memcpy(buf, &u->r, sizeof(u->r));
	return sizeof(u->r);
}

static int uart_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct uart *u = opaque;

	struct uart_regs r;

	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if (r.rx_head >= UART_RXQ || r.rx_count > UART_RXQ)
		return -EINVAL;
	u->r = r;
	uart_update_irq(u);
	return 0;
}

int devbus_add_uart(struct devbus *bus, const char *name, uint16_t base, unsigned irq)
{
	struct uart *u = calloc(1, sizeof(*u));
	struct devbus_dev *dev;
	int err;

	if (!u)
		return -ENOMEM;
	if (!name || strlen(name) >= sizeof(u->name)) {
		free(u);
		return -EINVAL;
	}
	u->bus = bus;
	u->base = base;
	u->irq = irq;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->ops = (struct devbus_ops){.name = u->name,
	                             .read = uart_read,
	                             .write = uart_write,
	                             .save = uart_save,
	                             .restore = uart_restore,
	                             .free = free};
	err = devbus_add(bus, &u->ops, u, &dev);
	if (err)
		return err;
	return devbus_map_pio(bus, dev, base, 8);
}

size_t devbus_uart_input(struct devbus *bus, const char *name, const uint8_t *data, size_t len)
{
	struct devbus_dev *d = find_dev(bus, name);
	struct uart *u;
	size_t n = 0;

	if (!d || d->ops->read != uart_read)
		return 0;
	u = d->opaque;
	while (n < len && uart_push(u, data[n]))
		n++;
	uart_update_irq(u);
	return n;
}

/* Debug exit, POST, debug console: their state lives in the bus. */

static void debug_exit_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct devbus *bus = opaque;

	(void)sp;
	(void)addr;
	bus->exited = true;
	bus->exit_status = (uint32_t)(size >= 4 ? val : val & ((1ull << (8 * size)) - 1));
	snprintf(bus->exit_msg, sizeof(bus->exit_msg), "guest exited with status %u", bus->exit_status);
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
	console_put(((struct debugcon *)opaque)->bus, (uint8_t)val);
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

/* MMIO test region. */

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
	return load_le(t->mem + off, size);
}

static void mmio_test_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	struct mmio_test_state *t = opaque;

	(void)sp;
	store_le(t->mem + (addr - DEVBUS_MMIO_TEST_BASE), size, val);
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
