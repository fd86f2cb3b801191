#include "vcpu/vcpu.h"

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
#include "hypercall/transport.h"
#include "vcpu/cpuid.h"
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
	atomic_init(&v->extint_vector, -1);
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
	return 0;
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

void vcpu__inject_extint(struct vcpu *v, uint8_t vector)
{
	atomic_store(&v->extint_vector, vector);
	vcpu__kick(v);
}

/* Injects a queued ExtINT-style vector once the guest can take it; until
 * then KVM exits as soon as it can (interrupt window). */
static void inject_pending_extint(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	int vector = atomic_load(&v->extint_vector);

	if (vector < 0) {
		run->request_interrupt_window = 0;
		return;
	}
	if (run->ready_for_interrupt_injection && run->if_flag) {
		struct kvm_interrupt irq = { .irq = (uint32_t)vector };

		atomic_compare_exchange_strong(&v->extint_vector, &vector, -1);
		if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0)
			pr_warn_once("vcpu%d: KVM_INTERRUPT failed: %s", v->id, strerror(errno));
		run->request_interrupt_window = 0;
	} else {
		run->request_interrupt_window = 1;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	while (!atomic_load(&vm->stopping)) {
		inject_pending_extint(v);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
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
	v->thread_started = true;
	return 0;
}

void vcpu__kick(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	if (v->thread_started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu__join(struct vcpu *v)
{
	if (v->thread_started)
		pthread_join(v->thread, NULL);
	v->thread_started = false;
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
