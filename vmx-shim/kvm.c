/* The VM, its memory slots, the vCPU, KVM_RUN and its exits. */
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <x86intrin.h>

#include "../x86/x86_paging.h"
#include "private.h"

/* Out of the way of RAM (<= 3 GiB), the MMIO test page and the firmware at 4 GiB - 128 KiB. */
#define SHIM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define SHIM_TSS_ADDR          0xfffbd000ull
#define SHIM_SYNC_ALL          (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS)
#define SHIM_PAGE              4096ull

static char shim_open_err[320];

int shim_fail(struct shim_vm *vm, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(vm->err))
		snprintf(vm->err + n, sizeof(vm->err) - (size_t)n, ": %s", strerror(-err));
	return err;
}

const char *shim_error(const struct shim_vm *vm)
{
	return vm ? vm->err : shim_open_err;
}

const char *shim_last_open_error(void)
{
	return shim_open_err;
}

const char *shim_flavour_name(enum shim_flavour f)
{
	switch (f) {
	case SHIM_FLAVOUR_VMX:
		return "vmx";
	case SHIM_FLAVOUR_SVM:
		return "svm";
	case SHIM_FLAVOUR_PVM:
		return "pvm";
	default:
		return "unknown";
	}
}

const char *shim_reference_name(enum shim_flavour f)
{
	switch (f) {
	case SHIM_FLAVOUR_VMX:
	case SHIM_FLAVOUR_SVM:
		return "silicon";
	case SHIM_FLAVOUR_PVM:
		return "kvm-emulator";
	default:
		return "unknown";
	}
}

/* QEMU's software CPU names itself in the hypervisor CPUID leaf: its VT-x/SVM is TCG, not silicon. */
bool shim_host_is_qemu_tcg(void)
{
	unsigned a, b, c, d;
	char sig[13];

	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 31)))
		return false;
	__cpuid(0x40000000, a, b, c, d);
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	return strcmp(sig, "TCGTCGTCGTCG") == 0;
}

const char *shim_reference(const struct shim_vm *vm)
{
	bool hw = vm->flavour == SHIM_FLAVOUR_VMX || vm->flavour == SHIM_FLAVOUR_SVM;

	return hw && vm->qemu_tcg ? "qemu-tcg" : shim_reference_name(vm->flavour);
}

