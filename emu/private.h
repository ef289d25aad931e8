/* emu internals shared by the decoder, the step loop and the opcode files. */
#ifndef EMUDIFF_EMU_PRIVATE_H
#define EMUDIFF_EMU_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alu.h"
#include "emu.h"

/* Exception vectors. */
enum {
	EMU_DE = 0,
	EMU_DB = 1,
	EMU_NMI = 2,
	EMU_BP = 3,
	EMU_OF = 4,
	EMU_BR = 5,
	EMU_UD = 6,
	EMU_NM = 7,
	EMU_DF = 8,
	EMU_TS = 10,
	EMU_NP = 11,
	EMU_SS = 12,
	EMU_GP = 13,
	EMU_PF = 14,
	EMU_MF = 16,
	EMU_AC = 17,
	EMU_XM = 19,
};

/* Decode flags: one table row per opcode holds these and the handler. */
#define D_MODRM   (1u << 0)  /* a ModRM byte follows */
#define D_BYTE    (1u << 1)  /* 8-bit operand size */
#define D_IB      (1u << 2)  /* 8-bit immediate */
#define D_IW      (1u << 3)  /* 16-bit immediate (RET/ENTER) */
#define D_IZ      (1u << 4)  /* 16/32-bit immediate by operand size, sign-extended to 64 */
#define D_IV      (1u << 5)  /* immediate of the full operand size (MOV r, imm64) */
#define D_MOFFS   (1u << 6)  /* an address-size offset (MOV AL, moffs) */
#define D_FAR     (1u << 7)  /* a far pointer ptr16:16/ptr16:32 */
#define D_NO64    (1u << 8)  /* #UD in 64-bit mode */
#define D_STACK   (1u << 9)  /* 64-bit default operand size in 64-bit mode */
#define D_FORCE64 (1u << 10) /* 64-bit operand size in 64-bit mode whatever 66 says */
#define D_LOCK    (1u << 11) /* LOCK allowed with a memory destination */
#define D_GROUP   (1u << 12) /* the ModRM reg field picks the row */
#define D_UD      (1u << 13) /* invalid encoding: #UD */
#define D_MEM     (1u << 14) /* memory operand required, else #UD */
#define D_REG     (1u << 15) /* register operand required (mod forced to 3) */
#define D_ONLY64  (1u << 16) /* #UD outside 64-bit mode */
#define D_IB2     (1u << 20) /* a second 8-bit immediate after the first (ENTER) */
#define D_SAFE    (1u << 21) /* the handler changes no state before its last fault point (no undo copy) */

struct emu_exec;
typedef enum emu_status (*emu_handler)(struct emu_exec *x);

struct emu_opcode {
	uint32_t flags;
	emu_handler fn;
	const struct emu_opcode *group; /* 8 rows (D_GROUP), then 8 for mod == 3 rm (D_GROUP_RM) */
};

/* One decoded instruction. */
struct emu_insn {
	const struct emu_opcode *op;
	uint32_t flags;
	uint8_t len;
	uint8_t b;   /* opcode byte */
	uint8_t map; /* 0: one byte, 1: 0F, 2: 0F 38, 3: 0F 3A */
	uint8_t opsize;
	uint8_t adsize;
	uint8_t width; /* operand width of this instruction: 1 or opsize */
	uint8_t rex;   /* effective REX prefix (0 when none) */
	uint8_t pfx66;
	uint8_t rep; /* 0, 0xf2 or 0xf3: the last of them */
	uint8_t lock;
	int8_t seg_ovr;              /* X86_ES..X86_GS, or -1 */
	uint8_t mode;                /* enum x86_mode */
	uint8_t modrm, mod, reg, rm; /* reg and rm carry REX.R and REX.B */
	uint8_t base, index, scale;  /* base 0xff: none; index 0xff: none */
	bool rip_rel;
	uint8_t ea_seg; /* the segment of the memory operand */
	uint8_t n_pfx;  /* bytes before the opcode */
	int64_t disp;
	uint64_t imm, imm2;
	uint64_t ea; /* effective address (offset), computed before execution */
};

enum emu_decode_result { DEC_OK, DEC_UD, DEC_GP, DEC_MORE };

/* Decodes an instruction. @avail may be less than 15: DEC_MORE asks for more. */
enum emu_decode_result emu_decode(struct emu_insn *i, const uint8_t *buf, unsigned avail, enum x86_mode mode);

