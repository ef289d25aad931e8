/* CPU models: the model files (machine/cpu/NAME.def) compiled in as tables, the --cpu text that picks one
 * and changes its feature bits, and the machine-check MSRs with the SDM's write rules. */
#include "cpu_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct model_file {
	const char *name, *summary;
	bool has_misc_enable;
	uint64_t misc_enable, mcg_cap;
	const struct cpu_leaf *leaves;
	size_t n_leaves;
};

/* First pass over each model file: its leaves. */
#define CPU_MODEL(name, summary)
#define CPU_MISC_ENABLE(value)
#define CPU_MCG_CAP(value)
#define CPU_LEAF(f, a, b, c, d) {.function = (f), .eax = (a), .ebx = (b), .ecx = (c), .edx = (d)},
#define CPU_SUBLEAF(f, i, a, b, c, d)                                                                        \
	{.function = (f), .index = (i), .indexed = true, .eax = (a), .ebx = (b), .ecx = (c), .edx = (d)},
static const struct cpu_leaf default_leaves[] = {
#include "cpu/default.def"
};
static const struct cpu_leaf intel_skylake_leaves[] = {
#include "cpu/intel-skylake.def"
};
static const struct cpu_leaf amd_zen_leaves[] = {
#include "cpu/amd-zen.def"
};
#undef CPU_MODEL
#undef CPU_MISC_ENABLE
#undef CPU_MCG_CAP
#undef CPU_LEAF
#undef CPU_SUBLEAF

/* Second pass: the rest of each file. */
#define CPU_MODEL(n, s)        .name = (n), .summary = (s),
#define CPU_MISC_ENABLE(value) .has_misc_enable = true, .misc_enable = (value),
#define CPU_MCG_CAP(value)     .mcg_cap = (value),
#define CPU_LEAF(f, a, b, c, d)
#define CPU_SUBLEAF(f, i, a, b, c, d)
static const struct model_file models[] = {
    {
#include "cpu/default.def"
        .leaves = default_leaves, .n_leaves = ARRAY_LEN(default_leaves)},
    {
#include "cpu/intel-skylake.def"
        .leaves = intel_skylake_leaves, .n_leaves = ARRAY_LEN(intel_skylake_leaves)},
    {
#include "cpu/amd-zen.def"
        .leaves = amd_zen_leaves, .n_leaves = ARRAY_LEN(amd_zen_leaves)},
};
#undef CPU_MODEL
#undef CPU_MISC_ENABLE
#undef CPU_MCG_CAP
#undef CPU_LEAF
#undef CPU_SUBLEAF

enum { R_EAX, R_EBX, R_ECX, R_EDX };

