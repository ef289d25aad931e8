/* The PC device model without KVM: each device driven through the bus by a
 * table of port accesses (write, read-and-expect, clock advance, IRQ line and
 * interrupt-controller checks), run in order on a fresh machine. Rows carry
 * their source line, so a failing row names itself. Also: bad input (odd
 * sizes, unknown commands, out-of-range registers) never crashes, and a
 * checkpoint restores every device's state. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../devices.h"
#include "../../pc.h"

enum op_kind {
	OP_END,
	OP_W,    /* write val to port */
	OP_R,    /* read port, expect val */
	OP_SKIP, /* read port val times (size bytes each), ignore the data */
	OP_ADV,  /* advance the virtual clock by val */
	OP_LINE, /* IRQ line `port` should be at level val */
	OP_INTR, /* the PIC should deliver vector val (-1: nothing pending) */
	OP_SET,  /* drive IRQ line `port` to level val */
	OP_A20,  /* pc_a20_enabled() should be val */
	OP_RST,  /* pc_reset_requested() should be val */
	OP_PCI,  /* 32-bit configuration read of address val expects `port` (a second value) */
};

struct io_op {
	const char *file;
	int line;
	enum op_kind kind;
	uint32_t port;
	unsigned size;
	int64_t val;
};

#define W(p, s, v)                                                                                           \
	{                                                                                                    \
		__FILE__, __LINE__, OP_W, p, s, v                                                            \
	}
#define R(p, s, v)                                                                                           \
	{                                                                                                    \
		__FILE__, __LINE__, OP_R, p, s, v                                                            \
	}
#define SKIP(p, s, n)                                                                                        \
	{                                                                                                    \
		__FILE__, __LINE__, OP_SKIP, p, s, n                                                         \
	}
#define ADV(n)                                                                                               \
	{                                                                                                    \
		__FILE__, __LINE__, OP_ADV, 0, 0, n                                                          \
	}
#define LINE(l, v)                                                                                           \
	{                                                                                                    \
		__FILE__, __LINE__, OP_LINE, l, 0, v                                                         \
	}
#define INTR(v)                                                                                              \
	{                                                                                                    \
		__FILE__, __LINE__, OP_INTR, 0, 0, v                                                         \
	}
#define SET(l, v)                                                                                            \
	{                                                                                                    \
		__FILE__, __LINE__, OP_SET, l, 0, v                                                          \
	}
#define A20(v)                                                                                               \
	{                                                                                                    \
		__FILE__, __LINE__, OP_A20, 0, 0, v                                                          \
	}
#define RST(v)                                                                                               \
	{                                                                                                    \
		__FILE__, __LINE__, OP_RST, 0, 0, v                                                          \
	}
#define CFG(addr, exp)                                                                                       \
	{                                                                                                    \
		__FILE__, __LINE__, OP_PCI, exp, 4, addr                                                     \
	}
#define END                                                                                                  \
	{                                                                                                    \
		NULL, 0, OP_END, 0, 0, 0                                                                     \
	}

static char disk_path[256];

/* A 64-sector image: byte i of sector s is (i + 7 * s) & 0xff. */
static int make_disk(void)
{
	snprintf(disk_path, sizeof(disk_path), "/tmp/emudiff-pc-test-%d.img", (int)getpid());
	FILE *f = fopen(disk_path, "wb");
	if (!f)
		return -errno;
	for (unsigned s = 0; s < 64; s++)
		for (unsigned i = 0; i < 512; i++)
			fputc((int)((i + 7 * s) & 0xff), f);
	return fclose(f) ? -errno : 0;
}

static struct devbus *machine(bool disk)
{
	struct devbus *bus = devbus_new();
	char err[256];
	struct pc_config cfg = {.ram_bytes = 64u << 20, .disk_path = disk ? disk_path : NULL, .sercon = true};
	assert_non_null(bus);
	assert_int_equal(devbus_add_standard(bus), 0);
	if (pc_machine_add(bus, &cfg, err, sizeof(err)))
		fail_msg("pc_machine_add: %s", err);
	return bus;
}

