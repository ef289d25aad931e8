/* machine internals: the bus's state, which the devices kept in it (debug exit, POST) and checkpoints read.
 */
#ifndef EMUDIFF_MACHINE_PRIVATE_H
#define EMUDIFF_MACHINE_PRIVATE_H

#include <string.h>

#include "devices.h"

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
	bool exit_qemu; /* devbus_set_debug_exit_qemu */
	uint32_t exit_status;
	char exit_msg[80];
	int post;
	void *mmio_test;
	const struct devbus_mem_ops *mem;
	void *mem_opaque;
};

static inline uint64_t devbus_load_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static inline void devbus_store_le(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The device with that name, NULL when absent. */
struct devbus_dev *devbus_find_dev(const struct devbus *bus, const char *name);

/* Appends a byte to the console (and echoes it when asked). */
void devbus_console_put(struct devbus *bus, uint8_t c);

/* The local APIC (lapic.c) and the I/O APIC (ioapic.c) talk directly: IRQ lines and EOIs one way,
 * interrupt messages the other. */
struct lapic;
struct ioapic;
/* Tells the bus's local APIC about io; returns that APIC, NULL when the bus has none. */
struct lapic *lapic_attach_ioapic(struct devbus *bus, struct ioapic *io);
/* An interrupt message: @mode the delivery mode of a redirection entry (0 fixed, 1 lowest priority, 4 NMI,
 * 5 INIT, 7 ExtINT), @level its trigger mode, @dest an APIC ID or logical destination. */
void lapic_message(struct lapic *l, unsigned mode, unsigned vector, bool level, uint8_t dest, bool logical);
/* An ISA/GSI line of the bus changed (the bus's levels already hold the new one). */
void ioapic_line_changed(struct ioapic *io, unsigned line, bool level);
/* The local APIC's EOI of a level-triggered vector. */
void ioapic_eoi(struct ioapic *io, unsigned vector);

#endif
