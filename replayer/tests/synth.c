/* The program: at 0000:1000, SS:SP = 0000:8000, RFLAGS = 2.
 *   0 b8 34 12  mov ax, 0x1234   rax 0x1234
 *   1 05 01 00  add ax, 1        rax 0x1235, PF (0x35 has four bits set)
 *   2 50        push ax          sp 0x7ffe, [0x7ffe] = 35 12
 *   3 40        inc ax           rax 0x1236, PF
 *   4 89 c3     mov bx, ax       rbx 0x1236
 *   5 90        nop */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

char *synth_tmp(const char *suffix)
{
	static unsigned seq;
	char *p = malloc(256);
	if (p)
		snprintf(p, 256, "%s/emudiff-replay-test-%d-%u%s",
		         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), seq++, suffix);
	return p;
}

int synth_trace(const char *path, enum synth_plant plant)
{
	static const uint8_t code[] = {0xb8, 0x34, 0x12, 0x05, 0x01, 0x00, 0x50, 0x40, 0x89, 0xc3, 0x90};
	static const uint8_t code_in[] = {0xe4, 0x60, 0x90, 0x90, 0x90, 0x90, 0x90};
	static const uint8_t code_cpuid[] = {0x0f, 0xa2, 0x90, 0x90, 0x90, 0x90, 0x90};
	static const uint8_t code_pushpop[] = {0x50, 0x59, 0x90, 0x90, 0x90, 0x90, 0x90};
	struct x86_state s[SYNTH_STEPS + 1];
	struct trace *t = NULL;
	uint8_t *ram = calloc(1, SYNTH_RAM);
	int ret = -ENOMEM;
	bool io = plant == SYNTH_IN_NO_INPUT || plant == SYNTH_IN_WITH_INPUT;
	bool run_push = plant == SYNTH_RUN_PUSH || plant == SYNTH_RUN_PUSH_BYTES;
	bool pushpop = plant == SYNTH_BAD_PUSH || run_push;
	bool first_special = io || plant == SYNTH_CPUID || pushpop;

	if (!ram)
		return -ENOMEM;
	if (plant == SYNTH_CPUID)
		memcpy(ram + SYNTH_CODE, code_cpuid, sizeof(code_cpuid));
	else if (pushpop)
		memcpy(ram + SYNTH_CODE, code_pushpop, sizeof(code_pushpop));
	else
		memcpy(ram + SYNTH_CODE, io ? code_in : code, io ? sizeof(code_in) : sizeof(code));
	if (pushpop)
		ram[0x7ffe] = ram[0x7fff] = 0x77;
	x86_state_real(&s[0], 0, SYNTH_CODE, SYNTH_STACK);
	s[0].xcr0 = 1; /* x87 enabled, as after reset and as KVM reports it */
	if (plant == SYNTH_CPUID)
		s[0].gpr[X86_RAX] = 1;
	if (pushpop)
		s[0].gpr[X86_RAX] = 0x1234;
	if (first_special) {
		for (unsigned i = 1; i <= SYNTH_STEPS; i++) {
			s[i] = s[i - 1];
			s[i].rip = SYNTH_CODE + (i == 1 && !pushpop ? 2 : s[i - 1].rip - SYNTH_CODE + 1);
			if (i == 1 && io)
				s[i].gpr[X86_RAX] = 0xab;
			if (i == 1 && plant == SYNTH_CPUID)
				s[i].gpr[X86_RAX] = 0xc06f2, s[i].gpr[X86_RBX] = 0x01020800,
				s[i].gpr[X86_RCX] = 0x81202000, s[i].gpr[X86_RDX] = 0x0f8bfbff;
			/* push ax, then pop cx reads what the recording says the push stored */
			if (i == 1 && pushpop)
				s[i].gpr[X86_RSP] = 0x7ffe;
			if (i == 2 && pushpop)
				s[i].gpr[X86_RSP] = 0x8000, s[i].gpr[X86_RCX] = run_push ? 0x1234 : 0x7777;
		}
	}
	if (!first_special) {
		uint64_t ax1 = plant == SYNTH_TWO_BAD ? 0x1299 : 0x1235;
		s[1] = s[0], s[1].gpr[X86_RAX] = 0x1234, s[1].rip = 0x1003;
		s[2] = s[1], s[2].gpr[X86_RAX] = ax1, s[2].rip = 0x1006, s[2].rflags = 0x6;
		s[3] = s[2], s[3].gpr[X86_RSP] = 0x7ffe, s[3].rip = 0x1007;
		s[4] = s[3], s[4].gpr[X86_RAX] = ax1 + 1, s[4].rip = 0x1008;
		s[5] = s[4], s[5].gpr[X86_RBX] = ax1 + 1, s[5].rip = 0x100a;
		s[6] = s[5], s[6].rip = 0x100b;
		if (plant == SYNTH_BAD_RAX_AT_4)
			s[5].gpr[X86_RAX] = s[6].gpr[X86_RAX] = 0x5555;
		if (plant == SYNTH_TWO_BAD)
			s[6].gpr[X86_RCX] = 7;
	}

	ret = trace_create(&t, path, true);
	if (ret < 0)
		goto out;
	char buf[32];
	snprintf(buf, sizeof(buf), "%u", SYNTH_RAM);
	ret = trace_meta_set(t, "ram_bytes", buf);
	if (!ret)
		ret = trace_meta_set(t, "reference", "kvm-emulator");
	/* The recorder's format: "leaf subleaf: eax ebx ecx edx" in hex, one line each. */
	if (!ret)
		ret = trace_meta_set(t, "cpuid",
		                     "00000000 00000000: 00000020 756e6547 6c65746e 49656e69\n"
		                     "00000001 00000000: 000c06f2 01020800 81202000 0f8bfbff\n"
		                     "00000004 00000000: 04000121 02c0003f 0000003f 00000000\n"
		                     "00000004 00000001: 04000122 01c0003f 0000003f 00000000\n");
	if (!ret)
		ret = trace_put_memory(t, 0, ram, SYNTH_RAM);
	for (unsigned i = 0; !ret && i < SYNTH_STEPS; i++) {
		uint16_t pushed = (uint16_t)s[2].gpr[X86_RAX];
		struct trace_write w = {.gpa = 0x7ffe, .len = 2, .data = (const uint8_t *)&pushed};
		struct trace_input in = {.kind = TRACE_INPUT_PIO_IN, .size = 1, .count = 1, .addr = 0x60};
		in.data[0] = 0xab;
		struct trace_step st = {.index = i, .kind = TRACE_STEP_INSN, .pre = s[i]};
		if (!first_special && i == 2) {
			st.writes = &w;
			st.n_writes = 1;
		}
		if (plant == SYNTH_IN_WITH_INPUT && i == 0) {
			st.inputs = &in;
			st.n_inputs = 1;
		}
		if (plant == SYNTH_RUN_FALLBACK && i == 2)
			st.kind = TRACE_STEP_RUN, st.n_writes = 0;
		if (plant == SYNTH_RUN_FALLBACK && i == 3)
			st.kind = TRACE_STEP_FALLBACK;
		uint16_t ax = 0x1234;
		struct trace_write pushed_bytes = {.gpa = 0x7ffe, .len = 2, .data = (const uint8_t *)&ax};
		if (run_push && i == 0)
			st.kind = TRACE_STEP_RUN;
		if (plant == SYNTH_RUN_PUSH_BYTES && i == 0)
			st.writes = &pushed_bytes, st.n_writes = 1;
		ret = trace_append_step(t, &st);
		if (!ret && io && i == 0) {
			struct trace_exit ex = {.step = 0,
			                        .reason = TRACE_EXIT_IO,
			                        .kvm_reason = 2,
			                        .addr = 0x60,
			                        .size = 1,
			                        .count = 1,
			                        .data_len = 1};
			ex.data[0] = 0xab;
			ret = trace_append_exit(t, &ex);
		}
		/* The RUN step's page, as the recorder stores it: the whole page after the step. */
		if (!ret && plant == SYNTH_RUN_FALLBACK && i == 2) {
			memcpy(ram + 0x7ffe, &pushed, 2);
			ret = trace_put_memory(t, 0x7000, ram + 0x7000, 0x1000);
		}
		if (!ret && plant == SYNTH_RUN_PUSH && i == 0) {
			memcpy(ram + 0x7ffe, &ax, 2);
			ret = trace_put_memory(t, 0x7000, ram + 0x7000, 0x1000);
		}
	}
	if (!ret)
		ret = trace_finish(t, &s[SYNTH_STEPS], "synthetic");
out:
	trace_close(t);
	free(ram);
	return ret;
}

