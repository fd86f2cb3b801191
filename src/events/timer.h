/*
 * Xen vCPU timers: the single-shot timer (VCPUOP_set_singleshot_timer,
 * set_timer_op) and the periodic timer (VCPUOP_set_periodic_timer), both
 * raising VIRQ_TIMER on their vCPU.  Each is a host timerfd served by the
 * main loop, armed in Xen system time (ns since boot on CLOCK_MONOTONIC).
 */
#ifndef PVMM_EVENTS_TIMER_H
#define PVMM_EVENTS_TIMER_H

#include <stdint.h>

struct vm;

/* Timers for every vCPU, registered on the main loop; 0 or -errno. */
int vtimer__init(struct vm *vm);
void vtimer__destroy(struct vm *vm);

/* deadline is Xen system time; one in the past fires at once. 0 stops. */
void vtimer__set_singleshot(struct vm *vm, uint32_t vcpu, uint64_t deadline);

/* period 0 stops the periodic timer. */
void vtimer__set_periodic(struct vm *vm, uint32_t vcpu, uint64_t period_ns);

#endif
