#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The peer side of tcp_hostile.sh, run in the kernel's namespace: a hostile
# TCP peer crafted with scapy against tcp_target (usnet's TCP: echo on port
# 7, an endless source on port 19).
#
# The crafted segments come from addresses the kernel of this namespace
# does not own (EVIL, and random ones for the SYN flood), so the kernel
# never answers usnet's segments with resets of its own: this script
# answers usnet's ARP requests for EVIL (with the kernel's MAC: the kernel
# then drops what usnet sends to EVIL, as it does not forward), and reads
# usnet's segments from an AF_PACKET socket.
#
# After each case:
#   - the stack still serves a kernel TCP connection (a line sent on a
#     connection from the kernel's own address comes back: this also
#     proves every earlier frame was processed, the veth being in order);
#   - the named counters moved by the expected amounts and no other "drop"
#     counter moved (counters read by SIGUSR1 from tcp_target's JSON);
#   - what usnet answered on the wire was right (challenge ACKs, resets,
#     data echoed or not).
# usage: tcp_hostile.py IFACE USNET_MAC USNET_IP KERNEL_IP EVIL_IP TARGET_PID TARGET_OUT
# Prints "ok: ..." / "FAIL: ..." lines; exit status 1 if any failed.
# Development: TCP_HOSTILE_ONLY=REGEX runs only the cases whose name matches;
# TARGET_PID 0 plays against any server on ports 7, 9 and 19 (the kernel's,
# say) with the wire checks only, no counters.
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

from scapy.all import ARP, IP, Ether, Raw, conf  # noqa: E402

conf.verb = 0
IFACE, UMAC, UIP, KIP, EVIL, PID, OUT = sys.argv[1:8]
PID = int(PID)
KMAC = open(f"/sys/class/net/{IFACE}/address").read().strip()
fails = 0
ONLY = os.environ.get("TCP_HOSTILE_ONLY")  # development: the cases whose name matches
rnd = random.Random(0x75736E6574)

# The counters each case names (include/usnet/stack.h).
C_CSUM = "tcp_bad_csum"
C_HDR = "tcp_bad_off"  # data offset below 5 or beyond the segment
C_OPT = "tcp_bad_opt"  # an option running past the header, a bad length
C_OOW = "tcp_out_of_window"  # sequence outside the window (ACK sent)
C_DUP = "tcp_dup_data"  # data that had all arrived already (ACK sent)
C_ACK_NEW = "tcp_ack_too_new"  # acknowledges what was never sent
C_ACK_OLD = "tcp_ack_too_old"  # RFC 5961 5.2: below SND.UNA - MAX.SND.WND
C_RST_CHAL = "tcp_rst_in_window_ignored"  # RFC 5961 3.2: in the window, not exact
C_RST_OOW = "tcp_rst_out_of_window"  # RFC 5961 3.2: outside: dropped
C_RST_OK = "tcp_resets_rx"
C_SYN_CHAL = "tcp_syn_in_sync"  # RFC 5961 4.2
C_CHAL = "tcp_challenge_ack"  # challenge ACKs asked for
C_PAWS = "tcp_paws_drop"  # RFC 7323 5.3
C_COOKIE_SENT = "tcp_syn_cookies_sent"
C_COOKIE_OK = "tcp_syn_cookies_ok"
C_COOKIE_BAD = "tcp_syn_cookies_bad"
C_PROBES = "tcp_persist_probes"
C_RTO = "tcp_rto"  # retransmission timeouts


def dump():
    """tcp_target's counters now (SIGUSR1, one JSON line more in OUT)."""
    if PID == 0:  # development against a kernel server: no counters
        return {"stack": {}, "target": {"timeout": 0}, "drops": []}
    before = len(open(OUT).read().splitlines())
    for _ in range(200):
        os.kill(PID, signal.SIGUSR1)
        time.sleep(0.05)
        lines = open(OUT).read().splitlines()
        if len(lines) > before:
            j = json.loads(lines[-1])
            return j
    raise SystemExit("FAIL: tcp_target did not answer SIGUSR1 within 10 s")


