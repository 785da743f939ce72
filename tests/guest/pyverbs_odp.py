#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ODP memory regions on mirror0 through pyverbs, run in the guest.

Every buffer the device touches is an anonymous mapping of our own (4 KiB
pages, THP off) registered with IBV_ACCESS_ON_DEMAND. Before each iteration
the buffers get MADV_DONTNEED, so the device's mirror of them is dropped and
the operation must fault the (new) pages in again: each iteration checks the
bytes that arrived and that the device-wide odp_* counters in sysfs moved.

usage: pyverbs_odp.py [-d DEVICE] [TEST-NAME...]
Prints one line per test with its name and result; exits non-zero when any
test fails, errors, or is skipped.
"""
import ctypes
import errno
import os
import struct
import sys
import time
import unittest

import pyverbs.enums as e
from pyverbs.addr import AH
from pyverbs.cq import CQ
from pyverbs.device import Context
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.pyverbs_error import PyverbsRDMAError
from pyverbs.qp import QP, QPCap, QPInitAttr
from pyverbs.wr import SGE, RecvWR, SendWR

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mirror_pyverbs as mp  # noqa: E402

DEV = "mirror0"
ITERS = 5
PAGE = 4096
BUF = 64 * 1024  # 16 pages
WC_TIMEOUT = 20.0  # seconds; faults under QEMU/TCG are slow
QKEY = 0x11111111

# <sys/mman.h>, x86_64
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000
MADV_DONTNEED, MADV_HUGEPAGE, MADV_NOHUGEPAGE = 4, 14, 15

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

ODP_COUNTERS = ("odp_faults", "odp_pages_faulted", "odp_invalidations",
                "odp_pages_invalidated", "odp_prefetches", "odp_fault_retries")

ODP = e.IBV_ACCESS_ON_DEMAND
LW = e.IBV_ACCESS_LOCAL_WRITE
RW = e.IBV_ACCESS_REMOTE_WRITE
RR = e.IBV_ACCESS_REMOTE_READ
RA = e.IBV_ACCESS_REMOTE_ATOMIC
ALL = LW | RW | RR | RA

ADV_PREFETCH = e._IBV_ADVISE_MR_ADVICE_PREFETCH
ADV_PREFETCH_WRITE = e._IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE
ADV_NO_FAULT = e._IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT
FLUSH = e._IBV_ADVISE_MR_FLAG_FLUSH


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


class Mem:
    """An anonymous private mapping of our own, 4 KiB pages (no THP)."""

    def __init__(self, size, prot=PROT_READ | PROT_WRITE):
        addr = _libc.mmap(None, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), "mmap of %d bytes failed" % size)
        self.addr, self.size = addr, size
        _check(_libc.madvise(addr, size, MADV_NOHUGEPAGE), "MADV_NOHUGEPAGE")

    def dontneed(self, off=0, length=None):
        """Drops the pages: the next access (CPU or device) gets new ones."""
        length = self.size - off if length is None else length
        _check(_libc.madvise(self.addr + off, length, MADV_DONTNEED),
               "MADV_DONTNEED")

    def unmap_range(self, off, length):
        _check(_libc.munmap(self.addr + off, length), "munmap")

    def write(self, data, off=0):
        ctypes.memmove(self.addr + off, data, len(data))

    def read(self, length, off=0):
        return ctypes.string_at(self.addr + off, length)

    def close(self):
        if self.addr is not None:
            _libc.munmap(self.addr, self.size)
            self.addr = None


class Counters(mp.Counters):
    """A snapshot of the device's odp_* counters; delta() against now."""

    def __init__(self):
        super().__init__(DEV, ODP_COUNTERS)


