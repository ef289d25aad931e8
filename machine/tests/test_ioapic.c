/* I/O APIC (machine/ioapic.c) on the PC machine's bus: each row is a script of guest accesses (IOREGSEL and
 * IOWIN, the local APIC page, port writes, IRQ lines, the CPU taking interrupts) with the values the
 * register file and the delivery rules must give; then checkpoints. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices.h"
#include "pc.h"
#include "pc_script.h"

#define IO PC_IOAPIC_BASE
#define A  PC_LAPIC_BASE

/* clang-format off */
#define W(a, v)         {WR, a, v, 0}
#define R(a, v)         {RD, a, v, 0}
#define WSZ(a, n, v)    {WR, a, v, n}
#define RSZ(a, n, v)    {RD, a, v, n}
/* IOAPIC register r through IOREGSEL and IOWIN. */
#define SET(r, v)       W(IO, r), W(IO + 0x10, v)
#define GET(r, v)       W(IO, r), R(IO + 0x10, v)
#define LO(pin)         (0x10 + 2 * (pin))
#define HI(pin)         (0x11 + 2 * (pin))
#define APIC_ON         W(A + 0xf0, 0x1ff)
#define EOI             W(A + 0xb0, 0)
#define INTR(v)         {ACK, 0, v, 0}
#define NO_INTR         {ACK, 0, (uint64_t)-1, 0}
#define NMI_IS(v)       {NMI, 0, v, 0}
#define RESET_IS(v)     {RESET, 0, v, 0}
#define OUTB(p, v)      {PIO, p, v, 0}
#define LINE(l, v)      {IRQ, l, v, 0}
#define ADV(n)          {ADVANCE, 0, n, 0}
#define X2APIC_ON       {BASE, 0, A | 0xd00, 0}, {MSR_WR, 0x80f, 0x1ff, 0}
#define END_OP          {END, 0, 0, 0}
#define LEVEL           0x8000u
#define MASKED          0x10000u
#define REMOTE_IRR      0x4000u
#define TMR_40          (A + 0x180 + 0x20) /* the TMR word of vectors 0x40-0x5f */

