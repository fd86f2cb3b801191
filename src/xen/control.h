/*
 * Asking the guest to shut down, the way Xen's toolstack does: write
 * control/shutdown = "poweroff" in its xenstore home and give it time to
 * comply before stopping it.  A guest that never spoke to xenstore cannot
 * hear the request and is stopped at once.
 */
#ifndef PVMM_XEN_CONTROL_H
#define PVMM_XEN_CONTROL_H

#include <stdbool.h>

struct vm;

/* Default time a guest gets to power off after being asked, in seconds. */
#define CONTROL_DEFAULT_SHUTDOWN_TIMEOUT 30

/* The host wants the VM gone (SIGTERM, SIGINT, SIGHUP, the management
 * API's vm.shutdown).  The first request asks the guest; a second one (of
 * either kind), or the timeout, stops the VM with PVMM_EXIT_STOPPED. */
void control__request_shutdown(struct vm *vm);
/* The same with control/shutdown = "reboot" (the management API's
 * vm.reboot): the guest answers with SHUTDOWN_reboot and pvmm exits with
 * PVMM_EXIT_REBOOT for its manager to start it again. */
void control__request_reboot(struct vm *vm);
void control__destroy(struct vm *vm);

#endif
