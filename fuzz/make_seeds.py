#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the hostile seed inputs of the fuzz targets (fuzz/seeds/<target>/).

Each seed is a program in the target's input language (the comment at the
top of each fuzz/*_fuzz.c). Run it again after changing that language; the
files it writes are committed, and the fuzz ctests copy them to a temporary
directory, so the tree never changes. Seeds not written here (the handshake
ones) were made by hand and are kept.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- memif_server_fuzz ----
SEND, POLL, HANDSHAKE, POKE, HEAD, RX, TX, ARM, RECONNECT, TEARDOWN, DIE, CONNECT = range(12)
OTHER = 0x80  # the second client connection acts
MSG_INIT, MSG_ADD_REGION, MSG_ADD_RING, MSG_CONNECT = 3, 4, 5, 6
K_SEALED, K_UNSEALED, K_EFD, K_PIPE, K_EVENTFD, K_MEMFD = 1, 2, 3, 4, 5, 6


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def msg(mtype, body=b""):
    """A 128-byte memif message."""
    return (u16(mtype) + body).ljust(128, b"\0")


def send(payload, fds=(), length=None):
    """SEND: length code, fd count, bytes, then each fd's kind (+ size)."""
    n = len(payload) if length is None else length
    code = 0xFF if n == 128 else 0xFE if n == 300 else n
    assert code in (0xFF, 0xFE) or n < 140
    out = bytes([SEND, code, len(fds)]) + payload[:n].ljust(n, b"\0")
    for kind, size in fds:
        out += bytes([kind]) + (u32(size) if kind in (K_SEALED, K_UNSEALED) else b"")
    return out


def handshake(flags=0, log2=3, nr=0, extra=0, who=0):
    """HANDSHAKE with flags (1: id 1, 2: version follows, 4: no secret,
    8: region size follows, 0x10: ring offsets follow, 0x40: unsealed)."""
    return bytes([HANDSHAKE | who, flags, log2, nr]) + u16(extra)


def poke(off, data):
    return bytes([POKE]) + u32(off) + bytes([len(data)]) + data


def desc(flags, length, offset, region=0):
    return u16(flags) + u16(region) + u32(length) + u32(offset) + u32(0)


RING_HDR = 128
LOG2 = 3
RING_BYTES = RING_HDR + 16 * (1 << LOG2)
BUF0 = 4 * RING_BYTES  # op_handshake puts the buffers after four rings

memif = {
    # A zero-length datagram carrying fds: every fd must be closed.
    "zero_len_fds": send(b"", [(K_EVENTFD, 0), (K_PIPE, 0), (K_MEMFD, 0)]),
    "zero_len_region_fd": send(b"", [(K_SEALED, 65536)]),
    "zero_len_after_init": handshake() + send(b"", [(K_EFD, 0), (K_EVENTFD, 0)]),
    # More fds than the server's control buffer (4) and than memif allows (1).
    "eight_fds": send(msg(MSG_INIT, u16(0x200)), [(K_EVENTFD, 0)] * 4 + [(K_MEMFD, 0)] * 4),
    "two_fds_add_region": handshake()
    + send(msg(MSG_ADD_REGION, u16(1) + struct.pack("<Q", 4096)), [(K_SEALED, 4096), (K_PIPE, 0)]),
    # Short, long and truncated messages.
    "init_128": send(msg(MSG_INIT, u16(0x200) + u32(0))),
    "init_short": send(msg(MSG_INIT, u16(0x200))[:64]),
    "init_300": send(msg(MSG_INIT, u16(0x200)).ljust(300, b"\x41"), length=300),
    # Bad region sizes: zero, over 4 GiB, bigger than the fd, unsealed.
    "region_size_zero": handshake()
    + send(msg(MSG_ADD_REGION, u16(1) + struct.pack("<Q", 0)), [(K_SEALED, 4096)]),
    "region_size_huge": handshake()
    + send(msg(MSG_ADD_REGION, u16(1) + struct.pack("<Q", 1 << 40)), [(K_SEALED, 4096)]),
    "region_too_small_for_rings": handshake(flags=8) + u32(300),
    "region_unsealed": handshake(flags=0x40),
    # A descriptor chain that never ends: every C2S slot says NEXT.
    "endless_chain": handshake()
    + poke(RING_HDR, b"".join(desc(1, 64, BUF0 + 64 * i) for i in range(1 << LOG2)))
    + bytes([HEAD, 0]) + u16(1 << LOG2)
    + bytes([RX, 0, RX, 0]),
    # Descriptors outside the region, in another region, too long.
    "desc_outside": handshake()
    + poke(RING_HDR, desc(0, 64, 0xFFFFFFF0) + desc(0, 0xFFFFFFFF, 0) + desc(0, 64, 0, region=3))
    + bytes([HEAD, 0]) + u16(3) + bytes([RX, 0]),
    # Head far ahead, and backwards.
    "head_out_of_range": handshake() + bytes([HEAD, 0]) + u16(0x8000) + bytes([RX, 0]),
    "s2c_head_backwards": handshake() + bytes([HEAD, 1]) + u16(0xFFF0) + bytes([TX, 0, 4]) + u16(60),
    # A zero-length S2C buffer offered.
    "s2c_zero_buffer": handshake()
    + poke(RING_BYTES + RING_HDR, desc(0, 0, BUF0))
    + bytes([HEAD, 1]) + u16(1) + bytes([TX, 0, 1]) + u16(60),
    # Two connections for the same interface, then for both.
    "two_clients_same_id": handshake() + handshake(who=OTHER) + bytes([TX, 0, 2]) + u16(60),
    "two_clients_both_ids": handshake() + handshake(flags=1, who=OTHER)
    + bytes([TX, 0, 8]) + u16(1500) + bytes([HEAD, 0]) + u16(2) + bytes([RX, 0]),
    # usnetd tears a live client down, mid-traffic, both ways.
    "teardown_disconnect": handshake() + bytes([TX, 0, 4]) + u16(60) + bytes([TEARDOWN, 0])
    + bytes([RX, 0, TX, 0, 4]) + u16(60) + handshake(),
    "teardown_remove": handshake(flags=1) + bytes([HEAD, 0]) + u16(1) + bytes([TEARDOWN, 3])
    + bytes([RX, 0, POLL]) + handshake(flags=1),
    # The client dies mid-handshake and mid-traffic, then comes back.
    "die_mid_handshake": bytes([SEND, 0xFF, 0]) + msg(MSG_INIT, u16(0x200)) + bytes([DIE, CONNECT])
    + handshake(),
    "die_mid_traffic": handshake() + bytes([TX, 0, 8]) + u16(200) + bytes([DIE, RX, 0, CONNECT])
    + handshake(flags=1) + bytes([DIE | OTHER, POLL]),
}


# ---- usnetd_conf_fuzz: configuration files ----
conf = {
    "full": b"""# usnetd
socket = /run/usnet/usnetd.sock
control = @usnetd.ctl
socket_mode = 0660
socket_owner = 0
socket_group = root
core = 1
rt_priority = 5
spin_us = 20  # comment after a value
pool_size = 4096
queues = 2
mac_prefix = 0a:bc
auto_ids = 100-110
log = stderr
log_level = debug

[uplink lan]
spec = afpacket:eth0
rx = yes
promisc = on
rx_queues = 2
[uplink sink]
spec = null:
rx = no
[interface web]
id = 7
mac = 02:00:00:00:00:07
uids = 0, 1000
gids = 0
secret = hunter2#not-a-comment
allow_any_src_mac = yes
queues = 1
uplink = sink
[interface 9]
uplink = none
""",
    "empty": b"",
    "comments_only": b"# nothing\n; nothing\n\n   \n",
    "no_equals": b"socket\n",
    "unclosed_section": b"[interface 3\nid = 3\n",
    "unknown_section": b"[bridge]\n",
    "unknown_key": b"frobnicate = 1\n",
    "numbers_out_of_range": b"core = 99999999999999999999\nspin_us = -1\nqueues = 0\npool_size = 1\n",
    "same_id_twice": b"[interface 5]\n[interface 5]\n",
    "same_mac_twice": b"[interface 1]\nmac = 02:00:00:00:00:01\n[interface 2]\nmac = 02:00:00:00:00:01\n",
    "bad_macs": b"[interface 1]\nmac = 01:00:00:00:00:01\n[interface 2]\nmac = zz\n",
    "long_values": b"socket = /" + b"a" * 300 + b"\n[interface " + b"n" * 100 + b"]\nsecret = " + b"s" * 40 + b"\n",
    "many_acl": b"[interface 1]\nuids = " + b", ".join(str(i).encode() for i in range(40)) + b"\n",
    "many_sections": b"".join(b"[interface %d]\n" % i for i in range(300)),
    "many_uplinks": b"".join(b"[uplink u%d]\nspec = null:\n" % i for i in range(20)),
    "uplink_missing": b"[interface 1]\nuplink = nowhere\n",
    "auto_ids_reversed": b"auto_ids = 10-2\n",
    "auto_ids_huge": b"auto_ids = 0-4294967295\n",
    "user_names": b"socket_owner = nobody\nsocket_group = nogroup\n[interface 1]\nuids = root\n",
    "crlf": b"socket = /tmp/x.sock\r\n[interface 1]\r\nid = 1\r\n",
    "hash_in_value": b"[interface 1]\nsecret = a#b # c\n",
    "spec_bad": b"[uplink x]\nspec = nosuchkind:foo\n",
    # Printed back as "spec = #x", a comment: refused since the fuzzer found it.
    "value_starts_with_hash": b"[uplink x]\nspec =#x\n[interface 1]\nsecret =#s\n",
    # Printed back as "[interface 5]", which means id 5: refused since found.
    "numeric_name": b"[interface 2]\nname = 5\n",
}

# ---- usnetd_ctl_fuzz: control socket peers ----
C_CONNECT, C_SEND, C_REQ, C_POLL, C_CLOSE, C_SHUT = range(6)
CTL_MAGIC = 0x444E5355


def peer(k, op):
    return bytes([(k << 4) | op])


def req(k, cmd, start=0):
    return peer(k, C_REQ) + bytes([cmd]) + u32(start)


def raw(k, data, nfd=0):
    return peer(k, C_SEND) + bytes([len(data), nfd]) + data


GOOD_REQ = u32(CTL_MAGIC) + u16(1) + u16(1) + u32(0) + u32(0)
ctl = {
    "info_uplinks_clients": peer(0, C_CONNECT) + req(0, 1) + req(0, 2) + req(0, 3) + peer(0, C_POLL),
    "pages": peer(0, C_CONNECT) + req(0, 3, 1) + req(0, 3, 2) + req(0, 3, 3) + req(0, 3, 0xFFFFFFFF)
    + req(0, 2, 1) + req(0, 1, 5) + peer(0, C_POLL),
    "bad_cmd": peer(0, C_CONNECT) + req(0, 0) + peer(0, C_POLL) + peer(0, C_CONNECT) + req(0, 9)
    + peer(0, C_POLL),
    "short_long_empty": peer(1, C_CONNECT) + raw(1, GOOD_REQ[:15]) + peer(1, C_POLL)
    + peer(1, C_CLOSE) + peer(1, C_CONNECT) + raw(1, GOOD_REQ + b"x") + peer(1, C_POLL)
    + peer(1, C_CLOSE) + peer(1, C_CONNECT) + raw(1, b"") + peer(1, C_POLL),
    "bad_magic_version": peer(2, C_CONNECT) + raw(2, u32(0) + GOOD_REQ[4:]) + peer(2, C_POLL)
    + peer(2, C_CONNECT) + raw(2, GOOD_REQ[:4] + u16(2) + GOOD_REQ[6:]) + peer(2, C_POLL),
    "fds_with_request": peer(0, C_CONNECT) + raw(0, GOOD_REQ, nfd=2) + peer(0, C_POLL)
    + raw(0, b"", nfd=1) + peer(0, C_POLL),
    "ten_peers": b"".join(peer(k, C_CONNECT) for k in range(10)) + peer(0, C_POLL)
    + b"".join(req(k, 3) for k in range(10)) + peer(0, C_POLL),
    "shutdown_and_close": peer(0, C_CONNECT) + req(0, 1) + peer(0, C_SHUT) + peer(0, C_POLL)
    + peer(3, C_CONNECT) + req(3, 3) + peer(3, C_CLOSE) + peer(0, C_POLL),
    "many_requests_one_poll": peer(0, C_CONNECT) + req(0, 3) * 40 + peer(0, C_POLL) + peer(0, C_POLL),
}

# ---- memif_client_fuzz: a hostile server ----
M_SEND, M_HELLO, M_SERVE, M_POKE, M_INDEX, M_RX, M_TX, M_ARM, M_POLL, M_HANGUP = range(10)
S2C_RING = 128 + 16 * 16  # the client's C2S ring 0 (log2 4) comes first
S2C_DESC0 = S2C_RING + 128


def m_send(payload, kinds=(), length=None):
    n = len(payload) if length is None else length
    code = 0xFF if n == 128 else 0xFE if n == 300 else n
    return bytes([M_SEND, code, len(kinds)]) + payload[:n].ljust(n, b"\0") + bytes(kinds)


def m_poke(off, data):
    return bytes([M_POKE]) + u32(off) + bytes([len(data)]) + data


UP = bytes([M_HELLO, 0, M_SERVE])
client = {
    "connect_traffic": UP + bytes([M_TX, 4]) + u16(60) + bytes([M_INDEX, 3]) + u16(2)
    + bytes([M_RX, 8, M_ARM, M_POLL]),
    "zero_len_fds": m_send(b"", [0, 1, 2]),
    "zero_len_after_hello": bytes([M_HELLO, 0]) + m_send(b"", [0, 0]),
    "six_fds": m_send(msg(2, b"\0" * 32 + u16(0x200) + u16(0x200)), [0, 1, 2, 0, 1, 2]),
    "short_hello": m_send(msg(2)[:64]),
    "long_hello": m_send(msg(2).ljust(300, b"\x41"), length=300),
    "bad_version": bytes([M_HELLO, 1]) + u16(0x100) + u16(0x100),
    "hello_limits": bytes([M_HELLO, 6]) + u16(0xFFFF) + u16(0xFFFF) + u16(0xFFFF) + bytes([0, M_SERVE]),
    "unexpected_messages": bytes([M_HELLO, 0]) + m_send(msg(7)) + m_send(msg(1)) + m_send(msg(0x77)),
    "server_disconnect": UP + m_send(msg(8, u32(0) + b"maintenance")),
    "desc_longer_than_buffer": UP + m_poke(S2C_DESC0, desc(0, 0xFFFFFFFF, 0))
    + bytes([M_INDEX, 1]) + u16(1) + bytes([M_RX, 8, M_POLL]),
    "desc_one_too_long": UP + m_poke(S2C_DESC0, desc(0, 513, 0)) + bytes([M_INDEX, 1]) + u16(1)
    + bytes([M_RX, 8, M_POLL]),
    "s2c_tail_out_of_range": UP + bytes([M_INDEX, 1]) + u16(17) + bytes([M_RX, 8, M_POLL]),
    "s2c_tail_backwards": UP + bytes([M_INDEX, 1]) + u16(0xFFFF) + bytes([M_RX, 8, M_POLL]),
    "endless_chain": UP + m_poke(S2C_DESC0, b"".join(desc(1, 8, 0) for _ in range(15)))
    + m_poke(S2C_DESC0 + 15 * 16, desc(1, 8, 0)) + bytes([M_INDEX, 1]) + u16(16)
    + bytes([M_RX, 64, M_POLL]),
    "c2s_tail_out_of_range": UP + bytes([M_TX, 1]) + u16(60) + bytes([M_INDEX, 0]) + u16(5)
    + bytes([M_TX, 1]) + u16(60) + bytes([M_POLL]),
    "chained_tx": UP + bytes([M_TX, 3]) + u16(1999) + bytes([M_INDEX, 2]) + u16(40)
    + bytes([M_TX, 3]) + u16(1500),
    "hangup_mid_traffic": UP + bytes([M_TX, 8]) + u16(100) + bytes([M_HANGUP, M_RX, 8, M_TX, 1])
    + u16(60),
    "mask_int_flags": UP + bytes([M_INDEX, 5]) + u16(1) + bytes([M_ARM, M_INDEX, 1]) + u16(1)
    + bytes([M_ARM, M_RX, 1]),
}

TARGETS = {"memif_server_fuzz": memif, "memif_client_fuzz": client, "usnetd_conf_fuzz": conf, "usnetd_ctl_fuzz": ctl}


def main():
    for target, seeds in TARGETS.items():
        d = os.path.join(HERE, "seeds", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
