/*
 * Secondary vCPUs brought up the PVH way: VCPUOP_initialise with a
 * struct vcpu_hvm_context in 32-bit flat protected mode, then VCPUOP_up.
 * The vCPU starts at ap_start (start32.S/start64.S), which enters the
 * guest's own mode, loads the IDT and calls the function given here;
 * when that returns the vCPU takes itself down with VCPUOP_down.
 */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include "guest.h"

typedef void (*ap_main_fn)(unsigned int vcpu);

/* Fills *ctx to start `vcpu` on the stack ending at stack_top (16-byte
 * aligned) running fn.  One vCPU at a time: fn is remembered until the
 * next call. */
void smp_prepare(struct vcpu_hvm_context *ctx, unsigned int vcpu,
		 void *stack_top, ap_main_fn fn);

#endif