static bool dir_exists(const char *dir, const char *name)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Looks for a whole word in the first "flags" line of cpuinfo. */
static bool cpuinfo_has_flag(const char *cpuinfo_path, const char *flag)
{
	char line[8192];
	bool found = false;
	FILE *f = fopen(cpuinfo_path, "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *colon;

		if (strncmp(line, "flags", 5) != 0 || !(colon = strchr(line, ':')))
			continue;
		for (char *tok = strtok(colon + 1, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			if (strcmp(tok, flag) == 0)
				found = true;
		break;
	}
	fclose(f);
	return found;
}

/* The loaded vendor module decides who runs the guest; the CPU flag alone does
 * not (a VT-x host may still run kvm_pvm). Two vendor modules at once cannot
 * be told apart from user space: unknown, not a guess. */
enum shim_flavour shim_detect_flavour(const char *cpuinfo_path, const char *sysmodule_dir)
{
	bool pvm = dir_exists(sysmodule_dir, "kvm_pvm");
	bool intel = dir_exists(sysmodule_dir, "kvm_intel");
	bool amd = dir_exists(sysmodule_dir, "kvm_amd");
	int nmod = pvm + intel + amd;

	if (nmod > 1)
		return SHIM_FLAVOUR_UNKNOWN;
	if (pvm)
		return SHIM_FLAVOUR_PVM;
	if (intel)
		return SHIM_FLAVOUR_VMX;
	if (amd)
		return SHIM_FLAVOUR_SVM;
	/* Vendor module built in without a /sys/module entry: the CPU flag is all there is. */
	if (cpuinfo_has_flag(cpuinfo_path, "vmx"))
		return SHIM_FLAVOUR_VMX;
	if (cpuinfo_has_flag(cpuinfo_path, "svm"))
		return SHIM_FLAVOUR_SVM;
	return SHIM_FLAVOUR_UNKNOWN;
}

enum shim_flavour shim_flavour(const struct shim_vm *vm)
{
	return vm->flavour;
}

uint8_t *shim_ram(struct shim_vm *vm)
{
	return vm->ram;
}

size_t shim_ram_size(const struct shim_vm *vm)
{
	return vm->ram_size;
}

static int set_slot(struct shim_vm *vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, void *mem)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .flags = flags,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)mem,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return shim_fail(vm, -errno, "KVM_SET_USER_MEMORY_REGION (slot %u at %#llx, %#llx bytes)",
		                 slot, (unsigned long long)gpa, (unsigned long long)size);
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static uint32_t ram_flags(const struct shim_vm *vm)
{
	return vm->dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0;
}

/* Cuts [gpa, gpa+size) out of the RAM segment holding it, so a ROM can take its place (firmware
 * aliases below 1 MiB). KVM slots cannot shrink: the segment's slot is deleted and re-created. */
static int punch_ram_hole(struct shim_vm *vm, uint64_t gpa, uint64_t size)
{
	struct shim_ram_seg *seg = NULL, left, right;
	unsigned i;
	int err;

	for (i = 0; i < vm->nram_segs; i++) {
		seg = &vm->ram_segs[i];
		if (gpa >= seg->gpa && gpa + size <= seg->gpa + seg->len)
			break;
	}
	if (i == vm->nram_segs)
		return shim_fail(vm, -EEXIST,
		                 "ROM at %#llx (%#llx bytes) straddles the end of RAM or another ROM",
		                 (unsigned long long)gpa, (unsigned long long)size);
	if (vm->nram_segs == SHIM_MAX_RAM_SEGS)
		return shim_fail(vm, -ENOSPC, "ROM at %#llx: too many holes in RAM", (unsigned long long)gpa);
	left = (struct shim_ram_seg){seg->gpa, gpa - seg->gpa, seg->slot, 0};
	right = (struct shim_ram_seg){gpa + size, seg->gpa + seg->len - (gpa + size), vm->next_slot++, 0};
	if ((err = set_slot(vm, seg->slot, 0, seg->gpa, 0, vm->ram + seg->gpa)))
		return err;
	memmove(&vm->ram_segs[i], &vm->ram_segs[i + 1], (vm->nram_segs - i - 1) * sizeof(*seg));
	vm->nram_segs--;
	if (left.len) {
		if ((err = set_slot(vm, left.slot, ram_flags(vm), left.gpa, left.len, vm->ram + left.gpa)))
			return err;
		memmove(&vm->ram_segs[i + 1], &vm->ram_segs[i], (vm->nram_segs - i) * sizeof(*seg));
		vm->ram_segs[i++] = left;
		vm->nram_segs++;
	}
	if (right.len) {
		if ((err =
		         set_slot(vm, right.slot, ram_flags(vm), right.gpa, right.len, vm->ram + right.gpa)))
			return err;
		memmove(&vm->ram_segs[i + 1], &vm->ram_segs[i], (vm->nram_segs - i) * sizeof(*seg));
		vm->ram_segs[i] = right;
		vm->nram_segs++;
	}
	return 0;
}

#define SHIM_HMA     0x100000ull /* the 64 KiB above 1 MiB that real mode reaches (FFFF:0010 on) */
#define SHIM_HMA_LEN 0x10000ull

int shim_set_a20(struct shim_vm *vm, bool on)
{
	struct shim_ram_seg *hma = NULL;
	int err;

	if (vm->ram_size < SHIM_HMA + SHIM_HMA_LEN)
		return 0;
	for (unsigned i = 0; i < vm->nram_segs; i++)
		if (vm->ram_segs[i].gpa == SHIM_HMA && vm->ram_segs[i].len == SHIM_HMA_LEN)
			hma = &vm->ram_segs[i];
	if (!hma) {
		if (on)
			return 0;
		/* Its own slot, so only its backing changes. */
		if ((err = punch_ram_hole(vm, SHIM_HMA, SHIM_HMA_LEN)))
			return err;
		unsigned i = 0;
		while (i < vm->nram_segs && vm->ram_segs[i].gpa < SHIM_HMA)
			i++;
		memmove(&vm->ram_segs[i + 1], &vm->ram_segs[i],
		        (vm->nram_segs - i) * sizeof(vm->ram_segs[0]));
		vm->ram_segs[i] = (struct shim_ram_seg){SHIM_HMA, SHIM_HMA_LEN, vm->next_slot++, 0};
		vm->nram_segs++;
		hma = &vm->ram_segs[i];
	} else if ((on && hma->alias == 0) || (!on && hma->alias != 0)) {
		return 0;
	} else if ((err = set_slot(vm, hma->slot, 0, hma->gpa, 0, vm->ram + hma->gpa))) {
		return err;
	}
	hma->alias = on ? 0 : -(int64_t)SHIM_HMA;
	return set_slot(vm, hma->slot, ram_flags(vm), hma->gpa, hma->len, vm->ram + hma->gpa + hma->alias);
}

int shim_map_rom(struct shim_vm *vm, uint64_t gpa, const void *data, size_t len)
{
	struct shim_rom *rom;
	size_t size = (len + SHIM_PAGE - 1) & ~(SHIM_PAGE - 1);
	void *mem;
	int err;

	if (len == 0 || gpa % SHIM_PAGE || gpa + size < gpa || gpa + size > (1ull << 52))
		return shim_fail(vm, -EINVAL,
		                 "ROM at %#llx (%zu bytes): needs a 4 KiB aligned address and data",
		                 (unsigned long long)gpa, len);
	if (vm->nroms == SHIM_MAX_ROMS)
		return shim_fail(vm, -ENOSPC, "ROM at %#llx: more than %d ROMs", (unsigned long long)gpa,
		                 SHIM_MAX_ROMS);
	for (unsigned i = 0; i < vm->nroms; i++)
		if (ranges_overlap(gpa, size, vm->roms[i].gpa, vm->roms[i].len))
			return shim_fail(vm, -EEXIST, "ROM at %#llx overlaps the ROM at %#llx",
			                 (unsigned long long)gpa, (unsigned long long)vm->roms[i].gpa);
	if (ranges_overlap(gpa, size, 0, vm->ram_size) && (err = punch_ram_hole(vm, gpa, size)))
		return err;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return shim_fail(vm, -errno, "mmap of %zu bytes for the ROM at %#llx", size,
		                 (unsigned long long)gpa);
	memcpy(mem, data, len);
	rom = &vm->roms[vm->nroms];
	*rom = (struct shim_rom){.gpa = gpa, .len = size, .mem = mem, .slot = vm->next_slot++};
	err = set_slot(vm, rom->slot, KVM_MEM_READONLY, gpa, size, rom->mem);
	if (err) {
		munmap(mem, size);
		return err;
	}
	vm->nroms++;
	return 0;
}

int shim_read_phys(const struct shim_vm *vm, uint64_t gpa, void *buf, size_t len)
{
	for (unsigned i = 0; i < vm->nroms; i++) {
		const struct shim_rom *rom = &vm->roms[i];

		if (gpa >= rom->gpa && gpa - rom->gpa < rom->len) {
			if (rom->len - (gpa - rom->gpa) < len)
				return -EFAULT;
			memcpy(buf, (const uint8_t *)rom->mem + (gpa - rom->gpa), len);
			return 0;
		}
	}
	for (unsigned i = 0; i < vm->nram_segs; i++) {
		const struct shim_ram_seg *seg = &vm->ram_segs[i];

		if (gpa >= seg->gpa && gpa - seg->gpa < seg->len) {
			if (seg->len - (gpa - seg->gpa) < len)
				return -EFAULT;
			memcpy(buf, vm->ram + gpa + seg->alias, len);
			return 0;
		}
	}
	return -EFAULT;
}

static struct shim_cpuid_entry shim_entry_of(const struct kvm_cpuid_entry2 *e)
{
	return (struct shim_cpuid_entry){e->function, e->index, e->flags, e->eax, e->ebx, e->ecx, e->edx};
}

static int setup_cpuid(struct shim_vm *vm)
{
	int nent = 64;

	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)nent * sizeof(c->entries[0]));

		if (!c)
			return shim_fail(vm, -ENOMEM, "CPUID table");
		c->nent = (uint32_t)nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			break;
		}
		free(c);
		if (errno != E2BIG || nent >= 4096)
			return shim_fail(vm, -errno, "KVM_GET_SUPPORTED_CPUID");
		nent *= 2;
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, vm->cpuid) < 0)
		return shim_fail(vm, -errno, "KVM_SET_CPUID2");
	vm->ncpuid = vm->cpuid->nent;
	vm->cpuid_table = calloc(vm->ncpuid ? vm->ncpuid : 1, sizeof(*vm->cpuid_table));
	if (!vm->cpuid_table)
		return shim_fail(vm, -ENOMEM, "CPUID table");
	for (size_t i = 0; i < vm->ncpuid; i++)
		vm->cpuid_table[i] = shim_entry_of(&vm->cpuid->entries[i]);
	return 0;
}

