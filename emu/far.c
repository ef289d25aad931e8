/* Far JMP/CALL through call gates, task gates and TSS descriptors, and far
 * RET to an outer privilege level (SDM Vol. 2A, CALL/JMP/RET pseudocode). */
#include <stdio.h>

#include "system.h"

enum emu_status emu_far_system(struct emu_exec *x, uint16_t sel, uint64_t off, bool call)
{
	(void)sel;
	(void)off;
	(void)call;
	snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented), "far transfer through a gate");
	return EMU_UNIMPLEMENTED;
}

enum emu_status emu_retf_outer(struct emu_exec *x)
{
	snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented), "far return to an outer ring");
	return EMU_UNIMPLEMENTED;
}
