/*
 * vCPU timers, delivered on VIRQ_TIMER: VCPUOP_set_singleshot_timer (and
 * its VCPU_SSHOTTMR_future error), VCPUOP_stop_singleshot_timer, the
 * periodic timer and Xen's lower bound on its period, HYPERVISOR_set_timer_op,
 * and SCHEDOP_block waking for the timer event.  The guest waits with
 * SCHEDOP_poll on the timer port and asserts only that events arrive or
 * do not, never how long they took.
 */
#include "events.h"

#define MS              1000000ull
/* A wait for an event that should come: long enough for any host. */
#define EVENT_WAIT      (5000 * MS)
/* A wait for an event that should not come. */
#define QUIET_WAIT      (20 * MS)
#define CALLBACK_VECTOR 0xf2

static evtchn_port_t timer_port;
static volatile struct vcpu_info *vi;

static long singleshot(uint64_t deadline, uint32_t flags)
{
	struct vcpu_set_singleshot_timer t = {
		.timeout_abs_ns = deadline,
		.flags = flags,
	};

	return HYPERVISOR_vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
}

static long periodic(uint64_t period_ns)
{
	struct vcpu_set_periodic_timer t = { .period_ns = period_ns };

	return HYPERVISOR_vcpu_op(VCPUOP_set_periodic_timer, 0, &t);
}

/* Whether the timer port becomes pending within `wait` ns; clears it. */
static bool timer_fires(uint64_t wait)
{
	bool fired = evtchn_wait(timer_port, xen_now() + wait);

	evtchn_clear_pending(timer_port);
	return fired;
}

static long arm_singleshot(uint64_t deadline)
{
	return singleshot(deadline, VCPU_SSHOTTMR_future);
}

static long stop_singleshot(void)
{
	return HYPERVISOR_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL);
}

static long cancel_timer_op(void)
{
	return HYPERVISOR_set_timer_op(0);
}

/*
 * Arms the timer some way ahead, cancels it, and checks that nothing fires
 * until well past the deadline.  Whether the cancel came in time depends
 * on how busy the host is: when it did not, the attempt proves nothing and
 * is repeated further ahead.
 */
static void check_cancel(const char *cancel_name, long (*arm)(uint64_t),
			 long (*cancel)(void))
{
	char name[128];

	for (uint64_t lead = 10 * MS;; lead *= 4) {
		uint64_t deadline;
		long armed, cancelled;
		bool in_time;

		evtchn_clear_pending(timer_port);
		deadline = xen_now() + lead;
		armed = arm(deadline);
		cancelled = cancel();
		in_time = xen_now() < deadline;
		if (!in_time && lead < 2000 * MS)
			continue;
		snprintf(name, sizeof(name), "arm a timer to be cancelled by %s", cancel_name);
		check_long(name, armed, 0);
		check_long(cancel_name, cancelled, 0);
		snprintf(name, sizeof(name), "%s came before the deadline", cancel_name);
		if (check(in_time, name)) {
			snprintf(name, sizeof(name), "a timer cancelled by %s does not fire",
				 cancel_name);
			check(!evtchn_wait(timer_port, deadline + QUIET_WAIT), name);
		}
		evtchn_clear_pending(timer_port);
		return;
	}
}

static void test_singleshot(void)
{
	uint64_t now;
	long rc;

	evtchn_clear_pending(timer_port);
	now = xen_now();
	rc = singleshot(now + MS, 0);
	check_long("VCPUOP_set_singleshot_timer(now + 1 ms)", rc, 0);
	/* No timeout: only the timer can end this poll. */
	rc = sched_poll(timer_port, 0);
	check_long("SCHEDOP_poll on the timer port without a timeout returns 0", rc, 0);
	check(evtchn_is_pending(timer_port), "the singleshot timer made VIRQ_TIMER pending");
	check(xen_now() >= now, "Xen system time did not go backwards");
	evtchn_clear_pending(timer_port);

	rc = singleshot(xen_now() - MS, VCPU_SSHOTTMR_future);
	check_long("singleshot with VCPU_SSHOTTMR_future and a past deadline is -ETIME",
		   rc, -XEN_ETIME);
	check(!timer_fires(QUIET_WAIT), "the refused singleshot timer never fires");

	rc = singleshot(xen_now() - MS, 0);
	check_long("singleshot with a past deadline and no flags", rc, 0);
	check(timer_fires(EVENT_WAIT), "a singleshot timer in the past fires at once");

	check_cancel("VCPUOP_stop_singleshot_timer", arm_singleshot, stop_singleshot);
}

