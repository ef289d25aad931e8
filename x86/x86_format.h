/* State fields as text, one formatter for every report and the diff table. */
#ifndef EMUDIFF_X86_FORMAT_H
#define EMUDIFF_X86_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "x86_state.h"

/* X86_FORMAT_0X: "0x" before the digits, except that zero stays "0" in fields of up to 8 bytes ("%#x"). */
#define X86_FORMAT_0X 1u

/* A field in hex without leading zeros; a 16-byte field in full, all 32 digits, high byte first. */
void x86_format_field(const struct x86_state *st, const struct x86_field *f, unsigned flags, char *buf,
                      size_t len);

/* Whether the field differs between two states, byte for byte. */
bool x86_field_differs(const struct x86_state *a, const struct x86_state *b, const struct x86_field *f);

/* In a mask of unobserved bytes (0xff): whether every byte of the field is set, or any is. */
bool x86_field_masked_all(const struct x86_state *mask, const struct x86_field *f);
bool x86_field_masked_any(const struct x86_state *mask, const struct x86_field *f);

/* The bits of rflags, cr0, cr4, efer, dr6, dr7 or a segment's attr that differ between a and b, by name
 * ("AF 0 -> 1, ZF 1 -> 0"; multi-bit fields as values: "IOPL 0 -> 3"); "" for other fields. Returns the
 * length of the text. */
size_t x86_format_bit_changes(const struct x86_field *f, uint64_t a, uint64_t b, char *buf, size_t len);

/* A state as one column of a side-by-side table: its name, its fields and which it cannot observe. */
struct x86_diff_column {
	const char *name;
	const struct x86_state *st;
	const struct x86_state *unobserved; /* bytes 0xff: shown as "-"; NULL: all observed */
};

/* A table of the fields where pre, expected or any column differ (and rip): field, pre, expected, then
 * each column with "*" where it differs from expected, then the named bits that differ from expected. */
void x86_print_diff(FILE *out, const struct x86_state *pre, const struct x86_state *expected,
                    const struct x86_diff_column *cols, size_t n);

#endif
