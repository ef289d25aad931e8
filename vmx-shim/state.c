/* struct x86_state <-> KVM's register structures. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "private.h"

static void seg_from_kvm(struct x86_segment *s, const struct kvm_segment *k)
{
	memset(s, 0, sizeof(*s));
	s->base = k->base;
	s->limit = k->limit;
	s->selector = k->selector;
	s->attr = (k->type & X86_SEG_TYPE_MASK) | (k->s ? X86_SEG_S : 0) |
	          ((uint32_t)(k->dpl & 3) << X86_SEG_DPL_SHIFT) | (k->present ? X86_SEG_P : 0) |
	          (k->avl ? X86_SEG_AVL : 0) | (k->l ? X86_SEG_L : 0) | (k->db ? X86_SEG_DB : 0) |
	          (k->g ? X86_SEG_G : 0) | (k->unusable ? X86_SEG_UNUSABLE : 0);
}

static void seg_to_kvm(struct kvm_segment *k, const struct x86_segment *s)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->selector;
	k->type = s->attr & X86_SEG_TYPE_MASK;
	k->s = !!(s->attr & X86_SEG_S);
	k->dpl = (s->attr & X86_SEG_DPL_MASK) >> X86_SEG_DPL_SHIFT;
	k->present = !!(s->attr & X86_SEG_P);
	k->avl = !!(s->attr & X86_SEG_AVL);
	k->l = !!(s->attr & X86_SEG_L);
	k->db = !!(s->attr & X86_SEG_DB);
	k->g = !!(s->attr & X86_SEG_G);
	k->unusable = !!(s->attr & X86_SEG_UNUSABLE);
}

static void regs_from_kvm(struct x86_state *st, const struct kvm_regs *r)
{
	st->gpr[X86_RAX] = r->rax;
	st->gpr[X86_RCX] = r->rcx;
	st->gpr[X86_RDX] = r->rdx;
	st->gpr[X86_RBX] = r->rbx;
	st->gpr[X86_RSP] = r->rsp;
	st->gpr[X86_RBP] = r->rbp;
	st->gpr[X86_RSI] = r->rsi;
	st->gpr[X86_RDI] = r->rdi;
	st->gpr[X86_R8] = r->r8;
	st->gpr[X86_R9] = r->r9;
	st->gpr[X86_R10] = r->r10;
	st->gpr[X86_R11] = r->r11;
	st->gpr[X86_R12] = r->r12;
	st->gpr[X86_R13] = r->r13;
	st->gpr[X86_R14] = r->r14;
	st->gpr[X86_R15] = r->r15;
	st->rip = r->rip;
	st->rflags = r->rflags;
}

static void regs_to_kvm(struct kvm_regs *r, const struct x86_state *st)
{
	r->rax = st->gpr[X86_RAX];
	r->rcx = st->gpr[X86_RCX];
	r->rdx = st->gpr[X86_RDX];
	r->rbx = st->gpr[X86_RBX];
	r->rsp = st->gpr[X86_RSP];
	r->rbp = st->gpr[X86_RBP];
	r->rsi = st->gpr[X86_RSI];
	r->rdi = st->gpr[X86_RDI];
	r->r8 = st->gpr[X86_R8];
	r->r9 = st->gpr[X86_R9];
	r->r10 = st->gpr[X86_R10];
	r->r11 = st->gpr[X86_R11];
	r->r12 = st->gpr[X86_R12];
	r->r13 = st->gpr[X86_R13];
	r->r14 = st->gpr[X86_R14];
	r->r15 = st->gpr[X86_R15];
	r->rip = st->rip;
	r->rflags = st->rflags;
}

static struct kvm_segment *sregs_seg(struct kvm_sregs *s, int i)
{
	struct kvm_segment *segs[X86_NSEG] = {&s->es, &s->cs, &s->ss,  &s->ds,
	                                      &s->fs, &s->gs, &s->ldt, &s->tr};

	return segs[i];
}

static void sregs_from_kvm(struct x86_state *st, const struct kvm_sregs *cs)
{
	struct kvm_sregs *s = (struct kvm_sregs *)cs;

	for (int i = 0; i < X86_NSEG; i++)
		seg_from_kvm(&st->seg[i], sregs_seg(s, i));
	st->gdtr = (struct x86_dtable){.base = s->gdt.base, .limit = s->gdt.limit};
	st->idtr = (struct x86_dtable){.base = s->idt.base, .limit = s->idt.limit};
	st->cr0 = s->cr0;
	st->cr2 = s->cr2;
	st->cr3 = s->cr3;
	st->cr4 = s->cr4;
	st->cr8 = s->cr8;
	st->efer = s->efer;
	st->msr[X86_MSR_APIC_BASE] = s->apic_base;
}

static void sregs_to_kvm(struct kvm_sregs *s, const struct x86_state *st)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < X86_NSEG; i++)
		seg_to_kvm(sregs_seg(s, i), &st->seg[i]);
	s->gdt.base = st->gdtr.base;
	s->gdt.limit = (uint16_t)st->gdtr.limit;
	s->idt.base = st->idtr.base;
	s->idt.limit = (uint16_t)st->idtr.limit;
	s->cr0 = st->cr0;
	s->cr2 = st->cr2;
	s->cr3 = st->cr3;
	s->cr4 = st->cr4;
	s->cr8 = st->cr8;
	s->efer = st->efer;
	s->apic_base = st->msr[X86_MSR_APIC_BASE];
}

static void events_from_kvm(struct x86_state *st, const struct kvm_vcpu_events *e)
{
	struct x86_events *x = &st->events;
	uint8_t halted = x->halted;

	memset(x, 0, sizeof(*x));
	x->halted = halted;
	x->shadow = e->interrupt.shadow & (X86_SHADOW_MOV_SS | X86_SHADOW_STI);
	x->nmi_masked = !!e->nmi.masked;
	x->nmi_pending = e->nmi.pending || e->nmi.injected;
	/* Without KVM_CAP_EXCEPTION_PAYLOAD, "injected" also covers a pending exception. */
	x->exc_pending = e->exception.injected || e->exception.pending;
	if (x->exc_pending) {
		x->exc_vector = e->exception.nr;
		x->exc_has_error = !!e->exception.has_error_code;
		x->exc_error_code = x->exc_has_error ? e->exception.error_code : 0;
	}
}

