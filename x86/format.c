/* State fields as text. */
#include <inttypes.h>
#include <string.h>

#include "x86_format.h"

void x86_format_field(const struct x86_state *st, const struct x86_field *f, unsigned flags, char *buf,
                      size_t len)
{
	const uint8_t *p = (const uint8_t *)st + f->offset;

	if (!len)
		return;
	if (f->size == 16) {
		size_t used = (size_t)snprintf(buf, len, "%s", flags & X86_FORMAT_0X ? "0x" : "");
		for (int i = 15; i >= 0 && used + 3 <= len; i--)
			used += (size_t)snprintf(buf + used, len - used, "%02x", p[i]);
		return;
	}
	snprintf(buf, len, flags & X86_FORMAT_0X ? "%#" PRIx64 : "%" PRIx64, x86_field_get(st, f));
}

bool x86_field_differs(const struct x86_state *a, const struct x86_state *b, const struct x86_field *f)
{
	return memcmp((const uint8_t *)a + f->offset, (const uint8_t *)b + f->offset, f->size) != 0;
}

static bool masked(const struct x86_state *mask, const struct x86_field *f, bool any)
{
	const uint8_t *u = (const uint8_t *)mask + f->offset;
	for (unsigned i = 0; i < f->size; i++)
		if ((u[i] == 0xff) == any)
			return any;
	return !any;
}

bool x86_field_masked_all(const struct x86_state *mask, const struct x86_field *f)
{
	return masked(mask, f, false);
}

bool x86_field_masked_any(const struct x86_state *mask, const struct x86_field *f)
{
	return masked(mask, f, true);
}

/* A named bit, or a multi-bit field shown as its value. */
struct bit_name {
	uint64_t mask;
	const char *name;
};

/* clang-format off */
static const struct bit_name rflags_bits[] = {
    {X86_RFLAGS_CF, "CF"}, {X86_RFLAGS_FIXED, "bit1"}, {X86_RFLAGS_PF, "PF"}, {X86_RFLAGS_AF, "AF"},
    {X86_RFLAGS_ZF, "ZF"}, {X86_RFLAGS_SF, "SF"}, {X86_RFLAGS_TF, "TF"}, {X86_RFLAGS_IF, "IF"},
    {X86_RFLAGS_DF, "DF"}, {X86_RFLAGS_OF, "OF"}, {X86_RFLAGS_IOPL, "IOPL"}, {X86_RFLAGS_NT, "NT"},
    {X86_RFLAGS_RF, "RF"}, {X86_RFLAGS_VM, "VM"}, {X86_RFLAGS_AC, "AC"}, {X86_RFLAGS_VIF, "VIF"},
    {X86_RFLAGS_VIP, "VIP"}, {X86_RFLAGS_ID, "ID"}, {0, NULL},
};
/* The type's accessed bit on its own: it is the one emulators most often get wrong. */
static const struct bit_name attr_bits[] = {
    {1u, "A"}, {X86_SEG_TYPE_MASK, "type"}, {X86_SEG_S, "S"}, {X86_SEG_DPL_MASK, "DPL"},
    {X86_SEG_P, "P"}, {X86_SEG_AVL, "AVL"}, {X86_SEG_L, "L"}, {X86_SEG_DB, "D/B"}, {X86_SEG_G, "G"},
    {X86_SEG_UNUSABLE, "unusable"}, {0, NULL},
};
static const struct bit_name cr0_bits[] = {
    {X86_CR0_PE, "PE"}, {X86_CR0_MP, "MP"}, {X86_CR0_EM, "EM"}, {X86_CR0_TS, "TS"}, {X86_CR0_ET, "ET"},
    {X86_CR0_NE, "NE"}, {X86_CR0_WP, "WP"}, {X86_CR0_AM, "AM"}, {X86_CR0_NW, "NW"}, {X86_CR0_CD, "CD"},
    {X86_CR0_PG, "PG"}, {0, NULL},
};
static const struct bit_name cr4_bits[] = {
    {X86_CR4_VME, "VME"}, {X86_CR4_PVI, "PVI"}, {X86_CR4_TSD, "TSD"}, {X86_CR4_DE, "DE"},
    {X86_CR4_PSE, "PSE"}, {X86_CR4_PAE, "PAE"}, {1ull << 6, "MCE"}, {X86_CR4_PGE, "PGE"},
    {1ull << 8, "PCE"}, {X86_CR4_OSFXSR, "OSFXSR"}, {1ull << 10, "OSXMMEXCPT"}, {X86_CR4_UMIP, "UMIP"},
    {X86_CR4_LA57, "LA57"}, {1ull << 13, "VMXE"}, {1ull << 14, "SMXE"}, {X86_CR4_FSGSBASE, "FSGSBASE"},
    {1ull << 17, "PCIDE"}, {X86_CR4_OSXSAVE, "OSXSAVE"}, {X86_CR4_SMEP, "SMEP"}, {X86_CR4_SMAP, "SMAP"},
    {1ull << 22, "PKE"}, {1ull << 23, "CET"}, {1ull << 24, "PKS"}, {0, NULL},
};
static const struct bit_name efer_bits[] = {
    {X86_EFER_SCE, "SCE"}, {X86_EFER_LME, "LME"}, {X86_EFER_LMA, "LMA"}, {X86_EFER_NXE, "NXE"},
    {1ull << 12, "SVME"}, {1ull << 13, "LMSLE"}, {1ull << 14, "FFXSR"}, {1ull << 15, "TCE"}, {0, NULL},
};
static const struct bit_name dr6_bits[] = {
    {1ull << 0, "B0"}, {1ull << 1, "B1"}, {1ull << 2, "B2"}, {1ull << 3, "B3"}, {1ull << 13, "BD"},
    {1ull << 14, "BS"}, {1ull << 15, "BT"}, {1ull << 16, "RTM"}, {0, NULL},
};
static const struct bit_name dr7_bits[] = {
    {1ull << 0, "L0"}, {1ull << 1, "G0"}, {1ull << 2, "L1"}, {1ull << 3, "G1"}, {1ull << 4, "L2"},
    {1ull << 5, "G2"}, {1ull << 6, "L3"}, {1ull << 7, "G3"}, {1ull << 8, "LE"}, {1ull << 9, "GE"},
    {1ull << 11, "RTM"}, {1ull << 13, "GD"}, {3ull << 16, "RW0"}, {3ull << 18, "LEN0"},
    {3ull << 20, "RW1"}, {3ull << 22, "LEN1"}, {3ull << 24, "RW2"}, {3ull << 26, "LEN2"},
    {3ull << 28, "RW3"}, {3ull << 30, "LEN3"}, {0, NULL},
};
static const struct {
	const char *name; /* a field name, or ".attr" for every segment's */
	const struct bit_name *bits;
} bit_tables[] = {
    {"rflags", rflags_bits}, {".attr", attr_bits}, {"cr0", cr0_bits}, {"cr4", cr4_bits},
    {"efer", efer_bits}, {"dr6", dr6_bits}, {"dr7", dr7_bits},
};
/* clang-format on */

