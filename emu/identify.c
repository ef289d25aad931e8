#include <string.h>

#include "private.h"

/* The opcode's map and byte from its position; EMU_MAP_NONE when the bytes end first. */
static void opcode_at(const uint8_t *insn, unsigned avail, unsigned pos, struct emu_insn_id *out)
{
	out->map = EMU_MAP_NONE;
	if (pos >= avail)
		return;
	if (insn[pos] != 0x0f) {
		out->map = 0;
		out->opcode = insn[pos];
	} else if (pos + 1 < avail && insn[pos + 1] != 0x38 && insn[pos + 1] != 0x3a) {
		out->map = 1;
		out->opcode = insn[pos + 1];
	} else if (pos + 2 < avail) {
		out->map = insn[pos + 1] == 0x38 ? 2 : 3;
		out->opcode = insn[pos + 2];
	}
}

void emu_insn_identify(const uint8_t *insn, unsigned avail, enum x86_mode mode, struct emu_insn_id *out)
{
	struct emu_insn i;
	enum emu_decode_result r;

	memset(&i, 0, sizeof(i));
	memset(out, 0, sizeof(*out));
	if (avail > 15)
		avail = 15;
	i.n_pfx = 0xff; /* stays so when the bytes end among the prefixes */
	r = emu_decode(&i, insn, avail, mode);
	out->rep = i.rep;
	out->rex = i.rex;
	out->pfx66 = i.pfx66 != 0;
	if (i.n_pfx == 0xff) {
		out->map = EMU_MAP_NONE;
		out->n_prefix = (uint8_t)avail;
		return;
	}
	out->n_prefix = i.n_pfx;
	opcode_at(insn, avail, i.n_pfx, out);
	if (r != DEC_OK)
		return;
	out->len = i.len;
	out->modrm = i.modrm;
	out->opsize = i.opsize;
	out->imm = i.imm;
}
