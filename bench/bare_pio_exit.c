/*
 * bare_pio_exit: the baseline for pvmm's benchmarks.  A VMM cut to the bone:
 * one KVM VM, one vCPU already in 64-bit long mode, a few bytes of guest
 * code, no devices.  It measures what KVM itself costs on this host, so that
 * pvmm's numbers can be read as ratios against it (the machines are noisy;
 * only numbers taken in the same run are compared).
 *
 *   bare_pio_exit loop KIND N   run a guest loop of N iterations, print
 *                               ns per iteration:
 *       out        out %eax,$0x9c; dec; jnz              (1 exit)
 *       stub       the bench-hypercall guest's loop, byte for byte: set two
 *                  arguments, call a stub "mov $17,%eax; out %eax,$0x9c; ret"
 *                  laid out as pvmm's hypercall page                (1 exit)
 *       stub-sync  stub, and user space does at the KVM level what pvmm's
 *                  transport does: registers and segment registers synced
 *                  on every exit (KVM_CAP_SYNC_REGS), the result in RAX
 *       noexit     stub with the out replaced by a two-byte nop: the cost of
 *                  the guest's instructions alone                  (no exit)
 *   bare_pio_exit startup       create the VM, run the guest to its first
 *                               port write, write that byte to stdout, print
 *                               how long each step took
 *   bare_pio_exit hold          as startup, then print "ready" and wait for
 *                               EOF on stdin (the memory benchmark samples
 *                               the process meanwhile)
 *
 * Output lines are "key: value" so that the driver (pvmm_bench.c) can parse
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_RAM_SIZE  0x200000u   /* one 2 MiB page, identity mapped */
#define PML4_GPA        0x1000u
#define PDPT_GPA        0x2000u
#define PD_GPA          0x3000u
#define CODE_GPA        0x4000u
#define STUB_PAGE_GPA   0x5000u     /* laid out as a Xen hypercall page */
#define STACK_TOP       0x8000u
#define PIO_PORT        0x9c        /* pvmm's hypercall port */
#define DONE_PORT       0x9d        /* the guest's "loop finished" */
#define HYPERCALL_NR    17          /* __HYPERVISOR_xen_version */
#define STUB_STRIDE     32

#define PTE_P   0x1ull
#define PTE_RW  0x2ull
#define PTE_PS  0x80ull
#define CR0_PE  (1ull << 0)
#define CR0_ET  (1ull << 4)
#define CR0_PG  (1ull << 31)
#define CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

enum loop_kind { LOOP_OUT, LOOP_STUB, LOOP_STUB_SYNC, LOOP_NOEXIT };

static const char *const loop_name[] = {
	[LOOP_OUT] = "out",
	[LOOP_STUB] = "stub",
	[LOOP_STUB_SYNC] = "stub-sync",
	[LOOP_NOEXIT] = "noexit",
};

struct bare_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "bare_pio_exit: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_msg(const char *msg)
{
	fprintf(stderr, "bare_pio_exit: %s\n", msg);
	exit(1);
}

static void put_bytes(struct bare_vm *b, uint32_t gpa, const uint8_t *bytes, size_t n)
{
	memcpy(b->mem + gpa, bytes, n);
}

/* A relative call or jump's 32-bit displacement, from the next instruction. */
static void put_rel32(uint8_t *at, uint32_t next_ip, uint32_t target)
{
	int32_t rel = (int32_t)(target - next_ip);

	memcpy(at, &rel, sizeof(rel));
}

static void write_page_tables(struct bare_vm *b)
{
	uint64_t pml4e = PDPT_GPA | PTE_P | PTE_RW;
	uint64_t pdpte = PD_GPA | PTE_P | PTE_RW;
	uint64_t pde = 0 | PTE_P | PTE_RW | PTE_PS;   /* 0 .. 2 MiB */

	memcpy(b->mem + PML4_GPA, &pml4e, sizeof(pml4e));
	memcpy(b->mem + PDPT_GPA, &pdpte, sizeof(pdpte));
	memcpy(b->mem + PD_GPA, &pde, sizeof(pde));
}

/*
 * The guest code.  Each loop ends with a write to DONE_PORT.  The stub loop
 * is the one
 * tests/guests/bench-hypercall.c runs:
 *	1: mov $0,%edi; xor %esi,%esi; call page+17*32; dec %rbx; jnz 1b
 */
