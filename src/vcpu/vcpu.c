#include "vcpu/vcpu.h"

#include <asm/processor-flags.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/ioapic.h"
#include "ept/gva.h"
#include "events/evtchn.h"
#include "hypercall/transport.h"
#include "vcpu/cpuid.h"
#include "vcpu/pause.h"
#include "vcpu/vm.h"

/* SIGUSR1 only interrupts KVM_RUN; immediate_exit closes the race with a
 * kick that lands just before the ioctl. */
#define VCPU_KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu__create(struct vm *vm, int id, struct vcpu **out)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0) {
		ret = -errno;
		free(v);
		return ret;
	}
	v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		close(v->fd);
		free(v);
		return ret;
	}
	ret = cpuid__set_vcpu(v->fd, vm->cpuid, id);
	if (ret) {
		vcpu__destroy(v);
		return ret;
	}
	/* Every exit hands us the registers, so hypercalls need no ioctl. */
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
	*out = v;
	return 0;
}

void vcpu__destroy(struct vcpu *v)
{
	if (!v)
		return;
	munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
	close(v->fd);
	free(v);
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

int vcpu__set_pvh_entry(struct vcpu *v, uint32_t entry, uint32_t start_info)
{
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = entry, .rbx = start_info, .rflags = 0x2 };

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	/* The PVH ABI: flat 32-bit protected mode, paging off, CR4 = 0. */
	s.cs = flat_segment(0x10, 0xb);   /* execute/read, accessed */
	s.ds = s.es = s.fs = s.gs = s.ss = flat_segment(0x18, 0x3);
	s.tr = (struct kvm_segment){
		.base = 0, .limit = 0x67, .selector = 0x20, .type = 0xb,
		.present = 1, .s = 0,
	};
	s.ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .unusable = 1 };
	s.cr0 = 0x11;   /* PE, and ET which the hardware keeps set */
	s.cr3 = 0;
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0 || ioctl(v->fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	/* No vCPU thread runs yet: no lock is needed to publish this. */
	v->initialised = true;
	v->xen.up = true;
	return 0;
}

/* EFER bits (MSR 0xc0000080), which the kernel's uapi headers lack. */
#define EFER_SCE (1ULL << 0)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define EFER_NXE (1ULL << 11)
/* What a guest may ask for.  Xen also takes SVME, LMSLE and FFXSE when
 * the CPU policy offers them; pvmm's guests are offered none of them. */
#define EFER_VALID (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)

#define CR0_VALID (X86_CR0_PE | X86_CR0_MP | X86_CR0_EM | X86_CR0_TS | X86_CR0_ET | \
		   X86_CR0_NE | X86_CR0_WP | X86_CR0_AM | X86_CR0_NW | X86_CR0_CD | \
		   X86_CR0_PG)
/* The CR4 bits Xen can let an HVM guest set (hvm_cr4_guest_valid_bits);
 * KVM refuses those the vCPU's CPUID does not offer. */
#define CR4_VALID (X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE | X86_CR4_PSE | \
		   X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE | X86_CR4_PCE | X86_CR4_OSFXSR | \
		   X86_CR4_OSXMMEXCPT | X86_CR4_UMIP | X86_CR4_LA57 | X86_CR4_FSGSBASE | \
		   X86_CR4_PCIDE | X86_CR4_OSXSAVE | X86_CR4_SMEP | X86_CR4_SMAP | \
		   X86_CR4_PKE | X86_CR4_CET)
/* Xen's X86_EFLAGS_ALL: the flags a starting vCPU keeps. */
#define EFLAGS_VALID (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF | \
		      X86_EFLAGS_SF | X86_EFLAGS_TF | X86_EFLAGS_IF | X86_EFLAGS_DF | \
		      X86_EFLAGS_OF | X86_EFLAGS_IOPL | X86_EFLAGS_NT | X86_EFLAGS_RF | \
		      X86_EFLAGS_VM | X86_EFLAGS_AC | X86_EFLAGS_VIF | X86_EFLAGS_VIP | \
		      X86_EFLAGS_ID)

/* Segment type bits (descriptor bits 40-43). */
#define SEG_TYPE_ACCESSED 0x1    /* code and data */
#define SEG_TYPE_WRITABLE 0x2    /* data; for code: readable */
#define SEG_TYPE_BUSY     0x2    /* a TSS */
#define SEG_TYPE_CODE     0x8
#define SEG_TYPE_TSS_BUSY 0xb    /* 32/64-bit TSS, busy */
/* vcpu_hvm_context's _ar attributes: bits 12-15 must be clear. */
#define AR_RESERVED       0xf000

