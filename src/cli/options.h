/* Command-line parsing for pvmm: turns argv into a vm_config or a clear error. */
#ifndef PVMM_CLI_OPTIONS_H
#define PVMM_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "util/log.h"
#include "vcpu/vm.h"

enum cli_command { CLI_RUN, CLI_HELP, CLI_VERSION, CLI_CTL };

struct cli_options {
	enum cli_command command;
	struct vm_config vm;
	enum log_level log_level;
	/* pvmm ctl: its arguments, after "ctl" (src/cli/ctl.c parses them). */
	int ctl_argc;
	char **ctl_argv;
	/* The parsed --config document (a json_object); vm's strings may
	 * point into it.  cli__free() releases it. */
	void *config;
	/* When cli__parse() fails: PVMM_EXIT_USAGE, or PVMM_EXIT_BAD_INPUT
	 * for an unusable --config file. */
	int error_status;
};

#define CLI_DEFAULT_MEMORY (256ULL << 20)
#define CLI_MIN_MEMORY (4ULL << 20)
#define CLI_MAX_MEMORY (1ULL << 40)

/* Returns 0, or -1 after printing a one-line error that says what to do
 * (out->error_status is then the exit status).  Call cli__free() after. */
int cli__parse(int argc, char **argv, struct cli_options *out);
void cli__free(struct cli_options *o);

/* "512M", "2G", "65536K", "1048576" (bytes need a B suffix: "4096B");
 * a bare number is MiB, as other VMMs take it.  0 or -1. */
int cli__parse_size(const char *text, uint64_t *bytes);

void cli__usage(FILE *to);

#endif
