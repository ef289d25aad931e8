/* differ_compare: masks (undefined flags, unobserved bytes), memory and port
 * comparison, and classification of hand-built divergences for every class
 * of the built-in rules table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "differ.h"

struct fx {
	struct x86_state pre, exp;
	struct backend_result res;
	struct differ_input in;
	struct trace_write w[4];
	uint8_t wdata[4][16];
	struct trace_exit exit;
	struct trace_exit exits[4]; /* several exits of one step */
	uint8_t oldmem[16];         /* memory at 0x500 before the step */
};

struct tcase {
	const char *file;
	int line;
	const char *name;
	uint8_t insn[15];
	unsigned len;
	enum x86_mode mode;
	void (*setup)(struct fx *fx);
	int want; /* differ_compare's result */
	const char *cls;
	const char *detail; /* substring of the detail, or NULL */
	const char *field;  /* first differing field, or NULL */
};

static void seg_set(struct x86_segment *s, uint16_t sel, uint32_t type, unsigned dpl, bool db, bool l)
{
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffff;
	s->attr = type | X86_SEG_S | X86_SEG_P | (dpl << X86_SEG_DPL_SHIFT) | X86_SEG_G |
	          (db ? X86_SEG_DB : 0) | (l ? X86_SEG_L : 0);
}

static void base_state(struct x86_state *st, enum x86_mode mode)
{
	x86_state_real(st, 0x1000, 0x100, 0xfffe);
	if (mode == X86_MODE_REAL)
		return;
	st->cr0 |= X86_CR0_PE;
	if (mode == X86_MODE_V86) {
		st->rflags |= X86_RFLAGS_VM;
		return;
	}
	bool l = mode == X86_MODE_LONG64;
	seg_set(&st->seg[X86_CS], 0x08, 0xb, 0, !l, l);
	for (int i = X86_ES; i <= X86_GS; i++)
		if (i != X86_CS)
			seg_set(&st->seg[i], 0x10, 0x3, 0, true, false);
	st->rip = 0x1000;
	st->gpr[X86_RSP] = 0x8000;
	if (l || mode == X86_MODE_COMPAT) {
		st->cr0 |= X86_CR0_PG;
		st->cr4 |= X86_CR4_PAE;
		st->efer |= X86_EFER_LME | X86_EFER_LMA;
	}
}

static int read_old(void *arg, uint64_t gpa, void *buf, size_t len)
{
	struct fx *fx = arg;
	if (gpa < 0x500 || gpa + len > 0x510)
		return -1;
	memcpy(buf, fx->oldmem + (gpa - 0x500), len);
	return 0;
}