enum hvm_seg { HVM_SEG_CS, HVM_SEG_DS, HVM_SEG_SS, HVM_SEG_ES, HVM_SEG_TR };

/*
 * One segment of a 32-bit context: Xen's check_segment() rules, then the
 * VMX rule that a limit agree with its granularity (Xen would fail the
 * VM entry instead).  The limit is the byte-granular one, as Xen's
 * toolstack fills it (~0 with G set for flat segments).
 */
static int hvm_segment(enum hvm_seg seg, uint32_t base, uint32_t limit, uint16_t ar,
		       struct kvm_segment *out)
{
	struct kvm_segment s = {
		.base = base, .limit = limit, .selector = 0,
		.type = ar & 0xf, .s = (ar >> 4) & 1, .dpl = (ar >> 5) & 3,
		.present = (ar >> 7) & 1, .avl = (ar >> 8) & 1, .l = (ar >> 9) & 1,
		.db = (ar >> 10) & 1, .g = (ar >> 11) & 1,
	};

	if (ar & AR_RESERVED)
		return -XEN_EINVAL;
	if (ar == 0) {
		/* A null selector: allowed where the CPU allows one. */
		if (seg != HVM_SEG_DS && seg != HVM_SEG_ES)
			return -XEN_EINVAL;
		*out = (struct kvm_segment){ .unusable = 1 };
		return 0;
	}
	/* Xen marks present segments accessed, and a TSS busy. */
	if (s.present)
		s.type |= seg == HVM_SEG_TR ? SEG_TYPE_BUSY : SEG_TYPE_ACCESSED;
	if (seg == HVM_SEG_TR ? (s.s || s.type != SEG_TYPE_TSS_BUSY) : !s.s)
		return -XEN_EINVAL;
	if (!s.present)
		return -XEN_EINVAL;
	switch (seg) {
	case HVM_SEG_CS:
		if (!(s.type & SEG_TYPE_CODE))
			return -XEN_EINVAL;
		break;
	case HVM_SEG_SS:
		if ((s.type & SEG_TYPE_CODE) || !(s.type & SEG_TYPE_WRITABLE))
			return -XEN_EINVAL;
		break;
	case HVM_SEG_DS:
	case HVM_SEG_ES:
		/* Execute-only code cannot be read through DS or ES. */
		if ((s.type & SEG_TYPE_CODE) && !(s.type & SEG_TYPE_WRITABLE))
			return -XEN_EINVAL;
		break;
	case HVM_SEG_TR:
		break;
	}
	if (s.g ? (limit & 0xfff) != 0xfff : limit > 0xfffff)
		return -XEN_EINVAL;
	*out = s;
	return 0;
}

static struct kvm_segment flat_data_segment(void)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .type = 0x3, .present = 1,
		.s = 1, .db = 1, .g = 1,
	};
}

static int hvm_context_32(const struct vcpu_hvm_x86_32 *c, struct kvm_regs *r,
			  struct kvm_sregs *s)
{
	if (c->pad1 || c->pad2[0] || c->pad2[1] || c->pad2[2])
		return -XEN_EINVAL;
	if (hvm_segment(HVM_SEG_CS, c->cs_base, c->cs_limit, c->cs_ar, &s->cs) ||
	    hvm_segment(HVM_SEG_DS, c->ds_base, c->ds_limit, c->ds_ar, &s->ds) ||
	    hvm_segment(HVM_SEG_SS, c->ss_base, c->ss_limit, c->ss_ar, &s->ss) ||
	    hvm_segment(HVM_SEG_ES, c->es_base, c->es_limit, c->es_ar, &s->es) ||
	    hvm_segment(HVM_SEG_TR, c->tr_base, c->tr_limit, c->tr_ar, &s->tr))
		return -XEN_EINVAL;
	/* Xen's sanity checks: code reachable, privilege levels coherent. */
	if (c->eip > s->cs.limit || s->ss.dpl != s->cs.dpl ||
	    (s->ds.present && s->ds.dpl > s->cs.dpl) ||
	    (s->es.present && s->es.dpl > s->cs.dpl))
		return -XEN_EINVAL;
	if ((c->efer & EFER_LMA) && !(c->efer & EFER_LME))
		return -XEN_EINVAL;
	/* "32B" is protected mode: the segments above mean nothing without PE. */
	if (!(c->cr0 & X86_CR0_PE))
		return -XEN_EINVAL;

