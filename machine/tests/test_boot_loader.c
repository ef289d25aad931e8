/* The multiboot loader on hand-made images, a row each: what it refuses, with
 * which message, and what a good image leaves in RAM and in the state; the
 * information, modules and firmware state a kernel finds (QEMU's -kernel);
 * QEMU's pc-testdev and isa-debug-exit convention. No KVM.
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
#include "devices.h"
#include "pc.h"

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

static uint32_t get32(const uint8_t *ram, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, ram + gpa, 4);
	return v;
}

static const struct {
	const char *what;
	int kind;                          /* 0: a.out kludge, 1: ELF, 2: no header at all */
	uint32_t more_flags;               /* kludge: header flags besides 16 */
	uint32_t load, load_end, bss_end;  /* kludge */
	uint32_t type, gpa, filesz, memsz; /* ELF */
	int rc;
	const char *message;
} rows[] = {
    {"no header", 2, 0, 0, 0, 0, 0, 0, 0, 0, -EINVAL, "no multiboot header"},
    /* QEMU 7.2 warns and boots without framebuffer information; so does this loader. */
    {"video mode requested", 0, 1u << 2, 0x100000, 0, 0x101000, 0, 0, 0, 0, 0, NULL},
    {"undefined requirement bit 3", 0, 1u << 3, 0x100000, 0, 0x101000, 0, 0, 0, 0, -EINVAL, "bits 3-15"},
    {"undefined requirement bit 15", 0, 1u << 15, 0x100000, 0, 0x101000, 0, 0, 0, 0, -EINVAL, "bits 3-15"},
    {"kludge: loads no bytes", 0, 0, 0x100000, 0x100000, 0, 0, 0, 0, 0, -EINVAL, "loads no bytes"},
    {"kludge: load_end below load", 0, 0, 0x100000, 0xff000, 0, 0, 0, 0, 0, -EINVAL, "below load_addr"},
    {"kludge: past RAM", 0, 0, RAM_SIZE - 16, 0, RAM_SIZE + 0x1000, 0, 0, 0, 0, -EFBIG, "raise --mem"},
    /* QEMU's -kernel loads there: the information goes after the kernel. */
    {"kludge: low, over 0x9000-0xa000", 0, 0, 0x8000, 0, 0xa000, 0, 0, 0, 0, 0, NULL},
    {"kludge: good", 0, 0, 0x100000, 0, 0x101000, 0, 0, 0, 0, 0, NULL},
    {"ELF: no PT_LOAD", 1, 0, 0, 0, 0, 4, 0x100000, 0x100, 0x100, -EINVAL, "no loadable segment"},
    {"ELF: an empty PT_LOAD", 1, 0, 0, 0, 0, 1, 0x100000, 0, 0, -EINVAL, "loads no bytes"},
    {"ELF: filesz past the file", 1, 0, 0, 0, 0, 1, 0x100000, 0x10000, 0x10000, -EINVAL,
     "outside the kernel"},
    {"ELF: good", 1, 0, 0, 0, 0, 1, 0x200000, 0x100, 0x2000, 0, NULL},
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
		struct boot_mb_placed p = {0};
		char err[256] = "";

		if (rows[i].kind == 0)
			header(img, 1u << 16 | rows[i].more_flags, rows[i].load, rows[i].load_end,
			       rows[i].bss_end, rows[i].load);
		else if (rows[i].kind == 1)
			len = elf(img, rows[i].type, rows[i].gpa, rows[i].filesz, rows[i].memsz);
		int rc = boot_load_multiboot(&mem, img, len, "a=b", NULL, 0, &st, &p, err, sizeof(err));
		if (rc != rows[i].rc || (rows[i].message && !strstr(err, rows[i].message)))
			fail_msg("%s: rc %d \"%s\", want %d \"%s\"", rows[i].what, rc, err, rows[i].rc,
			         rows[i].message ? rows[i].message : "");
		if (rc == 0 &&
		    (p.lo >= p.hi || st.gpr[X86_RAX] != 0x2badb002u || st.rip == 0 || p.info < p.hi ||
		     p.info % 4096 || st.gpr[X86_RBX] != p.info || p.end <= p.info))
			fail_msg("%s: range %#llx-%#llx info %#llx-%#llx eax %#llx ebx %#llx rip %#llx",
			         rows[i].what, (unsigned long long)p.lo, (unsigned long long)p.hi,
			         (unsigned long long)p.info, (unsigned long long)p.end,
			         (unsigned long long)st.gpr[X86_RAX], (unsigned long long)st.gpr[X86_RBX],
			         (unsigned long long)st.rip);
		/* QEMU's information flags whatever the header asks: no VBE (11) or framebuffer (12) fields.
		 */
		if (rc == 0 && get32(ram, p.info) != 0x24f)
			fail_msg("%s: information flags %#x, want 0x24f", rows[i].what, get32(ram, p.info));
	}
	free(ram);
}

