/* pvmm: run a Xen PVH guest on KVM. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/ctl.h"
#include "cli/options.h"
#include "cli/term.h"
#include "util/log.h"
#include "vcpu/vm.h"

struct stdin_source {
	struct vm *vm;
	bool filter_escapes;       /* only a human at a terminal types Ctrl-A x */
	struct term_escape escape;
	bool reader_running;       /* stdin_reader() serves a stdin epoll refused */
	pthread_t reader;
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

/*
 * epoll refuses a stdin it cannot poll: a regular file, /dev/null.  Reading
 * one never waits for a person, so this thread reads it to the end and
 * waits instead for the guest to take each part: a file's bytes are all
 * delivered, however fast it is read.  /dev/null is at its end at once.
 */
static void *stdin_reader(void *opaque)
{
	struct stdin_source *src = opaque;
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			pr_warn("console input: reading stdin: %s", strerror(errno));
		/* At the end the guest keeps running; it just hears no more. */
		if (n <= 0)
			break;
		if (console__push_input_wait(&src->vm->console, buf, (size_t)n) < (size_t)n)
			break;  /* the VM stopped */
	}
	return NULL;
}

static int stdin_reader__start(struct stdin_source *src)
{
	sigset_t all, old;
	int ret;

	/* Signals are for the main loop (vm__run() takes SIGINT and SIGTERM
	 * through a signalfd): a thread that let one through would die of it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&src->reader, NULL, stdin_reader, src);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	src->reader_running = ret == 0;
	return -ret;
}

static void stdin_reader__stop(struct stdin_source *src)
{
	if (!src->reader_running)
		return;
	console__stop_input(&src->vm->console);
	pthread_join(src->reader, NULL);
	src->reader_running = false;
}

static void stdin__connect(struct stdin_source *src)
{
	int ret;

	src->filter_escapes = term__is_tty();
	if (src->filter_escapes && term__raw_begin())
		pr_warn("cannot put the terminal in raw mode; Ctrl-A x may not work");
	ret = loop__add(&src->vm->loop, STDIN_FILENO, on_stdin, src);
	if (ret == -EPERM)
		ret = stdin_reader__start(src);
	if (ret)
		pr_warn("console input is not available: %s", strerror(-ret));
}

static int run(const struct cli_options *o)
{
	static struct vm vm;
	struct stdin_source src = { .vm = &vm };
	int status = vm__create(&vm, &o->vm);

	if (status == 0 && o->vm.api_socket)
		status = api__start(&vm, o->vm.api_socket);
	if (status == 0 && vm.console.in_enabled)
		stdin__connect(&src);
	if (status == 0)
		status = vm__run(&vm);
	/* The reader pushes into devices vm__destroy() frees. */
	stdin_reader__stop(&src);
	api__stop(&vm);
	vm__destroy(&vm);
	term__restore();
	return status;
}

#define GRUB_PVH_IMAGE "/usr/lib/grub-xen/grub-i386-xen_pvh.bin"

/*
 * `pvmm run disk.img`: an IMAGE that is not an ELF file is a disk.  As Xen
 * does with pvgrub, GRUB's PVH image boots as the guest's firmware with the
 * disk as its first drive (xvda), and GRUB's built-in configuration reads
 * the disk's /boot/grub/grub.cfg.  Returns 0 or a PVMM_EXIT_* status.
 */
static int boot_disk_image(struct vm_config *cfg)
{
	unsigned char magic[SELFMAG];
	int fd = open(cfg->kernel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return 0;       /* the loader names the problem */
	n = read(fd, magic, sizeof(magic));
	close(fd);
	if (n < 0 || (n == SELFMAG && !memcmp(magic, ELFMAG, SELFMAG)))
		return 0;
	if (access(GRUB_PVH_IMAGE, R_OK)) {
		pr_err("'%s' is not an ELF kernel, so pvmm would boot it as a disk with GRUB, but "
		       "%s is missing: install the package grub-xen-host", cfg->kernel, GRUB_PVH_IMAGE);
		return PVMM_EXIT_BAD_INPUT;
	}
	if (cfg->nr_disks == PVMM_MAX_DISKS) {
		pr_err("--disk: at most %d disks, counting the disk image '%s'", PVMM_MAX_DISKS,
		       cfg->kernel);
		return PVMM_EXIT_USAGE;
	}
	memmove(&cfg->disk[1], &cfg->disk[0], (size_t)cfg->nr_disks * sizeof(cfg->disk[0]));
	cfg->disk[0] = (struct vm_disk){ .path = cfg->kernel, .devid = -1 };
	cfg->nr_disks++;
	if (!cfg->name)
		cfg->name = cfg->kernel;    /* the guest is the disk, not GRUB */
	cfg->kernel = GRUB_PVH_IMAGE;
	pr_info("'%s' is a disk image: booting it with %s", cfg->disk[0].path, GRUB_PVH_IMAGE);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_options o;
	int status;

	if (cli__parse(argc, argv, &o)) {
		cli__free(&o);
		return o.error_status;
	}
	switch (o.command) {
	case CLI_HELP:
		cli__usage(stdout);
		cli__free(&o);
		return 0;
	case CLI_VERSION:
		printf("pvmm %s (Xen ABI %d.%d)\n", PVMM_VERSION, 4, 17);
		return 0;
	case CLI_CTL:
		return ctl__main(o.ctl_argc, o.ctl_argv);
	case CLI_RUN:
		break;
	}
	log__set_level(o.log_level);
	status = boot_disk_image(&o.vm);
	if (status == 0) {
		/* A closed stdout must not kill the VM; the console logs it instead. */
		signal(SIGPIPE, SIG_IGN);
		status = run(&o);
	}
	cli__free(&o);
	return status;
}
