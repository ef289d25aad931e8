/* The guest's linear-to-physical translation, read-only: no faults raised, no A/D bits set. */
#ifndef EMUDIFF_X86_PAGING_H
#define EMUDIFF_X86_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86_state.h"

/* Reads a 4- or 8-byte paging-structure entry at a guest-physical address; false when unreadable. */
typedef bool (*x86_read_entry_fn)(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry);

/* Translates `linear` under the state's paging mode (none, 32-bit with PSE-36, PAE, 4- and 5-level).
 * Returns true and the physical address, or false when an entry is not present or cannot be read. */
bool x86_page_walk(const struct x86_state *st, uint64_t linear, x86_read_entry_fn read, void *ctx,
                   uint64_t *gpa);

/* x86_page_walk over a flat guest RAM image at physical 0; tables outside it (MMIO, ROM) count as not
 * present. */
bool x86_translate_ram(const struct x86_state *st, const uint8_t *ram, size_t ram_size, uint64_t linear,
                       uint64_t *gpa);

#endif
