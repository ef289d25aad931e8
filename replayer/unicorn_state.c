/* The unicorn backend's CPU state: x86_state into and out of QEMU's CPUX86State
 * inside libunicorn 2.0.1 (notes/unicorn-2.0.1.md), and the layout check. */
#include <errno.h>
#include <stdio.h>

#include "unicorn_private.h"

/* Offsets into CPUX86State as libunicorn 2.0.1 lays it out; checked at start-up. */
#define CTX_DATA          16 /* struct uc_context header: size, mode, arch */
#define ENV_REGS          0
#define ENV_EIP           128
#define ENV_HFLAGS        176
#define ENV_SEGS          184
#define ENV_SEG_SIZE      24
#define ENV_LDT           328
#define ENV_TR            352
#define ENV_GDT           376
#define ENV_IDT           400
#define ENV_CR            424
#define ENV_EFER          560
#define ENV_ERROR_CODE    5352
#define ENV_OLD_EXCEPTION 5464
#define ENV_MIN_SIZE      5468
#define SEGC_BASE         8
#define SEGC_LIMIT        16
#define SEGC_FLAGS        20

/* QEMU's hflags bits (target/i386/cpu.h). */
#define HF_CPL_MASK    3u
#define HF_INHIBIT_IRQ (1u << 3)
#define HF_CS32        (1u << 4)
#define HF_SS32        (1u << 5)
#define HF_ADDSEG      (1u << 6)
#define HF_PE          (1u << 7)
#define HF_TF          (1u << 8)
#define HF_MP          (1u << 9)
#define HF_EM          (1u << 10)
#define HF_TS          (1u << 11)
#define HF_IOPL        (3u << 12)
#define HF_LMA         (1u << 14)
#define HF_CS64        (1u << 15)
#define HF_VM          (1u << 17)
#define HF_OSFXSR      (1u << 22)
#define HF_SMAP        (1u << 23)
/* Bits x86_update_hflags recomputes; the rest are kept. */
#define HF_RECOMPUTED                                                                                        \
	(HF_CPL_MASK | HF_INHIBIT_IRQ | HF_CS32 | HF_SS32 | HF_ADDSEG | HF_PE | HF_TF | HF_MP | HF_EM |      \
	 HF_TS | HF_IOPL | HF_LMA | HF_CS64 | HF_VM | HF_OSFXSR | HF_SMAP)

#define DESC_P (1u << 15)
#define DESC_L (1u << 21)
#define DESC_B (1u << 22)

static uint32_t attr_to_flags(uint32_t attr)
{
	uint32_t flags = ((attr & 0xffu) << 8) | ((attr & 0xf000u) << 8);
	if (attr & X86_SEG_UNUSABLE)
		flags &= ~DESC_P;
	return flags;
}

static uint32_t flags_to_attr(uint32_t flags)
{
	uint32_t attr = ((flags >> 8) & 0xffu) | ((flags >> 8) & 0xf000u);
	if (!(flags & DESC_P))
		attr |= X86_SEG_UNUSABLE;
	return attr;
}

static void put_seg(uint8_t *p, const struct x86_segment *s)
{
	put32(p, s->selector);
	put64(p + SEGC_BASE, s->base);
	put32(p + SEGC_LIMIT, s->limit);
	put32(p + SEGC_FLAGS, attr_to_flags(s->attr));
}

/* Keeps the loaded segment exactly when the engine left its cache alone. */
static void get_seg(const uint8_t *p, const struct x86_segment *pre, struct x86_segment *s)
{
	uint16_t sel = (uint16_t)get32(p);
	uint64_t base = get64(p + SEGC_BASE);
	uint32_t limit = get32(p + SEGC_LIMIT);
	uint32_t flags = get32(p + SEGC_FLAGS);
	if (sel == pre->selector && base == pre->base && limit == pre->limit &&
	    flags == attr_to_flags(pre->attr)) {
		*s = *pre;
		return;
	}
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->base = base;
	s->limit = limit;
	s->attr = flags_to_attr(flags);
}