/* A kernel linked at 0x8000 (a.out kludge, 0x3000 bytes with bss) with two modules: what it finds through
 * EBX, field by field, and the firmware's IVT. */
static void test_multiboot_info(void **state)
{
	static const uint8_t mod_a[5000] = {[0] = 'A', [4999] = 'a'}, mod_b[] = {'B', 'b'};
	const struct boot_module mods[] = {{mod_a, sizeof(mod_a), "a.bin x=1"},
	                                   {mod_b, sizeof(mod_b), "b.bin"}};
	uint8_t *ram = calloc(1, RAM_SIZE), img[0x2000] = {0};
	struct boot_memory mem = {.ram = ram, .ram_size = RAM_SIZE};
	struct boot_mb_placed p;
	struct x86_state st;
	char err[256] = "";
	(void)state;
	assert_non_null(ram);
	header(img, 1u << 16 | 3u, 0x8000, 0, 0xb000, 0x8020);
	assert_int_equal(
	    boot_load_multiboot(&mem, img, sizeof(img), "k.elf a b", mods, 2, &st, &p, err, sizeof(err)), 0);
	assert_int_equal(p.lo, 0x8000);
	assert_int_equal(p.hi, 0xb000);
	assert_int_equal(p.info, 0xb000);
	assert_int_equal(st.gpr[X86_RBX], 0xb000);
	assert_int_equal(st.rip, 0x8020);
	assert_int_equal(get32(ram, 0x8000), MB_MAGIC); /* the kernel is intact */
	uint64_t mbi = p.info;
	assert_int_equal(get32(ram, mbi),
	                 0x24f); /* memory, boot device, cmdline, modules, mmap, loader name */
	assert_int_equal(get32(ram, mbi + 4), 639);
	assert_int_equal(get32(ram, mbi + 8), (RAM_SIZE - 0x100000) >> 10);
	assert_int_equal(get32(ram, mbi + 12), 0x8000ffffu);
	assert_string_equal((const char *)ram + get32(ram, mbi + 16), "k.elf a b");
	assert_string_equal((const char *)ram + get32(ram, mbi + 64), "emudiff");
	assert_int_equal(get32(ram, mbi + 20), 2);
	uint64_t list = get32(ram, mbi + 24);
	assert_true(list > mbi && list < mbi + 0x1000);
	uint32_t a_start = get32(ram, list), a_end = get32(ram, list + 4);
	uint32_t b_start = get32(ram, list + 16), b_end = get32(ram, list + 20);
	/* Page aligned, in order, after the information, each holding its file. */
	assert_int_equal(a_start % 4096, 0);
	assert_int_equal(b_start % 4096, 0);
	assert_true(a_start > list && a_end == a_start + sizeof(mod_a) && b_start >= a_end);
	assert_int_equal(b_end, b_start + sizeof(mod_b));
	assert_memory_equal(ram + a_start, mod_a, sizeof(mod_a));
	assert_memory_equal(ram + b_start, mod_b, sizeof(mod_b));
	assert_string_equal((const char *)ram + get32(ram, list + 8), "a.bin x=1");
	assert_string_equal((const char *)ram + get32(ram, list + 24), "b.bin");
	assert_int_equal(p.end, b_start + 4096);
	/* The memory map: 4 entries of 20 bytes (plus the size field), the last RAM above 1 MiB. */
	uint64_t mm = get32(ram, mbi + 48);
	assert_int_equal(get32(ram, mbi + 44), 4 * 24);
	assert_int_equal(get32(ram, mm), 20);
	assert_int_equal(get32(ram, mm + 12), 0x9fc00);
	assert_int_equal(get32(ram, mm + 3 * 24 + 4), 0x100000);
	assert_int_equal(get32(ram, mm + 3 * 24 + 12), RAM_SIZE - 0x100000);
	assert_int_equal(get32(ram, mm + 3 * 24 + 20), 1);
	/* The GDT the state uses lies in the information area too. */
	assert_true(st.gdtr.base > mbi && st.gdtr.base < list);
	assert_int_equal(st.seg[X86_CS].selector, 0x08);
	/* Every real-mode vector at F000:FF53, an IRET. */
	for (unsigned v = 0; v < 256; v += 51)
		assert_int_equal(get32(ram, 4 * v), 0xf000ff53u);
	assert_int_equal(ram[BOOT_IRET_GPA], 0xcf);
	/* Too little RAM for the modules: one line that says what to raise. */
	mem.ram_size = 0x100000;
	memset(img, 0, sizeof(img));
	header(img, 1u << 16, 0xf0000, 0, 0xfd000, 0xf0020);
	assert_int_equal(boot_load_multiboot(&mem, img, sizeof(img), "k", mods, 2, &st, &p, err, sizeof(err)),
	                 -EFBIG);
	assert_non_null(strstr(err, "raise --mem"));
	free(ram);
}

