#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz/stack_rx_fuzz.c (see its header for the
record format) into fuzz/seeds/stack_rx_fuzz/: python3 fuzz/gen_stack_rx_seeds.py. The stack is
198.18.0.1/24 (MAC 02:00:00:00:00:01), the peer 198.18.0.2, gateway .254."""
import os
import struct

US_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0, 2])
BCAST = b"\xff" * 6
US, PEER, GW = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]), bytes([198, 18, 0, 254])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst, typ, payload):
    return dst + PEER_MAC + struct.pack("!H", typ) + payload


def arp(op, spa, tpa, tha=b"\0" * 6, dst=BCAST):
    return eth(dst, 0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + PEER_MAC + spa + tha + tpa)


def ip(proto, payload, src=PEER, dst=US, ident=1, frag=0, opts=b"", ttl=64):
    hl = 20 + len(opts)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, hl + len(payload), ident, frag, ttl, proto, 0, src, dst) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return eth(US_MAC, 0x0800, h + payload)


def udp(sport, dport, data, src=PEER, dst=US):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(src + dst + struct.pack("!BBH", 0, 17, len(u)) + u) or 0xFFFF
    return u[:6] + struct.pack("!H", c) + u[8:]


def icmp(typ, code, rest, data):
    m = struct.pack("!BBH", typ, code, 0) + rest + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def frame(f):
    return struct.pack("!BH", 0, len(f)) + f


def clock(units):  # units of 4 ms
    return struct.pack("!BH", 1, units)


def send(length, op=2):
    return struct.pack("!BH", op, length)


def poll():
    return struct.pack("!BH", 3, 0)


seeds = {
    "arp": frame(arp(1, PEER, US)) + send(100) + frame(arp(2, PEER, US, US_MAC, US_MAC)) + send(3000),
    "echo": frame(arp(2, PEER, US, US_MAC, US_MAC)) + frame(ip(1, icmp(8, 0, b"\x12\x34\x00\x01", b"ping" * 10))),
    "udp": frame(arp(2, PEER, US, US_MAC, US_MAC)) + frame(ip(17, udp(1000, 7, b"hello"))) + frame(ip(17, udp(1000, 9, b"x"))) + frame(ip(17, udp(1000, 4444, b"closed"))),
    "frags": frame(ip(17, udp(1, 7, b"A" * 40)[16:], ident=9, frag=2)) + frame(ip(17, udp(1, 7, b"A" * 40)[:16], ident=9, frag=0x2000))
    + frame(ip(17, b"B" * 16, ident=10, frag=0x2000)) + frame(ip(17, b"C" * 16, ident=10, frag=0x2001)) + clock(8000) + poll(),
    "timers": send(10) + clock(250) + clock(250) + clock(250) + send(10) + clock(5000) + clock(20000) + poll(),
    "unreach": frame(arp(2, PEER, US, US_MAC, US_MAC)) + send(20, op=2 | (2 << 4))
    + frame(ip(1, icmp(3, 3, b"\0\0\0\0", ip(17, udp(49152, 53, b"q" * 20), src=US, dst=PEER)[14:42]))),
    "options": frame(ip(17, udp(5, 7, b"opt"), opts=b"\x01\x01\x07\x07\x04\0\0\0\0\0\0\x00")),
    "echo_out": frame(arp(2, GW, US, US_MAC, US_MAC)) + send(1200, op=2 | (2 << 2) | 0x80) + frame(ip(1, icmp(0, 0, b"\x12\x34\x04\xb0", b"\0" * 64), src=bytes([8, 8, 8, 8]))),
}
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "stack_rx_fuzz")
for name, data in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
