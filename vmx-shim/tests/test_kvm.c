/* vmx-shim against the real /dev/kvm: small guests as bytes (NASM listing beside each), host checks beside
 * them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot.h"
#include "devices.h"
#include "shim.h"
#include "x86_paging.h"

#define RAM    (1u << 20)
#define BOOT   0x7c00
#define CODE32 0x1000

static struct shim_vm *vm_open(bool dirty)
{
	struct shim_config cfg = {.ram_bytes = RAM, .dirty_log = dirty};
	struct shim_vm *vm;
	int r = shim_open(&vm, &cfg);

	if (r)
		fail_msg("shim_open: %s", shim_last_open_error());
	return vm;
}

static void ok(struct shim_vm *vm, int r)
{
	if (r < 0)
		fail_msg("%s", shim_error(vm));
}

/* Real mode at 0:7C00 with the code loaded there. */
static struct shim_vm *boot(const uint8_t *code, size_t len, bool dirty, struct x86_state *st)
{
	struct shim_vm *vm = vm_open(dirty);

	ok(vm, shim_load_bytes(vm, code, len, BOOT));
	boot_state_sector(st);
	ok(vm, shim_set_state(vm, st));
	return vm;
}

static struct shim_vm *boot32(const uint8_t *code, size_t len, struct x86_state *st)
{
	struct shim_vm *vm = vm_open(false);

	ok(vm, shim_load_bytes(vm, code, len, CODE32));
	ok(vm, shim_state_flat32(vm, st, 0x500, CODE32, 0x8000));
	ok(vm, shim_set_state(vm, st));
	return vm;
}

static void run(struct shim_vm *vm, struct shim_exit *e, enum shim_exit_kind want)
{
	ok(vm, shim_run(vm, e));
	if (e->kind != want)
		fail_msg("exit kind %d (KVM reason %u), want %d", e->kind, e->kvm_reason, want);
}

static void test_state_roundtrip(void **state)
{
	/* hlt */
	static const uint8_t code[] = {0xf4};
	struct x86_state st, got;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	vm = boot32(code, sizeof(code), &st);
	ok(vm, shim_get_state(vm, &st, true));
	for (int i = 0; i < X86_NGPR; i++)
		st.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	st.gpr[X86_RSP] = 0x7000;
	st.rip = CODE32;
	st.rflags = X86_RFLAGS_FIXED | X86_RFLAGS_CF | X86_RFLAGS_ZF | X86_RFLAGS_DF | X86_RFLAGS_OF;
	st.seg[X86_FS].base = 0x12345000;
	st.seg[X86_FS].limit = 0xfffff;
	st.seg[X86_FS].attr &= ~X86_SEG_G;
	/* SVM keeps no unusable bit: a segment is unusable when not present, so set both. */
	st.seg[X86_GS].attr = (st.seg[X86_GS].attr | X86_SEG_UNUSABLE) & ~X86_SEG_P;
	st.seg[X86_GS].selector = 0;
	st.idtr.base = 0x600;
	st.idtr.limit = 0x7ff;
	st.cr2 = 0xdeadb000;
	st.cr0 |= X86_CR0_NE | X86_CR0_MP;
	st.cr4 |= X86_CR4_OSFXSR | X86_CR4_DE;
	st.dr[0] = 0x3000;
	st.dr[3] = 0x4000;
	st.dr7 = 0x400 | 0x2; /* G0: not triggered by this guest */
	st.msr[X86_MSR_SYSENTER_CS] = 0x10;
	st.msr[X86_MSR_SYSENTER_ESP] = 0x9000;
	st.msr[X86_MSR_SYSENTER_EIP] = 0x2345;
	st.msr[X86_MSR_STAR] = 0x0023001000000000ull;
	st.msr[X86_MSR_LSTAR] = 0xffffffff81000000ull;
	st.msr[X86_MSR_CSTAR] = 0xffffffff81000100ull;
	st.msr[X86_MSR_SFMASK] = 0x47700;
	st.msr[X86_MSR_KERNEL_GS_BASE] = 0xffff888000000000ull;
	st.msr[X86_MSR_PAT] = 0x0007010600070106ull;
	st.fpu.fcw = 0x27f;
	st.fpu.mxcsr = 0x1f80 | 0x6000; /* round toward zero */
	for (int i = 0; i < 8; i++)
		memset(st.fpu.st[i], 0x30 + i, 10);
	for (int i = 0; i < 16; i++)
		memset(st.fpu.xmm[i], 0x80 + i, 16);
	st.fpu.ftw = 0xff;
	ok(vm, shim_set_state(vm, &st));
	memset(&got, 0xa5, sizeof(got));
	ok(vm, shim_get_state(vm, &got, true));
	assert_int_equal(got.msr[X86_MSR_TSC], 0);
	if (memcmp(&st, &got, sizeof(st)) != 0) {
		for (size_t i = 0; i < x86_field_count; i++)
			if (memcmp((uint8_t *)&st + x86_fields[i].offset,
			           (uint8_t *)&got + x86_fields[i].offset, x86_fields[i].size))
				print_message("differs: %s set %#llx got %#llx\n", x86_fields[i].name,
				              (unsigned long long)x86_field_get(&st, &x86_fields[i]),
				              (unsigned long long)x86_field_get(&got, &x86_fields[i]));
		fail_msg("state read back differs from the state set");
	}
	/* The guest runs on that state: HLT exits one byte further, everything else unchanged. */
	run(vm, &e, SHIM_EXIT_HLT);
	ok(vm, shim_get_state(vm, &got, true));
	assert_int_equal(got.rip, CODE32 + 1);
	got.rip = st.rip;
	assert_memory_equal(&st, &got, sizeof(st));
	shim_close(vm);
}

