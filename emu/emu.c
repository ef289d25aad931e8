/* The step loop: fetch, decode, execute, then commit or roll back.
 * GPRs, RIP and RFLAGS are saved at the start and restored on a fault;
 * memory writes are held in a buffer until the instruction can no longer
 * fault; handlers change other state only after their last fault point
 * (EMU_CHECK_FAULTS builds check that on every step). */
#include <stdio.h>
#include <stdlib.h>

#include "private.h"
#include "system.h"

void emu_log(struct emu_exec *x, uint8_t kind, uint64_t addr, const void *data, unsigned size)
{
	struct emu_step_info *info = &x->c->info;
	const uint8_t *p = data;
	while (size) {
		unsigned n = size > 16 ? 16 : size;
		if (info->n_access >= EMU_MAX_ACCESSES) {
			info->access_overflow = true;
			return;
		}
		struct emu_access *a = &info->access[info->n_access++];
		a->addr = addr;
		a->kind = kind;
		a->size = (uint8_t)n;
		memcpy(a->data, p, n);
		p += n;
		addr += n;
		size -= n;
	}
}

enum emu_status emu_unimplemented(struct emu_exec *x)
{
	const struct emu_insn *i = x->i;
	char *s = x->c->info.unimplemented;
	const char *mode = x->mode == X86_MODE_REAL     ? "real"
	                   : x->mode == X86_MODE_LONG64 ? "long"
	                                                : "protected";
	if (s[0])
		return EMU_UNIMPLEMENTED;
	if (i->map == 0)
		snprintf(s, sizeof(x->c->info.unimplemented), "%02x", i->b);
	else if (i->map == 1)
		snprintf(s, sizeof(x->c->info.unimplemented), "0f %02x", i->b);
	else
		snprintf(s, sizeof(x->c->info.unimplemented), "0f %s %02x", i->map == 2 ? "38" : "3a", i->b);
	size_t l = strlen(s);
	/* Opcode-extension groups name the ModRM reg field; x87 and 0f 01 register forms the whole byte. */
	bool x87 = i->map == 0 && i->b >= 0xd8 && i->b <= 0xdf;
	bool grp = (i->flags & D_GROUP) || x87 ||
	           (i->map == 1 && (i->b <= 0x01 || i->b == 0x18 || (i->b >= 0x71 && i->b <= 0x73) ||
	                            i->b == 0xae || i->b == 0xba || i->b == 0xc7));
	if ((i->flags & D_MODRM) && grp) {
		if (i->mod == 3 && (x87 || (i->map == 1 && i->b == 0x01)))
			l += (size_t)snprintf(s + l, sizeof(x->c->info.unimplemented) - l, " %02x", i->modrm);
		else
			l += (size_t)snprintf(s + l, sizeof(x->c->info.unimplemented) - l, " /%u",
			                      (i->modrm >> 3) & 7);
	}
	if (i->rep)
		l += (size_t)snprintf(s + l, sizeof(x->c->info.unimplemented) - l, " (%02x)", i->rep);
	else if (i->pfx66 && i->map)
		l += (size_t)snprintf(s + l, sizeof(x->c->info.unimplemented) - l, " (66)");
	snprintf(s + l, sizeof(x->c->info.unimplemented) - l, " in %s mode", mode);
	return EMU_UNIMPLEMENTED;
}

/* Names what is missing when it is not the opcode itself. */
static void name_unimplemented(struct emu_exec *x, const char *what)
{
	snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented), "%s", what);
}

/* Reads through the pending writes, so an instruction sees its own stores. */
static void forward_writes(struct emu_exec *x, uint64_t gpa, uint8_t *buf, unsigned len)
{
	for (uint32_t k = 0; k < x->n_writes; k++) {
		const struct emu_pending_write *w = &x->writes[k];
		uint64_t lo = w->gpa > gpa ? w->gpa : gpa;
		uint64_t hi = (w->gpa + w->len < gpa + len) ? w->gpa + w->len : gpa + len;
		if (lo < hi)
			memcpy(buf + (lo - gpa), x->wbuf + w->off + (lo - w->gpa), hi - lo);
	}
}