extern const struct emu_opcode emu_onebyte[256];
extern const struct emu_opcode emu_twobyte[256];

#define EMU_WBUF_BYTES 1024
#define EMU_MAX_WRITES 48

/* A memory write held back until the instruction can no longer fault. */
struct emu_pending_write {
	uint64_t gpa;
	uint16_t off; /* into wbuf */
	uint16_t len;
};

/* The state of one step. */
struct emu_exec {
	struct emu_ctxt *c;
	struct x86_state *st;
	const struct emu_ops *ops;
	void *opaque;
	struct emu_insn *i; /* the decoded instruction: ibuf, or a decode cache entry */
	struct emu_insn ibuf;
	enum x86_mode mode;
	unsigned cpl;
	uint64_t next_rip;  /* rip after this instruction (handlers that branch set st->rip) */
	bool rip_set;       /* a handler wrote st->rip */
	uint8_t new_shadow; /* X86_SHADOW_* set by this instruction */
	bool fetch_cross;   /* the fetch crossed a page */
	bool implicit_sv; /* a system-table access (GDT, LDT, IDT, TSS): SMAP applies whatever EFLAGS.AC says
	                   */
	uint8_t dr_hits;  /* DR0-DR3 data breakpoints this instruction's accesses matched */
	bool rf_loaded;   /* IRETD/IRETQ or a task switch loaded RF: it stays for one instruction */
	uint32_t n_writes;
	uint32_t wbuf_used;
	struct emu_pending_write writes[EMU_MAX_WRITES];
	uint8_t wbuf[EMU_WBUF_BYTES];
};

/* Errors. */
static inline enum emu_status emu_raise(struct emu_exec *x, unsigned vector, bool has_error, uint32_t error)
{
	x->c->event.vector = (uint8_t)vector;
	x->c->event.has_error = has_error;
	x->c->event.error_code = error;
	x->c->event.cr2 = 0;
	return EMU_EXCEPTION;
}
#define EMU_RAISE_UD(x)  emu_raise((x), EMU_UD, false, 0)
#define EMU_RAISE_GP0(x) emu_raise((x), EMU_GP, true, 0)
enum emu_status emu_unimplemented(struct emu_exec *x);

#define EMU_TRY(expr)                                                                                        \
	do {                                                                                                 \
		enum emu_status try_rc_ = (expr);                                                            \
		if (try_rc_ != EMU_OK)                                                                       \
			return try_rc_;                                                                      \
	} while (0)

static inline uint64_t emu_mask(unsigned width)
{
	return width >= 8 ? ~0ull : (1ull << (width * 8)) - 1;
}

static inline int64_t emu_sext(uint64_t v, unsigned width)
{
	switch (width) {
	case 1:
		return (int8_t)v;
	case 2:
		return (int16_t)v;
	case 4:
		return (int32_t)v;
	default:
		return (int64_t)v;
	}
}

/* General registers. Byte registers 4-7 are AH..BH unless a REX prefix is present. */
static inline uint64_t emu_reg_get(const struct emu_exec *x, unsigned r, unsigned width)
{
	if (width == 1) {
		if (!x->i->rex && r >= 4 && r < 8)
			return (x->st->gpr[r - 4] >> 8) & 0xff;
		return x->st->gpr[r] & 0xff;
	}
	return x->st->gpr[r] & emu_mask(width);
}

static inline void emu_reg_set(struct emu_exec *x, unsigned r, unsigned width, uint64_t v)
{
	uint64_t *g;
	switch (width) {
	case 1:
		if (!x->i->rex && r >= 4 && r < 8) {
			g = &x->st->gpr[r - 4];
			*g = (*g & ~0xff00ull) | ((v & 0xff) << 8);
		} else {
			g = &x->st->gpr[r];
			*g = (*g & ~0xffull) | (v & 0xff);
		}
		break;
	case 2:
		g = &x->st->gpr[r];
		*g = (*g & ~0xffffull) | (v & 0xffff);
		break;
	case 4:
		x->st->gpr[r] = (uint32_t)v;
		break;
	default:
		x->st->gpr[r] = v;
	}
}

/* Registers indexed by address size (counters, string pointers). */
static inline uint64_t emu_areg_get(const struct emu_exec *x, unsigned r)
{
	return x->st->gpr[r] & emu_mask(x->i->adsize);
}
static inline void emu_areg_set(struct emu_exec *x, unsigned r, uint64_t v)
{
	emu_reg_set(x, r, x->i->adsize, v);
}

