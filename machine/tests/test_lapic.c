/* Local APIC (machine/lapic.c) on the PC machine's bus: each row is a script of guest accesses (xAPIC
 * page, x2APIC MSRs, IA32_APIC_BASE changes, virtual time, the CPU taking interrupts) with the values the
 * APIC must give; then checkpoints, and the corpus APIC guests recorded twice with --engine emu must give
 * identical traces. */
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

#include "../../recorder/recorder.h"
#include "../../recorder/tests/trace_compare.h"
#include "devices.h"
#include "pc.h"
#include "pc_script.h"

#define A          PC_LAPIC_BASE
#define EN         0x800ull
#define EXTD       0x400ull
#define BSP        0x100ull
#define BASE_X2    (A | EN | EXTD | BSP)
#define BASE_OFF   (A | BSP)
#define BASE_XAPIC (A | EN | BSP)

/* clang-format off */
/* The PIC on vectors 0x20-0x2F with only IRQ 0 unmasked. */
#define PIC_INIT OUTB(0x20, 0x11), OUTB(0x21, 0x20), OUTB(0x21, 4), OUTB(0x21, 1), OUTB(0x21, 0xfe)
#define W(a, v)         {WR, a, v, 0}
#define R(a, v)         {RD, a, v, 0}
#define MW(m, v)        {MSR_WR, m, v, 0}
#define MW_GP(m, v)     {MSR_WR, m, v, -EINVAL}
#define MR(m, v)        {MSR_RD, m, v, 0}
#define MR_GP(m)        {MSR_RD, m, 0, -EINVAL}
#define MR_NOT_APIC(m)  {MSR_RD, m, 0, 1}
#define SET_BASE(v)     {BASE, 0, v, 0}
#define ADV(n)          {ADVANCE, 0, n, 0}
#define INTR(v)         {ACK, 0, v, 0}
#define NO_INTR         {ACK, 0, (uint64_t)-1, 0}
#define NMI_IS(v)       {NMI, 0, v, 0}
#define NMI_WAITS(v)    {NMI_PEEK, 0, v, 0}
#define DEADLINE_MODE(v) {DL_MODE, 0, v, 0}
#define RESET_IS(v)     {RESET, 0, v, 0}
#define OUTB(p, v)      {PIO, p, v, 0}
#define LINE(l, v)      {IRQ, l, v, 0}
#define GONE(a)         {UNCLAIMED, a, 0, 0}
#define END_OP          {END, 0, 0, 0}

