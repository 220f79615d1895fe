#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The peer side of stack_hostile.sh, run in the kernel's namespace: crafts
# hostile frames with scapy, sends them to usnet-udpecho over the veth, and
# after each case checks that
#   - the stack still answers (a kernel UDP socket's datagram comes back:
#     this also proves every earlier frame was processed, the veth and the
#     stack being in order),
#   - the named counter moved by exactly the expected amount and no other
#     verdict counter moved (counters read by SIGUSR1 from usnet-udpecho's
#     --json output).
# usage: stack_hostile.py IFACE USNET_MAC USNET_IP KERNEL_IP ECHO_PID ECHO_OUT
# Prints "ok: ..." / "FAIL: ..." lines; exit status 1 if any failed.
import json
import os
import signal
import socket
import sys
import time

from scapy.all import ARP, ICMP, IP, UDP, Ether, Raw, conf, fragment, sendp  # noqa: E402

conf.verb = 0
IFACE, UMAC, UIP, KIP, PID, OUT = sys.argv[1:7]
PID = int(PID)
KMAC = open(f"/sys/class/net/{IFACE}/address").read().strip()
EVIL = "02:66:00:00:00:01"  # an attacker's MAC on the kernel's side
NET = UIP.rsplit(".", 1)[0]  # the /24 both sides are on
fails = 0
# Counters that earlier cases move later on their own: the reassembly
# time-out of the fragment flood (checked exactly at the end).
LATE = set()

# Counters that count ordinary traffic (the barrier datagram and its echo,
# ARP refreshes), not verdicts on the hostile frames.
BUSY = {"rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "ip_rx", "ip_tx", "udp_rx", "udp_tx",
        "arp_rx_request", "arp_rx_reply", "arp_tx_request", "arp_tx_reply", "icmp_rx",
        "icmp_rx_echo_request", "icmp_tx_echo_reply", "ip_frag_rx", "ip_tx_frag",
        "arp_tx_gratuitous"}

# The kernel's socket for barrier datagrams and for echoes of crafted ones.
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((KIP, 0))
sock.settimeout(3)
SPORT = sock.getsockname()[1]


def dump():
    """usnet-udpecho's counters now (SIGUSR1, one JSON line more in OUT)."""
    before = len(open(OUT).read().splitlines())
    for _ in range(100):
        os.kill(PID, signal.SIGUSR1)
        time.sleep(0.05)
        lines = open(OUT).read().splitlines()
        if len(lines) > before:
            return json.loads(lines[-1])["stack"]
    raise SystemExit("FAIL: usnet-udpecho did not answer SIGUSR1 within 5 s")


def barrier(what):
    """A datagram from a kernel socket must come back unchanged."""
    data = f"barrier after {what}".encode()
    sock.sendto(data, (UIP, 7))
    try:
        back, peer = sock.recvfrom(70000)
        while back != data:  # an echo of a crafted datagram sent earlier
            back, peer = sock.recvfrom(70000)
        return True
    except socket.timeout:
        return False


def check(what, frames, want, allow=()):
    """Send frames; then the stack must answer and exactly `want` moved."""
    global fails
    a = dump()
    sendp(frames, iface=IFACE)
    answered = barrier(what)
    b = dump()
    d = {k: b[k] - a.get(k, 0) for k in b}
    bad = [f"{k} moved by {d.get(k)} (want {v})" for k, v in want.items() if d.get(k) != v]
    bad += [f"{k} moved by {v} (want 0)" for k, v in d.items()
            if v and k not in want and k not in BUSY and k not in allow and k not in LATE]
    if not answered:
        bad.append("the stack no longer answers UDP (no echo within 3 s)")
    if bad:
        fails += 1
        print(f"FAIL: {what}: {'; '.join(bad)}", flush=True)
    else:
        print(f"ok: {what}: " + ", ".join(f"{k} +{v}" for k, v in want.items()), flush=True)
    return d


def eth(src=KMAC, dst=UMAC, t=0x0800):
    return Ether(src=src, dst=dst, type=t)


def ip(**kw):
    kw.setdefault("src", KIP)
    kw.setdefault("dst", UIP)
    return IP(**kw)


def udp_ok(payload=b"x" * 32):
    return UDP(sport=SPORT, dport=7) / Raw(payload)


def raw_ip(pkt, **patch):
    """Bytes of an IP packet built by scapy, with fields patched after the
    checksum was computed (so that the checksum does not follow them)."""
    b = bytearray(bytes(pkt))
    for off, val in patch.items():
        b[int(off[1:])] = val
    return bytes(b)


# --- Ethernet -------------------------------------------------------------------
check("Ethernet header only (IPv4 type, no payload)", eth(), {"ip_short": 1})
check("ARP type, 10 bytes of ARP", eth(t=0x0806) / Raw(b"\x00\x01\x08\x00\x06\x04\x00\x01\x00\x00"),
      {"arp_short": 1})
