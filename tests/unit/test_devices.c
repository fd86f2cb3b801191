/*
 * The console, the platform devices (COM1, port 0xe9, the IOAPIC) and the
 * terminal helpers of `pvmm run`, driven the way the guest and the main loop
 * drive them: devices through the real I/O buses, the terminal on a real
 * pseudo-terminal.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli/term.h"
#include "console/console.h"
#include "devices/debugcon.h"
#include "devices/ioapic.h"
#include "devices/uart.h"
#include "vcpu/io.h"
#include "vcpu/vcpu.h"
#include "vcpu/vm.h"
#include "check_main.h"

#ifndef TEST_TMPDIR
#define TEST_TMPDIR "/tmp"
#endif

/*
 * These tests have no KVM VM, so there are no local APICs to send an MSI
 * to: this definition takes the place of the KVM_SIGNAL_MSI ioctl and
 * accepts every interrupt.  What the IOAPIC decided to send is read back
 * through ioapic__last_msi(), the IOAPIC's own record.
 */
int vm__signal_msi(struct vm *vm, uint64_t address, uint32_t data)
{
	(void)vm;
	(void)address;
	(void)data;
	return 0;
}

static struct vm vm;
static char console_path[256];

/* ---- helpers ---- */

static void pio_out(uint16_t port, uint8_t val)
{
	io__dispatch(&vm.pio, NULL, port, &val, 1, true);
}

static uint8_t pio_in(uint16_t port)
{
	uint8_t val = 0;

	io__dispatch(&vm.pio, NULL, port, &val, 1, false);
	return val;
}

static void mmio_write32(uint64_t addr, uint32_t val)
{
	uint8_t d[4];

	memcpy(d, &val, 4);
	io__dispatch(&vm.mmio, NULL, addr, d, 4, true);
}

static uint32_t mmio_read32(uint64_t addr)
{
	uint8_t d[4];
	uint32_t val;

	io__dispatch(&vm.mmio, NULL, addr, d, 4, false);
	memcpy(&val, d, 4);
	return val;
}

static void ioapic_write(uint8_t index, uint32_t val)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REG_SELECT, index);
	mmio_write32(IOAPIC_BASE + IOAPIC_REG_WINDOW, val);
}

static uint32_t ioapic_read(uint8_t index)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REG_SELECT, index);
	return mmio_read32(IOAPIC_BASE + IOAPIC_REG_WINDOW);
}

/* Programs pin's redirection entry, high half first as guests do. */
static void ioapic_program(int pin, uint64_t entry)
{
	ioapic_write(IOAPIC_INDEX_REDIR + 2 * pin + 1, (uint32_t)(entry >> 32));
	ioapic_write(IOAPIC_INDEX_REDIR + 2 * pin, (uint32_t)entry);
}

static uint64_t ioapic_entry(int pin)
{
	uint64_t hi = ioapic_read(IOAPIC_INDEX_REDIR + 2 * pin + 1);

	return hi << 32 | ioapic_read(IOAPIC_INDEX_REDIR + 2 * pin);
}

static struct ioapic_msi_record last_msi(void)
{
	struct ioapic_msi_record r;

	ioapic__last_msi(&vm, &r);
	return r;
}

/* Reads a whole (small) file into buf, NUL-terminated; returns its length. */
static size_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, size - 1);
	ck_assert_int_ge(n, 0);
	close(fd);
	buf[n] = '\0';
	return (size_t)n;
}

static void make_console_path(const char *what)
{
	snprintf(console_path, sizeof(console_path), "%s/test_devices_%s_%d.out",
		 TEST_TMPDIR, what, (int)getpid());
}

/* ---- fixtures ---- */

static void uart_setup(void)
{
	char spec[300];

	memset(&vm, 0, sizeof(vm));
	make_console_path("uart");
	snprintf(spec, sizeof(spec), "file:%s", console_path);
	ck_assert_int_eq(console__open(&vm.console, spec), 0);
	ck_assert_int_eq(ioapic__init(&vm), 0);
	ck_assert_int_eq(uart__init(&vm), 0);
	ck_assert_int_eq(debugcon__init(&vm), 0);
}

static void uart_teardown(void)
{
	uart__destroy(&vm);
	ioapic__destroy(&vm);
	console__close(&vm.console);
	unlink(console_path);
}

static void ioapic_setup(void)
{
	memset(&vm, 0, sizeof(vm));
	ck_assert_int_eq(console__open(&vm.console, "none"), 0);
	ck_assert_int_eq(ioapic__init(&vm), 0);
}

static void ioapic_teardown(void)
{
	ioapic__destroy(&vm);
	console__close(&vm.console);
}

/* ---- the Ctrl-A escape filter ---- */

static int feed(struct term_escape *e, const char *in, size_t n, char *out, size_t *out_n)
{
	return term__escape_feed(e, (const uint8_t *)in, n, (uint8_t *)out, out_n);
}

