/*
 * vCPU operations without KVM: the VCPUOP_initialise register state as
 * Xen checks it (vcpu__hvm_context_to_kvm), and __HYPERVISOR_vcpu_op /
 * set_timer_op on a VM with real guest memory, real timerfds on a real
 * loop, and vCPUs whose registers say paging is off (guest-virtual
 * addresses are physical): vCPU lookup, up/down/is_up, Xen's errors and
 * their order, the timers' limits and what they arm, and parked vCPU
 * threads waking for VCPUOP_up and for the VM stopping.
 */
#include <check.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "events/timer.h"
#include "hypercall/hypercall.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/domain.h"
#include "xen/time.h"
#include "check_main.h"

#define RAM         (16ULL << 20)
#define ARG         0x10000ULL      /* where hypercall arguments go */
#define NR_VCPUS    2
#define MS          1000000ULL
#define SEC         1000000000ULL

#define CR0_PE      0x1ULL
#define CR0_ET      0x10ULL
#define CR0_NW      (1ULL << 29)
#define CR0_PG      (1ULL << 31)
#define CR4_PSE     0x10ULL
#define CR4_PAE     0x20ULL
#define CR4_VMXE    (1ULL << 13)
#define EFER_SCE    (1ULL << 0)
#define EFER_LME    (1ULL << 8)
#define EFER_LMA    (1ULL << 10)
#define EFER_SVME   (1ULL << 12)

/* _ar attributes in vcpu_hvm_context's layout. */
#define AR_CODE32   0xc9b   /* execute/read, accessed, present, D, G */
#define AR_DATA32   0xc93   /* read/write, accessed, present, D, G */
#define AR_TSS32    0x089   /* present available 32-bit TSS */

/* ---- the register state: vcpu__hvm_context_to_kvm ---- */

/* What smp_prepare() in the test guests passes: 32-bit flat. */
static struct vcpu_hvm_context flat32(void)
{
	struct vcpu_hvm_context c = { .mode = VCPU_HVM_MODE_32B };
	struct vcpu_hvm_x86_32 *r = &c.cpu_regs.x86_32;

	r->eip = 0x101000;
	r->esp = 0x200000;
	r->ebx = 1;
	r->eflags = 0x2;
	r->cr0 = CR0_PE;
	r->cs_limit = r->ds_limit = r->ss_limit = r->es_limit = 0xffffffff;
	r->cs_ar = AR_CODE32;
	r->ds_ar = r->ss_ar = r->es_ar = AR_DATA32;
	r->tr_limit = 0x67;
	r->tr_ar = AR_TSS32;
	return c;
}

static struct vcpu_hvm_context flat64(void)
{
	struct vcpu_hvm_context c = { .mode = VCPU_HVM_MODE_64B };
	struct vcpu_hvm_x86_64 *r = &c.cpu_regs.x86_64;

	r->rip = 0xffffffff80001000ULL;
	r->rsp = 0x200000;
	r->rdi = 0x1122334455667788ULL;
	r->rflags = 0x2;
	r->cr0 = CR0_PE | CR0_PG;
	r->cr3 = 0x107000;
	r->cr4 = CR4_PAE;
	r->efer = EFER_LME;
	return c;
}

/* A vCPU's special registers as KVM reports them before anything ran:
 * what the translation must keep (APIC base, descriptor tables). */
static struct kvm_sregs reset_sregs(void)
{
	struct kvm_sregs s;

	memset(&s, 0, sizeof(s));
	s.apic_base = 0xfee00800;
	s.gdt.limit = s.idt.limit = 0xffff;
	s.cs = (struct kvm_segment){ .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000,
				     .type = 0xb, .present = 1, .s = 1 };
	s.cr0 = 0x60000010;
	s.cr2 = 0x1234;
	return s;
}

static int translate(const struct vcpu_hvm_context *c, struct kvm_regs *r, struct kvm_sregs *s)
{
	memset(r, 0xa5, sizeof(*r));
	*s = reset_sregs();
	return vcpu__hvm_context_to_kvm(c, r, s);
}

/* Translating c fails with -EINVAL and leaves the registers alone. */
static void assert_refused(const struct vcpu_hvm_context *c, const char *what)
{
	struct kvm_sregs s, before;
	struct kvm_regs r, r_before;

	memset(&r, 0xa5, sizeof(r));
	r_before = r;
	s = before = reset_sregs();
	ck_assert_msg(vcpu__hvm_context_to_kvm(c, &r, &s) == -XEN_EINVAL,
		      "%s was not refused with -EINVAL", what);
	ck_assert_mem_eq(&s, &before, sizeof(s));
	ck_assert_mem_eq(&r, &r_before, sizeof(r));
}

