#include "cli/term.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_mode;
static atomic_bool raw_active;
static bool hooks_installed;

/* Crashes after which the terminal must not stay raw. */
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
#define NR_FATAL_SIGNALS (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction previous_action[NR_FATAL_SIGNALS];

bool term__is_tty(void)
{
	return isatty(STDIN_FILENO);
}

void term__restore(void)
{
	if (atomic_exchange(&raw_active, false))
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_mode);
}

static void term__fatal_signal(int sig, siginfo_t *info, void *ctx)
{
	int saved_errno = errno;

	(void)ctx;
	term__restore();
	for (size_t i = 0; i < NR_FATAL_SIGNALS; i++) {
		if (fatal_signals[i] == sig)
			sigaction(sig, &previous_action[i], NULL);
	}
	/* A fault recurs when the instruction restarts and now reaches the
	 * previous handler (a sanitizer's, or the default); a signal that was
	 * sent (abort(), kill) must be sent again. */
	if (info->si_code <= 0)
		raise(sig);
	errno = saved_errno;
}

static void term__install_hooks(void)
{
	struct sigaction sa = {
		.sa_sigaction = term__fatal_signal,
		.sa_flags = SA_SIGINFO | SA_ONSTACK,
	};

	atexit(term__restore);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NR_FATAL_SIGNALS; i++)
		sigaction(fatal_signals[i], &sa, &previous_action[i]);
	hooks_installed = true;
}

int term__raw_begin(void)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO))
		return -ENOTTY;
	/* Already raw: keep the mode saved the first time. */
	if (atomic_load(&raw_active))
		return 0;
	if (tcgetattr(STDIN_FILENO, &saved_mode) < 0)
		return -errno;
	raw = saved_mode;
	raw.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
				   ICRNL | IXON);
	raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;

	if (!hooks_installed)
		term__install_hooks();
	atomic_store(&raw_active, true);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
		int err = errno;

		term__restore();
		return -err;
	}
	return 0;
}

static void term__print_help(void)
{
	fputs("pvmm: Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A h shows this help\n",
	      stderr);
}

int term__escape_feed(struct term_escape *e, const uint8_t *in, size_t n,
		      uint8_t *out, size_t *out_n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = in[i];

		if (!e->after_escape) {
			if (c == TERM_ESCAPE_CHAR)
				e->after_escape = true;
			else
				out[o++] = c;
			continue;
		}
		e->after_escape = false;
		if (c == 'x') {
			*out_n = o;
			return 1;
		}
		if (c == 'h') {
			term__print_help();
		} else if (c == TERM_ESCAPE_CHAR) {
			out[o++] = c;
		} else {
			out[o++] = TERM_ESCAPE_CHAR;
			out[o++] = c;
		}
	}
	*out_n = o;
	return 0;
}
