/* The input cursor the backends share. */
#include "backend_input.h"

const uint8_t *backend_take_input(const struct backend_step_input *in, uint32_t *used, uint8_t kind,
                                  uint64_t addr, bool match_addr, unsigned size)
{
	for (uint32_t i = 0; i < in->n_inputs; i++) {
		const struct trace_input *x = &in->inputs[i];
		uint32_t count = x->count ? x->count : 1;
		unsigned elem = count > 1 ? x->size / count : x->size;
		if (x->kind != kind || (match_addr && x->addr != addr) || used[i] >= count)
			continue;
		/* A value of another width is not this access's input. */
		if (elem != size || (uint64_t)(used[i] + 1) * elem > sizeof(x->data))
			continue;
		return x->data + (size_t)elem * used[i]++;
	}
	return NULL;
}

bool backend_wrmsr_taken(const struct backend_step_input *in, const struct x86_state *at, unsigned len)
{
	const struct x86_state *rec = in->expected;
	if (!rec)
		return true;
	enum x86_mode mode = x86_state_mode(at);
	uint64_t ip_mask = mode == X86_MODE_LONG64                                        ? ~0ull
	                   : mode != X86_MODE_REAL && (at->seg[X86_CS].attr & X86_SEG_DB) ? 0xffffffffull
	                                                                                  : 0xffffull;
	return rec->rip == ((at->rip + len) & ip_mask) &&
	       rec->seg[X86_CS].selector == at->seg[X86_CS].selector;
}
