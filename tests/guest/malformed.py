#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Sends malformed RoCEv2 packets to UDP 4791 from a raw IP socket.

usage: malformed.py KIND COUNT DST QPN PSN
KIND: garbage, truncated, bad_icrc, bad_opcode, unknown_qp, bad_psn
The packets are well formed up to the one thing KIND breaks, so each
must land in exactly one of the device's drop counters.
"""
import os
import sys

from roce_pkt import bth, icrc, ip_udp, raw_socket

SRC = "10.11.0.1"


def packet(kind, dst, qpn, psn, ident):
    payload = b"mirrorverbs!"    # 12 bytes: no pad
    if kind == "garbage":
        body = os.urandom(7)
        ip, udp = ip_udp(SRC, dst, body, ident)
        return ip + udp + body
    if kind == "truncated":
        # RDMA WRITE FIRST needs a 16-byte RETH; only the BTH is there.
        t = bth(0x06, qpn, psn)
        ip, udp = ip_udp(SRC, dst, t + b"\0\0\0\0", ident)
        return ip + udp + t + icrc(ip, udp, t)
    if kind == "bad_opcode":
        t = bth(0x19, qpn, psn) + payload   # RC, operation 0x19: undefined
    elif kind == "unknown_qp":
        t = bth(0x04, 0xabcdef, psn) + payload
    elif kind == "bad_psn":
        t = bth(0x04, qpn, psn + 5000) + payload
    else:                                   # bad_icrc: a fine SEND ONLY
        t = bth(0x04, qpn, psn) + payload
    ip, udp = ip_udp(SRC, dst, t + b"\0\0\0\0", ident)
    crc = icrc(ip, udp, t)
    if kind == "bad_icrc":
        crc = bytes(b ^ 0x5a for b in crc)
    return ip + udp + t + crc


def main():
    kind, count, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    qpn, psn = int(sys.argv[4], 0), int(sys.argv[5], 0)
    s = raw_socket()
    for i in range(count):
        s.sendto(packet(kind, dst, qpn, psn, 0x100 + i), (dst, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
