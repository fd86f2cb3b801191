#include "blk/blkback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blk/image.h"
#include "blk/queue.h"
#include "blk/request.h"
#include "events/evtchn.h"
#include "util/log.h"
#include "vcpu/vm.h"
#include "xenbus/xenbus.h"
#include <xen/io/protocols.h>

#define XVD_MAJOR 202
#define XVD_EXT   (1u << 28)    /* the format for disks past 15 */

/* One --disk. */
struct blk_disk {
	struct vm *vm;
	const struct vm_disk *cfg;
	uint32_t devid;
	char name[24];              /* "xvda", or "" when devid is not an xvd number */
	char label[40];             /* for messages */
	struct blk_image img;
	struct blk_limits lim;
	struct xenbus_device *xb;
	/* While connected. */
	unsigned nr_queues;
	struct blk_queue *queue[BLK_MAX_QUEUES];
	uint32_t port[BLK_MAX_QUEUES];
	int fd[BLK_MAX_QUEUES];
	char queue_name[BLK_MAX_QUEUES][64];
};

struct blkback {
	int nr;
	struct blk_disk disk[PVMM_MAX_DISKS];
};

/* ---- Xen's disk numbering ---- */

uint32_t blk__xvd_devid(unsigned int n)
{
	return n < 16 ? (XVD_MAJOR << 8) | (n << 4) : XVD_EXT | (n << 8);
}

bool blk__xvd_name(uint32_t devid, char *buf, size_t size)
{
	char letters[8], *p = letters + sizeof(letters);
	unsigned disk, part;
	int n;

	if ((devid >> 28) == 1) {
		disk = (devid >> 8) & 0xfffff;
		part = devid & 0xff;
	} else if ((devid >> 8) == XVD_MAJOR) {
		disk = (devid >> 4) & 0xf;
		part = devid & 0xf;
	} else {
		return false;
	}
	/* a..z, aa..zz, aaa...: letters as a bijective base-26 number. */
	*--p = '\0';
	for (unsigned v = disk + 1; v; v = (v - 1) / 26)
		*--p = (char)('a' + (v - 1) % 26);
	n = part ? snprintf(buf, size, "xvd%s%u", p, part) : snprintf(buf, size, "xvd%s", p);
	return n > 0 && (size_t)n < size;
}

/* ---- opening the images ---- */

static int open_disk(struct vm *vm, struct blk_disk *d, int i)
{
	char err[512];

	d->vm = vm;
	d->cfg = &vm->cfg->disk[i];
	d->devid = d->cfg->devid >= 0 ? (uint32_t)d->cfg->devid : blk__xvd_devid((unsigned)i);
	if (!blk__xvd_name(d->devid, d->name, sizeof(d->name)))
		d->name[0] = '\0';
	snprintf(d->label, sizeof(d->label), "vbd %u%s%s%s", d->devid, d->name[0] ? " (" : "",
		 d->name, d->name[0] ? ")" : "");
	if (image__open(&d->img, d->cfg->path, d->cfg->readonly, d->cfg->direct, err, sizeof(err))) {
		pr_err("%s", err);
		return -1;
	}
	d->lim = (struct blk_limits){
		.sectors = d->img.size >> BLK_SECTOR_SHIFT,
		.readonly = d->cfg->readonly,
		.flush = true,
		.discard = !d->cfg->readonly,
		.max_indirect_segments = BLK_MAX_INDIRECT_SEGMENTS,
	};
	pr_info("%s: '%s', %llu sectors%s%s", d->label, d->cfg->path,
		(unsigned long long)d->lim.sectors, d->cfg->readonly ? ", read-only" : "",
		d->cfg->direct ? ", direct I/O" : "");
	return 0;
}

int blk__open(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct blkback *b;

	if (cfg->nr_disks <= 0)
		return 0;
	if (cfg->nr_disks > PVMM_MAX_DISKS) {
		pr_err("--disk: at most %d disks", PVMM_MAX_DISKS);
		return PVMM_EXIT_USAGE;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		pr_err("cannot allocate the disks");
		return PVMM_EXIT_ERROR;
	}
	vm->blk = b;
	for (int i = 0; i < cfg->nr_disks; i++) {
		if (open_disk(vm, &b->disk[i], i))
			return PVMM_EXIT_BAD_INPUT;
		b->nr++;
		for (int j = 0; j < i; j++) {
			if (b->disk[j].devid == b->disk[i].devid) {
				pr_err("--disk: '%s' and '%s' both have device id %u", cfg->disk[j].path,
				       cfg->disk[i].path, b->disk[i].devid);
				return PVMM_EXIT_USAGE;
			}
		}
	}
	return 0;
}

