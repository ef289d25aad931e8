#include "x86_desc.h"

#include <string.h>

void x86_desc_to_segment(uint64_t desc, uint16_t sel, struct x86_segment *out)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));
	memset(out, 0, sizeof(*out));
	out->base = ((desc >> 16) & 0xffffff) | (((desc >> 56) & 0xff) << 24);
	out->attr = (uint32_t)((desc >> 40) & 0xf0ff);
	if (out->attr & X86_SEG_G)
		limit = (limit << 12) | 0xfff;
	out->limit = limit;
	out->selector = sel;
}

void x86_desc_to_gate(uint64_t lo, uint64_t hi, struct x86_gate *out)
{
	uint8_t type = (uint8_t)((lo >> 40) & 0x1f);
	out->offset = (lo & 0xffff) | ((lo >> 32) & 0xffff0000u) | (hi << 32);
	if (type == X86_DESC_CALL16 || type == X86_DESC_INT16 || type == X86_DESC_TRAP16)
		out->offset &= 0xffff;
	out->selector = (uint16_t)(lo >> 16);
	out->type = type;
	out->dpl = (uint8_t)((lo >> 45) & 3);
	out->present = (lo >> 47) & 1;
	out->params = (uint8_t)((lo >> 32) & 0x1f);
	out->ist = (uint8_t)((lo >> 32) & 7);
}
