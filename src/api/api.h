/*
 * The management API: REST over a Unix socket, shaped after Cloud
 * Hypervisor's /api/v1 so that tools written for it can drive pvmm.  It is
 * served from the main loop, never blocking it: every socket is
 * non-blocking, one request is read per connection (HTTP/1.1, strict
 * limits: api/http.h), answered and the connection closed.  At most
 * API_MAX_CLIENTS connections are open at once (more are answered 503);
 * one that has not sent a whole request within API_REQUEST_TIMEOUT_MS is
 * answered 408 and closed.
 *
 *   GET /api/v1/vmm.ping         200 {version, build_version, pid, features}
 *   PUT /api/v1/vmm.shutdown     204, then pvmm stops (exit status 20)
 *   GET /api/v1/vm.info          200 {config, state, memory_actual_size,
 *                                     balloon, vcpus}
 *   PUT /api/v1/vm.pause         204; 405 when already paused
 *   PUT /api/v1/vm.resume        204; 405 when not paused
 *   PUT /api/v1/vm.shutdown      204: control/shutdown = poweroff
 *   PUT /api/v1/vm.power-button  204: the same, as on Xen
 *   PUT /api/v1/vm.reboot        204: control/shutdown = reboot
 *   PUT /api/v1/vm.resize        {desired_ram | desired_balloon}: 204,
 *                                the balloon target (memory/target)
 *
 * Errors answer {"error": "..."} with 400, 404, 405, 411, 413, 414, 431,
 * 501 (Cloud Hypervisor endpoints pvmm does not have), 503 or 505.
 */
#ifndef PVMM_API_API_H
#define PVMM_API_API_H

struct vm;

#define API_MAX_CLIENTS 8
#define API_REQUEST_TIMEOUT_MS 5000

/*
 * Serves the API on spec: "PATH", "path=PATH" (a new socket only its owner may use,
 * replacing a stale one) or "fd=N" (a listening Unix socket handed over,
 * as libvirt does).  0, or a PVMM_EXIT_* status after printing why.
 */
int api__start(struct vm *vm, const char *spec);
/* Closes every connection and the socket, and removes the path it made. */
void api__stop(struct vm *vm);

#endif