START_TEST(test_escape_plain)
{
	struct term_escape e = { 0 };
	char out[16];
	size_t n = 99;

	ck_assert_int_eq(feed(&e, "ls -l\r", 6, out, &n), 0);
	ck_assert_uint_eq(n, 6);
	ck_assert_mem_eq(out, "ls -l\r", 6);
	ck_assert_int_eq(feed(&e, "", 0, out, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_escape_quit)
{
	struct term_escape e = { 0 };
	char out[16];
	size_t n;

	ck_assert_int_eq(feed(&e, "ab\001xcd", 6, out, &n), 1);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "ab", 2);
}
END_TEST

START_TEST(test_escape_double)
{
	struct term_escape e = { 0 };
	char out[16];
	size_t n;

	ck_assert_int_eq(feed(&e, "\001\001z", 3, out, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "\001z", 2);
	/* The escape is over: a following x is just an x. */
	ck_assert_int_eq(feed(&e, "x", 1, out, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], 'x');
}
END_TEST

START_TEST(test_escape_other_key)
{
	struct term_escape e = { 0 };
	char out[16];
	size_t n;

	ck_assert_int_eq(feed(&e, "\001c\001X", 4, out, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(out, "\001c\001X", 4);
}
END_TEST

START_TEST(test_escape_split)
{
	struct term_escape e = { 0 };
	char out[16];
	size_t n;

	/* An escape at the end of a read waits for the next one. */
	ck_assert_int_eq(feed(&e, "a\001", 2, out, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], 'a');
	/* Then the next byte needs room for two: n + 1. */
	ck_assert_int_eq(feed(&e, "q", 1, out, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "\001q", 2);

	ck_assert_int_eq(feed(&e, "\001", 1, out, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(feed(&e, "x", 1, out, &n), 1);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_escape_help)
{
	struct term_escape e = { 0 };
	char path[300], text[256], out[16];
	int saved = dup(STDERR_FILENO);
	int fd;
	size_t n;

	snprintf(path, sizeof(path), "%s/test_devices_help_%d", TEST_TMPDIR, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	dup2(fd, STDERR_FILENO);
	ck_assert_int_eq(feed(&e, "a\001hb", 4, out, &n), 0);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);

	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "ab", 2);
	slurp(path, text, sizeof(text));
	unlink(path);
	ck_assert_ptr_nonnull(strstr(text, "Ctrl-A x"));
	/* One line. */
	ck_assert_ptr_eq(strchr(text, '\n'), text + strlen(text) - 1);
}
END_TEST

/* ---- the terminal ---- */

/* Opens a pseudo-terminal and makes its slave standard input; returns the
 * slave's descriptor. */
static int pty_as_stdin(int *saved_stdin)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	int slave;

	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	ck_assert_int_ge(slave, 0);
	*saved_stdin = dup(STDIN_FILENO);
	dup2(slave, STDIN_FILENO);
	/* The master stays open for the life of the test process. */
	return slave;
}

static struct termios mode_of(int fd)
{
	struct termios t;

	ck_assert_int_eq(tcgetattr(fd, &t), 0);
	return t;
}

START_TEST(test_term_raw_and_restore)
{
	int saved;
	int slave = pty_as_stdin(&saved);
	struct termios before = mode_of(slave), t;

	ck_assert(before.c_lflag & ICANON);
	ck_assert(term__is_tty());
	ck_assert_int_eq(term__raw_begin(), 0);
	/* A second call keeps the mode saved by the first. */
	ck_assert_int_eq(term__raw_begin(), 0);
	t = mode_of(slave);
	ck_assert(!(t.c_lflag & (ICANON | ECHO | ISIG | IEXTEN)));
	ck_assert(!(t.c_iflag & (ICRNL | IXON)));
	ck_assert(t.c_oflag & OPOST);
	ck_assert_int_eq(t.c_cc[VMIN], 1);

	term__restore();
	t = mode_of(slave);
	ck_assert_uint_eq(t.c_lflag, before.c_lflag);
	ck_assert_uint_eq(t.c_iflag, before.c_iflag);

	/* A second restore changes nothing. */
	t.c_lflag &= ~(tcflag_t)ECHO;
	ck_assert_int_eq(tcsetattr(slave, TCSANOW, &t), 0);
	term__restore();
	ck_assert(!(mode_of(slave).c_lflag & ECHO));

	dup2(saved, STDIN_FILENO);
	close(saved);
	close(slave);
}
END_TEST

START_TEST(test_term_not_a_tty)
{
	int saved = dup(STDIN_FILENO);
	int null = open("/dev/null", O_RDONLY);

	ck_assert_int_ge(null, 0);
	dup2(null, STDIN_FILENO);
	ck_assert(!term__is_tty());
	ck_assert_int_eq(term__raw_begin(), -ENOTTY);
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(null);
}
END_TEST

/* Runs how_to_end in a child whose stdin is a raw pty, and checks the
 * terminal was restored whatever way the child ended; returns its status. */
static int child_leaves_raw_terminal(void (*how_to_end)(void))
{
	int saved;
	int slave = pty_as_stdin(&saved);
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Keep a sanitizer's crash report out of the test log. */
		dup2(null, STDERR_FILENO);
		if (term__raw_begin() != 0)
			_exit(99);
		how_to_end();
		_exit(98);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(mode_of(slave).c_lflag & ICANON);
	ck_assert(mode_of(slave).c_lflag & ECHO);
	dup2(saved, STDIN_FILENO);
	close(saved);
	close(slave);
	return status;
}

static void end_by_exit(void)
{
	exit(0);
}

static void end_by_abort(void)
{
	abort();
}

/* SIGILL sent, not caused: a signal sanitizers leave to its default. */
static void end_by_kill(void)
{
	kill(getpid(), SIGILL);
}

static void end_by_fault(void)
{
	volatile uint8_t *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(97);
	*p = 1;
}

START_TEST(test_term_restored_at_exit)
{
	int status = child_leaves_raw_terminal(end_by_exit);

	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_term_restored_on_abort)
{
	int status = child_leaves_raw_terminal(end_by_abort);

	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
}
END_TEST

START_TEST(test_term_restored_on_kill)
{
	int status = child_leaves_raw_terminal(end_by_kill);

	/* The signal still does what it would have done: kill. */
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGILL);
}
END_TEST

START_TEST(test_term_restored_on_fault)
{
	int status = child_leaves_raw_terminal(end_by_fault);

	/* Killed by SIGSEGV, or under AddressSanitizer by its report: an exit
	 * status, or SIGABRT with ASAN_OPTIONS=abort_on_error=1 (as the
	 * sanitizer suite runs).  Either way the crash went on to the
	 * previous handler. */
	ck_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) < 97 &&
					  WEXITSTATUS(status) != 0));
	if (WIFSIGNALED(status))
		ck_assert(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGABRT);
}
END_TEST

/* ---- the console ---- */

START_TEST(test_console_none)
{
	struct console c;

	ck_assert_int_eq(console__open(&c, "none"), 0);
	ck_assert_int_eq(c.out_fd, -1);
	ck_assert(!c.in_enabled);
	console__write(&c, "dropped", 7);
	console__close(&c);
}
END_TEST

START_TEST(test_console_file)
{
	struct console c;
	char spec[300], text[64];
	int fd;

	make_console_path("file");
	fd = open(console_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(write(fd, "old contents", 12), 12);
	close(fd);

	snprintf(spec, sizeof(spec), "file:%s", console_path);
	ck_assert_int_eq(console__open(&c, spec), 0);
	ck_assert(!c.in_enabled);
	console__write(&c, "hello ", 6);
	console__write(&c, "world\n", 6);
	console__close(&c);
	ck_assert_uint_eq(slurp(console_path, text, sizeof(text)), 12);
	ck_assert_str_eq(text, "hello world\n");
	unlink(console_path);
}
END_TEST

START_TEST(test_console_bad_spec)
{
	struct console c;

	ck_assert_int_eq(console__open(&c, "tty"), -1);
	console__close(&c);
	ck_assert_int_eq(console__open(&c, "file:"), -1);
	console__close(&c);
	ck_assert_int_eq(console__open(&c, "file:/nonexistent-dir/x/console.log"), -1);
	console__close(&c);
	ck_assert_int_eq(console__open(&c, "stdio"), 0);
	ck_assert(c.in_enabled);
	ck_assert_int_eq(c.out_fd, STDOUT_FILENO);
	console__close(&c);
}
END_TEST

#define BIG_OUTPUT (256 * 1024)

static void *write_big(void *arg)
{
	struct console *c = arg;
	static uint8_t buf[BIG_OUTPUT];

	for (size_t i = 0; i < BIG_OUTPUT; i++)
		buf[i] = (uint8_t)(i % 251);
	/* In uneven pieces, from the same writer. */
	for (size_t off = 0; off < BIG_OUTPUT; off += 1000)
		console__write(c, buf + off, BIG_OUTPUT - off < 1000 ? BIG_OUTPUT - off : 1000);
	return NULL;
}

START_TEST(test_console_stdout_nonblocking)
{
	struct console c;
	pthread_t writer;
	int p[2], saved = dup(STDOUT_FILENO);
	static uint8_t got[BIG_OUTPUT];
	size_t have = 0;

	/* A small non-blocking pipe: the writer meets EAGAIN and must wait,
	 * not drop. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_gt(fcntl(p[1], F_SETPIPE_SZ, 4096), 0);
	ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	ck_assert_int_eq(console__open(&c, "stdio"), 0);
	ck_assert_int_eq(pthread_create(&writer, NULL, write_big, &c), 0);
	/* Read nothing until the pipe stays full, so that the writer meets
	 * EAGAIN (its descriptor cannot block) and has to wait. */
	for (int queued = 0, before = -1; queued == 0 || queued != before;) {
		before = queued;
		usleep(10000);
		ck_assert_int_eq(ioctl(p[0], FIONREAD, &queued), 0);
	}
	/* Input does not wait for the stalled output. */
	console__push_input(&c, "i", 1);
	ck_assert_uint_eq(console__read(&c, got, 1), 1);
	ck_assert_uint_eq(got[0], 'i');
	while (have < BIG_OUTPUT) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		ssize_t n;

		/* Output that never comes was dropped. */
		ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
		n = read(p[0], got + have, BIG_OUTPUT - have);

		ck_assert_int_gt(n, 0);
		have += (size_t)n;
	}
	pthread_join(writer, NULL);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(p[0]);
	console__close(&c);
	for (size_t i = 0; i < BIG_OUTPUT; i++)
		ck_assert_uint_eq(got[i], i % 251);
}
END_TEST

START_TEST(test_console_input_order)
{
	struct console c;
	char buf[16];

	ck_assert_int_eq(console__open(&c, "none"), 0);
	ck_assert_uint_eq(console__read(&c, buf, sizeof(buf)), 0);
	console__push_input(&c, "abc", 3);
	ck_assert_uint_eq(console__pending(&c), 3);
	ck_assert_uint_eq(console__read(&c, buf, 2), 2);
	ck_assert_mem_eq(buf, "ab", 2);
	console__push_input(&c, "de", 2);
	ck_assert_uint_eq(console__read(&c, buf, sizeof(buf)), 3);
	ck_assert_mem_eq(buf, "cde", 3);
	ck_assert_uint_eq(console__pending(&c), 0);
	console__close(&c);
}
END_TEST

START_TEST(test_console_input_full)
{
	struct console c;
	static uint8_t in[5000], out[CONSOLE_INPUT_SIZE + 10];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	ck_assert_int_eq(console__open(&c, "none"), 0);
	console__push_input(&c, in, 4000);
	ck_assert_uint_eq(console__read(&c, out, 3000), 3000);
	/* 1000 queued: 3096 more fit, the rest is dropped. */
	console__push_input(&c, in, 5000);
	ck_assert_uint_eq(console__pending(&c), CONSOLE_INPUT_SIZE);
	ck_assert_uint_eq(console__read(&c, out, sizeof(out)), CONSOLE_INPUT_SIZE);
	for (size_t i = 0; i < 1000; i++)
		ck_assert_uint_eq(out[i], (uint8_t)(3000 + i));
	for (size_t i = 0; i < CONSOLE_INPUT_SIZE - 1000; i++)
		ck_assert_uint_eq(out[1000 + i], (uint8_t)i);
	console__close(&c);
}
END_TEST

static void count_call(void *opaque)
{
	(*(int *)opaque)++;
}

START_TEST(test_console_listeners)
{
	struct console c;
	static uint8_t fill[CONSOLE_INPUT_SIZE];
	int a = 0, b = 0, spare[CONSOLE_MAX_LISTENERS];

	ck_assert_int_eq(console__open(&c, "none"), 0);
	ck_assert_int_eq(console__add_listener(&c, count_call, &a), 0);
	ck_assert_int_eq(console__add_listener(&c, count_call, &b), 0);
	console__push_input(&c, "k", 1);
	ck_assert_int_eq(a, 1);
	ck_assert_int_eq(b, 1);
	/* Nothing queued, nobody told. */
	console__push_input(&c, "", 0);
	console__push_input(&c, fill, sizeof(fill));
	ck_assert_int_eq(a, 2);
	console__push_input(&c, "z", 1);
	ck_assert_int_eq(a, 2);

	console__remove_listener(&c, count_call, &a);
	ck_assert_uint_eq(console__read(&c, fill, sizeof(fill)), sizeof(fill));
	console__push_input(&c, "k", 1);
	ck_assert_int_eq(a, 2);
	ck_assert_int_eq(b, 3);

	for (int i = 0; i < CONSOLE_MAX_LISTENERS - 1; i++)
		ck_assert_int_eq(console__add_listener(&c, count_call, &spare[i]), 0);
	ck_assert_int_eq(console__add_listener(&c, count_call, &spare[0]), -ENOSPC);
	console__close(&c);
}
END_TEST

/* A source that waits for room: what pvmm's reader of a file stdin does. */
struct wait_pusher {
	struct console *c;
	const uint8_t *buf;
	size_t len;
	size_t pushed;
	atomic_bool done;
	pthread_t thread;
};

static void *wait_pusher_run(void *arg)
{
	struct wait_pusher *w = arg;

	w->pushed = console__push_input_wait(w->c, w->buf, w->len);
	atomic_store(&w->done, true);
	return NULL;
}

static void wait_pusher_start(struct wait_pusher *w, struct console *c,
			      const uint8_t *buf, size_t len)
{
	*w = (struct wait_pusher){ .c = c, .buf = buf, .len = len };
	ck_assert_int_eq(pthread_create(&w->thread, NULL, wait_pusher_run, w), 0);
}

/* Waits (up to 5 s) until want bytes are queued; returns what is queued. */
static size_t wait_pending(struct console *c, size_t want)
{
	for (int i = 0; i < 5000 && console__pending(c) != want; i++)
		usleep(1000);
	return console__pending(c);
}

START_TEST(test_console_input_wait)
{
	enum { LEN = 3 * CONSOLE_INPUT_SIZE + 123, HALF = CONSOLE_INPUT_SIZE / 2 };
	static uint8_t in[LEN], out[LEN];
	struct console c;
	struct wait_pusher w;
	size_t got;
	int told = 0;

	for (size_t i = 0; i < LEN; i++)
		in[i] = (uint8_t)(i % 253);
	ck_assert_int_eq(console__open(&c, "none"), 0);
	ck_assert_int_eq(console__add_listener(&c, count_call, &told), 0);
	/* What fits goes in at once and is announced. */
	ck_assert_uint_eq(console__push_input_wait(&c, in, 10), 10);
	ck_assert_int_eq(told, 1);
	ck_assert_uint_eq(console__read(&c, out, 10), 10);

	wait_pusher_start(&w, &c, in, LEN);
	ck_assert_uint_eq(wait_pending(&c, CONSOLE_INPUT_SIZE), CONSOLE_INPUT_SIZE);
	usleep(20000);
	ck_assert_msg(!atomic_load(&w.done), "the source returned with the queue full");
	/* Room for one byte, or for less than half the queue, is not enough
	 * to wake it: nothing moves. */
	got = console__read(&c, out, HALF - 1);
	ck_assert_uint_eq(got, HALF - 1);
	usleep(20000);
	ck_assert_uint_eq(console__pending(&c), CONSOLE_INPUT_SIZE - (HALF - 1));
	/* Half the queue free: it fills the queue again. */
	got += console__read(&c, out + got, 1);
	ck_assert_uint_eq(wait_pending(&c, CONSOLE_INPUT_SIZE), CONSOLE_INPUT_SIZE);
	while (got < LEN) {
		size_t n = console__read(&c, out + got, 1000);

		if (n == 0) {
			ck_assert_msg(!atomic_load(&w.done) || console__pending(&c) > 0,
				      "input lost: %zu of %d bytes arrived", got, LEN);
			usleep(100);
		}
		got += n;
	}
	pthread_join(w.thread, NULL);
	ck_assert_uint_eq(w.pushed, LEN);
	ck_assert_uint_eq(console__pending(&c), 0);
	/* Every byte, in order. */
	ck_assert_mem_eq(out, in, LEN);
	console__remove_listener(&c, count_call, &told);
	console__close(&c);
}
END_TEST

START_TEST(test_console_stop_input)
{
	static uint8_t in[2 * CONSOLE_INPUT_SIZE];
	struct console c;
	struct wait_pusher w;

	ck_assert_int_eq(console__open(&c, "none"), 0);
	wait_pusher_start(&w, &c, in, sizeof(in));
	ck_assert_uint_eq(wait_pending(&c, CONSOLE_INPUT_SIZE), CONSOLE_INPUT_SIZE);
	/* The VM stops: the waiting source gives up with what it queued. */
	console__stop_input(&c);
	pthread_join(w.thread, NULL);
	ck_assert_uint_eq(w.pushed, CONSOLE_INPUT_SIZE);
	/* Later pushes do not wait, even with room. */
	ck_assert_uint_eq(console__read(&c, in, sizeof(in)), CONSOLE_INPUT_SIZE);
	ck_assert_uint_eq(console__push_input_wait(&c, in, 1), 0);
	ck_assert_uint_eq(console__pending(&c), 0);
	console__close(&c);
}
END_TEST

/* ---- COM1 ---- */

#define COM1(reg) (UART_COM1_BASE + (reg))

START_TEST(test_uart_reset_state)
{
	ck_assert_ptr_nonnull(vm.uart);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
	ck_assert_uint_eq(pio_in(COM1(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	ck_assert_uint_eq(pio_in(COM1(UART_IER)), 0);
	ck_assert_uint_eq(pio_in(COM1(UART_LCR)), 0);
	ck_assert_uint_eq(pio_in(COM1(UART_MCR)), 0);
	/* The ports are taken: a second COM1 is refused and leaves no listener. */
	struct uart *first = vm.uart;
	ck_assert_int_eq(uart__init(&vm), -EBUSY);
	ck_assert_ptr_eq(vm.uart, first);
	ck_assert_int_eq(vm.console.nr_listeners, 1);
}
END_TEST

START_TEST(test_uart_transmit)
{
	char text[64];

	pio_out(COM1(UART_THR), 'H');
	pio_out(COM1(UART_THR), 'i');
	/* With DLAB set, port 0 is the divisor latch, not THR. */
	pio_out(COM1(UART_LCR), UART_LCR_DLAB);
	pio_out(COM1(UART_DLL), '!');
	pio_out(COM1(UART_LCR), 0x03);
	pio_out(COM1(UART_THR), '\n');
	ck_assert_uint_eq(slurp(console_path, text, sizeof(text)), 3);
	ck_assert_str_eq(text, "Hi\n");
}
END_TEST

START_TEST(test_uart_divisor_latch)
{
	pio_out(COM1(UART_LCR), UART_LCR_DLAB | 0x03);
	ck_assert_uint_eq(pio_in(COM1(UART_DLL)), 12);
	ck_assert_uint_eq(pio_in(COM1(UART_DLM)), 0);
	pio_out(COM1(UART_DLL), 0x01);
	pio_out(COM1(UART_DLM), 0x02);
	ck_assert_uint_eq(pio_in(COM1(UART_DLL)), 0x01);
	ck_assert_uint_eq(pio_in(COM1(UART_DLM)), 0x02);
	ck_assert_uint_eq(pio_in(COM1(UART_LCR)), UART_LCR_DLAB | 0x03);
	pio_out(COM1(UART_LCR), 0x03);
	ck_assert_uint_eq(pio_in(COM1(UART_IER)), 0);
	pio_out(COM1(UART_IER), 0xf5);
	ck_assert_uint_eq(pio_in(COM1(UART_IER)), 0x05);
	pio_out(COM1(UART_LCR), UART_LCR_DLAB);
	ck_assert_uint_eq(pio_in(COM1(UART_DLM)), 0x02);
}
END_TEST

START_TEST(test_uart_scratch_and_test_writes)
{
	pio_out(COM1(UART_SCR), 0x5a);
	ck_assert_uint_eq(pio_in(COM1(UART_SCR)), 0x5a);
	pio_out(COM1(UART_LSR), 0x00);
	pio_out(COM1(UART_MSR), 0x00);
	ck_assert_uint_eq(pio_in(COM1(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)), 0xb0);
}
END_TEST

START_TEST(test_uart_fifo_control)
{
	pio_out(COM1(UART_FCR), UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR | UART_FCR_CLEAR_XMIT);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_FIFO | UART_IIR_NO_INT);
	pio_out(COM1(UART_FCR), 0);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
	/* Without FCR.ENABLE the other bits are not taken. */
	pio_out(COM1(UART_FCR), UART_FCR_TRIGGER);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
}
END_TEST

START_TEST(test_uart_thr_empty_interrupt)
{
	pio_out(COM1(UART_IER), UART_IER_THRI);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_THRI);
	/* Reading IIR acknowledged it. */
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
	pio_out(COM1(UART_THR), 'x');
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_THRI);
	pio_out(COM1(UART_THR), 'y');
	pio_out(COM1(UART_IER), 0);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
	/* Enabling it again with THR empty raises it again. */
	pio_out(COM1(UART_IER), UART_IER_THRI);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_THRI);
}
END_TEST

