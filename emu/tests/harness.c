/* Test harness for emu: flat memory and fixed device answers. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct th th;

static enum emu_status th_read(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	(void)opaque;
	for (unsigned k = 0; k < len; k++)
		((uint8_t *)buf)[k] = gpa + k < TH_MEM_SIZE ? th.mem[gpa + k] : 0xff; /* open bus */
	return EMU_OK;
}

static enum emu_status th_write(void *opaque, uint64_t gpa, const void *buf, unsigned len)
{
	(void)opaque;
	/* Accessed/dirty bits in the page tables are not counted. */
	if (gpa < TH_PML4 || gpa >= TH_PML4 + 0x4000)
		th.n_writes++;
	if (th.journal) {
		if (th.j_writes < TH_JOURNAL_WRITES && th.j_bytes + len <= TH_JOURNAL_BYTES &&
		    gpa + len <= TH_MEM_SIZE) {
			th.j_addr[th.j_writes] = gpa;
			th.j_len[th.j_writes] = len;
			memcpy(th.j_old + th.j_bytes, th.mem + gpa, len);
			th.j_bytes += len;
			th.j_writes++;
		} else {
			th.j_writes = TH_JOURNAL_WRITES + 1; /* overflow: th_undo() reports it */
		}
	}
	for (unsigned k = 0; k < len; k++)
		if (gpa + k < TH_MEM_SIZE)
			th.mem[gpa + k] = ((const uint8_t *)buf)[k];
	return EMU_OK;
}

static enum emu_status th_in(void *opaque, uint16_t port, unsigned size, uint32_t *value)
{
	(void)opaque;
	(void)size;
	th.last_port = port;
	*value = TH_PORT_VALUE;
	return EMU_OK;
}

static enum emu_status th_out(void *opaque, uint16_t port, unsigned size, uint32_t value)
{
	(void)opaque;
	(void)size;
	th.n_out++;
	th.last_port = port;
	th.last_out = value;
	return EMU_OK;
}

static enum emu_status th_cpuid(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	(void)opaque;
	out[0] = leaf + 1;
	out[1] = 0x756e6547;
	out[2] = subleaf;
	out[3] = 0x49656e69;
	if (leaf == 7 && subleaf == 0)
		out[1] = 0; /* its EBX is feature bits only */
	/* SSE4.2, MOVBE, POPCNT, PCID, XSAVE, BMI1, INVPCID, CLFLUSHOPT, CLWB and ABM unless a test takes
	 * them away. */
	if (!th.no_cpu_features) {
		if (leaf == 1)
			out[2] |= 1u << 17 | 1u << 20 | 1u << 22 | 1u << 23 | 1u << 26;
		if (leaf == 7 && subleaf == 0)
			out[1] |= 1u << 3 | 1u << 10 | 1u << 23 | 1u << 24;
		if (leaf == 0x80000001)
			out[2] |= 1u << 5;
	}
	return EMU_OK;
}

static enum emu_status th_rdtsc(void *opaque, uint64_t *tsc)
{
	(void)opaque;
	*tsc = TH_TSC;
	return EMU_OK;
}

static enum emu_status th_rdrand(void *opaque, bool seed, unsigned size, uint64_t *value, bool *ok)
{
	(void)opaque;
	(void)seed;
	*value = TH_RAND & (size >= 8 ? ~0ull : (1ull << (size * 8)) - 1);
	*ok = true;
	return EMU_OK;
}

static enum emu_status th_rdmsr(void *opaque, uint32_t msr, uint64_t *value, bool *known)
{
	(void)opaque;
	(void)msr;
	*value = 0;
	*known = false;
	return EMU_OK;
}

static enum emu_status th_wrmsr(void *opaque, uint32_t msr, uint64_t value, bool *known)
{
	(void)opaque;
	(void)msr;
	(void)value;
	*known = false;
	return EMU_OK;
}

const struct emu_ops th_ops = {
    .read_phys = th_read,
    .write_phys = th_write,
    .port_in = th_in,
    .port_out = th_out,
    .cpuid = th_cpuid,
    .rdtsc = th_rdtsc,
    .rdrand = th_rdrand,
    .rdmsr = th_rdmsr,
    .wrmsr = th_wrmsr,
};

void th_poke(uint64_t addr, uint64_t v, unsigned size)
{
	for (unsigned k = 0; k < size; k++)
		th.mem[addr + k] = (uint8_t)(v >> (8 * k));
}

uint64_t th_peek(uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	for (unsigned k = 0; k < size; k++)
		v |= (uint64_t)th.mem[addr + k] << (8 * k);
	return v;
}

bool th_undo(void)
{
	bool ok = th.j_writes <= TH_JOURNAL_WRITES;
	unsigned n = ok ? th.j_writes : 0;
	while (n--) {
		th.j_bytes -= th.j_len[n];
		memcpy(th.mem + th.j_addr[n], th.j_old + th.j_bytes, th.j_len[n]);
	}
	th.j_writes = 0;
	th.j_bytes = 0;
	return ok;
}