static const struct step_row {
	uint64_t rip, ax, bx, cx, dx, sp, si;
	const char *file;
	int line;
} step_rows[] = {
    /* initial: boot state, DX = 0x80, SP = 0x7c00, SI = 0x5555 set by the test */
    {0x7c03, 0x1234, 0, 0, 0x80, 0x7c00, 0x5555, __FILE__, __LINE__},        /* mov ax, 0x1234 */
    {0x7c05, 0x1234, 0x1234, 0, 0x80, 0x7c00, 0x5555, __FILE__, __LINE__},   /* mov bx, ax */
    {0x7c07, 0x2468, 0x1234, 0, 0x80, 0x7c00, 0x5555, __FILE__, __LINE__},   /* add ax, bx */
    {0x7c08, 0x2468, 0x1234, 1, 0x80, 0x7c00, 0x5555, __FILE__, __LINE__},   /* inc cx */
    {0x7c09, 0x2468, 0x1234, 1, 0x80, 0x7bfe, 0x5555, __FILE__, __LINE__},   /* push ax */
    {0x7c0a, 0x2468, 0x1234, 1, 0x2468, 0x7c00, 0x5555, __FILE__, __LINE__}, /* pop dx */
    {0x7c0c, 0x2468, 0x1234, 1, 0x2468, 0x7c00, 0, __FILE__, __LINE__},      /* xor si, si */
    {0x7c0e, 0x2468, 0x1234, 1, 0x2468, 0x7c00, 0, __FILE__, __LINE__},      /* jmp short $+2 */
};

static void test_single_step_real_mode(void **state)
{
	static const uint8_t code[] = {
	    0xb8, 0x34, 0x12, /* mov ax, 0x1234 */
	    0x89, 0xc3,       /* mov bx, ax */
	    0x01, 0xd8,       /* add ax, bx */
	    0x41,             /* inc cx */
	    0x50,             /* push ax */
	    0x5a,             /* pop dx */
	    0x31, 0xf6,       /* xor si, si */
	    0xeb, 0x00,       /* jmp short $+2 */
	    0xf4,             /* hlt */
	};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	vm = boot(code, sizeof(code), false, &st);
	st.gpr[X86_RSI] = 0x5555;
	ok(vm, shim_set_state(vm, &st));
	ok(vm, shim_set_singlestep(vm, true));
	for (size_t i = 0; i < sizeof(step_rows) / sizeof(step_rows[0]); i++) {
		const struct step_row *w = &step_rows[i];

		run(vm, &e, SHIM_EXIT_DEBUG);
		assert_int_equal(e.suberror, 1);
		ok(vm, shim_get_state(vm, &st, false));
		if (st.rip != w->rip || (st.gpr[X86_RAX] & 0xffff) != w->ax ||
		    (st.gpr[X86_RBX] & 0xffff) != w->bx || (st.gpr[X86_RCX] & 0xffff) != w->cx ||
		    (st.gpr[X86_RDX] & 0xffff) != w->dx || (st.gpr[X86_RSP] & 0xffff) != w->sp ||
		    (st.gpr[X86_RSI] & 0xffff) != w->si)
			fail_msg("%s:%d: step %zu: rip %#llx ax %#llx bx %#llx cx %#llx dx %#llx sp %#llx si "
			         "%#llx",
			         w->file, w->line, i + 1, (unsigned long long)st.rip,
			         (unsigned long long)st.gpr[X86_RAX], (unsigned long long)st.gpr[X86_RBX],
			         (unsigned long long)st.gpr[X86_RCX], (unsigned long long)st.gpr[X86_RDX],
			         (unsigned long long)st.gpr[X86_RSP], (unsigned long long)st.gpr[X86_RSI]);
	}
	/* add ax, bx result flags survived the later steps (inc/push/pop leave CF, xor clears it). */
	assert_int_equal(st.rflags & (X86_RFLAGS_ZF | X86_RFLAGS_CF), X86_RFLAGS_ZF);
	/* Under single-step KVM reports HLT only as a trap; the shim names it. */
	run(vm, &e, SHIM_EXIT_HLT);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0x7c0f);
	shim_close(vm);
}

