#include "events/timer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "events/evtchn.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xen/time.h"

#define NSEC_PER_SEC 1000000000ULL

struct vtimer {
	struct vm *vm;
	uint32_t vcpu;
	int fd;
};

_Static_assert(LOOP_MAX_FDS >= 2 * PVMM_MAX_VCPUS + 16,
	       "the main loop holds two timers per vCPU and the backends' descriptors");

struct vtimers {
	int nr;
	struct vtimer singleshot[PVMM_MAX_VCPUS];
	struct vtimer periodic[PVMM_MAX_VCPUS];
};

static void on_expiry(int fd, void *opaque)
{
	struct vtimer *t = opaque;
	uint64_t expirations;

	/* Several periods missed still make one event: the guest reads the
	 * time from its pvclock, not from the count. */
	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	evtchn__raise_virq(t->vm, t->vcpu, VIRQ_TIMER);
}

static int create_timer(struct vm *vm, struct vtimer *t, uint32_t vcpu)
{
	t->vm = vm;
	t->vcpu = vcpu;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0)
		return -errno;
	return loop__add(&vm->loop, t->fd, on_expiry, t);
}

int vtimer__init(struct vm *vm)
{
	struct vtimers *ts = calloc(1, sizeof(*ts));
	int ret = 0;

	if (!ts)
		return -ENOMEM;
	vm->vtimers = ts;
	for (int i = 0; i < PVMM_MAX_VCPUS; i++)
		ts->singleshot[i].fd = ts->periodic[i].fd = -1;
	for (int i = 0; i < vm->nr_vcpus && !ret; i++) {
		ret = create_timer(vm, &ts->singleshot[i], (uint32_t)i);
		if (!ret)
			ret = create_timer(vm, &ts->periodic[i], (uint32_t)i);
	}
	return ret;
}

void vtimer__destroy(struct vm *vm)
{
	struct vtimers *ts = vm->vtimers;

	if (!ts)
		return;
	for (int i = 0; i < PVMM_MAX_VCPUS; i++) {
		struct vtimer *pair[2] = { &ts->singleshot[i], &ts->periodic[i] };
		for (int k = 0; k < 2; k++) {
			if (pair[k]->fd >= 0) {
				loop__remove(&vm->loop, pair[k]->fd);
				close(pair[k]->fd);
			}
		}
	}
	free(ts);
	vm->vtimers = NULL;
}

static struct timespec ns_to_timespec(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NSEC_PER_SEC),
				  .tv_nsec = (long)(ns % NSEC_PER_SEC) };
}

static void arm(struct vtimer *t, const struct itimerspec *its)
{
	if (t->fd >= 0 && timerfd_settime(t->fd, TFD_TIMER_ABSTIME, its, NULL) < 0)
		pr_warn_once("cannot arm a vCPU timer: %s", strerror(errno));
}

void vtimer__set_singleshot(struct vm *vm, uint32_t vcpu, uint64_t deadline)
{
	struct itimerspec its = { 0 };

	if (vcpu >= (uint32_t)vm->nr_vcpus)
		return;
	if (deadline) {
		/* A deadline in the past fires at once; 0 would disarm. */
		uint64_t mono = vm->xen.boot_mono_ns + deadline;
		if (mono < vm->xen.boot_mono_ns)
			mono = UINT64_MAX / 2;   /* absurdly far: never, in practice */
		its.it_value = ns_to_timespec(mono ? mono : 1);
	}
	arm(&vm->vtimers->singleshot[vcpu], &its);
}

void vtimer__set_periodic(struct vm *vm, uint32_t vcpu, uint64_t period_ns)
{
	struct itimerspec its = { 0 };

	if (vcpu >= (uint32_t)vm->nr_vcpus)
		return;
	if (period_ns) {
		/* As Xen, the first event is due at once. */
		uint64_t first = vm->xen.boot_mono_ns + xen__system_time(vm);
		its.it_value = ns_to_timespec(first);
		its.it_interval = (struct timespec){ .tv_sec = (time_t)(period_ns / NSEC_PER_SEC),
						     .tv_nsec = (long)(period_ns % NSEC_PER_SEC) };
	}
	arm(&vm->vtimers->periodic[vcpu], &its);
}
