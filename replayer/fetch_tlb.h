/* The replayer's instruction-fetch translation, cached: one entry, valid while the paging mode, the root
 * and every paging-structure entry its walk read are unchanged. */
#ifndef EMUDIFF_REPLAYER_FETCH_TLB_H
#define EMUDIFF_REPLAYER_FETCH_TLB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../x86/x86_state.h"

/* Up to five paging-structure levels, and the PDPT of PAE paging. */
#define FETCH_TLB_TABLES_MAX 6

#define FETCH_TLB_PAGE 4096u

struct fetch_tlb {
	bool valid;
	uint64_t cr0, cr3, cr4, efer; /* the bits that select the paging mode, and the root */
	uint64_t linear_page, gpa_page;
	uint64_t table_pages[FETCH_TLB_TABLES_MAX]; /* physical page numbers of the entries the walk read */
	unsigned n_tables;
	const uint8_t *ram;
	size_t ram_size;
	uint64_t walks; /* page walks done: what the cache saved is the translations less these */
};

/* fetch_tlb_translate without the cache: walks, and keeps what it found. */
bool fetch_tlb_walk(struct fetch_tlb *tlb, const struct x86_state *st, const uint8_t *ram, size_t ram_size,
                    uint64_t linear, uint64_t *gpa);

/* x86_translate_ram (RAM at physical 0) through the cache. A zeroed struct is an empty cache. Inline: the
 * replayer asks it every step, and nearly always hits. */
static inline bool fetch_tlb_translate(struct fetch_tlb *tlb, const struct x86_state *st, const uint8_t *ram,
                                       size_t ram_size, uint64_t linear, uint64_t *gpa)
{
	if (tlb->valid && tlb->linear_page == linear / FETCH_TLB_PAGE && tlb->cr3 == st->cr3 &&
	    tlb->cr4 == (st->cr4 & (X86_CR4_PAE | X86_CR4_PSE | X86_CR4_LA57)) &&
	    tlb->efer == (st->efer & X86_EFER_LMA) && tlb->cr0 == (st->cr0 & X86_CR0_PG) && tlb->ram == ram &&
	    tlb->ram_size == ram_size) {
		*gpa = tlb->gpa_page * FETCH_TLB_PAGE + linear % FETCH_TLB_PAGE;
		return true;
	}
	return fetch_tlb_walk(tlb, st, ram, ram_size, linear, gpa);
}

/* Every write to the RAM image must be told: one to a page the walk read an entry from empties the cache. */
void fetch_tlb_note_write(struct fetch_tlb *tlb, uint64_t gpa, uint64_t len);

#endif