static const struct bit_name *bit_table(const char *field)
{
	size_t n = strlen(field);
	for (size_t i = 0; i < sizeof(bit_tables) / sizeof(bit_tables[0]); i++) {
		const char *t = bit_tables[i].name;
		size_t tn = strlen(t);
		if (t[0] == '.' ? n > tn && strcmp(field + n - tn, t) == 0 : strcmp(field, t) == 0)
			return bit_tables[i].bits;
	}
	return NULL;
}

size_t x86_format_bit_changes(const struct x86_field *f, uint64_t a, uint64_t b, char *buf, size_t len)
{
	const struct bit_name *bits = bit_table(f->name);
	uint64_t named = 0, diff = a ^ b;
	size_t used = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!bits)
		return 0;
	for (; bits->name; bits++) {
		/* A multi-bit field whose differing bits an earlier name already showed is left out. */
		bool shown = !(diff & bits->mask & ~named);
		named |= bits->mask;
		if (shown)
			continue;
		unsigned shift = (unsigned)__builtin_ctzll(bits->mask);
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
		                         "%s%s %" PRIu64 " -> %" PRIu64, used ? ", " : "", bits->name,
		                         (a & bits->mask) >> shift, (b & bits->mask) >> shift);
	}
	/* Bits without a name still show, so no change goes unreported. */
	for (unsigned i = 0; i < 64; i++)
		if (diff & ~named & (1ull << i))
			used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%sbit%u %u -> %u",
			                         used ? ", " : "", i, (unsigned)(a >> i) & 1,
			                         (unsigned)(b >> i) & 1);
	return used < len ? used : len - 1;
}

/* After a row: each differing column's bits against the recording, named by column when there are several. */
static void print_bit_changes(FILE *out, const struct x86_state *expected, const struct x86_diff_column *cols,
                              size_t n, const struct x86_field *f)
{
	char t[256];
	for (size_t c = 0; c < n; c++) {
		if (!x86_field_differs(cols[c].st, expected, f) ||
		    (cols[c].unobserved && x86_field_masked_all(cols[c].unobserved, f)) ||
		    !x86_format_bit_changes(f, x86_field_get(expected, f), x86_field_get(cols[c].st, f), t,
		                            sizeof(t)))
			continue;
		fprintf(out, " %s%s%s", n > 1 ? cols[c].name : "", n > 1 ? ": " : "", t);
	}
}

void x86_print_diff(FILE *out, const struct x86_state *pre, const struct x86_state *expected,
                    const struct x86_diff_column *cols, size_t n)
{
	fprintf(out, "%-16s %-18s %-18s", "field", "pre", "recorded");
	for (size_t c = 0; c < n; c++)
		fprintf(out, " %-19s", cols[c].name);
	fprintf(out, "\n");
	for (size_t i = 0; i < x86_field_count; i++) {
		const struct x86_field *f = &x86_fields[i];
		bool interesting = x86_field_differs(pre, expected, f) || !strcmp(f->name, "rip");
		for (size_t c = 0; c < n; c++)
			interesting |= x86_field_differs(cols[c].st, expected, f);
		if (!interesting)
			continue;
		char t[40];
		x86_format_field(pre, f, 0, t, sizeof(t));
		fprintf(out, "%-16s %-18s", f->name, t);
		x86_format_field(expected, f, 0, t, sizeof(t));
		fprintf(out, " %-18s", t);
		for (size_t c = 0; c < n; c++) {
			bool unobserved = cols[c].unobserved && x86_field_masked_all(cols[c].unobserved, f);
			bool differs = x86_field_differs(cols[c].st, expected, f);
			if (unobserved)
				snprintf(t, sizeof(t), "-");
			else
				x86_format_field(cols[c].st, f, 0, t, sizeof(t));
			fprintf(out, " %-18s%s", t, differs && !unobserved ? "*" : " ");
		}
		print_bit_changes(out, expected, cols, n, f);
		fprintf(out, "\n");
	}
}
