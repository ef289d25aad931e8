/* emu_bench: instructions per second of emu on three counted loops in 64-bit mode
 * (identity-paged): integer, SSE and x87 arithmetic, each beside Unicorn free-running the same
 * code in the same process (stopped by the address after the loop, not an instruction count,
 * which would add a hook on every instruction). Prints `name value` lines. Time is the thread's
 * CPU time, so other load on the machine does not count. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#include "emu.h"

#define MEM_SIZE (2u << 20)
#define CODE     0x1000u
#define PML4     0x10000u

static uint8_t *mem;

/* Each loop: a short set-up, then a body run r10 times; the run ends at the loop's end label. */
__asm__(".pushsection .rodata\n"
        ".intel_syntax noprefix\n"
        ".balign 16\n"
        "hot_loop:\n"
        "1: add eax, ebx\n"
        "sub ecx, edx\n"
        "xor esi, edi\n"
        "inc eax\n"
        "dec ecx\n"
        "shl edx, 1\n"
        "mov ebx, eax\n"
        "add r8, r9\n"
        "mov rdi, rsi\n"
        "dec r10\n"
        "jnz 1b\n"
        "hot_loop_end:\n"
        ".balign 16\n"
        "sse_loop:\n"
        "movaps xmm0, [rip + sse_one_ps]\n"
        "movaps xmm1, xmm0\n"
        "movaps xmm2, xmm0\n"
        "movaps xmm3, xmm0\n"
        "movaps xmm6, xmm0\n"
        "movapd xmm4, [rip + sse_one_pd]\n"
        "movapd xmm5, [rip + sse_milli_pd]\n"
        "movdqa xmm7, [rip + sse_ints]\n"
        "1: addps xmm0, xmm1\n"
        "mulps xmm2, xmm3\n"
        "subpd xmm4, xmm5\n"
        "divss xmm6, xmm3\n"
        "paddd xmm7, xmm1\n"
        "pshufd xmm8, xmm0, 0x1b\n"
        "pxor xmm9, xmm8\n"
        "pcmpeqb xmm10, xmm9\n"
        "pmovmskb eax, xmm10\n"
        "maxps xmm11, xmm0\n"
        "cvtdq2ps xmm12, xmm7\n"
        "addsd xmm13, xmm5\n"
        "sqrtps xmm14, xmm1\n"
        "dec r10\n"
        "jnz 1b\n"
        "sse_loop_end:\n"
        ".balign 16\n"
        "sse_one_ps: .float 1.0, 1.0, 1.0, 1.0\n"
        "sse_one_pd: .double 1.0, 1.0\n"
        "sse_milli_pd: .double 0.001, 0.001\n"
        "sse_ints: .long 1, 2, 3, 4\n"
        ".balign 16\n"
        "x87_loop:\n"
        "fninit\n"
        "fld1\n"
        "fld1\n"
        "fldz\n"
        "1: fadd st, st(1)\n"
        "fmul st, st(2)\n"
        "fld st(0)\n"
        "fsqrt\n"
        "faddp st(1), st\n"
        "fxch st(1)\n"
        "fxch st(1)\n"
        "fcom st(1)\n"
        "fnstsw ax\n"
        "dec r10\n"
        "jnz 1b\n"
        "x87_loop_end:\n"
        ".att_syntax prefix\n"
        ".popsection");
extern const uint8_t hot_loop[], hot_loop_end[], sse_loop[], sse_loop_end[], x87_loop[], x87_loop_end[];

struct loop {
	const char *name;
	const uint8_t *code, *end;
	unsigned body;        /* instructions an iteration */
	uint64_t rax_checked; /* rax bits both engines must agree on at the end */
};

static const struct loop loops[] = {
    {"hot_loop", hot_loop, hot_loop_end, 11, ~0ull},
    {"sse_loop", sse_loop, sse_loop_end, 15, ~0ull},
    /* Unicorn 2.0.1 leaves the x87 exception flags (FSW bits 0-5) clear */
    {"x87_loop", x87_loop, x87_loop_end, 11, ~0x3full},
};

