/* The canonical x86 CPU state: every module of emudiff converts to and from
 * this one struct. It has no padding holes (static_asserts below), so it can be
 * compared, hashed and delta-encoded as an array of 64-bit words. */
#ifndef EMUDIFF_X86_STATE_H
#define EMUDIFF_X86_STATE_H

#include <stddef.h>
#include <stdint.h>

enum x86_gpr {
	X86_RAX,
	X86_RCX,
	X86_RDX,
	X86_RBX,
	X86_RSP,
	X86_RBP,
	X86_RSI,
	X86_RDI,
	X86_R8,
	X86_R9,
	X86_R10,
	X86_R11,
	X86_R12,
	X86_R13,
	X86_R14,
	X86_R15,
	X86_NGPR
};

enum x86_sreg { X86_ES, X86_CS, X86_SS, X86_DS, X86_FS, X86_GS, X86_LDTR, X86_TR, X86_NSEG };

/* Segment attributes use the VMX access-rights layout (SDM Vol. 3, 24.4.1). */
#define X86_SEG_TYPE_MASK 0x0fu
#define X86_SEG_S         (1u << 4)
#define X86_SEG_DPL_SHIFT 5
#define X86_SEG_DPL_MASK  (3u << X86_SEG_DPL_SHIFT)
#define X86_SEG_P         (1u << 7)
#define X86_SEG_AVL       (1u << 12)
#define X86_SEG_L         (1u << 13)
#define X86_SEG_DB        (1u << 14)
#define X86_SEG_G         (1u << 15)
#define X86_SEG_UNUSABLE  (1u << 16)

struct x86_segment {
	uint64_t base;
	uint32_t limit; /* in bytes, granularity already applied */
	uint32_t attr;  /* X86_SEG_* */
	uint16_t selector;
	uint16_t pad[3];
};

struct x86_dtable {
	uint64_t base;
	uint32_t limit;
	uint32_t pad;
};

#define X86_RFLAGS_CF    (1ull << 0)
#define X86_RFLAGS_FIXED (1ull << 1)
#define X86_RFLAGS_PF    (1ull << 2)
#define X86_RFLAGS_AF    (1ull << 4)
#define X86_RFLAGS_ZF    (1ull << 6)
#define X86_RFLAGS_SF    (1ull << 7)
#define X86_RFLAGS_TF    (1ull << 8)
#define X86_RFLAGS_IF    (1ull << 9)
#define X86_RFLAGS_DF    (1ull << 10)
#define X86_RFLAGS_OF    (1ull << 11)
#define X86_RFLAGS_IOPL  (3ull << 12)
#define X86_RFLAGS_NT    (1ull << 14)
#define X86_RFLAGS_RF    (1ull << 16)
#define X86_RFLAGS_VM    (1ull << 17)
#define X86_RFLAGS_AC    (1ull << 18)
#define X86_RFLAGS_VIF   (1ull << 19)
#define X86_RFLAGS_VIP   (1ull << 20)
#define X86_RFLAGS_ID    (1ull << 21)

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_MP (1ull << 1)
#define X86_CR0_EM (1ull << 2)
#define X86_CR0_TS (1ull << 3)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_NE (1ull << 5)
#define X86_CR0_WP (1ull << 16)
#define X86_CR0_AM (1ull << 18)
#define X86_CR0_NW (1ull << 29)
#define X86_CR0_CD (1ull << 30)
#define X86_CR0_PG (1ull << 31)

#define X86_CR4_VME      (1ull << 0)
#define X86_CR4_PVI      (1ull << 1)
#define X86_CR4_TSD      (1ull << 2)
#define X86_CR4_DE       (1ull << 3)
#define X86_CR4_PSE      (1ull << 4)
#define X86_CR4_PAE      (1ull << 5)
#define X86_CR4_PGE      (1ull << 7)
#define X86_CR4_OSFXSR   (1ull << 9)
#define X86_CR4_UMIP     (1ull << 11)
#define X86_CR4_LA57     (1ull << 12)
#define X86_CR4_FSGSBASE (1ull << 16)
#define X86_CR4_PCIDE    (1ull << 17)
#define X86_CR4_OSXSAVE  (1ull << 18)
#define X86_CR4_SMEP     (1ull << 20)
#define X86_CR4_SMAP     (1ull << 21)

#define X86_EFER_SCE (1ull << 0)
#define X86_EFER_LME (1ull << 8)
#define X86_EFER_LMA (1ull << 10)
#define X86_EFER_NXE (1ull << 11)

/* The guest-visible MSRs the state carries; x86_msr_numbers[] maps them. */
enum x86_msr {
	X86_MSR_SYSENTER_CS,
	X86_MSR_SYSENTER_ESP,
	X86_MSR_SYSENTER_EIP,
	X86_MSR_STAR,
	X86_MSR_LSTAR,
	X86_MSR_CSTAR,
	X86_MSR_SFMASK,
	X86_MSR_KERNEL_GS_BASE,
	X86_MSR_PAT,
	X86_MSR_TSC,
	X86_MSR_APIC_BASE,
	X86_NMSR
};

