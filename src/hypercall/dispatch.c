#include <pthread.h>
#include <stdio.h>

#include "ept/gva.h"
#include "events/evtchn.h"
#include "grant/gnttab.h"
#include "hypercall/hypercall.h"
#include "hypercall/hypercall_args.h"
#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The one dispatch table.  Numbers missing here answer -ENOSYS. */
static const struct {
	const char *name;
	hcall_fn fn;
} hypercalls[] = {
	[__HYPERVISOR_memory_op] = { "memory_op", hc__memory_op },
	[__HYPERVISOR_set_timer_op] = { "set_timer_op", hc__set_timer_op },
	[__HYPERVISOR_xen_version] = { "xen_version", hc__xen_version },
	[__HYPERVISOR_console_io] = { "console_io", hc__console_io },
	[__HYPERVISOR_vcpu_op] = { "vcpu_op", hc__vcpu_op },
	[__HYPERVISOR_sched_op] = { "sched_op", hc__sched_op },
	[__HYPERVISOR_hvm_op] = { "hvm_op", hc__hvm_op },
	[__HYPERVISOR_event_channel_op] = { "event_channel_op", hc__event_channel_op },
	[__HYPERVISOR_grant_table_op] = { "grant_table_op", hc__grant_table_op },
};

void hcall__decode(const struct kvm_regs *r, bool compat, struct hcall *hc)
{
	hc->compat = compat;
	if (compat) {
		hc->nr = (uint32_t)r->rax;
		hc->arg[0] = (uint32_t)r->rbx;
		hc->arg[1] = (uint32_t)r->rcx;
		hc->arg[2] = (uint32_t)r->rdx;
		hc->arg[3] = (uint32_t)r->rsi;
		hc->arg[4] = (uint32_t)r->rdi;
	} else {
		hc->nr = r->rax > UINT32_MAX ? UINT32_MAX : (unsigned)r->rax;
		hc->arg[0] = r->rdi;
		hc->arg[1] = r->rsi;
		hc->arg[2] = r->rdx;
		hc->arg[3] = r->r10;
		hc->arg[4] = r->r8;
	}
}

uint64_t hcall__encode_result(long ret, bool compat)
{
	/* A 32-bit guest sees EAX; its upper half is architecturally lost. */
	return compat ? (uint32_t)ret : (uint64_t)ret;
}

void hcall__dispatch(struct vcpu *v)
{
	struct kvm_regs *r = vcpu__regs(v);
	struct hcall hc = { .vcpu = v, .vm = v->vm };
	long ret;

	hcall__decode(r, !vcpu__is_64bit(v), &hc);
	if (vcpu__cpl(v) != 0)
		ret = -XEN_EPERM;   /* as Xen: guest user space may not call */
	else if (hc.nr < ARRAY_SIZE(hypercalls) && hypercalls[hc.nr].fn)
		ret = hypercalls[hc.nr].fn(&hc);
	else
		ret = hcall__enosys(&hc, "hypercall", hc.nr);
	r->rax = hcall__encode_result(ret, hc.compat);
	vcpu__regs_changed(v);
}

static int copy_guest(struct hcall *hc, uint64_t gva, void *buf, size_t len, bool to_guest)
{
	struct gva_mmu mmu = gva__mmu_from_sregs(vcpu__sregs(hc->vcpu));
	int ret;

	if (hc->compat && (gva > UINT32_MAX || len > UINT32_MAX - gva + 1))
		return -XEN_EFAULT;
	if (to_guest)
		ret = gva__write(&hc->vm->mem, &mmu, gva, buf, len);
	else
		ret = gva__read(&hc->vm->mem, &mmu, gva, buf, len);
	return ret ? -XEN_EFAULT : 0;
}

int hcall__copy_from(struct hcall *hc, uint64_t gva, void *dst, size_t len)
{
	return copy_guest(hc, gva, dst, len, false);
}

int hcall__copy_to(struct hcall *hc, uint64_t gva, const void *src, size_t len)
{
	return copy_guest(hc, gva, (void *)src, len, true);
}

/*
 * "Logged once" per (hypercall, sub-op): a guest probing sub-ops in a loop
 * must not flood the log.  Pairs beyond the table share one last slot.
 */
#define SEEN_NR 64
#define SEEN_SUBOP 64
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t seen[SEEN_NR][SEEN_SUBOP / 8];

long hcall__enosys(struct hcall *hc, const char *name, unsigned long subop)
{
	unsigned nr = hc->nr < SEEN_NR ? hc->nr : SEEN_NR - 1;
	unsigned s = subop < SEEN_SUBOP ? (unsigned)subop : SEEN_SUBOP - 1;
	bool first;

	pthread_mutex_lock(&seen_lock);
	first = !(seen[nr][s / 8] & (1u << (s % 8)));
	seen[nr][s / 8] |= (uint8_t)(1u << (s % 8));
	pthread_mutex_unlock(&seen_lock);
	if (first)
		pr_warn("unimplemented hypercall %u (%s) sub-op %lu: -ENOSYS",
			hc->nr, name, subop);
	return -XEN_ENOSYS;
}
