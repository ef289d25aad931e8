/* The unicorn backend against hand-made states: each row loads a state and
 * code, runs one step and compares the whole post-state (except the fields the
 * backend marks unobserved), the memory writes and the port accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "unicorn_private.h"

#define RAM_SIZE  0x100000u
#define MMIO_ADDR 0xfec00000u

static const struct backend_region test_regions[] = {
    {.gpa = 0, .len = RAM_SIZE, .rom = false},
    {.gpa = 0x100000, .len = 0x1000, .rom = true},
};

struct ctx {
	struct backend *b;
	const struct backend_ops *ops;
};

static void wmem(struct backend *b, uint64_t gpa, const void *data, size_t len)
{
	assert_int_equal(backend_unicorn_ops.write_mem(b, gpa, data, len), 0);
}

static void put_desc(struct backend *b, uint64_t gdt, unsigned sel, uint32_t base, uint32_t limit,
                     unsigned type_s_dpl_p, unsigned flags)
{
	uint8_t d[8];
	d[0] = (uint8_t)limit;
	d[1] = (uint8_t)(limit >> 8);
	d[2] = (uint8_t)base;
	d[3] = (uint8_t)(base >> 8);
	d[4] = (uint8_t)(base >> 16);
	d[5] = (uint8_t)type_s_dpl_p;
	d[6] = (uint8_t)(((limit >> 16) & 0xf) | (flags << 4));
	d[7] = (uint8_t)(base >> 24);
	wmem(b, gdt + (sel & ~7u), d, 8);
}

static void seg(struct x86_state *st, int i, uint16_t sel, uint64_t base, uint32_t limit, uint32_t attr)
{
	st->seg[i].selector = sel;
	st->seg[i].base = base;
	st->seg[i].limit = limit;
	st->seg[i].attr = attr;
}

#define ATTR_CODE32 (0xbu | X86_SEG_S | X86_SEG_P | X86_SEG_DB | X86_SEG_G)
#define ATTR_DATA32 (0x3u | X86_SEG_S | X86_SEG_P | X86_SEG_DB | X86_SEG_G)
#define ATTR_CODE64 (0xbu | X86_SEG_S | X86_SEG_P | X86_SEG_L | X86_SEG_G)

/* Real mode, CS=0100 (code at 0x1000), SS=2000, DS=ES=3000. */
static void pre_real(struct backend *b, struct x86_state *st)
{
	(void)b;
	x86_state_real(st, 0x0100, 0x0000, 0xfffe);
	seg(st, X86_SS, 0x2000, 0x20000, 0xffff, 0x3 | X86_SEG_S | X86_SEG_P);
	seg(st, X86_DS, 0x3000, 0x30000, 0xffff, 0x3 | X86_SEG_S | X86_SEG_P);
	seg(st, X86_ES, 0x3000, 0x30000, 0xffff, 0x3 | X86_SEG_S | X86_SEG_P);
}

static void pre_mov_ss(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RAX] = 0x2800;
}

/* A reference that stops right after MOV SS (KVM's emulator): the step is the SS load alone, in a shadow. */
static void post_mov_ss_alone(struct x86_state *st)
{
	st->seg[X86_SS].selector = 0x2800;
	st->seg[X86_SS].base = 0x28000;
	st->events.shadow = X86_SHADOW_MOV_SS;
	st->rip += 2;
}

static void pre_add(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RAX] = 0xffff;
	st->gpr[X86_RBX] = 1;
}

static void pre_push(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RAX] = 0x1234;
}

static void pre_movsb(struct backend *b, struct x86_state *st)
{
	static const uint8_t src[3] = {0x5a, 0x6b, 0x7c};
	pre_real(b, st);
	st->gpr[X86_RCX] = 3;
	st->gpr[X86_RSI] = 0x100;
	st->gpr[X86_RDI] = 0x200;
	wmem(b, 0x30100, src, sizeof(src));
}

static void pre_in(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RDX] = 0x60;
}

static void pre_out(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RDX] = 0x80;
	st->gpr[X86_RAX] = 0x55;
}

static void pre_lock_cmp(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RBX] = 0x10;
}

/* 32-bit protected mode, flat data, CS base 0x10000 (code at 0x10000 + EIP 0x100). */
#define GDT 0x500
static void pre_pm32(struct backend *b, struct x86_state *st)
{
	x86_state_real(st, 0, 0, 0);
	put_desc(b, GDT, 0x08, 0x10000, 0xfffff, 0x9b, 0xc);
	put_desc(b, GDT, 0x10, 0, 0xfffff, 0x93, 0xc);
	put_desc(b, GDT, 0x18, 0x20000, 0xfffff, 0x9b, 0xc);
	st->cr0 = X86_CR0_PE | X86_CR0_ET;
	st->gdtr.base = GDT;
	st->gdtr.limit = 0x1f;
	seg(st, X86_CS, 0x08, 0x10000, 0xffffffff, ATTR_CODE32);
	for (int i = X86_ES; i <= X86_GS; i++)
		if (i != X86_CS)
			seg(st, i, 0x10, 0, 0xffffffff, ATTR_DATA32);
	st->rip = 0x100;
	st->gpr[X86_RSP] = 0x8000;
}

/* Long mode with identity-mapped 2 MiB page at 0, code at 0x1000. */
static void pre_long(struct backend *b, struct x86_state *st)
{
	uint64_t pml4 = 0x71000 | 3, pdpt = 0x72000 | 3, pd = 0x0 | 0x83;
	x86_state_real(st, 0, 0, 0);
	wmem(b, 0x70000, &pml4, 8);
	wmem(b, 0x71000, &pdpt, 8);
	wmem(b, 0x72000, &pd, 8);
	st->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	st->cr3 = 0x70000;
	st->cr4 = X86_CR4_PAE;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
	seg(st, X86_CS, 0x08, 0, 0xffffffff, ATTR_CODE64);
	for (int i = X86_ES; i <= X86_GS; i++)
		if (i != X86_CS)
			seg(st, i, 0x10, 0, 0xffffffff, ATTR_DATA32);
	st->rip = 0x1000;
	st->gpr[X86_RSP] = 0x8000;
	static const uint64_t val = 0x1122334455667788ull;
	wmem(b, 0x1107, &val, 8);
}

/* Long mode where linear page 0x5000 maps to physical 0x6000. */
static void pre_long_remap(struct backend *b, struct x86_state *st)
{
	uint64_t pd = 0x73000 | 3, pt[16];
	pre_long(b, st);
	wmem(b, 0x72000, &pd, 8);
	for (int i = 0; i < 16; i++)
		pt[i] = ((uint64_t)i << 12) | 3;
	pt[5] = 0x6000 | 3;
	wmem(b, 0x73000, pt, sizeof(pt));
	st->gpr[X86_RBX] = 0x5000;
}

