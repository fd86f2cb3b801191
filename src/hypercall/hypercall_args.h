/* Register decoding of hypercalls, apart so that unit tests can drive it. */
#ifndef PVMM_HYPERCALL_HYPERCALL_ARGS_H
#define PVMM_HYPERCALL_HYPERCALL_ARGS_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "hypercall/hypercall.h"

/* Fills hc->nr, hc->arg[] and hc->compat from the guest's registers:
 * 64-bit: rax; rdi, rsi, rdx, r10, r8.  32-bit: eax; ebx, ecx, edx, esi, edi. */
void hcall__decode(const struct kvm_regs *r, bool compat, struct hcall *hc);

/* The RAX value a guest of this width sees for a handler's result. */
uint64_t hcall__encode_result(long ret, bool compat);

#endif
