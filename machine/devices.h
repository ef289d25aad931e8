/* machine device bus: deterministic PC devices in user space. Port I/O and
 * MMIO ranges dispatch to per-device callbacks; time is a virtual clock that
 * only the caller advances (per instruction or per exit, never wall time);
 * IRQ lines go to an optional interrupt controller; every device can save and
 * restore its state into a byte buffer for checkpoints. No KVM needed: the
 * recorder feeds exits in, the replayer can feed recorded accesses in.
 *
 * Absent hardware: a port or MMIO address no device claims reads as all ones
 * and drops writes. Nothing a guest writes may crash the host: sizes, counts
 * and offsets are checked here before any callback runs. */
#ifndef EMUDIFF_DEVICES_H
#define EMUDIFF_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The standard devices' fixed places. */
#define DEVBUS_PORT_COM1          0x3f8u /* 16550 UART, 8 ports, IRQ 4 */
#define DEVBUS_IRQ_COM1           4u
#define DEVBUS_PORT_DEBUG_EXIT    0xf4u         /* guest writes its exit status (1, 2 or 4 bytes) */
#define DEVBUS_PORT_POST          0x80u         /* POST code, last byte kept */
#define DEVBUS_PORT_DEBUGCON      0xe9u         /* Bochs/QEMU debug console: bytes go to the console */
#define DEVBUS_PORT_SEABIOS_DEBUG 0x402u        /* SeaBIOS debug output: bytes go to the console */
#define DEVBUS_MMIO_TEST_BASE     0xfeb00000ull /* outside any RAM size the shim accepts */
#define DEVBUS_MMIO_TEST_SIZE     0x1000u

#define DEVBUS_NIRQ  24u        /* IRQ lines 0..23 (ISA 0..15 plus IOAPIC pins) */
#define DEVBUS_NEVER UINT64_MAX /* a deadline that never comes */

struct devbus;
struct devbus_dev;

enum devbus_space { DEVBUS_PIO, DEVBUS_MMIO };

/* A device's behaviour. Every member may be NULL (a NULL read returns all
 * ones, a NULL write drops the value). */
struct devbus_ops {
	/* Unique on a bus; also the key of the device's record in a checkpoint. */
	const char *name;
	/* @space: [IN] PIO or MMIO. @addr: [IN] absolute port or guest-physical
	 * address (not an offset: one device may map several ranges).
	 * @size: [IN] 1, 2 or 4 for PIO; 1, 2, 4 or 8 for MMIO, never crossing
	 * the end of the mapped range. Returns the value, zero-extended. */
	uint64_t (*read)(void *opaque, enum devbus_space space, uint64_t addr, unsigned size);
	/* @val: [IN] the written value, only the low @size bytes are meaningful. */
	void (*write)(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val);
	/* Called by devbus_advance() once the clock reaches the device's
	 * deadline. @now: [IN] current virtual time. Returns the next deadline
	 * (absolute virtual time, > now) or DEVBUS_NEVER. */
	uint64_t (*tick)(void *opaque, uint64_t now);
	/* Writes the device state into buf (at most cap bytes) and returns the
	 * number of bytes the full state needs; cap 0 asks for the size only. */
	size_t (*save)(const void *opaque, uint8_t *buf, size_t cap);
	/* Loads a state written by save; -EINVAL when len or content is wrong
	 * (the device is then left unchanged). */
	int (*restore)(void *opaque, const uint8_t *buf, size_t len);
	/* Releases opaque when the bus is freed. */
	void (*free)(void *opaque);
};

/* An interrupt controller (PIC, APIC) hooked to the bus: the bus forwards
 * every IRQ line change to it, and the run loop asks it for a vector at the
 * injection points it chooses. */
struct devbus_intc_ops {
	void (*irq_changed)(void *opaque, unsigned line, bool level);
	/* True when an interrupt is ready to be delivered to the CPU. */
	bool (*pending)(void *opaque);
	/* The CPU accepts the interrupt: returns its vector 0..255, or -1 (spurious/none). */
	int (*ack)(void *opaque);
};

struct devbus *devbus_new(void);
/* Frees the bus and every device on it (ops->free). NULL is fine. */
void devbus_free(struct devbus *bus);

/* Adds a device; ops must stay valid as long as the bus (static, or inside
 * opaque). The bus calls ops->free(opaque) when freed, also when this fails
 * with -EEXIST (duplicate name), -EINVAL (no name) or -ENOMEM. *out may be NULL. */
int devbus_add(struct devbus *bus, const struct devbus_ops *ops, void *opaque, struct devbus_dev **out);
/* Claims [base, base+len) for dev; -EEXIST when it overlaps another range,
 * -EINVAL when empty or wrapping. */
