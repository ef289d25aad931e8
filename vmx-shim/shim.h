/* vmx-shim: everything that touches /dev/kvm. One VM, one vCPU, guest RAM at
 * GPA 0, optional read-only ROM slots, state get/set as struct x86_state,
 * single-step through KVM_GUESTDBG_SINGLESTEP with state kept in kvm_run by
 * KVM_CAP_SYNC_REGS, and the dirty log. Functions return 0 or -errno; on
 * failure shim_error() names the ioctl that failed. */
#ifndef EMUDIFF_SHIM_H
#define EMUDIFF_SHIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../machine/boot.h"
#include "../x86/x86_state.h"

struct shim_vm;

/* What a recording's reference really is. */
enum shim_flavour { SHIM_FLAVOUR_VMX, SHIM_FLAVOUR_SVM, SHIM_FLAVOUR_PVM, SHIM_FLAVOUR_UNKNOWN };
const char *shim_flavour_name(enum shim_flavour f);
/* "silicon" on VMX/SVM; "kvm-emulator" where KVM's in-kernel emulator runs
 * real mode and CPL0 code (PVM). */
const char *shim_reference_name(enum shim_flavour f);
/* What this VM's recordings are: shim_reference_name, except "qemu-tcg" where the VT-x/SVM KVM runs on is
 * QEMU's software CPU (a nested VM without hardware virtualization), which is not silicon. */
const char *shim_reference(const struct shim_vm *vm);
bool shim_host_is_qemu_tcg(void);

/* RAM ends below the MMIO holes (devices.h test region, 4 GiB - 128 KiB firmware). */
#define SHIM_RAM_MAX (3ull << 30)

struct shim_config {
	size_t ram_bytes; /* guest RAM at GPA 0, a multiple of 4 KiB, at most SHIM_RAM_MAX */
	bool dirty_log;   /* track writes to RAM */
	/* Use the KVM_GET_DIRTY_LOG bitmap even where KVM has the dirty ring: a
	 * native run (exits mode) can write more pages than the ring holds. */
	bool no_dirty_ring;
};

/* -ENOENT/-EACCES/-ENODEV: /dev/kvm missing or unusable (exit status 3);
 * -EINVAL: a bad RAM size. shim_last_open_error() says which. */
int shim_open(struct shim_vm **out, const struct shim_config *cfg);
void shim_close(struct shim_vm *vm);
const char *shim_error(const struct shim_vm *vm);
/* A one-line message for an error before a VM exists (names /dev/kvm). */
const char *shim_last_open_error(void);

enum shim_flavour shim_flavour(const struct shim_vm *vm);

uint8_t *shim_ram(struct shim_vm *vm);
size_t shim_ram_size(const struct shim_vm *vm);
/* A read-only slot holding a copy of data (firmware); len is rounded up to
 * 4 KiB (zero fill). Guest writes to it come back as MMIO write exits. A ROM
 * inside RAM (a BIOS alias at 0xE0000) replaces that RAM for the guest: the
 * bytes of shim_ram() under it are then unused. -EEXIST when it overlaps
 * another ROM or straddles the end of RAM. */
int shim_map_rom(struct shim_vm *vm, uint64_t gpa, const void *data, size_t len);
/* The A20 gate. Off: guest-physical 0x100000-0x10FFFF (what real mode reaches
 * past 1 MiB, FFFF:0010 on) is the RAM at 0-0xFFFF again, as on a PC; other
 * odd megabytes are not masked (only protected mode reaches them). The dirty
 * log reports writes there at the RAM address they changed. Changing it drops
 * that range's unharvested dirty pages: call it after shim_dirty_pages. */
int shim_set_a20(struct shim_vm *vm, bool on);
/* Reads guest-physical memory as the guest sees it (ROM where a ROM is, else
 * RAM); -EFAULT when any byte is unbacked (MMIO, holes). */
int shim_read_phys(const struct shim_vm *vm, uint64_t gpa, void *buf, size_t len);

