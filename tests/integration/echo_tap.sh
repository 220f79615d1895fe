#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet-echo against the kernel's stack, through a TAP in a namespace of our
# own: the kernel (198.18.12.1/24 on the TAP) resolves usnet-echo's
# 198.18.12.2 with ARP and pings it, 20 of 20 replies; its neighbour entry
# holds the MAC usnet-echo announced; UDP echo (port 7) returns the data;
# frames with bad lengths or checksums injected on the TAP are counted as
# malformed and not answered; the JSON summary adds up; no sanitizer report.
# Usage: echo_tap.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: echo_tap.sh BUILD_DIR}
ECHO=$BUILD/tools/usnet-echo
NS=echo_tap_$$
OURS=198.18.12.2
KERN=198.18.12.1
pid=""
# shellcheck source=tools_veth_lib.sh
. "$(dirname "$0")/tools_veth_lib.sh"
T=echot$$ # after the library, which names the tools' directory T
nsx() { tv_x "$NS" "$@"; }

command -v ping >/dev/null || skip "ping (iputils-ping) is not installed"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$ECHO" ] || { echo "FAIL: $ECHO is not built"; exit 1; }
tv_setup echo_tap
tv_ns "$NS"
# A persistent TAP with the kernel's address; usnet-echo attaches and brings it up.
ip -n "$NS" tuntap add dev "$T" mode tap || skip "ip tuntap add failed"
ip -n "$NS" addr add "$KERN/24" dev "$T"

# --foreground: stopped with SIGINT below (see tv_bg in tools_veth_lib.sh).
ip netns exec "$NS" timeout --foreground -k 5 60 "$ECHO" -p "tap:$T" --ip "$OURS" -u -t 50 --json \
	>"$TMP/out" 2>"$TMP/err" &
pid=$!
TV_PIDS+=("$pid") # stopped by tv_cleanup if the test ends early
for _ in $(seq 100); do
	grep -q "answering for" "$TMP/err" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q "answering for $OURS as " "$TMP/err"; then
	echo "FAIL: usnet-echo did not start: $(head -5 "$TMP/err")"
	exit 1
fi
mac=$(sed -n "s/.*answering for $OURS as \([0-9a-f:]*\) on 'tap:$T'.*/\1/p" "$TMP/err")
ok "usnet-echo answers for $OURS as $mac on tap:$T"

# --- ping: ARP, then 20 echo requests, every one answered ---------------------
nsx ping -c 20 -i 0.05 -W 1 "$OURS" >"$TMP/ping" 2>&1
summary=$(grep "packets transmitted" "$TMP/ping")
if grep -q "20 packets transmitted, 20 received, 0% packet loss" <<<"$summary" &&
	! grep -q "duplicates\|errors" <<<"$summary"; then
	ok "ping: $summary"
else
	fail "ping: $(tail -n 3 "$TMP/ping" | tr '\n' ' ')"
fi
lladdr=$(ip -n "$NS" neigh show "$OURS" dev "$T" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
if [ "$lladdr" = "$mac" ]; then
	ok "kernel's neighbour entry: $OURS at $lladdr (from usnet-echo's ARP reply)"
else
	fail "kernel's neighbour entry for $OURS: '$lladdr', expected '$mac'"
fi

# --- UDP echo and malformed frames (python3) ------------------------------------
n_udp=0 n_bad=0
if command -v python3 >/dev/null; then
	n_udp=5
	if out=$(nsx python3 - "$OURS" "$n_udp" <<'EOF' 2>&1
import socket, sys
ip, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(n):
    data = bytes((i * 31 + k) & 0xff for k in range(1 + 97 * i))  # 1..389 bytes, odd and even
    s.sendto(data, (ip, 7))
    back, peer = s.recvfrom(2048)
    if back != data or peer != (ip, 7):
        sys.exit(f"datagram {i}: {len(back)} bytes from {peer}, sent {len(data)}")
print(f"{n} datagrams echoed")
EOF
	); then
		ok "UDP echo: $out"
	else
		fail "UDP echo: $out"
	fi
	# Frames to usnet-echo's MAC and address that must not be answered:
	# 3 malformed (truncated ARP, bad IPv4 header checksum, bad ICMP
	# checksum) and 1 ignored (an echo request for another address).
	n_bad=3
	if out=$(nsx python3 - "$T" "$mac" "$OURS" "$KERN" <<'EOF' 2>&1
import socket, struct, sys
dev, mac, ours, kern = sys.argv[1:5]
dst = bytes.fromhex(mac.replace(":", ""))
src = bytes.fromhex("020000000099")
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ping(to, bad_ip=False, bad_icmp=False):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + bytes(16)
    icmp = icmp[:2] + struct.pack("!H", csum(icmp) ^ (1 if bad_icmp else 0)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                     socket.inet_aton(kern), socket.inet_aton(to))
    ip = ip[:10] + struct.pack("!H", csum(ip) ^ (1 if bad_ip else 0)) + ip[12:]
    return dst + src + b"\x08\x00" + ip + icmp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
s.send(b"\xff" * 6 + src + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1))  # ARP, 20 bytes
s.send(ping(ours, bad_ip=True))
s.send(ping(ours, bad_icmp=True))
s.send(ping("198.18.12.77"))
print("sent 4 frames")
EOF
	); then
		ok "injected: $out"
	else
		fail "injecting frames: $out"
	fi
	sleep 0.5
else
	echo "note: no python3; not testing UDP echo and malformed frames"
fi

# --- stop, and the summary ----------------------------------------------------
kill -INT "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "usnet-echo ignored SIGINT"
wait "$pid"
status=$?
pid=""
[ $status -eq 0 ] || fail "usnet-echo exit status $status: $(tail -n 3 "$TMP/err")"
if grep -q -e 'Sanitizer' -e 'runtime error:' "$TMP/err"; then
	fail "sanitizer report:"
	sed 's/^/    /' "$TMP/err" | head -40
fi
echo "summary: $(cat "$TMP/out")"
if command -v python3 >/dev/null; then
	if out=$(python3 - "$TMP/out" "$n_udp" "$n_bad" <<'EOF' 2>&1
import json, sys
j = json.load(open(sys.argv[1]))
n_udp, n_bad = int(sys.argv[2]), int(sys.argv[3])
want = {"stop": "signal", "icmp_requests": 20, "icmp_replies": 20, "udp_requests": n_udp,
        "udp_replies": n_udp, "malformed": n_bad, "tx_drops": 0}
bad = [f"{k}={j.get(k)} (want {v})" for k, v in want.items() if j.get(k) != v]
if not (j["arp_requests"] >= 1 and j["arp_replies"] == j["arp_requests"]):
    bad.append(f"arp {j['arp_requests']}/{j['arp_replies']}")
if n_bad and j["ignored"] < 1:
    bad.append("ignored 0, expected the echo request for another address")
total = sum(j[k] for k in ("arp_requests", "icmp_requests", "udp_requests", "ignored", "malformed"))
if total != j["frames"]:
    bad.append(f"counters add up to {total}, frames {j['frames']}")
if bad:
    sys.exit("; ".join(bad))
print(f"arp {j['arp_requests']}/{j['arp_replies']}, icmp 20/20, udp {n_udp}/{n_udp}, "
      f"malformed {j['malformed']}, ignored {j['ignored']}, frames {j['frames']}")
EOF
	); then
		ok "JSON summary: $out"
	else
		fail "JSON summary: $out"
	fi
else
	if grep -q '"icmp_replies":20,' "$TMP/out"; then
		ok "JSON: icmp_replies 20"
	else
		fail "JSON summary: $(cat "$TMP/out")"
	fi
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
