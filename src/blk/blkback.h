/*
 * The block backend: the VM's --disk images as Xen virtual block devices
 * (vbd), negotiated over xenbus as Xen's blkback does (xen/io/blkif.h) and
 * served by blk/queue.h.
 *
 * Each disk is device/vbd/<devid> of the guest, devid in Xen's numbering
 * (docs/misc/vbd-interface.txt): the n-th disk is xvda, xvdb, ... =
 * 202 << 8 | n << 4 up to 15, then 1 << 28 | n << 8; `id=` sets it.
 *
 * Offered in the backend directory before the frontend starts (probe):
 *   sectors, sector-size 512, physical-sector-size, info (VDISK_READONLY),
 *   mode r|w, dev (xvda...), device-type disk, removable 0, bootable 1,
 *   feature-flush-cache 1, feature-discard 1 with discard-granularity,
 *   discard-alignment 0 and discard-secure 0 (writable disks),
 *   feature-max-indirect-segments 256, feature-persistent 1,
 *   max-ring-page-order 4, multi-queue-max-queues 4.
 * feature-barrier is not offered: WRITE_BARRIER gets BLKIF_RSP_EOPNOTSUPP.
 *
 * Read back from the frontend when it is Initialised (connect):
 *   protocol (x86_64-abi by default, or x86_32-abi), feature-persistent,
 *   multi-queue-num-queues (1 by default), ring-page-order (0 by default),
 *   and per queue ([queue-N/] with several queues) ring-ref (one page) or
 *   ring-ref0..N, and event-channel.
 */
#ifndef PVMM_BLK_BLKBACK_H
#define PVMM_BLK_BLKBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

#define BLK_MAX_QUEUES 4

/* The device id of the n-th xvd disk (0: xvda = 51712). */
uint32_t blk__xvd_devid(unsigned int n);
/* The name of an xvd device id: "xvda", "xvdb3", "xvdaa"; false when devid
 * is not in an xvd format (it may still be used, unnamed). */
bool blk__xvd_name(uint32_t devid, char *buf, size_t size);

/*
 * Opens and locks every image of vm->cfg->disk[] and checks the device
 * ids.  Returns 0, or a PVMM_EXIT_* status after printing a one-line
 * error that names the file or the option.
 */
int blk__open(struct vm *vm);

/* Lays the disks out in xenstore and follows their frontends; after
 * xenstored__start().  0, or -1 after printing why. */
int blk__start(struct vm *vm);

/* Disconnects every disk, waiting for its I/O, and closes the images. */
void blk__destroy(struct vm *vm);

#endif