START_TEST(flat_32bit_context_loads_as_given)
{
	struct vcpu_hvm_context c = flat32();
	struct kvm_regs r;
	struct kvm_sregs s;

	c.cpu_regs.x86_32.eax = 0xaaaa;
	c.cpu_regs.x86_32.esi = 0x5151;
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	ck_assert_uint_eq(r.rip, 0x101000);
	ck_assert_uint_eq(r.rsp, 0x200000);
	ck_assert_uint_eq(r.rbx, 1);
	ck_assert_uint_eq(r.rax, 0xaaaa);
	ck_assert_uint_eq(r.rsi, 0x5151);
	ck_assert_uint_eq(r.rcx, 0);            /* nothing left from before */
	ck_assert_uint_eq(r.rflags, 0x2);
	ck_assert_uint_eq(s.cr0, CR0_PE);
	ck_assert_uint_eq(s.cr2, 0);
	ck_assert_uint_eq(s.cr4, 0);
	ck_assert_uint_eq(s.efer, 0);
	/* CS: 32-bit code, accessed; limit byte-granular. */
	ck_assert_uint_eq(s.cs.type, 0xb);
	ck_assert_uint_eq(s.cs.limit, 0xffffffff);
	ck_assert_uint_eq(s.cs.base, 0);
	ck_assert(s.cs.present && s.cs.s && s.cs.db && s.cs.g && !s.cs.l);
	ck_assert_uint_eq(s.cs.dpl, 0);
	ck_assert_uint_eq(s.ss.type, 0x3);
	ck_assert(!s.ds.unusable && s.ds.db);
	/* TR: Xen marks the TSS busy. */
	ck_assert_uint_eq(s.tr.type, 0xb);
	ck_assert_uint_eq(s.tr.limit, 0x67);
	ck_assert(!s.tr.s && s.tr.present);
	/* Not in the context: FS/GS flat, LDT unusable, APIC and tables kept. */
	ck_assert(s.fs.present && s.fs.limit == 0xffffffff && s.gs.db);
	ck_assert(s.ldt.unusable);
	ck_assert_uint_eq(s.apic_base, 0xfee00800);
	ck_assert_uint_eq(s.gdt.limit, 0xffff);
}
END_TEST

START_TEST(null_ds_and_es_are_unusable)
{
	struct vcpu_hvm_context c = flat32();
	struct kvm_regs r;
	struct kvm_sregs s;

	c.cpu_regs.x86_32.ds_ar = 0;
	c.cpu_regs.x86_32.es_ar = 0;
	c.cpu_regs.x86_32.ds_limit = 0;
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	ck_assert(s.ds.unusable && !s.ds.present);
	ck_assert(s.es.unusable && !s.es.present);
}
END_TEST

START_TEST(flat_64bit_context_gets_xens_segments)
{
	struct vcpu_hvm_context c = flat64();
	struct kvm_regs r;
	struct kvm_sregs s;

	ck_assert_int_eq(translate(&c, &r, &s), 0);
	ck_assert_uint_eq(r.rip, 0xffffffff80001000ULL);
	ck_assert_uint_eq(r.rdi, 0x1122334455667788ULL);
	ck_assert_uint_eq(s.cr3, 0x107000);
	ck_assert_uint_eq(s.efer, EFER_LME | EFER_LMA);
	ck_assert(s.cs.l && !s.cs.db && s.cs.present && s.cs.type == 0xb);
	ck_assert(s.ss.present && s.ss.type == 0x3 && s.ss.db);
	ck_assert(s.tr.present && s.tr.type == 0xb && s.tr.limit == 0x67);
}
END_TEST

START_TEST(compatibility_mode_start_sets_lma)
{
	/* 32B with paging and LME: the vCPU starts in a 32-bit code segment
	 * of long mode, so LMA is set as the hardware would. */
	struct vcpu_hvm_context c = flat32();
	struct kvm_regs r;
	struct kvm_sregs s;

	c.cpu_regs.x86_32.cr0 = CR0_PE | CR0_PG;
	c.cpu_regs.x86_32.cr4 = CR4_PAE;
	c.cpu_regs.x86_32.efer = EFER_LME;
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	ck_assert_uint_eq(s.efer, EFER_LME | EFER_LMA);
	ck_assert(!s.cs.l && s.cs.db);

	/* ...and LME without paging is not long mode yet. */
	c.cpu_regs.x86_32.cr0 = CR0_PE;
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	ck_assert_uint_eq(s.efer, EFER_LME);
}
END_TEST

START_TEST(eflags_keep_only_defined_flags)
{
	struct vcpu_hvm_context c = flat32();
	struct kvm_regs r;
	struct kvm_sregs s;

	/* Reserved bits 3, 5, 15 and 22+ go; IF and bit 1 stay/appear. */
	c.cpu_regs.x86_32.eflags = 0xffc08228;
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	ck_assert_uint_eq(r.rflags, 0x202);
}
END_TEST