/* Holds a store until the instruction can no longer fault. */
static enum emu_status hold_write(struct emu_exec *x, uint64_t gpa, const uint8_t *p, unsigned len)
{
	if (x->n_writes >= EMU_MAX_WRITES || x->wbuf_used + len > EMU_WBUF_BYTES) {
		name_unimplemented(x, "more stores in one instruction than buffered");
		return EMU_UNIMPLEMENTED;
	}
	struct emu_pending_write *w = &x->writes[x->n_writes++];
	w->gpa = gpa;
	w->off = (uint16_t)x->wbuf_used;
	w->len = (uint16_t)len;
	memcpy(x->wbuf + x->wbuf_used, p, len);
	x->wbuf_used += len;
	emu_log(x, EMU_ACC_WRITE, gpa, p, len);
	return EMU_OK;
}

enum emu_status emu_lin_access(struct emu_exec *x, uint64_t lin, void *buf, unsigned len, bool write,
                               bool user)
{
	uint8_t *p = buf;
	bool wrap32 = x->mode != X86_MODE_LONG64 && x->mode != X86_MODE_COMPAT;
	while (len) {
		unsigned chunk = 4096 - (unsigned)(lin & 0xfff);
		uint64_t gpa;
		if (chunk > len)
			chunk = len;
		EMU_TRY(emu_translate(x, lin, write ? SEG_WRITE : SEG_READ, user, &gpa));
		if (x->st->dr7 & 0xff)
			emu_debug_data(x, lin, chunk, write);
		if (write) {
			EMU_TRY(hold_write(x, gpa, p, chunk));
		} else {
			if (x->ops->read_phys(x->opaque, gpa, p, chunk) != EMU_OK)
				return EMU_IO_ERROR;
			if (x->n_writes)
				forward_writes(x, gpa, p, chunk);
			emu_log(x, EMU_ACC_READ, gpa, p, chunk);
		}
		p += chunk;
		len -= chunk;
		lin += chunk;
		if (wrap32)
			lin &= 0xffffffffu;
	}
	return EMU_OK;
}

enum emu_status emu_lin_read(struct emu_exec *x, uint64_t lin, void *buf, unsigned len)
{
	x->implicit_sv = true;
	enum emu_status rc = emu_lin_access(x, lin, buf, len, false, false);
	x->implicit_sv = false;
	return rc;
}

enum emu_status emu_lin_write(struct emu_exec *x, uint64_t lin, const void *buf, unsigned len)
{
	x->implicit_sv = true;
	enum emu_status rc = emu_lin_access(x, lin, (void *)buf, len, true, false);
	x->implicit_sv = false;
	return rc;
}

enum emu_status emu_mem_read(struct emu_exec *x, unsigned seg, uint64_t off, void *buf, unsigned len)
{
	uint64_t lin;
	EMU_TRY(emu_seg_linear(x, seg, off, len, SEG_READ, &lin));
	return emu_lin_access(x, lin, buf, len, false, x->cpl == 3);
}

enum emu_status emu_mem_write(struct emu_exec *x, unsigned seg, uint64_t off, const void *buf, unsigned len)
{
	uint64_t lin;
	EMU_TRY(emu_seg_linear(x, seg, off, len, SEG_WRITE, &lin));
	return emu_lin_access(x, lin, (void *)buf, len, true, x->cpl == 3);
}

enum emu_status emu_mem_check_write(struct emu_exec *x, unsigned seg, uint64_t off, unsigned len)
{
	uint64_t lin;
	return emu_seg_linear(x, seg, off, len, SEG_WRITE, &lin);
}

static inline uint64_t load_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	memcpy(&v, p, n); /* little-endian host */
	return v;
}

enum emu_status emu_mem_read_u(struct emu_exec *x, unsigned seg, uint64_t off, unsigned width, uint64_t *v)
{
	uint8_t b[8];
	EMU_TRY(emu_mem_read(x, seg, off, b, width));
	*v = load_le(b, width);
	return EMU_OK;
}

enum emu_status emu_mem_write_u(struct emu_exec *x, unsigned seg, uint64_t off, unsigned width, uint64_t v)
{
	return emu_mem_write(x, seg, off, &v, width);
}

unsigned emu_stack_size(const struct emu_exec *x)
{
	if (x->mode == X86_MODE_LONG64)
		return 8;
	return (x->st->seg[X86_SS].attr & X86_SEG_DB) ? 4 : 2;
}

void emu_rsp_add(struct emu_exec *x, int64_t delta)
{
	unsigned ss = emu_stack_size(x);
	uint64_t sp = (x->st->gpr[X86_RSP] + (uint64_t)delta) & emu_mask(ss);
	if (ss == 2)
		x->st->gpr[X86_RSP] = (x->st->gpr[X86_RSP] & ~0xffffull) | sp;
	else
		x->st->gpr[X86_RSP] = sp;
}

