/* Page walks over hand-built page tables: x86_translate_ram over a RAM image, x86_page_walk over a callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86_paging.h"

#define RAM_SIZE (4u << 20)
#define P        0x1u
#define RW       0x2u
#define PS       0x80u
#define NO_FAULT UINT64_MAX

static uint8_t *ram;

static void put32(uint64_t gpa, uint32_t v)
{
	memcpy(ram + gpa, &v, 4);
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(ram + gpa, &v, 8);
}

enum mode { NOPG, PG32, PG32_PSE, PAE, LONG4, LONG5 };

static void set_mode(struct x86_state *st, enum mode m)
{
	static const uint64_t cr3[] = {
	    [PG32] = 0x1000, [PG32_PSE] = 0x1000, [PAE] = 0x3000, [LONG4] = 0x10000, [LONG5] = 0x18000};

	memset(st, 0, sizeof(*st));
	st->cr0 = X86_CR0_PE | (m == NOPG ? 0 : X86_CR0_PG);
	st->cr3 = cr3[m];
	if (m == PG32_PSE)
		st->cr4 = X86_CR4_PSE;
	if (m >= PAE)
		st->cr4 = X86_CR4_PAE;
	if (m == LONG5)
		st->cr4 |= X86_CR4_LA57;
	if (m >= LONG4)
		st->efer = X86_EFER_LME | X86_EFER_LMA;
}

/* The tables every row walks; comments in `rows` name the entries a row uses. */
static void build_tables(void)
{
	/* 32-bit, PD at 0x1000 */
	put32(0x1000 + 1 * 4, 0x2000 | P | RW);
	put32(0x2000 + 5 * 4, 0x7000 | P);
	put32(0x1000 + 3 * 4, 0x00c00000 | (1u << 13) | PS | P);
	put32(0x1000 + 4 * 4, 0x01000000 | (0xffu << 13) | PS | P);
	/* PAE, PDPT at 0x3000 */
	put64(0x3000 + 1 * 8, 0x4000 | P);
	put64(0x3000 + 3 * 8, 0x4000 | PS | P);
	put64(0x4000 + 0 * 8, 0x5000 | P | RW);
	put64(0x5000 + 3 * 8, 0x9000 | P);
	put64(0x4000 + 1 * 8, 0x00600000 | PS | P);
	/* 4-level, PML4 at 0x10000 */
	put64(0x10000 + 1 * 8, 0x11000 | P);
	put64(0x11000 + 2 * 8, 0x12000 | P);
	put64(0x12000 + 0 * 8, 0x13000 | P);
	put64(0x13000 + 4 * 8, 0xa000 | P | (1ull << 63)); /* NX is not an address bit */
	put64(0x12000 + 1 * 8, 0x200000 | PS | P);
	put64(0x11000 + 3 * 8, 0x40000000 | PS | P);
	/* 5-level, PML5 at 0x18000: entry 0 -> the PML4 above, entry 2 -> PML4 0x19000 */
	put64(0x18000 + 0 * 8, 0x10000 | P);
	put64(0x18000 + 2 * 8, 0x19000 | P);
	put64(0x19000 + 0 * 8, 0x11000 | P);
}

