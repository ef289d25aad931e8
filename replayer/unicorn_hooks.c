/* The unicorn engine's hooks during a step: recorded inputs, memory writes,
 * ports, CPUID, and the guest page walk that checks unicorn's translation. */

#include "../x86/x86_paging.h"
#include "unicorn_private.h"

/* Reads a paging-structure entry and remembers its value before the step, so the
 * accessed/dirty bits the engine's own unicorn_walk sets come back as writes (and can be undone). */
static bool pte_read(void *ctx, uint64_t gpa, unsigned size, uint64_t *e)
{
	(void)ctx;
	const uint8_t *p = unicorn_ram(gpa, size, NULL);
	if (!p)
		return false;
	*e = size == 8 ? get64(p) : get32(p);
	if (!unicorn_child.paging)
		return true;
	for (unsigned i = 0; i < unicorn_child.n_watch; i++)
		if (unicorn_child.watch[i].gpa == gpa)
			return true;
	struct unicorn_shm *shm = unicorn_child.shm;
	if (unicorn_child.n_watch >= UNICORN_MAX_WATCH || shm->n_undo >= UNICORN_MAX_UNDO)
		return true;
	unicorn_child.watch[unicorn_child.n_watch].gpa = gpa;
	unicorn_child.watch[unicorn_child.n_watch].len = (uint8_t)size;
	unicorn_child.watch[unicorn_child.n_watch++].old = *e;
	struct unicorn_undo *u = &shm->undo[shm->n_undo++];
	u->gpa = gpa;
	u->len = (uint8_t)size;
	memcpy(u->data, p, size);
	return true;
}

/* Guest linear to physical through the guest's own page tables; false when not present. */
bool unicorn_walk(uint64_t la, uint64_t *pa)
{
	return x86_page_walk(&unicorn_child.cur, la, pte_read, NULL, pa);
}

/* Unicorn 2.0.1 accesses the linear address as if it were physical: flag every access where it is not. */
static bool paging_differs(uint64_t la, int size)
{
	if (!unicorn_child.paging)
		return false;
	uint64_t last = la + (uint64_t)(size > 0 ? size - 1 : 0);
	uint64_t pa;
	for (uint64_t a = la & ~PAGE_MASK_4K; a <= (last & ~PAGE_MASK_4K); a += 0x1000) {
		if (unicorn_walk(a, &pa) && pa != a) {
			if (!unicorn_child.paging_mismatch)
				unicorn_child.mismatch_la = a;
			unicorn_child.paging_mismatch = true;
			uc_emu_stop(unicorn_child.uc);
			return true;
		}
		if (a + 0x1000 < a)
			break;
	}
	return false;
}

static bool in_scratch(uint64_t addr)
{
	for (unsigned i = 0; i < unicorn_child.n_scratch; i++)
		if ((addr & ~PAGE_MASK_4K) == unicorn_child.scratch[i])
			return true;
	return false;
}

/* The next recorded input of this kind; repetitions of one row are consumed one by one. */
static const struct trace_input *next_input(uint8_t kind, uint32_t *rep)
{
	struct unicorn_shm *shm = unicorn_child.shm;
	for (uint32_t i = 0; i < shm->n_inputs && i < UNICORN_MAX_INPUTS; i++) {
		const struct trace_input *in = &shm->inputs[i];
		if (unicorn_child.consumed[i] || in->kind != kind)
			continue;
		uint32_t count = in->count ? in->count : 1;
		*rep = unicorn_child.reps_used[i]++;
		if (unicorn_child.reps_used[i] >= count)
			unicorn_child.consumed[i] = true;
		return in;
	}
	return NULL;
}

/* The value of repetition rep, little-endian, size bytes. */
static uint64_t input_value(const struct trace_input *in, uint32_t rep, int size)
{
	uint64_t v = 0;
	unsigned sz = in->size ? in->size : (unsigned)size;
	unsigned off = (sz * rep + sz <= sizeof(in->data)) ? sz * rep : 0;
	memcpy(&v, in->data + off, sz > 8 ? 8 : sz);
	if (size < 8)
		v &= (1ull << (8 * size)) - 1;
	return v;
}

void unicorn_hook_intr(uc_engine *uc, uint32_t intno, void *user)
{
	(void)user;
	if (unicorn_child.intr < 0)
		unicorn_child.intr = (int)intno;
	uc_emu_stop(uc);
}

void unicorn_hook_mem_read(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                           void *user)
{
	(void)type, (void)value, (void)user;
	if (paging_differs(addr, size) || !in_scratch(addr))
		return;
	uint32_t rep = 0;
	const struct trace_input *in = next_input(TRACE_INPUT_MMIO_READ, &rep);
	uint64_t v = in ? input_value(in, rep, size) : ~0ull;
	uint8_t buf[8];
	memcpy(buf, &v, 8);
	uc_mem_write(uc, addr, buf, (size_t)(size > 8 ? 8 : size));
}

