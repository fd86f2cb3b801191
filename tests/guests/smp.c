/*
 * A second vCPU, brought up the PVH way (run with --cpus 2 or more):
 * VCPUOP_initialise with a 32-bit flat vcpu_hvm_context, VCPUOP_up,
 * VCPUOP_is_up, and their errors.  The AP registers its own vcpu_info,
 * sends an IPI to itself, and the two vCPUs exchange IPIs (EVTCHNOP_send
 * on ports bound with EVTCHNOP_bind_ipi), each waiting with SCHEDOP_poll.
 * The AP then takes itself down with VCPUOP_down.
 */
#include "events.h"
#include "smp.h"

#define MAX_VCPUS       64
#define IPI_WAIT_NS     10000000000ull
#define AP_STACK_SIZE   16384

static uint8_t ap_stack[AP_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ap_vcpu_info_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

/* IPI ports: to vCPU 0, and to vCPU 1 (both bound by the BSP). */
static evtchn_port_t to_bsp, to_ap;
static volatile bool ap_finished;

static void ap_main(unsigned int vcpu)
{
	volatile struct vcpu_info *avi = (volatile void *)ap_vcpu_info_page;
	struct vcpu_register_vcpu_info reg = {
		.mfn = (uintptr_t)ap_vcpu_info_page / PAGE_SIZE,
		.offset = 0,
	};
	evtchn_port_t own;
	long rc;

	printf("smp: vCPU %u running\n", vcpu);
	check_long("the AP started with its vCPU id in EBX", vcpu, 1);
	rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, vcpu, &reg);
	check_long("vCPU 1: VCPUOP_register_vcpu_info on itself", rc, 0);

	rc = evtchn_bind_ipi(vcpu, &own);
	check_long("vCPU 1: EVTCHNOP_bind_ipi to itself", rc, 0);
	evtchn_clear_pending(own);
	vcpu_events_clear(avi);
	check_long("vCPU 1: EVTCHNOP_send to its own IPI port", evtchn_send(own), 0);
	check(evtchn_wait(own, xen_now() + IPI_WAIT_NS), "vCPU 1: its own IPI is pending");
	check(avi->evtchn_upcall_pending == 1,
	      "vCPU 1: the IPI raised upcall_pending in its registered vcpu_info");
	evtchn_clear_pending(own);
	evtchn_close(own);

	check_long("vCPU 1: EVTCHNOP_send to vCPU 0", evtchn_send(to_bsp), 0);
	if (check(evtchn_wait(to_ap, xen_now() + IPI_WAIT_NS),
		  "vCPU 1: SCHEDOP_poll saw the IPI from vCPU 0"))
		printf("smp: vCPU 1 got an IPI from vCPU 0\n");
	evtchn_clear_pending(to_ap);

	ap_finished = true;
	evtchn_send(to_bsp);
	/* Returning takes this vCPU down (smp.c). */
}

static unsigned int count_vcpus(void)
{
	unsigned int n = 0;

	while (n < MAX_VCPUS && HYPERVISOR_vcpu_op(VCPUOP_is_up, n, NULL) >= 0)
		n++;
	return n;
}

static bool wait_ap_down(void)
{
	uint64_t deadline = xen_now() + IPI_WAIT_NS;

	while (HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL) != 0) {
		struct sched_poll sleep = { .nr_ports = 0 };

		if (xen_now() >= deadline)
			return false;
		set_xen_guest_handle(sleep.ports, NULL);
		sleep.timeout = xen_now() + 1000000;
		HYPERVISOR_sched_op(SCHEDOP_poll, &sleep);
	}
	return true;
}

