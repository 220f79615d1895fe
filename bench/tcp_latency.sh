#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# TCP request/response latency (bench/README.md, "TCP"). Not a test.
# Needs root (namespaces, veth).
#
#  A. usnet <-> usnet through usnetd (memif): usnet-tcpperf -m rr -s SIZE,
#     one connection, one request at a time; usnetd -c 1 on cpu 1, both
#     applications on cpu 0: the server sleeps when idle (--sleep), the
#     client busy-polls (busy) or sleeps too (sleep).
#  B. Linux <-> Linux over a veth between two namespaces: tcp_kpeer -m rr
#     (client on cpu 0 with TCP_NODELAY, server on cpu 1, sleeping in
#     epoll), the client spinning on a non-blocking recv with SO_BUSY_POLL
#     set (busy-poll: a veth has no NAPI context to poll unless XDP or GRO
#     is on, so it is the spinning that matters here), and blocking in
#     poll() (plain).
# p50/p99 of the round trips as each client measures them (usnet-tcpperf
# --json, tcp_kpeer --json); ROUNDS rounds alternate A and B.
#
#   sudo bench/tcp_latency.sh BUILD_DIR
#
# Environment: SECS (5), ROUNDS (3), SIZE (64).
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-64}
PERF=$BUILD/tools/usnet-tcpperf
KPEER=$BUILD/tests/tcp_kpeer
USNETD=$BUILD/daemon/usnetd
ID=$(($$ % 10000))
NA=tla$ID NB=tlb$ID
source "$(dirname "$0")/lib.sh"
bench_init tcp_latency INT "$NA" "$NB"
for b in "$PERF" "$KPEER" "$USNETD"; do [ -x "$b" ] || die "$b not built"; done

bench_netns
bench_veth "$NA" a0 "$NB" b0 198.18.36.1/24 198.18.36.2/24

bench_usnetd "$WORK/usnetd.log" -s "$WORK/d.sock" -c 1 -U null: -i 1 -i 2 ||
	die "usnetd did not start: $(cat "$WORK/usnetd.log")"

usnet_run() { # ROUND MODE(busy|sleep)
	local r=$1 mode=$2 o=$WORK/A.$1.$2 port=$((5100 + r)) cargs=()
	[ "$mode" = sleep ] && cargs=(--sleep)
	taskset -c 0 "$PERF" -p "memif:$WORK/d.sock,id=1" --mac 02:75:00:00:00:01 --ip 198.18.37.1/24 \
		-l "$port" -m rr -s "$SIZE" --one-off --sleep -i 3600 --json >"$o.srv" 2>"$o.srv.err" &
	local spid=$!
	PIDS+=("$spid")
	wait_line "$o.srv.err" "server on"
	taskset -c 0 "$PERF" -p "memif:$WORK/d.sock,id=2" --mac 02:75:00:00:00:02 --ip 198.18.37.2/24 \
		-c "198.18.37.1:$port" -m rr -s "$SIZE" -t "$SECS" --nodelay "${cargs[@]}" -q --json \
		>"$o.cli" 2>"$o.cli.err"
	local crc=$?
	timeout 30 tail --pid="$spid" -f /dev/null
	wait "$spid"
	if [ "$crc" != 0 ] || [ -z "$(jget "$o.cli" p50_us)" ]; then
		echo "RESULT tcp_latency usnet-usnetd-$mode round=$r FAILED (exit $crc): $(tail -n 2 "$o.cli.err" | tr '\n' ' ')"
		return
	fi
	echo "RESULT tcp_latency usnet-usnetd-$mode round=$r p50_us=$(jget "$o.cli" p50_us) p99_us=$(jget "$o.cli" p99_us) p999_us=$(jget "$o.cli" p999_us) requests=$(jget "$o.cli" requests)"
}

kernel_run() { # ROUND MODE(busy-poll|plain)
	local r=$1 mode=$2 o=$WORK/B.$1.$2 port=$((6100 + r)) cargs=()
	[ "$mode" = busy-poll ] && cargs=(--busy-poll 50)
	ip netns exec "$NB" taskset -c 1 "$KPEER" --listen "198.18.36.2:$port" -m rr -s "$SIZE" \
		--nodelay -q --timeout 30 >"$o.srv" 2>"$o.srv.err" &
	local spid=$!
	PIDS+=("$spid")
	wait_line "$o.srv.err" listening
	ip netns exec "$NA" taskset -c 0 "$KPEER" --connect "198.18.36.2:$port" -m rr -s "$SIZE" \
		-t "$SECS" --nodelay "${cargs[@]}" -q --json --timeout 30 >"$o.cli" 2>"$o.cli.err"
	local crc=$?
	wait "$spid"
	if [ "$crc" != 0 ] || [ -z "$(jget "$o.cli" p50_us)" ]; then
		echo "RESULT tcp_latency kernel-veth-$mode round=$r FAILED (exit $crc): $(tail -n 2 "$o.cli.err" | tr '\n' ' ')"
		return
	fi
	echo "RESULT tcp_latency kernel-veth-$mode round=$r p50_us=$(jget "$o.cli" p50_us) p99_us=$(jget "$o.cli" p99_us) p999_us=$(jget "$o.cli" p999_us) requests=$(jget "$o.cli" requests)"
}

echo "== tcp_latency: rr -s $SIZE, SECS=$SECS ROUNDS=$ROUNDS $(where)"
for r in $(seq "$ROUNDS"); do
	usnet_run "$r" busy
	usnet_run "$r" sleep
	kernel_run "$r" busy-poll
	kernel_run "$r" plain
done | tee "$WORK/results"

medians_heading "$ROUNDS"
printf "   %-26s %10s %10s %10s %12s\n" run p50_us p99_us p999_us requests
for k in usnet-usnetd-busy usnet-usnetd-sleep kernel-veth-busy-poll kernel-veth-plain; do
	printf "   %-26s %10s %10s %10s %12s\n" "$k" "$(col "$k" p50_us)" "$(col "$k" p99_us)" \
		"$(col "$k" p999_us)" "$(col "$k" requests)"
done
echo "RESULT tcp_latency_p50 usnet_busy=$(col usnet-usnetd-busy p50_us) usnet_sleep=$(col usnet-usnetd-sleep p50_us) kernel_busy_poll=$(col kernel-veth-busy-poll p50_us) kernel_plain=$(col kernel-veth-plain p50_us)"
echo "RESULT tcp_latency_p99 usnet_busy=$(col usnet-usnetd-busy p99_us) usnet_sleep=$(col usnet-usnetd-sleep p99_us) kernel_busy_poll=$(col kernel-veth-busy-poll p99_us) kernel_plain=$(col kernel-veth-plain p99_us)"