static const struct row rows[] = {
    {"power-up: ID 0, version 0x11 with 24 entries, every entry masked", {
        GET(0, 0), GET(1, 0x00170011), GET(2, 0), GET(LO(0), MASKED), GET(HI(0), 0),
        GET(LO(23), MASKED), GET(HI(23), 0), GET(LO(24), 0), GET(0x03, 0), GET(0xff, 0), END_OP}},
    {"IOREGSEL keeps 8 bits; the ID keeps bits 27:24; version and arbitration are read-only", {
        W(IO, 0x1ff), R(IO, 0xff), SET(0, 0xffffffff), GET(0, 0x0f000000), GET(2, 0x0f000000),
        SET(1, 0), GET(1, 0x00170011), SET(2, 0), GET(2, 0x0f000000), END_OP}},
    {"redirection entry: 64 bits read and written as two halves, delivery status and remote IRR read-only", {
        SET(LO(5), 0xffffffff), GET(LO(5), 0xffffafff), SET(HI(5), 0xff000000), GET(HI(5), 0xff000000),
        GET(LO(5), 0xffffafff), SET(LO(5), 0x10045), GET(LO(5), 0x10045), GET(HI(5), 0xff000000),
        END_OP}},
    {"IOWIN narrower than 32 bits reads 0 and is dropped; the window repeats every 256 bytes", {
        W(IO, 1), RSZ(IO + 0x10, 2, 0), RSZ(IO + 0x10, 1, 0), W(IO, LO(3)), WSZ(IO + 0x10, 2, 0x45),
        GET(LO(3), MASKED), W(IO + 0x300, 1), R(IO + 0x310, 0x00170011), R(IO + 0x300, 1),
        R(IO + 0x04, 0), R(IO + 0x20, 0), END_OP}},
    {"ISA IRQ 0 (the PIT) reaches pin 2, not pin 0", {
        APIC_ON, SET(LO(0), 0x40), LINE(0, 1), NO_INTR, LINE(0, 0), SET(LO(0), MASKED),
        SET(LO(2), 0x41), LINE(0, 1), INTR(0x41), EOI, NO_INTR, END_OP}},
    {"IRQ n reaches pin n", {
        APIC_ON, SET(LO(9), 0x49), SET(LO(17), 0x51), LINE(9, 1), INTR(0x49), EOI, LINE(17, 1),
        INTR(0x51), EOI, LINE(16, 1), NO_INTR, END_OP}},
    {"edge: one interrupt per rising edge, none while masked, none left over on unmask", {
        APIC_ON, SET(LO(4), 0x44), LINE(4, 1), LINE(4, 0), LINE(4, 1), INTR(0x44), NO_INTR, EOI,
        LINE(4, 0), SET(LO(4), 0x44 | MASKED), LINE(4, 1), LINE(4, 0), NO_INTR, SET(LO(4), 0x44),
        NO_INTR, LINE(4, 1), INTR(0x44), R(TMR_40, 0), EOI, END_OP}},
    {"edge interrupts coalesce in the local APIC's IRR", {
        APIC_ON, SET(LO(4), 0x44), LINE(4, 1), LINE(4, 0), LINE(4, 1), LINE(4, 0), INTR(0x44), EOI,
        NO_INTR, END_OP}},
    {"level: remote IRR set on delivery, TMR set, cleared by the local APIC's EOI", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), LINE(10, 1), GET(LO(10), 0x4a | LEVEL | REMOTE_IRR),
        R(TMR_40, 1u << 0xa), INTR(0x4a), GET(LO(10), 0x4a | LEVEL | REMOTE_IRR), LINE(10, 0), EOI,
        GET(LO(10), 0x4a | LEVEL), NO_INTR, END_OP}},
    {"level: still asserted at the EOI, it is delivered again", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), LINE(10, 1), INTR(0x4a), NO_INTR, EOI, INTR(0x4a),
        GET(LO(10), 0x4a | LEVEL | REMOTE_IRR), LINE(10, 0), EOI, NO_INTR, GET(LO(10), 0x4a | LEVEL),
        END_OP}},
    {"level: no second message while remote IRR is set, even across a line toggle", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), LINE(10, 1), INTR(0x4a), LINE(10, 0), LINE(10, 1), NO_INTR,
        LINE(10, 0), EOI, NO_INTR, END_OP}},
    {"level: masked holds it back, unmasking an asserted pin delivers", {
        APIC_ON, SET(LO(11), 0x4b | LEVEL | MASKED), LINE(11, 1), NO_INTR,
        GET(LO(11), 0x4b | LEVEL | MASKED), SET(LO(11), 0x4b | LEVEL),
        GET(LO(11), 0x4b | LEVEL | REMOTE_IRR), INTR(0x4b), LINE(11, 0), EOI, END_OP}},
    {"level: an entry switched to level-triggered while its line is asserted delivers", {
        APIC_ON, SET(LO(13), 0x4d | MASKED), LINE(13, 1), NO_INTR, SET(LO(13), 0x4d | LEVEL), INTR(0x4d),
        GET(LO(13), 0x4d | LEVEL | REMOTE_IRR), END_OP}},
    {"an EOI of another vector or of an edge vector leaves remote IRR set", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), SET(LO(4), 0x4c), LINE(10, 1), LINE(4, 1), INTR(0x4c),
        EOI, GET(LO(10), 0x4a | LEVEL | REMOTE_IRR), W(A + 0x300, 0x40050), INTR(0x50), EOI,
        GET(LO(10), 0x4a | LEVEL | REMOTE_IRR), INTR(0x4a), LINE(10, 0), EOI, GET(LO(10), 0x4a | LEVEL),
        END_OP}},
    {"an EOI clears remote IRR only where the entry has that vector", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), SET(LO(12), 0x4c | LEVEL), LINE(10, 1), LINE(12, 1), INTR(0x4c),
        LINE(12, 0), SET(LO(10), 0x4a | LEVEL | MASKED), EOI, GET(LO(12), 0x4c | LEVEL),
        GET(LO(10), 0x4a | LEVEL | MASKED | REMOTE_IRR), SET(LO(10), 0x4a | LEVEL), INTR(0x4a), NO_INTR,
        LINE(10, 0), EOI, GET(LO(10), 0x4a | LEVEL), END_OP}},
    {"the EOI of a vector last accepted edge-triggered is not broadcast", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), LINE(10, 1), W(A + 0x300, 0x4004a), R(TMR_40, 0), INTR(0x4a), LINE(10, 0), EOI,
        GET(LO(10), 0x4a | LEVEL | REMOTE_IRR), END_OP}},
    {"rewriting a level entry as edge clears remote IRR", {
        APIC_ON, SET(LO(10), 0x4a | LEVEL), LINE(10, 1), GET(LO(10), 0x4a | LEVEL | REMOTE_IRR),
        SET(LO(10), 0x4a | LEVEL | MASKED), GET(LO(10), 0x4a | LEVEL | MASKED | REMOTE_IRR),
        SET(LO(10), 0x4a | MASKED), GET(LO(10), 0x4a | MASKED), END_OP}},
    {"destination: physical APIC ID, broadcast 0xff, logical flat", {
        APIC_ON, SET(HI(6), 0x01000000), SET(LO(6), 0x46), LINE(6, 1), NO_INTR, LINE(6, 0),
        SET(HI(6), 0xff000000), LINE(6, 1), INTR(0x46), EOI, LINE(6, 0), W(A + 0xd0, 0x02000000),
        SET(HI(6), 0x02000000), SET(LO(6), 0x846), LINE(6, 1), INTR(0x46), EOI, LINE(6, 0),
        SET(HI(6), 0x01000000), LINE(6, 1), NO_INTR, LINE(6, 0), W(A + 0x20, 0x01000000),
        SET(LO(6), 0x46), LINE(6, 1), INTR(0x46), EOI, END_OP}},
    {"x2APIC: 0xff broadcasts, a physical destination is the x2APIC ID", {
        X2APIC_ON, SET(HI(6), 0x01000000), SET(LO(6), 0x46), LINE(6, 1), NO_INTR, LINE(6, 0),
        SET(HI(6), 0xff000000), LINE(6, 1), INTR(0x46), {MSR_WR, 0x80b, 0, 0}, LINE(6, 0),
        SET(HI(6), 0), LINE(6, 1), INTR(0x46), END_OP}},
    {"lowest priority goes to the one CPU", {
        APIC_ON, SET(LO(7), 0x147), LINE(7, 1), INTR(0x47), EOI, END_OP}},
    {"NMI and INIT delivery modes", {
        APIC_ON, SET(LO(3), 0x400), NMI_IS(0), LINE(3, 1), NMI_IS(1), NO_INTR, RESET_IS(0),
        SET(LO(5), 0x500), LINE(5, 1), RESET_IS(1), END_OP}},
    {"ExtINT: the PIC's vector, acknowledged at delivery", {
        APIC_ON, W(A + 0x350, MASKED), OUTB(0x21, 0xfe), SET(LO(2), 0x700), LINE(0, 1), INTR(0x20), NO_INTR, EOI,
        OUTB(0x20, 0x20), END_OP}},
    {"a software-disabled local APIC drops fixed messages and takes NMI", {
        SET(LO(4), 0x44), LINE(4, 1), NO_INTR, SET(LO(3), 0x400), LINE(3, 1), NMI_IS(1), END_OP}},
    {"the PIT through pin 2: periodic interrupts on the virtual clock", {
        APIC_ON, W(A + 0x350, MASKED), OUTB(0x43, 0x34), OUTB(0x40, 100), OUTB(0x40, 0), SET(LO(2), 0x42),
        ADV(50), NO_INTR, ADV(100), INTR(0x42), EOI, ADV(100), INTR(0x42), EOI,
        SET(LO(2), 0x42 | MASKED), ADV(300), NO_INTR, END_OP}},
};
/* clang-format on */