static void test_periodic(void)
{
	unsigned int events = 0;
	long rc;

	check_long("VCPUOP_set_periodic_timer below 1 ms is -EINVAL",
		   periodic(MS - 1), -XEN_EINVAL);
	check_long("VCPUOP_set_periodic_timer of 0 is -EINVAL", periodic(0), -XEN_EINVAL);

	evtchn_clear_pending(timer_port);
	rc = periodic(MS);
	check_long("VCPUOP_set_periodic_timer(1 ms)", rc, 0);
	for (unsigned int i = 0; i < 5; i++)
		if (timer_fires(EVENT_WAIT))
			events++;
	printf("timer: %u of 5 periodic events\n", events);
	check_long("the periodic timer fires again and again", events, 5);

	rc = HYPERVISOR_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL);
	check_long("VCPUOP_stop_periodic_timer", rc, 0);
	/* An event raised just before the stop may still be in flight. */
	HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
	evtchn_clear_pending(timer_port);
	check(!timer_fires(QUIET_WAIT), "a stopped periodic timer does not fire");
}

static void test_set_timer_op(void)
{
	long rc;

	evtchn_clear_pending(timer_port);
	rc = HYPERVISOR_set_timer_op(xen_now() + MS);
	check_long("HYPERVISOR_set_timer_op(now + 1 ms)", rc, 0);
	check(timer_fires(EVENT_WAIT), "set_timer_op fires VIRQ_TIMER");

	check_cancel("HYPERVISOR_set_timer_op(0)", HYPERVISOR_set_timer_op, cancel_timer_op);
}

/*
 * Xen wakes a vCPU blocked in an HVM guest through its event upcall, so a
 * callback is configured first: the global vector.  Interrupts stay off,
 * so the upcall itself is never taken.
 */
static void test_block(void)
{
	struct xen_hvm_param cb = {
		.domid = DOMID_SELF,
		.index = HVM_PARAM_CALLBACK_IRQ,
		.value = (uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | CALLBACK_VECTOR,
	};
	long rc;

	rc = HYPERVISOR_hvm_op(HVMOP_set_param, &cb);
	check_long("HVMOP_set_param(HVM_PARAM_CALLBACK_IRQ, vector)", rc, 0);

	evtchn_clear_pending(timer_port);
	vcpu_events_clear(vi);
	rc = singleshot(xen_now() + 2 * MS, 0);
	check_long("singleshot 2 ms ahead before SCHEDOP_block", rc, 0);
	rc = HYPERVISOR_sched_op(SCHEDOP_block, NULL);
	check_long("SCHEDOP_block returns 0", rc, 0);
	check(vi->evtchn_upcall_pending == 1,
	      "SCHEDOP_block returned with evtchn_upcall_pending set");
	check(evtchn_wait(timer_port, xen_now() + EVENT_WAIT),
	      "the timer port is pending after SCHEDOP_block");
	evtchn_clear_pending(timer_port);
}

void guest_main(const struct hvm_start_info *si)
{
	long rc;

	(void)si;
	printf("timer: %u-bit guest\n", GUEST_BITS);
	if (!check_long("XENMEM_add_to_physmap(shared_info)", shared_info_map(), 0))
		return;
	vi = &shared_info->vcpu_info[0];
	rc = evtchn_bind_virq(VIRQ_TIMER, 0, &timer_port);
	if (!check_long("EVTCHNOP_bind_virq(VIRQ_TIMER, vcpu 0)", rc, 0))
		return;

	test_singleshot();
	test_periodic();
	test_set_timer_op();
	test_block();
}