static const struct row rows[] = {
    {"power-up registers", {
        R(A + 0x20, 0), R(A + 0x30, 0x50014), R(A + 0x80, 0), R(A + 0xe0, 0xffffffff),
        R(A + 0xf0, 0xff), R(A + 0x320, 0x10000), R(A + 0x350, 0x700), R(A + 0x360, 0x10000),
        R(A + 0x370, 0x10000), R(A + 0x390, 0), NO_INTR, END_OP}},
    {"self-IPI waits in the IRR, ICR never busy", {
        W(A + 0xf0, 0x1ff), W(A + 0x300, 0x40050), R(A + 0x300, 0x40050),
        R(A + 0x220, 0x10000), INTR(0x50), R(A + 0x220, 0), R(A + 0x120, 0x10000),
        R(A + 0xa0, 0x50), W(A + 0xb0, 0), R(A + 0x120, 0), R(A + 0xa0, 0), END_OP}},
    {"priority classes and EOI", {
        W(A + 0xf0, 0x1ff), W(A + 0x300, 0x40050), W(A + 0x300, 0x40060), W(A + 0x300, 0x40055),
        INTR(0x60), NO_INTR, W(A + 0xb0, 0), INTR(0x55), NO_INTR,
        W(A + 0xb0, 0), INTR(0x50), END_OP}},
    {"TPR holds back its class and below", {
        W(A + 0xf0, 0x1ff), W(A + 0x80, 0x50), R(A + 0xa0, 0x50), W(A + 0x300, 0x40045),
        W(A + 0x300, 0x40050), NO_INTR, W(A + 0x300, 0x40061), INTR(0x61),
        W(A + 0xb0, 0), W(A + 0x80, 0x40), INTR(0x50), W(A + 0xb0, 0), NO_INTR,
        W(A + 0x80, 0), INTR(0x45), END_OP}},
    {"destinations: physical ID, logical flat, all excluding self", {
        W(A + 0xf0, 0x1ff), W(A + 0x20, 0x03000000), W(A + 0x310, 0x02000000),
        W(A + 0x300, 0x50), NO_INTR, W(A + 0x310, 0x03000000), W(A + 0x300, 0x50),
        INTR(0x50), W(A + 0xb0, 0), W(A + 0xd0, 0x04000000), W(A + 0x310, 0x04000000),
        W(A + 0x300, 0x851), INTR(0x51), W(A + 0xb0, 0), W(A + 0x300, 0xc0052),
        NO_INTR, END_OP}},
    {"illegal vector: ESR latched by the next write, error LVT interrupt", {
        W(A + 0xf0, 0x1ff), W(A + 0x370, 0x7e), W(A + 0x300, 0x40003), R(A + 0x280, 0),
        INTR(0x7e), W(A + 0x280, 0), R(A + 0x280, 0x20), W(A + 0x280, 0), R(A + 0x280, 0),
        W(A + 0x360, 0x05), END_OP}},
    {"an absent register is an illegal address; write-only EOI reads 0", {
        R(A + 0xb0, 0), R(A + 0x2f0, 0), W(A + 0x40, 5), W(A + 0x280, 0), R(A + 0x280, 0x80), W(A + 0x280, 0),
        R(A + 0x280, 0), R(A + 0xb0, 0), W(A + 0x280, 0), R(A + 0x280, 0), END_OP}},
    {"software-disabled: IPIs dropped, LVTs stay masked", {
        W(A + 0x300, 0x40050), NO_INTR, W(A + 0x320, 0x40), R(A + 0x320, 0x10040),
        W(A + 0xf0, 0x1ff), W(A + 0x320, 0x40), R(A + 0x320, 0x40), W(A + 0xf0, 0xff),
        R(A + 0x320, 0x10040), R(A + 0x350, 0x10700), END_OP}},
    {"one-shot timer counts the virtual clock", {
        W(A + 0xf0, 0x1ff), W(A + 0x3e0, 0xb), W(A + 0x320, 0x40), W(A + 0x380, 100),
        ADV(40), R(A + 0x390, 60), NO_INTR, ADV(60), R(A + 0x390, 0),
        INTR(0x40), W(A + 0xb0, 0), ADV(500), NO_INTR, END_OP}},
    {"periodic timer with divide by 4", {
        W(A + 0xf0, 0x1ff), W(A + 0x3e0, 0x1), W(A + 0x320, 0x20040), W(A + 0x380, 10),
        ADV(8), R(A + 0x390, 8), ADV(32), INTR(0x40), W(A + 0xb0, 0),
        R(A + 0x390, 10), ADV(39), NO_INTR, ADV(1), INTR(0x40),
        W(A + 0x380, 0), R(A + 0x390, 0), W(A + 0xb0, 0), ADV(100), NO_INTR,
        END_OP}},
    {"masked timer runs out without an interrupt", {
        W(A + 0xf0, 0x1ff), W(A + 0x3e0, 0xb), W(A + 0x320, 0x10040), W(A + 0x380, 5),
        ADV(10), R(A + 0x390, 0), R(A + 0x220, 0), NO_INTR, END_OP}},
    {"TSC-deadline timer", {
        W(A + 0xf0, 0x1ff), MW(0x6e0, 50), MR(0x6e0, 0), DEADLINE_MODE(0), W(A + 0x320, 0x40040),
        DEADLINE_MODE(1), W(A + 0x380, 7), R(A + 0x380, 0), MW(0x6e0, 30), MR(0x6e0, 30), ADV(29),
        NO_INTR, ADV(1), INTR(0x40), MR(0x6e0, 0), W(A + 0xb0, 0),
        MW(0x6e0, 1), INTR(0x40), W(A + 0xb0, 0), MW(0x6e0, 100), W(A + 0x320, 0x40), DEADLINE_MODE(0),
        W(A + 0x320, 0x40040), MR(0x6e0, 0), ADV(200), NO_INTR, SET_BASE(BASE_OFF), DEADLINE_MODE(0),
        END_OP}},
    {"x2APIC MSRs need x2APIC mode", {
        MR_GP(0x803), MW_GP(0x808, 0), SET_BASE(BASE_X2), MR(0x803, 0x50014),
        MR(0x802, 0), MR(0x80d, 1), R(A + 0x30, 0xffffffff), MW(0x80f, 0x1ff),
        MW(0x83f, 0x50), MR(0x822, 0x10000), INTR(0x50), MW(0x80b, 0), END_OP}},
    {"x2APIC #GP: write-only, read-only, absent, must-be-zero", {
        SET_BASE(BASE_X2), MR_GP(0x80b), MR_GP(0x83f),
        MR_GP(0x80e), MR_GP(0x831), MR_GP(0x809),
        MR_GP(0x8ff), MW_GP(0x802, 0), MW_GP(0x803, 0),
        MW_GP(0x80a, 0), MW_GP(0x80d, 0), MW_GP(0x810, 0),
        MW_GP(0x839, 0), MW_GP(0x80b, 1), MW_GP(0x828, 1),
        MW_GP(0x83f, 0x150), MW_GP(0x808, 1ull << 32), MW_GP(0x80e, 0),
        MR_NOT_APIC(0x1a0), END_OP}},
    {"x2APIC ICR is one 64-bit MSR", {
        SET_BASE(BASE_X2), MW(0x80f, 0x1ff), MW(0x830, 0x500000051ull), NO_INTR,
        MR(0x830, 0x500000051ull), MW(0x830, 0x52), INTR(0x52), MW(0x830, 0xffffffff00000053ull),
        MW(0x80b, 0), INTR(0x53), END_OP}},
    {"NMI to itself", {
        W(A + 0xf0, 0x1ff), NMI_IS(0), NMI_WAITS(0), W(A + 0x300, 0x40400), NMI_WAITS(1),
        NMI_WAITS(1), NMI_IS(1), NMI_WAITS(0), NMI_IS(0), NO_INTR, END_OP}},
    {"INIT to itself asks for a reset; the de-assert form does not", {
        W(A + 0xf0, 0x1ff), W(A + 0x300, 0xc8500), RESET_IS(0), W(A + 0x300, 0x08500),
        RESET_IS(0), W(A + 0x300, 0x40600), RESET_IS(0), W(A + 0x300, 0x44500), RESET_IS(1),
        END_OP}},
    {"IA32_APIC_BASE moves the page; disabled, nothing decodes it", {
        SET_BASE(0xfed00000ull | EN | BSP), GONE(A), R(0xfed00030, 0x50014),
        SET_BASE(0xfed00000ull | BSP), R(0xfed00030, 0xffffffff), SET_BASE(BASE_XAPIC),
        R(A + 0x30, 0x50014), GONE(0xfed00000), END_OP}},
    {"PIC through LINT0: ExtINT, masked, globally disabled", {
        PIC_INIT, LINE(0, 1), INTR(0x20), OUTB(0x20, 0x20), LINE(0, 0), W(A + 0x350, 0x10700),
        LINE(0, 1), NO_INTR, SET_BASE(BASE_OFF), INTR(0x20), OUTB(0x20, 0x20),
        LINE(0, 0), SET_BASE(BASE_XAPIC), R(A + 0x350, 0x10000), R(A + 0xf0, 0xff), LINE(0, 1),
        NO_INTR, END_OP}},
    {"PIC through LINT0 in fixed mode: an edge becomes the LVT's vector", {
        PIC_INIT, W(A + 0xf0, 0x1ff), W(A + 0x350, 0x48), LINE(0, 1), INTR(0x48),
        NO_INTR, W(A + 0xb0, 0), NO_INTR, END_OP}},
    {"APIC interrupts come before the PIC's", {
        PIC_INIT, LINE(0, 1), W(A + 0xf0, 0x1ff), W(A + 0x300, 0x40030), INTR(0x30),
        INTR(0x20), END_OP}},
};
/* clang-format on */