/* emu.c: memory through segmentation and paging. Reads happen now; writes are held until commit. */
enum emu_status emu_mem_read(struct emu_exec *x, unsigned seg, uint64_t off, void *buf, unsigned len);
enum emu_status emu_mem_write(struct emu_exec *x, unsigned seg, uint64_t off, const void *buf, unsigned len);
enum emu_status emu_mem_read_u(struct emu_exec *x, unsigned seg, uint64_t off, unsigned width, uint64_t *v);
enum emu_status emu_mem_write_u(struct emu_exec *x, unsigned seg, uint64_t off, unsigned width, uint64_t v);
/* Linear-address (system table) accesses: no segment checks. @sys: supervisor access */
enum emu_status emu_lin_read(struct emu_exec *x, uint64_t lin, void *buf, unsigned len);
enum emu_status emu_lin_write(struct emu_exec *x, uint64_t lin, const void *buf, unsigned len);
/* A linear access with an explicit user/supervisor mode: reads see the held stores, writes are held. */
enum emu_status emu_lin_access(struct emu_exec *x, uint64_t lin, void *buf, unsigned len, bool write,
                               bool user);
/* Writes the held stores to memory (the instruction or event can no longer fault). */
enum emu_status emu_commit_writes(struct emu_exec *x);
/* The exec state at the start of a step (an instruction or an event delivery). */
void emu_exec_init(struct emu_exec *x, struct emu_ctxt *c);
/* Read-modify-write: checks the write permission before the read. */
enum emu_status emu_mem_check_write(struct emu_exec *x, unsigned seg, uint64_t off, unsigned len);

/* Computes i.ea from the registers (again after POP moved RSP). */
void emu_calc_ea(struct emu_exec *x);

/* ModRM operand access: registers inline, memory through segmentation and paging. */
static inline enum emu_status emu_rm_read(struct emu_exec *x, unsigned width, uint64_t *v)
{
	if (x->i->mod == 3) {
		*v = emu_reg_get(x, x->i->rm, width);
		return EMU_OK;
	}
	return emu_mem_read_u(x, x->i->ea_seg, x->i->ea, width, v);
}

static inline enum emu_status emu_rm_write(struct emu_exec *x, unsigned width, uint64_t v)
{
	if (x->i->mod == 3) {
		emu_reg_set(x, x->i->rm, width, v);
		return EMU_OK;
	}
	return emu_mem_write_u(x, x->i->ea_seg, x->i->ea, width, v);
}

/* Stack. */
unsigned emu_stack_size(const struct emu_exec *x);
enum emu_status emu_push(struct emu_exec *x, unsigned width, uint64_t v);
enum emu_status emu_pop(struct emu_exec *x, unsigned width, uint64_t *v);
/* Reads the stack at rsp + offset without moving rsp. */
enum emu_status emu_stack_read(struct emu_exec *x, uint64_t offset, unsigned width, uint64_t *v);
void emu_rsp_add(struct emu_exec *x, int64_t delta);

/* Port access, logged. */
enum emu_status emu_port_in(struct emu_exec *x, uint16_t port, unsigned size, uint32_t *v);
enum emu_status emu_port_out(struct emu_exec *x, uint16_t port, unsigned size, uint32_t v);
/* I/O permission: IOPL (and later the TSS bitmap). */
enum emu_status emu_io_allowed(struct emu_exec *x, uint16_t port, unsigned size);

/* Access log. */
void emu_log(struct emu_exec *x, uint8_t kind, uint64_t addr, const void *data, unsigned size);

/* Branch: sets rip to a target truncated to the operand size; #GP when beyond CS limit or non-canonical. */
enum emu_status emu_jump(struct emu_exec *x, uint64_t target, unsigned width);

bool emu_cond(uint64_t rflags, unsigned cc);

/* seg.c */
enum emu_seg_access { SEG_READ, SEG_WRITE, SEG_EXEC };
enum emu_status emu_seg_linear(struct emu_exec *x, unsigned seg, uint64_t off, unsigned len,
                               enum emu_seg_access acc, uint64_t *lin);
