// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_uapi.c - the driver methods of the uverbs ioctl interface, what
 * libmirrorverbs calls: the device's ODP counters, and one MR's counters
 * and mirror state.
 *
 * Why ioctl methods and not udata: udata only rides along existing verbs
 * commands (create, modify, register), while these are queries of their
 * own; driver-namespace methods on the standard DEVICE and MR objects give
 * typed, length-checked attributes, ib_core's handle lookup and locking of
 * the MR, and room to grow without a new ABI version (the rdma-core "dv"
 * libraries talk to their drivers the same way).
 */
#define UVERBS_MODULE_NAME mirror_ib
#include <rdma/uverbs_ioctl.h>
#include <rdma/uverbs_named_ioctl.h>
#include <rdma/uverbs_std_types.h>

#include "mirror.h"

static int UVERBS_HANDLER(MIRROR_METHOD_QUERY_ODP_COUNTERS)(
	struct uverbs_attr_bundle *attrs)
{
	struct ib_ucontext *uc = ib_uverbs_get_ucontext(attrs);
	struct mirror_odp_counters c;

	if (IS_ERR(uc))
		return PTR_ERR(uc);
	mirror_odp_counters(to_mirror_dev(uc->device), NULL, &c);
	return uverbs_copy_to_struct_or_zero(attrs, MIRROR_ATTR_ODP_COUNTERS,
					     &c, sizeof(c));
}

/* Pages one query may ask about: the attribute length is a u16. */
#define MIRROR_QUERY_MAX_PAGES	U16_MAX

static int UVERBS_HANDLER(MIRROR_METHOD_MR_QUERY_ODP)(
	struct uverbs_attr_bundle *attrs)
{
	struct ib_mr *ibmr = uverbs_attr_get_obj(attrs,
						 MIRROR_ATTR_MR_QUERY_HANDLE);
	struct mirror_mr *mr = to_mirror_mr(ibmr);
	struct mirror_odp_counters c;
	unsigned long va, npages;
	u64 addr, last;
	int len, err;
	u8 *states;

	if (uverbs_attr_is_valid(attrs, MIRROR_ATTR_MR_QUERY_COUNTERS)) {
		mirror_odp_counters(NULL, mr, &c);
		err = uverbs_copy_to_struct_or_zero(attrs,
						    MIRROR_ATTR_MR_QUERY_COUNTERS,
						    &c, sizeof(c));
		if (err)
			return err;
	}
	if (!uverbs_attr_is_valid(attrs, MIRROR_ATTR_MR_QUERY_PAGES))
		return 0;

	/* Page states: an ODP MR, a page-aligned range inside it. */
	len = uverbs_attr_get_len(attrs, MIRROR_ATTR_MR_QUERY_PAGES);
	if (len < 0)
		return len;
	err = uverbs_copy_from(&addr, attrs, MIRROR_ATTR_MR_QUERY_ADDR);
	if (err)
		return err;
	npages = len;
	if (mr->type != MIRROR_MR_ODP)
		return -EINVAL;
	if (!npages)
		return 0;
	/* Whole pages: the first and last may stick out of the MR. */
	last = addr + (npages << PAGE_SHIFT) - 1;
	if (!PAGE_ALIGNED(addr) || last < addr ||
	    addr < ALIGN_DOWN(mr->iova, PAGE_SIZE) ||
	    (last >> PAGE_SHIFT) > ((mr->iova + mr->length - 1) >> PAGE_SHIFT))
		return -ERANGE;
	va = mr->odp_va + (addr - mr->iova);
	states = kvmalloc(npages, GFP_KERNEL);
	if (!states)
		return -ENOMEM;
	mirror_mr_odp_states(mr, va, npages, states);
	err = uverbs_copy_to(attrs, MIRROR_ATTR_MR_QUERY_PAGES, states,
			     npages);
	kvfree(states);
	return err;
}

DECLARE_UVERBS_NAMED_METHOD(
	MIRROR_METHOD_QUERY_ODP_COUNTERS,
	UVERBS_ATTR_PTR_OUT(MIRROR_ATTR_ODP_COUNTERS,
			    UVERBS_ATTR_STRUCT(struct mirror_odp_counters,
					       fault_ns_log2),
			    UA_MANDATORY));

ADD_UVERBS_METHODS(mirror_device, UVERBS_OBJECT_DEVICE,
		   &UVERBS_METHOD(MIRROR_METHOD_QUERY_ODP_COUNTERS));

DECLARE_UVERBS_NAMED_METHOD(
	MIRROR_METHOD_MR_QUERY_ODP,
	UVERBS_ATTR_IDR(MIRROR_ATTR_MR_QUERY_HANDLE, UVERBS_OBJECT_MR,
			UVERBS_ACCESS_READ, UA_MANDATORY),
	UVERBS_ATTR_PTR_IN(MIRROR_ATTR_MR_QUERY_ADDR, UVERBS_ATTR_TYPE(u64),
			   UA_OPTIONAL),
	UVERBS_ATTR_PTR_OUT(MIRROR_ATTR_MR_QUERY_PAGES,
			    UVERBS_ATTR_MIN_SIZE(0), UA_OPTIONAL),
	UVERBS_ATTR_PTR_OUT(MIRROR_ATTR_MR_QUERY_COUNTERS,
			    UVERBS_ATTR_STRUCT(struct mirror_odp_counters,
					       fault_ns_log2),
			    UA_OPTIONAL));

ADD_UVERBS_METHODS(mirror_mr, UVERBS_OBJECT_MR,
		   &UVERBS_METHOD(MIRROR_METHOD_MR_QUERY_ODP));

const struct uapi_definition mirror_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_DEVICE, &mirror_device),
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_MR, &mirror_mr),
	{},
};