def flat(j):
    d = dict(j["stack"])
    d.update({"target." + k: v for k, v in j["target"].items()})
    return d


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip2b(a):
    return socket.inet_aton(a)


FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def tcp_bytes(src, dst, sport, dport, seq, ack, flags, wnd, opts=b"", data=b"", doff=None,
              chk=None):
    """A TCP segment built by hand, so that every field can lie."""
    fl = sum(FLAGS[c] for c in flags)
    pad = opts + b"\0" * (-len(opts) % 4)
    if doff is None:
        doff = 5 + len(pad) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                    (doff & 0xF) << 4, fl, wnd, 0, 0) + pad
    seg = h + data
    if chk is None:
        ph = ip2b(src) + ip2b(dst) + struct.pack("!BBH", 0, 6, len(seg))
        chk = csum(ph + seg)
    return seg[:16] + struct.pack("!H", chk) + seg[18:]


def frame(src, dst, tcp, **ipkw):
    return bytes(Ether(src=KMAC, dst=UMAC) / IP(src=src, dst=dst, proto=6, **ipkw) / Raw(tcp))


class Seg:
    def __init__(self, b):
        ihl = (b[14] & 0xF) * 4
        t = b[14 + ihl:]
        tot = struct.unpack("!H", b[16:18])[0]
        t = t[:tot - ihl]
        self.src = socket.inet_ntoa(b[26:30])
        self.dst = socket.inet_ntoa(b[30:34])
        (self.sport, self.dport, self.seq, self.ack, off, self.fl, self.wnd) = struct.unpack(
            "!HHIIBBH", t[:16])
        doff = (off >> 4) * 4
        self.opts = t[20:doff]
        self.data = t[doff:]
        self.ts = None
        self.mss = None
        i = 0
        while i < len(self.opts):
            k = self.opts[i]
            if k == 0:
                break
            if k == 1:
                i += 1
                continue
            if i + 1 >= len(self.opts) or self.opts[i + 1] < 2:
                break
            n = self.opts[i + 1]
            if k == 8 and n == 10:
                self.ts = struct.unpack("!II", self.opts[i + 2:i + 10])
            if k == 2 and n == 4:
                self.mss = struct.unpack("!H", self.opts[i + 2:i + 4])[0]
            i += n

    def has(self, f):
        return all(self.fl & FLAGS[c] for c in f)

    def __repr__(self):
        fl = "".join(c for c, v in FLAGS.items() if self.fl & v)
        return f"<{fl} seq={self.seq} ack={self.ack} wnd={self.wnd} len={len(self.data)}>"