START_TEST(bad_mode_and_padding_are_refused)
{
	struct vcpu_hvm_context c = flat32();

	c.mode = 2;
	assert_refused(&c, "mode 2");
	c.mode = UINT32_MAX;
	assert_refused(&c, "mode 0xffffffff");

	c = flat32();
	c.pad = 1;
	assert_refused(&c, "32B with pad set");
	c = flat64();
	c.pad = 1;
	assert_refused(&c, "64B with pad set");

	c = flat32();
	c.cpu_regs.x86_32.pad1 = 1;
	assert_refused(&c, "pad1 set");
	c = flat32();
	c.cpu_regs.x86_32.pad2[2] = 1;
	assert_refused(&c, "pad2 set");
}
END_TEST

/* One change to the flat 32-bit context that Xen (or x86) refuses.  Zero
 * fields are left as flat32() has them. */
#define NULL_CS 1
#define NULL_SS 2
#define NULL_TR 4
struct bad_segment {
	const char *what;
	unsigned null;          /* NULL_*: attributes 0, a null selector */
	uint32_t eip, cs_limit, ds_limit;
	uint16_t cs_ar, ds_ar, ss_ar, es_ar, tr_ar;
};

static const struct bad_segment bad_segments[] = {
	{ .what = "null CS", .null = NULL_CS },
	{ .what = "null SS", .null = NULL_SS },
	{ .what = "null TR", .null = NULL_TR },
	{ .what = "attribute bits 12-15", .cs_ar = 0x1c9b },
	{ .what = "data segment as CS", .cs_ar = AR_DATA32 },
	{ .what = "system segment as CS", .cs_ar = 0xc8b },
	{ .what = "code segment as SS", .ss_ar = AR_CODE32 },
	{ .what = "read-only SS", .ss_ar = 0xc91 },
	{ .what = "execute-only DS", .ds_ar = 0xc99 },
	{ .what = "execute-only ES", .es_ar = 0xc99 },
	{ .what = "CS not present", .cs_ar = 0xc1b },
	{ .what = "DS not present", .ds_ar = 0xc13 },
	{ .what = "code segment as TR", .tr_ar = AR_CODE32 },
	{ .what = "16-bit TSS as TR", .tr_ar = 0x081 },
	{ .what = "LDT as TR", .tr_ar = 0x082 },
	{ .what = "G set, limit not ending in fff", .cs_limit = 0xfffff000 },
	{ .what = "G clear, limit above 1 MiB", .ds_ar = 0x493, .ds_limit = 0x100000 },
	{ .what = "EIP beyond the CS limit", .cs_ar = 0x49b, .cs_limit = 0xfffff,
	  .eip = 0x100000 },
	{ .what = "SS.DPL differs from CS.DPL", .ss_ar = 0xcf3 },
	{ .what = "DS.DPL above CS.DPL", .ds_ar = 0xcf3 },
	{ .what = "ES.DPL above CS.DPL", .es_ar = 0xcb3 },
	{ .what = "64-bit CS outside long mode", .cs_ar = 0xa9b },
	{ .what = "CS with both L and D", .cs_ar = 0xe9b },
};

START_TEST(bad_segments_are_refused)
{
	const struct bad_segment *b = &bad_segments[_i];
	struct vcpu_hvm_context c = flat32();
	struct vcpu_hvm_x86_32 *r = &c.cpu_regs.x86_32;

#define TAKE(f) if (b->f) r->f = b->f
	TAKE(eip);
	TAKE(cs_limit);
	TAKE(ds_limit);
	TAKE(cs_ar);
	TAKE(ds_ar);
	TAKE(ss_ar);
	TAKE(es_ar);
	TAKE(tr_ar);
#undef TAKE
	if (b->null & NULL_CS)
		r->cs_ar = 0;
	if (b->null & NULL_SS)
		r->ss_ar = 0;
	if (b->null & NULL_TR)
		r->tr_ar = 0;
	assert_refused(&c, b->what);
}
END_TEST

/* One change to a valid context that Xen (or x86) refuses. */
struct bad_cr {
	const char *what;
	bool long_mode;         /* a change to flat64(), else to flat32() */
	uint64_t cr0, cr4, efer, rip;
};