static void test_io_exits(void **state)
{
	static const uint8_t code[] = {
	    0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
	    0xb0, 0x41,       /* mov al, 0x41 */
	    0xee,             /* out dx, al */
	    0xb8, 0xef, 0xbe, /* mov ax, 0xbeef */
	    0xe7, 0x80,       /* out 0x80, ax */
	    0xec,             /* in al, dx */
	    0x66, 0xe5, 0x60, /* in eax, 0x60 */
	    0xbe, 0x19, 0x7c, /* mov si, msg */
	    0xb9, 0x03, 0x00, /* mov cx, 3 */
	    0xfc,             /* cld */
	    0xf3, 0x6e,       /* rep outsb */
	    0xf4,             /* hlt */
	    'a',  'b',  'c',  /* msg */
	};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;
	char outs[8] = {0};
	size_t nouts = 0;

	(void)state;
	vm = boot(code, sizeof(code), false, &st);
	/* OUT: the exit carries the data; the instruction is already done (RIP past it). */
	run(vm, &e, SHIM_EXIT_IO);
	assert_int_equal(e.addr, 0x3f8);
	assert_int_equal(e.size, 1);
	assert_int_equal(e.count, 1);
	assert_true(e.is_write);
	assert_int_equal(e.data[0], 0x41);
	assert_int_equal(e.data_len, 1);
	ok(vm, shim_get_state(vm, &st, false));
	print_message("OUT exit: rip %#llx (instruction at 0x7c05, next 0x7c06)\n",
	              (unsigned long long)st.rip);
	assert_int_equal(shim_complete_io(vm, &e), 0);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0x7c06);

	run(vm, &e, SHIM_EXIT_IO);
	assert_int_equal(e.addr, 0x80);
	assert_int_equal(e.size, 2);
	assert_true(e.is_write);
	assert_int_equal(e.data[0] | e.data[1] << 8, 0xbeef);
	assert_int_equal(shim_complete_io(vm, &e), 0);

	/* IN: the exit comes before the instruction completes; completing loads the value. */
	run(vm, &e, SHIM_EXIT_IO);
	assert_int_equal(e.addr, 0x3f8);
	assert_int_equal(e.size, 1);
	assert_false(e.is_write);
	ok(vm, shim_get_state(vm, &st, false));
	print_message("IN exit: rip %#llx al %#llx (instruction at 0x7c0b)\n", (unsigned long long)st.rip,
	              (unsigned long long)(st.gpr[X86_RAX] & 0xff));
	e.data[0] = 0x5a;
	assert_int_equal(shim_complete_io(vm, &e), 0);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0x7c0c);
	assert_int_equal(st.gpr[X86_RAX] & 0xffff, 0xbe5a);

	run(vm, &e, SHIM_EXIT_IO);
	assert_int_equal(e.addr, 0x60);
	assert_int_equal(e.size, 4);
	/* Answered in KVM's buffer instead of data[]: that works too. */
	assert_memory_equal(e.data, "\xff\xff\xff\xff", 4);
	memcpy(e.pio_data, "\x44\x33\x22\x11", 4);
	assert_int_equal(shim_complete_io(vm, &e), 0);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.gpr[X86_RAX] & 0xffffffff, 0x11223344);

	/* REP OUTSB: however KVM chunks it, the bytes arrive in order, count*size of them. */
	for (;;) {
		ok(vm, shim_run(vm, &e));
		if (e.kind != SHIM_EXIT_IO)
			break;
		assert_int_equal(e.addr, 0x3f8);
		assert_true(e.is_write);
		assert_int_equal(e.data_len, e.count * e.size);
		assert_true(nouts + e.data_len <= 3);
		memcpy(outs + nouts, e.pio_data, e.data_len);
		nouts += e.data_len;
		assert_int_equal(shim_complete_io(vm, &e), 0);
	}
	assert_int_equal(e.kind, SHIM_EXIT_HLT);
	assert_string_equal(outs, "abc");
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.gpr[X86_RCX] & 0xffff, 0);
	shim_close(vm);
}

/* Answers an IO/MMIO exit from the device bus. */
static int answer(struct devbus *bus, struct shim_vm *vm, struct shim_exit *e)
{
	if (e->kind == SHIM_EXIT_MMIO)
		devbus_mmio(bus, e->addr, e->size, e->is_write, e->data);
	else
		devbus_pio(bus, (uint16_t)e->addr, e->size, e->is_write,
		           e->data_len <= sizeof(e->data) ? e->data : e->pio_data, e->count);
	return shim_complete_io(vm, e);
}

static void test_mmio_exits(void **state)
{
	static const uint8_t code[] = {
	    0xc7, 0x05, 0x10, 0x00, 0xb0, 0xfe,
	    0x0d, 0xf0, 0xfe, 0xca,             /* mov dword [0xfeb00010], 0xcafef00d */
	    0x8b, 0x1d, 0x20, 0x00, 0xb0, 0xfe, /* mov ebx, [0xfeb00020] */
	    0xb0, 0x07,                         /* mov al, 7 */
	    0x00, 0x05, 0x00, 0x08, 0xb0, 0xfe, /* add [0xfeb00800], al */
	    0xf4,                               /* hlt */
	};
	struct devbus *bus = devbus_new();
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	assert_int_equal(devbus_add_standard(bus), 0);
	vm = boot32(code, sizeof(code), &st);
	run(vm, &e, SHIM_EXIT_MMIO);
	assert_int_equal(e.addr, 0xfeb00010);
	assert_int_equal(e.size, 4);
	assert_true(e.is_write);
	assert_memory_equal(e.data, "\x0d\xf0\xfe\xca", 4);
	ok(vm, shim_get_state(vm, &st, false));
	print_message("MMIO write exit: rip %#llx (instruction at 0x1000, next 0x100a)\n",
	              (unsigned long long)st.rip);
	assert_int_equal(answer(bus, vm, &e), 0);
	assert_int_equal(devbus_mmio_test_stored(bus, 0x10), 0x0d);
	assert_int_equal(devbus_mmio_test_stored(bus, 0x13), 0xca);

	run(vm, &e, SHIM_EXIT_MMIO);
	assert_int_equal(e.addr, 0xfeb00020);
	assert_int_equal(e.size, 4);
	assert_false(e.is_write);
	ok(vm, shim_get_state(vm, &st, false));
	print_message("MMIO read exit: rip %#llx ebx %#llx (instruction at 0x100a)\n",
	              (unsigned long long)st.rip, (unsigned long long)st.gpr[X86_RBX]);
	assert_int_equal(answer(bus, vm, &e), 0);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0x1010);
	assert_int_equal(st.gpr[X86_RBX], devbus_mmio_test_value(0) & 0xffffffff);

	/* Read-modify-write: the read exit, then completing it yields the write exit of the same instruction.
	 */
	run(vm, &e, SHIM_EXIT_MMIO);
	assert_int_equal(e.addr, 0xfeb00800);
	assert_false(e.is_write);
	assert_int_equal(answer(bus, vm, &e), 0);
	assert_true(shim_exit_pending(vm));
	run(vm, &e, SHIM_EXIT_MMIO);
	assert_int_equal(e.addr, 0xfeb00800);
	assert_true(e.is_write);
	assert_int_equal(e.data[0], 7);
	assert_int_equal(answer(bus, vm, &e), 0);
	assert_false(shim_exit_pending(vm));
	assert_int_equal(devbus_mmio_test_stored(bus, 0x800), 7);
	run(vm, &e, SHIM_EXIT_HLT);
	shim_close(vm);
	devbus_free(bus);
}