class Wire(threading.Thread):
    """Every TCP segment usnet sends to the addresses we play, in order;
    usnet's ARP requests for them answered."""

    def __init__(self, ours):
        super().__init__(daemon=True)
        self.ours = {ip2b(a) for a in ours}
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.bind((IFACE, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.segs = []
        self.conns = {}  # our port -> Conn, for the answers made here
        self.cv = threading.Condition()
        self.stop = False
        self.start()

    def run(self):
        while not self.stop:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            b, addr = self.sock.recvfrom(65535)
            if addr[2] == socket.PACKET_OUTGOING or len(b) < 34:
                continue
            et = b[12:14]
            if et == b"\x08\x06" and b[20:22] == b"\x00\x01" and b[38:42] in self.ours:
                # who-has one of ours: the kernel's MAC (it drops what comes)
                rep = Ether(src=KMAC, dst=b[6:12]) / ARP(
                    op=2, hwsrc=KMAC, psrc=socket.inet_ntoa(b[38:42]), hwdst=b[22:28],
                    pdst=socket.inet_ntoa(b[28:32]))
                self.sock.send(bytes(rep))
            elif et == b"\x08\x00" and b[23] == 6 and b[30:34] in self.ours:
                s = Seg(b)
                s.t = time.monotonic()
                c = self.conns.get(s.dport)
                if c is not None and c.mine(s):
                    c.answer(s)
                with self.cv:
                    self.segs.append(s)
                    self.cv.notify_all()

    def send(self, frames):
        for f in frames if isinstance(frames, list) else [frames]:
            self.sock.send(f)


class Conn:
    """One TCP connection played from EVIL, by hand. Once open, the wire's
    thread answers usnet's segments at once (whatever the pace of this
    script on a loaded machine), as `mode` says: "ack" acknowledges the
    data in order (kept in rx), "zero" answers everything with a zero
    window, None answers nothing (a peer that vanished)."""

    def __init__(self, wire, dport, ts=False, wnd=65535, src=EVIL):
        self.w, self.dport, self.ts, self.wnd, self.src = wire, dport, ts, wnd, src
        self.sport = rnd.randrange(20000, 60000)
        while self.sport in wire.conns:
            self.sport = rnd.randrange(20000, 60000)
        self.iss = rnd.randrange(1 << 32)
        self.snd_nxt = self.iss
        self.rcv_nxt = 0
        self.tsval, self.ts_recent = 5000, 0
        self.pos = len(wire.segs)
        self.mode = None
        self.rx = b""
        self.lock = threading.RLock()
        wire.conns[self.sport] = self

    def answer(self, s):
        """In the wire's thread: the answer `mode` asks for."""
        with self.lock:
            if s.ts:
                self.ts_recent = s.ts[0]
            if self.mode == "zero" and not s.has("R"):
                self.tx("A", wnd=0)
            elif self.mode == "ack" and not s.has("R") and (s.data or s.has("F")):
                if s.seq == self.rcv_nxt:
                    self.rx += s.data
                    self.rcv_nxt = (self.rcv_nxt + len(s.data) + s.has("F")) & 0xFFFFFFFF
                self.tx("A")  # in order or not: what we have

    def mine(self, s):
        return s.sport == self.dport and s.dport == self.sport and s.dst == self.src

    def tsopt(self, tsval=None):
        if not self.ts:
            return b""
        if tsval is None:
            self.tsval += 1
            tsval = self.tsval
        return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval & 0xFFFFFFFF, self.ts_recent)

    def seg(self, flags="A", seq=None, ack=None, data=b"", wnd=None, opts=None, **kw):
        with self.lock:
            return self._seg(flags, seq, ack, data, wnd, opts, **kw)

    def _seg(self, flags, seq, ack, data, wnd, opts, **kw):
        return frame(self.src, UIP, tcp_bytes(
            self.src, UIP, self.sport, self.dport, self.snd_nxt if seq is None else seq,
            self.rcv_nxt if ack is None else ack, flags, self.wnd if wnd is None else wnd,
            self.tsopt() if opts is None else opts, data, **kw))

    def tx(self, *a, **kw):
        self.w.send(self.seg(*a, **kw))

    def expect(self, pred=lambda s: True, timeout=3.0):
        """The next segment of ours that pred accepts (others skipped), or None."""
        end = time.monotonic() + timeout
        with self.w.cv:
            while True:
                while self.pos < len(self.w.segs):
                    s = self.w.segs[self.pos]
                    self.pos += 1
                    if self.mine(s):
                        if s.ts:
                            self.ts_recent = s.ts[0]
                        if pred(s):
                            return s
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.w.cv.wait(left)

    def collect(self, seconds):
        """Every segment of ours within `seconds` from now."""
        end = time.monotonic() + seconds
        got = []
        while True:
            s = self.expect(timeout=max(0.0, end - time.monotonic()))
            if s is None:
                return got
            got.append(s)

    def open(self, wnd=None):
        opts = b"\x02\x04\x05\xb4" + (b"\x01\x01\x08\x0a" + struct.pack("!II", self.tsval, 0)
                                      if self.ts else b"")
        self.w.send(self.seg("S", seq=self.iss, ack=0, opts=opts, wnd=wnd))
        s = self.expect(lambda s: s.has("SA"))
        if s is None or s.ack != (self.iss + 1) & 0xFFFFFFFF:
            return f"no SYN-ACK to our SYN (got {s})"
        if self.ts and not s.ts:
            return "the SYN-ACK has no timestamp"
        self.snd_nxt = self.iss + 1
        self.rcv_nxt = (s.seq + 1) & 0xFFFFFFFF
        self.tx("A", wnd=wnd)
        self.mode = "zero" if (self.wnd if wnd is None else wnd) == 0 else "ack"
        return None

    def send(self, data):
        self.tx("PA", data=data)
        self.snd_nxt += len(data)

    def read(self, n, timeout=10.0):
        """n bytes of in-order data (the wire's thread ACKs them as they
        come), or fewer on time-out or a reset."""
        end = time.monotonic() + timeout
        while len(self.rx) < n:
            s = self.expect(lambda s: s.has("R"), min(0.1, max(0.0, end - time.monotonic())))
            if s is not None or time.monotonic() >= end:
                break
        with self.lock:
            got, self.rx = self.rx[:n], self.rx[n:]
        return got

    def echo(self, data):
        self.send(data)
        back = self.read(len(data))
        return back == data


# --- the kernel's own connection: the barrier ----------------------------------
ksock = socket.create_connection((UIP, 7), timeout=20, source_address=(KIP, 0))
nbar = 0


def barrier():
    global nbar
    nbar += 1
    msg = f"barrier {nbar}\n".encode()
    try:
        ksock.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = ksock.recv(4096)
            if not b:
                return False
            got += b
        return got == msg
    except OSError:
        return False


def kretrans():
    """Segments the kernel's barrier connection retransmitted so far
    (struct tcp_info's tcpi_total_retrans, at byte 100): on a loaded machine
    a barrier may be sent again before usnet acknowledged it, and usnet
    then counts the copy in tcp_dup_data."""
    return struct.unpack_from("I", ksock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104),
                              100)[0]


