/* Comparison of one backend step with the recording: the whole x86_state,
 * the bytes written to memory and the port accesses, with masks only for
 * undefined flags and for what the backend cannot observe. */
#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

unsigned differ_prefix_len(enum x86_mode mode, const uint8_t *insn, unsigned len, bool *rep)
{
	unsigned i = 0;

	*rep = false;
	for (; i < len && i < 14; i++) {
		uint8_t b = insn[i];
		if (b == 0xf2 || b == 0xf3)
			*rep = true;
		else if (b != 0xf0 && b != 0x2e && b != 0x36 && b != 0x3e && b != 0x26 && b != 0x64 &&
		         b != 0x65 && b != 0x66 && b != 0x67)
			break;
	}
	if (mode == X86_MODE_LONG64 && i < len && (insn[i] & 0xf0) == 0x40)
		i++;
	return i;
}

static cs_mode cs_mode_of(int i)
{
	return i == 0 ? CS_MODE_16 : i == 1 ? CS_MODE_32 : CS_MODE_64;
}

void differ_rules_open_cs(struct differ_rules *r)
{
	for (int i = 0; i < 3; i++) {
		csh h;
		r->cs_ok[i] = cs_open(CS_ARCH_X86, cs_mode_of(i), &h) == CS_ERR_OK;
		if (r->cs_ok[i]) {
			cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
			r->cs[i] = h;
		}
	}
}

void differ_rules_close_cs(struct differ_rules *r)
{
	for (int i = 0; i < 3; i++) {
		if (!r->cs_ok[i])
			continue;
		csh h = r->cs[i];
		cs_close(&h);
		r->cs_ok[i] = false;
	}
}

void differ_disasm(const struct differ_rules *rules, enum x86_mode mode, uint64_t rip, const uint8_t *insn,
                   unsigned len, struct differ_decoded *out)
{
	static const char *const prefixes[] = {"rep ",  "repe ", "repne ",   "repz ",     "repnz ",
	                                       "lock ", "bnd ",  "notrack ", "xacquire ", "xrelease "};
	static const uint8_t branch_groups[] = {CS_GRP_JUMP, CS_GRP_CALL, CS_GRP_RET,
	                                        CS_GRP_INT,  CS_GRP_IRET, CS_GRP_BRANCH_RELATIVE};
	int mi = mode == X86_MODE_LONG64 ? 2 : (mode == X86_MODE_PROT32 || mode == X86_MODE_COMPAT) ? 1 : 0;
	csh h;
	cs_insn *ci = NULL;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->text, sizeof(out->text), "(bad)");
	bool own = !rules || !rules->cs_ok[mi];
	if (!len)
		return;
	if (!own)
		h = (csh)rules->cs[mi];
	else if (cs_open(CS_ARCH_X86, cs_mode_of(mi), &h) != CS_ERR_OK)
		return;
	else
		cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	n = cs_disasm(h, insn, len, rip, 1, &ci);
	if (n == 1) {
		snprintf(out->text, sizeof(out->text), "%.31s%s%.46s", ci->mnemonic, ci->op_str[0] ? " " : "",
		         ci->op_str);
		const char *m = ci->mnemonic;
		for (int again = 1; again;) {
			again = 0;
			for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
				size_t pl = strlen(prefixes[i]);
				if (strncmp(m, prefixes[i], pl) == 0) {
					m += pl;
					again = 1;
				}
			}
		}
		snprintf(out->mnem, sizeof(out->mnem), "%s", m);
		size_t k = strcspn(ci->op_str, ",");
		snprintf(out->op1, sizeof(out->op1), "%.*s", (int)k, ci->op_str);
		out->size = ci->size;
		for (size_t i = 0; i < sizeof(branch_groups); i++)
			if (cs_insn_group(h, ci, branch_groups[i]))
				out->branch = true;
	}
	if (n)
		cs_free(ci, n);
	if (own)
		cs_close(&h);
}

static int diff_push(struct differ_diff_list *l, const char *name, uint64_t exp, uint64_t act, unsigned width,
                     unsigned missing)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct differ_field_diff *v = realloc(l->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = ncap;
	}
	struct differ_field_diff *f = &l->v[l->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->field, sizeof(f->field), "%s", name);
	f->expected = exp;
	f->actual = act;
	f->width = (uint8_t)width;
	f->missing = (uint8_t)missing;
	return 0;
}