enum emu_status emu_push(struct emu_exec *x, unsigned width, uint64_t v)
{
	unsigned ss = emu_stack_size(x);
	uint64_t sp = (x->st->gpr[X86_RSP] - width) & emu_mask(ss);
	EMU_TRY(emu_mem_write_u(x, X86_SS, sp, width, v));
	emu_rsp_add(x, -(int64_t)width);
	return EMU_OK;
}

enum emu_status emu_stack_read(struct emu_exec *x, uint64_t offset, unsigned width, uint64_t *v)
{
	unsigned ss = emu_stack_size(x);
	uint64_t sp = (x->st->gpr[X86_RSP] + offset) & emu_mask(ss);
	return emu_mem_read_u(x, X86_SS, sp, width, v);
}

enum emu_status emu_pop(struct emu_exec *x, unsigned width, uint64_t *v)
{
	EMU_TRY(emu_stack_read(x, 0, width, v));
	emu_rsp_add(x, width);
	return EMU_OK;
}

enum emu_status emu_io_allowed(struct emu_exec *x, uint16_t port, unsigned size)
{
	const struct x86_segment *tr = &x->st->seg[X86_TR];
	uint64_t base;
	uint16_t map, bits;
	unsigned iopl = (unsigned)((x->st->rflags & X86_RFLAGS_IOPL) >> 12);
	if (x->mode == X86_MODE_REAL || (x->mode != X86_MODE_V86 && x->cpl <= iopl))
		return EMU_OK;
	/* The TSS I/O permission bitmap: a 32/64-bit TSS only. */
	if ((tr->attr & X86_SEG_TYPE_MASK) != 0xb || tr->limit < 0x67)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_lin_read(x, tr->base + 0x66, &map, 2));
	base = map + (uint64_t)(port >> 3);
	if (base + 1 > tr->limit)
		return EMU_RAISE_GP0(x);
	EMU_TRY(emu_lin_read(x, tr->base + base, &bits, 2));
	if ((bits >> (port & 7)) & ((1u << size) - 1))
		return EMU_RAISE_GP0(x);
	return EMU_OK;
}

enum emu_status emu_port_in(struct emu_exec *x, uint16_t port, unsigned size, uint32_t *v)
{
	*v = 0;
	if (x->ops->port_in(x->opaque, port, size, v) != EMU_OK)
		return EMU_IO_ERROR;
	*v &= (uint32_t)emu_mask(size);
	emu_log(x, EMU_ACC_IN, port, v, size);
	return EMU_OK;
}

enum emu_status emu_port_out(struct emu_exec *x, uint16_t port, unsigned size, uint32_t v)
{
	if (x->ops->port_out(x->opaque, port, size, v) != EMU_OK)
		return EMU_IO_ERROR;
	emu_log(x, EMU_ACC_OUT, port, &v, size);
	return EMU_OK;
}

enum emu_status emu_jump(struct emu_exec *x, uint64_t target, unsigned width)
{
	target &= emu_mask(width);
	if (x->mode == X86_MODE_LONG64) {
		if (!emu_canonical(target))
			return EMU_RAISE_GP0(x);
	} else if (target > x->st->seg[X86_CS].limit) {
		return EMU_RAISE_GP0(x);
	}
	x->st->rip = target;
	x->rip_set = true;
	return EMU_OK;
}

bool emu_cond(uint64_t f, unsigned cc)
{
	bool r;
	switch (cc >> 1) {
	case 0:
		r = f & X86_RFLAGS_OF;
		break;
	case 1:
		r = f & X86_RFLAGS_CF;
		break;
	case 2:
		r = f & X86_RFLAGS_ZF;
		break;
	case 3:
		r = f & (X86_RFLAGS_CF | X86_RFLAGS_ZF);
		break;
	case 4:
		r = f & X86_RFLAGS_SF;
		break;
	case 5:
		r = f & X86_RFLAGS_PF;
		break;
	case 6:
		r = !!(f & X86_RFLAGS_SF) != !!(f & X86_RFLAGS_OF);
		break;
	default:
		r = (f & X86_RFLAGS_ZF) || (!!(f & X86_RFLAGS_SF) != !!(f & X86_RFLAGS_OF));
	}
	return (cc & 1) ? !r : r;
}

/* The code fetch: up to 15 bytes, stopping at the CS limit and at the page end
 * so that a fault on bytes the instruction does not use is never raised. */
