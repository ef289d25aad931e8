/* CPU models without a recording: the --cpu text (a model, +feat, -feat, vendor=, and each kind of error),
 * the default model against --engine emu's former fixed CPU, the PC machine's cuts, the feature bits a
 * supported table lacks, and the MSRs with their write rules (MCG_CAP, MCG_STATUS, MCG_CTL, MCi_CTL,
 * MCi_STATUS, #GP outside the banks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../cpu_model.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum { EAX, EBX, ECX, EDX };

static uint32_t reg_of(const struct cpu_leaf *l, int reg)
{
	return reg == EAX ? l->eax : reg == EBX ? l->ebx : reg == ECX ? l->ecx : l->edx;
}

static struct cpu_model parsed(const char *spec)
{
	struct cpu_model m;
	char err[1024] = "";
	if (cpu_model_parse(spec, &m, err, sizeof(err)))
		fail_msg("--cpu %s: %s", spec, err);
	return m;
}

/* A spec that changes one bit of its base model and nothing else. */
static const struct bit_row {
	const char *spec, *base;
	uint32_t function, index;
	int reg, bit;
	bool set;
} bit_rows[] = {
    {"default,-sse4_2", "default", 1, 0, ECX, 20, false},
    {"default,+x2apic", "default", 1, 0, ECX, 21, true},
    {"default,+pcid", "default", 1, 0, ECX, 17, true},
    {"default,-lm", "default", 0x80000001, 0, EDX, 29, false},
    {"intel-skylake,-invpcid", "intel-skylake", 7, 0, EBX, 10, false},
    {"intel-skylake,+smep", "intel-skylake", 7, 0, EBX, 7, true},
    {"intel-skylake,-xsave", "intel-skylake", 1, 0, ECX, 26, false},
    {"intel-skylake,-xsaveopt", "intel-skylake", 0xd, 1, EAX, 0, false},
    {"amd-zen,+svm", "amd-zen", 0x80000001, 0, ECX, 2, true},
    {"amd-zen,-sse4_2,+sse4_2", "amd-zen", 1, 0, ECX, 20, true},
};

static void test_feature_bits(void **state)
{
	(void)state;
	for (size_t r = 0; r < ARRAY_LEN(bit_rows); r++) {
		const struct bit_row *row = &bit_rows[r];
		struct cpu_model m = parsed(row->spec), base = parsed(row->base);
		assert_string_equal(m.spec, row->spec);
		assert_string_equal(m.name, row->base);
		assert_int_equal(m.n_leaves, base.n_leaves);
		for (size_t i = 0; i < m.n_leaves; i++) {
			const struct cpu_leaf *a = &m.leaves[i], *b = &base.leaves[i];
			for (int reg = EAX; reg <= EDX; reg++) {
				uint32_t diff = reg_of(a, reg) ^ reg_of(b, reg);
				bool target =
				    a->function == row->function && a->index == row->index && reg == row->reg;
				if (!target) {
					if (diff)
						fail_msg("%s: leaf %#x.%u reg %d changed", row->spec,
						         a->function, a->index, reg);
					continue;
				}
				assert_int_equal(diff & ~(1u << row->bit), 0);
				assert_int_equal((reg_of(a, reg) >> row->bit) & 1, row->set);
			}
		}
	}
}

/* vendor= writes leaf 0's EBX, EDX, ECX and nothing else (not AMD's copy in 0x80000000). */
static void test_vendor(void **state)
{
	(void)state;
	static const char *const specs[][2] = {{"default,vendor=AuthenticAMD", "default"},
	                                       {"amd-zen,vendor=GenuineIntel", "amd-zen"},
	                                       {"intel-skylake,vendor=HygonGenuine", "intel-skylake"}};
	for (size_t r = 0; r < ARRAY_LEN(specs); r++) {
		struct cpu_model m = parsed(specs[r][0]), base = parsed(specs[r][1]);
		const struct cpu_leaf *l0 = cpu_model_leaf(&m, 0, 0);
		char vendor[13] = "";
		memcpy(vendor, &l0->ebx, 4);
		memcpy(vendor + 4, &l0->edx, 4);
		memcpy(vendor + 8, &l0->ecx, 4);
		assert_string_equal(vendor, strchr(specs[r][0], '=') + 1);
		assert_int_equal(l0->eax, base.leaves[0].eax);
		assert_memory_equal(&m.leaves[1], &base.leaves[1], (m.n_leaves - 1) * sizeof(m.leaves[0]));
	}
}

