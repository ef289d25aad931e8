/* x87 data movement (emu/x87.c), called by the D8-DF handler. */
#ifndef EMUDIFF_EMU_X87_H
#define EMUDIFF_EMU_X87_H

#include "private.h"

/* Executes a waiting x87 load, store, move or stack-control instruction;
 * EMU_UNIMPLEMENTED, with nothing changed, for the rest. */
enum emu_status emu_x87(struct emu_exec *x);

#endif