	*r = (struct kvm_regs){
		.rax = c->eax, .rcx = c->ecx, .rdx = c->edx, .rbx = c->ebx,
		.rsp = c->esp, .rbp = c->ebp, .rsi = c->esi, .rdi = c->edi,
		.rip = c->eip, .rflags = c->eflags,
	};
	s->cr0 = c->cr0;
	s->cr3 = c->cr3;
	s->cr4 = c->cr4;
	s->efer = c->efer;
	return 0;
}

static bool is_canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

static int hvm_context_64(const struct vcpu_hvm_x86_64 *c, struct kvm_regs *r,
			  struct kvm_sregs *s)
{
	/* Xen's checks: the vCPU starts in long mode, at a canonical RIP. */
	if (!is_canonical(c->rip) || !(c->cr0 & X86_CR0_PG) || !(c->cr4 & X86_CR4_PAE) ||
	    !(c->efer & EFER_LME))
		return -XEN_EINVAL;

	*r = (struct kvm_regs){
		.rax = c->rax, .rcx = c->rcx, .rdx = c->rdx, .rbx = c->rbx,
		.rsp = c->rsp, .rbp = c->rbp, .rsi = c->rsi, .rdi = c->rdi,
		.rip = c->rip, .rflags = c->rflags,
	};
	s->cr0 = c->cr0;
	s->cr3 = c->cr3;
	s->cr4 = c->cr4;
	s->efer = c->efer;
	/* Xen's fixed flat segments: 64-bit code, flat data, a busy TSS. */
	s->cs = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .type = 0xb, .present = 1,
		.s = 1, .l = 1, .g = 1,
	};
	s->ds = s->ss = s->es = flat_data_segment();
	s->tr = (struct kvm_segment){ .base = 0, .limit = 0x67, .type = 0xb, .present = 1 };
	return 0;
}

int vcpu__hvm_context_to_kvm(const struct vcpu_hvm_context *ctx,
			     struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	struct kvm_sregs s = *sregs;
	struct kvm_regs r;
	bool long_mode;
	int ret;

	if (ctx->pad)
		return -XEN_EINVAL;
	if (ctx->mode == VCPU_HVM_MODE_32B)
		ret = hvm_context_32(&ctx->cpu_regs.x86_32, &r, &s);
	else if (ctx->mode == VCPU_HVM_MODE_64B)
		ret = hvm_context_64(&ctx->cpu_regs.x86_64, &r, &s);
	else
		ret = -XEN_EINVAL;
	if (ret)
		return ret;

	/* The hardware sets LMA once paging is on with LME (Xen sets it
	 * from LME alone, which KVM would refuse without paging). */
	long_mode = (s.efer & EFER_LME) && (s.cr0 & X86_CR0_PG);
	s.efer = (s.efer & ~EFER_LMA) | (long_mode ? EFER_LMA : 0);
	if ((s.cr0 & ~(uint64_t)CR0_VALID) || (s.cr4 & ~(uint64_t)CR4_VALID) ||
	    (s.efer & ~EFER_VALID))
		return -XEN_EINVAL;
	/* Combinations x86 refuses with #GP or a failed VM entry. */
	if (((s.cr0 & X86_CR0_PG) && !(s.cr0 & X86_CR0_PE)) ||
	    ((s.cr0 & X86_CR0_NW) && !(s.cr0 & X86_CR0_CD)) ||
	    (long_mode && !(s.cr4 & X86_CR4_PAE)) ||
	    (s.cs.l && (!long_mode || s.cs.db)))
		return -XEN_EINVAL;

	r.rflags = (r.rflags & EFLAGS_VALID) | X86_EFLAGS_FIXED;
	/* What the context does not name starts as Xen's VMCS leaves it:
	 * FS and GS flat data, no LDT. */
	s.fs = s.gs = flat_data_segment();
	s.ldt = (struct kvm_segment){ .type = 0x2, .present = 1, .unusable = 1 };
	s.cr2 = 0;
	*regs = r;
	*sregs = s;
	return 0;
}

int vcpu__set_hvm_context(struct vcpu *v, const struct vcpu_hvm_context *ctx)
{
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_sregs s;
	struct kvm_regs r;
	int ret;

	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		goto host_error;
	ret = vcpu__hvm_context_to_kvm(ctx, &r, &s);
	if (ret)
		return ret;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0) {
		/* KVM refuses what the vCPU's CPUID does not offer (a CR4
		 * feature, say): the guest's mistake, as in Xen. */
		if (errno == EINVAL)
			return -XEN_EINVAL;
		goto host_error;
	}
	/* An application processor waits for INIT/SIPI in the in-kernel
	 * LAPIC until it is told it may run. */
	if (ioctl(v->fd, KVM_SET_REGS, &r) < 0 ||
	    ioctl(v->fd, KVM_SET_MP_STATE, &runnable) < 0)
		goto host_error;
	return 0;