def check(what, action, want, allow=()):
    """Run action (a list of problems it saw on the wire); then the stack
    must still serve the kernel's connection and exactly `want` moved
    (a value: exactly; a (lo, hi) pair: within), no other drop counter."""
    global fails
    if ONLY and not re.search(ONLY, what):
        return {}
    a = dump()
    kr = kretrans()
    try:
        bad = list(action() or [])
    except Exception as e:  # a bug in the case is a failure, not a crash
        bad = [f"{type(e).__name__}: {e}"]
    answered = barrier()
    b = dump()
    fa, fb = flat(a), flat(b)
    d = {k: fb[k] - fa.get(k, 0) for k in fb}
    if "tcp_dup_data" in d:  # the kernel's retransmitted barriers
        d["tcp_dup_data"] = max(0, d["tcp_dup_data"] - (kretrans() - kr))
    drops = set(b.get("drops", []))
    for k, v in want.items():
        # a tuple of names: their sum
        lo, hi = v if isinstance(v, tuple) else (v, v)
        ks = k if isinstance(k, tuple) else (k,)
        if PID == 0:
            continue
        if any(x not in fb for x in ks):
            bad.append(f"no counter {k}")
            continue
        d[k] = sum(d[x] for x in ks)
        if not lo <= d[k] <= hi:
            bad.append(f"{k} moved by {d[k]} (want {v})")
    named = {x for k in want for x in (k if isinstance(k, tuple) else (k,))}
    bad += [f"{k} moved by {d[k]} (want 0)" for k in sorted(drops)
            if d.get(k) and k not in named and k not in allow]
    if not answered:
        bad.append("the stack no longer serves the kernel's connection")
    if bad:
        fails += 1
        print(f"FAIL: {what}: {'; '.join(bad)}", flush=True)
    else:
        print(f"ok: {what}: " + ", ".join(f"{k} +{d.get(k)}" for k in want), flush=True)
    return d


wire = Wire([EVIL])
# usnet learns EVIL's MAC from our request (RFC 826), before any SYN-ACK.
wire.send(bytes(Ether(src=KMAC, dst="ff:ff:ff:ff:ff:ff") /
                ARP(op=1, hwsrc=KMAC, psrc=EVIL, pdst=UIP)))
if not barrier():
    raise SystemExit("FAIL: the kernel's connection to the echo port does not echo")


def established(ts=False, dport=7):
    c = Conn(wire, dport, ts=ts)
    err = c.open()
    if err:
        raise RuntimeError(err)
    if dport == 7 and not c.echo(b"hello"):
        raise RuntimeError("the new connection does not echo")
    return c


