/*
 * A real struct vm without KVM, for unit tests of the Xen layer: guest
 * memory, the Xen domain, the main loop and vCPUs whose kvm_run says
 * "protected mode, paging off", so hypercall copies use guest-physical
 * addresses.  Nothing here imitates KVM: code that needs KVM is not run.
 */
#ifndef PVMM_TESTS_VM_FIXTURE_H
#define PVMM_TESTS_VM_FIXTURE_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hypercall/hypercall.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"

#define VM_FIXTURE_CR0_PE 1u

static inline void vm_fixture__init(struct vm *vm, struct vcpu *cpu, int nr_cpus, uint64_t ram)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->fd = vm->stop_fd = vm->shutdown_timer_fd = -1;
	ck_assert_int_eq(gmem__init(&vm->mem, ram), 0);
	ck_assert_int_eq(loop__init(&vm->loop), 0);
	xen__domain_init(vm);
	for (int i = 0; i < nr_cpus; i++) {
		struct kvm_run *run = calloc(1, sizeof(*run));

		ck_assert_ptr_nonnull(run);
		run->s.regs.sregs.cr0 = VM_FIXTURE_CR0_PE;
		cpu[i] = (struct vcpu){ .vm = vm, .id = i, .fd = -1, .run = run };
		vm->vcpu[i] = &cpu[i];
	}
	vm->nr_vcpus = nr_cpus;
	cpu[0].initialised = true;
	cpu[0].xen.up = true;
}

static inline void vm_fixture__destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++)
		free(vm->vcpu[i]->run);
	loop__destroy(&vm->loop);
	gmem__free(&vm->mem);
}

/* A hypercall as vCPU v makes it, with arguments already in place. */
static inline long vm_fixture__hcall(struct vcpu *v, hcall_fn fn, unsigned nr, bool compat,
				     uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct hcall hc = {
		.vcpu = v, .vm = v->vm, .compat = compat, .nr = nr, .arg = { a0, a1, a2 },
	};

	return fn(&hc);
}

#endif
