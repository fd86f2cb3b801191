/*
 * Hypercall dispatch.  The transport (transport.c) catches the guest's
 * `out` from a hypercall-page stub and calls hcall__dispatch(), which
 * decodes the calling convention of the guest's mode, finds the handler in
 * the one dispatch table (dispatch.c) and writes the result to RAX.
 *
 * Arguments that are pointers are guest-virtual addresses: handlers reach
 * guest memory only through hcall__copy_from()/hcall__copy_to(), which
 * translate through the guest's page tables and check every byte.
 */
#ifndef PVMM_HYPERCALL_HYPERCALL_H
#define PVMM_HYPERCALL_HYPERCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypercall/xen_layout.h"
#include "xen/xen_abi.h"

struct vcpu;
struct vm;

struct hcall {
	struct vcpu *vcpu;
	struct vm *vm;
	bool compat;        /* 32-bit guest: ebx.. arguments, compat layouts */
	unsigned nr;        /* __HYPERVISOR_* */
	uint64_t arg[5];    /* zero-extended; 32 bits wide when compat */
};

typedef long (*hcall_fn)(struct hcall *hc);

/* Decodes and serves the hypercall whose `out` caused this exit. */
void hcall__dispatch(struct vcpu *v);

/* Guest-virtual copies for handlers: 0 or -XEN_EFAULT. */
int hcall__copy_from(struct hcall *hc, uint64_t gva, void *dst, size_t len);
int hcall__copy_to(struct hcall *hc, uint64_t gva, const void *src, size_t len);

/* A guest structure read into a host buffer with its guest layout (native or
 * compat); fields are read and written with xfield__get/xfield__set. */
#define HCALL_STRUCT_MAX 256

/* -XEN_ENOSYS, logged the first time each (hypercall, sub-op) is seen. */
long hcall__enosys(struct hcall *hc, const char *name, unsigned long subop);

/* The handlers, one per hypercall; each switches on its sub-op. */
long hc__xen_version(struct hcall *hc);
long hc__console_io(struct hcall *hc);
long hc__sched_op(struct hcall *hc);
long hc__hvm_op(struct hcall *hc);
long hc__memory_op(struct hcall *hc);
long hc__vcpu_op(struct hcall *hc);
long hc__set_timer_op(struct hcall *hc);

/* Fills the hypercall page at gpa; false when gpa is not a guest RAM page. */
bool hcall__fill_page(struct vm *vm, uint64_t gpa);

#endif