check("broadcast and multicast source MACs",
      [eth(src="ff:ff:ff:ff:ff:ff") / ip() / udp_ok(), eth(src="01:00:5e:00:00:01") / ip() / udp_ok()],
      {"eth_bad_src": 2})
check("unicast to another MAC", eth(dst="02:99:00:00:00:01") / ip() / udp_ok(), {"eth_not_ours": 1})
check("unknown EtherType (IPv6)", eth(t=0x86DD) / Raw(b"\x60" + bytes(47)), {"eth_unknown_type": 1})

# --- IPv4 -----------------------------------------------------------------------
full = bytes(ip() / udp_ok())
check("IPv4 header cut at 12 bytes", eth() / Raw(full[:12]), {"ip_short": 1})
check("IP version 6 in an IPv4 frame", eth() / Raw(raw_ip(ip() / udp_ok(), b0=0x65)), {"ip_bad_version": 1})
check("IHL 4 (16-byte header)", eth() / ip(ihl=4) / udp_ok(), {"ip_bad_ihl": 1})
check("total length beyond the frame", eth() / ip(len=1000) / udp_ok(), {"ip_bad_len": 1})
check("total length below the header", eth() / ip(len=12) / udp_ok(), {"ip_bad_len": 1})
check("bad IPv4 header checksum", eth() / ip(chksum=0x1234) / udp_ok(), {"ip_bad_csum": 1})
check("TTL 0", eth() / ip(ttl=0) / udp_ok(), {"ip_bad_ttl": 1})
check("broadcast, multicast, 0/8, 127/8, 240/4 source addresses",
      [eth() / ip(src=s) / udp_ok() for s in
       ("255.255.255.255", "224.0.0.5", "0.1.2.3", "127.0.0.1", "240.0.0.1")],
      {"ip_bad_src": 5})
check("malformed IP option (length 1)", eth() / Raw(bytes(ip(ihl=6, options=b"\x07\x01\x00\x00") / udp_ok())),
      {"ip_bad_options": 1})
check("to another IP address", eth() / ip(dst=f"{NET}.77") / udp_ok(), {"ip_not_ours": 1})
# RFC 1122 3.2.2.1: a host should answer protocol unreachable.
check("unknown protocol (47, GRE)", eth() / ip(proto=47) / Raw(bytes(8)),
      {"ip_unknown_proto": 1, "icmp_tx_unreach": 1})

# --- UDP and ICMP -----------------------------------------------------------------
check("UDP header cut at 4 bytes", eth() / ip(proto=17) / Raw(b"\x12\x34\x00\x07"), {"udp_short": 1})
check("UDP length 4", eth() / ip() / UDP(sport=SPORT, dport=7, len=4) / Raw(b"abcd"), {"udp_bad_len": 1})
check("UDP length beyond the IP payload", eth() / ip() / UDP(sport=SPORT, dport=7, len=200) / Raw(b"abcd"),
      {"udp_bad_len": 1})
check("bad UDP checksum", eth() / ip() / UDP(sport=SPORT, dport=7, chksum=0x4321) / Raw(b"payload"),
      {"udp_bad_csum": 1})
check("bad ICMP checksum", eth() / ip() / ICMP(type=8, chksum=0x1111) / Raw(b"ping"), {"icmp_bad_csum": 1})
check("ICMP cut at 2 bytes", eth() / ip(proto=1) / Raw(b"\x08\x00"), {"icmp_short": 1})
check("echo request to the broadcast address",
      eth(dst="ff:ff:ff:ff:ff:ff") / ip(dst=f"{NET}.255") / ICMP(type=8) / Raw(b"x"),
      {"icmp_echo_bcast": 1})
check("ICMP type 13 (timestamp)", eth() / ip() / ICMP(type=13) / Raw(bytes(12)), {"icmp_unknown_type": 1})

# --- fragments ----------------------------------------------------------------------
big = ip(id=4001) / UDP(sport=SPORT, dport=7) / Raw(bytes(range(256)) * 12)  # 3080 bytes
frags = fragment(big, fragsize=1480)
assert len(frags) == 3
check("a fragment sent twice (the datagram is still echoed)",
      [eth() / frags[0], eth() / frags[1], eth() / frags[1], eth() / frags[2]],
      {"ip_reasm_dup": 1, "ip_reasm_ok": 1})
ov = bytes(ip(id=4002) / UDP(sport=SPORT, dport=7) / Raw(bytes(40)))[20:]  # 48 bytes of UDP
check("overlapping fragments (0-23 and 8-31)",
      [eth() / ip(id=4002, proto=17, flags="MF", frag=0) / Raw(ov[:24]),
       eth() / ip(id=4002, proto=17, flags="MF", frag=1) / Raw(ov[8:32])],
      {"ip_reasm_overlap": 1})
check("fragment with MF and 13 bytes (not a multiple of 8)",
      eth() / ip(id=4003, proto=17, flags="MF", frag=0) / Raw(bytes(13)), {"ip_frag_bad": 1})