/* ---- xenbus: what the backend offers ---- */

static int probe(struct xenbus_device *dev)
{
	struct blk_disk *d = dev->priv;
	int err = 0;

#define W(key, ...) if (!err) err = xenbus__write_backend(dev, key, __VA_ARGS__)
	W("mode", "%s", d->lim.readonly ? "r" : "w");
	if (d->name[0])
		W("dev", "%s", d->name);
	W("device-type", "disk");
	W("removable", "0");
	W("bootable", "1");
	W("sectors", "%llu", (unsigned long long)d->lim.sectors);
	W("sector-size", "%u", BLK_SECTOR_SIZE);
	W("physical-sector-size", "%u", d->img.physical_block);
	W("info", "%u", d->lim.readonly ? VDISK_READONLY : 0);
	W("feature-flush-cache", "1");
	if (d->lim.discard) {
		W("feature-discard", "1");
		W("discard-granularity", "%u", d->img.discard_granularity);
		W("discard-alignment", "0");
		W("discard-secure", "0");
	}
	W("feature-max-indirect-segments", "%u", d->lim.max_indirect_segments);
	W("feature-persistent", "1");
	W("max-ring-page-order", "%u", BLK_MAX_RING_ORDER);
	W("multi-queue-max-queues", "%u", BLK_MAX_QUEUES);
#undef W
	if (!err)
		err = xenbus__write_frontend(dev, "virtual-device", "%u", d->devid);
	if (!err)
		err = xenbus__write_frontend(dev, "device-type", "disk");
	return err;
}

/* ---- xenbus: what the frontend chose ---- */

/* An optional number: def when absent; min..max, else reported. */
static int read_opt(struct xenbus_device *dev, const char *key, uint32_t def, uint32_t min,
		    uint32_t max, uint32_t *out)
{
	int err = xenbus__read_frontend_u32(dev, key, out);

	if (err == -ENOENT) {
		*out = def;
		return 0;
	}
	if (err)
		return err;
	if (*out < min || *out > max) {
		xenbus__dev_error(dev, -EINVAL, "%s/%s is %u, not %u to %u", dev->frontend_path, key,
				  *out, min, max);
		return -EINVAL;
	}
	return 0;
}

static int read_required(struct xenbus_device *dev, const char *key, uint32_t *out)
{
	int err = xenbus__read_frontend_u32(dev, key, out);

	if (err == -ENOENT)
		xenbus__dev_error(dev, err, "%s/%s is missing", dev->frontend_path, key);
	return err;
}

static int read_protocol(struct xenbus_device *dev, enum blk_abi *abi)
{
	char proto[32];
	int err = xenbus__read_frontend_str(dev, "protocol", proto, sizeof(proto));

	if (err == -ENOENT || (!err && !strcmp(proto, XEN_IO_PROTO_ABI_X86_64))) {
		*abi = BLK_ABI_X86_64;
		return 0;
	}
	if (!err && !strcmp(proto, XEN_IO_PROTO_ABI_X86_32)) {
		*abi = BLK_ABI_X86_32;
		return 0;
	}
	if (!err) {
		err = -EINVAL;
		xenbus__dev_error(dev, err, "%s/protocol is not %s or %s", dev->frontend_path,
				  XEN_IO_PROTO_ABI_X86_64, XEN_IO_PROTO_ABI_X86_32);
	}
	return err;
}

/* The queue thread found the ring's indices corrupt. */
static void on_broken(void *opaque)
{
	struct blk_disk *d = opaque;

	xenbus__dev_error(d->xb, -EIO, "a ring of %s has corrupt indices", d->label);
	xenbus__switch_state(d->xb, XenbusStateClosing);
}