static void test_rows(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct devbus *bus = pc_script_bus();
		/* Only the scripts drive IRQ lines: the PIT waits for a count, IRQ 0 is low, the PIC masks
		 * all. */
		pc_script_run(bus,
		              &(struct row){"quiet",
		                            {OUTB(0x43, 0x30), LINE(0, 0), OUTB(0x20, 0x11), OUTB(0x21, 0x20),
		                             OUTB(0x21, 4), OUTB(0x21, 1), OUTB(0x21, 0xff), END_OP}});
		pc_script_run(bus, &rows[r]);
		devbus_free(bus);
	}
}

/* A checkpoint brings back every register, the running timer and a moved page; a bad record changes nothing.
 */
static void test_checkpoint(void **state)
{
	struct devbus *bus = pc_script_bus(), *other = pc_script_bus();
	uint8_t *cp, d[4] = {0};
	size_t len;
	uint32_t v;

	(void)state;
	pc_script_run(bus, &(struct row){"setup",
	                                 {W(A + 0xf0, 0x1ff), W(A + 0x80, 0x20), W(A + 0x3e0, 0xb),
	                                  W(A + 0x320, 0x40), W(A + 0x380, 100), W(A + 0x300, 0x40050),
	                                  ADV(30), SET_BASE(0xfed00000ull | EN | BSP), END_OP}});
	assert_int_equal(devbus_save(bus, &cp, &len), 0);
	assert_int_equal(pc_lapic_set_base(other, 0xfed00000ull | EN | BSP), 0);
	assert_int_equal(devbus_restore(other, cp, len), 0);
	pc_script_run(other, &(struct row){"restored",
	                                   {GONE(A), R(0xfed00080, 0x20), R(0xfed00390, 70), INTR(0x50),
	                                    W(0xfed000b0, 0), ADV(70), INTR(0x40), END_OP}});
	/* Restoring into a bus whose page has not moved maps it where the checkpoint says. */
	struct devbus *fresh = pc_script_bus();
	assert_int_equal(devbus_restore(fresh, cp, len), 0);
	devbus_mmio(fresh, 0xfed00030, 4, false, d);
	memcpy(&v, d, 4);
	assert_int_equal(v, 0x50014);
	assert_false(devbus_claims_mmio(fresh, A));
	assert_int_equal(devbus_restore(fresh, cp, len - 1), -EINVAL);
	free(cp);
	devbus_free(bus);
	devbus_free(other);
	devbus_free(fresh);
}

