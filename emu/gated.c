/* Instructions that exist only where CPUID says so. The guest's CPUID decides, not the
 * host's: KVM's emulator raises #UD for MOVBE when the guest's CPUID lacks it. */
#include "gated.h"

static const struct {
	uint32_t leaf, subleaf;
	uint8_t reg; /* 0 EAX, 1 EBX, 2 ECX, 3 EDX */
	uint8_t bit;
} features[] = {
    [EMU_CPU_SSE42] = {1, 0, 2, 20},       [EMU_CPU_MOVBE] = {1, 0, 2, 22},
    [EMU_CPU_POPCNT] = {1, 0, 2, 23},      [EMU_CPU_BMI1] = {7, 0, 1, 3},
    [EMU_CPU_ABM] = {0x80000001, 0, 2, 5}, [EMU_CPU_PCID] = {1, 0, 2, 17},
    [EMU_CPU_XSAVE] = {1, 0, 2, 26},       [EMU_CPU_INVPCID] = {7, 0, 1, 10},
    [EMU_CPU_CLFLUSHOPT] = {7, 0, 1, 23},  [EMU_CPU_CLWB] = {7, 0, 1, 24},
};

bool emu_cpu_has(struct emu_exec *x, enum emu_cpu_feature f)
{
	uint32_t out[4] = {0};
	if (x->ops->cpuid(x->opaque, features[f].leaf, features[f].subleaf, out) != EMU_OK)
		return true;
	return (out[features[f].reg] >> features[f].bit) & 1;
}

static uint32_t crc32c(uint32_t crc, uint64_t v, unsigned bytes)
{
	for (unsigned k = 0; k < 8 * bytes; k++) {
		crc ^= (uint32_t)(v >> k) & 1;
		crc = (crc >> 1) ^ (crc & 1 ? 0x82f63b78u : 0);
	}
	return crc;
}

enum emu_status em_crc32(struct emu_exec *x)
{
	unsigned w = x->i->b == 0xf0 ? 1 : x->i->opsize;
	unsigned dw = x->i->rex & 8 ? 8 : 4;
	uint64_t src;
	if (x->i->lock || !emu_cpu_has(x, EMU_CPU_SSE42))
		return EMU_RAISE_UD(x);
	EMU_TRY(emu_rm_read(x, w, &src));
	uint32_t crc = crc32c((uint32_t)emu_reg_get(x, x->i->reg, 4), src, w);
	emu_reg_set(x, x->i->reg, dw, crc);
	return EMU_OK;
}
