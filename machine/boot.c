/* Firmware and multiboot loaders: images into guest memory and the state that starts them. */
#include "boot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices.h"

void boot_flat_segment(struct x86_segment *s, uint16_t sel, uint32_t type)
{
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->attr = type | X86_SEG_S | X86_SEG_P | X86_SEG_DB | X86_SEG_G;
}

int boot_state_flat32(uint8_t *ram, size_t ram_size, struct x86_state *st, uint64_t gdt_gpa, uint32_t eip,
                      uint32_t esp)
{
	/* null, 0x08 code (exec/read, accessed), 0x10 data (read/write, accessed), 4 GiB flat. */
	static const uint64_t gdt[3] = {0, 0x00cf9b000000ffffull, 0x00cf93000000ffffull};

	if (gdt_gpa > ram_size || ram_size - gdt_gpa < sizeof(gdt))
		return -EFBIG;
	memcpy(ram + gdt_gpa, gdt, sizeof(gdt));
	x86_state_real(st, 0, 0, 0);
	st->rip = eip;
	st->gpr[X86_RSP] = esp;
	st->cr0 |= X86_CR0_PE;
	for (int i = X86_ES; i <= X86_GS; i++)
		boot_flat_segment(&st->seg[i], 0x10, 0x3);
	boot_flat_segment(&st->seg[X86_CS], 0x08, 0xb);
	st->gdtr.base = gdt_gpa;
	st->gdtr.limit = sizeof(gdt) - 1;
	st->idtr.base = 0;
	st->idtr.limit = 0;
	return 0;
}

int boot_load_bios(const struct boot_memory *mem, const uint8_t *image, size_t len, struct x86_state *st,
                   char *err, size_t errlen)
{
	if (!len || len % 4096 || len > BOOT_BIOS_MAX) {
		snprintf(err, errlen,
		         "the firmware image has %zu bytes; a BIOS image is a multiple of 4 KiB up to %u MiB",
		         len, BOOT_BIOS_MAX >> 20);
		return -EINVAL;
	}
	if (mem->ram_size < 0x100000) {
		snprintf(err, errlen, "a BIOS needs at least 1 MiB of RAM; raise --mem");
		return -EINVAL;
	}
	char why[256];
	int rc = mem->map_rom(mem->opaque, 0x100000000ull - len, image, len, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "mapping the firmware at 4 GiB - %zu: %s", len, why);
		return rc;
	}
	/* The tail below 1 MiB is RAM holding a copy: the firmware makes it writable (PAM) and keeps data
	 * there. */
	size_t alias = len < BOOT_BIOS_ALIAS ? len : BOOT_BIOS_ALIAS;
	memcpy(mem->ram + 0x100000 - alias, image + len - alias, alias);
	x86_state_reset(st);
	return 0;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Copies file bytes [off, off+filesz) to gpa and zeroes up to memsz; checks every bound. */
static int mb_place(const struct boot_memory *mem, const uint8_t *image, size_t len, uint64_t off,
                    uint64_t filesz, uint64_t gpa, uint64_t memsz, uint64_t *lo, uint64_t *hi, char *err,
                    size_t errlen)
{
	size_t ram = mem->ram_size;
	if (filesz > memsz || off > len || filesz > len - off) {
		snprintf(err, errlen, "a segment lies outside the kernel file (offset 0x%llx, %llu bytes)",
		         (unsigned long long)off, (unsigned long long)filesz);
		return -EINVAL;
	}
	if (gpa > ram || memsz > ram - gpa) {
		snprintf(err, errlen,
		         "the segment at 0x%llx (%llu bytes) does not fit in %zu MiB of RAM; raise --mem",
		         (unsigned long long)gpa, (unsigned long long)memsz, ram >> 20);
		return -EFBIG;
	}
	memcpy(mem->ram + gpa, image + off, filesz);
	memset(mem->ram + gpa + filesz, 0, memsz - filesz);
	if (memsz) {
		if (gpa < *lo)
			*lo = gpa;
		if (gpa + memsz > *hi)
			*hi = gpa + memsz;
	}
	return 0;
}

