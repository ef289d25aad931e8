/* Single-step on VT-x/SVM hosts: KVM steps with the guest's own RFLAGS.TF. Every FLAGS image the guest
 * stores while stepping carries that TF, which the guest never set; and delivering an interrupt or exception
 * clears it, so the handler runs unstepped to its IRET within the step. */
#include <string.h>

#include "private.h"

/* The guest RAM bytes at ss:sp + offset, translated with st's paging, or NULL (outside RAM, not mapped,
 * across a page). */
static uint8_t *stack_bytes(struct shim_vm *vm, const struct x86_state *st, const struct x86_segment *ss,
                            uint64_t sp, uint64_t offset, unsigned n)
{
	bool long_mode = x86_state_mode(st) == X86_MODE_LONG64;
	uint64_t gpa, lin;

	sp += offset;
	if (!long_mode && !(ss->attr & X86_SEG_DB))
		sp &= 0xffff;
	lin = ss->base + sp;
	if (!long_mode)
		lin = (uint32_t)lin;
	if ((lin & 0xfff) + n > 0x1000 || shim_translate(st, vm->ram, vm->ram_size, lin, &gpa) ||
	    gpa + n > vm->ram_size)
		return NULL;
	return vm->ram + gpa;
}

/* The byte before post's CS:RIP is a PUSHF opcode: the step ended right after one. */
static bool ended_after_pushf(struct shim_vm *vm, const struct x86_state *post)
{
	uint64_t lin = post->seg[X86_CS].base + post->rip - 1, gpa;
	uint8_t op;

	if (x86_state_mode(post) != X86_MODE_LONG64)
		lin = (uint32_t)lin;
	return !shim_translate(post, vm->ram, vm->ram_size, lin, &gpa) && !shim_read_phys(vm, gpa, &op, 1) &&
	       op == 0x9c;
}

int shim_step_unset_tf(struct shim_vm *vm, const uint8_t *shadow, const struct x86_state *pre,
                       const struct x86_state *post)
{
	/* PUSHF's operand size or an event frame's gate size; a 64-bit frame is not just below RSP. */
	const unsigned words[2] = {x86_state_mode(post) == X86_MODE_LONG64 ? 8 : 4, 2};
	/* Below the stack pointer before the step (PUSHF, INT n, an injected interrupt, whose handler may
	 * have switched stacks since; MOV SS; INT n on the new stack), below it after the step (POP SS; INT
	 * n, a handler that returned), or above it (a handler still running: [error code,] IP, CS, FLAGS). */
	const struct {
		const struct x86_segment *ss;
		uint64_t sp;
		int words;
	} at[5] = {{&pre->seg[X86_SS], pre->gpr[X86_RSP], -1},
	           {&post->seg[X86_SS], pre->gpr[X86_RSP], -1},
	           {&post->seg[X86_SS], post->gpr[X86_RSP], -1},
	           {&post->seg[X86_SS], post->gpr[X86_RSP], 2},
	           {&post->seg[X86_SS], post->gpr[X86_RSP], 3}};

	if (vm->flavour == SHIM_FLAVOUR_PVM || (pre->rflags & X86_RFLAGS_TF))
		return 0;
	for (unsigned i = 0; i < 2; i++) {
		const unsigned w = words[i];
		/* VM and RF are clear in PUSHF's image; bits 22-63 are reserved. */
		const uint64_t mask = w == 2 ? 0xffffu : 0x003cffffu,
		               want = (pre->rflags | X86_RFLAGS_TF) & mask;
		for (unsigned j = 0; j < sizeof(at) / sizeof(at[0]); j++) {
			uint64_t offset = (uint64_t)(int64_t)(at[j].words * (int)w), got = 0;
			uint8_t *image = stack_bytes(vm, post, at[j].ss, at[j].sp, offset, w);
			if (!image)
				continue;
			memcpy(&got, image, w);
			/* Pre's FLAGS with TF, stored by this step: the shadow (memory as known before)
			 * differs. */
			if ((got & mask) != want || !memcmp(image, shadow + (image - vm->ram), w))
				continue;
			image[1] &= (uint8_t) ~(X86_RFLAGS_TF >> 8);
			/* Right below post's stack pointer and right before its RIP: a PUSHF ended the step.
			 */
			bool pushf = at[j].ss->base == post->seg[X86_SS].base &&
			             at[j].sp + offset == post->gpr[X86_RSP] && ended_after_pushf(vm, post);
			return pushf ? 0 : 1;
		}
	}
	return 0;
}
