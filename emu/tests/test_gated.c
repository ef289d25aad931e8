/* Instructions gated by CPUID: each row runs with the features present and absent;
 * CRC32 is also checked against the host's own CRC32 instruction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define DATA 0x3000u

struct row {
	const char *file;
	int line;
	const char *code;
	unsigned len;
	bool features;
	uint64_t rax, rbx;
	uint64_t mem; /* at DATA, rbx points there when rbx == DATA */
	int vector;   /* -1: no fault */
	uint64_t out_rax;
	uint64_t zf_cf; /* expected RFLAGS & (ZF | CF) */
};

#define ZF 0x40
#define CF 0x01
#define R(c, f, a, b, m, v, o, fl)                                                                           \
	{                                                                                                    \
		__FILE__, __LINE__, c, sizeof(c) - 1, f, a, b, m, v, o, fl                                   \
	}

static const struct row rows[] = {
    R("\xf3\x48\x0f\xb8\xc3", true, 0, 0xf0f0f0f0f0f0f0f1ull, 0, -1, 33, 0), /* popcnt rax, rbx */
    R("\xf3\x48\x0f\xb8\xc3", false, 0, 0xf0f0f0f0f0f0f0f1ull, 0, 6, 0, 0),  /* #UD without POPCNT */
    R("\x0f\x38\xf0\x03", true, 0, DATA, 0x12345678, -1, 0x78563412, 0),     /* movbe eax, [rbx] */
    R("\x0f\x38\xf0\x03", false, 7, DATA, 0x12345678, 6, 7, 0),              /* #UD without MOVBE */
    R("\x0f\x38\xf1\x03", false, 7, DATA, 0, 6, 7, 0),                       /* movbe [rbx], eax */
    R("\xf3\x0f\xbc\xc3", true, 5, 0, 0, -1, 32, CF),                        /* tzcnt: zero source */
    R("\xf3\x0f\xbc\xc3", false, 5, 0, 0, -1, 5, ZF),                        /* bsf without BMI1 */
    R("\xf3\x0f\xbd\xc3", true, 5, 1, 0, -1, 31, 0),                         /* lzcnt */
    R("\xf3\x0f\xbd\xc3", false, 5, 1, 0, -1, 0, 0),                         /* bsr without ABM */
    R("\xf2\x0f\x38\xf0\xc3", true, 0, 0x61, 0, -1, 0x93ad1061, 0),          /* crc32 eax, bl */
    R("\xf2\x0f\x38\xf0\xc3", false, 0, 0x61, 0, 6, 0, 0),                   /* #UD without SSE4.2 */
    R("\xf2\x48\x0f\x38\xf1\xc3", true, ~0ull, 0, 0, -1, 0x73d74d75,
      0), /* crc32 rax, rbx: upper half ignored */
    /* mov cr4, rax: OSXSAVE and PCIDE only where CPUID has XSAVE and PCID (CR4 is PAE here). */
    R("\x0f\x22\xe0", true, 0x40020, 0, 0, -1, 0x40020, 0),
    R("\x0f\x22\xe0", false, 0x40020, 0, 0, 13, 0x40020, 0),
    R("\x0f\x22\xe0", true, 0x20020, 0, 0, -1, 0x20020, 0),
    R("\x0f\x22\xe0", false, 0x20020, 0, 0, 13, 0x20020, 0),
    /* invpcid rax, [rbx]: types 0-3, else #GP; #UD without INVPCID. */
    R("\x66\x0f\x38\x82\x03", true, 2, DATA, 0, -1, 2, 0),
    R("\x66\x0f\x38\x82\x03", true, 4, DATA, 0, 13, 4, 0),
    R("\x66\x0f\x38\x82\x03", true, 0, DATA, 5, 13, 0, 0), /* a PCID without CR4.PCIDE */
    R("\x66\x0f\x38\x82\x03", false, 2, DATA, 0, 6, 2, 0),
    /* clwb [rbx] and clflushopt [rbx] exist only where CPUID says so. */
    R("\x66\x0f\xae\x33", true, 1, DATA, 0, -1, 1, 0),
    R("\x66\x0f\xae\x33", false, 1, DATA, 0, 6, 1, 0),
    R("\x66\x0f\xae\x3b", true, 1, DATA, 0, -1, 1, 0),
    R("\x66\x0f\xae\x3b", false, 1, DATA, 0, 6, 1, 0),
    /* vmcall, vmmcall, vmfunc: no VMX or SVM operation and no hypervisor interface: #UD either way. */
    R("\x0f\x01\xc1", true, 1, 0, 0, 6, 1, 0),
    R("\x0f\x01\xd9", true, 1, 0, 0, 6, 1, 0),
    R("\x0f\x01\xd4", true, 1, 0, 0, 6, 1, 0),
};

