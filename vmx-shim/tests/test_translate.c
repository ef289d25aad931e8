/* Page walk over hand-built page tables, and flavour detection over fake /proc and /sys trees. No KVM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../x86/x86_paging.h"
#include "private.h"

#define RAM_SIZE (4u << 20)
#define P        0x1u
#define RW       0x2u
#define PS       0x80u

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

static void set_mode(struct x86_state *st, enum mode m, uint64_t cr3)
{
	memset(st, 0, sizeof(*st));
	st->cr0 = X86_CR0_PE | (m == NOPG ? 0 : X86_CR0_PG);
	st->cr3 = cr3;
	if (m == PG32_PSE)
		st->cr4 = X86_CR4_PSE;
	if (m >= PAE)
		st->cr4 = X86_CR4_PAE;
	if (m == LONG5)
		st->cr4 |= X86_CR4_LA57;
	if (m >= LONG4)
		st->efer = X86_EFER_LME | X86_EFER_LMA;
}

static const struct {
	enum mode mode;
	uint64_t linear;
	int ret;
	uint64_t gpa;
	const char *file;
	int line;
} rows[] = {
    {NOPG, 0x12345678, 0, 0x12345678, __FILE__, __LINE__},
    {NOPG, 0x112345678ull, 0, 0x12345678, __FILE__, __LINE__}, /* 32-bit linear space */
    /* 32-bit, PD at 0x1000: PDE 1 -> PT at 0x2000; PTE 5 -> 0x7000. */
    {PG32, 0x00405abc, 0, 0x7abc, __FILE__, __LINE__},
    {PG32, 0x00406abc, -EFAULT, 0, __FILE__, __LINE__}, /* PTE 6 not present */
    {PG32, 0x00805000, -EFAULT, 0, __FILE__, __LINE__}, /* PDE 2 not present */
    /* PDE 3 is a 4 MiB page at 0x00c00000 with PSE-36 bits = 1 (bit 32). */
    {PG32, 0x00c01234, -EFAULT, 0, __FILE__, __LINE__}, /* no CR4.PSE: PS ignored, PT out of RAM */
    {PG32_PSE, 0x00c01234, 0, 0x100c01234ull, __FILE__, __LINE__},
    {PG32_PSE, 0x00405abc, 0, 0x7abc, __FILE__, __LINE__},
    /* PAE, PDPT at 0x3000: PDPTE 1 -> PD 0x4000; PDE 0 -> PT 0x5000; PTE 3 -> 0x9000; PDE 1 2 MiB page. */
    {PAE, 0x40003123, 0, 0x9123, __FILE__, __LINE__},
    {PAE, 0x40234567, 0, 0x00634567, __FILE__, __LINE__},
    {PAE, 0x80000000, -EFAULT, 0, __FILE__, __LINE__},
    /* 4-level, PML4 at 0x10000: 1 -> PDPT 0x11000; PDPTE 2 -> PD 0x12000 (PDE 0 -> PT 0x13000,
     * PTE 4 -> 0xa000; PDE 1 2 MiB page at 0x200000); PDPTE 3 is a 1 GiB page at 0x40000000. */
    {LONG4, 0x0000008080004567ull, 0, 0xa567, __FILE__, __LINE__},
    {LONG4, 0x00000080802fffffull, 0, 0x2fffff, __FILE__, __LINE__},
    {LONG4, 0x00000080c1234567ull, 0, 0x41234567, __FILE__, __LINE__},
    {LONG4, 0x0000000080004567ull, -EFAULT, 0, __FILE__, __LINE__}, /* PML4E 0 not present */
    {LONG4, 0x0000008100000000ull, -EFAULT, 0, __FILE__, __LINE__}, /* PDPTE 4 not present */
    /* 5-level: PML5 at 0x18000, entry 0 -> PML4 at 0x10000. */
    {LONG5, 0x0000008080004567ull, 0, 0xa567, __FILE__, __LINE__},
    {LONG5, 0x0001008080004567ull, -EFAULT, 0, __FILE__, __LINE__}, /* PML5E 1 not present */
};

static uint64_t cr3_for(enum mode m)
{
	switch (m) {
	case PG32:
	case PG32_PSE:
		return 0x1000;
	case PAE:
		return 0x3000;
	case LONG4:
		return 0x10000;
	case LONG5:
		return 0x18000;
	default:
		return 0;
	}
}

static void test_walks(void **state)
{
	(void)state;
	ram = calloc(1, RAM_SIZE);
	assert_non_null(ram);
	/* 32-bit */
	put32(0x1000 + 1 * 4, 0x2000 | P | RW);
	put32(0x2000 + 5 * 4, 0x7000 | P);
	put32(0x1000 + 3 * 4, 0x00c00000 | (1u << 13) | PS | P);
	/* PAE */
	put64(0x3000 + 1 * 8, 0x4000 | P);
	put64(0x4000 + 0 * 8, 0x5000 | P | RW);
	put64(0x5000 + 3 * 8, 0x9000 | P);
	put64(0x4000 + 1 * 8, 0x00600000 | PS | P);
	/* 4-level */
	put64(0x10000 + 1 * 8, 0x11000 | P);
	put64(0x11000 + 2 * 8, 0x12000 | P);
	put64(0x12000 + 0 * 8, 0x13000 | P);
	put64(0x13000 + 4 * 8, 0xa000 | P | (1ull << 63)); /* NX is not an address bit */
	put64(0x12000 + 1 * 8, 0x200000 | PS | P);
	put64(0x11000 + 3 * 8, 0x40000000 | PS | P);
	put64(0x18000 + 0 * 8, 0x10000 | P);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct x86_state st;
		uint64_t gpa = 0xdead;
		int r;

		set_mode(&st, rows[i].mode, cr3_for(rows[i].mode));
		r = (x86_translate_ram(&st, ram, RAM_SIZE, rows[i].linear, &gpa) ? 0 : -EFAULT);
		if (r != rows[i].ret || (r == 0 && gpa != rows[i].gpa))
			fail_msg("%s:%d: linear %#llx -> ret %d gpa %#llx, want ret %d gpa %#llx",
			         rows[i].file, rows[i].line, (unsigned long long)rows[i].linear, r,
			         (unsigned long long)gpa, rows[i].ret, (unsigned long long)rows[i].gpa);
	}
	free(ram);
}