int shim_cpuid_table(const struct shim_vm *vm, const struct shim_cpuid_entry **entries, size_t *n)
{
	*entries = vm->cpuid_table;
	*n = vm->ncpuid;
	return 0;
}

int shim_set_cpuid(struct shim_vm *vm, const struct shim_cpuid_entry *entries, size_t n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	struct shim_cpuid_entry *table = calloc(n ? n : 1, sizeof(*table));
	if (!c || !table) {
		free(c);
		free(table);
		return shim_fail(vm, -ENOMEM, "CPUID table");
	}
	c->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){.function = entries[i].function,
		                                          .index = entries[i].index,
		                                          .flags = entries[i].flags,
		                                          .eax = entries[i].eax,
		                                          .ebx = entries[i].ebx,
		                                          .ecx = entries[i].ecx,
		                                          .edx = entries[i].edx};
	int rc = ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (rc) {
		free(table);
		return shim_fail(vm, rc, "KVM_SET_CPUID2 of the CPU model");
	}
	memcpy(table, entries, n * sizeof(*table));
	free(vm->cpuid_table);
	vm->cpuid_table = table;
	vm->ncpuid = n;
	return 0;
}

size_t shim_supported_cpuid(const struct shim_vm *vm, struct shim_cpuid_entry *out, size_t cap)
{
	size_t n = vm->cpuid && vm->cpuid->nent < cap ? vm->cpuid->nent : vm->cpuid ? cap : 0;
	for (size_t i = 0; i < n; i++)
		out[i] = shim_entry_of(&vm->cpuid->entries[i]);
	return n;
}

int shim_vcpu_cpuid(struct shim_vm *vm, struct shim_cpuid_entry *out, size_t cap)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
	if (!c)
		return shim_fail(vm, -ENOMEM, "CPUID table");
	c->nent = (uint32_t)cap;
	/* Entries KVM did not write keep this function, whatever nent it reports back. */
	for (size_t i = 0; i < cap; i++)
		c->entries[i].function = UINT32_MAX;
	if (ioctl(vm->vcpu_fd, KVM_GET_CPUID2, c) < 0) {
		int err = -errno;
		free(c);
		return shim_fail(vm, err, "KVM_GET_CPUID2");
	}
	int n = 0;
	for (uint32_t i = 0; i < c->nent && i < cap && c->entries[i].function != UINT32_MAX; i++)
		out[n++] = shim_entry_of(&c->entries[i]);
	free(c);
	return n;
}

int shim_setup_mce(struct shim_vm *vm, uint64_t mcg_cap)
{
	if (ioctl(vm->vcpu_fd, KVM_X86_SETUP_MCE, &mcg_cap) < 0)
		return shim_fail(vm, -errno, "KVM_X86_SETUP_MCE with MCG_CAP 0x%llx",
		                 (unsigned long long)mcg_cap);
	return 0;
}

static int check_cap(struct shim_vm *vm, long cap, const char *name, int *value)
{
	int r = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap);

	if (r < 0)
		return shim_fail(vm, -errno, "KVM_CHECK_EXTENSION(%s)", name);
	if (r == 0)
		return shim_fail(vm, -ENODEV, "KVM_CHECK_EXTENSION(%s): not supported by this kernel", name);
	if (value)
		*value = r;
	return 0;
}

/* Fills the kvm_run sync area once, so shim_get_state(.., false) is valid before the first KVM_RUN. */
static int prime_sync_area(struct shim_vm *vm)
{
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &vm->run->s.regs.regs) < 0)
		return shim_fail(vm, -errno, "KVM_GET_REGS");
	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &vm->run->s.regs.sregs) < 0)
		return shim_fail(vm, -errno, "KVM_GET_SREGS");
	if (ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &vm->run->s.regs.events) < 0)
		return shim_fail(vm, -errno, "KVM_GET_VCPU_EVENTS");
	return 0;
}