def no_data(c, seconds=0.5):
    """Problems if usnet sent c any data within `seconds` (a forged segment's
    bytes echoed)."""
    got = [s for s in c.collect(seconds) if s.data]
    return [f"data sent back: {got}"] if got else []


def challenge(c, what):
    """The next segment must be a bare ACK of exactly its RCV.NXT (our
    snd_nxt): a challenge ACK (RFC 5961 3.2, 4.2) or the ACK of RFC 9293
    3.10.7.4."""
    s = c.expect(timeout=5)
    if s is None:
        return [f"no ACK answered the {what}"]
    want = c.snd_nxt & 0xFFFFFFFF
    if not s.has("A") or s.has("R") or s.has("S") or s.data or s.ack != want:
        return [f"answer to the {what} is {s}, not an ACK of {want}"]
    return []


# --- malformed headers ----------------------------------------------------------------
c1 = established()


def bad_header(**kw):
    def act():
        c1.w.send(frame(EVIL, UIP, tcp_bytes(EVIL, UIP, c1.sport, 7, c1.snd_nxt, c1.rcv_nxt,
                                              "PA", 65535, data=b"BAD!", **kw.get("tcp", {}))))
        return no_data(c1)
    return act


check("bad TCP checksum", bad_header(tcp={"chk": 0x1234}), {C_CSUM: 1})
check("data offset 4 (below 5)", bad_header(tcp={"doff": 4}), {C_HDR: 1})
check("data offset 15 (60 bytes) in a 24-byte segment", bad_header(tcp={"doff": 15}), {C_HDR: 1})
check("option length running past the header (MSS, length 8, in 4 bytes)",
      bad_header(tcp={"opts": b"\x02\x08\x05\xb4"}), {C_OPT: 1})
check("zero-length option (kind 8, length 0)",
      bad_header(tcp={"opts": b"\x08\x00\x00\x00"}), {C_OPT: 1})
check("option of length 1 (kind 30)", bad_header(tcp={"opts": b"\x01\x01\x1e\x01"}), {C_OPT: 1})


def bad_syn(opts):
    def act():
        c = Conn(wire, 7)
        c.tx("S", seq=c.iss, ack=0, opts=opts)
        s = c.expect(timeout=1)
        return [f"the SYN with bad options was answered: {s}"] if s else []
    return act


check("SYN with a zero-length option", bad_syn(b"\x02\x04\x05\xb4\x03\x00\x00\x00"), {C_OPT: 1})
check("SYN with a timestamp option cut short (length 10 in 8 bytes)",
      bad_syn(b"\x01\x01\x08\x0a\x00\x00\x00\x01"), {C_OPT: 1})
def bad_flags():
    bad = []
    for fl in ("SF", "SR"):  # to the listener: no SYN-ACK, no reset
        c = Conn(wire, 7)
        c.tx(fl, seq=c.iss, ack=0, opts=b"")
        s = c.expect(timeout=1)
        if s:
            bad.append(f"{fl} to the listener was answered: {s}")
    # no flags at all (a "null scan"), with data, on the connection
    c1.tx("", data=b"NO FLAGS", opts=b"")
    return bad + no_data(c1)


check("SYN+FIN and SYN+RST to the listener, no flags on a connection", bad_flags,
      {"tcp_bad_flags": 2, "tcp_no_ack": 1})


def listener_ack():
    c = Conn(wire, 7)
    ack = rnd.randrange(1 << 32)
    c.tx("A", seq=c.iss, ack=ack, opts=b"")
    s = c.expect(timeout=5)
    # RFC 9293 3.10.7.2: <SEQ=SEG.ACK><CTL=RST>
    if s is None or not s.has("R") or s.seq != ack:
        return [f"an ACK to the listener was answered with {s}, not a RST at seq {ack}"]
    return []


check("an ACK to the listener (no handshake): a reset", listener_ack, {"tcp_listen_bad": 1})

if not c1.echo(b"still echoing after bad headers"):
    fails += 1
    print("FAIL: the connection no longer echoes after the malformed segments", flush=True)

