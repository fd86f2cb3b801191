/* The block frontend and its grants: see blkfront.h. */
#include "blkfront.h"

#define CONNECT_TIMEOUT_NS  30000000000ull
#define RESPONSE_TIMEOUT_NS 30000000000ull

/* ---- grants ---- */

#define GRANTS_PER_FRAME (PAGE_SIZE / sizeof(grant_entry_v1_t))

static uint8_t gnt_frames[GNT_MAX_FRAMES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static unsigned int gnt_nr_frames;
static grant_ref_t gnt_next = GNTTAB_NR_RESERVED_ENTRIES;

long gnt_init(unsigned int nr_frames)
{
	struct gnttab_setup_table setup = { .dom = DOMID_SELF, .nr_frames = nr_frames };
	xen_pfn_t gfns[GNT_MAX_FRAMES];
	long rc;

	if (nr_frames == 0 || nr_frames > GNT_MAX_FRAMES)
		return -XEN_EINVAL;
	if (!shared_info && (rc = shared_info_map()) != 0)
		return rc;
	/* As GRUB and Linux's PVH code do: each frame goes where we want it,
	 * then setup_table confirms the table's size. */
	for (unsigned int i = 0; i < nr_frames; i++) {
		struct xen_add_to_physmap xatp = {
			.domid = DOMID_SELF,
			.space = XENMAPSPACE_grant_table,
			.idx = i,
			.gpfn = (uintptr_t)gnt_frames[i] / PAGE_SIZE,
		};

		rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, (uintptr_t)&xatp);
		if (rc) {
			printf("gnttab: add_to_physmap of frame %u: %ld\n", i, rc);
			return rc;
		}
	}
	set_xen_guest_handle(setup.frame_list, gfns);
	rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &setup, 1);
	if (rc == 0 && setup.status != GNTST_okay)
		rc = setup.status;
	for (unsigned int i = 0; rc == 0 && i < nr_frames; i++)
		if (gfns[i] != (uintptr_t)gnt_frames[i] / PAGE_SIZE)
			rc = -XEN_EINVAL;
	if (rc) {
		printf("gnttab: setup_table(%u): %ld\n", nr_frames, rc);
		return rc;
	}
	gnt_nr_frames = nr_frames;
	return 0;
}

static volatile grant_entry_v1_t *gnt_entry(grant_ref_t ref)
{
	return (volatile grant_entry_v1_t *)gnt_frames[ref / GRANTS_PER_FRAME] +
		ref % GRANTS_PER_FRAME;
}

grant_ref_t gnt_grant(domid_t domid, const void *page, bool readonly)
{
	volatile grant_entry_v1_t *e;
	grant_ref_t ref;

	/* One reference stays unused for gnt_unused_ref(). */
	if (gnt_next + 1 >= gnt_limit())
		return 0;
	ref = gnt_next++;
	e = gnt_entry(ref);
	e->domid = domid;
	e->frame = (uint32_t)((uintptr_t)page / PAGE_SIZE);
	barrier();      /* frame and domid before the flags that validate them */
	e->flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
	return ref;
}

grant_ref_t gnt_unused_ref(void)
{
	return gnt_limit() - 1;
}

grant_ref_t gnt_limit(void)
{
	return (grant_ref_t)(gnt_nr_frames * GRANTS_PER_FRAME);
}

/* ---- xenstore helpers ---- */

static struct xs_msg msg;

/* An optional key: def when absent. */
static long read_opt(const char *dir, const char *key, uint64_t def, uint64_t *v)
{
	long rc = xs_read_u64(dir, key, v);

	if (rc == -XEN_ENOENT) {
		*v = def;
		return 0;
	}
	return rc;
}

static long write_u64(uint32_t tx, const char *dir, const char *key, uint64_t v)
{
	char path[192], buf[24];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return xs_write(tx, path, buf);
}

long blkfront_list(unsigned int *vdevs, unsigned int max)
{
	long rc = xs_path_op(XS_DIRECTORY, 0, "device/vbd", NULL, false, &msg);
	unsigned int n = 0;
	const char *s;

	if (rc)
		return rc;
	for (unsigned int i = 0; (s = xs_string(&msg, i)) != NULL; i++) {
		uint64_t v;
		unsigned int j;

		if (!xs_parse_u64(s, &v) || v > UINT32_MAX || n == max)
			continue;
		/* Insertion sort: a handful of devices. */
		for (j = n; j > 0 && vdevs[j - 1] > v; j--)
			vdevs[j] = vdevs[j - 1];
		vdevs[j] = (unsigned int)v;
		n++;
	}
	return n;
}