static int connect_queue(struct blk_disk *d, struct xenbus_device *dev, unsigned i,
			 unsigned order, enum blk_abi abi, bool persistent)
{
	grant_ref_t refs[BLK_MAX_RING_PAGES];
	char prefix[24] = "", key[64];
	struct blk_queue_config cfg;
	int err;

	if (d->nr_queues > 1)
		snprintf(prefix, sizeof(prefix), "queue-%u/", i);
	for (unsigned p = 0; p < (1u << order); p++) {
		if (order)
			snprintf(key, sizeof(key), "%sring-ref%u", prefix, p);
		else
			snprintf(key, sizeof(key), "%sring-ref", prefix);
		err = read_required(dev, key, &refs[p]);
		if (err)
			return err;
	}
	snprintf(key, sizeof(key), "%sevent-channel", prefix);
	err = read_required(dev, key, &d->port[i]);
	if (err)
		return err;
	if (evtchn__backend_bind(d->vm, d->port[i], &d->fd[i])) {
		xenbus__dev_error(dev, -EINVAL, "binding event channel %u", d->port[i]);
		return -EINVAL;
	}
	snprintf(d->queue_name[i], sizeof(d->queue_name[i]), "%s queue %u", d->label, i);
	cfg = (struct blk_queue_config){
		.vm = d->vm, .img = &d->img, .lim = d->lim,
		.discard_granularity = d->img.discard_granularity,
		.abi = abi, .persistent = persistent, .name = d->queue_name[i],
		.evtchn_fd = d->fd[i], .guest_port = d->port[i],
		.on_broken = on_broken, .opaque = d,
	};
	err = blk_queue__create(&cfg, refs, 1u << order, &d->queue[i]);
	if (!err) {
		err = blk_queue__start(d->queue[i]);
		if (err) {
			blk_queue__destroy(d->queue[i]);
			d->queue[i] = NULL;
		}
	}
	if (err) {
		evtchn__backend_close(d->vm, d->port[i], d->fd[i]);
		xenbus__dev_error(dev, err, "mapping ring %u", i);
	}
	return err;
}

static void disconnect(struct xenbus_device *dev)
{
	struct blk_disk *d = dev->priv;

	for (unsigned i = 0; i < d->nr_queues; i++) {
		if (!d->queue[i])
			continue;
		blk_queue__destroy(d->queue[i]);
		d->queue[i] = NULL;
		evtchn__backend_close(d->vm, d->port[i], d->fd[i]);
	}
	d->nr_queues = 0;
}

static int connect(struct xenbus_device *dev)
{
	struct blk_disk *d = dev->priv;
	uint32_t queues, order, persistent;
	enum blk_abi abi;
	int err;

	d->xb = dev;
	err = read_protocol(dev, &abi);
	if (!err)
		err = read_opt(dev, "multi-queue-num-queues", 1, 1, BLK_MAX_QUEUES, &queues);
	if (!err)
		err = read_opt(dev, "ring-page-order", 0, 0, BLK_MAX_RING_ORDER, &order);
	if (!err)
		err = read_opt(dev, "feature-persistent", 0, 0, 1, &persistent);
	if (err)
		return err;
	d->nr_queues = queues;
	for (unsigned i = 0; i < queues; i++) {
		err = connect_queue(d, dev, i, order, abi, persistent);
		if (err) {
			disconnect(dev);
			return err;
		}
	}
	pr_info("%s: connected, %u queue%s of %u page%s, %s%s", d->label, queues,
		queues > 1 ? "s" : "", 1u << order, order ? "s" : "",
		abi == BLK_ABI_X86_32 ? XEN_IO_PROTO_ABI_X86_32 : XEN_IO_PROTO_ABI_X86_64,
		persistent ? ", persistent grants" : "");
	return 0;
}

static const struct xenbus_backend_ops vbd_ops = {
	.type = "vbd",
	.probe = probe,
	.connect = connect,
	.disconnect = disconnect,
};

/* ---- the VM's disks ---- */

int blk__start(struct vm *vm)
{
	struct blkback *b = vm->blk;

	for (int i = 0; b && i < b->nr; i++) {
		struct blk_disk *d = &b->disk[i];
		int err = xenbus__add_device(vm, &vbd_ops, d->devid, d, &d->xb);

		if (err) {
			pr_err("%s: cannot create the virtual disk for '%s': %s", d->label,
			       d->cfg->path, strerror(-err));
			return -1;
		}
	}
	return 0;
}

void blk__destroy(struct vm *vm)
{
	struct blkback *b = vm->blk;

	if (!b)
		return;
	for (int i = 0; i < b->nr; i++) {
		xenbus__remove_device(b->disk[i].xb);
		image__close(&b->disk[i].img);
	}
	free(b);
	vm->blk = NULL;
}
