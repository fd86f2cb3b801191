#include "xen/domain.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util/log.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/time.h"

/* A random (version 4) UUID, what a toolstack gives each domain. */
static void random_uuid(uint8_t uuid[16])
{
	ssize_t n;

	do
		n = getrandom(uuid, 16, 0);
	while (n < 0 && errno == EINTR);
	if (n != 16) {
		pr_warn("getrandom failed (%s): the domain handle is all zeros",
			n < 0 ? strerror(errno) : "short read");
		memset(uuid, 0, 16);
		return;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);   /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
}

void xen__domain_init(struct vm *vm)
{
	struct xen_domain *d = &vm->xen;
	pthread_condattr_t attr;

	pthread_mutex_init(&d->lock, NULL);
	/* SCHEDOP_poll deadlines are Xen system time, which is monotonic. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &attr);
	pthread_condattr_destroy(&attr);

	d->domid = PVMM_DOMID;
	d->has_shared_info = false;
	d->shared_info_compat = false;
	d->shutdown_code = -1;
	random_uuid(d->handle);
	xen__time_init(vm);

	memset(d->hvm_param, 0, sizeof(d->hvm_param));
	d->hvm_param[HVM_PARAM_STORE_PFN] =
		gmem__special_gpa(GMEM_SPECIAL_XENSTORE) >> GMEM_PAGE_SHIFT;
	d->hvm_param[HVM_PARAM_CONSOLE_PFN] =
		gmem__special_gpa(GMEM_SPECIAL_CONSOLE) >> GMEM_PAGE_SHIFT;
}

void xen__vcpu_wake_locked(struct vcpu *v)
{
	/* Waiters share the domain's condition and each looks at its own. */
	pthread_cond_broadcast(&v->vm->xen.wake);
}

void xen__vcpu_wake(struct vcpu *v)
{
	struct xen_domain *d = &v->vm->xen;

	/* Taking the lock orders this wake after the waiter's last look at
	 * its condition, so the wake cannot fall between look and sleep. */
	pthread_mutex_lock(&d->lock);
	xen__vcpu_wake_locked(v);
	pthread_mutex_unlock(&d->lock);
}

void xen__latch_shared_info_layout(struct vm *vm, bool compat)
{
	pthread_mutex_lock(&vm->xen.lock);
	vm->xen.shared_info_compat = compat;
	/* As Xen: only the wallclock is rewritten in the new layout. */
	xen__write_wallclock(vm);
	pthread_mutex_unlock(&vm->xen.lock);
}

long xen__check_domid(const struct vm *vm, uint16_t domid)
{
	if (domid == DOMID_SELF || domid == vm->xen.domid)
		return 0;
	return domid == 0 ? -XEN_EPERM : -XEN_ESRCH;
}

struct vcpu *xen__vcpu(struct vm *vm, uint64_t id)
{
	return id < (uint64_t)vm->nr_vcpus ? vm->vcpu[id] : NULL;
}

static const char *const shutdown_reason_name[] = {
	[SHUTDOWN_poweroff] = "poweroff",
	[SHUTDOWN_reboot] = "reboot",
	[SHUTDOWN_suspend] = "suspend",
	[SHUTDOWN_crash] = "crash",
	[SHUTDOWN_watchdog] = "watchdog",
	[SHUTDOWN_soft_reset] = "soft reset",
};

static const enum pvmm_exit shutdown_exit_status[] = {
	[SHUTDOWN_poweroff] = PVMM_EXIT_POWEROFF,
	[SHUTDOWN_reboot] = PVMM_EXIT_REBOOT,
	[SHUTDOWN_suspend] = PVMM_EXIT_SUSPEND,
	[SHUTDOWN_crash] = PVMM_EXIT_CRASH,
	[SHUTDOWN_watchdog] = PVMM_EXIT_WATCHDOG,
	/* pvmm cannot rebuild the domain in place: the host restarts it. */
	[SHUTDOWN_soft_reset] = PVMM_EXIT_REBOOT,
};

_Static_assert(sizeof(shutdown_reason_name) / sizeof(shutdown_reason_name[0]) == SHUTDOWN_MAX + 1 &&
	       sizeof(shutdown_exit_status) / sizeof(shutdown_exit_status[0]) == SHUTDOWN_MAX + 1,
	       "every SHUTDOWN_* reason has a name and an exit status");

void xen__domain_shutdown(struct vm *vm, unsigned int reason)
{
	struct xen_domain *d = &vm->xen;

	pthread_mutex_lock(&d->lock);
	if (d->shutdown_code < 0)
		d->shutdown_code = (int)reason;
	reason = (unsigned int)d->shutdown_code;
	pthread_mutex_unlock(&d->lock);

	pr_info("guest shut down: %s", shutdown_reason_name[reason]);
	vm__stop(vm, shutdown_exit_status[reason]);
}
