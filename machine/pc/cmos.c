/* MC146818 CMOS RAM and real-time clock at 0x70 (index, bit 7 masks NMI) and
 * 0x71 (data). The clock starts at PC_RTC_EPOCH and counts virtual seconds
 * (PC_PIT_HZ units); the date never rolls over. The memory-size bytes follow
 * the PC/AT layout firmware reads (base, extended, above 16 MiB). Register A's
 * update-in-progress bit always reads 0; the periodic interrupt (register B
 * PIE) raises IRQ 8 until register C is read. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../pc.h"

#define RTC_SEC     0x00
#define RTC_MIN     0x02
#define RTC_HOUR    0x04
#define RTC_WDAY    0x06
#define RTC_MDAY    0x07
#define RTC_MONTH   0x08
#define RTC_YEAR    0x09
#define RTC_REG_A   0x0a
#define RTC_REG_B   0x0b
#define RTC_REG_C   0x0c
#define RTC_REG_D   0x0d
#define RTC_CENTURY 0x32
#define RTC_B_PIE   0x40
#define RTC_B_BIN   0x04
#define RTC_B_24H   0x02
#define RTC_C_IRQF  0x80
#define RTC_C_PF    0x40

struct cmos_regs {
	uint64_t base_time;    /* virtual time at which base_seconds was the time of day */
	uint64_t periodic_due; /* next periodic interrupt, or DEVBUS_NEVER */
	uint32_t base_seconds; /* seconds since midnight */
	uint8_t ram[128];
	uint8_t index;
	uint8_t nmi_masked;
	uint8_t irq8;
	uint8_t pad;
};

struct cmos {
	struct cmos_regs r;
	struct devbus *bus;
	struct devbus_dev *dev;
};

static uint8_t cmos_to_reg(const struct cmos *c, unsigned v)
{
	return (c->r.ram[RTC_REG_B] & RTC_B_BIN) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned cmos_from_reg(const struct cmos *c, uint8_t v)
{
	return (c->r.ram[RTC_REG_B] & RTC_B_BIN) ? v : (unsigned)((v >> 4) * 10 + (v & 15));
}

static uint32_t cmos_seconds(const struct cmos *c, uint64_t now)
{
	return (uint32_t)((c->r.base_seconds + (now - c->r.base_time) / PC_PIT_HZ) % 86400);
}

static uint8_t cmos_hour_reg(const struct cmos *c, unsigned hour)
{
	if (c->r.ram[RTC_REG_B] & RTC_B_24H)
		return cmos_to_reg(c, hour);
	unsigned h12 = hour % 12 ? hour % 12 : 12;
	return (uint8_t)(cmos_to_reg(c, h12) | (hour >= 12 ? 0x80 : 0));
}

/* A guest write to a time register sets the clock from the three registers. */
static void cmos_set_time(struct cmos *c, unsigned index, uint8_t val, uint64_t now)
{
	uint32_t s = cmos_seconds(c, now);
	unsigned hour = s / 3600, min = (s / 60) % 60, sec = s % 60;
	if (index == RTC_SEC)
		sec = cmos_from_reg(c, val & 0x7f) % 60;
	else if (index == RTC_MIN)
		min = cmos_from_reg(c, val & 0x7f) % 60;
	else if (c->r.ram[RTC_REG_B] & RTC_B_24H)
		hour = cmos_from_reg(c, val & 0x3f) % 24;
	else
		hour = cmos_from_reg(c, val & 0x1f) % 12 + ((val & 0x80) ? 12 : 0);
	c->r.base_seconds = hour * 3600 + min * 60 + sec;
	c->r.base_time = now;
}

/* Period of the periodic interrupt in virtual units, 0 when off. */
static uint64_t cmos_period(const struct cmos *c)
{
	unsigned rate = c->r.ram[RTC_REG_A] & 15;
	if (!rate || !(c->r.ram[RTC_REG_B] & RTC_B_PIE))
		return 0;
	if (rate < 3)
		rate += 7; /* rates 1 and 2 give the same period as 8 and 9 */
	uint64_t period = ((uint64_t)1 << (rate - 1)) * PC_PIT_HZ / 32768;
	return period ? period : 1;
}

static void cmos_reschedule(struct cmos *c, uint64_t now)
{
	uint64_t period = cmos_period(c);
	c->r.periodic_due = period ? now + period : DEVBUS_NEVER;
	devbus_set_deadline(c->bus, c->dev, c->r.periodic_due);
}

static uint64_t cmos_tick(void *opaque, uint64_t now)
{
	struct cmos *c = opaque;
	uint64_t period = cmos_period(c);
	if (!period) {
		c->r.periodic_due = DEVBUS_NEVER;
		return DEVBUS_NEVER;
	}
	c->r.ram[RTC_REG_C] |= RTC_C_PF | RTC_C_IRQF;
	if (!c->r.irq8) {
		c->r.irq8 = 1;
		devbus_irq_raise(c->bus, 8);
	}
	c->r.periodic_due = now + period;
	return c->r.periodic_due;
}

static uint64_t cmos_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct cmos *c = opaque;
	uint64_t now = devbus_now(c->bus);
	uint32_t s;
	uint8_t v;
	(void)space;
	(void)size;
	if (addr == 0x70)
		return 0xff; /* the index register is write-only */
	switch (c->r.index) {
	case RTC_SEC:
		return cmos_to_reg(c, cmos_seconds(c, now) % 60);
	case RTC_MIN:
		return cmos_to_reg(c, (cmos_seconds(c, now) / 60) % 60);
	case RTC_HOUR:
		s = cmos_seconds(c, now);
		return cmos_hour_reg(c, s / 3600);
	case RTC_REG_A:
		return c->r.ram[RTC_REG_A] & 0x7f;
	case RTC_REG_C:
		v = c->r.ram[RTC_REG_C];
		c->r.ram[RTC_REG_C] = 0;
		if (c->r.irq8) {
			c->r.irq8 = 0;
			devbus_irq_lower(c->bus, 8);
		}
		return v;
	default:
		return c->r.ram[c->r.index];
	}
}