static inline bool emu_canonical(uint64_t lin)
{
	return (uint64_t)((int64_t)(lin << 16) >> 16) == lin;
}
/* Loads a segment register's descriptor cache into *out (not into the state):
 * real/v86 mode: base = sel * 16; protected mode: descriptor from GDT/LDT with checks. */
enum emu_status emu_seg_load(struct emu_exec *x, unsigned seg, uint16_t sel, struct x86_segment *out);
/* A segment register as virtual-8086 mode loads it: base = sel * 16, limit 64 KiB, DPL 3 data. */
void emu_seg_v86(struct x86_segment *s, uint16_t sel);
/* LLDT/LTR: loads an LDT or available-TSS descriptor from the GDT (16 bytes in long mode).
 * @desc_addr: [OUT] the descriptor's linear address (LTR marks it busy). */
enum emu_status emu_seg_load_system(struct emu_exec *x, unsigned seg, uint16_t sel, struct x86_segment *out,
                                    uint64_t *desc_addr);

/* debug.c: records the data breakpoints a linear access matches (DR7 has some enabled). */
void emu_debug_data(struct emu_exec *x, uint64_t lin, unsigned len, bool write);

/* paging.c: linear to physical; @acc: SEG_READ/WRITE/EXEC; sets A/D bits. */
enum emu_status emu_translate(struct emu_exec *x, uint64_t lin, enum emu_seg_access acc, bool user,
                              uint64_t *gpa);
/* The hook where a TLB would be flushed (MOV CR3, INVLPG, ...). */
void emu_tlb_flush(struct emu_exec *x, bool all, uint64_t lin);

/* cache.c: the optional TLB and decoded-instruction cache (x->c->cache != NULL). */
bool emu_tlb_lookup(struct emu_exec *x, uint64_t lin, enum emu_seg_access acc, bool user, uint64_t *gpa);
void emu_tlb_fill(struct emu_exec *x, uint64_t lin, uint64_t gpa, bool w, bool u, bool xok, bool dirty);
void emu_dc_fill(struct emu_exec *x, uint64_t lin, uint64_t gpa, const uint8_t *buf);
void emu_dc_note_write(struct emu_cache *k, uint64_t gpa, unsigned len);
/* A page-walk read of a paging-structure entry: a later store there drops the TLB. */
void emu_tlb_note_table(struct emu_cache *k, uint64_t gpa);

/* The caches' layout, here so that the decode-cache hit path inlines into the step loop. */
#define TLB_SIZE   256
#define DC_SIZE    4096
#define CODE_PAGES (1u << 20) /* pages below 4 GiB */
#define PT_BLOOM   4096u      /* bits for the pages translations were read from, by page number */

#define TLB_W 1u
#define TLB_U 2u
#define TLB_X 4u
#define TLB_D 8u

struct tlb_entry {
	uint64_t vpn; /* linear page number + 1; 0: empty */
	uint64_t pfn;
	uint32_t perm;
	uint32_t user; /* filled for a user access */
};

struct dc_entry {
	uint64_t lin; /* +1; 0: empty */
	uint64_t gen; /* valid while equal to emu_cache.gen */
	uint8_t mode;
	uint8_t cpl;
	uint8_t blk[16]; /* insn_len, then the bytes: the layout of emu_step_info's head */
	struct emu_insn insn;
};

_Static_assert(offsetof(struct emu_step_info, insn) == offsetof(struct emu_step_info, insn_len) + 1 &&
                   sizeof(((struct emu_step_info *)0)->insn) == 15,
               "emu_step_info must start with insn_len, insn[15]");

struct emu_cache {
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gen; /* decoded instructions are keyed by linear address: any remapping or code store bumps
	                 this */
	struct tlb_entry tlb[TLB_SIZE];
	struct dc_entry dc[DC_SIZE];
	uint8_t code_pages[CODE_PAGES / 8];
	/* Pages the TLB's translations were read from (a false positive only drops the TLB more often),
	 * so that a store to a paging structure drops translations a fresh walk would no longer give. */
	uint8_t pt_pages[PT_BLOOM / 8];
};

/* Whether the TLB was filled under the current paging registers (false: it has just been dropped). */
bool emu_tlb_context(struct emu_cache *k, const struct x86_state *st);
static inline bool emu_tlb_fresh(const struct emu_cache *k, const struct x86_state *st)
{
	return k->cr3 == st->cr3 && k->cr0 == st->cr0 && k->cr4 == st->cr4 && k->efer == st->efer;
}