static void pre_pm32_sse(struct backend *b, struct x86_state *st)
{
	pre_pm32(b, st);
	st->cr4 |= X86_CR4_OSFXSR;
	for (int i = 0; i < 16; i++)
		st->fpu.xmm[0][i] = (uint8_t)(0xa0 + i);
}

/* 32-bit paging, 4 KiB pages, identity map of the first 4 MiB. */
static void pre_pm32_paging(struct backend *b, struct x86_state *st)
{
	static uint32_t pt[1024];
	uint32_t pde = 0x71000 | 3;
	static const uint32_t val = 0xcafef00d;
	pre_pm32(b, st);
	for (uint32_t i = 0; i < 1024; i++)
		pt[i] = (i << 12) | 3;
	wmem(b, 0x70000, &pde, 4);
	wmem(b, 0x71000, pt, sizeof(pt));
	wmem(b, 0x3000, &val, 4);
	st->cr0 |= X86_CR0_PG;
	st->cr3 = 0x70000;
	st->gpr[X86_RBX] = 0x3000;
}

static void pre_popf(struct backend *b, struct x86_state *st)
{
	static const uint16_t image = 0x0103; /* TF and CF */
	pre_real(b, st);
	wmem(b, 0x2fffe, &image, 2);
}

static void pre_cpuid(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RAX] = 0;
}

static void pre_rdmsr(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RCX] = 0xc0000081;
	st->msr[X86_MSR_STAR] = 0x0023001000000000ull;
}

static void pre_wrmsr(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RCX] = 0xc0000081;
	st->gpr[X86_RDX] = 0x00230010;
	st->gpr[X86_RAX] = 0x12345678;
}

static void pre_mov_dr(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->gpr[X86_RAX] = 0x4321;
}

static void pre_swapgs(struct backend *b, struct x86_state *st)
{
	pre_long(b, st);
	st->seg[X86_GS].base = 0x7000;
	st->msr[X86_MSR_KERNEL_GS_BASE] = 0x5000;
}

/* Long mode, EFER.NXE, 4 KiB pages; the data page 0x3000 is no-execute. */
static void pre_long_nx(struct backend *b, struct x86_state *st)
{
	uint64_t pd = 0x73000 | 3, pt[16];
	static const uint64_t val = 0x0102030405060708ull;
	pre_long(b, st);
	wmem(b, 0x72000, &pd, 8);
	for (int i = 0; i < 16; i++)
		pt[i] = ((uint64_t)i << 12) | 0x23; /* accessed already: no walk writes */
	pt[3] |= 1ull << 63;
	wmem(b, 0x73000, pt, sizeof(pt));
	wmem(b, 0x3000, &val, 8);
	st->efer |= X86_EFER_NXE;
	st->gpr[X86_RBX] = 0x3000;
}

static void post_long_nx(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0x0102030405060708ull;
	st->rip += 3;
}

/* Real mode, a far return to 0200:0010 on the stack. */
static void pre_retf(struct backend *b, struct x86_state *st)
{
	static const uint16_t frame[2] = {0x0010, 0x0200};
	pre_real(b, st);
	st->gpr[X86_RSP] = 0xfff8;
	wmem(b, 0x2fff8, frame, sizeof(frame));
}

static void post_retf(struct x86_state *st)
{
	st->seg[X86_CS].selector = 0x0200;
	st->seg[X86_CS].base = 0x2000;
	st->gpr[X86_RSP] = 0xfffe;
	st->rip = 0x10;
}

static void pre_halted(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->events.halted = 1;
}

static void post_mov(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0x1234;
	st->rip += 3;
}

static void post_add(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0;
	st->rflags = X86_RFLAGS_FIXED | X86_RFLAGS_CF | X86_RFLAGS_PF | X86_RFLAGS_AF | X86_RFLAGS_ZF;
	st->rip += 2;
}

static void post_push(struct x86_state *st)
{
	st->gpr[X86_RSP] = 0xfffc;
	st->rip += 1;
}

static void post_movsb(struct x86_state *st)
{
	st->gpr[X86_RCX] = 2;
	st->gpr[X86_RSI] = 0x101;
	st->gpr[X86_RDI] = 0x201;
	st->rflags |= X86_RFLAGS_RF; /* between iterations, as silicon's image there has it */
}

static void post_in(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0xab;
	st->rip += 1;
}

static void post_out(struct x86_state *st)
{
	st->rip += 1;
}

static void post_mmio(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0x11223344;
	st->rip += 5;
}

static void post_mmio_write(struct x86_state *st)
{
	st->rip += 10;
}

static void post_far_jmp(struct x86_state *st)
{
	seg(st, X86_CS, 0x18, 0x20000, 0xffffffff, ATTR_CODE32);
	st->rip = 0x40;
}

static void post_rip_rel(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0x1122334455667788ull;
	st->rip += 7;
}

static void post_pushf(struct x86_state *st)
{
	st->gpr[X86_RSP] = 0xfffc;
	st->rip += 1;
}

static void post_rom_write(struct x86_state *st)
{
	st->rip += 7;
}

static void post_fld1(struct x86_state *st)
{
	static const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
	memcpy(st->fpu.st[0], one, 10);
	st->fpu.fsw = 7 << 11;
	st->fpu.ftw = 0x80; /* physical register 7 */
	st->rip += 2;
}

/* One value on the x87 stack already: TOP = 7, physical register 7 holds 1.0. */
static void pre_fpu_top7(struct backend *b, struct x86_state *st)
{
	static const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
	pre_real(b, st);
	memcpy(st->fpu.st[0], one, 10);
	st->fpu.fsw = 7 << 11;
	st->fpu.ftw = 0x80;
}

static void post_fld1_again(struct x86_state *st)
{
	memcpy(st->fpu.st[1], st->fpu.st[0], 10);
	st->fpu.fsw = 6 << 11;
	st->fpu.ftw = 0xc0;
	st->rip += 2;
}

static void post_movdqa(struct x86_state *st)
{
	memcpy(st->fpu.xmm[1], st->fpu.xmm[0], 16);
	st->rip += 4;
}

static void post_paging_load(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0xcafef00d;
	st->rip += 2;
}

static void post_sti(struct x86_state *st)
{
	st->rflags |= X86_RFLAGS_IF;
	st->events.shadow = X86_SHADOW_STI;
	st->rip += 1;
}

static void pre_in_mov_ss_shadow(struct backend *b, struct x86_state *st)
{
	pre_real(b, st);
	st->events.shadow = X86_SHADOW_MOV_SS;
}

/* QEMU lets only the first of back-to-back shadowing instructions inhibit: STI in a MOV SS shadow sets
 * none (KVM's emulator sets the STI shadow). */
