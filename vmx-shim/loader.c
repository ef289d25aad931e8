/* Guest images into RAM, and the initial CPU states that start them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "boot.h"
#include "private.h"

int shim_load_bytes(struct shim_vm *vm, const void *data, size_t len, uint64_t gpa)
{
	if (gpa > vm->ram_size || vm->ram_size - gpa < len)
		return shim_fail(vm, -EFBIG, "%zu bytes at %#llx do not fit in %zu bytes of RAM", len,
		                 (unsigned long long)gpa, vm->ram_size);
	memcpy(vm->ram + gpa, data, len);
	return 0;
}

int shim_load_flat(struct shim_vm *vm, const char *path, uint64_t gpa, size_t *len)
{
	struct stat sb;
	FILE *f = fopen(path, "rb");
	size_t size, got;
	int err = 0;

	if (len)
		*len = 0;
	if (!f)
		return shim_fail(vm, -errno, "%s: cannot open the guest image", path);
	if (fstat(fileno(f), &sb) < 0) {
		err = shim_fail(vm, -errno, "%s: cannot stat the guest image", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		err = -EINVAL;
		snprintf(vm->err, sizeof(vm->err), "%s: not a regular file: give a flat binary image", path);
		goto out;
	}
	size = (size_t)sb.st_size;
	if (size == 0) {
		err = -EINVAL;
		snprintf(vm->err, sizeof(vm->err), "%s: empty guest image", path);
		goto out;
	}
	if (gpa > vm->ram_size || vm->ram_size - gpa < size) {
		err = -EFBIG;
		snprintf(
		    vm->err, sizeof(vm->err),
		    "%s: %zu bytes do not fit in RAM at %#llx (%zu bytes of RAM): use more --mem or a lower "
		    "--load address",
		    path, size, (unsigned long long)gpa, vm->ram_size);
		goto out;
	}
	got = fread(vm->ram + gpa, 1, size, f);
	if (got != size) {
		err = ferror(f) ? -EIO : -EINVAL;
		snprintf(vm->err, sizeof(vm->err), "%s: read %zu of %zu bytes: %s", path, got, size,
		         ferror(f) ? "read error" : "file shrank while loading");
		goto out;
	}
	if (len)
		*len = size;
out:
	fclose(f);
	return err;
}

int shim_state_flat32(struct shim_vm *vm, struct x86_state *st, uint64_t gdt_gpa, uint32_t eip, uint32_t esp)
{
	return boot_state_flat32(shim_ram(vm), shim_ram_size(vm), st, gdt_gpa, eip, esp);
}

int shim_state_long64(struct shim_vm *vm, struct x86_state *st, uint64_t tables_gpa, uint64_t rip,
                      uint64_t rsp)
{
	/* null, 0x08 64-bit code, 0x10 data. */
	static const uint64_t gdt[3] = {0, 0x00209b0000000000ull, 0x00cf93000000ffffull};
	uint64_t pml4 = tables_gpa, pdpt = tables_gpa + 0x1000, pd = tables_gpa + 0x2000,
	         gdt_gpa = tables_gpa + 0x6000;
	uint64_t e;
	int err;

	if (tables_gpa % 0x1000)
		return shim_fail(vm, -EINVAL, "page tables at %#llx: need a 4 KiB aligned address",
		                 (unsigned long long)tables_gpa);
	if (tables_gpa > vm->ram_size || vm->ram_size - tables_gpa < 0x7000)
		return shim_fail(vm, -EFBIG, "page tables at %#llx: 28 KiB do not fit in %zu bytes of RAM",
		                 (unsigned long long)tables_gpa, vm->ram_size);
	memset(vm->ram + tables_gpa, 0, 0x6000);
	e = pdpt | 0x7; /* present, writable, user */
	memcpy(vm->ram + pml4, &e, 8);
	for (uint64_t g = 0; g < 4; g++) {
		e = (pd + 0x1000 * g) | 0x7;
		memcpy(vm->ram + pdpt + 8 * g, &e, 8);
	}
	/* 4 GiB in 2 MiB pages (present, writable, user): RAM, the MMIO test page and the firmware. */
	for (uint64_t i = 0; i < 4 * 512; i++) {
		e = (i << 21) | 0x87;
		memcpy(vm->ram + pd + 8 * i, &e, 8);
	}
	if ((err = shim_load_bytes(vm, gdt, sizeof(gdt), gdt_gpa)))
		return err;
	x86_state_real(st, 0, 0, 0);
	st->rip = rip;
	st->gpr[X86_RSP] = rsp;
	st->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	st->cr3 = pml4;
	st->cr4 = X86_CR4_PAE;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
	for (int i = X86_ES; i <= X86_GS; i++)
		boot_flat_segment(&st->seg[i], 0x10, 0x3);
	st->seg[X86_CS] = (struct x86_segment){.selector = 0x08,
	                                       .limit = 0xffffffff,
	                                       .attr = 0xb | X86_SEG_S | X86_SEG_P | X86_SEG_L | X86_SEG_G};
	st->seg[X86_TR].attr = 0xb | X86_SEG_P; /* a 64-bit busy TSS type */
	st->gdtr.base = gdt_gpa;
	st->gdtr.limit = sizeof(gdt) - 1;
	st->idtr.base = 0;
	st->idtr.limit = 0;
	return 0;
}
