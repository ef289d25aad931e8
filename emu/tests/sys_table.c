/* Table runner for emu's system tests (sys_table.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sys_table.h"

static void gdt(unsigned sel, uint64_t d)
{
	th_poke(TH_GDT + (sel & ~7u), d, 8);
}

static void seg(struct x86_segment *s, uint16_t sel, uint32_t base, uint32_t limit, uint32_t attr)
{
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->attr = attr;
}

void sys_setup(struct x86_state *st, int mode, bool cpl3)
{
	bool lm = mode == L64 || mode == CM;
	th_reset();
	th_state(st, mode == V86 ? P32 : (enum x86_mode)mode);
	if (mode == REAL)
		return;
	gdt(0x48, sys_desc(0, 0xfffff, 0xc0fb));
	gdt(0x50, sys_desc(0, 0xfffff, 0xc0f3));
	gdt(0x68, sys_desc(0, 0xfffff, 0xc09f));
	gdt(0x70, sys_desc(0, 0xfffff, 0xc0bb));
	gdt(0x78, sys_desc(0, 0xfffff, 0xc0b3));
	gdt(0x80, sys_desc(0, 0xffff, 0x00fb));
	gdt(0x88, sys_desc(0, 0xffff, 0x00f3));
	gdt(0x98, sys_desc(SYS_TSS2, 0x67, 0x89));
	gdt(0xa0, sys_desc(SYS_LDT, 0xff, 0x82));
	gdt(0xa8, sys_desc(0, 0xfff, 0x4097));
	gdt(0xb0, sys_desc(0, 0xfffff, 0xc099));
	gdt(0xb8, sys_desc(0, 0xfffff, 0xc091));
	gdt(0xc0, sys_desc(0, 0xfffff, 0xc0ff));
	gdt(0xd0, sys_desc(0, 0xfffff, 0xa0fb));
	st->gdtr.limit = 0xff;
	seg(&st->seg[X86_TR], SEL_TSS, SYS_TSS, 0x67, 0x8b);
	th_poke(SYS_TSS + 0x66, 0x68, 2);
	if (lm) {
		gdt(0x58, sys_desc(SYS_TSS, 0x67, 0x8b));
		th_poke(TH_GDT + 0x60, 0, 8);
		th_poke(SYS_TSS + 4, SYS_STACK0, 8);
		th_poke(SYS_TSS + 12, SYS_STACK1, 8);
		th_poke(SYS_TSS + 0x24, SYS_IST1, 8);
		/* User pages: U set at every level of the identity map. */
		th_poke(TH_PML4, (TH_PML4 + 0x1000) | 7, 8);
		th_poke(TH_PML4 + 0x1000, (TH_PML4 + 0x2000) | 7, 8);
		th_poke(TH_PML4 + 0x2000, 0x87, 8);
		th_poke(TH_PML4 + 0x2008, (TH_PML4 + 0x3000) | 7, 8);
		th_poke(TH_PML4 + 0x3000, 0x200000 | 7, 8);
		for (unsigned v = 0; v < 256; v++) {
			unsigned dpl = (v == 3 || v == 4 || v == 0x80 || v == 0x81) ? 3 : 0;
			th_poke(SYS_IDT + v * 16,
			        sys_gate(0x28, SYS_HANDLER(v), v == 0x81 ? 0xf : 0xe, dpl, 0), 8);
			th_poke(SYS_IDT + v * 16 + 8, 0, 8);
		}
		th_poke(SYS_IDT + 0x83 * 16, 0, 8);
		st->idtr.base = SYS_IDT;
		st->idtr.limit = 0xfff;
	} else {
		gdt(0x58, sys_desc(SYS_TSS, 0x67, 0x8b));
		th_poke(SYS_TSS + 4, SYS_STACK0, 4);
		th_poke(SYS_TSS + 8, 0x10, 4);
		th_poke(SYS_TSS + 12, SYS_STACK1, 4);
		th_poke(SYS_TSS + 16, 0x79, 4);
		/* The second task: EIP 0x6000, EAX 0x1111, ESP 0x9000, ring-0 flat segments, no LDT. */
		th_poke(SYS_TSS2 + 0x20, 0x6000, 4);
		th_poke(SYS_TSS2 + 0x24, 0x2, 4);
		th_poke(SYS_TSS2 + 0x28, 0x1111, 4);
		th_poke(SYS_TSS2 + 0x38, 0x9000, 4);
		for (unsigned s = 0; s < 6; s++)
			th_poke(SYS_TSS2 + 0x48 + 4 * s, s == 1 ? 0x08 : 0x10, 4);
		for (unsigned v = 0; v < 256; v++) {
			unsigned dpl = (v == 3 || v == 4 || v == 0x80 || v == 0x81) ? 3 : 0;
			th_poke(SYS_IDT + v * 8,
			        sys_gate(0x08, SYS_HANDLER(v), v == 0x81 ? 0xf : 0xe, dpl, 0), 8);
		}
		th_poke(SYS_IDT + 0x83 * 8, sys_gate(0x08, SYS_HANDLER(0x83), 0xe, 3, 0) & ~(1ull << 47), 8);
		st->idtr.base = SYS_IDT;
		st->idtr.limit = 0x7ff;
	}
	if (mode == V86) {
		st->rflags |= X86_RFLAGS_VM;
		for (int i = X86_ES; i <= X86_GS; i++)
			seg(&st->seg[i], 0, 0, 0xffff, 0xf3);
		return;
	}
	if (!cpl3)
		return;
	st->gpr[X86_RSP] = SYS_STACK3;
	for (int i = X86_ES; i <= X86_GS; i++)
		seg(&st->seg[i], SEL_DATA3, 0, 0xffffffffu, 0xc0f3);
	if (mode == P16) {
		for (int i = X86_ES; i <= X86_GS; i++)
			seg(&st->seg[i], SEL_DATA16_3, 0, 0xffff, 0x00f3);
		seg(&st->seg[X86_CS], SEL_CODE16_3, 0, 0xffff, 0x00fb);
	} else if (mode == L64) {
		seg(&st->seg[X86_CS], SEL_CODE64_3, 0, 0xffffffffu, 0xa0fb);
	} else {
		seg(&st->seg[X86_CS], SEL_CODE3, 0, 0xffffffffu, 0xc0fb);
	}
}

