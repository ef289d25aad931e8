/* Read-only page walk over guest RAM for the current paging mode. */
#include <errno.h>
#include <string.h>

#include "shim.h"

#define PTE_P     (1ull << 0)
#define PTE_PS    (1ull << 7)
#define PHYS_MASK 0x000ffffffffff000ull

/* Tables outside RAM (MMIO, ROM) cannot be walked from here: not mapped. */
static int read_entry(const uint8_t *ram, size_t ram_size, uint64_t gpa, unsigned width, uint64_t *val)
{
	if (gpa > ram_size || ram_size - gpa < width)
		return -EFAULT;
	if (width == 4) {
		uint32_t v;

		memcpy(&v, ram + gpa, 4);
		*val = v;
	} else {
		memcpy(val, ram + gpa, 8);
	}
	return 0;
}

static int walk32(const struct x86_state *st, const uint8_t *ram, size_t ram_size, uint32_t lin,
                  uint64_t *gpa)
{
	uint64_t pde, pte;
	int r;

	r = read_entry(ram, ram_size, (st->cr3 & 0xfffff000ull) + ((lin >> 22) & 0x3ff) * 4, 4, &pde);
	if (r || !(pde & PTE_P))
		return -EFAULT;
	if ((pde & PTE_PS) && (st->cr4 & X86_CR4_PSE)) {
		/* PSE-36: bits 13..20 of the PDE are physical bits 32..39. */
		uint64_t base = (pde & 0xffc00000ull) | (((pde >> 13) & 0xffull) << 32);

		*gpa = base | (lin & 0x3fffff);
		return 0;
	}
	r = read_entry(ram, ram_size, (pde & 0xfffff000ull) + ((lin >> 12) & 0x3ff) * 4, 4, &pte);
	if (r || !(pte & PTE_P))
		return -EFAULT;
	*gpa = (pte & 0xfffff000ull) | (lin & 0xfff);
	return 0;
}

/* levels: 3 (PAE, from the PDPT), 4 or 5; shift of the top level's index. */
static int walk_long(const uint8_t *ram, size_t ram_size, uint64_t table, uint64_t lin, int levels,
                     uint64_t *gpa)
{
	int shift = 12 + 9 * (levels - 1);

	for (int level = levels; level >= 1; level--, shift -= 9) {
		uint64_t idx = (lin >> shift) & (level == 3 && levels == 3 ? 3 : 0x1ff);
		uint64_t e;

		if (read_entry(ram, ram_size, table + idx * 8, 8, &e) || !(e & PTE_P))
			return -EFAULT;
		/* 1 GiB pages at the PDPT of 4/5-level paging, 2 MiB pages at the PD. */
		if (level == 2 || (level == 3 && levels > 3)) {
			if (e & PTE_PS) {
				uint64_t mask = (1ull << shift) - 1;

				*gpa = (e & PHYS_MASK & ~mask) | (lin & mask);
				return 0;
			}
		}
		table = e & PHYS_MASK;
	}
	*gpa = table | (lin & 0xfff);
	return 0;
}

int shim_translate(const struct x86_state *st, const uint8_t *ram, size_t ram_size, uint64_t linear,
                   uint64_t *gpa)
{
	if (!(st->cr0 & X86_CR0_PG)) {
		*gpa = linear & 0xffffffffull;
		return 0;
	}
	if (!(st->cr4 & X86_CR4_PAE))
		return walk32(st, ram, ram_size, (uint32_t)linear, gpa);
	if (!(st->efer & X86_EFER_LMA))
		return walk_long(ram, ram_size, st->cr3 & 0xffffffe0ull, linear & 0xffffffffull, 3, gpa);
	return walk_long(ram, ram_size, st->cr3 & PHYS_MASK, linear, (st->cr4 & X86_CR4_LA57) ? 5 : 4, gpa);
}