# --- RFC 9293 3.10.7.4 and RFC 5961 -----------------------------------------------------


def oow_data():
    c1.tx("PA", seq=c1.snd_nxt + (1 << 30), data=b"FAR AWAY")
    return challenge(c1, "segment beyond the window") + no_data(c1)


check("data far beyond the receive window", oow_data, {C_OOW: 1})


def old_data():
    c1.tx("PA", seq=c1.snd_nxt - 100000, data=b"OLD DATA")
    return challenge(c1, "segment left of the window") + no_data(c1)


check("data far left of the receive window", old_data, {C_DUP: 1})


def ack_too_new():
    c1.tx("PA", ack=c1.rcv_nxt + 100000, data=b"ACKS THE FUTURE")
    return challenge(c1, "ACK of data never sent") + no_data(c1)


check("an ACK of data never sent (with data)", ack_too_new, {C_ACK_NEW: 1})


def ack_too_old():
    # RFC 5961 5.2: below SND.UNA - MAX.SND.WND (we announced 65535)
    c1.tx("PA", ack=c1.rcv_nxt - 200000, data=b"INJECTED")
    return challenge(c1, "blind data injection") + no_data(c1)


check("blind data injection: an ACK below SND.UNA - MAX.SND.WND", ack_too_old, {C_ACK_OLD: 1})


def rst_in_window():
    c1.tx("R", seq=c1.snd_nxt + 1000, opts=b"")
    return challenge(c1, "RST inside the window (not exact)")


check("blind RST inside the window, not exact: challenge ACK", rst_in_window,
      {C_RST_CHAL: 1, C_CHAL: 1, "target.reset": 0})


def rst_outside():
    c1.tx("R", seq=c1.snd_nxt + (1 << 30), opts=b"")
    s = c1.expect(timeout=1)
    return [f"the RST outside the window was answered: {s}"] if s else []


check("blind RST outside the window: silently dropped", rst_outside,
      {C_RST_OOW: 1, "target.reset": 0})


def syn_established():
    c1.tx("S", seq=c1.snd_nxt + 100, ack=0, opts=b"\x02\x04\x05\xb4")
    return challenge(c1, "SYN in ESTABLISHED")


check("blind SYN in ESTABLISHED, in the window: challenge ACK", syn_established,
      {C_SYN_CHAL: 1, C_CHAL: 1, "target.reset": 0})


def syn_old():
    c1.tx("S", seq=c1.snd_nxt - 5000, ack=0, opts=b"\x02\x04\x05\xb4")
    return challenge(c1, "SYN left of the window")


# RFC 5961 4.2 says a challenge ACK "irrespective of the sequence number";
# the stack checks the sequence number first (RFC 9293 3.10.7.4) and
# answers with the same ACK, counted as old data.
check("blind SYN in ESTABLISHED, left of the window: an ACK", syn_old,
      {(C_SYN_CHAL, C_DUP): 1, "target.reset": 0})
def rst_storm():
    """RFC 5961 10: challenge ACKs are rate-limited (1000/s in the stack)."""
    n = 1500
    frames = [c1.seg("R", seq=c1.snd_nxt + 1000 + i, opts=b"") for i in range(n)]
    t0 = time.monotonic()
    wire.send(frames)
    barrier()
    secs = time.monotonic() - t0
    acks = [s for s in c1.collect(1.0) if s.has("A") and not s.data and not s.has("R")]
    lim = dump()["stack"]["tcp_tx_rate_limited"] - storm_base
    print(f"   RST storm: {n} RSTs in {secs:.2f} s, {len(acks)} challenge ACKs, "
          f"{lim} not sent (rate limit)", flush=True)
    bad = []
    if len(acks) + lim != n:
        bad.append(f"challenge ACKs sent {len(acks)} + rate-limited {lim} != {n}")
    if len(acks) > 1000 * (secs + 1):
        bad.append(f"{len(acks)} challenge ACKs in {secs:.2f} s: not limited to 1000/s")
    return bad