static int outb(struct devbus *bus, uint16_t port, uint8_t v)
{
	return devbus_pio(bus, port, 1, true, &v, 1);
}

static uint8_t inb(struct devbus *bus, uint16_t port)
{
	uint8_t v = 0;
	devbus_pio(bus, port, 1, false, &v, 1);
	return v;
}

/* The 8259A pair as SeaBIOS leaves it for the kernel: masks, vectors, and IRQ 3 (masked) staying out. */
static void test_pic_as_firmware(void **state)
{
	struct devbus *bus = devbus_new();
	(void)state;
	assert_non_null(bus);
	assert_int_equal(pc_pic_add(bus), 0);
	assert_int_equal(boot_pc_pic_as_firmware(bus), 0);
	assert_int_equal(inb(bus, 0x21), BOOT_PIC_MASTER_MASK);
	assert_int_equal(inb(bus, 0xa1), BOOT_PIC_SLAVE_MASK);
	assert_int_equal(inb(bus, 0x4d1), 0x0c);
	devbus_irq_raise(bus, 3);
	assert_false(devbus_intr_pending(bus));
	devbus_irq_raise(bus, 0);
	assert_true(devbus_intr_pending(bus));
	assert_int_equal(devbus_intr_ack(bus), 0x08);
	outb(bus, 0x20, 0x20);
	devbus_irq_raise(bus, 8);
	assert_int_equal(devbus_intr_ack(bus), 0x70);
	devbus_free(bus);
	/* Without a PIC on the bus the ports are absent: an error, not a silent success. */
	bus = devbus_new();
	assert_non_null(bus);
	assert_int_not_equal(boot_pc_pic_as_firmware(bus), 0);
	devbus_free(bus);
}

/* The 8254 as SeaBIOS leaves it, a row per read after the command written to port 0x43 (0xff: none) and
 * `clocks` more input clocks: read-back status (OUT masked), channel 0's latched count, port 0x61. */
