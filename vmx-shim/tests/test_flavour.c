/* Flavour detection over fake /proc and /sys trees. No KVM. */
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

#include "private.h"

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
	    cmocka_unit_test(test_flavour),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