static const struct bad_cr bad_crs[] = {
	{ "32B without CR0.PE", .cr0 = CR0_ET },
	{ "a reserved CR0 bit", .cr0 = CR0_PE | (1 << 6) },
	{ "CR0.NW without CR0.CD", .cr0 = CR0_PE | CR0_NW },
	{ "CR4.VMXE (no nested VMX)", .cr4 = CR4_VMXE },
	{ "a reserved CR4 bit", .cr4 = 1ULL << 31 },
	{ "EFER.LMA without EFER.LME", .efer = EFER_LMA },
	{ "EFER.SVME (no nested SVM)", .efer = EFER_SVME },
	{ "a reserved EFER bit", .efer = 1ULL << 40 },
	{ "long mode without CR4.PAE", .cr0 = CR0_PE | CR0_PG, .efer = EFER_LME },
	{ "CR0 bits above 31", .long_mode = true, .cr0 = CR0_PE | CR0_PG | (1ULL << 32) },
	{ "CR0.PG without CR0.PE", .long_mode = true, .cr0 = CR0_PG },
	{ "64B without paging", .long_mode = true, .cr0 = CR0_PE },
	{ "64B without CR4.PAE", .long_mode = true, .cr4 = CR4_PSE },
	{ "64B without EFER.LME", .long_mode = true, .efer = EFER_SCE },
	{ "64B at a non-canonical RIP", .long_mode = true, .rip = 0x0000800000000000ULL },
	{ "64B at another non-canonical RIP", .long_mode = true, .rip = 0xffff7fffffffffffULL },
};

START_TEST(bad_control_registers_are_refused)
{
	const struct bad_cr *b = &bad_crs[_i];
	struct vcpu_hvm_context c = b->long_mode ? flat64() : flat32();

	if (b->long_mode) {
		struct vcpu_hvm_x86_64 *r = &c.cpu_regs.x86_64;

		r->cr0 = b->cr0 ? b->cr0 : r->cr0;
		r->cr4 = b->cr4 ? b->cr4 : r->cr4;
		r->efer = b->efer ? b->efer : r->efer;
		r->rip = b->rip ? b->rip : r->rip;
	} else {
		struct vcpu_hvm_x86_32 *r = &c.cpu_regs.x86_32;

		r->cr0 = (uint32_t)(b->cr0 ? b->cr0 : r->cr0);
		r->cr4 = (uint32_t)(b->cr4 ? b->cr4 : r->cr4);
		r->efer = b->efer ? b->efer : r->efer;
	}
	assert_refused(&c, b->what);
}
END_TEST

START_TEST(edge_values_that_are_fine)
{
	struct vcpu_hvm_context c = flat32();
	struct kvm_regs r;
	struct kvm_sregs s;

	c.cpu_regs.x86_32.cr0 = CR0_PE | CR0_ET;
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	c = flat64();
	c.cpu_regs.x86_64.rip = 0x00007fffffffffffULL;  /* highest canonical low half */
	ck_assert_int_eq(translate(&c, &r, &s), 0);
	c.cpu_regs.x86_64.rip = 0xffff800000000000ULL;  /* lowest high half */
	ck_assert_int_eq(translate(&c, &r, &s), 0);
}
END_TEST

/* ---- the hypercalls, on a VM without KVM ---- */

static struct vm vm;
static struct vcpu cpu[NR_VCPUS];

static void setup_vm(void)
{
	memset(&vm, 0, sizeof(vm));
	memset(cpu, 0, sizeof(cpu));
	vm.kvm_fd = vm.fd = vm.stop_fd = vm.shutdown_timer_fd = -1;
	ck_assert_int_eq(gmem__init(&vm.mem, RAM), 0);
	ck_assert_int_eq(loop__init(&vm.loop), 0);
	xen__domain_init(&vm);
	for (int i = 0; i < NR_VCPUS; i++) {
		struct kvm_run *run = calloc(1, sizeof(*run));

		ck_assert_ptr_nonnull(run);
		run->s.regs.sregs.cr0 = CR0_PE;         /* paging off */
		cpu[i] = (struct vcpu){ .vm = &vm, .id = i, .fd = -1, .run = run };
		vm.vcpu[i] = &cpu[i];
	}
	vm.nr_vcpus = NR_VCPUS;
	/* vCPU 0 as vcpu__set_pvh_entry() leaves it. */
	cpu[0].initialised = true;
	cpu[0].xen.up = true;
	ck_assert_int_eq(vtimer__init(&vm), 0);
}

static void teardown_vm(void)
{
	vtimer__destroy(&vm);
	loop__destroy(&vm.loop);
	for (int i = 0; i < NR_VCPUS; i++)
		free(cpu[i].run);
	gmem__free(&vm.mem);
}

static long vcpu_op(struct vcpu *caller, bool compat, uint64_t cmd, uint64_t id, uint64_t arg)
{
	struct hcall hc = {
		.vcpu = caller, .vm = &vm, .compat = compat, .nr = __HYPERVISOR_vcpu_op,
		.arg = { cmd, id, arg },
	};

	return hc__vcpu_op(&hc);
}

