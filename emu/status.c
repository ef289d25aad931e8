#include "emu.h"

const char *emu_status_name(enum emu_status s)
{
	static const char *const names[] = {"ok",       "exception",     "halt",
	                                    "shutdown", "unimplemented", "io-error"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
