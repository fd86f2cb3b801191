/*
 * The I/O engine of one block queue: moves data between an image and host
 * buffers (the granted guest pages themselves, no bounce copy) with
 * io_uring, so that the requests of a queue overlap; or, where io_uring is
 * not available (kernel.io_uring_disabled, an old kernel, a seccomp
 * filter), with preadv/pwritev on the calling thread.
 *
 * An operation is submitted once and reported done once, through the
 * callback given to blk_io__reap(), with 0 or a negative errno.  A read or
 * write that the kernel completes in part is continued from where it
 * stopped; hitting the end of the file is -EIO.  Everything runs on the
 * queue's own thread.
 */
#ifndef PVMM_BLK_IO_H
#define PVMM_BLK_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <liburing.h>

struct blk_image;

enum blk_io_kind {
	BLK_IO_READ,        /* preadv into iov */
	BLK_IO_WRITE,       /* pwritev from iov */
	BLK_IO_FLUSH,       /* fdatasync */
	BLK_IO_DISCARD,     /* punch [offset, offset + length) */
};

/* Flags of an operation (io_uring's IOSQE_IO_DRAIN and IOSQE_IO_LINK). */
#define BLK_IO_AFTER_ALL   (1u << 0)  /* starts once every earlier operation is done,
					 and later ones wait for it */
#define BLK_IO_THEN        (1u << 1)  /* the next operation runs only if this one
					 succeeds (-ECANCELED otherwise) */

struct blk_io_op {
	enum blk_io_kind kind;
	unsigned flags;
	struct iovec *iov;      /* READ/WRITE; advanced in place past partial transfers */
	int iovcnt;
	uint64_t offset;        /* bytes into the image */
	uint64_t length;        /* DISCARD: bytes; READ/WRITE: filled by submit */
	void *owner;            /* the caller's */
};

typedef void (*blk_io_done_fn)(struct blk_io_op *op, int err, void *opaque);

struct blk_io {
	struct blk_image *img;
	bool uring;             /* false: synchronous on the calling thread */
	struct io_uring ring;
	unsigned in_flight;     /* operations submitted, not yet reported */
	/* Synchronous mode: operations done, waiting to be reported. */
	struct blk_io_op **done;
	int *done_err;
	unsigned nr_done, max_ops;
};

/* Up to max_ops operations may be in flight.  Uses io_uring unless
 * force_sync or it cannot be set up.  0 or -ENOMEM. */
int blk_io__init(struct blk_io *io, struct blk_image *img, unsigned max_ops, bool force_sync);
/* No operation may be in flight. */
void blk_io__destroy(struct blk_io *io);

/* Queues op (done synchronously in synchronous mode); blk_io__kick()
 * starts what was queued. */
void blk_io__submit(struct blk_io *io, struct blk_io_op *op);
void blk_io__kick(struct blk_io *io);

/* Reports finished operations; with wait, blocks until at least one has
 * finished (when any is in flight).  Returns how many were reported. */
unsigned blk_io__reap(struct blk_io *io, bool wait, blk_io_done_fn done, void *opaque);

/* A descriptor that polls readable when blk_io__reap() has work, or -1
 * (synchronous mode has nothing in flight between calls). */
int blk_io__poll_fd(const struct blk_io *io);

#endif
