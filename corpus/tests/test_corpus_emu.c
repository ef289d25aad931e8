/* Runs every flat guest of corpus/manifest.tsv in emu alone, on 16 MiB of RAM and the standard device bus
 * (no KVM): each must run to its end without an instruction emu lacks, and end as silicon would. The guests
 * check themselves (EXPECT writes a failure status to the debug-exit port), so a wrong result, flag,
 * fault or frame in emu shows as an exit status other than 0 and its console. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../emu/emu.h"
#include "devices.h"
#include "manifest.h"
#include "shim.h"

#define GUEST_RAM  (16u << 20)
#define STEP_LIMIT 50000000ull

/* Where silicon ends otherwise than the manifest's KVM-on-PVM expectation says, and why. */
static const struct {
	const char *name;
	const char *end;
	const char *why;
} silicon_ends[] = {
    {"pmiret", "exit:0", "iretd runs"},
    {"pmint", "exit:0", "int n and iretd run"},
    {"kvmgaps", "exit:0", "daa, bound, popcnt, movbe, crc32, x87 and SSE run"},
    {"pmring", "exit:0", "the gate calls and the returns to ring 3 run"},
    {"task", "exit:0", "the task switches run"},
    {"v86", "exit:0", "EFLAGS.VM is kept"},
    {"longsys", "exit:0", "int3, int n and iretq run"},
};

struct machine {
	uint8_t *ram;
	struct devbus *bus;
	uint64_t tsc;
};

static const char *corpus_dir;
static struct corpus_manifest manifest;

static enum emu_status m_read(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	struct machine *m = opaque;

	if (gpa + len <= GUEST_RAM) {
		memcpy(buf, m->ram + gpa, len);
		return EMU_OK;
	}
	/* MMIO, or absent memory that reads all ones. */
	if (devbus_mmio(m->bus, gpa, len, false, buf) < 0)
		return EMU_IO_ERROR;
	return EMU_OK;
}

static enum emu_status m_write(void *opaque, uint64_t gpa, const void *buf, unsigned len)
{
	struct machine *m = opaque;
	uint8_t tmp[64];

	if (gpa + len <= GUEST_RAM) {
		memcpy(m->ram + gpa, buf, len);
		return EMU_OK;
	}
	if (len > sizeof(tmp))
		return EMU_IO_ERROR;
	memcpy(tmp, buf, len);
	return devbus_mmio(m->bus, gpa, len, true, tmp) < 0 ? EMU_IO_ERROR : EMU_OK;
}

static enum emu_status m_in(void *opaque, uint16_t port, unsigned size, uint32_t *value)
{
	struct machine *m = opaque;
	uint8_t data[4] = {0};

	if (devbus_pio(m->bus, port, size, false, data, 1) < 0)
		return EMU_IO_ERROR;
	*value =
	    (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	return EMU_OK;
}

static enum emu_status m_out(void *opaque, uint16_t port, unsigned size, uint32_t value)
{
	struct machine *m = opaque;
	uint8_t data[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
	                   (uint8_t)(value >> 24)};

	return devbus_pio(m->bus, port, size, true, data, 1) < 0 ? EMU_IO_ERROR : EMU_OK;
}

/* A fixed Intel CPU model, so the run does not depend on the host: SSE4.2, MOVBE, POPCNT, NX, long mode. */
static enum emu_status m_cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)opaque;
	(void)subleaf;
	memset(out, 0, 4 * sizeof(out[0]));
	switch (leaf) {
	case 0:
		out[0] = 1, out[1] = 0x756e6547, out[3] = 0x49656e69, out[2] = 0x6c65746e;
		break;
	case 1:
		out[0] = 0x000906ea;
		out[2] = 1u << 0 | 1u << 9 | 1u << 19 | 1u << 20 | 1u << 22 | 1u << 23;
		out[3] = 1u << 0 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 11 | 1u << 13 | 1u << 15 |
		         1u << 16 | 1u << 24 | 1u << 25 | 1u << 26;
		break;
	case 0x80000000:
		out[0] = 0x80000001;
		break;
	case 0x80000001:
		out[2] = 1u << 0 | 1u << 5;
		out[3] = 1u << 11 | 1u << 20 | 1u << 29;
		break;
	}
	return EMU_OK;
}

static enum emu_status m_rdtsc(void *opaque, uint64_t *tsc)
{
	struct machine *m = opaque;

	*tsc = m->tsc += 1000;
	return EMU_OK;
}

static enum emu_status m_rdrand(void *opaque, bool seed, unsigned size, uint64_t *value, bool *ok)
{
	(void)opaque, (void)seed, (void)size;
	*value = 0x0123456789abcdefull;
	*ok = true;
	return EMU_OK;
}

static enum emu_status m_msr(void *opaque, uint32_t msr, uint64_t *value, bool *known)
{
	(void)opaque, (void)msr, (void)value;
	*known = false;
	return EMU_OK;
}

