// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirrorverbs.c - libmirrorverbs, direct verbs for mirror devices.
 *
 * The functions are documented in mirrorverbs.h and in their man pages.
 * The queries are driver methods of the uverbs ioctl interface
 * (kernel/mirror_uapi.c); registration and prefetch are plain verbs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "mirror_pabi.h"
#include "mirror_wr_ext.h"
#include "mirrorverbs.h"
#include "rdma_user_mirror.h"

/* The name the provider registers with (provider/mirror.c). */
#define MIRRORV_PROVIDER_NAME	"mirror"

/* rdma_mirror.ko registers as RDMA_DRIVER_UNKNOWN. */
#define MIRRORV_DRIVER_ID	0

/* Pages one MR query may ask about: an attribute's length is a u16. */
#define MIRRORV_QUERY_MAX_PAGES	UINT16_MAX

/* The largest range one ibv_advise_mr() SGE carries (its length is a u32). */
#define MIRRORV_PREFETCH_MAX_SGE_LEN	(1UL << 31)

/* SGEs per ibv_advise_mr() call. */
#define MIRRORV_PREFETCH_SGES	64

#define MIRRORV_PREFETCH_ALL_FLAGS                                             \
	(MIRRORV_PREFETCH_WRITE | MIRRORV_PREFETCH_ASYNC |                     \
	 MIRRORV_PREFETCH_NO_FAULT)

/* Attributes in one driver method call, at most. */
#define MIRRORV_MAX_ATTRS	4

/* The public enums and counters are the kernel's, bit for bit. */
_Static_assert(MIRRORV_FAULT_LAT_BUCKETS == MIRROR_ODP_LAT_BUCKETS,
	       "latency buckets");
_Static_assert((int)MIRRORV_PAGE_READ == (int)MIRROR_PAGE_READ, "READ");
_Static_assert((int)MIRRORV_PAGE_WRITE == (int)MIRROR_PAGE_WRITE, "WRITE");
_Static_assert((int)MIRRORV_PAGE_HUGE == (int)MIRROR_PAGE_HUGE, "HUGE");