storm_base = dump()["stack"]["tcp_tx_rate_limited"]
check("1500 blind RSTs in the window: challenge ACKs, rate-limited", rst_storm,
      {C_RST_CHAL: 1500, C_CHAL: 1500, "tcp_tx_rate_limited": (0, 1500), "target.reset": 0})

if not c1.echo(b"survived the blind attacks"):
    fails += 1
    print("FAIL: the connection does not echo after the blind RST/SYN/data", flush=True)


def rst_exact():
    c1.tx("R", seq=c1.snd_nxt, opts=b"")
    time.sleep(0.3)
    c1.tx("PA", data=b"after the reset")
    s = c1.expect(timeout=2)
    if s is None or not s.has("R"):
        return [f"data after the exact RST was not answered with a RST: {s}"]
    return []


check("RST with the exact sequence number: the connection is reset", rst_exact,
      {C_RST_OK: 1, "target.reset": 1}, allow=("tcp_listen_bad",))

# --- PAWS (RFC 7323 5) -----------------------------------------------------------------
c2 = established(ts=True)


def paws():
    old = c2.tsval - 1000
    c2.tx("PA", data=b"STALE TIMESTAMP", opts=c2.tsopt(tsval=old))
    return challenge(c2, "segment with an old timestamp") + no_data(c2)


check("PAWS: a segment with an old timestamp", paws, {C_PAWS: 1})
if not c2.echo(b"timestamps still fine"):
    fails += 1
    print("FAIL: the timestamped connection does not echo after PAWS", flush=True)

# --- SYN flood -----------------------------------------------------------------------------
NFLOOD = int(os.environ.get("TCP_HOSTILE_FLOOD", "3000"))
flood = []
for i in range(NFLOOD):
    src = f"198.19.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    flood.append(frame(src, UIP, tcp_bytes(src, UIP, rnd.randrange(1024, 65536), 7,
                                           rnd.randrange(1 << 32), 0, "S", 64240,
                                           b"\x02\x04\x05\xb4")))
kres = {}


def kernel_connect():
    try:
        t0 = time.monotonic()
        s = socket.create_connection((UIP, 7), timeout=20, source_address=(KIP, 0))
        s.settimeout(10)
        s.sendall(b"legitimate\n")
        kres["echo"] = s.recv(100)
        kres["secs"] = time.monotonic() - t0
        s.close()
    except OSError as e:
        kres["err"] = str(e)


def syn_flood():
    bad = []
    t = threading.Thread(target=kernel_connect)
    half = NFLOOD // 2
    wire.send(flood[:half])
    t.start()
    wire.send(flood[half:])
    t.join(30)
    if kres.get("echo") != b"legitimate\n":
        bad.append(f"the kernel's client during the flood: {kres}")
    # A handshake completed through a cookie: the backlog is full now.
    c = Conn(wire, 7)
    err = c.open()
    if err:
        bad.append(f"cookie handshake: {err}")
    elif not c.echo(b"through a cookie"):
        bad.append("the connection made through a SYN cookie does not echo")
    # An ACK with a forged cookie: reset, no connection.
    f = Conn(wire, 7)
    f.tx("A", seq=f.iss + 1, ack=rnd.randrange(1 << 32), opts=b"")
    s = f.expect(timeout=2)
    if s is None or not s.has("R"):
        bad.append(f"a forged cookie ACK was answered with {s}, not a RST")
    return bad


