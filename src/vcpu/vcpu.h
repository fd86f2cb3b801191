/*
 * A vCPU: one KVM vCPU run by one host thread.  Exits are handled on that
 * thread with the guest's registers in the kvm_run sync-regs area, so a
 * hypercall costs one exit and no register ioctls.
 */
#ifndef PVMM_VCPU_VCPU_H
#define PVMM_VCPU_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/log.h"
#include "xen/domain.h"

struct vm;

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	/* Set once v->thread exists; read by whoever kicks v (any thread). */
	atomic_bool thread_started;
	struct xen_vcpu xen;
	/* Has a register state to start from (Xen's is_initialised): the
	 * boot vCPU from the PVH entry, the others from VCPUOP_initialise.
	 * Under vm->xen.lock, as xen.up is. */
	bool initialised;
};

/* Creates vCPU id with the VM's CPUID; returns 0 or -errno. */
int vcpu__create(struct vm *vm, int id, struct vcpu **out);
void vcpu__destroy(struct vcpu *v);

/* Puts the boot vCPU in the PVH entry state: 32-bit flat protected mode,
 * paging off, EIP = entry, EBX = start_info; marks it initialised and up,
 * as a toolstack leaves the boot vCPU. */
int vcpu__set_pvh_entry(struct vcpu *v, uint32_t entry, uint32_t start_info);

/*
 * The register state a VCPUOP_initialise context asks for, in KVM's terms,
 * checked as Xen's arch_set_info_hvm_guest checks it (and for what x86
 * itself forbids: reserved control-register bits, incoherent segment
 * limits).  *sregs holds the vCPU's current special registers; on success
 * the ones the context decides are replaced and *regs is written whole.
 * Returns 0 or -XEN_EINVAL, and changes nothing on failure.
 */
int vcpu__hvm_context_to_kvm(const struct vcpu_hvm_context *ctx,
			     struct kvm_regs *regs, struct kvm_sregs *sregs);

/*
 * Loads a VCPUOP_initialise context into v and makes it runnable for KVM.
 * v must not be in KVM_RUN: call it only on a vCPU that was never
 * initialised, hence never up.  0, -XEN_EINVAL, or -XEN_EIO when KVM fails.
 */
int vcpu__set_hvm_context(struct vcpu *v, const struct vcpu_hvm_context *ctx);

/*
 * Starts the vCPU's thread.  A vCPU that is down (v->xen.up false: not
 * brought up yet, or taken down with VCPUOP_down) parks its thread on the
 * domain's wake condition until VCPUOP_up or until the VM stops.
 */
int vcpu__start(struct vcpu *v);
/* Makes a running KVM_RUN return promptly (the VM is stopping). */
void vcpu__kick(struct vcpu *v);
void vcpu__join(struct vcpu *v);

/*
 * Register access inside an exit handler, through sync regs.  After
 * changing a general register call vcpu__regs_changed() so KVM loads it.
 */
static inline struct kvm_regs *vcpu__regs(struct vcpu *v)
{
	return &v->run->s.regs.regs;
}

static inline const struct kvm_sregs *vcpu__sregs(struct vcpu *v)
{
	return &v->run->s.regs.sregs;
}

static inline void vcpu__regs_changed(struct vcpu *v)
{
	v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}

/* True when the vCPU runs 64-bit code (long mode with a 64-bit CS). */
bool vcpu__is_64bit(struct vcpu *v);

/* Privilege level of the code that caused the exit. */
static inline int vcpu__cpl(struct vcpu *v)
{
	return v->run->s.regs.sregs.ss.dpl;
}

/* Logs the registers (general, segment, control) at this level. */
void vcpu__dump(struct vcpu *v, enum log_level level);

/* Sends MSI (address, data) into the in-kernel LAPICs; 0 or -errno. */
int vm__signal_msi(struct vm *vm, uint64_t address, uint32_t data);

#endif
