#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vmx-shim/shim.h"
#include "private.h"

const char *rec_host_cpu(char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return buf;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) != 0)
			continue;
		char *colon = strchr(line, ':');
		if (colon) {
			colon += 2;
			colon[strcspn(colon, "\n")] = 0;
			snprintf(buf, len, "%s", colon);
		}
		break;
	}
	fclose(f);
	return buf;
}

/* The CPU that --engine emu shows: an Intel family-6 model with SSE4.2, MOVBE, POPCNT, NX, SYSCALL and long
 * mode, fixed so that a recording does not depend on the host it was made on. */
#define EMU_CPU_MODEL(leaf1_edx)                                                                             \
	{                                                                                                    \
		{.function = 0, .eax = 1, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69},          \
		    {.function = 1,                                                                          \
		     .eax = 0x000906ea,                                                                      \
		     .ecx = 1u << 0 | 1u << 9 | 1u << 13 | 1u << 19 | 1u << 20 | 1u << 22 | 1u << 23,        \
		     .edx = (leaf1_edx)},                                                                    \
		    {.function = 0x80000000, .eax = 0x80000008},                                             \
		    {.function = 0x80000001,                                                                 \
		     .ecx = 1u << 0 | 1u << 5,                                                               \
		     .edx = 1u << 11 | 1u << 20 | 1u << 29},                                                 \
		    {.function = 0x80000008, .eax = 0x3027},                                                 \
	}
#define CPUID_1_EDX                                                                                          \
	(1u << 0 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 11 | 1u << 13 | 1u << 15 | 1u << 16 | 1u << 24 |      \
	 1u << 25 | 1u << 26)
#define CPUID_1_EDX_TSC (1u << 4)

static const struct shim_cpuid_entry emu_cpu_model[] = EMU_CPU_MODEL(CPUID_1_EDX | CPUID_1_EDX_TSC);
/* The PC machine has no TSC running in virtual time (as boot_pc_cpuid gives KVM). */
static const struct shim_cpuid_entry emu_pc_cpu_model[] = EMU_CPU_MODEL(CPUID_1_EDX);

int rec_cpuid_entries(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n)
{
	if (r->vm)
		return shim_cpuid_table(r->vm, e, n);
	*e = r->pc ? emu_pc_cpu_model : emu_cpu_model;
	*n = r->pc ? sizeof(emu_pc_cpu_model) / sizeof(emu_pc_cpu_model[0])
	           : sizeof(emu_cpu_model) / sizeof(emu_cpu_model[0]);
	return 0;
}

char *rec_cpuid_text(const struct rec *r)
{
	const struct shim_cpuid_entry *e;
	size_t n;
	if (rec_cpuid_entries(r, &e, &n))
		return NULL;
	size_t cap = n * 64 + 1;
	char *s = malloc(cap), *p = s;
	if (!s)
		return NULL;
	*p = 0;
	for (size_t i = 0; i < n; i++)
		p += snprintf(p, cap - (size_t)(p - s), "%08x %08x: %08x %08x %08x %08x\n", e[i].function,
		              e[i].index, e[i].eax, e[i].ebx, e[i].ecx, e[i].edx);
	return s;
}