static int mb_load_elf(const struct boot_memory *mem, const uint8_t *image, size_t len, uint32_t *entry,
                       uint64_t *lo, uint64_t *hi, char *err, size_t errlen)
{
	if (len < 52 || image[4] != 1 || image[5] != 1 || rd16(image + 18) != 3 || rd16(image + 16) != 2) {
		snprintf(err, errlen,
		         "not a 32-bit little-endian x86 ELF executable (and no multiboot address fields)");
		return -EINVAL;
	}
	uint32_t phoff = rd32(image + 28);
	uint16_t phentsize = rd16(image + 42), phnum = rd16(image + 44);
	if (phentsize < 32 || phoff > len || (uint64_t)phnum * phentsize > len - phoff) {
		snprintf(err, errlen, "the ELF program headers lie outside the file");
		return -EINVAL;
	}
	unsigned loads = 0;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = image + phoff + (size_t)i * phentsize;
		if (rd32(ph) != 1) /* PT_LOAD */
			continue;
		int rc = mb_place(mem, image, len, rd32(ph + 4), rd32(ph + 16), rd32(ph + 12), rd32(ph + 20),
		                  lo, hi, err, errlen);
		if (rc)
			return rc;
		loads++;
	}
	if (!loads) {
		snprintf(err, errlen, "the ELF file has no loadable segment");
		return -EINVAL;
	}
	*entry = rd32(image + 24);
	return 0;
}

size_t boot_multiboot_header(const uint8_t *image, size_t len)
{
	for (size_t off = 0; off + 12 <= len && off < 8192; off += 4)
		if (rd32(image + off) == BOOT_MB_HDR_MAGIC &&
		    (uint32_t)(rd32(image + off) + rd32(image + off + 4) + rd32(image + off + 8)) == 0)
			return off;
	return SIZE_MAX;
}

/* The kernel's bytes from the header's address fields (flag 16). */
static int mb_load_kludge(const struct boot_memory *mem, const uint8_t *image, size_t len, size_t hdr,
                          uint32_t *entry, uint64_t *lo, uint64_t *hi, char *err, size_t errlen)
{
	if (hdr + 32 > len) {
		snprintf(err, errlen, "the multiboot header's address fields lie outside the file");
		return -EINVAL;
	}
	uint32_t header_addr = rd32(image + hdr + 12), load_addr = rd32(image + hdr + 16);
	uint32_t load_end = rd32(image + hdr + 20), bss_end = rd32(image + hdr + 24);
	*entry = rd32(image + hdr + 28);
	if (load_addr > header_addr || header_addr - load_addr > hdr) {
		snprintf(err, errlen,
		         "the multiboot header_addr 0x%x lies before load_addr 0x%x's file start",
		         header_addr, load_addr);
		return -EINVAL;
	}
	if (load_end && load_end < load_addr) {
		snprintf(err, errlen, "the multiboot load_end_addr 0x%x is below load_addr 0x%x", load_end,
		         load_addr);
		return -EINVAL;
	}
	uint64_t off = hdr - (header_addr - load_addr);
	uint64_t filesz = load_end ? (uint64_t)load_end - load_addr : len - off;
	uint64_t memsz = bss_end ? (uint64_t)bss_end - load_addr : filesz;
	if (memsz < filesz)
		memsz = filesz;
	return mb_place(mem, image, len, off, filesz, load_addr, memsz, lo, hi, err, errlen);
}

/* Real-mode vectors as the firmware leaves them: every entry at its IRET (a kernel may load over them). */
static void mb_ivt(uint8_t *ram)
{
	for (unsigned v = 0; v < 256; v++) {
		ram[4 * v] = (uint8_t)(BOOT_IRET_GPA & 0xffff);
		ram[4 * v + 1] = (uint8_t)((BOOT_IRET_GPA & 0xffff) >> 8);
		ram[4 * v + 2] = 0x00;
		ram[4 * v + 3] = 0xf0;
	}
	ram[BOOT_IRET_GPA] = 0xcf;
}

static uint64_t page_up(uint64_t a)
{
	return (a + 0xfff) & ~0xfffull;
}

/* The information area's parts, at offsets from its start (after the kernel, page aligned). */
enum {
	MBI_OFF = 0x000,  /* the multiboot information structure, 88 bytes */
	MMAP_OFF = 0x060, /* 4 memory map entries of 24 bytes */
	GDT_OFF = 0x0c0,  /* the flat GDT the entry state uses, 24 bytes */
	MODS_OFF = 0x0e0, /* module entries of 16 bytes, then the strings */
};

