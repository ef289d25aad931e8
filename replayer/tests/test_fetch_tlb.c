/* The replayer's cached fetch translation: it must answer as an uncached walk does after every change to
 * the paging state or to a page the walk read an entry from, and walk no more often than that. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../x86/x86_paging.h"
#include "../fetch_tlb.h"

#define RAM_BYTES (1u << 20)
#define PML4      0x1000u
#define PDPT      0x2000u
#define PD        0x3000u
#define PT        0x4000u
#define PML4_B    0x5000u /* a second root, mapping the code page elsewhere */
#define PDPT_B    0x6000u
#define PD_B      0x7000u
#define PT_B      0x8000u
#define CODE      0x400000ull /* linear: PML4[0], PDPT[0], PD[2], PT[0] */
#define ENTRY     7u          /* present, writable, user */

static uint8_t ram[RAM_BYTES];

static void put_entry(uint64_t gpa, uint64_t value)
{
	memcpy(ram + gpa, &value, 8);
}

static void build_tables(struct x86_state *st)
{
	memset(ram, 0, sizeof(ram));
	put_entry(PML4, PDPT | ENTRY);
	put_entry(PDPT, PD | ENTRY);
	put_entry(PD + 2 * 8, PT | ENTRY);
	put_entry(PT, 0x10000 | ENTRY);
	put_entry(PT + 8, 0x11000 | ENTRY);
	memset(st, 0, sizeof(*st));
	st->cr0 = X86_CR0_PE | X86_CR0_PG;
	st->cr4 = X86_CR4_PAE;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
	st->cr3 = PML4;
}

/* A write to the image, told to the cache as the replayer tells it. */
static void write_told(struct fetch_tlb *tlb, uint64_t gpa, uint64_t value)
{
	put_entry(gpa, value);
	fetch_tlb_note_write(tlb, gpa, 8);
}

enum change {
	NOTHING,
	DATA_PAGE_WRITTEN,
	PT_ENTRY_REMAPPED,
	PD_PAGE_WRITTEN,
	PDPT_PAGE_WRITTEN,
	PML4_PAGE_WRITTEN,
	WRITE_ENDING_IN_PT_PAGE,
	OTHER_LINEAR_PAGE,
	CR3_SWITCHED,
	CR4_PSE_SET,
	PAGING_OFF_AND_ON,
};

struct row {
	const char *name;
	enum change change;
	uint64_t walks; /* after the second translation */
	uint64_t gpa;   /* of the second translation */
};

/* clang-format off */
static const struct row rows[] = {
    {"the same page again is not walked again",        NOTHING,                 1, 0x10123},
    {"a write to a data page keeps the translation",   DATA_PAGE_WRITTEN,       1, 0x10123},
    {"a PTE rewritten is walked anew",                 PT_ENTRY_REMAPPED,       2, 0x12123},
    {"any write to the PD's page is walked anew",      PD_PAGE_WRITTEN,         2, 0x10123},
    {"a write to the PDPT's page is walked anew",      PDPT_PAGE_WRITTEN,       2, 0x10123},
    {"a write to the PML4's page is walked anew",      PML4_PAGE_WRITTEN,       2, 0x10123},
    {"a write whose end is in the PT's page",          WRITE_ENDING_IN_PT_PAGE, 2, 0x10123},
    {"another linear page is walked",                  OTHER_LINEAR_PAGE,       2, 0x11123},
    {"a new CR3 is walked",                            CR3_SWITCHED,            2, 0x13123},
    {"a paging-mode bit changed is walked",            CR4_PSE_SET,             2, 0x10123},
    {"paging off then on is walked again",             PAGING_OFF_AND_ON,       3, 0x10123},
};
/* clang-format on */

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct x86_state st;
		struct fetch_tlb tlb;
		uint64_t gpa = 0, linear = CODE + 0x123;
		memset(&tlb, 0, sizeof(tlb));
		build_tables(&st);
		assert_true(fetch_tlb_translate(&tlb, &st, ram, sizeof(ram), linear, &gpa));
		assert_int_equal(gpa, 0x10123);
		switch (r->change) {
		case NOTHING:
			break;
		case DATA_PAGE_WRITTEN:
			write_told(&tlb, 0x10000, 0xffff);
			break;
		case PT_ENTRY_REMAPPED:
			write_told(&tlb, PT, 0x12000 | ENTRY);
			break;
		case PD_PAGE_WRITTEN:
			write_told(&tlb, PD + 5 * 8, 0);
			break;
		case PDPT_PAGE_WRITTEN:
			write_told(&tlb, PDPT + 8, 0);
			break;
		case PML4_PAGE_WRITTEN:
			write_told(&tlb, PML4 + 8, 0);
			break;
		case WRITE_ENDING_IN_PT_PAGE:
			memset(ram + PT - 4, 0, 4);
			fetch_tlb_note_write(&tlb, PT - 4, 8);
			break;
		case OTHER_LINEAR_PAGE:
			linear += 0x1000;
			break;
		case CR3_SWITCHED:
			/* Tables of their own, not written after the first walk: the root alone must matter.
			 */
			put_entry(PML4_B, PDPT_B | ENTRY);
			put_entry(PDPT_B, PD_B | ENTRY);
			put_entry(PD_B + 2 * 8, PT_B | ENTRY);
			put_entry(PT_B, 0x13000 | ENTRY);
			st.cr3 = PML4_B;
			break;
		case CR4_PSE_SET:
			st.cr4 |= X86_CR4_PSE;
			break;
		case PAGING_OFF_AND_ON: {
			struct x86_state flat = st;
			flat.cr0 &= ~X86_CR0_PG;
			assert_true(fetch_tlb_translate(&tlb, &flat, ram, sizeof(ram), 0x5123, &gpa));
			assert_int_equal(gpa, 0x5123);
			break;
		}
		}
		if (!fetch_tlb_translate(&tlb, &st, ram, sizeof(ram), linear, &gpa))
			fail_msg("%s: no translation", r->name);
		uint64_t walked = 0;
		assert_true(x86_translate_ram(&st, ram, sizeof(ram), linear, &walked));
		if (gpa != walked || gpa != r->gpa || tlb.walks != r->walks)
			fail_msg("%s: gpa %#llx (an uncached walk: %#llx, expected %#llx), %llu walks "
			         "(expected %llu)",
			         r->name, (unsigned long long)gpa, (unsigned long long)walked,
			         (unsigned long long)r->gpa, (unsigned long long)tlb.walks,
			         (unsigned long long)r->walks);
	}
}

/* An entry that is not present is never cached: the next fetch walks again and sees it once present. */
static void test_not_present_is_not_kept(void **state)
{
	(void)state;
	struct x86_state st;
	struct fetch_tlb tlb;
	uint64_t gpa = 0;
	memset(&tlb, 0, sizeof(tlb));
	build_tables(&st);
	put_entry(PT, 0);
	assert_false(fetch_tlb_translate(&tlb, &st, ram, sizeof(ram), CODE, &gpa));
	put_entry(PT, 0x14000 | ENTRY);
	assert_true(fetch_tlb_translate(&tlb, &st, ram, sizeof(ram), CODE, &gpa));
	assert_int_equal(gpa, 0x14000);
	assert_int_equal(tlb.walks, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_not_present_is_not_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