host_error:
	pr_warn("vcpu%d: cannot load the VCPUOP_initialise state: %s", v->id, strerror(errno));
	return -XEN_EIO;
}

bool vcpu__is_64bit(struct vcpu *v)
{
	const struct kvm_sregs *s = vcpu__sregs(v);

	return (s->efer & (1u << 10)) && s->cs.l;   /* EFER.LMA and CS.L */
}

void vcpu__dump(struct vcpu *v, enum log_level level)
{
	const struct kvm_regs *r = vcpu__regs(v);
	const struct kvm_sregs *s = vcpu__sregs(v);

	log__msg(level, "vcpu%d: rip=%016llx rsp=%016llx rflags=%08llx", v->id,
		 r->rip, r->rsp, r->rflags);
	log__msg(level, "vcpu%d: rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx",
		 v->id, r->rax, r->rbx, r->rcx, r->rdx);
	log__msg(level, "vcpu%d: rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx",
		 v->id, r->rsi, r->rdi, r->rbp, r->r8);
	log__msg(level, "vcpu%d: r9 =%016llx r10=%016llx r11=%016llx r12=%016llx",
		 v->id, r->r9, r->r10, r->r11, r->r12);
	log__msg(level, "vcpu%d: r13=%016llx r14=%016llx r15=%016llx", v->id,
		 r->r13, r->r14, r->r15);
	log__msg(level, "vcpu%d: cs=%04x base=%llx l=%d db=%d dpl=%d  ss=%04x ds=%04x",
		 v->id, s->cs.selector, s->cs.base, s->cs.l, s->cs.db, s->cs.dpl,
		 s->ss.selector, s->ds.selector);
	log__msg(level, "vcpu%d: cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx", v->id,
		 s->cr0, s->cr2, s->cr3, s->cr4, s->efer);
	log__msg(level, "vcpu%d: gdt=%llx/%x idt=%llx/%x", v->id, s->gdt.base,
		 s->gdt.limit, s->idt.base, s->idt.limit);
}

/* The bytes at CS:RIP, for reports of instructions KVM could not run. */
static void log_instruction_bytes(struct vcpu *v, const uint8_t *known, unsigned known_len)
{
	const struct kvm_sregs *s = vcpu__sregs(v);
	struct gva_mmu mmu = gva__mmu_from_sregs(s);
	uint8_t bytes[16];
	unsigned n = known_len ? known_len : sizeof(bytes);
	char hex[3 * sizeof(bytes) + 1] = "";

	if (known_len) {
		memcpy(bytes, known, n > sizeof(bytes) ? sizeof(bytes) : n);
	} else {
		uint64_t rip = s->cs.base + vcpu__regs(v)->rip;
		if (!vcpu__is_64bit(v))
			rip &= 0xffffffffu;
		/* Fewer bytes near the end of a mapping: take what reads. */
		while (n && gva__read(&v->vm->mem, &mmu, rip, bytes, n))
			n--;
	}
	if (n > sizeof(bytes))
		n = sizeof(bytes);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 3 * i, 4, "%02x ", bytes[i]);
	pr_err("vcpu%d: instruction bytes at rip: %s", v->id, n ? hex : "(unreadable)");
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	/* String I/O (rep outs/ins) hands over count items in a row. */
	for (uint32_t i = 0; i < run->io.count; i++)
		io__dispatch(&v->vm->pio, v, run->io.port, data + i * run->io.size,
			     run->io.size, run->io.direction == KVM_EXIT_IO_OUT);
}

static void handle_msr(struct vcpu *v, bool is_write)
{
	struct kvm_run *run = v->run;
	uint64_t data = run->msr.data;

	if (hcall__msr(v, run->msr.index, is_write, &data)) {
		run->msr.data = data;
		run->msr.error = 0;
		return;
	}
	/* Unknown MSRs fault, as on hardware that lacks them. */
	pr_debug("vcpu%d: %s of unknown MSR %#x: #GP", v->id,
		 is_write ? "write" : "read", run->msr.index);
	run->msr.error = 1;
}

static void handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
		pr_err("vcpu%d: KVM could not emulate an instruction (emulation failure)", v->id);
		if (run->emulation_failure.ndata >= 3 &&
		    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
			log_instruction_bytes(v, run->emulation_failure.insn_bytes,
					      run->emulation_failure.insn_size);
		else
			log_instruction_bytes(v, NULL, 0);
	} else {
		pr_err("vcpu%d: KVM internal error, suberror %u", v->id, run->internal.suberror);
	}
	vcpu__dump(v, LOG_ERROR);
	vm__stop(v->vm, PVMM_EXIT_KVM_FAILED);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm__stop(v->vm, PVMM_EXIT_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm__stop(v->vm, PVMM_EXIT_REBOOT);
		break;
	default:
		pr_err("vcpu%d: guest crashed (KVM system event %u)", v->id,
		       v->run->system_event.type);
		vm__stop(v->vm, PVMM_EXIT_CRASH);
	}
}