/* +feat/-feat names, as Linux's /proc/cpuinfo spells them. */
static const struct feature {
	const char *name;
	uint32_t function, index;
	uint8_t reg, bit;
} features[] = {
    /* clang-format off */
    {"fpu", 1, 0, R_EDX, 0},          {"vme", 1, 0, R_EDX, 1},         {"de", 1, 0, R_EDX, 2},
    {"pse", 1, 0, R_EDX, 3},          {"tsc", 1, 0, R_EDX, 4},         {"msr", 1, 0, R_EDX, 5},
    {"pae", 1, 0, R_EDX, 6},          {"mce", 1, 0, R_EDX, 7},         {"cx8", 1, 0, R_EDX, 8},
    {"apic", 1, 0, R_EDX, 9},         {"sep", 1, 0, R_EDX, 11},        {"mtrr", 1, 0, R_EDX, 12},
    {"pge", 1, 0, R_EDX, 13},         {"mca", 1, 0, R_EDX, 14},        {"cmov", 1, 0, R_EDX, 15},
    {"pat", 1, 0, R_EDX, 16},         {"pse36", 1, 0, R_EDX, 17},      {"clflush", 1, 0, R_EDX, 19},
    {"mmx", 1, 0, R_EDX, 23},         {"fxsr", 1, 0, R_EDX, 24},       {"sse", 1, 0, R_EDX, 25},
    {"sse2", 1, 0, R_EDX, 26},        {"ht", 1, 0, R_EDX, 28},
    {"sse3", 1, 0, R_ECX, 0},         {"pclmulqdq", 1, 0, R_ECX, 1},   {"monitor", 1, 0, R_ECX, 3},
    {"vmx", 1, 0, R_ECX, 5},          {"ssse3", 1, 0, R_ECX, 9},       {"fma", 1, 0, R_ECX, 12},
    {"cx16", 1, 0, R_ECX, 13},        {"pcid", 1, 0, R_ECX, 17},       {"sse4_1", 1, 0, R_ECX, 19},
    {"sse4_2", 1, 0, R_ECX, 20},      {"x2apic", 1, 0, R_ECX, 21},     {"movbe", 1, 0, R_ECX, 22},
    {"popcnt", 1, 0, R_ECX, 23},      {"tsc_deadline", 1, 0, R_ECX, 24}, {"aes", 1, 0, R_ECX, 25},
    {"xsave", 1, 0, R_ECX, 26},       {"avx", 1, 0, R_ECX, 28},        {"f16c", 1, 0, R_ECX, 29},
    {"rdrand", 1, 0, R_ECX, 30},      {"hypervisor", 1, 0, R_ECX, 31},
    {"fsgsbase", 7, 0, R_EBX, 0},     {"bmi1", 7, 0, R_EBX, 3},        {"avx2", 7, 0, R_EBX, 5},
    {"smep", 7, 0, R_EBX, 7},         {"bmi2", 7, 0, R_EBX, 8},        {"erms", 7, 0, R_EBX, 9},
    {"invpcid", 7, 0, R_EBX, 10},     {"avx512f", 7, 0, R_EBX, 16},    {"rdseed", 7, 0, R_EBX, 18},
    {"adx", 7, 0, R_EBX, 19},         {"smap", 7, 0, R_EBX, 20},       {"clflushopt", 7, 0, R_EBX, 23},
    {"clwb", 7, 0, R_EBX, 24},        {"sha_ni", 7, 0, R_EBX, 29},
    {"umip", 7, 0, R_ECX, 2},         {"pku", 7, 0, R_ECX, 3},         {"la57", 7, 0, R_ECX, 16},
    {"rdpid", 7, 0, R_ECX, 22},
    {"xsaveopt", 0xd, 1, R_EAX, 0},
    {"lahf_lm", 0x80000001, 0, R_ECX, 0}, {"cmp_legacy", 0x80000001, 0, R_ECX, 1},
    {"svm", 0x80000001, 0, R_ECX, 2},  {"abm", 0x80000001, 0, R_ECX, 5},
    {"sse4a", 0x80000001, 0, R_ECX, 6},   {"3dnowprefetch", 0x80000001, 0, R_ECX, 8},
    {"syscall", 0x80000001, 0, R_EDX, 11}, {"nx", 0x80000001, 0, R_EDX, 20},
    {"pdpe1gb", 0x80000001, 0, R_EDX, 26}, {"rdtscp", 0x80000001, 0, R_EDX, 27},
    {"lm", 0x80000001, 0, R_EDX, 29},
    /* clang-format on */
};

/* "a, b, c" of every name in a table, built once. */
static void join_names(char *buf, size_t len, size_t n, const char *(*name_of)(size_t))
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name_of(i));
}

static const char *model_name_of(size_t i)
{
	return models[i].name;
}

static const char *feature_name_of(size_t i)
{
	return features[i].name;
}

const char *cpu_model_names(void)
{
	static char names[256];
	if (!names[0])
		join_names(names, sizeof(names), ARRAY_LEN(models), model_name_of);
	return names;
}

static const char *cpu_feature_names(void)
{
	static char names[1024];
	if (!names[0])
		join_names(names, sizeof(names), ARRAY_LEN(features), feature_name_of);
	return names;
}

static const struct cpu_leaf *find_leaf(const struct cpu_leaf *leaves, size_t n, uint32_t function,
                                        uint32_t index)
{
	for (size_t i = 0; i < n; i++)
		if (leaves[i].function == function && (!leaves[i].indexed || leaves[i].index == index))
			return &leaves[i];
	return NULL;
}

const struct cpu_leaf *cpu_model_leaf(const struct cpu_model *m, uint32_t function, uint32_t index)
{
	return find_leaf(m->leaves, m->n_leaves, function, index);
}

static uint32_t *leaf_reg(struct cpu_leaf *l, unsigned reg)
{
	return reg == R_EAX ? &l->eax : reg == R_EBX ? &l->ebx : reg == R_ECX ? &l->ecx : &l->edx;
}

static uint32_t leaf_get(const struct cpu_leaf *l, unsigned reg)
{
	return reg == R_EAX ? l->eax : reg == R_EBX ? l->ebx : reg == R_ECX ? l->ecx : l->edx;
}