static void run_ops(struct devbus *bus, const struct io_op *ops)
{
	for (const struct io_op *o = ops; o->kind != OP_END; o++) {
		uint8_t data[8] = {0};
		uint64_t got = 0;
		switch (o->kind) {
		case OP_W:
			for (unsigned i = 0; i < o->size; i++)
				data[i] = (uint8_t)((uint64_t)o->val >> (8 * i));
			devbus_pio(bus, (uint16_t)o->port, o->size, true, data, 1);
			break;
		case OP_R:
			devbus_pio(bus, (uint16_t)o->port, o->size, false, data, 1);
			for (unsigned i = 0; i < o->size; i++)
				got |= (uint64_t)data[i] << (8 * i);
			if (got != (uint64_t)o->val)
				fail_msg("%s:%d: in port 0x%x (%u bytes): got 0x%llx, expected 0x%llx",
				         o->file, o->line, o->port, o->size, (unsigned long long)got,
				         (unsigned long long)o->val);
			break;
		case OP_SKIP:
			for (int64_t i = 0; i < o->val; i++)
				devbus_pio(bus, (uint16_t)o->port, o->size, false, data, 1);
			break;
		case OP_ADV:
			devbus_advance(bus, (uint64_t)o->val);
			break;
		case OP_LINE:
			if (devbus_irq_level(bus, o->port) != (o->val != 0))
				fail_msg("%s:%d: IRQ %u is %d, expected %d", o->file, o->line, o->port,
				         devbus_irq_level(bus, o->port), (int)o->val);
			break;
		case OP_INTR: {
			int vec = devbus_intr_pending(bus) ? devbus_intr_ack(bus) : -1;
			if (vec != o->val)
				fail_msg("%s:%d: interrupt vector %d, expected %d", o->file, o->line, vec,
				         (int)o->val);
			break;
		}
		case OP_SET:
			devbus_irq_set(bus, o->port, o->val != 0);
			break;
		case OP_A20:
			if (pc_a20_enabled(bus) != (o->val != 0))
				fail_msg("%s:%d: A20 %d, expected %d", o->file, o->line, pc_a20_enabled(bus),
				         (int)o->val);
			break;
		case OP_RST:
			if (pc_reset_requested(bus) != (o->val != 0))
				fail_msg("%s:%d: reset %d, expected %d", o->file, o->line,
				         pc_reset_requested(bus), (int)o->val);
			break;
		case OP_PCI: {
			uint32_t a = (uint32_t)o->val;
			for (unsigned i = 0; i < 4; i++)
				data[i] = (uint8_t)(a >> (8 * i));
			devbus_pio(bus, 0xcf8, 4, true, data, 1);
			devbus_pio(bus, 0xcfc, 4, false, data, 1);
			got = (uint32_t)(data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24);
			if (got != o->port)
				fail_msg("%s:%d: PCI config 0x%08x: got 0x%08llx, expected 0x%08x", o->file,
				         o->line, a, (unsigned long long)got, o->port);
			break;
		}
		case OP_END:
			break;
		}
	}
}

static void run_table(const struct io_op *ops, bool disk)
{
	struct devbus *bus = machine(disk);
	run_ops(bus, ops);
	devbus_free(bus);
}

/* Master at 0x08, slave at 0x70, as a BIOS programs them. */
#define PIC_INIT                                                                                             \
	W(0x20, 1, 0x11), W(0x21, 1, 0x08), W(0x21, 1, 0x04), W(0x21, 1, 0x01), W(0xa0, 1, 0x11),            \
	    W(0xa1, 1, 0x70), W(0xa1, 1, 0x02), W(0xa1, 1, 0x01)

