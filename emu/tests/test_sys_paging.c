/* Paging: 32-bit (4 MiB and PSE-36), PAE, 4-level; U/S, R/W with CR0.WP, NX, SMEP, SMAP with
 * EFLAGS.AC and implicit supervisor accesses, reserved bits, accessed and dirty bits, #PF error
 * codes and CR2. The harness maps 0-2 MiB with a 2 MiB page and 2 MiB-2 MiB+4 KiB with a 4 KiB page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sys_table.h"

/* The rows are aligned by hand, a field a column. */
/* clang-format off */

#define C   TH_CODE
#define S   TH_STACK
#define H(v) SYS_HANDLER(v)
#define PML4 TH_PML4
#define PDPT (TH_PML4 + 0x1000)
#define PD   (TH_PML4 + 0x2000)
#define PT   (TH_PML4 + 0x3000)
#define WP   (1ull << 16)
#define AC   (1ull << 18)
#define L64CR0 0x80000011ull
#define XD   (1ull << 63)
/* mov eax, [0x200000] and mov [0x200000], eax */
#define LOAD  "\x8b\x04\x25\x00\x00\x20\x00"
#define STORE "\x89\x04\x25\x00\x00\x20\x00"

static const struct srow rows[] = {
	/* R/W: a supervisor write to a read-only page faults only with CR0.WP. */
	T(L64, CODE(STORE), .in = {{"rax", 7}}, .min = {{PT, 0x200001, 8}}, .mout = {{0x200000, 7, 4}, {PT, 0x200061, 8}}),
	T(L64, CODE(STORE), .in = {{"cr0", L64CR0 | WP}}, .min = {{PT, 0x200001, 8}}, FAULT(14, 3), .cr2 = 0x200000),
	T(L64, CODE(STORE), .cpl3 = true, .min = {{PT, 0x200005, 8}}, FAULT(14, 7), .cr2 = 0x200000),
	/* U/S: a user access to a supervisor page. */
	T(L64, CODE(LOAD), .cpl3 = true, .min = {{PT, 0x200003, 8}}, FAULT(14, 5), .cr2 = 0x200000),
	T(L64, CODE(LOAD), .cpl3 = true, .min = {{PD + 8, PT | 3, 8}}, FAULT(14, 5), .cr2 = 0x200000),
	/* Accessed on read, dirty on write, in the leaf; accessed in every level walked. */
	T(L64, CODE(LOAD), .min = {{0x200000, 0x99, 4}}, .out = {{"rax", 0x99}},
	  .mout = {{PT, 0x200027, 8}, {PD + 8, PT | 0x27, 8}, {PML4, PDPT | 0x27, 8}}),
	T(L64, CODE(STORE), .mout = {{PT, 0x200067, 8}, {PD + 8, PT | 0x27, 8}}),
	/* A fault sets no accessed bit. */
	T(L64, CODE(STORE), .cpl3 = true, .min = {{PT, 0x200005, 8}}, FAULT(14, 7), .cr2 = 0x200000,
	  .mout = {{PT, 0x200005, 8}}),
	/* NX: a fetch from an XD page with EFER.NXE; XD without NXE is a reserved bit. */
	T(L64, CODE("\x90"), .in = {{"rip", 0x200000}, {"efer", 0xd00}}, .min = {{PT, XD | 0x200003, 8}},
	  FAULT(14, 0x11), .cr2 = 0x200000),
	T(L64, CODE(LOAD), .in = {{"efer", 0xd00}}, .min = {{PT, XD | 0x200003, 8}, {0x200000, 5, 4}}, .out = {{"rax", 5}}),
	T(L64, CODE(LOAD), .min = {{PT, XD | 0x200003, 8}}, FAULT(14, 9), .cr2 = 0x200000),
	/* SMEP: a supervisor fetch from a user page. */
	T(L64, CODE("\x90"), .in = {{"rip", 0x200000}, {"cr4", 0x100020}}, FAULT(14, 0x11), .cr2 = 0x200000),
	T(L64, CODE("\x90"), .in = {{"rip", 0x200000}, {"cr4", 0x20}}, .out = {{"rip", 0x200001}}),
	/* SMAP: a supervisor data access to a user page faults unless EFLAGS.AC; implicit accesses
	 * (here the GDT read of a segment load) fault whatever AC says. */
	T(L64, CODE(LOAD), .in = {{"cr4", 0x200020}}, FAULT(14, 1), .cr2 = 0x200000),
	T(L64, CODE(LOAD), .in = {{"cr4", 0x200020}, {"rflags", 0x2 | AC}}, .min = {{0x200000, 3, 4}}, .out = {{"rax", 3}}),
	T(L64, CODE(LOAD), .cpl3 = true, .in = {{"cr4", 0x200020}}, .min = {{0x200000, 3, 4}}, .out = {{"rax", 3}}),
	T(L64, CODE("\x8e\xd8"), .in = {{"cr4", 0x200020}, {"rflags", 0x2 | AC}, {"rax", 0x10}},
	  .min = {{PD, 0x87, 8}}, FAULT(14, 1), .cr2 = TH_GDT + 0x10),
	/* Reserved bits: PS in a PML4 entry, bits 20:13 of a 2 MiB page. */
	T(L64, CODE("\x48\xa1\x00\x00\x00\x00\x80\x00\x00\x00"), .min = {{PML4 + 8, PDPT | 0x83, 8}}, FAULT(14, 9),
	  .cr2 = 0x8000000000ull),
	T(L64, CODE("\x8b\x04\x25\x00\x00\x40\x00"), .min = {{PD + 16, 0x400083 | (1 << 13), 8}}, FAULT(14, 9),
	  .cr2 = 0x400000),
	/* A 1 GiB page. */
	T(L64, CODE("\x8b\x04\x25\x00\x30\x00\x40"), .min = {{PDPT + 8, 0x83, 8}, {0x3000, 0x1234, 4}}, .out = {{"rax", 0x1234}}),
	/* Not present at each level: P = 0 in the error code. */
	T(L64, CODE("\x8b\x04\x25\x00\x10\x20\x00"), FAULT(14, 0), .cr2 = 0x201000),
	T(L64, CODE("\x48\xa1\x00\x00\x00\x00\x80\x00\x00\x00"), FAULT(14, 0), .cr2 = 0x8000000000ull),
	/* #PF delivered: error code pushed, CR2 written. */
	T(L64, CODE(STORE), .deliver = true, .cpl3 = true, .min = {{PT, 0x200005, 8}},
	  .out = {{"rip", H(14)}, {"rsp", SYS_STACK0 - 48}, {"cr2", 0x200000}, {"cs.sel", 0x28}, {"cs.attr", 0xa09b},
	          {"ss.sel", 0}, {"ss.attr", 0x10000}, {"ss.limit", 0}},
	  .mout = {{SYS_STACK0 - 48, 7, 8}, {SYS_STACK0 - 40, C, 8}}),
	/* 32-bit paging: a 4 MiB page (PSE), a 4 KiB page, PSE-36's reserved bit 21. */
	T(P32, CODE("\x8b\x03"), .in = {{"cr0", 0x80000011}, {"cr3", 0x20000}, {"cr4", 0x10}, {"rbx", 0x400010}},
	  .min = {{0x20000, 0x83, 4}, {0x20004, 0x21003, 4}, {0x21000, 0x5003, 4}, {0x5010, 0x4321, 4}},
	  .out = {{"rax", 0x4321}}, .mout = {{0x21000, 0x5023, 4}, {0x20004, 0x21023, 4}, {0x20000, 0xa3, 4}}),
	T(P32, CODE("\x8b\x03"), .in = {{"cr0", 0x80000011}, {"cr3", 0x20000}, {"cr4", 0x10}, {"rbx", 0x800000}},
	  .min = {{0x20000, 0x83, 4}, {0x20008, 0x200083, 4}}, FAULT(14, 9), .cr2 = 0x800000),
	/* Without PSE the PS bit is ignored: the entry names a page table. */
	T(P32, CODE("\x8b\x03"), .in = {{"cr0", 0x80000011}, {"cr3", 0x20000}, {"rbx", 0x10}},
	  .min = {{0x20000, 0x21083, 4}, {0x21007 * 0 + 0x21000 + 7 * 4, 0x7003, 4}, {0x21000, 0x3, 4}, {0x10, 0x77, 4}},
	  .out = {{"rax", 0x77}}),
	/* PAE: PDPTE, then a 2 MiB page. */
	T(P32, CODE("\x8b\x03"), .in = {{"cr0", 0x80000011}, {"cr3", 0x20000}, {"cr4", 0x20}, {"rbx", 0x3000}},
	  .min = {{0x20000, 0x21001, 8}, {0x21000, 0x83, 8}, {0x3000, 0x66, 4}}, .out = {{"rax", 0x66}}),
	T(P32, CODE("\x8b\x03"), .in = {{"cr0", 0x80000011}, {"cr3", 0x20000}, {"cr4", 0x20}, {"rbx", 0x40003000}},
	  .min = {{0x20000, 0x21001, 8}, {0x21000, 0x83, 8}}, FAULT(14, 0), .cr2 = 0x40003000),
	/* 32-bit paging with SMEP: the I bit is reported. */
	T(P32, CODE("\x90"), .in = {{"cr0", 0x80000011}, {"cr3", 0x20000}, {"cr4", 0x100010}},
	  .min = {{0x20000, 0x87, 4}}, FAULT(14, 0x11), .cr2 = C),
};
/* clang-format on */

static void test_paging(void **state)
{
	(void)state;
	assert_int_equal(sys_run(rows, sizeof(rows) / sizeof(rows[0])), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
