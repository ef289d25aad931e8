/* A flat physical memory and fixed device answers for emu tests: every
 * callback of struct emu_ops, deterministic, with counters to check. */
#ifndef EMUDIFF_EMU_TEST_HARNESS_H
#define EMUDIFF_EMU_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "emu.h"

#define TH_MEM_SIZE (4u << 20)
#define TH_CODE     0x7c00u
#define TH_STACK    0x8000u
#define TH_GDT      0x500u
#define TH_PML4     0x10000u

/* Values the device callbacks return. */
#define TH_PORT_VALUE 0xa5a5a5a5u
#define TH_TSC        0x1122334455667788ull
#define TH_RAND       0xdeadbeefcafef00dull

/* With journal set, every write_phys saves the bytes it overwrites, for th_undo(). */
#define TH_JOURNAL_BYTES  65536
#define TH_JOURNAL_WRITES 256

struct th {
	uint8_t *mem;
	bool journal;
	bool no_cpu_features; /* CPUID without MOVBE, POPCNT, SSE4.2, BMI1, ABM */
	unsigned j_writes, j_bytes;
	uint64_t j_addr[TH_JOURNAL_WRITES];
	unsigned j_len[TH_JOURNAL_WRITES];
	uint8_t j_old[TH_JOURNAL_BYTES];
	unsigned n_writes; /* write_phys calls */
	unsigned n_out;
	uint16_t last_port;
	uint32_t last_out;
};

extern struct th th;
extern const struct emu_ops th_ops;

/* Allocates (once) and clears memory, writes the GDT and the long-mode page tables. */
void th_reset(void);
/* A base state for mode: code at TH_CODE, stack at TH_STACK, flat segments. */
void th_state(struct x86_state *st, enum x86_mode mode);
void th_poke(uint64_t addr, uint64_t v, unsigned size);
uint64_t th_peek(uint64_t addr, unsigned size);
/* Undoes the journaled writes, newest first; false when the journal overflowed. */
bool th_undo(void);

#define TH_NOEC 0xffffffffu /* an exception without an error code */
/* Checks a raised exception: vector, error code (or TH_NOEC), CR2 for #PF, and no memory written but a
 * faulting walk's page-table accessed bits. Prints what differs at file:line; returns the failures. */
int th_check_exception(const struct emu_event *ev, int vector, uint32_t error, uint64_t cr2, const char *file,
                       int line);

#endif