/* Setups: each changes the recorded and/or the backend side. */
static void s_none(struct fx *fx)
{
	(void)fx;
}
static void s_mul_af_masked(struct fx *fx)
{
	fx->in.undefined_rflags = X86_RFLAGS_SF | X86_RFLAGS_ZF | X86_RFLAGS_AF | X86_RFLAGS_PF;
	fx->res.post.rflags ^= X86_RFLAGS_AF;
}
static void s_af(struct fx *fx)
{
	fx->res.post.rflags ^= X86_RFLAGS_AF;
}
static void s_mul_cf(struct fx *fx)
{
	fx->in.undefined_rflags = X86_RFLAGS_SF | X86_RFLAGS_ZF | X86_RFLAGS_AF | X86_RFLAGS_PF;
	fx->res.post.rflags ^= X86_RFLAGS_CF | X86_RFLAGS_AF;
}
static void s_cr8_unobserved(struct fx *fx)
{
	fx->res.post.cr8 = 5;
	memset(&fx->res.unobserved.cr8, 0xff, sizeof(fx->res.unobserved.cr8));
}
static void s_rcx_rax_unobserved(struct fx *fx)
{
	fx->res.post.gpr[X86_RCX] = 7;
	fx->res.post.gpr[X86_RAX] = 9;
	memset(&fx->res.unobserved.gpr[X86_RAX], 0xff, 8);
}
static void s_unsupported(struct fx *fx)
{
	fx->res.outcome = BACKEND_UNSUPPORTED;
	snprintf(fx->res.reason, sizeof(fx->res.reason), "emu: opcode 0f 02 (lar) not implemented");
	memset(&fx->res.post, 0, sizeof(fx->res.post));
}
static void s_crash(struct fx *fx)
{
	fx->res.outcome = BACKEND_CRASH;
	snprintf(fx->res.reason, sizeof(fx->res.reason), "unicorn: tcg fatal error");
	memset(&fx->res.post, 0, sizeof(fx->res.post));
}
static void s_failed(struct fx *fx)
{
	fx->res.outcome = BACKEND_FAILED;
	snprintf(fx->res.reason, sizeof(fx->res.reason), "kvm: KVM_RUN: Bad address");
}
static void s_io_reason(struct fx *fx)
{
	fx->res.outcome = BACKEND_UNSUPPORTED;
	snprintf(fx->res.reason, sizeof(fx->res.reason), "io: no recorded IN for port 0x60");
}
static void s_shadow1(struct fx *fx)
{
	fx->exp.events.shadow = X86_SHADOW_MOV_SS;
	fx->res.post.events.shadow = X86_SHADOW_MOV_SS;
	fx->res.post.events.shadow = 0;
}
static void s_shadow_sti(struct fx *fx)
{
	fx->exp.rflags |= X86_RFLAGS_IF;
	fx->res.post.rflags |= X86_RFLAGS_IF;
	fx->exp.events.shadow = X86_SHADOW_STI;
}
static void s_shadow_kept(struct fx *fx)
{
	fx->pre.events.shadow = X86_SHADOW_MOV_SS;
	fx->res.post.events.shadow = X86_SHADOW_MOV_SS;
}
static void s_exc_vector(struct fx *fx)
{
	fx->exp.events.exc_pending = 1;
	fx->exp.events.exc_vector = 13;
	fx->res.post.events.exc_pending = 1;
	fx->res.post.events.exc_vector = 6;
}
static void s_exc_error(struct fx *fx)
{
	fx->exp.events.exc_pending = fx->res.post.events.exc_pending = 1;
	fx->exp.events.exc_vector = fx->res.post.events.exc_vector = 13;
	fx->exp.events.exc_has_error = fx->res.post.events.exc_has_error = 1;
	fx->exp.events.exc_error_code = 0x10;
	fx->res.post.events.exc_error_code = 0;
}
static void s_rip_off(struct fx *fx)
{
	fx->exp.rip = 0x4242;
	fx->res.post.rip = 0x4244;
}
static void s_nt(struct fx *fx)
{
	fx->pre.rflags |= X86_RFLAGS_NT;
	s_rip_off(fx);
}
static void s_to_v86(struct fx *fx)
{
	fx->exp.rflags |= X86_RFLAGS_VM;
	s_rip_off(fx);
}
static void ring3(struct x86_state *st)
{
	st->seg[X86_CS].selector = 0x1b;
	st->seg[X86_CS].attr |= 3u << X86_SEG_DPL_SHIFT;
	st->seg[X86_SS].selector = 0x23;
	st->seg[X86_SS].attr |= 3u << X86_SEG_DPL_SHIFT;
}
static void s_outer_ds(struct fx *fx)
{
	ring3(&fx->exp);
	ring3(&fx->res.post);
	fx->exp.seg[X86_DS].selector = 0;
	fx->exp.seg[X86_DS].attr = X86_SEG_UNUSABLE;
}
static void s_outer_ss(struct fx *fx)
{
	ring3(&fx->exp);
	ring3(&fx->res.post);
	fx->res.post.seg[X86_SS].base = 0x1000;
}
static void s_same_rsp(struct fx *fx)
{
	fx->res.post.gpr[X86_RSP] += 4;
}
static void s_ad_bits(struct fx *fx)
{
	fx->pre.cr0 |= X86_CR0_PG;
	fx->exp.cr0 |= X86_CR0_PG;
	fx->res.post.cr0 |= X86_CR0_PG;
	fx->wdata[0][0] = 0x67; /* PTE with A and D */
	fx->w[0] = (struct trace_write){0x2004, 1, fx->wdata[0]};
	fx->in.n_expected_writes = 1;
	fx->res.writes[0] = (struct backend_write){.gpa = 0x2004, .len = 1, .data = {0x27}};
	fx->res.n_writes = 1;
}
static void fault(struct x86_state *st)
{
	st->rip = 0x5000;
	st->gpr[X86_RSP] -= 12;
}
static void s_fault_exp(struct fx *fx)
{
	fault(&fx->exp);
}
static void s_fault_act(struct fx *fx)
{
	fault(&fx->res.post);
}
static void s_fault_both(struct fx *fx)
{
	fault(&fx->exp);
	fault(&fx->res.post);
	fx->res.post.rip = 0x6000;
}
static void s_shadow_trap(struct fx *fx)
{
	/* The recording delivered the single-step #DB right after MOV SS; the backend kept the shadow. */
	fault(&fx->exp);
	fx->res.post.events.shadow = 1;
}
static void s_iretq_outer_ds(struct fx *fx)
{
	/* IRETQ to ring 3: the backend nulled DS (DPL 0), the recording kept it. */
	ring3(&fx->exp);
	ring3(&fx->res.post);
	fx->res.post.seg[X86_DS].selector = 0;
	fx->res.post.seg[X86_DS].attr = X86_SEG_UNUSABLE;
}
static void s_vm_lost(struct fx *fx)
{
	fx->exp.rflags &= ~X86_RFLAGS_VM;
}
static void s_rep_mid(struct fx *fx)
{
	/* The recording stopped after one iteration: RIP stays on the instruction. */
	fx->exp.rip = fx->pre.rip;
	fx->exp.gpr[X86_RCX] = 5;
}
static void s_ran_past(struct fx *fx)
{
	/* The backend executed the instruction in the shadow too (silicon's single-step behaviour). */
	fx->res.post.rip += 3;
	fx->res.post.gpr[X86_RSP] = 0x7c00;
}
static void s_accessed(struct fx *fx)
{
	fx->exp.seg[X86_CS].attr |= 1;
	fx->res.post.seg[X86_CS].attr &= ~1u;
	fx->wdata[0][0] = 0x9b;
	fx->w[0] = (struct trace_write){0x812d, 1, fx->wdata[0]};
	fx->in.n_expected_writes = 1;
}
static void s_stayed(struct fx *fx)
{
	/* The recording's step only completed the previous instruction's MMIO store. */
	fx->exit =
	    (struct trace_exit){.reason = TRACE_EXIT_MMIO, .addr = 0xfeb00804, .size = 4, .is_write = 1};
	memcpy(fx->exit.data, "\x0d\xf0\xfe\xca", 4);
	fx->in.expected_exit = &fx->exit;
	fx->exp.rip = fx->pre.rip;
}
static void s_mmio_store_unrecorded(struct fx *fx)
{
	fx->exit = (struct trace_exit){.reason = TRACE_EXIT_MMIO, .addr = 0xfeb00804, .size = 4};
	fx->in.expected_exit = &fx->exit;
	fx->res.writes[0] =
	    (struct backend_write){.gpa = 0xfeb00804, .len = 4, .data = {0x0d, 0xf0, 0xfe, 0xca}};
	fx->res.n_writes = 1;
}
static void s_rf(struct fx *fx)
{
	fx->exp.rip = fx->pre.rip;
	fx->exp.rflags |= X86_RFLAGS_RF;
	fx->res.post.rip = fx->pre.rip;
}
static void s_tf(struct fx *fx)
{
	fx->res.post.rflags |= X86_RFLAGS_TF;
}
static void s_handler_step(struct fx *fx)
{
	/* #DE delivered to 0000:0500 on both sides; the recording also ran "inc word [0x7e11]" there. */
	memcpy(fx->oldmem, "\xff\x06\x11\x7e", 4);
	fx->in.read_pre_mem = read_old;
	fx->in.mem_arg = fx;
	for (struct x86_state *st = &fx->exp; st; st = st == &fx->exp ? &fx->res.post : NULL) {
		st->seg[X86_CS].selector = 0;
		st->seg[X86_CS].base = 0;
		st->rip = 0x500;
		st->gpr[X86_RSP] -= 6;
	}
	fx->exp.rip = 0x504;
}
static void s_handler_step_backend(struct fx *fx)
{
	/* The same, the other way round: the backend ran on into the handler, the recording stopped. */
	s_handler_step(fx);
	fx->exp.rip = 0x500;
	fx->res.post.rip = 0x504;
}
/* Guest memory with 4-level page tables: linear 0x8000-0x8fff maps to physical 0x9000. */
static uint8_t pmem[0x10000];
static int read_pmem(void *arg, uint64_t gpa, void *buf, size_t len)
{
	(void)arg;
	if (gpa + len > sizeof(pmem))
		return -1;
	memcpy(buf, pmem + gpa, len);
	return 0;
}
static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(pmem + gpa, &v, 8);
}
static void s_handler_step_paged(struct fx *fx)
{
	/* ret faults (#PF) to a handler at 0x8120 whose first instruction, pop qword [0x8320], the recording
	 * also ran; the handler's bytes are only found through the page tables (identity has a nop). */
	memset(pmem, 0x90, sizeof(pmem));
	put64(0x1000, 0x2003), put64(0x2000, 0x3003), put64(0x3000, 0x4003), put64(0x4000 + 8 * 8, 0x9003);
	memcpy(pmem + 0x9120, "\x8f\x04\x25\x20\x83\x00\x00", 7);
	for (struct x86_state *st = &fx->pre; st; st = st == &fx->pre   ? &fx->exp
	                                               : st == &fx->exp ? &fx->res.post
	                                                                : NULL)
		st->cr3 = 0x1000;
	fx->in.read_pre_mem = read_pmem;
	fx->exp.rip = 0x8127;
	fx->exp.gpr[X86_RSP] = 0x7bd8;
	fx->res.post.rip = 0x8120;
	fx->res.post.gpr[X86_RSP] = 0x7bd0;
}
/* Real mode: the IVT in pmem sends #GP (vector 13) to 0000:0600; the stack starts at 0x7bf4. */
static void ivt_gp(struct fx *fx)
{
	memset(pmem, 0, sizeof(pmem));
	memcpy(pmem + 13 * 4, "\x00\x06\x00\x00", 4);
	fx->in.read_pre_mem = read_pmem;
	fx->pre.gpr[X86_RSP] = fx->exp.gpr[X86_RSP] = fx->res.post.gpr[X86_RSP] = 0x7bf4;
}
static void took_gp(struct x86_state *st)
{
	st->seg[X86_CS].selector = 0;
	st->seg[X86_CS].base = 0;
	st->rip = 0x600;
	st->gpr[X86_RSP] = 0x7bee;
}
static void returned(struct x86_state *st, uint64_t rip)
{
	st->seg[X86_CS].selector = 0;
	st->seg[X86_CS].base = 0;
	st->rip = rip;
	st->gpr[X86_RSP] = 0x7c00;
}
static void s_iret_fault_exp(struct fx *fx)
{
	ivt_gp(fx);
	took_gp(&fx->exp);
	returned(&fx->res.post, 0x12345);
}
static void s_iret_fault_act(struct fx *fx)
{
	ivt_gp(fx);
	returned(&fx->exp, 0x7e00);
	took_gp(&fx->res.post);
}
static void s_iret_to_handler_entry(struct fx *fx)
{
	/* Both returned (the stack went up), the recording to an address that is also the #GP handler's. */
	ivt_gp(fx);
	returned(&fx->exp, 0x600);
	returned(&fx->res.post, 0x604);
}
/* Protected or long mode: the IDT at linear 0x800 sends #GP to 0x08:handler through an interrupt gate. */
static void idt_gp(struct fx *fx, bool long_mode, uint64_t handler)
{
	uint8_t g[16] = {(uint8_t)handler,         (uint8_t)(handler >> 8), 0x08, 0, 0, 0x8e,
	                 (uint8_t)(handler >> 16), (uint8_t)(handler >> 24)};
	for (int i = 0; i < 4; i++)
		g[8 + i] = (uint8_t)(handler >> (32 + 8 * i));
	memset(pmem, 0, sizeof(pmem));
	put64(0x1000, 0x2003), put64(0x2000, 0x3003), put64(0x3000, 0x4003), put64(0x4000, 0x0003);
	memcpy(pmem + 0x800 + 13 * (long_mode ? 16 : 8), g, long_mode ? 16 : 8);
	fx->in.read_pre_mem = read_pmem;
	for (struct x86_state *st = &fx->pre; st; st = st == &fx->pre   ? &fx->exp
	                                               : st == &fx->exp ? &fx->res.post
	                                                                : NULL) {
		st->idtr.base = 0x800;
		st->idtr.limit = long_mode ? 0xfff : 0x7ff;
		st->cr3 = 0x1000;
	}
	fx->exp.rip = handler;
	fx->exp.gpr[X86_RSP] -= long_mode ? 48 : 12;
	fx->res.post.rip = 0x5000; /* the far jump's target */
}
static void s_ljmp_fault_exp(struct fx *fx)
{
	idt_gp(fx, false, 0x402000);
}
static void s_ljmp_fault_exp_long(struct fx *fx)
{
	idt_gp(fx, true, 0x100402000ull);
}
static void s_cr2(struct fx *fx)
{
	fx->exp.cr2 = 0x400000;
	fx->res.post.cr2 = 0x400004;
}
static void s_out_value(struct fx *fx)
{
	fx->exit =
	    (struct trace_exit){.reason = TRACE_EXIT_IO, .addr = 0x3f8, .size = 1, .is_write = 1, .count = 1};
	fx->exit.data[0] = 0x41;
	fx->in.expected_exit = &fx->exit;
	fx->res.ports[0] = (struct backend_port){.port = 0x3f8, .size = 1, .is_out = true, .value = 0x42};
	fx->res.n_ports = 1;
}
static void s_out_same(struct fx *fx)
{
	s_out_value(fx);
	fx->res.ports[0].value = 0x41;
}
static void s_out_missing(struct fx *fx)
{
	s_out_value(fx);
	fx->res.n_ports = 0;
}
static void s_rcx(struct fx *fx)
{
	fx->res.post.gpr[X86_RCX] = 3;
}
static void s_rsi(struct fx *fx)
{
	fx->res.post.gpr[X86_RSI] = 0x77;
}
static void s_rax(struct fx *fx)
{
	fx->res.post.gpr[X86_RAX] = 0x1234;
}
static void s_rdx(struct fx *fx)
{
	fx->res.post.gpr[X86_RDX] = 0x1234;
}
static void s_star(struct fx *fx)
{
	fx->res.post.msr[X86_MSR_STAR] = 0x1234;
}
static void s_cpuid(struct fx *fx)
{
	fx->pre.gpr[X86_RAX] = 1;
	fx->res.post.gpr[X86_RBX] = 0x800;
}
static void s_ds_base(struct fx *fx)
{
	fx->res.post.seg[X86_DS].base = 0x100;
}
static void s_es_attr(struct fx *fx)
{
	fx->res.post.seg[X86_ES].limit = 0xffff;
}
static void s_gdtr(struct fx *fx)
{
	fx->exp.gdtr.base = 0x9000;
	fx->res.post.gdtr.base = 0x9001;
}
static void s_cr0(struct fx *fx)
{
	fx->exp.cr0 |= X86_CR0_PE;
}
static void s_dr7(struct fx *fx)
{
	fx->res.post.dr7 = 0x401;
}
static void s_halted(struct fx *fx)
{
	fx->exp.events.halted = 1;
}
/* The recording's own artefacts: the same differences under KVM's emulator as the reference. */
static void s_ref_halt(struct fx *fx)
{
	fx->res.post.events.halted = 1;
	fx->in.reference = "kvm-emulator";
}
static void s_ref_tf(struct fx *fx)
{
	s_tf(fx);
	fx->in.reference = "kvm-emulator";
}
static void s_ref_rep_unretired(struct fx *fx)
{
	/* The recording ran the last iteration but left RIP (and RF) on the instruction; the backend retired
	 * it. */
	fx->pre.gpr[X86_RCX] = 0x10001;
	fx->exp.rip = fx->pre.rip;
	fx->exp.rflags |= X86_RFLAGS_RF;
	fx->exp.gpr[X86_RCX] = 0x10000;
	fx->res.post.gpr[X86_RCX] = 0x10000;
	fx->in.reference = "kvm-emulator";
}
static void s_rep_count_left(struct fx *fx)
{
	/* As above, but the recording's count is not at 0: a real difference. */
	s_ref_rep_unretired(fx);
	fx->exp.gpr[X86_RCX] = 0x10001;
	fx->res.post.gpr[X86_RCX] = 0x10001;
}
static void s_ref_insb_ahead(struct fx *fx)
{
	s_ref_rep_unretired(fx);
	fx->res.ports[0] = (struct backend_port){.port = 0x3fd, .size = 1, .value = 0x60};
	fx->res.n_ports = 1;
}
/* The recording stored 04 at 0x6f87 where the backend stored 00. */
static void last_byte_apart(struct fx *fx)
{
	fx->wdata[0][0] = 0x04;
	fx->w[0] = (struct trace_write){0x6f87, 1, fx->wdata[0]};
	fx->in.n_expected_writes = 1;
	fx->res.writes[0] = (struct backend_write){.gpa = 0x6f87, .len = 1, .data = {0x00}};
	fx->res.n_writes = 1;
}
static void s_ref_insb_ahead_stored(struct fx *fx)
{
	/* The byte the last iteration stores is what KVM read ahead; the backend's read got another. */
	s_ref_insb_ahead(fx);
	last_byte_apart(fx);
}
static void s_movsb_unretired_stored(struct fx *fx)
{
	/* A MOVSB stores what it loads: a different byte is a real difference, not the read-ahead. */
	s_ref_rep_unretired(fx);
	last_byte_apart(fx);
}
static void s_ref_iretq_outer(struct fx *fx)
{
	s_iretq_outer_ds(fx);
	fx->in.reference = "kvm-emulator";
}
static void s_ref_ring3_ss(struct fx *fx)
{
	ring3(&fx->pre);
	ring3(&fx->exp);
	ring3(&fx->res.post);
	fx->in.cpl = 3;
	fx->exp.seg[X86_SS].attr = 0;
	fx->in.reference = "kvm-emulator";
}
static void s_ref_gate_ud(struct fx *fx)
{
	/* A far call through a gate at CPL 3: the recording went to a CPL 0 handler, the backend elsewhere.
	 */
	ring3(&fx->pre);
	fx->in.cpl = 3;
	fx->exp.rip = 0x7e71;
	fx->res.post.rip = 0x7f99;
	fx->in.reference = "kvm-emulator";
}
static void s_ref_v86_lost(struct fx *fx)
{
	s_vm_lost(fx);
	fx->in.reference = "kvm-emulator";
}
static void s_ref_v86_state(struct fx *fx)
{
	/* Virtual-8086 segments without VM (the recording dropped it earlier): int n goes elsewhere. */
	for (int i = X86_ES; i <= X86_GS; i++) {
		fx->pre.seg[i].selector = 0x700;
		fx->pre.seg[i].base = 0x7000;
		fx->pre.seg[i].limit = 0xffff;
	}
	fx->pre.seg[X86_CS].attr |= 3u << X86_SEG_DPL_SHIFT;
	fx->in.cpl = 3;
	fx->exp.rip = 0x7e85;
	fx->res.post.rip = 0x7d98;
	fx->in.reference = "kvm-emulator";
}
static void s_st0_last_bit(struct fx *fx)
{
	/* sin(x) rounded up by one side: the significand's last bit and C1 (round-up) differ. */
	memcpy(fx->exp.fpu.st[0], "\x35\xc2\x68\x21\xa2\xda\x0f\xc9\xfe\x3f", 10);
	memcpy(fx->res.post.fpu.st[0], "\x36\xc2\x68\x21\xa2\xda\x0f\xc9\xfe\x3f", 10);
	fx->res.post.fpu.fsw |= 0x200;
}
static void s_st0_two_bits(struct fx *fx)
{
	s_st0_last_bit(fx);
	fx->res.post.fpu.st[0][0] = 0x37;
}
static void s_tcg_rf(struct fx *fx)
{
	/* Between iterations: the backend sets RF, QEMU's TCG recorded it clear. */
	fx->exp.rip = fx->pre.rip;
	fx->exp.gpr[X86_RCX] = 5;
	fx->res.post.rip = fx->pre.rip;
	fx->res.post.gpr[X86_RCX] = 5;
	fx->res.post.rflags |= X86_RFLAGS_RF;
	fx->in.reference = "qemu-tcg";
}
static void s_tcg_fip(struct fx *fx)
{
	fx->res.post.fpu.fip = 0x7c2c;
	fx->res.post.fpu.fsw |= 0x200;
	fx->in.reference = "qemu-tcg";
}
static void s_tcg_fsw_pe(struct fx *fx)
{
	/* Another FSW bit is no artefact of TCG's. */
	s_tcg_fip(fx);
	fx->res.post.fpu.fsw |= 0x20;
}
static void s_short(struct fx *fx)
{
	fx->res.post.rip = fx->pre.rip + 1;
}
static void s_jmp(struct fx *fx)
{
	fx->exp.rip = fx->pre.rip + 0x12;
	fx->res.post.rip = fx->pre.rip + 0x14;
}
static void s_xmm3_hi(struct fx *fx)
{
	fx->res.post.fpu.xmm[3][12] = 1;
}
static void s_st0_reserved(struct fx *fx)
{
	fx->res.post.fpu.st[0][12] = 0xaa;
}
static void s_store(struct fx *fx)
{
	memcpy(fx->wdata[0], "\x11\x22\x33\x44", 4);
	fx->w[0] = (struct trace_write){0x500, 4, fx->wdata[0]};
	fx->in.n_expected_writes = 1;
	fx->res.writes[0] = (struct backend_write){.gpa = 0x500, .len = 4, .data = {0x11, 0x22, 0x34, 0x44}};
	fx->res.n_writes = 1;
}
static void s_store_missing(struct fx *fx)
{
	s_store(fx);
	fx->res.n_writes = 0;
}
static void s_store_same_as_old(struct fx *fx)
{
	/* The backend reports a store of the value already there; the recording lists no write. */
	memcpy(fx->oldmem, "\xaa\xbb", 2);
	fx->in.read_pre_mem = read_old;
	fx->in.mem_arg = fx;
	fx->res.writes[0] = (struct backend_write){.gpa = 0x500, .len = 2, .data = {0xaa, 0xbb}};
	fx->res.n_writes = 1;
}
static void s_store_new_value(struct fx *fx)
{
	s_store_same_as_old(fx);
	fx->res.writes[0].data[1] = 0xbc;
}
static void s_mmio_write(struct fx *fx)
{
	fx->exit =
	    (struct trace_exit){.reason = TRACE_EXIT_MMIO, .addr = 0xfee000b0, .size = 4, .is_write = 1};
	fx->in.expected_exit = &fx->exit;
	fx->res.writes[0] = (struct backend_write){.gpa = 0xfee000b0, .len = 4};
	fx->res.n_writes = 1;
}
static void s_xchg_mmio(struct fx *fx)
{
	/* xchg [0xfeb00804], eax: an MMIO read then an MMIO write of 0xcafef00d in the same step. */
	fx->exits[0] = (struct trace_exit){.reason = TRACE_EXIT_MMIO, .addr = 0xfeb00804, .size = 4};
	memcpy(fx->exits[0].data, "\x11\x22\x33\x44", 4);
	fx->exits[1] =
	    (struct trace_exit){.reason = TRACE_EXIT_MMIO, .addr = 0xfeb00804, .size = 4, .is_write = 1};
	memcpy(fx->exits[1].data, "\x0d\xf0\xfe\xca", 4);
	fx->in.expected_exit = &fx->exits[0];
	fx->in.expected_exits = fx->exits;
	fx->in.n_expected_exits = 2;
	fx->res.writes[0] =
	    (struct backend_write){.gpa = 0xfeb00804, .len = 4, .data = {0x0d, 0xf0, 0xfe, 0xca}};
	fx->res.n_writes = 1;
}
static void s_xchg_mmio_value(struct fx *fx)
{
	s_xchg_mmio(fx);
	fx->res.writes[0].data[0] = 0x0e;
}
static void s_outs_two(struct fx *fx)
{
	for (int i = 0; i < 2; i++) {
		fx->exits[i] = (struct trace_exit){
		    .reason = TRACE_EXIT_IO, .addr = 0x3f8, .size = 1, .is_write = 1, .count = 1};
		fx->exits[i].data[0] = (uint8_t)(0x41 + i);
		fx->res.ports[i] =
		    (struct backend_port){.port = 0x3f8, .size = 1, .is_out = true, .value = 0x41u + i};
	}
	fx->in.expected_exit = &fx->exits[0];
	fx->in.expected_exits = fx->exits;
	fx->in.n_expected_exits = 2;
	fx->res.n_ports = 2;
}
static void s_outs_second_value(struct fx *fx)
{
	s_outs_two(fx);
	fx->res.ports[1].value = 0x43;
}
static void s_outs_second_missing(struct fx *fx)
{
	s_outs_two(fx);
	fx->res.n_ports = 1;
}
static void s_alu(struct fx *fx)
{
	fx->res.post.gpr[X86_RAX] = 5;
	fx->res.post.rflags ^= X86_RFLAGS_ZF;
}
static void s_mixed(struct fx *fx)
{
	fx->res.post.gpr[X86_RAX] = 5;
	fx->res.post.seg[X86_ES].attr ^= 1;
}