/* Full state. shim_get_state reads regs, sregs and events from the synced
 * kvm_run area and, when `full`, also the x87/SSE state (KVM_GET_XSAVE:
 * KVM_GET_FPU leaves MXCSR out), debug registers, XCR0, MSRs and the MP
 * state (five ioctls). shim_get_state(.., false) fills only the synced parts and
 * leaves the rest of *st untouched.
 * TSC: the TSC advances with wall time, so it is not deterministic and not
 * part of a recording: shim_get_state(.., true) stores msr[X86_MSR_TSC] = 0
 * and shim_set_state never writes the TSC.
 * halted: KVM without an in-kernel irqchip (this shim) never enters the
 * halted MP state: HLT is a SHIM_EXIT_HLT exit and events.halted reads 0;
 * shim_set_state ignores events.halted. XCR0 = 0 is left unwritten (an
 * invalid value; the CPU's reset value is 1).
 * shim_set_state writes FPU, debug registers, XCR0 and MSRs with ioctls,
 * and regs, sregs and events through the kvm_run area (kvm_dirty_regs),
 * which it has KVM load at once with an immediate-exit KVM_RUN that runs no
 * guest code; between an IO/MMIO exit and shim_complete_io they are loaded
 * by the next KVM_RUN instead. */
int shim_get_state(struct shim_vm *vm, struct x86_state *st, bool full);
int shim_set_state(struct shim_vm *vm, const struct x86_state *st);

/* The CPUID table given to the guest (from KVM_GET_SUPPORTED_CPUID). */
struct shim_cpuid_entry {
	uint32_t function, index, flags, eax, ebx, ecx, edx;
};
int shim_cpuid_table(const struct shim_vm *vm, const struct shim_cpuid_entry **entries, size_t *n);
/* Gives the vCPU this table (KVM_SET_CPUID2) in place of KVM's supported one; before the first shim_run. */
int shim_set_cpuid(struct shim_vm *vm, const struct shim_cpuid_entry *entries, size_t n);
/* Up to cap entries of KVM_GET_SUPPORTED_CPUID's table (as read at shim_open) into out; the count copied. */
size_t shim_supported_cpuid(const struct shim_vm *vm, struct shim_cpuid_entry *out, size_t cap);
/* Up to cap entries of the vCPU's table as KVM keeps it (KVM_GET_CPUID2) into out; the count, or -errno. */
int shim_vcpu_cpuid(struct shim_vm *vm, struct shim_cpuid_entry *out, size_t cap);
/* KVM's machine-check MSRs (MCG_CAP, MCG_STATUS, MCG_CTL, the banks) with this MCG_CAP (KVM_X86_SETUP_MCE).
 */
int shim_setup_mce(struct shim_vm *vm, uint64_t mcg_cap);

/* Single-step: every KVM_RUN runs one instruction and ends in SHIM_EXIT_DEBUG
 * (or the instruction's own exit), with interrupts blocked (BLOCKIRQ).
 * On a PVM host it works in real mode, 16/32-bit protected mode, 64-bit CPL0
 * and compatibility-mode CPL3, but not for 64-bit CPL3 code, which PVM runs
 * natively: the #DB is delivered into the guest (measured: triple fault after
 * one instruction), so shim_run refuses to step such code with -EOPNOTSUPP. */
int shim_set_singlestep(struct shim_vm *vm, bool on);

/* On VT-x/SVM (not PVM) KVM single-steps with the guest's own RFLAGS.TF: every FLAGS image the guest stores
 * while stepping carries it, and delivering an interrupt or exception clears it, so the handler runs
 * unstepped to its IRET (measured under QEMU TCG's SVM; DR7 and INT3 breakpoints at the handler do not stop
 * it there). */
bool shim_step_uses_guest_tf(const struct shim_vm *vm);
/* After a single-step from pre to post on VT-x/SVM: takes the stepping TF back out of the FLAGS image the
 * step stored in guest RAM (PUSHF, or an interrupt or exception frame on the same stack), recognised as pre's
 * FLAGS with TF set where shadow (the caller's copy of guest RAM before the step, indexed like shim_ram)
 * differs. Returns 1 when that image was an event's frame (its handler then ran unstepped: the step was more
 * than one instruction), else 0. Does nothing on PVM. */
