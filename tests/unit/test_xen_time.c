/* Xen time keeping: the pvclock scale, the pvclock and wallclock as the
 * guest reads them from its memory, and the domain's initial state. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypercall/xen_layout.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "xen/domain.h"
#include "xen/time.h"
#include "check_main.h"

#define TEST_RAM (16ULL << 20)

/* |converted - exact| for ticks at khz, in ns; exact = ticks * 1e6 / khz. */
static uint64_t scale_error(uint32_t khz, uint64_t ticks)
{
	uint32_t mul;
	int8_t shift;
	unsigned __int128 exact = (unsigned __int128)ticks * 1000000u / khz;
	uint64_t got;

	xen__pvclock_scale(khz, &mul, &shift);
	got = xen__pvclock_ticks_to_ns(ticks, mul, shift);
	return got > exact ? (uint64_t)(got - exact) : (uint64_t)(exact - got);
}

static const uint32_t freqs_khz[] = { 1000000, 2500000, 3700000, 100000 };

START_TEST(scale_is_within_1ns_per_ms)
{
	uint32_t khz = freqs_khz[_i];
	/* 1 ms, 1 s, 1 h and 30 days of ticks. */
	const uint64_t ms[] = { 1, 1000, 3600ULL * 1000, 30ULL * 86400 * 1000 };

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		uint64_t ticks = ms[i] * khz;
		uint64_t err = scale_error(khz, ticks);

		ck_assert_msg(err <= ms[i], "%u kHz, %llu ms: off by %llu ns", khz,
			      (unsigned long long)ms[i], (unsigned long long)err);
	}
}
END_TEST

START_TEST(scale_uses_full_precision)
{
	uint32_t khz = freqs_khz[_i];
	uint32_t mul;
	int8_t shift;

	xen__pvclock_scale(khz, &mul, &shift);
	ck_assert_uint_ge(mul, 1u << 31);
	/* 1 GHz is 1 ns per tick: mul * 2^shift / 2^32 == 1. */
	if (khz == 1000000) {
		ck_assert_int_eq(shift, 1);
		ck_assert_uint_eq(mul, 1u << 31);
	}
	/* Above 1 GHz a tick is under 1 ns: ticks are not shifted left. */
	ck_assert_int_eq(khz > 1000000, shift <= 0);
}
END_TEST

START_TEST(scale_extremes_do_not_overflow)
{
	uint32_t mul;
	int8_t shift;

	xen__pvclock_scale(UINT32_MAX, &mul, &shift);
	ck_assert_uint_ge(mul, 1u << 31);
	ck_assert_uint_le(scale_error(UINT32_MAX, 1000ULL * UINT32_MAX), 1000);
	xen__pvclock_scale(1, &mul, &shift);   /* 1 kHz: 1 ms per tick */
	ck_assert_uint_eq(xen__pvclock_ticks_to_ns(5, mul, shift), 5000000);
	xen__pvclock_scale(0, &mul, &shift);
	ck_assert_uint_eq(mul, 0);
}
END_TEST

/* A VM with real guest memory and vCPU structures but no KVM: enough for
 * everything that only writes guest memory. */
struct fixture {
	struct vm vm;
	struct vcpu vcpu[2];
};

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(gmem__init(&f->vm.mem, TEST_RAM), 0);
	xen__domain_init(&f->vm);
	f->vm.tsc_khz = 2500000;
	for (int i = 0; i < 2; i++) {
		f->vcpu[i].vm = &f->vm;
		f->vcpu[i].id = i;
		f->vcpu[i].fd = -1;
		f->vm.vcpu[i] = &f->vcpu[i];
	}
	f->vm.nr_vcpus = 2;
	return f;
}

static void fixture_free(struct fixture *f)
{
	gmem__free(&f->vm.mem);
	free(f);
}

START_TEST(domain_init_sets_what_a_toolstack_would)
{
	struct fixture *f = fixture_new();
	struct xen_domain *d = &f->vm.xen;
	static const uint8_t zero[16];

	ck_assert_uint_eq(d->domid, PVMM_DOMID);
	ck_assert_int_eq(d->shutdown_code, -1);
	ck_assert(memcmp(d->handle, zero, 16) != 0);
	ck_assert_uint_eq(d->handle[6] >> 4, 4);         /* random UUID */
	ck_assert_uint_eq(d->handle[8] & 0xc0, 0x80);    /* RFC 4122 */
	ck_assert_uint_eq(d->hvm_param[HVM_PARAM_STORE_PFN],
			  gmem__special_gpa(GMEM_SPECIAL_XENSTORE) >> 12);
	ck_assert_uint_eq(d->hvm_param[HVM_PARAM_CONSOLE_PFN],
			  gmem__special_gpa(GMEM_SPECIAL_CONSOLE) >> 12);
	ck_assert(!d->has_shared_info);
	ck_assert_uint_lt(xen__system_time(&f->vm), 1000000000ULL);
	fixture_free(f);
}
END_TEST

START_TEST(domids_as_xen_resolves_them)
{
	struct fixture *f = fixture_new();

	ck_assert_int_eq(xen__check_domid(&f->vm, DOMID_SELF), 0);
	ck_assert_int_eq(xen__check_domid(&f->vm, PVMM_DOMID), 0);
	ck_assert_int_eq(xen__check_domid(&f->vm, 0), -XEN_EPERM);
	ck_assert_int_eq(xen__check_domid(&f->vm, 7), -XEN_ESRCH);
	ck_assert_int_eq(xen__check_domid(&f->vm, DOMID_XEN), -XEN_ESRCH);
	fixture_free(f);
}
END_TEST

#define SHINFO_GFN 0x100