static void post_sti_in_shadow(struct x86_state *st)
{
	st->rflags |= X86_RFLAGS_IF;
	st->events.shadow = 0;
	st->rip += 1;
}

static void post_hlt(struct x86_state *st)
{
	st->events.halted = 1;
	st->rip += 1;
}

static void post_popf(struct x86_state *st)
{
	st->rflags = 0x0103;
	st->gpr[X86_RSP] = 0;
	st->rip += 1;
}

static void post_cpuid(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0xd;
	st->gpr[X86_RBX] = 0x756e6547;
	st->gpr[X86_RDX] = 0x49656e69;
	st->gpr[X86_RCX] = 0x6c65746e;
	st->rip += 2;
}

static void post_rdmsr(struct x86_state *st)
{
	st->gpr[X86_RAX] = 0;
	st->gpr[X86_RDX] = 0x00230010;
	st->rip += 2;
}

static void post_wrmsr(struct x86_state *st)
{
	st->msr[X86_MSR_STAR] = 0x0023001012345678ull;
	st->rip += 2;
}

static void post_mov_dr(struct x86_state *st)
{
	st->dr[0] = 0x4321;
	st->rip += 3;
}

static void post_swapgs(struct x86_state *st)
{
	st->seg[X86_GS].base = 0x5000;
	st->msr[X86_MSR_KERNEL_GS_BASE] = 0x7000;
	st->rip += 3;
}

static void post_same(struct x86_state *st)
{
	(void)st;
}

struct row {
	const char *name;
	void (*pre)(struct backend *b, struct x86_state *st);
	uint8_t code[16];
	size_t code_len;
	struct trace_input inputs[2];
	uint32_t n_inputs;
	enum backend_outcome outcome;
	void (*post)(struct x86_state *st);
	struct backend_write writes[4];
	uint32_t n_writes;
	struct backend_port ports[1];
	uint32_t n_ports;
	const char *reason;
	const char *file;
	int line;
};

#define ROW(...)                                                                                             \
	{                                                                                                    \
		__VA_ARGS__, .file = __FILE__, .line = __LINE__                                              \
	}
#define IN8(port, v)                                                                                         \
	{                                                                                                    \
		.kind = TRACE_INPUT_PIO_IN, .size = 1, .count = 1, .addr = (port), .data = {(v) }            \
	}