struct pages {
	uint64_t gpa[16];
	int n;
};

static void collect(void *arg, uint64_t gpa)
{
	struct pages *p = arg;

	if (p->n < 16)
		p->gpa[p->n++] = gpa;
}

static bool has_page(const struct pages *p, uint64_t gpa)
{
	for (int i = 0; i < p->n; i++)
		if (p->gpa[i] == gpa)
			return true;
	return false;
}

static void test_dirty_log(void **state)
{
	static const uint8_t code[] = {
	    0xc6, 0x06, 0x00, 0x50, 0x01,       /* mov byte [0x5000], 1 */
	    0xc7, 0x06, 0x23, 0x91, 0x02, 0x00, /* mov word [0x9123], 2 */
	    0xf4,                               /* hlt */
	};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;
	struct pages p = {0};

	(void)state;
	vm = boot(code, sizeof(code), true, &st);
	ok(vm, shim_dirty_pages(vm, NULL, NULL));
	run(vm, &e, SHIM_EXIT_HLT);
	ok(vm, shim_dirty_pages(vm, collect, &p));
	assert_true(has_page(&p, 0x5000));
	assert_true(has_page(&p, 0x9000));
	assert_false(has_page(&p, 0x6000));
	assert_int_equal(shim_ram(vm)[0x9123], 2);
	/* Cleared by the read: nothing written since. */
	p.n = 0;
	ok(vm, shim_dirty_pages(vm, collect, &p));
	assert_int_equal(p.n, 0);
	shim_close(vm);
}

static void test_shadow_reported(void **state)
{
	static const uint8_t code[] = {
	    0xb8, 0x00, 0x00, /* mov ax, 0 */
	    0x8e, 0xd0,       /* mov ss, ax */
	    0x90,             /* nop */
	    0xfb,             /* sti */
	    0x90,             /* nop */
	    0xf4,             /* hlt */
	};
	static const struct {
		uint64_t rip;
		uint8_t shadow;
		int line;
	} rows[] = {
	    {0x7c03, 0, __LINE__}, {0x7c05, X86_SHADOW_MOV_SS, __LINE__},
	    {0x7c06, 0, __LINE__}, {0x7c07, X86_SHADOW_STI, __LINE__},
	    {0x7c08, 0, __LINE__},
	};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	vm = boot(code, sizeof(code), false, &st);
	if (shim_flavour(vm) != SHIM_FLAVOUR_PVM) {
		/* Silicon delays the single-step trap over the instruction after MOV SS. */
		print_message("flavour %s: the rows below are the PVM (KVM emulator) behaviour\n",
		              shim_flavour_name(shim_flavour(vm)));
		shim_close(vm);
		skip();
	}
	ok(vm, shim_set_singlestep(vm, true));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		run(vm, &e, SHIM_EXIT_DEBUG);
		ok(vm, shim_get_state(vm, &st, false));
		if (st.rip != rows[i].rip || st.events.shadow != rows[i].shadow)
			fail_msg("%s:%d: rip %#llx shadow %u, want rip %#llx shadow %u", __FILE__,
			         rows[i].line, (unsigned long long)st.rip, st.events.shadow,
			         (unsigned long long)rows[i].rip, rows[i].shadow);
	}
	/* The shadow round-trips through shim_set_state too. */
	st.events.shadow = X86_SHADOW_MOV_SS;
	ok(vm, shim_set_state(vm, &st));
	memset(&st.events, 0, sizeof(st.events));
	ok(vm, shim_get_state(vm, &st, true));
	assert_int_equal(st.events.shadow, X86_SHADOW_MOV_SS);
	shim_close(vm);
}