static long timer_op(bool compat, uint64_t a0, uint64_t a1)
{
	struct hcall hc = {
		.vcpu = &cpu[0], .vm = &vm, .compat = compat, .nr = __HYPERVISOR_set_timer_op,
		.arg = { a0, a1 },
	};

	return hc__set_timer_op(&hc);
}

static void put(uint64_t gpa, const void *p, size_t len)
{
	ck_assert_int_eq(gmem__write(&vm.mem, gpa, p, len), 0);
}

static bool stopping(void)
{
	return atomic_load(&vm.stopping);
}

static int exit_status(void)
{
	return atomic_load(&vm.exit_status);
}

static bool is_up(int id)
{
	long r = vcpu_op(&cpu[0], false, VCPUOP_is_up, (uint64_t)id, 0);

	ck_assert(r == 0 || r == 1);
	return r == 1;
}

START_TEST(vcpuid_beyond_the_vm_is_enoent)
{
	static const int cmds[] = {
		VCPUOP_initialise, VCPUOP_up, VCPUOP_down, VCPUOP_is_up,
		VCPUOP_set_periodic_timer, VCPUOP_stop_periodic_timer,
		VCPUOP_set_singleshot_timer, VCPUOP_stop_singleshot_timer,
		VCPUOP_register_vcpu_info, 99,
	};
	struct vcpu_hvm_context c = flat32();

	put(ARG, &c, sizeof(c));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ck_assert_int_eq(vcpu_op(&cpu[0], false, cmds[i], NR_VCPUS, ARG), -XEN_ENOENT);
		ck_assert_int_eq(vcpu_op(&cpu[0], true, cmds[i], UINT32_MAX, ARG), -XEN_ENOENT);
		ck_assert_int_eq(vcpu_op(&cpu[0], false, cmds[i], PVMM_MAX_VCPUS, ARG), -XEN_ENOENT);
	}
	/* Xen's vcpuid is an unsigned int: the upper half of rsi is not
	 * part of it. */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_is_up, 1ULL << 32, 0), 1);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_is_up, (1ULL << 32) | 1, 0), 0);
}
END_TEST

START_TEST(is_up_reports_the_boot_vcpu_only)
{
	ck_assert(is_up(0));
	ck_assert(!is_up(1));
}
END_TEST

START_TEST(initialise_errors_in_xens_order)
{
	struct vcpu_hvm_context bad = flat32();

	bad.mode = 7;
	put(ARG, &bad, sizeof(bad));
	/* The copy comes first: an unreadable context is -EFAULT, even for
	 * a vCPU that is initialised. */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_initialise, 0, RAM - 64), -XEN_EFAULT);
	ck_assert_int_eq(vcpu_op(&cpu[0], true, VCPUOP_initialise, 1, RAM - 64), -XEN_EFAULT);
	/* Then "once only", before the context is looked at. */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_initialise, 0, ARG), -XEN_EEXIST);
	cpu[1].initialised = true;     /* as a successful VCPUOP_initialise leaves it */
	ck_assert_int_eq(vcpu_op(&cpu[0], true, VCPUOP_initialise, 1, ARG), -XEN_EEXIST);
	/* Nothing was brought up on the way. */
	ck_assert(!is_up(1));
}
END_TEST

START_TEST(up_needs_initialise_then_wakes)
{
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 1, 0), -XEN_EINVAL);
	ck_assert(!is_up(1));
	cpu[1].initialised = true;
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 1, 0), 0);
	ck_assert(is_up(1));
	/* Up again, and up on the running caller: no error. */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 1, 0), 0);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 0, 0), 0);
	ck_assert(is_up(0) && is_up(1));
}
END_TEST

START_TEST(down_another_vcpu_kicks_it)
{
	cpu[1].initialised = true;
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 1, 0), 0);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_down, 1, 0), 0);
	ck_assert(!is_up(1));
	/* Out of KVM_RUN at once, to park before it runs again. */
	ck_assert_uint_eq(cpu[1].run->immediate_exit, 1);
	ck_assert(!stopping());
	/* Down again: nothing changes. */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_down, 1, 0), 0);
	ck_assert(is_up(0) && !is_up(1));
}
END_TEST

START_TEST(down_self_with_another_running)
{
	cpu[1].initialised = true;
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 1, 0), 0);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_down, 0, 0), 0);
	ck_assert(!is_up(0) && is_up(1));
	/* The caller parks when its hypercall returns; no kick needed. */
	ck_assert_uint_eq(cpu[0].run->immediate_exit, 0);
	ck_assert(!stopping());
	/* vCPU 1 brings vCPU 0 back. */
	ck_assert_int_eq(vcpu_op(&cpu[1], false, VCPUOP_up, 0, 0), 0);
	ck_assert(is_up(0));
}
END_TEST

