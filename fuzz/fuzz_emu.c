/* emu on fuzzed bytes as instructions, on a state seeded from the input: a faulting step changes nothing
 * (and, built with EMU_CHECK_FAULTS, emu checks that itself), the step length agrees with the decoder,
 * and the decode/TLB caches change nothing. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	enum emu_status rc;
	struct x86_state st;
	struct emu_event ev;
	uint8_t insn_len;
	unsigned n_writes;
	uint64_t mem_sum; /* a hash of every byte written, in order */
};

static uint64_t writes_hash(void)
{
	uint64_t h = 1469598103934665603ull;
	for (unsigned k = 0; k < th.j_writes && k < TH_JOURNAL_WRITES; k++)
		for (unsigned b = 0; b < th.j_len[k]; b++)
			h = (h ^ th.mem[th.j_addr[k] + b] ^ (th.j_addr[k] << 8)) * 1099511628211ull;
	return h;
}

static bool one_run(const struct x86_state *in, struct emu_cache *cache, bool deliver, struct run *r)
{
	struct emu_ctxt c;

	memset(&c, 0, sizeof(c));
	r->st = *in;
	c.st = &r->st;
	c.ops = &th_ops;
	c.cache = cache;
	c.deliver_exceptions = deliver;
	th.n_writes = 0;
	th.journal = true;
	r->rc = emu_step(&c);
	r->ev = c.event;
	r->insn_len = c.info.insn_len;
	r->n_writes = th.n_writes;
	r->mem_sum = writes_hash();
	th.journal = false;
	return th_undo();
}

static bool same(const struct run *a, const struct run *b)
{
	return a->rc == b->rc && !memcmp(&a->st, &b->st, sizeof(a->st)) && a->mem_sum == b->mem_sum &&
	       (a->rc != EMU_EXCEPTION ||
	        (a->ev.vector == b->ev.vector && a->ev.error_code == b->ev.error_code));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum x86_mode modes[] = {X86_MODE_REAL, X86_MODE_PROT16, X86_MODE_PROT32,
	                                      X86_MODE_LONG64, X86_MODE_COMPAT};
	static const uint64_t pool[] = {0,
	                                1,
	                                2,
	                                0x7f,
	                                0x80,
	                                0xff,
	                                0x7fff,
	                                0x8000,
	                                0xffff,
	                                0x7fffffff,
	                                0x80000000,
	                                0xffffffff,
	                                0x100000000ull,
	                                0x7fffffffffffffffull,
	                                0x8000000000000000ull,
	                                ~0ull,
	                                TH_STACK,
	                                TH_CODE,
	                                TH_GDT,
	                                0x1000,
	                                0xfff,
	                                0xffe};
	static struct emu_cache *cache;
	static bool ready;
	static struct run a, b;
	enum { HEADER = 3 + X86_NGPR };
	struct x86_state in;
	uint8_t code[16] = {0};

	if (size < HEADER)
		return 0;
	if (!ready) {
		th_reset();
		cache = emu_cache_new();
		ready = cache != NULL;
		if (!ready)
			return 0;
	}
	enum x86_mode mode = modes[data[0] % 5];
	th_state(&in, mode);
	if (mode == X86_MODE_LONG64 || mode == X86_MODE_COMPAT)
		in.efer |= X86_EFER_LMA;
	in.rflags = X86_RFLAGS_FIXED | (data[1] & 0xd5) | ((data[1] & 0x20) ? X86_RFLAGS_DF : 0) |
	            ((data[1] & 0x08) ? X86_RFLAGS_IF : 0);
	if (data[2] & 1)
		in.cr4 |= X86_CR4_OSFXSR;
	bool deliver = (data[2] & 2) != 0;
	for (unsigned r = 0; r < X86_NGPR; r++)
		in.gpr[r] = pool[data[3 + r] % (sizeof(pool) / sizeof(pool[0]))];
	memcpy(code, data + HEADER, size - HEADER < sizeof(code) ? size - HEADER : sizeof(code));
	memcpy(th.mem + in.seg[X86_CS].base + in.rip, code, sizeof(code));
	emu_cache_flush(cache); /* the code changed behind emu's back */

	if (!one_run(&in, NULL, deliver, &a) || !one_run(&in, cache, deliver, &b)) {
		th_reset(); /* the journal overflowed: start again from clean memory */
		return 0;
	}
	if (a.rc > EMU_IO_ERROR)
		__builtin_trap();
	/* A shutdown while delivering may have set CR2 on the way, as the CPU does. */
	bool must_be_unchanged = a.rc != EMU_OK && a.rc != EMU_HALT && !(a.rc == EMU_SHUTDOWN && deliver);
	if (must_be_unchanged && (memcmp(&a.st, &in, sizeof(in)) || a.n_writes)) {
		fprintf(stderr, "%s changed the state or wrote memory\n", emu_status_name(a.rc));
		__builtin_trap();
	}
	if ((a.rc == EMU_OK || a.rc == EMU_HALT) && !a.st.events.exc_pending && !deliver &&
	    a.insn_len != emu_insn_length(code, sizeof(code), mode)) {
		fprintf(stderr, "step length %u, emu_insn_length %u\n", a.insn_len,
		        emu_insn_length(code, sizeof(code), mode));
		__builtin_trap();
	}
	if (!same(&a, &b)) {
		fprintf(stderr, "the cached run differs: %s vs %s\n", emu_status_name(a.rc),
		        emu_status_name(b.rc));
		__builtin_trap();
	}
	return 0;
}