static void test_long_mode_step(void **state)
{
	static const uint8_t code[] = {
	    0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* mov rax, 0x1122334455667788 */
	    0x48, 0x89, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00,             /* mov [0x3000], rax */
	    0x48, 0x01, 0xc0,                                           /* add rax, rax */
	    0x50,                                                       /* push rax */
	    0x5b,                                                       /* pop rbx */
	    0xf4,                                                       /* hlt */
	};
	static const struct {
		uint64_t rip, rax, rbx, rsp;
		int line;
	} rows[] = {
	    {0x100a, 0x1122334455667788ull, 0, 0x8000, __LINE__},
	    {0x1012, 0x1122334455667788ull, 0, 0x8000, __LINE__},
	    {0x1015, 0x22446688aaccef10ull, 0, 0x8000, __LINE__},
	    {0x1016, 0x22446688aaccef10ull, 0, 0x7ff8, __LINE__},
	    {0x1017, 0x22446688aaccef10ull, 0x22446688aaccef10ull, 0x8000, __LINE__},
	};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm = vm_open(true);
	struct pages p = {0};
	uint64_t gpa;

	(void)state;
	ok(vm, shim_load_bytes(vm, code, sizeof(code), CODE32));
	ok(vm, shim_state_long64(vm, &st, 0x10000, CODE32, 0x8000));
	ok(vm, shim_set_state(vm, &st));
	ok(vm, shim_get_state(vm, &st, true));
	assert_int_equal(x86_state_mode(&st), X86_MODE_LONG64);
	ok(vm, shim_dirty_pages(vm, NULL, NULL));
	ok(vm, shim_set_singlestep(vm, true));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		run(vm, &e, SHIM_EXIT_DEBUG);
		ok(vm, shim_get_state(vm, &st, false));
		if (st.rip != rows[i].rip || st.gpr[X86_RAX] != rows[i].rax ||
		    st.gpr[X86_RBX] != rows[i].rbx || st.gpr[X86_RSP] != rows[i].rsp)
			fail_msg("%s:%d: rip %#llx rax %#llx rbx %#llx rsp %#llx", __FILE__, rows[i].line,
			         (unsigned long long)st.rip, (unsigned long long)st.gpr[X86_RAX],
			         (unsigned long long)st.gpr[X86_RBX], (unsigned long long)st.gpr[X86_RSP]);
	}
	run(vm, &e, SHIM_EXIT_HLT);
	ok(vm, shim_dirty_pages(vm, collect, &p));
	assert_true(has_page(&p, 0x3000));
	assert_true(has_page(&p, 0x7000)); /* the stack page of push rax */
	/* The page walk follows the tables the guest really runs on. */
	assert_int_equal(
	    (x86_translate_ram(&st, shim_ram(vm), shim_ram_size(vm), 0x3008, &gpa) ? 0 : -EFAULT), 0);
	assert_int_equal(gpa, 0x3008);
	assert_int_equal(
	    (x86_translate_ram(&st, shim_ram(vm), shim_ram_size(vm), DEVBUS_MMIO_TEST_BASE + 4, &gpa)
	         ? 0
	         : -EFAULT),
	    0);
	assert_int_equal(gpa, DEVBUS_MMIO_TEST_BASE + 4);
	assert_int_equal(
	    (x86_translate_ram(&st, shim_ram(vm), shim_ram_size(vm), 0x100000000ull, &gpa) ? 0 : -EFAULT),
	    -EFAULT);
	shim_close(vm);
}

static void test_user64_step_refused_on_pvm(void **state)
{
	static const uint8_t code[] = {0x90, 0x90, 0xeb, 0xfe}; /* nop; nop; jmp $ */
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm = vm_open(false);
	uint64_t done;

	(void)state;
	ok(vm, shim_load_bytes(vm, code, sizeof(code), CODE32));
	ok(vm, shim_state_long64(vm, &st, 0x10000, CODE32, 0x8000));
	for (int i = X86_ES; i <= X86_GS; i++) {
		st.seg[i].attr |= 3u << X86_SEG_DPL_SHIFT;
		st.seg[i].selector |= 3;
	}
	ok(vm, shim_set_state(vm, &st));
	ok(vm, shim_set_singlestep(vm, true));
	if (shim_flavour(vm) != SHIM_FLAVOUR_PVM) {
		run(vm, &e, SHIM_EXIT_DEBUG);
		ok(vm, shim_get_state(vm, &st, false));
		assert_int_equal(st.rip, CODE32 + 1);
		shim_close(vm);
		return;
	}
	assert_int_equal(shim_run(vm, &e), -EOPNOTSUPP);
	assert_non_null(strstr(shim_error(vm), "64-bit CPL3"));
	assert_int_equal(shim_step_raw(vm, 10, &done), -EOPNOTSUPP);
	assert_int_equal(done, 0);
	shim_close(vm);
}

static void test_iretd_emulation_failure(void **state)
{
	static const uint8_t code[] = {
	    0x68, 0x02, 0x02, 0x00, 0x00, /* push dword 0x202 */
	    0x6a, 0x08,                   /* push dword 0x08 */
	    0x68, 0x00, 0x10, 0x00, 0x00, /* push dword 0x1000 */
	    0xcf,                         /* iretd */
	};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	vm = boot32(code, sizeof(code), &st);
	if (shim_flavour(vm) != SHIM_FLAVOUR_PVM) {
		/* On VT-x/SVM silicon runs IRET: it jumps back to the start. */
		print_message("flavour %s: protected-mode IRET is executed, not an emulation failure\n",
		              shim_flavour_name(shim_flavour(vm)));
		shim_close(vm);
		skip();
	}
	run(vm, &e, SHIM_EXIT_INTERNAL_ERROR);
	assert_int_equal(e.suberror, 1); /* KVM_INTERNAL_ERROR_EMULATION */
	assert_true(e.data_len >= 1 && e.data_len <= 15);
	assert_int_equal(e.data[0], 0xcf);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, CODE32 + 12); /* at the iretd: nothing of it executed */
	assert_int_equal(st.gpr[X86_RSP], 0x8000 - 12);
	shim_close(vm);
}

static void test_rom_and_reset(void **state)
{
	uint8_t *rom = calloc(1, 0x10000);
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm = vm_open(false);

	(void)state;
	assert_non_null(rom);
	rom[0xfff0] = 0xa1; /* mov ax, [0x10]: DS base 0, from RAM */
	rom[0xfff1] = 0x10;
	rom[0xfff2] = 0x00;
	rom[0xfff3] = 0x2e; /* mov [cs:0xfff8], al: a write to ROM comes back as an MMIO write */
	rom[0xfff4] = 0xa2;
	rom[0xfff5] = 0xf8;
	rom[0xfff6] = 0xff;
	rom[0xfff7] = 0xf4; /* hlt */
	ok(vm, shim_map_rom(vm, 0xffff0000ull, rom, 0x10000));
	assert_int_equal(shim_map_rom(vm, 0xffff8000ull, rom, 0x1000), -EEXIST);
	shim_ram(vm)[0x10] = 0x77;
	x86_state_reset(&st);
	ok(vm, shim_set_state(vm, &st));
	run(vm, &e, SHIM_EXIT_MMIO);
	assert_true(e.is_write);
	assert_int_equal(e.addr, 0xfffffff8ull);
	assert_int_equal(e.data[0], 0x77);
	assert_int_equal(shim_complete_io(vm, &e), 0);
	run(vm, &e, SHIM_EXIT_HLT);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0xfff8);
	free(rom);
	shim_close(vm);
}

