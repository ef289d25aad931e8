/* The multiboot loader on hand-made images, a row each: what it refuses, with
 * which message, and what a good image leaves in RAM and in the state. No KVM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot.h"

#define RAM_SIZE (4u << 20)
#define MB_MAGIC 0x1badb002u

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* A multiboot header at offset 0 with flags; with flag 16 the address fields
 * follow. */
static size_t header(uint8_t *img, uint32_t flags, uint32_t load, uint32_t load_end, uint32_t bss_end,
                     uint32_t entry)
{
	put32(img, MB_MAGIC);
	put32(img + 4, flags);
	put32(img + 8, (uint32_t) - (MB_MAGIC + flags));
	put32(img + 12, load); /* header_addr: the header is the first byte loaded */
	put32(img + 16, load);
	put32(img + 20, load_end);
	put32(img + 24, bss_end);
	put32(img + 28, entry);
	return 32;
}

/* An ELF32 executable after a flag-0 multiboot header: one program header of
 * type, filesz, memsz at gpa. */
static size_t elf(uint8_t *img, uint32_t type, uint32_t gpa, uint32_t filesz, uint32_t memsz)
{
	uint8_t *e = img;
	memset(e, 0, 0x200);
	memcpy(e,
	       "\x7f"
	       "ELF",
	       4);
	e[4] = 1, e[5] = 1, e[6] = 1;
	put16(e + 16, 2);
	put16(e + 18, 3);
	put32(e + 24, gpa);  /* entry */
	put32(e + 28, 0x40); /* phoff */
	put16(e + 42, 32);
	put16(e + 44, 1);
	uint8_t *ph = e + 0x40;
	put32(ph, type);
	put32(ph + 4, 0x100); /* file offset */
	put32(ph + 8, gpa);
	put32(ph + 12, gpa);
	put32(ph + 16, filesz);
	put32(ph + 20, memsz);
	/* The multiboot header sits after the ELF header and program header, inside
	 * the first 8 KiB. */
	put32(e + 0x80, MB_MAGIC);
	put32(e + 0x84, 0);
	put32(e + 0x88, (uint32_t)-MB_MAGIC);
	memset(e + 0x100, 0x90, 0x100);
	return 0x200;
}

static const struct {
	const char *what;
	int kind;                          /* 0: a.out kludge, 1: ELF, 2: no header at all, 3: header with
	                                      unsupported flags */
	uint32_t load, load_end, bss_end;  /* kludge */
	uint32_t type, gpa, filesz, memsz; /* ELF */
	int rc;
	const char *message;
} rows[] = {
    {"no header", 2, 0, 0, 0, 0, 0, 0, 0, -EINVAL, "no multiboot header"},
    {"video mode required", 3, 0, 0, 0, 0, 0, 0, 0, -EINVAL, "requires features"},
    {"kludge: loads no bytes", 0, 0x100000, 0x100000, 0, 0, 0, 0, 0, -EINVAL, "loads no bytes"},
    {"kludge: load_end below load", 0, 0x100000, 0xff000, 0, 0, 0, 0, 0, -EINVAL, "below load_addr"},
    {"kludge: past RAM", 0, RAM_SIZE - 16, 0, RAM_SIZE + 0x1000, 0, 0, 0, 0, -EFBIG, "raise --mem"},
    {"kludge: over the info area", 0, 0x8000, 0, 0xa000, 0, 0, 0, 0, -EINVAL, "overlaps the multiboot"},
    {"kludge: good", 0, 0x100000, 0, 0x101000, 0, 0, 0, 0, 0, NULL},
    {"ELF: no PT_LOAD", 1, 0, 0, 0, 4, 0x100000, 0x100, 0x100, -EINVAL, "no loadable segment"},
    {"ELF: an empty PT_LOAD", 1, 0, 0, 0, 1, 0x100000, 0, 0, -EINVAL, "loads no bytes"},
    {"ELF: filesz past the file", 1, 0, 0, 0, 1, 0x100000, 0x10000, 0x10000, -EINVAL, "outside the kernel"},
    {"ELF: good", 1, 0, 0, 0, 1, 0x200000, 0x100, 0x2000, 0, NULL},
};

static void test_multiboot_rows(void **state)
{
	uint8_t *ram = calloc(1, RAM_SIZE);
	(void)state;
	assert_non_null(ram);
	struct boot_memory mem = {.ram = ram, .ram_size = RAM_SIZE};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t img[0x1000] = {0};
		size_t len = sizeof(img);
		struct x86_state st;
		uint64_t lo = 0, hi = 0;
		char err[256] = "";

		if (rows[i].kind == 0)
			header(img, 1u << 16, rows[i].load, rows[i].load_end, rows[i].bss_end, rows[i].load);
		else if (rows[i].kind == 1)
			len = elf(img, rows[i].type, rows[i].gpa, rows[i].filesz, rows[i].memsz);
		else if (rows[i].kind == 3)
			header(img, 1u << 2, 0, 0, 0, 0);
		int rc = boot_load_multiboot(&mem, img, len, "a=b", &st, &lo, &hi, err, sizeof(err));
		if (rc != rows[i].rc || (rows[i].message && !strstr(err, rows[i].message)))
			fail_msg("%s: rc %d \"%s\", want %d \"%s\"", rows[i].what, rc, err, rows[i].rc,
			         rows[i].message ? rows[i].message : "");
		if (rc == 0 && (lo >= hi || st.gpr[X86_RAX] != 0x2badb002u || st.rip == 0))
			fail_msg("%s: range %#llx-%#llx eax %#llx rip %#llx", rows[i].what,
			         (unsigned long long)lo, (unsigned long long)hi,
			         (unsigned long long)st.gpr[X86_RAX], (unsigned long long)st.rip);
	}
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_multiboot_rows)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