int shim_step_unset_tf(struct shim_vm *vm, const uint8_t *shadow, const struct x86_state *pre,
                       const struct x86_state *post);

/* An instruction breakpoint (KVM_GUESTDBG_USE_HW_BP, DR0) at a linear
 * address, armed only while single-step is off: running code that reaches it
 * stops before the instruction with SHIM_EXIT_DEBUG (suberror 1, DR6.B0).
 * Measured on a PVM host in real mode. The caller disarms it to go on. */
int shim_set_breakpoint(struct shim_vm *vm, uint64_t linear, bool on);

/* One exit of KVM_RUN, decoded. */
enum shim_exit_kind {
	SHIM_EXIT_IO,
	SHIM_EXIT_MMIO,
	SHIM_EXIT_HLT,
	SHIM_EXIT_DEBUG,          /* single-step or breakpoint */
	SHIM_EXIT_SHUTDOWN,       /* triple fault */
	SHIM_EXIT_INTERNAL_ERROR, /* emulation failure: insn bytes in data */
	SHIM_EXIT_FAIL_ENTRY,
	SHIM_EXIT_INTR, /* interrupted by a signal or immediate_exit */
	SHIM_EXIT_OTHER,
	SHIM_EXIT_MSR, /* RDMSR/WRMSR of an MSR user space answers (shim_msr_exits_enabled) */
};

struct shim_exit {
	enum shim_exit_kind kind;
	uint32_t kvm_reason;
	uint32_t suberror;
	uint64_t addr; /* port or gpa */
	uint8_t size;
	bool is_write;
	uint32_t count;   /* PIO repetitions */
	uint8_t data[16]; /* written value (out) / read value to fill (in) */
	uint32_t data_len;
	/* IO only: KVM's buffer of count*size bytes inside kvm_run, valid until
	 * the next shim_run. OUT: the written bytes. IN: the caller answers in
	 * data[] or here (here only, when count*size > 16); both start as all
	 * ones (absent hardware), and data[] wins when it was changed. */
	uint8_t *pio_data;
	bool msr_gp; /* MSR: the caller's answer is #GP */
};
/* Field use per kind:
 *   IO:    addr = port, size = 1/2/4, count, is_write = OUT, data = the
 *          first min(count*size, 16) bytes, data_len = count*size.
 *   MMIO:  addr = gpa, size = data_len = 1..8, is_write, data.
 *   DEBUG: addr = the linear RIP KVM reports (debug.arch.pc), suberror =
 *          the exception vector (1 single-step, 3 breakpoint), data[0..7] = DR6.
 *   INTERNAL_ERROR: suberror (1 = KVM_INTERNAL_ERROR_EMULATION). For an
 *          emulation failure with instruction bytes: data = the bytes,
 *          data_len = size = their number (up to 15). Otherwise data = the
 *          first internal.data words, data_len = 8 * min(ndata, 2).
 *   FAIL_ENTRY: addr = hardware_entry_failure_reason.
 *   MSR:   addr = the MSR, is_write = WRMSR, data[0..7] = the value written, or (RDMSR) the answer the
 *          caller fills in; msr_gp set by the caller makes the instruction raise #GP instead.
 *   OTHER: kvm_reason says which. */