static void test_pit_as_firmware(void **state)
{
	static const struct {
		const char *what;
		uint8_t command;
		uint64_t clocks;
		uint16_t port;
		uint8_t mask, want;
		int line;
	} pit_rows[] = {
	    {"channel 0: mode 2, LSB/MSB, binary", 0xe2, 0, 0x40, 0x3f, 0x34, __LINE__},
	    {"channel 1: reset mode 3", 0xe4, 0, 0x41, 0x0e, 0x06, __LINE__},
	    {"channel 2: reset mode 3 (no TSC calibration)", 0xe8, 0, 0x42, 0x0e, 0x06, __LINE__},
	    {"port 0x61: gate 2 and speaker off", 0xff, 0, 0x61, 0x03, 0x00, __LINE__},
	    /* From 65536, one a clock in mode 2 (mode 3 would count by two). */
	    {"count LSB after 10 clocks", 0x00, 10, 0x40, 0xff, 0xf6, __LINE__},
	    {"count MSB", 0xff, 0, 0x40, 0xff, 0xff, __LINE__},
	};
	struct devbus *bus = devbus_new();
	(void)state;
	assert_non_null(bus);
	assert_int_equal(pc_pic_add(bus), 0);
	assert_int_equal(pc_pit_add(bus), 0);
	assert_int_equal(boot_pc_pit_as_firmware(bus), 0);
	for (size_t i = 0; i < sizeof(pit_rows) / sizeof(pit_rows[0]); i++) {
		devbus_advance(bus, pit_rows[i].clocks);
		if (pit_rows[i].command != 0xff)
			outb(bus, 0x43, pit_rows[i].command);
		uint8_t got = inb(bus, pit_rows[i].port) & pit_rows[i].mask;
		if (got != pit_rows[i].want)
			fail_msg("%s:%d: %s: %#x, want %#x", __FILE__, pit_rows[i].line, pit_rows[i].what,
			         got, pit_rows[i].want);
	}
	devbus_free(bus);
	/* Without a PIT on the bus the ports are absent: an error, not a silent success. */
	bus = devbus_new();
	assert_non_null(bus);
	assert_int_not_equal(boot_pc_pit_as_firmware(bus), 0);
	devbus_free(bus);
}

/* pc-testdev, a row per access: port or MMIO, size, write value (or none), the value a read then gives. */
static const struct {
	const char *what;
	enum devbus_space space;
	uint64_t addr;
	unsigned size;
	bool write;
	uint64_t value;
	int line;
} testdev_rows[] = {
    {"scratch dword", DEVBUS_PIO, 0xe0, 4, true, 0x11223344, __LINE__},
    {"scratch reads back", DEVBUS_PIO, 0xe0, 4, false, 0x11223344, __LINE__},
    {"byte 2 of it", DEVBUS_PIO, 0xe2, 1, false, 0x22, __LINE__},
    {"word at 0xe1 written", DEVBUS_PIO, 0xe1, 2, true, 0xaabb, __LINE__},
    {"dword shows the word", DEVBUS_PIO, 0xe0, 4, false, 0x11aabb44, __LINE__},
    {"word read at 0xe1", DEVBUS_PIO, 0xe1, 2, false, 0xaabb, __LINE__},
    {"byte window 0xe8", DEVBUS_PIO, 0xe8, 1, false, 0x44, __LINE__},
    {"byte window 0xeb", DEVBUS_PIO, 0xeb, 1, false, 0x11, __LINE__},
    {"byte window write", DEVBUS_PIO, 0xea, 1, true, 0x5a, __LINE__},
    {"seen at 0xe0", DEVBUS_PIO, 0xe0, 4, false, 0x115abb44, __LINE__},
    {"0xe9 is the debug console", DEVBUS_PIO, 0xe9, 1, false, 0xe9, __LINE__},
    {"flush port is write-only", DEVBUS_PIO, 0xe4, 4, false, 0xffffffff, __LINE__},
    {"iomem starts zero", DEVBUS_MMIO, 0xff000000, 8, false, 0, __LINE__},
    {"iomem qword", DEVBUS_MMIO, 0xff00fff8, 8, true, 0x0123456789abcdefull, __LINE__},
    {"iomem reads back", DEVBUS_MMIO, 0xff00fff8, 8, false, 0x0123456789abcdefull, __LINE__},
    {"iomem byte of it", DEVBUS_MMIO, 0xff00fffa, 1, false, 0xab, __LINE__},
    {"past iomem: absent", DEVBUS_MMIO, 0xff010000, 4, false, 0xffffffff, __LINE__},
};

static uint64_t access(struct devbus *bus, enum devbus_space sp, uint64_t addr, unsigned size, bool write,
                       uint64_t value)
{
	uint8_t buf[8] = {0};
	memcpy(buf, &value, 8);
	if (sp == DEVBUS_PIO)
		devbus_pio(bus, (uint16_t)addr, size, write, buf, 1);
	else
		devbus_mmio(bus, addr, size, write, buf);
	uint64_t v = 0;
	memcpy(&v, buf, size);
	return v;
}