START_TEST(last_vcpu_down_powers_off)
{
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_down, 0, 0), 0);
	ck_assert(stopping());
	ck_assert_int_eq(exit_status(), PVMM_EXIT_POWEROFF);
	/* As in Xen, the vCPU itself is not marked down. */
	ck_assert(cpu[0].xen.up);
	ck_assert_int_eq(vm.xen.shutdown_code, SHUTDOWN_poweroff);
}
END_TEST

START_TEST(last_vcpu_down_keeps_a_latched_code)
{
	vm.xen.shutdown_code = SHUTDOWN_reboot;   /* SCHEDOP_shutdown_code */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_down, 0, 0), 0);
	ck_assert(stopping());
	ck_assert_int_eq(exit_status(), PVMM_EXIT_REBOOT);
}
END_TEST

/* ---- threads: a down vCPU parks, and wakes ---- */

START_TEST(parked_vcpu_thread_exits_when_the_vm_stops)
{
	ck_assert_int_eq(vcpu__start(&cpu[1]), 0);   /* down: it parks */
	vm__stop(&vm, PVMM_EXIT_STOPPED);
	vcpu__join(&cpu[1]);                         /* hangs if it never woke */
	ck_assert_int_eq(exit_status(), PVMM_EXIT_STOPPED);
}
END_TEST

START_TEST(parked_vcpu_thread_runs_after_up)
{
	ck_assert_int_eq(vcpu__start(&cpu[1]), 0);
	usleep(20000);
	ck_assert(!stopping());       /* still parked */
	cpu[1].initialised = true;
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_up, 1, 0), 0);
	/* Awake, it enters KVM_RUN, which fails on this KVM-less vCPU
	 * (fd -1) and stops the VM with PVMM_EXIT_ERROR. */
	vcpu__join(&cpu[1]);
	ck_assert(stopping());
	ck_assert_int_eq(exit_status(), PVMM_EXIT_ERROR);
}
END_TEST

/* ---- the timers ---- */

struct timer_state {
	int armed;              /* timerfds with an expiry to come */
	int fired;              /* timerfds that expired */
	uint64_t value_ns;      /* the last armed one's time to expiry */
	uint64_t interval_ns;   /* and its period */
};

/* What every vCPU timer (the timerfds on the loop) is doing; reading an
 * expired one consumes its expiry. */
static struct timer_state timers(void)
{
	struct timer_state t = { 0 };

	for (int i = 0; i < LOOP_MAX_FDS; i++) {
		struct itimerspec its;
		uint64_t n;

		if (!vm.loop.entry[i].fn)
			continue;
		if (read(vm.loop.entry[i].fd, &n, sizeof(n)) == sizeof(n))
			t.fired++;
		ck_assert_int_eq(timerfd_gettime(vm.loop.entry[i].fd, &its), 0);
		if (its.it_value.tv_sec || its.it_value.tv_nsec) {
			t.armed++;
			t.value_ns = (uint64_t)its.it_value.tv_sec * SEC + (uint64_t)its.it_value.tv_nsec;
			t.interval_ns = (uint64_t)its.it_interval.tv_sec * SEC +
					(uint64_t)its.it_interval.tv_nsec;
		}
	}
	return t;
}

static long periodic(struct vcpu *caller, int target, uint64_t period)
{
	struct vcpu_set_periodic_timer p = { .period_ns = period };

	put(ARG, &p, sizeof(p));
	return vcpu_op(caller, false, VCPUOP_set_periodic_timer, (uint64_t)target, ARG);
}

static long singleshot(bool compat, uint64_t gpa, uint64_t timeout, uint32_t flags)
{
	struct vcpu_set_singleshot_timer t = { .timeout_abs_ns = timeout, .flags = flags };

	/* The compat structure is the first 12 bytes of the native one. */
	put(gpa, &t, XSIZE(compat, vcpu_set_singleshot_timer));
	return vcpu_op(&cpu[0], compat, VCPUOP_set_singleshot_timer, 0, gpa);
}

START_TEST(periodic_period_within_xens_limits)
{
	struct timer_state t;

	ck_assert_int_eq(periodic(&cpu[0], 0, 0), -XEN_EINVAL);
	ck_assert_int_eq(periodic(&cpu[0], 0, MS - 1), -XEN_EINVAL);
	ck_assert_int_eq(periodic(&cpu[0], 0, 1ULL << 62), -XEN_EINVAL);   /* > STIME_DELTA_MAX */
	ck_assert_int_eq(periodic(&cpu[0], 0, UINT64_MAX), -XEN_EINVAL);
	ck_assert_int_eq(timers().armed, 0);

	ck_assert_int_eq(periodic(&cpu[0], 0, MS), 0);
	t = timers();
	ck_assert_int_eq(t.armed, 1);
	ck_assert_uint_eq(t.interval_ns, MS);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_stop_periodic_timer, 0, 0), 0);
	ck_assert_int_eq(timers().armed, 0);

	ck_assert_int_eq(periodic(&cpu[0], 0, (1ULL << 62) - 1), 0);       /* STIME_DELTA_MAX */
	ck_assert_int_eq(timers().armed, 1);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_stop_periodic_timer, 0, 0), 0);

	/* Another vCPU's periodic timer may be set, as in Xen. */
	ck_assert_int_eq(periodic(&cpu[0], 1, 10 * MS), 0);
	ck_assert_uint_eq(timers().interval_ns, 10 * MS);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_stop_periodic_timer, 1, 0), 0);
	ck_assert_int_eq(timers().armed, 0);

	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_set_periodic_timer, 0, RAM), -XEN_EFAULT);
}
END_TEST