START_TEST(test_uart_receive)
{
	ck_assert(!(pio_in(COM1(UART_LSR)) & UART_LSR_DR));
	console__push_input(&vm.console, "ok", 2);
	ck_assert(pio_in(COM1(UART_LSR)) & UART_LSR_DR);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
	pio_out(COM1(UART_IER), UART_IER_RDI);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RDI);
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'o');
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RDI);
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'k');
	ck_assert(!(pio_in(COM1(UART_LSR)) & UART_LSR_DR));
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
	ck_assert_uint_eq(console__pending(&vm.console), 0);
}
END_TEST

START_TEST(test_uart_receive_waiting_source)
{
	enum { LEN = 10000 };
	static uint8_t in[LEN];
	struct wait_pusher w;
	size_t got = 0;

	for (size_t i = 0; i < LEN; i++)
		in[i] = (uint8_t)(i * 7);
	pio_out(COM1(UART_MCR), UART_MCR_OUT2);
	pio_out(COM1(UART_IER), UART_IER_RDI);
	/* More than the console queue holds, from another thread, read by the
	 * guest through COM1: it gets every byte, in order. */
	wait_pusher_start(&w, &vm.console, in, LEN);
	for (int spins = 0; got < LEN; spins++) {
		ck_assert_int_lt(spins, 5000000);
		if (!(pio_in(COM1(UART_LSR)) & UART_LSR_DR))
			continue;
		ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RDI);
		ck_assert_uint_eq(pio_in(COM1(UART_RBR)), in[got]);
		got++;
	}
	pthread_join(w.thread, NULL);
	ck_assert_uint_eq(w.pushed, LEN);
	ck_assert(!(pio_in(COM1(UART_LSR)) & UART_LSR_DR));
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
}
END_TEST