/* Runs the vCPU until the next exit. I/O and MMIO exits are not answered
 * here: the caller fills exit->data for reads and calls shim_complete_io().
 * Under single-step a HLT comes back as SHIM_EXIT_HLT (kvm_reason
 * KVM_EXIT_DEBUG, RIP after the HLT): KVM's emulator reports it only as the
 * single-step trap and does not halt the vCPU.
 *
 * Where an exit leaves the instruction, measured on a PVM host (kvm_pvm) in
 * real mode, 32-bit protected mode, 64-bit CPL0 (all run by KVM's emulator)
 * and 64-bit CPL3 (run natively), with and without single-step, through the
 * synced kvm_run state:
 *   OUT (imm8 and DX forms), MMIO write: the exit comes AFTER the
 *     instruction: RIP is past it, every register holds its result; the
 *     written data is in the exit. shim_complete_io changes no register.
 *     Under single-step no separate single-step trap follows: the IO/MMIO
 *     exit is that instruction's step.
 *   IN (imm8 and DX forms), MMIO read: the exit comes BEFORE the instruction
 *     completes: RIP points at it and the destination is unchanged (the
 *     instruction's pre-state). After shim_complete_io the state is the
 *     post-state (RIP past it, destination loaded with exit->data).
 *   REP OUTS: one exit per iteration (count 1); at each exit that iteration
 *     is done (RCX decremented, RSI moved) and RIP stays at the instruction.
 *   REP INS: one exit for all iterations (count = RCX, data in pio_data),
 *     pre-state at the exit; after shim_complete_io RCX = 0, RDI moved, RIP
 *     still at the instruction.
 *   For both, RIP moves past the instruction only at the next KVM_RUN: under
 *   single-step that is one more SHIM_EXIT_DEBUG step that changes only RIP.
 * So the exit state is the pre-state for reads only. Not measured on VT-x:
 * there KVM's fast PIO path (from its source) exits with RIP still at an OUT,
 * so a recorder should not rely on the exit state of a write either, and
 * take the state after shim_complete_io as the instruction's post-state. */
int shim_run(struct shim_vm *vm, struct shim_exit *exit);
/* Hands the read data of the last IN/MMIO exit back to KVM and completes the
 * instruction without running further (KVM_CAP_IMMEDIATE_EXIT); 0 or -errno.
 * Normally the instruction is then complete (a single-step trap it raised is
 * consumed: the next shim_run runs the next instruction). Some instructions
 * need a second exit (the write half of a read-modify-write on MMIO such as
 * `add [mmio], al`): then shim_exit_pending() is true, the state is still
 * mid-instruction, and the next shim_run returns that exit without running
 * the vCPU. */
int shim_complete_io(struct shim_vm *vm, const struct shim_exit *exit);
bool shim_exit_pending(const struct shim_vm *vm);
/* Without an in-kernel LAPIC, KVM raises #GP for the x2APIC MSRs 0x800-0x8ff and drops writes to
 * IA32_TSC_DEADLINE: with KVM_CAP_X86_USER_SPACE_MSR and an MSR filter denying 0x6e0, those come back as
 * SHIM_EXIT_MSR (as does any other MSR KVM would refuse), answered like a read and completed by
 * shim_complete_io. False where the kernel lacks either capability (the MSRs then behave as before). */
bool shim_msr_exits_enabled(const struct shim_vm *vm);
/* Sets the guest's time-stamp counter to tsc now (KVM_VCPU_TSC_OFFSET against this host's RDTSC; a
 * host-initiated write of IA32_TSC within a second of the expected value only resynchronises); it then runs
 * with host time. -EOPNOTSUPP where KVM lacks the attribute. */
int shim_set_guest_tsc(struct shim_vm *vm, uint64_t tsc);

/* Raw single-step rate for bench/: single-steps up to n instructions with no
 * state read (kvm_run sync area off), answers IN/MMIO reads with all ones
 * and drops writes; stops early at any other exit (HLT, shutdown, emulation
 * failure) with *done counting the instructions stepped. Restores the sync
 * area and single-step setting before returning. */
int shim_step_raw(struct shim_vm *vm, uint64_t n, uint64_t *done);

/* The signal mask while the vCPU runs (KVM_SET_SIGNAL_MASK): a caller that
 * blocks its stop signals outside KVM_RUN and unblocks them here gets them
 * only inside KVM_RUN, as SHIM_EXIT_INTR, with no window where one is taken
 * just before KVM_RUN and the guest then runs on. */
int shim_set_run_sigmask(struct shim_vm *vm, const sigset_t *mask);