static void test_rom_inside_ram(void **state)
{
	static const uint8_t code[] = {
	    0xb8, 0x00, 0xc0, /* mov ax, 0xc000 */
	    0x8e, 0xd8,       /* mov ds, ax */
	    0xa0, 0x00, 0x00, /* mov al, [0]: from the ROM, not the RAM under it */
	    0xa2, 0x01, 0x00, /* mov [1], al: a write to ROM is an MMIO write */
	    0xbb, 0x00, 0xd0, /* mov bx, 0xd000 */
	    0x8e, 0xdb,       /* mov ds, bx */
	    0xa2, 0x02, 0x00, /* mov [2], al: RAM after the hole */
	    0xf4,             /* hlt */
	};
	static const uint8_t rom[0x10000] = {0x5a, 0x5b};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;
	struct pages p = {0};
	uint8_t b[2];

	(void)state;
	vm = boot(code, sizeof(code), true, &st);
	shim_ram(vm)[0xc0000] = 0x11; /* hidden by the ROM */
	ok(vm, shim_map_rom(vm, 0xc0000, rom, sizeof(rom)));
	assert_int_equal(shim_map_rom(vm, 0xc8000, rom, 0x1000), -EEXIST);
	assert_int_equal(shim_map_rom(vm, 0xff000, rom, 0x2000), -EEXIST); /* straddles the end of RAM */
	ok(vm, shim_read_phys(vm, 0xc0000, b, 2));
	assert_int_equal(b[0], 0x5a);
	assert_int_equal(shim_read_phys(vm, 0xfffff, b, 2), -EFAULT);
	ok(vm, shim_dirty_pages(vm, NULL, NULL));
	run(vm, &e, SHIM_EXIT_MMIO);
	assert_true(e.is_write);
	assert_int_equal(e.addr, 0xc0001);
	assert_int_equal(e.data[0], 0x5a);
	assert_int_equal(shim_complete_io(vm, &e), 0);
	run(vm, &e, SHIM_EXIT_HLT);
	assert_int_equal(shim_ram(vm)[0xd0002], 0x5a);
	assert_int_equal(shim_ram(vm)[0xc0001], 0);
	ok(vm, shim_dirty_pages(vm, collect, &p));
	assert_true(has_page(&p, 0xd0000));
	assert_false(has_page(&p, 0xc0000));
	shim_close(vm);
}

static void test_interrupt_injection(void **state)
{
	static const uint8_t code[] = {0xfb, 0x90, 0x90, 0xeb, 0xfe}; /* sti; nop; nop; jmp $ */
	static const uint8_t handler[] = {0x40, 0xcf};                /* inc ax; iret */
	static const uint16_t ivt_0x20[2] = {0x8000, 0};
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	vm = boot(code, sizeof(code), false, &st);
	ok(vm, shim_load_bytes(vm, handler, sizeof(handler), 0x8000));
	ok(vm, shim_load_bytes(vm, ivt_0x20, sizeof(ivt_0x20), 0x20 * 4));
	ok(vm, shim_set_singlestep(vm, true));
	if (shim_step_uses_guest_tf(vm)) {
		/* VT-x/SVM: the delivery clears the stepping TF, so the handler runs to its IRET in the step,
		 * and the FLAGS image it pushed carries that TF (recorder/step_tf.c takes it out). */
		unsigned steps = 0;
		while (!shim_can_inject(vm) && steps++ < 4)
			run(vm, &e, SHIM_EXIT_DEBUG);
		assert_true(shim_can_inject(vm));
		ok(vm, shim_inject_interrupt(vm, 0x20));
		run(vm, &e, SHIM_EXIT_DEBUG);
		ok(vm, shim_get_state(vm, &st, false));
		assert_int_equal(st.gpr[X86_RAX] & 0xffff, 1);
		assert_int_equal(st.gpr[X86_RSP] & 0xffff, 0x7c00);
		assert_true(st.rflags & X86_RFLAGS_IF);
		assert_true(st.rip >= 0x7c02 && st.rip <= 0x7c05);
		assert_true(shim_ram(vm)[0x7bff] & (X86_RFLAGS_TF >> 8));
		shim_close(vm);
		return;
	}
	run(vm, &e, SHIM_EXIT_DEBUG); /* sti: the shadow blocks interrupts for one instruction */
	assert_false(shim_can_inject(vm));
	run(vm, &e, SHIM_EXIT_DEBUG);
	assert_true(shim_can_inject(vm));
	ok(vm, shim_inject_interrupt(vm, 0x20));
	/* One step: the delivery through the IVT and the handler's first instruction. */
	run(vm, &e, SHIM_EXIT_DEBUG);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0x8001);
	assert_int_equal(st.gpr[X86_RAX] & 0xffff, 1);
	assert_int_equal(st.gpr[X86_RSP] & 0xffff, 0x7bfa);
	assert_int_equal(st.rflags & X86_RFLAGS_IF, 0);
	run(vm, &e, SHIM_EXIT_DEBUG); /* iret */
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, 0x7c02);
	assert_int_equal(st.gpr[X86_RSP] & 0xffff, 0x7c00);
	assert_true(st.rflags & X86_RFLAGS_IF);
	shim_close(vm);
}

/* User-space MSR exits: an MSR KVM refuses without an in-kernel LAPIC (x2APIC 0x808) and the filtered
 * IA32_TSC_DEADLINE come back as SHIM_EXIT_MSR; the answer (a value, or #GP) completes the instruction. */