START_TEST(singleshot_only_on_the_calling_vcpu)
{
	struct vcpu_set_singleshot_timer t = { .timeout_abs_ns = 1 };

	put(ARG, &t, sizeof(t));
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_set_singleshot_timer, 1, ARG), -XEN_EINVAL);
	/* Checked before the argument is read. */
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_set_singleshot_timer, 1, RAM), -XEN_EINVAL);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_stop_singleshot_timer, 1, 0), -XEN_EINVAL);
	ck_assert_int_eq(vcpu_op(&cpu[1], false, VCPUOP_stop_singleshot_timer, 1, 0), 0);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_set_singleshot_timer, 0, RAM), -XEN_EFAULT);
	ck_assert_int_eq(timers().armed, 0);
}
END_TEST

START_TEST(singleshot_future_flag_and_past_deadlines)
{
	struct timer_state t;
	uint64_t now;

	usleep(2000);
	now = xen__system_time(&vm);
	ck_assert_int_eq(singleshot(false, ARG, now - MS, VCPU_SSHOTTMR_future), -XEN_ETIME);
	ck_assert_int_eq(singleshot(true, ARG, 0, VCPU_SSHOTTMR_future), -XEN_ETIME);
	t = timers();
	ck_assert_int_eq(t.armed + t.fired, 0);

	/* Without the flag a past deadline fires at once; so do 0 and the
	 * "negative" ones, which Xen's signed time puts in the past. */
	ck_assert_int_eq(singleshot(false, ARG, now - MS, 0), 0);
	ck_assert_int_eq(timers().fired, 1);
	ck_assert_int_eq(singleshot(false, ARG, 0, 0), 0);
	ck_assert_int_eq(timers().fired, 1);
	ck_assert_int_eq(singleshot(false, ARG, 1ULL << 63, 0), 0);
	ck_assert_int_eq(timers().fired, 1);

	ck_assert_int_eq(singleshot(false, ARG, xen__system_time(&vm) + SEC, VCPU_SSHOTTMR_future), 0);
	t = timers();
	ck_assert_int_eq(t.armed, 1);
	ck_assert_uint_gt(t.value_ns, SEC / 2);
	ck_assert_uint_le(t.value_ns, SEC);
	ck_assert_uint_eq(t.interval_ns, 0);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_stop_singleshot_timer, 0, 0), 0);
	t = timers();
	ck_assert_int_eq(t.armed + t.fired, 0);
}
END_TEST

START_TEST(singleshot_reads_the_compat_layout)
{
	/* 12 bytes for a 32-bit guest, 16 natively: a structure in the last
	 * 12 bytes of RAM is whole for the one and cut short for the other. */
	uint64_t end = RAM - XSIZE(true, vcpu_set_singleshot_timer);
	uint64_t deadline = xen__system_time(&vm) + SEC;

	ck_assert_uint_eq(XSIZE(true, vcpu_set_singleshot_timer), 12);
	ck_assert_uint_eq(XSIZE(false, vcpu_set_singleshot_timer), 16);
	ck_assert_int_eq(singleshot(true, end, deadline, VCPU_SSHOTTMR_future), 0);
	ck_assert_int_eq(timers().armed, 1);
	ck_assert_int_eq(vcpu_op(&cpu[0], false, VCPUOP_set_singleshot_timer, 0, end),
			 -XEN_EFAULT);
}
END_TEST

