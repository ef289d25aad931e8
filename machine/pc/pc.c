/* The PC machine: every device of pc.h on one bus, and the lines (A20, reset)
 * that several devices drive. */
#include <errno.h>
#include <stdio.h>

#include "pc_private.h"

int pc_machine_add(struct devbus *bus, const struct pc_config *cfg, char *err, size_t errlen)
{
	int rc;

	if ((rc = pc_pic_add(bus)) || (rc = pc_pit_add(bus)) || (rc = pc_cmos_add(bus, cfg->ram_bytes)) ||
	    (rc = pc_pci_add(bus)) || (rc = pc_fwcfg_add(bus, cfg)) || (rc = pc_i8042_add(bus)) ||
	    (rc = pc_port92_add(bus)) || (rc = pc_lapic_add(bus)) || (rc = pc_ioapic_add(bus))) {
		snprintf(err, errlen, "cannot set up the PC devices: %s",
		         rc == -ENOMEM ? "out of memory" : "a device's ports are taken");
		return rc;
	}
	err[0] = 0;
	if ((rc = pc_ata_add(bus, cfg->disk_path, err, errlen))) {
		if (!err[0])
			snprintf(err, errlen, "cannot set up the ATA controller: out of memory");
		return rc;
	}
	return 0;
}

bool pc_a20_enabled(const struct devbus *bus)
{
	bool p92, kbc;
	bool a = pc_port92_a20(bus, &p92), b = pc_i8042_a20(bus, &kbc);
	if (!p92 && !kbc)
		return true;
	return a || b;
}

bool pc_reset_requested(const struct devbus *bus)
{
	return pc_port92_reset(bus) || pc_i8042_reset(bus) || pc_lapic_init_requested(bus);
}
