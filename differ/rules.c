/* Classification of a divergence by the first matching row of the rules table
 * (rules_parse.c reads the table): conditions, field globs and the detail text. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../x86/x86_paging.h"
#include "private.h"

static bool alt_matches(const struct rule_alt *a, const struct differ_class_ctx *c)
{
	const struct differ_divergence *d = c->d;

	if (a->bytes) {
		bool rep;
		unsigned p = differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
		if (p + a->n_op + (a->modrm_reg >= 0) > d->insn_len)
			return false;
		if (memcmp(d->insn + p, a->op, a->n_op) != 0)
			return false;
		return a->modrm_reg < 0 || ((d->insn[p + a->n_op] >> 3) & 7) == a->modrm_reg;
	}
	if (!differ_glob(a->mnem, c->mnemonic))
		return false;
	return !a->operand[0] || differ_glob(a->operand, c->operand1);
}

static bool field_matches(const struct differ_rule *r, const char *name)
{
	for (unsigned i = 0; i < r->n_globs; i++)
		if (differ_glob(r->globs[i], name))
			return true;
	return false;
}

static unsigned post_cpl(const struct differ_divergence *d)
{
	return x86_state_cpl(&d->expected);
}

/* The state went on to the next instruction (or stayed on a REP instruction between iterations). */
static bool sequential(const struct differ_class_ctx *c, const struct x86_state *st)
{
	const struct differ_divergence *d = c->d;
	uint64_t mask = d->mode == X86_MODE_LONG64                                   ? ~0ull
	                : (d->mode == X86_MODE_PROT32 || d->mode == X86_MODE_COMPAT) ? 0xffffffffull
	                                                                             : 0xffffull;
	bool rep;

	if (((st->rip - d->pre.rip - c->len) & mask) == 0)
		return true;
	differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
	return rep && st->rip == d->pre.rip;
}

/* A memory field's address: "mem[0x1234]"; false for other fields. */
static bool mem_addr(const struct differ_field_diff *f, uint64_t *addr)
{
	char *end;
	if (strncmp(f->field, "mem[", 4) != 0)
		return false;
	*addr = strtoull(f->field + 4, &end, 16);
	return *end == ']';
}

/* Every difference is the accessed bit of a descriptor: bit 0 of a segment's type, or of a descriptor
 * byte in memory (a byte written on one side only must have it set). */
static bool only_accessed_bits(const struct differ_diff_list *l)
{
	uint64_t addr;

	if (!l->n)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		const struct differ_field_diff *f = &l->v[i];
		size_t n = strlen(f->field);
		if (n > 5 && strcmp(f->field + n - 5, ".attr") == 0) {
			if (f->missing || (f->expected ^ f->actual) != 1)
				return false;
			continue;
		}
		if (!mem_addr(f, &addr) || f->width != 1)
			return false;
		if (f->missing & DIFFER_MISSING_ACTUAL) {
			if (!(f->expected & 1))
				return false;
		} else if (f->missing & DIFFER_MISSING_EXPECTED) {
			if (!(f->actual & 1))
				return false;
		} else if ((f->expected ^ f->actual) != 1) {
			return false;
		}
	}
	return true;
}

/* Every differing memory byte lies in the access of one of the step's recorded MMIO exits. */
static bool mem_in_exit(const struct differ_diff_list *l, const struct differ_input *in)
{
	const struct trace_exit *xv;
	uint32_t nx = differ_exits(in, &xv);
	uint64_t addr;
	bool any = false;

	for (size_t i = 0; i < l->n; i++) {
		if (!mem_addr(&l->v[i], &addr))
			continue;
		bool inside = false;
		for (uint32_t k = 0; k < nx && !inside; k++)
			inside = xv[k].reason == TRACE_EXIT_MMIO && addr >= xv[k].addr &&
			         addr + l->v[i].width <= xv[k].addr + (xv[k].size ? xv[k].size : 1);
		if (!inside)
			return false;
		any = true;
	}
	return any;
}

/* A paging-structure entry from guest memory before the step. */
static bool read_pre_entry(void *ctx, uint64_t gpa, unsigned width, uint64_t *entry)
{
	const struct differ_input *in = ctx;
	*entry = 0;
	return in->read_pre_mem(in->mem_arg, gpa, entry, width) >= 0;
}

/* `further` is `at` plus one instruction: the side at `at` stopped one instruction earlier. The
 * instruction is read from guest memory before the step, through its page tables when paging is on. */
