/* 16550A UART: transmit is instant, receive reads a queue only the host fills. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

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
			devbus_console_put(u->bus, v);
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
	struct devbus_dev *d = devbus_find_dev(bus, name);
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
