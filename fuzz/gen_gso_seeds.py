#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz/gso_fuzz.c (see its header for the input
format) into fuzz/seeds/gso_fuzz/: python3 fuzz/gen_gso_seeds.py. Super-
frames as Linux hands them over (TCP over IPv4 and IPv6, with and without
an 802.1Q tag, UDP GSO) and frames for usnet_frame_csum_finish()."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "gso_fuzz")


def eth(l3type, vlan):
    h = bytes.fromhex("020000000002020000000001")
    if vlan:
        h += struct.pack(">HH", 0x8100, vlan)
    return h + struct.pack(">H", l3type)


def tcp(payload, flags=0x18, opts=b"\x01\x01\x08\x0a" + bytes(8)):
    off = (20 + len(opts)) // 4
    return struct.pack(">HHIIBBHHH", 5000, 40000, 0xfffff000, 1, off << 4, flags, 512, 0, 0) + opts + payload


def udp(payload):
    return struct.pack(">HHHH", 5000, 40000, 8 + len(payload), 0) + payload


def ip4(l4, proto):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0xfffe, 0x4000, 64, proto, 0,
                       bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])) + l4


def ip6(l4, proto):
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    return struct.pack(">IHBB", 0x60000000, len(l4), proto, 64) + src + dst + l4


def vnet(gso_type, gso_size, flags=1):
    return struct.pack("<BBHHHH", flags, gso_type, 0, gso_size, 0, 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    data = bytes((i * 7) & 0xff for i in range(3000))
    seeds = {
        "tcp4": b"\0" + vnet(1, 1000) + eth(0x0800, 0) + ip4(tcp(data), 6),
        "tcp4_fin_cwr": b"\0" + vnet(0x81, 700) + eth(0x0800, 0) + ip4(tcp(data[:2100], 0x99), 6),
        "tcp4_vlan": b"\0" + vnet(1, 1448) + eth(0x0800, 7) + ip4(tcp(data), 6),
        "tcp6": b"\0" + vnet(4, 1200) + eth(0x86dd, 0) + ip6(tcp(data), 6),
        "tcp6_vlan_small_mss": b"\0" + vnet(4, 16) + eth(0x86dd, 7) + ip6(tcp(data[:3000]), 6),
        "udp4_uso": b"\0" + vnet(5, 1000) + eth(0x0800, 0) + ip4(udp(data), 17),
        "udp6_uso": b"\0" + vnet(5, 999) + eth(0x86dd, 0) + ip6(udp(data[:2500]), 17),
        "csum_tcp4": b"\1" + eth(0x0800, 0) + ip4(tcp(data[:1400]), 6),
        "csum_udp6_vlan": b"\1" + eth(0x86dd, 5) + ip6(udp(data[:777]), 17),
        "csum_tcp6": b"\1" + eth(0x86dd, 0) + ip6(tcp(data[:33]), 6),
    }
    for name, b in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(b)


if __name__ == "__main__":
    main()
