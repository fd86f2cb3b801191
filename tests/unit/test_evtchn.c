/* The event-channel state machine, driven through the hypercall as a
 * 64-bit guest makes it, on a VM without KVM. */
#include <check.h>
#include <stdint.h>
#include <unistd.h>

#include "events/evtchn.h"
#include "util/log.h"
#include "vm_fixture.h"
#include "check_main.h"

#define RAM (16ULL << 20)
#define ARGS_GPA 0x10000ULL
#define SHINFO_GFN 0x20ULL
#define NR_CPUS 2

static struct vm vm;
static struct vcpu cpu[NR_CPUS];
static struct shared_info *si;

static long op(unsigned cmd, void *arg, size_t size)
{
	long ret;

	ck_assert_int_eq(gmem__write(&vm.mem, ARGS_GPA, arg, size), 0);
	ret = vm_fixture__hcall(&cpu[0], hc__event_channel_op, __HYPERVISOR_event_channel_op,
				false, cmd, ARGS_GPA, 0);
	ck_assert_int_eq(gmem__read(&vm.mem, ARGS_GPA, arg, size), 0);
	return ret;
}

static void setup(void)
{
	struct xen_add_to_physmap map = {
		.domid = DOMID_SELF, .space = XENMAPSPACE_shared_info, .idx = 0, .gpfn = SHINFO_GFN,
	};

	log__set_level(LOG_ERROR);
	vm_fixture__init(&vm, cpu, NR_CPUS, RAM);
	ck_assert_int_eq(evtchn__init(&vm), 0);
	ck_assert_int_eq(gmem__write(&vm.mem, ARGS_GPA, &map, sizeof(map)), 0);
	ck_assert_int_eq(vm_fixture__hcall(&cpu[0], hc__memory_op, __HYPERVISOR_memory_op, false,
					   XENMEM_add_to_physmap, ARGS_GPA, 0), 0);
	si = gmem__frame(&vm.mem, SHINFO_GFN);
}

static void teardown(void)
{
	evtchn__destroy(&vm);
	vm_fixture__destroy(&vm);
}

static bool pending(uint32_t port)
{
	return (si->evtchn_pending[port / 64] >> (port % 64)) & 1;
}

static uint32_t alloc_unbound(domid_t remote)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = remote };

	ck_assert_int_eq(op(EVTCHNOP_alloc_unbound, &a, sizeof(a)), 0);
	return a.port;
}

static uint32_t loopback(uint32_t *other)
{
	uint32_t a = alloc_unbound(DOMID_SELF);
	struct evtchn_bind_interdomain b = { .remote_dom = DOMID_SELF, .remote_port = a };

	ck_assert_int_eq(op(EVTCHNOP_bind_interdomain, &b, sizeof(b)), 0);
	*other = b.local_port;
	return a;
}

static uint32_t status(uint32_t port, struct evtchn_status *s)
{
	*s = (struct evtchn_status){ .dom = DOMID_SELF, .port = port };
	ck_assert_int_eq(op(EVTCHNOP_status, s, sizeof(*s)), 0);
	return s->status;
}

static void clear_all(void)
{
	memset(si->evtchn_pending, 0, sizeof(si->evtchn_pending));
	si->vcpu_info[0].evtchn_pending_sel = 0;
	si->vcpu_info[0].evtchn_upcall_pending = 0;
}

START_TEST(port_zero_is_never_allocated)
{
	ck_assert_uint_eq(alloc_unbound(DOMID_SELF), 1);
	ck_assert_uint_eq(alloc_unbound(0), 2);
}
END_TEST

START_TEST(loopback_send_sets_pending_sel_and_upcall)
{
	uint32_t b, a = loopback(&b);

	clear_all();
	ck_assert_int_eq(op(EVTCHNOP_send, &(struct evtchn_send){ .port = b }, sizeof(struct evtchn_send)), 0);
	ck_assert(pending(a));
	ck_assert(!pending(b));
	ck_assert_uint_eq(si->vcpu_info[0].evtchn_pending_sel, 1ULL << (a / 64));
	ck_assert_uint_eq(si->vcpu_info[0].evtchn_upcall_pending, 1);
}
END_TEST

START_TEST(masked_port_stays_quiet_until_unmask_reraises)
{
	uint32_t b, a = loopback(&b);

	clear_all();
	si->evtchn_mask[a / 64] |= 1ULL << (a % 64);
	op(EVTCHNOP_send, &(struct evtchn_send){ .port = b }, sizeof(struct evtchn_send));
	ck_assert(pending(a));
	ck_assert_uint_eq(si->vcpu_info[0].evtchn_pending_sel, 0);
	ck_assert_uint_eq(si->vcpu_info[0].evtchn_upcall_pending, 0);
	ck_assert_int_eq(op(EVTCHNOP_unmask, &(struct evtchn_unmask){ .port = a },
			    sizeof(struct evtchn_unmask)), 0);
	ck_assert(!(si->evtchn_mask[a / 64] & (1ULL << (a % 64))));
	ck_assert_uint_eq(si->vcpu_info[0].evtchn_upcall_pending, 1);
}
END_TEST

