/* emu_bench: instructions per second of emu on a straight-line integer loop
 * in 64-bit mode (identity-paged), and the ratio to Unicorn free-running the
 * same code in the same process. Prints `name value` lines. Time is the
 * thread's CPU time, so other load on the machine does not count. */
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

/* add eax,ebx; sub ecx,edx; xor esi,edi; inc eax; dec ecx; shl edx,1; mov ebx,eax; add r8,r9; mov rdi,rsi;
 * jmp */
static const uint8_t loop_code[] = {
    0x01, 0xd8, 0x29, 0xd1, 0x31, 0xfe, 0xff, 0xc0, 0xff, 0xc9, 0xd1,
    0xe2, 0x89, 0xc3, 0x4d, 0x01, 0xc8, 0x48, 0x89, 0xf7, 0xeb, 0xea,
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
	st->cr4 = X86_CR4_PAE;
	st->cr3 = PML4;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
	put64(PML4, (PML4 + 0x1000) | 3);
	put64(PML4 + 0x1000, (PML4 + 0x2000) | 3);
	put64(PML4 + 0x2000, 0x83);
}

/* @cached: with the TLB and decode cache (a free run); without, as a replay that loads a new state each step.
 */
static double bench_emu(uint64_t n, bool cached)
{
	struct x86_state st;
	struct emu_ctxt c;
	enum emu_status rc;
	double t0, t1;
	long_mode_state(&st);
	memset(&c, 0, sizeof(c));
	c.st = &st;
	c.ops = &ops;
	if (cached) {
		c.cache = emu_cache_new();
		if (!c.cache)
			exit(3);
	}
	t0 = now();
	for (uint64_t k = 0; k < n; k++) {
		rc = emu_step(&c);
		if (rc != EMU_OK) {
			fprintf(stderr, "emu_bench: emu stopped at rip %#llx: %s %s\n",
			        (unsigned long long)st.rip, emu_status_name(rc), c.info.unimplemented);
			exit(3);
		}
	}
	t1 = now();
	emu_cache_free(c.cache);
	return (double)n / (t1 - t0);
}

static double bench_unicorn(uint64_t n)
{
	uc_engine *uc;
	uc_err err;
	double t0, t1;
	uint64_t rip = CODE;
	err = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	if (err) {
		fprintf(stderr, "emu_bench: uc_open: %s\n", uc_strerror(err));
		exit(3);
	}
	uc_mem_map(uc, 0, MEM_SIZE, UC_PROT_ALL);
	uc_mem_write(uc, CODE, loop_code, sizeof(loop_code));
	uc_reg_write(uc, UC_X86_REG_RIP, &rip);
	t0 = now();
	err = uc_emu_start(uc, CODE, 0xffffffffull, 0, n);
	t1 = now();
	if (err) {
		fprintf(stderr, "emu_bench: uc_emu_start: %s\n", uc_strerror(err));
		exit(3);
	}
	uc_close(uc);
	return (double)n / (t1 - t0);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 30000000ull;
	double e, u;
	mem = calloc(1, MEM_SIZE);
	if (!mem)
		return 3;
	memcpy(mem + CODE, loop_code, sizeof(loop_code));
	/* `emu_bench N emu`: emu alone, for perf stat. */
	if (argc > 2 && !strcmp(argv[2], "emu")) {
		printf("emu.hot_loop.insn_per_s %.0f\n", bench_emu(n, true));
		free(mem);
		return 0;
	}
	/* A short warm-up of each engine, then the measured runs, interleaved. */
	bench_emu(n / 10, true);
	bench_unicorn(n / 10);
	e = bench_emu(n, true);
	u = bench_unicorn(n);
	printf("emu.hot_loop.insn_per_s %.0f\n", e);
	printf("emu.vs_unicorn.ratio %.3f\n", e / u);
	printf("emu.hot_loop_uncached.insn_per_s %.0f\n", bench_emu(n / 3, false));
	free(mem);
	return 0;
}