/* Waits for the backend's state to reach want; a backend that closes
 * instead fails.  The watch on its state node is set. */
static long wait_backend(struct blkfront *bf, uint64_t want, uint64_t deadline)
{
	for (;;) {
		uint64_t state;
		long rc = xs_read_u64(bf->be, "state", &state);

		if (rc && rc != -XEN_ENOENT)
			return rc;
		if (rc == 0 && state >= want && state <= XenbusStateConnected)
			return 0;
		if (rc == 0 && state > XenbusStateConnected) {
			printf("blkfront: backend %s is in state %llu\n", bf->be,
			       (unsigned long long)state);
			return -XEN_EIO;
		}
		rc = xs_next_watch(&msg, deadline);
		if (rc) {
			printf("blkfront: backend %s did not reach state %llu\n", bf->be,
			       (unsigned long long)want);
			return rc;
		}
	}
}

static uint8_t ring_pages[BLKFRONT_MAX_DEVS][BLKFRONT_MAX_RING_PAGES][PAGE_SIZE]
	__attribute__((aligned(PAGE_SIZE)));

/* Grants the ring and allocates the event channel. */
static long setup_ring(struct blkfront *bf, unsigned int slot)
{
	blkif_sring_t *sring = (blkif_sring_t *)ring_pages[slot];
	unsigned int nr = 1u << bf->ring_order;

	SHARED_RING_INIT(sring);
	FRONT_RING_INIT(&bf->ring, sring, PAGE_SIZE << bf->ring_order);
	for (unsigned int i = 0; i < nr; i++) {
		bf->ring_ref[i] = gnt_grant(bf->be_id, ring_pages[slot][i], false);
		if (!bf->ring_ref[i]) {
			printf("blkfront: no grant reference left for the ring\n");
			return -XEN_ENOSPC;
		}
	}
	return evtchn_alloc_unbound(bf->be_id, &bf->port);
}

/* Our half of the handshake, in one transaction as Linux writes it. */
static long publish_ring(struct blkfront *bf)
{
	for (;;) {
		uint32_t tx;
		long rc = xs_transaction_start(&tx);

		if (rc)
			return rc;
		if (bf->ring_order == 0) {
			rc = write_u64(tx, bf->fe, "ring-ref", bf->ring_ref[0]);
		} else {
			rc = write_u64(tx, bf->fe, "ring-page-order", bf->ring_order);
			for (unsigned int i = 0; !rc && i < (1u << bf->ring_order); i++) {
				char key[16];

				snprintf(key, sizeof(key), "ring-ref%u", i);
				rc = write_u64(tx, bf->fe, key, bf->ring_ref[i]);
			}
		}
		if (!rc)
			rc = write_u64(tx, bf->fe, "event-channel", bf->port);
		if (!rc) {
			char path[64];

			snprintf(path, sizeof(path), "%s/protocol", bf->fe);
			rc = xs_write(tx, path, XEN_IO_PROTO_ABI_NATIVE);
		}
		if (!rc && bf->fe_persistent)
			rc = write_u64(tx, bf->fe, "feature-persistent", 1);
		if (rc) {
			xs_transaction_end(tx, false);
			return rc;
		}
		rc = xs_transaction_end(tx, true);
		if (rc != -XEN_EAGAIN)
			return rc;
	}
}

/* The keys the backend writes when it connects. */
static long read_disk_keys(struct blkfront *bf)
{
	uint64_t v;
	long rc;

	if ((rc = xs_read_u64(bf->be, "sectors", &bf->sectors)) != 0 ||
	    (rc = xs_read_u64(bf->be, "info", &v)) != 0) {
		printf("blkfront: backend %s lacks sectors or info\n", bf->be);
		return rc;
	}
	bf->info = (uint32_t)v;
	if ((rc = xs_read_u64(bf->be, "sector-size", &v)) != 0)
		return rc;
	bf->sector_size = (uint32_t)v;
	if ((rc = read_opt(bf->be, "physical-sector-size", bf->sector_size, &v)) != 0)
		return rc;
	bf->physical_sector_size = (uint32_t)v;
	if ((rc = read_opt(bf->be, "feature-flush-cache", 0, &v)) != 0)
		return rc;
	bf->flush = v != 0;
	if ((rc = read_opt(bf->be, "feature-barrier", 0, &v)) != 0)
		return rc;
	bf->barrier = v != 0;
	if ((rc = read_opt(bf->be, "feature-discard", 0, &v)) != 0)
		return rc;
	bf->discard = v != 0;
	if ((rc = read_opt(bf->be, "discard-granularity", 0, &v)) != 0)
		return rc;
	bf->discard_granularity = (uint32_t)v;
	if ((rc = read_opt(bf->be, "discard-alignment", 0, &v)) != 0)
		return rc;
	bf->discard_alignment = (uint32_t)v;
	if ((rc = read_opt(bf->be, "discard-secure", 0, &v)) != 0)
		return rc;
	bf->discard_secure = v != 0;
	if ((rc = read_opt(bf->be, "feature-max-indirect-segments", 0, &v)) != 0)
		return rc;
	bf->max_indirect = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	if ((rc = read_opt(bf->be, "feature-persistent", 0, &v)) != 0)
		return rc;
	bf->persistent = v != 0;
	return 0;
}

