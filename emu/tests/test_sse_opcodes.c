/* The SIMD opcode maps (0F, 66 0F, F2 0F, F3 0F, 0F 38, 0F 3A) walked byte by byte, in register and
 * memory forms and every ModRM reg field: with the default CPU model (SSE to SSE4.2, no AVX) none
 * may report EMU_UNIMPLEMENTED, and VEX-encoded (AVX) instructions raise #UD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define MEM_ADDR 0x3000u

/* 0F-map opcodes that are SIMD: 10-17, 28-2F, 50-7F but 78/79 (VMREAD/VMWRITE, AMD's SSE4a), C2-C6,
 * D0-FE. */
static bool simd_0f(unsigned b)
{
	return (b >= 0x10 && b <= 0x17) || (b >= 0x28 && b <= 0x2f) ||
	       (b >= 0x50 && b <= 0x7f && b != 0x78 && b != 0x79) || (b >= 0xc2 && b <= 0xc6) ||
	       (b >= 0xd0 && b <= 0xfe);
}

/* 0F 38: all but INVEPT/INVVPID/INVPCID (80-82) and the MOVBE/CRC32/BMI row (F0-FF). */
static bool simd_0f38(unsigned b)
{
	return !(b >= 0x80 && b <= 0x82) && b < 0xf0;
}

static enum emu_status run(const uint8_t *code, unsigned len, enum x86_mode mode, struct emu_ctxt *c,
                           struct x86_state *st)
{
	th_reset();
	th_state(st, mode);
	st->cr4 |= X86_CR4_OSFXSR | (1ull << 10);
	st->gpr[X86_RSI] = MEM_ADDR;
	st->gpr[X86_RDI] = MEM_ADDR;
	memcpy(th.mem + TH_CODE, code, len);
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->ops = &th_ops;
	c->opaque = &th;
	return emu_step(c);
}

static void test_maps(void **state)
{
	static const uint8_t prefixes[4] = {0, 0x66, 0xf2, 0xf3};
	unsigned tried = 0, bad = 0;
	(void)state;
	for (unsigned map = 1; map <= 3; map++)
		for (unsigned p = 0; p < 4; p++)
			for (unsigned b = 0; b < 256; b++) {
				if (map == 1 ? !simd_0f(b) : map == 2 ? !simd_0f38(b) : false)
					continue;
				for (unsigned form = 0; form < 16; form++) {
					/* forms 0-7: mod 3 with reg field = form; 8-15: [rsi] with reg field
					 * form - 8 */
					uint8_t code[16];
					unsigned n = 0;
					if (prefixes[p])
						code[n++] = prefixes[p];
					code[n++] = 0x0f;
					if (map > 1)
						code[n++] = map == 2 ? 0x38 : 0x3a;
					code[n++] = (uint8_t)b;
					code[n++] = (uint8_t)((form < 8 ? 0xc1 : 0x06) | (form & 7) << 3);
					code[n++] = 0x01; /* an immediate, for the opcodes that take one */
					struct emu_ctxt c;
					struct x86_state st;
					enum emu_status rc = run(code, n, X86_MODE_LONG64, &c, &st);
					tried++;
					if (rc == EMU_UNIMPLEMENTED && bad++ < 20)
						fprintf(stderr, "%02x 0f %s%02x /%u %s: unimplemented (%s)\n",
						        prefixes[p],
						        map == 2   ? "38 "
						        : map == 3 ? "3a "
						                   : "",
						        b, form & 7, form < 8 ? "reg" : "mem",
						        c.info.unimplemented);
				}
			}
	printf("test_sse_opcodes: %u encodings, %u unimplemented\n", tried, bad);
	assert_int_equal(bad, 0);
}