static uint32_t compute_hflags(const struct x86_state *st, uint32_t old)
{
	uint32_t cs = attr_to_flags(st->seg[X86_CS].attr), ss = attr_to_flags(st->seg[X86_SS].attr);
	uint32_t h = old & ~HF_RECOMPUTED;
	h |= x86_state_cpl(st) & HF_CPL_MASK;
	if (st->cr0 & X86_CR0_PE)
		h |= HF_PE;
	if (st->cr0 & X86_CR0_MP)
		h |= HF_MP;
	if (st->cr0 & X86_CR0_EM)
		h |= HF_EM;
	if (st->cr0 & X86_CR0_TS)
		h |= HF_TS;
	h |= (uint32_t)(st->rflags & (X86_RFLAGS_TF | X86_RFLAGS_VM | X86_RFLAGS_IOPL));
	if (st->cr4 & X86_CR4_OSFXSR)
		h |= HF_OSFXSR;
	if (st->cr4 & X86_CR4_SMAP)
		h |= HF_SMAP;
	if (st->efer & X86_EFER_LMA)
		h |= HF_LMA;
	if ((h & HF_LMA) && (cs & DESC_L)) {
		h |= HF_CS32 | HF_SS32 | HF_CS64;
	} else {
		if (cs & DESC_B)
			h |= HF_CS32;
		if (ss & DESC_B)
			h |= HF_SS32;
		if (!(st->cr0 & X86_CR0_PE) || (st->rflags & X86_RFLAGS_VM) || !(h & HF_CS32))
			h |= HF_ADDSEG;
		else if ((st->seg[X86_DS].base | st->seg[X86_ES].base | st->seg[X86_SS].base) != 0)
			h |= HF_ADDSEG;
	}
	if (st->events.shadow)
		h |= HF_INHIBIT_IRQ;
	return h;
}

/* A map and unmap flushes QEMU's TLB (notes/unicorn-2.0.1.md). */
static void flush_tlb(void)
{
	if (uc_mem_map(unicorn_child.uc, unicorn_child.dummy_page, 0x1000, UC_PROT_READ) == UC_ERR_OK)
		uc_mem_unmap(unicorn_child.uc, unicorn_child.dummy_page, 0x1000);
}

static const int fpu_regs[] = {
    UC_X86_REG_FP0, UC_X86_REG_FP1, UC_X86_REG_FP2, UC_X86_REG_FP3,
    UC_X86_REG_FP4, UC_X86_REG_FP5, UC_X86_REG_FP6, UC_X86_REG_FP7,
};

static void load_fpu(const struct x86_fpu *f)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint16_t tag = 0;
	for (unsigned i = 0; i < 8; i++) {
		/* FXSAVE keeps ST(i); unicorn's FPn is the physical register n. */
		uint8_t v[10];
		memcpy(v, f->st[i], 10);
		uc_reg_write(unicorn_child.uc, fpu_regs[(top + i) & 7], v);
		if (!(f->ftw & (1u << i)))
			tag |= (uint16_t)(3u << (2 * i));
	}
	uint16_t fcw = f->fcw, fsw = f->fsw;
	uint32_t mxcsr = f->mxcsr;
	uc_reg_write(unicorn_child.uc, UC_X86_REG_FPCW, &fcw);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_FPSW, &fsw);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_FPTAG, &tag);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_MXCSR, &mxcsr);
	for (int i = 0; i < 16; i++)
		uc_reg_write(unicorn_child.uc, UC_X86_REG_XMM0 + i, f->xmm[i]);
}

