# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""RoCEv2 packets built by hand, for the guest suites that play a peer or
an attacker from a raw IP socket (malformed.py, attack_wire.py).

Everything is written from the InfiniBand spec's header layouts (BTH,
RETH, AETH, AtomicETH, AtomicAckETH, DETH; IBA vol. 1 ch. 9 and annex
A17), in our own words."""
import socket
import struct
import zlib

ROCE_PORT = 4791

# BTH opcodes: transport (RC 0x00, UC 0x20, UD 0x60) | operation.
RC, UC, UD = 0x00, 0x20, 0x60
SEND_FIRST, SEND_MIDDLE, SEND_LAST, SEND_ONLY = 0x00, 0x01, 0x02, 0x04
WRITE_FIRST, WRITE_ONLY = 0x06, 0x0a
READ_REQUEST = 0x0c
READ_RESP_ONLY = 0x10
ACK, ATOMIC_ACK = 0x11, 0x12
FETCH_ADD = 0x14


def ip_udp(src, dst, payload, ident, sport=49152):
    """IPv4 + UDP headers around payload (checksums left to the rules:
    the kernel fills the IPv4 one, RoCEv2 allows a zero UDP one)."""
    udp = struct.pack("!HHHH", sport, ROCE_PORT, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), ident,
                     0x4000, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip, udp


def icrc(ip, udp, transport):
    """CRC-32 over 8 bytes of ones, the IP/UDP/BTH headers with their
    variant fields set to ones, then the rest; stored little-endian."""
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


def reth(va, rkey, length):
    return struct.pack("!QII", va, rkey, length)


def aeth(syndrome, msn):
    return struct.pack("!I", (syndrome & 0xff) << 24 | (msn & 0xffffff))


def atmack(orig):
    return struct.pack("!Q", orig)


def atmeth(va, rkey, swap_add, compare=0):
    return struct.pack("!QIQQ", va, rkey, swap_add, compare)


def deth(qkey, sqpn):
    return struct.pack("!II", qkey, sqpn & 0xffffff)


def packet(src, dst, transport, ident=0x100, sport=49152):
    """A whole IPv4 packet: headers, transport bytes (BTH onwards, payload
    padded to 4 bytes by the caller's pad count), ICRC."""
    ip, udp = ip_udp(src, dst, transport + b"\0\0\0\0", ident, sport)
    return ip + udp + transport + icrc(ip, udp, transport)


def raw_socket():
    """A raw IPv4 socket that sends whole packets (IP_HDRINCL)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return s