/* The long-mode machine of synth_iretq_trace: identity-mapped 2 MiB with every A and D bit already set and
 * descriptors already accessed, so no step writes memory. */
#define SYNTH_GDT        0x3000u
#define SYNTH_PML4       0x4000u
#define SYNTH_IRET_FRAME (SYNTH_STACK - 40)
#define SYNTH_USER_STACK 0x9000u

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static struct x86_segment synth_seg(uint16_t selector, uint32_t attr)
{
	struct x86_segment s = {.base = 0, .limit = 0xffffffffu, .attr = attr, .selector = selector};
	return s;
}

int synth_iretq_trace(const char *path, const char *reference, enum synth_iretq how)
{
	static const uint8_t iretq[] = {0x48, 0xcf};
	struct x86_state s[SYNTH_IRETQ_STEPS + 1];
	struct trace *t = NULL;
	uint8_t *ram = calloc(1, SYNTH_RAM);
	int ret;

	if (!ram)
		return -ENOMEM;
	memcpy(ram + SYNTH_CODE, iretq, sizeof(iretq));
	memset(ram + SYNTH_USER_CODE, 0x90, 16);
	put64(ram + SYNTH_GDT + 0x08, 0x00af9b000000ffffull); /* 64-bit code, DPL 0 */
	put64(ram + SYNTH_GDT + 0x10, 0x00cf93000000ffffull); /* data, DPL 0 */
	put64(ram + SYNTH_GDT + 0x28, 0x00cffb000000ffffull); /* 32-bit code, DPL 3 */
	put64(ram + SYNTH_GDT + 0x30, 0x00cff3000000ffffull); /* data, DPL 3 */
	put64(ram + SYNTH_PML4, (SYNTH_PML4 + 0x1000) | 0x27);
	put64(ram + SYNTH_PML4 + 0x1000, (SYNTH_PML4 + 0x2000) | 0x27);
	put64(ram + SYNTH_PML4 + 0x2000, 0xe7); /* 2 MiB at 0: present, writable, user, accessed, dirty */
	/* The frame IRETQ pops: RIP, CS, RFLAGS, RSP, SS. */
	const uint64_t frame[5] = {SYNTH_USER_CODE, 0x2b, 0x2, SYNTH_USER_STACK, 0x33};
	for (int i = 0; i < 5; i++)
		put64(ram + SYNTH_IRET_FRAME + 8 * i, frame[i]);

	x86_state_reset(&s[0]);
	s[0].xcr0 = 1;
	s[0].cr0 = 0x80000011;
	s[0].cr3 = SYNTH_PML4;
	s[0].cr4 = 0x20;
	s[0].efer = 0x500;
	s[0].gdtr.base = SYNTH_GDT;
	s[0].gdtr.limit = 0x37;
	s[0].rip = SYNTH_CODE;
	s[0].rflags = 0x2;
	s[0].gpr[X86_RSP] = SYNTH_IRET_FRAME;
	s[0].seg[X86_CS] = synth_seg(0x08, 0xa09b);
	s[0].seg[X86_SS] = synth_seg(0x10, 0xc093);
	for (enum x86_sreg r = X86_ES; r <= X86_GS; r++)
		if (r != X86_CS && r != X86_SS)
			s[0].seg[r] = (struct x86_segment){.attr = X86_SEG_UNUSABLE};
	s[1] = s[0];
	s[1].rip = SYNTH_USER_CODE + (how == SYNTH_IRETQ_AT_TARGET ? 0 : 1);
	s[1].gpr[X86_RSP] = SYNTH_USER_STACK;
	s[1].seg[X86_CS] = synth_seg(0x2b, 0xc0fb);
	s[1].seg[X86_SS] = synth_seg(0x33, 0xc0f3);
	for (unsigned i = 2; i <= SYNTH_IRETQ_STEPS; i++)
		s[i] = s[i - 1], s[i].rip++;

	ret = trace_create(&t, path, true);
	if (!ret)
		ret = trace_meta_set(t, "ram_bytes", "65536");
	if (!ret)
		ret = trace_meta_set(t, "reference", reference);
	if (!ret)
		ret = trace_put_memory(t, 0, ram, SYNTH_RAM);
	for (unsigned i = 0; !ret && i < SYNTH_IRETQ_STEPS; i++) {
		struct trace_step st = {.index = i, .kind = TRACE_STEP_INSN, .pre = s[i]};
		if (i == 0 && how == SYNTH_IRETQ_NATIVE_KIND)
			st.kind = TRACE_STEP_NATIVE;
		ret = trace_append_step(t, &st);
	}
	if (!ret)
		ret = trace_finish(t, &s[SYNTH_IRETQ_STEPS], "synthetic");
	trace_close(t);
	free(ram);
	return ret;
}