static void test_pic(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		PIC_INIT, W(0x21, 1, 0xfb), R(0x21, 1, 0xfb), W(0xa1, 1, 0xff), R(0xa1, 1, 0xff),
		/* IRQ 1 masked: not delivered, but in IRR. */
		SET(1, 1), INTR(-1), W(0x20, 1, 0x0a), R(0x20, 1, 0x02),
		/* Unmasked: delivered as vector 9, moves to ISR, held there until EOI. */
		W(0x21, 1, 0xf9), INTR(0x09), W(0x20, 1, 0x0b), R(0x20, 1, 0x02), SET(1, 0), SET(1, 1),
		INTR(-1), W(0x20, 1, 0x20), R(0x20, 1, 0x00), INTR(0x09), W(0x20, 1, 0x20), SET(1, 0),
		/* Priority: IRQ 5 before IRQ 6; IRQ 5 in service blocks IRQ 6 until EOI. */
		W(0x21, 1, 0x9f), SET(6, 1), SET(5, 1), INTR(0x0d), INTR(-1), W(0x20, 1, 0x20), INTR(0x0e),
		W(0x20, 1, 0x20), SET(5, 0), SET(6, 0),
		/* Slave IRQ 8 through the cascade: vector 0x70, ISR bit 2 on the master, bit 0 on slave */
		W(0x21, 1, 0xfb), W(0xa1, 1, 0xfe), SET(8, 1), INTR(0x70), W(0x20, 1, 0x0b), R(0x20, 1, 0x04),
		W(0xa0, 1, 0x0b), R(0xa0, 1, 0x01), W(0xa0, 1, 0x20), W(0x20, 1, 0x20), SET(8, 0),
		/* Edge triggered: a level that stays high is one interrupt. */
		SET(8, 1), INTR(0x70), W(0xa0, 1, 0x20), W(0x20, 1, 0x20), INTR(-1), SET(8, 0),
		/* Poll mode (OCW3 bit 2): the read acknowledges, 0x80 | IRQ. */
		W(0x21, 1, 0xf9), SET(1, 1), W(0x20, 1, 0x0c), R(0x20, 1, 0x81), INTR(-1), W(0x20, 1, 0x20),
		SET(1, 0),
		W(0x20, 1, 0x0c), R(0x20, 1, 0x00),
		/* ELCR: IRQ 0-2, 8 and 13 cannot be level triggered. */
		W(0x4d0, 1, 0xff), R(0x4d0, 1, 0xf8), W(0x4d1, 1, 0xff), R(0x4d1, 1, 0xde),
		/* Level triggered IRQ 3: delivered again after EOI while the line stays high. */
		W(0x21, 1, 0xf0), SET(3, 1), INTR(0x0b), W(0x20, 1, 0x20), INTR(0x0b), W(0x20, 1, 0x20),
		SET(3, 0), INTR(-1),
		/* Specific EOI (0x60 | irq) and a no-op OCW2 (0x40). */
		SET(1, 1), INTR(0x09), W(0x20, 1, 0x40), W(0x20, 1, 0x0b), R(0x20, 1, 0x02),
		W(0x20, 1, 0x61), R(0x20, 1, 0x00), SET(1, 0),
		/* Auto-EOI (ICW4 bit 1): nothing stays in service. */
		W(0x20, 1, 0x11), W(0x21, 1, 0x20), W(0x21, 1, 0x04), W(0x21, 1, 0x03), W(0x21, 1, 0xfd),
		SET(1, 1), INTR(0x21), W(0x20, 1, 0x0b), R(0x20, 1, 0x00), END,
	};
	/* clang-format on */
	run_table(ops, false);
}

/* Port 0x61 bit 4 at virtual time t: it toggles every 18 input clocks. */
#define RF(t) ((((t) / 18) & 1) << 4)

static void test_pit(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		PIC_INIT, W(0x21, 1, 0xfe),
		/* Channel 0, mode 2, count 1000: IRQ 0 every 1000 clocks. */
		W(0x43, 1, 0x34), W(0x40, 1, 1000 & 0xff), W(0x40, 1, 1000 >> 8), ADV(999), INTR(-1), ADV(1),
		INTR(0x08), W(0x20, 1, 0x20), ADV(999), INTR(-1), ADV(1), INTR(0x08), W(0x20, 1, 0x20),
		/* Counter latch: the count 250 clocks into the period, LSB then MSB. */
		ADV(250), W(0x43, 1, 0x00), ADV(5), R(0x40, 1, 750 & 0xff), R(0x40, 1, 750 >> 8),
		/* Read-back of status: OUT high (bit 7), access 3, mode 2. */
		W(0x43, 1, 0xe2), R(0x40, 1, 0xb4),
		/* Read-back of the count. */
		W(0x43, 1, 0xd2), R(0x40, 1, (1000 - 255) & 0xff), R(0x40, 1, (1000 - 255) >> 8),
		/* Channel 2 in mode 0 with the gate from port 0x61: OUT (bit 5) rises at terminal count. */
		/* (The clock is at 2255 here; bit 4 is the refresh toggle, see RF.) */
		W(0x61, 1, 0x01), W(0x43, 1, 0xb0), W(0x42, 1, 0x00), W(0x42, 1, 0x08),
		R(0x61, 1, 0x01 | RF(2255)),
		ADV(0x7ff), R(0x61, 1, 0x01 | RF(4302)), ADV(1), R(0x61, 1, 0x21 | RF(4303)),
		/* Port 0x61 bit 4 toggles every 18 clocks (refresh); OUT stays high in mode 0. */
		W(0x61, 1, 0x00), ADV(4320 - 4303), R(0x61, 1, 0x20), ADV(18), R(0x61, 1, 0x30),
		/* The control word register reads as all ones; LSB-only access mode. */
		R(0x43, 1, 0xff), W(0x43, 1, 0x50), W(0x41, 1, 0x20), W(0x43, 1, 0x40), R(0x41, 1, 0x20),
		/* Mode 2: OUT low only while the count is 1; its rise is IRQ 0 (clock 4338 here). */
		INTR(0x08), W(0x20, 1, 0x20), ADV(661), W(0x43, 1, 0xe2), R(0x40, 1, 0x34), INTR(-1), ADV(1),
		W(0x43, 1, 0xe2), R(0x40, 1, 0xb4), INTR(0x08), W(0x20, 1, 0x20),
		END,
	};
	/* clang-format on */
	run_table(ops, false);
}

