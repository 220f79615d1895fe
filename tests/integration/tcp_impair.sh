#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet's TCP against the Linux kernel's through a bad network: usnet-fwd
# with impairment options (a user-space netem: this kernel has no
# sch_netem) between the two, in namespaces of the test's own:
#
#   K: kv 198.18.72.1 (tcp_kpeer) ==veth== f0 :F: usnet-fwd : f1 ==veth== uv :U
#      (usnet-tcpperf on afpacket:uv, 198.18.72.2)
#
# The issue's five profiles, each applied to both directions of fwd (data
# and ACKs alike), seeded so that a run can be repeated frame for frame:
#   loss1       --loss 1
#   reorder5    --reorder 5       (held behind 3 later frames)
#   dup05       --dup 0.5
#   delay20j5   --delay 20,5      (RTT 30..50 ms)
#   loss1d20    --loss 1 --delay 20
# and for each, usnet -> kernel and kernel -> usnet: both ends exit 0, the
# SHA-256 of the bytes sent equals that of the bytes received, the kernel
# checked every byte against the pattern (--verify), and fwd's counters show
# the impairment happened. The log records each run's throughput, usnet's
# and the kernel's retransmissions, and fwd's counters ("log:" lines).
# Speed is not asserted; bench/tcp_impair.sh runs 256 MiB per profile.
#
# Sizes: IMPAIR_BYTES (default 16M, 4M in a sanitizer build) per transfer,
# a quarter of it with delay (the RTT is 40 ms) and an eighth with loss
# and delay (1 % loss at 40 ms allows a few Mbit/s, as with Linux's TCP).
# IMPAIR_PROFILES (default: all five) and IMPAIR_DIRS ("to from") select.
# bench/tcp_impair.sh sets IMPAIR_FULL=1 (every profile moves IMPAIR_BYTES)
# and IMPAIR_KREF=1: after each usnet run, the same transfer between two
# tcp_kpeer (the kernel at both ends, U's kernel given usnet's address for
# the while) through fwd with the same settings and seed, the reference.
# Each run prints "RESULT profile=P dir=to|from peer=usnet|kernel bytes=N
# seconds=S mbps=M retrans=R" (R: the sender's retransmissions).
# Usage: tcp_impair.sh BUILD_DIR     (exit 77 = skipped)
set -u
BUILD=${1:?usage: tcp_impair.sh BUILD_DIR}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init tcp_impair
. "$(dirname "$0")/stack_lib.sh"
. "$(dirname "$0")/tcp_lib.sh"
if tcp_sanitized; then SIZE=${IMPAIR_BYTES:-4M}; else SIZE=${IMPAIR_BYTES:-16M}; fi
N=$(tcp_bytes "$SIZE")
PROFILES=${IMPAIR_PROFILES:-loss1 reorder5 dup05 delay20j5 loss1d20}
DIRS=${IMPAIR_DIRS:-to from}
# Each transfer is bounded (ctest's TIMEOUT bounds the whole): far beyond
# what the sizes need; a stall shows as a failure, not a hang.
XT=${IMPAIR_XT:-120}
K=198.18.72.1 U=198.18.72.2
SK=tim_${TV_ID}_k SF=tim_${TV_ID}_f SU=tim_${TV_ID}_u
KIF=tim${TV_ID}k F0=tim${TV_ID}f0 F1=tim${TV_ID}f1 UIF=tim${TV_ID}u
for ns in "$SK" "$SF" "$SU"; do tv_ns "$ns"; done
tv_veth "$SK" "$KIF" "$SF" "$F0"
tv_veth "$SF" "$F1" "$SU" "$UIF"
tv_need_afpacket "$SF" "$F0"
ip -n "$SK" addr add "$K/24" dev "$KIF"
# The kernel of U has no address there and must not answer for usnet.
ip netns exec "$SU" sysctl -qw net.ipv4.conf.all.arp_ignore=8
# The kernel sends MSS-sized frames with their checksums computed: fwd
# copies frames from one wire to the other, so neither a 64 KB GSO segment
# nor a checksum left to an offload may reach it (TSO, GSO, GRO and TX
# checksum offload off on its veth); no GRO on the others.
tcp_ethtool "$SK" "$KIF" 0x1f 0x24 0x2c
st_no_tx_csum "$SK" "$KIF"
tcp_ethtool "$SF" "$F0" 0x2c
tcp_ethtool "$SF" "$F1" 0x2c
tcp_ethtool "$SU" "$UIF" 0x1f 0x24 0x2c
st_no_tx_csum "$SU" "$UIF" # for IMPAIR_KREF's kernel in U
# Big RX rings whose blocks are handed over after 1 ms: nothing lost
# before fwd or usnet, and no latency added beyond the kernel's tick.
RING=",blocks=256,block_size=65536"
echo "sizes: $N bytes per transfer ($(tcp_sanitized && echo sanitizer || echo plain) build); profiles: $PROFILES; directions: $DIRS"

