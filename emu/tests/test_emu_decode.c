/* The decoder's instruction lengths against Capstone's, for every one-byte
 * and 0F xx opcode with varied prefixes and ModRM bytes in 16, 32 and 64-bit
 * code. Where they disagree the reason is a row of known[] below; any other
 * disagreement fails the test. EMU_DECODE_DUMP=1 prints every disagreement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <capstone/capstone.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

enum { M16 = 1, M32 = 2, M64 = 4, MALL = 7 };

/* What disagrees: emu says invalid (#UD), Capstone says invalid, or both decode with different lengths. */
enum { EMU_INVALID = 1, CS_INVALID = 2, LEN_DIFF = 4, ANY = 7 };

struct known {
	unsigned modes;
	unsigned map;    /* 0: one byte, 1: 0F, 2: 0F 38, 3: 0F 3A */
	unsigned lo, hi; /* opcode range */
	int pfx;         /* the varied prefix, -1 any */
	unsigned kinds;
	const char *reason;
};

static const struct known known[] = {
    /* Capstone 4 decodes encodings emu treats as #UD, or the other way round. */
    {M64, 0, 0xc4, 0xc5, -1, ANY, "les/lds: VEX prefixes in 64-bit mode (no VEX decoding here)"},
    {MALL, 0, 0x8e, 0x8e, -1, EMU_INVALID, "mov cs, r/m (8e /1): #UD since the 286; Capstone 4 decodes it"},
    {M16 | M32, 0, 0xc4, 0xc5, -1, EMU_INVALID | LEN_DIFF,
     "c4/c5 with mod=3 are VEX prefixes: no VEX decoding here"},
    {MALL, 0, 0xc6, 0xc7, -1, EMU_INVALID, "RTM xabort/xbegin (c6 f8 / c7 f8): RTM not modeled, #UD"},
    {MALL, 0, 0xd8, 0xdf, -1, CS_INVALID,
     "x87 reserved/alias encodings: decoded by ModRM, unimplemented at execution"},
    {MALL, 1, 0x01, 0x01, -1, CS_INVALID, "0f 01 register forms Capstone 4 does not know (VMX/SVM/ENCLS...)"},
    {MALL, 1, 0x0d, 0x0d, -1, CS_INVALID, "0f 0d /2-/7 and register forms: reserved prefetch NOPs"},
    {MALL, 1, 0x18, 0x1f, -1, CS_INVALID, "0f 18-1f: reserved hint NOPs (and MPX/CET), NOP on Intel"},
    {MALL, 1, 0x0e, 0x0e, -1, EMU_INVALID, "femms: AMD 3DNow!, #UD on Intel"},
    {MALL, 1, 0xa6, 0xa7, -1, EMU_INVALID, "VIA PadLock (0f a6/a7): not modeled, #UD"},
    {MALL, 1, 0x78, 0x78, -1, LEN_DIFF, "SSE4a extrq/insertq (66/f2 0f 78 ib ib, AMD) vs vmread"},
    {MALL, 1, 0xb9, 0xb9, -1, LEN_DIFF, "ud1 takes a ModRM byte (SDM); Capstone 4 decodes it without"},
    {MALL, 1, 0xff, 0xff, -1, CS_INVALID | LEN_DIFF, "ud0 takes a ModRM byte (SDM); Capstone 4 differs"},
    {MALL, 1, 0xb8, 0xb8, -1, CS_INVALID, "0f b8 without f3 is JMPE (IA-64): #UD raised at execution"},
    /* SSE operand-form and mandatory-prefix validity is checked at execution, not by the length decoder. */
    {MALL, 1, 0x13, 0x13, -1, CS_INVALID, "movlps store: register form #UD at execution"},
    {MALL, 1, 0x17, 0x17, -1, CS_INVALID, "movhps store: register form #UD at execution"},
    {MALL, 1, 0x2b, 0x2b, -1, CS_INVALID, "movntps: register form #UD at execution"},
    {MALL, 1, 0x50, 0x50, -1, CS_INVALID, "movmskps: memory form #UD at execution"},
    {MALL, 1, 0x6c, 0x6d, -1, CS_INVALID, "punpck[lh]qdq: needs 66, #UD at execution"},
    {MALL, 1, 0x71, 0x73, -1, CS_INVALID, "SSE shift groups 12-14: memory forms and reserved /r"},
    {MALL, 1, 0x7c, 0x7d, -1, CS_INVALID, "hadd/hsub: need 66/f2"},
    {MALL, 1, 0xae, 0xae, -1, CS_INVALID, "group 15 forms by prefix (fsgsbase, ptwrite, umonitor...)"},
    {MALL, 1, 0xc5, 0xc5, -1, CS_INVALID, "pextrw: memory form #UD at execution"},
    {MALL, 1, 0xd0, 0xd0, -1, CS_INVALID, "addsubps: needs 66/f2"},
    {MALL, 1, 0xd6, 0xd6, -1, CS_INVALID, "movq/movq2dq/movdq2q by prefix and operand form"},
    {MALL, 1, 0xd7, 0xd7, -1, CS_INVALID, "pmovmskb: memory form #UD at execution"},
    {MALL, 1, 0xe6, 0xe6, -1, CS_INVALID, "cvt*dq: need 66/f2/f3"},
    {MALL, 1, 0xe7, 0xe7, -1, CS_INVALID, "movntq: register form #UD at execution"},
    {MALL, 1, 0xf0, 0xf0, -1, CS_INVALID, "lddqu: needs f2 and memory"},
    {MALL, 1, 0xf7, 0xf7, -1, CS_INVALID, "maskmovq: memory form #UD at execution"},
    /* Intel ignores 66 on near branches in 64-bit mode (rel32); Capstone 4 follows AMD (rel16). */
    {M64, 0, 0xe8, 0xe9, 0x66, LEN_DIFF, "66 call/jmp rel in 64-bit mode: Intel rel32, Capstone rel16"},
    {M64, 1, 0x80, 0x8f, 0x66, LEN_DIFF, "66 jcc rel in 64-bit mode: Intel rel32, Capstone rel16"},
    /* The three-byte maps: lengths for every opcode (ModRM, plus ib in 0f 3a); validity is per CPUID feature.
     */
    {MALL, 2, 0x00, 0xff, -1, CS_INVALID, "0f 38 xx: undefined opcodes decode by the map's length rule"},
    {MALL, 3, 0x00, 0xff, -1, CS_INVALID, "0f 3a xx: undefined opcodes decode by the map's length rule"},
};

