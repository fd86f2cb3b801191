#include "cli/options.h"
#include "xen/control.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

void cli__usage(FILE *to)
{
	fputs("Usage: pvmm run IMAGE [options]\n"
	      "       pvmm --help | --version\n"
	      "\n"
	      "Runs IMAGE, a Xen PVH kernel (ELF), on KVM with Xen paravirtual interfaces.\n"
	      "\n"
	      "Options for run:\n"
	      "  -m, --memory SIZE       guest RAM, e.g. 512M or 2G (default 256M; a bare number is MiB)\n"
	      "      --cmdline STR       kernel command line\n"
	      "      --initrd FILE       initial ramdisk, the first PVH module\n"
	      "      --console KIND      stdio (default), file:PATH or none\n"
	      "      --log-level LEVEL   error, warn (default), info or debug\n"
	      "      --shutdown-timeout S  on SIGTERM/SIGINT, seconds the guest gets to power off\n"
	      "                          after control/shutdown is written (default 30; 0: stop at once)\n"
	      "\n"
	      "On a terminal, Ctrl-A x quits and Ctrl-A h lists the console keys.\n"
	      "Exit status: 0 guest powered off, 10 rebooted, 11 crashed, 12 suspended,\n"
	      "13 watchdog, 14 KVM could not run the guest, 20 stopped by a signal or\n"
	      "Ctrl-A x, 1 pvmm failed, 2 usage error, 3 unusable image or file.\n",
	      to);
}

int cli__parse_size(const char *text, uint64_t *bytes)
{
	char *end;
	unsigned long long n;
	uint64_t unit = 1ULL << 20;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': unit = 1ULL << 20; break;
	case 'B': unit = 1; end++; break;
	case 'K': unit = 1ULL << 10; end++; break;
	case 'M': unit = 1ULL << 20; end++; break;
	case 'G': unit = 1ULL << 30; end++; break;
	case 'T': unit = 1ULL << 40; end++; break;
	default: return -1;
	}
	if (unit > 1 && (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0))
		end += strlen(end);
	if (*end || n > UINT64_MAX / unit)
		return -1;
	*bytes = n * unit;
	return 0;
}

static int parse_run_option(int opt, const char *arg, struct cli_options *o)
{
	switch (opt) {
	case 'm':
		if (cli__parse_size(arg, &o->vm.mem_size)) {
			fprintf(stderr, "pvmm: --memory: '%s' is not a size (use e.g. 512M or 2G)\n", arg);
			return -1;
		}
		if (o->vm.mem_size < CLI_MIN_MEMORY || o->vm.mem_size > CLI_MAX_MEMORY ||
		    o->vm.mem_size % 4096) {
			fprintf(stderr, "pvmm: --memory: %s is out of range (4M to 1T, a multiple of 4K)\n", arg);
			return -1;
		}
		return 0;
	case 'c':
		o->vm.cmdline = arg;
		return 0;
	case 'i':
		o->vm.initrd = arg;
		return 0;
	case 'C':
		if (strcmp(arg, "stdio") && strcmp(arg, "none") &&
		    (strncmp(arg, "file:", 5) || arg[5] == '\0')) {
			fprintf(stderr, "pvmm: --console: '%s' is not stdio, file:PATH or none\n", arg);
			return -1;
		}
		o->vm.console = arg;
		return 0;
	case 'T': {
		char *end;
		unsigned long t;

		errno = 0;
		t = strtoul(arg, &end, 10);
		if (!isdigit((unsigned char)arg[0]) || *end || errno || t > 3600) {
			fprintf(stderr, "pvmm: --shutdown-timeout: '%s' is not a number of seconds from 0 to 3600\n", arg);
			return -1;
		}
		o->vm.shutdown_timeout = (unsigned)t;
		return 0;
	}
	case 'l':
		if (log__parse_level(arg, &o->log_level)) {
			fprintf(stderr, "pvmm: --log-level: '%s' is not error, warn, info or debug\n", arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

static int parse_run(int argc, char **argv, struct cli_options *o)
{
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "console", required_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "shutdown-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			o->command = CLI_HELP;
			return 0;
		}
		if (opt == '?') {
			fprintf(stderr, "pvmm: run: unknown option '%s' (see pvmm --help)\n", argv[optind - 1]);
			return -1;
		}
		if (opt == ':') {
			fprintf(stderr, "pvmm: run: option '%s' needs a value (see pvmm --help)\n", argv[optind - 1]);
			return -1;
		}
		if (parse_run_option(opt, optarg, o))
			return -1;
	}
	if (optind == argc) {
		fprintf(stderr, "pvmm: run: no IMAGE given (usage: pvmm run IMAGE [options])\n");
		return -1;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "pvmm: run: unexpected argument '%s' after IMAGE\n", argv[optind + 1]);
		return -1;
	}
	o->vm.kernel = argv[optind];
	return 0;
}

int cli__parse(int argc, char **argv, struct cli_options *o)
{
	memset(o, 0, sizeof(*o));
	o->vm.mem_size = CLI_DEFAULT_MEMORY;
	o->vm.nr_cpus = 1;
	o->vm.cmdline = "";
	o->vm.console = "stdio";
	o->vm.shutdown_timeout = CONTROL_DEFAULT_SHUTDOWN_TIMEOUT;
	o->log_level = LOG_WARN;

	if (argc < 2) {
		fprintf(stderr, "pvmm: no command given (usage: pvmm run IMAGE; see pvmm --help)\n");
		return -1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		o->command = CLI_HELP;
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		o->command = CLI_VERSION;
		return 0;
	}
	if (!strcmp(argv[1], "run")) {
		o->command = CLI_RUN;
		return parse_run(argc - 1, argv + 1, o);
	}
	fprintf(stderr, "pvmm: unknown command '%s' (commands: run; see pvmm --help)\n", argv[1]);
	return -1;
}