long blkfront_connect(struct blkfront *bf, unsigned int slot, unsigned int vdev,
		      unsigned int max_order, bool persistent)
{
	uint64_t deadline = xen_now() + CONNECT_TIMEOUT_NS, v;
	char path[192], token[16];
	long rc;

	memset(bf, 0, sizeof(*bf));
	if (slot >= BLKFRONT_MAX_DEVS)
		return -XEN_EINVAL;
	bf->vdev = vdev;
	bf->next_id = 1;
	bf->fe_persistent = persistent;
	snprintf(bf->fe, sizeof(bf->fe), "device/vbd/%u", vdev);
	rc = xs_find_backend(bf->fe, bf->be, sizeof(bf->be), &bf->be_id);
	if (rc)
		return rc;

	snprintf(path, sizeof(path), "%s/state", bf->be);
	snprintf(token, sizeof(token), "vbd%u", slot);
	xs_watch_discard();
	rc = xs_path_op(XS_WATCH, 0, path, token, true, &msg);
	if (rc) {
		printf("blkfront: XS_WATCH %s: %ld\n", path, rc);
		return rc;
	}
	/* The backend publishes its ring limits before InitWait. */
	rc = wait_backend(bf, XenbusStateInitWait, deadline);
	if (!rc)
		rc = read_opt(bf->be, "max-ring-page-order", 0, &v);
	if (rc)
		goto out;
	bf->max_ring_order = v > 31 ? 31 : (unsigned int)v;
	bf->ring_order = bf->max_ring_order < max_order ? bf->max_ring_order : max_order;
	if (bf->ring_order > BLKFRONT_MAX_RING_ORDER)
		bf->ring_order = BLKFRONT_MAX_RING_ORDER;

	rc = setup_ring(bf, slot);
	if (!rc)
		rc = publish_ring(bf);
	if (!rc)
		rc = write_u64(0, bf->fe, "state", XenbusStateInitialised);
	if (rc) {
		printf("blkfront: publishing the ring of %s failed: %ld\n", bf->fe, rc);
		goto out;
	}
	rc = wait_backend(bf, XenbusStateConnected, deadline);
	if (!rc)
		rc = read_disk_keys(bf);
	if (!rc)
		rc = write_u64(0, bf->fe, "state", XenbusStateConnected);
out:
	xs_path_op(XS_UNWATCH, 0, path, token, true, &msg);
	xs_watch_discard();
	return rc;
}

/* ---- requests ---- */

blkif_request_t *blkfront_next_request(struct blkfront *bf)
{
	if (RING_FULL(&bf->ring))
		return NULL;
	return RING_GET_REQUEST(&bf->ring, bf->ring.req_prod_pvt++);
}

void blkfront_push(struct blkfront *bf)
{
	int notify;

	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&bf->ring, notify);
	if (notify)
		evtchn_send(bf->port);
}

bool blkfront_take_response(struct blkfront *bf, struct blkif_response *rsp)
{
	if (!RING_HAS_UNCONSUMED_RESPONSES(&bf->ring))
		return false;
	xen_rmb();      /* the index before the response it covers */
	*rsp = *RING_GET_RESPONSE(&bf->ring, bf->ring.rsp_cons);
	bf->ring.rsp_cons++;
	return true;
}

bool blkfront_get_response(struct blkfront *bf, struct blkif_response *rsp,
			   uint64_t deadline)
{
	for (;;) {
		int more;

		/* Also sets rsp_event, so that the backend notifies us. */
		RING_FINAL_CHECK_FOR_RESPONSES(&bf->ring, more);
		if (more)
			return blkfront_take_response(bf, rsp);
		sched_poll(bf->port, deadline);
		/* Cleared before the ring is looked at again: an event for a
		 * response we have not seen is never lost.  The clock (dozens
		 * of emulated instructions) only when no event came. */
		if (evtchn_is_pending(bf->port))
			evtchn_clear_pending(bf->port);
		else if (xen_now() >= deadline)
			return false;
	}
}