check(f"SYN flood: {NFLOOD} SYNs from random sources, a kernel client connects",
      syn_flood, {C_COOKIE_SENT: (NFLOOD // 2, NFLOOD + 2), C_COOKIE_OK: (1, 2),
                  C_COOKIE_BAD: 1},
      allow=("tcp_backlog_full", "tcp_dup_data"))  # the kernel client may retransmit

# --- a zero window that never opens --------------------------------------------------------
def zero_window():
    bad = []
    c = Conn(wire, 19, wnd=0)
    err = c.open()
    if err:
        return [err]
    # usnet has data to send and no window: it must probe, backing off,
    # and we answer every probe with the same zero window.
    probes = []
    end = time.monotonic() + 8
    while time.monotonic() < end:
        s = c.expect(timeout=max(0.0, end - time.monotonic()))
        if s is None:
            break
        if s.has("R"):
            bad.append(f"reset while the window was closed: {s}")
            break
        probes.append(s)  # the wire's thread answers: window 0
        if os.environ.get("TCP_HOSTILE_DEBUG"):
            print(f"   probe {s} at {s.t:.3f}", flush=True)
    if not 2 <= len(probes) <= 40:
        bad.append(f"{len(probes)} zero-window probes in 8 s (want 2..40)")
    if any(len(s.data) > 1 for s in probes):
        bad.append(f"more than one byte sent into a zero window: {probes}")
    if not barrier():
        bad.append("the kernel's connection is not served during the zero window")
    # The application gives up: SIGUSR2 aborts the source connections.
    if PID:
        os.kill(PID, signal.SIGUSR2)
    s = c.expect(lambda s: s.has("R"), timeout=5)
    if s is None and PID:
        bad.append("no RST after the application aborted the stuck connection")
    if os.environ.get("TCP_HOSTILE_DEBUG"):
        print("   " + str({k: v for k, v in dump()["stack"].items() if k.startswith("tcp") and v}))
    print(f"   zero window: {len(probes)} probes, intervals "
          f"{[round(b.t - a.t, 2) for a, b in zip(probes, probes[1:])]}", flush=True)
    return bad


check("a zero window that never opens, then an abort", zero_window,
      {C_PROBES: (2, 40), "target.reset": 0, "target.timeout": 0})


# --- a peer that vanishes mid-transfer -------------------------------------------------------
def vanish():
    c = Conn(wire, 19)
    err = c.open()
    if err:
        return [err]
    got = c.read(20000)
    c.mode = None
    if len(got) < 20000:
        return [f"only {len(got)} bytes from the source before vanishing"]
    # Silence: usnet retransmits, backs off, and gives up (--retries, --max-rto).
    t0 = time.monotonic()
    retx = 0
    while time.monotonic() - t0 < 60:
        s = c.expect(timeout=1)
        if s is not None and s.has("R"):
            break
        if s is not None:
            retx += 1
        if PID and dump()["target"]["timeout"] > base:
            break
    secs = time.monotonic() - t0
    print(f"   vanished peer: {retx} retransmissions seen, ended after {secs:.1f} s", flush=True)
    bad = []
    if retx == 0:
        bad.append("no retransmission to the vanished peer")
    if PID and dump()["target"]["timeout"] <= base:
        bad.append(f"the connection did not time out within {secs:.0f} s")
    return bad


base = dump()["target"]["timeout"]
check("a peer that vanishes mid-transfer: the connection times out", vanish,
      {"target.timeout": 1, C_RTO: (5, 6)})



def idle_vanish():
    c = Conn(wire, 9)
    err = c.open()
    if err:
        return [err]
    c.send(b"then silence")
    time.sleep(0.5)  # its ACK arrives (piggybacked on nothing: a bare ACK)
    c.mode = None
    # Nothing answers the keepalive probes (1 s idle, 3 probes 0.5 s apart).
    t0 = time.monotonic()
    probes = []
    while time.monotonic() - t0 < 30:
        s = c.expect(timeout=1)
        if s is not None and not s.data and not s.has("R") and \
                (s.seq + 1) & 0xFFFFFFFF == c.rcv_nxt:
            probes.append(s)
        if dump()["target"]["timeout"] > base:
            break
    secs = time.monotonic() - t0
    print(f"   idle vanished peer: {len(probes)} keepalive probes, ended after {secs:.1f} s",
          flush=True)
    bad = []
    if len(probes) != 3:
        bad.append(f"{len(probes)} keepalive probes (seq = SND.NXT - 1) on the wire, want 3")
    if dump()["target"]["timeout"] <= base:
        bad.append(f"the idle connection did not time out within {secs:.0f} s")
    return bad


base = dump()["target"]["timeout"]
check("an idle peer that vanishes: keepalive ends the connection", idle_vanish,
      {"target.timeout": 1, "tcp_keepalive_probes": 3, "tcp_keepalive_drop": 1})

wire.stop = True
ksock.close()
sys.exit(1 if fails else 0)