static void events_to_kvm(struct kvm_vcpu_events *e, const struct x86_state *st)
{
	const struct x86_events *x = &st->events;

	memset(e, 0, sizeof(*e));
	e->exception.injected = !!x->exc_pending;
	e->exception.nr = x->exc_pending ? x->exc_vector : 0;
	e->exception.has_error_code = x->exc_pending && x->exc_has_error;
	e->exception.error_code = e->exception.has_error_code ? x->exc_error_code : 0;
	e->interrupt.shadow = x->shadow & (X86_SHADOW_MOV_SS | X86_SHADOW_STI);
	e->nmi.pending = !!x->nmi_pending;
	e->nmi.masked = !!x->nmi_masked;
	e->flags = KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_NMI_PENDING;
}

/* The FXSAVE-format legacy region at the start of an XSAVE image (SDM Vol. 1, 10.5.1). KVM_GET_FPU
 * and KVM_SET_FPU leave MXCSR out, so the FPU goes through KVM_GET_XSAVE/KVM_SET_XSAVE. */
#define XS_FCW         0
#define XS_FSW         2
#define XS_FTW         4
#define XS_FOP         6
#define XS_FIP         8
#define XS_FDP         16
#define XS_MXCSR       24
#define XS_ST          32
#define XS_XMM         160
#define XS_XSTATE_BV   512
#define XSTATE_X87_SSE 3ull

static void fpu_from_xsave(struct x86_fpu *f, const uint8_t *x)
{
	memset(f, 0, sizeof(*f));
	memcpy(&f->fcw, x + XS_FCW, 2);
	memcpy(&f->fsw, x + XS_FSW, 2);
	f->ftw = x[XS_FTW];
	memcpy(&f->fop, x + XS_FOP, 2);
	memcpy(&f->fip, x + XS_FIP, 8);
	memcpy(&f->fdp, x + XS_FDP, 8);
	memcpy(&f->mxcsr, x + XS_MXCSR, 4);
	for (int i = 0; i < 8; i++)
		memcpy(f->st[i], x + XS_ST + 16 * i, 10);
	memcpy(f->xmm, x + XS_XMM, sizeof(f->xmm));
}

