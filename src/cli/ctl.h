/*
 * pvmm ctl SOCKET COMMAND [ARGS] [--json]: the command-line client of the
 * management API (src/api).  Commands: ping, info, pause, resume,
 * shutdown, reboot, power-button, balloon SIZE, vmm-shutdown.  Output is
 * for people unless --json asks for the API's JSON.
 */
#ifndef PVMM_CLI_CTL_H
#define PVMM_CLI_CTL_H

/* Exit statuses of pvmm ctl. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,    /* no answer, or the API refused (the message says why) */
	CTL_EXIT_USAGE = 2,
};

/* Seconds pvmm ctl waits for the socket to answer. */
#define CTL_TIMEOUT_S 10

/* argv: what follows "ctl".  Returns a ctl_exit. */
int ctl__main(int argc, char **argv);

#endif
