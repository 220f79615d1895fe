#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet-capture on an afpacket: port at one end of a veth pair, usnet-pktgen
# at the other: the pcap file holds exactly the frames sent, which tshark
# and tcpdump read back: same count, same bytes, valid checksums, sequence
# numbers 0..N-1 in order; with a snap length the frames are cut, their
# original length kept.
# Usage: capture_veth.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: capture_veth.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"

tv_init capture_veth
NSG=cav_${TV_ID}_g
NSC=cav_${TV_ID}_c
G0=cav${TV_ID}g
C0=cav${TV_ID}c
N=2000
SIZE=200
tv_ns "$NSG"
tv_ns "$NSC"
tv_veth "$NSG" "$G0" "$NSC" "$C0"
tv_need_afpacket "$NSC" "$C0"
command -v tshark >/dev/null || skip "tshark is not installed"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"

# capture FILE [capture options]: N frames of SIZE bytes from pktgen, captured.
capture() {
	local file=$1 status pid rx0
	shift
	rx0=$(tv_counter "$NSC" "$C0" rx_packets)
	tv_bg "$TMP/cap.json" "$TMP/cap.err" "$NSC" "$T/usnet-capture" -p "afpacket:$C0$TV_RXOPT" -w "$file" \
		-n "$N" -t 60 --json "$@"
	pid=$TV_PID
	tv_wait_line "$TMP/cap.err" "capturing on" || return
	tv_x "$NSG" "$T/usnet-pktgen" -p "afpacket:$G0" -n "$N" -s "$SIZE" -r 20000 -f 3 -q \
		>/dev/null 2>"$TMP/pktgen.err"
	status=$?
	tv_sane pktgen $status "$TMP/pktgen.err"
	[ $status -eq 0 ] || fail "pktgen: exit status $status: $(cat "$TMP/pktgen.err")"
	tv_wait "$pid" 70
	status=$?
	tv_sane capture $status "$TMP/cap.err"
	[ $status -eq 0 ] || fail "capture: exit status $status: $(tail -3 "$TMP/cap.err")"
	[ $(($(tv_counter "$NSC" "$C0" rx_packets) - rx0)) -eq $N ] ||
		fail "kernel counter: $C0 rx +$(($(tv_counter "$NSC" "$C0" rx_packets) - rx0)), expected +$N"
}

# --- full frames, microsecond timestamps -------------------------------------
capture "$TMP/full.pcap"
tv_json "capture: $N frames, $((N * SIZE)) bytes, all stored" "$TMP/cap.json" \
	"j['packets'] == $N and j['bytes'] == $N * $SIZE and j['captured_bytes'] == $N * $SIZE and j['drops'] == 0 and j['stop'] == 'count'"
# One line per frame: length, checksum verdicts (2 = good, with checking on),
# UDP source port, first 8 payload bytes (the sequence number).
timeout 120 tshark -r "$TMP/full.pcap" -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE \
	-T fields -e frame.len -e frame.cap_len -e ip.checksum.status -e udp.checksum.status \
	-e udp.srcport -e udp.payload >"$TMP/fields" 2>"$TMP/tshark.err" ||
	fail "tshark -r failed: $(head -3 "$TMP/tshark.err")"
python3 - "$TMP/fields" "$N" "$SIZE" >"$TMP/verdict" 2>&1 <<'EOF'
import sys
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [l.rstrip("\n").split("\t") for l in open(path)]
problems = []
if len(rows) != n:
    problems.append(f"{len(rows)} frames, expected {n}")
for i, r in enumerate(rows):
    if len(r) < 6:
        problems.append(f"frame {i}: fields {r}")
        continue
    flen, caplen, ipok, udpok, sport, payload = r[:6]
    seq = int(payload.replace(":", "")[:16], 16) if payload else -1
    # Wireshark's checksum status: 1 = good (PROTO_CHECKSUM_E_GOOD).
    if (int(flen), int(caplen), ipok, udpok, int(sport), seq) != (size, size, "1", "1", 1024 + i % 3, i):
        problems.append(f"frame {i}: len {flen}/{caplen} ip_csum {ipok} udp_csum {udpok} sport {sport} seq {seq}")
print("; ".join(problems[:5]) if problems else "ok")
EOF
if [ "$(cat "$TMP/verdict")" = ok ]; then
	ok "tshark reads $N frames of $SIZE bytes: checksums good, flows round-robin, seq 0..$((N - 1)) in order"
else
	fail "tshark: $(cat "$TMP/verdict")"
fi
n=$(timeout 120 tcpdump -r "$TMP/full.pcap" 2>/dev/null | wc -l)
[ "$n" -eq $N ] && ok "tcpdump reads $n frames" || fail "tcpdump reads $n frames, expected $N"
bytes=$(timeout 120 tcpdump -r "$TMP/full.pcap" -n -e 2>/dev/null | grep -c "length $SIZE:")
[ "$bytes" -eq $N ] && ok "tcpdump: all $N frames are $SIZE bytes" ||
	fail "tcpdump: $bytes of $N frames are $SIZE bytes"

# --- snap length 64, nanosecond timestamps ---------------------------------------
capture "$TMP/snap.pcap" -s 64 --nano
tv_json "capture -s 64: $N frames, 64 bytes each stored" "$TMP/cap.json" \
	"j['packets'] == $N and j['bytes'] == $N * $SIZE and j['captured_bytes'] == $N * 64 and j['precision'] == 'ns'"
lens=$(timeout 120 tshark -r "$TMP/snap.pcap" -T fields -e frame.len -e frame.cap_len 2>/dev/null |
	sort | uniq -c | awk '{print $1, $2, $3}')
[ "$lens" = "$N $SIZE 64" ] && ok "tshark: $N frames, $SIZE bytes long, 64 captured" ||
	fail "tshark -s 64 lengths: $lens"
[ "$(od -An -tx1 -N4 "$TMP/snap.pcap" | tr -d ' ')" = 4d3cb2a1 ] &&
	ok "--nano writes the nanosecond pcap magic" || fail "--nano: wrong pcap magic"

echo "capture_veth: $fails failed"
[ $fails -eq 0 ]