static void fpu_to_xsave(uint8_t *x, const struct x86_fpu *f)
{
	uint64_t bv;

	memcpy(x + XS_FCW, &f->fcw, 2);
	memcpy(x + XS_FSW, &f->fsw, 2);
	x[XS_FTW] = f->ftw;
	x[XS_FTW + 1] = 0;
	memcpy(x + XS_FOP, &f->fop, 2);
	memcpy(x + XS_FIP, &f->fip, 8);
	memcpy(x + XS_FDP, &f->fdp, 8);
	memcpy(x + XS_MXCSR, &f->mxcsr, 4);
	for (int i = 0; i < 8; i++) {
		memset(x + XS_ST + 16 * i, 0, 16);
		memcpy(x + XS_ST + 16 * i, f->st[i], 10);
	}
	memcpy(x + XS_XMM, f->xmm, sizeof(f->xmm));
	/* The x87 and SSE components now hold data, not their init state. */
	memcpy(&bv, x + XS_XSTATE_BV, 8);
	bv |= XSTATE_X87_SSE;
	memcpy(x + XS_XSTATE_BV, &bv, 8);
}

struct shim_msrs {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[X86_NMSR];
};

static int get_msrs(struct shim_vm *vm, struct x86_state *st)
{
	struct shim_msrs m;
	enum x86_msr idx[X86_NMSR];
	uint32_t n = 0;
	int r;

	memset(&m, 0, sizeof(m));
	for (int i = 0; i < X86_NMSR; i++) {
		if (i == X86_MSR_TSC)
			continue;
		idx[n] = (enum x86_msr)i;
		m.e[n++].index = x86_msr_numbers[i];
	}
	m.hdr.nmsrs = n;
	r = ioctl(vm->vcpu_fd, KVM_GET_MSRS, &m);
	if (r < 0)
		return shim_fail(vm, -errno, "KVM_GET_MSRS");
	if ((uint32_t)r < n)
		return shim_fail(vm, -EIO, "KVM_GET_MSRS: MSR %#x not readable", m.e[r].index);
	for (uint32_t i = 0; i < n; i++)
		st->msr[idx[i]] = m.e[i].data;
	/* Wall-clock driven, not part of a deterministic state (see shim.h). */
	st->msr[X86_MSR_TSC] = 0;
	return 0;
}

