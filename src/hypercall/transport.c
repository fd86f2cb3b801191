#include "hypercall/transport.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hypercall/hypercall.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"

#define STUB_SIZE 32   /* Xen's hypercall-page stride */

static void hypercall_port(void *dev, struct vcpu *v, uint64_t port, uint8_t *data,
			   uint32_t len, bool is_write)
{
	(void)dev;
	(void)port;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	hcall__dispatch(v);
}

int hcall__init(struct vm *vm)
{
	return io__register(&vm->pio, PVMM_HYPERCALL_PORT, 1, hypercall_port, vm);
}

bool hcall__fill_page(struct vm *vm, uint64_t gpa)
{
	uint8_t *page;

	if (gpa % GMEM_PAGE_SIZE || !gmem__is_ram(&vm->mem, gpa, GMEM_PAGE_SIZE))
		return false;
	page = gmem__ptr(&vm->mem, gpa, GMEM_PAGE_SIZE);
	for (unsigned nr = 0; nr < GMEM_PAGE_SIZE / STUB_SIZE; nr++) {
		uint8_t *stub = page + nr * STUB_SIZE;
		const uint8_t code[] = {
			0xb8, (uint8_t)nr, 0, 0, 0,         /* mov $nr, %eax */
			0xe7, PVMM_HYPERCALL_PORT,          /* out %eax, $port */
			0xc3,                               /* ret */
		};
		/* ud2 after the stub: a jump into the middle faults (#UD). */
		for (unsigned i = 0; i < STUB_SIZE; i += 2) {
			stub[i] = 0x0f;
			stub[i + 1] = 0x0b;
		}
		memcpy(stub, code, sizeof(code));
	}
	return true;
}

bool hcall__msr(struct vcpu *v, uint32_t index, bool is_write, uint64_t *data)
{
	uint64_t gpa;

	if (index != PVMM_HYPERCALL_MSR || !is_write)
		return false;
	/* Low 12 bits: which hypercall page; there is one. */
	if (*data & (GMEM_PAGE_SIZE - 1)) {
		pr_warn_once("guest asked for hypercall page %llu; there is only page 0",
			     (unsigned long long)(*data & (GMEM_PAGE_SIZE - 1)));
		return false;
	}
	gpa = *data;
	if (!hcall__fill_page(v->vm, gpa)) {
		pr_warn_once("guest put its hypercall page outside RAM (%#llx)",
			     (unsigned long long)gpa);
		return false;
	}
	/* As Xen, the guest's mode now decides shared_info's layout. */
	xen__latch_shared_info_layout(v->vm, !vcpu__is_64bit(v));
	pr_debug("vcpu%d: hypercall page at %#llx", v->id, (unsigned long long)gpa);
	return true;
}

int hcall__install_msr_filter(int vm_fd)
{
	uint8_t deny = 0;   /* one MSR, bit clear: denied in the kernel, so it exits */
	struct kvm_msr_filter filter = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
		.ranges[0] = {
			.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			.nmsrs = 1,
			.base = PVMM_HYPERCALL_MSR,
			.bitmap = &deny,
		},
	};

	return ioctl(vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0 ? -errno : 0;
}