/* VEX (C4/C5) is #UD: in 64-bit mode always, elsewhere when it is not LES/LDS (mod 3). */
static void test_vex(void **state)
{
	static const struct {
		const char *bytes;
		unsigned len;
		enum x86_mode mode;
	} rows[] = {
	    {"\xc5\xf8\x58\xc1", 4, X86_MODE_LONG64},         /* vaddps xmm0, xmm0, xmm1 */
	    {"\xc5\xfc\x58\xc1", 4, X86_MODE_LONG64},         /* vaddps ymm0, ymm0, ymm1 */
	    {"\xc4\xe2\x79\x00\xc1", 5, X86_MODE_LONG64},     /* vpshufb xmm0, xmm0, xmm1 */
	    {"\xc4\xe3\x79\x0f\xc1\x01", 6, X86_MODE_LONG64}, /* vpalignr */
	    {"\xc5\xf9\xef\xc0", 4, X86_MODE_PROT32},         /* vpxor xmm0, xmm0, xmm0 */
	    {"\xc4\xe2\x7d\x18\xc0", 5, X86_MODE_PROT32},     /* vbroadcastss ymm0, xmm0 */
	    {"\x62\xf1\x7c\x48\x58\xc1", 6, X86_MODE_LONG64}, /* EVEX vaddps zmm0, zmm0, zmm1 */
	};
	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		struct emu_ctxt c;
		struct x86_state st;
		enum emu_status rc = run((const uint8_t *)rows[k].bytes, rows[k].len, rows[k].mode, &c, &st);
		if (rc != EMU_EXCEPTION || c.event.vector != 6)
			fail_msg("row %zu: status %d vector %u, want #UD", k, rc, c.event.vector);
	}
}

/* The #UD/#NM/#GP/#XM rules: CR0.EM, CR4.OSFXSR (not for MMX), CR0.TS, 16-byte alignment of legacy
 * SSE memory operands, unmasked exceptions (#XM with CR4.OSXMMEXCPT, else #UD). */