struct mode_desc {
	unsigned bit;
	enum x86_mode emu;
	cs_mode cs;
	const char *name;
};

static const struct mode_desc modes[] = {
    {M16, X86_MODE_REAL, CS_MODE_16, "16"},
    {M32, X86_MODE_PROT32, CS_MODE_32, "32"},
    {M64, X86_MODE_LONG64, CS_MODE_64, "64"},
};

/* The varied prefix byte (0: none); 0x48 only in 64-bit mode. */
static const uint8_t prefixes[] = {0, 0x66, 0x67, 0xf2, 0xf3, 0x48, 0x2e, 0x64};
static const uint8_t modrms[] = {0x00, 0x04, 0x05, 0x06, 0x0c, 0x44, 0x45, 0x84, 0x85,
                                 0xc0, 0xc8, 0xd1, 0xe0, 0xe8, 0xf0, 0xf8, 0x3c, 0x7c};
static const uint8_t tails[][2] = {{0x11, 0x22}, {0x25, 0x33}, {0x05, 0x44}};

static const struct known *find_known(unsigned mode, unsigned map, unsigned op, int pfx, unsigned kind)
{
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		const struct known *r = &known[k];
		if ((r->modes & mode) && r->map == map && op >= r->lo && op <= r->hi &&
		    (r->pfx < 0 || r->pfx == pfx) && (r->kinds & kind))
			return r;
	}
	return NULL;
}