START_TEST(vcpu_info_is_the_shared_slot_until_registered)
{
	struct fixture *f = fixture_new();
	struct vcpu *v1 = &f->vcpu[1];

	pthread_mutex_lock(&f->vm.xen.lock);
	ck_assert_uint_eq(xen__vcpu_info_gpa(v1), 0);
	f->vm.xen.has_shared_info = true;
	f->vm.xen.shared_info_gfn = SHINFO_GFN;
	ck_assert_uint_eq(xen__vcpu_info_gpa(v1), (SHINFO_GFN << 12) + XL64_SIZE_vcpu_info);
	v1->xen.has_vcpu_info = true;
	v1->xen.vcpu_info_gpa = 0x5040;
	ck_assert_uint_eq(xen__vcpu_info_gpa(v1), 0x5040);
	pthread_mutex_unlock(&f->vm.xen.lock);
	fixture_free(f);
}
END_TEST

/* Reads the pvclock as a guest does, from guest memory. */
static uint64_t guest_pvclock(struct fixture *f, uint64_t gpa, uint64_t tsc,
			      struct vcpu_time_info *t)
{
	ck_assert_int_eq(gmem__read(&f->vm.mem, gpa + XL64_OFF_vcpu_info__time, t,
				    sizeof(*t)), 0);
	return t->system_time +
	       xen__pvclock_ticks_to_ns(tsc - t->tsc_timestamp, t->tsc_to_system_mul,
					t->tsc_shift);
}

START_TEST(pvclock_reads_back_as_the_guest_sees_it)
{
	struct fixture *f = fixture_new();
	struct vcpu *v0 = &f->vcpu[0];
	struct xen_time_sample s = { .tsc = 123456789, .ns = 5000000 };
	struct vcpu_time_info t;
	uint64_t gpa, later;

	pthread_mutex_lock(&f->vm.xen.lock);
	f->vm.xen.has_shared_info = true;
	f->vm.xen.shared_info_gfn = SHINFO_GFN;
	gpa = xen__vcpu_info_gpa(v0);
	xen__write_vcpu_time(v0, &s);
	pthread_mutex_unlock(&f->vm.xen.lock);

	/* 2.5 GHz: 2,500,000 ticks later is 1 ms later. */
	ck_assert_uint_eq(guest_pvclock(f, gpa, s.tsc, &t), s.ns);
	later = guest_pvclock(f, gpa, s.tsc + 2500000, &t);
	ck_assert_uint_ge(later + 1, s.ns + 1000000);
	ck_assert_uint_le(later, s.ns + 1000000 + 1);
	ck_assert_uint_eq(t.version % 2, 0);
	ck_assert_uint_ne(t.version, 0);
	ck_assert_uint_eq(t.flags, XEN_PVCLOCK_TSC_STABLE_BIT);

	/* A second update moves the version on, still even. */
	pthread_mutex_lock(&f->vm.xen.lock);
	xen__write_vcpu_time(v0, &s);
	pthread_mutex_unlock(&f->vm.xen.lock);
	{
		uint32_t before = t.version;

		guest_pvclock(f, gpa, s.tsc, &t);
		ck_assert_uint_gt(t.version, before);
		ck_assert_uint_eq(t.version % 2, 0);
	}
	fixture_free(f);
}
END_TEST

static void check_wallclock(bool compat)
{
	struct fixture *f = fixture_new();
	uint8_t sh[4096];
	uint64_t sec, boot;

	pthread_mutex_lock(&f->vm.xen.lock);
	f->vm.xen.has_shared_info = true;
	f->vm.xen.shared_info_gfn = SHINFO_GFN;
	f->vm.xen.shared_info_compat = compat;
	pthread_mutex_unlock(&f->vm.xen.lock);
	xen__update_wallclock(&f->vm);

	ck_assert_int_eq(gmem__read(&f->vm.mem, SHINFO_GFN << 12, sh, sizeof(sh)), 0);
	ck_assert_uint_eq(xfield__get(sh, XFIELD(compat, shared_info, wc_version)) % 2, 0);
	ck_assert_uint_ne(xfield__get(sh, XFIELD(compat, shared_info, wc_version)), 0);
	sec = xfield__get(sh, XFIELD(compat, shared_info, wc_sec)) |
	      xfield__get(sh, XFIELD(compat, shared_info, wc_sec_hi)) << 32;
	ck_assert_uint_lt(xfield__get(sh, XFIELD(compat, shared_info, wc_nsec)), 1000000000);
	/* Wall time at system time 0: the VM was created just now. */
	boot = (uint64_t)time(NULL);
	ck_assert_uint_le(sec, boot);
	ck_assert_uint_ge(sec + 2, boot);
	fixture_free(f);
}

START_TEST(wallclock_64bit_layout)
{
	check_wallclock(false);
}
END_TEST

START_TEST(wallclock_32bit_layout)
{
	check_wallclock(true);
}
END_TEST

static Suite *xen_time_suite(void)
{
	Suite *s = suite_create("xen_time");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, scale_is_within_1ns_per_ms, 0,
			    sizeof(freqs_khz) / sizeof(freqs_khz[0]));
	tcase_add_loop_test(tc, scale_uses_full_precision, 0,
			    sizeof(freqs_khz) / sizeof(freqs_khz[0]));
	tcase_add_test(tc, scale_extremes_do_not_overflow);
	tcase_add_test(tc, domain_init_sets_what_a_toolstack_would);
	tcase_add_test(tc, domids_as_xen_resolves_them);
	tcase_add_test(tc, vcpu_info_is_the_shared_slot_until_registered);
	tcase_add_test(tc, pvclock_reads_back_as_the_guest_sees_it);
	tcase_add_test(tc, wallclock_64bit_layout);
	tcase_add_test(tc, wallclock_32bit_layout);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(xen_time_suite)