int devbus_map_pio(struct devbus *bus, struct devbus_dev *dev, uint16_t base, uint32_t len);
int devbus_map_mmio(struct devbus *bus, struct devbus_dev *dev, uint64_t base, uint64_t len);
/* Moves dev's MMIO range that starts at old_base to new_base (a relocatable page such as the local APIC's);
 * -ENOENT when dev maps nothing at old_base, -EEXIST when the new place overlaps another range. */
int devbus_remap_mmio(struct devbus *bus, struct devbus_dev *dev, uint64_t old_base, uint64_t new_base);
/* The opaque of the device with that name, NULL when absent. */
void *devbus_find(const struct devbus *bus, const char *name);

/* Port I/O from the guest. @size: 1, 2 or 4; @count: repetitions (REP
 * INS/OUTS), data holds count*size bytes, little-endian, read into for IN.
 * Returns 0 when a device claimed the port, 1 when none did (absent: reads
 * fill all ones), -EINVAL for a size/count the bus refuses (data then
 * filled with all ones for IN). */
int devbus_pio(struct devbus *bus, uint16_t port, unsigned size, bool is_write, uint8_t *data,
               uint32_t count);
/* MMIO from the guest. @size: 1..8; an access of another size or crossing a
 * range end is split into byte accesses. Returns as devbus_pio. */
int devbus_mmio(struct devbus *bus, uint64_t gpa, unsigned size, bool is_write, uint8_t *data);
/* True when some device maps gpa (a recorder can tell MMIO from a bad access). */
bool devbus_claims_mmio(const struct devbus *bus, uint64_t gpa);

/* Virtual clock: units are the caller's (instructions or exits) and the
 * trace says which. Advancing runs due ticks in (deadline, registration)
 * order, repeatedly until none is due. */
uint64_t devbus_now(const struct devbus *bus);
void devbus_advance(struct devbus *bus, uint64_t delta);
/* A device reprograms its own timer (e.g. from a write callback). */
void devbus_set_deadline(struct devbus *bus, struct devbus_dev *dev, uint64_t when);
/* The earliest deadline of any device, DEVBUS_NEVER when none. */
uint64_t devbus_next_deadline(const struct devbus *bus);

/* IRQ lines: level-triggered; a pulse is raise then lower. Lines >= DEVBUS_NIRQ are ignored. */
void devbus_irq_set(struct devbus *bus, unsigned line, bool level);
static inline void devbus_irq_raise(struct devbus *bus, unsigned line)
{
	devbus_irq_set(bus, line, true);
}
static inline void devbus_irq_lower(struct devbus *bus, unsigned line)
{
	devbus_irq_set(bus, line, false);
}
bool devbus_irq_level(const struct devbus *bus, unsigned line);
/* Installs the interrupt controller (replaces any previous one); it is told
 * the current level of every raised line at once. ops NULL removes it. */
void devbus_set_intc(struct devbus *bus, const struct devbus_intc_ops *ops, void *opaque);
/* Without a controller: false and -1. */
bool devbus_intr_pending(struct devbus *bus);
int devbus_intr_ack(struct devbus *bus);

/* Guest memory for devices that move data themselves (DMA: fw_cfg, ATA).
 * The run loop hooks it; its write must also record the bytes, since KVM's
 * dirty log does not see host writes to guest RAM. */
struct devbus_mem_ops {
	int (*read)(void *opaque, uint64_t gpa, void *buf, size_t len);
	int (*write)(void *opaque, uint64_t gpa, const void *buf, size_t len);
};
void devbus_set_memory(struct devbus *bus, const struct devbus_mem_ops *ops, void *opaque);
/* 0, -ENODEV without hooked memory, or the hook's -errno (-EFAULT outside RAM). */
int devbus_dma_read(struct devbus *bus, uint64_t gpa, void *buf, size_t len);
int devbus_dma_write(struct devbus *bus, uint64_t gpa, const void *buf, size_t len);

/* Checkpoints: the clock, IRQ levels, guest-exit status, every device's
 * deadline and save() record (keyed by name) in one malloc'd buffer the caller
 * frees; the console is output, not state, and is not in it. Restoring parses
 * every record first and rolls back if a device refuses its record, so on
 * -EINVAL (malformed buffer, a device the bus lacks or has in addition)
 * nothing has changed. */
int devbus_save(const struct devbus *bus, uint8_t **buf, size_t *len);
int devbus_restore(struct devbus *bus, const uint8_t *buf, size_t len);

/* Standard devices. */
/* 16550A UART: THR/RBR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR, DLL/DLM.
 * Transmit is instant (LSR THRE|TEMT always set), so a polling guest never
 * waits; bytes go to the bus console. Receive reads a queue that only
 * devbus_uart_input (or loopback) fills: empty, LSR DR stays clear. */
