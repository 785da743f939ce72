#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The packet fuzzer: the network attacker of docs/threat-model.md with a
copy of every packet the victims exchange.

It captures the real RoCEv2 conversation on an interface (AF_PACKET; the
conversation is tests/fuzz/pkt_traffic.c's RC, UC and UD pairs), keeps the
freshest packets of every opcode, and sends mutated copies of them from a
raw IP socket at one end of the conversation while its QPs are connected:
header fields of BTH, RETH, AETH, AtomicETH, AtomicAckETH, DETH and the
immediate set to edge values, neighbours or values seen on other flows;
opcodes swapped under unchanged bytes; pads, lengths and payloads changed;
packets truncated or extended; UDP lengths, checksums and ICRCs wrong;
sources and destinations changed; packets duplicated, reordered and
replayed late. Most copies get a correct ICRC, so that they reach the
transport's checks instead of dying at the first one.

usage: pkt_fuzz.py --iface IF --to ADDR [--seed N] [--seconds S]

Reproducible as far as a live capture allows: the seed fixes every choice
of packet and mutation; the conversation itself (its QPNs, PSNs, keys) is
new in every run, as it must be. Prints TAP lines for what it can judge
itself (that it captured a conversation and sent into it) and '#' lines
with its figures: packets per second and what was sent, by opcode and by
mutation. The kernel's log and the device's counters are the caller's to
judge.
"""
import argparse
import collections
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "guest"))
import roce_pkt as r  # noqa: E402

ETH_P_ALL = 0x0003
MARK_TTL = 63          # ours; the devices send with 64 (ICRC ignores TTL)

OP_NAMES = {
    0x00: "SEND_FIRST", 0x01: "SEND_MIDDLE", 0x02: "SEND_LAST",
    0x03: "SEND_LAST_IMM", 0x04: "SEND_ONLY", 0x05: "SEND_ONLY_IMM",
    0x06: "WRITE_FIRST", 0x07: "WRITE_MIDDLE", 0x08: "WRITE_LAST",
    0x09: "WRITE_LAST_IMM", 0x0a: "WRITE_ONLY", 0x0b: "WRITE_ONLY_IMM",
    0x0c: "READ_REQUEST", 0x0d: "READ_RESP_FIRST", 0x0e: "READ_RESP_MIDDLE",
    0x0f: "READ_RESP_LAST", 0x10: "READ_RESP_ONLY", 0x11: "ACK",
    0x12: "ATOMIC_ACK", 0x13: "CMP_SWAP", 0x14: "FETCH_ADD",
    0x16: "SEND_LAST_INV", 0x17: "SEND_ONLY_INV", 0x1c: "FLUSH",
    0x1d: "ATOMIC_WRITE",
}
TRANSPORTS = {0x00: "RC", 0x20: "UC", 0x60: "UD"}

# The extension headers after the BTH, per operation (IBA vol. 1, 9.2 and
# annex A17): name, size, and the fields inside (name, offset, size).
EXT = {
    "RETH": (16, [("va", 0, 8), ("rkey", 8, 4), ("dmalen", 12, 4)]),
    "AETH": (4, [("syndrome", 0, 1), ("msn", 1, 3)]),
    "ATOMICETH": (28, [("va", 0, 8), ("rkey", 8, 4), ("swap_add", 12, 8),
                       ("compare", 20, 8)]),
    "ATOMICACKETH": (8, [("orig", 0, 8)]),
    "DETH": (8, [("qkey", 0, 4), ("deth_resv", 4, 1), ("sqpn", 5, 3)]),
    "IMM": (4, [("imm", 0, 4)]),
    "IETH": (4, [("inv_rkey", 0, 4)]),
    "FETH": (4, [("feth", 0, 4)]),
}
OP_EXT = {
    0x03: ["IMM"], 0x05: ["IMM"], 0x06: ["RETH"], 0x09: ["IMM"],
    0x0a: ["RETH"], 0x0b: ["RETH", "IMM"], 0x0c: ["RETH"],
    0x0d: ["AETH"], 0x0f: ["AETH"], 0x10: ["AETH"], 0x11: ["AETH"],
    0x12: ["AETH", "ATOMICACKETH"], 0x13: ["ATOMICETH"],
    0x14: ["ATOMICETH"], 0x16: ["IETH"], 0x17: ["IETH"],
    0x1c: ["FETH", "RETH"], 0x1d: ["RETH"],
}
UD_EXT = {0x04: ["DETH"], 0x05: ["DETH", "IMM"]}
BTH_FIELDS = [("opcode", 0, 1), ("flags", 1, 1), ("pkey", 2, 2),
              ("bth_resv", 4, 1), ("qpn", 5, 3), ("ackreq", 8, 1),
              ("psn", 9, 3)]


def op_name(op):
    return TRANSPORTS.get(op & 0xe0, "0x%02x" % (op & 0xe0)) + "_" + \
        OP_NAMES.get(op & 0x1f, "0x%02x" % (op & 0x1f))


def fields_of(transport):
    """Every field of the packet's headers: (name, offset, size)."""
    op = transport[0]
    exts = (UD_EXT if op & 0xe0 == 0x60 else OP_EXT).get(op & 0x1f, [])
    out, off = list(BTH_FIELDS), 12
    for e in exts:
        size, fl = EXT[e]
        out += [(n, off + o, s) for n, o, s in fl]
        off += size
    return [f for f in out if f[1] + f[2] <= len(transport)], off


class Captured:
    """One packet of the conversation, as it crossed the wire."""
    __slots__ = ("src", "dst", "sport", "transport")

    def __init__(self, src, dst, sport, transport):
        self.src, self.dst, self.sport = src, dst, sport
        self.transport = transport


class Capture:
    """The freshest packets of every opcode seen on an interface, plus
    every value each header field took (the mutator's dictionary)."""

    def __init__(self, iface, keep=24):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.bind((iface, 0))
        # A small buffer: the kernel drops what the fuzzer has no time to
        # read, and what it reads is fresh.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        self.sock.setblocking(False)
        self.by_op = collections.defaultdict(
            lambda: collections.deque(maxlen=keep))
        self.recent = collections.deque(maxlen=64)   # in arrival order
        self.values = collections.defaultdict(
            lambda: collections.deque(maxlen=32))
        self.seen = collections.Counter()
        self.total = 0

    def drain(self, budget=8):
        for _ in range(budget):
            try:
                frame = self.sock.recv(65536)
            except BlockingIOError:
                return
            self._take(frame)

    def _take(self, frame):
        if len(frame) < 14 + 20 + 8 + 12 + 4 or frame[12:14] != b"\x08\x00":
            return
        ip = frame[14:]
        ihl = (ip[0] & 0x0f) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != socket.IPPROTO_UDP or ip[8] == MARK_TTL:
            return
        sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
        if dport != r.ROCE_PORT:
            return
        transport = bytes(ip[ihl + 8:total - 4])
        if len(transport) < 12:
            return
        p = Captured(socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]),
                     sport, transport)
        self.by_op[transport[0]].append(p)
        self.recent.append(p)
        self.seen[transport[0]] += 1
        self.total += 1
        for name, off, size in fields_of(transport)[0]:
            self.values[name].append(transport[off:off + size])


