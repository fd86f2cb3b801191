/*
 * ioctl_timing: an LD_PRELOAD library for the start-up benchmark.  It
 * times every ioctl() the process makes until its first KVM_RUN, and at that
 * first KVM_RUN writes a report to the file descriptor named by the
 * environment variable PVMM_BENCH_TIMING_FD (all times CLOCK_MONOTONIC ns,
 * comparable with the driver's clock):
 *
 *	loaded_ns: T            when the dynamic loader ran our constructor
 *	first_kvm_run_ns: T     when the first KVM_RUN was issued
 *	ioctl: REQ COUNT TOTAL_NS FIRST_NS   per request, in first-use order
 *
 * It lets the driver split "exec to the guest's first byte" into the
 * loader's share, pvmm's own set-up, and the guest's boot, without touching
 * pvmm.  Set-up runs on one thread (vm__create), and the report is written
 * once, by whichever thread issues the first KVM_RUN; later ioctls are
 * passed through untimed.
 */
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUESTS 64

typedef int (*ioctl_fn)(int fd, unsigned long request, ...);

struct request_stats {
	unsigned long request;
	unsigned long count;
	uint64_t total_ns;
	uint64_t first_ns;
};

static ioctl_fn real_ioctl;
static uint64_t loaded_ns;
static atomic_bool reported;
static struct request_stats stats[MAX_REQUESTS];
static int nr_stats;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((constructor)) static void ioctl_timing_init(void)
{
	loaded_ns = now_ns();
	real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
}

static void account(unsigned long request, uint64_t start, uint64_t end)
{
	int i;

	for (i = 0; i < nr_stats && stats[i].request != request; i++)
		;
	if (i == MAX_REQUESTS)
		return;
	if (i == nr_stats) {
		stats[nr_stats++] = (struct request_stats){
			.request = request, .first_ns = start,
		};
	}
	stats[i].count++;
	stats[i].total_ns += end - start;
}

static void report(uint64_t first_run)
{
	const char *fd_env = getenv("PVMM_BENCH_TIMING_FD");
	char line[128];
	int fd, n;

	if (!fd_env)
		return;
	fd = atoi(fd_env);
	n = snprintf(line, sizeof(line), "loaded_ns: %llu\nfirst_kvm_run_ns: %llu\n",
		     (unsigned long long)loaded_ns, (unsigned long long)first_run);
	if (write(fd, line, (size_t)n) != n)
		return;
	for (int i = 0; i < nr_stats; i++) {
		n = snprintf(line, sizeof(line), "ioctl: %#lx %lu %llu %llu\n",
			     stats[i].request, stats[i].count,
			     (unsigned long long)stats[i].total_ns,
			     (unsigned long long)stats[i].first_ns);
		if (write(fd, line, (size_t)n) != n)
			return;
	}
	close(fd);
}

int ioctl(int fd, unsigned long request, ...)
{
	uint64_t start, end;
	va_list ap;
	void *arg;
	int ret;

	/* Every ioctl takes at most one argument, passed as a word. */
	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (!real_ioctl)   /* called before our constructor ran */
		real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	if (atomic_load_explicit(&reported, memory_order_relaxed))
		return real_ioctl(fd, request, arg);
	if (request == KVM_RUN) {
		bool expected = false;

		if (atomic_compare_exchange_strong(&reported, &expected, true))
			report(now_ns());
		return real_ioctl(fd, request, arg);
	}
	start = now_ns();
	ret = real_ioctl(fd, request, arg);
	end = now_ns();
	account(request, start, end);
	return ret;
}