START_TEST(close_turns_the_peer_unbound_and_bad_ports_are_einval)
{
	struct evtchn_status s;
	uint32_t b, a = loopback(&b);

	ck_assert_uint_eq(status(a, &s), EVTCHNSTAT_interdomain);
	ck_assert_uint_eq(s.u.interdomain.port, b);
	ck_assert_int_eq(op(EVTCHNOP_close, &(struct evtchn_close){ .port = b }, sizeof(struct evtchn_close)), 0);
	ck_assert_uint_eq(status(b, &s), EVTCHNSTAT_closed);
	ck_assert_uint_eq(status(a, &s), EVTCHNSTAT_unbound);
	ck_assert_int_eq(op(EVTCHNOP_close, &(struct evtchn_close){ .port = b }, sizeof(struct evtchn_close)),
			 -XEN_EINVAL);
	ck_assert_int_eq(op(EVTCHNOP_close, &(struct evtchn_close){ .port = 0 }, sizeof(struct evtchn_close)),
			 -XEN_EINVAL);
	ck_assert_int_eq(op(EVTCHNOP_send, &(struct evtchn_send){ .port = 5000 }, sizeof(struct evtchn_send)),
			 -XEN_EINVAL);
	/* Sending on an unbound port is silently dropped. */
	ck_assert_int_eq(op(EVTCHNOP_send, &(struct evtchn_send){ .port = a }, sizeof(struct evtchn_send)), 0);
}
END_TEST

START_TEST(virq_binding_rules)
{
	struct evtchn_bind_virq v = { .virq = VIRQ_TIMER, .vcpu = 1 };
	struct evtchn_status s;

	ck_assert_int_eq(op(EVTCHNOP_bind_virq, &v, sizeof(v)), 0);
	ck_assert_uint_eq(status(v.port, &s), EVTCHNSTAT_virq);
	ck_assert_uint_eq(s.vcpu, 1);
	ck_assert_int_eq(op(EVTCHNOP_bind_virq, &v, sizeof(v)), -XEN_EEXIST);
	v = (struct evtchn_bind_virq){ .virq = NR_VIRQS, .vcpu = 0 };
	ck_assert_int_eq(op(EVTCHNOP_bind_virq, &v, sizeof(v)), -XEN_EINVAL);
	v = (struct evtchn_bind_virq){ .virq = VIRQ_TIMER, .vcpu = NR_CPUS };
	ck_assert_int_eq(op(EVTCHNOP_bind_virq, &v, sizeof(v)), -XEN_ENOENT);
	/* A global VIRQ binds to vCPU 0 only. */
	v = (struct evtchn_bind_virq){ .virq = VIRQ_CONSOLE, .vcpu = 1 };
	ck_assert_int_eq(op(EVTCHNOP_bind_virq, &v, sizeof(v)), -XEN_EINVAL);
}
END_TEST

START_TEST(virq_raised_on_the_bound_vcpu)
{
	struct evtchn_bind_virq v = { .virq = VIRQ_TIMER, .vcpu = 1 };

	ck_assert_int_eq(op(EVTCHNOP_bind_virq, &v, sizeof(v)), 0);
	clear_all();
	evtchn__raise_virq(&vm, 1, VIRQ_TIMER);
	ck_assert(pending(v.port));
	ck_assert_uint_eq(si->vcpu_info[1].evtchn_upcall_pending, 1);
	ck_assert_uint_eq(si->vcpu_info[0].evtchn_upcall_pending, 0);
	/* Unbound VIRQs and bad numbers are dropped. */
	evtchn__raise_virq(&vm, 0, VIRQ_TIMER);
	evtchn__raise_virq(&vm, 99, NR_VIRQS + 1);
}
END_TEST

START_TEST(ports_run_out_at_the_2_level_limit)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
	uint32_t n = 0;

	while (op(EVTCHNOP_alloc_unbound, &a, sizeof(a)) == 0)
		n++;
	ck_assert_uint_eq(n, EVTCHN_MAX_PORTS_64 - 1);
	ck_assert_int_eq(op(EVTCHNOP_alloc_unbound, &a, sizeof(a)), -XEN_ENOSPC);
	ck_assert_int_eq(op(EVTCHNOP_reset, &(struct evtchn_reset){ .dom = DOMID_SELF },
			    sizeof(struct evtchn_reset)), 0);
	ck_assert_uint_eq(alloc_unbound(DOMID_SELF), 1);
}
END_TEST