#define R(...)                                                                                               \
	{                                                                                                    \
		__FILE__, __LINE__, __VA_ARGS__                                                              \
	}
#define RM  X86_MODE_REAL
#define P32 X86_MODE_PROT32
#define L64 X86_MODE_LONG64

static const struct tcase cases[] = {
    /* masks */
    R("identical", {0x90}, 1, P32, s_none, 0, NULL, NULL, NULL),
    R("mul: undefined AF masked", {0xf7, 0xe1}, 2, P32, s_mul_af_masked, 0, NULL, NULL, NULL),
    R("add: AF is defined, not masked", {0x01, 0xc8}, 2, P32, s_af, 1, "flags.defined", "AF differ",
      "rflags"),
    R("mul: CF is defined even with the undefined mask", {0xf7, 0xe1}, 2, P32, s_mul_cf, 1, "flags.defined",
      "CF differ", "rflags"),
    R("unobserved cr8 masked", {0x90}, 1, P32, s_cr8_unobserved, 0, NULL, NULL, NULL),
    R("unobserved rax masked, rcx not", {0x90}, 1, P32, s_rcx_rax_unobserved, 1, "result.gpr", "rcx", "rcx"),
    R("st0 reserved bytes ignored", {0x90}, 1, P32, s_st0_reserved, 0, NULL, NULL, NULL),
    R("store of the value already in memory", {0x89, 0x03}, 2, P32, s_store_same_as_old, 0, NULL, NULL, NULL),
    R("OUT with the recorded value", {0xee}, 1, P32, s_out_same, 0, NULL, NULL, NULL),
    R("MMIO store reported as a write", {0x89, 0x03}, 2, P32, s_mmio_write, 0, NULL, NULL, NULL),
    /* outcomes */
    R("unsupported", {0x0f, 0x02, 0xc0}, 3, P32, s_unsupported, 1, "backend.unsupported",
      "lar) not implemented", NULL),
    R("crash", {0x90}, 1, P32, s_crash, 1, "backend.crash", "tcg fatal error", NULL),
    R("failed", {0x90}, 1, P32, s_failed, 1, "backend.failed", "KVM_RUN", NULL),
    R("missing input", {0xe4, 0x60}, 2, RM, s_io_reason, 1, "io", "no recorded IN", NULL),
    /* shadow */
    R("mov ss shadow", {0x8e, 0xd0}, 2, RM, s_shadow1, 1, "shadow.mov_ss", "MOV SS/POP SS interrupt shadow",
      "events.shadow"),
    R("pop ss shadow", {0x17}, 1, RM, s_shadow1, 1, "shadow.mov_ss", "expected 0x1, got 0", "events.shadow"),
    R("sti shadow", {0xfb}, 1, RM, s_shadow_sti, 1, "shadow.sti", "STI interrupt shadow", "events.shadow"),
    R("shadow not ended", {0x90}, 1, RM, s_shadow_kept, 1, "shadow.mov_ss", "not ended by nop",
      "events.shadow"),
    /* exceptions */
    R("exception vector", {0x8e, 0xd8}, 2, P32, s_exc_vector, 1, "exception.vector", "expected 0xd, got 0x6",
      "events.exc_vector"),
    R("error code", {0x8e, 0xd8}, 2, P32, s_exc_error, 1, "exception.error_code", "expected 0x10, got 0",
      "events.exc_error_code"),
    /* iret */
    R("iret real", {0xcf}, 1, RM, s_rip_off, 1, "iret.real", "real-mode iret", "rip"),
    R("iretd faulted in the recording only", {0x66, 0xcf}, 2, RM, s_iret_fault_exp, 1, "exception.missing",
      "the recording left iretd for an exception handler at 0x600; the backend went on to 0x12345", "rsp"),
    R("iretd faulted in the backend only", {0x66, 0xcf}, 2, RM, s_iret_fault_act, 1, "exception.spurious",
      "the backend left iretd for an exception handler at 0x600; the recording went on to 0x7e00", "rsp"),
    R("iret returning to a handler's address is no fault", {0xcf}, 1, RM, s_iret_to_handler_entry, 1,
      "iret.real", "real-mode iret", "rip"),
    R("ljmp faulted in the recording only (32-bit gate)", {0xea, 0, 0x50, 0, 0, 0x08, 0}, 7, P32,
      s_ljmp_fault_exp, 1, "exception.missing",
      "the recording left ljmp 8:0x5000 for an exception handler at 0x402000", "rsp"),
    R("ljmp faulted in the recording only (64-bit gate)", {0xff, 0x2b}, 2, L64, s_ljmp_fault_exp_long, 1,
      "exception.missing", "for an exception handler at 0x100402000", "rsp"),
    R("iret v86", {0xcf}, 1, X86_MODE_V86, s_rip_off, 1, "iret.v86", "virtual-8086", "rip"),
    R("iret task", {0xcf}, 1, P32, s_nt, 1, "iret.task", "NT set", "rip"),
    R("iret to v86", {0xcf}, 1, P32, s_to_v86, 1, "iret.v86", "to virtual-8086", "rip"),
    R("iretq", {0x48, 0xcf}, 2, L64, s_rip_off, 1, "iret.long", "iretq", "rip"),
    R("iret to ring 3, DS kept", {0xcf}, 1, P32, s_outer_ds, 1, "iret.pm_outer",
      "DS not nulled on return to CPL 3 (expected 0, got 0x10)", "ds.sel"),
    R("iret to ring 3, SS base", {0xcf}, 1, P32, s_outer_ss, 1, "iret.pm_outer", "outer stack wrong",
      "ss.base"),
    R("iret same ring", {0xcf}, 1, P32, s_same_rsp, 1, "iret.pm_same", "at CPL 0", "rsp"),
    /* other transfers */
    R("int real", {0xcd, 0x10}, 2, RM, s_rip_off, 1, "int.real", "int 0x10", "rip"),
    R("int prot", {0xcd, 0x80}, 2, P32, s_rip_off, 1, "int.prot", "int 0x80", "rip"),
    R("int long", {0xcd, 0x80}, 2, L64, s_rip_off, 1, "int.long", "int 0x80", "rip"),
    R("far call", {0x9a, 0, 0x10, 0, 0, 0x08, 0}, 7, P32, s_rip_off, 1, "far.call", "lcall", "rip"),
    R("far jmp", {0xea, 0, 0x10, 0, 0, 0x08, 0}, 7, P32, s_rip_off, 1, "far.jmp", "ljmp", "rip"),
    R("far ret", {0xcb}, 1, P32, s_rip_off, 1, "far.ret", "retf", "rip"),
    R("syscall", {0x0f, 0x05}, 2, L64, s_rip_off, 1, "sys.fast", "syscall", "rip"),
    /* paging */
    R("A/D bits", {0x8b, 0x03}, 2, P32, s_ad_bits, 1, "paging.ad_bits", "expected 0x67, got 0x27",
      "mem[0x2004]"),
    R("handler's first instruction in the same step, paging on", {0xc3}, 1, L64, s_handler_step_paged, 1,
      "step.boundary", "the recording went on past 0x8120 to 0x8127 in this step (after ret)", "rsp"),
    R("cr2", {0x8b, 0x03}, 2, P32, s_cr2, 1, "paging.fault", "CR2 expected 0x400000, got 0x400004", "cr2"),
    /* events on one side */
    R("fault in the recording only", {0x8b, 0x03}, 2, P32, s_fault_exp, 1, "exception.missing",
      "the recording left mov eax, dword ptr [ebx] for 0x5000 (an exception); the backend went on to 0x1002",
      "rsp"),
    R("fault in the backend only", {0x8b, 0x03}, 2, P32, s_fault_act, 1, "exception.spurious",
      "the backend left mov eax, dword ptr [ebx] for 0x5000", "rsp"),
    R("rep movsb stopped between iterations is no fault", {0xf3, 0xa4}, 2, RM, s_rep_mid, 1, "string.rep",
      "REP count after rep movsb", "rcx"),
    R("faults to different handlers", {0x8b, 0x03}, 2, P32, s_fault_both, 1, "exception.vector",
      "recorded 0x5000, backend 0x6000", "rip"),
    R("mov ss: backend ran the shadowed instruction", {0x8e, 0xd0}, 2, RM, s_ran_past, 1, "shadow.mov_ss",
      "the backend ran past mov ss, ax to 0x105", "rsp"),
    R("mov ss: the recording took an event at once", {0x8e, 0xd0}, 2, RM, s_shadow_trap, 1,
      "shadow.mov_ss_trap", "the recording left mov ss, ax for 0x5000 right after it", "rsp"),
    R("iretq to ring 3, DS kept by the recording", {0x48, 0xcf}, 2, L64, s_iretq_outer_ds, 1,
      "iret.long_outer", "DS after iretq to CPL 3: ds.sel recorded 0x10, backend 0", "ds.sel"),
    R("v86: VM dropped by the recording", {0x90}, 1, X86_MODE_V86, s_vm_lost, 1, "v86.vm_lost",
      "EFLAGS.VM differs after nop in virtual-8086 mode", "rflags"),
    R("far jmp: accessed bit", {0x66, 0xea, 0x41, 0x80, 0, 0, 0x08, 0}, 8, X86_MODE_PROT16, s_accessed, 1,
      "segment.accessed", "cs.attr expected 0xc09b, got 0xc09a", "cs.attr"),
    R("recording stayed at an exit", {0x3d, 0x77, 0x66, 0x55, 0x44}, 5, P32, s_stayed, 1, "io",
      "the recording stayed on cmp eax, 0x44556677 at an exit", "rip"),
    R("MMIO store the recording lists as an exit", {0x87, 0x05, 0x04, 0x08, 0xb0, 0xfe}, 6, P32,
      s_mmio_store_unrecorded, 1, "io", "MMIO access at mem[0xfeb00804]", "mem[0xfeb00804]"),
    R("xchg with MMIO: read and write exits of one step", {0x87, 0x05, 0x04, 0x08, 0xb0, 0xfe}, 6, P32,
      s_xchg_mmio, 0, NULL, NULL, NULL),
    R("xchg with MMIO: the second exit's store differs", {0x87, 0x05, 0x04, 0x08, 0xb0, 0xfe}, 6, P32,
      s_xchg_mmio_value, 1, "io", "recorded 0xd, backend 0xe", "mem[0xfeb00804]"),
    R("two OUTs in one step, both alike", {0xf3, 0x6e}, 2, RM, s_outs_two, 0, NULL, NULL, NULL),
    R("two OUTs in one step, the second value differs", {0xf3, 0x6e}, 2, RM, s_outs_second_value, 1, "io",
      "port.value after rep outsb dx, byte ptr [si]: expected 0x42, got 0x43", "port.value"),
    R("two OUTs in one step, the backend made one", {0xf3, 0x6e}, 2, RM, s_outs_second_missing, 1, "io",
      "expected 0x3f8, got none", "port.addr"),
    R("rep outsb: RF", {0xf3, 0x6e}, 2, RM, s_rf, 1, "string.rep", "RF differ after rep outsb", "rflags"),
    R("popf: TF", {0x9d}, 1, RM, s_tf, 1, "flags.tf", "TF differs after popf: expected 0x2, got 0x102",
      "rflags"),
    R("handler's first instruction in the same step", {0xf6, 0xf3}, 2, RM, s_handler_step, 1, "step.boundary",
      "the recording went on past 0x500 to 0x504 in this step (after div bl)", "rip"),
    R("the backend ran on into the handler", {0xf6, 0xf3}, 2, RM, s_handler_step_backend, 1, "step.overrun",
      "the backend went on past 0x500 to 0x504 in this step (after div bl)", "rip"),
    /* io, string, msr, cpuid */
    R("out value", {0xee}, 1, P32, s_out_value, 1, "io",
      "port.value after out dx, al: expected 0x41, got 0x42", "port.value"),
    R("out missing", {0xee}, 1, P32, s_out_missing, 1, "io", "got none", "port.addr"),
    R("in result", {0xe4, 0x60}, 2, RM, s_rax, 1, "io", "rax differ after in al, 0x60", "rax"),
    R("rep movsb count", {0xf3, 0xa4}, 2, RM, s_rcx, 1, "string.rep", "REP count after rep movsb", "rcx"),
    R("movsb rsi", {0xa4}, 1, RM, s_rsi, 1, "string.rep", "rsi differ after movsb", "rsi"),
    R("rep stosq count", {0xf3, 0x48, 0xab}, 3, L64, s_rcx, 1, "string.rep", "rep stosq", "rcx"),
    R("rdmsr", {0x0f, 0x32}, 2, P32, s_rdx, 1, "msr", "rdx differ after rdmsr", "rdx"),
    R("msr field", {0x90}, 1, P32, s_star, 1, "msr", "msr.star after nop", "msr.star"),
    R("cpuid", {0x0f, 0xa2}, 2, P32, s_cpuid, 1, "cpuid", "CPUID leaf 0x1", "rbx"),
    /* segments and system registers */
    R("mov ds", {0x8e, 0xd8}, 2, P32, s_ds_base, 1, "segment.load", "DS load by mov ds, eax", "ds.base"),
    R("es cache", {0x90}, 1, P32, s_es_attr, 1, "segment.cache", "ES descriptor cache differs", "es.limit"),
    R("lgdt", {0x0f, 0x01, 0x10}, 3, P32, s_gdtr, 1, "sysreg.dtable", "gdtr.base", "gdtr.base"),
    R("mov cr0", {0x0f, 0x22, 0xc0}, 3, RM, s_cr0, 1, "sysreg.cr", "cr0 after mov cr0, eax", "cr0"),
    R("dr7", {0x0f, 0x23, 0xf8}, 3, P32, s_dr7, 1, "sysreg.dr", "dr7", "dr7"),
    R("hlt", {0xf4}, 1, P32, s_halted, 1, "halt", "events.halted", "events.halted"),
    R("fsin: last bit", {0xd9, 0xfe}, 2, P32, s_st0_last_bit, 1, "x87.transcendental", "last bit of st0",
      "st0"),
    R("fsin: two ulps apart", {0xd9, 0xfe}, 2, P32, s_st0_two_bits, 1, "fpu", NULL, "st0"),
    R("fadd: last bit is not excused", {0xd8, 0xc1}, 2, P32, s_st0_last_bit, 1, "fpu", NULL, "st0"),
    R("RF between REP iterations, TCG's recording", {0xf3, 0xa4}, 2, RM, s_tcg_rf, 1, "ref.tcg_rf",
      "keeps RF clear", "rflags"),
    R("x87 pointers, TCG's recording", {0xd8, 0xc1}, 2, P32, s_tcg_fip, 1, "ref.tcg_fpu", "keeps no x87",
      "fpu.fip"),
    R("x87 PE flag, TCG's recording: fpu", {0xd8, 0xc1}, 2, P32, s_tcg_fsw_pe, 1, "fpu", NULL, "fpu.fip"),
    R("hlt not halted by KVM's single-step", {0xf4}, 1, P32, s_ref_halt, 1, "ref.halt", "not halted",
      "events.halted"),
    R("TF hidden by KVM's single-step", {0x9d}, 1, RM, s_ref_tf, 1, "ref.tf", "hides the guest's own TF",
      "rflags"),
    R("rep movsb unretired at count 0", {0xf3, 0xa4}, 2, RM, s_ref_rep_unretired, 1, "ref.rep_unretired",
      "at 0 and RIP still on it", "rip"),
    R("rep movsb left with a count: not the artefact", {0xf3, 0xa4}, 2, RM, s_rep_count_left, 1, "string.rep",
      NULL, "rip"),
    R("rep insb unretired, its port read ahead", {0xf3, 0x6c}, 2, RM, s_ref_insb_ahead, 1,
      "ref.rep_unretired", "read this port ahead", "rip"),
    R("rep insb unretired, storing another byte than the one read ahead", {0xf3, 0x6c}, 2, RM,
      s_ref_insb_ahead_stored, 1, "ref.rep_unretired", "(and so the last bytes stored)", "rip"),
    R("rep movsb unretired, storing another byte: not the artefact", {0xf3, 0xa4}, 2, RM,
      s_movsb_unretired_stored, 1, "string.rep", NULL, "rip"),
    R("iretq to ring 3 run by PVM", {0x48, 0xcf}, 2, L64, s_ref_iretq_outer, 1, "ref.pvm_iret_outer",
      "PVM ran iretq to CPL 3 itself", "ds.sel"),
    R("SS attributes after PVM's ring 3", {0x90}, 1, L64, s_ref_ring3_ss, 1, "ref.pvm_ring3",
      "after running ring-3 code natively", "ss.attr"),
    R("call gate at CPL 3 under KVM's emulator", {0x9a, 0, 0, 0, 0, 0x53, 0}, 7, P32, s_ref_gate_ud, 1,
      "ref.gate_ud", "does not take a call gate at CPL 3", "rip"),
    R("v86: VM dropped by KVM", {0x90}, 1, X86_MODE_V86, s_ref_v86_lost, 1, "ref.v86_vm_lost",
      "does not keep EFLAGS.VM", "rflags"),
    R("v86 code recorded without VM", {0xcd, 0x41}, 2, X86_MODE_PROT16, s_ref_v86_state, 1, "ref.v86_vm_lost",
      "lacks EFLAGS.VM", "rip"),
    /* flags */
    R("mul AF unmasked", {0xf7, 0xe1}, 2, P32, s_af, 1, "flags.undefined", "AF differ; undefined after mul",
      "rflags"),
    R("and AF", {0x21, 0xc8}, 2, P32, s_af, 1, "flags.undefined", "undefined after and", "rflags"),
    /* single-field classes */
    R("decode length", {0x66, 0x90}, 2, P32, s_short, 1, "decode.length",
      "RIP advanced by 1 bytes, the instruction nop is 2 bytes", "rip"),
    R("jmp target", {0xeb, 0x10}, 2, P32, s_jmp, 1, "branch.target", "expected 0x1012, got 0x1014", "rip"),
    R("xmm3 high half", {0x90}, 1, P32, s_xmm3_hi, 1, "fpu", "xmm3.hi", "xmm3.hi"),
    R("store value", {0x89, 0x03}, 2, P32, s_store, 1, "memory.write",
      "at mem[0x502]: expected 0x33, got 0x34", "mem[0x502]"),
    R("store missing", {0x89, 0x03}, 2, P32, s_store_missing, 1, "memory.write",
      "expected 0x44332211, got none", "mem[0x500]"),
    R("store of a new value, not recorded", {0x89, 0x03}, 2, P32, s_store_new_value, 1, "memory.write",
      "expected none, got 0xbc", "mem[0x501]"),
    R("alu result", {0x01, 0xd8}, 2, P32, s_alu, 1, "result.gpr", "rax,rflags differ after add eax, ebx",
      "rax"),
    /* fallback */
    R("mixed: unclassified", {0x90}, 1, P32, s_mixed, 1, "unclassified", "rax,es.attr differ after nop",
      "rax"),
};

