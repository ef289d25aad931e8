#include "x86_paging.h"

#include <string.h>

#define PTE_P    (1ull << 0)
#define PTE_PS   (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

/* 32-bit paging: 4 KiB pages, or 4 MiB with CR4.PSE (PDE bits 13..20 are physical bits 32..39). */
static bool walk32(const struct x86_state *st, uint32_t lin, x86_read_entry_fn read, void *ctx, uint64_t *gpa)
{
	uint64_t pde, pte;

	if (!read(ctx, (st->cr3 & 0xfffff000ull) + ((lin >> 22) & 0x3ff) * 4, 4, &pde) || !(pde & PTE_P))
		return false;
	if ((pde & PTE_PS) && (st->cr4 & X86_CR4_PSE)) {
		*gpa = (pde & 0xffc00000ull) | (((pde >> 13) & 0xffull) << 32) | (lin & 0x3fffff);
		return true;
	}
	if (!read(ctx, (pde & 0xfffff000ull) + ((lin >> 12) & 0x3ff) * 4, 4, &pte) || !(pte & PTE_P))
		return false;
	*gpa = (pte & 0xfffff000ull) | (lin & 0xfff);
	return true;
}

/* PAE (levels 3, from the 4-entry PDPT), 4- or 5-level paging; large pages at the PD and, above PAE, the
 * PDPT. */
static bool walk_long(uint64_t table, uint64_t lin, int levels, x86_read_entry_fn read, void *ctx,
                      uint64_t *gpa)
{
	int shift = 12 + 9 * (levels - 1);

	for (int level = levels; level >= 1; level--, shift -= 9) {
		uint64_t idx = (lin >> shift) & (level == 3 && levels == 3 ? 3 : 0x1ff);
		uint64_t e;

		if (!read(ctx, table + idx * 8, 8, &e) || !(e & PTE_P))
			return false;
		if ((level == 2 || (level == 3 && levels > 3)) && (e & PTE_PS)) {
			uint64_t mask = (1ull << shift) - 1;

			*gpa = (e & PTE_ADDR & ~mask) | (lin & mask);
			return true;
		}
		table = e & PTE_ADDR;
	}
	*gpa = table | (lin & 0xfff);
	return true;
}

bool x86_page_walk(const struct x86_state *st, uint64_t linear, x86_read_entry_fn read, void *ctx,
                   uint64_t *gpa)
{
	if (!(st->cr0 & X86_CR0_PG)) {
		*gpa = linear & 0xffffffffull;
		return true;
	}
	if (!(st->cr4 & X86_CR4_PAE))
		return walk32(st, (uint32_t)linear, read, ctx, gpa);
	if (!(st->efer & X86_EFER_LMA))
		return walk_long(st->cr3 & 0xffffffe0ull, linear & 0xffffffffull, 3, read, ctx, gpa);
	return walk_long(st->cr3 & PTE_ADDR, linear, (st->cr4 & X86_CR4_LA57) ? 5 : 4, read, ctx, gpa);
}

struct ram_image {
	const uint8_t *ram;
	size_t size;
};

static bool read_ram_entry(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry)
{
	const struct ram_image *img = ctx;
	uint32_t v32;

	if (gpa > img->size || img->size - gpa < width)
		return false;
	if (width == 4) {
		memcpy(&v32, img->ram + gpa, 4);
		*entry = v32;
	} else {
		memcpy(entry, img->ram + gpa, 8);
	}
	return true;
}

bool x86_translate_ram(const struct x86_state *st, const uint8_t *ram, size_t ram_size, uint64_t linear,
                       uint64_t *gpa)
{
	struct ram_image img = {ram, ram_size};

	return x86_page_walk(st, linear, read_ram_entry, &img, gpa);
}
