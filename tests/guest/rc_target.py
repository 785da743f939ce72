#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Holds one RC QP in RTS on DEVICE (through pyverbs and our provider) as a
target for hand-made packets: prints "QPN EPSN", then waits for stdin to
close. usage: rc_target.py DEVICE GID_INDEX PEER_IPV4"""
import sys

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GID, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr

RQ_PSN = 1000


def main():
    dev, gidx, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = Context(name=dev)
    pd = PD(ctx)
    cq = CQ(ctx, 16)
    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    qp = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    octets = [int(x) for x in peer.split(".")]
    dgid = "0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x" % tuple(octets)
    gr = GlobalRoute(dgid=GID(dgid), sgid_index=gidx)
    attr = QPAttr(qp_state=e.IBV_QPS_INIT)
    attr.qp_access_flags = e.IBV_ACCESS_REMOTE_WRITE
    attr.ah_attr = AHAttr(gr=gr, is_global=1, port_num=1)
    attr.dest_qp_num = 0x123456
    attr.rq_psn = RQ_PSN
    attr.path_mtu = e.IBV_MTU_1024
    attr.max_dest_rd_atomic = 1
    attr.min_rnr_timer = 1
    qp.to_rts(attr)
    print(qp.qp_num, RQ_PSN, flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
