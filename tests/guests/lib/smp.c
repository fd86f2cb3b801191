/* Secondary vCPU start-up: see smp.h. */
#include "smp.h"

#define X86_CR0_PE      0x00000001u
#define X86_EFLAGS_MBS  0x00000002u     /* bit 1 always reads as one */

/* Segment attributes in vcpu_hvm_context's _ar layout (type, S, DPL, P in
 * bits 0-7; AVL, L, D/B, G in bits 8-11). */
#define AR_CODE32       0xc9b   /* execute/read, accessed, present, 32-bit, 4 KiB granular */
#define AR_DATA32       0xc93   /* read/write, accessed, present, 32-bit, 4 KiB granular */
#define AR_TSS32_BUSY   0x08b   /* present busy 32-bit TSS */

extern char ap_start[];
void ap_entry(uint32_t vcpu);

static ap_main_fn ap_main;

void smp_prepare(struct vcpu_hvm_context *ctx, unsigned int vcpu,
		 void *stack_top, ap_main_fn fn)
{
	struct vcpu_hvm_x86_32 *r = &ctx->cpu_regs.x86_32;

	ap_main = fn;
	memset(ctx, 0, sizeof(*ctx));
	ctx->mode = VCPU_HVM_MODE_32B;
	r->eip = (uint32_t)(uintptr_t)ap_start;
	r->esp = (uint32_t)(uintptr_t)stack_top;
	r->ebx = vcpu;
	r->eflags = X86_EFLAGS_MBS;
	r->cr0 = X86_CR0_PE;
	r->cs_limit = r->ds_limit = r->ss_limit = r->es_limit = 0xffffffffu;
	r->cs_ar = AR_CODE32;
	r->ds_ar = r->ss_ar = r->es_ar = AR_DATA32;
	r->tr_limit = 0x67;
	r->tr_ar = AR_TSS32_BUSY;
}

void ap_entry(uint32_t vcpu)
{
	trap_load();
	ap_main(vcpu);
	HYPERVISOR_vcpu_op(VCPUOP_down, vcpu, NULL);
	printf("guest: vCPU %u still running after VCPUOP_down\n", vcpu);
	for (;;)
		asm volatile("cli; hlt");
}
