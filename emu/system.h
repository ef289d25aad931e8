/* System semantics shared by interrupt.c, iret.c, far.c, task.c, desc.c and
 * debug.c: descriptor reads with the error code each path needs, stacks that
 * are not (yet) the current one, and event delivery. */
#ifndef EMUDIFF_EMU_SYSTEM_H
#define EMUDIFF_EMU_SYSTEM_H

#include "private.h"
#include "x86_desc.h"

/* Selector error-code bits (SDM Vol. 3, 6.13). */
#define EC_EXT 1u
#define EC_IDT 2u
#define EC_TI  4u

static inline unsigned attr_dpl(uint32_t attr)
{
	return (attr & X86_SEG_DPL_MASK) >> X86_SEG_DPL_SHIFT;
}
static inline unsigned attr_type(uint32_t attr)
{
	return attr & X86_SEG_TYPE_MASK;
}
static inline bool attr_code(uint32_t attr)
{
	return (attr & X86_SEG_S) && (attr & 8);
}
static inline bool attr_conforming(uint32_t attr)
{
	return (attr & (X86_SEG_S | 0xc)) == (X86_SEG_S | 0xc);
}
static inline bool long_mode(const struct emu_exec *x)
{
	return (x->st->efer & X86_EFER_LMA) != 0;
}

/* desc.c: reads the 8-byte descriptor of sel from the GDT or LDT; a selector beyond the table
 * limit (or an LDT selector with no LDT) raises vec(sel | ext). */
enum emu_status emu_desc_read(struct emu_exec *x, uint16_t sel, unsigned vec, uint32_t ext, uint64_t *d,
                              uint64_t *addr);
/* The upper 8 bytes of a 16-byte long-mode system descriptor (GDT/LDT limit checked likewise). */
enum emu_status emu_desc_read_hi(struct emu_exec *x, uint16_t sel, unsigned vec, uint32_t ext, uint64_t *hi);
/* Sets bits (accessed 0x1, busy 0x2) in the type byte in memory, a held write. */
enum emu_status emu_desc_set_bits(struct emu_exec *x, uint64_t addr, uint64_t d, uint8_t bits);
/* A null segment register as a protected-mode null load leaves it. */
void emu_seg_null(struct x86_segment *s, uint16_t sel);
/* Loads SS for a privilege change (TSS stack, call gate, IRET/RETF outward) with the checks of
 * that path: vec is EMU_TS or EMU_GP, the not-present fault is #SS. */
enum emu_status emu_load_stack_seg(struct emu_exec *x, uint16_t sel, unsigned cpl, unsigned vec, uint32_t ext,
                                   struct x86_segment *out, uint64_t *addr, uint64_t *d);
/* seg.c: reads, checks and decodes the (non-null) descriptor of sel for segment register seg at
 * privilege cpl, the one check every segment load makes: table, type and privilege errors raise
 * vec(sel | ext), not present #NP (#SS for SS). The caller sets the accessed bit (d at addr). */
enum emu_status emu_seg_load_desc(struct emu_exec *x, unsigned seg, uint16_t sel, unsigned cpl, unsigned vec,
                                  uint32_t ext, struct x86_segment *out, uint64_t *d, uint64_t *addr);
/* The CS a call, interrupt or trap gate names: not null (#GP(ext)), code with DPL <= CPL, else
 * #GP(sel | ext); the caller checks presence and the L/D combination. */
enum emu_status emu_load_gate_cs(struct emu_exec *x, uint16_t sel, uint32_t ext, struct x86_segment *out,
                                 uint64_t *d, uint64_t *addr);
/* The CS a far RET or IRET returns to: code, RPL >= CPL, DPL = RPL (<= RPL if conforming), else #GP;
 * the caller checks presence and the L/D combination. */
enum emu_status emu_load_return_cs(struct emu_exec *x, uint16_t sel, struct x86_segment *out, uint64_t *d,
                                   uint64_t *addr);
/* The SS a far RET or IRET to ring rpl pops: a null one only for 64-bit code below ring 3. */
enum emu_status emu_load_return_ss(struct emu_exec *x, uint16_t sel, unsigned rpl, bool target64,
                                   struct x86_segment *out, uint64_t *addr, uint64_t *d);