class Mutator:
    """Draws a packet of the conversation and what to do to it."""

    def __init__(self, rng, cap, target):
        self.rng, self.cap, self.target = rng, cap, target
        self.sent_ops = collections.Counter()
        self.mutations = collections.Counter()

    def value(self, name, old):
        """A new value for a field: an edge, a neighbour, a bit flipped,
        a value another packet had, or noise."""
        size = len(old)
        top = (1 << (8 * size)) - 1
        v = int.from_bytes(old, "big")
        rng = self.rng
        pick = rng.randrange(9)
        if pick == 0:
            n = rng.choice([0, top, top >> 1, (top >> 1) + 1, 1])
        elif pick == 1:
            n = v + rng.choice([1, -1, 2, -2, 3, 64, -64, 127])
        elif pick == 2:
            n = v ^ (1 << rng.randrange(8 * size))
        elif pick == 3 and self.cap.values[name]:
            return rng.choice(self.cap.values[name])
        elif pick == 4 and name in ("psn", "msn"):
            n = v + rng.choice([0x800000, -0x800000, 0x7fffff, 1 << 22])
        elif pick == 5 and name in ("dmalen",):
            n = rng.choice([0, 1, 1023, 1024, 1025, 4096, 1 << 31, top,
                            v + 1, v * 2])
        elif pick == 6 and name == "va":
            n = v + rng.choice([-4096, -1, 1, 4096, 1 << 30, 1 << 47,
                                -(1 << 20), 0x7ffffffff000 - v])
        elif pick == 7 and name == "syndrome":
            # ACK, RNR NAKs, the NAK codes, reserved ones.
            n = rng.choice([0x00, 0x1f, 0x20, 0x3f, 0x60, 0x61, 0x62,
                            0x63, 0x64, 0x65, 0x40, 0x80, 0xff])
        else:
            n = rng.getrandbits(8 * size)
        return (n & top).to_bytes(size, "big")

    def base(self):
        """A packet the conversation sent to the target, or None."""
        rng = self.rng
        ops = [op for op, q in self.cap.by_op.items()
               if any(p.dst == self.target for p in q)]
        if not ops:
            return None
        q = [p for p in self.cap.by_op[rng.choice(ops)]
             if p.dst == self.target]
        return rng.choice(q)

    def packets(self):
        """The next packets to send: a list of (src, dst, sport, bytes)."""
        rng = self.rng
        p = self.base()
        if p is None:
            return []
        kind = rng.choices(
            ["fields", "next", "opcode", "truncate", "extend", "pad",
             "payload", "duplicate", "reorder", "stale", "retarget", "src",
             "dst", "sport", "udp_len", "udp_csum", "icrc", "verbatim"],
            weights=[30, 15, 8, 6, 4, 4, 5, 5, 5, 4, 2, 4, 3, 1, 3, 2, 4,
                     2])[0]
        self.mutations[kind] += 1
        src, dst, sport = p.src, p.dst, p.sport
        t = bytearray(p.transport)
        extra = {}
        if kind == "fields":
            fl = fields_of(t)[0]
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                name, off, size = rng.choice(fl)
                t[off:off + size] = self.value(name, bytes(t[off:off + size]))
        elif kind == "next":
            # The newest packet of a flow into the target, made the one
            # its QP expects next (an idle QP's next PSN) with another
            # operation of its transport: what gets past the PSN check.
            flow = [q for q in self.cap.recent if q.dst == dst]
            if flow:
                q = flow[-1]
                t = bytearray(q.transport)
                psn = int.from_bytes(t[9:12], "big") + rng.choice([1, 1, 2])
                t[9:12] = (psn & 0xffffff).to_bytes(3, "big")
                t[0] = (t[0] & 0xe0) | rng.choice(list(OP_NAMES))
                if rng.randrange(2):
                    fl = fields_of(t)[0]
                    name, off, size = rng.choice(fl[7:] or fl)
                    t[off:off + size] = self.value(name,
                                                   bytes(t[off:off + size]))
        elif kind == "opcode":
            t[0] = rng.choice([rng.getrandbits(8)] + [
                tr | op for tr in (0x00, 0x20, 0x60) for op in OP_NAMES])
        elif kind == "truncate":
            t = t[:rng.randrange(len(t))]
        elif kind == "extend":
            t += rng.randbytes(rng.choice([1, 3, 4, 1024, 1500,
                                           rng.randrange(1, 4000)]))
        elif kind == "pad":
            t[1] = (t[1] & 0xcf) | (rng.randrange(4) << 4)
        elif kind == "payload":
            hdr = fields_of(t)[1]
            t = t[:hdr] + rng.randbytes(rng.choice([0, 1, 2, 4, 1023, 1024,
                                                    1025, 2048, 4096]))
        elif kind == "duplicate":
            return [(src, dst, sport, self.wire(src, dst, sport, bytes(t)))
                    ] * rng.randrange(2, 6)
        elif kind == "reorder":
            run = [q for q in list(self.cap.recent)[-8:] if q.dst == dst]
            rng.shuffle(run)
            return [(q.src, q.dst, q.sport,
                     self.wire(q.src, q.dst, q.sport, q.transport))
                    for q in run]
        elif kind == "stale":
            q = next(q for q in self.cap.by_op[t[0]] if q.dst == dst)
            return [(q.src, q.dst, q.sport,
                     self.wire(q.src, q.dst, q.sport, q.transport))]
        elif kind == "retarget":
            # Something the target sent, turned around at it.
            mine = [q for q in self.cap.recent if q.src == self.target]
            if mine:
                q = rng.choice(mine)
                src, t = q.dst, bytearray(q.transport)
        elif kind == "src":
            src = rng.choice(["10.11.0.99", "10.11.0.255", "127.0.0.1",
                              "0.0.0.0", self.target,
                              "10.11.0.%d" % rng.randrange(1, 255)])
        elif kind == "dst":
            dst = rng.choice(["10.11.0.255", "255.255.255.255", "224.0.0.1",
                              "10.11.0.%d" % rng.randrange(3, 255)])
        elif kind == "sport":
            sport = rng.choice([0, 4791, rng.randrange(65536)])
        elif kind in ("udp_len", "udp_csum", "icrc"):
            extra[kind] = True
        self.sent_ops[t[0] if t else -1] += 1
        return [(src, dst, sport, self.wire(src, dst, sport, bytes(t),
                                             **extra))]

    def wire(self, src, dst, sport, t, udp_len=False, udp_csum=False,
             icrc=False):
        """A whole IPv4 packet marked as ours (TTL), ICRC computed over the
        bytes as they are unless told to break it."""
        ip, udp = r.ip_udp(src, dst, t + b"\0\0\0\0", 0, sport)
        ip = bytearray(ip)
        ip[4:6] = struct.pack("!H", self.rng.getrandbits(16))
        ip[8] = MARK_TTL
        ip = bytes(ip)
        crc = r.icrc(ip, udp, t.ljust(12, b"\0"))   # for short ones too
        if icrc:
            crc = bytes(b ^ 0xff for b in crc)
        if udp_len:
            n = struct.unpack("!H", udp[4:6])[0]
            udp = udp[:4] + struct.pack(
                "!H", self.rng.choice([0, 7, 8, 9, n - 1, n + 1, n - 4,
                                       0xffff]) & 0xffff) + udp[6:]
        if udp_csum:
            udp = udp[:6] + struct.pack("!H", self.rng.getrandbits(16) | 1)
        return ip + udp + t + crc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--to", required=True, help="the attacked end")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()

    print("# seed %d, attacking %s, capturing on %s" % (a.seed, a.to, a.iface))
    rng = random.Random(a.seed)
    cap = Capture(a.iface)
    mut = Mutator(rng, cap, a.to)
    out = r.raw_socket()

    # Listen first: the mutator needs a conversation to start from.
    deadline = time.time() + 30 * float(os.environ.get("MIRROR_TIME_SCALE",
                                                       "1"))
    while not cap.total and time.time() < deadline:
        time.sleep(0.05)
        cap.drain()
    if not cap.total:
        print("not ok - captured a conversation to %s" % a.to)
        return 1

    start = time.time()
    end = start + a.seconds
    sent = errors = 0
    while time.time() < end:
        cap.drain()
        for src, dst, _, pkt in mut.packets():
            try:
                out.sendto(pkt, (dst, 0))
                sent += 1
            except OSError:
                errors += 1      # no route to a broadcast, say
    secs = time.time() - start

    print("# %d packets sent in %.1f s (%.0f per second), %d refused by "
          "the local stack" % (sent, secs, sent / secs, errors))
    print("# captured %d packets: %s" % (cap.total, ", ".join(
        "%s %d" % (op_name(op), n) for op, n in sorted(cap.seen.items()))))
    print("# sent by opcode: %s" % ", ".join(
        "%s %d" % (op_name(op) if op >= 0 else "empty", n)
        for op, n in sorted(mut.sent_ops.items())))
    print("# sent by mutation: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(mut.mutations.items())))
    for name in sorted(cap.seen):
        print("# opcode-seen %s" % op_name(name))
    print("%s - sent mutated copies of the conversation to %s" %
          ("ok" if sent else "not ok", a.to))
    return 0 if sent else 1


if __name__ == "__main__":
    sys.exit(main())