static void test_errors(struct vcpu_hvm_context *ctx, unsigned int nr)
{
	check_long("VCPUOP_initialise on vCPU 0 (up) is -EEXIST",
		   HYPERVISOR_vcpu_op(VCPUOP_initialise, 0, ctx), -XEN_EEXIST);
	check_long("VCPUOP_initialise beyond the last vCPU is -ENOENT",
		   HYPERVISOR_vcpu_op(VCPUOP_initialise, nr, ctx), -XEN_ENOENT);
	check_long("VCPUOP_up beyond the last vCPU is -ENOENT",
		   HYPERVISOR_vcpu_op(VCPUOP_up, nr, NULL), -XEN_ENOENT);
	check_long("VCPUOP_is_up beyond the last vCPU is -ENOENT",
		   HYPERVISOR_vcpu_op(VCPUOP_is_up, nr, NULL), -XEN_ENOENT);
	check_long("VCPUOP_up on vCPU 1 before VCPUOP_initialise is -EINVAL",
		   HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL), -XEN_EINVAL);
}

void guest_main(const struct hvm_start_info *si)
{
	struct vcpu_hvm_context ctx;
	struct evtchn_status st;
	unsigned int nr;
	long rc;

	(void)si;
	printf("smp: %u-bit guest\n", GUEST_BITS);
	if (!check_long("XENMEM_add_to_physmap(shared_info)", shared_info_map(), 0))
		return;
	nr = count_vcpus();
	printf("smp: %u vCPUs\n", nr);
	if (!check(nr >= 2, "the domain has at least 2 vCPUs (VCPUOP_is_up)"))
		return;
	check_long("VCPUOP_is_up(0)", HYPERVISOR_vcpu_op(VCPUOP_is_up, 0, NULL), 1);
	check_long("VCPUOP_is_up(1) before it is started",
		   HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), 0);

	rc = evtchn_bind_ipi(0, &to_bsp);
	check_long("EVTCHNOP_bind_ipi(vcpu 0)", rc, 0);
	rc = evtchn_bind_ipi(1, &to_ap);
	check_long("EVTCHNOP_bind_ipi(vcpu 1) before vCPU 1 runs", rc, 0);
	if (check_long("EVTCHNOP_status of the IPI port for vCPU 1",
		       evtchn_status(to_ap, &st), 0))
		check(st.status == EVTCHNSTAT_ipi && st.vcpu == 1,
		      "the IPI port notifies vCPU 1");
	evtchn_clear_pending(to_bsp);
	evtchn_clear_pending(to_ap);

	smp_prepare(&ctx, 1, ap_stack + sizeof(ap_stack), ap_main);
	test_errors(&ctx, nr);

	rc = HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx);
	if (!check_long("VCPUOP_initialise(vcpu 1, 32-bit flat vcpu_hvm_context)", rc, 0))
		return;
	check_long("VCPUOP_is_up(1) after initialise, before up",
		   HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), 0);
	rc = HYPERVISOR_vcpu_op(VCPUOP_up, 1, NULL);
	if (!check_long("VCPUOP_up(1)", rc, 0))
		return;
	check_long("VCPUOP_is_up(1) after up", HYPERVISOR_vcpu_op(VCPUOP_is_up, 1, NULL), 1);
	check_long("VCPUOP_initialise on the running vCPU 1 is -EEXIST",
		   HYPERVISOR_vcpu_op(VCPUOP_initialise, 1, &ctx), -XEN_EEXIST);

	if (check(evtchn_wait(to_bsp, xen_now() + IPI_WAIT_NS),
		  "vCPU 0: SCHEDOP_poll saw the IPI from vCPU 1"))
		printf("smp: vCPU 0 got an IPI from vCPU 1\n");
	evtchn_clear_pending(to_bsp);
	check_long("vCPU 0: EVTCHNOP_send to vCPU 1", evtchn_send(to_ap), 0);

	check(evtchn_wait(to_bsp, xen_now() + IPI_WAIT_NS) && ap_finished,
	      "vCPU 0: vCPU 1 reported it finished");
	check(wait_ap_down(), "vCPU 1 took itself down: VCPUOP_is_up(1) is 0");
	printf("smp: both vCPUs done\n");
}