static bool ran_on(const struct differ_class_ctx *c, const struct x86_state *at,
                   const struct x86_state *further)
{
	const struct differ_divergence *d = c->d;
	struct differ_decoded dec;
	uint8_t buf[15];

	if (!c->in->read_pre_mem || at->rip == d->pre.rip ||
	    at->seg[X86_CS].selector != further->seg[X86_CS].selector || further->rip <= at->rip)
		return false;
	uint64_t lin = at->seg[X86_CS].base + at->rip;
	if (x86_state_mode(at) != X86_MODE_LONG64)
		lin &= 0xffffffffu;
	for (unsigned got = 0; got < sizeof(buf);) {
		uint64_t gpa, l = lin + got;
		unsigned chunk = 4096 - (unsigned)(l & 4095);
		if (chunk > sizeof(buf) - got)
			chunk = sizeof(buf) - got;
		if (!x86_page_walk(at, l, read_pre_entry, (void *)c->in, &gpa) ||
		    c->in->read_pre_mem(c->in->mem_arg, gpa, buf + got, chunk) < 0)
			return false;
		got += chunk;
	}
	differ_disasm(c->rules, x86_state_mode(at), at->rip, buf, sizeof(buf), &dec);
	return dec.size && further->rip == at->rip + dec.size;
}

/* The side's CS:RIP is the entry of an exception handler (vectors 0-31) in the interrupt table of the
 * state before the step, and its stack went down: it delivered an exception there. Needs read_pre_mem. */
static bool at_exception_handler(const struct differ_class_ctx *c, const struct x86_state *post)
{
	const struct x86_state *pre = &c->d->pre;
	enum x86_mode mode = c->d->mode;
	bool real = mode == X86_MODE_REAL;
	bool long_mode = mode == X86_MODE_LONG64 || mode == X86_MODE_COMPAT;
	unsigned size = real ? 4 : long_mode ? 16 : 8;
	uint64_t sp_mask = (pre->seg[X86_SS].attr & X86_SEG_DB) || long_mode ? ~0ull : 0xffffull;

	if (!c->in->read_pre_mem || ((post->gpr[X86_RSP] & sp_mask) >= (pre->gpr[X86_RSP] & sp_mask) &&
	                             post->seg[X86_SS].selector == pre->seg[X86_SS].selector))
		return false;
	for (unsigned v = 0; v < 32 && (v + 1) * size - 1 <= pre->idtr.limit; v++) {
		uint8_t g[16];
		uint64_t gpa, lin = pre->idtr.base + (uint64_t)v * size;
		if (!(real ? (gpa = lin, true)
		           : x86_page_walk(pre, lin, read_pre_entry, (void *)c->in, &gpa)) ||
		    c->in->read_pre_mem(c->in->mem_arg, gpa, g, size) < 0)
			return false;
		uint16_t sel = (uint16_t)(g[2] | g[3] << 8);
		uint64_t off = (uint64_t)(g[0] | g[1] << 8);
		if (real) {
			if (post->seg[X86_CS].selector == sel && post->rip == off)
				return true;
			continue;
		}
		unsigned type = g[5] & 0x1f;
		if (type != 0x0e && type != 0x0f && type != 0x06 && type != 0x07)
			continue; /* not present, a task gate, or no gate */
		if (!(g[5] & 0x80))
			continue;
		if (type & 0x08)
			off |= (uint64_t)(g[6] | g[7] << 8) << 16;
		if (long_mode)
			off |= (uint64_t)(g[8] | g[9] << 8 | g[10] << 16 | (uint32_t)g[11] << 24) << 32;
		if ((post->seg[X86_CS].selector & ~3u) == (sel & ~3u) && post->rip == off)
			return true;
	}
	return false;
}

/* Whether the trace's reference kind matches one of the |-separated globs. */
static bool reference_matches(const char *globs, const char *reference)
{
	char pat[48];
	for (const char *p = globs; *p;) {
		size_t n = strcspn(p, "|");
		if (n < sizeof(pat)) {
			memcpy(pat, p, n);
			pat[n] = '\0';
			if (differ_glob(pat, reference))
				return true;
		}
		p += n + (p[n] == '|');
	}
	return false;
}

/* The recording ended its step with a REP instruction's count at 0 and RIP still on it, where the backend
 * retired the instruction. */