static void test_cmos(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		/* The fixed date 2024-01-01 00:00:00, BCD, 24 h. */
		W(0x70, 1, 0x00), R(0x71, 1, 0x00), W(0x70, 1, 0x07), R(0x71, 1, 0x01), W(0x70, 1, 0x08),
		R(0x71, 1, 0x01), W(0x70, 1, 0x09), R(0x71, 1, 0x24), W(0x70, 1, 0x32), R(0x71, 1, 0x20),
		W(0x70, 1, 0x06), R(0x71, 1, 0x02),
		/* Status registers: A without update-in-progress, B 24 h BCD, D valid RAM. */
		W(0x70, 1, 0x0a), R(0x71, 1, 0x26), W(0x70, 1, 0x0b), R(0x71, 1, 0x02), W(0x70, 1, 0x0d),
		R(0x71, 1, 0x80),
		/* The clock runs on virtual time: 61.5 s later. */
		ADV(61ll * 1193182 + 596591), W(0x70, 1, 0x00), R(0x71, 1, 0x01), W(0x70, 1, 0x02),
		R(0x71, 1, 0x01),
		/* Binary mode: the same time in binary. */
		W(0x70, 1, 0x0b), W(0x71, 1, 0x06), ADV(9ll * 1193182), W(0x70, 1, 0x00), R(0x71, 1, 10),
		/* Setting the time. */
		W(0x70, 1, 0x04), W(0x71, 1, 13), R(0x71, 1, 13), W(0x70, 1, 0x02), R(0x71, 1, 1),
		/* Memory size: 640 KiB base, 63 MiB extended, 48 MiB above 16 MiB in 64 KiB units. */
		W(0x70, 1, 0x15), R(0x71, 1, 0x80), W(0x70, 1, 0x16), R(0x71, 1, 0x02), W(0x70, 1, 0x17),
		R(0x71, 1, (63 * 1024) & 0xff), W(0x70, 1, 0x18), R(0x71, 1, (63 * 1024) >> 8),
		W(0x70, 1, 0x34), R(0x71, 1, 0x00), W(0x70, 1, 0x35), R(0x71, 1, 0x03),
		/* NMI mask bit in the index; RAM bytes store; the index port reads all ones. */
		W(0x70, 1, 0x80 | 0x40), W(0x71, 1, 0x5a), W(0x70, 1, 0x40), R(0x71, 1, 0x5a),
		R(0x70, 1, 0xff),
		/* Register C and D are read-only. */
		W(0x70, 1, 0x0d), W(0x71, 1, 0x00), R(0x71, 1, 0x80),
		/* Periodic interrupt: rate 6 (1024 Hz, 1165 clocks), PIE: IRQ 8 until register C is read. */
		W(0x70, 1, 0x0b), W(0x71, 1, 0x42), LINE(8, 0), ADV(1165), LINE(8, 1), W(0x70, 1, 0x0c),
		R(0x71, 1, 0xc0), LINE(8, 0), R(0x71, 1, 0x00), END,
	};
	/* clang-format on */
	run_table(ops, false);
}

