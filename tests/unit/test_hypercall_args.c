/* Hypercall register decoding and the compat/native structure layouts. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hypercall/hypercall_args.h"
#include "check_main.h"

START_TEST(decode_64bit_uses_rdi_rsi_rdx_r10_r8)
{
	struct kvm_regs r = {
		.rax = 17, .rdi = 0x1111222233334444ULL, .rsi = 2, .rdx = 3,
		.r10 = 4, .r8 = 5, .rbx = 99, .rcx = 98,
	};
	struct hcall hc = { 0 };

	hcall__decode(&r, false, &hc);
	ck_assert(!hc.compat);
	ck_assert_uint_eq(hc.nr, 17);
	ck_assert_uint_eq(hc.arg[0], 0x1111222233334444ULL);
	ck_assert_uint_eq(hc.arg[1], 2);
	ck_assert_uint_eq(hc.arg[2], 3);
	ck_assert_uint_eq(hc.arg[3], 4);
	ck_assert_uint_eq(hc.arg[4], 5);
}
END_TEST

START_TEST(decode_32bit_uses_ebx_ecx_edx_esi_edi_truncated)
{
	struct kvm_regs r = {
		.rax = 0xdead000000000012ULL, .rbx = 0xffffffff00000001ULL, .rcx = 2,
		.rdx = 3, .rsi = 4, .rdi = 0xabcdef0000000005ULL, .r10 = 77, .r8 = 78,
	};
	struct hcall hc = { 0 };

	hcall__decode(&r, true, &hc);
	ck_assert(hc.compat);
	ck_assert_uint_eq(hc.nr, 0x12);
	ck_assert_uint_eq(hc.arg[0], 1);
	ck_assert_uint_eq(hc.arg[1], 2);
	ck_assert_uint_eq(hc.arg[2], 3);
	ck_assert_uint_eq(hc.arg[3], 4);
	ck_assert_uint_eq(hc.arg[4], 5);
}
END_TEST

START_TEST(decode_64bit_huge_number_is_not_truncated_into_a_valid_one)
{
	/* rax = 2^32 + 17 must not alias hypercall 17. */
	struct kvm_regs r = { .rax = (1ULL << 32) + 17 };
	struct hcall hc = { 0 };

	hcall__decode(&r, false, &hc);
	ck_assert_uint_ne(hc.nr, 17);
}
END_TEST

START_TEST(results_sign_extend_for_64bit_and_truncate_for_32bit)
{
	ck_assert_uint_eq(hcall__encode_result(-XEN_ENOSYS, false), (uint64_t)-38);
	ck_assert_uint_eq(hcall__encode_result(-XEN_ENOSYS, true), 0xffffffdaULL);
	ck_assert_uint_eq(hcall__encode_result(0x40011, true), 0x40011);
}
END_TEST

START_TEST(compat_layouts_differ_where_the_abi_says)
{
	/* xen_ulong_t and xen_pfn_t are 32-bit for 32-bit guests. */
	ck_assert_uint_eq(XSIZE(true, xen_add_to_physmap), 16);
	ck_assert_uint_eq(XSIZE(false, xen_add_to_physmap), 24);
	ck_assert_uint_eq(XFIELD(true, xen_add_to_physmap, gpfn).off, 12);
	ck_assert_uint_eq(XFIELD(true, xen_add_to_physmap, gpfn).size, 4);
	ck_assert_uint_eq(XFIELD(false, xen_add_to_physmap, gpfn).off, 16);
	ck_assert_uint_eq(XFIELD(false, xen_add_to_physmap, gpfn).size, 8);
	/* Native layouts agree with the compiler's view of the headers. */
	ck_assert_uint_eq(XSIZE(false, shared_info), sizeof(struct shared_info));
	ck_assert_uint_eq(XFIELD(false, shared_info, wc_version).off,
			  offsetof(struct shared_info, wc_version));
	/* vcpu_info is 64 bytes for both widths; its time block sits at 32. */
	ck_assert_uint_eq(XSIZE(true, vcpu_info), 64);
	ck_assert_uint_eq(XFIELD(true, vcpu_info, time).off, 32);
}
END_TEST

START_TEST(xfield_get_and_set_round_trip_each_width)
{
	uint8_t buf[HCALL_STRUCT_MAX] = { 0 };
	struct xfield gpfn32 = XFIELD(true, xen_add_to_physmap, gpfn);
	struct xfield domid = XFIELD(true, xen_add_to_physmap, domid);

	xfield__set(buf, gpfn32, 0x123456789ULL);
	ck_assert_uint_eq(xfield__get(buf, gpfn32), 0x23456789ULL); /* 4 bytes kept */
	ck_assert_uint_eq(buf[gpfn32.off + 4], 0);
	xfield__set(buf, domid, DOMID_SELF);
	ck_assert_uint_eq(xfield__get(buf, domid), DOMID_SELF);
	ck_assert_uint_eq(xfield__get(buf, gpfn32), 0x23456789ULL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("hypercall_args");
	TCase *tc = tcase_create("decode");

	tcase_add_test(tc, decode_64bit_uses_rdi_rsi_rdx_r10_r8);
	tcase_add_test(tc, decode_32bit_uses_ebx_ecx_edx_esi_edi_truncated);
	tcase_add_test(tc, decode_64bit_huge_number_is_not_truncated_into_a_valid_one);
	tcase_add_test(tc, results_sign_extend_for_64bit_and_truncate_for_32bit);
	tcase_add_test(tc, compat_layouts_differ_where_the_abi_says);
	tcase_add_test(tc, xfield_get_and_set_round_trip_each_width);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
