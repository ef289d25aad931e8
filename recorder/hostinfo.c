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