static enum emu_status b_read(void *o, uint64_t gpa, void *buf, unsigned len)
{
	(void)o;
	if (gpa + len > MEM_SIZE)
		return EMU_IO_ERROR;
	memcpy(buf, mem + gpa, len);
	return EMU_OK;
}

static enum emu_status b_write(void *o, uint64_t gpa, const void *buf, unsigned len)
{
	(void)o;
	if (gpa + len > MEM_SIZE)
		return EMU_IO_ERROR;
	memcpy(mem + gpa, buf, len);
	return EMU_OK;
}

static enum emu_status b_in(void *o, uint16_t port, unsigned size, uint32_t *v)
{
	(void)o;
	(void)port;
	(void)size;
	*v = 0;
	return EMU_OK;
}

static enum emu_status b_out(void *o, uint16_t port, unsigned size, uint32_t v)
{
	(void)o;
	(void)port;
	(void)size;
	(void)v;
	return EMU_OK;
}

static enum emu_status b_cpuid(void *o, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	(void)o;
	(void)leaf;
	(void)sub;
	memset(out, 0, 16);
	return EMU_OK;
}

static enum emu_status b_rdtsc(void *o, uint64_t *tsc)
{
	(void)o;
	*tsc = 0;
	return EMU_OK;
}

static const struct emu_ops ops = {
    .read_phys = b_read,
    .write_phys = b_write,
    .port_in = b_in,
    .port_out = b_out,
    .cpuid = b_cpuid,
    .rdtsc = b_rdtsc,
};

/* Thread CPU time: the machines are shared, and the figure is per core. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(mem + addr, &v, 8);
}

static void long_mode_state(struct x86_state *st)
{
	memset(st, 0, sizeof(*st));
	st->rip = CODE;
	st->rflags = X86_RFLAGS_FIXED;
	st->gpr[X86_RSP] = 0x8000;
	for (int i = X86_ES; i <= X86_GS; i++) {
		st->seg[i].selector = 0x10;
		st->seg[i].limit = 0xffffffffu;
		st->seg[i].attr = 0xc093;
	}
	st->seg[X86_CS].selector = 0x08;
	st->seg[X86_CS].attr = 0xa09b;
	st->seg[X86_TR].attr = 0x8b;
	st->seg[X86_TR].limit = 0x67;
	st->seg[X86_LDTR].attr = X86_SEG_UNUSABLE;
	st->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	st->cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | (1ull << 10);
	st->fpu.fcw = 0x37f;
	st->fpu.mxcsr = 0x1f80;
	st->cr3 = PML4;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
	put64(PML4, (PML4 + 0x1000) | 3);
	put64(PML4 + 0x1000, (PML4 + 0x2000) | 3);
	put64(PML4 + 0x2000, 0x83);
}

static unsigned blob_len(const struct loop *l)
{
	return (unsigned)(l->end - l->code) + 64; /* the constants follow the end label */
}

/* Runs a loop of iters iterations in emu; *steps gets the instructions executed.
 * @cached: with the TLB and decode cache (a free run); without, as a replay that loads a new state each step.
 */
static double bench_emu(const struct loop *l, uint64_t iters, bool cached, uint64_t *steps, uint64_t *rax)
{
	struct x86_state st;
	struct emu_ctxt c;
	enum emu_status rc;
	uint64_t end = CODE + (uint64_t)(l->end - l->code), n = 0;
	double t0, t1;
	memcpy(mem + CODE, l->code, blob_len(l));
	long_mode_state(&st);
	st.gpr[X86_R10] = iters;
	memset(&c, 0, sizeof(c));
	c.st = &st;
	c.ops = &ops;
	if (cached) {
		c.cache = emu_cache_new();
		if (!c.cache)
			exit(3);
	}
	t0 = now();
	while (st.rip != end) {
		rc = emu_step(&c);
		n++;
		if (rc != EMU_OK) {
			fprintf(stderr, "emu_bench: emu stopped in %s at rip %#llx: %s %s\n", l->name,
			        (unsigned long long)st.rip, emu_status_name(rc), c.info.unimplemented);
			exit(3);
		}
	}
	t1 = now();
	emu_cache_free(c.cache);
	if (steps)
		*steps = n;
	if (rax)
		*rax = st.gpr[X86_RAX];
	return (double)n / (t1 - t0);
}