static void test_rows(void **state)
{
	(void)state;
	unsigned failed = 0;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		const struct row *r = &rows[k];
		struct x86_state st;
		th_reset();
		th.no_cpu_features = !r->features;
		th_state(&st, X86_MODE_LONG64);
		memcpy(th.mem + TH_CODE, r->code, r->len);
		th_poke(DATA, r->mem, 8);
		st.gpr[X86_RAX] = r->rax;
		st.gpr[X86_RBX] = r->rbx;
		struct emu_ctxt c = {.st = &st, .ops = &th_ops, .opaque = &th};
		enum emu_status rc = emu_step(&c);
		bool ok = r->vector < 0 ? rc == EMU_OK && st.gpr[X86_RAX] == r->out_rax &&
		                              (st.rflags & (ZF | CF)) == r->zf_cf
		                        : rc == EMU_EXCEPTION && c.event.vector == r->vector &&
		                              st.gpr[X86_RAX] == r->out_rax && st.rip == TH_CODE;
		if (!ok) {
			fprintf(stderr, "%s:%d: status %d vector %d rax %#llx rflags %#llx\n", r->file,
			        r->line, rc, c.event.vector, (unsigned long long)st.gpr[X86_RAX],
			        (unsigned long long)st.rflags);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* CRC32 of every width against the host instruction (these hosts have SSE4.2). */
static void test_crc32_native(void **state)
{
	(void)state;
	static const char *codes[] = {"\xf2\x0f\x38\xf0\xc3", "\x66\xf2\x0f\x38\xf1\xc3",
	                              "\xf2\x0f\x38\xf1\xc3", "\xf2\x48\x0f\x38\xf1\xc3"};
	static const unsigned lens[] = {5, 6, 5, 6};
	uint64_t seed = 0x243f6a8885a308d3ull;
	unsigned mismatches = 0;
	for (unsigned n = 0; n < 4000; n++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t acc = seed >> 7, src = seed * 0x9e3779b97f4a7c15ull, want = acc & 0xffffffff;
		unsigned w = n & 3;
		switch (w) {
		case 0:
			__asm__("crc32b %b1, %k0" : "+r"(want) : "r"((uint8_t)src));
			break;
		case 1:
			__asm__("crc32w %w1, %k0" : "+r"(want) : "r"((uint16_t)src));
			break;
		case 2:
			__asm__("crc32l %k1, %k0" : "+r"(want) : "r"((uint32_t)src));
			break;
		default:
			__asm__("crc32q %1, %0" : "+r"(want) : "r"(src));
			break;
		}
		struct x86_state st;
		th_reset();
		th_state(&st, X86_MODE_LONG64);
		memcpy(th.mem + TH_CODE, codes[w], lens[w]);
		st.gpr[X86_RAX] = acc;
		st.gpr[X86_RBX] = src;
		struct emu_ctxt c = {.st = &st, .ops = &th_ops, .opaque = &th};
		if (emu_step(&c) != EMU_OK || st.gpr[X86_RAX] != want)
			mismatches++;
	}
	fprintf(stderr, "crc32: 4000 comparisons, %u mismatches\n", mismatches);
	assert_int_equal(mismatches, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_crc32_native),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