static void handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		io__dispatch(&v->vm->mmio, v, run->mmio.phys_addr, run->mmio.data,
			     run->mmio.len, run->mmio.is_write);
		break;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		handle_msr(v, run->exit_reason == KVM_EXIT_X86_WRMSR);
		break;
	case KVM_EXIT_IOAPIC_EOI:
		ioapic__eoi(v->vm, run->eoi.vector);
		break;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		break;   /* the loop injects what is queued */
	case KVM_EXIT_SHUTDOWN:
		pr_err("vcpu%d: guest crashed: triple fault", v->id);
		vcpu__dump(v, LOG_ERROR);
		vm__stop(v->vm, PVMM_EXIT_CRASH);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		handle_internal_error(v);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		pr_err("vcpu%d: KVM could not enter the guest (hardware entry failure %#llx)",
		       v->id, run->fail_entry.hardware_entry_failure_reason);
		vcpu__dump(v, LOG_ERROR);
		vm__stop(v->vm, PVMM_EXIT_KVM_FAILED);
		break;
	case KVM_EXIT_HLT:
		/* The in-kernel LAPIC handles HLT; KVM exiting here means a
		 * halt nothing can end. */
		pr_err("vcpu%d: guest halted with no way to wake it", v->id);
		vcpu__dump(v, LOG_ERROR);
		vm__stop(v->vm, PVMM_EXIT_CRASH);
		break;
	default:
		pr_err("vcpu%d: unexpected KVM exit reason %u", v->id, run->exit_reason);
		vcpu__dump(v, LOG_ERROR);
		vm__stop(v->vm, PVMM_EXIT_ERROR);
	}
}

/* Xen's domain-wide event callback (HVM_PARAM_CALLBACK_IRQ type 2) is
 * injected like ExtINT, with no LAPIC EOI, for as long as the vCPU has an
 * upcall pending; until the guest can take it, KVM exits as soon as it can
 * (interrupt window). */
static void inject_callback(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	int vector = evtchn__callback_due(v);

	if (vector < 0) {
		run->request_interrupt_window = 0;
		return;
	}
	if (run->ready_for_interrupt_injection && run->if_flag) {
		struct kvm_interrupt irq = { .irq = (uint32_t)vector };

		if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0)
			pr_warn_once("vcpu%d: KVM_INTERRUPT failed: %s", v->id, strerror(errno));
		run->request_interrupt_window = 0;
	} else {
		run->request_interrupt_window = 1;
	}
}

/* Parks a vCPU that is down (not brought up yet, or VCPUOP_down) on the
 * domain's wake condition.  False when the VM is stopping. */
static bool wait_until_up(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->xen.lock);
	while (!v->xen.up && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->xen.wake, &vm->xen.lock);
	pthread_mutex_unlock(&vm->xen.lock);
	return !atomic_load(&vm->stopping);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pause__vcpu_thread_start(v);

	while (!atomic_load(&vm->stopping)) {
		int ret;

		if (!wait_until_up(v))
			break;
		if (!pause__enter_guest(v))
			continue;   /* it was paused: look again */
		inject_callback(v);
		ret = ioctl(v->fd, KVM_RUN, 0);
		pause__leave_guest(v);
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			pr_err("vcpu%d: KVM_RUN failed: %s", v->id, strerror(errno));
			vm__stop(vm, PVMM_EXIT_ERROR);
			break;
		}
		handle_exit(v);
	}
	return NULL;
}

static void install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu__start(struct vcpu *v)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int ret;

	pthread_once(&once, install_kick_handler);
	ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (ret)
		return -ret;
	atomic_store(&v->thread_started, true);
	return 0;
}

void vcpu__kick(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	if (atomic_load(&v->thread_started))
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu__join(struct vcpu *v)
{
	if (atomic_load(&v->thread_started))
		pthread_join(v->thread, NULL);
	atomic_store(&v->thread_started, false);
}

int vm__signal_msi(struct vm *vm, uint64_t address, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)address,
		.address_hi = (uint32_t)(address >> 32),
		.data = data,
	};

	/* 0: the guest's LAPIC blocked it (e.g. not software-enabled yet). */
	return ioctl(vm->fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}