static enum emu_status m_wrmsr(void *opaque, uint32_t msr, uint64_t value, bool *known)
{
	(void)opaque, (void)msr, (void)value;
	*known = false;
	return EMU_OK;
}

static const struct emu_ops machine_ops = {
    .read_phys = m_read,
    .write_phys = m_write,
    .port_in = m_in,
    .port_out = m_out,
    .cpuid = m_cpuid,
    .rdtsc = m_rdtsc,
    .rdrand = m_rdrand,
    .rdmsr = m_msr,
    .wrmsr = m_wrmsr,
};

static const char *expected_end(const struct corpus_guest *g)
{
	for (size_t i = 0; i < sizeof(silicon_ends) / sizeof(silicon_ends[0]); i++)
		if (!strcmp(silicon_ends[i].name, g->name))
			return silicon_ends[i].end;
	return g->expected;
}

/* Runs the guest to its end: exit:N, shutdown, hlt (halted with nothing to wake it) or a failure. */
static void run_guest(const struct corpus_guest *g, struct machine *m, struct x86_state *st, char *end,
                      size_t endlen, uint64_t *steps)
{
	struct emu_ctxt c = {.st = st, .ops = &machine_ops, .opaque = m, .deliver_exceptions = true};
	uint32_t status;

	c.cache = emu_cache_new();
	assert_non_null(c.cache);
	for (*steps = 0; *steps < STEP_LIMIT; ++*steps) {
		enum emu_status rc = emu_step(&c);

		if (rc == EMU_UNIMPLEMENTED)
			fail_msg("%s: step %llu at rip %#llx: emu lacks %s", g->name,
			         (unsigned long long)*steps, (unsigned long long)st->rip,
			         c.info.unimplemented);
		if (rc == EMU_SHUTDOWN) {
			snprintf(end, endlen, "shutdown");
			break;
		}
		if (rc != EMU_OK && rc != EMU_HALT)
			fail_msg("%s: step %llu at rip %#llx: %s", g->name, (unsigned long long)*steps,
			         (unsigned long long)st->rip, emu_status_name(rc));
		if (devbus_guest_exited(m->bus, &status)) {
			snprintf(end, endlen, "exit:%u", status);
			break;
		}
		if (rc == EMU_HALT) {
			snprintf(end, endlen, "hlt");
			break;
		}
	}
	emu_cache_free(c.cache);
	if (*steps == STEP_LIMIT)
		fail_msg("%s: still running after %llu instructions", g->name, STEP_LIMIT);
}

static void test_guest(void **state)
{
	const struct corpus_guest *g = *state;
	struct machine m = {0};
	struct x86_state st;
	char path[4096], end[64] = "";
	const char *want = expected_end(g);
	const uint8_t *con;
	size_t conlen, len;
	uint64_t steps;
	FILE *f;

	if (strcmp(g->start, "real")) {
		/* Multiboot guests wait for the PC's timer, which only the recorder's run loop drives. */
		print_message("%-14s skipped: starts as %s, needs the PC machine\n", g->name, g->start);
		skip();
	}
	m.ram = calloc(1, GUEST_RAM);
	m.bus = devbus_new();
	assert_non_null(m.ram);
	assert_non_null(m.bus);
	assert_int_equal(devbus_add_standard(m.bus), 0);
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, g->binary);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: %s (build the corpus target)", path, strerror(errno));
	len = fread(m.ram + g->load, 1, GUEST_RAM - g->load, f);
	fclose(f);
	assert_true(len > 0);
	shim_state_boot(&st);
	st.rip = g->load;

	run_guest(g, &m, &st, end, sizeof(end), &steps);
	con = devbus_console(m.bus, &conlen);
	print_message("%-14s %-10s %9llu instructions, console %zu bytes\n", g->name, end,
	              (unsigned long long)steps, conlen);
	if (strcmp(end, want))
		fail_msg("%s:%d: %s ended %s in emu, silicon ends %s; console: %.*s", manifest.path, g->line,
		         g->name, end, want, (int)conlen, (const char *)con);
	/* A passing guest says so last. */
	if (!strcmp(end, "exit:0"))
		assert_true(conlen >= 6 && !memcmp(con + conlen - 6, ": ok\r\n", 6));
	devbus_free(m.bus);
	free(m.ram);
}

int main(void)
{
	static struct CMUnitTest tests[CORPUS_MAX_GUESTS];
	const char *src = getenv("EMUDIFF_SOURCE");
	char err[512];

	corpus_dir = getenv("EMUDIFF_CORPUS");
	if (!src || !corpus_dir) {
		fprintf(stderr, "EMUDIFF_SOURCE and EMUDIFF_CORPUS must be set (run through ctest)\n");
		return 1;
	}
	if (corpus_manifest_load(&manifest, src, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (size_t i = 0; i < manifest.n; i++) {
		tests[i].name = manifest.guests[i].name;
		tests[i].test_func = test_guest;
		tests[i].initial_state = &manifest.guests[i];
	}
	return _cmocka_run_group_tests("corpus_emu", tests, manifest.n, NULL, NULL);
}
