/*
 * Xen's public ABI, from Debian's libxen-dev.  pvmm includes these headers
 * rather than restating any structure; the 32-bit (compat) layouts are
 * derived from the same headers at build time (hypercall/xen_layout.h).
 */
#ifndef PVMM_XEN_XEN_ABI_H
#define PVMM_XEN_XEN_ABI_H

#include <stdint.h>

#include <xen/xen.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/elfnote.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/grant_table.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/hvm/params.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>

#endif