static const struct {
	const char *what;
	uint32_t msr;
	bool is_write, gp;
	uint64_t value; /* answered (read) or written */
} msr_cases[] = {
    {"RDMSR x2APIC TPR answered", 0x808, false, false, 0x1122334455667788ull},
    {"WRMSR IA32_TSC_DEADLINE taken", 0x6e0, true, false, 0x0000000912345678ull},
    {"RDMSR x2APIC TPR refused", 0x808, false, true, 0},
    {"WRMSR IA32_TSC_DEADLINE refused", 0x6e0, true, true, 0x0000000912345678ull},
};

static void test_msr_exits(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msr_cases) / sizeof(msr_cases[0]); i++) {
		uint32_t msr = msr_cases[i].msr, lo = (uint32_t)msr_cases[i].value,
		         hi = (uint32_t)(msr_cases[i].value >> 32);
		/* mov ecx, msr; mov eax, lo; mov edx, hi; rdmsr/wrmsr; hlt */
		uint8_t code[] = {0x66,
		                  0xb9,
		                  msr & 0xff,
		                  msr >> 8,
		                  0,
		                  0,
		                  0x66,
		                  0xb8,
		                  lo & 0xff,
		                  lo >> 8 & 0xff,
		                  lo >> 16 & 0xff,
		                  lo >> 24,
		                  0x66,
		                  0xba,
		                  hi & 0xff,
		                  hi >> 8 & 0xff,
		                  hi >> 16 & 0xff,
		                  hi >> 24,
		                  0x0f,
		                  msr_cases[i].is_write ? 0x30 : 0x32,
		                  0xf4};
		static const uint8_t gp_handler[] = {0xbb, 0x47, 0x47, 0xf4}; /* mov bx, 0x4747; hlt */
		static const uint16_t ivt_13[2] = {0x8000, 0};
		struct x86_state st;
		struct shim_exit e;
		struct shim_vm *vm = boot(code, sizeof(code), false, &st);

		print_message("%s\n", msr_cases[i].what);
		if (!shim_msr_exits_enabled(vm)) {
			shim_close(vm);
			skip();
		}
		ok(vm, shim_load_bytes(vm, gp_handler, sizeof(gp_handler), 0x8000));
		ok(vm, shim_load_bytes(vm, ivt_13, sizeof(ivt_13), 13 * 4));
		run(vm, &e, SHIM_EXIT_MSR);
		assert_int_equal(e.addr, msr);
		assert_int_equal(e.is_write, msr_cases[i].is_write);
		if (e.is_write)
			assert_memory_equal(e.data, &msr_cases[i].value, 8);
		else
			memcpy(e.data, &msr_cases[i].value, 8);
		e.msr_gp = msr_cases[i].gp;
		ok(vm, shim_complete_io(vm, &e));
		ok(vm, shim_get_state(vm, &st, false));
		if (!msr_cases[i].gp) {
			assert_int_equal(st.rip, BOOT + sizeof(code) - 1);
			assert_int_equal(st.gpr[X86_RAX] & 0xffffffffu, lo);
			assert_int_equal(st.gpr[X86_RDX] & 0xffffffffu, hi);
		}
		run(vm, &e, SHIM_EXIT_HLT);
		ok(vm, shim_get_state(vm, &st, false));
		assert_int_equal(st.gpr[X86_RBX] & 0xffff, msr_cases[i].gp ? 0x4747 : 0);
		shim_close(vm);
	}
}

/* shim_inject_nmi: taken at the next run through IVT vector 2, NMIs then blocked until the IRET, also
 * while single-stepping (BLOCKIRQ holds back a pending NMI, not an injected one). */
static void test_nmi_injection(void **state)
{
	static const uint8_t code[] = {0x90, 0x90, 0xf4};    /* nop; nop; hlt */
	static const uint8_t handler[] = {0x40, 0xf4, 0xcf}; /* inc ax; hlt; iret */
	static const uint16_t ivt_2[2] = {0x8000, 0};
	(void)state;
	for (int stepping = 0; stepping < 2; stepping++) {
		struct x86_state st;
		struct shim_exit e;
		struct shim_vm *vm = boot(code, sizeof(code), false, &st);

		ok(vm, shim_load_bytes(vm, handler, sizeof(handler), 0x8000));
		ok(vm, shim_load_bytes(vm, ivt_2, sizeof(ivt_2), 2 * 4));
		ok(vm, shim_set_singlestep(vm, stepping));
		ok(vm, shim_inject_nmi(vm));
		/* Stepping: the handler's instructions one by one (PVM) or run to its HLT (VT-x/SVM). */
		unsigned runs = 0;
		do
			ok(vm, shim_run(vm, &e));
		while (e.kind == SHIM_EXIT_DEBUG && ++runs < 4);
		assert_int_equal(e.kind, SHIM_EXIT_HLT);
		ok(vm, shim_get_state(vm, &st, false));
		assert_int_equal(st.gpr[X86_RAX] & 0xffff, 1);
		assert_int_equal(st.rip, 0x8002);
		assert_true(st.events.nmi_masked);
		/* A second NMI while the first one's handler runs is refused. */
		assert_int_equal(shim_inject_nmi(vm), -EBUSY);
		shim_close(vm);
	}
}