int devbus_add_uart(struct devbus *bus, const char *name, uint16_t base, unsigned irq);
/* Queues bytes the guest will receive (up to 256 pending; the rest is
 * dropped); returns how many were taken, 0 when name is not a UART. The
 * caller decides when, at a recorded point: the bus never reads the host. */
size_t devbus_uart_input(struct devbus *bus, const char *name, const uint8_t *data, size_t len);
/* Port DEVBUS_PORT_DEBUG_EXIT: the written value is the guest's exit status. */
int devbus_add_debug_exit(struct devbus *bus);
/* Port DEVBUS_PORT_POST: keeps the last code written (reads return it). */
int devbus_add_post(struct devbus *bus);
/* Port DEVBUS_PORT_DEBUGCON: writes append to the console; reads 0xe9 (present). */
int devbus_add_debugcon(struct devbus *bus);
/* The same at another port, e.g. DEVBUS_PORT_SEABIOS_DEBUG; name unique on the bus. */
int devbus_add_debugcon_at(struct devbus *bus, const char *name, uint16_t port);
/* MMIO test region at DEVBUS_MMIO_TEST_BASE: see devbus_mmio_test_value(). */
int devbus_add_mmio_test(struct devbus *bus);
/* QEMU's -device pc-testdev: ports 0xe0-0xe3 a 32-bit scratch register (0xe8, 0xea-0xeb the same, byte by
 * byte; 0xe9 stays the debug console),
 * 0xe4 QEMU's page flush (write-only, no effect here), 0x2000-0x2017 IRQ lines (a byte write raises line
 * N = port - 0x2000 when non-zero, lowers it when zero), 64 KiB of RAM-like MMIO at 0xff000000. Not in
 * devbus_add_standard: a machine has it on request. */
#define DEVBUS_DEV_TESTDEV        "pc-testdev"
#define DEVBUS_PORT_TESTDEV       0xe0u
#define DEVBUS_PORT_TESTDEV_BYTE  0xe8u
#define DEVBUS_PORT_TESTDEV_IRQ   0x2000u
#define DEVBUS_TESTDEV_IRQ_PORTS  24u
#define DEVBUS_TESTDEV_IOMEM      0xff000000ull
#define DEVBUS_TESTDEV_IOMEM_SIZE 0x10000u
int devbus_add_pc_testdev(struct devbus *bus);
/* QEMU's isa-debug-exit convention on DEVBUS_PORT_DEBUG_EXIT: the status is (value << 1) | 1. */
void devbus_set_debug_exit_qemu(struct devbus *bus, bool on);
/* All of the above (UART "com1" at DEVBUS_PORT_COM1), plus a debug console
 * "seabios-debug" at DEVBUS_PORT_SEABIOS_DEBUG. */
int devbus_add_standard(struct devbus *bus);

/* The MMIO test region (4 KiB at DEVBUS_MMIO_TEST_BASE) has two halves.
 * Offsets 0x000-0x7ff: the n-th read there (n = 0, 1, ... counted since the
 * device was added or restored, any address, any size) returns the low
 * @size bytes of devbus_mmio_test_value(n); writes there are stored for the
 * host (devbus_mmio_test_stored) and never change what reads return.
 * Offsets 0x800-0xfff: plain storage, reads return what was written (zero
 * initially). Deterministic, so a replay reproduces every value. */
#define DEVBUS_MMIO_TEST_SEQ_SIZE 0x800u
/* xorshift64(0x9e3779b97f4a7c15 ^ n) with x ^= x << 13; x ^= x >> 7; x ^= x << 17. */
uint64_t devbus_mmio_test_value(uint64_t n);
/* The region's stored byte at offset (both halves), 0 when absent. */
uint8_t devbus_mmio_test_stored(const struct devbus *bus, uint32_t offset);
/* Number of sequence reads so far. */
uint64_t devbus_mmio_test_reads(const struct devbus *bus);

/* Console: everything UARTs and the debug console transmitted, in order.
 * Not NUL-terminated; the pointer is valid until the next guest access. */
const uint8_t *devbus_console(const struct devbus *bus, size_t *len);
/* Echo console bytes to stderr as they arrive (off by default). */
void devbus_set_echo(struct devbus *bus, bool on);

/* Guest exit through DEVBUS_PORT_DEBUG_EXIT: true once the guest wrote its
 * status (the last value written wins). */
bool devbus_guest_exited(const struct devbus *bus, uint32_t *status);
/* "guest exited with status N", or NULL when the guest has not exited. */
const char *devbus_exit_message(const struct devbus *bus);
/* Last POST code, -1 when none was written. */
int devbus_post_code(const struct devbus *bus);

#endif