/* Only the scripts drive IRQ lines: the PIT waits for a count, the 8259A masks all on vectors 0x20-0x2f,
 * LINT0 stays ExtINT (an unmasked PIC line would show up as a PIC vector). */
static const struct row quiet = {"quiet",
                                 {{PIO, 0x43, 0x30, 0},
                                  {IRQ, 0, 0, 0},
                                  {PIO, 0x20, 0x11, 0},
                                  {PIO, 0x21, 0x20, 0},
                                  {PIO, 0x21, 4, 0},
                                  {PIO, 0x21, 1, 0},
                                  {PIO, 0x21, 0xff, 0},
                                  {PIO, 0xa1, 0xff, 0},
                                  {END, 0, 0, 0}}};

static void test_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct devbus *bus = pc_script_bus();
		pc_script_run(bus, &quiet);
		pc_script_run(bus, &rows[r]);
		devbus_free(bus);
	}
}

/* A checkpoint brings back IOREGSEL, the ID and the entries with remote IRR; the restored unit still
 * delivers and takes the EOI; a bad record changes nothing. */
static void test_checkpoint(void **state)
{
	struct devbus *bus = pc_script_bus(), *other = pc_script_bus();
	uint8_t *cp;
	size_t len;

	(void)state;
	pc_script_run(bus, &quiet);
	pc_script_run(other, &quiet);
	pc_script_run(bus, &(struct row){"setup",
	                                 {APIC_ON, SET(0, 0x05000000), SET(LO(10), 0x4a | LEVEL),
	                                  SET(HI(10), 0xff000000), SET(LO(4), 0x44), LINE(10, 1),
	                                  W(IO, HI(10)), END_OP}});
	assert_int_equal(devbus_save(bus, &cp, &len), 0);
	assert_int_equal(devbus_restore(other, cp, len), 0);
	pc_script_run(other, &(struct row){"restored",
	                                   {R(IO, HI(10)), R(IO + 0x10, 0xff000000), GET(0, 0x05000000),
	                                    GET(LO(10), 0x4a | LEVEL | REMOTE_IRR), INTR(0x4a), EOI,
	                                    INTR(0x4a), LINE(10, 0), EOI, GET(LO(10), 0x4a | LEVEL),
	                                    LINE(4, 1), INTR(0x44), END_OP}});
	/* A record with delivery status set (never the case) is refused and nothing changes. */
	struct devbus *fresh = pc_script_bus();
	uint8_t *bad = malloc(len);
	assert_non_null(bad);
	memcpy(bad, cp, len);
	size_t at = 0;
	for (size_t i = 0; i + 6 < len; i++)
		if (!memcmp(bad + i, "ioapic", 6))
			at = i + 6 + 8 + 4; /* the name, the deadline, the record length */
	assert_true(at > 0);
	bad[at + 8 * 10 + 1] |= 0x10; /* bit 12 of pin 10's entry */
	assert_int_equal(devbus_restore(fresh, bad, len), -EINVAL);
	pc_script_run(fresh, &(struct row){"unchanged", {GET(0, 0), GET(LO(10), MASKED), END_OP}});
	free(bad);
	free(cp);
	devbus_free(bus);
	devbus_free(other);
	devbus_free(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_checkpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