static void set_field(struct x86_state *st, const char *name, uint64_t v, const char *file, int line)
{
	const struct x86_field *f = x86_field_find(name);
	if (!f)
		fail_msg("%s:%d: unknown field %s", file, line, name);
	uint8_t *p = (uint8_t *)st + f->offset;
	unsigned n = f->size > 8 ? 8 : f->size;
	if (f->size > 8)
		memset(p, 0, f->size);
	memcpy(p, &v, n);
}

static int diff_states(const struct x86_state *want, const struct x86_state *got, uint64_t fmask)
{
	int bad = 0;
	for (size_t k = 0; k < x86_field_count; k++) {
		const struct x86_field *f = &x86_fields[k];
		const uint8_t *a = (const uint8_t *)want + f->offset, *b = (const uint8_t *)got + f->offset;
		if (!memcmp(a, b, f->size))
			continue;
		if (!strcmp(f->name, "rflags") && ((want->rflags ^ got->rflags) & ~fmask) == 0)
			continue;
		print_message("  %-20s want %#llx got %#llx\n", f->name,
		              (unsigned long long)x86_field_get(want, f),
		              (unsigned long long)x86_field_get(got, f));
		bad++;
	}
	return bad;
}

static int run_row(const struct srow *t, struct emu_cache *cache)
{
	struct x86_state in, st, want;
	struct emu_ctxt c;
	enum emu_status rc = EMU_OK;
	int steps = t->steps ? t->steps : 1, bad = 0;
	bool rip_given = false;

	sys_setup(&in, t->mode, t->cpl3);
	for (unsigned k = 0; k < 12 && t->in[k].f; k++)
		set_field(&in, t->in[k].f, t->in[k].v, t->file, t->line);
	for (unsigned k = 0; k < 10 && t->min[k].size; k++)
		th_poke(t->min[k].addr, t->min[k].v, t->min[k].size);
	memcpy(th.mem + ((in.seg[X86_CS].base + in.rip) & 0xffffffffu), t->code, t->len);
	th.n_writes = 0;

	st = in;
	memset(&c, 0, sizeof(c));
	c.st = &st;
	c.ops = &th_ops;
	c.cache = cache;
	c.deliver_exceptions = t->deliver;
	emu_cache_flush(cache);
	for (int s = 0; s < steps; s++) {
		rc = emu_step(&c);
		if (rc != EMU_OK)
			break;
	}
	want = in;
	for (unsigned k = 0; k < 32 && t->out[k].f; k++) {
		set_field(&want, t->out[k].f, t->out[k].v, t->file, t->line);
		if (!strcmp(t->out[k].f, "rip"))
			rip_given = true;
	}
	if (!rip_given && !t->rip_same && (t->rc == EMU_OK || t->rc == EMU_HALT))
		want.rip = in.rip + t->len;
	if ((int)rc != t->rc) {
		print_message("%s:%d: status %s, want %s (%s)\n", t->file, t->line, emu_status_name(rc),
		              emu_status_name((enum emu_status)t->rc), c.info.unimplemented);
		if (rc == EMU_EXCEPTION)
			print_message("  vector %u error %#x\n", c.event.vector, c.event.error_code);
		diff_states(&want, &st, t->fmask);
		return 1;
	}
	if (rc == EMU_EXCEPTION)
		bad += th_check_exception(&c.event, t->vector, t->error, t->cr2, t->file, t->line);
	if (diff_states(&want, &st, t->fmask)) {
		print_message("%s:%d: state differs (above)\n", t->file, t->line);
		bad++;
	}
	for (unsigned k = 0; k < 10 && t->mout[k].size; k++) {
		uint64_t got = th_peek(t->mout[k].addr, t->mout[k].size);
		if (got != t->mout[k].v) {
			print_message("%s:%d: memory %#llx: want %#llx got %#llx\n", t->file, t->line,
			              (unsigned long long)t->mout[k].addr, (unsigned long long)t->mout[k].v,
			              (unsigned long long)got);
			bad++;
		}
	}
	return bad ? 1 : 0;
}

int sys_run(const struct srow *rows, unsigned n)
{
	int failed = 0;
	struct emu_cache *cache;
	for (unsigned k = 0; k < n; k++)
		failed += run_row(&rows[k], NULL);
	/* Again with the TLB and decode cache. */
	cache = emu_cache_new();
	assert_non_null(cache);
	for (unsigned k = 0; k < n; k++)
		failed += run_row(&rows[k], cache);
	emu_cache_free(cache);
	print_message("%u rows, %d failures over two passes\n", n, failed);
	return failed;
}
