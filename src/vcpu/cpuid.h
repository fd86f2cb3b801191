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

/* Builds the VM-wide table; returns NULL after logging why. Free with free(). */
struct kvm_cpuid2 *cpuid__build(int kvm_fd, uint16_t domid);

/* Sets a vCPU's copy of the table, with its own APIC and Xen vCPU ids.
 * Returns 0 or -errno. */
int cpuid__set_vcpu(int vcpu_fd, const struct kvm_cpuid2 *vm_cpuid, int vcpu_id);

#endif
