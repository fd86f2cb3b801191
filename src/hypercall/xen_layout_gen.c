/*
 * Build-time generator: prints the size of each Xen guest structure pvmm
 * decodes and the offset and size of each field it uses, for the width this
 * file is compiled for (once natively, once with -m32).
 */
#include <stddef.h>
#include <stdio.h>

#include "xen/xen_abi.h"
#include <xen/io/blkif.h>

#define MEMBER_SIZE(s, m) sizeof(((struct s *)0)->m)

/* S(struct): sizes.  F(struct, name, member): fields, named s__name. */
#define STRUCTS(S)                 \
	S(xen_add_to_physmap)      \
	S(xen_memory_map)          \
	S(xen_memory_reservation)  \
	S(xen_hvm_param)           \
	S(sched_shutdown)          \
	S(sched_poll)              \
	S(sched_remote_shutdown)   \
	S(xen_hvm_pagetable_dying) \
	S(vcpu_register_vcpu_info) \
	S(xen_platform_parameters) \
	S(xen_feature_info)        \
	S(shared_info)             \
	S(vcpu_info)               \
	S(evtchn_alloc_unbound)    \
	S(evtchn_bind_interdomain) \
	S(evtchn_status)           \
	S(vcpu_set_singleshot_timer) \
	S(vcpu_set_periodic_timer) \
	S(vcpu_hvm_context)       \
	S(gnttab_setup_table)      \
	S(gnttab_query_size)       \
	S(gnttab_set_version)      \
	S(gnttab_get_version)      \
	S(gnttab_get_status_frames) \
	S(gnttab_copy)             \
	S(blkif_request)           \
	S(blkif_request_segment)   \
	S(blkif_request_discard)   \
	S(blkif_request_indirect)  \
	S(blkif_response)