static void test_tables_outside_ram(void **state)
{
	struct x86_state st;
	uint64_t gpa;
	uint8_t small[64] = {0};

	(void)state;
	set_mode(&st, LONG4, 0x100000);
	assert_int_equal((x86_translate_ram(&st, small, sizeof(small), 0x1000, &gpa) ? 0 : -EFAULT), -EFAULT);
	set_mode(&st, PG32, 0x3c);
	/* PDE 0 would be at 0x3c..0x3f (inside), PDE 1 at 0x40 (outside) */
	assert_int_equal((x86_translate_ram(&st, small, sizeof(small), 0x00400000, &gpa) ? 0 : -EFAULT),
	                 -EFAULT);
}

struct fake {
	char root[64];
	char cpuinfo[96];
	char sys[96];
};

static void fake_tree(struct fake *f, const char *flags, const char *const *modules)
{
	FILE *c;
	char path[160];

	snprintf(f->root, sizeof(f->root), "/tmp/shimflav.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->cpuinfo, sizeof(f->cpuinfo), "%s/cpuinfo", f->root);
	snprintf(f->sys, sizeof(f->sys), "%s/module", f->root);
	assert_int_equal(mkdir(f->sys, 0700), 0);
	c = fopen(f->cpuinfo, "w");
	assert_non_null(c);
	fprintf(c,
	        "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: %s\n\nprocessor\t: 1\nflags\t\t: %s\n",
	        flags, flags);
	fclose(c);
	for (; modules && *modules; modules++) {
		snprintf(path, sizeof(path), "%s/%s", f->sys, *modules);
		assert_int_equal(mkdir(path, 0700), 0);
	}
}

static void fake_free(struct fake *f, const char *const *modules)
{
	char path[160];

	for (; modules && *modules; modules++) {
		snprintf(path, sizeof(path), "%s/%s", f->sys, *modules);
		rmdir(path);
	}
	rmdir(f->sys);
	unlink(f->cpuinfo);
	rmdir(f->root);
}

static void test_flavour(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const pvm[] = {"kvm", "kvm_pvm", NULL};
	static const char *const intel[] = {"kvm", "kvm_intel", NULL};
	static const char *const amd[] = {"kvm", "kvm_amd", NULL};
	static const char *const both[] = {"kvm", "kvm_intel", "kvm_pvm", NULL};
	static const struct {
		const char *flags;
		const char *const *modules;
		enum shim_flavour want;
		int line;
	} frows[] = {
	    {"fpu vme hypervisor lahf_lm", pvm, SHIM_FLAVOUR_PVM, __LINE__},
	    {"fpu vmx ept", intel, SHIM_FLAVOUR_VMX, __LINE__},
	    {"fpu svm npt", amd, SHIM_FLAVOUR_SVM, __LINE__},
	    /* A VT-x host running kvm_pvm alone is recorded by KVM's emulator, not silicon. */
	    {"fpu vmx ept", pvm, SHIM_FLAVOUR_PVM, __LINE__},
	    {"fpu vmx ept", both, SHIM_FLAVOUR_UNKNOWN, __LINE__},
	    /* Built-in vendor module, no /sys/module entry: the CPU flag decides. */
	    {"fpu vmx ept", none, SHIM_FLAVOUR_VMX, __LINE__},
	    {"fpu svm", none, SHIM_FLAVOUR_SVM, __LINE__},
	    /* "vmx" must be a whole flag, not part of another one. */
	    {"fpu vmx_foo hypervisor", none, SHIM_FLAVOUR_UNKNOWN, __LINE__},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(frows) / sizeof(frows[0]); i++) {
		struct fake f;
		enum shim_flavour got;

		fake_tree(&f, frows[i].flags, frows[i].modules);
		got = shim_detect_flavour(f.cpuinfo, f.sys);
		fake_free(&f, frows[i].modules);
		if (got != frows[i].want)
			fail_msg("%s:%d: flavour %s, want %s", __FILE__, frows[i].line,
			         shim_flavour_name(got), shim_flavour_name(frows[i].want));
	}
	assert_int_equal(shim_detect_flavour("/nonexistent/cpuinfo", "/nonexistent"), SHIM_FLAVOUR_UNKNOWN);
	assert_string_equal(shim_reference_name(SHIM_FLAVOUR_PVM), "kvm-emulator");
	assert_string_equal(shim_reference_name(SHIM_FLAVOUR_VMX), "silicon");
	assert_string_equal(shim_reference_name(SHIM_FLAVOUR_SVM), "silicon");
	assert_string_equal(shim_flavour_name(SHIM_FLAVOUR_PVM), "pvm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_walks),
	    cmocka_unit_test(test_tables_outside_ram),
	    cmocka_unit_test(test_flavour),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