static bool rep_unretired(const struct differ_class_ctx *c)
{
	const struct differ_divergence *d = c->d;
	bool rep = false, a67 = false;
	unsigned plen = differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
	for (unsigned i = 0; i < plen; i++)
		a67 |= d->insn[i] == 0x67;
	unsigned adsize =
	    d->mode == X86_MODE_LONG64 ? (a67 ? 4 : 8)
	    : (d->mode == X86_MODE_REAL || d->mode == X86_MODE_V86 || d->mode == X86_MODE_PROT16)
	        ? (a67 ? 4 : 2)
	        : (a67 ? 2 : 4);
	uint64_t mask = adsize == 8 ? ~0ull : (1ull << (8 * adsize)) - 1;
	return rep && d->expected.rip == d->pre.rip && (d->expected.gpr[X86_RCX] & mask) == 0 &&
	       d->actual.rip != d->pre.rip;
}

/* A protected-mode state whose segments are virtual-8086 ones (base = selector * 16, 64 KiB limits) at CPL 3:
 * virtual-8086 code recorded without EFLAGS.VM. */
static bool v86_lost(const struct x86_state *pre)
{
	if (!(pre->cr0 & X86_CR0_PE) || (pre->rflags & X86_RFLAGS_VM) || (pre->efer & X86_EFER_LMA))
		return false;
	for (unsigned s = X86_ES; s <= X86_GS; s++)
		if (pre->seg[s].base != (uint64_t)pre->seg[s].selector << 4 || pre->seg[s].limit != 0xffff)
			return false;
	return (pre->seg[X86_CS].selector & 3) == 3 || (pre->seg[X86_CS].attr & 0x60) == 0x60;
}

/* Every difference is the last bit of an x87 register's significand (its sign and exponent alike), or the
 * C1 round-up bit of the status word that goes with it. */
static bool only_last_bit(const struct differ_diff_list *l)
{
	if (!l->n)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		const struct differ_field_diff *f = &l->v[i];
		uint64_t apart = f->expected > f->actual ? f->expected - f->actual : f->actual - f->expected;
		bool st = f->field[0] == 's' && f->field[1] == 't' && f->field[2] >= '0' &&
		          f->field[2] <= '7' && !f->field[3];
		if (f->missing || !((st && apart == 1) ||
		                    (!strcmp(f->field, "fpu.fsw") && (f->expected ^ f->actual) == 0x200)))
			return false;
	}
	return true;
}

/* FSW differs at most in C1 (the round-up bit). */
static bool fsw_c1_only(const struct differ_diff_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].field, "fpu.fsw") && ((l->v[i].expected ^ l->v[i].actual) & ~0x200ull))
			return false;
	return true;
}

static bool cond_holds(const struct rule_cond *k, const struct differ_class_ctx *c,
                       const struct differ_field_diff *matched)
{
	const struct differ_divergence *d = c->d;
	bool v = false, rep;

	switch (k->kind) {
	case COND_UNSUPPORTED:
		v = d->outcome == BACKEND_UNSUPPORTED;
		break;
	case COND_CRASH:
		v = d->outcome == BACKEND_CRASH;
		break;
	case COND_FAILED:
		v = d->outcome == BACKEND_FAILED;
		break;
	case COND_REFERENCE:
		v = c->in->reference && reference_matches(k->word, c->in->reference);
		break;
	case COND_REP_UNRETIRED:
		v = rep_unretired(c);
		break;
	case COND_V86_LOST:
		v = v86_lost(&d->pre);
		break;
	case COND_LAST_BIT:
		v = only_last_bit(c->diffs);
		break;
	case COND_FSW_C1:
		v = fsw_c1_only(c->diffs);
		break;
	case COND_REASON: {
		size_t n = strlen(k->word);
		v = strncmp(c->reason, k->word, n) == 0 && c->reason[n] == ':';
		break;
	}
	case COND_OUTER:
		v = post_cpl(d) > d->cpl;
		break;
	case COND_SAME:
		v = post_cpl(d) == d->cpl;
		break;
	case COND_INNER:
		v = post_cpl(d) < d->cpl;
		break;
	case COND_NT:
		v = (d->pre.rflags & X86_RFLAGS_NT) != 0;
		break;
	case COND_TO_V86:
		v = (d->expected.rflags & X86_RFLAGS_VM) && !(d->pre.rflags & X86_RFLAGS_VM);
		break;
	case COND_REP:
		differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
		v = rep;
		break;
	case COND_PRE_SHADOW_MOV_SS:
		v = (d->pre.events.shadow & X86_SHADOW_MOV_SS) != 0;
		break;
	case COND_PRE_SHADOW_STI:
		v = (d->pre.events.shadow & X86_SHADOW_STI) != 0;
		break;
	case COND_EXP0:
		v = matched && !matched->missing && matched->expected == 0 && matched->actual != 0;
		break;
	case COND_NEXT_RIP:
		v = sequential(c, &d->expected) && d->actual.rip != d->expected.rip;
		break;
	case COND_AD_BITS:
		v = (d->pre.cr0 & X86_CR0_PG) && c->diffs->mem_ad_only;
		break;
	case COND_PAGING:
		v = (d->pre.cr0 & X86_CR0_PG) != 0;
		break;
	case COND_CPL0:
		v = d->cpl == 0;
		break;
	case COND_CPL3:
		v = d->cpl == 3;
		break;
	case COND_FAULT_EXP:
		v = !c->branch && !sequential(c, &d->expected) && sequential(c, &d->actual);
		break;
	case COND_FAULT_ACT:
		v = !c->branch && sequential(c, &d->expected) && !sequential(c, &d->actual);
		break;
	case COND_FAULT_BOTH:
		v = !c->branch && !sequential(c, &d->expected) && !sequential(c, &d->actual) &&
		    d->expected.rip != d->actual.rip;
		break;
	case COND_HANDLER_EXP:
		v = at_exception_handler(c, &d->expected) && !at_exception_handler(c, &d->actual);
		break;
	case COND_HANDLER_ACT:
		v = at_exception_handler(c, &d->actual) && !at_exception_handler(c, &d->expected);
		break;
	case COND_ACCESSED:
		v = only_accessed_bits(c->diffs);
		break;
	case COND_EXP_STAYED:
		differ_prefix_len(d->mode, d->insn, d->insn_len, &rep);
		v = !rep && d->expected.rip == d->pre.rip;
		break;
	case COND_EXIT:
		v = c->in->expected_exit != NULL || c->in->n_expected_exits;
		break;
	case COND_EXP_RAN_ON:
		v = ran_on(c, &d->actual, &d->expected);
		break;
	case COND_ACT_RAN_ON:
		v = ran_on(c, &d->expected, &d->actual);
		break;
	case COND_EXIT_ADDR:
		v = mem_in_exit(c->diffs, c->in);
		break;
	case COND_FLAGS:
		v = c->diffs->rflags_diff && !(c->diffs->rflags_diff & ~k->flags);
		break;
	}
	return v != k->negate;
}

