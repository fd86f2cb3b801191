#include "xen/control.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/log.h"
#include "vcpu/vm.h"
#include "xenstore/xenstored.h"

static void on_timeout(int fd, void *opaque)
{
	struct vm *vm = opaque;
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	pr_warn("the guest did not power off within %u s of being asked; stopping it",
		vm->cfg->shutdown_timeout);
	vm__stop(vm, PVMM_EXIT_STOPPED);
}

static int arm_timeout(struct vm *vm)
{
	struct itimerspec its = { .it_value.tv_sec = vm->cfg->shutdown_timeout };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL) < 0 || loop__add(&vm->loop, fd, on_timeout, vm)) {
		close(fd);
		return -1;
	}
	vm->shutdown_timer_fd = fd;
	return 0;
}

/* Writes control/shutdown = action ("poweroff", "reboot"), as the toolstack;
 * what says it for people. */
static void request(struct vm *vm, const char *action, const char *what)
{
	if (vm->shutdown_requested || vm->cfg->shutdown_timeout == 0 ||
	    !vm->xenstored || !vm->xenstored->guest_connected) {
		vm__stop(vm, PVMM_EXIT_STOPPED);
		return;
	}
	vm->shutdown_requested = true;
	if (xenstored__write_home(vm, "control/shutdown", action) || arm_timeout(vm)) {
		pr_warn("cannot ask the guest to %s; stopping it", what);
		vm__stop(vm, PVMM_EXIT_STOPPED);
		return;
	}
	pr_info("asked the guest to %s (control/shutdown); waiting up to %u s, "
		"ask again to stop it now", what, vm->cfg->shutdown_timeout);
}

void control__request_shutdown(struct vm *vm)
{
	request(vm, "poweroff", "power off");
}

void control__request_reboot(struct vm *vm)
{
	request(vm, "reboot", "reboot");
}

void control__destroy(struct vm *vm)
{
	if (vm->shutdown_timer_fd >= 0) {
		loop__remove(&vm->loop, vm->shutdown_timer_fd);
		close(vm->shutdown_timer_fd);
		vm->shutdown_timer_fd = -1;
	}
}