/* The dirty ring makes a step that writes nothing cost no ioctl (KVM_GET_DIRTY_LOG costs one
 * per step). Must be enabled before the vCPU exists; without it the bitmap log is used. */
#define SHIM_DIRTY_RING_BYTES (64u * 1024u)

static int enable_dirty_ring(struct shim_vm *vm)
{
	int max = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	if (max < (int)SHIM_DIRTY_RING_BYTES || getenv("EMUDIFF_NO_DIRTY_RING"))
		return 0;
	struct kvm_enable_cap cap = {.cap = KVM_CAP_DIRTY_LOG_RING, .args = {SHIM_DIRTY_RING_BYTES}};
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return shim_fail(vm, -errno, "KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING, %u bytes)",
		                 SHIM_DIRTY_RING_BYTES);
	vm->dirty_ring_entries = SHIM_DIRTY_RING_BYTES / sizeof(struct kvm_dirty_gfn);
	vm->dirty_list = calloc(vm->ram_size / SHIM_PAGE, sizeof(uint64_t));
	if (!vm->dirty_list)
		return shim_fail(vm, -ENOMEM, "dirty page list");
	return 0;
}

/* Moves the ring's entries into dirty_bitmap/dirty_list and hands the entries back to KVM; the number
 * harvested or -errno. */
static int harvest_dirty_ring(struct shim_vm *vm)
{
	uint32_t harvested = 0;
	for (;;) {
		struct kvm_dirty_gfn *e = &vm->dirty_ring[vm->dirty_ring_next % vm->dirty_ring_entries];
		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		for (unsigned i = 0; i < vm->nram_segs; i++) {
			const struct shim_ram_seg *seg = &vm->ram_segs[i];
			if (seg->slot != (e->slot & 0xffff) || e->offset >= seg->len / SHIM_PAGE)
				continue;
			uint64_t page = (uint64_t)(seg->gpa + seg->alias) / SHIM_PAGE + e->offset;
			uint64_t bit = 1ull << (page % 64);
			if (!(vm->dirty_bitmap[page / 64] & bit)) {
				vm->dirty_bitmap[page / 64] |= bit;
				vm->dirty_list[vm->dirty_list_len++] = page;
			}
			break;
		}
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		vm->dirty_ring_next++;
		harvested++;
		/* A whole ring at once means KVM pushed past its end (measured on PVM, which emulates
		 * instructions in batches without checking the soft limit): pages were lost and the
		 * ring is out of step with KVM's reset index for good. */
		if (harvested >= vm->dirty_ring_entries)
			return shim_fail(vm, -EOVERFLOW,
			                 "dirty ring: more than %u pages written in one run; it overflowed",
			                 vm->dirty_ring_entries);
	}
	if (harvested && ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0)
		return shim_fail(vm, -errno, "KVM_RESET_DIRTY_RINGS");
	return (int)harvested;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#define SHIM_MSR_TSC_DEADLINE 0x6e0u

/* MSRs KVM refuses (#GP: the x2APIC MSRs without an in-kernel LAPIC) or filters (IA32_TSC_DEADLINE, whose
 * writes KVM drops without one) exit to user space. Optional: without the capabilities nothing changes. */
static int enable_msr_exits(struct shim_vm *vm)
{
	static uint64_t deny; /* bit clear: denied; KVM copies whole longs */
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
	                             .args = {KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_FILTER}};
	struct kvm_msr_filter filter = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};

	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
	    ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0)
		return 0;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return shim_fail(vm, -errno, "KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)");
	filter.ranges[0] = (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
	                                                 .nmsrs = 1,
	                                                 .base = SHIM_MSR_TSC_DEADLINE,
	                                                 .bitmap = (uint8_t *)&deny};
	if (ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0)
		return shim_fail(vm, -errno, "KVM_X86_SET_MSR_FILTER (IA32_TSC_DEADLINE)");
	vm->msr_exits = true;
	return 0;
}

bool shim_msr_exits_enabled(const struct shim_vm *vm)
{
	return vm->msr_exits;
}

int shim_set_guest_tsc(struct shim_vm *vm, uint64_t tsc)
{
	uint64_t offset = tsc - __rdtsc();
	struct kvm_device_attr a = {
	    .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET, .addr = (uint64_t)(uintptr_t)&offset};

	if (ioctl(vm->vcpu_fd, KVM_SET_DEVICE_ATTR, &a) < 0)
		return shim_fail(vm, errno == ENXIO || errno == ENOTTY ? -EOPNOTSUPP : -errno,
		                 "KVM_SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)");
	return 0;
}