/* Writes the information area at base and the modules after it; *end gets the end of both. */
static int mb_info(const struct boot_memory *mem, uint64_t base, const char *cmdline,
                   const struct boot_module *mods, size_t n_mods, uint64_t *end, char *err, size_t errlen)
{
	static const char loader_name[] = "emudiff";
	uint64_t ram = mem->ram_size;
	uint64_t strings = base + MODS_OFF + 16 * (uint64_t)n_mods;
	uint64_t size = strings - base + sizeof(loader_name) + strlen(cmdline) + 1;
	for (size_t i = 0; i < n_mods; i++)
		size += strlen(mods[i].string) + 1;
	uint64_t next = page_up(base + size);
	for (size_t i = 0; i < n_mods; i++)
		next = page_up(next + mods[i].len);
	if (next > ram || next > 0xffffffffull) {
		snprintf(
		    err, errlen,
		    "the kernel, its multiboot information and %zu module(s) need RAM up to 0x%llx, more "
		    "than %llu MiB; raise --mem",
		    n_mods, (unsigned long long)next, (unsigned long long)(ram >> 20));
		return -EFBIG;
	}
	uint8_t *mbi = mem->ram + base;
	memset(mbi, 0, size);
	uint8_t *str = mem->ram + strings;
	memcpy(str, loader_name, sizeof(loader_name));
	wr32(mbi + 64, (uint32_t)strings);
	str += sizeof(loader_name);
	wr32(mbi + 16, (uint32_t)(str - mem->ram));
	str += sprintf((char *)str, "%s", cmdline) + 1;
	uint64_t at = page_up(base + size);
	for (size_t i = 0; i < n_mods; i++) {
		uint8_t *m = mbi + MODS_OFF + 16 * i;
		wr32(m, (uint32_t)at);
		wr32(m + 4, (uint32_t)(at + mods[i].len));
		wr32(m + 8, (uint32_t)(str - mem->ram));
		str += sprintf((char *)str, "%s", mods[i].string) + 1;
		memcpy(mem->ram + at, mods[i].data, mods[i].len);
		memset(mem->ram + at + mods[i].len, 0, page_up(at + mods[i].len) - (at + mods[i].len));
		at = page_up(at + mods[i].len);
	}
	static const struct {
		uint64_t base, len;
		uint32_t type;
	} map_fixed[] = {{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2}};
	uint8_t *mm = mbi + MMAP_OFF;
	for (size_t i = 0; i < 4; i++, mm += 24) {
		wr32(mm, 20);
		wr64(mm + 4, i < 3 ? map_fixed[i].base : 0x100000);
		wr64(mm + 12, i < 3 ? map_fixed[i].len : ram - 0x100000);
		wr32(mm + 20, i < 3 ? map_fixed[i].type : 1);
	}
	/* QEMU's set: memory, boot device, command line, modules, memory map, boot loader name. */
	wr32(mbi + 0, (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
	wr32(mbi + 4, 639);
	wr32(mbi + 8, (uint32_t)((ram - 0x100000) >> 10));
	wr32(mbi + 12, 0x8000ffffu); /* the first hard disk, no partition */
	wr32(mbi + 20, (uint32_t)n_mods);
	wr32(mbi + 24, (uint32_t)(base + MODS_OFF));
	wr32(mbi + 44, 4 * 24);
	wr32(mbi + 48, (uint32_t)(base + MMAP_OFF));
	*end = at;
	return 0;
}

int boot_load_multiboot(const struct boot_memory *mem, const uint8_t *image, size_t len, const char *cmdline,
                        const struct boot_module *mods, size_t n_mods, struct x86_state *st,
                        struct boot_mb_placed *placed, char *err, size_t errlen)
{
	size_t hdr = boot_multiboot_header(image, len);
	if (hdr == SIZE_MAX) {
		snprintf(err, errlen,
		         "no multiboot header (magic 0x1badb002 with a valid checksum) in the first 8 KiB");
		return -EINVAL;
	}
	uint32_t flags = rd32(image + hdr + 4);
	/* Bits 0-15 are requirements; this loader meets 0 (page-aligned modules) and 1 (memory info). A video
	 * mode request (2) is ignored, as QEMU's -kernel does: the kernel gets no framebuffer information. */
	if (flags & ~BOOT_MB_FLAG_VIDEO & 0xfffcu) {
		snprintf(
		    err, errlen,
		    "the multiboot header requires features this loader lacks (flags 0x%x: bits 3-15 are "
		    "undefined)",
		    flags);
		return -EINVAL;
	}
	if (mem->ram_size < 0x100000) {
		snprintf(err, errlen, "a multiboot kernel needs at least 1 MiB of RAM; raise --mem");
		return -EFBIG;
	}
	mb_ivt(mem->ram);
	uint64_t lo = UINT64_MAX, hi = 0;
	uint32_t entry;
	int rc = flags & 0x10000u ? mb_load_kludge(mem, image, len, hdr, &entry, &lo, &hi, err, errlen)
	                          : mb_load_elf(mem, image, len, &entry, &lo, &hi, err, errlen);
	if (rc)
		return rc;
	if (hi == 0) {
		snprintf(err, errlen,
		         "the multiboot kernel loads no bytes (every segment it names is empty)");
		return -EINVAL;
	}
	/* Like QEMU's -kernel: what the loader adds goes after the kernel, so any load address works. */
	uint64_t base = page_up(hi), end;
	rc = mb_info(mem, base, cmdline ? cmdline : "", mods, n_mods, &end, err, errlen);
	if (rc)
		return rc;
	rc = boot_state_flat32(mem->ram, mem->ram_size, st, base + GDT_OFF, entry, BOOT_MB_STACK);
	if (rc) {
		snprintf(err, errlen, "setting up protected mode: the GDT does not fit in RAM");
		return rc;
	}
	st->gpr[X86_RAX] = BOOT_MB_MAGIC;
	st->gpr[X86_RBX] = base + MBI_OFF;
	if (placed)
		*placed = (struct boot_mb_placed){.lo = lo, .hi = hi, .info = base + MBI_OFF, .end = end};
	return 0;
}

struct boot_pio {
	uint16_t port;
	uint8_t val;
};

/* Byte writes to devices on bus, in order; a port nobody decodes is an error (the device is missing). */
static int boot_pio_seq(struct devbus *bus, const struct boot_pio *seq, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t v = seq[i].val;
		int rc = devbus_pio(bus, seq[i].port, 1, true, &v, 1);
		if (rc)
			return rc < 0 ? rc : -ENODEV;
	}
	return 0;
}

int boot_pc_pic_as_firmware(struct devbus *bus)
{
	/* ICW1 (edge, cascade, ICW4), ICW2 (vector base), ICW3 (slave on IRQ 2), ICW4 (8086), OCW1 (mask);
	 * the ELCR with the PCI lines level-triggered. */
	static const struct boot_pio seq[] = {
	    {0x20, 0x11},
	    {0x21, BOOT_PIC_MASTER_BASE},
	    {0x21, 0x04},
	    {0x21, 0x01},
	    {0x21, BOOT_PIC_MASTER_MASK},
	    {0xa0, 0x11},
	    {0xa1, BOOT_PIC_SLAVE_BASE},
	    {0xa1, 0x02},
	    {0xa1, 0x01},
	    {0xa1, BOOT_PIC_SLAVE_MASK},
	    {0x4d1, BOOT_PIC_SLAVE_ELCR},
	};
	return boot_pio_seq(bus, seq, sizeof(seq) / sizeof(seq[0]));
}

int boot_pc_pit_as_firmware(struct devbus *bus)
{
	/* Channel 0 only: QEMU's SeaBIOS times with the ACPI PM timer, so it never calibrates the TSC with
	 * channel 2 and never writes port 0x61. */
	static const struct boot_pio seq[] = {
	    {0x43, BOOT_PIT_CH0_CONTROL},
	    {0x40, BOOT_PIT_CH0_COUNT & 0xff},
	    {0x40, BOOT_PIT_CH0_COUNT >> 8},
	};
	return boot_pio_seq(bus, seq, sizeof(seq) / sizeof(seq[0]));
}

void boot_state_sector(struct x86_state *st)
{
	x86_state_real(st, 0, 0x7c00, 0x7c00);
	/* BIOSes hand the boot drive number to the boot sector in DL. */
	st->gpr[X86_RDX] = 0x80;
}