/* Interrupt shadow bits, same values as KVM_X86_SHADOW_INT_*. */
#define X86_SHADOW_MOV_SS 0x01u
#define X86_SHADOW_STI    0x02u

struct x86_events {
	uint8_t shadow;     /* X86_SHADOW_* */
	uint8_t nmi_masked; /* NMI blocked until the next IRET */
	uint8_t nmi_pending;
	uint8_t halted;      /* activity state: HLT */
	uint8_t exc_pending; /* an exception is pending delivery */
	uint8_t exc_vector;
	uint8_t exc_has_error;
	uint8_t pad0;
	uint32_t exc_error_code;
	uint32_t pad1;
};

/* x87/SSE in the FXSAVE shape. */
struct x86_fpu {
	uint8_t st[8][16];
	uint8_t xmm[16][16];
	uint64_t fip;
	uint64_t fdp;
	uint16_t fcw;
	uint16_t fsw;
	uint8_t ftw; /* abridged tag word, as FXSAVE stores it */
	uint8_t pad0;
	uint16_t fop;
	uint32_t mxcsr;
	uint32_t pad1;
};

struct x86_state {
	uint64_t gpr[X86_NGPR];
	uint64_t rip;
	uint64_t rflags;
	struct x86_segment seg[X86_NSEG];
	struct x86_dtable gdtr;
	struct x86_dtable idtr;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t xcr0;
	uint64_t dr[4];
	uint64_t dr6, dr7;
	uint64_t msr[X86_NMSR];
	struct x86_events events;
	struct x86_fpu fpu;
};

#define X86_STATE_WORDS (sizeof(struct x86_state) / sizeof(uint64_t))

_Static_assert(sizeof(struct x86_segment) == 24, "x86_segment has a hole");
_Static_assert(sizeof(struct x86_dtable) == 16, "x86_dtable has a hole");
_Static_assert(sizeof(struct x86_events) == 16, "x86_events has a hole");
_Static_assert(sizeof(struct x86_fpu) == 416, "x86_fpu has a hole");
_Static_assert(sizeof(struct x86_state) % 8 == 0, "x86_state must be whole words");

extern const uint32_t x86_msr_numbers[X86_NMSR];

/* One named field of the state, for the differ, reports and codecs. */
struct x86_field {
	const char *name; /* "rax", "cs.base", "events.shadow", "xmm3", ... */
	uint16_t offset;
	uint16_t size; /* 1, 2, 4, 8 or 16 bytes */
};

extern const struct x86_field x86_fields[];
extern const size_t x86_field_count;

/* Field lookup by name; NULL when unknown. */
const struct x86_field *x86_field_find(const char *name);

/* Reads a field of up to 8 bytes as an integer (16-byte fields: low half). */
uint64_t x86_field_get(const struct x86_state *st, const struct x86_field *f);

/* The reset state of an x86 CPU (SDM Vol. 3, 10.1.1): F000:FFF0, CS base FFFF0000. */
void x86_state_reset(struct x86_state *st);

/* Real-mode state with CS:IP = cs:ip, all data segments zero, SP as given. */
void x86_state_real(struct x86_state *st, uint16_t cs, uint16_t ip, uint16_t sp);

/* The code mode the state executes in. */
enum x86_mode {
	X86_MODE_REAL,
	X86_MODE_V86,
	X86_MODE_PROT16,
	X86_MODE_PROT32,
	X86_MODE_LONG64,
	X86_MODE_COMPAT
};

/* Inline: emu asks on every step. */
static inline enum x86_mode x86_state_mode(const struct x86_state *st)
{
	if (!(st->cr0 & X86_CR0_PE))
		return X86_MODE_REAL;
	if (st->rflags & X86_RFLAGS_VM)
		return X86_MODE_V86;
	if (st->efer & X86_EFER_LMA)
		return (st->seg[X86_CS].attr & X86_SEG_L) ? X86_MODE_LONG64 : X86_MODE_COMPAT;
	return (st->seg[X86_CS].attr & X86_SEG_DB) ? X86_MODE_PROT32 : X86_MODE_PROT16;
}

const char *x86_mode_name(enum x86_mode mode);

/* 0 in real mode, 3 in virtual-8086 mode, else SS.DPL. */
static inline unsigned x86_state_cpl(const struct x86_state *st)
{
	if (!(st->cr0 & X86_CR0_PE))
		return 0;
	if (st->rflags & X86_RFLAGS_VM)
		return 3;
	return (st->seg[X86_SS].attr & X86_SEG_DPL_MASK) >> X86_SEG_DPL_SHIFT;
}

#endif