static void run_case(const struct differ_rules *rules, const struct tcase *t, struct differ_divergence *d,
                     int *ret)
{
	static struct fx fx;

	memset(&fx, 0, sizeof(fx));
	base_state(&fx.pre, t->mode);
	fx.exp = fx.pre;
	fx.exp.rip += t->len;
	fx.res.outcome = BACKEND_STEPPED;
	fx.in = (struct differ_input){
	    .step = 42,
	    .backend = "emu",
	    .mode = t->mode,
	    .insn = t->insn,
	    .insn_len = t->len,
	    .pre = &fx.pre,
	    .expected = &fx.exp,
	    .expected_writes = fx.w,
	    .actual = &fx.res,
	};
	fx.res.post = fx.exp;
	t->setup(&fx);
	fx.in.cpl = x86_state_cpl(&fx.pre);
	*ret = differ_compare(rules, &fx.in, d);
}

static void test_cases(void **state)
{
	const struct differ_rules *rules = *state;
	static struct differ_divergence d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		int ret;
		run_case(rules, t, &d, &ret);
		if (ret != t->want)
			fail_msg("%s:%d: %s: differ_compare returned %d, want %d (class %s, detail '%s')",
			         t->file, t->line, t->name, ret, t->want, d.cls, d.detail);
		if (ret != 1)
			continue;
		if (strcmp(d.cls, t->cls) != 0)
			fail_msg("%s:%d: %s: class %s, want %s (detail '%s')", t->file, t->line, t->name,
			         d.cls, t->cls, d.detail);
		if (t->detail && !strstr(d.detail, t->detail))
			fail_msg("%s:%d: %s: detail '%s' lacks '%s'", t->file, t->line, t->name, d.detail,
			         t->detail);
		if (t->field && (d.n_fields == 0 || strcmp(d.fields[0].field, t->field) != 0))
			fail_msg("%s:%d: %s: first field '%s', want '%s'", t->file, t->line, t->name,
			         d.n_fields ? d.fields[0].field : "(none)", t->field);
		if (!t->field && d.n_fields != 0)
			fail_msg("%s:%d: %s: %u fields, want none (outcome, not a state diff)", t->file,
			         t->line, t->name, d.n_fields);
		if (d.step != 42 || strcmp(d.backend, "emu") != 0)
			fail_msg("%s:%d: %s: step/backend not carried", t->file, t->line, t->name);
	}
}

