/* Optional caches: a TLB of 4 KiB translations and a decoded-instruction
 * cache keyed by physical address. Both are dropped whenever CR0, CR3, CR4
 * or EFER differ from the values they were filled under; a store (through emu,
 * or one its caller reports with emu_cache_note_write) to a page holding cached
 * code drops the instructions it overlaps, and one to a page the TLB's
 * translations were read from drops the TLB, so a cached translation is always
 * the one a fresh walk would give. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

struct emu_cache *emu_cache_new(void)
{
	struct emu_cache *k = calloc(1, sizeof(struct emu_cache));
	if (k)
		k->gen = 1;
	return k;
}

void emu_cache_free(struct emu_cache *cache)
{
	free(cache);
}

static void tlb_clear(struct emu_cache *k)
{
	for (unsigned i = 0; i < TLB_SIZE; i++)
		k->tlb[i].vpn = 0;
	memset(k->pt_pages, 0, sizeof(k->pt_pages));
	k->gen++;
}

void emu_tlb_note_table(struct emu_cache *k, uint64_t gpa)
{
	uint64_t b = (gpa >> 12) % PT_BLOOM;
	k->pt_pages[b / 8] |= (uint8_t)(1u << (b % 8));
}

static bool table_page(const struct emu_cache *k, uint64_t gpa)
{
	uint64_t b = (gpa >> 12) % PT_BLOOM;
	return k->pt_pages[b / 8] & (1u << (b % 8));
}

void emu_cache_flush(struct emu_cache *k)
{
	if (!k)
		return;
	tlb_clear(k);
	memset(k->code_pages, 0, sizeof(k->code_pages));
}

/* The TLB is valid only under the paging registers it was filled with. */
bool emu_tlb_context(struct emu_cache *k, const struct x86_state *st)
{
	if (k->cr3 == st->cr3 && k->cr0 == st->cr0 && k->cr4 == st->cr4 && k->efer == st->efer)
		return true;
	tlb_clear(k);
	k->cr0 = st->cr0;
	k->cr3 = st->cr3;
	k->cr4 = st->cr4;
	k->efer = st->efer;
	return false;
}

bool emu_tlb_lookup(struct emu_exec *x, uint64_t lin, enum emu_seg_access acc, bool user, uint64_t *gpa)
{
	struct emu_cache *k = x->c->cache;
	const struct x86_state *st = x->st;
	struct tlb_entry *e;
	uint64_t vpn = (lin >> 12) + 1;
	if (!emu_tlb_context(k, st))
		return false;
	e = &k->tlb[vpn % TLB_SIZE];
	if (e->vpn != vpn)
		return false;
	/* Anything that might fault, or must set a dirty bit, takes the walk. */
	if (user && !(e->perm & TLB_U))
		return false;
	if (acc == SEG_WRITE &&
	    (!(e->perm & TLB_D) || (!(e->perm & TLB_W) && (user || (st->cr0 & X86_CR0_WP)))))
		return false;
	if (acc == SEG_EXEC &&
	    (!(e->perm & TLB_X) || (!user && (e->perm & TLB_U) && (st->cr4 & X86_CR4_SMEP))))
		return false;
	*gpa = e->pfn | (lin & 0xfff);
	return true;
}

void emu_tlb_fill(struct emu_exec *x, uint64_t lin, uint64_t gpa, bool w, bool u, bool xok, bool dirty)
{
	struct emu_cache *k = x->c->cache;
	uint64_t vpn = (lin >> 12) + 1;
	struct tlb_entry *e = &k->tlb[vpn % TLB_SIZE];
	emu_tlb_context(k, x->st);
	e->vpn = vpn;
	e->pfn = gpa & ~0xfffull;
	e->perm = (w ? TLB_W : 0) | (u ? TLB_U : 0) | (xok ? TLB_X : 0) | (dirty ? TLB_D : 0);
}

void emu_tlb_flush(struct emu_exec *x, bool all, uint64_t lin)
{
	struct emu_cache *k = x->c->cache;
	if (!k)
		return;
	if (all) {
		tlb_clear(k);
		return;
	}
	uint64_t vpn = (lin >> 12) + 1;
	if (k->tlb[vpn % TLB_SIZE].vpn == vpn)
		k->tlb[vpn % TLB_SIZE].vpn = 0;
	k->gen++;
}

void emu_dc_fill(struct emu_exec *x, uint64_t lin, uint64_t gpa, const uint8_t *buf)
{
	struct emu_cache *k = x->c->cache;
	struct dc_entry *e = &k->dc[lin % DC_SIZE];
	if (gpa >= (uint64_t)CODE_PAGES << 12)
		return;
	if (x->mode != X86_MODE_REAL)
		emu_tlb_context(k, x->st);
	e->lin = lin + 1;
	e->gen = k->gen;
	e->mode = (uint8_t)x->mode;
	e->cpl = (uint8_t)x->cpl;
	e->insn = *x->i;
	memset(e->blk, 0, sizeof(e->blk));
	e->blk[0] = x->i->len;
	memcpy(e->blk + 1, buf, x->i->len);
	k->code_pages[gpa >> 15] |= (uint8_t)(1u << ((gpa >> 12) & 7));
}

static bool code_page(const struct emu_cache *k, uint64_t gpa)
{
	return gpa < ((uint64_t)CODE_PAGES << 12) && (k->code_pages[gpa >> 15] & (1u << ((gpa >> 12) & 7)));
}

/* A store into a page with cached code drops every decoded instruction (self-modifying code is rare). */
void emu_dc_note_write(struct emu_cache *k, uint64_t gpa, unsigned len)
{
	if (table_page(k, gpa) || table_page(k, gpa + len - 1))
		tlb_clear(k);
	if (!code_page(k, gpa) && !code_page(k, gpa + len - 1))
		return;
	k->gen++;
	memset(k->code_pages, 0, sizeof(k->code_pages));
}

void emu_cache_note_write(struct emu_cache *cache, uint64_t gpa, uint64_t len)
{
	if (!cache || !len)
		return;
	for (uint64_t end = gpa + len; gpa < end;) {
		uint64_t n = 4096 - (gpa & 4095);
		if (n > end - gpa)
			n = end - gpa;
		emu_dc_note_write(cache, gpa, (unsigned)n);
		gpa += n;
	}
}