/* One "+feat", "-feat" or "vendor=NAME" item of the spec. */
static int apply_item(struct cpu_model *m, const char *item, char *err, size_t errlen)
{
	if (!strncmp(item, "vendor=", 7)) {
		const char *v = item + 7;
		struct cpu_leaf *l0 = (struct cpu_leaf *)cpu_model_leaf(m, 0, 0);
		if (strlen(v) != 12) {
			snprintf(err, errlen,
			         "--cpu vendor= takes 12 characters (GenuineIntel, AuthenticAMD), not '%s'",
			         v);
			return -EINVAL;
		}
		/* Leaf 0 only: EBX, EDX, ECX hold the string in that order. */
		memcpy(&l0->ebx, v, 4);
		memcpy(&l0->edx, v + 4, 4);
		memcpy(&l0->ecx, v + 8, 4);
		return 0;
	}
	if (item[0] != '+' && item[0] != '-') {
		snprintf(err, errlen, "--cpu: '%s' is not +FEATURE, -FEATURE or vendor=NAME", item);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_LEN(features); i++) {
		const struct feature *f = &features[i];
		if (strcmp(item + 1, f->name))
			continue;
		struct cpu_leaf *l = (struct cpu_leaf *)cpu_model_leaf(m, f->function, f->index);
		if (!l) {
			snprintf(
			    err, errlen,
			    "--cpu: model %s has no CPUID leaf %#x.%u for %s; pick a model that has it (%s)",
			    m->name, f->function, f->index, f->name, cpu_model_names());
			return -EINVAL;
		}
		uint32_t *r = leaf_reg(l, f->reg);
		*r = item[0] == '+' ? *r | 1u << f->bit : *r & ~(1u << f->bit);
		return 0;
	}
	snprintf(err, errlen, "--cpu: unknown feature '%s'; features: %s", item + 1, cpu_feature_names());
	return -EINVAL;
}

int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen)
{
	char buf[CPU_MODEL_SPEC_MAX];
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "--cpu: the text is longer than %zu characters", sizeof(buf) - 1);
		return -EINVAL;
	}
	memcpy(buf, spec, strlen(spec) + 1);
	char *save = NULL, *name = strtok_r(buf, ",", &save);
	const struct model_file *f = NULL;
	for (size_t i = 0; name && i < ARRAY_LEN(models); i++)
		if (!strcmp(name, models[i].name))
			f = &models[i];
	if (!f) {
		snprintf(err, errlen, "--cpu: unknown model '%s'; models: %s", name ? name : "",
		         cpu_model_names());
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", f->name);
	snprintf(out->spec, sizeof(out->spec), "%s", spec);
	out->summary = f->summary;
	out->has_misc_enable = f->has_misc_enable;
	out->misc_enable = f->misc_enable;
	out->mcg_cap = f->mcg_cap;
	out->n_leaves = f->n_leaves;
	memcpy(out->leaves, f->leaves, f->n_leaves * sizeof(f->leaves[0]));
	for (char *item = strtok_r(NULL, ",", &save); item; item = strtok_r(NULL, ",", &save))
		if (apply_item(out, item, err, errlen))
			return -EINVAL;
	return 0;
}

void cpu_model_for_pc(struct cpu_model *m)
{
	struct cpu_leaf *l1 = (struct cpu_leaf *)cpu_model_leaf(m, 1, 0);
	struct cpu_leaf *l81 = (struct cpu_leaf *)cpu_model_leaf(m, 0x80000001, 0);
	if (l1) {
		l1->edx &= ~(1u << 4 | 1u << 9);   /* TSC, APIC */
		l1->ecx &= ~(1u << 21 | 1u << 24); /* x2APIC, TSC-deadline */
	}
	if (l81)
		l81->edx &= ~(1u << 27); /* RDTSCP */
}

static const char *const reg_names[4] = {"eax", "ebx", "ecx", "edx"};

static const char *feature_name(uint32_t function, uint32_t index, unsigned reg, unsigned bit)
{
	for (size_t i = 0; i < ARRAY_LEN(features); i++)
		if (features[i].function == function && features[i].index == index &&
		    features[i].reg == reg && features[i].bit == bit)
			return features[i].name;
	return NULL;
}

size_t cpu_model_unsupported(const struct cpu_model *m, const struct cpu_leaf *supported, size_t n, char *buf,
                             size_t len)
{
	static const struct {
		uint32_t function, index;
		unsigned reg;
	} feature_regs[] = {{1, 0, R_ECX}, {1, 0, R_EDX},   {7, 0, R_EBX},          {7, 0, R_ECX},
	                    {7, 0, R_EDX}, {0xd, 1, R_EAX}, {0x80000001, 0, R_ECX}, {0x80000001, 0, R_EDX}};
	size_t count = 0, used = 0;
	buf[0] = 0;
	for (size_t k = 0; k < ARRAY_LEN(feature_regs); k++) {
		const struct cpu_leaf *want =
		    cpu_model_leaf(m, feature_regs[k].function, feature_regs[k].index);
		const struct cpu_leaf *got =
		    find_leaf(supported, n, feature_regs[k].function, feature_regs[k].index);
		if (!want)
			continue;
		uint32_t missing =
		    leaf_get(want, feature_regs[k].reg) & ~(got ? leaf_get(got, feature_regs[k].reg) : 0);
		for (unsigned bit = 0; bit < 32; bit++) {
			if (!(missing >> bit & 1))
				continue;
			const char *name = feature_name(feature_regs[k].function, feature_regs[k].index,
			                                feature_regs[k].reg, bit);
			if (used < len && name)
				used +=
				    (size_t)snprintf(buf + used, len - used, "%s%s", count ? ", " : "", name);
			else if (used < len)
				used += (size_t)snprintf(buf + used, len - used, "%sleaf %#x.%u %s bit %u",
				                         count ? ", " : "", feature_regs[k].function,
				                         feature_regs[k].index,
				                         reg_names[feature_regs[k].reg], bit);
			count++;
		}
	}
	return count;
}