/* clang-format off */
static const struct {
	enum mode mode;
	uint64_t linear;
	bool ok;
	uint64_t gpa;
	int line;
} rows[] = {
    {NOPG, 0x12345678, true, 0x12345678, __LINE__},
    {NOPG, 0x112345678ull, true, 0x12345678, __LINE__}, /* 32-bit linear space */
    /* 32-bit: PDE 1 -> PT 0x2000; PTE 5 -> 0x7000 */
    {PG32, 0x00405abc, true, 0x7abc, __LINE__},
    {PG32, 0x00406abc, false, 0, __LINE__}, /* PTE 6 not present */
    {PG32, 0x00805000, false, 0, __LINE__}, /* PDE 2 not present */
    /* PDE 3 is a 4 MiB page at 0x00c00000 with PSE-36 bits = 1 (bit 32) */
    {PG32, 0x00c01234, false, 0, __LINE__}, /* no CR4.PSE: PS ignored, PT out of RAM */
    {PG32_PSE, 0x00c01234, true, 0x100c01234ull, __LINE__},
    {PG32_PSE, 0x00405abc, true, 0x7abc, __LINE__},
    /* PSE-36: PDE bits 13..20 all set are physical bits 32..39 */
    {PG32_PSE, 0x013fffff, true, 0xff013fffffull, __LINE__},
    {PG32_PSE, 0x00805000, false, 0, __LINE__}, /* PDE 2 not present */
    /* PAE: PDPTE 1 -> PD 0x4000; PDE 0 -> PT 0x5000; PTE 3 -> 0x9000; PDE 1 a 2 MiB page */
    {PAE, 0x40003123, true, 0x9123, __LINE__},
    {PAE, 0x40234567, true, 0x00634567, __LINE__},
    {PAE, 0x80000000, false, 0, __LINE__}, /* PDPTE 2 not present */
    {PAE, 0x40400000, false, 0, __LINE__}, /* PDE 2 not present */
    {PAE, 0x40006000, false, 0, __LINE__}, /* PTE 6 not present */
    {PAE, 0xc0003123, true, 0x9123, __LINE__}, /* no 1 GiB pages under PAE: PDPTE 3's PS is not a size */
    /* 4-level: 1 -> PDPT 0x11000; PDPTE 2 -> PD 0x12000 (PDE 0 -> PT 0x13000, PTE 4 -> 0xa000; PDE 1 a
     * 2 MiB page at 0x200000); PDPTE 3 a 1 GiB page at 0x40000000 */
    {LONG4, 0x0000008080004567ull, true, 0xa567, __LINE__},
    {LONG4, 0x00000080802fffffull, true, 0x2fffff, __LINE__},
    {LONG4, 0x00000080c1234567ull, true, 0x41234567, __LINE__},
    {LONG4, 0x00000080ffffffffull, true, 0x7fffffff, __LINE__}, /* last byte of the 1 GiB page */
    {LONG4, 0x0000000080004567ull, false, 0, __LINE__}, /* PML4E 0 not present */
    {LONG4, 0x0000008100000000ull, false, 0, __LINE__}, /* PDPTE 4 not present */
    {LONG4, 0x0000008080400000ull, false, 0, __LINE__}, /* PDE 2 not present */
    {LONG4, 0x0000008080005000ull, false, 0, __LINE__}, /* PTE 5 not present */
    /* 5-level: PML5E 0 -> the 4-level PML4; PML5E 2 -> PML4 0x19000, whose entry 0 -> PDPT 0x11000 */
    {LONG5, 0x0000008080004567ull, true, 0xa567, __LINE__},
    {LONG5, 0x00000080c1234567ull, true, 0x41234567, __LINE__},
    {LONG5, 0x0002000080004567ull, true, 0xa567, __LINE__},
    {LONG5, 0x0001008080004567ull, false, 0, __LINE__}, /* PML5E 1 not present */
    {LONG5, 0x0002008080004567ull, false, 0, __LINE__}, /* PML4E 1 under PML5E 2 not present */
    {LONG4, 0x0002008080004567ull, true, 0xa567, __LINE__}, /* LA57 clear: bits 48+ are not an index */
};
/* clang-format on */

struct reader {
	uint64_t fail_at; /* the entry address whose read fails, or NO_FAULT */
	unsigned width;   /* the width every read used; 0 if none, ~0u if they differed */
	unsigned reads;
};

static bool read_entry(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry)
{
	struct reader *r = ctx;

	r->width = (r->reads++ == 0 || r->width == width) ? width : ~0u;
	if (gpa == r->fail_at || gpa + width > RAM_SIZE)
		return false;
	*entry = 0;
	memcpy(entry, ram + gpa, width);
	return true;
}