static const struct row rows[] = {
    ROW(.name = "mov ax,1234h", .pre = pre_real, .code = {0xb8, 0x34, 0x12}, .code_len = 3, .post = post_mov),
    ROW(.name = "add ax,bx", .pre = pre_add, .code = {0x01, 0xd8}, .code_len = 2, .post = post_add),
    ROW(.name = "push ax", .pre = pre_push, .code = {0x50}, .code_len = 1, .post = post_push,
        .writes = {{.gpa = 0x2fffc, .len = 2, .data = {0x34, 0x12}}}, .n_writes = 1),
    ROW(.name = "rep movsb, one iteration", .pre = pre_movsb, .code = {0xf3, 0xa4}, .code_len = 2,
        .post = post_movsb, .writes = {{.gpa = 0x30200, .len = 1, .data = {0x5a}}}, .n_writes = 1),
    ROW(.name = "in al,dx", .pre = pre_in, .code = {0xec}, .code_len = 1, .inputs = {IN8(0x60, 0xab)},
        .n_inputs = 1, .post = post_in, .ports = {{.port = 0x60, .size = 1, .is_out = false, .value = 0xab}},
        .n_ports = 1),
    ROW(.name = "out dx,al", .pre = pre_out, .code = {0xee}, .code_len = 1, .post = post_out,
        .ports = {{.port = 0x80, .size = 1, .is_out = true, .value = 0x55}}, .n_ports = 1),
    ROW(.name = "pushf hides the stepping TF", .pre = pre_real, .code = {0x9c}, .code_len = 1,
        .post = post_pushf, .writes = {{.gpa = 0x2fffc, .len = 2, .data = {0x02, 0x00}}}, .n_writes = 1),
    ROW(.name = "pm32 mmio read", .pre = pre_pm32, .code = {0xa1, 0x00, 0x00, 0xc0, 0xfe}, .code_len = 5,
        .inputs = {{.kind = TRACE_INPUT_MMIO_READ,
                    .size = 4,
                    .count = 1,
                    .addr = MMIO_ADDR,
                    .data = {0x44, 0x33, 0x22, 0x11}}},
        .n_inputs = 1, .post = post_mmio),
    ROW(.name = "real-mode retf 2 to another CS", .pre = pre_retf, .code = {0xca, 0x02, 0x00}, .code_len = 3,
        .post = post_retf),
    ROW(.name = "pm32 mmio write", .pre = pre_pm32,
        .code = {0xc7, 0x05, 0x10, 0x00, 0xc0, 0xfe, 0xef, 0xbe, 0xad, 0xde}, .code_len = 10,
        .post = post_mmio_write,
        .writes = {{.gpa = MMIO_ADDR + 0x10, .len = 4, .data = {0xef, 0xbe, 0xad, 0xde}}}, .n_writes = 1),
    ROW(.name = "pm32 far jmp to a CS with base", .pre = pre_pm32,
        .code = {0xea, 0x40, 0x00, 0x00, 0x00, 0x18, 0x00}, .code_len = 7, .post = post_far_jmp),
    ROW(.name = "rom write is dropped", .pre = pre_pm32, .code = {0xc6, 0x05, 0x10, 0x00, 0x10, 0x00, 0x99},
        .code_len = 7, .post = post_rom_write),
    ROW(.name = "fld1", .pre = pre_real, .code = {0xd9, 0xe8}, .code_len = 2, .post = post_fld1),
    ROW(.name = "fld1 onto a non-empty stack", .pre = pre_fpu_top7, .code = {0xd9, 0xe8}, .code_len = 2,
        .post = post_fld1_again),
    ROW(.name = "movdqa xmm1,xmm0", .pre = pre_pm32_sse, .code = {0x66, 0x0f, 0x6f, 0xc8}, .code_len = 4,
        .post = post_movdqa),
    ROW(.name = "pm32 paging load sets accessed bits", .pre = pre_pm32_paging, .code = {0x8b, 0x03},
        .code_len = 2, .post = post_paging_load,
        .writes = {{.gpa = 0x70000, .len = 4, .data = {0x23, 0x10, 0x07, 0x00}},
                   {.gpa = 0x71040, .len = 4, .data = {0x23, 0x00, 0x01, 0x00}},
                   {.gpa = 0x7100c, .len = 4, .data = {0x23, 0x30, 0x00, 0x00}}},
        .n_writes = 3),
    ROW(.name = "sti shadow", .pre = pre_real, .code = {0xfb}, .code_len = 1, .post = post_sti),
    ROW(.name = "mov ss alone", .pre = pre_mov_ss, .code = {0x8e, 0xd0, 0x40}, .code_len = 3,
        .post = post_mov_ss_alone),
    ROW(.name = "sti in a mov ss shadow", .pre = pre_in_mov_ss_shadow, .code = {0xfb}, .code_len = 1,
        .post = post_sti_in_shadow),
    ROW(.name = "hlt", .pre = pre_real, .code = {0xf4}, .code_len = 1, .post = post_hlt),
    ROW(.name = "popf loads TF", .pre = pre_popf, .code = {0x9d}, .code_len = 1, .post = post_popf),
    ROW(.name = "cpuid from the recording", .pre = pre_cpuid, .code = {0x0f, 0xa2}, .code_len = 2,
        .inputs = {{.kind = TRACE_INPUT_CPUID,
                    .size = 16,
                    .count = 1,
                    .addr = 0,
                    .data = {0xd, 0, 0, 0, 'G', 'e', 'n', 'u', 'n', 't', 'e', 'l', 'i', 'n', 'e', 'I'}}},
        .n_inputs = 1, .post = post_cpuid),
    ROW(.name = "rdmsr star", .pre = pre_rdmsr, .code = {0x0f, 0x32}, .code_len = 2, .post = post_rdmsr),
    ROW(.name = "wrmsr star", .pre = pre_wrmsr, .code = {0x0f, 0x30}, .code_len = 2, .post = post_wrmsr),
    ROW(.name = "mov dr0,eax", .pre = pre_mov_dr, .code = {0x0f, 0x23, 0xc0}, .code_len = 3,
        .post = post_mov_dr),
    ROW(.name = "swapgs", .pre = pre_swapgs, .code = {0x0f, 0x01, 0xf8}, .code_len = 3, .post = post_swapgs,
        .writes = {{.gpa = 0x70000, .len = 8, .data = {0x23, 0x10, 0x07}},
                   {.gpa = 0x71000, .len = 8, .data = {0x23, 0x20, 0x07}},
                   {.gpa = 0x72000, .len = 8, .data = {0xa3}}},
        .n_writes = 3),
    ROW(.name = "halted state", .pre = pre_halted, .code = {0x90}, .code_len = 1,
        .outcome = BACKEND_UNSUPPORTED, .post = post_same, .reason = "halted"),
    ROW(.name = "int3", .pre = pre_real, .code = {0xcc}, .code_len = 1, .outcome = BACKEND_UNSUPPORTED,
        .post = post_same, .reason = "vector 3"),
    ROW(.name = "rdtsc", .pre = pre_real, .code = {0x0f, 0x31}, .code_len = 2, .outcome = BACKEND_UNSUPPORTED,
        .post = post_same, .reason = "RDTSC"),
    ROW(.name = "pause loses the single-step trap", .pre = pre_real, .code = {0xf3, 0x90, 0x40},
        .code_len = 3, .outcome = BACKEND_UNSUPPORTED, .post = post_same, .reason = "PAUSE"),
    ROW(.name = "#DE", .pre = pre_real, .code = {0xf6, 0xf3}, .code_len = 2, .outcome = BACKEND_UNSUPPORTED,
        .post = post_same, .reason = "vector 0"),
    ROW(.name = "call far through a register aborts unicorn", .pre = pre_real, .code = {0xff, 0xd8},
        .code_len = 2, .outcome = BACKEND_CRASH, .post = post_same, .reason = "tcg fatal error"),
    ROW(.name = "lock cmp [bx],al aborts unicorn", .pre = pre_lock_cmp, .code = {0xf0, 0x38, 0x07},
        .code_len = 3, .outcome = BACKEND_CRASH, .post = post_same, .reason = "tcg fatal error"),
    ROW(.name = "long mode mov rax,[rip+100h]", .pre = pre_long,
        .code = {0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00}, .code_len = 7, .post = post_rip_rel,
        .writes = {{.gpa = 0x70000, .len = 8, .data = {0x23, 0x10, 0x07}},
                   {.gpa = 0x71000, .len = 8, .data = {0x23, 0x20, 0x07}},
                   {.gpa = 0x72000, .len = 8, .data = {0xa3}}},
        .n_writes = 3),
    ROW(.name = "long mode NXE: reading a no-execute page", .pre = pre_long_nx, .code = {0x48, 0x8b, 0x03},
        .code_len = 3, .post = post_long_nx,
        .writes = {{.gpa = 0x70000, .len = 8, .data = {0x23, 0x10, 0x07}},
                   {.gpa = 0x71000, .len = 8, .data = {0x23, 0x20, 0x07}},
                   {.gpa = 0x72000, .len = 8, .data = {0x23, 0x30, 0x07}}},
        .n_writes = 3),
    ROW(.name = "long mode write through a remapped page", .pre = pre_long_remap, .code = {0x88, 0x03},
        .code_len = 2, .outcome = BACKEND_UNSUPPORTED, .post = post_same, .reason = "paging"),
};

static const struct backend_config test_config = {
    .regions = test_regions,
    .n_regions = sizeof(test_regions) / sizeof(test_regions[0]),
};

static char open_err[256];

static int setup(void **state)
{
	static struct ctx c;
	int ret = backend_unicorn_ops.open(&c.b, &test_config, open_err, sizeof(open_err));
	if (ret) {
		fprintf(stderr, "open: %s\n", open_err);
		return -1;
	}
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	backend_unicorn_ops.close(c->b);
	return 0;
}

/* Compares post against want except the bytes unobserved marks; names the first field that differs. */
static void check_state(const struct x86_state *post, const struct x86_state *want,
                        const struct x86_state *unobs, const struct row *r)
{
	const uint8_t *p = (const uint8_t *)post, *w = (const uint8_t *)want, *u = (const uint8_t *)unobs;
	for (size_t i = 0; i < sizeof(*post); i++) {
		if (u[i] == 0xff || p[i] == w[i])
			continue;
		const char *name = "?";
		for (size_t f = 0; f < x86_field_count; f++)
			if (i >= x86_fields[f].offset &&
			    i < (size_t)x86_fields[f].offset + x86_fields[f].size)
				name = x86_fields[f].name;
		fail_msg("%s:%d %s: %s differs (got %#llx, want %#llx)", r->file, r->line, r->name, name,
		         (unsigned long long)x86_field_get(post, x86_field_find(name) ? x86_field_find(name)
		                                                                      : &x86_fields[0]),
		         (unsigned long long)x86_field_get(want, x86_field_find(name) ? x86_field_find(name)
		                                                                      : &x86_fields[0]));
	}
}

