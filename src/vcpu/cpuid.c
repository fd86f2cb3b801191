#include "vcpu/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/log.h"
#include "xen/domain.h"

#define CPUID_1_ECX_VMX        (1u << 5)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_80000001_ECX_SVM (1u << 2)
#define HYPERVISOR_LEAF_FIRST  0x40000000u
#define HYPERVISOR_LEAF_LAST   0x4fffffffu
#define XEN_LEAVES             5   /* 0x40000000 .. 0x40000004 */
#define PVMM_LEAVES            2   /* 0x40000100 .. 0x40000101 */

static struct kvm_cpuid2 *get_supported(int kvm_fd)
{
	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			break;
	}
	pr_err("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
	return NULL;
}

static void add_leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t a, uint32_t b,
		     uint32_t cx, uint32_t d)
{
	c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .eax = a, .ebx = b, .ecx = cx, .edx = d,
	};
}

struct kvm_cpuid2 *cpuid__build(int kvm_fd, uint16_t domid)
{
	struct kvm_cpuid2 *kvm = get_supported(kvm_fd), *c;
	uint32_t base = XEN_CPUID_FIRST_LEAF;

	if (!kvm)
		return NULL;
	c = calloc(1, sizeof(*c) + (kvm->nent + XEN_LEAVES + PVMM_LEAVES) * sizeof(c->entries[0]));
	if (!c) {
		free(kvm);
		return NULL;
	}
	for (uint32_t i = 0; i < kvm->nent; i++) {
		struct kvm_cpuid_entry2 e = kvm->entries[i];

		/* KVM's own paravirt leaves give way to Xen's. */
		if (e.function >= HYPERVISOR_LEAF_FIRST && e.function <= HYPERVISOR_LEAF_LAST)
			continue;
		if (e.function == 1) {
			e.ecx &= ~CPUID_1_ECX_VMX;
			e.ecx |= CPUID_1_ECX_HYPERVISOR;
		}
		if (e.function == 0x80000001)
			e.ecx &= ~CPUID_80000001_ECX_SVM;
		c->entries[c->nent++] = e;
	}
	free(kvm);

	add_leaf(c, base + 0, base + XEN_LEAVES - 1, XEN_CPUID_SIGNATURE_EBX,
		 XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX);
	add_leaf(c, base + 1, (PVMM_XEN_MAJOR << 16) | PVMM_XEN_MINOR, 0, 0, 0);
	/* One hypercall page, filled when the guest writes this MSR. */
	add_leaf(c, base + 2, 1, PVMM_HYPERCALL_MSR, 0, 0);
	/* Leaf 3 (TSC mode): all zero means "native TSC, no emulation". */
	add_leaf(c, base + 3, 0, 0, 0, 0);
	/* Leaf 4 (HVM features): EBX = vCPU id (set per vCPU), ECX = domid. */
	add_leaf(c, base + 4, XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_DOMID_PRESENT |
		 XEN_HVM_CPUID_UPCALL_VECTOR,
		 0, domid, 0);
	add_leaf(c, PVMM_CPUID_BASE, PVMM_CPUID_FEATURES, PVMM_CPUID_SIGNATURE_EBX,
		 PVMM_CPUID_SIGNATURE_EBX, PVMM_CPUID_SIGNATURE_EBX);
	add_leaf(c, PVMM_CPUID_FEATURES, PVMM_CPUID_FEAT_HCALL_PIO, PVMM_HYPERCALL_PORT, 0, 0);
	return c;
}

int cpuid__set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *vm_cpuid, int vcpu_id)
{
	size_t size = sizeof(*vm_cpuid) + vm_cpuid->nent * sizeof(vm_cpuid->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, vm_cpuid, size);
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		/* KVM uses the vCPU id as the APIC id; CPUID must agree. */
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)vcpu_id << 24);
		if (e->function == 0xb || e->function == 0x1f)
			e->edx = (uint32_t)vcpu_id;
		if (e->function == XEN_CPUID_FIRST_LEAF + 4)
			e->ebx = (uint32_t)vcpu_id;
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}
