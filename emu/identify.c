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

/* An MSR the state itself carries (EFER, FS/GS base, x86_msr_numbers): a replay reads it from there. */
static bool state_msr(uint32_t msr)
{
	if (msr == 0xc0000080u || msr == 0xc0000100u || msr == 0xc0000101u)
		return true;
	for (size_t i = 0; i < X86_NMSR; i++)
		if (x86_msr_numbers[i] == msr)
			return true;
	return false;
}

bool emu_insn_input_from_post(const uint8_t *insn, unsigned avail, const struct x86_state *pre,
                              const struct x86_state *post, struct emu_insn_input *out)
{
	struct emu_insn_id id;
	const uint64_t *g = post->gpr;
	uint64_t edx_eax = (g[X86_RDX] & 0xffffffffu) << 32 | (g[X86_RAX] & 0xffffffffu);

	memset(out, 0, sizeof(*out));
	emu_insn_identify(insn, avail, x86_state_mode(pre), &id);
	if (!id.len || ((post->rip - pre->rip) & 0xffffffffu) != id.len ||
	    post->seg[X86_CS].selector != pre->seg[X86_CS].selector || id.map != 1)
		return false;
	switch (id.opcode) {
	case 0xa2: {
		uint32_t regs[4] = {(uint32_t)g[X86_RAX], (uint32_t)g[X86_RBX], (uint32_t)g[X86_RCX],
		                    (uint32_t)g[X86_RDX]};
		out->kind = EMU_INSN_INPUT_CPUID;
		out->addr = (pre->gpr[X86_RAX] & 0xffffffffu) | (pre->gpr[X86_RCX] & 0xffffffffu) << 32;
		out->size = 16;
		for (unsigned i = 0; i < 16; i++)
			out->data[i] = (uint8_t)(regs[i / 4] >> (8 * (i % 4)));
		return true;
	}
	case 0x31:
	case 0x32:
		if (id.opcode == 0x32 && state_msr((uint32_t)pre->gpr[X86_RCX]))
			return false;
		out->kind = id.opcode == 0x31 ? EMU_INSN_INPUT_RDTSC : EMU_INSN_INPUT_RDMSR;
		out->addr = id.opcode == 0x31 ? 0 : (uint32_t)pre->gpr[X86_RCX];
		out->size = 8;
		for (unsigned i = 0; i < 8; i++)
			out->data[i] = (uint8_t)(edx_eax >> (8 * i));
		return true;
	default:
		return false;
	}
}