static int set_msrs(struct shim_vm *vm, const struct x86_state *st)
{
	struct shim_msrs m;
	uint32_t n = 0;
	int r;

	memset(&m, 0, sizeof(m));
	for (int i = 0; i < X86_NMSR; i++) {
		/* TSC is never written; APIC_BASE goes with the sregs. */
		if (i == X86_MSR_TSC || i == X86_MSR_APIC_BASE)
			continue;
		m.e[n].index = x86_msr_numbers[i];
		m.e[n++].data = st->msr[i];
	}
	m.hdr.nmsrs = n;
	r = ioctl(vm->vcpu_fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return shim_fail(vm, -errno, "KVM_SET_MSRS");
	if ((uint32_t)r < n)
		return shim_fail(vm, -EINVAL, "KVM_SET_MSRS: MSR %#x rejected value %#llx", m.e[r].index,
		                 (unsigned long long)m.e[r].data);
	return 0;
}

int shim_get_state(struct shim_vm *vm, struct x86_state *st, bool full)
{
	const struct kvm_sync_regs *s = &vm->run->s.regs;
	struct kvm_xsave xs;
	struct kvm_debugregs dbg;
	struct kvm_xcrs xcrs;
	int r;

	regs_from_kvm(st, &s->regs);
	sregs_from_kvm(st, &s->sregs);
	events_from_kvm(st, &s->events);
	if (!full)
		return 0;
	if (ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &xs) < 0)
		return shim_fail(vm, -errno, "KVM_GET_XSAVE");
	fpu_from_xsave(&st->fpu, (const uint8_t *)xs.region);
	if (ioctl(vm->vcpu_fd, KVM_GET_DEBUGREGS, &dbg) < 0)
		return shim_fail(vm, -errno, "KVM_GET_DEBUGREGS");
	memcpy(st->dr, dbg.db, sizeof(st->dr));
	st->dr6 = dbg.dr6;
	st->dr7 = dbg.dr7;
	memset(&xcrs, 0, sizeof(xcrs));
	if (ioctl(vm->vcpu_fd, KVM_GET_XCRS, &xcrs) < 0)
		return shim_fail(vm, -errno, "KVM_GET_XCRS");
	st->xcr0 = 0;
	for (uint32_t i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (xcrs.xcrs[i].xcr == 0)
			st->xcr0 = xcrs.xcrs[i].value;
	if ((r = get_msrs(vm, st)))
		return r;
	{
		struct kvm_mp_state mp;

		if (ioctl(vm->vcpu_fd, KVM_GET_MP_STATE, &mp) < 0)
			return shim_fail(vm, -errno, "KVM_GET_MP_STATE");
		st->events.halted = mp.mp_state == KVM_MP_STATE_HALTED;
	}
	return 0;
}

int shim_set_state(struct shim_vm *vm, const struct x86_state *st)
{
	struct kvm_sync_regs *s = &vm->run->s.regs;
	struct kvm_xsave xs;
	struct kvm_debugregs dbg;
	int r;

	/* Read-modify-write keeps the AVX and later components as they are. */
	if (ioctl(vm->vcpu_fd, KVM_GET_XSAVE, &xs) < 0)
		return shim_fail(vm, -errno, "KVM_GET_XSAVE");
	fpu_to_xsave((uint8_t *)xs.region, &st->fpu);
	if (ioctl(vm->vcpu_fd, KVM_SET_XSAVE, &xs) < 0)
		return shim_fail(vm, -errno, "KVM_SET_XSAVE (fcw %#x, mxcsr %#x)", st->fpu.fcw,
		                 st->fpu.mxcsr);
	memset(&dbg, 0, sizeof(dbg));
	memcpy(dbg.db, st->dr, sizeof(dbg.db));
	dbg.dr6 = st->dr6;
	dbg.dr7 = st->dr7;
	if (ioctl(vm->vcpu_fd, KVM_SET_DEBUGREGS, &dbg) < 0)
		return shim_fail(vm, -errno, "KVM_SET_DEBUGREGS (dr6 %#llx, dr7 %#llx)",
		                 (unsigned long long)st->dr6, (unsigned long long)st->dr7);
	if (st->xcr0) {
		struct kvm_xcrs xcrs = {.nr_xcrs = 1};

		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = st->xcr0;
		if (ioctl(vm->vcpu_fd, KVM_SET_XCRS, &xcrs) < 0)
			return shim_fail(vm, -errno, "KVM_SET_XCRS (xcr0 %#llx)",
			                 (unsigned long long)st->xcr0);
	}
	if ((r = set_msrs(vm, st)))
		return r;
	/* KVM loads these at the next KVM_RUN (KVM_CAP_SYNC_REGS). */
	regs_to_kvm(&s->regs, st);
	sregs_to_kvm(&s->sregs, st);
	/* QEMU's TCG keeps TR available and aborts ("invalid tss type") when an event needs a busy one's
	 * stack; KVM on SVM reads TR back as busy whatever was loaded, so loading it available is not seen.
	 */
	if (vm->qemu_tcg && (s->sregs.tr.type == 0xb || s->sregs.tr.type == 0x3))
		s->sregs.tr.type &= (uint8_t)~2u;
	events_to_kvm(&s->events, st);
	vm->run->kvm_dirty_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
	if (vm->io_pending || vm->has_pending)
		return 0;
	/* Load them now without running the guest, so a refused state fails here and the sync area
	 * holds what KVM really took. */
	vm->run->immediate_exit = 1;
	r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	vm->run->immediate_exit = 0;
	if (r < 0 && errno != EINTR) {
		r = -errno;
		vm->run->kvm_dirty_regs = 0;
		return shim_fail(vm, r, "KVM_RUN (loading regs/sregs/events given to shim_set_state)");
	}
	return 0;
}