#define FIELDS(F)                                          \
	F(vcpu_set_singleshot_timer, timeout_abs_ns, timeout_abs_ns) \
	F(vcpu_set_singleshot_timer, flags, flags)         \
	F(vcpu_set_periodic_timer, period_ns, period_ns)   \
	F(vcpu_hvm_context, cpu_regs, cpu_regs)            \
	F(vcpu_hvm_context, x86_32_efer, cpu_regs.x86_32.efer) \
	F(vcpu_hvm_context, x86_32_cs_base, cpu_regs.x86_32.cs_base) \
	F(vcpu_hvm_context, x86_32_tr_ar, cpu_regs.x86_32.tr_ar) \
	F(vcpu_hvm_context, x86_64_efer, cpu_regs.x86_64.efer) \
	F(xen_add_to_physmap, domid, domid)                \
	F(xen_add_to_physmap, size, size)                  \
	F(xen_add_to_physmap, space, space)                \
	F(xen_add_to_physmap, idx, idx)                    \
	F(xen_add_to_physmap, gpfn, gpfn)                  \
	F(xen_memory_map, nr_entries, nr_entries)          \
	F(xen_memory_map, buffer, buffer)                  \
	F(xen_memory_reservation, extent_start, extent_start) \
	F(xen_memory_reservation, nr_extents, nr_extents) \
	F(xen_memory_reservation, extent_order, extent_order) \
	F(xen_memory_reservation, mem_flags, mem_flags)   \
	F(xen_memory_reservation, domid, domid)           \
	F(xen_hvm_param, domid, domid)                     \
	F(xen_hvm_param, index, index)                     \
	F(xen_hvm_param, value, value)                     \
	F(sched_shutdown, reason, reason)                  \
	F(sched_poll, ports, ports)                        \
	F(sched_poll, nr_ports, nr_ports)                  \
	F(sched_poll, timeout, timeout)                    \
	F(sched_remote_shutdown, domain_id, domain_id)     \
	F(sched_remote_shutdown, reason, reason)           \
	F(xen_hvm_pagetable_dying, domid, domid)           \
	F(vcpu_register_vcpu_info, mfn, mfn)               \
	F(vcpu_register_vcpu_info, offset, offset)         \
	F(xen_platform_parameters, virt_start, virt_start) \
	F(xen_feature_info, submap_idx, submap_idx)        \
	F(xen_feature_info, submap, submap)                \
	F(shared_info, vcpu_info, vcpu_info)               \
	F(shared_info, evtchn_pending, evtchn_pending)     \
	F(shared_info, evtchn_mask, evtchn_mask)           \
	F(shared_info, wc_version, wc_version)             \
	F(shared_info, wc_sec, wc_sec)                     \
	F(shared_info, wc_nsec, wc_nsec)                   \
	F(shared_info, wc_sec_hi, xen_wc_sec_hi)           \
	F(vcpu_info, evtchn_upcall_pending, evtchn_upcall_pending) \
	F(vcpu_info, evtchn_upcall_mask, evtchn_upcall_mask)       \
	F(vcpu_info, evtchn_pending_sel, evtchn_pending_sel)       \
	F(vcpu_info, time, time)                                   \
	F(gnttab_setup_table, dom, dom)                            \
	F(gnttab_setup_table, nr_frames, nr_frames)                \
	F(gnttab_setup_table, status, status)                      \
	F(gnttab_setup_table, frame_list, frame_list)              \
	F(gnttab_query_size, dom, dom)                             \
	F(gnttab_query_size, nr_frames, nr_frames)                 \
	F(gnttab_query_size, max_nr_frames, max_nr_frames)         \
	F(gnttab_query_size, status, status)                       \
	F(gnttab_set_version, version, version)                    \
	F(gnttab_get_version, dom, dom)                            \
	F(gnttab_get_version, version, version)                    \
	F(gnttab_get_status_frames, nr_frames, nr_frames)          \
	F(gnttab_get_status_frames, dom, dom)                      \
	F(gnttab_get_status_frames, status, status)                \
	F(gnttab_get_status_frames, frame_list, frame_list)        \
	F(gnttab_copy, source_ref, source.u.ref)                   \
	F(gnttab_copy, source_gmfn, source.u.gmfn)                 \
	F(gnttab_copy, source_domid, source.domid)                 \
	F(gnttab_copy, source_offset, source.offset)               \
	F(gnttab_copy, dest_ref, dest.u.ref)                       \
	F(gnttab_copy, dest_gmfn, dest.u.gmfn)                     \
	F(gnttab_copy, dest_domid, dest.domid)                     \
	F(gnttab_copy, dest_offset, dest.offset)                   \
	F(gnttab_copy, len, len)                                   \
	F(gnttab_copy, flags, flags)                               \
	F(gnttab_copy, status, status)                             \
	F(blkif_request, operation, operation)                     \
	F(blkif_request, nr_segments, nr_segments)                 \
	F(blkif_request, handle, handle)                           \
	F(blkif_request, id, id)                                   \
	F(blkif_request, sector_number, sector_number)             \
	F(blkif_request, seg, seg)                                 \
	F(blkif_request_segment, gref, gref)                       \
	F(blkif_request_segment, first_sect, first_sect)           \
	F(blkif_request_segment, last_sect, last_sect)             \
	F(blkif_request_discard, flag, flag)                       \
	F(blkif_request_discard, id, id)                           \
	F(blkif_request_discard, sector_number, sector_number)     \
	F(blkif_request_discard, nr_sectors, nr_sectors)           \
	F(blkif_request_indirect, indirect_op, indirect_op)        \
	F(blkif_request_indirect, nr_segments, nr_segments)        \
	F(blkif_request_indirect, id, id)                          \
	F(blkif_request_indirect, sector_number, sector_number)    \
	F(blkif_request_indirect, handle, handle)                  \
	F(blkif_request_indirect, indirect_grefs, indirect_grefs)  \
	F(blkif_response, id, id)                                  \
	F(blkif_response, operation, operation)                    \
	F(blkif_response, status, status)

/* U(union): sizes of unions (a ring's entry). */
#define UNIONS(U) \
	U(blkif_sring_entry)

/* T(type): sizes of scalar types whose width follows the guest's (the
 * elements of an extent list). */
#define TYPES(T) \
	T(xen_pfn_t)

#ifndef LAYOUT_PREFIX
#error "compile with -DLAYOUT_PREFIX=\"XL64\" or \"XL32\""
#endif

int main(void)
{
	printf("/* Generated by xen_layout_gen.c from Xen's public headers. */\n");
#define PRINT_SIZE(s) \
	printf("#define %s_SIZE_%s %zu\n", LAYOUT_PREFIX, #s, sizeof(struct s));
	STRUCTS(PRINT_SIZE)
#define PRINT_UNION_SIZE(u) \
	printf("#define %s_SIZE_%s %zu\n", LAYOUT_PREFIX, #u, sizeof(union u));
	UNIONS(PRINT_UNION_SIZE)
#define PRINT_TYPE_SIZE(t) \
	printf("#define %s_SIZE_%s %zu\n", LAYOUT_PREFIX, #t, sizeof(t));
	TYPES(PRINT_TYPE_SIZE)
#define PRINT_FIELD(s, name, m)                                           \
	printf("#define %s_OFF_%s__%s %zu\n", LAYOUT_PREFIX, #s, #name,   \
	       offsetof(struct s, m));                                    \
	printf("#define %s_LEN_%s__%s %zu\n", LAYOUT_PREFIX, #s, #name,   \
	       MEMBER_SIZE(s, m));
	FIELDS(PRINT_FIELD)
	return 0;
}
