/* The trace's meta rows: how the recording was made (rec_write_meta) and what it produced at the end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../machine/boot.h"
#include "../machine/devices.h"
#include "../machine/pc.h"
#include "../schema/sha256.h"
#include "../schema/trace.h"
#include "private.h"

/* The devices a replay must assume: the optional ones and the debug-exit convention, and the modules. */
static int rec_write_device_meta(struct rec *r)
{
	const struct rec_options *opt = r->opt;
	int rc = trace_meta_set(r->t, "devices",
	                        opt->pc_testdev ? "pc-testdev: ports 0xe0-0xe8 and 0xea-0xeb, irq lines "
	                                          "0x2000-0x2017, iomem 0xff000000-0xff00ffff"
	                                        : "none beyond the standard ones");
	rc |= trace_meta_set(r->t, "debug_exit",
	                     opt->debug_exit_qemu
	                         ? "qemu: port 0xf4, the status is (value << 1) | 1 (isa-debug-exit)"
	                         : "plain: port 0xf4, the status is the value written");
	if (!opt->n_modules)
		return rc;
	size_t len = 1;
	for (size_t i = 0; i < opt->n_modules; i++)
		len += strlen(r->modules[i].string) + 32;
	char *text = calloc(1, len), *p = text;
	if (!text)
		return -1;
	for (size_t i = 0; i < opt->n_modules; i++)
		p += sprintf(p, "%s%s (%zu bytes)", i ? "; " : "", r->modules[i].string, r->modules[i].len);
	rc |= trace_meta_set(r->t, "multiboot_modules", text);
	free(text);
	return rc;
}

/* The --cpu model: its text, what it is, and whose MSRs the guest reads. */
static int rec_write_cpu_meta(struct rec *r, char *buf, size_t len)
{
	int rc = trace_meta_set(r->t, "cpu_model", r->cpu_set ? r->cpu.spec : "host");
	if (!r->cpu_set)
		return rc |
		       trace_meta_set(r->t, "cpu_model_summary",
		                      "KVM_GET_SUPPORTED_CPUID as KVM gives it (the KVM engine's default)");
	rc |= trace_meta_set(r->t, "cpu_model_summary", r->cpu.summary);
	if (r->engine->emu_is_reference)
		cpu_model_describe_msrs(&r->cpu, buf, len);
	else if (r->cpu.mcg_cap)
		snprintf(buf, len, "KVM's own, with KVM_X86_SETUP_MCE given MCG_CAP 0x%llx",
		         (unsigned long long)r->cpu.mcg_cap);
	else
		snprintf(buf, len, "KVM's own (a model without MCA cannot remove KVM's machine-check banks)");
	if (r->cpu_unsupported[0])
		rc |= trace_meta_set(r->t, "cpu_unsupported", r->cpu_unsupported);
	return rc | trace_meta_set(r->t, "cpu_msrs", buf);
}