static void test_capstone(void **state)
{
	bool dump = getenv("EMU_DECODE_DUMP") != NULL;
	unsigned total = 0, agree = 0, listed = 0, unlisted = 0;
	unsigned used[sizeof(known) / sizeof(known[0])] = {0};
	(void)state;

	for (size_t mi = 0; mi < sizeof(modes) / sizeof(modes[0]); mi++) {
		const struct mode_desc *m = &modes[mi];
		csh cs;
		cs_insn *insn = NULL;
		assert_int_equal(cs_open(CS_ARCH_X86, m->cs, &cs), CS_ERR_OK);
		for (unsigned map = 0; map < 4; map++) {
			for (unsigned op = 0; op < 256; op++) {
				unsigned last_kind = 0;
				for (size_t pi = 0; pi < sizeof(prefixes); pi++) {
					int pfx = prefixes[pi];
					if (pfx == 0x48 && m->bit != M64)
						continue;
					for (size_t ri = 0; ri < sizeof(modrms); ri++) {
						for (size_t ti = 0; ti < sizeof(tails) / sizeof(tails[0]);
						     ti++) {
							uint8_t buf[32];
							unsigned n = 0, elen, clen = 0, kind = 0;
							size_t cnt;
							memset(buf, 0x90, sizeof(buf));
							if (pfx)
								buf[n++] = (uint8_t)pfx;
							if (map)
								buf[n++] = 0x0f;
							if (map == 2)
								buf[n++] = 0x38;
							if (map == 3)
								buf[n++] = 0x3a;
							buf[n++] = (uint8_t)op;
							buf[n++] = modrms[ri];
							buf[n++] = tails[ti][0];
							buf[n++] = tails[ti][1];
							for (unsigned k = n; k < sizeof(buf); k++)
								buf[k] = (uint8_t)(0x10 + k);
							/* Opcodes that are prefixes or escapes are covered by
							 * their own rows. */
							if (map == 0 &&
							    (op == 0x0f || op == 0x26 || op == 0x2e ||
							     op == 0x36 || op == 0x3e || op == 0x64 ||
							     op == 0x65 || op == 0x66 || op == 0x67 ||
							     op == 0xf0 || op == 0xf2 || op == 0xf3 ||
							     (m->bit == M64 && (op & 0xf0) == 0x40)))
								continue;
							if (map == 1 && (op == 0x38 || op == 0x3a))
								continue;
							total++;
							elen = emu_insn_length(buf, 15, m->emu);
							cnt = cs_disasm(cs, buf, 15, 0x1000, 1, &insn);
							if (cnt) {
								clen = insn->size;
								cs_free(insn, cnt);
							}
							if (elen == clen) {
								agree++;
								continue;
							}
							kind = !elen   ? EMU_INVALID
							       : !clen ? CS_INVALID
							               : LEN_DIFF;
							const struct known *r =
							    find_known(m->bit, map, op, pfx, kind);
							if (r) {
								listed++;
								used[r - known]++;
								continue;
							}
							unlisted++;
							if (dump || unlisted <= 40) {
								if (kind != last_kind || dump) {
									print_message("mode %s map %u op "
									              "%02x pfx %02x: "
									              "emu %u capstone %u:",
									              m->name, map, op, pfx,
									              elen, clen);
									for (unsigned k = 0; k < 8; k++)
										print_message(" %02x",
										              buf[k]);
									print_message("\n");
								}
								last_kind = kind;
							}
						}
					}
				}
			}
		}
		cs_close(&cs);
	}
	print_message("%u encodings: %u agree, %u disagree as listed, %u unlisted\n", total, agree, listed,
	              unlisted);
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		print_message("  %7u  %s\n", used[k], known[k].reason);
	assert_int_equal(unlisted, 0);
}

