/*
 * The network backend: the VM's --net interfaces as Xen virtual network
 * interfaces (vif), negotiated over xenbus as Xen's netback does
 * (xen/io/netif.h) and served by one backend thread per interface, which
 * runs both rings of every queue (net/queue.h) and the interface's host
 * link (net/link.h: user networking, tap, or socket).
 *
 * The n-th --net is device/vif/<n> of the guest (handle n).  Its MAC is
 * mac= or one derived from the VM's UUID and n (net/spec.h), written to
 * both directories as a toolstack does and logged.
 *
 * Offered in the backend directory before the frontend starts (probe):
 *   feature-rx-copy 1, feature-rx-flip 0 (the receive path copies into
 *   the guest's pages), feature-sg 1, feature-gso-tcpv4 1,
 *   feature-gso-tcpv6 1 (the guest may send GSO frames: pvmm cuts them, or
 *   a tap's host does), feature-no-csum-offload 0 and
 *   feature-ipv6-csum-offload 1 (blank checksums are welcome),
 *   feature-split-event-channels 1, multi-queue-max-queues 4, mac, handle.
 *
 * Read back from the frontend when it is Initialised or Connected:
 *   request-rx-copy (must be 1: pvmm does not flip pages), feature-rx-notify
 *   (without it, waiting frames are retried every 10 ms instead of on the
 *   frontend's notification), feature-sg (else a frame must fit one page),
 *   feature-no-csum-offload, feature-ipv6-csum-offload (whether frames with
 *   blank checksums may go to the guest as such), multi-queue-num-queues
 *   (1 by default), and per queue ([queue-N/] with several) tx-ring-ref,
 *   rx-ring-ref and event-channel, or event-channel-tx and -rx.  The
 *   frontend's feature-gso-tcpv4/v6 are not read: pvmm never sends a guest
 *   GSO frames.  Boolean features are true when not 0, as Linux reads them.
 */
#ifndef PVMM_NET_NETBACK_H
#define PVMM_NET_NETBACK_H

#include <stdint.h>

struct vm;

#define NET_MAX_QUEUES 4

/* An interface's counters (net/queue.h's struct net_stats, read once). */
struct net_counters {
	uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped;
	uint64_t rx_packets, rx_bytes, rx_dropped;
};

/*
 * Opens the host side of every vm->cfg->net[] (tap devices, sockets,
 * user networking with its hostfwd listeners) before the VM is built.
 * Returns 0, or a PVMM_EXIT_* status after printing a one-line error that
 * names the option and what failed.
 */
int net__open(struct vm *vm);

/* Lays the interfaces out in xenstore, follows their frontends and starts
 * their threads; after xenstored__start().  0, or -1 after printing why. */
int net__start(struct vm *vm);

/* Disconnects every interface, stops its thread and closes its link. */
void net__destroy(struct vm *vm);

/* The counters of interface `index`; 0, or -1 when there is none. */
int net__counters(struct vm *vm, unsigned index, struct net_counters *out);

#endif