static void put_value(char *buf, size_t len, const struct differ_field_diff *f, bool expected)
{
	if (!f)
		snprintf(buf, len, "?");
	else if (f->missing & (expected ? DIFFER_MISSING_EXPECTED : DIFFER_MISSING_ACTUAL))
		snprintf(buf, len, "none");
	else
		snprintf(buf, len, "%#" PRIx64, expected ? f->expected : f->actual);
}

static void expand_detail(const char *tmpl, const struct differ_class_ctx *c,
                          const struct differ_field_diff *m, char *out, size_t outlen)
{
	const struct differ_divergence *d = c->d;
	size_t used = 0;

	out[0] = '\0';
	for (const char *p = tmpl; *p && used + 1 < outlen;) {
		char val[160];
		const char *e;

		if (*p != '{' || !(e = strchr(p, '}'))) {
			out[used++] = *p++;
			out[used] = '\0';
			continue;
		}
		size_t n = (size_t)(e - p - 1);
		const char *name = p + 1;
#define IS(s) (n == strlen(s) && strncmp(name, s, n) == 0)
		val[0] = '\0';
		if (IS("insn")) {
			snprintf(val, sizeof(val), "%s", d->disasm);
		} else if (IS("mnemonic")) {
			snprintf(val, sizeof(val), "%s", c->mnemonic[0] ? c->mnemonic : "(bad)");
		} else if (IS("field")) {
			snprintf(val, sizeof(val), "%s", m ? m->field : "?");
		} else if (IS("REG")) {
			size_t i;
			const char *src = m ? m->field : "?";
			for (i = 0; src[i] && src[i] != '.' && i + 1 < sizeof(val); i++)
				val[i] = (char)toupper((unsigned char)src[i]);
			val[i] = '\0';
		} else if (IS("exp")) {
			put_value(val, sizeof(val), m, true);
		} else if (IS("act")) {
			put_value(val, sizeof(val), m, false);
		} else if (IS("fields")) {
			size_t u = 0;
			for (size_t i = 0; i < c->diffs->n && u + 1 < sizeof(val); i++) {
				int k = snprintf(val + u, sizeof(val) - u, "%s%s", i ? "," : "",
				                 c->diffs->v[i].field);
				if (k < 0 || (size_t)k >= sizeof(val) - u ||
				    (i == 5 && i + 1 < c->diffs->n)) {
					snprintf(val + u, sizeof(val) - u, ",... (%zu fields)", c->diffs->n);
					break;
				}
				u += (size_t)k;
			}
			if (!c->diffs->n)
				snprintf(val, sizeof(val), "nothing");
		} else if (IS("flags")) {
			differ_flag_names(c->diffs->rflags_diff, val, sizeof(val));
		} else if (IS("reason")) {
			snprintf(val, sizeof(val), "%s", c->reason[0] ? c->reason : "no reason given");
		} else if (IS("len")) {
			snprintf(val, sizeof(val), "%u", d->insn_len);
		} else if (IS("adv")) {
			snprintf(val, sizeof(val), "%" PRId64, (int64_t)(d->actual.rip - d->pre.rip));
		} else if (IS("cpl")) {
			snprintf(val, sizeof(val), "%u", d->cpl);
		} else if (IS("newcpl")) {
			snprintf(val, sizeof(val), "%u", post_cpl(d));
		} else if (IS("mode")) {
			snprintf(val, sizeof(val), "%s", x86_mode_name(d->mode));
		} else if (IS("exp_rip")) {
			snprintf(val, sizeof(val), "%#" PRIx64, d->expected.rip);
		} else if (IS("act_rip")) {
			snprintf(val, sizeof(val), "%#" PRIx64, d->actual.rip);
		} else if (IS("eax")) {
			snprintf(val, sizeof(val), "%#" PRIx32, (uint32_t)d->pre.gpr[X86_RAX]);
		} else if (IS("ecx")) {
			snprintf(val, sizeof(val), "%#" PRIx32, (uint32_t)d->pre.gpr[X86_RCX]);
		} else {
			snprintf(val, sizeof(val), "{%.*s}", (int)(n > 40 ? 40 : n), name);
		}
#undef IS
		int k = snprintf(out + used, outlen - used, "%s", val);
		used += k < 0 ? 0 : ((size_t)k >= outlen - used ? outlen - used - 1 : (size_t)k);
		p = e + 1;
	}
}

