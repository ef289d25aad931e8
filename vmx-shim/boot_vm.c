/* A PC boot on a VM: the PC machine's CPUID on the vCPU, and the VM's memory for the loaders. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "boot.h"
#include "private.h"

#define CPUID_1_EDX_TSC      (1u << 4)
#define CPUID_1_EDX_APIC     (1u << 9)
#define CPUID_1_ECX_DEADLINE (1u << 24)
#define CPUID_81_EDX_RDTSCP  (1u << 27)

int boot_pc_cpuid(struct shim_vm *vm)
{
	struct kvm_cpuid2 *c = vm->cpuid;
	uint32_t n = 0;

	if (!c)
		return shim_fail(vm, -EINVAL, "CPUID table missing");
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 e = c->entries[i];
		if (e.function >= 0x40000000u && e.function <= 0x4fffffffu)
			continue;
		if (e.function == 1) {
			e.edx &= ~(CPUID_1_EDX_TSC | CPUID_1_EDX_APIC);
			e.ecx &= ~CPUID_1_ECX_DEADLINE;
		} else if (e.function == 0x80000001u) {
			e.edx &= ~CPUID_81_EDX_RDTSCP;
		}
		c->entries[n++] = e;
	}
	c->nent = n;
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		return shim_fail(vm, -errno, "KVM_SET_CPUID2");
	vm->ncpuid = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		vm->cpuid_table[i] = (struct shim_cpuid_entry){e->function, e->index, e->flags, e->eax,
		                                               e->ebx,      e->ecx,   e->edx};
	}
	return 0;
}

static int vm_map_rom(void *opaque, uint64_t gpa, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct shim_vm *vm = opaque;
	int rc = shim_map_rom(vm, gpa, data, len);
	if (rc)
		snprintf(err, errlen, "%s", shim_error(vm));
	return rc;
}

struct boot_memory boot_memory_of_vm(struct shim_vm *vm)
{
	return (struct boot_memory){
	    .ram = shim_ram(vm), .ram_size = shim_ram_size(vm), .map_rom = vm_map_rom, .opaque = vm};
}