static int open_vm(struct shim_vm *vm, const struct shim_config *cfg)
{
	struct kvm_enable_cap cap = {.cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE, .args = {1}};
	uint64_t ident = SHIM_IDENTITY_MAP_ADDR;
	int r, sync = 0;

	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION)
		return shim_fail(vm, -ENODEV, "KVM_GET_API_VERSION: %d, expected %d", r, KVM_API_VERSION);
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return shim_fail(vm, -errno, "KVM_CREATE_VM");
	if ((r = check_cap(vm, KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS", &sync)))
		return r;
	if ((sync & SHIM_SYNC_ALL) != SHIM_SYNC_ALL)
		return shim_fail(vm, -ENODEV, "KVM_CAP_SYNC_REGS: regs/sregs/events not all synced (%#x)",
		                 sync);
	if ((r = check_cap(vm, KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", NULL)))
		return r;
	if ((r = check_cap(vm, KVM_CAP_SET_GUEST_DEBUG, "KVM_CAP_SET_GUEST_DEBUG", NULL)))
		return r;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return shim_fail(vm, -errno, "KVM_ENABLE_CAP(KVM_CAP_EXIT_ON_EMULATION_FAILURE)");
	if ((r = enable_msr_exits(vm)))
		return r;
	/* Both belong to VMX real-mode support; they must precede KVM_CREATE_VCPU. */
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		return shim_fail(vm, -errno, "KVM_SET_IDENTITY_MAP_ADDR(%#llx)", (unsigned long long)ident);
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)SHIM_TSS_ADDR) < 0)
		return shim_fail(vm, -errno, "KVM_SET_TSS_ADDR(%#llx)", SHIM_TSS_ADDR);

	vm->ram_size = cfg->ram_bytes;
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		return shim_fail(vm, -errno, "mmap of %zu bytes of guest RAM", vm->ram_size);
	}
	vm->dirty_log = cfg->dirty_log;
	if (vm->dirty_log) {
		size_t words = (vm->ram_size / SHIM_PAGE + 63) / 64;

		vm->dirty_bitmap = calloc(words, sizeof(uint64_t));
		if (!vm->dirty_bitmap)
			return shim_fail(vm, -ENOMEM, "dirty bitmap");
	}
	if (vm->dirty_log && !cfg->no_dirty_ring && (r = enable_dirty_ring(vm)))
		return r;
	if ((r = set_slot(vm, 0, ram_flags(vm), 0, vm->ram_size, vm->ram)))
		return r;
	vm->ram_segs[0] = (struct shim_ram_seg){0, vm->ram_size, 0, 0};
	vm->nram_segs = 1;
	vm->next_slot = 1;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return shim_fail(vm, -errno, "KVM_CREATE_VCPU");
	r = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < (int)sizeof(struct kvm_run))
		return shim_fail(vm, r < 0 ? -errno : -ENODEV, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)r;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return shim_fail(vm, -errno, "mmap of the vCPU's kvm_run");
	}
	if (vm->dirty_ring_entries) {
		size_t bytes = (size_t)vm->dirty_ring_entries * sizeof(struct kvm_dirty_gfn);
		void *ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd,
		                  (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
		if (ring == MAP_FAILED)
			return shim_fail(vm, -errno, "mmap of the dirty ring (%zu bytes)", bytes);
		vm->dirty_ring = ring;
	}
	if ((r = setup_cpuid(vm)))
		return r;
	vm->run->kvm_valid_regs = SHIM_SYNC_ALL;
	return prime_sync_area(vm);
}

int shim_open(struct shim_vm **out, const struct shim_config *cfg)
{
	struct shim_vm *vm;
	int err;

	*out = NULL;
	shim_open_err[0] = 0;
	if (cfg->ram_bytes == 0 || cfg->ram_bytes % SHIM_PAGE || cfg->ram_bytes > SHIM_RAM_MAX) {
		snprintf(shim_open_err, sizeof(shim_open_err),
		         "guest RAM of %zu bytes: use a multiple of 4 KiB up to %llu MiB", cfg->ram_bytes,
		         SHIM_RAM_MAX >> 20);
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(shim_open_err, sizeof(shim_open_err), "out of memory");
		return -ENOMEM;
	}
	vm->vm_fd = vm->vcpu_fd = -1;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		err = -errno;
		if (err == -ENOENT || err == -ENXIO || err == -ENODEV)
			snprintf(
			    shim_open_err, sizeof(shim_open_err),
			    "/dev/kvm: %s: load the kvm module (kvm_intel, kvm_amd or kvm_pvm) or run on a "
			    "host with KVM",
			    strerror(-err));
		else if (err == -EACCES || err == -EPERM)
			snprintf(shim_open_err, sizeof(shim_open_err),
			         "/dev/kvm: %s: run as root or add your user to the group owning /dev/kvm "
			         "(usually 'kvm')",
			         strerror(-err));
		else
			snprintf(shim_open_err, sizeof(shim_open_err), "/dev/kvm: %s", strerror(-err));
		if (err == -ENXIO || err == -ENODEV)
			err = -ENOENT;
		if (err == -EPERM)
			err = -EACCES;
		free(vm);
		return err;
	}
	vm->flavour = shim_detect_flavour("/proc/cpuinfo", "/sys/module");
	vm->qemu_tcg = shim_host_is_qemu_tcg();
	err = open_vm(vm, cfg);
	if (err) {
		snprintf(shim_open_err, sizeof(shim_open_err), "/dev/kvm: %s", vm->err);
		shim_close(vm);
		return err;
	}
	*out = vm;
	return 0;
}

void shim_close(struct shim_vm *vm)
{
	if (!vm)
		return;
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	for (unsigned i = 0; i < vm->nroms; i++)
		munmap(vm->roms[i].mem, vm->roms[i].len);
	if (vm->dirty_ring)
		munmap(vm->dirty_ring, (size_t)vm->dirty_ring_entries * sizeof(struct kvm_dirty_gfn));
	free(vm->dirty_list);
	free(vm->dirty_bitmap);
	free(vm->cpuid);
	free(vm->cpuid_table);
	free(vm);
}

