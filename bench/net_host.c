/*
 * net_host: the host side of the network benchmark (net_bench.py), on the
 * Unix SOCK_SEQPACKET link pvmm's `--net socket,connect=PATH` speaks (one
 * Ethernet frame per message).
 *
 *   net_host serve PATH
 *       Listens on PATH and takes one peer (pvmm).  A thread counts the
 *       frames that come, phase by phase: a frame of EtherType 0x88b5 whose
 *       payload is "pvmm-bench-end NAME" ends phase NAME and prints
 *         host-rx NAME frames=F bytes=B ns=T cpu_ns=C
 *       (T from the phase's first frame to its end frame, C the counting
 *       thread's CPU time in between; repeats of an end frame are ignored).
 *       A frame whose payload is "pvmm-bench-credit NAME COUNT" says the
 *       peer has taken COUNT frames of phase NAME.  Commands on stdin:
 *         send NAME FRAMES SIZE WINDOW
 *                 sends FRAMES frames of SIZE bytes, never more than WINDOW
 *                 (0: no limit) beyond what the peer's credit frames
 *                 account for, then the end frame of NAME three times;
 *                 prints host-tx NAME frames=F bytes=B ns=T cpu_ns=C
 *         quit
 *   net_host pair PATH FRAMES SIZE
 *       The baseline: the same link between two threads of this process
 *       (one connects to the other's PATH), FRAMES frames of SIZE bytes and
 *       the end frame, as fast as they go; prints
 *         pair frames=F bytes=B ns=T rx_cpu_ns=R tx_cpu_ns=S
 *
 * Sends block when the socket is full, so the receiver sets the pace.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX       65536
#define ETH_HLEN        14
#define BENCH_ETHERTYPE 0x88b5
#define END_TAG         "pvmm-bench-end "
#define CREDIT_TAG      "pvmm-bench-credit "
#define NAME_MAX_LEN    32

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The calling thread's user + system time. */
static uint64_t thread_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static void die(const char *what)
{
	fprintf(stderr, "net_host: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fill_eth(uint8_t *f)
{
	memset(f, 0xff, 6);                             /* broadcast */
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);   /* locally administered */
	f[12] = BENCH_ETHERTYPE >> 8;
	f[13] = BENCH_ETHERTYPE & 0xff;
}

/* An end frame for name in f: its length. */
static size_t end_frame(uint8_t *f, const char *name)
{
	size_t n = strlen(END_TAG) + strlen(name);

	memset(f, 0, 60);
	fill_eth(f);
	memcpy(f + ETH_HLEN, END_TAG, strlen(END_TAG));
	memcpy(f + ETH_HLEN + strlen(END_TAG), name, strlen(name));
	return ETH_HLEN + n + 1 < 60 ? 60 : ETH_HLEN + n + 1;
}

/* Whether f is a control frame with tag: then the word after the tag
 * goes to name and the number after that (if any) to *count. */
static bool is_control(const uint8_t *f, size_t len, const char *tag,
		       char name[NAME_MAX_LEN], uint64_t *count)
{
	size_t t = strlen(tag), i = ETH_HLEN + t, n = 0;

	if (len < i || f[12] != BENCH_ETHERTYPE >> 8 || f[13] != (BENCH_ETHERTYPE & 0xff) ||
	    memcmp(f + ETH_HLEN, tag, t) != 0)
		return false;
	for (; i < len && n < NAME_MAX_LEN - 1 && f[i] > ' '; i++)
		name[n++] = (char)f[i];
	name[n] = '\0';
	*count = 0;
	for (i++; i < len && f[i] >= '0' && f[i] <= '9'; i++)
		*count = *count * 10 + (uint64_t)(f[i] - '0');
	return true;
}

/* What the peer said it took of the phase being sent. */
static pthread_mutex_t credit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t credit_cond = PTHREAD_COND_INITIALIZER;
static char credit_phase[NAME_MAX_LEN];
static uint64_t credited;
static bool peer_gone;

static void credit(const char *name, uint64_t count, bool gone)
{
	pthread_mutex_lock(&credit_lock);
	if (gone)
		peer_gone = true;
	else if (!strcmp(name, credit_phase) && count > credited)
		credited = count;
	pthread_cond_broadcast(&credit_cond);
	pthread_mutex_unlock(&credit_lock);
}

/* Waits until at most window - 1 frames are unaccounted for after sent:
 * false when the peer went. */
static bool credit_wait(uint64_t sent, uint64_t window)
{
	bool ok;

	pthread_mutex_lock(&credit_lock);
	while (!peer_gone && sent - credited >= window)
		pthread_cond_wait(&credit_cond, &credit_lock);
	ok = !peer_gone;
	pthread_mutex_unlock(&credit_lock);
	return ok;
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (strlen(path) >= sizeof(a.sun_path)) {
		fprintf(stderr, "net_host: %s: path too long\n", path);
		exit(2);
	}
	strcpy(a.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		die(path);
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die(path);
	return fd;
}

/* Sends frames frames of size bytes (at most window beyond the peer's
 * credit; 0: no limit), then name's end frame `ends` times (the peer may
 * go after the first).  Returns the ns the frames took; 0 when the peer
 * went before they were all sent. */
static uint64_t send_frames(int fd, const char *name, uint64_t frames, size_t size,
			    uint64_t window, unsigned ends)
{
	static uint8_t f[FRAME_MAX];
	uint64_t t0, t;

	pthread_mutex_lock(&credit_lock);
	snprintf(credit_phase, sizeof(credit_phase), "%s", name);
	credited = 0;
	pthread_mutex_unlock(&credit_lock);
	memset(f, 0x5a, size);
	fill_eth(f);
	t0 = now_ns();
	for (uint64_t i = 0; i < frames; i++)
		if ((window && !credit_wait(i, window)) || send(fd, f, size, MSG_NOSIGNAL) < 0)
			return 0;
	t = now_ns() - t0;
	for (unsigned i = 0; i < ends; i++) {
		if (i)
			usleep(50000);
		if (send(fd, f, end_frame(f, name), MSG_NOSIGNAL) < 0 && i == 0)
			return 0;
	}
	return t ? t : 1;
}

struct counter {
	int fd;
	bool once;              /* pair: stop at the first end frame */
	uint64_t frames, bytes, ns, cpu_ns;
};

/* Counts frames phase by phase (see the top of the file). */
static void *count_frames(void *arg)
{
	struct counter *c = arg;
	static uint8_t f[FRAME_MAX];
	char name[NAME_MAX_LEN], last[NAME_MAX_LEN] = "";
	uint64_t frames = 0, bytes = 0, t0 = 0, cpu0 = 0, count;

	for (;;) {
		ssize_t n = recv(c->fd, f, sizeof(f), 0);

		if (n <= 0) {
			credit("", 0, true);
			return NULL;
		}
		if (is_control(f, (size_t)n, CREDIT_TAG, name, &count)) {
			credit(name, count, false);
			continue;
		}
		if (!is_control(f, (size_t)n, END_TAG, name, &count)) {
			if (!frames) {
				t0 = now_ns();
				cpu0 = thread_cpu_ns();
			}
			frames++;
			bytes += (uint64_t)n;
			continue;
		}
		if (!strcmp(name, last))
			continue;
		strcpy(last, name);
		c->frames = frames;
		c->bytes = bytes;
		c->ns = frames ? now_ns() - t0 : 0;
		c->cpu_ns = frames ? thread_cpu_ns() - cpu0 : 0;
		if (c->once)
			return NULL;
		printf("host-rx %s frames=%llu bytes=%llu ns=%llu cpu_ns=%llu\n", name,
		       (unsigned long long)c->frames, (unsigned long long)c->bytes,
		       (unsigned long long)c->ns, (unsigned long long)c->cpu_ns);
		fflush(stdout);
		frames = bytes = 0;
	}
}

static int serve(const char *path)
{
	int lfd = listen_on(path), fd;
	struct counter c = { 0 };
	pthread_t t;
	char line[128];

	fprintf(stderr, "net_host: listening on %s\n", path);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		die("accept");
	c.fd = fd;
	if (pthread_create(&t, NULL, count_frames, &c))
		die("pthread_create");
	while (fgets(line, sizeof(line), stdin)) {
		char name[NAME_MAX_LEN];
		unsigned long long frames, window;
		size_t size;

		if (!strncmp(line, "quit", 4))
			break;
		if (sscanf(line, "send %31s %llu %zu %llu", name, &frames, &size, &window) == 4 &&
		    size >= 60 && size <= FRAME_MAX) {
			uint64_t cpu0 = thread_cpu_ns();
			uint64_t ns = send_frames(fd, name, frames, size, window, 3);

			uint64_t cpu = thread_cpu_ns() - cpu0;

			printf("host-tx %s frames=%llu bytes=%llu ns=%llu cpu_ns=%llu\n", name,
			       ns ? frames : 0ull, ns ? frames * size : 0ull,
			       (unsigned long long)ns, (unsigned long long)cpu);
			fflush(stdout);
			continue;
		}
		fprintf(stderr, "net_host: unknown command: %s", line);
	}
	shutdown(fd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(fd);
	close(lfd);
	unlink(path);
	return 0;
}

struct sender {
	const char *path;
	uint64_t frames;
	size_t size;
	uint64_t cpu_ns;
};

static void *pair_send(void *arg)
{
	struct sender *s = arg;
	int fd = connect_to(s->path);
	uint64_t cpu0 = thread_cpu_ns();

	send_frames(fd, "pair", s->frames, s->size, 0, 1);
	s->cpu_ns = thread_cpu_ns() - cpu0;
	close(fd);
	return NULL;
}

static int pair(const char *path, uint64_t frames, size_t size)
{
	int lfd = listen_on(path);
	struct sender s = { path, frames, size, 0 };
	struct counter c = { .once = true };
	pthread_t t;

	if (pthread_create(&t, NULL, pair_send, &s))
		die("pthread_create");
	c.fd = accept(lfd, NULL, NULL);
	if (c.fd < 0)
		die("accept");
	count_frames(&c);
	pthread_join(t, NULL);
	printf("pair frames=%llu bytes=%llu ns=%llu rx_cpu_ns=%llu tx_cpu_ns=%llu\n",
	       (unsigned long long)c.frames, (unsigned long long)c.bytes,
	       (unsigned long long)c.ns, (unsigned long long)c.cpu_ns,
	       (unsigned long long)s.cpu_ns);
	close(c.fd);
	close(lfd);
	unlink(path);
	return c.frames == frames ? 0 : 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "pair")) {
		size_t size = strtoull(argv[4], NULL, 0);

		if (size < 60 || size > FRAME_MAX) {
			fprintf(stderr, "net_host: SIZE must be 60 to %d\n", FRAME_MAX);
			return 2;
		}
		return pair(argv[2], strtoull(argv[3], NULL, 0), size);
	}
	fprintf(stderr, "usage: net_host serve PATH | net_host pair PATH FRAMES SIZE\n");
	return 2;
}
