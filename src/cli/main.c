/* pvmm: run a Xen PVH guest on KVM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/options.h"
#include "cli/term.h"
#include "util/log.h"
#include "vcpu/vm.h"

struct stdin_source {
	struct vm *vm;
	bool filter_escapes;       /* only a human at a terminal types Ctrl-A x */
	struct term_escape escape;
};

static void on_stdin(int fd, void *opaque)
{
	struct stdin_source *src = opaque;
	uint8_t in[256], out[512];
	size_t out_n = sizeof(out);
	ssize_t n = read(fd, in, sizeof(in));

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* End of input: the guest keeps running, it just hears no more. */
		loop__remove(&src->vm->loop, fd);
		return;
	}
	if (!src->filter_escapes) {
		console__push_input(&src->vm->console, in, (size_t)n);
		return;
	}
	if (term__escape_feed(&src->escape, in, (size_t)n, out, &out_n) == 1) {
		pr_info("Ctrl-A x: stopping the VM");
		vm__stop(src->vm, PVMM_EXIT_STOPPED);
	}
	console__push_input(&src->vm->console, out, out_n);
}

static int run(const struct cli_options *o)
{
	static struct vm vm;
	struct stdin_source src = { .vm = &vm };
	int status = vm__create(&vm, &o->vm);

	if (status == 0 && vm.console.in_enabled) {
		src.filter_escapes = term__is_tty();
		if (src.filter_escapes && term__raw_begin())
			pr_warn("cannot put the terminal in raw mode; Ctrl-A x may not work");
		/* epoll refuses regular files and /dev/null: such a stdin
		 * has nothing interactive to give the guest. */
		int ret = loop__add(&vm.loop, STDIN_FILENO, on_stdin, &src);
		if (ret == -EPERM)
			pr_debug("stdin cannot be polled; the guest gets no console input");
		else if (ret)
			pr_warn("console input is not available: %s", strerror(-ret));
	}
	if (status == 0)
		status = vm__run(&vm);
	vm__destroy(&vm);
	term__restore();
	return status;
}

int main(int argc, char **argv)
{
	struct cli_options o;

	if (cli__parse(argc, argv, &o))
		return PVMM_EXIT_USAGE;
	switch (o.command) {
	case CLI_HELP:
		cli__usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("pvmm %s (Xen ABI %d.%d)\n", PVMM_VERSION, 4, 17);
		return 0;
	case CLI_RUN:
		break;
	}
	log__set_level(o.log_level);
	/* A closed stdout must not kill the VM; the console logs it instead. */
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
