/* Scripted guest accesses to the PC machine's interrupt controllers (local APIC, I/O APIC, 8259A): each
 * row is a list of operations with the values the devices must give, run on a fresh PC bus. */
#ifndef EMUDIFF_PC_SCRIPT_H
#define EMUDIFF_PC_SCRIPT_H

#include <stdint.h>

#include "devices.h"

enum op_kind {
	END,
	WR,       /* 32-bit MMIO write of val at addr (rc: another width in bytes) */
	RD,       /* 32-bit MMIO read at addr must give val (rc: another width in bytes) */
	MSR_WR,   /* WRMSR addr <- val must return rc */
	MSR_RD,   /* RDMSR addr must return rc and (rc 0) val */
	BASE,     /* the CPU's IA32_APIC_BASE becomes val */
	ADVANCE,  /* the virtual clock moves val units */
	ACK,      /* the CPU takes an interrupt: vector val (-1: none pending) */
	NMI,      /* an NMI is (val 1) or is not (0) waiting for the CPU; the CPU takes it */
	NMI_PEEK, /* an NMI is (val 1) or is not (0) waiting, left waiting */
	DL_MODE,  /* the timer is (val 1) or is not (0) in TSC-deadline mode */
	RESET,    /* a reset request is (val 1) or is not (0) pending */
	PIO,      /* port write of byte val at addr */
	IRQ,      /* IRQ line addr goes to level val */
	UNCLAIMED /* nothing decodes MMIO at addr */
};

struct op {
	enum op_kind kind;
	uint64_t addr;
	uint64_t val;
	int rc;
};

struct row {
	const char *name;
	struct op ops[40];
};

/* A bus with the standard devices and the PC machine (16 MiB). */
struct devbus *pc_script_bus(void);
/* Runs the row's operations in order; a value other than the row's fails the test naming row and op. */
void pc_script_run(struct devbus *bus, const struct row *row);

#endif
