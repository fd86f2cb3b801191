/*
 * pvmm_bench: the driver of pvmm's benchmarks.  Each subcommand runs pvmm
 * and a baseline in the same run, interleaved, and prints the numbers and
 * their ratios.  It never judges time: a target missed is printed, not
 * failed (the exit status is non-zero only when a program under test did
 * not run as it should).
 *
 *   pvmm_bench hypercall --pvmm P --bare B --guest bench-hypercall-64
 *                        [--iterations N] [--rounds R]
 *   pvmm_bench startup   --pvmm P --bare B --guest hello-64 --preload L
 *                        [--runs R]
 *   pvmm_bench memory    --pvmm P --bare B --guest bench-memory-64
 *                        [--memory-mib M] [--runs R]
 *   pvmm_bench control   --pvmm P --bare B --guest bench-control-64
 *                        --hypercall-guest bench-hypercall-64
 *                        [--iterations N] [--rounds R]
 *
 * B is bench/bare_pio_exit, L bench/libioctl_timing.so.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ept/guest_mem.h"

extern char **environ;

#define NS_PER_MS 1e6
#define MAX_ROUNDS 100
#define MAX_OUTPUT (1 << 20)

struct options {
	const char *pvmm, *bare, *guest, *preload, *hypercall_guest;
	unsigned long iterations, rounds, runs, memory_mib;
};

/* ---- processes -------------------------------------------------------- */

