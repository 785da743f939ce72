/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirrorverbs.h - direct verbs for mirror devices (rdma_mirror.ko).
 *
 * Functions here only work on mirror devices; use mirrorv_is_mirror_device()
 * to find out.
 */
#ifndef MIRRORVERBS_H
#define MIRRORVERBS_H

#include <stdbool.h>
#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * mirrorv_is_mirror_device() - is this device driven by rdma_mirror.ko?
 * @device: a device from ibv_get_device_list()
 *
 * Return: true for a mirror device, false otherwise (also for NULL).
 */
bool mirrorv_is_mirror_device(struct ibv_device *device);

#ifdef __cplusplus
}
#endif

#endif /* MIRRORVERBS_H */
