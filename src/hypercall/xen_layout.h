/*
 * Where each field of a Xen guest structure lies, for both guest widths.
 * The numbers come from compiling Xen's public headers twice at build time,
 * natively and with -m32 (xen_layout_gen.c), so nothing is restated by hand.
 *
 *   uint8_t buf[XSIZE(compat, xen_add_to_physmap)];
 *   uint64_t gpfn = xfield__get(buf, XFIELD(compat, xen_add_to_physmap, gpfn));
 */
#ifndef PVMM_HYPERCALL_XEN_LAYOUT_H
#define PVMM_HYPERCALL_XEN_LAYOUT_H

#include <stdint.h>
#include <string.h>

#include "hypercall/xen_layout32.h"
#include "hypercall/xen_layout64.h"

struct xfield {
	uint16_t off;
	uint16_t size;
};

#define XSIZE(compat, s) ((compat) ? XL32_SIZE_##s : XL64_SIZE_##s)
#define XFIELD(compat, s, f)                                            \
	((compat) ? (struct xfield){ XL32_OFF_##s##__##f, XL32_LEN_##s##__##f } \
		  : (struct xfield){ XL64_OFF_##s##__##f, XL64_LEN_##s##__##f })

/* Little-endian field access for fields of 1, 2, 4 or 8 bytes. */
static inline uint64_t xfield__get(const void *buf, struct xfield f)
{
	uint64_t v = 0;

	memcpy(&v, (const uint8_t *)buf + f.off, f.size <= 8 ? f.size : 8);
	return v;
}

static inline void xfield__set(void *buf, struct xfield f, uint64_t v)
{
	memcpy((uint8_t *)buf + f.off, &v, f.size <= 8 ? f.size : 8);
}

#endif