static char tmpdir[] = "/tmp/emudiff-lapic-XXXXXX";

/* Each APIC corpus guest (the I/O APIC's with pc-testdev) recorded twice with --engine emu: it passes, and
 * the traces are identical. */
static void test_guests_deterministic(void **state)
{
	static const char *const guests[] = {"apictimer", "apicdeadline", "apicipi",
	                                     "apicx2",    "apiclint0",    "ioapic"};
	const char *dir = getenv("EMUDIFF_CORPUS");

	(void)state;
	if (!dir)
		fail_msg("EMUDIFF_CORPUS is not set (run through ctest)");
	for (size_t g = 0; g < sizeof(guests) / sizeof(guests[0]); g++) {
		char image[512], path[2][600], err[512] = "";
		for (int k = 0; k < 2; k++) {
			struct rec_summary sum;
			snprintf(image, sizeof(image), "%s/%s.bin", dir, guests[g]);
			snprintf(path[k], sizeof(path[k]), "%s/%s.%d.db", tmpdir, guests[g], k);
			struct rec_options opt = {.output = path[k],
			                          .force = true,
			                          .engine = REC_ENGINE_EMU,
			                          .mode = REC_MODE_STEP,
			                          .max_steps = 1000000,
			                          .mem_bytes = 16u << 20,
			                          .multiboot_path = image,
			                          .pc_testdev = !strcmp(guests[g], "ioapic"),
			                          .kernel_cmdline = guests[g],
			                          .command_line = "test_lapic"};
			if (recorder_run(&opt, &sum, err, sizeof(err)))
				fail_msg("%s: %s", guests[g], err);
			if (sum.end != REC_END_GUEST_EXIT || sum.guest_status != 0)
				fail_msg("%s: ended %s (status %d): %s", guests[g], rec_end_name(sum.end),
				         sum.guest_status, sum.end_detail);
			assert_true(sum.interrupts > 0);
		}
		trace_compare_steps(path[0], path[1]);
		unlink(path[0]);
		unlink(path[1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_guests_deterministic),
	};
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return rc;
}