/* Is the kernel module behind @device, as sysfs tells, rdma_mirror? */
static bool mirrorv_sysfs_says_mirror(struct ibv_device *device)
{
	char path[PATH_MAX], target[PATH_MAX], desc[65] = "";
	const char *base;
	bool ok = false;
	ssize_t n;
	FILE *f;

	/* A device with a parent: the parent's driver module. */
	if (snprintf(path, sizeof(path), "%s/device/driver/module",
		     device->ibdev_path) < (int)sizeof(path)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			base = strrchr(target, '/');
			if (!strcmp(base ? base + 1 : target, "rdma_mirror"))
				return true;
		}
	}
	/* Software devices: rdma_mirror.ko names its nodes "mirrorverbs". */
	if (snprintf(path, sizeof(path), "%s/node_desc", device->ibdev_path) >=
	    (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(desc, sizeof(desc), f) &&
	     strncmp(desc, "mirrorverbs", strlen("mirrorverbs")) == 0;
	fclose(f);
	return ok;
}

bool mirrorv_is_mirror_device(struct ibv_device *device)
{
	const struct verbs_device *vdev;

	if (!device)
		return false;
	/*
	 * Every device libibverbs lists is a verbs_device bound to the
	 * provider that claimed it: ours registers as "mirror".
	 */
	vdev = (const struct verbs_device *)device;
	if (vdev->ops && vdev->ops->name &&
	    !strcmp(vdev->ops->name, MIRRORV_PROVIDER_NAME))
		return true;
	return mirrorv_sysfs_says_mirror(device);
}

/* Is @context open on a mirror device? */
static bool mirrorv_context_is_mirror(struct ibv_context *context)
{
	return context && mirrorv_is_mirror_device(context->device);
}

struct ibv_mr *mirrorv_reg_implicit_mr(struct ibv_pd *pd, unsigned int access)
{
	struct ibv_device_attr_ex attr;
	int ret;

	if (!pd || !pd->context) {
		errno = EINVAL;
		return NULL;
	}
	if (!mirrorv_context_is_mirror(pd->context)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	memset(&attr, 0, sizeof(attr));
	ret = ibv_query_device_ex(pd->context, NULL, &attr);
	if (ret) {
		errno = ret;
		return NULL;
	}
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    !(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (!access)
		access = MIRRORV_IMPLICIT_DEFAULT_ACCESS;
	return ibv_reg_mr(pd, NULL, SIZE_MAX,
			  (int)(access | IBV_ACCESS_ON_DEMAND));
}

/*
 * One driver method call for the ioctl attributes we use. union, not
 * struct: a structure ending in a flexible array cannot be embedded.
 */
union mirrorv_cmd {
	struct ib_uverbs_ioctl_hdr hdr;
	uint8_t buf[sizeof(struct ib_uverbs_ioctl_hdr) +
		    MIRRORV_MAX_ATTRS * sizeof(struct ib_uverbs_attr)];
};

static struct ib_uverbs_attr mirrorv_attr_idr(uint16_t id, uint32_t handle)
{
	struct ib_uverbs_attr a = {
		.attr_id = id,
		.flags = UVERBS_ATTR_F_MANDATORY,
		.data = handle,
	};

	return a;
}

/* An in attribute of 8 bytes or less travels inline, in data. */
static struct ib_uverbs_attr mirrorv_attr_in_u64(uint16_t id, uint64_t v)
{
	struct ib_uverbs_attr a = {
		.attr_id = id,
		.len = sizeof(v),
		.flags = UVERBS_ATTR_F_MANDATORY,
		.data = v,
	};

	return a;
}

static struct ib_uverbs_attr mirrorv_attr_out(uint16_t id, void *p,
					      uint16_t len)
{
	struct ib_uverbs_attr a = {
		.attr_id = id,
		.len = len,
		.flags = UVERBS_ATTR_F_MANDATORY,
		.data = (uintptr_t)p,
	};

	return a;
}

/* Runs a driver method on @context; returns 0 or an errno value. */
static int mirrorv_ioctl(struct ibv_context *context, uint16_t object_id,
			 uint16_t method_id, const struct ib_uverbs_attr *attrs,
			 unsigned int num_attrs)
{
	union mirrorv_cmd cmd;

	if (num_attrs > MIRRORV_MAX_ATTRS)
		return EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	cmd.hdr.length = sizeof(cmd.hdr) + num_attrs * sizeof(*attrs);
	cmd.hdr.object_id = object_id;
	cmd.hdr.method_id = method_id;
	cmd.hdr.num_attrs = num_attrs;
	cmd.hdr.driver_id = MIRRORV_DRIVER_ID;
	memcpy(cmd.hdr.attrs, attrs, num_attrs * sizeof(*attrs));
	if (ioctl(context->cmd_fd, RDMA_VERBS_IOCTL, &cmd.hdr))
		return errno ? errno : EIO;
	return 0;
}

/*
 * The kernel's counters into @out, @inlen bytes of it: the fields this
 * library knows, as far as @inlen reaches, and zeros after them.
 */
static void mirrorv_stats_from_kernel(struct mirrorv_odp_stats *out,
				      uint32_t inlen,
				      const struct mirror_odp_counters *in)
{
	struct mirrorv_odp_stats s = { .comp_mask = 0 };
	int i;

	s.faults = in->faults;
	s.pages_faulted = in->pages_faulted;
	s.invalidations = in->invalidations;
	s.pages_invalidated = in->pages_invalidated;
	s.prefetches = in->prefetches;
	s.fault_retries = in->fault_retries;
	s.children_created = in->children_created;
	s.children_destroyed = in->children_destroyed;
	s.children_live = in->children_live;
	s.mirror_bytes = in->mirror_bytes;
	for (i = 0; i < MIRRORV_FAULT_LAT_BUCKETS; i++)
		s.fault_ns_log2[i] = in->fault_ns_log2[i];
	if (inlen > sizeof(s)) {
		memset((char *)out + sizeof(s), 0, inlen - sizeof(s));
		inlen = sizeof(s);
	}
	memcpy(out, &s, inlen);
}

int mirrorv_query_odp_stats(struct ibv_context *context,
			    struct mirrorv_odp_stats *stats, uint32_t inlen)
{
	struct mirror_odp_counters kc;
	struct ib_uverbs_attr attr;
	int ret;

	if (!context || !stats || inlen < MIRRORV_ODP_STATS_MIN_LEN)
		return EINVAL;
	if (!mirrorv_context_is_mirror(context))
		return EOPNOTSUPP;
	memset(&kc, 0, sizeof(kc));
	attr = mirrorv_attr_out(MIRROR_ATTR_ODP_COUNTERS, &kc, sizeof(kc));
	ret = mirrorv_ioctl(context, UVERBS_OBJECT_DEVICE,
			    MIRROR_METHOD_QUERY_ODP_COUNTERS, &attr, 1);
	if (ret)
		return ret;
	mirrorv_stats_from_kernel(stats, inlen, &kc);
	return 0;
}

int mirrorv_query_mr_odp_stats(struct ibv_mr *mr,
			       struct mirrorv_odp_stats *stats, uint32_t inlen)
{
	struct mirror_odp_counters kc;
	struct ib_uverbs_attr attrs[2];
	int ret;

	if (!mr || !mr->context || !stats || inlen < MIRRORV_ODP_STATS_MIN_LEN)
		return EINVAL;
	if (!mirrorv_context_is_mirror(mr->context))
		return EOPNOTSUPP;
	memset(&kc, 0, sizeof(kc));
	attrs[0] = mirrorv_attr_idr(MIRROR_ATTR_MR_QUERY_HANDLE, mr->handle);
	attrs[1] = mirrorv_attr_out(MIRROR_ATTR_MR_QUERY_COUNTERS, &kc,
				    sizeof(kc));
	ret = mirrorv_ioctl(mr->context, UVERBS_OBJECT_MR,
			    MIRROR_METHOD_MR_QUERY_ODP, attrs, 2);
	if (ret)
		return ret;
	/* Per MR there is no histogram; say so even if the kernel did. */
	memset(kc.fault_ns_log2, 0, sizeof(kc.fault_ns_log2));
	kc.mirror_bytes = 0;
	mirrorv_stats_from_kernel(stats, inlen, &kc);
	return 0;
}

/* The first version's struct, from the extensible one. */
static void mirrorv_counters_from_stats(struct mirrorv_odp_counters *out,
					const struct mirrorv_odp_stats *in)
{
	int i;

	out->faults = in->faults;
	out->pages_faulted = in->pages_faulted;
	out->invalidations = in->invalidations;
	out->pages_invalidated = in->pages_invalidated;
	out->prefetches = in->prefetches;
	out->fault_retries = in->fault_retries;
	out->children_created = in->children_created;
	out->children_destroyed = in->children_destroyed;
	out->children_live = in->children_live;
	out->mirror_bytes = in->mirror_bytes;
	for (i = 0; i < MIRRORV_FAULT_LAT_BUCKETS; i++)
		out->fault_ns_log2[i] = in->fault_ns_log2[i];
}

int mirrorv_query_odp_counters(struct ibv_context *context,
			       struct mirrorv_odp_counters *counters)
{
	struct mirrorv_odp_stats s;
	int ret;

	if (!counters)
		return EINVAL;
	ret = mirrorv_query_odp_stats(context, &s, sizeof(s));
	if (!ret)
		mirrorv_counters_from_stats(counters, &s);
	return ret;
}

int mirrorv_query_mr_odp_counters(struct ibv_mr *mr,
				  struct mirrorv_odp_counters *counters)
{
	struct mirrorv_odp_stats s;
	int ret;

	if (!counters)
		return EINVAL;
	ret = mirrorv_query_mr_odp_stats(mr, &s, sizeof(s));
	if (!ret)
		mirrorv_counters_from_stats(counters, &s);
	return ret;
}

int mirrorv_query_mirror(struct ibv_mr *mr, const void *addr, size_t length,
			 uint8_t *pages)
{
	struct ib_uverbs_attr attrs[3];
	uint64_t first, last, page_size;
	size_t npages, n;
	long ps;
	int ret;

	if (!mr || !mr->context || !pages || !length)
		return EINVAL;
	if (!mirrorv_context_is_mirror(mr->context))
		return EOPNOTSUPP;
	ps = sysconf(_SC_PAGESIZE);
	page_size = ps > 0 ? (uint64_t)ps : 4096;
	/*
	 * The kernel's address is the MR's iova: the address a work request
	 * names with this MR's keys (the process's own for ibv_reg_mr()).
	 */
	first = (uintptr_t)addr & ~(page_size - 1);
	if ((uint64_t)(uintptr_t)addr + (length - 1) < (uintptr_t)addr)
		return ERANGE;
	last = ((uintptr_t)addr + (length - 1)) & ~(page_size - 1);
	npages = (last - first) / page_size + 1;

	while (npages) {
		n = npages < MIRRORV_QUERY_MAX_PAGES ? npages :
						       MIRRORV_QUERY_MAX_PAGES;
		attrs[0] = mirrorv_attr_idr(MIRROR_ATTR_MR_QUERY_HANDLE,
					    mr->handle);
		attrs[1] = mirrorv_attr_in_u64(MIRROR_ATTR_MR_QUERY_ADDR,
					       first);
		attrs[2] = mirrorv_attr_out(MIRROR_ATTR_MR_QUERY_PAGES, pages,
					    (uint16_t)n);
		ret = mirrorv_ioctl(mr->context, UVERBS_OBJECT_MR,
				    MIRROR_METHOD_MR_QUERY_ODP, attrs, 3);
		if (ret)
			return ret;
		first += n * page_size;
		pages += n;
		npages -= n;
	}
	return 0;
}

int mirrorv_prefetch(struct ibv_mr *mr, void *addr, size_t length,
		     unsigned int flags)
{
	struct ibv_sge sge[MIRRORV_PREFETCH_SGES];
	enum ibv_advise_mr_advice advice;
	uint64_t a = (uintptr_t)addr;
	uint32_t aflags, n;
	size_t left = length;
	int ret;

	if (!mr || !mr->context || !mr->pd || !length)
		return EINVAL;
	if (flags & ~(unsigned int)MIRRORV_PREFETCH_ALL_FLAGS)
		return EINVAL;
	if ((flags & MIRRORV_PREFETCH_WRITE) &&
	    (flags & MIRRORV_PREFETCH_NO_FAULT))
		return EINVAL;
	if (!mirrorv_context_is_mirror(mr->context))
		return EOPNOTSUPP;
	if (a + (length - 1) < a)
		return EFAULT;	/* wraps: cannot lie inside any MR */

	if (flags & MIRRORV_PREFETCH_WRITE)
		advice = IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE;
	else if (flags & MIRRORV_PREFETCH_NO_FAULT)
		advice = IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT;
	else
		advice = IBV_ADVISE_MR_ADVICE_PREFETCH;
	aflags = flags & MIRRORV_PREFETCH_ASYNC ? 0 : IBV_ADVISE_MR_FLAG_FLUSH;

	while (left) {
		for (n = 0; left && n < MIRRORV_PREFETCH_SGES; n++) {
			size_t len = left;

			if (len > MIRRORV_PREFETCH_MAX_SGE_LEN)
				len = MIRRORV_PREFETCH_MAX_SGE_LEN;

			sge[n].addr = a;
			sge[n].length = (uint32_t)len;
			sge[n].lkey = mr->lkey;
			a += len;
			left -= len;
		}
		ret = ibv_advise_mr(mr->pd, advice, aflags, sge, n);
		if (ret < 0)	/* a provider reporting through errno */
			ret = errno ? errno : EIO;
		if (ret)
			return ret;
	}
	return 0;
}

int mirrorv_post_flush(struct ibv_qp *qp, uint64_t wr_id,
		       unsigned int send_flags, uint32_t rkey,
		       uint64_t remote_addr, uint64_t length, uint8_t type,
		       uint8_t level)
{
	struct ibv_send_wr wr = {}, *bad = NULL;
	int ret;

	if (!qp || !qp->context || qp->qp_type != IBV_QPT_RC ||
	    length > UINT32_MAX)
		return EINVAL;
	if (!mirrorv_context_is_mirror(qp->context))
		return EOPNOTSUPP;
	wr.wr_id = wr_id;
	wr.opcode = (enum ibv_wr_opcode)MIRROR_WR_EXT_FLUSH;
	wr.send_flags = send_flags;
	wr.wr.atomic.remote_addr = remote_addr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = length;
	wr.wr.atomic.swap = type |
			    (uint64_t)level << MIRROR_WR_EXT_FLUSH_LEVEL_SHIFT;
	ret = ibv_post_send(qp, &wr, &bad);
	if (ret < 0)	/* a provider reporting through errno */
		ret = errno ? errno : EIO;
	return ret;
}