static void run_row(struct ctx *c, const struct row *r)
{
	struct x86_state pre, want;
	static struct backend_result res;
	static uint8_t zero[RAM_SIZE];

	wmem(c->b, 0, zero, sizeof(zero));
	memset(&pre, 0, sizeof(pre));
	r->pre(c->b, &pre);
	wmem(c->b, pre.seg[X86_CS].base + pre.rip, r->code, r->code_len);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	struct backend_step_input in = {
	    .step = 1, .inputs = r->inputs, .n_inputs = r->n_inputs, .event = NULL};
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	if (res.outcome != r->outcome)
		fail_msg("%s:%d %s: outcome %d, want %d (%s)", r->file, r->line, r->name, res.outcome,
		         r->outcome, res.reason);
	if (r->reason && !strstr(res.reason, r->reason))
		fail_msg("%s:%d %s: reason \"%s\" lacks \"%s\"", r->file, r->line, r->name, res.reason,
		         r->reason);
	if (r->outcome != BACKEND_STEPPED)
		return;
	want = pre;
	r->post(&want);
	/* A step that ran observes the registers: a mask left from an earlier step would hide them. */
	if (res.outcome == BACKEND_STEPPED && (res.unobserved.rip || res.unobserved.gpr[X86_RAX]))
		fail_msg("%s:%d %s: a stepped result marks RIP or RAX unobserved", r->file, r->line, r->name);
	check_state(&res.post, &want, &res.unobserved, r);
	for (uint32_t k = 0; res.n_writes != r->n_writes && k < res.n_writes; k++)
		print_message("write %#llx len %u\n", (unsigned long long)res.writes[k].gpa,
		              res.writes[k].len);
	if (res.n_writes != r->n_writes)
		fail_msg("%s:%d %s: %u writes, want %u", r->file, r->line, r->name, res.n_writes,
		         r->n_writes);
	for (uint32_t i = 0; i < r->n_writes; i++) {
		assert_int_equal(res.writes[i].gpa, r->writes[i].gpa);
		assert_int_equal(res.writes[i].len, r->writes[i].len);
		assert_memory_equal(res.writes[i].data, r->writes[i].data, r->writes[i].len);
		uint8_t mem[16];
		if (r->writes[i].gpa >= RAM_SIZE)
			continue; /* MMIO: nothing to read back */
		assert_int_equal(backend_unicorn_ops.read_mem(c->b, r->writes[i].gpa, mem, r->writes[i].len),
		                 0);
		assert_memory_equal(mem, r->writes[i].data, r->writes[i].len);
	}
	if (res.n_ports != r->n_ports)
		fail_msg("%s:%d %s: %u port accesses, want %u", r->file, r->line, r->name, res.n_ports,
		         r->n_ports);
	for (uint32_t i = 0; i < r->n_ports; i++) {
		assert_int_equal(res.ports[i].port, r->ports[i].port);
		assert_int_equal(res.ports[i].size, r->ports[i].size);
		assert_int_equal(res.ports[i].is_out, r->ports[i].is_out);
		assert_int_equal(res.ports[i].value, r->ports[i].value);
	}
}

static const struct row *find_row(const char *name)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	fail_msg("no row %s", name);
	return NULL;
}

/* An unsupported step leaves memory as it was, accessed bits of the page walk included. */
static void test_unsupported_undoes(void **state)
{
	struct ctx *c = *state;
	uint64_t e = 0;
	uint8_t b = 0xee;
	run_row(c, find_row("long mode write through a remapped page"));
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x70000, &e, 8), 0);
	assert_int_equal(e, 0x71003);
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x5000, &b, 1), 0);
	assert_int_equal(b, 0);
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x6000, &b, 1), 0);
	assert_int_equal(b, 0);
}

/* The engine's write to ROM is not in the result and does not reach memory. */
static void test_rom_unchanged(void **state)
{
	struct ctx *c = *state;
	uint8_t v = 0x11;
	assert_int_equal(backend_unicorn_ops.write_mem(c->b, 0x100010, &v, 1), 0);
	run_row(c, find_row("rom write is dropped"));
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x100010, &v, 1), 0);
	assert_int_equal(v, 0x11);
}

static void test_rows(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		run_row(*state, &rows[i]);
}

/* After the abort the backend is back: the same handle steps the next instruction. */
static void test_crash_then_step(void **state)
{
	struct ctx *c = *state;
	const struct row *crash = find_row("lock cmp [bx],al aborts unicorn");
	assert_int_equal(crash->outcome, BACKEND_CRASH);
	run_row(c, crash);
	run_row(c, find_row("mov ax,1234h"));
	run_row(c, crash);
	run_row(c, find_row("rep movsb, one iteration"));
}

/* Consecutive steps without set_state carry the engine's state forward. */
static void test_steps_chain(void **state)
{
	struct ctx *c = *state;
	static const uint8_t code[] = {0xf3, 0xa4, 0x40}; /* rep movsb; inc ax */
	static struct backend_result res;
	struct x86_state pre;
	struct backend_step_input in = {.step = 0};
	pre_movsb(c->b, &pre);
	wmem(c->b, 0x1000, code, sizeof(code));
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
		assert_int_equal(res.outcome, BACKEND_STEPPED);
		/* the last iteration completes the instruction */
		assert_int_equal(res.post.rip, i < 2 ? 0 : 2);
		assert_int_equal(res.post.gpr[X86_RCX], 2 - i);
	}
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.post.rip, 3);
	assert_int_equal(res.post.gpr[X86_RAX], 1);
	uint8_t dst[3];
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x30200, dst, 3), 0);
	assert_memory_equal(dst, "\x5a\x6b\x7c", 3);
}

/* A fault the engine could not deliver must not make the next one a #DF or a triple fault. */
static void test_faults_do_not_escalate(void **state)
{
	struct ctx *c = *state;
	for (int i = 0; i < 3; i++)
		run_row(c, find_row("#DE"));
	run_row(c, find_row("mov ax,1234h"));
}

/* A step that ran after one that did not, into the same result, observes the registers again. */
static void test_mask_after_unsupported(void **state)
{
	struct ctx *c = *state;
	run_row(c, find_row("mov ax,1234h"));
	run_row(c, find_row("#DE"));
	run_row(c, find_row("mov ax,1234h"));
}

/* After the RETF fix-up the engine goes on from the right place. */
static void test_retf_then_step(void **state)
{
	struct ctx *c = *state;
	static struct backend_result res;
	struct backend_step_input in = {.step = 0};
	run_row(c, find_row("real-mode retf 2 to another CS"));
	wmem(c->b, 0x2010, "\xb8\x34\x12", 3);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.outcome, BACKEND_STEPPED);
	assert_int_equal(res.post.gpr[X86_RAX], 0x1234);
	assert_int_equal(res.post.rip, 0x13);
	assert_int_equal(res.post.seg[X86_CS].base, 0x2000);
}

