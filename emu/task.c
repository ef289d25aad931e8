/* Task switches (SDM Vol. 3, 8.3): through a TSS descriptor or a task gate by
 * JMP, CALL, INT/exception, and IRET with NT = 1. */
#include <stdio.h>

#include "system.h"

enum emu_status emu_task_switch(struct emu_exec *x, uint16_t sel, uint64_t desc, uint64_t desc_addr,
                                enum task_reason reason, uint32_t ext, bool has_error, uint32_t error,
                                uint64_t ret_rip)
{
	(void)sel;
	(void)desc;
	(void)desc_addr;
	(void)reason;
	(void)ext;
	(void)has_error;
	(void)error;
	(void)ret_rip;
	snprintf(x->c->info.unimplemented, sizeof(x->c->info.unimplemented), "task switch");
	return EMU_UNIMPLEMENTED;
}
