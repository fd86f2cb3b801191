#include "blk/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/image.h"
#include "util/log.h"

#define PUNCH_HOLE (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)

static uint64_t iov_bytes(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Moves op past n transferred bytes. */
static void advance(struct blk_io_op *op, uint64_t n)
{
	op->offset += n;
	op->length -= n;
	while (n && op->iovcnt) {
		if (n >= op->iov->iov_len) {
			n -= op->iov->iov_len;
			op->iov++;
			op->iovcnt--;
		} else {
			op->iov->iov_base = (uint8_t *)op->iov->iov_base + n;
			op->iov->iov_len -= n;
			n = 0;
		}
	}
}

int blk_io__init(struct blk_io *io, struct blk_image *img, unsigned max_ops, bool force_sync)
{
	unsigned entries = 1;
	int err;

	memset(io, 0, sizeof(*io));
	io->img = img;
	io->max_ops = max_ops;
	while (entries < max_ops)
		entries *= 2;
	if (!force_sync) {
		err = io_uring_queue_init(entries, &io->ring, 0);
		if (!err) {
			io->uring = true;
			return 0;
		}
		pr_warn_once("io_uring is not available (%s): disks use preadv/pwritev on their "
			     "backend threads", strerror(-err));
	}
	io->done = calloc(max_ops, sizeof(io->done[0]));
	io->done_err = calloc(max_ops, sizeof(io->done_err[0]));
	if (!io->done || !io->done_err) {
		blk_io__destroy(io);
		return -ENOMEM;
	}
	return 0;
}

void blk_io__destroy(struct blk_io *io)
{
	if (io->uring)
		io_uring_queue_exit(&io->ring);
	io->uring = false;
	free(io->done);
	free(io->done_err);
	io->done = NULL;
	io->done_err = NULL;
}

int blk_io__poll_fd(const struct blk_io *io)
{
	return io->uring ? io->ring.ring_fd : -1;
}

/* ---- io_uring ---- */

#define BLK_IO_ASYNC_BYTES (64u * 1024)

static void prep(struct blk_io *io, struct blk_io_op *op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	struct blk_image *img = io->img;

	if (!sqe) {
		/* The queue is full of prepared entries: hand them over.  The
		 * ring has room for every operation in flight, so this frees it. */
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
	}
	switch (op->kind) {
	case BLK_IO_READ:
		io_uring_prep_readv(sqe, image__fd_for(img, op->iov, op->iovcnt, op->offset),
				    op->iov, (unsigned)op->iovcnt, op->offset);
		break;
	case BLK_IO_WRITE:
		io_uring_prep_writev(sqe, image__fd_for(img, op->iov, op->iovcnt, op->offset),
				     op->iov, (unsigned)op->iovcnt, op->offset);
		break;
	case BLK_IO_FLUSH:
		io_uring_prep_fsync(sqe, img->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_IO_DISCARD:
		io_uring_prep_fallocate(sqe, img->fd, PUNCH_HOLE, (off_t)op->offset,
					(off_t)op->length);
		break;
	}
	sqe->flags = (uint8_t)(((op->flags & BLK_IO_AFTER_ALL) ? IOSQE_IO_DRAIN : 0) |
			       ((op->flags & BLK_IO_THEN) ? IOSQE_IO_LINK : 0));
	/* A page-cache hit completes inside io_uring_submit(), on this queue's
	 * one thread; big transfers go to io_uring's workers instead, so the
	 * copies of a queue's requests run on every core. */
	if ((op->kind == BLK_IO_READ || op->kind == BLK_IO_WRITE) &&
	    iov_bytes(op->iov, op->iovcnt) >= BLK_IO_ASYNC_BYTES)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, op);
}

/* A completion: 1 when op is finished (with *err), 0 when it goes on. */
static int uring_result(struct blk_io *io, struct blk_io_op *op, int res, int *err)
{
	if (res < 0) {
		*err = res;
		return 1;
	}
	*err = 0;
	if (op->kind != BLK_IO_READ && op->kind != BLK_IO_WRITE)
		return 1;
	if (res == 0 && op->length) {
		*err = -EIO;    /* the end of the file inside the disk: it shrank */
		return 1;
	}
	advance(op, (uint64_t)res);
	if (!op->length)
		return 1;
	/* Partial: the rest, with no ordering flags (they held already). */
	op->flags = 0;
	prep(io, op);
	io_uring_submit(&io->ring);
	return 0;
}

/* ---- synchronously ---- */

static int sync_rw(struct blk_io *io, struct blk_io_op *op)
{
	while (op->length) {
		int fd = image__fd_for(io->img, op->iov, op->iovcnt, op->offset);
		ssize_t n = op->kind == BLK_IO_READ ?
			preadv(fd, op->iov, op->iovcnt, (off_t)op->offset) :
			pwritev(fd, op->iov, op->iovcnt, (off_t)op->offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		advance(op, (uint64_t)n);
	}
	return 0;
}

static int sync_run(struct blk_io *io, struct blk_io_op *op)
{
	switch (op->kind) {
	case BLK_IO_READ:
	case BLK_IO_WRITE:
		return sync_rw(io, op);
	case BLK_IO_FLUSH:
		return fdatasync(io->img->fd) < 0 ? -errno : 0;
	case BLK_IO_DISCARD:
		return fallocate(io->img->fd, PUNCH_HOLE, (off_t)op->offset, (off_t)op->length) < 0 ?
		       -errno : 0;
	}
	return -EINVAL;
}

/* ---- the interface ---- */

void blk_io__submit(struct blk_io *io, struct blk_io_op *op)
{
	if (op->kind == BLK_IO_READ || op->kind == BLK_IO_WRITE)
		op->length = iov_bytes(op->iov, op->iovcnt);
	io->in_flight++;
	if (io->uring) {
		prep(io, op);
		return;
	}
	/* In order, one at a time: every flag holds by construction, but a
	 * failed BLK_IO_THEN cancels its successor as io_uring would. */
	bool cancelled = io->nr_done && (io->done[io->nr_done - 1]->flags & BLK_IO_THEN) &&
			 io->done_err[io->nr_done - 1];
	io->done[io->nr_done] = op;
	io->done_err[io->nr_done] = cancelled ? -ECANCELED : sync_run(io, op);
	io->nr_done++;
}

void blk_io__kick(struct blk_io *io)
{
	if (io->uring)
		io_uring_submit(&io->ring);
}

unsigned blk_io__reap(struct blk_io *io, bool wait, blk_io_done_fn done, void *opaque)
{
	struct io_uring_cqe *cqe;
	unsigned reported = 0;

	if (!io->uring) {
		for (unsigned i = 0; i < io->nr_done; i++) {
			io->in_flight--;
			done(io->done[i], io->done_err[i], opaque);
		}
		reported = io->nr_done;
		io->nr_done = 0;
		return reported;
	}
	if (wait && io->in_flight) {
		int err;

		do
			err = io_uring_wait_cqe(&io->ring, &cqe);
		while (err == -EINTR);
	}
	while (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
		struct blk_io_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res, err;

		io_uring_cqe_seen(&io->ring, cqe);
		if (!uring_result(io, op, res, &err))
			continue;
		io->in_flight--;
		reported++;
		done(op, err, opaque);
	}
	return reported;
}
