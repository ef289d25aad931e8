/* What the instruction at RIP is for the unicorn backend, from emu's decoder. */

#include "../emu/emu.h"
#include "unicorn_private.h"

/* Conservative: anything that is not plainly an integer instruction may change x87/SSE state. */
static bool may_touch_fpu(const struct emu_insn_id *id)
{
	uint8_t op = id->opcode;
	if (id->map == 0)
		/* x87, FWAIT, VEX/EVEX (or LES/LDS/BOUND/POP: the read-back is harmless) */
		return (op >= 0xd8 && op <= 0xdf) || op == 0x9b || op == 0xc4 || op == 0xc5 || op == 0x62 ||
		       op == 0x8f;
	if (id->map != 1)
		return true; /* 0F 38, 0F 3A, or bytes that end within the opcode */
	return op == 0x0e || op == 0x0f || (op >= 0x10 && op <= 0x17) || (op >= 0x28 && op <= 0x2f) ||
	       (op >= 0x50 && op <= 0x7f) || op == 0xae || op == 0xb8 || (op >= 0xc2 && op <= 0xc7) ||
	       op >= 0xd0;
}

/* Whether any prefix byte before the opcode has the given bits (a REX anywhere, not only the last). */
static bool prefix_has(const uint8_t *b, unsigned n_prefix, uint8_t mask, uint8_t value)
{
	for (unsigned i = 0; i < n_prefix; i++)
		if ((b[i] & mask) == value)
			return true;
	return false;
}

struct insn_info unicorn_classify(const uint8_t *b, size_t n, enum x86_mode mode)
{
	struct insn_info in = {.cls = INSN_OTHER};
	struct emu_insn_id id;

	emu_insn_identify(b, (unsigned)n, mode, &id);
	size_t i = id.n_prefix; /* the opcode's first byte */
	in.opsize = id.pfx66;
	in.rep_string =
	    id.rep && id.map == 0 &&
	    ((id.opcode >= 0xa4 && id.opcode <= 0xa7) || (id.opcode >= 0xaa && id.opcode <= 0xaf) ||
	     (id.opcode >= 0x6c && id.opcode <= 0x6f));
	if (i >= n) {
		in.fpu = in.msr = in.dr = true;
		return in;
	}
	/* 0F alone: the second opcode byte is missing, so it may be anything. */
	bool op2_missing = b[i] == 0x0f && i + 1 >= n;
	in.fpu = may_touch_fpu(&id);
	in.msr = op2_missing || (id.map == 1 && (id.opcode == 0x30 || id.opcode == 0x01));
	in.dr = op2_missing || (id.map == 1 && id.opcode == 0x23);
	if (id.map == 1) {
		if (id.opcode == 0x31)
			in.cls = INSN_RDTSC;
		else if (id.opcode == 0x01 && i + 3 < n && b[i + 2] == 0xf9)
			in.cls = INSN_RDTSC; /* RDTSCP: 0F 01 F9 */
		else if (id.opcode == 0x22 && i + 2 < n)
			in.cls = INSN_MOV_TO_CR, in.cr = (b[i + 2] >> 3) & 7; /* ModRM.reg */
		return in;
	}
	if (id.map != 0)
		return in;
	switch (id.opcode) {
	case 0x9c:
		in.cls = INSN_PUSHF;
		break;
	case 0x9d:
		in.cls = INSN_POPF;
		break;
	case 0xcf:
		in.cls = INSN_IRET;
		break;
	case 0xca:
	case 0xcb:
		in.cls = INSN_RETF;
		break;
	case 0xf4:
		in.cls = INSN_HLT;
		break;
	case 0x90:
		/* F3 90 is PAUSE; with REX.B it is XCHG r8, rax. */
		if (prefix_has(b, id.n_prefix, 0xff, 0xf3) &&
		    !(mode == X86_MODE_LONG64 && prefix_has(b, id.n_prefix, 0xf1, 0x41)))
			in.cls = INSN_PAUSE, in.len = (unsigned)i + 1;
		break;
	case 0xfb:
		in.cls = INSN_STI;
		break;
	case 0xcc:
		in.cls = INSN_SOFT_INT, in.vector = 3;
		break;
	case 0xf1:
		in.cls = INSN_SOFT_INT, in.vector = 1;
		break;
	case 0xcd:
		in.cls = INSN_SOFT_INT, in.vector = i + 1 < n ? b[i + 1] : 0;
		break;
	case 0x17:
		in.loads_ss = mode != X86_MODE_LONG64;
		in.len = id.len;
		break;
	case 0x8e:
		in.loads_ss = id.len && ((id.modrm >> 3) & 7) == 2;
		in.len = id.len;
		break;
	default:
		break;
	}
	return in;
}