START_TEST(test_uart_interrupt_priority)
{
	pio_out(COM1(UART_IER), 0x0f);
	/* Loopback without FIFO holds one byte: the second overruns.  Entering
	 * loopback also changed CTS, DSR and DCD: modem status deltas. */
	pio_out(COM1(UART_MCR), UART_MCR_LOOP);
	pio_out(COM1(UART_THR), 'a');
	pio_out(COM1(UART_THR), 'b');
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RLSI);
	ck_assert_uint_eq(pio_in(COM1(UART_LSR)),
			  UART_LSR_DR | UART_LSR_OE | UART_LSR_THRE | UART_LSR_TEMT);
	ck_assert_uint_eq(pio_in(COM1(UART_LSR)), UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RDI);
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'a');
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_THRI);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_MSI);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)), UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_NO_INT);
}
END_TEST

START_TEST(test_uart_loopback)
{
	char text[16];

	/* Linux's probe: loopback with RTS and OUT2 must read CTS and DCD. */
	pio_out(COM1(UART_MCR), UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)) & 0xf0, UART_MSR_DCD | UART_MSR_CTS);
	pio_out(COM1(UART_FCR), UART_FCR_ENABLE);
	pio_out(COM1(UART_THR), 'z');
	ck_assert_uint_eq(slurp(console_path, text, sizeof(text)), 0);
	ck_assert(pio_in(COM1(UART_LSR)) & UART_LSR_DR);
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'z');

	/* Host input waits outside while loopback is on. */
	console__push_input(&vm.console, "q", 1);
	ck_assert(!(pio_in(COM1(UART_LSR)) & UART_LSR_DR));
	pio_out(COM1(UART_MCR), UART_MCR_OUT2);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)) & 0xf0, 0xb0);
	ck_assert(pio_in(COM1(UART_LSR)) & UART_LSR_DR);
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'q');
}
END_TEST

