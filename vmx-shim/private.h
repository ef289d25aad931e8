/* vmx-shim internals shared by kvm.c, state.c and loader.c; nobody else includes this. */
#ifndef EMUDIFF_SHIM_PRIVATE_H
#define EMUDIFF_SHIM_PRIVATE_H

#include <linux/kvm.h>
#include <stdarg.h>

#include "shim.h"

#define SHIM_MAX_ROMS 8

struct shim_rom {
	uint64_t gpa;
	size_t len; /* page-rounded */
	void *mem;
	uint32_t slot;
};

/* A stretch of guest RAM with its own KVM slot: RAM is split where a ROM covers part of it. */
struct shim_ram_seg {
	uint64_t gpa, len;
	uint32_t slot;
	int64_t alias; /* backing RAM is at gpa + alias (0; -1 MiB for the HMA while A20 is off) */
};

#define SHIM_MAX_RAM_SEGS (SHIM_MAX_ROMS + 1)

struct shim_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	size_t ram_size;
	bool dirty_log;
	uint64_t *dirty_bitmap; /* KVM_GET_DIRTY_LOG buffer; with the ring: pages harvested, by gpa */
	struct kvm_dirty_gfn *dirty_ring; /* per-vCPU ring (KVM_CAP_DIRTY_LOG_RING), NULL without it */
	uint32_t dirty_ring_entries;
	uint32_t dirty_ring_next; /* next entry to harvest */
	uint64_t *dirty_list;     /* page numbers set in dirty_bitmap, unsorted */
	size_t dirty_list_len;
	struct shim_rom roms[SHIM_MAX_ROMS];
	unsigned nroms;
	struct shim_ram_seg ram_segs[SHIM_MAX_RAM_SEGS]; /* sorted by gpa */
	unsigned nram_segs;
	uint32_t next_slot;
	struct kvm_cpuid2 *cpuid;
	struct shim_cpuid_entry *cpuid_table;
	size_t ncpuid;
	enum shim_flavour flavour;
	bool qemu_tcg;     /* the CPU KVM runs on is QEMU's TCG (shim_host_is_qemu_tcg) */
	uint32_t guestdbg; /* control bits last given to KVM_SET_GUEST_DEBUG */
	bool hw_bp_on;     /* shim_set_breakpoint: DR0 execute breakpoint, armed while not stepping */
	uint64_t hw_bp;
	bool msr_exits;   /* KVM_CAP_X86_USER_SPACE_MSR and the MSR filter are on */
	bool io_pending;  /* last exit was IO/MMIO/MSR and is not completed yet */
	bool has_pending; /* completing an access produced this exit: shim_run returns it */
	struct shim_exit pending;
	char err[256];
};

/* Records "what: strerror(-err)" in vm->err and returns err (a -errno). */
int shim_fail(struct shim_vm *vm, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Flavour from a cpuinfo file and a /sys/module directory (parameters for tests). */
enum shim_flavour shim_detect_flavour(const char *cpuinfo_path, const char *sysmodule_dir);

#endif