START_TEST(backend_channels_use_eventfds_both_ways)
{
	uint32_t guest_port, front;
	int fd, fd2;
	uint64_t count;

	ck_assert_int_eq(evtchn__backend_alloc(&vm, &guest_port, &fd), 0);
	clear_all();
	ck_assert_int_eq(op(EVTCHNOP_send, &(struct evtchn_send){ .port = guest_port },
			    sizeof(struct evtchn_send)), 0);
	ck_assert_int_eq(read(fd, &count, sizeof(count)), sizeof(count));
	ck_assert_uint_eq(count, 1);
	evtchn__notify_guest(&vm, guest_port);
	ck_assert(pending(guest_port));

	/* The frontend model: the guest allocates for domain 0, the backend binds. */
	front = alloc_unbound(0);
	ck_assert_int_eq(evtchn__backend_bind(&vm, front, &fd2), 0);
	ck_assert_int_eq(evtchn__backend_bind(&vm, front, &fd2), -XEN_EINVAL);
	evtchn__backend_close(&vm, front, fd2);
	struct evtchn_status s;
	ck_assert_uint_eq(status(front, &s), EVTCHNSTAT_unbound);
	ck_assert_uint_eq(s.u.unbound.dom, 0);
	/* A guest cannot bind to a backend's port itself. */
	struct evtchn_bind_interdomain b = { .remote_dom = 0, .remote_port = guest_port };
	ck_assert_int_eq(op(EVTCHNOP_bind_interdomain, &b, sizeof(b)), -XEN_EINVAL);
	evtchn__backend_close(&vm, guest_port, fd);
}
END_TEST

START_TEST(bind_vcpu_moves_a_pending_event)
{
	uint32_t b, a = loopback(&b);

	si->evtchn_mask[a / 64] |= 1ULL << (a % 64);
	op(EVTCHNOP_send, &(struct evtchn_send){ .port = b }, sizeof(struct evtchn_send));
	clear_all();
	si->evtchn_pending[a / 64] |= 1ULL << (a % 64);
	si->evtchn_mask[a / 64] &= ~(1ULL << (a % 64));
	ck_assert_int_eq(op(EVTCHNOP_bind_vcpu, &(struct evtchn_bind_vcpu){ .port = a, .vcpu = 1 },
			    sizeof(struct evtchn_bind_vcpu)), 0);
	ck_assert_uint_eq(si->vcpu_info[1].evtchn_upcall_pending, 1);
	/* IPIs stay on their vCPU. */
	struct evtchn_bind_ipi ipi = { .vcpu = 0 };
	ck_assert_int_eq(op(EVTCHNOP_bind_ipi, &ipi, sizeof(ipi)), 0);
	ck_assert_int_eq(op(EVTCHNOP_bind_vcpu, &(struct evtchn_bind_vcpu){ .port = ipi.port, .vcpu = 1 },
			    sizeof(struct evtchn_bind_vcpu)), -XEN_EINVAL);
}
END_TEST

START_TEST(callback_vector_is_due_while_upcall_is_pending)
{
	uint32_t b, a = loopback(&b);
	uint64_t via = (uint64_t)HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | 0xf2;

	(void)a;
	clear_all();
	vm.xen.hvm_param[HVM_PARAM_CALLBACK_IRQ] = via;
	ck_assert_int_eq(evtchn__callback_due(&cpu[0]), -1);
	op(EVTCHNOP_send, &(struct evtchn_send){ .port = b }, sizeof(struct evtchn_send));
	ck_assert_int_eq(evtchn__callback_due(&cpu[0]), 0xf2);
	ck_assert_int_eq(evtchn__callback_due(&cpu[1]), -1);
	/* A per-vCPU vector takes precedence, as in Xen. */
	ck_assert_int_eq(evtchn__set_upcall_vector(&vm, 0, 0xf3), 0);
	ck_assert_int_eq(evtchn__callback_due(&cpu[0]), -1);
	ck_assert_int_eq(evtchn__set_upcall_vector(&vm, 0, 0x0f), -XEN_EINVAL);
	ck_assert_int_eq(evtchn__set_upcall_vector(&vm, NR_CPUS, 0x40), -XEN_ENOENT);
}
END_TEST

START_TEST(fifo_ops_are_enosys_and_bad_pointers_efault)
{
	ck_assert_int_eq(vm_fixture__hcall(&cpu[0], hc__event_channel_op, __HYPERVISOR_event_channel_op,
					   false, EVTCHNOP_init_control, ARGS_GPA, 0), -XEN_ENOSYS);
	ck_assert_int_eq(vm_fixture__hcall(&cpu[0], hc__event_channel_op, __HYPERVISOR_event_channel_op,
					   false, EVTCHNOP_send, RAM + 0x1000, 0), -XEN_EFAULT);
}
END_TEST

static Suite *evtchn_suite(void)
{
	Suite *s = suite_create("evtchn");
	TCase *tc = tcase_create("2-level");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, port_zero_is_never_allocated);
	tcase_add_test(tc, loopback_send_sets_pending_sel_and_upcall);
	tcase_add_test(tc, masked_port_stays_quiet_until_unmask_reraises);
	tcase_add_test(tc, close_turns_the_peer_unbound_and_bad_ports_are_einval);
	tcase_add_test(tc, virq_binding_rules);
	tcase_add_test(tc, virq_raised_on_the_bound_vcpu);
	tcase_add_test(tc, ports_run_out_at_the_2_level_limit);
	tcase_add_test(tc, backend_channels_use_eventfds_both_ways);
	tcase_add_test(tc, bind_vcpu_moves_a_pending_event);
	tcase_add_test(tc, callback_vector_is_due_while_upcall_is_pending);
	tcase_add_test(tc, fifo_ops_are_enosys_and_bad_pointers_efault);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(evtchn_suite)