START_TEST(test_uart_loopback_fifo)
{
	pio_out(COM1(UART_FCR), UART_FCR_ENABLE);
	pio_out(COM1(UART_MCR), UART_MCR_LOOP);
	for (int i = 0; i < UART_FIFO_SIZE + 1; i++)
		pio_out(COM1(UART_THR), (uint8_t)('A' + i));
	ck_assert(pio_in(COM1(UART_LSR)) & UART_LSR_OE);
	for (int i = 0; i < UART_FIFO_SIZE; i++)
		ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'A' + i);
	ck_assert_uint_eq(pio_in(COM1(UART_LSR)), UART_LSR_THRE | UART_LSR_TEMT);

	/* FCR can empty the receive FIFO. */
	pio_out(COM1(UART_THR), '1');
	pio_out(COM1(UART_THR), '2');
	pio_out(COM1(UART_FCR), UART_FCR_ENABLE | UART_FCR_CLEAR_RCVR);
	ck_assert(!(pio_in(COM1(UART_LSR)) & UART_LSR_DR));
	/* So does turning the FIFOs off. */
	pio_out(COM1(UART_THR), '3');
	pio_out(COM1(UART_FCR), 0);
	ck_assert(!(pio_in(COM1(UART_LSR)) & UART_LSR_DR));
}
END_TEST

START_TEST(test_uart_modem_status_deltas)
{
	pio_out(COM1(UART_MCR), UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_RTS |
		UART_MCR_OUT1 | UART_MCR_OUT2);
	/* All four inputs stay or come back on: RI rose, which is no delta. */
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)), 0xf0);
	pio_out(COM1(UART_MCR), UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)), 0xb0 | UART_MSR_TERI);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)), 0xb0);
	pio_out(COM1(UART_MCR), UART_MCR_LOOP | UART_MCR_DTR);
	ck_assert_uint_eq(pio_in(COM1(UART_MSR)),
			  UART_MSR_DSR | UART_MSR_DCTS | UART_MSR_DDCD);
}
END_TEST