static enum emu_status fetch_decode(struct emu_exec *x, uint8_t *buf)
{
	struct x86_state *st = x->st;
	uint64_t rip = st->rip, lin, gpa;
	unsigned avail, lim_avail = 15, page;
	bool user = x->cpl == 3;
	enum emu_decode_result dr;

	if (x->mode == X86_MODE_LONG64) {
		if (!emu_canonical(rip))
			return EMU_RAISE_GP0(x);
		lin = rip;
	} else {
		uint32_t limit = st->seg[X86_CS].limit;
		if (rip > limit)
			return EMU_RAISE_GP0(x);
		if (limit - rip < 14)
			lim_avail = (unsigned)(limit - rip) + 1;
		lin = (st->seg[X86_CS].base + rip) & 0xffffffffu;
	}
	page = 4096 - (unsigned)(lin & 0xfff);
	avail = page < lim_avail ? page : lim_avail;
	if (x->c->cache && emu_dc_lookup(x, lin, avail))
		return EMU_OK;
	EMU_TRY(emu_translate(x, lin, SEG_EXEC, user, &gpa));
	if (x->ops->read_phys(x->opaque, gpa, buf, avail) != EMU_OK)
		return EMU_IO_ERROR;
	dr = emu_decode(x->i, buf, avail, x->mode);
	if (dr == DEC_MORE && avail < lim_avail) {
		uint64_t lin2 = lin + avail;
		if (x->mode != X86_MODE_LONG64)
			lin2 &= 0xffffffffu;
		EMU_TRY(emu_translate(x, lin2, SEG_EXEC, user, &gpa));
		if (x->ops->read_phys(x->opaque, gpa, buf + avail, lim_avail - avail) != EMU_OK)
			return EMU_IO_ERROR;
		avail = lim_avail;
		x->fetch_cross = true;
		dr = emu_decode(x->i, buf, avail, x->mode);
	}
	switch (dr) {
	case DEC_OK:
		break;
	case DEC_UD:
		x->c->info.insn_len = x->i->len;
		memcpy(x->c->info.insn, buf, x->i->len);
		return EMU_RAISE_UD(x);
	case DEC_GP:
	case DEC_MORE:
		/* Longer than 15 bytes, or running past the CS limit. */
		x->c->info.insn_len = (uint8_t)avail;
		memcpy(x->c->info.insn, buf, avail);
		return EMU_RAISE_GP0(x);
	}
	x->c->info.insn_len = x->i->len;
	memcpy(x->c->info.insn, buf, x->i->len);
	if (x->c->cache && !x->fetch_cross)
		emu_dc_fill(x, lin, gpa, buf);
	return EMU_OK;
}

void emu_calc_ea(struct emu_exec *x)
{
	struct emu_insn *i = x->i;
	uint64_t ea = (uint64_t)i->disp;
	if (i->base != 0xff)
		ea += x->st->gpr[i->base];
	if (i->index != 0xff)
		ea += x->st->gpr[i->index] << i->scale;
	if (i->rip_rel)
		ea += x->next_rip;
	i->ea = ea & emu_mask(i->adsize);
}

enum emu_status emu_commit_writes(struct emu_exec *x)
{
	for (uint32_t k = 0; k < x->n_writes; k++) {
		const struct emu_pending_write *w = &x->writes[k];
		if (x->ops->write_phys(x->opaque, w->gpa, x->wbuf + w->off, w->len) != EMU_OK)
			return EMU_IO_ERROR;
		if (x->c->cache)
			emu_dc_note_write(x->c->cache, w->gpa, w->len);
	}
	x->n_writes = 0;
	x->wbuf_used = 0;
	return EMU_OK;
}

struct undo {
	uint64_t gpr[X86_NGPR];
	uint64_t rip, rflags;
};

static void undo_save(struct undo *u, const struct x86_state *st)
{
	memcpy(u->gpr, st->gpr, sizeof(u->gpr));
	u->rip = st->rip;
	u->rflags = st->rflags;
}

static void undo_restore(const struct undo *u, struct x86_state *st)
{
	memcpy(st->gpr, u->gpr, sizeof(u->gpr));
	st->rip = u->rip;
	st->rflags = u->rflags;
}

