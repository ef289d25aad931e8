/* The script runner of pc_script.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pc.h"
#include "pc_script.h"

struct devbus *pc_script_bus(void)
{
	struct devbus *bus = devbus_new();
	struct pc_config cfg = {.ram_bytes = 16u << 20};
	char err[256];

	assert_non_null(bus);
	assert_int_equal(devbus_add_standard(bus), 0);
	if (pc_machine_add(bus, &cfg, err, sizeof(err)))
		fail_msg("pc_machine_add: %s", err);
	return bus;
}

/* The MSR operations: false when the return code is the expected failure (no value to compare). */
static bool msr_op(const struct row *row, size_t i, struct devbus *bus, uint64_t *v)
{
	const struct op *o = &row->ops[i];
	int rc = o->kind == MSR_WR ? pc_lapic_wrmsr(bus, (uint32_t)o->addr, o->val)
	                           : pc_lapic_rdmsr(bus, (uint32_t)o->addr, v);
	if (rc != o->rc)
		fail_msg("%s: op %zu: %s 0x%llx returned %d, want %d", row->name, i,
		         o->kind == MSR_WR ? "WRMSR" : "RDMSR", (unsigned long long)o->addr, rc, o->rc);
	return o->kind == MSR_RD && rc == 0;
}

void pc_script_run(struct devbus *bus, const struct row *row)
{
	for (size_t i = 0; row->ops[i].kind != END; i++) {
		const struct op *o = &row->ops[i];
		uint8_t d[8] = {0};
		uint64_t v = 0;
		unsigned size = o->rc && (o->kind == WR || o->kind == RD) ? (unsigned)o->rc : 4;

		switch (o->kind) {
		case WR:
			memcpy(d, &o->val, size);
			assert_int_equal(devbus_mmio(bus, o->addr, size, true, d), 0);
			continue;
		case RD:
			devbus_mmio(bus, o->addr, size, false, d);
			memcpy(&v, d, size);
			break;
		case MSR_WR:
		case MSR_RD:
			if (!msr_op(row, i, bus, &v))
				continue;
			break;
		case BASE:
			assert_int_equal(pc_lapic_set_base(bus, o->val), 0);
			continue;
		case ADVANCE:
			devbus_advance(bus, o->val);
			continue;
		case ACK:
			v = devbus_intr_pending(bus) ? (uint64_t)(int64_t)devbus_intr_ack(bus) : (uint64_t)-1;
			break;
		case NMI:
			v = pc_lapic_take_nmi(bus);
			break;
		case NMI_PEEK:
			v = pc_lapic_nmi_waiting(bus);
			break;
		case DL_MODE:
			v = pc_lapic_tsc_deadline_mode(bus);
			break;
		case RESET:
			v = pc_reset_requested(bus);
			break;
		case PIO:
			d[0] = (uint8_t)o->val;
			devbus_pio(bus, (uint16_t)o->addr, 1, true, d, 1);
			continue;
		case IRQ:
			devbus_irq_set(bus, (unsigned)o->addr, o->val);
			continue;
		case UNCLAIMED:
			if (devbus_claims_mmio(bus, o->addr))
				fail_msg("%s: op %zu: 0x%llx is still decoded", row->name, i,
				         (unsigned long long)o->addr);
			continue;
		case END:
			break;
		}
		if (v != o->val)
			fail_msg("%s: op %zu (kind %d at 0x%llx): got 0x%llx, want 0x%llx", row->name, i,
			         o->kind, (unsigned long long)o->addr, (unsigned long long)v,
			         (unsigned long long)o->val);
	}
}