/* Every class of the built-in table is exercised by at least one row above. */
/* The io row's detail is the backend's reason without its "io: " prefix, as stored before. */
static void test_io_reason_detail(void **state)
{
	const struct differ_rules *rules = *state;
	static struct differ_divergence d;
	int ret = -1;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, "missing input"))
			run_case(rules, &cases[i], &d, &ret);
	assert_int_equal(ret, 1);
	assert_string_equal(d.cls, "io");
	assert_string_equal(d.detail, "no recorded IN for port 0x60");
}

/* differ/reference.tsv: every row names a class of the rules table; bad rows are errors naming file:line. */
static void test_reference_table(void **state)
{
	const struct differ_rules *rules = *state;
	struct differ_reference *t = NULL;
	assert_int_equal(differ_reference_default(&t), 0);
	assert_true(differ_reference_count(t) >= 2);
	for (size_t i = 0; i < differ_reference_count(t); i++) {
		bool found = false;
		for (size_t j = 0; j < differ_rules_count(rules); j++)
			found |= !strcmp(differ_rules_class(rules, j), differ_reference_class(t, i));
		if (!found)
			fail_msg("differ/reference.tsv: class %s is not in differ/classes.tsv",
			         differ_reference_class(t, i));
	}
	const struct differ_ref_rule *rep = differ_reference_find(t, "kvm-emulator", "string.rep");
	assert_non_null(rep);
	assert_int_equal(rep->action, DIFFER_REF_ITERATE);
	assert_non_null(differ_reference_find(t, "silicon", "string.rep"));
	assert_non_null(differ_reference_find(t, "kvm-emulator", "step.boundary"));
	assert_null(differ_reference_find(t, "silicon", "step.boundary"));
	assert_null(differ_reference_find(t, "kvm-emulator", "step.overrun"));
	differ_reference_free(t);

	static const struct {
		const char *text, *error;
	} bad[] = {
	    {"kvm-emulator\tstring.rep\titerate\t10\n", "t.tsv:1: expected 5 tab-separated columns"},
	    {"# c\nkvm-emulator\tstring.rep\trun\t10\tx\n", "t.tsv:2: the action must be iterate or next"},
	    {"kvm-emulator\tstring.rep\tnext\t0\tx\n", "t.tsv:1: the limit must be a count"},
	    {"kvm-emulator\tstring.rep\tnext\t2x\tx\n", "t.tsv:1: the limit must be a count"},
	    {"\tstring.rep\tnext\t2\tx\n", "t.tsv:1: empty or overlong reference or class"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		t = NULL;
		assert_int_equal(
		    differ_reference_parse(bad[i].text, strlen(bad[i].text), "t.tsv", &t, err, sizeof(err)),
		    -EINVAL);
		assert_null(t);
		if (strncmp(err, bad[i].error, strlen(bad[i].error)))
			fail_msg("row %zu: error '%s', want '%s...'", i, err, bad[i].error);
	}
}

static void test_every_class_covered(void **state)
{
	const struct differ_rules *rules = *state;
	size_t n = differ_rules_count(rules);

	assert_true(n > 20);
	for (size_t i = 0; i < n; i++) {
		const char *cls = differ_rules_class(rules, i);
		size_t j;
		for (j = 0; j < sizeof(cases) / sizeof(cases[0]); j++)
			if (cases[j].cls && strcmp(cases[j].cls, cls) == 0)
				break;
		if (j == sizeof(cases) / sizeof(cases[0]))
			fail_msg("differ/classes.tsv:%u: class %s has no test row",
			         differ_rules_line(rules, i), cls);
	}
}

static void test_many_fields_truncated(void **state)
{
	const struct differ_rules *rules = *state;
	struct x86_state pre, exp;
	static struct backend_result res;
	static struct differ_divergence d;
	const uint8_t nop = 0x90;

	base_state(&pre, P32);
	exp = pre;
	exp.rip++;
	memset(&res, 0, sizeof(res));
	res.post = exp;
	for (int i = 0; i < 16; i++) {
		res.post.gpr[i] ^= 1;
		memset(res.post.fpu.xmm[i], 0x5a, 16);
	}
	struct differ_input in = {.backend = "unicorn",
	                          .mode = P32,
	                          .insn = &nop,
	                          .insn_len = 1,
	                          .pre = &pre,
	                          .expected = &exp,
	                          .actual = &res};
	assert_int_equal(differ_compare(rules, &in, &d), 1);
	assert_int_equal(d.n_fields, DIFFER_MAX_FIELDS);
	assert_int_equal(d.n_fields_total, 16 + 32);
	assert_string_equal(d.cls, "unclassified");
	assert_non_null(strstr(d.detail, "(48 fields)"));
}

static void test_bad_input(void **state)
{
	static struct differ_divergence d;
	struct differ_input in = {0};
	assert_int_equal(differ_compare(*state, &in, &d), -EINVAL);
}

static int setup(void **state)
{
	struct differ_rules *r;
	if (differ_rules_default(&r) < 0)
		return -1;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	differ_rules_free(*state);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_io_reason_detail),
	    cmocka_unit_test(test_every_class_covered),
	    cmocka_unit_test(test_reference_table),
	    cmocka_unit_test(test_many_fields_truncated),
	    cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