struct child {
	pid_t pid;
	int out;                /* the child's stdout, read end */
	int in;                 /* the child's stdin, write end, or -1 */
	uint64_t spawned_ns;    /* just before posix_spawn */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The child being run, killed if we give up on it: a pvmm left behind
 * would hold the benchmark harness's output open. */
static pid_t running_child;

__attribute__((noreturn)) static void give_up(void)
{
	if (running_child > 0)
		kill(running_child, SIGKILL);
	exit(1);
}

__attribute__((noreturn)) static void die(const char *what)
{
	fprintf(stderr, "pvmm_bench: %s: %s\n", what, strerror(errno));
	give_up();
}

__attribute__((noreturn)) static void fail(const char *msg, const char *detail)
{
	fprintf(stderr, "pvmm_bench: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
	give_up();
}

/*
 * Starts argv with stdout on a pipe and stdin on /dev/null (never our
 * terminal: pvmm would put it in raw mode) or on a pipe.  envp NULL: our
 * environment.
 */
static void child_spawn(struct child *c, char *const argv[], char *const envp[],
			bool stdin_pipe)
{
	posix_spawn_file_actions_t fa;
	int out[2], in[2] = { -1, -1 };
	int err;

	if (pipe2(out, O_CLOEXEC) || (stdin_pipe && pipe2(in, O_CLOEXEC)))
		die("pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	if (stdin_pipe)
		posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	else
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	c->spawned_ns = now_ns();
	err = posix_spawn(&c->pid, argv[0], &fa, NULL, argv, envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		errno = err;
		die(argv[0]);
	}
	running_child = c->pid;
	close(out[1]);
	c->out = out[0];
	if (stdin_pipe)
		close(in[0]);
	c->in = in[1];
}

/* Exit status, or 128 + signal as a shell reports it. */
static int child_wait(struct child *c)
{
	int status;

	if (c->in >= 0)
		close(c->in);
	close(c->out);
	while (waitpid(c->pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	running_child = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reads the child's output to EOF into a NUL-terminated buffer; *first_ns
 * (if asked) is when the first byte arrived. */
static char *read_output(struct child *c, uint64_t *first_ns)
{
	char *buf = malloc(MAX_OUTPUT);
	size_t len = 0;

	if (!buf)
		die("malloc");
	for (;;) {
		ssize_t n = read(c->out, buf + len, MAX_OUTPUT - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		if (len == 0 && first_ns)
			*first_ns = now_ns();
		len += (size_t)n;
		if (len == MAX_OUTPUT - 1)
			fail("a child printed more than 1 MiB", NULL);
	}
	buf[len] = '\0';
	return buf;
}

/* Reads lines until one contains marker; what was read stays in buf. */
static void read_until(struct child *c, const char *marker, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	while (!strstr(buf, marker)) {
		ssize_t n = read(c->out, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || len + (size_t)n == size - 1)
			fail("the child stopped before printing", marker);
		len += (size_t)n;
		buf[len] = '\0';
	}
}

/* Runs argv to completion; returns its output, checks its exit status. */
static char *run_checked(char *const argv[], int want_status)
{
	struct child c;
	char *out;
	int status;

	child_spawn(&c, argv, NULL, false);
	out = read_output(&c, NULL);
	status = child_wait(&c);
	if (status != want_status) {
		fprintf(stderr, "pvmm_bench: %s exited with %d, expected %d; it printed:\n%s\n",
			argv[0], status, want_status, out);
		give_up();
	}
	return out;
}

/* ---- parsing and statistics ----------------------------------------- */

/* The number after the first occurrence of key in text. */
static double find_number(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	char *end;
	double v;

	if (!p)
		fail("output lacks", key);
	v = strtod(p + strlen(key), &end);
	if (end == p + strlen(key))
		fail("no number after", key);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, unsigned n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double minimum(const double *v, unsigned n)
{
	double m = v[0];

	for (unsigned i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double maximum(const double *v, unsigned n)
{
	double m = v[0];

	for (unsigned i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static const char *verdict(bool met)
{
	return met ? "met" : "MISSED";
}

/* How much a baseline that should not change moved between runs: when it
 * moved a lot, the host was busy and medians are suspect. */
static void print_noise(const char *what, const double *v, unsigned n)
{
	double spread = maximum(v, n) / minimum(v, n);

	printf("noise: %s ranged over %.2fx (max/min)%s\n", what, spread,
	       spread > 1.5 ? ": the host was busy, trust the minima more than the medians" : "");
}

/* ---- hypercall: null-hypercall round trip ---------------------------- */

enum hc_variant { HC_BARE_OUT, HC_BARE_NOEXIT, HC_BARE_STUB, HC_BARE_SYNC, HC_PVMM, HC_NR };

static const struct {
	const char *loop;       /* bare_pio_exit's loop, or NULL for pvmm */
	const char *what;
} hc_variants[HC_NR] = {
	[HC_BARE_OUT] = { "out", "bare KVM: out; dec; jnz (the bare exit)" },
	[HC_BARE_NOEXIT] = { "noexit", "bare KVM: guest's loop, out replaced by nop" },
	[HC_BARE_STUB] = { "stub", "bare KVM: guest's loop, byte for byte" },
	[HC_BARE_SYNC] = { "stub-sync", "bare KVM: guest's loop + sync regs/sregs" },
	[HC_PVMM] = { NULL, "pvmm: xen_version(XENVER_version)" },
};

static double hc_run(const struct options *o, enum hc_variant v)
{
	char count[32], cmdline[64];
	char *out;
	double ns;

	snprintf(count, sizeof(count), "%lu", o->iterations);
	if (hc_variants[v].loop) {
		char *argv[] = { (char *)o->bare, "loop", (char *)hc_variants[v].loop, count, NULL };

		out = run_checked(argv, 0);
		ns = find_number(out, "total_ns:");
	} else {
		char *argv[] = { (char *)o->pvmm, "run", (char *)o->guest, "--cmdline", cmdline,
				 NULL };

		uint64_t start = now_ns();

		snprintf(cmdline, sizeof(cmdline), "iterations=%lu", o->iterations);
		out = run_checked(argv, 0);
		if (find_number(out, "bench-hypercall: iterations") != (double)o->iterations)
			fail("the guest ran another iteration count than asked", NULL);
		ns = find_number(out, "bench-hypercall: total_ns");
		/* The guest's pvclock must not claim more time than passed. */
		if (ns > (double)(now_ns() - start))
			fail("the guest's pvclock measured more time than the host saw", NULL);
	}
	free(out);
	return ns / (double)o->iterations;
}

static int bench_hypercall(const struct options *o)
{
	double ns[HC_NR][MAX_ROUNDS];
	double r_out[MAX_ROUNDS], r_stub[MAX_ROUNDS], r_sync[MAX_ROUNDS];
	unsigned n = (unsigned)o->rounds;
	double best[HC_NR];

	printf("== null-hypercall round trip: %lu iterations, %u rounds, interleaved ==\n",
	       o->iterations, n);
	for (unsigned r = 0; r < n; r++) {
		/* Rotate the order so that no variant always follows another. */
		for (unsigned k = 0; k < HC_NR; k++) {
			enum hc_variant v = (enum hc_variant)((k + r) % HC_NR);

			ns[v][r] = hc_run(o, v);
		}
		r_out[r] = ns[HC_PVMM][r] / ns[HC_BARE_OUT][r];
		r_stub[r] = ns[HC_PVMM][r] / ns[HC_BARE_STUB][r];
		r_sync[r] = ns[HC_PVMM][r] / ns[HC_BARE_SYNC][r];
	}

	printf("%-48s %10s %10s   (ns per iteration)\n", "", "median", "min");
	for (unsigned v = 0; v < HC_NR; v++)
		printf("%-48s %10.0f %10.0f\n", hc_variants[v].what, median(ns[v], n),
		       minimum(ns[v], n));
	/* The minima: each variant's least disturbed round. */
	for (unsigned v = 0; v < HC_NR; v++)
		best[v] = minimum(ns[v], n);
	printf("\nwhere a pvmm hypercall's time goes (from the minima):\n");
	printf("  %-46s %8.0f ns\n", "the guest's 8 emulated instructions (noexit)", best[HC_BARE_NOEXIT]);
	printf("  %-46s %8.0f ns\n", "KVM's port-I/O exit and re-entry (stub-noexit)",
	       best[HC_BARE_STUB] - best[HC_BARE_NOEXIT]);
	printf("  %-46s %8.0f ns\n", "syncing regs+sregs through kvm_run (sync-stub)",
	       best[HC_BARE_SYNC] - best[HC_BARE_STUB]);
	printf("  %-46s %8.0f ns\n", "pvmm's dispatch and handler (pvmm-sync)",
	       best[HC_PVMM] - best[HC_BARE_SYNC]);

	printf("\nratios:                         per-round   of the\n");
	printf("                                   median    minima\n");
	printf("  pvmm / bare out loop            %6.2fx   %6.2fx   target <= 1.20x: %s\n",
	       median(r_out, n), best[HC_PVMM] / best[HC_BARE_OUT],
	       verdict(median(r_out, n) <= 1.2));
	printf("  pvmm / bare, same guest code    %6.2fx   %6.2fx\n", median(r_stub, n),
	       best[HC_PVMM] / best[HC_BARE_STUB]);
	printf("  pvmm / bare, same code + sync   %6.2fx   %6.2fx\n", median(r_sync, n),
	       best[HC_PVMM] / best[HC_BARE_SYNC]);
	print_noise("the bare out loop", ns[HC_BARE_OUT], n);
	return 0;
}

/* ---- startup: exec to the guest's first console byte ----------------- */

#define MAX_REQUESTS 64

struct ioctl_name {
	unsigned long request;
	const char *name;
};

static const struct ioctl_name ioctl_names[] = {
	{ KVM_GET_API_VERSION, "KVM_GET_API_VERSION" },
	{ KVM_CREATE_VM, "KVM_CREATE_VM" },
	{ KVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION" },
	{ KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE" },
	{ KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID" },
	{ KVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR" },
	{ KVM_ENABLE_CAP, "KVM_ENABLE_CAP" },
	{ KVM_X86_SET_MSR_FILTER, "KVM_X86_SET_MSR_FILTER" },
	{ KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION" },
	{ KVM_CREATE_VCPU, "KVM_CREATE_VCPU" },
	{ KVM_SET_CPUID2, "KVM_SET_CPUID2" },
	{ KVM_GET_TSC_KHZ, "KVM_GET_TSC_KHZ" },
	{ KVM_GET_SREGS, "KVM_GET_SREGS" },
	{ KVM_SET_SREGS, "KVM_SET_SREGS" },
	{ KVM_GET_REGS, "KVM_GET_REGS" },
	{ KVM_SET_REGS, "KVM_SET_REGS" },
	{ KVM_GET_MSRS, "KVM_GET_MSRS" },
	{ KVM_SET_MSRS, "KVM_SET_MSRS" },
	{ KVM_GET_LAPIC, "KVM_GET_LAPIC" },
	{ KVM_SET_LAPIC, "KVM_SET_LAPIC" },
	{ KVM_SET_GSI_ROUTING, "KVM_SET_GSI_ROUTING" },
	{ KVM_IRQFD, "KVM_IRQFD" },
	{ KVM_IOEVENTFD, "KVM_IOEVENTFD" },
	{ KVM_SIGNAL_MSI, "KVM_SIGNAL_MSI" },
	{ TCGETS, "TCGETS (isatty)" },
};

static const char *ioctl_name(unsigned long request)
{
	for (size_t i = 0; i < sizeof(ioctl_names) / sizeof(ioctl_names[0]); i++)
		if (ioctl_names[i].request == request)
			return ioctl_names[i].name;
	return NULL;
}

/* One run under ioctl_timing: times relative to the spawn. */
struct preload_run {
	double loaded_ms, first_run_ms, first_byte_ms;
	unsigned nr;
	unsigned long request[MAX_REQUESTS];
	unsigned long count[MAX_REQUESTS];
	double total_ms[MAX_REQUESTS];
};

static void parse_timing(const char *text, uint64_t spawned, struct preload_run *p)
{
	const char *line = strstr(text, "ioctl: ");

	p->loaded_ms = (find_number(text, "loaded_ns:") - (double)spawned) / NS_PER_MS;
	p->first_run_ms = (find_number(text, "first_kvm_run_ns:") - (double)spawned) /
			  NS_PER_MS;
	for (p->nr = 0; line && p->nr < MAX_REQUESTS; line = strstr(line + 1, "ioctl: ")) {
		unsigned long req, count;
		unsigned long long total, first;

		if (sscanf(line, "ioctl: %lx %lu %llu %llu", &req, &count, &total, &first) != 4)
			fail("cannot parse ioctl_timing's report", line);
		p->request[p->nr] = req;
		p->count[p->nr] = count;
		p->total_ms[p->nr] = (double)total / NS_PER_MS;
		p->nr++;
	}
}

/* pvmm run GUEST with ioctl_timing preloaded. */
/* False when the library did not load (a static pvmm): no report. */
static bool startup_preload_run(const struct options *o, struct preload_run *p)
{
	char *argv[] = { (char *)o->pvmm, "run", (char *)o->guest, NULL };
	char preload[4096], fd_var[64];
	char *envp[512];
	char *out, *timing;
	struct child c, t;
	uint64_t first = 0;
	bool reported;
	size_t n = 0;
	int fds[2];

	/* The write end is inherited by pvmm; the read end is not. */
	if (pipe(fds) || fcntl(fds[0], F_SETFD, FD_CLOEXEC))
		die("pipe");
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", o->preload);
	snprintf(fd_var, sizeof(fd_var), "PVMM_BENCH_TIMING_FD=%d", fds[1]);
	envp[n++] = preload;
	envp[n++] = fd_var;
	/* An ASan build of pvmm wants its runtime first in the library list. */
	envp[n++] = "ASAN_OPTIONS=verify_asan_link_order=0";
	for (char **e = environ; *e && n < sizeof(envp) / sizeof(envp[0]) - 1; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) && strncmp(*e, "ASAN_OPTIONS=", 13))
			envp[n++] = *e;
	envp[n] = NULL;

	child_spawn(&c, argv, envp, false);
	close(fds[1]);
	out = read_output(&c, &first);
	if (child_wait(&c) != 0)
		fail("pvmm with ioctl_timing preloaded failed; it printed", out);
	t = (struct child){ .out = fds[0] };
	timing = read_output(&t, NULL);
	close(fds[0]);
	reported = *timing != '\0';
	if (reported) {
		parse_timing(timing, c.spawned_ns, p);
		p->first_byte_ms = (double)(first - c.spawned_ns) / NS_PER_MS;
	}
	free(out);
	free(timing);
	return reported;
}

/* Spawn to the first byte on stdout (EOF for a program that prints none). */
static double startup_first_byte(char *const argv[], char **out_text, uint64_t *spawned)
{
	struct child c;
	uint64_t first = 0;
	char *out;
	int status;

	child_spawn(&c, argv, NULL, false);
	out = read_output(&c, &first);
	if (!first)
		first = now_ns();   /* no output: EOF, the program has exited */
	status = child_wait(&c);
	if (status != 0)
		fail(argv[0], "exited with a non-zero status");
	if (spawned)
		*spawned = c.spawned_ns;
	if (out_text)
		*out_text = out;
	else
		free(out);
	return (double)(first - c.spawned_ns) / NS_PER_MS;
}

struct startup_sample {
	double true_ms, bare_ms, bare_main_ms, bare_run_ms, bare_vm_ms, pvmm_ms;
	struct preload_run pre;
};

/* Returns whether the preloaded run reported (when asked for one). */
static bool startup_round(const struct options *o, struct startup_sample *s, bool preload)
{
	char *true_argv[] = { "/bin/true", NULL };
	char *bare_argv[] = { (char *)o->bare, "startup", NULL };
	char *pvmm_argv[] = { (char *)o->pvmm, "run", (char *)o->guest, NULL };
	uint64_t spawned;
	char *out;

	s->true_ms = startup_first_byte(true_argv, NULL, NULL);
	s->bare_ms = startup_first_byte(bare_argv, &out, &spawned);
	s->bare_main_ms = (find_number(out, "main_mono_ns:") - (double)spawned) / NS_PER_MS;
	s->bare_run_ms = s->bare_main_ms + find_number(out, "main_to_first_run_ns:") / NS_PER_MS;
	s->bare_vm_ms = find_number(out, "main_to_first_exit_ns:") / NS_PER_MS;
	free(out);
	s->pvmm_ms = startup_first_byte(pvmm_argv, &out, NULL);
	if (!strstr(out, "Hello from a Xen PVH guest"))
		fail("the hello guest did not greet; pvmm printed", out);
	free(out);
	return preload && startup_preload_run(o, &s->pre);
}

/* Median over the runs of request's total time (0 in runs without it). */
static double request_median(const struct startup_sample *s, unsigned n, unsigned long request,
			     double *count)
{
	double t[MAX_ROUNDS], c[MAX_ROUNDS];

	for (unsigned r = 0; r < n; r++) {
		t[r] = c[r] = 0;
		for (unsigned i = 0; i < s[r].pre.nr; i++) {
			if (s[r].pre.request[i] == request) {
				t[r] = s[r].pre.total_ms[i];
				c[r] = (double)s[r].pre.count[i];
			}
		}
	}
	*count = median(c, n);
	return median(t, n);
}

#define STARTUP_COL(s, n, field, out) do {                      \
		for (unsigned _r = 0; _r < (n); _r++)           \
			(out)[_r] = (s)[_r].field;              \
	} while (0)

static void print_row(const char *what, const double *v, unsigned n)
{
	printf("  %-56s %8.2f %8.2f\n", what, median(v, n), minimum(v, n));
}

static void print_ioctl_breakdown(const struct startup_sample *s, unsigned n)
{
	const struct preload_run *p = &s[0].pre;
	double sum = 0;

	printf("  of which ioctls, by request (median total per run):\n");
	for (unsigned i = 0; i < p->nr; i++) {
		double count, ms = request_median(s, n, p->request[i], &count);
		const char *name = ioctl_name(p->request[i]);
		char label[64];

		sum += ms;
		if (name)
			snprintf(label, sizeof(label), "%s x%.0f", name, count);
		else
			snprintf(label, sizeof(label), "ioctl %#lx x%.0f", p->request[i], count);
		printf("    %-54s %8.3f\n", label, ms);
	}
	printf("    %-54s %8.3f\n", "all ioctls before the first KVM_RUN", sum);
}

static int bench_startup(const struct options *o)
{
	static struct startup_sample s[MAX_ROUNDS];
	unsigned n = (unsigned)o->runs;
	double v[MAX_ROUNDS], own[MAX_ROUNDS], r_true[MAX_ROUNDS], r_bare[MAX_ROUNDS];
	double true_ms[MAX_ROUNDS];
	bool timing = true;

	printf("== start-up: exec until the guest's first console byte, %u runs, interleaved ==\n", n);
	for (unsigned r = 0; r < n; r++)
		timing = startup_round(o, &s[r], timing);

	printf("  %-56s %8s %8s   (ms)\n", "", "median", "min");
	STARTUP_COL(s, n, true_ms, v);
	print_row("exec /bin/true until it exits", v, n);
	STARTUP_COL(s, n, bare_ms, v);
	print_row("bare KVM VM: exec until its guest's first byte", v, n);
	STARTUP_COL(s, n, bare_main_ms, v);
	print_row("  exec until main()", v, n);
	STARTUP_COL(s, n, bare_vm_ms, v);
	print_row("  main() until the first exit (VM creation + run)", v, n);
	STARTUP_COL(s, n, bare_run_ms, v);
	print_row("  exec until the first KVM_RUN", v, n);
	STARTUP_COL(s, n, pvmm_ms, v);
	print_row("pvmm run hello-64: exec until the first console byte", v, n);

	for (unsigned r = 0; r < n; r++)
		r_true[r] = s[r].pvmm_ms / s[r].true_ms;
	STARTUP_COL(s, n, true_ms, true_ms);
	if (!timing) {
		STARTUP_COL(s, n, pvmm_ms, v);
		printf("\n  ioctl_timing could not be preloaded (a static pvmm?): no breakdown.\n"
		       "  pvmm's own start-up is at most exec-to-first-byte, %.2f ms"
		       "   target < 10 ms: %s\n", median(v, n), verdict(median(v, n) < 10));
		printf("ratio, median of the per-run ratios:\n");
		printf("  pvmm exec-to-first-byte / exec of /bin/true          %6.2fx\n",
		       median(r_true, n));
		print_noise("exec of /bin/true", true_ms, n);
		return 0;
	}

	printf("\n  pvmm run hello-64 with bench/ioctl_timing preloaded:\n");
	STARTUP_COL(s, n, pre.first_byte_ms, v);
	print_row("exec until the first console byte (with the preload)", v, n);
	STARTUP_COL(s, n, pre.loaded_ms, v);
	print_row("exec until the dynamic loader is done", v, n);
	for (unsigned r = 0; r < n; r++)
		v[r] = s[r].pre.first_run_ms - s[r].pre.loaded_ms;
	print_row("loader done until the first KVM_RUN (pvmm's set-up)", v, n);
	print_ioctl_breakdown(s, n);
	for (unsigned r = 0; r < n; r++)
		v[r] = s[r].pre.first_byte_ms - s[r].pre.first_run_ms;
	print_row("first KVM_RUN until the first console byte (guest boot)", v, n);

	for (unsigned r = 0; r < n; r++) {
		own[r] = s[r].pre.first_run_ms;
		r_bare[r] = own[r] / s[r].bare_run_ms;
	}
	printf("\n  pvmm's own start-up (exec until the first KVM_RUN): %.2f ms (min %.2f)"
	       "   target < 10 ms: %s\n", median(own, n), minimum(own, n),
	       verdict(median(own, n) < 10));
	printf("ratios:                                              per-run   of the\n");
	printf("                                                        median    minima\n");
	STARTUP_COL(s, n, pvmm_ms, v);
	printf("  pvmm exec-to-first-byte / exec of /bin/true          %6.2fx   %6.2fx\n",
	       median(r_true, n), minimum(v, n) / minimum(true_ms, n));
	STARTUP_COL(s, n, bare_run_ms, v);
	printf("  pvmm's own start-up / bare VM exec-to-first-KVM_RUN  %6.2fx   %6.2fx\n",
	       median(r_bare, n), minimum(own, n) / minimum(v, n));
	print_noise("exec of /bin/true", true_ms, n);
	return 0;
}

/* ---- memory: pvmm's resident memory beyond guest RAM ----------------- */

enum mem_class { MEM_GUEST, MEM_SPECIAL, MEM_FILE, MEM_HEAP, MEM_STACK, MEM_KVM, MEM_KERNEL,
		 MEM_ANON, MEM_NR };

static const char *const mem_class_name[MEM_NR] = {
	[MEM_GUEST] = "guest RAM mapping",
	[MEM_SPECIAL] = "special pages (xenstore, console, grant frames)",
	[MEM_FILE] = "the binary and shared libraries (file-backed)",
	[MEM_HEAP] = "[heap] (malloc)",
	[MEM_STACK] = "[stack] (main thread)",
	[MEM_KVM] = "KVM mappings (kvm_run)",
	[MEM_KERNEL] = "[vdso], [vvar]",
	[MEM_ANON] = "other anonymous (thread stacks, .bss, mmaps)",
};

#define MAX_FILES 16

struct mem_sample {
	unsigned long rss_kb[MEM_NR], pss_kb[MEM_NR];
	unsigned long vm_rss_kb;
	bool merged;    /* guest RAM and special pages in one mapping */
	unsigned nr_files;
	struct {
		char name[64];
		unsigned long rss_kb, pss_kb;
	} file[MAX_FILES];
};

static enum mem_class classify(const char *path, unsigned long size_kb, unsigned long guest_kb,
			       unsigned long special_kb)
{
	if (*path == '/')
		return MEM_FILE;
	if (strcmp(path, "[heap]") == 0)
		return MEM_HEAP;
	if (strcmp(path, "[stack]") == 0)
		return MEM_STACK;
	if (strncmp(path, "anon_inode:kvm", 14) == 0)
		return MEM_KVM;
	if (*path == '[')
		return MEM_KERNEL;
	/* The kernel merges the special pages' mapping into guest RAM's when
	 * mmap puts them side by side. */
	if (*path == '\0' && (size_kb == guest_kb || size_kb == guest_kb + special_kb))
		return MEM_GUEST;
	if (*path == '\0' && size_kb == special_kb)
		return MEM_SPECIAL;
	return MEM_ANON;
}

/* The per-file tally for path (its base name), or NULL when full. */
static unsigned long *file_tally(struct mem_sample *m, const char *path, bool pss)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	unsigned i;

	for (i = 0; i < m->nr_files && strcmp(m->file[i].name, base); i++)
		;
	if (i == MAX_FILES)
		return NULL;
	if (i == m->nr_files)
		snprintf(m->file[m->nr_files++].name, sizeof(m->file[0].name), "%s", base);
	return pss ? &m->file[i].pss_kb : &m->file[i].rss_kb;
}

static void add_kb(struct mem_sample *m, enum mem_class cls, const char *path, bool pss,
		   unsigned long kb)
{
	unsigned long *t = pss ? m->pss_kb : m->rss_kb;

	t[cls] += kb;
	if (cls == MEM_FILE && file_tally(m, path, pss))
		*file_tally(m, path, pss) += kb;
}

static void sample_memory(pid_t pid, unsigned long guest_kb, unsigned long special_kb,
			  struct mem_sample *m)
{
	char path[64], line[512], name[256] = "";
	enum mem_class cls = MEM_ANON;
	unsigned long v, start, end;
	bool found_guest = false;
	FILE *f;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255[^\n]", &start, &end, name) >= 2) {
			if (sscanf(line, "%*s %*s %*s %*s %*s %255[^\n]", name) != 1)
				name[0] = '\0';   /* an anonymous mapping has no name */
			cls = classify(name, (end - start) >> 10, guest_kb, special_kb);
			found_guest |= cls == MEM_GUEST;
			m->merged |= cls == MEM_GUEST && (end - start) >> 10 != guest_kb;
		} else if (sscanf(line, "Rss: %lu kB", &v) == 1) {
			add_kb(m, cls, name, false, v);
		} else if (sscanf(line, "Pss: %lu kB", &v) == 1) {
			add_kb(m, cls, name, true, v);
		}
	}
	fclose(f);
	if (!found_guest)
		fail("no mapping the size of guest RAM in", path);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "VmRSS: %lu kB", &m->vm_rss_kb);
	fclose(f);
}

static unsigned long overhead(const unsigned long *kb)
{
	unsigned long sum = 0;

	for (unsigned c = 0; c < MEM_NR; c++)
		if (c != MEM_GUEST)
			sum += kb[c];
	return sum;
}

static void print_memory(const char *title, const struct mem_sample *m)
{
	printf("  %s\n", title);
	for (unsigned c = 0; c < MEM_NR; c++) {
		printf("    %-52s %7lu %7lu\n", mem_class_name[c], m->rss_kb[c], m->pss_kb[c]);
		for (unsigned i = 0; c == MEM_FILE && i < m->nr_files; i++)
			printf("      %-50s %7lu %7lu\n", m->file[i].name, m->file[i].rss_kb,
			       m->file[i].pss_kb);
	}
	printf("    %-52s %7lu %7lu\n", "overhead: all but guest RAM", overhead(m->rss_kb),
	       overhead(m->pss_kb));
	printf("    %-52s %7lu\n", "(VmRSS, for comparison)", m->vm_rss_kb);
	if (m->merged)
		printf("    (the special pages shared guest RAM's mapping this time: they count as guest RAM)\n");
}

/* pvmm with the guest holding still in SCHEDOP_poll. */
static void memory_pvmm(const struct options *o, struct mem_sample *m)
{
	unsigned long guest_kb = o->memory_mib << 10, special_kb = GMEM_SPECIAL_SIZE >> 10;
	char mem_arg[32], buf[4096];
	char *argv[] = { (char *)o->pvmm, "run", (char *)o->guest, "--memory", mem_arg, NULL };
	struct child c;
	int status;

	snprintf(mem_arg, sizeof(mem_arg), "%luM", o->memory_mib);
	child_spawn(&c, argv, NULL, false);
	read_until(&c, "bench-memory: waiting", buf, sizeof(buf));
	/* Let the vCPU settle into SCHEDOP_poll. */
	nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	sample_memory(c.pid, guest_kb, special_kb, m);
	kill(c.pid, SIGTERM);
	free(read_output(&c, NULL));
	status = child_wait(&c);
	if (status != 20)   /* pvmm's "stopped by the host" */
		fprintf(stderr, "pvmm_bench: pvmm exited with %d after SIGTERM, expected 20\n",
			status);
}

/* bare_pio_exit, its vCPU stopped after the first exit. */
static void memory_bare(const struct options *o, struct mem_sample *m)
{
	char *argv[] = { (char *)o->bare, "hold", NULL };
	char buf[4096];
	struct child c;

	child_spawn(&c, argv, NULL, true);
	read_until(&c, "ready", buf, sizeof(buf));
	sample_memory(c.pid, 2048, 0, m);
	close(c.in);   /* EOF on its stdin ends the hold */
	c.in = -1;
	free(read_output(&c, NULL));
	if (child_wait(&c) != 0)
		fail("bare_pio_exit hold failed", NULL);
}

/* The run whose overhead is the median one. */
static const struct mem_sample *median_sample(const struct mem_sample *m, unsigned n)
{
	double v[MAX_ROUNDS] = { 0 }, med;

	for (unsigned r = 0; r < n; r++)
		v[r] = (double)overhead(m[r].rss_kb);
	med = median(v, n);
	for (unsigned r = 0; r < n; r++)
		if (v[r] >= med)
			return &m[r];
	return &m[0];
}

static int bench_memory(const struct options *o)
{
	static struct mem_sample pvmm[MAX_ROUNDS], bare[MAX_ROUNDS];
	unsigned n = (unsigned)o->runs;
	const struct mem_sample *p, *b;
	double ratio_rss[MAX_ROUNDS], ratio_pss[MAX_ROUNDS];
	char title[256];

	printf("== memory: resident memory while the guest waits, %u runs (KiB) ==\n", n);
	for (unsigned r = 0; r < n; r++) {
		memory_pvmm(o, &pvmm[r]);
		memory_bare(o, &bare[r]);
		ratio_rss[r] = (double)overhead(pvmm[r].rss_kb) / (double)overhead(bare[r].rss_kb);
		ratio_pss[r] = (double)overhead(pvmm[r].pss_kb) / (double)overhead(bare[r].pss_kb);
	}
	p = median_sample(pvmm, n);
	b = median_sample(bare, n);

	printf("  the run with the median overhead of each:%*s %7s %7s\n", 14, "", "Rss", "Pss");
	snprintf(title, sizeof(title), "pvmm run %s --memory %luM (the guest touched >= 4 MiB)",
		 o->guest, o->memory_mib);
	print_memory(title, p);
	print_memory("bare KVM VM (guest RAM 2 MiB)", b);
	if (p->rss_kb[MEM_GUEST] < 4096)
		printf("  note: guest RAM shows %lu KiB resident, less than the guest touched\n",
		       p->rss_kb[MEM_GUEST]);

	printf("\n  pvmm's overhead: %lu KiB Rss (%lu KiB Pss)   target < 2048 KiB: %s\n",
	       overhead(p->rss_kb), overhead(p->pss_kb), verdict(overhead(p->rss_kb) < 2048));
	printf("ratios (median of the per-run ratios):\n");
	printf("  pvmm overhead / bare VM overhead, Rss      %6.2fx\n", median(ratio_rss, n));
	printf("  pvmm overhead / bare VM overhead, Pss      %6.2fx\n", median(ratio_pss, n));
	return 0;
}

/* ---- control: event-channel and xenstore round trips ----------------- */

/* The null hypercall and the bare exit run this many times more
 * iterations than the control guest's round trips: they are that much
 * shorter. */
#define CTL_BASELINE_FACTOR 10

/* The programs each round runs, and what they measure. */
enum ctl_run { CTL_RUN_BARE, CTL_RUN_HYPERCALL, CTL_RUN_GUEST, CTL_RUN_NR };
enum ctl_metric { CTL_BARE_OUT, CTL_HYPERCALL, CTL_EVTCHN, CTL_XENSTORE, CTL_NR };

static const char *const ctl_what[CTL_NR] = {
	[CTL_BARE_OUT] = "bare KVM: out; dec; jnz (the bare exit)",
	[CTL_HYPERCALL] = "pvmm: null hypercall (bench-hypercall)",
	[CTL_EVTCHN] = "pvmm: event channel, console backend and back",
	[CTL_XENSTORE] = "pvmm: xenstore XS_READ \"domid\"",
};

/* One boot of bench-control: ns per event-channel round trip and per
 * XS_READ. */
static void ctl_guest_run(const struct options *o, double *evtchn, double *xenstore)
{
	char cmdline[64];
	char *argv[] = { (char *)o->pvmm, "run", (char *)o->guest, "--cmdline", cmdline, NULL };
	uint64_t start = now_ns();
	double e, x;
	char *out;

	snprintf(cmdline, sizeof(cmdline), "iterations=%lu", o->iterations);
	out = run_checked(argv, 0);
	if (find_number(out, "bench-control: iterations") != (double)o->iterations)
		fail("the guest ran another iteration count than asked", NULL);
	e = find_number(out, "bench-control: evtchn_total_ns");
	x = find_number(out, "bench-control: xenstore_total_ns");
	/* The guest's pvclock must not claim more time than passed. */
	if (e + x > (double)(now_ns() - start))
		fail("the guest's pvclock measured more time than the host saw", NULL);
	free(out);
	*evtchn = e / (double)o->iterations;
	*xenstore = x / (double)o->iterations;
}

/* Runs one program of round r, filling its metrics. */
static void ctl_run(const struct options *o, enum ctl_run run, double ns[CTL_NR][MAX_ROUNDS],
		    unsigned r)
{
	struct options base = *o;

	base.iterations = o->iterations * CTL_BASELINE_FACTOR;
	base.guest = o->hypercall_guest;
	if (run == CTL_RUN_BARE)
		ns[CTL_BARE_OUT][r] = hc_run(&base, HC_BARE_OUT);
	else if (run == CTL_RUN_HYPERCALL)
		ns[CTL_HYPERCALL][r] = hc_run(&base, HC_PVMM);
	else
		ctl_guest_run(o, &ns[CTL_EVTCHN][r], &ns[CTL_XENSTORE][r]);
}

/* A ratio's per-round median and the ratio of the minima. */
static void ctl_ratio(const char *what, const double *num, const double *den, unsigned n)
{
	double ratio[MAX_ROUNDS];

	for (unsigned r = 0; r < n; r++)
		ratio[r] = num[r] / den[r];
	printf("  %-44s %7.2fx %8.2fx\n", what, median(ratio, n),
	       minimum(num, n) / minimum(den, n));
}

static int bench_control(const struct options *o)
{
	static double ns[CTL_NR][MAX_ROUNDS];
	unsigned n = (unsigned)o->rounds;
	unsigned long base = o->iterations * CTL_BASELINE_FACTOR;

	printf("== control plane: round trips against the null hypercall, %u rounds, interleaved ==\n"
	       "   each round: one boot of bench-control (%lu event-channel round trips and\n"
	       "   %lu XS_READs), %lu null hypercalls, %lu bare exits\n",
	       n, o->iterations, o->iterations, base, base);
	for (unsigned r = 0; r < n; r++)
		for (unsigned k = 0; k < CTL_RUN_NR; k++)
			ctl_run(o, (enum ctl_run)((k + r) % CTL_RUN_NR), ns, r);

	printf("%-48s %10s %10s   (ns each)\n", "", "median", "min");
	for (unsigned m = 0; m < CTL_NR; m++)
		printf("%-48s %10.0f %10.0f\n", ctl_what[m], median(ns[m], n), minimum(ns[m], n));
	printf("\nratios:                                      per-round   of the\n");
	printf("                                                 median    minima\n");
	ctl_ratio("event-channel round trip / null hypercall", ns[CTL_EVTCHN], ns[CTL_HYPERCALL], n);
	ctl_ratio("xenstore XS_READ / null hypercall", ns[CTL_XENSTORE], ns[CTL_HYPERCALL], n);
	ctl_ratio("xenstore XS_READ / event-channel round trip", ns[CTL_XENSTORE], ns[CTL_EVTCHN], n);
	ctl_ratio("null hypercall / bare exit", ns[CTL_HYPERCALL], ns[CTL_BARE_OUT], n);
	print_noise("the bare out loop", ns[CTL_BARE_OUT], n);
	return 0;
}

/* ---- command line ----------------------------------------------------- */

static unsigned long parse_count(const char *opt, const char *s, unsigned long max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v == 0 || v > max) {
		fprintf(stderr, "pvmm_bench: %s: '%s' is not a count from 1 to %lu\n", opt, s, max);
		exit(2);
	}
	return v;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: pvmm_bench hypercall --pvmm P --bare B --guest G [--iterations N] [--rounds R]\n"
		"       pvmm_bench startup --pvmm P --bare B --guest G --preload L [--runs R]\n"
		"       pvmm_bench memory --pvmm P --bare B --guest G [--memory-mib M] [--runs R]\n"
		"       pvmm_bench control --pvmm P --bare B --guest G --hypercall-guest H\n"
		"                          [--iterations N] [--rounds R]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct options o = { .rounds = 9, .memory_mib = 256 };

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			return usage();
		if (strcmp(opt, "--pvmm") == 0)
			o.pvmm = val;
		else if (strcmp(opt, "--bare") == 0)
			o.bare = val;
		else if (strcmp(opt, "--guest") == 0)
			o.guest = val;
		else if (strcmp(opt, "--preload") == 0)
			o.preload = val;
		else if (strcmp(opt, "--hypercall-guest") == 0)
			o.hypercall_guest = val;
		else if (strcmp(opt, "--iterations") == 0)
			o.iterations = parse_count(opt, val, 100000000);
		else if (strcmp(opt, "--rounds") == 0)
			o.rounds = parse_count(opt, val, MAX_ROUNDS);
		else if (strcmp(opt, "--runs") == 0)
			o.runs = parse_count(opt, val, MAX_ROUNDS);
		else if (strcmp(opt, "--memory-mib") == 0)
			o.memory_mib = parse_count(opt, val, 3072);
		else
			return usage();
	}
	if (!o.pvmm || !o.bare || !o.guest)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "hypercall") == 0) {
		o.iterations = o.iterations ? o.iterations : 10000;
		return bench_hypercall(&o);
	}
	if (strcmp(argv[1], "startup") == 0) {
		if (!o.preload)
			return usage();
		o.runs = o.runs ? o.runs : 15;
		return bench_startup(&o);
	}
	if (strcmp(argv[1], "memory") == 0) {
		o.runs = o.runs ? o.runs : 5;
		return bench_memory(&o);
	}
	if (strcmp(argv[1], "control") == 0) {
		if (!o.hypercall_guest)
			return usage();
		o.iterations = o.iterations ? o.iterations : 1000;
		if (o.iterations > 10000000) {
			fprintf(stderr, "pvmm_bench: --iterations: at most 10000000 for control\n");
			return 2;
		}
		return bench_control(&o);
	}
	return usage();
}
