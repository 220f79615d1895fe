#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet-pktgen and usnet-sink on afpacket: ports at the two ends of a veth
# pair between two namespaces: pktgen hands exactly N frames to the port,
# sink receives exactly N with intact sequence numbers and checksums (its
# --expect), and the kernel's interface counters agree on both ends.
# Usage: pktgen_sink_veth.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: pktgen_sink_veth.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"

tv_init pktgen_sink_veth
NSA=psv_${TV_ID}_a
NSB=psv_${TV_ID}_b
A=psv${TV_ID}a
B=psv${TV_ID}b
tv_ns "$NSA"
tv_ns "$NSB"
tv_veth "$NSA" "$A" "$NSB" "$B"
tv_need_afpacket "$NSB" "$B"

# run N SIZE RATE FLOWS: one pktgen → sink transfer, all checks.
run() {
	local n=$1 size=$2 rate=$3 flows=$4 what="$1 x $2 B at $3 pps, $4 flows"
	local tx0 rx0 rxb0 status pid
	tx0=$(tv_counter "$NSA" "$A" tx_packets)
	rx0=$(tv_counter "$NSB" "$B" rx_packets)
	rxb0=$(tv_counter "$NSB" "$B" rx_bytes)
	# The sink stops after N test frames, or 3 s after the last one if some
	# are missing; --expect makes that exit status 1.
	tv_bg "$TMP/sink.json" "$TMP/sink.err" "$NSB" "$T/usnet-sink" -p "afpacket:$B$TV_RXOPT" -n "$n" \
		--idle-timeout 3000 -t 60 --expect "$n" --json
	pid=$TV_PID
	tv_wait_line "$TMP/sink.err" "receiving on" || return
	tv_x "$NSA" "$T/usnet-pktgen" -p "afpacket:$A" -n "$n" -s "$size" -r "$rate" -f "$flows" \
		--json -q >"$TMP/pktgen.json" 2>"$TMP/pktgen.err"
	status=$?
	tv_sane "pktgen ($what)" $status "$TMP/pktgen.err"
	[ $status -eq 0 ] || fail "pktgen ($what): exit status $status: $(cat "$TMP/pktgen.err")"
	tv_json "pktgen ($what): sent exactly $n, no tx errors" "$TMP/pktgen.json" \
		"j['sent'] == $n and j['bytes'] == $n * $size and j['tx_errors'] == 0 and j['stop'] == 'count'"
	tv_wait "$pid" 70
	status=$?
	tv_sane "sink ($what)" $status "$TMP/sink.err"
	[ $status -eq 0 ] || fail "sink ($what): exit status $status: $(tail -3 "$TMP/sink.err")"
	tv_json "sink ($what): $n unique frames in order, none lost/duplicated/bad" "$TMP/sink.json" \
		"j['received'] == $n and j['unique'] == $n and j['lost'] == 0 and j['duplicated'] == 0 and j['reordered'] == 0 and j['bad_csum'] == 0 and j['malformed'] == 0 and j['max_seq'] == $n - 1 and j['expect_ok'] and j['stop'] == 'count'"
	tv_json "sink ($what): nothing but test frames on the wire" "$TMP/sink.json" \
		"j['other'] == 0 and j['frames'] == $n and j['bytes'] == $n * $size"
	local dtx=$(($(tv_counter "$NSA" "$A" tx_packets) - tx0))
	local drx=$(($(tv_counter "$NSB" "$B" rx_packets) - rx0))
	local drxb=$(($(tv_counter "$NSB" "$B" rx_bytes) - rxb0))
	if [ $dtx -eq "$n" ] && [ $drx -eq "$n" ] && [ $drxb -eq $((n * size)) ]; then
		ok "kernel counters ($what): $A tx +$dtx, $B rx +$drx frames +$drxb bytes"
	else
		fail "kernel counters ($what): $A tx +$dtx, $B rx +$drx frames +$drxb bytes; expected +$n frames, +$((n * size)) bytes"
	fi
}

run 20000 60 50000 1
run 20000 128 50000 16
run 5000 1514 20000 3

echo "pktgen_sink_veth: $fails failed"
[ $fails -eq 0 ]