void emu_exec_init(struct emu_exec *x, struct emu_ctxt *c)
{
	x->c = c;
	x->st = c->st;
	x->ops = c->ops;
	x->opaque = c->opaque;
	x->mode = x86_state_mode(c->st);
	x->cpl = x86_state_cpl(c->st);
	x->i = &x->ibuf;
	x->rip_set = false;
	x->new_shadow = 0;
	x->fetch_cross = false;
	x->implicit_sv = false;
	x->dr_hits = 0;
	x->rf_loaded = false;
	x->n_writes = 0;
	x->wbuf_used = 0;
}

#ifdef EMU_CHECK_FAULTS
static void check_unchanged(const struct x86_state *before, const struct x86_state *after, const char *what)
{
	if (memcmp(before, after, sizeof(*before)) != 0) {
		fprintf(stderr, "emu: fault semantics broken: %s changed the state\n", what);
		abort();
	}
}
#endif

enum emu_status emu_step(struct emu_ctxt *c)
{
	struct x86_state *st = c->st;
	struct emu_exec x;
	struct undo u;
	bool saved = false;
	uint8_t buf[32];
	enum emu_status rc;
#ifdef EMU_CHECK_FAULTS
	struct x86_state before = *st;
#endif

	c->info.insn_len = 0;
	c->info.n_access = 0;
	c->info.access_overflow = false;
	c->info.unimplemented[0] = 0;
	c->info.delivered_event = false;

	if (st->events.exc_pending) {
		struct emu_event pend = {.vector = st->events.exc_vector,
		                         .has_error = st->events.exc_has_error,
		                         .error_code = st->events.exc_error_code};
		rc = emu_deliver_event(c, &pend, true);
		if (rc == EMU_OK)
			st->events.exc_pending = 0;
		return rc;
	}
	/* The debug checks only when something can fire: keeps them off the hot path. */
	if (st->events.nmi_pending || (st->dr7 & 0xff)) {
		bool done;
		rc = emu_debug_before(c, &done);
		if (done)
			return rc;
	}
	if (st->events.halted)
		return EMU_HALT;

	uint64_t rflags0 = st->rflags;
	emu_exec_init(&x, c);
	rc = fetch_decode(&x, buf);
	if (rc == EMU_OK) {
		uint64_t ipmask = x.mode == X86_MODE_LONG64 ? ~0ull
		                  : (st->seg[X86_CS].attr & X86_SEG_DB) && x.mode != X86_MODE_REAL
		                      ? 0xffffffffull
		                      : 0xffffull;
		x.next_rip = (st->rip + x.i->len) & ipmask;
		if (x.i->mod != 3)
			emu_calc_ea(&x);
		/* D_SAFE handlers change no state before their last fault point: no undo copy needed. */
		if (!(x.i->flags & D_SAFE)) {
			undo_save(&u, st);
			saved = true;
		}
		rc = x.i->op->fn ? x.i->op->fn(&x) : emu_unimplemented(&x);
	}
	if (rc == EMU_OK || rc == EMU_HALT) {
		if (x.n_writes) {
			enum emu_status wrc = emu_commit_writes(&x);
			if (wrc != EMU_OK)
				return wrc;
		}
		if (!x.rip_set)
			st->rip = x.next_rip;
		st->events.shadow = x.new_shadow;
		/* RF ends with every instruction but the one that loads it (SDM Vol. 3B 17.3.1.1). */
		if (!x.rf_loaded)
			st->rflags &= ~X86_RFLAGS_RF;
		if (rc == EMU_HALT)
			st->events.halted = 1;
		return ((rflags0 & X86_RFLAGS_TF) || x.dr_hits) ? emu_debug_after(&x, rflags0, rc) : rc;
	}
	if (saved)
		undo_restore(&u, st);
#ifdef EMU_CHECK_FAULTS
	/* An unmasked SIMD exception sets its MXCSR flags before it is raised. */
	if (rc == EMU_EXCEPTION && (c->event.vector == EMU_XM || c->event.vector == EMU_UD))
		before.fpu.mxcsr = st->fpu.mxcsr;
	check_unchanged(&before, st,
	                rc == EMU_EXCEPTION ? "a faulting instruction" : "an aborted instruction");
#endif
	/* The only #DB an instruction raises itself is general detect (MOV DR with DR7.GD). */
	if (rc == EMU_EXCEPTION && c->event.vector == EMU_DB)
		emu_debug_general_detect(st, rflags0);
	if (rc == EMU_EXCEPTION && c->deliver_exceptions) {
		struct emu_event ev = c->event;
		rc = emu_deliver_event(c, &ev, false);
		c->event = ev;
		return rc;
	}
	return rc;
}
