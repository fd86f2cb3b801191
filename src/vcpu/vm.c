#include "vcpu/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "balloon/balloon.h"
#include "blk/blkback.h"
#include "net/netback.h"
#include "boot/pvh.h"
#include "devices/debugcon.h"
#include "events/evtchn.h"
#include "events/timer.h"
#include "grant/gnttab.h"
#include "xenbus/xenbus.h"
#include "xenstore/xenstored.h"
#include "devices/ioapic.h"
#include "devices/pvconsole.h"
#include "devices/uart.h"
#include "hypercall/transport.h"
#include "util/log.h"
#include "vcpu/cpuid.h"
#include "vcpu/pause.h"
#include "vcpu/vcpu.h"
#include "xen/control.h"
#include "xen/domain.h"
#include "xen/time.h"

#define KVM_API_VERSION_EXPECTED 12
#define IOAPIC_PINS 24
/* Intel's real-mode TSS and identity map live here, outside guest memory. */
#define KVM_TSS_ADDR 0xfffbd000u

struct kvm_requirement {
	long cap;
	const char *name;
	const char *why;
};

/* Everything pvmm relies on, checked before the VM is built. */
static const struct kvm_requirement required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest memory" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "x86 VM set-up" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "the guest's CPUID" },
	{ KVM_CAP_SPLIT_IRQCHIP, "KVM_CAP_SPLIT_IRQCHIP", "in-kernel LAPICs with pvmm's IOAPIC" },
	{ KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI", "interrupt delivery" },
	{ KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR", "the hypercall-page MSR" },
	{ KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER", "the hypercall-page MSR" },
	{ KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS", "hypercall arguments" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs" },
	{ KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ", "the guest's pvclock" },
};

static int open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		pr_err("/dev/kvm does not exist: this host has no KVM (load kvm_intel or kvm_amd, or enable nested virtualisation)");
	else if (errno == EACCES || errno == EPERM)
		pr_err("cannot open /dev/kvm: permission denied (add your user to the 'kvm' group)");
	else
		pr_err("cannot open /dev/kvm: %s", strerror(errno));
	return -1;
}

static int check_kvm(struct vm *vm)
{
	int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);

	if (api != KVM_API_VERSION_EXPECTED) {
		pr_err("KVM API version %d, pvmm needs %d", api, KVM_API_VERSION_EXPECTED);
		return -1;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		const struct kvm_requirement *r = &required_caps[i];
		if (ioctl(vm->fd, KVM_CHECK_EXTENSION, r->cap) <= 0) {
			pr_err("KVM lacks %s, which pvmm needs for %s", r->name, r->why);
			return -1;
		}
	}
	int sync = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if ((sync & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) !=
	    (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) {
		pr_err("KVM's KVM_CAP_SYNC_REGS lacks general or segment registers, which pvmm needs");
		return -1;
	}
	return 0;
}

static int enable_cap(int vm_fd, uint32_t cap, uint64_t arg0, const char *name)
{
	struct kvm_enable_cap c = { .cap = cap, .args[0] = arg0 };

	if (ioctl(vm_fd, KVM_ENABLE_CAP, &c) < 0) {
		pr_err("cannot enable %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

static int setup_kvm_vm(struct vm *vm)
{
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		pr_err("KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		return -1;
	}
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0) {
		pr_err("KVM_SET_TSS_ADDR failed: %s", strerror(errno));
		return -1;
	}
	if (enable_cap(vm->fd, KVM_CAP_SPLIT_IRQCHIP, IOAPIC_PINS, "KVM_CAP_SPLIT_IRQCHIP") ||
	    enable_cap(vm->fd, KVM_CAP_X86_USER_SPACE_MSR,
		       KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER,
		       "KVM_CAP_X86_USER_SPACE_MSR"))
		return -1;
	if (hcall__install_msr_filter(vm->fd)) {
		pr_err("cannot install the KVM MSR filter: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int setup_memory(struct vm *vm)
{
	int ret = gmem__init(&vm->mem, vm->cfg->mem_size);

	if (!ret)
		ret = gmem__register(&vm->mem, vm->fd);
	if (ret) {
		pr_err("cannot set up %llu MiB of guest memory: %s",
		       (unsigned long long)(vm->cfg->mem_size >> 20), strerror(-ret));
		return -1;
	}
	return 0;
}

static int setup_devices(struct vm *vm)
{
	int ret = ioapic__init(vm);

	if (!ret)
		ret = uart__init(vm);
	if (!ret)
		ret = debugcon__init(vm);
	if (!ret)
		ret = hcall__init(vm);
	if (ret) {
		pr_err("cannot set up devices: %s", strerror(-ret));
		return -1;
	}
	return 0;
}

static int load_guest(struct vm *vm)
{
	struct pvh_kernel kernel;
	uint64_t start_info;
	char err[512];

	if (pvh__load_kernel(&vm->mem, vm->cfg->kernel, &kernel, err, sizeof(err)) ||
	    pvh__build_start_info(&vm->mem, &kernel, vm->cfg->cmdline, vm->cfg->initrd,
				  &start_info, err, sizeof(err))) {
		pr_err("%s", err);
		return -1;
	}
	pr_info("%s: PVH entry %#x, start_info at %#llx", vm->cfg->kernel, kernel.entry,
		(unsigned long long)start_info);
	return vcpu__set_pvh_entry(vm->vcpu[0], kernel.entry, (uint32_t)start_info);
}

static int create_vcpus(struct vm *vm)
{
	for (int i = 0; i < vm->cfg->nr_cpus; i++) {
		int ret = vcpu__create(vm, i, &vm->vcpu[i]);
		if (ret) {
			pr_err("cannot create vCPU %d: %s", i, strerror(-ret));
			return -1;
		}
		vm->nr_vcpus++;
	}
	int khz = ioctl(vm->vcpu[0]->fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0) {
		pr_err("KVM_GET_TSC_KHZ failed: %s", strerror(errno));
		return -1;
	}
	vm->tsc_khz = (uint32_t)khz;
	return 0;
}

/* The domain's name in xenstore: the image's file name. */
static const char *guest_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int vm__create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->fd = vm->stop_fd = vm->shutdown_timer_fd = -1;
	vm->loop.epoll_fd = -1;

	if (cfg->nr_cpus < 1 || cfg->nr_cpus > PVMM_MAX_VCPUS) {
		pr_err("--cpus must be between 1 and %d", PVMM_MAX_VCPUS);
		return PVMM_EXIT_USAGE;
	}
	if (console__open(&vm->console, cfg->console))
		return PVMM_EXIT_BAD_INPUT;
	/* Disk images are checked before anything else is built. */
	int status = blk__open(vm);
	if (status)
		return status;
	/* So are the network interfaces' host sides (taps, sockets, ports). */
	status = net__open(vm);
	if (status)
		return status;
	vm->kvm_fd = open_kvm();
	if (vm->kvm_fd < 0)
		return PVMM_EXIT_ERROR;
	vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		pr_err("KVM_CREATE_VM failed: %s", strerror(errno));
		return PVMM_EXIT_ERROR;
	}
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0 || loop__init(&vm->loop)) {
		pr_err("cannot create the main loop: %s", strerror(errno));
		return PVMM_EXIT_ERROR;
	}
	if (check_kvm(vm) || setup_kvm_vm(vm) || setup_memory(vm))
		return PVMM_EXIT_ERROR;
	xen__domain_init(vm);
	if (evtchn__init(vm) || gnttab__init(vm)) {
		pr_err("cannot allocate the event-channel and grant tables");
		return PVMM_EXIT_ERROR;
	}
	vm->cpuid = cpuid__build(vm->kvm_fd, vm->xen.domid);
	if (!vm->cpuid || pause__init(vm) || setup_devices(vm) || create_vcpus(vm))
		return PVMM_EXIT_ERROR;
	if (vtimer__init(vm)) {
		pr_err("cannot create the vCPU timers: %s", strerror(errno));
		return PVMM_EXIT_ERROR;
	}
	if (xenstored__start(vm, guest_name(cfg->name ? cfg->name : cfg->kernel)) || pvconsole__init(vm) ||
	    balloon__init(vm, cfg->balloon_target))
		return PVMM_EXIT_ERROR;
	if (blk__start(vm) || net__start(vm))
		return PVMM_EXIT_ERROR;
	if (load_guest(vm))
		return PVMM_EXIT_BAD_INPUT;
	return 0;
}

void vm__stop(struct vm *vm, enum pvmm_exit status)
{
	bool expected = false;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->exit_claimed, &expected, true))
		return;
	atomic_store(&vm->exit_status, status);
	atomic_store(&vm->stopping, true);
	if (write(vm->stop_fd, &one, sizeof(one)) < 0)
		pr_debug("stop eventfd: %s", strerror(errno));
	for (int i = 0; i < vm->nr_vcpus; i++) {
		vcpu__kick(vm->vcpu[i]);
		xen__vcpu_wake(vm->vcpu[i]);
	}
}

static void on_stop_fd(int fd, void *opaque)
{
	uint64_t v;

	(void)opaque;
	if (read(fd, &v, sizeof(v)) < 0)
		pr_debug("stop eventfd: %s", strerror(errno));
}

static void on_signal(int fd, void *opaque)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	pr_info("received %s", strsignal((int)si.ssi_signo));
	control__request_shutdown(vm);
}

int vm__run(struct vm *vm)
{
	sigset_t stop_signals;
	int sfd;

	/* SIGINT/SIGTERM arrive through the loop, on this thread only: block
	 * them before the vCPU threads are created so they inherit the mask. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || loop__add(&vm->loop, sfd, on_signal, vm) ||
	    loop__add(&vm->loop, vm->stop_fd, on_stop_fd, vm)) {
		pr_err("cannot set up signal handling: %s", strerror(errno));
		if (sfd >= 0)
			close(sfd);
		return PVMM_EXIT_ERROR;
	}
	/* Secondary vCPUs first: their threads park until VCPUOP_up, and
	 * exist (so can be kicked) before the boot vCPU runs the guest. */
	for (int i = vm->nr_vcpus - 1; i >= 0; i--) {
		int ret = vcpu__start(vm->vcpu[i]);
		if (ret) {
			pr_err("cannot start vCPU %d: %s", i, strerror(-ret));
			vm__stop(vm, PVMM_EXIT_ERROR);
		}
	}
	loop__run(&vm->loop, &vm->stopping);
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu__join(vm->vcpu[i]);
	loop__remove(&vm->loop, sfd);
	close(sfd);
	return atomic_load(&vm->exit_status);
}

void vm__destroy(struct vm *vm)
{
	control__destroy(vm);
	/* Backends stop serving before the store and channels they use go. */
	xenbus__stop_all(vm);
	balloon__destroy(vm);
	blk__destroy(vm);
	net__destroy(vm);
	pvconsole__destroy(vm);
	xenstored__stop(vm);
	vtimer__destroy(vm);
	evtchn__destroy(vm);
	gnttab__destroy(vm);
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu__destroy(vm->vcpu[i]);
	vm->nr_vcpus = 0;
	if (vm->uart)
		uart__destroy(vm);
	if (vm->ioapic)
		ioapic__destroy(vm);
	pause__destroy(vm);
	free(vm->cpuid);
	gmem__free(&vm->mem);
	loop__destroy(&vm->loop);
	console__close(&vm->console);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
}
