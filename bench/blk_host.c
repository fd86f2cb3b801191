/*
 * blk_host: the host baseline of the block benchmark (blk_bench.py).  Plain
 * pread/pwrite on the image file, as the guest's phases do them through the
 * backend: QD threads each keep one request in flight, so QD requests are
 * in flight at once.  Sequential requests are handed out in order across
 * the file (wrapping around); random ones at block-aligned offsets.
 *
 *   blk_host FILE seq-read|seq-write|rand-read BLOCK_BYTES QD REQUESTS [direct]
 *
 * Prints one line:
 *   host MODE bs=B qd=Q requests=N bytes=B ns=T cpu_ns=C
 * where ns is wall-clock time and cpu_ns the process's user + system time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD 256

struct job {
	int fd;
	bool write, random;
	size_t bs;
	uint64_t blocks;        /* the file's size in blocks */
	uint64_t requests;
	atomic_uint_fast64_t next;
	atomic_bool failed;
};

struct worker {
	struct job *job;
	pthread_t thread;
	uint64_t rng;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	void *buf;

	/* Aligned for O_DIRECT; the contents do not matter. */
	if (posix_memalign(&buf, 4096, j->bs)) {
		atomic_store(&j->failed, true);
		return NULL;
	}
	memset(buf, 0x5a, j->bs);
	for (;;) {
		uint64_t n = atomic_fetch_add(&j->next, 1), block;
		off_t off;
		ssize_t done;

		if (n >= j->requests)
			break;
		block = j->random ? xorshift(&w->rng) % j->blocks : n % j->blocks;
		off = (off_t)(block * j->bs);
		done = j->write ? pwrite(j->fd, buf, j->bs, off) : pread(j->fd, buf, j->bs, off);
		if (done != (ssize_t)j->bs) {
			fprintf(stderr, "blk_host: %s at %lld: %s\n", j->write ? "pwrite" : "pread",
				(long long)off, done < 0 ? strerror(errno) : "short transfer");
			atomic_store(&j->failed, true);
			break;
		}
	}
	free(buf);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: blk_host FILE seq-read|seq-write|rand-read BLOCK_BYTES QD "
		"REQUESTS [direct]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct worker workers[MAX_QD];
	struct job j = { 0 };
	unsigned long qd;
	uint64_t t0, t1, c0, c1;
	struct stat st;
	const char *mode;

	if (argc != 6 && !(argc == 7 && strcmp(argv[6], "direct") == 0))
		return usage();
	mode = argv[2];
	j.write = strcmp(mode, "seq-write") == 0;
	j.random = strcmp(mode, "rand-read") == 0;
	if (!j.write && !j.random && strcmp(mode, "seq-read") != 0)
		return usage();
	j.bs = strtoul(argv[3], NULL, 0);
	qd = strtoul(argv[4], NULL, 0);
	j.requests = strtoull(argv[5], NULL, 0);
	if (j.bs == 0 || j.bs % 512 || qd == 0 || qd > MAX_QD || j.requests == 0)
		return usage();
	j.fd = open(argv[1], O_RDWR | (argc == 7 ? O_DIRECT : 0));
	if (j.fd < 0 || fstat(j.fd, &st) < 0) {
		fprintf(stderr, "blk_host: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	j.blocks = (uint64_t)st.st_size / j.bs;
	if (j.blocks == 0) {
		fprintf(stderr, "blk_host: %s is smaller than one block\n", argv[1]);
		return 1;
	}

	c0 = cpu_ns();
	t0 = now_ns();
	for (unsigned long i = 0; i < qd; i++) {
		workers[i] = (struct worker){ .job = &j, .rng = 0x2545f4914f6cdd1dull + i * 7919 };
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i])) {
			fprintf(stderr, "blk_host: cannot start a thread\n");
			return 1;
		}
	}
	for (unsigned long i = 0; i < qd; i++)
		pthread_join(workers[i].thread, NULL);
	t1 = now_ns();
	c1 = cpu_ns();
	close(j.fd);
	if (atomic_load(&j.failed))
		return 1;
	printf("host %s bs=%zu qd=%lu requests=%llu bytes=%llu ns=%llu cpu_ns=%llu\n", mode, j.bs,
	       qd, (unsigned long long)j.requests, (unsigned long long)(j.requests * j.bs),
	       (unsigned long long)(t1 - t0), (unsigned long long)(c1 - c0));
	return 0;
}
