/* Loaders for a PC boot: firmware (a BIOS image such as SeaBIOS) and multiboot (v1) ELF kernels, into
 * guest memory given as a RAM buffer and a way to map ROM (a VM's: boot_memory_of_vm in shim.h). */
#ifndef EMUDIFF_BOOT_H
#define EMUDIFF_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "../x86/x86_state.h"

#define BOOT_BIOS_MAX      (16u << 20)  /* largest firmware image */
#define BOOT_BIOS_ALIAS    (128u << 10) /* the firmware's tail that appears below 1 MiB */
#define BOOT_MB_MAGIC      0x2badb002u  /* EAX at the kernel's entry */
#define BOOT_MB_HDR_MAGIC  0x1badb002u
#define BOOT_MB_FLAG_VIDEO 0x4u    /* header flag: the kernel asks for a video mode */
#define BOOT_MB_STACK      0x7c00u /* ESP at the kernel's entry (the specification leaves it undefined) */
/* What SeaBIOS leaves a kernel it boots: the 8259A pair at vectors 0x08 and 0x70, IRQ 0, 1, 2 and 6 unmasked
 * on the master and 8, 12, 13 and 14 on the slave; every real-mode vector at the IRET at F000:FF53. */
#define BOOT_PIC_MASTER_BASE 0x08u
#define BOOT_PIC_SLAVE_BASE  0x70u
#define BOOT_PIC_MASTER_MASK 0xb8u
#define BOOT_PIC_SLAVE_MASK  0x8eu
#define BOOT_PIC_SLAVE_ELCR  0x0cu /* IRQ 10 and 11, the PCI interrupt lines, level-triggered */
#define BOOT_IRET_GPA        0xfff53u
/* The 8254 as SeaBIOS leaves it (clock setup): channel 0 in mode 2 (rate generator), LSB then MSB, binary,
 * count 0 (65536: IRQ 0 at 18.2 Hz); channels 1 and 2 and port 0x61 as reset left them. */
#define BOOT_PIT_CH0_CONTROL 0x34u
#define BOOT_PIT_CH0_COUNT   0x0000u

/* The guest memory a loader fills: RAM at GPA 0, and a way to map a read-only ROM. */
struct boot_memory {
	uint8_t *ram;
	size_t ram_size;
	/* Maps a copy of data read-only at gpa; 0 or -errno with a one-line message in err. */
	int (*map_rom)(void *opaque, uint64_t gpa, const uint8_t *data, size_t len, char *err, size_t errlen);
	void *opaque;
};

/* A flat segment: base 0, limit 4 GiB, present, 32-bit, page granular; type the code or data type bits. */
void boot_flat_segment(struct x86_segment *s, uint16_t sel, uint32_t type);

/* Initial state of a boot sector: real mode, CS:IP = 0:7C00, SS:SP = 0:7C00, DL = 0x80. */
void boot_state_sector(struct x86_state *st);

/* Flat 32-bit protected mode: writes a 3-entry GDT at gdt_gpa in RAM (0x08 code, 0x10 data, both base 0
 * limit 4 GiB) and sets st to use it with EIP = eip, ESP = esp; -EFBIG when the GDT does not fit in RAM. */
int boot_state_flat32(uint8_t *ram, size_t ram_size, struct x86_state *st, uint64_t gdt_gpa, uint32_t eip,
                      uint32_t esp);

/* Maps a firmware image read-only at 4 GiB - len and copies its last 128 KiB
 * (all of it when smaller) into RAM just below 1 MiB, where a PC decodes the
 * BIOS; st gets the reset state (F000:FFF0, CS base FFFF0000). len must be a
 * multiple of 4 KiB, at most BOOT_BIOS_MAX, and RAM at least 1 MiB. 0 or
 * -errno with a one-line message in err. */
int boot_load_bios(const struct boot_memory *mem, const uint8_t *image, size_t len, struct x86_state *st,
                   char *err, size_t errlen);

/* The offset of a multiboot (v1) header (magic, flags and checksum summing to 0, 32-bit aligned in the
 * first 8 KiB), or SIZE_MAX when the image has none. */
size_t boot_multiboot_header(const uint8_t *image, size_t len);

/* A multiboot module: the file's bytes and the string its entry points at. */
struct boot_module {
	const uint8_t *data;
	size_t len;
	const char *string;
};

/* Where boot_load_multiboot put things. */
struct boot_mb_placed {
	uint64_t lo, hi; /* the kernel's bytes */
	uint64_t info;   /* the multiboot information structure (EBX) */
	uint64_t end;    /* the end of the information area and the modules */
};

/* Loads a multiboot (v1) kernel as QEMU's -kernel does: ELF32 program
 * headers, or the header's address fields when flag 16 is set, at any address
 * in RAM. After the kernel (page aligned) it writes the multiboot information
 * (mem_lower/upper, boot device, command line, modules, memory map, boot
 * loader name) with the strings, module list and a GDT, then each module
 * page aligned. A video mode request (header flag 2) is ignored as QEMU 7.2
 * ignores it: no framebuffer fields, info flags 11 and 12 clear. Undefined
 * requirement bits (3-15) are refused. Fills the IVT as the firmware leaves it (before the kernel,
 * which may load over it) and sets st as the specification says: 32-bit
 * protected mode, flat 4 GiB code and data segments, paging off, IF = 0,
 * EAX = BOOT_MB_MAGIC, EBX = the info address. placed may be NULL. 0 or -errno
 * (-EINVAL: not a multiboot kernel, -EFBIG: does not fit in RAM) with a
 * message in err. */
int boot_load_multiboot(const struct boot_memory *mem, const uint8_t *image, size_t len, const char *cmdline,
                        const struct boot_module *mods, size_t n_mods, struct x86_state *st,
                        struct boot_mb_placed *placed, char *err, size_t errlen);

struct devbus;
/* Programs the 8259A pair on bus (pc_pic_add) as SeaBIOS leaves it: BOOT_PIC_*. 0 or -errno. */
int boot_pc_pic_as_firmware(struct devbus *bus);
/* Programs the 8254 on bus (pc_pit_add) as SeaBIOS leaves it: BOOT_PIT_*. 0 or -errno. */
int boot_pc_pit_as_firmware(struct devbus *bus);

#endif
