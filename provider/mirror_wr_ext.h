/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_wr_ext.h - work requests the provider takes through
 * ibv_post_send() beyond what the libibverbs it is built against can name.
 *
 * FLUSH (IBA 1.5, memory placement extensions): rdma-core 44 has no
 * ibv_wr_flush(), so libmirrorverbs' mirrorv_post_flush() posts it as an
 * ibv_send_wr with opcode MIRROR_WR_EXT_FLUSH (14, the value of
 * IBV_WR_FLUSH in later rdma-core) and its operands in wr.atomic:
 * remote_addr and rkey as for an atomic, compare_add the length (at most
 * UINT32_MAX, the RETH's field), swap the placement type in bits 7:0 and
 * the selectivity level in bits 15:8. No SGEs. An agreement between the
 * two libraries of this tree, not a kernel interface.
 */
#ifndef MIRROR_WR_EXT_H
#define MIRROR_WR_EXT_H

#define MIRROR_WR_EXT_FLUSH		14
#define MIRROR_WR_EXT_FLUSH_LEVEL_SHIFT	8

#endif /* MIRROR_WR_EXT_H */