static void write_code(struct bare_vm *b, enum loop_kind kind)
{
	static const uint8_t out_loop[] = {
		0xe7, PIO_PORT,                 /* 1: out %eax,$0x9c */
		0x48, 0xff, 0xcb,               /* dec %rbx */
		0x75, 0xf9,                     /* jnz 1b */
		0xe7, DONE_PORT,                /* out %eax,$0x9d */
	};
	uint8_t stub_loop[] = {
		0xbf, 0, 0, 0, 0,               /* 1: mov $XENVER_version,%edi */
		0x31, 0xf6,                     /* xor %esi,%esi */
		0xe8, 0, 0, 0, 0,               /* call stub */
		0x48, 0xff, 0xcb,               /* dec %rbx */
		0x75, 0xef,                     /* jnz 1b */
		0xe7, DONE_PORT,                /* out %eax,$0x9d */
	};
	uint8_t stub[] = {
		0xb8, HYPERCALL_NR, 0, 0, 0,    /* mov $nr,%eax */
		0xe7, PIO_PORT,                 /* out %eax,$0x9c */
		0xc3,                           /* ret */
	};
	uint32_t stub_gpa = STUB_PAGE_GPA + HYPERCALL_NR * STUB_STRIDE;

	if (kind == LOOP_OUT) {
		put_bytes(b, CODE_GPA, out_loop, sizeof(out_loop));
		return;
	}
	put_rel32(&stub_loop[8], CODE_GPA + 12, stub_gpa);
	if (kind == LOOP_NOEXIT) {
		stub[5] = 0x66;                 /* xchg %ax,%ax: a two-byte nop */
		stub[6] = 0x90;
	}
	put_bytes(b, CODE_GPA, stub_loop, sizeof(stub_loop));
	put_bytes(b, stub_gpa, stub, sizeof(stub));
}

static struct kvm_segment flat64_segment(uint16_t selector, uint8_t type, int code)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .s = 1, .g = 1,
		.l = code ? 1 : 0, .db = code ? 0 : 1,
	};
}