static void read_fpu(struct x86_fpu *f)
{
	uint16_t fcw = 0, fsw = 0, tag = 0;
	uint32_t mxcsr = 0;
	uc_reg_read(unicorn_child.uc, UC_X86_REG_FPCW, &fcw);
	uc_reg_read(unicorn_child.uc, UC_X86_REG_FPSW, &fsw);
	uc_reg_read(unicorn_child.uc, UC_X86_REG_FPTAG, &tag);
	uc_reg_read(unicorn_child.uc, UC_X86_REG_MXCSR, &mxcsr);
	f->fcw = fcw;
	f->fsw = fsw;
	f->mxcsr = mxcsr;
	f->ftw = 0;
	unsigned top = (fsw >> 11) & 7;
	for (unsigned i = 0; i < 8; i++) {
		uint8_t v[16] = {0};
		uc_reg_read(unicorn_child.uc, fpu_regs[(top + i) & 7], v);
		memset(v + 10, 0, 6);
		memcpy(f->st[i], v, 16);
		if (((tag >> (2 * i)) & 3) != 3)
			f->ftw |= (uint8_t)(1u << i);
	}
	for (int i = 0; i < 16; i++)
		uc_reg_read(unicorn_child.uc, UC_X86_REG_XMM0 + i, f->xmm[i]);
}

/* The MSRs QEMU's wrmsr models; TSC and APIC_BASE are not among them. */
static bool msr_modelled(int i)
{
	return i != X86_MSR_TSC && i != X86_MSR_APIC_BASE;
}

/* Loads st into the engine; flush also drops the TLB (after page-table or mapping changes). */
void unicorn_load_state(const struct x86_state *st, bool flush)
{
	flush = flush || !unicorn_child.loaded || st->cr0 != unicorn_child.cur.cr0 ||
	        st->cr3 != unicorn_child.cur.cr3 || st->cr4 != unicorn_child.cur.cr4 ||
	        st->efer != unicorn_child.cur.efer;
	uint8_t *env = unicorn_child.env;

	uc_context_save(unicorn_child.uc, unicorn_child.ctx);
	for (int i = 0; i < X86_NGPR; i++)
		put64(env + ENV_REGS + 8 * i, st->gpr[i]);
	put64(env + ENV_EIP, st->rip);
	for (int i = X86_ES; i <= X86_GS; i++)
		put_seg(env + ENV_SEGS + ENV_SEG_SIZE * i, &st->seg[i]);
	put_seg(env + ENV_LDT, &st->seg[X86_LDTR]);
	put_seg(env + ENV_TR, &st->seg[X86_TR]);
	put64(env + ENV_GDT + SEGC_BASE, st->gdtr.base);
	put32(env + ENV_GDT + SEGC_LIMIT, st->gdtr.limit);
	put64(env + ENV_IDT + SEGC_BASE, st->idtr.base);
	put32(env + ENV_IDT + SEGC_LIMIT, st->idtr.limit);
	put64(env + ENV_CR + 0, st->cr0);
	put64(env + ENV_CR + 16, st->cr2);
	put64(env + ENV_CR + 24, st->cr3);
	put64(env + ENV_CR + 32, st->cr4);
	put64(env + ENV_EFER, st->efer);
	put32(env + ENV_HFLAGS, compute_hflags(st, get32(env + ENV_HFLAGS)));
	/* An exception the hook swallowed must not turn the next one into #DF (QEMU's check_exception). */
	put32(env + ENV_OLD_EXCEPTION, 0xffffffffu);
	uc_context_restore(unicorn_child.uc, unicorn_child.ctx);

	uint64_t rflags = st->rflags;
	uc_reg_write(unicorn_child.uc, UC_X86_REG_RFLAGS, &rflags);
	/* unicorn_child.cur is what the engine holds (loaded, or read back after the last step): only what
	 * differs is written through the register API, about thirty calls for the FPU and SSE registers
	 * alone. */
	for (int i = 0; i < 4; i++) {
		uint64_t v = st->dr[i];
		if (!unicorn_child.loaded || v != unicorn_child.cur.dr[i])
			uc_reg_write(unicorn_child.uc, UC_X86_REG_DR0 + i, &v);
	}
	if (!unicorn_child.loaded || memcmp(&st->fpu, &unicorn_child.cur.fpu, sizeof(st->fpu)))
		load_fpu(&st->fpu);
	for (int i = 0; i < X86_NMSR; i++) {
		if (!msr_modelled(i) ||
		    (unicorn_child.msrs_loaded && unicorn_child.msr_loaded[i] == st->msr[i]))
			continue;
		uc_x86_msr m = {.rid = x86_msr_numbers[i], .value = st->msr[i]};
		uc_reg_write(unicorn_child.uc, UC_X86_REG_MSR, &m);
		unicorn_child.msr_loaded[i] = st->msr[i];
	}
	unicorn_child.msrs_loaded = true;
	unicorn_child.cur = *st;
	unicorn_child.loaded = true;
	if (flush)
		flush_tlb();
}

