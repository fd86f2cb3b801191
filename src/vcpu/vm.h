/*
 * A virtual machine: the KVM VM, its guest memory, its vCPUs and devices,
 * and the Xen domain state the hypercalls act on.
 */
#ifndef PVMM_VCPU_VM_H
#define PVMM_VCPU_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "console/console.h"
#include "util/loop.h"
#include "ept/guest_mem.h"
#include "vcpu/io.h"
#include "xen/domain.h"

#define PVMM_MAX_VCPUS 32

/* Exit statuses of `pvmm run`; README.md documents the same table. */
enum pvmm_exit {
	PVMM_EXIT_POWEROFF = 0,    /* guest powered off */
	PVMM_EXIT_ERROR = 1,       /* pvmm failed: host error, missing KVM capability */
	PVMM_EXIT_USAGE = 2,       /* bad command line */
	PVMM_EXIT_BAD_INPUT = 3,   /* an image, initrd or config file is unusable */
	PVMM_EXIT_REBOOT = 10,     /* guest asked to reboot */
	PVMM_EXIT_CRASH = 11,      /* guest crashed: SHUTDOWN_crash or triple fault */
	PVMM_EXIT_SUSPEND = 12,    /* guest suspended itself */
	PVMM_EXIT_WATCHDOG = 13,   /* guest watchdog fired */
	PVMM_EXIT_KVM_FAILED = 14, /* KVM could not run the guest (emulation or entry failure) */
	PVMM_EXIT_STOPPED = 20,    /* stopped by the host: signal or Ctrl-A x */
};

#define PVMM_MAX_DISKS 16

/* A --disk: an image the guest sees as a Xen virtual block device (src/blk). */
struct vm_disk {
	const char *path;
	bool readonly;
	bool direct;           /* O_DIRECT */
	int64_t devid;         /* id=N; -1: xvda, xvdb... by position */
};

#define PVMM_MAX_NETS 8
#define PVMM_MAX_HOSTFWD 16

/* What carries a --net interface's frames on the host (src/net). */
enum vm_net_kind {
	VM_NET_USER,           /* user-mode networking (libslirp) */
	VM_NET_TAP,            /* a tap device */
	VM_NET_SOCKET,         /* a Unix socket to another pvmm */
};

/* hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (user networking). */
struct vm_net_hostfwd {
	bool udp;
	bool host_addr_set;    /* else 127.0.0.1 */
	bool guest_addr_set;   /* else the guest's DHCP address */
	uint32_t host_addr;    /* IPv4, network byte order */
	uint32_t guest_addr;
	uint16_t host_port;
	uint16_t guest_port;
};

/* A --net: a Xen virtual network interface (vif) and its host side. */
struct vm_net {
	enum vm_net_kind kind;
	bool has_mac;          /* mac=; else derived from the VM's UUID */
	uint8_t mac[6];
	struct vm_net_hostfwd hostfwd[PVMM_MAX_HOSTFWD];   /* user */
	int nr_hostfwd;
	char tap[16];          /* tap=NAME, or "" */
	int tap_fd;            /* tap,fd=N: an open tap, or -1 */
	char listen[108];      /* socket,listen=PATH, or "" */
	char connect[108];     /* socket,connect=PATH, or "" */
};

struct vm_config {
	uint64_t mem_size;
	int nr_cpus;
	const char *kernel;    /* PVH ELF image */
	const char *name;      /* the domain's name in xenstore; NULL: the image's file name */
	const char *cmdline;
	const char *initrd;
	const char *console;   /* "stdio", "file:PATH" or "none" */
	struct vm_disk disk[PVMM_MAX_DISKS];
	int nr_disks;
	struct vm_net net[PVMM_MAX_NETS];
	int nr_nets;
	unsigned shutdown_timeout; /* seconds a guest gets to power off; 0: stop at once */
	uint64_t balloon_target;   /* memory/target at boot, bytes; 0: all of mem_size */
	const char *api_socket;    /* management API: "PATH" or "fd=N"; NULL: none */
};

struct vcpu;
struct ioapic;
struct uart;
struct gnttab;
struct evtchn_table;
struct vtimers;
struct xenstored;
struct pvconsole;
struct blkback;
struct netback;
struct balloon;
struct api;
struct vm_pause;

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int fd;
	int vcpu_mmap_size;
	struct guest_mem mem;
	struct io_bus pio;
	struct io_bus mmio;
	struct console console;
	struct loop loop;           /* main thread: stdin, signals, backends */
	struct ioapic *ioapic;
	struct uart *uart;
	struct gnttab *gnttab;      /* grant tables (src/grant) */
	struct evtchn_table *evtchn; /* event channels (src/events) */
	struct vtimers *vtimers;    /* VIRQ_TIMER sources (src/events) */
	struct xenstored *xenstored; /* the guest's xenstore (src/xenstore) */
	struct pvconsole *pvconsole;
	struct blkback *blk;        /* the disks (src/blk) */
	struct netback *net;        /* the network interfaces (src/net) */
	struct balloon *balloon;    /* memory/target and the guest's reservation (src/balloon) */
	struct api *api;            /* the management API server, or NULL (src/api) */
	struct vm_pause *pause;     /* pausing the vCPUs for the API (src/vcpu/pause.c) */
	struct xen_domain xen;
	struct kvm_cpuid2 *cpuid;   /* what every vCPU is given */
	uint32_t tsc_khz;

	int nr_vcpus;
	struct vcpu *vcpu[PVMM_MAX_VCPUS];

	atomic_bool exit_claimed;     /* the first vm__stop() sets the status */
	atomic_bool stopping;
	atomic_int exit_status;
	int stop_fd;                /* eventfd, readable once stopping */
	bool shutdown_requested;    /* control/shutdown written (main loop only) */
	int shutdown_timer_fd;
};

/* Opens /dev/kvm, checks capabilities, creates the VM, memory and devices.
 * Returns 0, or a PVMM_EXIT_* status after printing why. */
int vm__create(struct vm *vm, const struct vm_config *cfg);

/* Starts every vCPU, serves the main loop until the VM stops; returns the
 * PVMM_EXIT_* status. */
int vm__run(struct vm *vm);

/* Asks the VM to stop with this status.  The first request wins; later ones
 * are ignored.  Safe from any thread. */
void vm__stop(struct vm *vm, enum pvmm_exit status);

void vm__destroy(struct vm *vm);

#endif