/* The same loop in Unicorn, free-running to the end address; steps: emu's count of its instructions. */
static double bench_unicorn(const struct loop *l, uint64_t iters, uint64_t steps, uint64_t emu_rax)
{
	uc_engine *uc;
	uc_err err;
	double t0, t1;
	uint64_t rip = CODE, cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | (1ull << 10),
	         end = CODE + (uint64_t)(l->end - l->code);
	err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	if (err) {
		fprintf(stderr, "emu_bench: uc_open: %s\n", uc_strerror(err));
		exit(3);
	}
	uc_mem_map(uc, 0, MEM_SIZE, UC_PROT_ALL);
	uc_mem_write(uc, CODE, l->code, blob_len(l));
	uc_reg_write(uc, UC_X86_REG_RIP, &rip);
	uc_reg_write(uc, UC_X86_REG_R10, &iters);
	uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
	t0 = now();
	err = uc_emu_start(uc, CODE, end, 0, 0);
	t1 = now();
	uc_reg_read(uc, UC_X86_REG_RIP, &rip);
	uint64_t rax;
	uc_reg_read(uc, UC_X86_REG_RAX, &rax);
	if (!err && rip == end && ((rax ^ emu_rax) & l->rax_checked)) {
		fprintf(stderr, "emu_bench: %s ends with rax %#llx in Unicorn, %#llx in emu\n", l->name,
		        (unsigned long long)rax, (unsigned long long)emu_rax);
		exit(1);
	}
	if (err || rip != end) {
		fprintf(stderr, "emu_bench: uc_emu_start in %s: %s at %#llx\n", l->name, uc_strerror(err),
		        (unsigned long long)rip);
		exit(3);
	}
	uc_close(uc);
	return (double)steps / (t1 - t0);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 30000000ull, steps;
	mem = calloc(1, MEM_SIZE);
	if (!mem)
		return 3;
	/* `emu_bench N emu`: emu alone on the integer loop, for perf stat. */
	if (argc > 2 && !strcmp(argv[2], "emu")) {
		printf("emu.hot_loop.insn_per_s %.0f\n",
		       bench_emu(&loops[0], n / loops[0].body, true, NULL, NULL));
		free(mem);
		return 0;
	}
	for (size_t k = 0; k < sizeof(loops) / sizeof(loops[0]); k++) {
		const struct loop *l = &loops[k];
		/* x87 and SSE arithmetic is slower: a third of the instructions */
		uint64_t iters = n / l->body / (k ? 3 : 1);
		double e, u;
		/* A short warm-up of each engine, then the measured runs, interleaved. */
		uint64_t rax;
		bench_emu(l, iters / 10, true, &steps, &rax);
		bench_unicorn(l, iters / 10, steps, rax);
		e = bench_emu(l, iters, true, &steps, &rax);
		u = bench_unicorn(l, iters, steps, rax);
		printf("emu.%s.insn_per_s %.0f\n", l->name, e);
		printf("unicorn.%s.insn_per_s %.0f\n", l->name, u);
		if (k == 0) {
			printf("emu.vs_unicorn.ratio %.3f\n", e / u);
			printf("emu.hot_loop_uncached.insn_per_s %.0f\n",
			       bench_emu(l, iters / 3, false, NULL, NULL));
		}
	}
	free(mem);
	return 0;
}
