/* Instructions that exist only where CPUID says so (emu/gated.c). */
#ifndef EMUDIFF_EMU_GATED_H
#define EMUDIFF_EMU_GATED_H

#include <stdbool.h>

#include "private.h"

enum emu_cpu_feature {
	EMU_CPU_SSE42,      /* CPUID.01H:ECX[20]: CRC32 */
	EMU_CPU_MOVBE,      /* CPUID.01H:ECX[22] */
	EMU_CPU_POPCNT,     /* CPUID.01H:ECX[23] */
	EMU_CPU_BMI1,       /* CPUID.(07H,0):EBX[3]: TZCNT, else F3 0F BC is BSF */
	EMU_CPU_ABM,        /* CPUID.80000001H:ECX[5]: LZCNT, else F3 0F BD is BSR */
	EMU_CPU_PCID,       /* CPUID.01H:ECX[17]: CR4.PCIDE */
	EMU_CPU_XSAVE,      /* CPUID.01H:ECX[26]: CR4.OSXSAVE */
	EMU_CPU_INVPCID,    /* CPUID.(07H,0):EBX[10] */
	EMU_CPU_CLFLUSHOPT, /* CPUID.(07H,0):EBX[23] */
	EMU_CPU_CLWB,       /* CPUID.(07H,0):EBX[24] */
};

/* Asks the CPUID callback; a CPUID the caller cannot answer counts as present. */
bool emu_cpu_has(struct emu_exec *x, enum emu_cpu_feature f);

/* F2 0F 38 F0/F1: CRC32 (CRC-32C, reflected, no inversion). */
enum emu_status em_crc32(struct emu_exec *x);

#endif