def vm_pin_kb():
    """This process's pinned memory (VmPin of /proc/self/status), KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmPin:"):
                return int(line.split()[1])
    raise RuntimeError("no VmPin in /proc/self/status")


def pattern(n):
    """N random bytes, never all zero (zero is what a dropped page reads)."""
    data = bytearray(os.urandom(n))
    data[0] |= 1
    return bytes(data)


class OdpTestCase(unittest.TestCase):
    """One device context for the class; per test a PD, CQs, QPs, MRs and
    mappings, all closed in tearDown (MRs before their mappings)."""

    @classmethod
    def setUpClass(cls):
        cls.ctx = Context(name=DEV)
        cls.gid_index, cls.gid = mp.ipv4_rocev2_gid(DEV)
        if cls.gid_index is None:
            raise RuntimeError("no IPv4 RoCEv2 GID on %s" % DEV)

    @classmethod
    def tearDownClass(cls):
        cls.ctx.close()

    def setUp(self):
        self.objs = []
        self.cq_of = {}  # QP number -> its CQ (send and receive)
        self.pd = self.own(PD(self.ctx))

    def tearDown(self):
        for obj in reversed(self.objs):
            obj.close()
        self.objs = []

    def own(self, obj):
        self.objs.append(obj)
        return obj

    # Memory -------------------------------------------------------------

    def mem(self, size=BUF):
        return self.own(Mem(size))

    def odp_mr(self, mem, access, length=None, off=0):
        return self.own(MR(self.pd, mem.size if length is None else length,
                           access | ODP, address=mem.addr + off))

    def pinned_mr(self, mem, access):
        mem.write(b"\0" * mem.size)
        return self.own(MR(self.pd, mem.size, access, address=mem.addr))

    # QPs ----------------------------------------------------------------

    def cq(self):
        return self.own(CQ(self.ctx, 64))

    def av(self):
        return mp.av_to(self.gid_index, self.gid)

    def qp(self, qp_type):
        cq = self.cq()
        cap = QPCap(max_send_wr=16, max_recv_wr=16, max_send_sge=2,
                    max_recv_sge=2)
        qp = self.own(QP(self.pd, QPInitAttr(qp_type=qp_type, scq=cq, rcq=cq,
                                             cap=cap, sq_sig_all=1)))
        self.cq_of[qp.qp_num] = cq
        return qp

    def rc_pair(self):
        """Two RC QPs on the device, connected to each other."""
        a, b = self.qp(e.IBV_QPT_RC), self.qp(e.IBV_QPT_RC)
        mp.connect_rc(a, b.qp_num, self.av(), RW | RR | RA)
        mp.connect_rc(b, a.qp_num, self.av(), RW | RR | RA)
        return a, b

    def ud_qp(self):
        qp = self.qp(e.IBV_QPT_UD)
        mp.connect_ud(qp, QKEY)
        return qp

    # Work requests --------------------------------------------------------

    def wait_wc(self, cq, what):
        """The next completion of CQ; fails the test after WC_TIMEOUT."""
        wc = mp.wait_wc(cq, WC_TIMEOUT)
        if wc is None:
            self.fail("%s: no completion within %.0f s" % (what, WC_TIMEOUT))
        return wc

    def wait_ok(self, cq, what):
        wc = self.wait_wc(cq, what)
        self.assertEqual(wc.status, e.IBV_WC_SUCCESS,
                         "%s: completion status %d" % (what, wc.status))
        return wc

    def rdma(self, qp, opcode, local_addr, length, lkey, remote_addr, rkey):
        wr = SendWR(wr_id=opcode, opcode=opcode, num_sge=1,
                    sg=[SGE(local_addr, length, lkey)],
                    send_flags=e.IBV_SEND_SIGNALED)
        wr.set_wr_rdma(rkey, remote_addr)
        qp.post_send(wr)
        return self.wait_ok(self.cq_of[qp.qp_num], "opcode %d" % opcode)

    def atomic(self, qp, opcode, result_addr, lkey, remote_addr, rkey,
               compare_add, swap=0):
        wr = SendWR(wr_id=opcode, opcode=opcode, num_sge=1,
                    sg=[SGE(result_addr, 8, lkey)],
                    send_flags=e.IBV_SEND_SIGNALED)
        wr.set_wr_atomic(rkey, remote_addr, compare_add, swap)
        qp.post_send(wr)
        return self.wait_ok(self.cq_of[qp.qp_num],
                            "atomic opcode %d" % opcode)

    def advise(self, advice, flags, sges):
        """ibv_advise_mr(); 0 or the errno it returned."""
        try:
            self.pd.advise_mr(advice, flags, sges)
        except PyverbsRDMAError as err:
            return err.error_code
        return 0

    # Counters -------------------------------------------------------------

    def assert_faulted(self, before, min_pages, what):
        """The odp counters since BEFORE show at least one fault that
        mirrored at least MIN_PAGES pages."""
        d = before.delta()
        self.assertGreaterEqual(d["odp_faults"], 1,
                                "%s: odp_faults did not grow (%s)" % (what, d))
        self.assertGreaterEqual(
            d["odp_pages_faulted"], min_pages,
            "%s: odp_pages_faulted grew by %d, want >= %d" %
            (what, d["odp_pages_faulted"], min_pages))

    def assert_no_fault(self, before, what):
        d = before.delta()
        self.assertEqual(d["odp_faults"], 0,
                         "%s: odp_faults grew by %d (%s)" %
                         (what, d["odp_faults"], d))

    def dontneed(self, *mems):
        """MADV_DONTNEED on MEMS; once the device has mirrored them (after
        iteration 0) this must invalidate the mirror."""
        before = Counters()
        for m in mems:
            m.dontneed()
        return before.delta()

    def assert_invalidated(self, d, it, what):
        if it == 0:
            return
        self.assertGreaterEqual(
            d["odp_invalidations"], 1,
            "%s, iteration %d: MADV_DONTNEED of mirrored pages did not "
            "count an invalidation (%s)" % (what, it, d))
        self.assertGreaterEqual(d["odp_pages_invalidated"], 1, d)


class OdpRegistration(OdpTestCase):
    def test_odp_caps_from_query_device_ex(self):
        """general_caps: SUPPORT and SUPPORT_IMPLICIT; per transport: the list."""
        caps = self.ctx.query_device_ex().odp_caps
        self.assertTrue(caps.general_caps & e.IBV_ODP_SUPPORT,
                        "general_caps 0x%x lacks IBV_ODP_SUPPORT" %
                        caps.general_caps)
        self.assertTrue(caps.general_caps & e.IBV_ODP_SUPPORT_IMPLICIT,
                        "general_caps 0x%x lacks IBV_ODP_SUPPORT_IMPLICIT" %
                        caps.general_caps)
        want = {
            "rc": e.IBV_ODP_SUPPORT_SEND | e.IBV_ODP_SUPPORT_RECV |
                  e.IBV_ODP_SUPPORT_WRITE | e.IBV_ODP_SUPPORT_READ |
                  e.IBV_ODP_SUPPORT_ATOMIC | e.IBV_ODP_SUPPORT_SRQ_RECV,
            "ud": e.IBV_ODP_SUPPORT_SEND | e.IBV_ODP_SUPPORT_RECV |
                  e.IBV_ODP_SUPPORT_SRQ_RECV,
            "uc": e.IBV_ODP_SUPPORT_SEND | e.IBV_ODP_SUPPORT_RECV |
                  e.IBV_ODP_SUPPORT_WRITE,
        }
        got = {"rc": caps.rc_odp_caps, "ud": caps.ud_odp_caps,
               "uc": caps.uc_odp_caps}
        for t in want:
            self.assertEqual(got[t], want[t], "%s_odp_caps 0x%x, want 0x%x" %
                             (t, got[t], want[t]))

    def test_odp_mr_over_unmapped_range_registers(self):
        """ibv_reg_mr(ON_DEMAND) over a range with a hole succeeds, faults
        nothing in, and the hole stays a hole (it can be mapped again)."""
        m = self.mem(4 * PAGE)
        m.unmap_range(PAGE, 2 * PAGE)
        before = Counters()
        mr = self.odp_mr(m, LW | RW)
        self.assertEqual(mr.length, 4 * PAGE)
        d = before.delta()
        self.assertEqual(d["odp_pages_faulted"], 0, d)
        addr = _libc.mmap(m.addr + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                          -1, 0)
        self.assertEqual(addr, m.addr + PAGE,
                         "the hole was not free any more: %s" %
                         os.strerror(ctypes.get_errno()))

    def test_odp_mr_pins_nothing(self):
        """An ODP MR over 4 MiB of touched memory, then written by RDMA,
        leaves the process's VmPin alone; a pinned MR of the same size
        moves it (so the measure works)."""
        size = 4 << 20
        qa, _ = self.rc_pair()
        m, src = self.mem(size), self.mem(size)
        m.write(b"\x01" * size)
        smr = self.odp_mr(src, LW)
        pin0 = vm_pin_kb()
        mr = self.odp_mr(m, LW | RW)
        src.write(pattern(size))
        self.rdma(qa, e.IBV_WR_RDMA_WRITE, src.addr, size, smr.lkey, m.addr,
                  mr.rkey)
        self.assertEqual(m.read(size), src.read(size))
        self.assertEqual(vm_pin_kb(), pin0, "an ODP MR pinned pages")
        pinned = self.pinned_mr(self.mem(size), LW)
        self.assertGreaterEqual(vm_pin_kb() - pin0, size >> 10,
                                "a pinned MR did not show in VmPin")
        pinned.close()


class OdpTraffic(OdpTestCase):
    def test_rc_send_recv(self):
        """RC send from an ODP buffer into an ODP receive buffer."""
        qa, qb = self.rc_pair()
        src, dst = self.mem(), self.mem()
        smr, rmr = self.odp_mr(src, LW), self.odp_mr(dst, LW)
        for it in range(ITERS):
            inv = self.dontneed(src, dst)
            self.assert_invalidated(inv, it, "RC send")
            n = BUF - it * 1000  # a different length each time
            data = pattern(n)
            src.write(data)
            before = Counters()
            qb.post_recv(RecvWR(wr_id=it, num_sge=1,
                                sg=[SGE(dst.addr, BUF, rmr.lkey)]))
            qa.post_send(SendWR(wr_id=it, opcode=e.IBV_WR_SEND, num_sge=1,
                                sg=[SGE(src.addr, n, smr.lkey)]))
            self.wait_ok(self.cq_of[qa.qp_num], "send, iteration %d" % it)
            wc = self.wait_ok(self.cq_of[qb.qp_num],
                              "receive, iteration %d" % it)
            self.assertEqual(wc.opcode, e.IBV_WC_RECV)
            self.assertEqual(wc.byte_len, n)
            self.assertEqual(dst.read(n), data, "iteration %d" % it)
            self.assert_faulted(before, n // PAGE,
                                "RC send, iteration %d" % it)

    def test_ud_send_recv(self):
        """UD send from an ODP buffer into an ODP receive buffer; both cross
        a page boundary."""
        qa, qb = self.ud_qp(), self.ud_qp()
        ah = self.own(AH(self.pd, attr=self.av()))
        src, dst = self.mem(4 * PAGE), self.mem(4 * PAGE)
        smr, rmr = self.odp_mr(src, LW), self.odp_mr(dst, LW)
        n = 1000
        soff, roff = PAGE - 300, 2 * PAGE - 40 - 500
        for it in range(ITERS):
            inv = self.dontneed(src, dst)
            self.assert_invalidated(inv, it, "UD send")
            data = pattern(n)
            src.write(data, soff)
            before = Counters()
            qb.post_recv(RecvWR(wr_id=it, num_sge=1,
                                sg=[SGE(dst.addr + roff, 40 + n, rmr.lkey)]))
            wr = SendWR(wr_id=it, opcode=e.IBV_WR_SEND, num_sge=1,
                        sg=[SGE(src.addr + soff, n, smr.lkey)])
            wr.set_wr_ud(ah, qb.qp_num, QKEY)
            qa.post_send(wr)
            self.wait_ok(self.cq_of[qa.qp_num], "UD send, iteration %d" % it)
            wc = self.wait_ok(self.cq_of[qb.qp_num],
                              "UD receive, iteration %d" % it)
            self.assertEqual(wc.byte_len, 40 + n)
            self.assertEqual(wc.src_qp, qa.qp_num)
            self.assertTrue(wc.wc_flags & e.IBV_WC_GRH)
            self.assertEqual(dst.read(n, roff + 40), data, "iteration %d" % it)
            # The receive buffer's two pages were not present.
            self.assert_faulted(before, 2, "UD send, iteration %d" % it)

    def test_rdma_write(self):
        """RDMA write from an ODP buffer into an ODP buffer by rkey; the
        counters follow the contract's counting rules exactly."""
        qa, _ = self.rc_pair()
        src, dst = self.mem(), self.mem()
        smr, dmr = self.odp_mr(src, LW), self.odp_mr(dst, LW | RW)
        for it in range(ITERS):
            inv = self.dontneed(src, dst)
            self.assert_invalidated(inv, it, "RDMA write")
            data = pattern(BUF)
            src.write(data)
            before = Counters()
            self.rdma(qa, e.IBV_WR_RDMA_WRITE, src.addr, BUF, smr.lkey,
                      dst.addr, dmr.rkey)
            self.assertEqual(dst.read(BUF), data, "iteration %d" % it)
            # The contract's counting rule for 4 KiB pages: every page of
            # both buffers (the source present but no longer mirrored, the
            # target absent) becomes mirrored through a fault, one fault
            # per 2 MiB-aligned block each buffer touches (1 or 2).
            d = before.delta()
            self.assertEqual(d["odp_pages_faulted"], 2 * BUF // PAGE,
                             "RDMA write, iteration %d: %s" % (it, d))
            self.assertTrue(2 <= d["odp_faults"] <= 4,
                            "RDMA write, iteration %d: %s" % (it, d))

    def test_rdma_write_into_cpu_touched_pages_needs_no_fault(self):
        """Pages the CPU touched before registration are mirrored at
        registration: an RDMA write between them faults nothing."""
        qa, _ = self.rc_pair()
        src, dst = self.mem(), self.mem()
        data = pattern(BUF)
        src.write(data)
        dst.write(b"\xee" * BUF)
        smr, dmr = self.odp_mr(src, LW), self.odp_mr(dst, LW | RW)
        before = Counters()
        self.rdma(qa, e.IBV_WR_RDMA_WRITE, src.addr, BUF, smr.lkey, dst.addr,
                  dmr.rkey)
        self.assertEqual(dst.read(BUF), data)
        self.assert_no_fault(before, "write between CPU-touched pages")

    def test_rdma_read(self):
        """RDMA read from an ODP buffer by rkey into an ODP buffer; a page
        dropped by MADV_DONTNEED reads as zeros, then as what the CPU wrote
        there next."""
        qa, _ = self.rc_pair()
        loc, rem = self.mem(), self.mem()
        lmr, rmr = self.odp_mr(loc, LW), self.odp_mr(rem, RR)
        for it in range(ITERS):
            inv = self.dontneed(loc, rem)
            self.assert_invalidated(inv, it, "RDMA read")
            # The remote pages are gone: the device must read zeros.
            loc.write(b"\xff" * BUF)
            self.rdma(qa, e.IBV_WR_RDMA_READ, loc.addr, BUF, lmr.lkey,
                      rem.addr, rmr.rkey)
            self.assertEqual(loc.read(BUF), bytes(BUF),
                             "iteration %d: dropped pages did not read as 0" %
                             it)
            # The CPU writes the remote pages (new pages replace what the
            # device mirrored); the local target is dropped again.
            data = pattern(BUF)
            rem.write(data)
            loc.dontneed()
            before = Counters()
            self.rdma(qa, e.IBV_WR_RDMA_READ, loc.addr, BUF, lmr.lkey,
                      rem.addr, rmr.rkey)
            self.assertEqual(loc.read(BUF), data, "iteration %d" % it)
            self.assert_faulted(before, BUF // PAGE,
                                "RDMA read, iteration %d" % it)

    def test_atomics(self):
        """Fetch-and-add and compare-and-swap on an ODP target with the
        result in an ODP buffer."""
        qa, _ = self.rc_pair()
        res, rem = self.mem(2 * PAGE), self.mem(2 * PAGE)
        lmr, rmr = self.odp_mr(res, LW), self.odp_mr(rem, LW | RA)
        roff, loff = PAGE + 64, 8
        raddr, laddr = rem.addr + roff, res.addr + loff

        def u64(mem, off):
            return struct.unpack("=Q", mem.read(8, off))[0]

        for it in range(ITERS):
            inv = self.dontneed(res, rem)
            self.assert_invalidated(inv, it, "atomics")
            # Dropped target reads 0: fetch-and-add returns 0.
            before = Counters()
            self.atomic(qa, e.IBV_WR_ATOMIC_FETCH_AND_ADD, laddr, lmr.lkey,
                        raddr, rmr.rkey, 5)
            self.assertEqual(u64(res, loff), 0, "iteration %d" % it)
            self.assertEqual(u64(rem, roff), 5, "iteration %d" % it)
            self.assert_faulted(before, 1, "fetch-and-add, iteration %d" % it)

            res.dontneed()
            v = struct.unpack("=Q", os.urandom(8))[0] >> 2
            rem.write(struct.pack("=Q", v), roff)
            add = 0x100000001 + it
            before = Counters()
            self.atomic(qa, e.IBV_WR_ATOMIC_FETCH_AND_ADD, laddr, lmr.lkey,
                        raddr, rmr.rkey, add)
            self.assertEqual(u64(res, loff), v, "iteration %d" % it)
            self.assertEqual(u64(rem, roff), v + add, "iteration %d" % it)
            self.assert_faulted(before, 1, "fetch-and-add, iteration %d" % it)

            res.dontneed()
            swap = 0xdead0000beef0000 + it
            before = Counters()
            self.atomic(qa, e.IBV_WR_ATOMIC_CMP_AND_SWP, laddr, lmr.lkey,
                        raddr, rmr.rkey, v + add, swap)
            self.assertEqual(u64(res, loff), v + add, "iteration %d" % it)
            self.assertEqual(u64(rem, roff), swap, "iteration %d" % it)
            self.assert_faulted(before, 1,
                                "compare-and-swap, iteration %d" % it)

            # A compare that does not match leaves the target alone.
            self.atomic(qa, e.IBV_WR_ATOMIC_CMP_AND_SWP, laddr, lmr.lkey,
                        raddr, rmr.rkey, swap + 1, 7)
            self.assertEqual(u64(res, loff), swap, "iteration %d" % it)
            self.assertEqual(u64(rem, roff), swap, "iteration %d" % it)