check("fragment ending beyond 65535", eth() / ip(id=4004, proto=17, frag=8190) / Raw(bytes(16)),
      {"ip_frag_bad": 1})
# The flood: first fragments of 300 datagrams that never complete. At most
# reasm_max_datagrams (64) are held, and one of those slots still holds the
# overlapping datagram above (RFC 5722: its later fragments are discarded
# until its time-out); the rest are refused. They stay held for the
# reassembly time-out, so this case comes last of the fragments.
flood = [eth() / ip(id=5000 + i, proto=17, flags="MF", frag=0) / Raw(bytes(1480)) for i in range(300)]
before_flood = dump()
flood_sent = time.monotonic()
check("fragment flood: 300 incomplete datagrams", flood, {"ip_reasm_too_many": 300 - 63})
LATE |= {"ip_reasm_timeout", "icmp_tx_time_exceeded", "icmp_unreach_limited"}

# --- ARP --------------------------------------------------------------------------
def arp(op, hwsrc, psrc, pdst, dst=UMAC, hwdst=None):
    return Ether(src=hwsrc, dst=dst) / ARP(op=op, hwsrc=hwsrc, psrc=psrc, pdst=pdst,
                                           hwdst=hwdst or ("00:00:00:00:00:00" if op == 1 else dst))


check("10 ARP requests for another address",
      [arp(1, KMAC, KIP, f"{NET}.99", dst="ff:ff:ff:ff:ff:ff") for _ in range(10)],
      {"arp_not_for_us": 10})
storm = [arp(2, "02:77:00:00:%02x:%02x" % (i >> 8, i & 0xff), f"{NET}.{10 + i % 200}", UIP)
         for i in range(1000)]
# 200 addresses claimed by 5 MACs each: the first claim is learned, the
# other 4 would change a reachable entry's MAC and are refused.
check("ARP reply storm: 1000 unsolicited replies to us", storm,
      {"arp_rx_reply": 1000, "arp_mac_change_refused": 800}, allow=("arp_cache_full",))
check("ARP from a group MAC and from a sender outside the subnet",
      [arp(1, "01:00:5e:00:00:09", KIP, UIP, dst="ff:ff:ff:ff:ff:ff"),
       arp(1, EVIL, "203.0.113.9", UIP, dst="ff:ff:ff:ff:ff:ff")],
      {"arp_bad_sender": 1, "eth_bad_src": 1})
check("gratuitous ARP claiming our address", arp(1, EVIL, UIP, UIP, dst="ff:ff:ff:ff:ff:ff"),
      {"arp_conflict": 1})
# --- the flood's datagrams time out (reasm_timeout_ms, 30 s) ------------------------
# All 63 held datagrams are dropped as timed out (the overlapping one was
# counted when it was killed); each had fragment zero, so each may get an
# ICMP time exceeded (RFC 1122 3.3.2), at most 8 reported per poll and
# rate-limited (burst 20): sent + limited is between 1 and 63.
time.sleep(max(0.0, flood_sent + 32 - time.monotonic()))
answered = barrier("the reassembly time-out")
after = dump()
d = {k: after[k] - before_flood.get(k, 0) for k in after}
sent_or_limited = d.get("icmp_tx_time_exceeded", 0) + d.get("icmp_unreach_limited", 0)
if d.get("ip_reasm_timeout") == 63 and 1 <= sent_or_limited <= 63 and answered:
    print(f"ok: reassembly time-out: ip_reasm_timeout +63, time exceeded sent "
          f"{d.get('icmp_tx_time_exceeded')}, rate-limited {d.get('icmp_unreach_limited')}", flush=True)
else:
    fails += 1
    print(f"FAIL: reassembly time-out: ip_reasm_timeout +{d.get('ip_reasm_timeout')} (want 63), "
          f"time exceeded sent + limited {sent_or_limited} (want 1..63), answered {answered}", flush=True)

# --- last, as it may leave the stack unable to answer ---------------------------------
# Gratuitous ARP (request and reply forms) claiming the gateway's address from
# another MAC: the stack must keep sending to the real gateway, or the
# barrier's echo (to the gateway's address) would go to EVIL and be lost.
d = check("gratuitous ARP stealing the gateway (request and reply)",
          [arp(1, EVIL, KIP, KIP, dst="ff:ff:ff:ff:ff:ff"),
           arp(2, EVIL, KIP, KIP, dst="ff:ff:ff:ff:ff:ff", hwdst="ff:ff:ff:ff:ff:ff")],
          {"arp_mac_change_refused": 2, "arp_not_for_us": 1})

# --- still a host ---------------------------------------------------------------------
r = os.system(f"ping -c 3 -i 0.1 -W 2 -q {UIP} >/dev/null")
if r:
    fails += 1
    print("FAIL: the kernel's ping is no longer answered", flush=True)
else:
    print("ok: the kernel's ping is still answered", flush=True)
sys.exit(1 if fails else 0)
