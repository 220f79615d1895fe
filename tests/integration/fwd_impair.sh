#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet-fwd's impairment options (a user-space netem) shown to the kernel's
# own stack, with usnet-fwd between two kernel hosts:
#
#   A: a0 198.18.71.1 ==veth== f0 :F: usnet-fwd : f1 ==veth== b0 198.18.71.2 :B
#
# Each case starts fwd with one impairment and checks what the kernel saw
# against fwd's counters (exactly where nothing else can lose a frame) and
# against the asked rate (within 5 binomial standard deviations):
#   --loss 10 on A->B: ping's replies = requests - fwd's losses, ~10 %; a
#       second run with the same seed loses the very same icmp_seq numbers;
#   --delay 20,5 both ways: ping RTTs never below 30 ms, spread over the
#       jitter's range;
#   --dup 5 on A->B: ping's DUP! count = fwd's copies, ~5 %;
#   --reorder 5,3 on A->B: a UDP sequence checker on kernel sockets counts
#       out-of-order datagrams = fwd's reordered, ~5 %, none lost;
#   --loss 1 both ways: kernel TCP moves 16 MiB with equal SHA-256 on both
#       ends, and the sender's TcpRetransSegs grows.
# Neighbours are static (no ARP crosses fwd), IPv6 is off: the only frames
# are the test's, so a seed picks the same frames in every run.
# Usage: fwd_impair.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: fwd_impair.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
. "$(dirname "$0")/stack_lib.sh"

tv_init fwd_impair
command -v ping >/dev/null || skip "ping (iputils-ping) is not installed"
NSA=fim_${TV_ID}_a
NSF=fim_${TV_ID}_f
NSB=fim_${TV_ID}_b
A0=fim${TV_ID}a0
F0=fim${TV_ID}f0
F1=fim${TV_ID}f1
B0=fim${TV_ID}b0
IPA=198.18.71.1
IPB=198.18.71.2
for ns in "$NSA" "$NSF" "$NSB"; do tv_ns "$ns"; done
tv_veth "$NSA" "$A0" "$NSF" "$F0"
tv_veth "$NSF" "$F1" "$NSB" "$B0"
tv_need_afpacket "$NSF" "$F0"
ip -n "$NSA" addr add "$IPA/24" dev "$A0"
ip -n "$NSB" addr add "$IPB/24" dev "$B0"
ip -n "$NSA" neigh add "$IPB" lladdr "$(st_mac "$NSB" "$B0")" dev "$A0" nud permanent
ip -n "$NSB" neigh add "$IPA" lladdr "$(st_mac "$NSA" "$A0")" dev "$B0" nud permanent
# fwd copies frames between wires: the kernel must send complete frames
# (checksums computed, TCP segmented: no TSO without checksum offload).
st_no_tx_csum "$NSA" "$A0"
st_no_tx_csum "$NSB" "$B0"
# Big RX rings (16 MiB, blocks retired after 1 ms): nothing lost before fwd
# even when a sanitizer build is descheduled, without adding latency.
RING=",blocks=256,block_size=65536"

# start_fwd TAG ARGS...: usnet-fwd in F with impairment ARGS.
start_fwd() {
	local tag=$1
	shift
	tv_bg "$TMP/fwd-$tag.json" "$TMP/fwd-$tag.err" "$NSF" "$T/usnet-fwd" -p "afpacket:$F0$RING" \
		-p "afpacket:$F1$RING" -t 100 --json "$@"
	FWD=$TV_PID
	tv_wait_line "$TMP/fwd-$tag.err" "forwarding between"
}

# stop_fwd TAG: SIGINT; exit 0, a summary whose counters add up, no port drops.
stop_fwd() {
	local status
	kill -INT "$FWD"
	tv_wait "$FWD" 20
	status=$?
	tv_sane "fwd $1" $status "$TMP/fwd-$1.err"
	[ $status -eq 0 ] || fail "fwd $1: exit status $status: $(tail -3 "$TMP/fwd-$1.err")"
	tv_json "$1: fwd's counters add up, nothing lost on the way in or out" "$TMP/fwd-$1.json" \
		"all(d['rx'] + d['impair']['duplicated'] == d['tx'] + d['drops'] + d['impair']['lost'] + d['impair']['queue_full'] + d['impair']['flushed'] and d['drops'] == 0 and d['port_drops'] == 0 and d['impair']['queue_full'] == 0 for d in j['directions'])"
}

# fj TAG EXPR: a value from fwd's JSON.
fj() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$TMP/fwd-$1.json" "$2"
}

