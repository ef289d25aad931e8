/* Single-step on VT-x/SVM hosts: KVM steps with the guest's own RFLAGS.TF. Every FLAGS image the guest
 * stores while stepping carries that TF, which the guest never set; and delivering an interrupt or exception
 * clears it, so the handler runs unstepped to its IRET within the step. */
#include <string.h>

#include "../x86/x86_paging.h"
#include "private.h"

#define MAX_PLACES 12

/* Where the step may have stored FLAGS: linear addresses of images of one word size. */
struct places {
	uint64_t lin[MAX_PLACES];
	uint64_t top; /* post's stack pointer, linear: where a PUSHF that ended the step put its image */
	unsigned n;
	unsigned first_tss; /* places from here on are on the TSS's ring-0 stack */
};

static void add_place(struct places *p, const struct x86_segment *ss, bool wide, uint64_t sp, int64_t offset)
{
	uint64_t at = sp + (uint64_t)offset;

	if (p->n == MAX_PLACES)
		return;
	if (!wide && !(ss->attr & X86_SEG_DB))
		at &= 0xffff;
	at += ss->base;
	p->lin[p->n++] = wide ? at : (uint32_t)at;
}

static bool read_linear(struct shim_vm *vm, const struct x86_state *st, uint64_t lin, void *buf, unsigned n)
{
	uint64_t gpa;

	return (lin & 0xfff) + n <= 0x1000 && x86_translate_ram(st, vm->ram, vm->ram_size, lin, &gpa) &&
	       !shim_read_phys(vm, gpa, buf, n);
}

/* The ring-0 stack of the TSS (a privilege change from ring 3 or virtual-8086 mode pushes its frame there):
 * its segment (base only) and pointer. */
static bool tss_stack(struct shim_vm *vm, const struct x86_state *st, struct x86_segment *ss, uint64_t *sp)
{
	uint64_t tss = st->seg[X86_TR].base;
	uint8_t d[8];
	uint32_t esp0;
	uint16_t ss0;

	memset(ss, 0, sizeof(*ss));
	if (st->efer & X86_EFER_LMA) {
		ss->attr = X86_SEG_DB;
		return read_linear(vm, st, tss + 4, sp, 8);
	}
	if (((st->seg[X86_TR].attr & 0xf) | 2) != 0xb || !read_linear(vm, st, tss + 4, &esp0, 4) ||
	    !read_linear(vm, st, tss + 8, &ss0, 2) || !read_linear(vm, st, st->gdtr.base + (ss0 & ~7u), d, 8))
		return false;
	ss->base = (uint32_t)(d[2] | d[3] << 8 | d[4] << 16 | (uint32_t)d[7] << 24);
	ss->attr = (d[6] & 0x40) ? X86_SEG_DB : 0;
	*sp = esp0;
	return true;
}

/* The places of a w-byte FLAGS image the step from pre to post may have stored. */
static void find_places(struct shim_vm *vm, const struct x86_state *pre, const struct x86_state *post,
                        unsigned w, struct places *p)
{
	bool wide = x86_state_mode(post) == X86_MODE_LONG64;
	const struct x86_segment *pre_ss = &pre->seg[X86_SS], *post_ss = &post->seg[X86_SS];
	uint64_t pre_sp = pre->gpr[X86_RSP], post_sp = post->gpr[X86_RSP], sp0;
	struct x86_segment ss0;
	int64_t iw = (int64_t)w;

	p->n = 0;
	add_place(p, post_ss, wide, post_sp, 0);
	p->top = p->lin[0];
	p->n = 0;
	/* PUSHF, INT n or an injected interrupt on pre's stack (its handler may have switched stacks since);
	 * MOV SS; INT n on the new stack segment; POP SS; INT n, or a handler that returned, below post's
	 * stack pointer; a handler still running above it ([error code,] IP, CS, FLAGS). */
	add_place(p, pre_ss, wide, pre_sp, -iw);
	add_place(p, post_ss, wide, pre_sp, -iw);
	add_place(p, post_ss, wide, post_sp, -iw);
	add_place(p, post_ss, wide, post_sp, 2 * iw);
	add_place(p, post_ss, wide, post_sp, 3 * iw);
	/* 64-bit frames start at a 16-byte aligned stack pointer: SS, RSP, RFLAGS. */
	if (w == 8)
		add_place(p, pre_ss, wide, pre_sp & ~15ull, -3 * iw);
	/* A privilege change pushes on the TSS's ring-0 stack: SS, ESP, EFLAGS (after GS, FS, DS, ES from
	 * virtual-8086 mode). */
	p->first_tss = p->n;
	if (!(pre->cr0 & X86_CR0_PE) || !tss_stack(vm, pre, &ss0, &sp0))
		return;
	if (w == 8)
		add_place(p, &ss0, true, sp0 & ~15ull, -3 * iw);
	else if (w == 4) {
		add_place(p, &ss0, false, sp0, -3 * iw);
		add_place(p, &ss0, false, sp0, -7 * iw);
	}
}

/* The byte before post's CS:RIP is a PUSHF opcode: the step ended right after one. */
static bool ended_after_pushf(struct shim_vm *vm, const struct x86_state *post)
{
	uint64_t lin = post->seg[X86_CS].base + post->rip - 1;
	uint8_t op;

	if (x86_state_mode(post) != X86_MODE_LONG64)
		lin = (uint32_t)lin;
	return read_linear(vm, post, lin, &op, 1) && op == 0x9c;
}

int shim_step_unset_tf(struct shim_vm *vm, const uint8_t *shadow, const struct x86_state *pre,
                       const struct x86_state *post)
{
	/* PUSHF's operand size or an event frame's gate size. */
	const unsigned words[3] = {8, 4, 2};

	if (vm->flavour == SHIM_FLAVOUR_PVM || (pre->rflags & X86_RFLAGS_TF))
		return 0;
	for (unsigned i = x86_state_mode(post) == X86_MODE_LONG64 ? 0 : 1; i < 3; i++) {
		const unsigned w = words[i];
		/* VM and RF are clear in PUSHF's image; bits 22-63 are reserved. */
		const uint64_t mask = w == 2 ? 0xffffu : 0x003cffffu,
		               want = (pre->rflags | X86_RFLAGS_TF) & mask;
		struct places p;

		find_places(vm, pre, post, w, &p);
		for (unsigned j = 0; j < p.n; j++) {
			uint64_t gpa, got = 0;
			if ((p.lin[j] & 0xfff) + w > 0x1000 ||
			    !x86_translate_ram(post, vm->ram, vm->ram_size, p.lin[j], &gpa) ||
			    gpa + w > vm->ram_size)
				continue;
			uint8_t *image = vm->ram + gpa;
			memcpy(&got, image, w);
			/* Pre's FLAGS with TF, stored by this step: the shadow (memory as known before)
			 * differs. QEMU's TCG pushes FLAGS without the stepping TF on a privilege change. */
			bool tcg_clean = j >= p.first_tss && (got & mask) == (pre->rflags & mask);
			if (((got & mask) != want && !tcg_clean) || !memcmp(image, shadow + gpa, w))
				continue;
			/* PUSHF ended the step with its image on top; an event frame has pre's CS right below
			 * FLAGS. */
			bool pushf = p.lin[j] == p.top && ended_after_pushf(vm, post);
			uint16_t cs;
			if (!pushf &&
			    (!read_linear(vm, post, p.lin[j] - w, &cs, 2) || cs != pre->seg[X86_CS].selector))
				continue;
			image[1] &= (uint8_t) ~(X86_RFLAGS_TF >> 8);
			return pushf ? 0 : 1;
		}
	}
	return 0;
}
