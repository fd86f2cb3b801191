/*
 * Pausing a VM for the management API.  Pausing kicks every vCPU out of
 * KVM_RUN and parks it before it would enter the guest again, until the VM
 * is resumed or stops.  A vCPU that is inside pvmm (a hypercall, waiting
 * in SCHEDOP_block, down) runs no guest code and parks only when it would
 * re-enter.  Backends and timers go on: what they raise meanwhile is
 * delivered after resume.
 */
#ifndef PVMM_VCPU_PAUSE_H
#define PVMM_VCPU_PAUSE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "vcpu/vm.h"

struct vcpu;

struct vm_pause {
	atomic_bool paused;
	atomic_bool in_guest[PVMM_MAX_VCPUS];  /* between enter and leave */
	atomic_int tid[PVMM_MAX_VCPUS];        /* the vCPU thread's id; 0 before it starts */
};

/* How long pause__vm() waits for the vCPUs to leave the guest. */
#define PAUSE_TIMEOUT_MS 2000

/* 0 or -ENOMEM. */
int pause__init(struct vm *vm);
void pause__destroy(struct vm *vm);

/*
 * On the vCPU's own thread, first thing: records its thread id and names
 * it "vcpuN", the name managers (libvirt's ch driver) look for in
 * /proc/PID/task/TID/comm.
 */
void pause__vcpu_thread_start(struct vcpu *v);

/*
 * Right before KVM_RUN.  True: enter the guest (call pause__leave_guest()
 * when KVM_RUN returns).  False: the VM was paused, and this call parked
 * until it was resumed or began to stop; look again before entering.
 */
bool pause__enter_guest(struct vcpu *v);
/* Right after KVM_RUN returns; errno is kept. */
void pause__leave_guest(struct vcpu *v);

/*
 * Pauses the VM and returns once no vCPU runs guest code: 0, -EALREADY
 * (already paused) or -ETIMEDOUT (a vCPU did not leave KVM_RUN within
 * PAUSE_TIMEOUT_MS; the VM is left running).  Main thread.
 */
int pause__vm(struct vm *vm);
/* 0, or -EALREADY when the VM is not paused. */
int pause__resume(struct vm *vm);
bool pause__is_paused(struct vm *vm);
/* The thread id of vCPU id, 0 when its thread has not started. */
int pause__vcpu_tid(struct vm *vm, int id);

#endif