/* Puts the vCPU at the guest code in 64-bit mode, RBX = loop count. */
static void set_long_mode(struct bare_vm *b, uint64_t rbx, uint64_t rax)
{
	struct kvm_sregs s;
	struct kvm_regs r = {
		.rip = CODE_GPA, .rsp = STACK_TOP, .rax = rax, .rbx = rbx, .rflags = 0x2,
	};

	if (ioctl(b->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		die("KVM_GET_SREGS");
	s.cs = flat64_segment(0x08, 0xb, 1);
	s.ds = s.es = s.fs = s.gs = s.ss = flat64_segment(0x10, 0x3, 0);
	s.cr3 = PML4_GPA;
	s.cr4 = CR4_PAE;
	s.cr0 = CR0_PE | CR0_ET | CR0_PG;
	s.efer = EFER_LME | EFER_LMA;
	if (ioctl(b->vcpu_fd, KVM_SET_SREGS, &s) < 0)
		die("KVM_SET_SREGS");
	if (ioctl(b->vcpu_fd, KVM_SET_REGS, &r) < 0)
		die("KVM_SET_REGS");
}

/* Returns the time KVM_CREATE_VM returned, for the start-up report. */
static uint64_t bare_create(struct bare_vm *b)
{
	struct kvm_userspace_memory_region slot = { .slot = 0 };
	uint64_t created;
	int size;

	b->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (b->kvm_fd < 0)
		die("/dev/kvm");
	b->vm_fd = ioctl(b->kvm_fd, KVM_CREATE_VM, 0);
	if (b->vm_fd < 0)
		die("KVM_CREATE_VM");
	created = now_ns();
	b->mem = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED)
		die("mmap guest RAM");
	slot.memory_size = GUEST_RAM_SIZE;
	slot.userspace_addr = (uint64_t)(uintptr_t)b->mem;
	if (ioctl(b->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	b->vcpu_fd = ioctl(b->vm_fd, KVM_CREATE_VCPU, 0);
	if (b->vcpu_fd < 0)
		die("KVM_CREATE_VCPU");
	size = ioctl(b->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	b->run_size = (size_t)size;
	b->run = mmap(NULL, b->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->vcpu_fd, 0);
	if (b->run == MAP_FAILED)
		die("mmap kvm_run");
	write_page_tables(b);
	return created;
}

static void bare_destroy(struct bare_vm *b)
{
	munmap(b->run, b->run_size);
	munmap(b->mem, GUEST_RAM_SIZE);
	close(b->vcpu_fd);
	close(b->vm_fd);
	close(b->kvm_fd);
}

static void vcpu_run(struct bare_vm *b)
{
	while (ioctl(b->vcpu_fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR)
			die("KVM_RUN");
	}
}

/* Fails loudly on anything but a guest write to port. */
static void expect_pio_exit(const struct bare_vm *b, uint16_t port)
{
	const struct kvm_run *run = b->run;

	if (run->exit_reason == KVM_EXIT_IO && run->io.port == port &&
	    run->io.direction == KVM_EXIT_IO_OUT)
		return;
	fprintf(stderr, "bare_pio_exit: unexpected exit %u (port %#x)\n", run->exit_reason,
		run->exit_reason == KVM_EXIT_IO ? run->io.port : 0);
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		fprintf(stderr, "bare_pio_exit: internal error, suberror %u\n",
			run->internal.suberror);
	exit(1);
}

static int cmd_loop(enum loop_kind kind, uint64_t n)
{
	struct bare_vm b;
	uint64_t exits = 0, t0, t1;

	bare_create(&b);
	write_code(&b, kind);
	set_long_mode(&b, n, 0);
	if (kind == LOOP_STUB_SYNC)
		b.run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;

	t0 = now_ns();
	for (;;) {
		vcpu_run(&b);
		if (b.run->exit_reason == KVM_EXIT_IO && b.run->io.port == DONE_PORT)
			break;
		expect_pio_exit(&b, PIO_PORT);
		exits++;
		if (kind == LOOP_STUB_SYNC) {
			/* As pvmm: read the call from the synced registers,
			 * answer in RAX. */
			b.run->s.regs.regs.rax = b.run->s.regs.regs.rdi;
			b.run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
		}
	}
	t1 = now_ns();
	if (exits != (kind == LOOP_NOEXIT ? 0 : n))
		die_msg("the guest loop made the wrong number of exits");

	printf("loop: %s\n", loop_name[kind]);
	printf("iterations: %llu\n", (unsigned long long)n);
	printf("exits: %llu\n", (unsigned long long)exits);
	printf("total_ns: %llu\n", (unsigned long long)(t1 - t0));
	printf("ns_per_iteration: %.1f\n", (double)(t1 - t0) / (double)n);
	bare_destroy(&b);
	return 0;
}

/* Writes all of buf or dies: stdout is the driver's pipe. */
static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		p += n;
		len -= (size_t)n;
	}
}

/* The guest's one port write carries a byte, as a console would. */
static int cmd_startup(int hold)
{
	uint64_t t_main = now_ns(), t_vm, t_ready, t_exit;
	struct bare_vm b;
	char c;

	t_vm = bare_create(&b);
	write_code(&b, LOOP_OUT);
	set_long_mode(&b, 1, 'B');
	t_ready = now_ns();
	vcpu_run(&b);
	expect_pio_exit(&b, PIO_PORT);
	c = (char)*((uint8_t *)b.run + b.run->io.data_offset);
	write_all(STDOUT_FILENO, &c, 1);
	t_exit = now_ns();
	vcpu_run(&b);
	expect_pio_exit(&b, DONE_PORT);

	printf("\nmain_to_vm_created_ns: %llu\n", (unsigned long long)(t_vm - t_main));
	printf("main_to_first_run_ns: %llu\n", (unsigned long long)(t_ready - t_main));
	printf("main_to_first_exit_ns: %llu\n", (unsigned long long)(t_exit - t_main));
	printf("main_mono_ns: %llu\n", (unsigned long long)t_main);
	if (hold) {
		printf("ready\n");
		fflush(stdout);
		while (read(STDIN_FILENO, &c, 1) > 0)
			;
	}
	bare_destroy(&b);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bare_pio_exit loop out|stub|stub-sync|noexit N\n"
			"       bare_pio_exit startup|hold\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "loop") == 0) {
		char *end;
		unsigned long long n = strtoull(argv[3], &end, 10);

		if (*argv[3] == '\0' || *end || n == 0) {
			fprintf(stderr, "bare_pio_exit: '%s' is not a positive iteration count\n",
				argv[3]);
			return 2;
		}
		for (unsigned k = 0; k < sizeof(loop_name) / sizeof(loop_name[0]); k++)
			if (strcmp(argv[2], loop_name[k]) == 0)
				return cmd_loop((enum loop_kind)k, n);
		fprintf(stderr, "bare_pio_exit: unknown loop '%s'\n", argv[2]);
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "startup") == 0)
		return cmd_startup(0);
	if (argc == 2 && strcmp(argv[1], "hold") == 0)
		return cmd_startup(1);
	return usage();
}
