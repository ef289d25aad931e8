/* PC machine internals shared by the device files; nobody outside machine/pc includes this. */
#ifndef EMUDIFF_PC_PRIVATE_H
#define EMUDIFF_PC_PRIVATE_H

#include <stdbool.h>

#include "../pc.h"

/* Gate and reset lines, *present false when the device is not on the bus. */
bool pc_port92_a20(const struct devbus *bus, bool *present);
bool pc_port92_reset(const struct devbus *bus);
bool pc_i8042_a20(const struct devbus *bus, bool *present);
bool pc_i8042_reset(const struct devbus *bus);

#endif
