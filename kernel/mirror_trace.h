/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mirror_trace.h - trace events of on-demand paging, so that ftrace and
 * perf can watch faults, invalidations and prefetches:
 *   perf record -e 'rdma_mirror:*' ...
 *   echo 1 > /sys/kernel/tracing/events/rdma_mirror/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM rdma_mirror

#if !defined(MIRROR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define MIRROR_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(mirror_odp_fault_begin,
	TP_PROTO(u32 lkey, unsigned long start, unsigned long end,
		 unsigned int flags),
	TP_ARGS(lkey, start, end, flags),
	TP_STRUCT__entry(
		__field(u32, lkey)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(unsigned int, flags)
	),
	TP_fast_assign(
		__entry->lkey = lkey;
		__entry->start = start;
		__entry->end = end;
		__entry->flags = flags;
	),
	TP_printk("mr 0x%x [0x%lx, 0x%lx) %s%s%s", __entry->lkey,
		  __entry->start, __entry->end,
		  __entry->flags & BIT(0) ? "fault" : "snapshot",
		  __entry->flags & BIT(1) ? " write" : "",
		  __entry->flags & BIT(2) ? " prefetch" : "")
);

TRACE_EVENT(mirror_odp_fault_end,
	TP_PROTO(u32 lkey, unsigned long start, unsigned long end, int err,
		 unsigned long pages, u32 retries, u64 ns),
	TP_ARGS(lkey, start, end, err, pages, retries, ns),
	TP_STRUCT__entry(
		__field(u32, lkey)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(int, err)
		__field(unsigned long, pages)
		__field(u32, retries)
		__field(u64, ns)
	),
	TP_fast_assign(
		__entry->lkey = lkey;
		__entry->start = start;
		__entry->end = end;
		__entry->err = err;
		__entry->pages = pages;
		__entry->retries = retries;
		__entry->ns = ns;
	),
	TP_printk("mr 0x%x [0x%lx, 0x%lx) err %d pages %lu retries %u %llu ns",
		  __entry->lkey, __entry->start, __entry->end, __entry->err,
		  __entry->pages, __entry->retries, __entry->ns)
);

TRACE_EVENT(mirror_odp_invalidate,
	TP_PROTO(u32 lkey, unsigned long start, unsigned long end,
		 unsigned long pages, int event),
	TP_ARGS(lkey, start, end, pages, event),
	TP_STRUCT__entry(
		__field(u32, lkey)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(unsigned long, pages)
		__field(int, event)
	),
	TP_fast_assign(
		__entry->lkey = lkey;
		__entry->start = start;
		__entry->end = end;
		__entry->pages = pages;
		__entry->event = event;
	),
	TP_printk("mr 0x%x [0x%lx, 0x%lx) cleared %lu event %d",
		  __entry->lkey, __entry->start, __entry->end, __entry->pages,
		  __entry->event)
);

TRACE_EVENT(mirror_odp_prefetch,
	TP_PROTO(u32 lkey, u64 addr, u32 len, int advice, bool sync),
	TP_ARGS(lkey, addr, len, advice, sync),
	TP_STRUCT__entry(
		__field(u32, lkey)
		__field(u64, addr)
		__field(u32, len)
		__field(int, advice)
		__field(bool, sync)
	),
	TP_fast_assign(
		__entry->lkey = lkey;
		__entry->addr = addr;
		__entry->len = len;
		__entry->advice = advice;
		__entry->sync = sync;
	),
	TP_printk("mr 0x%x 0x%llx+%u advice %d %s", __entry->lkey,
		  __entry->addr, __entry->len, __entry->advice,
		  __entry->sync ? "sync" : "async")
);

#endif /* MIRROR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE mirror_trace
#include <trace/define_trace.h>
