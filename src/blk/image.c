#include "blk/image.h"
#include "util/errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk/request.h"


static bool power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* The open failed: say why in the user's terms. */
static int open_error(const char *path, bool readonly, int e, char *err, size_t size)
{
	switch (e) {
	case ENOENT:
		return errbuf__fail(err, size, "disk image '%s' does not exist", path);
	case EISDIR:
		return errbuf__fail(err, size, "disk image '%s' is a directory", path);
	case EACCES:
	case EPERM:
	case EROFS:
		if (!readonly && access(path, R_OK) == 0)
			return errbuf__fail(err, size, "disk image '%s' cannot be opened for writing (%s); "
				    "add ',readonly' to use it read-only", path, strerror(e));
		return errbuf__fail(err, size, "cannot open disk image '%s': %s", path, strerror(e));
	case EINVAL:
		/* open(2) says EINVAL for O_DIRECT where it is not supported. */
		return errbuf__fail(err, size, "disk image '%s': its file system does not support direct I/O "
			    "(drop ',direct')", path);
	default:
		return errbuf__fail(err, size, "cannot open disk image '%s': %s", path, strerror(e));
	}
}

/* Size, alignments and geometry from the open file or device. */
static int probe(struct blk_image *img, const struct stat *st, char *err, size_t size)
{
	struct statx sx;
	uint32_t lbs = BLK_SECTOR_SIZE, pbs = 0;

	if (S_ISBLK(st->st_mode)) {
		int v;

		img->block_device = true;
		if (ioctl(img->fd, BLKGETSIZE64, &img->size) < 0)
			return errbuf__fail(err, size, "disk image '%s': cannot read the device's size: %s",
				    img->path, strerror(errno));
		if (ioctl(img->fd, BLKSSZGET, &v) == 0 && v > 0)
			lbs = (uint32_t)v;
		if (ioctl(img->fd, BLKPBSZGET, &v) == 0 && v > 0)
			pbs = (uint32_t)v;
		img->dio_mem_align = img->dio_offset_align = lbs;
	} else if (S_ISREG(st->st_mode)) {
		img->size = (uint64_t)st->st_size;
		pbs = (uint32_t)st->st_blksize;
		/* Unknown direct-I/O alignment: assume the file system block,
		 * which is never too small. */
		img->dio_mem_align = img->dio_offset_align = pbs;
		if (img->direct && statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
		    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
			img->dio_mem_align = sx.stx_dio_mem_align;
			img->dio_offset_align = sx.stx_dio_offset_align;
		}
	} else if (S_ISDIR(st->st_mode)) {
		return errbuf__fail(err, size, "disk image '%s' is a directory", img->path);
	} else {
		return errbuf__fail(err, size, "disk image '%s' is not a regular file or block device",
			    img->path);
	}
	if (img->size % BLK_SECTOR_SIZE)
		return errbuf__fail(err, size, "disk image '%s' is %llu bytes, not a multiple of %u "
			    "(the sector size)", img->path, (unsigned long long)img->size,
			    BLK_SECTOR_SIZE);
	if (!power_of_two(img->dio_mem_align) || !power_of_two(img->dio_offset_align))
		img->dio_mem_align = img->dio_offset_align = BLK_PAGE_SIZE;
	/* physical-sector-size: a power of two from 512 to a page that
	 * divides the disk, as blkif.h requires of it. */
	if (!power_of_two(pbs) || pbs < BLK_SECTOR_SIZE || pbs > BLK_PAGE_SIZE)
		pbs = BLK_SECTOR_SIZE;
	img->discard_granularity = pbs;
	while (img->size % pbs)
		pbs /= 2;
	img->physical_block = pbs;
	return 0;
}

/* The page-cached twin of an O_DIRECT descriptor: the same file, reopened
 * through /proc so that a rename of path cannot swap it. */
static int open_buffered(struct blk_image *img, int flags)
{
	char proc[64];
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", img->fd);
	fd = open(proc, flags);
	if (fd < 0)
		fd = open(img->path, flags);
	return fd;
}

int image__open(struct blk_image *img, const char *path, bool readonly, bool direct,
		char *err, size_t err_size)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;

	memset(img, 0, sizeof(*img));
	img->path = path;
	img->readonly = readonly;
	img->direct = direct;
	img->fd = img->buffered_fd = -1;
	/* O_NONBLOCK: a FIFO named as a disk must not hang the open. */
	img->fd = open(path, flags | O_NONBLOCK | (direct ? O_DIRECT : 0));
	if (img->fd < 0)
		return open_error(path, readonly, errno, err, err_size);
	if (fstat(img->fd, &st) < 0) {
		errbuf__fail(err, err_size, "cannot stat disk image '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (probe(img, &st, err, err_size))
		goto fail;
	if (fcntl(img->fd, F_SETFL, fcntl(img->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		errbuf__fail(err, err_size, "disk image '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (flock(img->fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			errbuf__fail(err, err_size, "disk image '%s' is in use: another VM (or another --disk) "
			     "has it open%s", path, readonly ? " for writing" : "");
		else
			errbuf__fail(err, err_size, "cannot lock disk image '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (direct) {
		img->buffered_fd = open_buffered(img, flags);
		if (img->buffered_fd < 0) {
			errbuf__fail(err, err_size, "cannot open disk image '%s' a second time: %s", path,
			     strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	image__close(img);
	return -1;
}

void image__close(struct blk_image *img)
{
	if (img->buffered_fd >= 0)
		close(img->buffered_fd);
	/* Closing the last descriptor of the open file drops the lock. */
	if (img->fd >= 0)
		close(img->fd);
	img->fd = img->buffered_fd = -1;
}

int image__fd_for(const struct blk_image *img, const struct iovec *iov, int iovcnt, uint64_t off)
{
	uint64_t mem_mask = img->dio_mem_align - 1, off_mask = img->dio_offset_align - 1;

	if (!img->direct)
		return img->fd;
	if (off & off_mask)
		return img->buffered_fd;
	for (int i = 0; i < iovcnt; i++)
		if (((uintptr_t)iov[i].iov_base & mem_mask) || (iov[i].iov_len & off_mask))
			return img->buffered_fd;
	return img->fd;
}
