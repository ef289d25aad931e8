/* CPU models: the CPUID table and the model-specific registers a recorded CPU has, one data file a model
 * (machine/cpu/NAME.def), selected by --cpu MODEL[,+feat,-feat,vendor=NAME]. libc only. */
#ifndef EMUDIFF_CPU_MODEL_H
#define EMUDIFF_CPU_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_MODEL_MAX_LEAVES 48
#define CPU_MODEL_MAX_BANKS  32 /* machine-check banks: MCG_CAP[7:0] */
#define CPU_MODEL_SPEC_MAX   256

/* One CPUID leaf (function, index); indexed: the index selects it (else any ECX reads it). */
struct cpu_leaf {
	uint32_t function, index;
	bool indexed;
	uint32_t eax, ebx, ecx, edx;
};

struct cpu_model {
	char name[32];                 /* the model file's name */
	char spec[CPU_MODEL_SPEC_MAX]; /* the whole --cpu text it was made from */
	const char *summary;           /* what the model is, one line */
	struct cpu_leaf leaves[CPU_MODEL_MAX_LEAVES];
	size_t n_leaves;
	bool has_misc_enable; /* IA32_MISC_ENABLE (0x1a0) exists */
	uint64_t misc_enable; /* its value at reset */
	uint64_t mcg_cap;     /* IA32_MCG_CAP; 0: no machine-check MSRs at all */
};

/* The machine-check and miscellaneous MSRs of one CPU as the guest wrote them. */
struct cpu_msrs {
	uint64_t misc_enable;
	uint64_t mcg_status, mcg_ctl;
	uint64_t bank[CPU_MODEL_MAX_BANKS][4]; /* MCi_CTL, MCi_STATUS, MCi_ADDR, MCi_MISC */
};

#define CPU_MSR_MISC_ENABLE 0x1a0u
#define CPU_MSR_MCG_CAP     0x179u
#define CPU_MSR_MCG_STATUS  0x17au
#define CPU_MSR_MCG_CTL     0x17bu
#define CPU_MSR_MC0_CTL     0x400u
#define CPU_MCG_CTL_P       (1ull << 8)

/* Builds the model from spec ("default", "amd-zen,-sse4_2,+x2apic,vendor=GenuineIntel"): 0, or -EINVAL with
 * a one-line message in err naming what is wrong and the valid names. */
int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen);

/* The model names, comma separated ("default, intel-skylake, amd-zen"). */
const char *cpu_model_names(void);

/* The leaf the guest reads for CPUID (function, index); NULL where the model has none (reads as zeros). */
const struct cpu_leaf *cpu_model_leaf(const struct cpu_model *m, uint32_t function, uint32_t index);

/* The PC machine's own CPU (no --cpu): firmware that finds no TSC and no local APIC boots alike on every
 * run; clears TSC, RDTSCP, APIC, x2APIC and TSC-deadline. A model asked for is left whole. */
void cpu_model_for_pc(struct cpu_model *m);

/* The model's feature bits (leaf 1 ECX/EDX, 7.0 EBX/ECX/EDX, 0xd.1 EAX, 0x80000001 ECX/EDX) that supported
 * (KVM_GET_SUPPORTED_CPUID's table) lacks, as text ("x2apic, leaf 0x7.0 ebx bit 30"); the count of bits. */
size_t cpu_model_unsupported(const struct cpu_model *m, const struct cpu_leaf *supported, size_t n, char *buf,
                             size_t len);

/* MSRs at reset. */
void cpu_msrs_reset(const struct cpu_model *m, struct cpu_msrs *s);
/* RDMSR: true with *value when the model has the MSR, false where the CPU raises #GP. */
bool cpu_msr_read(const struct cpu_model *m, const struct cpu_msrs *s, uint32_t msr, uint64_t *value);
/* WRMSR: true when the model takes the value, false where the CPU raises #GP (no such MSR, a read-only one,
 * or a value its write rule refuses). */
bool cpu_msr_write(const struct cpu_model *m, struct cpu_msrs *s, uint32_t msr, uint64_t value);

/* One line of the model's MSRs ("MISC_ENABLE 0x1801; MCG_CAP 0x10a: 10 banks, MCG_CTL"). */
void cpu_model_describe_msrs(const struct cpu_model *m, char *buf, size_t len);

#endif
