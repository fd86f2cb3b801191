/*
 * The CPUID a guest sees: what KVM supports, without VMX/SVM, with the
 * hypervisor bit, and with Xen's leaves at 0x40000000 so that Xen guests
 * find their hypervisor (signature, version, hypercall-page MSR, HVM
 * features).
 */
#ifndef PVMM_VCPU_CPUID_H
#define PVMM_VCPU_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

/*
 * pvmm's own leaves, after Xen's, for guests patched to use them
 * (guest-kernel-patches/): 0x40000100 returns the highest pvmm leaf in EAX
 * and "pvmmpvmmpvmm" in EBX, ECX, EDX; 0x40000101 EAX bit 0 says hypercalls
 * may be made with `outl %eax, $port` (EBX = port, EAX = hypercall number,
 * arguments as for a hypercall-page stub), the transport of the stubs.
 */
#define PVMM_CPUID_BASE          0x40000100u
#define PVMM_CPUID_FEATURES      (PVMM_CPUID_BASE + 1)
#define PVMM_CPUID_SIGNATURE_EBX 0x6d6d7670u   /* "pvmm" */
#define PVMM_CPUID_FEAT_HCALL_PIO (1u << 0)

/* Builds the VM-wide table; returns NULL after logging why. Free with free(). */
struct kvm_cpuid2 *cpuid__build(int kvm_fd, uint16_t domid);

/* Sets a vCPU's copy of the table, with its own APIC and Xen vCPU ids.
 * Returns 0 or -errno. */
int cpuid__set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *vm_cpuid, int vcpu_id);

#endif