/* Code the replayer rewrites between steps must not run from a stale translation. */
static void test_code_rewrite(void **state)
{
	struct ctx *c = *state;
	static struct backend_result res;
	struct x86_state pre;
	struct backend_step_input in = {.step = 0};
	pre_real(c->b, &pre);
	wmem(c->b, 0x1000, "\xb8\x34\x12", 3);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.post.gpr[X86_RAX], 0x1234);
	wmem(c->b, 0x1000, "\xb8\x78\x56", 3);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.post.gpr[X86_RAX], 0x5678);
}

/* More changed ranges than the backend tracks: every region is invalidated instead. */
static void test_many_dirty_ranges(void **state)
{
	struct ctx *c = *state;
	static struct backend_result res;
	struct x86_state pre;
	struct backend_step_input in = {.step = 0};
	pre_real(c->b, &pre);
	wmem(c->b, 0x1000, "\xb8\x34\x12", 3);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.post.gpr[X86_RAX], 0x1234);
	for (uint64_t i = 0; i < 100; i++) {
		uint8_t v = (uint8_t)(i + 1);
		wmem(c->b, 0x40000 + i * 0x1000, &v, 1);
	}
	wmem(c->b, 0x1000, "\xb8\x78\x56", 3);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.post.gpr[X86_RAX], 0x5678);
}

/* Real mode with SSE enabled and every XMM register holding seed-derived bytes. */
static void pre_sse(struct backend *b, struct x86_state *st, uint8_t seed)
{
	pre_real(b, st);
	st->cr4 |= X86_CR4_OSFXSR;
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			st->fpu.xmm[i][j] = (uint8_t)(seed + 16 * i + j);
}

static uint32_t xmm_low(const struct x86_state *st, int i)
{
	uint32_t v;
	memcpy(&v, st->fpu.xmm[i], 4);
	return v;
}

/* States that differ from the engine's in a few words and in more than a patch holds both load
 * whole, and a step that changes most of the state comes back whole. */
static void test_state_patches(void **state)
{
	struct ctx *c = *state;
	static struct backend_result res;
	struct x86_state pre;
	struct backend_step_input in = {.step = 0};
	wmem(c->b, 0x1000, "\x66\x0f\x7e\xf8", 4); /* movd eax, xmm7 */
	for (uint8_t seed = 0; seed < 3; seed++) {
		pre_sse(c->b, &pre, (uint8_t)(seed * 7));
		if (seed == 2)
			pre.fpu.xmm[7][0] ^= 0xff; /* one word away from the last state loaded */
		assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
		assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
		assert_int_equal(res.outcome, BACKEND_STEPPED);
		assert_int_equal(res.post.gpr[X86_RAX], xmm_low(&pre, 7));
		assert_memory_equal(res.post.fpu.xmm, pre.fpu.xmm, sizeof(pre.fpu.xmm));
	}

	uint8_t image[512] = {0};
	image[0] = 0x7f, image[1] = 0x03; /* FCW */
	image[4] = 0xff;                  /* every x87 register valid */
	for (int i = 0; i < 8; i++) {
		memset(image + 32 + 16 * i, 0x31 + i, 8);
		image[32 + 16 * i + 8] = 0xff, image[32 + 16 * i + 9] = 0x3f; /* ST(i): exponent, sign */
		memset(image + 160 + 16 * i, 0xa0 + i, 16);
	}
	wmem(c->b, 0x30000, image, sizeof(image));
	wmem(c->b, 0x1000, "\x0f\xae\x0e\x00\x00", 5); /* fxrstor [0] */
	pre_sse(c->b, &pre, 0);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.outcome, BACKEND_STEPPED);
	assert_int_equal(res.post.rip, 5);
	/* Outside 64-bit mode FXRSTOR loads XMM0-7 only. */
	for (int i = 0; i < 8; i++) {
		assert_memory_equal(res.post.fpu.st[i], image + 32 + 16 * i, 10);
		assert_memory_equal(res.post.fpu.xmm[i], image + 160 + 16 * i, 16);
		assert_memory_equal(res.post.fpu.xmm[8 + i], pre.fpu.xmm[8 + i], 16);
	}
	assert_int_equal(res.post.fpu.fcw, 0x37f);
	assert_int_equal(res.post.fpu.ftw, 0xff);
}

/* A task switch saves EFLAGS in the outgoing TSS: the TF the backend steps with must not be in it. */
static void test_task_switch_hides_stepping_tf(void **state)
{
	struct ctx *c = *state;
	static struct backend_result res;
	struct x86_state pre;
	struct backend_step_input in = {.step = 0};
	uint8_t tss[0x68] = {0};
	pre_pm32(c->b, &pre);
	put_desc(c->b, GDT, 0x28, 0x3000, 0x67, 0x8b, 0x0); /* the current TSS, busy */
	put_desc(c->b, GDT, 0x30, 0x3100, 0x67, 0x89, 0x0); /* the next one, available */
	pre.gdtr.limit = 0x37;
	seg(&pre, X86_TR, 0x28, 0x3000, 0x67, 0xb | X86_SEG_P);
	wmem(c->b, 0x3000, tss, sizeof(tss));
	tss[0x20] = 0x40;                   /* EIP */
	tss[0x24] = 0x02;                   /* EFLAGS */
	tss[0x38] = 0x00, tss[0x39] = 0x80; /* ESP */
	tss[0x4c] = 0x08;                   /* CS */
	tss[0x48] = tss[0x50] = tss[0x54] = tss[0x58] = tss[0x5c] = 0x10;
	wmem(c->b, 0x3100, tss, sizeof(tss));
	wmem(c->b, 0x10100, "\xea\x00\x00\x00\x00\x30\x00", 7); /* ljmp 0x30:0 */
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.outcome, BACKEND_STEPPED);
	assert_int_equal(res.post.seg[X86_TR].selector, 0x30);
	assert_int_equal(res.post.rip, 0x40);
	uint8_t saved[4];
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x3024, saved, 4), 0);
	assert_memory_equal(saved, "\x02\x00\x00\x00", 4);
	bool seen = false;
	for (uint32_t i = 0; i < res.n_writes; i++) {
		const struct backend_write *w = &res.writes[i];
		if (w->gpa <= 0x3025 && 0x3025 - w->gpa < w->len) {
			assert_int_equal(w->data[0x3025 - w->gpa], 0);
			seen = true;
		}
	}
	assert_true(seen);
}