/* Decoded instructions by linear address. A hit points x->i at the entry and fills the step
 * report's instruction bytes; avail: bytes before the page end or the CS limit. */
static inline bool emu_dc_lookup(struct emu_exec *x, uint64_t lin, unsigned avail)
{
	struct emu_cache *k = x->c->cache;
	struct dc_entry *e = &k->dc[lin % DC_SIZE];
	if (e->lin != lin + 1 || e->gen != k->gen || e->mode != x->mode || e->cpl != x->cpl ||
	    e->blk[0] > avail)
		return false;
	if ((x->st->cr0 & X86_CR0_PG) && !emu_tlb_fresh(k, x->st))
		return false;
	x->i = &e->insn;
	/* One 16-byte copy fills insn_len and insn[] of the step report. */
	memcpy((uint8_t *)&x->c->info + offsetof(struct emu_step_info, insn_len), e->blk, 16);
	return true;
}

/* interrupt.c: delivers vector through the IVT (real mode) or IDT; @next: rip pushed. */
enum emu_status emu_deliver(struct emu_exec *x, unsigned vector, bool has_error, uint32_t error, bool soft,
                            uint64_t ret_rip);
enum emu_status emu_iret(struct emu_exec *x);

/* System register writes (ops_system.c), shared with the mode-changing paths. */
enum emu_status emu_write_cr(struct emu_exec *x, unsigned cr, uint64_t v);

/* Handlers, by file. */
#define H(name) enum emu_status name(struct emu_exec *x)
/* ops_alu.c */
H(em_alu);
H(em_alu_acc);
H(em_grp1);
H(em_test);
H(em_test_acc);
H(em_grp2);
H(em_grp3);
H(em_incdec_r);
H(em_grp4);
H(em_imul3);
H(em_imul2);
H(em_shxd);
H(em_bt);
H(em_grp8);
H(em_bsf_bsr);
H(em_popcnt);
H(em_bcd);
H(em_aam);
H(em_aad);
H(em_salc);
H(em_cbw);
H(em_cwd);
H(em_setcc);
H(em_cmovcc);
H(em_xadd);
H(em_cmpxchg);
H(em_grp9);
H(em_bswap);
H(em_flags);
H(em_lahf);
H(em_sahf);
/* ops_data.c */
H(em_mov);
H(em_mov_imm_r);
H(em_mov_rm_imm);
H(em_mov_moffs);
H(em_mov_from_sreg);
H(em_mov_to_sreg);
H(em_lea);
H(em_movzx);
H(em_movsx);
H(em_movsxd);
H(em_xchg);
H(em_xchg_acc);
H(em_nop);
H(em_xlat);
H(em_lxs);
H(em_movbe);
/* ops_stack.c */
H(em_push_r);
H(em_pop_r);
H(em_push_imm);
H(em_push_sreg);
H(em_pop_sreg);
H(em_pop_rm);
H(em_pusha);
H(em_popa);
H(em_pushf);
H(em_popf);
H(em_enter);
H(em_leave);
/* ops_branch.c */
H(em_jcc);
H(em_jmp_rel);
H(em_call_rel);
H(em_ret);
H(em_retf);
H(em_jmp_far);
H(em_call_far);
H(em_loop);
H(em_jcxz);
H(em_grp5);
H(em_int);
H(em_int3);
H(em_into);
H(em_int1);
H(em_iret);
H(em_bound);
/* ops_string.c */
H(em_movs);
H(em_cmps);
H(em_stos);
H(em_lods);
H(em_scas);
H(em_ins);
H(em_outs);
H(em_in);
H(em_out);
/* ops_system.c */
H(em_hlt);
H(em_cpuid);
H(em_rdtsc);
H(em_rdmsr);
H(em_wrmsr);
H(em_grp7);
H(em_invpcid);
H(em_grp6);
H(em_lar_lsl);
H(em_mov_cr);
H(em_mov_dr);
H(em_clts);
H(em_wbinvd);
H(em_ud);
H(em_hint_nop);
H(em_rdrand);
H(em_grp15);
H(em_fpu);
H(em_fwait);
H(em_sse_mov);
H(em_sse_movd);
H(em_sse_xor);
H(em_sse_movq_store);
H(em_emms);
H(em_syscall);
H(em_sysret);
H(em_sysenter);
H(em_sysexit);
#undef H

#endif