static int set_guest_debug(struct shim_vm *vm, uint32_t control)
{
	struct kvm_guest_debug dbg = {.control = control};

	/* The breakpoint waits while single-stepping: it would stop a step before its instruction runs. */
	if (vm->hw_bp_on && !(control & KVM_GUESTDBG_SINGLESTEP)) {
		dbg.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
		dbg.arch.debugreg[0] = vm->hw_bp;
		dbg.arch.debugreg[7] = 0x1; /* L0, execute, length 1 */
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
		return shim_fail(vm, -errno, "KVM_SET_GUEST_DEBUG(%#x)", dbg.control);
	vm->guestdbg = control;
	return 0;
}

static int rearm_singlestep(struct shim_vm *vm)
{
	struct kvm_guest_debug dbg = {.control = vm->guestdbg};

	if (ioctl(vm->vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0)
		return shim_fail(vm, -errno, "KVM_SET_GUEST_DEBUG(%#x) re-arming single-step", dbg.control);
	return 0;
}

bool shim_step_uses_guest_tf(const struct shim_vm *vm)
{
	return vm->flavour != SHIM_FLAVOUR_PVM;
}

int shim_set_breakpoint(struct shim_vm *vm, uint64_t linear, bool on)
{
	vm->hw_bp_on = on;
	vm->hw_bp = linear;
	return set_guest_debug(vm, vm->guestdbg);
}

int shim_set_singlestep(struct shim_vm *vm, bool on)
{
	/* BLOCKIRQ: no interrupt may slip in between two recorded steps. */
	return set_guest_debug(vm, on ? KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_BLOCKIRQ
	                              : 0);
}

static void decode_exit(struct shim_vm *vm, struct shim_exit *e)
{
	struct kvm_run *run = vm->run;

	memset(e, 0, sizeof(*e));
	e->kvm_reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		size_t total = (size_t)run->io.size * run->io.count;

		e->kind = SHIM_EXIT_IO;
		e->addr = run->io.port;
		e->size = run->io.size;
		e->count = run->io.count;
		e->is_write = run->io.direction == KVM_EXIT_IO_OUT;
		e->pio_data = (uint8_t *)run + run->io.data_offset;
		e->data_len = (uint32_t)total;
		if (!e->is_write) {
			/* Both places start as absent hardware; shim_complete_io tells which one the caller
			 * filled. */
			memset(e->pio_data, 0xff, total);
			memset(e->data, 0xff, sizeof(e->data));
		}
		memcpy(e->data, e->pio_data, total < sizeof(e->data) ? total : sizeof(e->data));
		vm->io_pending = true;
		break;
	}
	case KVM_EXIT_MMIO:
		e->kind = SHIM_EXIT_MMIO;
		e->addr = run->mmio.phys_addr;
		e->size = (uint8_t)(run->mmio.len <= 8 ? run->mmio.len : 8);
		e->data_len = e->size;
		e->is_write = run->mmio.is_write;
		if (e->is_write)
			memcpy(e->data, run->mmio.data, e->size);
		vm->io_pending = true;
		break;
	case KVM_EXIT_HLT:
		e->kind = SHIM_EXIT_HLT;
		break;
	case KVM_EXIT_DEBUG:
		e->kind = SHIM_EXIT_DEBUG;
		e->addr = run->debug.arch.pc;
		e->suberror = run->debug.arch.exception;
		memcpy(e->data, &run->debug.arch.dr6, 8);
		e->data_len = 8;
		break;
	case KVM_EXIT_SHUTDOWN:
		e->kind = SHIM_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->kind = SHIM_EXIT_INTERNAL_ERROR;
		e->suberror = run->internal.suberror;
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
		    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
		    run->emulation_failure.ndata >= 3) {
			uint8_t n = run->emulation_failure.insn_size;

			if (n > sizeof(run->emulation_failure.insn_bytes))
				n = sizeof(run->emulation_failure.insn_bytes);
			memcpy(e->data, run->emulation_failure.insn_bytes, n);
			e->size = n;
			e->data_len = n;
		} else {
			uint32_t nd = run->internal.ndata < 2 ? run->internal.ndata : 2;

			memcpy(e->data, run->internal.data, nd * 8);
			e->data_len = nd * 8;
		}
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		e->kind = SHIM_EXIT_MSR;
		e->addr = run->msr.index;
		e->is_write = run->exit_reason == KVM_EXIT_X86_WRMSR;
		e->size = e->data_len = 8;
		if (e->is_write)
			memcpy(e->data, &run->msr.data, 8);
		vm->io_pending = true;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->kind = SHIM_EXIT_FAIL_ENTRY;
		e->addr = run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTR:
		e->kind = SHIM_EXIT_INTR;
		break;
	default:
		e->kind = SHIM_EXIT_OTHER;
		break;
	}
}

static const char *dirty_what(uint64_t dirty)
{
	return dirty ? " (loading the state given to shim_set_state)" : "";
}

/* PVM runs 64-bit CPL3 code natively, and there KVM_GUESTDBG_SINGLESTEP's #DB is delivered into the
 * guest instead of exiting (measured: the guest triple-faults after one instruction). */
static bool pvm_native_user(const struct shim_vm *vm)
{
	const struct kvm_sregs *s = &vm->run->s.regs.sregs;

	return vm->flavour == SHIM_FLAVOUR_PVM && (s->efer & X86_EFER_LMA) && s->cs.l && s->cs.dpl == 3;
}

/* Under single-step, KVM's emulator reports HLT as the single-step trap that
 * follows it (no KVM_EXIT_HLT, and the vCPU does not halt): a trap right
 * after a one-byte F4 is reported as the HLT exit it is. */
static bool stepped_over_hlt(struct shim_vm *vm, uint64_t cs_base, uint64_t rip)
{
	const struct kvm_sregs *s = &vm->run->s.regs.sregs;
	struct x86_state st;
	uint64_t gpa;
	uint8_t op;

	if (vm->run->s.regs.regs.rip != rip + 1 || s->cs.base != cs_base)
		return false;
	memset(&st, 0, sizeof(st));
	st.cr0 = s->cr0;
	st.cr3 = s->cr3;
	st.cr4 = s->cr4;
	st.efer = s->efer;
	if (!x86_translate_ram(&st, vm->ram, vm->ram_size, cs_base + rip, &gpa))
		return false;
	/* RAM or firmware ROM. */
	return shim_read_phys(vm, gpa, &op, 1) == 0 && op == 0xf4;
}