/* Lengths that Capstone does not check but the decoder must get right. */
static void test_lengths(void **state)
{
	static const struct {
		const char *b;
		unsigned avail;
		enum x86_mode mode;
		unsigned len;
	} rows[] = {
	    {"\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90", 15, X86_MODE_PROT32, 15},
	    {"\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90", 16, X86_MODE_PROT32, 0},
	    {"\x48\xb8\x01\x02\x03\x04\x05\x06\x07\x08", 15, X86_MODE_LONG64, 10},
	    {"\x48\x66\xb8\x01\x02", 15, X86_MODE_LONG64, 5}, /* REX before a legacy prefix is ignored */
	    {"\x66\x48\xb8\x01\x02\x03\x04\x05\x06\x07\x08", 15, X86_MODE_LONG64, 11},
	    {"\xa1\x01\x02\x03\x04\x05\x06\x07\x08", 15, X86_MODE_LONG64, 9},
	    {"\x67\xa1\x01\x02\x03\x04", 15, X86_MODE_LONG64, 6},
	    {"\xa1\x01\x02", 15, X86_MODE_REAL, 3},
	    {"\x67\xa1\x01\x02\x03\x04", 15, X86_MODE_REAL, 6},
	    {"\xc8\x01\x02\x03", 15, X86_MODE_REAL, 4},
	    {"\xea\x01\x02\x03\x04", 15, X86_MODE_REAL, 5},
	    {"\xea\x01\x02\x03\x04\x05\x06", 15, X86_MODE_PROT32, 7},
	    {"\xe8\x01\x02\x03\x04", 15, X86_MODE_LONG64, 5},
	    {"\x66\xe8\x01\x02\x03\x04", 15, X86_MODE_LONG64, 6}, /* Intel: 66 ignored on near branches */
	    {"\x8b\x05\x01\x02\x03\x04", 15, X86_MODE_LONG64, 6},
	    {"\x8b\x04\x25\x01\x02\x03\x04", 15, X86_MODE_LONG64, 7},
	    {"\x8b\x46\x01", 15, X86_MODE_REAL, 3},
	    {"\x8b\x06\x01\x02", 15, X86_MODE_REAL, 4},
	    {"\x67\x8b\x06\x01\x02", 15, X86_MODE_PROT32, 5},
	    {"\xf7\x00\x01\x02\x03\x04", 15, X86_MODE_PROT32, 6},
	    {"\xf7\x10", 15, X86_MODE_PROT32, 2},
	    {"\x0f\x20\x00", 15, X86_MODE_PROT32, 3},     /* mov from cr: mod ignored, no displacement */
	    {"\x8b", 1, X86_MODE_PROT32, 0},              /* truncated */
	    {"\xf0\x01\xd8", 15, X86_MODE_PROT32, 0},     /* LOCK with a register destination */
	    {"\xf0\x01\x18", 15, X86_MODE_PROT32, 3},     /* LOCK add [eax], ebx */
	    {"\xf0\x0f\xa3\x18", 15, X86_MODE_PROT32, 0}, /* LOCK BT: BT never writes */
	    {"\xf0\x0f\xab\x18", 15, X86_MODE_PROT32, 4}, /* LOCK BTS */
	    {"\xf0\x8b\x00", 15, X86_MODE_PROT32, 0},     /* LOCK MOV */
	    {"\xf0\x87\x00", 15, X86_MODE_LONG64, 3},     /* LOCK XCHG */
	    {"\xc5\xf8\x77", 15, X86_MODE_LONG64, 0},     /* VEX (vzeroupper): not decoded */
	    {"\x06", 15, X86_MODE_LONG64, 0},             /* push es: #UD in 64-bit mode */
	    {"\x06", 15, X86_MODE_PROT32, 1},
	    {"\x40\x90", 15, X86_MODE_PROT32, 1}, /* inc eax outside 64-bit mode */
	    {"\x40\x90", 15, X86_MODE_LONG64, 2}, /* REX then nop */
	    {"\x8d\xc0", 15, X86_MODE_PROT32, 0}, /* LEA with a register operand */
	    {"\x8e\xc8", 15, X86_MODE_PROT32, 0}, /* MOV CS */
	    {"\x0f\x0b", 15, X86_MODE_PROT32, 2}, /* ud2 is defined: it decodes, then raises #UD */
	};
	(void)state;
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		unsigned got = emu_insn_length((const uint8_t *)rows[k].b, rows[k].avail, rows[k].mode);
		if (got != rows[k].len)
			print_message("row %zu: length %u, want %u\n", k, got, rows[k].len);
		assert_int_equal(got, rows[k].len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_capstone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