# profile NAME: FARGS (fwd's options), PN (bytes) and PS (its number: the
# seed is the same whichever profiles run) of a profile.
profile() {
	case $1 in
	loss1) FARGS=(--loss 1) PN=$N PS=1 ;;
	reorder5) FARGS=(--reorder 5) PN=$N PS=2 ;;
	dup05) FARGS=(--dup 0.5) PN=$N PS=3 ;;
	delay20j5) FARGS=(--delay 20,5) PN=$((N / 4)) PS=4 ;;
	loss1d20) FARGS=(--loss 1 --delay 20) PN=$((N / 8)) PS=5 ;;
	*) echo "FAIL: unknown profile $1"; exit 1 ;;
	esac
}

# start_fwd TAG: usnet-fwd in F with FARGS and a seed of the tag's.
start_fwd() {
	# Bounded by the transfer's bound and more (tv_bg's 120 s would cut a
	# long bench run's path in the middle).
	tcp_bg $((XT + 60)) "$TMP/fwd.$1.json" "$TMP/fwd.$1.err" "$SF" "$T/usnet-fwd" \
		-p "afpacket:$F0$RING" -p "afpacket:$F1$RING" -t $((XT + 30)) --json -q --seed "$SEED" \
		"${FARGS[@]}"
	FWD=$TV_PID
	# -q: no startup line; the ports are open once it sleeps in poll().
	sleep 0.5
	kill -0 "$FWD" 2>/dev/null || fail "$1: usnet-fwd ended at once: $(head -c 600 "$TMP/fwd.$1.err")"
}

# stop_fwd TAG WHAT: SIGINT; exit 0; its counters add up and show WHAT (a
# Python condition on the directions d0 (kernel->usnet), d1 and their
# impair objects i0, i1).
stop_fwd() {
	local status
	kill -INT "$FWD"
	tv_wait "$FWD" 20
	status=$?
	tv_sane "usnet-fwd ($1)" $status "$TMP/fwd.$1.err"
	[ $status -eq 0 ] || fail "$1: usnet-fwd exit status $status: $(tail -3 "$TMP/fwd.$1.err")"
	tv_json "$1: fwd impaired both directions, its counters add up" "$TMP/fwd.$1.json" \
		"all(d['impaired'] and d['rx'] + i['duplicated'] == d['tx'] + d['drops'] + i['lost'] + i['queue_full'] + i['flushed'] for d, i in ((d, d['impair']) for d in j['directions']))"
	tv_json "$1: the impairment happened: $2" "$TMP/fwd.$1.json" \
		"(lambda i0, i1, d0, d1: $2)(*[d['impair'] for d in j['directions']], *j['directions'])"
	echo "log: $1: fwd: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("; ".join("%s frames %d, lost %d, dup %d, reordered %d, delayed %d, queue full %d, tx drops %d" % (("0>1 (kernel->usnet)" if i == 0 else "1>0 (usnet->kernel)"), d["rx"], d["impair"]["lost"], d["impair"]["duplicated"], d["impair"]["reordered"], d["impair"]["delayed"], d["impair"]["queue_full"], d["drops"]) for i, d in enumerate(j["directions"])))' "$TMP/fwd.$1.json" 2>&1)"
}

# wait_listen FILE PID: until usnet-tcpperf says it serves.
wait_listen() {
	for _ in $(seq 100); do
		grep -q "server on" "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	fail "usnet-tcpperf did not say it listens within 10 s: $(head -c 600 "$1")"
	return 1
}

# result PROFILE DIR PEER JSON KEY_OF_RETRANS: the RESULT line of a run.
result() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[4])); print("RESULT profile=%s dir=%s peer=%s bytes=%d seconds=%.3f mbps=%.2f retrans=%s" % (sys.argv[1], sys.argv[2], sys.argv[3], j["bytes"], j["seconds"], j["bytes"] * 8e-6 / j["seconds"] if j["seconds"] else 0, j.get("retransmits")))' \
		"$1" "$2" "$3" "$4" 2>/dev/null || echo "RESULT profile=$1 dir=$2 peer=$3 failed"
}