int shim_run(struct shim_vm *vm, struct shim_exit *exit)
{
	struct kvm_run *run = vm->run;
	uint64_t dirty = run->kvm_dirty_regs;
	uint64_t cs_base = run->s.regs.sregs.cs.base, rip = run->s.regs.regs.rip;

	if ((vm->guestdbg & KVM_GUESTDBG_SINGLESTEP) && pvm_native_user(vm))
		return shim_fail(
		    vm, -EOPNOTSUPP,
		    "KVM_RUN: single-step of 64-bit CPL3 code (RIP %#llx) does not work on a PVM host: "
		    "the trap goes into the guest; record this code with --mode exits",
		    (unsigned long long)rip);
	if (vm->has_pending) {
		*exit = vm->pending;
		vm->has_pending = false;
		vm->io_pending =
		    exit->kind == SHIM_EXIT_IO || exit->kind == SHIM_EXIT_MMIO || exit->kind == SHIM_EXIT_MSR;
		return 0;
	}
	/* KVM re-adds the stepping TF only at the RIP where single-step was armed: an instruction KVM
	 * emulated (I/O, MMIO, CR access) writes RFLAGS without it and the guest would run free. */
	if ((vm->guestdbg & KVM_GUESTDBG_SINGLESTEP) && vm->flavour != SHIM_FLAVOUR_PVM) {
		int e = rearm_singlestep(vm);
		if (e)
			return e;
	}
	run->immediate_exit = 0;
	run->kvm_valid_regs = SHIM_SYNC_ALL;
	int rr;
	/* A full dirty ring is emptied here and the vCPU re-entered: callers never see it. */
	while ((rr = ioctl(vm->vcpu_fd, KVM_RUN, 0)) == 0 && run->exit_reason == KVM_EXIT_DIRTY_RING_FULL) {
		int e = harvest_dirty_ring(vm);
		if (e < 0)
			return e;
		/* Full with nothing to harvest: KVM would report it again forever. */
		if (e == 0)
			return shim_fail(vm, -EOVERFLOW,
			                 "KVM_RUN: the dirty ring is full but holds no entry to harvest");
	}
	if (rr < 0) {
		int err = -errno;

		if (err == -EINTR || err == -EAGAIN) {
			memset(exit, 0, sizeof(*exit));
			exit->kind = SHIM_EXIT_INTR;
			exit->kvm_reason = KVM_EXIT_INTR;
			vm->io_pending = false;
			return 0;
		}
		return shim_fail(vm, err, "KVM_RUN%s", dirty_what(dirty));
	}
	vm->io_pending = false;
	decode_exit(vm, exit);
	if (exit->kind == SHIM_EXIT_DEBUG && exit->suberror == 1 &&
	    (vm->guestdbg & KVM_GUESTDBG_SINGLESTEP) && stepped_over_hlt(vm, cs_base, rip))
		exit->kind = SHIM_EXIT_HLT;
	return 0;
}

int shim_complete_io(struct shim_vm *vm, const struct shim_exit *exit)
{
	struct kvm_run *run = vm->run;
	uint64_t dirty = run->kvm_dirty_regs;
	int r;

	if (!vm->io_pending)
		return shim_fail(vm, -EINVAL,
		                 "shim_complete_io: the last exit was not an IO, MMIO or MSR exit");
	if (exit->kind == SHIM_EXIT_IO && !exit->is_write && run->exit_reason == KVM_EXIT_IO) {
		size_t total = (size_t)run->io.size * run->io.count;
		static const uint8_t ones[sizeof(exit->data)] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		                                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		                                                 0xff, 0xff, 0xff, 0xff};

		/* data[] changed from all ones: the caller answered there, not in pio_data. */
		if (total <= sizeof(exit->data) && memcmp(exit->data, ones, total) != 0)
			memcpy((uint8_t *)run + run->io.data_offset, exit->data, total);
	} else if (exit->kind == SHIM_EXIT_MMIO && !exit->is_write && run->exit_reason == KVM_EXIT_MMIO) {
		memcpy(run->mmio.data, exit->data, run->mmio.len <= 8 ? run->mmio.len : 8);
	} else if (exit->kind == SHIM_EXIT_MSR &&
	           (run->exit_reason == KVM_EXIT_X86_RDMSR || run->exit_reason == KVM_EXIT_X86_WRMSR)) {
		run->msr.error = exit->msr_gp;
		if (!exit->is_write)
			memcpy(&run->msr.data, exit->data, 8);
	}
	vm->io_pending = false;
	run->immediate_exit = 1;
	run->kvm_valid_regs = SHIM_SYNC_ALL;
	r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	run->immediate_exit = 0;
	if (r < 0)
		return errno == EINTR ? 0
		                      : shim_fail(vm, -errno, "KVM_RUN (completing IO)%s", dirty_what(dirty));
	/* A single-step trap raised by completing the instruction is consumed here:
	 * the instruction is done, and the next shim_run runs the next one. */
	if (run->exit_reason == KVM_EXIT_DEBUG || run->exit_reason == KVM_EXIT_INTR)
		return 0;
	/* The same instruction needs another exit (the write half of a read-modify-write to MMIO, the
	 * next chunk of a string I/O): the next shim_run returns it. */
	decode_exit(vm, &vm->pending);
	vm->has_pending = true;
	vm->io_pending = false;
	return 0;
}