static void test_fwcfg(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		/* Signature and ID. */
		W(0x510, 2, 0x0000), R(0x511, 1, 'Q'), R(0x511, 1, 'E'), R(0x511, 1, 'M'), R(0x511, 1, 'U'),
		R(0x511, 1, 0x00), W(0x510, 2, 0x0001), R(0x511, 1, 0x01), R(0x511, 1, 0x00),
		/* RAM size, 8 bytes little-endian: 64 MiB. */
		W(0x510, 2, 0x0003), R(0x511, 1, 0x00), R(0x511, 1, 0x00), R(0x511, 1, 0x00),
		R(0x511, 1, 0x04), R(0x511, 1, 0x00),
		/* One CPU; the file directory: a big-endian count (boot-fail-wait, e820, sercon, boot menu).
		*/ W(0x510, 2, 0x0005), R(0x511, 1, 0x01), W(0x510, 2, 0x0019), R(0x511, 1, 0),
		R(0x511, 1, 0), R(0x511, 1, 0), R(0x511, 1, 4),
		/* Reselecting starts at offset 0. */
		W(0x510, 2, 0x0000), R(0x511, 1, 'Q'), W(0x510, 2, 0x0000), R(0x511, 1, 'Q'),
		/* Unknown selector and data writes: zero, ignored; the DMA ports are absent. */
		W(0x510, 2, 0x7777), R(0x511, 1, 0x00), W(0x511, 1, 0x12), R(0x511, 1, 0x00),
		R(0x514, 1, 0xff), END,
	};
	/* clang-format on */
	run_table(ops, false);
}

static void test_ata(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		/* Power-on: device 0 ready, the ATA signature. */
		R(0x1f7, 1, 0x50), R(0x1f2, 1, 0x01), R(0x1f3, 1, 0x01), R(0x1f4, 1, 0x00),
		R(0x1f5, 1, 0x00),
		/* IDENTIFY: DRQ, 256 words; word 27 starts the model "EMUDIFF ATA DISK" (byte-swapped). */
		W(0x1f6, 1, 0xa0), W(0x1f7, 1, 0xec), R(0x1f7, 1, 0x58), SKIP(0x1f0, 2, 27),
		R(0x1f0, 2, 0x454d), SKIP(0x1f0, 2, 228), R(0x1f7, 1, 0x50),
		/* READ SECTORS, LBA 3, one sector: byte i is (i + 21) & 0xff. */
		W(0x1f2, 1, 1), W(0x1f3, 1, 3), W(0x1f4, 1, 0), W(0x1f5, 1, 0), W(0x1f6, 1, 0xe0),
		W(0x1f7, 1, 0x20), R(0x3f6, 1, 0x58), R(0x1f0, 2, 0x1615), R(0x1f0, 4, 0x1a191817),
		SKIP(0x1f0, 2, 253), R(0x1f7, 1, 0x50), R(0x1f0, 2, 0x0000),
		/* Beyond the end of the disk: IDNF. */
		W(0x1f2, 1, 1), W(0x1f3, 1, 64), W(0x1f6, 1, 0xe0), W(0x1f7, 1, 0x20), R(0x1f7, 1, 0x51),
		R(0x1f1, 1, 0x10),
		/* An unknown command and a write command abort (ERR, ABRT). */
		W(0x1f7, 1, 0xff), R(0x1f7, 1, 0x51), R(0x1f1, 1, 0x04), W(0x1f7, 1, 0x30),
		R(0x1f7, 1, 0x51),
		/* IDENTIFY PACKET aborts: not ATAPI. */
		W(0x1f7, 1, 0xa1), R(0x1f7, 1, 0x51),
		/* Absent device 1: status reads 0. */
		W(0x1f6, 1, 0xb0), R(0x1f7, 1, 0x00), W(0x1f6, 1, 0xa0), R(0x1f7, 1, 0x51),
		/* Software reset through the device control register: BSY, then ready with the signature. */
		W(0x3f6, 1, 0x04), R(0x3f6, 1, 0x90), W(0x3f6, 1, 0x00), R(0x1f7, 1, 0x50),
		R(0x1f1, 1, 0x01),
		/* The secondary channel has no device: everything reads 0. */
		R(0x177, 1, 0x00), R(0x171, 1, 0x00), R(0x376, 1, 0x00),
		/* IRQ 14 after a command with nIEN clear, cleared by a status read. */
		W(0x1f7, 1, 0xe5), LINE(14, 1), R(0x1f7, 1, 0x50), LINE(14, 0), END,
	};
	/* clang-format on */
	run_table(ops, true);
}

