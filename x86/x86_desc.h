/* Segment and gate descriptors (SDM Vol. 3, 3.4.5, 3.5 and 6.11): the 8-byte (and long mode's
 * 16-byte) table entries decoded into the state's segment-cache layout. */
#ifndef EMUDIFF_X86_DESC_H
#define EMUDIFF_X86_DESC_H

#include <stdbool.h>
#include <stdint.h>

#include "x86_state.h"

/* System descriptor and gate types (S = 0). */
#define X86_DESC_TSS16_AVAIL 0x1
#define X86_DESC_LDT         0x2
#define X86_DESC_TSS16_BUSY  0x3
#define X86_DESC_CALL16      0x4
#define X86_DESC_TASK        0x5
#define X86_DESC_INT16       0x6
#define X86_DESC_TRAP16      0x7
#define X86_DESC_TSS32_AVAIL 0x9
#define X86_DESC_TSS32_BUSY  0xb
#define X86_DESC_CALL32      0xc
#define X86_DESC_INT32       0xe
#define X86_DESC_TRAP32      0xf

/* An 8-byte segment or system descriptor as a segment register caches it: base, the limit scaled
 * by G, and attr in the x86_segment layout (type, S, DPL, P, AVL, L, D/B, G). */
void x86_desc_to_segment(uint64_t desc, uint16_t sel, struct x86_segment *out);

/* The 64-bit base of a long-mode system descriptor (LDT, TSS): hi is its upper 8 bytes. */
static inline uint64_t x86_desc_base64(const struct x86_segment *lo, uint64_t hi)
{
	return lo->base | ((hi & 0xffffffffu) << 32);
}

/* A call, interrupt, trap or task gate. */
struct x86_gate {
	uint64_t offset;   /* the entry point; 16-bit gates keep bits 15:0 only */
	uint16_t selector; /* the code segment, or for a task gate the TSS */
	uint8_t type;      /* S and type: bits 4:0 of the access byte (a gate has S = 0) */
	uint8_t dpl;
	bool present;
	uint8_t params; /* call gates: the stack words copied */
	uint8_t ist;    /* long-mode interrupt and trap gates: the IST slot, 0 for none */
};

/* Decodes a gate; hi: the upper 8 bytes of a long-mode gate (0 outside long mode). */
void x86_desc_to_gate(uint64_t lo, uint64_t hi, struct x86_gate *out);

#endif
