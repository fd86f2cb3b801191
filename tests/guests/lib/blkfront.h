/*
 * A minimal Xen block frontend, as xen-blkfront and Mini-OS's blkfront
 * speak the blkif protocol (<xen/io/blkif.h>): the device's xenstore
 * directory device/vbd/<id>, the backend's keys, a (multi-page) shared
 * ring granted to the backend, an event channel to it, and requests and
 * responses on the ring.  Also a small grant table for the pages given to
 * backends.
 *
 * Guest code is emulated instruction by instruction on this project's
 * machines, so the data helpers work on whole words.
 */
#ifndef GUEST_BLKFRONT_H
#define GUEST_BLKFRONT_H

#include "xenstore.h"

/* The ring macros want these barriers from their includer.  x86 orders
 * stores with stores and loads with loads; only a store followed by a load
 * needs a fence. */
#define xen_mb()  mb()
#define xen_rmb() barrier()
#define xen_wmb() barrier()

#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/xenbus.h>

#define BLKFRONT_MAX_RING_ORDER 4       /* 16 pages: what Linux's blkback offers */
#define BLKFRONT_MAX_RING_PAGES (1u << BLKFRONT_MAX_RING_ORDER)
#define BLKFRONT_MAX_DEVS       2
#define SECTOR_SIZE             512u
#define SECTORS_PER_PAGE        (PAGE_SIZE / SECTOR_SIZE)
/* Segments one indirect page describes. */
#define SEGS_PER_INDIRECT_PAGE  (PAGE_SIZE / sizeof(struct blkif_request_segment))

/*
 * Grants: entries of a version 1 table whose frames are mapped into the
 * image's memory.  gnt_init() maps nr_frames frames (at most GNT_MAX_FRAMES)
 * and maps shared_info if needed; 0 or the failing hypercall's result.
 */
#define GNT_MAX_FRAMES 32
long gnt_init(unsigned int nr_frames);
/* Grants domid access to page (read-only when readonly); the reference, or
 * 0 when the table is full. */
grant_ref_t gnt_grant(domid_t domid, const void *page, bool readonly);
/* A reference inside the table whose entry grants nothing. */
grant_ref_t gnt_unused_ref(void);
/* References past the mapped table. */
grant_ref_t gnt_limit(void);

struct blkfront {
	unsigned int vdev;              /* <id> in device/vbd/<id> */
	char fe[32];                    /* device/vbd/<id> */
	char be[128];                   /* the backend's directory */
	domid_t be_id;
	/* What the backend offers. */
	uint64_t sectors;
	uint32_t sector_size;
	uint32_t physical_sector_size;
	uint32_t info;                  /* VDISK_* */
	bool flush;                     /* feature-flush-cache */
	bool barrier;                   /* feature-barrier */
	bool discard;                   /* feature-discard */
	uint32_t discard_granularity;
	uint32_t discard_alignment;
	bool discard_secure;
	uint32_t max_indirect;          /* feature-max-indirect-segments, 0 if none */
	bool persistent;                /* feature-persistent */
	unsigned int max_ring_order;    /* max-ring-page-order, 0 if absent */
	/* What the frontend chose. */
	unsigned int ring_order;
	bool fe_persistent;             /* we wrote feature-persistent = 1 */
	blkif_front_ring_t ring;
	grant_ref_t ring_ref[BLKFRONT_MAX_RING_PAGES];
	evtchn_port_t port;
	uint64_t next_id;
};

/* The ids under device/vbd, in ascending numeric order: how many (at most
 * max), or -errno. */
long blkfront_list(unsigned int *vdevs, unsigned int max);

/*
 * Connects to the backend of device/vbd/<vdev> the way xen-blkfront does:
 * waits (xenstore watch) for the backend's InitWait, reads its ring
 * features, grants a ring of 2^min(max-ring-page-order, max_order) pages
 * and allocates an event channel, writes ring-ref (or ring-page-order and
 * ring-ref<i>), event-channel, protocol and, when persistent,
 * feature-persistent = 1 in a transaction, switches to Initialised, waits
 * for the backend's Connected, reads the disk's keys and switches to
 * Connected.  Device slot is 0..BLKFRONT_MAX_DEVS-1 (its ring pages).
 * A persistent frontend promises, as blkif.h asks, to reuse its grants and
 * to grant every data page writable.  Returns 0, or -errno after printing
 * what failed.
 */
long blkfront_connect(struct blkfront *bf, unsigned int slot, unsigned int vdev,
		      unsigned int max_order, bool persistent);

/* The next free request slot (RING_FULL: NULL).  Fill it, then push. */
blkif_request_t *blkfront_next_request(struct blkfront *bf);
/* Publishes the requests taken and notifies the backend if it asked. */
void blkfront_push(struct blkfront *bf);
/* Waits (SCHEDOP_poll on the device's port) until a response is there or
 * Xen system time passes deadline (not 0); takes it into *rsp.  True if it
 * got one. */
bool blkfront_get_response(struct blkfront *bf, struct blkif_response *rsp,
			   uint64_t deadline);
/* Takes a response that is already there, without waiting: false if none. */
bool blkfront_take_response(struct blkfront *bf, struct blkif_response *rsp);
/* Queues a copy of req (an indirect or discard one too: the whole ring
 * entry), waits for its response and returns the status, or INT16_MIN
 * when none came in time or its id or operation did not match. */
int16_t blkfront_submit(struct blkfront *bf, const blkif_request_t *req);

/* Fills a blkif_request for op with nr segments over consecutive sectors
 * starting at sector, one page each: segment i covers all of pages[i]'s
 * sectors (the pages' grant references are in grefs). */
void blkfront_rw_request(const struct blkfront *bf, blkif_request_t *req, uint8_t op,
			 uint64_t sector, const grant_ref_t *grefs, unsigned int nr);

/* Word-wise data helpers.  The test pattern: the 64-bit little-endian word
 * at byte offset off of the disk is pattern_word(off) (off a multiple of 8);
 * tests/integration/blk/make_disk.py computes the same. */
#define PATTERN_MUL 0x9e3779b97f4a7c15ull
#define PATTERN_XOR 0x6b6c62206d6d7670ull
static inline uint64_t pattern_word(uint64_t off)
{
	return off * PATTERN_MUL ^ PATTERN_XOR;
}
/* Fills len bytes (a multiple of 8) at dst with the pattern of the disk
 * bytes starting at disk_off. */
void pattern_fill(void *dst, uint64_t disk_off, size_t len);
/* The byte offset of the first word of len bytes at src that is not the
 * pattern for disk_off, or len when all are. */
size_t pattern_check(const void *src, uint64_t disk_off, size_t len);
/* The same for a repeated 32-bit word. */
void words_fill(void *dst, uint32_t word, size_t len);
size_t words_check(const void *src, uint32_t word, size_t len);

/* The initial contents make_disk.py gives every sector s of an image:
 * "pvmmINIT", s as a little-endian 64-bit number, then 0xa5 bytes. */
#define INIT_FILL 0xa5a5a5a5u
bool init_sector_ok(const void *src, uint64_t sector);

/* Parses key=<decimal> from a space-separated command line: true if found. */
bool cmdline_u64(const char *cmdline, const char *key, uint64_t *value);
/* The value of key=<word> copied into buf: true if found. */
bool cmdline_word(const char *cmdline, const char *key, char *buf, size_t size);

#endif