static void test_i8042(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		/* Self-test 0x55, interface test 0, both through the output buffer (status bit 0). */
		R(0x64, 1, 0x18), W(0x64, 1, 0xaa), R(0x64, 1, 0x1d), R(0x60, 1, 0x55), R(0x64, 1, 0x1c),
		W(0x64, 1, 0xab), R(0x60, 1, 0x00),
		/* Command byte write and read back. */
		W(0x64, 1, 0x60), W(0x60, 1, 0x65), W(0x64, 1, 0x20), R(0x60, 1, 0x65),
		/* Keyboard reset: ACK then BAT passed; IRQ 1 while the byte waits (command byte bit 0). */
		W(0x60, 1, 0xff), LINE(1, 1), R(0x60, 1, 0xfa), R(0x60, 1, 0xaa), LINE(1, 0),
		R(0x64, 1, 0x14),
		/* A20 through the output port (port 0x92's gate off first: both start on); read back. */
		A20(1), W(0x92, 1, 0x00), A20(1), W(0x64, 1, 0xdd), A20(0), W(0x64, 1, 0xd1),
		W(0x60, 1, 0xdf),
		A20(1), W(0x64, 1, 0xd0), R(0x60, 1, 0xdf), W(0x64, 1, 0xdd), A20(0),
		/* Echo to the mouse through 0xd4: 0xfa for a mouse reset then 0xaa 0x00. */
		W(0x64, 1, 0xa8), W(0x64, 1, 0xd4), W(0x60, 1, 0xff), R(0x64, 1, 0x35), R(0x60, 1, 0xfa),
		R(0x60, 1, 0xaa), R(0x60, 1, 0x00),
		/* Undefined controller command: ignored; a pulse of bit 0 resets the machine. */
		W(0x64, 1, 0x05), R(0x64, 1, 0x1c), RST(0), W(0x64, 1, 0xfe), RST(1), END,
	};
	/* clang-format on */
	run_table(ops, false);
}

static void test_port92(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		/* A20 on at power-up; the i8042's gate off leaves port 0x92's. */
		R(0x92, 1, 0x02), A20(1), W(0x64, 1, 0xdd), A20(1), W(0x92, 1, 0x00), A20(0),
		R(0x92, 1, 0x00),
		W(0x92, 1, 0x02), R(0x92, 1, 0x02), A20(1),
		/* Other bits are stored; bit 0 asks for a reset. */
		W(0x92, 1, 0xc2), R(0x92, 1, 0xc2), RST(0), W(0x92, 1, 0x03), RST(1), END,
	};
	/* clang-format on */
	run_table(ops, false);
}

static void test_pci(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op ops[] = {
		/* The four functions and their IDs; absent ones read all ones. */
		CFG(0x80000000, 0x12378086), CFG(0x80000800, 0x70008086), CFG(0x80000900, 0x70108086),
		CFG(0x80000b00, 0x71138086), CFG(0x80000a00, 0xffffffff), CFG(0x80001000, 0xffffffff),
		CFG(0x80010000, 0xffffffff), CFG(0x00000000, 0xffffffff),
		/* Class codes. */
		CFG(0x80000008, 0x06000002), CFG(0x80000808, 0x06010000), CFG(0x80000908, 0x01018000),
		/* Read-only IDs ignore writes; PAM registers take their writable bits. */
		W(0xcf8, 4, 0x80000000), W(0xcfc, 4, 0), CFG(0x80000000, 0x12378086),
		W(0xcf8, 4, 0x8000005c), W(0xcfc, 4, 0xffffffff), CFG(0x8000005c, 0x33333333),
		/* IDE BAR 4 sizing: 16 bytes of I/O. */
		W(0xcf8, 4, 0x80000920), W(0xcfc, 4, 0xffffffff), CFG(0x80000920, 0xfffffff1),
		/* 0xcf8 takes only 32-bit accesses; byte reads of it are not the address. */
		R(0xcf8, 1, 0xff), W(0xcf8, 4, 0x80000000), R(0xcfe, 2, 0x1237), R(0xcfd, 1, 0x80),
		/* PM I/O: absent until PMBA and PMREGMISC enable it; then the timer counts 3 per clock. */
		R(0xb008, 4, 0xffffffff), W(0xcf8, 4, 0x80000b40), W(0xcfc, 4, 0xb001),
		W(0xcf8, 4, 0x80000b80), W(0xcfc, 1, 0x01), ADV(1000), R(0xb008, 4, 3000), ADV(0x1000000),
		R(0xb008, 4, 3000), W(0xb002, 2, 0xffff), R(0xb002, 2, 0x0521), W(0xb004, 2, 0x0001),
		R(0xb004, 2, 0x0001), R(0xb020, 1, 0x00), END,
	};
	/* clang-format on */
	run_table(ops, false);
}

