#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# usnetd's latency and idle cost:
#
#  - round trips client -> usnetd -> client, one frame in flight
#    (bench/usnetd_pingpong: two memif clients in one thread on cpu 0,
#    usnetd pinned to cpu 1), with busy-polling and with sleeping clients;
#  - usnetd's wake-up: the same with 10 ms between round trips, so that
#    usnetd (spin_us 100) is asleep in epoll when each frame arrives;
#    wake-up = p50(asleep) - p50(awake). Next to it, the machine's own
#    floor: waking a thread that sleeps in epoll_wait on cpu 1
#    (usnetd_pingpong --floor), measured in the same run;
#  - usnetd's CPU use with no traffic: two sleeping clients connected
#    (usnet-sink), IDLE_SECS seconds, its schedstat run time / wall time.
#
# Each measurement is made with usnetd as an ordinary task and with
# --rt-priority 50 (SCHED_FIFO: a wake-up preempts whatever else runs on
# its core), since on a shared machine that is what the tail depends on.
#
#   bench/usnetd_latency.sh BUILD_DIR
#
# Environment: N (100000 round trips awake), NW (300 asleep), IDLE_SECS (10).
# Output: a table, and RESULT lines. Not a test; no root needed except for
# --rt-priority (skipped without CAP_SYS_NICE).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
N=${N:-100000}
NW=${NW:-300}
IDLE_SECS=${IDLE_SECS:-10}
USNETD=$BUILD/daemon/usnetd
PP=$BUILD/daemon/usnetd_pingpong
SINK=$BUILD/tools/usnet-sink
WORK=$(mktemp -d /tmp/usnetd-latency.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]+"${pids[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
die() { echo "usnetd_latency: $*" >&2; exit 1; }
for b in "$USNETD" "$PP" "$SINK"; do [[ -x $b ]] || die "$b not built"; done

field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])' "$1" "$2"; }
runtime_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }

start_usnetd() { # TAG OPTS...
	local tag=$1
	shift
	"$USNETD" -s "$WORK/$tag.sock" -c 1 -U null: -i 1 -i 2 -i 3 -i 4 --auto-ids none -q "$@" \
		2>"$WORK/$tag.log" &
	upid=$!
	pids+=("$upid")
	for _ in $(seq 100); do [[ -S $WORK/$tag.ctl ]] && return 0; sleep 0.05; done
	die "usnetd did not start: $(cat "$WORK/$tag.log")"
}

# pp TAG MODE INTERVAL COUNT: one usnetd_pingpong run, its JSON.
pp() {
	"$PP" -s "$WORK/$1.sock" -c 0 -m "$2" -i "$3" -n "$4" -w $(( $4 / 10 + 10 )) --json ||
		die "pingpong $*"
}

run_set() { # TAG OPTS...
	local tag=$1 ba sa bw sw idle0 idle2 r0 r1 t0 t1 s1 s2
	shift
	start_usnetd "$tag" "$@"
	ba=$(pp "$tag" busy 0 "$N")
	sa=$(pp "$tag" sleep 0 "$((N / 5))")
	bw=$(pp "$tag" busy 10000 "$NW")
	sw=$(pp "$tag" sleep 10000 "$NW")
	# Idle: no clients, then two sleeping clients.
	sleep 1
	r0=$(runtime_ns "$upid") t0=$(date +%s%N)
	sleep "$IDLE_SECS"
	r1=$(runtime_ns "$upid") t1=$(date +%s%N)
	idle0=$(awk -v r=$((r1 - r0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", 100 * r / t }')
	"$SINK" -p "memif:$WORK/$tag.sock,id=3" -q -t $((IDLE_SECS + 5)) 2>/dev/null &
	s1=$!
	"$SINK" -p "memif:$WORK/$tag.sock,id=4" -q -t $((IDLE_SECS + 5)) 2>/dev/null &
	s2=$!
	pids+=("$s1" "$s2")
	sleep 1
	r0=$(runtime_ns "$upid") t0=$(date +%s%N)
	sleep "$IDLE_SECS"
	r1=$(runtime_ns "$upid") t1=$(date +%s%N)
	idle2=$(awk -v r=$((r1 - r0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.3f", 100 * r / t }')
	kill -INT "$s1" "$s2" "$upid" 2>/dev/null || true
	wait "$s1" "$s2" "$upid" 2>/dev/null || true
	printf "   %-28s %8s %8s %8s %8s\n" "$tag: RTT, awake, busy clients" \
		"$(field "$ba" p50_us)" "$(field "$ba" p90_us)" "$(field "$ba" p99_us)" "$(field "$ba" p999_us)"
	printf "   %-28s %8s %8s %8s %8s\n" "$tag: RTT, awake, sleeping cl." \
		"$(field "$sa" p50_us)" "$(field "$sa" p90_us)" "$(field "$sa" p99_us)" "$(field "$sa" p999_us)"
	printf "   %-28s %8s %8s %8s %8s\n" "$tag: RTT, usnetd asleep, busy" \
		"$(field "$bw" p50_us)" "$(field "$bw" p90_us)" "$(field "$bw" p99_us)" "$(field "$bw" p999_us)"
	printf "   %-28s %8s %8s %8s %8s\n" "$tag: RTT, all asleep" \
		"$(field "$sw" p50_us)" "$(field "$sw" p90_us)" "$(field "$sw" p99_us)" "$(field "$sw" p999_us)"
	wake=$(awk -v a="$(field "$bw" p50_us)" -v b="$(field "$ba" p50_us)" 'BEGIN { printf "%.1f", a - b }')
	echo "   $tag: usnetd wake-up (p50 asleep - p50 awake, busy clients): $wake us;" \
		"A->B one way asleep p50 $(field "$bw" oneway_p50_us) us"
	echo "   $tag: usnetd CPU with no traffic: $idle0% (no client), $idle2% (2 sleeping clients)"
	echo "RESULT usnetd_rtt_$tag busy_p50=$(field "$ba" p50_us) busy_p99=$(field "$ba" p99_us)" \
		"sleep_p50=$(field "$sa" p50_us) sleep_p99=$(field "$sa" p99_us)"
	echo "RESULT usnetd_wake_$tag p50_us=$wake asleep_p50=$(field "$bw" p50_us) asleep_p99=$(field "$bw" p99_us)"
	echo "RESULT usnetd_idle_$tag cpu_pct_noclient=$idle0 cpu_pct_2clients=$idle2"
}

echo "== usnetd latency and idle cost (usnetd on cpu 1, clients on cpu 0, 64-byte frames)"
floor=$("$PP" --floor 1 -c 0 -n "$NW" -i 10000 --json)
echo "   machine floor: epoll wake-up of a thread on cpu 1: p50 $(field "$floor" p50_us) us," \
	"p90 $(field "$floor" p90_us) us, p99 $(field "$floor" p99_us) us"
echo "RESULT epoll_wake_floor p50_us=$(field "$floor" p50_us) p99_us=$(field "$floor" p99_us)"
printf "   %-28s %8s %8s %8s %8s   (microseconds)\n" "" p50 p90 p99 p99.9
run_set normal
if "$USNETD" --check --rt-priority 50 >/dev/null 2>&1 && chrt -f 1 true 2>/dev/null; then
	run_set rt50 --rt-priority 50
else
	echo "   (no CAP_SYS_NICE: --rt-priority skipped)"
fi