static unsigned mc_banks(const struct cpu_model *m)
{
	unsigned n = (unsigned)(m->mcg_cap & 0xff);
	return n < CPU_MODEL_MAX_BANKS ? n : CPU_MODEL_MAX_BANKS;
}

void cpu_msrs_reset(const struct cpu_model *m, struct cpu_msrs *s)
{
	memset(s, 0, sizeof(*s));
	s->misc_enable = m->misc_enable;
	/* Every error reported at reset, as KVM_X86_SETUP_MCE leaves MCG_CTL and MCi_CTL: both engines agree.
	 */
	if (m->mcg_cap & CPU_MCG_CTL_P)
		s->mcg_ctl = ~0ull;
	for (unsigned i = 0; i < mc_banks(m); i++)
		s->bank[i][0] = ~0ull;
}

bool cpu_msr_read(const struct cpu_model *m, const struct cpu_msrs *s, uint32_t msr, uint64_t *value)
{
	*value = 0;
	if (msr == CPU_MSR_MISC_ENABLE && m->has_misc_enable) {
		*value = s->misc_enable;
		return true;
	}
	if (!m->mcg_cap)
		return false;
	if (msr == CPU_MSR_MCG_CAP) {
		*value = m->mcg_cap;
		return true;
	}
	if (msr == CPU_MSR_MCG_STATUS) {
		*value = s->mcg_status;
		return true;
	}
	if (msr == CPU_MSR_MCG_CTL && (m->mcg_cap & CPU_MCG_CTL_P)) {
		*value = s->mcg_ctl;
		return true;
	}
	if (msr >= CPU_MSR_MC0_CTL && msr < CPU_MSR_MC0_CTL + 4 * mc_banks(m)) {
		*value = s->bank[(msr - CPU_MSR_MC0_CTL) / 4][msr % 4];
		return true;
	}
	return false;
}

bool cpu_msr_write(const struct cpu_model *m, struct cpu_msrs *s, uint32_t msr, uint64_t value)
{
	if (msr == CPU_MSR_MISC_ENABLE && m->has_misc_enable) {
		s->misc_enable = value;
		return true;
	}
	if (!m->mcg_cap)
		return false;
	/* MCG_STATUS: RIPV, EIPV, MCIP; the rest is reserved. MCG_CAP is read-only. */
	if (msr == CPU_MSR_MCG_STATUS) {
		if (value & ~7ull)
			return false;
		s->mcg_status = value;
		return true;
	}
	/* MCG_CTL and MCi_CTL take all zeros or all ones (P6 onwards), bit 10 and bit 0 of MCi_CTL aside
	 * as older kernels clear them (KVM accepts that too). */
	if (msr == CPU_MSR_MCG_CTL && (m->mcg_cap & CPU_MCG_CTL_P)) {
		if (value != 0 && value != ~0ull)
			return false;
		s->mcg_ctl = value;
		return true;
	}
	if (msr < CPU_MSR_MC0_CTL || msr >= CPU_MSR_MC0_CTL + 4 * mc_banks(m))
		return false;
	unsigned bank = (msr - CPU_MSR_MC0_CTL) / 4, reg = msr % 4;
	if (reg == 0 && value != 0 && (value | 1u << 10 | 1u) != ~0ull)
		return false;
	/* MCi_STATUS: software clears it with zeros; ones raise #GP (SDM 15.3.2.2). */
	if (reg == 1 && value != 0)
		return false;
	s->bank[bank][reg] = value;
	return true;
}

void cpu_model_describe_msrs(const struct cpu_model *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, "MISC_ENABLE ");
	n += m->has_misc_enable
	         ? snprintf(buf + n, len - (size_t)n, "0x%llx", (unsigned long long)m->misc_enable)
	         : snprintf(buf + n, len - (size_t)n, "absent");
	if (m->mcg_cap)
		snprintf(buf + n, len - (size_t)n, "; MCG_CAP 0x%llx: %u banks at 0x400, MCG_CTL %s",
		         (unsigned long long)m->mcg_cap, mc_banks(m),
		         m->mcg_cap & CPU_MCG_CTL_P ? "present" : "absent");
	else
		snprintf(buf + n, len - (size_t)n, "; no machine-check MSRs");
}
