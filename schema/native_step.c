/* Which recorded steps contain native execution the reference did not step: the rule behind
 * TRACE_STEP_NATIVE, shared by the recorder (which writes the kind) and every reader of older traces (which
 * recognise such steps by it). */
#include <string.h>

#include "../x86/x86_paging.h"
#include "trace.h"

struct phys {
	trace_read_phys_fn read;
	void *arg;
};

static bool read_entry(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry)
{
	const struct phys *p = ctx;
	uint8_t b[8] = {0};

	if (p->read(p->arg, gpa, b, width) < 0)
		return false;
	*entry = 0;
	for (unsigned i = width; i-- > 0;)
		*entry = *entry << 8 | b[i];
	return true;
}

/* Reads len bytes at a linear address, page by page through the state's paging; false when unmapped. */
static bool read_linear(const struct x86_state *st, const struct phys *p, uint64_t lin, uint8_t *buf,
                        size_t len)
{
	while (len) {
		uint64_t gpa;
		size_t chunk = TRACE_PAGE_SIZE - (size_t)(lin & (TRACE_PAGE_SIZE - 1));
		if (chunk > len)
			chunk = len;
		if (!x86_page_walk(st, lin, read_entry, (void *)p, &gpa) ||
		    p->read(p->arg, gpa, buf, chunk) < 0)
			return false;
		lin += chunk, buf += chunk, len -= chunk;
	}
	return true;
}

static uint64_t le(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = n; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

/* Where a 64-bit-mode IRET, far RET, SYSRET or SYSEXIT at pre's RIP goes: its CS:RIP. False for any other
 * instruction or when its bytes or its stack frame cannot be read. */
static bool return_target(const struct x86_state *pre, const struct phys *p, uint16_t *cs, uint64_t *rip)
{
	uint8_t insn[15], frame[16];
	unsigned i, opsize = 4;
	bool rex_w = false;
	/* The bytes to the end of the page, then the rest when the next page is mapped. */
	size_t n = TRACE_PAGE_SIZE - (size_t)(pre->rip & (TRACE_PAGE_SIZE - 1));
	if (n > sizeof(insn))
		n = sizeof(insn);
	if (!read_linear(pre, p, pre->rip, insn, n))
		return false;
	if (n < sizeof(insn) && read_linear(pre, p, pre->rip + n, insn + n, sizeof(insn) - n))
		n = sizeof(insn);
	/* Legacy prefixes, then a REX prefix that counts only when it comes last. */
	for (i = 0; i + 1 < n; i++) {
		uint8_t b = insn[i];
		if (b == 0x66)
			opsize = 2;
		else if (!((b & 0xf0) == 0x40 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 ||
		           b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 || b == 0x65))
			break;
		rex_w = (b & 0xf8) == 0x48;
	}
	if (i + 1 >= n)
		return false;
	if (rex_w)
		opsize = 8;
	if (insn[i] == 0xcf || insn[i] == 0xca || insn[i] == 0xcb) {
		if (!read_linear(pre, p, pre->gpr[X86_RSP], frame, 2 * opsize))
			return false;
		*rip = le(frame, opsize);
		*cs = (uint16_t)le(frame + opsize, 2);
		return true;
	}
	if (insn[i] != 0x0f || (insn[i + 1] != 0x07 && insn[i + 1] != 0x35))
		return false;
	if (insn[i + 1] == 0x07) {
		uint16_t base = (uint16_t)(pre->msr[X86_MSR_STAR] >> 48);
		*cs = (uint16_t)((rex_w ? base + 16 : base) | 3);
		*rip = rex_w ? pre->gpr[X86_RCX] : (uint32_t)pre->gpr[X86_RCX];
	} else {
		uint16_t base = (uint16_t)pre->msr[X86_MSR_SYSENTER_CS];
		*cs = (uint16_t)((rex_w ? base + 32 : base + 16) | 3);
		*rip = rex_w ? pre->gpr[X86_RDX] : (uint32_t)pre->gpr[X86_RDX];
	}
	return true;
}

bool trace_reference_runs_native(const char *reference)
{
	return !strcmp(reference, "kvm-emulator");
}

bool trace_step_ran_native(const char *reference, const struct x86_state *pre, const struct x86_state *post,
                           trace_read_phys_fn read, void *arg)
{
	/* Cheap tests first: nearly every step fails one of them. */
	if (x86_state_cpl(post) != 3 || !(post->efer & X86_EFER_LMA) || x86_state_cpl(pre) != 0 ||
	    x86_state_mode(pre) != X86_MODE_LONG64 || !trace_reference_runs_native(reference))
		return false;
	struct phys p = {read, arg};
	uint16_t cs;
	uint64_t rip;
	if (!return_target(pre, &p, &cs, &rip) || (cs & 3) != 3)
		return false;
	return post->rip != rip || post->seg[X86_CS].selector != cs;
}