bool shim_exit_pending(const struct shim_vm *vm)
{
	return vm->has_pending;
}

int shim_set_run_sigmask(struct shim_vm *vm, const sigset_t *mask)
{
	/* The kernel's sigset is 8 bytes on x86-64: the first 8 bytes of glibc's. */
	union {
		struct kvm_signal_mask m;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} km;

	km.m.len = 8;
	memcpy(km.bytes + sizeof(struct kvm_signal_mask), mask, 8);
	if (ioctl(vm->vcpu_fd, KVM_SET_SIGNAL_MASK, &km) < 0)
		return shim_fail(vm, -errno, "KVM_SET_SIGNAL_MASK");
	return 0;
}

int shim_inject_interrupt(struct shim_vm *vm, uint8_t vector)
{
	struct kvm_interrupt irq = {.irq = vector};

	if (ioctl(vm->vcpu_fd, KVM_INTERRUPT, &irq) < 0)
		return shim_fail(vm, -errno, "KVM_INTERRUPT(%#x)", vector);
	return 0;
}

int shim_inject_nmi(struct shim_vm *vm)
{
	struct kvm_vcpu_events *e = &vm->run->s.regs.events;

	if (e->nmi.masked || e->nmi.injected || e->exception.injected || e->exception.pending)
		return shim_fail(vm, -EBUSY, "injecting an NMI while the vCPU cannot take one");
	e->nmi.injected = 1;
	vm->run->kvm_dirty_regs |= KVM_SYNC_X86_EVENTS;
	return 0;
}

void shim_request_irq_window(struct shim_vm *vm, bool on)
{
	vm->run->request_interrupt_window = on;
}

bool shim_can_inject(const struct shim_vm *vm)
{
	return vm->run->ready_for_interrupt_injection && vm->run->if_flag;
}

int shim_step_raw(struct shim_vm *vm, uint64_t n, uint64_t *done)
{
	struct kvm_run *run = vm->run;
	uint32_t saved = vm->guestdbg;
	uint64_t i = 0;
	int err = 0;

	*done = 0;
	if (pvm_native_user(vm))
		return shim_fail(vm, -EOPNOTSUPP,
		                 "single-step of 64-bit CPL3 code does not work on a PVM host");
	if ((err = shim_set_singlestep(vm, true)))
		return err;
	run->kvm_valid_regs = 0;
	while (i < n) {
		run->immediate_exit = 0;
		if (vm->flavour != SHIM_FLAVOUR_PVM && (err = rearm_singlestep(vm)))
			break;
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			err = shim_fail(vm, -errno, "KVM_RUN");
			break;
		}
		if (run->exit_reason == KVM_EXIT_DEBUG) {
			i++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_IO) {
			if (run->io.direction == KVM_EXIT_IO_IN)
				memset((uint8_t *)run + run->io.data_offset, 0xff,
				       (size_t)run->io.size * run->io.count);
		} else if (run->exit_reason == KVM_EXIT_MMIO) {
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		} else {
			break;
		}
		/* Complete the access; its step ends with the single-step trap or right here. */
		run->immediate_exit = 1;
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0 && errno != EINTR) {
			err = shim_fail(vm, -errno, "KVM_RUN (completing IO)");
			break;
		}
		i++;
	}
	run->immediate_exit = 0;
	*done = i;
	/* Refresh the sync area: the steps above ran without it. */
	run->kvm_valid_regs = SHIM_SYNC_ALL;
	{
		int e2 = prime_sync_area(vm);

		if (!err)
			err = e2;
	}
	if (saved != vm->guestdbg) {
		int e3 = set_guest_debug(vm, saved);

		if (!err)
			err = e3;
	}
	return err;
}

static int dirty_pages_from_ring(struct shim_vm *vm, void (*fn)(void *arg, uint64_t gpa), void *arg)
{
	int r = harvest_dirty_ring(vm);
	if (r < 0)
		return r;
	qsort(vm->dirty_list, vm->dirty_list_len, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < vm->dirty_list_len; i++) {
		uint64_t page = vm->dirty_list[i];
		vm->dirty_bitmap[page / 64] &= ~(1ull << (page % 64));
		if (fn)
			fn(arg, page * SHIM_PAGE);
	}
	vm->dirty_list_len = 0;
	return 0;
}

int shim_dirty_pages(struct shim_vm *vm, void (*fn)(void *arg, uint64_t gpa), void *arg)
{
	if (!vm->dirty_log)
		return shim_fail(vm, -EINVAL, "dirty log: the VM was opened without dirty_log");
	if (vm->dirty_ring)
		return dirty_pages_from_ring(vm, fn, arg);
	/* Segments are in address order, so the pages come out in address order. */
	for (unsigned i = 0; i < vm->nram_segs; i++) {
		const struct shim_ram_seg *seg = &vm->ram_segs[i];
		struct kvm_dirty_log log = {.slot = seg->slot, .dirty_bitmap = vm->dirty_bitmap};
		size_t pages = seg->len / SHIM_PAGE;

		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return shim_fail(vm, -errno, "KVM_GET_DIRTY_LOG (slot %u)", seg->slot);
		for (size_t w = 0; w < (pages + 63) / 64; w++) {
			uint64_t bits = vm->dirty_bitmap[w];

			while (bits) {
				unsigned b = (unsigned)__builtin_ctzll(bits);

				bits &= bits - 1;
				if (fn && w * 64 + b < pages)
					fn(arg, seg->gpa + seg->alias + (uint64_t)(w * 64 + b) * SHIM_PAGE);
			}
		}
	}
	return 0;
}