static uint64_t edge_entry(uint8_t vector)
{
	return vector;   /* fixed, physical, edge, unmasked, destination 0 */
}

START_TEST(test_uart_irq_gating)
{
	ioapic_program(UART_COM1_IRQ, edge_entry(0x34));
	pio_out(COM1(UART_IER), UART_IER_RDI);
	console__push_input(&vm.console, "ab", 2);
	/* Pending, but OUT2 is off: nothing reaches the IOAPIC. */
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RDI);
	ck_assert_uint_eq(last_msi().count, 0);

	pio_out(COM1(UART_MCR), UART_MCR_OUT2);
	ck_assert_uint_eq(last_msi().count, 1);
	ck_assert_uint_eq(last_msi().address, 0xfee00000);
	ck_assert_uint_eq(last_msi().data, 0x4034);
	/* Taking a byte while another waits: a new edge for it. */
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'a');
	ck_assert_uint_eq(last_msi().count, 2);
	/* Taking the last one lowers the line; new input raises it. */
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'b');
	ck_assert_uint_eq(last_msi().count, 2);
	console__push_input(&vm.console, "c", 1);
	ck_assert_uint_eq(last_msi().count, 3);
	ck_assert_uint_eq(pio_in(COM1(UART_RBR)), 'c');

	/* Loopback disconnects the interrupt, as on a PC. */
	pio_out(COM1(UART_MCR), UART_MCR_OUT2 | UART_MCR_LOOP);
	pio_out(COM1(UART_THR), 'd');
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_RDI);
	ck_assert_uint_eq(last_msi().count, 3);
	/* Back out of loopback with the byte unread: the line rises. */
	pio_out(COM1(UART_MCR), UART_MCR_OUT2);
	ck_assert_uint_eq(last_msi().count, 4);
}
END_TEST

START_TEST(test_uart_irq_per_transmitted_byte)
{
	ioapic_program(UART_COM1_IRQ, edge_entry(0x35));
	pio_out(COM1(UART_MCR), UART_MCR_OUT2);
	pio_out(COM1(UART_IER), UART_IER_THRI);
	ck_assert_uint_eq(last_msi().count, 1);
	/* A driver that writes THR without reading IIR still sees an
	 * interrupt for each byte, as the transmitter empties each time. */
	pio_out(COM1(UART_THR), 'a');
	ck_assert_uint_eq(last_msi().count, 2);
	pio_out(COM1(UART_THR), 'b');
	ck_assert_uint_eq(last_msi().count, 3);
	ck_assert_uint_eq(last_msi().data, 0x4035);
	/* Acknowledged through IIR: the line drops, no interrupt. */
	ck_assert_uint_eq(pio_in(COM1(UART_IIR)), UART_IIR_THRI);
	ck_assert_uint_eq(last_msi().count, 3);
}
END_TEST

START_TEST(test_uart_wide_access)
{
	uint8_t d[2] = { 0x00, 0xab };

	/* A 16-bit write at 0x3fe: MSR (ignored), then SCR. */
	io__dispatch(&vm.pio, NULL, COM1(UART_MSR), d, 2, true);
	ck_assert_uint_eq(pio_in(COM1(UART_SCR)), 0xab);
	/* A 16-bit read at 0x3ff: SCR, then a port COM1 does not have. */
	io__dispatch(&vm.pio, NULL, COM1(UART_SCR), d, 2, false);
	ck_assert_uint_eq(d[0], 0xab);
	ck_assert_uint_eq(d[1], 0xff);
}
END_TEST

/* ---- port 0xe9 ---- */

START_TEST(test_debugcon)
{
	uint8_t wide[4] = { 'Y', 'Z', 'Z', 'Z' };
	char text[16];

	ck_assert_uint_eq(pio_in(DEBUGCON_PORT), 0xe9);
	pio_out(DEBUGCON_PORT, 'X');
	io__dispatch(&vm.pio, NULL, DEBUGCON_PORT, wide, 4, true);
	io__dispatch(&vm.pio, NULL, DEBUGCON_PORT, wide, 2, false);
	ck_assert_uint_eq(wide[0], 0xe9);
	ck_assert_uint_eq(wide[1], 0);
	ck_assert_uint_eq(slurp(console_path, text, sizeof(text)), 2);
	ck_assert_str_eq(text, "XY");
}
END_TEST

/* ---- the IOAPIC ---- */

START_TEST(test_ioapic_id_version_arbitration)
{
	ck_assert_ptr_nonnull(vm.ioapic);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_ID), IOAPIC_ID << 24);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_VERSION), 0x00170020);
	ioapic_write(IOAPIC_INDEX_ID, 0xffffffff);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_ID), 0x0f000000);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_ARB), 0x0f000000);
	ioapic_write(IOAPIC_INDEX_VERSION, 0);
	ioapic_write(IOAPIC_INDEX_ARB, 0);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_VERSION), 0x00170020);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_ARB), 0x0f000000);
}
END_TEST

START_TEST(test_ioapic_select_and_bad_index)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REG_SELECT, 0x123);
	ck_assert_uint_eq(mmio_read32(IOAPIC_BASE + IOAPIC_REG_SELECT), 0x23);
	ck_assert_uint_eq(ioapic_read(0x03), 0xffffffff);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_REDIR + 2 * IOAPIC_NR_PINS), 0xffffffff);
	ck_assert_uint_eq(ioapic_read(0xff), 0xffffffff);
	ioapic_write(0xff, 0);
	ioapic_write(IOAPIC_INDEX_REDIR + 2 * IOAPIC_NR_PINS, 0);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_REDIR + 2 * (IOAPIC_NR_PINS - 1)),
			  IOAPIC_RTE_MASK);
	/* Offsets that are no register, and the write-only EOI register. */
	ck_assert_uint_eq(mmio_read32(IOAPIC_BASE + 0x20), 0xffffffff);
	ck_assert_uint_eq(mmio_read32(IOAPIC_BASE + IOAPIC_REG_EOI), 0xffffffff);
}
END_TEST

