#include "console/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

int console__open(struct console *c, const char *spec)
{
	memset(c, 0, sizeof(*c));
	c->out_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->in_room, NULL);
	pthread_mutex_init(&c->out_lock, NULL);

	if (strcmp(spec, "none") == 0)
		return 0;
	if (strcmp(spec, "stdio") == 0) {
		c->out_fd = STDOUT_FILENO;
		c->in_enabled = true;
		return 0;
	}
	if (strncmp(spec, "file:", 5) == 0) {
		const char *path = spec + 5;

		if (*path == '\0') {
			pr_err("console file: no path after 'file:'");
			return -1;
		}
		c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			pr_err("console file %s: %s", path, strerror(errno));
			return -1;
		}
		c->out_is_file = true;
		return 0;
	}
	pr_err("unknown console '%s': expected stdio, file:PATH or none", spec);
	return -1;
}

void console__close(struct console *c)
{
	if (c->out_is_file && c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
	c->out_is_file = false;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->in_room);
	pthread_mutex_destroy(&c->out_lock);
}

/*
 * Writes all of buf.  Standard output may share a non-blocking open file
 * description with a terminal on standard input, so EAGAIN means "wait",
 * not "drop": guest output is never lost to a slow reader.
 */
static int console__write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, -1);
		} else if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

void console__write(struct console *c, const void *buf, size_t len)
{
	int ret;

	if (c->out_fd < 0 || len == 0)
		return;
	/* One writer at a time keeps each device's chunk contiguous. */
	pthread_mutex_lock(&c->out_lock);
	ret = console__write_all(c->out_fd, buf, len);
	pthread_mutex_unlock(&c->out_lock);
	if (ret < 0)
		pr_warn_once("console output: %s; guest output is lost", strerror(-ret));
}

/* Queues what fits of buf; returns how many bytes that was.  Called with
 * the lock held. */
static size_t console__enqueue(struct console *c, const uint8_t *in, size_t len)
{
	size_t taken = 0;

	while (taken < len && c->in_len < CONSOLE_INPUT_SIZE) {
		size_t tail = (c->in_head + c->in_len) % CONSOLE_INPUT_SIZE;

		c->in_buf[tail] = in[taken++];
		c->in_len++;
	}
	return taken;
}

/* Tells every listener that input arrived.  Called without the lock: a
 * listener reads the queue and takes its own lock. */
static void console__notify(const struct console_listener *listener, int nr_listeners)
{
	for (int i = 0; i < nr_listeners; i++)
		listener[i].fn(listener[i].opaque);
}

void console__push_input(struct console *c, const void *buf, size_t len)
{
	struct console_listener listener[CONSOLE_MAX_LISTENERS];
	int nr_listeners;
	size_t taken;

	pthread_mutex_lock(&c->lock);
	taken = console__enqueue(c, buf, len);
	nr_listeners = c->nr_listeners;
	memcpy(listener, c->listener, sizeof(listener));
	pthread_mutex_unlock(&c->lock);

	if (taken > 0)
		console__notify(listener, nr_listeners);
}

size_t console__push_input_wait(struct console *c, const void *buf, size_t len)
{
	const uint8_t *in = buf;
	struct console_listener listener[CONSOLE_MAX_LISTENERS];
	int nr_listeners;
	size_t done = 0;

	while (done < len) {
		size_t taken;

		pthread_mutex_lock(&c->lock);
		/* Waiting for half a queue of room rather than for one byte
		 * spares a wake-up for every byte the guest reads. */
		while (!c->in_stopped && CONSOLE_INPUT_SIZE - c->in_len < len - done &&
		       c->in_len > CONSOLE_INPUT_SIZE / 2)
			pthread_cond_wait(&c->in_room, &c->lock);
		if (c->in_stopped) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		taken = console__enqueue(c, in + done, len - done);
		nr_listeners = c->nr_listeners;
		memcpy(listener, c->listener, sizeof(listener));
		pthread_mutex_unlock(&c->lock);

		done += taken;
		console__notify(listener, nr_listeners);
	}
	return done;
}

void console__stop_input(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	c->in_stopped = true;
	pthread_cond_broadcast(&c->in_room);
	pthread_mutex_unlock(&c->lock);
}

size_t console__read(struct console *c, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	while (n < len && c->in_len > 0) {
		out[n++] = c->in_buf[c->in_head];
		c->in_head = (c->in_head + 1) % CONSOLE_INPUT_SIZE;
		c->in_len--;
	}
	if (n > 0 && c->in_len <= CONSOLE_INPUT_SIZE / 2)
		pthread_cond_broadcast(&c->in_room);
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t console__pending(struct console *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->in_len;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int console__add_listener(struct console *c, console_input_fn fn, void *opaque)
{
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (c->nr_listeners == CONSOLE_MAX_LISTENERS)
		ret = -ENOSPC;
	else
		c->listener[c->nr_listeners++] = (struct console_listener){ fn, opaque };
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void console__remove_listener(struct console *c, console_input_fn fn, void *opaque)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->nr_listeners; i++) {
		if (c->listener[i].fn == fn && c->listener[i].opaque == opaque) {
			c->listener[i] = c->listener[--c->nr_listeners];
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}