static void test_pc_testdev(void **state)
{
	struct devbus *bus = devbus_new(), *other = devbus_new();
	uint8_t *cp;
	size_t len;
	(void)state;
	assert_non_null(bus);
	assert_non_null(other);
	assert_int_equal(devbus_add_standard(bus), 0);
	assert_int_equal(devbus_add_pc_testdev(bus), 0);
	assert_int_equal(pc_pic_add(bus), 0);
	for (size_t i = 0; i < sizeof(testdev_rows) / sizeof(testdev_rows[0]); i++) {
		uint64_t got = access(bus, testdev_rows[i].space, testdev_rows[i].addr, testdev_rows[i].size,
		                      testdev_rows[i].write, testdev_rows[i].value);
		if (!testdev_rows[i].write && got != testdev_rows[i].value)
			fail_msg("%s:%d: %s: read %#llx, want %#llx", __FILE__, testdev_rows[i].line,
			         testdev_rows[i].what, (unsigned long long)got,
			         (unsigned long long)testdev_rows[i].value);
	}
	/* IRQ lines: a byte write raises line N at the PIC, zero lowers it. */
	assert_int_equal(boot_pc_pic_as_firmware(bus), 0);
	outb(bus, 0x2000 + 1, 1);
	assert_true(devbus_irq_level(bus, 1));
	assert_int_equal(devbus_intr_ack(bus), 0x09);
	outb(bus, 0x2000 + 1, 0);
	assert_false(devbus_irq_level(bus, 1));
	outb(bus, 0x2000 + 23, 7);
	assert_true(devbus_irq_level(bus, 23));
	/* A checkpoint carries the scratch register and the window. */
	assert_int_equal(devbus_add_standard(other), 0);
	assert_int_equal(devbus_add_pc_testdev(other), 0);
	assert_int_equal(pc_pic_add(other), 0);
	assert_int_equal(devbus_save(bus, &cp, &len), 0);
	assert_int_equal(devbus_restore(other, cp, len), 0);
	free(cp);
	assert_int_equal(access(other, DEVBUS_PIO, 0xe0, 4, false, 0), 0x115abb44);
	assert_int_equal(access(other, DEVBUS_MMIO, 0xff00fff8, 8, false, 0), 0x0123456789abcdefull);
	devbus_free(bus);
	devbus_free(other);
}

/* The debug-exit port both ways: the value itself, or QEMU's (value << 1) | 1. */
static void test_debug_exit_qemu(void **state)
{
	static const struct {
		bool qemu;
		unsigned size;
		uint64_t value;
		uint32_t status;
	} exit_rows[] = {
	    {false, 1, 0, 0}, {false, 4, 3, 3}, {true, 1, 0, 1}, {true, 4, 3, 7}, {true, 1, 0x1ff, 0x1ff}};
	(void)state;
	for (size_t i = 0; i < sizeof(exit_rows) / sizeof(exit_rows[0]); i++) {
		struct devbus *bus = devbus_new();
		uint32_t status = 12345;
		assert_non_null(bus);
		assert_int_equal(devbus_add_standard(bus), 0);
		devbus_set_debug_exit_qemu(bus, exit_rows[i].qemu);
		access(bus, DEVBUS_PIO, DEVBUS_PORT_DEBUG_EXIT, exit_rows[i].size, true, exit_rows[i].value);
		assert_true(devbus_guest_exited(bus, &status));
		if (status != exit_rows[i].status)
			fail_msg("row %zu: status %u, want %u", i, status, exit_rows[i].status);
		assert_non_null(strstr(devbus_exit_message(bus), "guest exited with status"));
		devbus_free(bus);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multiboot_rows),  cmocka_unit_test(test_multiboot_info),
	    cmocka_unit_test(test_pic_as_firmware), cmocka_unit_test(test_pit_as_firmware),
	    cmocka_unit_test(test_pc_testdev),      cmocka_unit_test(test_debug_exit_qemu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
