/* Single-step on VT-x/SVM hosts: KVM steps with the guest's own RFLAGS.TF. Every FLAGS image the guest
 * stores while stepping carries that TF, which the guest never set; and delivering an interrupt or exception
 * clears it, so the handler runs unstepped to its IRET within the step. The recorder takes the stepping TF
 * back out of guest memory before the step's writes are recorded, and records a step that delivered an event
 * as unrecorded execution (a RUN step), never as one instruction. */
#include <string.h>

#include "../emu/emu.h"
#include "../vmx-shim/shim.h"
#include "private.h"

/* The position of the opcode byte after legacy prefixes (and REX in 64-bit code). */
static unsigned opcode_at(const uint8_t *insn, unsigned len, enum x86_mode mode)
{
	static const uint8_t prefixes[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3};
	unsigned i = 0;

	while (i < len && (memchr(prefixes, insn[i], sizeof(prefixes)) ||
	                   (mode == X86_MODE_LONG64 && (insn[i] & 0xf0) == 0x40)))
		i++;
	return i;
}

static bool is_pushf(const uint8_t *insn, unsigned len, enum x86_mode mode)
{
	unsigned op = opcode_at(insn, len, mode);

	return op < len && insn[op] == 0x9c;
}

/* MOV SS, POP SS and STI: a single-stepped CPU may run the next instruction in the same step. */
static bool shadows_next(const uint8_t *insn, unsigned len, enum x86_mode mode)
{
	unsigned op = opcode_at(insn, len, mode);

	return op < len && (insn[op] == 0x17 || insn[op] == 0xfb ||
	                    (insn[op] == 0x8e && op + 1 < len && ((insn[op + 1] >> 3) & 7) == 2));
}

/* The guest RAM bytes at SS:sp + offset of st, or NULL (outside RAM, not mapped, across a page). */
static uint8_t *stack_bytes(struct rec *r, const struct x86_state *st, uint64_t offset, unsigned n)
{
	bool long_mode = x86_state_mode(st) == X86_MODE_LONG64;
	uint64_t sp = st->gpr[X86_RSP] + offset, gpa, lin;

	if (!long_mode && !(st->seg[X86_SS].attr & X86_SEG_DB))
		sp &= 0xffff;
	lin = st->seg[X86_SS].base + sp;
	if (!long_mode)
		lin = (uint32_t)lin;
	if ((lin & 0xfff) + n > 0x1000 || shim_translate(st, r->ram, r->ram_size, lin, &gpa) ||
	    gpa + n > r->ram_size)
		return NULL;
	return r->ram + gpa;
}

/* The step stored FLAGS with the stepping TF as a word of `word` bytes at SS:sp + offset (SS of post): the
 * image is pre's FLAGS with TF set, and the shadow copy (guest memory as the trace knows it) holds something
 * else. */
static uint8_t *stepped_flags_image(struct rec *r, const struct x86_state *pre, const struct x86_state *post,
                                    uint64_t sp, uint64_t offset, unsigned word)
{
	const uint64_t mask = word == 2 ? 0xffffu : 0x00fcffffu; /* VM and RF are cleared in PUSHF's image */
	struct x86_state at_push = *pre;
	uint64_t got = 0;

	at_push.seg[X86_SS] = post->seg[X86_SS];
	at_push.gpr[X86_RSP] = sp;
	uint8_t *at = stack_bytes(r, &at_push, offset, word);
	if (!at)
		return NULL;
	memcpy(&got, at, word);
	if ((got & mask) != ((pre->rflags | X86_RFLAGS_TF) & mask) ||
	    !memcmp(at, r->shadow + (at - r->ram), word))
		return NULL;
	return at;
}

bool rec_step_tf_fixup(struct rec *r, const struct x86_state *pre, const uint8_t *insn, unsigned len,
                       const struct x86_state *post)
{
	enum x86_mode mode = x86_state_mode(pre);
	/* PUSHF's operand size or an event frame's gate size; a 64-bit frame is not just below RSP. */
	const unsigned words[2] = {mode == X86_MODE_LONG64 ? 8 : 4, 2};
	uint64_t pushf_end = 0;

	if (pre->rflags & X86_RFLAGS_TF)
		return false;
	if (is_pushf(insn, len, mode)) {
		pushf_end = pre->rip + emu_insn_length(insn, len, mode);
	} else if (shadows_next(insn, len, mode)) {
		/* MOV SS; PUSHF in one step: the shadowed PUSHF is its end. */
		unsigned first = emu_insn_length(insn, len, mode);
		if (first && first < len && is_pushf(insn + first, len - first, mode))
			pushf_end = pre->rip + first + emu_insn_length(insn + first, len - first, mode);
	}
	/* Just below the stack pointer before the step (PUSHF, INT n, MOV SS; INT n) or after it (POP SS; INT
	 * n, a handler that returned), or above it (a handler still running: [error code,] IP, CS, FLAGS). */
	for (unsigned i = 0; i < 2; i++) {
		unsigned w = words[i];
		const struct {
			uint64_t sp, offset;
		} at[4] = {{pre->gpr[X86_RSP], -(uint64_t)w},
		           {post->gpr[X86_RSP], -(uint64_t)w},
		           {post->gpr[X86_RSP], 2 * (uint64_t)w},
		           {post->gpr[X86_RSP], 3 * (uint64_t)w}};
		for (unsigned j = 0; j < 4; j++) {
			uint8_t *image = stepped_flags_image(r, pre, post, at[j].sp, at[j].offset, w);
			if (!image)
				continue;
			image[1] &= (uint8_t) ~(X86_RFLAGS_TF >> 8);
			/* A PUSHF that ended the step stored it; anything else was an event's frame. */
			return !(pushf_end && (post->rip & 0xffffffffu) == (pushf_end & 0xffffffffu));
		}
	}
	return false;
}