START_TEST(test_ioapic_partial_access)
{
	uint8_t d[8];

	mmio_write32(IOAPIC_BASE + IOAPIC_REG_SELECT, IOAPIC_INDEX_VERSION);
	io__dispatch(&vm.mmio, NULL, IOAPIC_BASE + IOAPIC_REG_WINDOW + 2, d, 1, false);
	ck_assert_uint_eq(d[0], 0x17);
	io__dispatch(&vm.mmio, NULL, IOAPIC_BASE + IOAPIC_REG_WINDOW, d, 8, false);
	ck_assert_mem_eq(d, "\x20\x00\x17\x00\x00\x00\x00\x00", 8);
	/* A byte written to IOREGSEL selects; a byte written to IOWIN is
	 * not a register write. */
	d[0] = IOAPIC_INDEX_REDIR;
	io__dispatch(&vm.mmio, NULL, IOAPIC_BASE + IOAPIC_REG_SELECT, d, 1, true);
	d[0] = 0x42;
	io__dispatch(&vm.mmio, NULL, IOAPIC_BASE + IOAPIC_REG_WINDOW, d, 1, true);
	ck_assert_uint_eq(mmio_read32(IOAPIC_BASE + IOAPIC_REG_WINDOW), IOAPIC_RTE_MASK);
}
END_TEST

START_TEST(test_ioapic_redirection_rw)
{
	for (int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		ck_assert_uint_eq(ioapic_entry(pin), IOAPIC_RTE_MASK);
	/* Only the defined, writable bits stick: not delivery status, not
	 * remote IRR, no reserved bits. */
	ioapic_write(IOAPIC_INDEX_REDIR + 2 * 7, 0xffffffff);
	ioapic_write(IOAPIC_INDEX_REDIR + 2 * 7 + 1, 0xffffffff);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_REDIR + 2 * 7), 0x0001afff);
	ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_REDIR + 2 * 7 + 1), 0xff000000);
	ioapic_program(7, 0x12000000000089a3ull & ~IOAPIC_RTE_MASK);
	ck_assert_uint_eq(ioapic_entry(7), 0x12000000000089a3ull & ~IOAPIC_RTE_MASK);
	ck_assert_uint_eq(ioapic_entry(6), IOAPIC_RTE_MASK);
	ck_assert_uint_eq(ioapic_entry(8), IOAPIC_RTE_MASK);
}
END_TEST

