/*
 * A disk image: a raw file or a block device on the host that backs one
 * virtual disk.
 *
 * Opening checks everything the backend later relies on, so that a bad
 * image stops pvmm before the guest starts with a message naming the file:
 * it exists, is a regular file or block device, can be opened with the
 * access asked for, is a whole number of 512-byte sectors, and is not in use
 * by another VM.  A writable image is locked exclusively (flock LOCK_EX on
 * its open file description), a read-only one shared, so any number of VMs
 * may share an image read-only but none may write to one another has open.
 *
 * With `direct`, reads and writes bypass the host page cache (O_DIRECT).
 * Direct I/O needs buffers and offsets aligned as the file system or device
 * says (statx STATX_DIOALIGN, the logical block size of a device); a request
 * that is not goes through a second descriptor for the same file, without
 * O_DIRECT; the kernel keeps the two coherent.
 */
#ifndef PVMM_BLK_IMAGE_H
#define PVMM_BLK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct blk_image {
	const char *path;           /* as given, for messages */
	int fd;                     /* O_DIRECT when direct */
	int buffered_fd;            /* direct: the same file, page-cached; else -1 */
	uint64_t size;              /* bytes: a multiple of 512 */
	bool readonly;
	bool direct;
	bool block_device;
	uint32_t dio_mem_align;     /* direct: buffer alignment O_DIRECT needs */
	uint32_t dio_offset_align;  /* direct: offset and length alignment */
	uint32_t physical_block;    /* bytes: physical-sector-size to offer */
	uint32_t discard_granularity; /* bytes: the file system's block, or the device's */
};

/*
 * Opens and locks path.  Returns 0, or -1 after writing a one-line message
 * that names the file and the problem into err.
 */
int image__open(struct blk_image *img, const char *path, bool readonly, bool direct,
		char *err, size_t err_size);
/* Unlocks and closes; the image may be opened again afterwards. */
void image__close(struct blk_image *img);

/* The descriptor for moving iov at byte off: the O_DIRECT one when the
 * buffers, lengths and offset all meet its alignment. */
int image__fd_for(const struct blk_image *img, const struct iovec *iov, int iovcnt, uint64_t off);

#endif