/* Reads the engine's state after a step; what the instruction cannot change is taken from pre, sparing
 * some fifty register reads. */
void unicorn_read_state(const struct x86_state *pre, struct x86_state *st, bool fpu, bool msr, bool dr)
{
	const uint8_t *env = unicorn_child.env;

	*st = *pre;
	uc_context_save(unicorn_child.uc, unicorn_child.ctx);
	for (int i = 0; i < X86_NGPR; i++)
		st->gpr[i] = get64(env + ENV_REGS + 8 * i);
	st->rip = get64(env + ENV_EIP);
	for (int i = X86_ES; i <= X86_GS; i++)
		get_seg(env + ENV_SEGS + ENV_SEG_SIZE * i, &pre->seg[i], &st->seg[i]);
	get_seg(env + ENV_LDT, &pre->seg[X86_LDTR], &st->seg[X86_LDTR]);
	get_seg(env + ENV_TR, &pre->seg[X86_TR], &st->seg[X86_TR]);
	st->gdtr.base = get64(env + ENV_GDT + SEGC_BASE);
	st->gdtr.limit = get32(env + ENV_GDT + SEGC_LIMIT);
	st->idtr.base = get64(env + ENV_IDT + SEGC_BASE);
	st->idtr.limit = get32(env + ENV_IDT + SEGC_LIMIT);
	st->cr0 = get64(env + ENV_CR + 0);
	st->cr2 = get64(env + ENV_CR + 16);
	st->cr3 = get64(env + ENV_CR + 24);
	st->cr4 = get64(env + ENV_CR + 32);
	st->efer = get64(env + ENV_EFER);
	st->events.shadow = (get32(env + ENV_HFLAGS) & HF_INHIBIT_IRQ) ? X86_SHADOW_MOV_SS : 0;
	uint64_t rflags = 0;
	uc_reg_read(unicorn_child.uc, UC_X86_REG_RFLAGS, &rflags);
	st->rflags = rflags;
	for (int i = 0; dr && i < 4; i++) {
		uint64_t v = 0;
		uc_reg_read(unicorn_child.uc, UC_X86_REG_DR0 + i, &v);
		st->dr[i] = v;
	}
	if (fpu)
		read_fpu(&st->fpu);
	for (int i = 0; msr && i < X86_NMSR; i++) {
		if (!msr_modelled(i))
			continue;
		uc_x86_msr m = {.rid = x86_msr_numbers[i], .value = 0};
		uc_reg_read(unicorn_child.uc, UC_X86_REG_MSR, &m);
		st->msr[i] = m.value;
		unicorn_child.msr_loaded[i] = m.value;
	}
}