static const struct error_row {
	const char *spec;
	const char *message; /* must appear in the error */
} error_rows[] = {
    {"pentium", "--cpu: unknown model 'pentium'; models: default, intel-skylake, amd-zen"},
    {"", "unknown model ''"},
    {"host", "unknown model 'host'"},
    {"default,+avx9", "--cpu: unknown feature 'avx9'; features: fpu, vme,"},
    {"default,-nx,-sse5", "unknown feature 'sse5'"},
    {"default,sse4_2", "'sse4_2' is not +FEATURE, -FEATURE or vendor=NAME"},
    {"default,vendor=Intel", "vendor= takes 12 characters"},
    {"default,+invpcid", "model default has no CPUID leaf 0x7.0 for invpcid"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t r = 0; r < ARRAY_LEN(error_rows); r++) {
		struct cpu_model m;
		char err[1024] = "";
		assert_int_not_equal(cpu_model_parse(error_rows[r].spec, &m, err, sizeof(err)), 0);
		if (!strstr(err, error_rows[r].message))
			fail_msg("--cpu '%s': got '%s', want '%s'", error_rows[r].spec, err,
			         error_rows[r].message);
		assert_null(strchr(err, '\n'));
	}
}

/* The CPU --engine emu had before models: traces recorded with it must replay as they did. */
static void test_default_is_former_cpu(void **state)
{
	(void)state;
	static const struct cpu_leaf former[] = {
	    {.function = 0, .eax = 1, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},
	    {.function = 1,
	     .eax = 0x000906ea,
	     .ecx = 1u << 0 | 1u << 9 | 1u << 13 | 1u << 19 | 1u << 20 | 1u << 22 | 1u << 23,
	     .edx = 1u << 0 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 11 | 1u << 13 | 1u << 15 |
	            1u << 16 | 1u << 24 | 1u << 25 | 1u << 26},
	    {.function = 0x80000000, .eax = 0x80000008},
	    {.function = 0x80000001, .ecx = 1u << 0 | 1u << 5, .edx = 1u << 11 | 1u << 20 | 1u << 29},
	    {.function = 0x80000008, .eax = 0x3027},
	};
	struct cpu_model m = parsed("default");
	assert_int_equal(m.n_leaves, ARRAY_LEN(former));
	assert_memory_equal(m.leaves, former, sizeof(former));
	assert_true(m.has_misc_enable);
	assert_int_equal(m.misc_enable, 0x1801);
	assert_int_equal(m.mcg_cap, 0);
	/* On the PC machine only TSC went (no APIC, x2APIC, deadline or RDTSCP to clear). */
	cpu_model_for_pc(&m);
	assert_int_equal(m.leaves[1].edx, former[1].edx & ~(1u << 4));
	assert_memory_equal(&m.leaves[2], &former[2], sizeof(former) - 2 * sizeof(former[0]));
}

/* Every model's leaf 0 names a vendor, its highest leaves exist, and an indexed leaf reads only for its
 * index. */
static void test_models_consistent(void **state)
{
	(void)state;
	static const char *const names[] = {"default", "intel-skylake", "amd-zen"};
	for (size_t r = 0; r < ARRAY_LEN(names); r++) {
		struct cpu_model m = parsed(names[r]);
		assert_non_null(strstr(cpu_model_names(), names[r]));
		const struct cpu_leaf *l0 = cpu_model_leaf(&m, 0, 0), *e0 = cpu_model_leaf(&m, 0x80000000, 0);
		assert_non_null(l0);
		assert_non_null(e0);
		assert_non_null(cpu_model_leaf(&m, l0->eax, 0));
		assert_non_null(cpu_model_leaf(&m, e0->eax, 0));
		for (size_t i = 0; i < m.n_leaves; i++) {
			if (!m.leaves[i].indexed)
				continue;
			assert_ptr_equal(cpu_model_leaf(&m, m.leaves[i].function, m.leaves[i].index),
			                 &m.leaves[i]);
			assert_null(cpu_model_leaf(&m, m.leaves[i].function, 9));
		}
	}
	struct cpu_model amd = parsed("amd-zen");
	assert_int_equal(amd.leaves[0].ebx, cpu_model_leaf(&amd, 0x80000000, 0)->ebx);
	assert_false(amd.has_misc_enable);
}

/* The feature bits a KVM_GET_SUPPORTED_CPUID table lacks, by name. */
static void test_unsupported(void **state)
{
	(void)state;
	struct cpu_model m = parsed("intel-skylake");
	struct cpu_leaf sup[CPU_MODEL_MAX_LEAVES];
	char text[512];
	memcpy(sup, m.leaves, m.n_leaves * sizeof(sup[0]));
	assert_int_equal(cpu_model_unsupported(&m, sup, m.n_leaves, text, sizeof(text)), 0);
	assert_string_equal(text, "");
	/* invpcid and x2apic (after +x2apic) missing; a model bit without a name is shown by position. */
	struct cpu_model x = parsed("intel-skylake,+x2apic");
	x.leaves[2].edx |= 1u << 30;
	struct cpu_leaf *l7 = &sup[2];
	assert_int_equal(l7->function, 7);
	l7->ebx &= ~(1u << 10);
	assert_int_equal(cpu_model_unsupported(&x, sup, m.n_leaves, text, sizeof(text)), 3);
	assert_string_equal(text, "x2apic, invpcid, leaf 0x7.0 edx bit 30");
	/* A leaf the supported table lacks: each of its set bits. */
	assert_int_equal(cpu_model_unsupported(&m, sup, 2, text, sizeof(text)),
	                 (size_t)__builtin_popcount(m.leaves[2].ebx) +
	                     (size_t)__builtin_popcount(cpu_model_leaf(&m, 0xd, 1)->eax) +
	                     (size_t)__builtin_popcount(cpu_model_leaf(&m, 0x80000001, 0)->ecx) +
	                     (size_t)__builtin_popcount(cpu_model_leaf(&m, 0x80000001, 0)->edx));
}