int rec_write_meta(struct rec *r, const uint8_t *image, size_t image_len)
{
	char buf[512], sha[65];
	const char *mode = r->opt->mode == REC_MODE_STEP    ? "step"
	                   : r->opt->mode == REC_MODE_EXITS ? "exits"
	                                                    : "demand";
	sha256_hex(image, image_len, sha);
	const char *image_path = r->opt->bios_path        ? r->opt->bios_path
	                         : r->opt->multiboot_path ? r->opt->multiboot_path
	                                                  : r->opt->guest_path;
	const char *base = strrchr(image_path, '/');
	int rc = 0;
	rc |= trace_meta_set(r->t, "tool_version", "emudiff " EMUDIFF_VERSION);
	rc |= trace_meta_set(r->t, "engine", r->engine->name);
	rc |= trace_meta_set(r->t, "kvm_flavour", r->engine->flavour(r));
	rc |= trace_meta_set(r->t, "reference", r->engine->reference(r));
	rc |= trace_meta_set(r->t, "guest_image", base ? base + 1 : image_path);
	rc |= trace_meta_set(r->t, "guest_sha256", sha);
	rc |= trace_meta_set(r->t, "mode", mode);
	if (r->opt->mode == REC_MODE_DEMAND) {
		if (r->opt->demand == REC_DEMAND_RIP)
			snprintf(buf, sizeof(buf), "rip=0x%llx-0x%llx", (unsigned long long)r->opt->rip_lo,
			         (unsigned long long)r->opt->rip_hi);
		else
			snprintf(buf, sizeof(buf), "%s", r->opt->demand == REC_DEMAND_REAL ? "real" : "cpl0");
		rc |= trace_meta_set(r->t, "demand", buf);
	}
	rc |= trace_meta_set(r->t, "command_line", r->opt->command_line);
	rc |= trace_meta_set(r->t, "host_cpu", rec_host_cpu(buf, sizeof(buf)));
	snprintf(buf, sizeof(buf), "%d", r->pinned_cpu);
	rc |= trace_meta_set(r->t, "host_cpu_pinned", buf);
	if (r->opt->bios_path)
		snprintf(
		    buf, sizeof(buf),
		    "ram 0x0-0x%llx; firmware rom 0x%llx-0x100000000 (read-only); its last %zu KiB copied "
		    "into ram at 0x%llx-0x100000; start at the reset vector f000:fff0 (cs base 0xffff0000)",
		    (unsigned long long)r->ram_size, (unsigned long long)(0x100000000ull - image_len),
		    (image_len < BOOT_BIOS_ALIAS ? image_len : BOOT_BIOS_ALIAS) >> 10,
		    (unsigned long long)(0x100000 -
		                         (image_len < BOOT_BIOS_ALIAS ? image_len : BOOT_BIOS_ALIAS)));
	else if (r->opt->multiboot_path)
		snprintf(
		    buf, sizeof(buf),
		    "ram 0x0-0x%llx; multiboot kernel; information at 0x%llx; start 32-bit protected mode at "
		    "0x%llx with eax 0x%x",
		    (unsigned long long)r->ram_size, (unsigned long long)r->mb_info,
		    (unsigned long long)r->cur.rip, BOOT_MB_MAGIC);
	else
		snprintf(buf, sizeof(buf),
		         "ram 0x0-0x%llx; mmio-test 0x%llx-0x%llx; load 0x%llx; start real mode 0000:%04llx",
		         (unsigned long long)r->ram_size, (unsigned long long)DEVBUS_MMIO_TEST_BASE,
		         (unsigned long long)(DEVBUS_MMIO_TEST_BASE + DEVBUS_MMIO_TEST_SIZE),
		         (unsigned long long)r->opt->load_addr, (unsigned long long)r->opt->load_addr);
	if (r->opt->pc_testdev)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "; pc-testdev iomem 0x%llx-0x%llx",
		         (unsigned long long)DEVBUS_TESTDEV_IOMEM,
		         (unsigned long long)(DEVBUS_TESTDEV_IOMEM + DEVBUS_TESTDEV_IOMEM_SIZE));
	rc |= trace_meta_set(r->t, "memory_layout", buf);
	rc |= rec_write_device_meta(r);
	snprintf(buf, sizeof(buf), "%zu", r->ram_size);
	rc |= trace_meta_set(r->t, "ram_bytes", buf);
	if (r->pc) {
		rc |= trace_meta_set(
		    r->t, "clock_unit",
		    "PIT input clocks (1.193182 MHz): the clock advances by one per recorded "
		    "instruction (step) and per exit (exits); a HLT with IF set jumps it to the next "
		    "device deadline");
		rc |= trace_meta_set(
		    r->t, "machine",
		    "pc: 8259A pair, 8254 + port 0x61, cmos/rtc, i440fx + piix3 isa/ide, fw_cfg, "
		    "i8042, port 0x92, ata disk on the primary master, com1, debug ports 0x402/0xe9");
		rc |= trace_meta_set(r->t, "rtc_epoch", PC_RTC_EPOCH);
		if (r->opt->bios_path && r->opt->mode != REC_MODE_STEP)
			rc |= trace_meta_set(
			    r->t, "boot_breakpoint",
			    "an instruction breakpoint at linear 0x7c00 ends the run there once (a debug "
			    "exit row): the boot sector's entry is the pre-state of a step");
		rc |= trace_meta_set(r->t, "interrupts",
		                     "events rows: type 0 = external interrupt from the 8259A, "
		                     "injected before the step they name");
		rc |= trace_meta_set(
		    r->t, "device_checkpoints",
		    "the device_checkpoints table: devbus_save() before step N, at step 0, every 16384 "
		    "steps and at the end");
		if (r->opt->multiboot_path)
			rc |= trace_meta_set(r->t, "kernel_cmdline",
			                     r->opt->kernel_cmdline ? r->opt->kernel_cmdline : "");
		if (r->opt->vtime_limit) {
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->opt->vtime_limit);
			rc |= trace_meta_set(r->t, "vtime_limit", buf);
		}
	} else {
		rc |= trace_meta_set(r->t, "clock_unit", "instructions (step) or exits (exits)");
	}
	if (r->opt->disk_path) {
		uint8_t *disk = NULL;
		size_t disk_len = 0;
		const char *dbase = strrchr(r->opt->disk_path, '/');
		rc |= trace_meta_set(r->t, "disk_image", dbase ? dbase + 1 : r->opt->disk_path);
		if (!rec_read_file(r, r->opt->disk_path, "--disk", (size_t)1 << 30, &disk, &disk_len)) {
			sha256_hex(disk, disk_len, sha);
			rc |= trace_meta_set(r->t, "disk_sha256", sha);
		} else {
			rc |= trace_meta_set(r->t, "disk_sha256",
			                     "not hashed (unreadable or larger than 1 GiB)");
			r->errbuf[0] = 0;
		}
		free(disk);
	}
	char *cpuid = rec_cpuid_text(r);
	rc |= trace_meta_set(r->t, "cpuid", cpuid ? cpuid : "");
	free(cpuid);
	rc |= rec_write_cpu_meta(r, buf, sizeof(buf));
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return CLI_STATUS_USAGE;
	}
	return 0;
}

/* What the recording produced beyond the steps: console and serial output, the final clock, the status. */
void rec_write_end_meta(struct rec *r)
{
	size_t clen = 0;
	const uint8_t *con = devbus_console(r->bus, &clen);
	char *console = malloc(clen + 1);
	if (console) {
		memcpy(console, con, clen);
		console[clen] = 0;
		trace_meta_set(r->t, "console", console);
		free(console);
	}
	char *ser = malloc(r->serial_len + 1);
	if (ser) {
		memcpy(ser, r->serial ? r->serial : "", r->serial_len);
		ser[r->serial_len] = 0;
		trace_meta_set(r->t, "serial", ser);
		free(ser);
	}
	char buf[64];
	if (r->pc) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->summary->vtime);
		trace_meta_set(r->t, "vtime_end", buf);
	}
	snprintf(buf, sizeof(buf), "%d", r->summary->guest_status);
	if (r->summary->end == REC_END_GUEST_EXIT)
		trace_meta_set(r->t, "guest_status", buf);
}
