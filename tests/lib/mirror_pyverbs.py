# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""What the pyverbs suites share (tests/guest/pyverbs_*.py).

The device and its IPv4 RoCEv2 GID, the device's hardware counters read
fresh, one set of RC connection parameters, waiting for a completion, and a
unittest runner that prints one line per test and "N passed, N failed" at
the end, where a skipped test counts as a failure (on a mirror device every
case must run). The C suites' counterpart is mirror_testlib.c/mirror_tap.h.
"""
import os
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GID, GlobalRoute
from pyverbs.qp import QPAttr

# The RC connection every suite uses (as mirror_test_qp_defaults() in C).
RC_MTU = e.IBV_MTU_1024
RC_RD_ATOMIC = 4
RC_MIN_RNR_TIMER = 1
RC_TIMEOUT = 14
RC_RETRY_CNT = 7
RC_RNR_RETRY = 7


def ipv4_rocev2_gid(dev):
    """(index, GID string) of an IPv4-mapped RoCEv2 GID of DEV's port 1,
    the lowest index first; (None, None) if there is none."""
    port = "/sys/class/infiniband/%s/ports/1/" % dev
    for name in sorted(os.listdir(port + "gids"), key=int):
        try:
            with open(port + "gids/" + name) as f:
                gid = f.read().strip()
            with open(port + "gid_attrs/types/" + name) as f:
                kind = f.read().strip()
        except OSError:
            continue
        if kind == "RoCE v2" and \
                gid.startswith("0000:0000:0000:0000:0000:ffff:"):
            return int(name), gid
    return None, None


def av_to(gid_index, gid):
    """An address vector through GID index GID_INDEX to GID."""
    return AHAttr(gr=GlobalRoute(dgid=GID(gid), sgid_index=gid_index,
                                 hop_limit=64),
                  is_global=1, port_num=1)


def hw_counter(dev, name):
    """Hardware counter NAME of DEV's port 1, as sysfs has it now."""
    path = "/sys/class/infiniband/%s/ports/1/hw_counters/%s" % (dev, name)
    with open(path) as f:
        return int(f.read())


def fresh_counters(dev, names):
    """The counters NAMES of DEV, read fresh. ib_core serves hw_counters
    reads from a copy it refreshes only once that is older than the
    "lifespan" (ms) in the same directory: wait that long first."""
    time.sleep(hw_counter(dev, "lifespan") / 1000.0 + 0.015)
    return {n: hw_counter(dev, n) for n in names}


class Counters:
    """A snapshot of some of a device's counters; delta() against now."""

    def __init__(self, dev, names):
        self.dev, self.names = dev, names
        self.v = fresh_counters(dev, names)

    def delta(self):
        now = fresh_counters(self.dev, self.names)
        return {n: now[n] - self.v[n] for n in self.names}


def _to_init(qp, mask, **attrs):
    """Moves QP to INIT on port 1, P_Key index 0, with the attributes ATTRS
    (QPAttr field names) that MASK names."""
    attr = QPAttr(qp_state=e.IBV_QPS_INIT)
    attr.pkey_index = 0
    attr.port_num = 1
    for name, value in attrs.items():
        setattr(attr, name, value)
    qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_PKEY_INDEX | e.IBV_QP_PORT |
              mask)


def connect_rc(qp, dest_qpn, av, access):
    """Moves RC QP through INIT and RTR to RTS, connected to DEST_QPN at AV,
    with remote ACCESS flags and the suites' common parameters."""
    _to_init(qp, e.IBV_QP_ACCESS_FLAGS, qp_access_flags=access)
    attr = QPAttr(qp_state=e.IBV_QPS_RTR)
    attr.path_mtu = RC_MTU
    attr.dest_qp_num = dest_qpn
    attr.rq_psn = 0
    attr.max_dest_rd_atomic = RC_RD_ATOMIC
    attr.min_rnr_timer = RC_MIN_RNR_TIMER
    attr.ah_attr = av
    qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_AV | e.IBV_QP_PATH_MTU |
              e.IBV_QP_DEST_QPN | e.IBV_QP_RQ_PSN |
              e.IBV_QP_MAX_DEST_RD_ATOMIC | e.IBV_QP_MIN_RNR_TIMER)
    attr = QPAttr(qp_state=e.IBV_QPS_RTS)
    attr.sq_psn = 0
    attr.timeout = RC_TIMEOUT
    attr.retry_cnt = RC_RETRY_CNT
    attr.rnr_retry = RC_RNR_RETRY
    attr.max_rd_atomic = RC_RD_ATOMIC
    qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN | e.IBV_QP_TIMEOUT |
              e.IBV_QP_RETRY_CNT | e.IBV_QP_RNR_RETRY |
              e.IBV_QP_MAX_QP_RD_ATOMIC)


def connect_ud(qp, qkey):
    """Moves UD QP through INIT and RTR to RTS, receiving datagrams that
    carry QKEY."""
    _to_init(qp, e.IBV_QP_QKEY, qkey=qkey)
    qp.modify(QPAttr(qp_state=e.IBV_QPS_RTR), e.IBV_QP_STATE)
    attr = QPAttr(qp_state=e.IBV_QPS_RTS)
    attr.sq_psn = 0
    qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_SQ_PSN)


def wait_wc(cq, timeout):
    """The next completion of CQ, or None after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n, wcs = cq.poll()
        if n:
            return wcs[0]
        time.sleep(0.0005)
    return None


def device_arg(argv, default):
    """(device, rest of ARGV) from "[-d DEVICE] ARGS..."."""
    if len(argv) >= 2 and argv[0] == "-d":
        return argv[1], argv[2:]
    return default, argv


class _Result(unittest.TextTestResult):
    """Counts passes, for the summary line."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def run(module, names):
    """Runs the tests NAMES of MODULE (all of them when empty), one line per
    test, then "N passed, N failed" where failures, errors, skips and
    unexpected successes count as failed. Returns the exit status: 0 only
    when something ran and nothing failed."""
    sys.stdout.reconfigure(line_buffering=True)
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names, module)
    else:
        suite = loader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     descriptions=False, resultclass=_Result)
    res = runner.run(suite)
    for test, why in res.skipped:
        print("FAILED: %s skipped (%s); a skip is not a pass" % (test, why))
    failed = len(res.failures) + len(res.errors) + len(res.skipped) + \
        len(res.unexpectedSuccesses)
    print("%d passed, %d failed" % (res.passed, failed))
    return 0 if failed == 0 and res.passed > 0 else 1