static void test_event_unsupported(void **state)
{
	struct ctx *c = *state;
	static struct backend_result res;
	struct x86_state pre;
	struct trace_event ev = {.step = 0, .vector = 0x20, .type = 0};
	struct backend_step_input in = {.step = 0, .event = &ev};
	pre_real(c->b, &pre);
	wmem(c->b, 0x1000, "\x90", 1);
	assert_int_equal(backend_unicorn_ops.set_state(c->b, &pre), 0);
	assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
	assert_int_equal(res.outcome, BACKEND_UNSUPPORTED);
	assert_non_null(strstr(res.reason, "vector 32"));
}

static void test_mem_bounds(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[4] = {1, 2, 3, 4}, back[4];
	assert_int_equal(backend_unicorn_ops.write_mem(c->b, RAM_SIZE - 4, buf, 4), 0);
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, RAM_SIZE - 4, back, 4), 0);
	assert_memory_equal(buf, back, 4);
	assert_int_equal(backend_unicorn_ops.write_mem(c->b, RAM_SIZE - 2, buf, 4), -EFAULT);
	assert_int_equal(backend_unicorn_ops.read_mem(c->b, MMIO_ADDR, back, 4), -EFAULT);
	assert_string_equal(backend_unicorn_ops.name, "unicorn");
}

/* Steps the engine process runs ahead must count only where they are the replayer's steps: real-mode code
 * at 0x1000, data at 0x30000, and what the replayer does in between. */
enum ahead_op {
	AHEAD_STEP, /* step: outcome, AX, BL, reason */
	AHEAD_JUMP, /* set_state: the last post-state with IP = arg */
	AHEAD_POKE, /* write_mem: byte arg at 0x30000 */
	AHEAD_PEEK, /* read_mem: byte arg at 0x30000 */
};
struct ahead_action {
	enum ahead_op op;
	uint64_t arg;
	enum backend_outcome outcome;
	uint16_t ax;
	uint8_t bl;
	const char *reason;
};
/* clang-format off */
static const struct {
	const char *name;
	uint8_t code[16];
	unsigned code_len;
	struct ahead_action act[8];
	int line;
} ahead_rows[] = {
    /* mov ax,1234h; mov [0],al; lock cmp [bx],al (aborts unicorn); inc ax */
    {"a crash while running ahead blames the step that crashes, and its writes are undone",
     {0xb8, 0x34, 0x12, 0xa2, 0x00, 0x00, 0xf0, 0x38, 0x07, 0x40, 0xf4}, 11,
     {{AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0, NULL}, {AHEAD_PEEK, 0, 0, 0, 0, NULL},
      {AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0, NULL}, {AHEAD_PEEK, 0x34, 0, 0, 0, NULL},
      {AHEAD_STEP, 0, BACKEND_CRASH, 0x1234, 0, "tcg fatal error"}, {AHEAD_JUMP, 9, 0, 0, 0, NULL},
      {AHEAD_STEP, 0, BACKEND_STEPPED, 0x1235, 0, NULL}, {AHEAD_PEEK, 0x34, 0, 0, 0, NULL}}, __LINE__},
    /* mov ax,1234h; mov [0],al; inc ax; hlt */
    {"another state: what ran ahead is undone",
     {0xb8, 0x34, 0x12, 0xa2, 0x00, 0x00, 0x40, 0xf4}, 8,
     {{AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0, NULL}, {AHEAD_JUMP, 6, 0, 0, 0, NULL},
      {AHEAD_STEP, 0, BACKEND_STEPPED, 0x1235, 0, NULL}, {AHEAD_PEEK, 0, 0, 0, 0, NULL}}, __LINE__},
    /* mov ax,1234h; mov bl,[0]; hlt */
    {"memory the replayer changed is read by the next step",
     {0xb8, 0x34, 0x12, 0x8a, 0x1e, 0x00, 0x00, 0xf4}, 8,
     {{AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0, NULL}, {AHEAD_POKE, 0x77, 0, 0, 0, NULL},
      {AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0x77, NULL}}, __LINE__},
    /* mov ax,1234h; add [0],al; hlt: the replayer writes the very byte the step run ahead left */
    {"memory the replayer writes over a step run ahead is what the next step adds to",
     {0xb8, 0x34, 0x12, 0x00, 0x06, 0x00, 0x00, 0xf4}, 8,
     {{AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0, NULL}, {AHEAD_POKE, 0x34, 0, 0, 0, NULL},
      {AHEAD_STEP, 0, BACKEND_STEPPED, 0x1234, 0, NULL}, {AHEAD_PEEK, 0x68, 0, 0, 0, NULL}}, __LINE__},
};
/* clang-format on */

static void test_run_ahead(void **state)
{
	(void)state;
	static struct backend_result res;
	struct backend_step_input in = {.step = 0};
	for (size_t i = 0; i < sizeof(ahead_rows) / sizeof(ahead_rows[0]); i++) {
		/* A new backend each: how far one runs ahead follows how far it paid off before. */
		struct ctx own = {0}, *c = &own;
		struct x86_state cur;
		assert_int_equal(backend_unicorn_ops.open(&own.b, &test_config, open_err, sizeof(open_err)),
		                 0);
		pre_real(c->b, &cur);
		wmem(c->b, 0x1000, ahead_rows[i].code, ahead_rows[i].code_len);
		assert_int_equal(backend_unicorn_ops.set_state(c->b, &cur), 0);
		for (size_t k = 0; k < sizeof(ahead_rows[i].act) / sizeof(ahead_rows[i].act[0]); k++) {
			const struct ahead_action *a = &ahead_rows[i].act[k];
			uint8_t v = (uint8_t)a->arg;
			if (a->op == AHEAD_STEP && !a->outcome && !a->ax)
				break; /* the rest of the row is empty */
			switch (a->op) {
			case AHEAD_STEP:
				assert_int_equal(backend_unicorn_ops.step(c->b, &in, &res), 0);
				if (res.outcome != a->outcome ||
				    (a->reason && !strstr(res.reason, a->reason)) ||
				    (uint16_t)res.post.gpr[X86_RAX] != a->ax ||
				    (uint8_t)res.post.gpr[X86_RBX] != a->bl)
					fail_msg("line %d, action %zu: outcome %d (%s), ax %#llx, bl %#llx",
					         ahead_rows[i].line, k, res.outcome, res.reason,
					         (unsigned long long)res.post.gpr[X86_RAX],
					         (unsigned long long)res.post.gpr[X86_RBX]);
				cur = res.post;
				break;
			case AHEAD_JUMP:
				cur.rip = a->arg;
				assert_int_equal(backend_unicorn_ops.set_state(c->b, &cur), 0);
				break;
			case AHEAD_POKE:
				wmem(c->b, 0x30000, &v, 1);
				break;
			case AHEAD_PEEK:
				assert_int_equal(backend_unicorn_ops.read_mem(c->b, 0x30000, &v, 1), 0);
				if (v != (uint8_t)a->arg)
					fail_msg("line %d, action %zu: byte %#x at 0x30000, want %#x",
					         ahead_rows[i].line, k, v, (unsigned)a->arg);
				break;
			}
		}
		backend_unicorn_ops.close(own.b);
	}
}

