#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Implicit ODP through pyverbs: one MR over the whole address space.

usage: pyverbs_implicit.py [-d DEVICE] [TEST-NAME...]

Every test uses one implicit MR, registered the way pyverbs spells it:
MR(pd, 0, access, implicit=True), which is ibv_reg_mr(pd, NULL, SIZE_MAX,
access). Its lkey and rkey are the only keys the traffic uses; the buffers
are anonymous private mappings made with Python's mmap at arbitrary
(unaligned) offsets, some across a 16 MiB implicit-child boundary, and
ctypes heap memory. Before each iteration MADV_DONTNEED throws the pages
away, so the device must fault them in again; the device's ODP counters in
sysfs (odp_faults, odp_pages_faulted, odp_invalidations, odp_prefetches)
show that it did. A test skipped counts as a failure: on a mirror device
everything here must work.
"""
import ctypes
import mmap
import os
import struct
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import RecvWR, SGE, SendWR

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mirror_pyverbs as mp  # noqa: E402

DEVICE = "mirror0"
PAGE = mmap.PAGESIZE
CHILD = 16 << 20                # the kernel's implicit child size
SIZE_MAX = (1 << 64) - 1
ITERATIONS = 4
POLL_TIMEOUT = 10.0             # seconds

ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC |
          e.IBV_ACCESS_ON_DEMAND)
QP_ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
             e.IBV_ACCESS_REMOTE_READ | e.IBV_ACCESS_REMOTE_ATOMIC)
COUNTERS = ("odp_faults", "odp_pages_faulted", "odp_invalidations",
            "odp_prefetches")


def counters():
    """The device's ODP counters, read fresh."""
    return mp.fresh_counters(DEVICE, COUNTERS)


def delta(before, after):
    return {k: after[k] - before[k] for k in before}