static bool rule_matches(const struct differ_rule *r, const struct differ_class_ctx *c,
                         const struct differ_field_diff **matched)
{
	const struct differ_diff_list *l = c->diffs;

	*matched = NULL;
	if (!(r->modes & (1u << c->d->mode)))
		return false;
	if (!r->any_insn) {
		unsigned i;
		for (i = 0; i < r->n_alts; i++)
			if (alt_matches(&r->alts[i], c))
				break;
		if (i == r->n_alts)
			return false;
	}
	if (r->any_field) {
		*matched = l->n ? &l->v[0] : NULL;
	} else {
		for (size_t i = 0; i < l->n; i++) {
			if (field_matches(r, l->v[i].field)) {
				if (!*matched)
					*matched = &l->v[i];
			} else if (r->only) {
				return false;
			}
		}
		if (!*matched)
			return false;
	}
	for (unsigned i = 0; i < r->n_conds; i++)
		if (!cond_holds(&r->conds[i], c, *matched))
			return false;
	return true;
}

/* A row that names the reason's kind (reason=io) shows the reason without that "io: " prefix. */
static const char *reason_after_word(const struct differ_rule *r, const char *reason)
{
	for (unsigned i = 0; reason && i < r->n_conds; i++) {
		const struct rule_cond *k = &r->conds[i];
		if (k->kind != COND_REASON || k->negate)
			continue;
		size_t n = strlen(k->word);
		if (strncmp(reason, k->word, n) == 0 && reason[n] == ':')
			return reason + n + 1 + (reason[n + 1] == ' ');
	}
	return reason;
}

void differ_classify(const struct differ_rules *rules, const struct differ_class_ctx *ctx,
                     struct differ_divergence *d)
{
	const struct differ_field_diff *m;

	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct differ_rule *r = &rules->rows[i];
		if (!rule_matches(r, ctx, &m))
			continue;
		snprintf(d->cls, sizeof(d->cls), "%s", r->cls);
		struct differ_class_ctx named = *ctx;
		named.reason = reason_after_word(r, ctx->reason);
		expand_detail(r->detail, &named, m, d->detail, sizeof(d->detail));
		return;
	}
	snprintf(d->cls, sizeof(d->cls), "unclassified");
	expand_detail(d->outcome == BACKEND_STEPPED ? "{fields} differ after {insn} ({mode}, CPL {cpl})"
	                                            : "{reason}",
	              ctx, ctx->diffs->n ? &ctx->diffs->v[0] : NULL, d->detail, sizeof(d->detail));
}