START_TEST(set_timer_op_takes_its_deadline_from_both_widths)
{
	uint64_t now = xen__system_time(&vm);
	uint64_t deadline = now + (1ULL << 32) + 5;     /* about 4.3 s away */
	struct timer_state t;

	/* 32-bit: ebx low half, ecx high half. */
	ck_assert_int_eq(timer_op(true, (uint32_t)deadline, deadline >> 32), 0);
	t = timers();
	ck_assert_int_eq(t.armed, 1);
	ck_assert_uint_gt(t.value_ns, 4 * SEC);
	ck_assert_uint_le(t.value_ns, (1ULL << 32) + 5);
	ck_assert_int_eq(timer_op(true, 0, 0), 0);       /* 0 stops */
	ck_assert_int_eq(timers().armed, 0);

	/* 64-bit: rdi, whole; rsi plays no part. */
	ck_assert_int_eq(timer_op(false, now + 2 * SEC, 0xdead), 0);
	t = timers();
	ck_assert_int_eq(t.armed, 1);
	ck_assert_uint_gt(t.value_ns, SEC);
	ck_assert_uint_le(t.value_ns, 2 * SEC);
	ck_assert_int_eq(timer_op(false, 0, 0), 0);
	ck_assert_int_eq(timers().armed, 0);

	/* A deadline in the past fires at once. */
	ck_assert_int_eq(timer_op(false, 1, 0), 0);
	ck_assert_int_eq(timers().fired, 1);
}
END_TEST

START_TEST(set_timer_op_absurd_deadlines_fire_in_100ms)
{
	uint64_t now = xen__system_time(&vm);
	const uint64_t absurd[] = {
		1ULL << 63,                     /* "negative" */
		UINT64_MAX,
		now + (1ULL << 50) + SEC,       /* 13 days: taken for a wrap */
	};
	struct timer_state t;

	for (size_t i = 0; i < sizeof(absurd) / sizeof(absurd[0]); i++) {
		ck_assert_int_eq(timer_op(false, absurd[i], 0), 0);
		t = timers();
		ck_assert_int_eq(t.armed, 1);
		ck_assert_uint_le(t.value_ns, 100 * MS);
		ck_assert_uint_gt(t.value_ns, 50 * MS);
	}
	/* Just under 2^50 ns away is taken as meant. */
	ck_assert_int_eq(timer_op(false, now + (1ULL << 50) - SEC, 0), 0);
	ck_assert_uint_gt(timers().value_ns, 1ULL << 49);
	ck_assert_int_eq(timer_op(false, 0, 0), 0);
}
END_TEST

static Suite *vcpu_op_suite(void)
{
	Suite *s = suite_create("vcpu_op");
	TCase *ctx = tcase_create("hvm_context");
	TCase *ops = tcase_create("vcpu_op");
	TCase *threads = tcase_create("threads");
	TCase *timer = tcase_create("timers");

	tcase_add_test(ctx, flat_32bit_context_loads_as_given);
	tcase_add_test(ctx, null_ds_and_es_are_unusable);
	tcase_add_test(ctx, flat_64bit_context_gets_xens_segments);
	tcase_add_test(ctx, compatibility_mode_start_sets_lma);
	tcase_add_test(ctx, eflags_keep_only_defined_flags);
	tcase_add_test(ctx, bad_mode_and_padding_are_refused);
	tcase_add_loop_test(ctx, bad_segments_are_refused, 0,
			    sizeof(bad_segments) / sizeof(bad_segments[0]));
	tcase_add_loop_test(ctx, bad_control_registers_are_refused, 0,
			    sizeof(bad_crs) / sizeof(bad_crs[0]));
	tcase_add_test(ctx, edge_values_that_are_fine);
	suite_add_tcase(s, ctx);

	tcase_add_checked_fixture(ops, setup_vm, teardown_vm);
	tcase_add_test(ops, vcpuid_beyond_the_vm_is_enoent);
	tcase_add_test(ops, is_up_reports_the_boot_vcpu_only);
	tcase_add_test(ops, initialise_errors_in_xens_order);
	tcase_add_test(ops, up_needs_initialise_then_wakes);
	tcase_add_test(ops, down_another_vcpu_kicks_it);
	tcase_add_test(ops, down_self_with_another_running);
	tcase_add_test(ops, last_vcpu_down_powers_off);
	tcase_add_test(ops, last_vcpu_down_keeps_a_latched_code);
	suite_add_tcase(s, ops);

	tcase_add_checked_fixture(threads, setup_vm, teardown_vm);
	tcase_set_timeout(threads, 30);
	tcase_add_test(threads, parked_vcpu_thread_exits_when_the_vm_stops);
	tcase_add_test(threads, parked_vcpu_thread_runs_after_up);
	suite_add_tcase(s, threads);

	tcase_add_checked_fixture(timer, setup_vm, teardown_vm);
	tcase_add_test(timer, periodic_period_within_xens_limits);
	tcase_add_test(timer, singleshot_only_on_the_calling_vcpu);
	tcase_add_test(timer, singleshot_future_flag_and_past_deadlines);
	tcase_add_test(timer, singleshot_reads_the_compat_layout);
	tcase_add_test(timer, set_timer_op_takes_its_deadline_from_both_widths);
	tcase_add_test(timer, set_timer_op_absurd_deadlines_fire_in_100ms);
	suite_add_tcase(s, timer);
	return s;
}

CHECK_MAIN(vcpu_op_suite)