class OdpPrefetch(OdpTestCase):
    def setUp(self):
        super().setUp()
        self.qa, _ = self.rc_pair()
        # A pinned peer buffer, so that only the buffer under test is ODP.
        self.pmem = self.mem()
        self.pmr = self.pinned_mr(self.pmem, LW | RW | RR)

    def write_from(self, mem, mr):
        """RDMA write of MEM (whole) into the pinned buffer."""
        self.pmem.write(b"\xee" * BUF)
        self.rdma(self.qa, e.IBV_WR_RDMA_WRITE, mem.addr, BUF, mr.lkey,
                  self.pmem.addr, self.pmr.rkey)

    def test_prefetch_sync(self):
        """PREFETCH with FLUSH mirrors the range before returning: the RDMA
        write that then reads it faults nothing; two SGEs count twice."""
        m = self.mem()
        mr = self.odp_mr(m, LW)
        half = BUF // 2
        for it in range(ITERS):
            self.dontneed(m)
            # Even iterations: the CPU wrote the pages; odd: untouched
            # (the device mirrors the zero page).
            data = pattern(BUF) if it % 2 == 0 else bytes(BUF)
            if it % 2 == 0:
                m.write(data)
            before = Counters()
            rc = self.advise(ADV_PREFETCH, FLUSH,
                             [SGE(m.addr, half, mr.lkey),
                              SGE(m.addr + half, half, mr.lkey)])
            self.assertEqual(rc, 0, "iteration %d: %s" % (it, os.strerror(rc)))
            d = before.delta()
            self.assertEqual(d["odp_prefetches"], 2, d)
            self.assertGreaterEqual(d["odp_pages_faulted"], BUF // PAGE, d)
            before = Counters()
            self.write_from(m, mr)
            self.assertEqual(self.pmem.read(BUF), data, "iteration %d" % it)
            self.assert_no_fault(before, "write from a prefetched source, "
                                 "iteration %d" % it)

    def test_prefetch_write_sync(self):
        """PREFETCH_WRITE with FLUSH on untouched pages: an RDMA write into
        them faults nothing."""
        m = self.mem()
        mr = self.odp_mr(m, LW | RW)
        for it in range(ITERS):
            self.dontneed(m)
            before = Counters()
            rc = self.advise(ADV_PREFETCH_WRITE, FLUSH,
                             [SGE(m.addr, BUF, mr.lkey)])
            self.assertEqual(rc, 0, "iteration %d: %s" % (it, os.strerror(rc)))
            d = before.delta()
            self.assertEqual(d["odp_prefetches"], 1, d)
            self.assertEqual(d["odp_pages_faulted"], BUF // PAGE, d)
            data = pattern(BUF)
            self.pmem.write(data)
            before = Counters()
            self.rdma(self.qa, e.IBV_WR_RDMA_WRITE, self.pmem.addr, BUF,
                      self.pmr.lkey, m.addr, mr.rkey)
            self.assertEqual(m.read(BUF), data, "iteration %d" % it)
            self.assert_no_fault(before, "write into prefetched pages, "
                                 "iteration %d" % it)

    def test_prefetch_async(self):
        """PREFETCH_WRITE without FLUSH returns at once and mirrors the
        range later; once it has, an RDMA write into it faults nothing."""
        m = self.mem()
        mr = self.odp_mr(m, LW | RW)
        for it in range(ITERS):
            self.dontneed(m)
            before = Counters()
            rc = self.advise(ADV_PREFETCH_WRITE, 0,
                             [SGE(m.addr, BUF, mr.lkey)])
            self.assertEqual(rc, 0, "iteration %d: %s" % (it, os.strerror(rc)))
            deadline = time.monotonic() + WC_TIMEOUT
            while (before.delta()["odp_pages_faulted"] < BUF // PAGE and
                   time.monotonic() < deadline):
                time.sleep(0.01)
            d = before.delta()
            self.assertEqual(d["odp_prefetches"], 1, d)
            self.assertEqual(d["odp_pages_faulted"], BUF // PAGE,
                             "iteration %d: the async prefetch did not mirror "
                             "the range within %.0f s (%s)" %
                             (it, WC_TIMEOUT, d))
            data = pattern(BUF)
            self.pmem.write(data)
            before = Counters()
            self.rdma(self.qa, e.IBV_WR_RDMA_WRITE, self.pmem.addr, BUF,
                      self.pmr.lkey, m.addr, mr.rkey)
            self.assertEqual(m.read(BUF), data, "iteration %d" % it)
            self.assert_no_fault(before, "write after an async prefetch, "
                                 "iteration %d" % it)

    def test_prefetch_no_fault(self):
        """PREFETCH_NO_FAULT mirrors only what is present: on dropped pages
        it faults nothing and the next RDMA write must fault; on pages the
        CPU wrote it mirrors them and reading them by RDMA faults nothing."""
        m = self.mem()
        mr = self.odp_mr(m, LW | RW)
        for it in range(ITERS):
            self.dontneed(m)
            before = Counters()
            rc = self.advise(ADV_NO_FAULT, FLUSH, [SGE(m.addr, BUF, mr.lkey)])
            self.assertEqual(rc, 0, "iteration %d: %s" % (it, os.strerror(rc)))
            d = before.delta()
            self.assertEqual(d["odp_prefetches"], 1, d)
            self.assertEqual(d["odp_pages_faulted"], 0,
                             "iteration %d: NO_FAULT faulted pages (%s)" %
                             (it, d))
            data = pattern(BUF)
            self.pmem.write(data)
            before = Counters()
            self.rdma(self.qa, e.IBV_WR_RDMA_WRITE, self.pmem.addr, BUF,
                      self.pmr.lkey, m.addr, mr.rkey)
            self.assertEqual(m.read(BUF), data, "iteration %d" % it)
            self.assert_faulted(before, BUF // PAGE,
                                "write after NO_FAULT on dropped pages, "
                                "iteration %d" % it)

            # Present, not mirrored: NO_FAULT mirrors them.
            self.dontneed(m)
            data = pattern(BUF)
            m.write(data)
            rc = self.advise(ADV_NO_FAULT, FLUSH, [SGE(m.addr, BUF, mr.lkey)])
            self.assertEqual(rc, 0, "iteration %d: %s" % (it, os.strerror(rc)))
            before = Counters()
            self.write_from(m, mr)
            self.assertEqual(self.pmem.read(BUF), data, "iteration %d" % it)
            self.assert_no_fault(before, "write from pages NO_FAULT mirrored, "
                                 "iteration %d" % it)

    def check_advise_errors(self, flags):
        """The contract's errnos of ibv_advise_mr() with FLAGS; rejected
        calls do not count as prefetches."""
        m = self.mem()
        mr = self.odp_mr(m, LW | RW)
        ro_mem = self.mem()
        ro = self.odp_mr(ro_mem, RR)  # no LOCAL_WRITE
        gone_mem = self.mem()
        gone = MR(self.pd, BUF, LW | ODP, address=gone_mem.addr)
        gone_lkey = gone.lkey
        gone.close()
        cases = [
            ("unknown lkey", ADV_PREFETCH, [SGE(m.addr, PAGE, gone_lkey)],
             errno.ENOENT),
            ("lkey of a pinned MR", ADV_PREFETCH,
             [SGE(self.pmem.addr, PAGE, self.pmr.lkey)], errno.EINVAL),
            ("range past the MR's end", ADV_PREFETCH,
             [SGE(m.addr + BUF - PAGE, 2 * PAGE, mr.lkey)], errno.EFAULT),
            ("range before the MR's start", ADV_PREFETCH,
             [SGE(m.addr - PAGE, 2 * PAGE, mr.lkey)], errno.EFAULT),
            ("PREFETCH_WRITE without LOCAL_WRITE", ADV_PREFETCH_WRITE,
             [SGE(ro_mem.addr, PAGE, ro.lkey)], errno.EACCES),
        ]
        for what, advice, sges, want in cases:
            before = Counters()
            rc = self.advise(advice, flags, sges)
            self.assertEqual(rc, want, "%s: got %s, want %s" %
                             (what, errno.errorcode.get(rc, rc),
                              errno.errorcode[want]))
            self.assertEqual(before.delta()["odp_prefetches"], 0,
                             "%s: a rejected advice was counted" % what)

    def test_prefetch_errors_sync(self):
        """With FLUSH: ENOENT, EINVAL, EFAULT, EACCES as the contract says."""
        self.check_advise_errors(FLUSH)

    def test_prefetch_errors_async(self):
        """Without FLUSH the same checks fail the call at once."""
        self.check_advise_errors(0)

    def test_prefetch_sync_of_unmapped_range_fails(self):
        """A synchronous prefetch of a hole inside an ODP MR returns EFAULT;
        the mapped pages around it still prefetch."""
        m = self.mem(4 * PAGE)
        mr = self.odp_mr(m, LW | RW)
        m.unmap_range(PAGE, 2 * PAGE)
        for advice in (ADV_PREFETCH, ADV_PREFETCH_WRITE):
            rc = self.advise(advice, FLUSH, [SGE(m.addr + PAGE, 2 * PAGE,
                                                 mr.lkey)])
            self.assertEqual(rc, errno.EFAULT, "advice %d: got %s" %
                             (advice, errno.errorcode.get(rc, rc)))
            rc = self.advise(advice, FLUSH, [SGE(m.addr, PAGE, mr.lkey)])
            self.assertEqual(rc, 0, "advice %d on the mapped first page: %s" %
                             (advice, os.strerror(rc)))

    def test_dereg_during_async_prefetch(self):
        """Deregistering an MR right after an async prefetch of 32 MiB is
        safe, and the device keeps working."""
        size = 32 << 20
        for it in range(3):
            m = Mem(size)
            mr = MR(self.pd, size, LW | RW | ODP, address=m.addr)
            rc = self.advise(ADV_PREFETCH_WRITE, 0,
                             [SGE(m.addr, size, mr.lkey)])
            mr.close()
            m.close()
            self.assertEqual(rc, 0, "iteration %d: %s" % (it, os.strerror(rc)))
        # Still working: an ODP write into a fresh buffer.
        d = self.mem()
        dmr = self.odp_mr(d, LW | RW)
        data = pattern(BUF)
        self.pmem.write(data)
        self.rdma(self.qa, e.IBV_WR_RDMA_WRITE, self.pmem.addr, BUF,
                  self.pmr.lkey, d.addr, dmr.rkey)
        self.assertEqual(d.read(BUF), data)


def main():
    global DEV
    DEV, names = mp.device_arg(sys.argv[1:], DEV)
    return mp.run(sys.modules[__name__], names)


if __name__ == "__main__":
    sys.exit(main())
