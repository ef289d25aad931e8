/* vmx-shim: everything that touches /dev/kvm. One VM, one vCPU, guest RAM at
 * GPA 0, optional read-only ROM slots, state get/set as struct x86_state,
 * single-step through KVM_GUESTDBG_SINGLESTEP with state kept in kvm_run by
 * KVM_CAP_SYNC_REGS, and the dirty log. Functions return 0 or -errno; on
 * failure shim_error() names the ioctl that failed. */
#ifndef EMUDIFF_SHIM_H
#define EMUDIFF_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../schema/x86_state.h"

struct shim_vm;

/* What a recording's reference really is. */
enum shim_flavour { SHIM_FLAVOUR_VMX, SHIM_FLAVOUR_SVM, SHIM_FLAVOUR_PVM, SHIM_FLAVOUR_UNKNOWN };
const char *shim_flavour_name(enum shim_flavour f);
/* "silicon" on VMX/SVM; "kvm-emulator" where KVM's in-kernel emulator runs
 * real mode and CPL0 code (PVM). */
const char *shim_reference_name(enum shim_flavour f);

struct shim_config {
	size_t ram_bytes;	    /* guest RAM at GPA 0, a multiple of 4 KiB */
	bool dirty_log;		    /* track writes to RAM */
};

/* -ENOENT/-EACCES/-ENODEV: /dev/kvm missing or unusable (exit status 3). */
int shim_open(struct shim_vm **out, const struct shim_config *cfg);
void shim_close(struct shim_vm *vm);
const char *shim_error(const struct shim_vm *vm);
/* A one-line message for an error before a VM exists (names /dev/kvm). */
const char *shim_last_open_error(void);

enum shim_flavour shim_flavour(const struct shim_vm *vm);

uint8_t *shim_ram(struct shim_vm *vm);
size_t shim_ram_size(const struct shim_vm *vm);
/* A read-only slot holding a copy of data (firmware). */
int shim_map_rom(struct shim_vm *vm, uint64_t gpa, const void *data, size_t len);

/* Full state. shim_get_state reads regs, sregs and events from the synced
 * kvm_run area and, when `full`, also FPU, debug registers, XCR0 and MSRs
 * (several ioctls). shim_get_state(.., false) fills only the synced parts and
 * leaves the rest of *st untouched. */
int shim_get_state(struct shim_vm *vm, struct x86_state *st, bool full);
int shim_set_state(struct shim_vm *vm, const struct x86_state *st);

/* The CPUID table given to the guest (from KVM_GET_SUPPORTED_CPUID). */
struct shim_cpuid_entry {
	uint32_t function, index, flags, eax, ebx, ecx, edx;
};
int shim_cpuid_table(const struct shim_vm *vm, const struct shim_cpuid_entry **entries, size_t *n);

int shim_set_singlestep(struct shim_vm *vm, bool on);

/* One exit of KVM_RUN, decoded. */
enum shim_exit_kind {
	SHIM_EXIT_IO,
	SHIM_EXIT_MMIO,
	SHIM_EXIT_HLT,
	SHIM_EXIT_DEBUG,	  /* single-step or breakpoint */
	SHIM_EXIT_SHUTDOWN,	  /* triple fault */
	SHIM_EXIT_INTERNAL_ERROR, /* emulation failure: insn bytes in data */
	SHIM_EXIT_FAIL_ENTRY,
	SHIM_EXIT_INTR,		  /* interrupted by a signal or immediate_exit */
	SHIM_EXIT_OTHER,
};

struct shim_exit {
	enum shim_exit_kind kind;
	uint32_t kvm_reason;
	uint32_t suberror;
	uint64_t addr; /* port or gpa */
	uint8_t size;
	bool is_write;
	uint32_t count; /* PIO repetitions */
	uint8_t data[16]; /* written value (out) / read value to fill (in) */
	uint32_t data_len;
};

/* Runs the vCPU until the next exit. I/O and MMIO exits are not answered
 * here: the caller fills exit->data for reads and calls shim_complete_io(). */
int shim_run(struct shim_vm *vm, struct shim_exit *exit);
/* Hands the read data of the last IN/MMIO exit back to KVM and completes the
 * instruction without running further (KVM_CAP_IMMEDIATE_EXIT). */
int shim_complete_io(struct shim_vm *vm, const struct shim_exit *exit);

/* Dirty log: calls fn for every 4 KiB page of RAM written since the last
 * call, in address order, and clears the log. */
int shim_dirty_pages(struct shim_vm *vm, void (*fn)(void *arg, uint64_t gpa), void *arg);

/* Linear to physical translation with the current paging mode (no A/D
 * updates); -EFAULT when not mapped. */
int shim_translate(const struct x86_state *st, const uint8_t *ram, size_t ram_size, uint64_t linear,
		   uint64_t *gpa);

#endif