def pages_spanned(addr, length):
    return ((addr + length - 1) // PAGE) - (addr // PAGE) + 1


def pattern(seed, length):
    """length bytes that differ from iteration to iteration."""
    unit = bytes((seed * 37 + i * 11) & 0xff for i in range(251))
    return (unit * (length // len(unit) + 1))[:length]


class Region:
    """An anonymous private mapping made by Python's mmap, with its address.

    Offsets are relative to the start of the mapping; buffers handed to the
    device are addr(offset), anywhere inside.
    """

    def __init__(self, size):
        self.size = size
        self.map = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._anchor = ctypes.c_char.from_buffer(self.map)
        self.base = ctypes.addressof(self._anchor)

    def addr(self, off):
        return self.base + off

    def child_boundary(self, room=1 << 20):
        """Offset of the first 16 MiB-aligned address at least room bytes
        into the region, with room bytes of the region after it."""
        off = room + (-(self.base + room) % CHILD)
        if off + room > self.size:
            raise ValueError("region holds no 16 MiB boundary with room")
        return off

    def write(self, off, data):
        self.map[off:off + len(data)] = data

    def read(self, off, length):
        return bytes(self.map[off:off + length])

    def dontneed(self, off, length):
        """MADV_DONTNEED on every page [off, off + length) touches."""
        start = off - off % PAGE
        end = -(-(off + length) // PAGE) * PAGE
        self.map.madvise(mmap.MADV_DONTNEED, start, end - start)

    def close(self):
        del self._anchor
        self.map.close()


class ImplicitTestCase(unittest.TestCase):
    """Two RC QPs of one device connected to each other, one implicit MR."""

    ctx = None
    gid_index = None
    gid = None

    @classmethod
    def setUpClass(cls):
        cls.ctx = Context(name=DEVICE)
        cls.gid_index, cls.gid = mp.ipv4_rocev2_gid(DEVICE)

    @classmethod
    def tearDownClass(cls):
        cls.ctx.close()

    def setUp(self):
        self.regions = []
        self.wr_id = 0
        self.assertIsNotNone(self.gid_index,
                             "no IPv4 RoCEv2 GID on %s" % DEVICE)
        self.pd = PD(self.ctx)
        self.cq_a = CQ(self.ctx, 32)
        self.cq_b = CQ(self.ctx, 32)
        self.qa = self.create_qp(self.cq_a)
        self.qb = self.create_qp(self.cq_b)
        self.connect(self.qa, self.qb.qp_num)
        self.connect(self.qb, self.qa.qp_num)
        self.mr = MR(self.pd, 0, ACCESS, implicit=True)

    def tearDown(self):
        for obj in (self.qa, self.qb, self.mr, self.cq_a, self.cq_b,
                    self.pd):
            obj.close()
        for r in self.regions:
            r.close()

    def create_qp(self, cq):
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=1,
                    max_recv_sge=1)
        return QP(self.pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq,
                                      cap=cap))

    def connect(self, qp, dest_qpn):
        mp.connect_rc(qp, dest_qpn, mp.av_to(self.gid_index, self.gid),
                      QP_ACCESS)

    def region(self, size):
        r = Region(size)
        self.regions.append(r)
        return r

    def sge(self, addr, length):
        """A gather/scatter entry with the implicit MR's lkey."""
        return SGE(addr, length, self.mr.lkey)

    def post_send(self, opcode, addr, length, raddr=0, compare_add=0,
                  swap=0):
        self.wr_id += 1
        wr = SendWR(wr_id=self.wr_id, opcode=opcode, num_sge=1,
                    sg=[self.sge(addr, length)],
                    send_flags=e.IBV_SEND_SIGNALED)
        if opcode in (e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                      e.IBV_WR_ATOMIC_CMP_AND_SWP):
            wr.set_wr_atomic(self.mr.rkey, raddr, compare_add, swap)
        elif opcode != e.IBV_WR_SEND:
            wr.set_wr_rdma(self.mr.rkey, raddr)
        self.qa.post_send(wr)
        return self.wr_id

    def post_recv(self, addr, length):
        self.wr_id += 1
        self.qb.post_recv(RecvWR(wr_id=self.wr_id, num_sge=1,
                                 sg=[self.sge(addr, length)]))
        return self.wr_id

    def poll(self, cq):
        """The next completion of cq (fails the test after POLL_TIMEOUT)."""
        wc = mp.wait_wc(cq, POLL_TIMEOUT)
        if wc is None:
            self.fail("no completion within %.0f s" % POLL_TIMEOUT)
        return wc

    def complete(self, cq, wr_id, status=e.IBV_WC_SUCCESS):
        wc = self.poll(cq)
        self.assertEqual(wc.wr_id, wr_id)
        self.assertEqual(wc.status, status,
                         "completion status %d, want %d" %
                         (wc.status, status))
        return wc

    def assert_faulted(self, before, after, iteration, pages):
        """The operation had to fault: at least pages became mirrored, and
        (after the first iteration) MADV_DONTNEED invalidated the mirror."""
        d = delta(before, after)
        self.assertGreaterEqual(d["odp_faults"], 1,
                                "iteration %d: no fault: %s" % (iteration, d))
        self.assertGreaterEqual(d["odp_pages_faulted"], pages,
                                "iteration %d: %s" % (iteration, d))

    def assert_invalidated(self, before, after, iteration):
        d = delta(before, after)
        self.assertGreaterEqual(d["odp_invalidations"], 1,
                                "iteration %d: MADV_DONTNEED did not "
                                "invalidate: %s" % (iteration, d))


class TestImplicitCaps(ImplicitTestCase):
    def test_odp_caps_show_implicit(self):
        """query_device_ex: ODP, implicit ODP, RC send/recv/write/read/atomic."""
        caps = self.ctx.query_device_ex().odp_caps
        self.assertTrue(caps.general_caps & e.IBV_ODP_SUPPORT,
                        "general_caps 0x%x" % caps.general_caps)
        self.assertTrue(caps.general_caps & e.IBV_ODP_SUPPORT_IMPLICIT,
                        "general_caps 0x%x" % caps.general_caps)
        want = (e.IBV_ODP_SUPPORT_SEND | e.IBV_ODP_SUPPORT_RECV |
                e.IBV_ODP_SUPPORT_WRITE | e.IBV_ODP_SUPPORT_READ |
                e.IBV_ODP_SUPPORT_ATOMIC)
        self.assertEqual(caps.rc_odp_caps & want, want,
                         "rc_odp_caps 0x%x" % caps.rc_odp_caps)

    def test_implicit_mr_covers_address_space(self):
        """MR(pd, 0, access, implicit=True) spans SIZE_MAX bytes."""
        self.assertEqual(self.mr.length, SIZE_MAX)


class TestImplicitTraffic(ImplicitTestCase):
    def test_send_recv(self):
        """RC send/recv between mmap'ed buffers, refaulted every iteration."""
        src_r, dst_r = self.region(1 << 20), self.region(32 << 20)
        length = 3 * PAGE + 1234
        s_off = 5 * PAGE + 77
        d_off = dst_r.child_boundary() - 2 * PAGE + 13    # across children
        for it in range(ITERATIONS):
            mark = counters()
            src_r.dontneed(s_off, length)
            dst_r.dontneed(d_off, length)
            data = pattern(it, length)
            src_r.write(s_off, data)
            before = counters()
            if it:
                self.assert_invalidated(mark, before, it)
            rid = self.post_recv(dst_r.addr(d_off), length)
            sid = self.post_send(e.IBV_WR_SEND, src_r.addr(s_off), length)
            self.complete(self.cq_a, sid)
            wc = self.complete(self.cq_b, rid)
            after = counters()
            self.assertEqual(wc.byte_len, length)
            self.assertEqual(dst_r.read(d_off, length), data,
                             "iteration %d: received data differ" % it)
            self.assert_faulted(before, after, it,
                                pages_spanned(src_r.addr(s_off), length) +
                                pages_spanned(dst_r.addr(d_off), length))

    def test_send_from_ctypes_heap(self):
        """RC send from a ctypes heap buffer into an mmap'ed one."""
        dst_r = self.region(1 << 20)
        length = 20000
        src = ctypes.create_string_buffer(length + 64)
        s_addr = ctypes.addressof(src) + 7
        d_off = 3 * PAGE + 501
        for it in range(ITERATIONS):
            mark = counters()
            dst_r.dontneed(d_off, length)
            data = pattern(it + 100, length)
            ctypes.memmove(s_addr, data, length)
            before = counters()
            if it:
                self.assert_invalidated(mark, before, it)
            rid = self.post_recv(dst_r.addr(d_off), length)
            sid = self.post_send(e.IBV_WR_SEND, s_addr, length)
            self.complete(self.cq_a, sid)
            self.complete(self.cq_b, rid)
            after = counters()
            self.assertEqual(dst_r.read(d_off, length), data,
                             "iteration %d: received data differ" % it)
            self.assert_faulted(before, after, it,
                                pages_spanned(dst_r.addr(d_off), length))

    def test_rdma_write(self):
        """RC RDMA write with the implicit rkey, across a child boundary."""
        src_r, dst_r = self.region(1 << 20), self.region(32 << 20)
        length = 64 * 1024 + 333
        s_off = 2 * PAGE + 9
        d_off = dst_r.child_boundary() - 5 * PAGE - 1111
        for it in range(ITERATIONS):
            mark = counters()
            src_r.dontneed(s_off, length)
            dst_r.dontneed(d_off, length)
            data = pattern(it + 200, length)
            src_r.write(s_off, data)
            before = counters()
            if it:
                self.assert_invalidated(mark, before, it)
            wid = self.post_send(e.IBV_WR_RDMA_WRITE, src_r.addr(s_off),
                                 length, raddr=dst_r.addr(d_off))
            self.complete(self.cq_a, wid)
            after = counters()
            self.assertEqual(dst_r.read(d_off, length), data,
                             "iteration %d: written data differ" % it)
            self.assert_faulted(before, after, it,
                                pages_spanned(src_r.addr(s_off), length) +
                                pages_spanned(dst_r.addr(d_off), length))

    def test_rdma_read(self):
        """RC RDMA read with the implicit rkey into an mmap'ed buffer."""
        remote_r, local_r = self.region(32 << 20), self.region(1 << 20)
        length = 40000
        r_off = remote_r.child_boundary() - 3 * PAGE + 5
        l_off = PAGE + 4000
        for it in range(ITERATIONS):
            mark = counters()
            remote_r.dontneed(r_off, length)
            local_r.dontneed(l_off, length)
            data = pattern(it + 300, length)
            remote_r.write(r_off, data)
            before = counters()
            if it:
                self.assert_invalidated(mark, before, it)
            rid = self.post_send(e.IBV_WR_RDMA_READ, local_r.addr(l_off),
                                 length, raddr=remote_r.addr(r_off))
            self.complete(self.cq_a, rid)
            after = counters()
            self.assertEqual(local_r.read(l_off, length), data,
                             "iteration %d: read data differ" % it)
            self.assert_faulted(before, after, it,
                                pages_spanned(remote_r.addr(r_off), length) +
                                pages_spanned(local_r.addr(l_off), length))

    def test_atomics(self):
        """Fetch-and-add and compare-and-swap on refaulted words."""
        remote_r, local_r = self.region(32 << 20), self.region(1 << 20)
        r_off = remote_r.child_boundary() - 8        # last word of a child
        l_off = 7 * PAGE + 24
        for it in range(ITERATIONS):
            start = 0x1122334455660000 + it
            add = 0x1000 + it
            swap = 0x0f0e0d0c0b0a0900 | it
            mark = counters()
            remote_r.dontneed(r_off, 8)
            local_r.dontneed(l_off, 8)
            remote_r.write(r_off, struct.pack("=Q", start))
            before = counters()
            if it:
                self.assert_invalidated(mark, before, it)
            fid = self.post_send(e.IBV_WR_ATOMIC_FETCH_AND_ADD,
                                 local_r.addr(l_off), 8,
                                 raddr=remote_r.addr(r_off),
                                 compare_add=add)
            self.complete(self.cq_a, fid)
            after = counters()
            self.assert_faulted(before, after, it, 2)
            self.assertEqual(struct.unpack("=Q", local_r.read(l_off, 8))[0],
                             start, "fetch-and-add returned a wrong value")
            self.assertEqual(struct.unpack("=Q", remote_r.read(r_off, 8))[0],
                             start + add, "fetch-and-add did not add")
            # A compare that fails leaves the word alone ...
            cid = self.post_send(e.IBV_WR_ATOMIC_CMP_AND_SWP,
                                 local_r.addr(l_off), 8,
                                 raddr=remote_r.addr(r_off),
                                 compare_add=start, swap=swap)
            self.complete(self.cq_a, cid)
            self.assertEqual(struct.unpack("=Q", local_r.read(l_off, 8))[0],
                             start + add)
            self.assertEqual(struct.unpack("=Q", remote_r.read(r_off, 8))[0],
                             start + add, "failed compare swapped")
            # ... one that matches swaps.
            cid = self.post_send(e.IBV_WR_ATOMIC_CMP_AND_SWP,
                                 local_r.addr(l_off), 8,
                                 raddr=remote_r.addr(r_off),
                                 compare_add=start + add, swap=swap)
            self.complete(self.cq_a, cid)
            self.assertEqual(struct.unpack("=Q", local_r.read(l_off, 8))[0],
                             start + add)
            self.assertEqual(struct.unpack("=Q", remote_r.read(r_off, 8))[0],
                             swap, "compare-and-swap did not swap")

    def test_unmapped_remote_address(self):
        """An RDMA write to just unmapped memory: remote access error."""
        src_r = self.region(1 << 20)
        hole = Region(4 << 20)
        hole_addr = hole.addr(2 << 20)
        hole.close()                       # now nothing is mapped there
        src_r.write(0, pattern(7, 4096))
        wid = self.post_send(e.IBV_WR_RDMA_WRITE, src_r.addr(0), 4096,
                             raddr=hole_addr)
        self.complete(self.cq_a, wid, e.IBV_WC_REM_ACCESS_ERR)


class TestImplicitPrefetch(ImplicitTestCase):
    LENGTH = 1 << 20

    def buffers(self):
        src_r, dst_r = self.region(4 << 20), self.region(32 << 20)
        s_off = PAGE + 100
        d_off = dst_r.child_boundary() - self.LENGTH // 2 + 300
        return src_r, s_off, dst_r, d_off

    def refresh(self, it, src_r, s_off, dst_r, d_off):
        """Throws both buffers' pages away; refills the source by CPU."""
        src_r.dontneed(s_off, self.LENGTH)
        dst_r.dontneed(d_off, self.LENGTH)
        data = pattern(it + 400, self.LENGTH)
        src_r.write(s_off, data)
        return data

    def write_without_fault(self, it, src_r, s_off, dst_r, d_off, data):
        """RDMA write src -> dst; it must not fault anything in."""
        before = counters()
        wid = self.post_send(e.IBV_WR_RDMA_WRITE, src_r.addr(s_off),
                             self.LENGTH, raddr=dst_r.addr(d_off))
        self.complete(self.cq_a, wid)
        d = delta(before, counters())
        self.assertEqual(dst_r.read(d_off, self.LENGTH), data,
                         "iteration %d: written data differ" % it)
        self.assertEqual(d["odp_faults"], 0,
                         "iteration %d: prefetched write faulted: %s" % (it, d))
        self.assertEqual(d["odp_pages_faulted"], 0,
                         "iteration %d: %s" % (it, d))

    def test_prefetch_sync(self):
        """advise_mr with FLUSH mirrors the pages before it returns."""
        src_r, s_off, dst_r, d_off = self.buffers()
        pages = (pages_spanned(src_r.addr(s_off), self.LENGTH) +
                 pages_spanned(dst_r.addr(d_off), self.LENGTH))
        for it in range(ITERATIONS):
            data = self.refresh(it, src_r, s_off, dst_r, d_off)
            before = counters()
            self.pd.advise_mr(e._IBV_ADVISE_MR_ADVICE_PREFETCH,
                              e._IBV_ADVISE_MR_FLAG_FLUSH,
                              [self.sge(src_r.addr(s_off), self.LENGTH)])
            self.pd.advise_mr(e._IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
                              e._IBV_ADVISE_MR_FLAG_FLUSH,
                              [self.sge(dst_r.addr(d_off), self.LENGTH)])
            d = delta(before, counters())
            self.assertEqual(d["odp_prefetches"], 2, "iteration %d: %s" %
                             (it, d))
            self.assertGreaterEqual(d["odp_pages_faulted"], pages,
                                    "iteration %d: %s" % (it, d))
            self.write_without_fault(it, src_r, s_off, dst_r, d_off, data)

    def test_prefetch_async(self):
        """advise_mr without FLUSH: the work mirrors the pages later."""
        src_r, s_off, dst_r, d_off = self.buffers()
        pages = (pages_spanned(src_r.addr(s_off), self.LENGTH) +
                 pages_spanned(dst_r.addr(d_off), self.LENGTH))
        for it in range(ITERATIONS):
            data = self.refresh(it, src_r, s_off, dst_r, d_off)
            before = counters()
            self.pd.advise_mr(e._IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
                              [self.sge(src_r.addr(s_off), self.LENGTH),
                               self.sge(dst_r.addr(d_off), self.LENGTH)])
            deadline = time.monotonic() + POLL_TIMEOUT
            while True:
                d = delta(before, counters())
                if d["odp_pages_faulted"] >= pages or \
                        time.monotonic() > deadline:
                    break
            self.assertEqual(d["odp_prefetches"], 2, "iteration %d: %s" %
                             (it, d))
            self.assertGreaterEqual(d["odp_pages_faulted"], pages,
                                    "iteration %d: the prefetch work never "
                                    "mirrored the pages: %s" % (it, d))
            self.write_without_fault(it, src_r, s_off, dst_r, d_off, data)

    def test_prefetch_unmapped_sync_fails(self):
        """A synchronous prefetch of unmapped memory reports EFAULT."""
        hole = Region(4 << 20)
        hole_addr = hole.addr(0)
        hole.close()
        with self.assertRaises(PyverbsRDMAError) as ctx:
            self.pd.advise_mr(e._IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
                              e._IBV_ADVISE_MR_FLAG_FLUSH,
                              [self.sge(hole_addr, 4 << 20)])
        self.assertEqual(ctx.exception.error_code, 14)     # EFAULT


def main():
    global DEVICE
    DEVICE, names = mp.device_arg(sys.argv[1:], DEVICE)
    return mp.run(sys.modules[__name__], names)


if __name__ == "__main__":
    sys.exit(main())