/* A checkpoint taken after programming every device restores all of it. */
static void test_checkpoint(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct io_op setup[] = {
		PIC_INIT, W(0x21, 1, 0xa5), W(0x43, 1, 0x34), W(0x40, 1, 0x10), W(0x40, 1, 0x27),
		W(0x70, 1, 0x0b), W(0xcf8, 4, 0x8000005c), W(0xcfc, 4, 0x11111111), W(0x92, 1, 0x02),
		W(0x510, 2, 0x0000), R(0x511, 1, 'Q'), ADV(12345), END,
	};
	/* clang-format on */
	/* clang-format off */
	static const struct io_op clobber[] = {
		W(0x21, 1, 0x00), W(0x43, 1, 0x30), W(0x40, 1, 0x01), W(0x40, 1, 0x00), W(0x70, 1, 0x00),
		W(0xcf8, 4, 0x8000005c), W(0xcfc, 4, 0x22222222), W(0x92, 1, 0x00), W(0x510, 2, 0x0001),
		ADV(777), END,
	};
	/* clang-format on */
	/* clang-format off */
	static const struct io_op check[] = {
		R(0x21, 1, 0xa5), R(0x71, 1, 0x02), A20(1), R(0x511, 1, 'E'), CFG(0x8000005c, 0x11111111),
		W(0x43, 1, 0x00), R(0x40, 1, (0x2710 - 12345 % 0x2710) & 0xff), END,
	};
	/* clang-format on */
	struct devbus *bus = machine(true);
	uint8_t *buf = NULL, *junk;
	size_t len = 0;
	run_ops(bus, setup);
	assert_int_equal(devbus_save(bus, &buf, &len), 0);
	run_ops(bus, clobber);
	/* A truncated or corrupted checkpoint is refused and changes nothing. */
	assert_int_equal(devbus_restore(bus, buf, len / 2), -EINVAL);
	junk = malloc(len);
	assert_non_null(junk);
	memset(junk, 0xff, len);
	assert_int_equal(devbus_restore(bus, junk, len), -EINVAL);
	free(junk);
	assert_int_equal(devbus_restore(bus, buf, len), 0);
	assert_int_equal(devbus_now(bus), 12345);
	run_ops(bus, check);
	free(buf);
	devbus_free(bus);
}

/* Every port of the machine with every size and garbage values: nothing crashes, absent ports read all ones.
 */
static void test_bad_input(void **state)
{
	(void)state;
	struct devbus *bus = machine(true);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned port = 0; port < 0x10000;
		     port +=
		     (port < 0x600 || (port >= 0xb000 && port < 0xb040) || (port >= 0xcf8 && port < 0xd00))
		         ? 1
		         : 61) {
			for (unsigned size = 1; size <= 4; size *= 2) {
				uint8_t data[64];
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				memcpy(data, &x, 8);
				memcpy(data + 8, &x, 8);
				/* The debug-exit port would end nothing here, but keep the console small. */
				if (port == DEVBUS_PORT_DEBUG_EXIT || port == 0x3f8 || port == 0xe9 ||
				    port == 0x402)
					continue;
				devbus_pio(bus, (uint16_t)port, size, true, data, 1);
				devbus_pio(bus, (uint16_t)port, size, false, data, 1);
				devbus_pio(bus, (uint16_t)port, size, false, data, 4);
			}
		}
		devbus_advance(bus, x & 0xffff);
		while (devbus_intr_pending(bus))
			devbus_intr_ack(bus);
	}
	/* Sizes the bus refuses. */
	uint8_t d[16];
	assert_int_equal(devbus_pio(bus, 0x60, 3, false, d, 1), -EINVAL);
	assert_int_equal(d[0], 0xff);
	/* An absent port after all that. */
	assert_int_equal(devbus_pio(bus, 0x2345, 1, false, d, 1), 1);
	assert_int_equal(d[0], 0xff);
	devbus_free(bus);
}

/* Ports of every device on the machine (the UART's transmit register and the console ports left out: their
 * bytes are output, kept outside checkpoints). */