/* unicorn_classify: the instruction kinds and the state each may change, from emu's decoder. */
#define M64 X86_MODE_LONG64
#define M32 X86_MODE_PROT32
/* clang-format off */
struct classify_row {
	uint8_t b[15];
	unsigned n;
	enum x86_mode mode;
	enum insn_class cls;
	unsigned vector, cr, len;
	bool opsize, fpu, msr, dr;
	int line;
};
static const struct classify_row classify_rows[] = {
    {{0x9c}, 1, M32, INSN_PUSHF, 0, 0, 0, false, false, false, false, __LINE__},
    {{0x66, 0x9d}, 2, M32, INSN_POPF, 0, 0, 0, true, false, false, false, __LINE__},
    {{0x48, 0xcf}, 2, M64, INSN_IRET, 0, 0, 0, false, false, false, false, __LINE__},
    {{0xcb}, 1, M32, INSN_RETF, 0, 0, 0, false, false, false, false, __LINE__},
    {{0xf4}, 1, M32, INSN_HLT, 0, 0, 0, false, false, false, false, __LINE__},
    {{0xf3, 0x90}, 2, M32, INSN_PAUSE, 0, 0, 2, false, false, false, false, __LINE__},
    {{0xf3, 0x41, 0x90}, 3, M64, INSN_OTHER, 0, 0, 0, false, false, false, false, __LINE__},
    {{0xf3, 0x41, 0x90}, 3, M32, INSN_OTHER, 0, 0, 0, false, false, false, false, __LINE__},  /* inc ecx; nop */
    {{0x41, 0xf3, 0x90}, 3, M64, INSN_OTHER, 0, 0, 0, false, false, false, false, __LINE__},  /* any REX.B */
    {{0xf3, 0xf2, 0x90}, 3, M32, INSN_PAUSE, 0, 0, 3, false, false, false, false, __LINE__},  /* any F3 */
    {{0x90}, 1, M32, INSN_OTHER, 0, 0, 0, false, false, false, false, __LINE__},
    {{0xfb}, 1, M32, INSN_STI, 0, 0, 0, false, false, false, false, __LINE__},
    {{0xcc}, 1, M32, INSN_SOFT_INT, 3, 0, 0, false, false, false, false, __LINE__},
    {{0xf1}, 1, M32, INSN_SOFT_INT, 1, 0, 0, false, false, false, false, __LINE__},
    {{0xcd, 0x21}, 2, M32, INSN_SOFT_INT, 0x21, 0, 0, false, false, false, false, __LINE__},
    {{0xcd}, 1, M32, INSN_SOFT_INT, 0, 0, 0, false, false, false, false, __LINE__},
    {{0x0f, 0x31}, 2, M32, INSN_RDTSC, 0, 0, 0, false, false, false, false, __LINE__},
    {{0x0f, 0x01, 0xf9, 0x90}, 4, M64, INSN_RDTSC, 0, 0, 0, false, false, true, false, __LINE__},
    {{0x0f, 0x22, 0xd8}, 3, M32, INSN_MOV_TO_CR, 0, 3, 0, false, false, false, false, __LINE__},
    {{0xf0, 0x0f, 0x22, 0xd8}, 4, M32, INSN_MOV_TO_CR, 0, 3, 0, false, false, false, false, __LINE__},
    {{0x0f, 0x22}, 2, M32, INSN_OTHER, 0, 0, 0, false, false, false, false, __LINE__},
    {{0x0f, 0x30}, 2, M32, INSN_OTHER, 0, 0, 0, false, false, true, false, __LINE__},
    {{0x0f, 0x23, 0xc0}, 3, M32, INSN_OTHER, 0, 0, 0, false, false, false, true, __LINE__},
    {{0xd9, 0xc0}, 2, M32, INSN_OTHER, 0, 0, 0, false, true, false, false, __LINE__},
    {{0x0f, 0x28, 0xc1}, 3, M32, INSN_OTHER, 0, 0, 0, false, true, false, false, __LINE__},
    {{0x0f, 0x38, 0x00, 0xc1}, 4, M32, INSN_OTHER, 0, 0, 0, false, true, false, false, __LINE__},
    {{0x0f, 0x38}, 2, M32, INSN_OTHER, 0, 0, 0, false, true, false, false, __LINE__},
    {{0x0f}, 1, M32, INSN_OTHER, 0, 0, 0, false, true, true, true, __LINE__},                 /* truncated */
    {{0x66, 0xf3}, 2, M32, INSN_OTHER, 0, 0, 0, true, true, true, true, __LINE__},           /* only prefixes */
    {{0}, 0, M32, INSN_OTHER, 0, 0, 0, false, true, true, true, __LINE__},
    {{0x89, 0xd8}, 2, M32, INSN_OTHER, 0, 0, 0, false, false, false, false, __LINE__},
};
/* clang-format on */

static void test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(classify_rows) / sizeof(classify_rows[0]); i++) {
		const struct classify_row *t = &classify_rows[i];
		struct insn_info in = unicorn_classify(t->b, t->n, t->mode);
		if (in.cls != t->cls || (t->cls == INSN_SOFT_INT && in.vector != t->vector) ||
		    (t->cls == INSN_MOV_TO_CR && in.cr != t->cr) || in.len != t->len ||
		    (t->n && in.opsize != t->opsize) || in.fpu != t->fpu || in.msr != t->msr ||
		    in.dr != t->dr)
			fail_msg("%s:%d: class %d vector %u cr %u len %u opsize %d fpu %d msr %d dr %d",
			         __FILE__, t->line, in.cls, in.vector, in.cr, in.len, in.opsize, in.fpu,
			         in.msr, in.dr);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_crash_then_step),
	    cmocka_unit_test(test_run_ahead),
	    cmocka_unit_test(test_steps_chain),
	    cmocka_unit_test(test_retf_then_step),
	    cmocka_unit_test(test_faults_do_not_escalate),
	    cmocka_unit_test(test_mask_after_unsupported),
	    cmocka_unit_test(test_code_rewrite),
	    cmocka_unit_test(test_many_dirty_ranges),
	    cmocka_unit_test(test_event_unsupported),
	    cmocka_unit_test(test_state_patches),
	    cmocka_unit_test(test_task_switch_hides_stepping_tf),
	    cmocka_unit_test(test_mem_bounds),
	    cmocka_unit_test(test_rom_unchanged),
	    cmocka_unit_test(test_unsupported_undoes),
	    cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