/* Injects an external interrupt (KVM_INTERRUPT) to be taken at the next
 * KVM_RUN; the caller first checks shim_can_inject (RFLAGS.IF set, no STI/MOV
 * SS shadow: KVM's ready_for_interrupt_injection). Measured under single-step
 * (BLOCKIRQ does not hold back an injected interrupt): the next step is the
 * delivery plus the handler's first instruction, as a VM entry with event
 * injection followed by a single-step trap. struct x86_state has no field
 * for a queued interrupt: a later shim_set_state drops it, so inject after
 * setting the state. */
int shim_inject_interrupt(struct shim_vm *vm, uint8_t vector);
bool shim_can_inject(const struct shim_vm *vm);
/* Delivers an NMI at the next KVM_RUN, as an injected event (kvm_vcpu_events.nmi.injected through the
 * kvm_run area): unlike KVM_NMI's pending NMI, single-step's BLOCKIRQ does not hold it back. The caller first
 * checks that the guest can take one (NMIs not blocked, no MOV SS shadow, no exception pending). */
int shim_inject_nmi(struct shim_vm *vm);
/* While on, KVM_RUN returns as soon as the guest can take an interrupt:
 * SHIM_EXIT_OTHER with kvm_reason KVM_EXIT_IRQ_WINDOW_OPEN (7). */
void shim_request_irq_window(struct shim_vm *vm, bool on);

/* Loads a flat binary image file at gpa in RAM; *len (may be NULL) gets its
 * size. Errors name the file: -ENOENT/-EACCES (cannot open), -EFBIG (does not
 * fit in RAM at gpa), -EINVAL (empty). */
int shim_load_flat(struct shim_vm *vm, const char *path, uint64_t gpa, size_t *len);
/* Copies a buffer into RAM at gpa; -EFBIG when it does not fit. */
int shim_load_bytes(struct shim_vm *vm, const void *data, size_t len, uint64_t gpa);
/* Flat 32-bit protected mode at CPL0 (paging off): writes a GDT at gdt_gpa
 * in RAM (0x08 code, 0x10 data, both base 0 limit 4 GiB) and sets st to use it
 * with EIP = eip, ESP = esp; -EFBIG when the GDT does not fit in RAM. */
int shim_state_flat32(struct shim_vm *vm, struct x86_state *st, uint64_t gdt_gpa, uint32_t eip, uint32_t esp);

/* 64-bit mode at CPL0: identity-maps the first 4 GiB with 2 MiB pages in six
 * tables at tables_gpa (PML4, PDPT, 4 PDs) and puts a GDT in the seventh page
 * (0x08 64-bit code, 0x10 data); needs 28 KiB of RAM at tables_gpa. */
int shim_state_long64(struct shim_vm *vm, struct x86_state *st, uint64_t tables_gpa, uint64_t rip,
                      uint64_t rsp);

/* Dirty log: calls fn for every 4 KiB page of RAM written by the guest since
 * the last call, in address order, and clears the log (fn NULL: only clears).
 * Host writes through shim_ram() are not logged. */
int shim_dirty_pages(struct shim_vm *vm, void (*fn)(void *arg, uint64_t gpa), void *arg);

/* PC boots on a VM (the loaders are machine/boot.h). */
/* Makes the vCPU's CPUID match the PC machine, which has no TSC that runs in
 * virtual time: clears TSC, RDTSCP, APIC and TSC-deadline, and drops the KVM
 * paravirtual leaves (kvmclock reads the host's TSC). x2APIC stays where KVM
 * has it: without it KVM refuses IA32_APIC_BASE.EXTD, and the PC's local APIC
 * model (its MSRs through SHIM_EXIT_MSR) has x2APIC mode. Must come before the
 * first shim_set_state/shim_run. */
int boot_pc_cpuid(struct shim_vm *vm);

/* The VM's RAM and ROM slots as a boot_memory. */
struct boot_memory boot_memory_of_vm(struct shim_vm *vm);

#endif