void th_reset(void)
{
	if (!th.mem)
		th.mem = malloc(TH_MEM_SIZE);
	memset(th.mem, 0, TH_MEM_SIZE);
	th.n_writes = 0;
	th.journal = false;
	th.no_cpu_features = false;
	th.j_writes = 0;
	th.j_bytes = 0;
	th.n_out = 0;
	th.last_port = 0;
	th.last_out = 0;
	/* GDT: null, code32 (08), data32 (10), data32 not yet accessed (18), byte-granular data limit fff
	 * (20), code64 (28). */
	th_poke(TH_GDT + 0x08, 0x00cf9b000000ffffull, 8);
	th_poke(TH_GDT + 0x10, 0x00cf93000000ffffull, 8);
	th_poke(TH_GDT + 0x18, 0x00cf92000000ffffull, 8);
	th_poke(TH_GDT + 0x20, 0x0040930000000fffull, 8);
	th_poke(TH_GDT + 0x28, 0x00af9b000000ffffull, 8);
	/* 16-bit code (30), 16-bit data (38), a data segment not present (40). */
	th_poke(TH_GDT + 0x30, 0x00009b000000ffffull, 8);
	th_poke(TH_GDT + 0x38, 0x000093000000ffffull, 8);
	th_poke(TH_GDT + 0x40, 0x00cf13000000ffffull, 8);
	/* An available 32-bit TSS at 600 (48; 50 is its upper half in long mode) and an LDT at 700 (58). */
	th_poke(TH_GDT + 0x48, 0x0000890006000067ull, 8);
	th_poke(TH_GDT + 0x58, 0x0000820007000fffull, 8);
	/* Long mode: identity map, 2 MiB page at 0, then 4 KiB pages at 2 MiB with only the first present.
	 * Accessed and dirty bits are preset, so that a walk changes no memory the guest may read. */
	th_poke(TH_PML4, (TH_PML4 + 0x1000) | 0x23, 8);
	th_poke(TH_PML4 + 0x1000, (TH_PML4 + 0x2000) | 0x23, 8);
	th_poke(TH_PML4 + 0x2000, 0xe3, 8);
	th_poke(TH_PML4 + 0x2008, (TH_PML4 + 0x3000) | 0x23, 8);
	th_poke(TH_PML4 + 0x3000, 0x200000 | 0x63, 8);
}

static void flat(struct x86_segment *s, uint16_t sel, uint32_t attr)
{
	s->selector = sel;
	s->base = 0;
	s->limit = 0xffffffffu;
	s->attr = attr;
}

void th_state(struct x86_state *st, enum x86_mode mode)
{
	memset(st, 0, sizeof(*st));
	/* The real-mode reset values (x86_state_real), spelled out so the harness needs no other library. */
	st->rflags = X86_RFLAGS_FIXED;
	for (int i = X86_ES; i <= X86_GS; i++) {
		st->seg[i].limit = 0xffff;
		st->seg[i].attr = 0x3 | X86_SEG_S | X86_SEG_P;
	}
	st->seg[X86_CS].attr = 0xb | X86_SEG_S | X86_SEG_P;
	st->seg[X86_LDTR].limit = 0xffff;
	st->seg[X86_LDTR].attr = 0x2 | X86_SEG_P;
	st->seg[X86_TR].limit = 0xffff;
	st->seg[X86_TR].attr = 0xb | X86_SEG_P;
	st->gdtr.limit = 0xffff;
	st->idtr.limit = 0x3ff;
	st->cr0 = X86_CR0_ET;
	st->dr6 = 0xffff0ff0;
	st->dr7 = 0x400;
	st->msr[X86_MSR_PAT] = 0x0007040600070406ull;
	st->fpu.fcw = 0x37f;
	st->fpu.mxcsr = 0x1f80;
	st->rip = TH_CODE;
	st->gpr[X86_RSP] = TH_STACK;
	if (mode == X86_MODE_REAL)
		return;
	st->cr0 |= X86_CR0_PE;
	st->gdtr.base = TH_GDT;
	st->gdtr.limit = 0x5f;
	for (int i = X86_ES; i <= X86_GS; i++)
		flat(&st->seg[i], 0x10, 0xc093);
	if (mode == X86_MODE_PROT16) {
		for (int i = X86_ES; i <= X86_GS; i++) {
			st->seg[i].selector = 0x38;
			st->seg[i].limit = 0xffff;
			st->seg[i].attr = 0x0093;
		}
		st->seg[X86_CS].selector = 0x30;
		st->seg[X86_CS].attr = 0x009b;
		return;
	}
	if (mode == X86_MODE_PROT32) {
		flat(&st->seg[X86_CS], 0x08, 0xc09b);
		return;
	}
	if (mode == X86_MODE_COMPAT)
		flat(&st->seg[X86_CS], 0x08, 0xc09b);
	else
		flat(&st->seg[X86_CS], 0x28, 0xa09b);
	st->cr0 |= X86_CR0_PG;
	st->cr4 = X86_CR4_PAE;
	st->cr3 = TH_PML4;
	st->efer = X86_EFER_LME | X86_EFER_LMA;
}

int th_check_exception(const struct emu_event *ev, int vector, uint32_t error, uint64_t cr2, const char *file,
                       int line)
{
	int bad = 0;
	if (ev->vector != vector || ev->has_error != (error != TH_NOEC) ||
	    (error != TH_NOEC && ev->error_code != error) || (vector == 14 && ev->cr2 != cr2)) {
		print_message("%s:%d: vector %u error %#x cr2 %#llx, want %d %#x %#llx\n", file, line,
		              ev->vector, ev->has_error ? ev->error_code : TH_NOEC,
		              (unsigned long long)ev->cr2, vector, error, (unsigned long long)cr2);
		bad++;
	}
	if (vector != 14 && th.n_writes) {
		print_message("%s:%d: a faulting instruction wrote memory\n", file, line);
		bad++;
	}
	return bad;
}
