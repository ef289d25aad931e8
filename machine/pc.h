/* vmx-shim PC machine: the devices a PC BIOS (SeaBIOS) needs, on the device
 * bus of devices.h. 8259A PIC pair (the bus's interrupt controller), 8254 PIT
 * with port 0x61, CMOS/RTC with a fixed date, i440FX host bridge + PIIX3 ISA
 * and IDE functions in PCI configuration space (0xCF8/0xCFC), QEMU fw_cfg
 * (0x510/0x511), i8042 keyboard controller, port 0x92, and an ATA disk on the
 * primary IDE channel; PIIX4 power management with the ACPI PM timer.
 *
 * Time: every device counts in PIT input clocks (1.193182 MHz); one unit of
 * the bus's virtual clock is one PIT clock. The run loop decides what a unit
 * is in guest terms (an instruction, an exit) and writes it into the trace.
 * No device reads the wall clock: the RTC starts at PC_RTC_EPOCH and advances
 * with the virtual clock. Every device's state is in devbus_save(). */
#ifndef EMUDIFF_PC_H
#define EMUDIFF_PC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices.h"

#define PC_PIT_HZ     1193182u /* virtual clock units per second */
#define PC_RTC_EPOCH  "2024-01-01 00:00:00 (Monday)"
#define PC_FWCFG_PORT 0x510u   /* selector; data at 0x511 */
#define PC_BIOS_LOW   0xe0000u /* the firmware's last 128 KiB appear here, in RAM */
#define PC_PM_PORT    0xb000u  /* PIIX4 PM I/O space (PM timer at +8), where SeaBIOS puts it */
#define PC_PM_SIZE    0x40u
#define PC_LAPIC_BASE 0xfee00000ull /* the xAPIC page after reset (IA32_APIC_BASE moves it) */

#define PC_IOAPIC_BASE 0xfec00000ull /* IOREGSEL; IOWIN at +0x10 */

/* Device names on the bus (also the keys of their checkpoint records). */
#define PC_DEV_PIC    "pic"
#define PC_DEV_PIT    "pit"
#define PC_DEV_CMOS   "cmos"
#define PC_DEV_PCI    "pci"
#define PC_DEV_FWCFG  "fw_cfg"
#define PC_DEV_ATA    "ata"
#define PC_DEV_I8042  "i8042"
#define PC_DEV_PORT92 "port92"
#define PC_DEV_LAPIC  "lapic"
#define PC_DEV_IOAPIC "ioapic"

struct pc_config {
	uint64_t ram_bytes;    /* RAM at GPA 0, below 4 GiB: CMOS sizes, fw_cfg RAM size and e820 */
	const char *disk_path; /* raw image on the primary master, NULL: no disk */
	bool sercon;           /* fw_cfg etc/sercon-port = COM1: SeaBIOS's screen output goes to the UART */
};

/* Adds every PC device to bus (which should already hold devbus_add_standard's
 * UART and debug ports). 0, or -errno with a one-line message in err naming
 * the disk image when it cannot be opened. */
int pc_machine_add(struct devbus *bus, const struct pc_config *cfg, char *err, size_t errlen);

/* The devices one by one (unit tests, other machines). */
int pc_pic_add(struct devbus *bus); /* 0x20-0x21, 0xa0-0xa1, ELCR 0x4d0-0x4d1; the bus's intc */
int pc_pit_add(struct devbus *bus); /* 0x40-0x43 and port 0x61; channel 0 drives IRQ 0 */
int pc_cmos_add(struct devbus *bus, uint64_t ram_bytes); /* 0x70-0x71; periodic interrupt on IRQ 8 */
/* 0xcf8-0xcff: 00:00.0 i440FX, 00:01.0 PIIX3, 00:01.1 PIIX3 IDE, 00:01.3 PIIX4 PM; PM I/O at PC_PM_PORT */
int pc_pci_add(struct devbus *bus);
int pc_fwcfg_add(struct devbus *bus, const struct pc_config *cfg);
int pc_ata_add(struct devbus *bus, const char *disk_path, char *err, size_t errlen); /* IRQ 14/15 */
int pc_i8042_add(struct devbus *bus); /* 0x60, 0x64; IRQ 1 and 12 */
int pc_port92_add(struct devbus *bus);
/* Local APIC (machine/lapic.c): the xAPIC page at PC_LAPIC_BASE; becomes the bus's intc with the PIC (added
 * before it) behind LINT0. */
int pc_lapic_add(struct devbus *bus);
/* I/O APIC (machine/ioapic.c) at PC_IOAPIC_BASE: 24 pins, ISA IRQ 0 on pin 2, IRQ n on pin n; delivers to
 * the local APIC, which must be on the bus already (-ENODEV otherwise). */
int pc_ioapic_add(struct devbus *bus);
/* The CPU's IA32_APIC_BASE changed (enable, x2APIC, relocation); -ENODEV without an APIC, -EEXIST when the
 * new page overlaps another device's range (the page then stays where it was). */
int pc_lapic_set_base(struct devbus *bus, uint64_t base);
/* x2APIC MSRs 0x800-0x8ff and IA32_TSC_DEADLINE: 0 done, 1 not the APIC's MSR (or no APIC), -EINVAL: #GP. */
int pc_lapic_rdmsr(struct devbus *bus, uint32_t msr, uint64_t *value);
int pc_lapic_wrmsr(struct devbus *bus, uint32_t msr, uint64_t value);
/* The TSC that IA32_TSC_DEADLINE compares with: the virtual clock. */
uint64_t pc_lapic_tsc(const struct devbus *bus);
/* The timer is in TSC-deadline mode (the APIC enabled). */
bool pc_lapic_tsc_deadline_mode(const struct devbus *bus);
/* An NMI the APIC sent waits for the CPU (pc_lapic_take_nmi would take it). */
bool pc_lapic_nmi_waiting(const struct devbus *bus);
/* An NMI the APIC sent the CPU (ICR or LVT in NMI mode): true once, then it is the CPU's. */
bool pc_lapic_take_nmi(struct devbus *bus);
/* The APIC sent INIT to its own CPU. */
bool pc_lapic_init_requested(const struct devbus *bus);

/* The A20 gate: port 0x92 bit 1 or the i8042 output port bit 1 (true when the
 * devices are absent). */
bool pc_a20_enabled(const struct devbus *bus);
/* The guest asked for a system reset (port 0x92 bit 0, i8042 pulse or output
 * port bit 0, INIT to itself through the local APIC); the run loop decides what to do. */
bool pc_reset_requested(const struct devbus *bus);

/* Inspection for tests and the run loop. */
uint8_t pc_cmos_byte(const struct devbus *bus, unsigned index);
/* PCI configuration byte of 00:dev.fn (0xff when absent). */
uint8_t pc_pci_config_byte(const struct devbus *bus, unsigned dev, unsigned fn, unsigned offset);

#endif
