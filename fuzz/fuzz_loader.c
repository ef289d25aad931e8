/* The firmware and multiboot (ELF32 and a.out-kludge) loaders: any image loads or fails with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RAM_SIZE (32u << 20)

static int map_rom(void *opaque, uint64_t gpa, const uint8_t *rom, size_t len, char *err, size_t errlen)
{
	(void)opaque;
	(void)err;
	(void)errlen;
	/* The loader must hand a range that lies below 4 GiB and holds readable bytes. */
	if (!len || gpa + len > (1ull << 32) || gpa + len < gpa)
		__builtin_trap();
	volatile uint8_t sink = rom[0] ^ rom[len - 1];
	(void)sink;
	return 0;
}

static void check_message(const char *what, int rc, const char *err)
{
	if (rc < 0 && (!err[0] || memchr(err, '\n', strlen(err)))) {
		fprintf(stderr, "%s refused (%d) with message \"%s\"\n", what, rc, err);
		__builtin_trap(); /* every refusal has a one-line message */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram;
	struct x86_state st;
	char err[256];
	struct boot_mb_placed placed = {0};
	int rc;

	if (!ram && !(ram = calloc(1, FUZZ_RAM_SIZE)))
		return 0;
	struct boot_memory mem = {.ram = ram, .ram_size = FUZZ_RAM_SIZE, .map_rom = map_rom};
	size_t header = boot_multiboot_header(data, size);
	if (header != SIZE_MAX && (header % 4 || header + 12 > size)) {
		fprintf(stderr, "multiboot header at %zu of %zu bytes\n", header, size);
		__builtin_trap();
	}
	err[0] = '\0';
	rc = boot_load_multiboot(&mem, data, size, "console=ttyS0", NULL, 0, &st, &placed, err, sizeof(err));
	check_message("boot_load_multiboot", rc, err);
	if (rc == 0 && (placed.lo > placed.hi || placed.end > FUZZ_RAM_SIZE)) {
		fprintf(stderr, "loaded range %#llx-%#llx\n", (unsigned long long)placed.lo,
		        (unsigned long long)placed.end);
		__builtin_trap();
	}
	err[0] = '\0';
	rc = boot_load_bios(&mem, data, size, &st, err, sizeof(err));
	check_message("boot_load_bios", rc, err);
	return 0;
}