int16_t blkfront_submit(struct blkfront *bf, const blkif_request_t *req)
{
	const struct blkif_request_indirect *ind = (const void *)req;
	uint8_t op = req->operation == BLKIF_OP_INDIRECT ? ind->indirect_op : req->operation;
	blkif_request_t *slot = blkfront_next_request(bf);
	struct blkif_response rsp;
	uint64_t id = bf->next_id++;

	if (!slot) {
		printf("blkfront: the ring is full\n");
		return INT16_MIN;
	}
	*slot = *req;
	slot->id = id;
	blkfront_push(bf);
	if (!blkfront_get_response(bf, &rsp, xen_now() + RESPONSE_TIMEOUT_NS)) {
		printf("blkfront: no response to request %llu (operation %u)\n",
		       (unsigned long long)id, req->operation);
		return INT16_MIN;
	}
	if (rsp.id != id || rsp.operation != op) {
		printf("blkfront: response id %llu operation %u, expected %llu and %u\n",
		       (unsigned long long)rsp.id, rsp.operation,
		       (unsigned long long)id, op);
		return INT16_MIN;
	}
	return rsp.status;
}

void blkfront_rw_request(const struct blkfront *bf, blkif_request_t *req, uint8_t op,
			 uint64_t sector, const grant_ref_t *grefs, unsigned int nr)
{
	memset(req, 0, sizeof(*req));
	req->operation = op;
	req->nr_segments = (uint8_t)nr;
	req->handle = (blkif_vdev_t)bf->vdev;
	req->sector_number = sector;
	for (unsigned int i = 0; i < nr && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++) {
		req->seg[i].gref = grefs[i];
		req->seg[i].first_sect = 0;
		req->seg[i].last_sect = SECTORS_PER_PAGE - 1;
	}
}

/* ---- data ---- */

void pattern_fill(void *dst, uint64_t disk_off, size_t len)
{
	uint64_t *w = dst, m = disk_off * PATTERN_MUL;

	for (size_t i = 0; i < len / 8; i++, m += 8 * PATTERN_MUL)
		w[i] = m ^ PATTERN_XOR;
}

size_t pattern_check(const void *src, uint64_t disk_off, size_t len)
{
	const uint64_t *w = src;
	uint64_t m = disk_off * PATTERN_MUL;

	for (size_t i = 0; i < len / 8; i++, m += 8 * PATTERN_MUL)
		if (w[i] != (m ^ PATTERN_XOR))
			return i * 8;
	return len;
}

void words_fill(void *dst, uint32_t word, size_t len)
{
	uint32_t *w = dst;

	for (size_t i = 0; i < len / 4; i++)
		w[i] = word;
}

size_t words_check(const void *src, uint32_t word, size_t len)
{
	const uint32_t *w = src;

	for (size_t i = 0; i < len / 4; i++)
		if (w[i] != word)
			return i * 4;
	return len;
}

bool init_sector_ok(const void *src, uint64_t sector)
{
	const uint8_t *b = src;
	uint64_t s = 0;

	if (memcmp(b, "pvmmINIT", 8) != 0)
		return false;
	for (unsigned int i = 0; i < 8; i++)
		s |= (uint64_t)b[8 + i] << (8 * i);
	return s == sector && words_check(b + 16, INIT_FILL, SECTOR_SIZE - 16) ==
		SECTOR_SIZE - 16;
}

/* ---- command line ---- */

/* The value of key=... in cmdline, up to the next space, or NULL. */
static const char *cmdline_find(const char *cmdline, const char *key, size_t *len)
{
	size_t klen = strlen(key);

	for (const char *p = cmdline; p && *p;) {
		while (*p == ' ')
			p++;
		if (strnlen(p, klen) == klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1;

			*len = 0;
			while (v[*len] && v[*len] != ' ')
				(*len)++;
			return v;
		}
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

bool cmdline_word(const char *cmdline, const char *key, char *buf, size_t size)
{
	size_t len;
	const char *v = cmdline ? cmdline_find(cmdline, key, &len) : NULL;

	if (!v || len >= size)
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return true;
}

bool cmdline_u64(const char *cmdline, const char *key, uint64_t *value)
{
	char buf[24];

	return cmdline_word(cmdline, key, buf, sizeof(buf)) && xs_parse_u64(buf, value);
}