# kref TAG DIR SIZE PORT: the kernel at both ends, through the same fwd.
kref() {
	local tag="$1 (kernel reference)" size=$3 port=$4 rns rip sns rc krc kpid
	ip -n "$SU" addr add "$U/24" dev "$UIF"
	ip netns exec "$SU" sysctl -qw net.ipv4.conf.all.arp_ignore=0
	if [ "$2" = to ]; then rns=$SK rip=$K sns=$SU; else rns=$SU rip=$U sns=$SK; fi
	tcp_bg $XT "$TMP/kr.$port" "$TMP/kr.$port.err" "$rns" "$KPEER" --listen "$rip:$port" \
		-m recv --sha256 -n "$size" --json -q --timeout $XT
	kpid=$TV_PID
	if tv_wait_line "$TMP/kr.$port.err" "listening"; then
		timeout -k 5 $XT ip netns exec "$sns" "$KPEER" --connect "$rip:$port" -n "$size" \
			--sha256 --json -q --timeout $XT >"$TMP/ks.$port" 2>"$TMP/ks.$port.err"
		rc=$?
		tv_wait "$kpid" 30
		krc=$?
		tcp_json "$TMP/ks.$port"
		if [ $rc -eq 0 ] && [ $krc -eq 0 ] && [ -n "$(tcp_sha "$TMP/ks.$port")" ] &&
			[ "$(tcp_sha "$TMP/ks.$port")" = "$(tcp_sha "$TMP/kr.$port")" ]; then
			ok "$tag: $size bytes, sha256 equal"
		else
			fail "$tag: exit $rc/$krc: $(tail -n 2 "$TMP/ks.$port.err" "$TMP/kr.$port.err" | tr '\n' ' ')"
		fi
		echo "log: $tag: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.4f Gbit/s, retransmits %s, rtt %s us" % (j["gbps"], j["retransmits"], j["rtt_us"]))' "$TMP/ks.$port.json" 2>&1)"
		result "$prof" "$2" kernel "$TMP/ks.$port.json"
	fi
	ip -n "$SU" addr del "$U/24" dev "$UIF"
	ip netns exec "$SU" sysctl -qw net.ipv4.conf.all.arp_ignore=8
}

# check TAG SIZE RC KRC PERF_OUT KPEER_OUT: both exit 0, SIZE bytes, SHA-256 equal.
check() {
	local sp sk
	sp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"][0])' "$5.json" 2>/dev/null)
	sk=$(tcp_sha "$6")
	if [ "$3" -eq 0 ] && [ "$4" -eq 0 ] && [ -n "$sp" ] && [ "$sp" = "$sk" ]; then
		ok "$1: $2 bytes, sha256 equal on both ends ($sp)"
	else
		fail "$1: usnet-tcpperf exit $3, tcp_kpeer exit $4, sha256 usnet '$sp' kernel '$sk': $(tail -n 3 "$5.err" "$6.err" 2>/dev/null | tr '\n' ' ')"
	fi
	tv_json "$1: tcp_kpeer moved $2 bytes, no error" "$6.json" "j['bytes'] == $2 and j['error'] is None"
	tv_json "$1: usnet-tcpperf moved $2 bytes" "$5.json" "j['bytes'] == $2"
}

# report TAG PERF_OUT KPEER_OUT NSTAT_BEFORE NSTAT_AFTER: the log lines.
report() {
	echo "log: $1: usnet-tcpperf: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.4f Gbit/s in %.2f s, retransmits %s, rtt %s, cwnd %s" % (j.get("gbps", 0), j.get("seconds", 0), j.get("retransmits"), j.get("rtt_us", j.get("rtt")), j.get("cwnd")))' "$2.json" 2>&1)"
	echo "log: $1: tcp_kpeer: $(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.4f Gbit/s, kernel retransmits %s, rtt %s us, cwnd %s, segs out/in %s/%s" % (j["gbps"], j["retransmits"], j["rtt_us"], j["cwnd"], j["segs_out"], j["segs_in"]))' "$3.json" 2>&1)"
	echo "log: $1: kernel nstat moved: $(tcp_nstat_delta "$4" "$5")"
}