static void cmos_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val64)
{
	struct cmos *c = opaque;
	uint64_t now = devbus_now(c->bus);
	uint8_t val = (uint8_t)val64;
	(void)space;
	(void)size;
	if (addr == 0x70) {
		c->r.index = val & 0x7f;
		c->r.nmi_masked = val >> 7;
		return;
	}
	switch (c->r.index) {
	case RTC_SEC:
	case RTC_MIN:
	case RTC_HOUR:
		cmos_set_time(c, c->r.index, val, now);
		break;
	case RTC_REG_A:
		c->r.ram[RTC_REG_A] = val & 0x7f;
		cmos_reschedule(c, now);
		break;
	case RTC_REG_B: {
		/* Time keeps its value across a change of format. */
		uint32_t s = cmos_seconds(c, now);
		c->r.ram[RTC_REG_B] = val;
		c->r.base_seconds = s;
		c->r.base_time = now;
		cmos_reschedule(c, now);
		break;
	}
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		c->r.ram[c->r.index] = val;
		break;
	}
}

static size_t cmos_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct cmos *c = opaque;
	if (cap >= sizeof(c->r))
		memcpy(buf, &c->r, sizeof(c->r));
	return sizeof(c->r);
}

static int cmos_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct cmos *c = opaque;
	struct cmos_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if (r.index > 0x7f || r.nmi_masked > 1 || r.irq8 > 1 || r.base_seconds >= 86400)
		return -EINVAL;
	c->r = r;
	return 0;
}

static const struct devbus_ops cmos_ops = {
    .name = PC_DEV_CMOS,
    .read = cmos_read,
    .write = cmos_write,
    .tick = cmos_tick,
    .save = cmos_save,
    .restore = cmos_restore,
    .free = free,
};

static void cmos_put16(struct cmos *c, unsigned index, uint32_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	c->r.ram[index] = (uint8_t)v;
	c->r.ram[index + 1] = (uint8_t)(v >> 8);
}

int pc_cmos_add(struct devbus *bus, uint64_t ram_bytes)
{
	struct cmos *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->bus = bus;
	c->r.periodic_due = DEVBUS_NEVER;
	c->r.ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
	c->r.ram[RTC_REG_B] = RTC_B_24H;
	c->r.ram[RTC_REG_D] = 0x80; /* valid RAM and time */
	c->r.ram[RTC_WDAY] = 2;     /* Monday */
	c->r.ram[RTC_MDAY] = 0x01;
	c->r.ram[RTC_MONTH] = 0x01;
	c->r.ram[RTC_YEAR] = 0x24;
	c->r.ram[RTC_CENTURY] = 0x20;
	c->r.ram[0x37] = 0x20; /* PS/2 century byte */
	c->r.ram[0x14] = 0x02; /* equipment: FPU, no floppy, EGA/VGA */
	cmos_put16(c, 0x15, 640);
	uint64_t ext_kb = ram_bytes > (1u << 20) ? (ram_bytes >> 10) - 1024 : 0;
	cmos_put16(c, 0x17, (uint32_t)(ext_kb > 0xffff ? 0xffff : ext_kb));
	cmos_put16(c, 0x30, (uint32_t)(ext_kb > 0xffff ? 0xffff : ext_kb));
	uint64_t above16 = ram_bytes > (16u << 20) ? (ram_bytes - (16u << 20)) >> 16 : 0;
	cmos_put16(c, 0x34, (uint32_t)(above16 > 0xffff ? 0xffff : above16));
	c->r.ram[0x3d] = 0x02; /* boot order: hard disk first */
	c->r.ram[0x38] = 0x00;
	uint16_t sum = 0;
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += c->r.ram[i];
	c->r.ram[0x2e] = (uint8_t)(sum >> 8);
	c->r.ram[0x2f] = (uint8_t)sum;
	if ((err = devbus_add(bus, &cmos_ops, c, &c->dev)))
		return err;
	return devbus_map_pio(bus, c->dev, 0x70, 2);
}

uint8_t pc_cmos_byte(const struct devbus *bus, unsigned index)
{
	const struct cmos *c = devbus_find(bus, PC_DEV_CMOS);
	return c && index < 128 ? c->r.ram[index] : 0xff;
}
