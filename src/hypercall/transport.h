/*
 * How hypercalls reach pvmm on any KVM: the guest writes the MSR that CPUID
 * leaf 0x40000002 names, pvmm fills the page it points at with one 32-byte
 * stub per hypercall, `mov $nr, %eax; out %eax, $PVMM_HYPERCALL_PORT; ret`,
 * and each stub's port write exits to pvmm with the arguments in registers.
 * No in-kernel Xen support (KVM_CAP_XEN_HVM) is needed.
 */
#ifndef PVMM_HYPERCALL_TRANSPORT_H
#define PVMM_HYPERCALL_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

struct vcpu;
struct vm;

/* Claims the hypercall port; 0 or -errno. */
int hcall__init(struct vm *vm);

/* Serves an MSR access pvmm owns; false when the MSR is not pvmm's. A bad
 * write to it sets nothing and returns false too, so the guest takes #GP. */
bool hcall__msr(struct vcpu *v, uint32_t index, bool is_write, uint64_t *data);

/* The MSR filter that sends the hypercall MSR to user space even on hosts
 * whose KVM knows an MSR at that index (Hyper-V's). 0 or -errno. */
int hcall__install_msr_filter(int vm_fd);

#endif