# to_kernel TAG SIZE PORT: usnet-tcpperf sends SIZE bytes to tcp_kpeer.
to_kernel() {
	local tag=$1 size=$2 port=$3 n0 n1 rc krc kpid
	n0=$(tcp_nstat "$SK")
	tcp_bg $XT "$TMP/k.$tag" "$TMP/k.$tag.err" "$SK" "$KPEER" --listen "$K:$port" -m recv \
		--sha256 --verify -n "$size" --json -q --timeout $XT
	kpid=$TV_PID
	tv_wait_line "$TMP/k.$tag.err" "listening" || return
	timeout -k 5 $XT ip netns exec "$SU" "$PERF" -p "afpacket:$UIF$RING" --ip "$U/24" \
		-c "$K:$port" -n "$size" --sha256 --json -q >"$TMP/p.$tag" 2>"$TMP/p.$tag.err"
	rc=$?
	tv_wait "$kpid" 30
	krc=$?
	n1=$(tcp_nstat "$SK")
	tcp_json "$TMP/p.$tag"
	tcp_json "$TMP/k.$tag"
	tv_sane "usnet-tcpperf ($tag)" "$rc" "$TMP/p.$tag.err"
	check "$tag" "$size" "$rc" "$krc" "$TMP/p.$tag" "$TMP/k.$tag"
	report "$tag" "$TMP/p.$tag" "$TMP/k.$tag" "$n0" "$n1"
	result "$prof" to usnet "$TMP/p.$tag.json"
}

# from_kernel TAG SIZE PORT: tcp_kpeer sends SIZE bytes to usnet-tcpperf.
from_kernel() {
	local tag=$1 size=$2 port=$3 n0 n1 rc krc ppid
	n0=$(tcp_nstat "$SK")
	tcp_bg $XT "$TMP/p.$tag" "$TMP/p.$tag.err" "$SU" "$PERF" -p "afpacket:$UIF$RING" \
		--ip "$U/24" -l "$port" -m recv --sha256 --json --one-off -n "$size"
	ppid=$TV_PID
	wait_listen "$TMP/p.$tag.err" "$ppid" || return
	timeout -k 5 $XT ip netns exec "$SK" "$KPEER" --connect "$U:$port" -n "$size" --sha256 \
		--json -q --timeout $XT >"$TMP/k.$tag" 2>"$TMP/k.$tag.err"
	krc=$?
	tv_wait "$ppid" 30
	rc=$?
	n1=$(tcp_nstat "$SK")
	tcp_json "$TMP/p.$tag"
	tcp_json "$TMP/k.$tag"
	tv_sane "usnet-tcpperf ($tag)" "$rc" "$TMP/p.$tag.err"
	check "$tag" "$size" "$rc" "$krc" "$TMP/p.$tag" "$TMP/k.$tag"
	report "$tag" "$TMP/p.$tag" "$TMP/k.$tag" "$n0" "$n1"
	result "$prof" from usnet "$TMP/k.$tag.json"
}

port=6000
for prof in $PROFILES; do
	profile "$prof"
	[ "${IMPAIR_FULL:-0}" = 1 ] && PN=$N
	case $prof in
	loss1 | loss1d20) what="i0['lost'] + i1['lost'] > 0" ;;
	reorder5) what="i0['reordered'] + i1['reordered'] > 0" ;;
	dup05) what="i0['duplicated'] + i1['duplicated'] > 0" ;;
	delay20j5) what="i0['delayed'] == d0['rx'] > 0 and i1['delayed'] == d1['rx'] > 0" ;;
	esac
	for dir in $DIRS; do
		SEED=$((2 * PS - 1))
		[ "$dir" = to ] || SEED=$((2 * PS))
		port=$((port + 1))
		tag="$prof, $([ "$dir" = to ] && echo "usnet -> kernel" || echo "kernel -> usnet")"
		t0=$(date +%s.%N)
		start_fwd "$prof.$dir"
		if [ "$dir" = to ]; then
			to_kernel "$tag" "$PN" $port
		else
			from_kernel "$tag" "$PN" $port
		fi
		stop_fwd "$prof.$dir" "$what"
		echo "log: $tag: fwd ${FARGS[*]} --seed $SEED, $PN bytes, $(python3 -c "import time; print('%.1f' % (time.time() - $t0))") s wall"
		if [ "${IMPAIR_KREF:-0}" = 1 ]; then
			port=$((port + 1))
			start_fwd "$prof.$dir.kref"
			kref "$tag" "$dir" "$PN" $port
			stop_fwd "$prof.$dir.kref" "$what"
		fi
	done
done

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