/* Reads len bytes at off in the current TSS; #TS(TR | ext) beyond its limit. */
enum emu_status emu_tss_read(struct emu_exec *x, uint32_t off, unsigned len, uint32_t ext, void *buf);
/* The ring-dpl stack of the current TSS: SS:SP from a 16- or 32-bit TSS, RSP (SS = dpl) in long mode. */
enum emu_status emu_tss_stack(struct emu_exec *x, unsigned dpl, uint32_t ext, uint16_t *ss, uint64_t *sp);
/* After a return to an outer ring: data segments the new CPL may not use become null. */
void emu_null_inaccessible(struct x86_state *st, unsigned cpl);

/* VERR (write = false) and VERW, for 0F 00 /4 and /5. */
enum emu_status emu_verr_verw(struct emu_exec *x, bool write);

/* A stack that is built or read through a descriptor that is not loaded yet. */
struct emu_stk {
	struct x86_segment ss;
	uint64_t sp;
	unsigned size; /* stack address size: 2, 4 or 8 */
	bool user;     /* user-mode accesses (CPL 3) */
	uint32_t ec;   /* #SS error code of a limit violation */
};
enum emu_status emu_stk_push(struct emu_exec *x, struct emu_stk *s, unsigned width, uint64_t v);
enum emu_status emu_stk_pop(struct emu_exec *x, struct emu_stk *s, unsigned width, uint64_t *v);
/* The current stack as an emu_stk. */
void emu_stk_current(struct emu_exec *x, struct emu_stk *s);
/* Writes sp back into RSP with the stack's address size. */
void emu_stk_set_rsp(struct x86_state *st, const struct emu_stk *s);

/* interrupt.c */
enum emu_ev_kind {
	EV_HW,    /* exception or external interrupt: EXT = 1, no gate DPL check */
	EV_SOFT,  /* INT n, INT3, INTO: EXT = 0, gate DPL >= CPL */
	EV_ICEBP, /* INT1: EXT = 1, no gate DPL check */
};
struct emu_ev {
	unsigned vector;
	bool has_error;
	uint32_t error;
	enum emu_ev_kind kind;
	bool set_rf; /* a fault: the RFLAGS image has RF set */
	uint64_t ret_rip;
};
enum emu_status emu_deliver_ev(struct emu_exec *x, const struct emu_ev *ev);
/* Whether an exception vector is a fault (RF set in the pushed image). */
bool emu_vector_is_fault(unsigned vector);
/* Delivers an event as a step of its own, with the double-fault and shutdown rules. */
enum emu_status emu_deliver_event(struct emu_ctxt *c, const struct emu_event *ev, bool injected);

/* task.c: a task switch through a TSS descriptor or task gate. @reason: how it was entered. */
enum task_reason { TASK_JMP, TASK_CALL, TASK_IRET, TASK_INT };
enum emu_status emu_task_switch(struct emu_exec *x, uint16_t sel, uint64_t desc, uint64_t desc_addr,
                                enum task_reason reason, uint32_t ext, bool has_error, uint32_t error,
                                uint64_t ret_rip);

/* far.c: protected-mode far JMP/CALL (code segments, call gates, task gates, TSS descriptors). */
enum emu_status emu_far_transfer(struct emu_exec *x, uint16_t sel, uint64_t off, bool call);
/* Protected-mode RETF, to the same or an outer level; imm: the bytes RETF imm16 releases. */
enum emu_status emu_far_return(struct emu_exec *x, uint16_t imm);

/* sysinsn.c: CLI (sti = false) and STI; PUSHF/POPF in virtual-8086 mode with IOPL < 3. */
enum emu_status emu_cli_sti(struct emu_exec *x, bool sti);
enum emu_status emu_pushf_vme(struct emu_exec *x);
enum emu_status emu_popf_vme(struct emu_exec *x);

/* debug.c: before an instruction, an NMI or an instruction breakpoint (*done: the step is over). */
enum emu_status emu_debug_before(struct emu_ctxt *c, bool *done);
/* After an instruction completed with rc: the single-step trap. */
enum emu_status emu_debug_after(struct emu_exec *x, uint64_t rflags_before, enum emu_status rc);
/* A MOV DR with DR7.GD raised #DB (a fault): DR6.BD, and BS for the single-step trap a MOV SS shadow held
 * over it; GD cleared for the handler, RF set in the image (SDM Vol. 3B 17.2.4, 17.3.1.1). */
void emu_debug_general_detect(struct x86_state *st, uint64_t rflags_before);

#endif