void unicorn_add_write(uint64_t addr, int size, uint64_t value)
{
	struct backend_result *res = unicorn_child.res;
	uint8_t bytes[8];
	memcpy(bytes, &value, 8);
	if (res->n_writes) {
		struct backend_write *w = &res->writes[res->n_writes - 1];
		if (w->gpa + w->len == addr && w->len + size <= 16) {
			memcpy(w->data + w->len, bytes, (size_t)size);
			w->len = (uint8_t)(w->len + size);
			return;
		}
	}
	if (res->n_writes >= BACKEND_MAX_WRITES) {
		res->writes_overflow = true;
		return;
	}
	struct backend_write *w = &res->writes[res->n_writes++];
	w->gpa = addr;
	w->len = (uint8_t)size;
	memset(w->data, 0, sizeof(w->data));
	memcpy(w->data, bytes, (size_t)size);
}

void unicorn_hook_mem_write(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                            void *user)
{
	(void)uc, (void)type, (void)user;
	if (size <= 0 || size > 8 || paging_differs(addr, size))
		return;
	const struct unicorn_region *r = NULL;
	uint8_t *p = unicorn_ram(addr, (uint64_t)size, &r);
	if (!p) {
		unicorn_add_write(addr, size,
		                  (uint64_t)value); /* MMIO: the recording lists these writes too */
		return;
	}
	struct unicorn_shm *shm = unicorn_child.shm;
	if (shm->n_undo < UNICORN_MAX_UNDO) {
		struct unicorn_undo *u = &shm->undo[shm->n_undo++];
		u->gpa = addr;
		u->len = (uint8_t)size;
		memcpy(u->data, p, (size_t)size);
	} else {
		shm->undo_overflow = true;
	}
	if (!r->rom)
		unicorn_add_write(addr, size, (uint64_t)value);
}

static bool map_scratch(uint64_t addr, int size)
{
	uint64_t last = addr + (uint64_t)(size > 0 ? size - 1 : 0);
	for (uint64_t a = addr & ~PAGE_MASK_4K; a <= (last & ~PAGE_MASK_4K); a += 0x1000) {
		if (in_scratch(a) || unicorn_ram(a, 1, NULL))
			continue;
		if (unicorn_child.n_scratch >=
		    sizeof(unicorn_child.scratch) / sizeof(unicorn_child.scratch[0])) {
			unicorn_child.scratch_overflow = true;
			return false;
		}
		if (uc_mem_map(unicorn_child.uc, a, 0x1000, UC_PROT_READ | UC_PROT_WRITE) != UC_ERR_OK)
			return false;
		unicorn_child.scratch[unicorn_child.n_scratch++] = a;
	}
	return true;
}

bool unicorn_hook_unmapped(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
                           void *user)
{
	(void)uc, (void)value, (void)user;
	if (type == UC_MEM_FETCH_UNMAPPED || paging_differs(addr, size))
		return false;
	return map_scratch(addr, size);
}

static void add_port(uint16_t port, int size, bool is_out, uint32_t value)
{
	struct backend_result *res = unicorn_child.res;
	if (res->n_ports >= BACKEND_MAX_PORTS)
		return;
	struct backend_port *p = &res->ports[res->n_ports++];
	p->port = port;
	p->size = (uint8_t)size;
	p->is_out = is_out;
	p->value = value;
}

uint32_t unicorn_hook_in(uc_engine *uc, uint32_t port, int size, void *user)
{
	(void)uc, (void)user;
	uint32_t rep = 0;
	const struct trace_input *in = next_input(TRACE_INPUT_PIO_IN, &rep);
	uint32_t v = in ? (uint32_t)input_value(in, rep, size) : (uint32_t)((1ull << (8 * size)) - 1);
	add_port((uint16_t)port, size, false, v);
	return v;
}

void unicorn_hook_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *user)
{
	(void)uc, (void)user;
	add_port((uint16_t)port, size, true, value);
}

/* CPUID answers come from the recording, then the recorded CPUID table, then unicorn itself. */
int unicorn_hook_cpuid(uc_engine *uc, void *user)
{
	(void)user;
	uint64_t rax = 0, rcx = 0;
	uc_reg_read(uc, UC_X86_REG_RAX, &rax);
	uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
	uint32_t leaf = (uint32_t)rax, sub = (uint32_t)rcx, out[4];
	uint32_t rep = 0;
	const struct trace_input *in = next_input(TRACE_INPUT_CPUID, &rep);
	if (in) {
		memcpy(out, in->data, 16);
	} else {
		size_t i, n = unicorn_child.setup->n_cpuid;
		const uint32_t(*t)[6] = unicorn_child.setup->cpuid;
		for (i = 0; i < n; i++)
			if (t[i][0] == leaf && t[i][1] == sub)
				break;
		for (size_t j = 0; i == n && j < n; j++)
			if (t[j][0] == leaf && t[j][1] == 0)
				i = j;
		if (i == n)
			return 0;
		memcpy(out, &t[i][2], 16);
	}
	static const int regs[4] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX};
	for (int r = 0; r < 4; r++) {
		uint64_t v = out[r];
		uc_reg_write(uc, regs[r], &v);
	}
	return 1;
}
