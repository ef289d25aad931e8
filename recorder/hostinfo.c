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

/* KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry is for its index alone. */
#define CPUID_FLAG_INDEXED 1u

int rec_cpu_setup(struct rec *r)
{
	const char *spec = r->opt->cpu;
	bool kvm = !r->engine->emu_is_reference;
	if (!spec || !strcmp(spec, "host")) {
		if (kvm)
			return 0;
		if (spec) {
			snprintf(
			    r->errbuf, r->errlen,
			    "--cpu host is the KVM engine's table (KVM_GET_SUPPORTED_CPUID); --engine emu "
			    "takes a model: %s",
			    cpu_model_names());
			return CLI_STATUS_USAGE;
		}
		spec = "default";
	}
	if (cpu_model_parse(spec, &r->cpu, r->errbuf, r->errlen))
		return CLI_STATUS_USAGE;
	/* A model asked for is the guest's exactly: the PC models its local APIC, and emu's TSC counts
	 * virtual time. Only the PC's own CPU (no --cpu) hides them, as firmware that finds no APIC nor TSC
	 * boots alike on every run. */
	if (r->pc && !r->opt->cpu)
		cpu_model_for_pc(&r->cpu);
	else if (r->pc && kvm && r->opt->warning) {
		char msg[CPU_MODEL_SPEC_MAX + 160];
		snprintf(
		    msg, sizeof(msg),
		    "--cpu %s: the guest's TSC counts host time under KVM: a PC guest that reads it runs "
		    "differently on each recording",
		    r->cpu.spec);
		r->opt->warning(r->opt->warning_arg, msg);
	}
	r->cpu_set = true;
	r->n_cpuid = r->cpu.n_leaves;
	for (size_t i = 0; i < r->n_cpuid; i++) {
		const struct cpu_leaf *l = &r->cpu.leaves[i];
		r->cpuid[i] = (struct shim_cpuid_entry){.function = l->function,
		                                        .index = l->index,
		                                        .flags = l->indexed ? CPUID_FLAG_INDEXED : 0,
		                                        .eax = l->eax,
		                                        .ebx = l->ebx,
		                                        .ecx = l->ecx,
		                                        .edx = l->edx};
	}
	cpu_msrs_reset(&r->cpu, &r->msrs);
	return 0;
}

int rec_cpuid_entries(const struct rec *r, const struct shim_cpuid_entry **e, size_t *n)
{
	return r->engine->cpuid_entries(r, e, n);
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