/* One RDMSR or WRMSR in order on one CPU: whether it succeeds (else #GP) and what a read gives. */
static const struct msr_row {
	const char *model;
	bool write;
	uint32_t msr;
	uint64_t value; /* written, or expected on a read */
	bool ok;
} msr_rows[] = {
    {"default", false, 0x1a0, 0x1801, true},
    {"default", true, 0x1a0, 0x1, true},
    {"default", false, 0x1a0, 0x1, true},
    {"default", false, 0x179, 0, false},
    {"default", false, 0x400, 0, false},
    {"default", true, 0x401, 0, false},
    {"intel-skylake", false, 0x179, 0x10a, true},
    {"intel-skylake", true, 0x179, 0x10a, false},
    {"intel-skylake", false, 0x17a, 0, true},
    {"intel-skylake", true, 0x17a, 0x5, true},
    {"intel-skylake", false, 0x17a, 0x5, true},
    {"intel-skylake", true, 0x17a, 0x8, false},
    {"intel-skylake", false, 0x17b, ~0ull, true},
    {"intel-skylake", true, 0x17b, 0, true},
    {"intel-skylake", false, 0x17b, 0, true},
    {"intel-skylake", true, 0x17b, 0x1, false},
    {"intel-skylake", false, 0x424, ~0ull, true},
    {"intel-skylake", true, 0x400, 0, true},
    {"intel-skylake", false, 0x400, 0, true},
    {"intel-skylake", true, 0x404, ~0ull & ~(1ull << 10), true},
    {"intel-skylake", true, 0x408, 0xff, false},
    {"intel-skylake", true, 0x401, 0, true},
    {"intel-skylake", true, 0x401, 1ull << 63, false},
    {"intel-skylake", true, 0x425, 0x1, false},
    {"intel-skylake", true, 0x402, 0x1234, true},
    {"intel-skylake", false, 0x402, 0x1234, true},
    {"intel-skylake", true, 0x427, 0x88, true},
    {"intel-skylake", false, 0x427, 0x88, true},
    {"intel-skylake", false, 0x428, 0, false},
    {"intel-skylake", true, 0x428, 0, false},
    {"intel-skylake", false, 0x17c, 0, false},
    {"intel-skylake", false, 0x3ff, 0, false},
    {"amd-zen", false, 0x1a0, 0, false},
    {"amd-zen", true, 0x1a0, 0x1801, false},
    {"amd-zen", false, 0x179, 0x117, true},
    {"amd-zen", false, 0x45b, 0, true},
    {"amd-zen", true, 0x459, 0x2, false},
    {"amd-zen", false, 0x45c, 0, false},
};

static void test_msrs(void **state)
{
	(void)state;
	struct cpu_model m = {.name = ""};
	struct cpu_msrs s;
	for (size_t r = 0; r < ARRAY_LEN(msr_rows); r++) {
		const struct msr_row *row = &msr_rows[r];
		if (strcmp(m.name, row->model)) {
			m = parsed(row->model);
			cpu_msrs_reset(&m, &s);
		}
		uint64_t v = 0xdead;
		bool ok = row->write ? cpu_msr_write(&m, &s, row->msr, row->value)
		                     : cpu_msr_read(&m, &s, row->msr, &v);
		if (ok != row->ok)
			fail_msg("row %zu: %s %s %#x: %s, want %s", r, row->model,
			         row->write ? "wrmsr" : "rdmsr", row->msr, ok ? "taken" : "#GP",
			         row->ok ? "taken" : "#GP");
		if (!row->write && ok && v != row->value)
			fail_msg("row %zu: rdmsr %#x = %#llx, want %#llx", r, row->msr, (unsigned long long)v,
			         (unsigned long long)row->value);
	}
	/* Without MCG_CAP.CTL_P there is no MCG_CTL. */
	m = parsed("intel-skylake");
	m.mcg_cap = 2;
	uint64_t v;
	assert_false(cpu_msr_read(&m, &s, 0x17b, &v));
	assert_false(cpu_msr_write(&m, &s, 0x17b, 0));
	assert_true(cpu_msr_read(&m, &s, 0x407, &v));
	assert_false(cpu_msr_read(&m, &s, 0x408, &v));
	char text[256];
	cpu_model_describe_msrs(&m, text, sizeof(text));
	assert_string_equal(text, "MISC_ENABLE 0x1801; MCG_CAP 0x2: 2 banks at 0x400, MCG_CTL absent");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_feature_bits),
	    cmocka_unit_test(test_vendor),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_default_is_former_cpu),
	    cmocka_unit_test(test_models_consistent),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_msrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
