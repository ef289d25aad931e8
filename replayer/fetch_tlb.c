/* Nearly every replayed step fetches its instruction from the page the step before it fetched from: one
 * cached translation spares the replayer a page walk a step. */
#include "fetch_tlb.h"

#include <string.h>

#include "../x86/x86_paging.h"

void fetch_tlb_note_write(struct fetch_tlb *tlb, uint64_t gpa, uint64_t len)
{
	if (!tlb->valid || !len)
		return;
	uint64_t first = gpa / FETCH_TLB_PAGE, last = (gpa + len - 1) / FETCH_TLB_PAGE;
	for (unsigned i = 0; i < tlb->n_tables; i++)
		if (tlb->table_pages[i] >= first && tlb->table_pages[i] <= last)
			tlb->valid = false;
}

/* Reads an entry as x86_translate_ram does, noting its page. */
static bool read_entry(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry)
{
	struct fetch_tlb *tlb = ctx;
	if (gpa > tlb->ram_size || tlb->ram_size - gpa < width || tlb->n_tables == FETCH_TLB_TABLES_MAX)
		return false;
	tlb->table_pages[tlb->n_tables++] = gpa / FETCH_TLB_PAGE;
	if (width == 4) {
		uint32_t v32;
		memcpy(&v32, tlb->ram + gpa, 4);
		*entry = v32;
	} else {
		memcpy(entry, tlb->ram + gpa, 8);
	}
	return true;
}

bool fetch_tlb_walk(struct fetch_tlb *tlb, const struct x86_state *st, const uint8_t *ram, size_t ram_size,
                    uint64_t linear, uint64_t *gpa)
{
	uint64_t cr0 = st->cr0 & X86_CR0_PG, cr4 = st->cr4 & (X86_CR4_PAE | X86_CR4_PSE | X86_CR4_LA57),
	         efer = st->efer & X86_EFER_LMA, page = linear / FETCH_TLB_PAGE;
	tlb->valid = false;
	tlb->n_tables = 0;
	tlb->ram = ram;
	tlb->ram_size = ram_size;
	tlb->walks++;
	if (!x86_page_walk(st, linear, read_entry, tlb, gpa))
		return false;
	/* Without paging the walk read nothing: there is nothing to keep. */
	if (!cr0)
		return true;
	tlb->valid = true;
	tlb->cr0 = cr0;
	tlb->cr3 = st->cr3;
	tlb->cr4 = cr4;
	tlb->efer = efer;
	tlb->linear_page = page;
	tlb->gpa_page = *gpa / FETCH_TLB_PAGE;
	return true;
}
