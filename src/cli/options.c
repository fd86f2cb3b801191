#include "cli/options.h"
#include "api/vmconfig.h"
#include "balloon/balloon.h"
#include "net/spec.h"
#include "xen/control.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* The largest --config file read. */
#define CLI_MAX_CONFIG (1 << 20)

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

void cli__usage(FILE *to)
{
	fputs("Usage: pvmm run IMAGE [options]\n"
	      "       pvmm run --config FILE [options]\n"
	      "       pvmm ctl SOCKET COMMAND [ARGS] [--json]\n"
	      "       pvmm --help | --version\n"
	      "\n"
	      "Runs IMAGE, a Xen PVH kernel (ELF), on KVM with Xen paravirtual interfaces.\n"
	      "An IMAGE that is not ELF is a disk image: GRUB's PVH image (package\n"
	      "grub-xen-host) boots from it, the guest's first disk.\n"
	      "\n"
	      "Options for run:\n"
	      "  -m, --memory SIZE       guest RAM, e.g. 512M or 2G (default 256M; a bare number is MiB)\n"
	      "      --cpus N            vCPUs, 1 to " STRINGIFY(PVMM_MAX_VCPUS) " (default 1); vCPU 0 boots,\n"
	      "                          the guest brings up the others (VCPUOP_initialise/up)\n"
	      "      --cmdline STR       kernel command line\n"
	      "      --initrd FILE       initial ramdisk, the first PVH module\n"
	      "      --disk PATH[,readonly][,id=N][,direct]\n"
	      "                          a raw disk image or block device (repeatable): the guest's\n"
	      "                          xvda, xvdb...; id= sets the Xen device number, direct\n"
	      "                          bypasses the host page cache\n"
	      "      --net [KIND][,OPTS]\n"
	      "                          a network interface (repeatable, up to " STRINGIFY(PVMM_MAX_NETS) "): vif 0, 1...\n"
	      "                          KIND: user (the default: DHCP, DNS, NAT, no privileges;\n"
	      "                          hostfwd=[tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT),\n"
	      "                          tap=NAME, tap,fd=N, socket,listen=PATH or\n"
	      "                          socket,connect=PATH (a link to another pvmm); mac=MAC\n"
	      "      --console KIND      stdio (default), file:PATH or none\n"
	      "      --log-level LEVEL   error, warn (default), info or debug\n"
	      "      --shutdown-timeout S  on SIGTERM/SIGINT, seconds the guest gets to power off\n"
	      "                          after control/shutdown is written (default 30; 0: stop at once)\n"
	      "      --balloon-target SIZE  memory/target at boot: the memory the guest's balloon\n"
	      "                          driver keeps (default: all of --memory)\n"
	      "      --api-socket PATH   serve the management API (REST, Cloud Hypervisor's /api/v1\n"
	      "                          shape) on a Unix socket; fd=N takes a listening socket\n"
	      "      --config FILE       the VM's settings as JSON (vm.info's \"config\"); options\n"
	      "                          on the command line override it\n"
	      "\n"
	      "pvmm ctl SOCKET COMMAND drives a running pvmm through its --api-socket:\n"
	      "  ping, info, pause, resume, shutdown, reboot, power-button, balloon SIZE;\n"
	      "  --json prints the API's JSON.\n"
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

/* A decimal number from min to max; 0 or -1. */
static int parse_uint(const char *arg, unsigned long min, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)arg[0]))
		return -1;
	errno = 0;
	n = strtoul(arg, &end, 10);
	if (*end || errno || n < min || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* The paths of the --disk options, without their ",..." suffixes. */
static char disk_paths[PVMM_MAX_DISKS][PATH_MAX];

/* PATH[,readonly][,id=N][,direct]; 0 or -1 after saying why. */
static int parse_disk(const char *arg, struct vm_config *vm)
{
	const char *comma = strchr(arg, ',');
	size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
	struct vm_disk *d = &vm->disk[vm->nr_disks];

	if (vm->nr_disks == PVMM_MAX_DISKS) {
		fprintf(stderr, "pvmm: --disk: at most %d disks\n", PVMM_MAX_DISKS);
		return -1;
	}
	if (len == 0 || len >= PATH_MAX) {
		fprintf(stderr, "pvmm: --disk: '%s' does not start with a file name\n", arg);
		return -1;
	}
	*d = (struct vm_disk){ .path = disk_paths[vm->nr_disks], .devid = -1 };
	memcpy(disk_paths[vm->nr_disks], arg, len);
	disk_paths[vm->nr_disks][len] = '\0';
	while (comma) {
		const char *opt = comma + 1;
		unsigned id;

		comma = strchr(opt, ',');
		len = comma ? (size_t)(comma - opt) : strlen(opt);
		if (len == 8 && !strncmp(opt, "readonly", len)) {
			d->readonly = true;
		} else if (len == 6 && !strncmp(opt, "direct", len)) {
			d->direct = true;
		} else if (len > 3 && !strncmp(opt, "id=", 3)) {
			char num[16] = "";

			if (len - 3 < sizeof(num))
				memcpy(num, opt + 3, len - 3);
			if (parse_uint(num, 0, INT32_MAX, &id)) {
				fprintf(stderr, "pvmm: --disk: in '%s', id must be a number from 0 to %d\n",
					arg, INT32_MAX);
				return -1;
			}
			d->devid = id;
		} else {
			fprintf(stderr, "pvmm: --disk: unknown option '%.*s' in '%s' "
				"(options: readonly, id=N, direct)\n", (int)len, opt, arg);
			return -1;
		}
	}
	vm->nr_disks++;
	return 0;
}

/* A --net value (net/spec.h); 0 or -1 after saying why. */
static int parse_net(const char *arg, struct vm_config *vm)
{
	char err[512];

	if (vm->nr_nets == PVMM_MAX_NETS) {
		fprintf(stderr, "pvmm: --net: at most %d interfaces\n", PVMM_MAX_NETS);
		return -1;
	}
	if (net__parse_spec(arg, &vm->net[vm->nr_nets], err, sizeof(err))) {
		fprintf(stderr, "pvmm: --net: %s\n", err);
		return -1;
	}
	vm->nr_nets++;
	return 0;
}

/* PATH (a socket pvmm creates), path=PATH or fd=N; 0 or -1 after saying why. */
static int check_api_socket(const char *arg)
{
	unsigned fd;

	if (!strncmp(arg, "fd=", 3)) {
		if (parse_uint(arg + 3, 0, INT32_MAX, &fd)) {
			fprintf(stderr, "pvmm: --api-socket: '%s' does not name a file descriptor\n", arg);
			return -1;
		}
		return 0;
	}
	if (!strncmp(arg, "path=", 5))
		arg += 5;
	if (!*arg || strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "pvmm: --api-socket: '%s' must be a path of 1 to %zu bytes\n", arg,
			sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	return 0;
}

static int parse_run_option(int opt, const char *arg, struct cli_options *o)
{
	unsigned n;

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
	case 'T':
		if (parse_uint(arg, 0, 3600, &o->vm.shutdown_timeout)) {
			fprintf(stderr, "pvmm: --shutdown-timeout: '%s' is not a number of seconds from 0 to 3600\n", arg);
			return -1;
		}
		return 0;
	case 'p':
		if (parse_uint(arg, 1, PVMM_MAX_VCPUS, &n)) {
			fprintf(stderr, "pvmm: --cpus: '%s' is not a number from 1 to %d\n",
				arg, PVMM_MAX_VCPUS);
			return -1;
		}
		o->vm.nr_cpus = (int)n;
		return 0;
	case 'D':
		return parse_disk(arg, &o->vm);
	case 'N':
		return parse_net(arg, &o->vm);
	case 'B':
		if (cli__parse_size(arg, &o->vm.balloon_target) ||
		    o->vm.balloon_target < BALLOON_MIN_TARGET || o->vm.balloon_target % 4096) {
			fprintf(stderr, "pvmm: --balloon-target: '%s' is not a size of at least 4M, "
				"a multiple of 4K\n", arg);
			return -1;
		}
		return 0;
	case 'A':
		return check_api_socket(arg) ? -1 : (o->vm.api_socket = arg, 0);
	case 'F':
		return 0;   /* read before the other options */
	case 'l':
		if (log__parse_level(arg, &o->log_level)) {
			fprintf(stderr, "pvmm: --log-level: '%s' is not error, warn, info or debug\n", arg);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* Reads --config FILE onto o's defaults; 0, or -1 after saying why. */
static int load_config(const char *path, struct cli_options *o)
{
	char err[512];
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;
	json_object *doc;

	o->error_status = PVMM_EXIT_BAD_INPUT;
	if (!f) {
		fprintf(stderr, "pvmm: --config: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	text = malloc(CLI_MAX_CONFIG + 1);
	if (text)
		len = fread(text, 1, CLI_MAX_CONFIG + 1, f);
	fclose(f);
	if (!text || len > CLI_MAX_CONFIG) {
		fprintf(stderr, "pvmm: --config: '%s' is larger than %d bytes\n", path, CLI_MAX_CONFIG);
		free(text);
		return -1;
	}
	doc = vmconfig__parse_json(text, len, err, sizeof(err));
	free(text);
	if (!doc || (o->config = doc, vmconfig__apply(doc, &o->vm, &o->log_level, err, sizeof(err)))) {
		fprintf(stderr, "pvmm: --config %s: %s\n", path, err);
		return -1;
	}
	o->error_status = PVMM_EXIT_USAGE;
	return 0;
}

static int parse_run(int argc, char **argv, struct cli_options *o)
{
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'p' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "disk", required_argument, NULL, 'D' },
		{ "net", required_argument, NULL, 'N' },
		{ "console", required_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "shutdown-timeout", required_argument, NULL, 'T' },
		{ "balloon-target", required_argument, NULL, 'B' },
		{ "api-socket", required_argument, NULL, 'A' },
		{ "config", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	uint64_t balloon;
	int opt;

	/* The file first, so that the command line overrides it. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:h", longopts, NULL)) != -1)
		if (opt == 'F')
			config = optarg;
	if (config && load_config(config, o))
		return -1;
	/* The file's balloon is what the guest gives back (balloon.size): it
	 * stays that when --memory changes. */
	balloon = o->vm.balloon_target ? o->vm.mem_size - o->vm.balloon_target : 0;
	o->vm.balloon_target = 0;
	optind = 0;
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
	if (optind == argc && !o->vm.kernel) {
		fprintf(stderr, "pvmm: run: no IMAGE given (usage: pvmm run IMAGE [options])\n");
		return -1;
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "pvmm: run: unexpected argument '%s' after IMAGE\n", argv[optind + 1]);
		return -1;
	}
	if (optind < argc)
		o->vm.kernel = argv[optind];
	if (!o->vm.balloon_target && balloon) {
		if (balloon > o->vm.mem_size - BALLOON_MIN_TARGET) {
			fprintf(stderr, "pvmm: --config %s: balloon.size %llu leaves less than 4M of --memory\n",
				config, (unsigned long long)balloon);
			return -1;
		}
		o->vm.balloon_target = o->vm.mem_size - balloon;
	}
	if (o->vm.balloon_target > o->vm.mem_size) {
		fprintf(stderr, "pvmm: --balloon-target: %llu bytes is more than the guest's memory (%llu)\n",
			(unsigned long long)o->vm.balloon_target, (unsigned long long)o->vm.mem_size);
		return -1;
	}
	return 0;
}

int cli__parse(int argc, char **argv, struct cli_options *o)
{
	memset(o, 0, sizeof(*o));
	o->error_status = PVMM_EXIT_USAGE;
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
	if (!strcmp(argv[1], "ctl")) {
		o->command = CLI_CTL;
		o->ctl_argc = argc - 2;
		o->ctl_argv = argv + 2;
		return 0;
	}
	fprintf(stderr, "pvmm: unknown command '%s' (commands: run, ctl; see pvmm --help)\n", argv[1]);
	return -1;
}

void cli__free(struct cli_options *o)
{
	json_object_put(o->config);
	o->config = NULL;
}
