#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet-fwd between two veth pairs, in a namespace of its own between a
# generator and a sink namespace:
#
#   G: g0 ==veth== f0 :F: f1 ==veth== s0 :S
#
# At a moderate rate nothing is lost: one direction alone, then both at once
# (pktgen and sink on each end), with fwd's counters, the sinks' sequence
# checks and the kernel's interface counters all agreeing.
# Usage: fwd_veth.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: fwd_veth.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"

tv_init fwd_veth
NSG=fwv_${TV_ID}_g
NSF=fwv_${TV_ID}_f
NSS=fwv_${TV_ID}_s
G0=fwv${TV_ID}g0
F0=fwv${TV_ID}f0
F1=fwv${TV_ID}f1
S0=fwv${TV_ID}s0
N=20000
RATE=20000
for ns in "$NSG" "$NSF" "$NSS"; do tv_ns "$ns"; done
tv_veth "$NSG" "$G0" "$NSF" "$F0"
tv_veth "$NSF" "$F1" "$NSS" "$S0"
tv_need_afpacket "$NSF" "$F0"

# start_fwd: usnet-fwd in F, ready when it says so.
start_fwd() {
	tv_bg "$TMP/fwd.json" "$TMP/fwd.err" "$NSF" "$T/usnet-fwd" -p "afpacket:$F0$TV_RXOPT" \
		-p "afpacket:$F1$TV_RXOPT" -t 100 --json
	FWD=$TV_PID
	tv_wait_line "$TMP/fwd.err" "forwarding between"
}

# stop_fwd: SIGINT, then its summary must be there and its exit status 0.
stop_fwd() {
	local status
	kill -INT "$FWD"
	tv_wait "$FWD" 10
	status=$?
	tv_sane "fwd" $status "$TMP/fwd.err"
	[ $status -eq 0 ] || fail "fwd: exit status $status: $(tail -3 "$TMP/fwd.err")"
}

# start_sink NS IF TAG
start_sink() {
	tv_bg "$TMP/sink-$3.json" "$TMP/sink-$3.err" "$1" "$T/usnet-sink" -p "afpacket:$2$TV_RXOPT" \
		-n "$N" --idle-timeout 3000 -t 60 --expect "$N" --json
	eval "SINK_$3=$TV_PID"
	tv_wait_line "$TMP/sink-$3.err" "receiving on"
}

# check_sink TAG WHAT
check_sink() {
	local pid status
	eval "pid=\$SINK_$1"
	tv_wait "$pid" 70
	status=$?
	tv_sane "sink $1" $status "$TMP/sink-$1.err"
	[ $status -eq 0 ] || fail "sink $1: exit status $status: $(tail -2 "$TMP/sink-$1.err")"
	tv_json "$2: sink got all $N frames, in order, intact" "$TMP/sink-$1.json" \
		"j['unique'] == $N and j['received'] == $N and j['lost'] == 0 and j['duplicated'] == 0 and j['reordered'] == 0 and j['bad_csum'] == 0 and j['other'] == 0"
}

# pktgen NS IF TAG: N frames at RATE, in the background.
start_pktgen() {
	tv_bg "$TMP/pktgen-$3.json" "$TMP/pktgen-$3.err" "$1" "$T/usnet-pktgen" -p "afpacket:$2" \
		-n "$N" -r "$RATE" -s 100 -f 8 --json -q
	eval "PKTGEN_$3=$TV_PID"
}

check_pktgen() {
	local pid status
	eval "pid=\$PKTGEN_$1"
	tv_wait "$pid" 70
	status=$?
	tv_sane "pktgen $1" $status "$TMP/pktgen-$1.err"
	tv_json "pktgen $1 sent $N" "$TMP/pktgen-$1.json" "j['sent'] == $N and j['tx_errors'] == 0"
}

counters() { # -> "g0tx f0rx f1tx s0rx s0tx f1rx f0tx g0rx"
	echo "$(tv_counter "$NSG" "$G0" tx_packets) $(tv_counter "$NSF" "$F0" rx_packets)" \
		"$(tv_counter "$NSF" "$F1" tx_packets) $(tv_counter "$NSS" "$S0" rx_packets)" \
		"$(tv_counter "$NSS" "$S0" tx_packets) $(tv_counter "$NSF" "$F1" rx_packets)" \
		"$(tv_counter "$NSF" "$F0" tx_packets) $(tv_counter "$NSG" "$G0" rx_packets)"
}

# check_counters BEFORE AFTER EXPECT...: per-counter deltas.
check_counters() {
	local what=$1 before=($2) after=($3) names=(g0.tx f0.rx f1.tx s0.rx s0.tx f1.rx f0.tx g0.rx)
	shift 3
	local want=("$@") bad="" got=""
	for i in 0 1 2 3 4 5 6 7; do
		local d=$((after[i] - before[i]))
		got+="${names[i]} +$d "
		[ $d -eq "${want[i]}" ] || bad+="${names[i]} +$d (expected +${want[i]}) "
	done
	[ -z "$bad" ] && ok "$what: kernel counters $got" || fail "$what: kernel counters: $bad"
}

# --- one direction: G -> F -> S ---------------------------------------------
start_fwd
start_sink "$NSS" "$S0" s
c0=$(counters)
start_pktgen "$NSG" "$G0" g
check_pktgen g
check_sink s "G->S"
stop_fwd
c1=$(counters)
tv_json "G->S: fwd forwarded all $N from f0 to f1, nothing back, no drops" "$TMP/fwd.json" \
	"j['directions'][0]['rx'] == $N and j['directions'][0]['tx'] == $N and j['drops'] == 0 and j['directions'][1]['rx'] == 0 and j['directions'][0]['port_drops'] == 0 and j['stop'] == 'signal'"
check_counters "G->S" "$c0" "$c1" $N $N $N $N 0 0 0 0

# --- both directions at once ---------------------------------------------------
start_fwd
start_sink "$NSS" "$S0" s
start_sink "$NSG" "$G0" g
c0=$(counters)
start_pktgen "$NSG" "$G0" g
start_pktgen "$NSS" "$S0" s
check_pktgen g
check_pktgen s
check_sink s "G->S with S->G"
check_sink g "S->G with G->S"
stop_fwd
c1=$(counters)
tv_json "both ways: fwd forwarded $N each way, no drops" "$TMP/fwd.json" \
	"all(d['rx'] == $N and d['tx'] == $N and d['drops'] == 0 and d['port_drops'] == 0 for d in j['directions'])"
check_counters "both ways" "$c0" "$c1" $N $N $N $N $N $N $N $N

echo "fwd_veth: $fails failed"
[ $fails -eq 0 ]
