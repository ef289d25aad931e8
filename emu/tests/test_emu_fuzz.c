/* Random instructions in every mode, each stepped three times: without the
 * caches, with cold caches and with warm ones. Checks: no crash; a status
 * from the enum; on a fault or an unimplemented instruction the state is
 * exactly as before and nothing was written; the three runs agree on
 * status, state and memory; the step's length is emu_insn_length's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "emu.h"
#include "harness.h"
#include "x86_state.h"

#define ITERATIONS 40000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd_value(void)
{
	static const uint64_t pool[] = {
	    0, 1, 0x3ffe, 0xffff, 0x10000, 0x7fffffff, 0xffffffff, 0x80000000, 0x8000000000000000ull, ~0ull};
	switch (rnd() % 4) {
	case 0:
		return pool[rnd() % (sizeof(pool) / sizeof(pool[0]))];
	case 1:
		return rnd();
	default:
		return 0x2000 + (rnd() & 0x1fff); /* an address in mapped memory */
	}
}

/* Prefixes, escapes and opcodes in proportions that reach deep into the decoder. */
static void rnd_code(uint8_t *code)
{
	static const uint8_t pfx[] = {0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x26, 0x64, 0x65, 0x48, 0x41, 0x4c};
	unsigned n = 0;
	while (n < 3 && rnd() % 3 == 0)
		code[n++] = pfx[rnd() % sizeof(pfx)];
	if (rnd() % 3 == 0)
		code[n++] = 0x0f;
	while (n < 16)
		code[n++] = (uint8_t)rnd();
}

struct run {
	enum emu_status rc;
	struct x86_state st;
	struct emu_event ev;
	uint8_t insn_len;
	unsigned n_writes;
	unsigned n_mem;
	uint8_t mem[2048]; /* (addr, len, bytes) of each write outside the page tables, in order */
};

static void capture_writes(struct run *r)
{
	r->n_mem = 0;
	unsigned off = 0;
	for (unsigned k = 0; k < th.j_writes && k < TH_JOURNAL_WRITES; k++) {
		uint64_t a = th.j_addr[k];
		unsigned len = th.j_len[k];
		if (a >= TH_PML4 && a < TH_PML4 + 0x4000)
			continue;
		if (r->n_mem + 12 + len > sizeof(r->mem))
			break;
		memcpy(r->mem + r->n_mem, &a, 8);
		memcpy(r->mem + r->n_mem + 8, &len, 4);
		memcpy(r->mem + r->n_mem + 12, th.mem + a, len);
		r->n_mem += 12 + len;
		off += len;
	}
	(void)off;
}

static bool one_run(const struct x86_state *in, struct emu_cache *cache, struct run *r)
{
	struct emu_ctxt c;
	memset(&c, 0, sizeof(c));
	r->st = *in;
	c.st = &r->st;
	c.ops = &th_ops;
	c.cache = cache;
	th.n_writes = 0;
	th.journal = true;
	r->rc = emu_step(&c);
	r->ev = c.event;
	r->insn_len = c.info.insn_len;
	r->n_writes = th.n_writes;
	capture_writes(r);
	th.journal = false;
	return th_undo();
}

static void test_fuzz(void **state)
{
	static const enum x86_mode modes[] = {X86_MODE_REAL, X86_MODE_PROT16, X86_MODE_PROT32,
	                                      X86_MODE_LONG64, X86_MODE_COMPAT};
	static struct run a, b, w;
	struct emu_cache *cache = emu_cache_new();
	unsigned bad = 0, counts[8] = {0};
	(void)state;
	assert_non_null(cache);
	th_reset();
	for (unsigned it = 0; it < ITERATIONS && bad < 20; it++) {
		enum x86_mode mode = modes[it % 5];
		struct x86_state in;
		uint8_t code[16];
		th_state(&in, mode);
		if (mode == X86_MODE_LONG64 || mode == X86_MODE_COMPAT)
			in.efer |= X86_EFER_LMA;
		for (unsigned r = 0; r < X86_NGPR; r++)
			in.gpr[r] = rnd_value();
		if (rnd() % 2)
			in.gpr[X86_RSP] = TH_STACK;
		in.rflags = X86_RFLAGS_FIXED | (rnd() & 0xcd5) | ((rnd() % 4 == 0) ? X86_RFLAGS_DF : 0);
		if (rnd() % 2)
			in.cr4 |= X86_CR4_OSFXSR;
		rnd_code(code);
		memcpy(th.mem + in.seg[X86_CS].base + in.rip, code, sizeof(code));
		emu_cache_flush(cache); /* the code changed behind emu's back */

		if (!one_run(&in, NULL, &a) || !one_run(&in, cache, &b) || !one_run(&in, cache, &w)) {
			th_reset(); /* journal overflow: start from clean memory */
			continue;
		}
		unsigned bad_before = bad;
		counts[a.rc < 8 ? a.rc : 7]++;
		if (a.rc > EMU_IO_ERROR) {
			print_message("iteration %u: status %d out of the enum\n", it, a.rc);
			bad++;
		}
		if (a.rc != EMU_OK && a.rc != EMU_HALT) {
			if (memcmp(&a.st, &in, sizeof(in)) || a.n_writes) {
				print_message("iteration %u mode %s: %s changed the state or wrote memory\n",
				              it, x86_mode_name(mode), emu_status_name(a.rc));
				bad++;
			}
		} else if (a.insn_len != emu_insn_length(code, 15, mode)) {
			print_message("iteration %u mode %s: step length %u, emu_insn_length %u\n", it,
			              x86_mode_name(mode), a.insn_len, emu_insn_length(code, 15, mode));
			bad++;
		}
		for (int k = 0; k < 2; k++) {
			const struct run *o = k ? &w : &b;
			if (o->rc != a.rc || memcmp(&o->st, &a.st, sizeof(a.st)) || o->n_mem != a.n_mem ||
			    memcmp(o->mem, a.mem, a.n_mem) ||
			    (a.rc == EMU_EXCEPTION &&
			     (o->ev.vector != a.ev.vector || o->ev.error_code != a.ev.error_code))) {
				print_message("iteration %u mode %s: the %s cache run differs (%s vs %s)\n",
				              it, x86_mode_name(mode), k ? "warm" : "cold",
				              emu_status_name(o->rc), emu_status_name(a.rc));
				for (size_t f = 0; f < x86_field_count; f++) {
					const struct x86_field *fd = &x86_fields[f];
					if (memcmp((const uint8_t *)&o->st + fd->offset,
					           (const uint8_t *)&a.st + fd->offset, fd->size))
						print_message("  %s: %#llx vs %#llx\n", fd->name,
						              (unsigned long long)x86_field_get(&o->st, fd),
						              (unsigned long long)x86_field_get(&a.st, fd));
				}
				if (o->n_mem != a.n_mem || memcmp(o->mem, a.mem, a.n_mem))
					print_message("  memory writes differ (%u vs %u bytes)\n", o->n_mem,
					              a.n_mem);
				if (a.rc == EMU_EXCEPTION)
					print_message("  vector %u/%u error %#x/%#x\n", o->ev.vector,
					              a.ev.vector, o->ev.error_code, a.ev.error_code);
				bad++;
			}
		}
		if (bad != bad_before) {
			print_message("  code:");
			for (unsigned k = 0; k < 16; k++)
				print_message(" %02x", code[k]);
			print_message("\n");
		}
	}
	print_message("ok %u, exception %u, halt %u, unimplemented %u\n", counts[EMU_OK],
	              counts[EMU_EXCEPTION], counts[EMU_HALT], counts[EMU_UNIMPLEMENTED]);
	emu_cache_free(cache);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
