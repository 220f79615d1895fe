#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed inputs of fuzz/tcp_fuzz.c (see its header for the
operations) into fuzz/seeds/tcp_fuzz/: python3 fuzz/gen_tcp_seeds.py. Each
seed walks a connection into a state the fuzzer then mutates from: passive
and active opens, data both ways, closes from either side, resets, a zero
window, a SYN flood into the cookies, a retransmission time-out."""
import os
import struct

# flags
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
# SEG ctl bits
C_SYNOPT, C_TS, C_SACK, C_RAW, C_BADCSUM, C_DOFF, C_FAR, C_NOADV = 1, 2, 4, 8, 16, 32, 64, 128


def seg(slot, flags, ctl=0, d1=0, d2=0, wnd=65535, plen=0, ws=7, ts=1, sack=(0, 0), raw=b"",
        far=0, doff=0):
    b = bytes([0, slot, ctl, flags]) + struct.pack("<hh", d1, d2)
    if ctl & C_FAR:
        b += struct.pack("<I", far)
    b += struct.pack("<H", wnd)
    if ctl & C_SYNOPT:
        b += bytes([ws])
    if ctl & C_TS:
        b += bytes([ts])
    if ctl & C_SACK:
        b += struct.pack("<HH", *sack)
    if ctl & C_RAW:
        b += bytes([len(raw)]) + raw
    if ctl & C_DOFF:
        b += bytes([doff])
    return b + struct.pack("<H", plen)


def clock(ms, x64=False):
    return bytes([1 | (0x80 if x64 else 0)]) + struct.pack("<H", ms)


def app(k, act, *args):
    return bytes([2, k, act]) + b"".join(args)


def u8(v):
    return bytes([v])


def u16(v):
    return struct.pack("<H", v)


def ack(slot, wnd=65535):
    return bytes([4, slot]) + u16(wnd)


def synack(slot, wnd=65535, no_opts=0):
    """no_opts: bit 0 no window scale, 1 no SACK-permitted, 2 no timestamp."""
    return bytes([5, slot]) + u16(wnd) + bytes([no_opts])


POLL = bytes([3])


def sack(slot, a, blocks, wnd=65535):
    """ACK up to the start of segment a (0: the oldest the peer has not
    acknowledged), SACK segments [b, b + n] per block."""
    b = bytes([6, slot, a, len(blocks)]) + u16(wnd)
    return b + b"".join(bytes([x, n]) for x, n in blocks)
SEND, RECV, PEEK, SHUT, CLOSE, ABORT, CONNECT, ACCEPT = 0, 1, 2, 3, 4, 5, 6, 7
NODELAY, KEEPALIVE, CC, INFO = 8, 9, 10, 11

passive = (seg(0, SYN, C_SYNOPT | C_TS) + ack(0) + app(0, ACCEPT) +
           seg(0, PSH | ACK, C_TS, plen=100) + app(1, RECV, u16(4096)))
active = app(0, CONNECT, u8(0), u8(1)) + synack(0) + app(1, SEND, u16(3000))

seeds = {
    "passive_echo": passive + app(1, SEND, u16(3000)) + ack(0) + clock(50) +
    seg(0, FIN | ACK, C_TS) + app(1, RECV, u16(10)) + app(1, CLOSE) + ack(0),
    "passive_close_first": passive + app(1, SHUT, u8(2)) + ack(0) + seg(0, FIN | ACK, C_TS) +
    clock(1000, True),
    "active_bulk": active + ack(0, 20000) + app(1, SEND, u16(60000)) + ack(0) + clock(300) +
    ack(0) + app(1, INFO) + app(1, SHUT, u8(2)) + ack(0) + seg(0, FIN | ACK) + POLL,
    "active_loss": active + app(1, SEND, u16(30000)) + clock(300) + clock(600) +
    seg(0, ACK, C_SACK, sack=(3000, 1460)) + seg(0, ACK) + seg(0, ACK) + seg(0, ACK) + ack(0),
    "active_sack_recovery": app(0, CONNECT, u8(0), u8(1)) + synack(0) +
    app(1, NODELAY, u8(1)) + app(1, SEND, u16(40000)) + ack(0) + app(1, SEND, u16(40000)) +
    sack(0, 2, [(4, 1)]) + sack(0, 2, [(4, 3)]) + sack(0, 2, [(4, 3), (9, 2)]) +
    sack(0, 2, [(4, 3), (9, 3), (14, 2)]) + POLL + sack(0, 4, [(9, 3)]) + clock(300) +
    ack(0) + app(1, INFO),
    "active_newreno": app(0, CONNECT, u8(0), u8(1)) + synack(0, no_opts=2) + app(1, CC, u8(1)) +
    app(1, SEND, u16(40000)) + ack(0) + app(1, SEND, u16(40000)) + sack(0, 1, []) +
    sack(0, 0, []) + sack(0, 0, []) + sack(0, 0, []) + sack(0, 2, []) + sack(0, 3, []) +
    clock(500) + ack(0),
    "active_refused": app(0, CONNECT, u8(0), u8(3)) + seg(0, RST | ACK, C_NOADV) + app(1, 12),
    "active_timeout": app(0, CONNECT, u8(0), u8(1)) + clock(60000) + clock(60000) +
    clock(2000, True) + app(1, 12),
    "zero_window": active + ack(0, 0) + app(1, SEND, u16(20000)) + clock(1000) + ack(0, 0) +
    clock(2000) + ack(0, 0) + clock(4000) + ack(0, 1000) + app(1, ABORT),
    "rst_attacks": passive + seg(0, RST, d1=500) + seg(0, RST, C_FAR, far=1 << 30) +
    seg(0, SYN, d1=10) + seg(0, PSH | ACK, d2=-30000, plen=10) + seg(0, RST),
    "paws": passive + seg(0, PSH | ACK, C_TS, ts=0, plen=10) + seg(0, ACK, C_TS, ts=200) +
    seg(0, PSH | ACK, C_TS, ts=100, plen=10),
    "syn_flood": b"".join(seg(i, SYN, C_SYNOPT) for i in range(6)) + ack(5) + ack(4) +
    app(0, ACCEPT) + app(0, ACCEPT) + seg(3, ACK, C_NOADV, d1=1, d2=77),
    "bad_headers": passive + seg(0, PSH | ACK, C_BADCSUM, plen=5) + seg(0, ACK, C_DOFF, doff=0) +
    seg(0, ACK, C_RAW, raw=b"\x08\x00") + seg(0, ACK, C_RAW, raw=b"\x02\x08\x05\xb4"),
    "ooo_data": passive + seg(0, PSH | ACK, C_NOADV, d1=1000, plen=500) +
    seg(0, PSH | ACK, C_NOADV, d1=3000, plen=500) + seg(0, PSH | ACK, plen=1000) +
    app(1, PEEK, u8(8), u16(700)) + app(1, RECV, u16(65535)),
    "keepalive": passive + app(1, KEEPALIVE, u16(1000), u16(500), u8(3)) + clock(1000) +
    b"".join(clock(600) for _ in range(5)) + app(1, 12),
    "simultaneous_open": app(0, CONNECT, u8(0), u8(1)) + seg(0, SYN, C_SYNOPT | C_NOADV) +
    synack(0) + ack(0),
    "time_wait": passive + app(1, CLOSE) + ack(0) + seg(0, FIN | ACK, C_TS) + clock(100) +
    seg(0, SYN, C_SYNOPT | C_FAR, far=1 << 20) + clock(60000, True),
}

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "tcp_fuzz")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {out}")