void unicorn_mark_unobserved(struct x86_state *u)
{
	memset(u, 0, sizeof(*u));
	u->cr8 = ~0ull;
	u->xcr0 = ~0ull;
	u->dr6 = ~0ull;
	u->dr7 = ~0ull;
	u->msr[X86_MSR_TSC] = ~0ull;
	u->msr[X86_MSR_APIC_BASE] = ~0ull;
	memset(&u->events, 0xff, sizeof(u->events));
	u->events.shadow = 0;
	u->events.halted = 0;
	u->fpu.fip = ~0ull;
	u->fpu.fdp = ~0ull;
	u->fpu.fop = 0xffff;
	for (int i = 0; i < 8; i++)
		memset(u->fpu.st[i] + 10, 0xff, 6);
}

/* Round-trips known values between the register API and the raw context. */
int unicorn_check_layout(char *msg, size_t len)
{
	static const int gprs[X86_NGPR] = {
	    UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX, UC_X86_REG_RSP, UC_X86_REG_RBP,
	    UC_X86_REG_RSI, UC_X86_REG_RDI, UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
	    UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15,
	};
	const char *bad = NULL;
	size_t off = 0;
	uint8_t *env = unicorn_child.env;

	if (uc_context_size(unicorn_child.uc) < CTX_DATA + ENV_MIN_SIZE) {
		snprintf(msg, len,
		         "libunicorn context is %zu bytes, expected at least %d; emudiff needs 2.0.1",
		         uc_context_size(unicorn_child.uc), CTX_DATA + ENV_MIN_SIZE);
		return -ENODEV;
	}
	for (int i = 0; i < X86_NGPR; i++) {
		uint64_t v = 0x1111111111111111ull * (uint64_t)(i + 1) + 0x0102030405ull;
		uc_reg_write(unicorn_child.uc, gprs[i], &v);
	}
	uint64_t rip = 0x123456789aull, cr2 = 0xabcdef012345ull, cr3 = 0x7654000ull, fsb = 0x5555aaaa0000ull,
	         gsb = 0x6666bbbb0000ull;
	uc_reg_write(unicorn_child.uc, UC_X86_REG_RIP, &rip);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_CR2, &cr2);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_CR3, &cr3);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_FS_BASE, &fsb);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_GS_BASE, &gsb);
	uc_x86_mmr ldt = {.selector = 0x28, .base = 0x12345000, .limit = 0x3ff, .flags = 0x8200};
	uc_x86_mmr tr = {.selector = 0x30, .base = 0x23456000, .limit = 0x67, .flags = 0x8b00};
	uc_x86_mmr gdt = {.selector = 0, .base = 0x34567000, .limit = 0x1ff, .flags = 0};
	uc_x86_mmr idt = {.selector = 0, .base = 0x45678000, .limit = 0x7ff, .flags = 0};
	uc_reg_write(unicorn_child.uc, UC_X86_REG_LDTR, &ldt);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_TR, &tr);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_GDTR, &gdt);
	uc_reg_write(unicorn_child.uc, UC_X86_REG_IDTR, &idt);
	uc_x86_msr efer = {.rid = 0xc0000080, .value = 0};
	uc_reg_read(unicorn_child.uc, UC_X86_REG_MSR, &efer);
	uc_context_save(unicorn_child.uc, unicorn_child.ctx);

	for (int i = 0; i < X86_NGPR && !bad; i++)
		if (get64(env + ENV_REGS + 8 * i) !=
		    0x1111111111111111ull * (uint64_t)(i + 1) + 0x0102030405ull)
			bad = "general registers", off = ENV_REGS + 8 * (size_t)i;
	if (!bad && get64(env + ENV_EIP) != rip)
		bad = "eip", off = ENV_EIP;
	if (!bad && (get32(env + ENV_HFLAGS) & (HF_LMA | HF_CS64 | HF_PE)) != (HF_LMA | HF_CS64 | HF_PE))
		bad = "hflags", off = ENV_HFLAGS;
	if (!bad && get64(env + ENV_SEGS + 4 * ENV_SEG_SIZE + SEGC_BASE) != fsb)
		bad = "segs[FS].base", off = ENV_SEGS + 4 * ENV_SEG_SIZE + SEGC_BASE;
	if (!bad && get64(env + ENV_SEGS + 5 * ENV_SEG_SIZE + SEGC_BASE) != gsb)
		bad = "segs[GS].base", off = ENV_SEGS + 5 * ENV_SEG_SIZE + SEGC_BASE;
	const struct {
		const char *name;
		size_t at;
		const uc_x86_mmr *m;
		bool full;
	} tabs[] = {
	    {"ldt", ENV_LDT, &ldt, true},
	    {"tr", ENV_TR, &tr, true},
	    {"gdt", ENV_GDT, &gdt, false},
	    {"idt", ENV_IDT, &idt, false},
	};
	for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]) && !bad; i++) {
		const uint8_t *p = env + tabs[i].at;
		if (get64(p + SEGC_BASE) != tabs[i].m->base || get32(p + SEGC_LIMIT) != tabs[i].m->limit ||
		    (tabs[i].full &&
		     (get32(p) != tabs[i].m->selector || get32(p + SEGC_FLAGS) != tabs[i].m->flags)))
			bad = tabs[i].name, off = tabs[i].at;
	}
	if (!bad && get64(env + ENV_CR + 16) != cr2)
		bad = "cr2", off = ENV_CR + 16;
	if (!bad && get64(env + ENV_CR + 24) != cr3)
		bad = "cr3", off = ENV_CR + 24;
	if (!bad && get32(env + ENV_OLD_EXCEPTION) != 0xffffffffu)
		bad = "old_exception", off = ENV_OLD_EXCEPTION;
	if (!bad && (get64(env + ENV_EFER) != efer.value || !(efer.value & X86_EFER_LMA)))
		bad = "efer", off = ENV_EFER;

	/* The other direction: raw pokes must read back through the API. */
	if (!bad) {
		put32(env + ENV_SEGS + X86_DS * ENV_SEG_SIZE, 0x1234);
		put64(env + ENV_CR + 32, X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_PGE);
		put64(env + ENV_CR + 0, X86_CR0_PE | X86_CR0_ET | X86_CR0_PG);
		uc_context_restore(unicorn_child.uc, unicorn_child.ctx);
		uint16_t ds = 0;
		uint64_t cr4 = 0, cr0 = 0;
		uc_reg_read(unicorn_child.uc, UC_X86_REG_DS, &ds);
		uc_reg_read(unicorn_child.uc, UC_X86_REG_CR4, &cr4);
		uc_reg_read(unicorn_child.uc, UC_X86_REG_CR0, &cr0);
		if (ds != 0x1234)
			bad = "segs[DS].selector", off = ENV_SEGS + X86_DS * ENV_SEG_SIZE;
		else if (cr4 != (X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_PGE))
			bad = "cr4", off = ENV_CR + 32;
		else if (cr0 != (X86_CR0_PE | X86_CR0_ET | X86_CR0_PG))
			bad = "cr0", off = ENV_CR;
	}
	if (bad) {
		snprintf(
		    msg, len,
		    "libunicorn raw context layout differs from 2.0.1 (%s at offset %zu); install Debian's "
		    "libunicorn-dev 2.0.1",
		    bad, off);
		return -ENODEV;
	}
	return 0;
}

/* Paging off in the engine (CR0.PG clear), for work that must not unicorn_walk the guest's page tables. */
void unicorn_paging_off(void)
{
	uc_context_save(unicorn_child.uc, unicorn_child.ctx);
	put64(unicorn_child.env + ENV_CR, get64(unicorn_child.env + ENV_CR) & ~X86_CR0_PG);
	uc_context_restore(unicorn_child.uc, unicorn_child.ctx);
}

/* The CPUX86State inside a saved context. */
uint8_t *unicorn_env(uc_context *ctx)
{
	return (uint8_t *)ctx + CTX_DATA;
}