# within5sd WHAT OBSERVED N P: OBSERVED within 5 binomial sd of N*P.
within5sd() {
	if python3 -c 'import math,sys; o,n,p=int(sys.argv[1]),int(sys.argv[2]),float(sys.argv[3]); sys.exit(abs(o-n*p) > 5*math.sqrt(n*p*(1-p)))' "$2" "$3" "$4"; then
		ok "$1: $2 of $3, asked $4 (within 5 sd)"
	else
		fail "$1: $2 of $3 is not within 5 sd of $4"
	fi
}

# ping_run TAG COUNT INTERVAL: ping B from A; output in $TMP/ping-TAG.
ping_run() {
	tv_x "$NSA" ping -n -c "$2" -i "$3" -W 2 "$IPB" >"$TMP/ping-$1" 2>&1
}
ping_sent() { sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$TMP/ping-$1"; }
ping_got() { sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/ping-$1"; }

# --- loss: 10 % of A->B, twice with the same seed ------------------------------
N=1000
for run in 1 2; do
	start_fwd "loss$run" --loss 10 --dir 0 --seed 5
	ping_run "loss$run" $N 0.002
	stop_fwd "loss$run"
done
lost=$(fj loss1 "j['directions'][0]['impair']['lost']")
sent=$(ping_sent loss1)
got=$(ping_got loss1)
tv_json "loss: fwd saw all $N requests, impaired A->B only" "$TMP/fwd-loss1.json" \
	"j['directions'][0]['rx'] == $N and j['directions'][0]['impaired'] and not j['directions'][1]['impaired'] and j['directions'][1]['impair']['lost'] == 0"
if [ "$sent" = $N ] && [ "$got" = $((N - lost)) ]; then
	ok "loss: ping got $got of $sent replies = $N - $lost lost by fwd"
else
	fail "loss: ping sent '$sent', got '$got'; fwd lost $lost: $(tail -3 "$TMP/ping-loss1")"
fi
within5sd "loss: fwd lost" "$lost" $N 0.10
seqs() { sed -n 's/.*icmp_seq=\([0-9]*\) .*/\1/p' "$TMP/ping-$1" | sort -n | tr '\n' ' '; }
s1=$(seqs loss1)
s2=$(seqs loss2)
if [ -n "$s1" ] && [ "$s1" = "$s2" ]; then
	ok "loss: the same seed lost the same $lost icmp_seq numbers in a second run"
else
	fail "loss: a second run with the same seed answered other icmp_seq numbers"
fi

# --- delay: 20 ms +- 5 ms each way ---------------------------------------------
start_fwd delay --delay 20,5 --seed 2
ping_run delay 100 0.03
stop_fwd delay
python3 - "$TMP/ping-delay" <<'EOF' && ok "delay: $(tail -1 "$TMP/ping-delay")" || fail "delay: RTTs out of range: $(tail -2 "$TMP/ping-delay")"
import re, sys
rtt = [float(x) for x in re.findall(r"time=([0-9.]+) ms", open(sys.argv[1]).read())]
# Two one-way delays in [15, 25] ms each: never below 30 ms; the jitter
# spreads them; a slow machine may add
# time but cannot take any away (so do afpacket's RX blocks, handed over on
# a timer of retire_ms=1 at the kernel's tick: a few ms per crossing).
print(f"{len(rtt)} RTTs, min {min(rtt) if rtt else 0} max {max(rtt) if rtt else 0}")
# Jitter: the sum of two uniform +-5 ms spans 20 ms; 100 samples spread
# over more than 8 ms (extra time can widen the spread, never narrow it).
sys.exit(not (len(rtt) == 100 and min(rtt) >= 30.0 and max(rtt) - min(rtt) > 8
              and sum(r <= 100 for r in rtt) >= 90))
EOF
tv_json "delay: fwd delayed every frame both ways" "$TMP/fwd-delay.json" \
	"all(d['impair']['delayed'] == d['rx'] == 100 for d in j['directions'])"

# --- duplication: 5 % of A->B ------------------------------------------------------
start_fwd dup --dup 5 --dir 0 --seed 3
ping_run dup $N 0.002
stop_fwd dup
dups=$(sed -n 's/.* +\([0-9]*\) duplicates.*/\1/p' "$TMP/ping-dup")
copies=$(fj dup "j['directions'][0]['impair']['duplicated']")
if [ -n "$dups" ] && [ "$dups" = "$copies" ] && [ "$(ping_got dup)" = $N ]; then
	ok "dup: ping counted $dups DUP! replies = fwd's $copies copies, all $N answered"
else
	fail "dup: ping: '$dups' duplicates, '$(ping_got dup)' received; fwd made $copies copies"
fi
within5sd "dup: fwd duplicated" "$copies" $N 0.05

# --- reordering: 5 % of A->B behind 3 frames, UDP on kernel sockets --------------
U=20000
start_fwd reorder --reorder 5,3 --dir 0 --seed 4
# (Scripts in files: a background command's standard input is /dev/null.)
cat >"$TMP/udp-rx.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
s.bind((sys.argv[1], 9000))
s.settimeout(5)
n, want, top, late, seen = 0, int(sys.argv[2]), -1, 0, set()
print("ready", file=sys.stderr, flush=True)
try:
    while n < want:
        seq = struct.unpack("!Q", s.recv(64)[:8])[0]
        n += 1
        seen.add(seq)
        if seq < top:
            late += 1
        top = max(top, seq)
except socket.timeout:
    pass
print(n, len(seen), late)
EOF
tv_bg "$TMP/udp-rx" "$TMP/udp-rx.err" "$NSB" python3 "$TMP/udp-rx.py" "$IPB" $U
RX=$TV_PID
tv_wait_line "$TMP/udp-rx.err" ready
tv_x "$NSA" python3 - "$IPB" $U <<'EOF' || fail "reorder: the UDP sender failed"
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(struct.pack("!Q", i) + bytes(24), (sys.argv[1], 9000))
    if i % 50 == 49:
        time.sleep(0.001)  # ~50k/s: no queue on the way overflows
EOF
tv_wait "$RX" 30
stop_fwd reorder
read -r urx uuniq ulate <"$TMP/udp-rx"
reord=$(fj reorder "j['directions'][0]['impair']['reordered']")
if [ "${urx:-}" = $U ] && [ "$uuniq" = $U ] && [ "$ulate" = "$reord" ]; then
	ok "reorder: the receiver got all $U datagrams, $ulate out of order = fwd's reordered"
else
	fail "reorder: received '${urx:-}' ('${uuniq:-}' distinct), '${ulate:-}' out of order; fwd reordered $reord"
fi
within5sd "reorder: fwd reordered" "$reord" $U 0.05

# --- kernel TCP through 1 % loss both ways ----------------------------------------
retrans() { tv_x "$NSA" awk '/^Tcp:/ { if (h) print $13; h = 1 }' /proc/net/snmp; }
start_fwd tcp --loss 1 --seed 9
r0=$(retrans)
cat >"$TMP/tcp-rx.py" <<'EOF'
import hashlib, socket, sys
l = socket.socket()
l.bind((sys.argv[1], 9001))
l.listen(1)
l.settimeout(30)
print("ready", file=sys.stderr, flush=True)
c, _ = l.accept()
c.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
EOF
tv_bg "$TMP/tcp-rx" "$TMP/tcp-rx.err" "$NSB" python3 "$TMP/tcp-rx.py" "$IPB"
RX=$TV_PID
tv_wait_line "$TMP/tcp-rx.err" ready
tv_x "$NSA" python3 - "$IPB" >"$TMP/tcp-tx" <<'EOF' || fail "tcp: the sender failed"
import hashlib, random, socket, sys
data = random.Random(10).randbytes(16 << 20)
s = socket.create_connection((sys.argv[1], 9001), timeout=30)
s.sendall(data)
s.close()
print(len(data), hashlib.sha256(data).hexdigest())
EOF
tv_wait "$RX" 40
r1=$(retrans)
stop_fwd tcp
if [ -s "$TMP/tcp-tx" ] && cmp -s "$TMP/tcp-tx" "$TMP/tcp-rx"; then
	ok "tcp: 16 MiB through 1 % loss, SHA-256 equal: $(cut -c1-30 "$TMP/tcp-rx")..."
else
	fail "tcp: sent '$(cat "$TMP/tcp-tx")', received '$(cat "$TMP/tcp-rx")'"
fi
tcplost=$(fj tcp "j['directions'][0]['impair']['lost'] + j['directions'][1]['impair']['lost']")
if [ -n "$r0" ] && [ -n "$r1" ] && [ $((r1 - r0)) -gt 0 ] && [ "$tcplost" -gt 0 ]; then
	ok "tcp: the sender retransmitted $((r1 - r0)) segments (TcpRetransSegs); fwd lost $tcplost frames"
else
	fail "tcp: TcpRetransSegs $r0 -> $r1, fwd lost $tcplost"
fi

echo "fwd_impair: $fails failed"
[ $fails -eq 0 ]