static const uint16_t checkpoint_ports[] = {
    0x20,   0x21,   0xa0,   0xa1,  0x4d0, 0x4d1, 0x40,  0x41,  0x42,  0x43,  0x61,  0x70,
    0x71,   0xcf8,  0xcfc,  0xcfd, 0xcfe, 0xcff, 0x510, 0x511, 0x1f0, 0x1f1, 0x1f2, 0x1f3,
    0x1f4,  0x1f5,  0x1f6,  0x1f7, 0x3f6, 0x170, 0x177, 0x376, 0x60,  0x64,  0x92,  0xb000,
    0xb004, 0xb008, 0xb00c, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x80,  0xf4,
};

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* n random accesses, clock advances and interrupt acknowledgements; what they read is appended to log. */
static void random_run(struct devbus *bus, uint64_t *rng, unsigned n, uint8_t *log, size_t *log_len)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t r = xorshift(rng);
		unsigned what = r % 16;
		if (what < 12) {
			uint16_t port = checkpoint_ports[(r >> 8) % (sizeof(checkpoint_ports) /
			                                             sizeof(checkpoint_ports[0]))];
			unsigned size = 1u << ((r >> 24) % 3);
			bool write = (r >> 26) & 1;
			uint8_t data[4];
			memcpy(data, (const uint8_t *)&r + 4, 4);
			devbus_pio(bus, port, size, write, data, 1);
			if (!write && log) {
				memcpy(log + *log_len, data, size);
				*log_len += size;
			}
		} else if (what < 14) {
			devbus_advance(bus, (r >> 8) % 5000);
		} else {
			int vec = devbus_intr_pending(bus) ? devbus_intr_ack(bus) : -2;
			if (log)
				log[(*log_len)++] = (uint8_t)vec;
		}
	}
}

/* A checkpoint holds everything that decides what the machine does next: after a random run, restoring
 * it and repeating the same accesses gives the same reads, interrupts and final checkpoint. */
static void test_checkpoint_replays(void **state)
{
	(void)state;
	enum { N = 20000 };
	static uint8_t log1[5 * N], log2[5 * N];
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct devbus *bus = machine(true);
		uint64_t rng = 0x9e3779b97f4a7c15ull * seed, rng_b;
		uint8_t *at = NULL, *end1 = NULL, *end2 = NULL;
		size_t at_len = 0, end1_len = 0, end2_len = 0, l1 = 0, l2 = 0;

		random_run(bus, &rng, N, NULL, NULL);
		assert_int_equal(devbus_save(bus, &at, &at_len), 0);
		rng_b = rng;
		random_run(bus, &rng, N, log1, &l1);
		assert_int_equal(devbus_save(bus, &end1, &end1_len), 0);
		assert_int_equal(devbus_restore(bus, at, at_len), 0);
		rng = rng_b;
		random_run(bus, &rng, N, log2, &l2);
		assert_int_equal(devbus_save(bus, &end2, &end2_len), 0);
		assert_int_equal(l1, l2);
		assert_memory_equal(log1, log2, l1);
		assert_int_equal(end1_len, end2_len);
		assert_memory_equal(end1, end2, end1_len);
		free(at);
		free(end1);
		free(end2);
		devbus_free(bus);
	}
}

static void test_missing_disk(void **state)
{
	(void)state;
	struct devbus *bus = devbus_new();
	char err[256] = "";
	struct pc_config cfg = {.ram_bytes = 16u << 20, .disk_path = "/nonexistent/emudiff-disk.img"};
	assert_non_null(bus);
	assert_int_equal(devbus_add_standard(bus), 0);
	assert_true(pc_machine_add(bus, &cfg, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/emudiff-disk.img"));
	devbus_free(bus);
}

int main(void)
{
	if (make_disk()) {
		fprintf(stderr, "cannot write the test disk image %s\n", disk_path);
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pic),          cmocka_unit_test(test_pit),
	    cmocka_unit_test(test_cmos),         cmocka_unit_test(test_fwcfg),
	    cmocka_unit_test(test_ata),          cmocka_unit_test(test_i8042),
	    cmocka_unit_test(test_port92),       cmocka_unit_test(test_pci),
	    cmocka_unit_test(test_checkpoint),   cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_missing_disk), cmocka_unit_test(test_checkpoint_replays),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(disk_path);
	return rc;
}
