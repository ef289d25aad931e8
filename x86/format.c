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
		fprintf(out, "\n");
	}
}
