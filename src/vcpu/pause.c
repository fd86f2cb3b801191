#include "vcpu/pause.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vcpu/vcpu.h"

int pause__init(struct vm *vm)
{
	vm->pause = calloc(1, sizeof(*vm->pause));
	return vm->pause ? 0 : -ENOMEM;
}

void pause__destroy(struct vm *vm)
{
	free(vm->pause);
	vm->pause = NULL;
}

void pause__vcpu_thread_start(struct vcpu *v)
{
	char name[16];

	if (!v->vm->pause)
		return;
	atomic_store(&v->vm->pause->tid[v->id], (int)gettid());
	snprintf(name, sizeof(name), "vcpu%d", v->id);
	pthread_setname_np(pthread_self(), name);
}

/*
 * The vCPU publishes in_guest before it looks at paused, and the pauser
 * publishes paused before it looks at in_guest (both sequentially
 * consistent): either the vCPU sees the pause and parks, or the pauser
 * sees the vCPU in the guest and waits for it; the kick that follows the
 * pause makes such a KVM_RUN return at once (immediate_exit).
 */
bool pause__enter_guest(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct vm_pause *p = vm->pause;

	if (!p)
		return true;
	atomic_store(&p->in_guest[v->id], true);
	if (!atomic_load(&p->paused))
		return true;
	atomic_store(&p->in_guest[v->id], false);
	pthread_mutex_lock(&vm->xen.lock);
	/* The pauser may be waiting for this vCPU. */
	pthread_cond_broadcast(&vm->xen.wake);
	while (atomic_load(&p->paused) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->xen.wake, &vm->xen.lock);
	pthread_mutex_unlock(&vm->xen.lock);
	return false;
}

void pause__leave_guest(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct vm_pause *p = vm->pause;
	int saved = errno;

	if (!p)
		return;
	atomic_store(&p->in_guest[v->id], false);
	if (atomic_load(&p->paused)) {
		pthread_mutex_lock(&vm->xen.lock);
		pthread_cond_broadcast(&vm->xen.wake);
		pthread_mutex_unlock(&vm->xen.lock);
	}
	errno = saved;
}

static bool any_in_guest(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (atomic_load(&vm->pause->in_guest[i]))
			return true;
	return false;
}

int pause__vm(struct vm *vm)
{
	struct vm_pause *p = vm->pause;
	struct timespec deadline;
	bool busy;

	if (atomic_exchange(&p->paused, true))
		return -EALREADY;
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu__kick(vm->vcpu[i]);
	/* vm->xen.wake runs on CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PAUSE_TIMEOUT_MS / 1000;
	deadline.tv_nsec += (PAUSE_TIMEOUT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->xen.lock);
	while ((busy = any_in_guest(vm)) &&
	       pthread_cond_timedwait(&vm->xen.wake, &vm->xen.lock, &deadline) != ETIMEDOUT)
		;
	busy = any_in_guest(vm);
	pthread_mutex_unlock(&vm->xen.lock);
	if (busy) {
		pause__resume(vm);
		return -ETIMEDOUT;
	}
	return 0;
}

int pause__resume(struct vm *vm)
{
	struct vm_pause *p = vm->pause;
	bool was;

	pthread_mutex_lock(&vm->xen.lock);
	was = atomic_exchange(&p->paused, false);
	pthread_cond_broadcast(&vm->xen.wake);
	pthread_mutex_unlock(&vm->xen.lock);
	return was ? 0 : -EALREADY;
}

bool pause__is_paused(struct vm *vm)
{
	return atomic_load(&vm->pause->paused);
}

int pause__vcpu_tid(struct vm *vm, int id)
{
	return atomic_load(&vm->pause->tid[id]);
}