#define NONE 0xff
static void test_faults(void **state)
{
	static const struct {
		const char *bytes;
		unsigned len;
		uint64_t cr0_set, cr4_clear;
		uint32_t rsi, mxcsr;
		uint16_t fsw;
		unsigned vector; /* NONE: completes */
		uint32_t mxcsr_after;
	} rows[] = {
	    {"\x0f\x58\xc1", 3, 0, 0, MEM_ADDR, 0x1f80, 0, NONE, 0x1f80},               /* addps */
	    {"\x0f\x58\xc1", 3, X86_CR0_EM, 0, MEM_ADDR, 0x1f80, 0, 6, 0x1f80},         /* EM */
	    {"\x0f\x58\xc1", 3, 0, X86_CR4_OSFXSR, MEM_ADDR, 0x1f80, 0, 6, 0x1f80},     /* !OSFXSR */
	    {"\x0f\x58\xc1", 3, X86_CR0_TS, 0, MEM_ADDR, 0x1f80, 0, 7, 0x1f80},         /* TS */
	    {"\x0f\xfc\xc1", 3, 0, X86_CR4_OSFXSR, MEM_ADDR, 0x1f80, 0, NONE, 0x1f80},  /* MMX paddb */
	    {"\x0f\xfc\xc1", 3, X86_CR0_TS, 0, MEM_ADDR, 0x1f80, 0, 7, 0x1f80},         /* MMX, TS */
	    {"\x0f\xfc\xc1", 3, X86_CR0_EM, 0, MEM_ADDR, 0x1f80, 0, 6, 0x1f80},         /* MMX, EM */
	    {"\x66\x0f\xfc\xc1", 4, 0, X86_CR4_OSFXSR, MEM_ADDR, 0x1f80, 0, 6, 0x1f80}, /* SSE2 paddb */
	    {"\x0f\x58\x06", 3, 0, 0, MEM_ADDR + 4, 0x1f80, 0, 13, 0x1f80},             /* addps, unaligned */
	    {"\x66\x0f\x38\x17\x06", 5, 0, 0, MEM_ADDR + 8, 0x1f80, 0, 13, 0x1f80},     /* ptest, unaligned */
	    {"\xf3\x0f\x58\x06", 4, 0, 0, MEM_ADDR + 4, 0x1f80, 0, NONE, 0x1f80},       /* addss: scalar */
	    {"\x0f\x10\x06", 3, 0, 0, MEM_ADDR + 1, 0x1f80, 0, NONE, 0x1f80},           /* movups */
	    {"\xf2\x0f\xf0\x06", 4, 0, 0, MEM_ADDR + 3, 0x1f80, 0, NONE, 0x1f80},       /* lddqu */
	    {"\x66\x0f\x3a\x61\x06\x00", 6, 0, 0, MEM_ADDR + 5, 0x1f80, 0, NONE, 0x1f80}, /* pcmpestri */
	    {"\x66\x0f\x38\x20\x06", 5, 0, 0, MEM_ADDR + 7, 0x1f80, 0, NONE, 0x1f80},     /* pmovsxbw m64 */
	    {"\x0f\x5e\xc2", 3, 0, 0, MEM_ADDR, 0x1d80, 0, 19, 0x1d84},            /* divps by 0, ZM clear */
	    {"\x0f\x5e\xc2", 3, 0, 1ull << 10, MEM_ADDR, 0x1d80, 0, 6, 0x1d84},    /* no OSXMMEXCPT */
	    {"\x0f\x5e\xc2", 3, 0, 0, MEM_ADDR, 0x1f80, 0, NONE, 0x1f84},          /* ZM set */
	    {"\x0f\x5e\xc1", 3, 0, 0, MEM_ADDR, 0x0000, 0, 19, 0x0020},            /* 1/3: PE */
	    {"\x0f\x5e\xc1", 3, 0, 0, MEM_ADDR, 0x1f80 | 0x6000, 0, NONE, 0x7fa0}, /* 1/3 toward 0 */
	    {"\x0f\xfc\xc1", 3, X86_CR0_NE, 0, MEM_ADDR, 0x1f80, 0x8081, 16, 0x1f80}, /* MMX, x87 pending */
	    {"\x0f\xfc\xc1", 3, 0, 0, MEM_ADDR, 0x1f80, 0x8081, NONE, 0x1f80},        /* ... without CR0.NE */
	    {"\x0f\x77", 2, X86_CR0_NE, 0, MEM_ADDR, 0x1f80, 0x8081, 16, 0x1f80},     /* EMMS */
	    {"\x0f\x58\xc1", 3, X86_CR0_NE, 0, MEM_ADDR, 0x1f80, 0x8081, NONE, 0x1f80}, /* SSE: no #MF */
	};
	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		struct emu_ctxt c;
		struct x86_state st;
		th_reset();
		th_state(&st, X86_MODE_LONG64);
		st.cr0 |= rows[k].cr0_set;
		st.cr4 = (st.cr4 | X86_CR4_OSFXSR | (1ull << 10)) & ~rows[k].cr4_clear;
		st.gpr[X86_RSI] = rows[k].rsi;
		st.fpu.mxcsr = rows[k].mxcsr;
		st.fpu.fsw = rows[k].fsw;
		/* xmm0 = 1.0f, xmm1 = 3.0f, xmm2 = 0 in every lane */
		for (unsigned l = 0; l < 16; l++) {
			st.fpu.xmm[0][l] = (uint8_t)(0x3f800000u >> (8 * (l & 3)));
			st.fpu.xmm[1][l] = (uint8_t)(0x40400000u >> (8 * (l & 3)));
		}
		uint8_t xmm0[16];
		memcpy(xmm0, st.fpu.xmm[0], 16);
		memcpy(th.mem + TH_CODE, rows[k].bytes, rows[k].len);
		memset(&c, 0, sizeof(c));
		c.st = &st;
		c.ops = &th_ops;
		c.opaque = &th;
		enum emu_status rc = emu_step(&c);
		unsigned vector = rc == EMU_OK ? NONE : rc == EMU_EXCEPTION ? c.event.vector : 0xfe;
		if (vector != rows[k].vector || st.fpu.mxcsr != rows[k].mxcsr_after)
			fail_msg("row %zu: vector %#x mxcsr %#x, want %#x and %#x", k, vector, st.fpu.mxcsr,
			         rows[k].vector, rows[k].mxcsr_after);
		if (vector == 19 && memcmp(xmm0, st.fpu.xmm[0], 16))
			fail_msg("row %zu: #XM changed the destination", k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_maps),
	    cmocka_unit_test(test_vex),
	    cmocka_unit_test(test_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