START_TEST(test_ioapic_edge)
{
	ioapic_program(3, (2ull << IOAPIC_RTE_DEST_SHIFT) | 0x41);
	ioapic__set_irq(&vm, 3, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ck_assert_uint_eq(last_msi().address, 0xfee02000);
	ck_assert_uint_eq(last_msi().data, 0x4041);
	/* Still high: no new edge. */
	ioapic__set_irq(&vm, 3, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ioapic__set_irq(&vm, 3, false);
	ck_assert_uint_eq(last_msi().count, 1);
	ioapic__set_irq(&vm, 3, true);
	ck_assert_uint_eq(last_msi().count, 2);
	/* EOIs do not concern edge pins. */
	ioapic__eoi(&vm, 0x41);
	ck_assert_uint_eq(last_msi().count, 2);
	ck_assert(!(ioapic_entry(3) & IOAPIC_RTE_REMOTE_IRR));
}
END_TEST

START_TEST(test_ioapic_edge_masked)
{
	ioapic_program(9, IOAPIC_RTE_MASK | 0x51);
	ioapic__set_irq(&vm, 9, true);
	ck_assert_uint_eq(last_msi().count, 0);
	/* The edge was lost; unmasking a high line does not make one. */
	ioapic_program(9, 0x51);
	ck_assert_uint_eq(last_msi().count, 0);
	ioapic__set_irq(&vm, 9, false);
	ioapic__set_irq(&vm, 9, true);
	ck_assert_uint_eq(last_msi().count, 1);
}
END_TEST

START_TEST(test_ioapic_msi_format)
{
	ioapic_program(11, (0xa5ull << IOAPIC_RTE_DEST_SHIFT) | IOAPIC_RTE_LEVEL |
		       IOAPIC_RTE_DESTMODE | (1ull << IOAPIC_RTE_DELMODE_SHIFT) | 0x99);
	ioapic__set_irq(&vm, 11, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ck_assert_uint_eq(last_msi().address, 0xfeea5004);
	ck_assert_uint_eq(last_msi().data, 0xc199);

	/* NMI delivery, edge, physical. */
	ioapic_program(12, (4ull << IOAPIC_RTE_DELMODE_SHIFT) | (1ull << IOAPIC_RTE_DEST_SHIFT));
	ioapic__set_irq(&vm, 12, true);
	ck_assert_uint_eq(last_msi().address, 0xfee01000);
	ck_assert_uint_eq(last_msi().data, 0x4400);
}
END_TEST

START_TEST(test_ioapic_level)
{
	ioapic_program(5, IOAPIC_RTE_LEVEL | 0x50);
	ioapic__set_irq(&vm, 5, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ck_assert_uint_eq(last_msi().data, 0xc050);
	ck_assert(ioapic_entry(5) & IOAPIC_RTE_REMOTE_IRR);
	/* In service: no more until the EOI. */
	ioapic__set_irq(&vm, 5, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ioapic__eoi(&vm, 0x51);
	ck_assert(ioapic_entry(5) & IOAPIC_RTE_REMOTE_IRR);
	ck_assert_uint_eq(last_msi().count, 1);
	/* EOI while still asserted: it fires again. */
	ioapic__eoi(&vm, 0x50);
	ck_assert_uint_eq(last_msi().count, 2);
	ck_assert(ioapic_entry(5) & IOAPIC_RTE_REMOTE_IRR);
	/* Deasserted, then the EOI through the EOI register: idle. */
	ioapic__set_irq(&vm, 5, false);
	mmio_write32(IOAPIC_BASE + IOAPIC_REG_EOI, 0x50);
	ck_assert(!(ioapic_entry(5) & IOAPIC_RTE_REMOTE_IRR));
	ck_assert_uint_eq(last_msi().count, 2);
	ioapic__set_irq(&vm, 5, true);
	ck_assert_uint_eq(last_msi().count, 3);
}
END_TEST

START_TEST(test_ioapic_level_unmask)
{
	ioapic_program(6, IOAPIC_RTE_MASK | IOAPIC_RTE_LEVEL | 0x60);
	ioapic__set_irq(&vm, 6, true);
	ck_assert_uint_eq(last_msi().count, 0);
	ck_assert(!(ioapic_entry(6) & IOAPIC_RTE_REMOTE_IRR));
	ioapic_program(6, IOAPIC_RTE_LEVEL | 0x60);
	ck_assert_uint_eq(last_msi().count, 1);
	ck_assert(ioapic_entry(6) & IOAPIC_RTE_REMOTE_IRR);
}
END_TEST

START_TEST(test_ioapic_remote_irr_read_only)
{
	/* An idle pin: the guest cannot set remote IRR or delivery status. */
	ioapic_program(2, IOAPIC_RTE_LEVEL | IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_DELIVS | 0x70);
	ck_assert_uint_eq(ioapic_entry(2), IOAPIC_RTE_LEVEL | 0x70);
	/* A busy pin: rewriting the entry keeps remote IRR... */
	ioapic__set_irq(&vm, 2, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ioapic_program(2, IOAPIC_RTE_LEVEL | 0x71);
	ck_assert_uint_eq(ioapic_entry(2), IOAPIC_RTE_LEVEL | IOAPIC_RTE_REMOTE_IRR | 0x71);
	ck_assert_uint_eq(last_msi().count, 1);
	/* ...until the pin turns edge-triggered (how guests unstick it);
	 * back to level while asserted, it fires. */
	ioapic_program(2, IOAPIC_RTE_MASK | 0x71);
	ck_assert_uint_eq(ioapic_entry(2), IOAPIC_RTE_MASK | 0x71);
	ioapic_program(2, IOAPIC_RTE_LEVEL | 0x71);
	ck_assert_uint_eq(last_msi().count, 2);
}
END_TEST

START_TEST(test_ioapic_bad_pins)
{
	for (int pin = 0; pin < IOAPIC_NR_PINS; pin++)
		ioapic_program(pin, 0x30 + pin);
	ioapic__set_irq(&vm, -1, true);
	ioapic__set_irq(&vm, IOAPIC_NR_PINS, true);
	ioapic__set_irq(&vm, 1000, true);
	ck_assert_uint_eq(last_msi().count, 0);
	ioapic__set_irq(&vm, IOAPIC_NR_PINS - 1, true);
	ck_assert_uint_eq(last_msi().count, 1);
	ck_assert_uint_eq(last_msi().data, 0x4000 | (0x30 + IOAPIC_NR_PINS - 1));
}
END_TEST

#define TOGGLES 20000

static void *toggle_pin(void *arg)
{
	int pin = (int)(intptr_t)arg;

	for (int i = 0; i < TOGGLES; i++) {
		ioapic__set_irq(&vm, pin, true);
		ioapic__set_irq(&vm, pin, false);
	}
	return NULL;
}

START_TEST(test_ioapic_threads)
{
	pthread_t t[2];

	ioapic_program(1, 0x31);
	ioapic_program(8, 0x38);
	/* Two device threads and a guest reading registers at once. */
	ck_assert_int_eq(pthread_create(&t[0], NULL, toggle_pin, (void *)1), 0);
	ck_assert_int_eq(pthread_create(&t[1], NULL, toggle_pin, (void *)8), 0);
	for (int i = 0; i < TOGGLES; i++)
		ck_assert_uint_eq(ioapic_read(IOAPIC_INDEX_VERSION), 0x00170020);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	ck_assert_uint_eq(last_msi().count, 2 * TOGGLES);
}
END_TEST

static Suite *devices_suite(void)
{
	Suite *s = suite_create("devices");
	TCase *tc;

	tc = tcase_create("escape");
	tcase_add_test(tc, test_escape_plain);
	tcase_add_test(tc, test_escape_quit);
	tcase_add_test(tc, test_escape_double);
	tcase_add_test(tc, test_escape_other_key);
	tcase_add_test(tc, test_escape_split);
	tcase_add_test(tc, test_escape_help);
	suite_add_tcase(s, tc);

	tc = tcase_create("term");
	tcase_add_test(tc, test_term_raw_and_restore);
	tcase_add_test(tc, test_term_not_a_tty);
	tcase_add_test(tc, test_term_restored_at_exit);
	tcase_add_test(tc, test_term_restored_on_abort);
	tcase_add_test(tc, test_term_restored_on_kill);
	tcase_add_test(tc, test_term_restored_on_fault);
	suite_add_tcase(s, tc);

	tc = tcase_create("console");
	tcase_add_test(tc, test_console_none);
	tcase_add_test(tc, test_console_file);
	tcase_add_test(tc, test_console_bad_spec);
	tcase_add_test(tc, test_console_stdout_nonblocking);
	tcase_add_test(tc, test_console_input_order);
	tcase_add_test(tc, test_console_input_full);
	tcase_add_test(tc, test_console_listeners);
	tcase_add_test(tc, test_console_input_wait);
	tcase_add_test(tc, test_console_stop_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("uart");
	tcase_add_checked_fixture(tc, uart_setup, uart_teardown);
	tcase_add_test(tc, test_uart_reset_state);
	tcase_add_test(tc, test_uart_transmit);
	tcase_add_test(tc, test_uart_divisor_latch);
	tcase_add_test(tc, test_uart_scratch_and_test_writes);
	tcase_add_test(tc, test_uart_fifo_control);
	tcase_add_test(tc, test_uart_thr_empty_interrupt);
	tcase_add_test(tc, test_uart_receive);
	tcase_add_test(tc, test_uart_receive_waiting_source);
	tcase_add_test(tc, test_uart_interrupt_priority);
	tcase_add_test(tc, test_uart_loopback);
	tcase_add_test(tc, test_uart_loopback_fifo);
	tcase_add_test(tc, test_uart_modem_status_deltas);
	tcase_add_test(tc, test_uart_irq_gating);
	tcase_add_test(tc, test_uart_irq_per_transmitted_byte);
	tcase_add_test(tc, test_uart_wide_access);
	tcase_add_test(tc, test_debugcon);
	suite_add_tcase(s, tc);

	tc = tcase_create("ioapic");
	tcase_add_checked_fixture(tc, ioapic_setup, ioapic_teardown);
	tcase_add_test(tc, test_ioapic_id_version_arbitration);
	tcase_add_test(tc, test_ioapic_select_and_bad_index);
	tcase_add_test(tc, test_ioapic_partial_access);
	tcase_add_test(tc, test_ioapic_redirection_rw);
	tcase_add_test(tc, test_ioapic_edge);
	tcase_add_test(tc, test_ioapic_edge_masked);
	tcase_add_test(tc, test_ioapic_msi_format);
	tcase_add_test(tc, test_ioapic_level);
	tcase_add_test(tc, test_ioapic_level_unmask);
	tcase_add_test(tc, test_ioapic_remote_irr_read_only);
	tcase_add_test(tc, test_ioapic_bad_pins);
	tcase_add_test(tc, test_ioapic_threads);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(devices_suite)