static void test_walks(void **state)
{
	(void)state;
	ram = calloc(1, RAM_SIZE);
	assert_non_null(ram);
	build_tables();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct x86_state st;
		struct reader rd = {NO_FAULT, 0, 0};
		uint64_t gpa_ram = 0xdead, gpa_cb = 0xdead;
		bool ok_ram, ok_cb;
		unsigned want_width = rows[i].mode == PG32 || rows[i].mode == PG32_PSE ? 4 : 8;

		set_mode(&st, rows[i].mode);
		ok_ram = x86_translate_ram(&st, ram, RAM_SIZE, rows[i].linear, &gpa_ram);
		ok_cb = x86_page_walk(&st, rows[i].linear, read_entry, &rd, &gpa_cb);
		if (ok_ram != rows[i].ok || (ok_ram && gpa_ram != rows[i].gpa))
			fail_msg("%s:%d: ram: linear %#llx -> %d gpa %#llx, want %d gpa %#llx", __FILE__,
			         rows[i].line, (unsigned long long)rows[i].linear, ok_ram,
			         (unsigned long long)gpa_ram, rows[i].ok, (unsigned long long)rows[i].gpa);
		if (ok_cb != rows[i].ok || (ok_cb && gpa_cb != rows[i].gpa))
			fail_msg("%s:%d: callback: linear %#llx -> %d gpa %#llx, want %d gpa %#llx", __FILE__,
			         rows[i].line, (unsigned long long)rows[i].linear, ok_cb,
			         (unsigned long long)gpa_cb, rows[i].ok, (unsigned long long)rows[i].gpa);
		if (rows[i].mode != NOPG && (rd.reads == 0 || rd.width != want_width))
			fail_msg("%s:%d: %u reads of width %u, want width %u", __FILE__, rows[i].line,
			         rd.reads, rd.width, want_width);
		if (rows[i].mode == NOPG && rd.reads != 0)
			fail_msg("%s:%d: %u reads without paging", __FILE__, rows[i].line, rd.reads);
	}
	free(ram);
}

/* A walk that would succeed fails when the entry at any one level cannot be read. */
static void test_unreadable_tables(void **state)
{
	/* clang-format off */
	static const struct {
		enum mode mode;
		uint64_t linear;
		uint64_t entries[5]; /* the entry addresses the walk reads, top level first; 0 ends */
		int line;
	} urows[] = {
	    {PG32, 0x00405abc, {0x1004, 0x2014}, __LINE__},
	    {PG32_PSE, 0x00c01234, {0x100c}, __LINE__},
	    {PAE, 0x40003123, {0x3008, 0x4000, 0x5018}, __LINE__},
	    {LONG4, 0x0000008080004567ull, {0x10008, 0x11010, 0x12000, 0x13020}, __LINE__},
	    {LONG4, 0x00000080c1234567ull, {0x10008, 0x11018}, __LINE__},
	    {LONG5, 0x0000008080004567ull, {0x18000, 0x10008, 0x11010, 0x12000, 0x13020}, __LINE__},
	};
	/* clang-format on */

	(void)state;
	ram = calloc(1, RAM_SIZE);
	assert_non_null(ram);
	build_tables();
	for (size_t i = 0; i < sizeof(urows) / sizeof(urows[0]); i++) {
		struct x86_state st;
		struct reader rd = {NO_FAULT, 0, 0};
		uint64_t gpa;
		size_t n = 0;

		set_mode(&st, urows[i].mode);
		if (!x86_page_walk(&st, urows[i].linear, read_entry, &rd, &gpa))
			fail_msg("%s:%d: readable walk failed", __FILE__, urows[i].line);
		while (n < 5 && urows[i].entries[n])
			n++;
		if (rd.reads != n)
			fail_msg("%s:%d: %u reads, want %zu", __FILE__, urows[i].line, rd.reads, n);
		for (size_t k = 0; k < n; k++) {
			rd = (struct reader){urows[i].entries[k], 0, 0};
			if (x86_page_walk(&st, urows[i].linear, read_entry, &rd, &gpa))
				fail_msg("%s:%d: walk succeeded with entry %#llx unreadable", __FILE__,
				         urows[i].line, (unsigned long long)urows[i].entries[k]);
			if (rd.reads != k + 1)
				fail_msg("%s:%d: %u reads after entry %zu failed, want %zu", __FILE__,
				         urows[i].line, rd.reads, k, k + 1);
		}
	}
	free(ram);
}

static void test_tables_outside_ram(void **state)
{
	struct x86_state st;
	uint64_t gpa;
	uint8_t small[64] = {0};

	(void)state;
	set_mode(&st, LONG4);
	st.cr3 = 0x100000;
	assert_false(x86_translate_ram(&st, small, sizeof(small), 0x1000, &gpa));
	set_mode(&st, PG32);
	st.cr3 = 0x3c;
	/* PDE 0 would be at 0x3c..0x3f (inside), PDE 1 at 0x40 (outside) */
	assert_false(x86_translate_ram(&st, small, sizeof(small), 0x00400000, &gpa));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_walks),
	    cmocka_unit_test(test_unreadable_tables),
	    cmocka_unit_test(test_tables_outside_ram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
