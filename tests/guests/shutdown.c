/*
 * Graceful shutdown the way Linux's xenbus driver takes it: a watch on
 * control/shutdown; on each event the key is read and, when it names an
 * action, acknowledged by writing "" back, read and write in one
 * transaction (retried on EAGAIN).  "poweroff" then powers off
 * (SHUTDOWN_poweroff, through the runtime once every check passed) and
 * "reboot" reboots (SHUTDOWN_reboot).  Prints "shutdown: ready" once the
 * watch is set and waits for events in SCHEDOP_poll on the store port.
 *
 * With the word "ignore" on the command line it connects and watches the
 * same way but acts on nothing: it prints "shutdown: ignoring <action>"
 * and keeps waiting, so that the host has to stop it.
 */
#include "xenstore.h"

/* Nobody asked within this: a failure. */
#define WAIT_NS         (100ull * 1000000000ull)
#define TX_TRIES        8

static struct xs_msg event;

/* Whether word appears as a space-separated word of the command line. */
static bool cmdline_has(const struct hvm_start_info *si, const char *word)
{
	const char *p = si->cmdline_paddr ? phys_ptr(si->cmdline_paddr, 1) : NULL;
	size_t len = strlen(word);

	for (const char *start = p; p && *p; p++) {
		if ((p == start || p[-1] == ' ') && strnlen(p, len) == len &&
		    memcmp(p, word, len) == 0 && (p[len] == ' ' || p[len] == '\0'))
			return true;
	}
	return false;
}

/*
 * Reads control/shutdown into action ("" when nothing is asked) and, when
 * ack, writes "" back in the same transaction, as Linux's
 * shutdown_handler() does: a request written between the read and the
 * write makes the commit fail with EAGAIN and is read again.  0 or -errno.
 */
static long take_request(char *action, size_t size, bool ack)
{
	for (int i = 0; i < TX_TRIES; i++) {
		uint32_t tx;
		long rc = xs_transaction_start(&tx);

		if (rc)
			return rc;
		rc = xs_read(tx, "control/shutdown", action, size);
		if (rc < 0 || !*action || !ack) {
			xs_transaction_end(tx, false);
			return rc < 0 ? rc : 0;
		}
		rc = xs_write(tx, "control/shutdown", "");
		if (rc) {
			xs_transaction_end(tx, false);
			return rc;
		}
		rc = xs_transaction_end(tx, true);
		if (rc != -XEN_EAGAIN)
			return rc;
	}
	return -XEN_EAGAIN;
}

void guest_main(const struct hvm_start_info *si)
{
	bool ignore = cmdline_has(si, "ignore");
	uint64_t deadline;
	char action[32];

	if (!check_long("xs_init", xs_init(), 0) ||
	    !check_long("XS_WATCH control/shutdown",
			xs_path_op(XS_WATCH, 0, "control/shutdown", "shutdown", true, &event), 0))
		return;
	printf("shutdown: ready%s\n", ignore ? " (ignoring requests)" : "");
	deadline = xen_now() + WAIT_NS;
	for (;;) {
		const char *token;

		if (xs_next_watch(&event, deadline)) {
			check(false, "asked to shut down within 100 s");
			return;
		}
		/* The watch fires once when set, and again for our own "". */
		token = xs_string(&event, XS_WATCH_TOKEN);
		if (!token || strcmp(token, "shutdown"))
			continue;
		if (!check_long("read control/shutdown", take_request(action, sizeof(action), !ignore),
				0))
			return;
		if (!*action)
			continue;
		if (ignore) {
			printf("shutdown: ignoring %s\n", action);
		} else if (!strcmp(action, "poweroff")) {
			printf("shutdown: asked to poweroff\n");
			return;
		} else if (!strcmp(action, "reboot")) {
			printf("shutdown: asked to reboot\n");
			guest_exit(SHUTDOWN_reboot);
		} else {
			printf("shutdown: ignoring unknown request '%s'\n", action);
		}
	}
}
