#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Sends malformed RoCEv2 packets to UDP 4791 from a raw IP socket.

usage: malformed.py KIND COUNT DST QPN PSN
KIND: garbage, truncated, bad_icrc, bad_opcode, unknown_qp, bad_psn
The packets are well formed up to the one thing KIND breaks, so each
must land in exactly one of the device's drop counters.
"""
import os
import socket
import struct
import sys
import zlib

SRC = "10.11.0.1"
ROCE_PORT = 4791


def ip_udp(dst, payload, ident):
    """IPv4 + UDP headers around payload (checksums left to the rules)."""
    udp = struct.pack("!HHHH", 49152, ROCE_PORT, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), ident,
                     0x4000, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(SRC), socket.inet_aton(dst))
    return ip, udp


def icrc(ip, udp, transport):
    """ICRC as IBA annex A17 defines it, in our own words: CRC-32 over 8
    bytes of ones, the IP/UDP/BTH headers with their variant fields set to
    ones, then the rest; stored little-endian."""
    ip = bytearray(ip)
    ip[1] = 0xff                     # TOS
    ip[8] = 0xff                     # TTL
    ip[10:12] = b"\xff\xff"          # header checksum
    udp = bytearray(udp)
    udp[6:8] = b"\xff\xff"           # UDP checksum
    t = bytearray(transport)
    t[4] = 0xff                      # BTH reserved byte before the QPN
    return struct.pack("<I", zlib.crc32(b"\xff" * 8 + ip + udp + t))


def bth(opcode, qpn, psn, pad=0, ackreq=True):
    return struct.pack("!BBHII", opcode, pad << 4, 0xffff, qpn & 0xffffff,
                       (psn & 0xffffff) | (0x80000000 if ackreq else 0))


def packet(kind, dst, qpn, psn, ident):
    payload = b"mirrorverbs!"    # 12 bytes: no pad
    if kind == "garbage":
        body = os.urandom(7)
        ip, udp = ip_udp(dst, body, ident)
        return ip + udp + body
    if kind == "truncated":
        # RDMA WRITE FIRST needs a 16-byte RETH; only the BTH is there.
        t = bth(0x06, qpn, psn)
        ip, udp = ip_udp(dst, t + b"\0\0\0\0", ident)
        return ip + udp + t + icrc(ip, udp, t)
    if kind == "bad_opcode":
        t = bth(0x1d, qpn, psn) + payload   # RC, operation 0x1d: undefined
    elif kind == "unknown_qp":
        t = bth(0x04, 0xabcdef, psn) + payload
    elif kind == "bad_psn":
        t = bth(0x04, qpn, psn + 5000) + payload
    else:                                   # bad_icrc: a fine SEND ONLY
        t = bth(0x04, qpn, psn) + payload
    ip, udp = ip_udp(dst, t + b"\0\0\0\0", ident)
    crc = icrc(ip, udp, t)
    if kind == "bad_icrc":
        crc = bytes(b ^ 0x5a for b in crc)
    return ip + udp + t + crc


def main():
    kind, count, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    qpn, psn = int(sys.argv[4], 0), int(sys.argv[5], 0)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for i in range(count):
        s.sendto(packet(kind, dst, qpn, psn, 0x100 + i), (dst, 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