static uint64_t load_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int compare_state(const struct differ_input *in, struct differ_diff_list *l)
{
	const uint8_t *e = (const uint8_t *)in->expected;
	const uint8_t *a = (const uint8_t *)&in->actual->post;
	const uint8_t *u = (const uint8_t *)&in->actual->unobserved;
	/* Masks only hide differences: equal states have none (the common step, so no field walk). */
	if (memcmp(e, a, sizeof(struct x86_state)) == 0)
		return 0;
	const struct x86_field *rf = x86_field_find("rflags");
	for (size_t i = 0; i < x86_field_count; i++) {
		const struct x86_field *f = &x86_fields[i];
		/* FXSAVE keeps an 80-bit register in 16 bytes: bytes 10..15 are reserved, not state. */
		unsigned cmp = (f->size == 16 && f->name[0] == 's' && f->name[1] == 't') ? 10 : f->size;
		for (unsigned half = 0; half * 8 < cmp; half++) {
			unsigned off = f->offset + half * 8, n = cmp - half * 8 > 8 ? 8 : cmp - half * 8;
			uint64_t ev = load_le(e + off, n), av = load_le(a + off, n),
			         mask = ~load_le(u + off, n);
			if (n < 8)
				mask &= (1ull << (8 * n)) - 1;
			if (f == rf)
				mask &= ~in->undefined_rflags;
			if (((ev ^ av) & mask) == 0)
				continue;
			if (f == rf)
				l->rflags_diff = (ev ^ av) & mask;
			char name[32];
			snprintf(name, sizeof(name), "%s%s", f->name, half ? ".hi" : "");
			if (diff_push(l, name, ev, av, n, 0) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

struct mem_byte {
	uint64_t gpa;
	uint32_t seq;
	uint8_t val;
};

static int mem_byte_cmp(const void *pa, const void *pb)
{
	const struct mem_byte *a = pa, *b = pb;
	if (a->gpa != b->gpa)
		return a->gpa < b->gpa ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorts and keeps the last write of each byte. */
static size_t mem_normalize(struct mem_byte *v, size_t n)
{
	size_t o = 0;

	qsort(v, n, sizeof(*v), mem_byte_cmp);
	for (size_t i = 0; i < n; i++) {
		if (o && v[o - 1].gpa == v[i].gpa)
			v[o - 1] = v[i];
		else
			v[o++] = v[i];
	}
	return o;
}

struct mem_diff {
	uint64_t gpa;
	int exp, act; /* -1: not written on that side */
};

static int flush_run(struct differ_diff_list *l, const struct mem_diff *run, unsigned n)
{
	uint64_t ev = 0, av = 0;
	char name[32];
	unsigned missing =
	    (run[0].exp < 0 ? DIFFER_MISSING_EXPECTED : 0) | (run[0].act < 0 ? DIFFER_MISSING_ACTUAL : 0);

	for (unsigned i = 0; i < n; i++) {
		ev |= (uint64_t)(run[i].exp < 0 ? 0 : run[i].exp) << (8 * i);
		av |= (uint64_t)(run[i].act < 0 ? 0 : run[i].act) << (8 * i);
	}
	snprintf(name, sizeof(name), "mem[%#" PRIx64 "]", run[0].gpa);
	return diff_push(l, name, ev, av, n, missing);
}

static bool ad_byte(const struct mem_diff *m)
{
	/* A and D are bits 5 and 6 of the low byte of a 4- or 8-byte paging entry. */
	if (m->gpa % 4)
		return false;
	if (m->exp < 0 || m->act < 0)
		return true;
	return ((m->exp ^ m->act) & ~0x60) == 0;
}

static int compare_mem(const struct differ_input *in, struct differ_diff_list *l)
{
	const struct backend_result *r = in->actual;
	struct mem_byte *ev = NULL, *av = NULL;
	struct mem_diff *md = NULL;
	size_t ne = 0, na = 0, nd = 0, cap_e = 0, cap_a = 0;
	uint32_t seq = 0;
	int ret = 0;

	const struct trace_exit *xv;
	uint32_t nx = differ_exits(in, &xv);

	for (uint32_t i = 0; i < in->n_expected_writes; i++)
		cap_e += in->expected_writes[i].len;
	for (uint32_t i = 0; i < nx; i++)
		if (xv[i].reason == TRACE_EXIT_MMIO && xv[i].is_write)
			cap_e += xv[i].size < 16 ? xv[i].size : 16;
	for (uint32_t i = 0; i < r->n_writes && i < BACKEND_MAX_WRITES; i++)
		cap_a += r->writes[i].len;
	if (!cap_e && !cap_a)
		return 0;
	ev = malloc((cap_e + 1) * sizeof(*ev));
	av = malloc((cap_a + 1) * sizeof(*av));
	md = malloc((cap_e + cap_a + 1) * sizeof(*md));
	if (!ev || !av || !md) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < in->n_expected_writes; i++) {
		const struct trace_write *w = &in->expected_writes[i];
		for (uint32_t j = 0; j < w->len; j++)
			ev[ne++] = (struct mem_byte){w->gpa + j, seq++, w->data ? w->data[j] : 0};
	}
	/* An MMIO store is a write the backend reports like any other; a later store to a byte wins. */
	for (uint32_t i = 0; i < nx; i++)
		if (xv[i].reason == TRACE_EXIT_MMIO && xv[i].is_write)
			for (uint32_t j = 0; j < xv[i].size && j < 16; j++)
				ev[ne++] = (struct mem_byte){xv[i].addr + j, seq++, xv[i].data[j]};
	for (uint32_t i = 0; i < r->n_writes && i < BACKEND_MAX_WRITES; i++) {
		const struct backend_write *w = &r->writes[i];
		for (uint32_t j = 0; j < w->len && j < sizeof(w->data); j++)
			av[na++] = (struct mem_byte){w->gpa + j, seq++, w->data[j]};
	}
	ne = mem_normalize(ev, ne);
	na = mem_normalize(av, na);

	for (size_t i = 0, j = 0; i < ne || j < na;) {
		struct mem_diff m;
		if (j >= na || (i < ne && ev[i].gpa < av[j].gpa)) {
			m = (struct mem_diff){ev[i].gpa, ev[i].val, -1};
			i++;
			/* The backend's list is incomplete: an absent byte says nothing. */
			if (r->writes_overflow)
				continue;
		} else if (i >= ne || av[j].gpa < ev[i].gpa) {
			m = (struct mem_diff){av[j].gpa, -1, av[j].val};
			j++;
		} else {
			m = (struct mem_diff){ev[i].gpa, ev[i].val, av[j].val};
			i++;
			j++;
			if (m.exp == m.act)
				continue;
		}
		if ((m.exp < 0 || m.act < 0) && in->read_pre_mem) {
			uint8_t old;
			if (in->read_pre_mem(in->mem_arg, m.gpa, &old, 1) == 0 &&
			    old == (m.exp < 0 ? m.act : m.exp))
				continue;
		}
		md[nd++] = m;
	}

	l->mem_ad_only = nd > 0;
	for (size_t i = 0; i < nd; i++)
		if (!ad_byte(&md[i]))
			l->mem_ad_only = false;
	for (size_t i = 0; i < nd;) {
		size_t k = 1;
		while (i + k < nd && k < 8 && md[i + k].gpa == md[i].gpa + k &&
		       (md[i + k].exp < 0) == (md[i].exp < 0) && (md[i + k].act < 0) == (md[i].act < 0))
			k++;
		ret = flush_run(l, &md[i], (unsigned)k);
		if (ret < 0)
			goto out;
		i += k;
	}
out:
	free(ev);
	free(av);
	free(md);
	return ret;
}

/* One recorded port access against one of the backend's, in order. */
static int compare_port(const struct trace_exit *x, const struct backend_port *p, struct differ_diff_list *l)
{
	if (p->port != (uint16_t)x->addr && diff_push(l, "port.addr", x->addr, p->port, 2, 0) < 0)
		return -ENOMEM;
	if (p->is_out != (x->is_write != 0) &&
	    diff_push(l, "port.dir", x->is_write != 0, p->is_out, 1, 0) < 0)
		return -ENOMEM;
	if (p->size != x->size && diff_push(l, "port.size", x->size, p->size, 1, 0) < 0)
		return -ENOMEM;
	/* An IN's value comes from the recording; only an OUT's value is the backend's own. */
	if (x->is_write && p->is_out && p->size == x->size && x->size >= 1 && x->size <= 4) {
		uint32_t mask = x->size == 4 ? 0xffffffffu : (1u << (8 * x->size)) - 1;
		uint32_t ev = (uint32_t)load_le(x->data, x->size);
		if ((ev & mask) != (p->value & mask) &&
		    diff_push(l, "port.value", ev, p->value & mask, x->size, 0) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The step's recorded port exits against the backend's accesses, pair by pair in order; the first pair
 * that differs (or the first access one side lacks) is reported. */
static int compare_ports(const struct differ_input *in, struct differ_diff_list *l)
{
	const struct trace_exit *xv;
	uint32_t nx = differ_exits(in, &xv);
	const struct backend_result *r = in->actual;
	uint32_t n_act = r->n_ports < BACKEND_MAX_PORTS ? r->n_ports : BACKEND_MAX_PORTS;
	uint32_t i = 0, j = 0;

	for (;;) {
		while (i < nx && xv[i].reason != TRACE_EXIT_IO)
			i++;
		if (i >= nx && j >= n_act)
			return 0;
		/* A full list may have dropped later accesses: those say nothing. */
		if (j >= n_act && r->n_ports >= BACKEND_MAX_PORTS)
			return 0;
		if (i >= nx)
			return diff_push(l, "port.addr", 0, r->ports[j].port, 2, DIFFER_MISSING_EXPECTED);
		if (j >= n_act)
			return diff_push(l, "port.addr", xv[i].addr, 0, 2, DIFFER_MISSING_ACTUAL);
		size_t before = l->n;
		int ret = compare_port(&xv[i], &r->ports[j], l);
		if (ret < 0 || l->n != before)
			return ret;
		i++, j++;
	}
}

static bool has_io_exit(const struct differ_input *in)
{
	const struct trace_exit *xv;
	uint32_t nx = differ_exits(in, &xv);
	for (uint32_t i = 0; i < nx; i++)
		if (xv[i].reason == TRACE_EXIT_IO || xv[i].reason == TRACE_EXIT_MMIO)
			return true;
	return false;
}

bool differ_matches_exactly(const struct differ_input *in)
{
	/* Most steps match exactly and touch no memory or port. */
	return in->actual->outcome == BACKEND_STEPPED && !in->n_expected_writes && !in->actual->n_writes &&
	       !in->actual->n_ports && !has_io_exit(in) &&
	       memcmp(in->expected, &in->actual->post, sizeof(*in->expected)) == 0;
}

int differ_compare(const struct differ_rules *rules, const struct differ_input *in,
                   struct differ_divergence *out)
{
	struct differ_diff_list l = {0};
	struct differ_decoded dec;
	char reason[sizeof(in->actual->reason) + 1];
	int ret;

	if (!in || !out || !in->pre || !in->expected || !in->actual ||
	    (in->n_expected_writes && !in->expected_writes))
		return -EINVAL;
	if (differ_matches_exactly(in))
		return 0;
	memset(out, 0, sizeof(*out));
	out->step = in->step;
	snprintf(out->backend, sizeof(out->backend), "%s", in->backend ? in->backend : "?");
	out->outcome = in->actual->outcome;
	out->mode = in->mode;
	out->cpl = in->cpl;
	out->insn_len = (uint8_t)(in->insn_len > sizeof(out->insn) ? sizeof(out->insn) : in->insn_len);
	if (in->insn)
		memcpy(out->insn, in->insn, out->insn_len);
	else
		out->insn_len = 0;
	out->undefined_rflags = in->undefined_rflags;
	out->pre = *in->pre;
	out->expected = *in->expected;
	/* A backend that did not step has no post-state to show. */
	if (in->actual->outcome == BACKEND_STEPPED) {
		out->actual = in->actual->post;
		out->unobserved = in->actual->unobserved;
	}

	if (in->actual->outcome == BACKEND_STEPPED) {
		ret = compare_state(in, &l);
		if (!ret)
			ret = compare_mem(in, &l);
		if (!ret)
			ret = compare_ports(in, &l);
		if (ret < 0)
			goto out;
		if (l.n == 0) {
			ret = 0;
			goto out;
		}
	}
	differ_disasm(rules, in->mode, in->pre->rip, out->insn, out->insn_len, &dec);
	snprintf(out->disasm, sizeof(out->disasm), "%s", dec.text);
	snprintf(reason, sizeof(reason), "%.*s", (int)sizeof(in->actual->reason), in->actual->reason);
	struct differ_class_ctx ctx = {
	    .in = in,
	    .d = out,
	    .diffs = &l,
	    .mnemonic = dec.mnem,
	    .operand1 = dec.op1,
	    .reason = in->actual->outcome == BACKEND_STEPPED ? "" : reason,
	    .len = dec.size ? dec.size : out->insn_len,
	    .branch = dec.branch,
	    .rules = rules,
	};
	out->n_fields_total = (uint32_t)l.n;
	out->n_fields = (uint32_t)(l.n > DIFFER_MAX_FIELDS ? DIFFER_MAX_FIELDS : l.n);
	if (l.n)
		memcpy(out->fields, l.v, out->n_fields * sizeof(out->fields[0]));
	differ_classify(rules, &ctx, out);
	ret = 1;
out:
	free(l.v);
	return ret;
}
