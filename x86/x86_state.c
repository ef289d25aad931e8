#include "x86_state.h"

#include <string.h>

/* clang-format off */
const uint32_t x86_msr_numbers[X86_NMSR] = {
	[X86_MSR_SYSENTER_CS] = 0x174,	  [X86_MSR_SYSENTER_ESP] = 0x175,
	[X86_MSR_SYSENTER_EIP] = 0x176,	  [X86_MSR_STAR] = 0xc0000081,
	[X86_MSR_LSTAR] = 0xc0000082,	  [X86_MSR_CSTAR] = 0xc0000083,
	[X86_MSR_SFMASK] = 0xc0000084,	  [X86_MSR_KERNEL_GS_BASE] = 0xc0000102,
	[X86_MSR_PAT] = 0x277,		  [X86_MSR_TSC] = 0x10,
	[X86_MSR_APIC_BASE] = 0x1b,
};

#define F(n, member) {n, offsetof(struct x86_state, member), sizeof(((struct x86_state *)0)->member)}
#define SEG(n, i)                                                                                   \
	F(n ".sel", seg[i].selector), F(n ".base", seg[i].base), F(n ".limit", seg[i].limit),      \
		F(n ".attr", seg[i].attr)
#define ST(i) F("st" #i, fpu.st[i])
#define XMM(i) F("xmm" #i, fpu.xmm[i])

const struct x86_field x86_fields[] = {
	F("rax", gpr[0]), F("rcx", gpr[1]), F("rdx", gpr[2]), F("rbx", gpr[3]),
	F("rsp", gpr[4]), F("rbp", gpr[5]), F("rsi", gpr[6]), F("rdi", gpr[7]),
	F("r8", gpr[8]), F("r9", gpr[9]), F("r10", gpr[10]), F("r11", gpr[11]),
	F("r12", gpr[12]), F("r13", gpr[13]), F("r14", gpr[14]), F("r15", gpr[15]),
	F("rip", rip), F("rflags", rflags),
	SEG("es", 0), SEG("cs", 1), SEG("ss", 2), SEG("ds", 3), SEG("fs", 4), SEG("gs", 5),
	SEG("ldtr", 6), SEG("tr", 7),
	F("gdtr.base", gdtr.base), F("gdtr.limit", gdtr.limit),
	F("idtr.base", idtr.base), F("idtr.limit", idtr.limit),
	F("cr0", cr0), F("cr2", cr2), F("cr3", cr3), F("cr4", cr4), F("cr8", cr8),
	F("efer", efer), F("xcr0", xcr0),
	F("dr0", dr[0]), F("dr1", dr[1]), F("dr2", dr[2]), F("dr3", dr[3]), F("dr6", dr6), F("dr7", dr7),
	F("msr.sysenter_cs", msr[X86_MSR_SYSENTER_CS]), F("msr.sysenter_esp", msr[X86_MSR_SYSENTER_ESP]),
	F("msr.sysenter_eip", msr[X86_MSR_SYSENTER_EIP]), F("msr.star", msr[X86_MSR_STAR]),
	F("msr.lstar", msr[X86_MSR_LSTAR]), F("msr.cstar", msr[X86_MSR_CSTAR]),
	F("msr.sfmask", msr[X86_MSR_SFMASK]), F("msr.kernel_gs_base", msr[X86_MSR_KERNEL_GS_BASE]),
	F("msr.pat", msr[X86_MSR_PAT]), F("msr.tsc", msr[X86_MSR_TSC]),
	F("msr.apic_base", msr[X86_MSR_APIC_BASE]),
	F("events.shadow", events.shadow), F("events.nmi_masked", events.nmi_masked),
	F("events.nmi_pending", events.nmi_pending), F("events.halted", events.halted),
	F("events.exc_pending", events.exc_pending), F("events.exc_vector", events.exc_vector),
	F("events.exc_has_error", events.exc_has_error),
	F("events.exc_error_code", events.exc_error_code),
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7),
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	F("fpu.fip", fpu.fip), F("fpu.fdp", fpu.fdp), F("fpu.fcw", fpu.fcw), F("fpu.fsw", fpu.fsw),
	F("fpu.ftw", fpu.ftw), F("fpu.fop", fpu.fop), F("fpu.mxcsr", fpu.mxcsr),
};
/* clang-format on */

const size_t x86_field_count = sizeof(x86_fields) / sizeof(x86_fields[0]);

const struct x86_field *x86_field_find(const char *name)
{
	for (size_t i = 0; i < x86_field_count; i++)
		if (strcmp(x86_fields[i].name, name) == 0)
			return &x86_fields[i];
	return NULL;
}

uint64_t x86_field_get(const struct x86_state *st, const struct x86_field *f)
{
	const uint8_t *p = (const uint8_t *)st + f->offset;
	switch (f->size) {
	case 1:
		return *p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

static void seg_real(struct x86_segment *s, uint16_t sel, uint32_t type)
{
	s->selector = sel;
	s->base = (uint64_t)sel << 4;
	s->limit = 0xffff;
	s->attr = type | X86_SEG_S | X86_SEG_P;
}

void x86_state_real(struct x86_state *st, uint16_t cs, uint16_t ip, uint16_t sp)
{
	memset(st, 0, sizeof(*st));
	st->rip = ip;
	st->gpr[X86_RSP] = sp;
	st->rflags = X86_RFLAGS_FIXED;
	for (int i = X86_ES; i <= X86_GS; i++)
		seg_real(&st->seg[i], 0, 0x3); /* read/write data, accessed */
	seg_real(&st->seg[X86_CS], cs, 0xb);   /* execute/read code, accessed */
	st->seg[X86_LDTR].limit = 0xffff;
	st->seg[X86_LDTR].attr = 0x2 | X86_SEG_P;
	st->seg[X86_TR].limit = 0xffff;
	st->seg[X86_TR].attr = 0xb | X86_SEG_P;
	st->gdtr.limit = 0xffff;
	st->idtr.limit = 0xffff;
	st->cr0 = X86_CR0_ET | X86_CR0_NW | X86_CR0_CD;
	st->dr6 = 0xffff0ff0;
	st->dr7 = 0x400;
	st->msr[X86_MSR_PAT] = 0x0007040600070406ull;
	st->msr[X86_MSR_APIC_BASE] = 0xfee00900ull;
	st->fpu.fcw = 0x37f;
	st->fpu.mxcsr = 0x1f80;
}

void x86_state_reset(struct x86_state *st)
{
	x86_state_real(st, 0xf000, 0xfff0, 0);
	st->seg[X86_CS].base = 0xffff0000ull;
	st->gpr[X86_RDX] = 0x600; /* family/model/stepping; replaced by the CPUID signature where known */
	st->fpu.fcw = 0x40;
}

const char *x86_mode_name(enum x86_mode mode)
{
	static const char *const names[] = {"real", "v86", "prot16", "prot32", "long64", "compat"};
	return (unsigned)mode < sizeof(names) / sizeof(names[0]) ? names[mode] : "?";
}