static void test_irq_window_exit(void **state)
{
	static const uint8_t code[] = {0x90, 0xfb, 0x90, 0xeb, 0xfe}; /* nop; sti; nop; jmp $ */
	struct x86_state st;
	struct shim_exit e;
	struct shim_vm *vm;

	(void)state;
	vm = boot(code, sizeof(code), false, &st);
	shim_request_irq_window(vm, true);
	run(vm, &e, SHIM_EXIT_OTHER);
	assert_int_equal(e.kvm_reason, 7); /* KVM_EXIT_IRQ_WINDOW_OPEN */
	assert_true(shim_can_inject(vm));
	ok(vm, shim_get_state(vm, &st, false));
	/* Not before the instruction after STI (its shadow). */
	assert_true(st.rip >= 0x7c03);
	assert_true(st.rflags & X86_RFLAGS_IF);
	shim_close(vm);
}

static void test_step_raw(void **state)
{
	static const uint8_t code[] = {0xeb, 0xfe}; /* jmp $ */
	struct x86_state st;
	struct shim_vm *vm;
	uint64_t done = 0;

	(void)state;
	vm = boot(code, sizeof(code), false, &st);
	ok(vm, shim_step_raw(vm, 1000, &done));
	assert_int_equal(done, 1000);
	ok(vm, shim_get_state(vm, &st, false));
	assert_int_equal(st.rip, BOOT);
	shim_close(vm);
}

static void test_loader_errors(void **state)
{
	struct shim_vm *vm = vm_open(false);
	char path[] = "/tmp/shimimg.XXXXXX";
	int fd = mkstemp(path);
	size_t len = 1;
	static uint8_t big[RAM];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(shim_load_flat(vm, "/nonexistent/guest.bin", 0x7c00, &len), -ENOENT);
	assert_int_equal(len, 0);
	assert_non_null(strstr(shim_error(vm), "/nonexistent/guest.bin"));
	assert_int_equal(shim_load_flat(vm, path, 0x7c00, &len), -EINVAL); /* empty */
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(shim_load_flat(vm, path, 0x7c00, &len), -EFBIG);
	assert_non_null(strstr(shim_error(vm), path));
	assert_int_equal(shim_load_flat(vm, path, 0, &len), 0);
	assert_int_equal(len, RAM);
	close(fd);
	unlink(path);
	shim_close(vm);
}

static void test_errors_name_the_ioctl(void **state)
{
	struct x86_state st, bad;
	struct shim_vm *vm = vm_open(false);

	(void)state;
	ok(vm, shim_get_state(vm, &st, true));
	bad = st;
	bad.xcr0 = 0x2; /* SSE without x87: architecturally invalid */
	assert_int_equal(shim_set_state(vm, &bad), -EINVAL);
	assert_non_null(strstr(shim_error(vm), "KVM_SET_XCRS"));
	assert_non_null(strstr(shim_error(vm), "Invalid argument"));
	bad = st;
	bad.cr0 = X86_CR0_PG; /* paging without protection */
	assert_int_equal(shim_set_state(vm, &bad), -EINVAL);
	assert_non_null(strstr(shim_error(vm), "KVM_RUN"));
	/* The VM still takes a good state afterwards. */
	ok(vm, shim_set_state(vm, &st));
	shim_close(vm);
}

static void test_bad_ram_size(void **state)
{
	static const size_t sizes[] = {0, 4095, (size_t)SHIM_RAM_MAX + 4096};
	struct shim_vm *vm = (struct shim_vm *)1;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct shim_config cfg = {.ram_bytes = sizes[i]};

		assert_int_equal(shim_open(&vm, &cfg), -EINVAL);
		assert_null(vm);
		assert_non_null(strstr(shim_last_open_error(), "guest RAM"));
	}
}

static void test_cpuid_and_flavour(void **state)
{
	struct shim_vm *vm = vm_open(false);
	const struct shim_cpuid_entry *t;
	size_t n;
	bool leaf0 = false;

	(void)state;
	ok(vm, shim_cpuid_table(vm, &t, &n));
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++)
		if (t[i].function == 0 && t[i].eax >= 1)
			leaf0 = true;
	assert_true(leaf0);
	print_message("flavour %s, reference %s, %zu CPUID entries\n", shim_flavour_name(shim_flavour(vm)),
	              shim_reference_name(shim_flavour(vm)), n);
	assert_int_not_equal(shim_flavour(vm), SHIM_FLAVOUR_UNKNOWN);
	shim_close(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_roundtrip),
	    cmocka_unit_test(test_single_step_real_mode),
	    cmocka_unit_test(test_io_exits),
	    cmocka_unit_test(test_mmio_exits),
	    cmocka_unit_test(test_dirty_log),
	    cmocka_unit_test(test_shadow_reported),
	    cmocka_unit_test(test_iretd_emulation_failure),
	    cmocka_unit_test(test_rom_and_reset),
	    cmocka_unit_test(test_rom_inside_ram),
	    cmocka_unit_test(test_interrupt_injection),
	    cmocka_unit_test(test_irq_window_exit),
	    cmocka_unit_test(test_msr_exits),
	    cmocka_unit_test(test_nmi_injection),
	    cmocka_unit_test(test_step_raw),
	    cmocka_unit_test(test_long_mode_step),
	    cmocka_unit_test(test_user64_step_refused_on_pvm),
	    cmocka_unit_test(test_loader_errors),
	    cmocka_unit_test(test_errors_name_the_ioctl),
	    cmocka_unit_test(test_bad_ram_size),
	    cmocka_unit_test(test_cpuid_and_flavour),
	};
	struct shim_config cfg = {.ram_bytes = RAM};
	struct shim_vm *vm;
	int r = shim_open(&vm, &cfg);

	if (r == -ENOENT || r == -EACCES || r == -ENODEV) {
		fprintf(stderr, "skipped: %s\n", shim_last_open_error());
		return 77;
	}
	if (r) {
		fprintf(stderr, "shim_open: %s\n", shim_last_open_error());
		return 1;
	}
	shim_close(vm);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
