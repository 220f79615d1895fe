#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# UDP on usnet's stack against the Linux kernel's, in one run (bench/README.md,
# "UDP stack"). Not a test. Needs root (namespaces, veth) and sockperf.
#
#  A. UDP echo server on one veth, load from sockperf (kernel client, cpu 0):
#     usnet-udpecho --sockperf --busy on afpacket: (cpu 1) against
#     bench/kernel_udpecho --sockperf (recvmmsg/sendmmsg, cpu 1) with the
#     kernel's address on the same veth. sockperf ping-pong (--full-rtt:
#     round trips) and throughput, SECS seconds each, ROUNDS rounds
#     alternating usnet and kernel. Server CPU-seconds: utime + stime of the
#     server process from /proc (softirq work charged to other tasks is not
#     in it; see the README); the client's too, for requests per CPU-second
#     of client and server together.
#  B. Two applications: usnet-udpperf -> usnet-udpecho through usnetd
#     (memif; usnetd pinned to cpu 1, both applications on cpu 0: udpperf
#     busy-polls, or sleeps while it waits with --sleep (the *-sleep modes),
#     udpecho sleeps when idle), against the kernel:
#     sockperf -> kernel_udpecho over a veth pair and over loopback (client
#     cpu 0, server cpu 1). Throughput: datagrams delivered to an
#     application per CPU-second of every process involved; ping-pong p50/p99.
#
#   sudo bench/udp_stack.sh BUILD_DIR
#
# Environment: SECS (5), ROUNDS (3), SIZE (64). Output: per-run lines and
# RESULT lines, then a table.
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-64}
T=$BUILD/tools
KUE=$BUILD/bench/kernel_udpecho
USNETD=$BUILD/daemon/usnetd
ID=$(($$ % 10000))
NK=ubk$ID NU=ubu$ID
source "$(dirname "$0")/lib.sh"
bench_init udp_stack INT "$NK" "$NU"
command -v sockperf >/dev/null || die "sockperf is not installed"
for b in "$T/usnet-udpecho" "$T/usnet-udpperf" "$KUE" "$USNETD"; do [ -x "$b" ] || die "$b not built"; done

# child PID: the process `ip netns exec` became under timeout.
child() { local c; for _ in $(seq 50); do c=$(pgrep -P "$1" | head -n 1); [ -n "$c" ] && { echo "$c"; return; }; sleep 0.1; done; echo "$1"; }
pct() { sed -n "s/.*percentile $2 = *\([0-9.]*\).*/\1/p" "$1" | head -n 1; }

bench_netns
bench_veth "$NK" k0 "$NU" u0 198.18.30.1/24
# The kernel computes the checksums it sends (TX checksum offload off).
bench_ethtool_off "$NK" k0 0x17

# ---- A. echo server on afpacket vs the kernel's ---------------------------------
# server_run KIND MODE ROUND: one sockperf run against one server.
server_run() {
	local kind=$1 mode=$2 r=$3 out=$WORK/A.$1.$2.$3 spid pid c0 c1 n0 n1
	if [ "$kind" = usnet ]; then
		ip -n "$NU" addr flush dev u0
		timeout 120 ip netns exec "$NU" taskset -c 1 "$T/usnet-udpecho" -p afpacket:u0 \
			--ip 198.18.30.2/24 -P 11111 --sockperf --busy --json -q >"$out.srv" 2>"$out.srv.err" &
	else
		ip -n "$NU" addr replace 198.18.30.2/24 dev u0
		timeout 120 ip netns exec "$NU" taskset -c 1 "$KUE" -a 198.18.30.2 -p 11111 --sockperf \
			>"$out.srv" 2>"$out.srv.err" &
	fi
	spid=$!
	PIDS+=("$spid")
	pid=$(child "$spid")
	sleep 0.5
	ip -n "$NK" neigh flush dev k0
	c0=$(cpu_s "$pid")
	local t0
	t0=$(date +%s.%N)
	ip netns exec "$NK" taskset -c 0 sockperf "$mode" -i 198.18.30.2 -p 11111 -m "$SIZE" \
		-t "$SECS" --full-rtt >"$out.cli" 2>&1 &
	local cli=$! ccpu=0
	while kill -0 "$cli" 2>/dev/null; do ccpu=$(cpu_s "$cli" 2>/dev/null || echo "$ccpu"); sleep 0.2; done
	wait "$cli"
	c1=$(cpu_s "$pid")
	local t1
	t1=$(date +%s.%N)
	kill -INT "$pid" 2>/dev/null
	wait "$spid" 2>/dev/null
	if [ "$kind" = usnet ]; then
		n1=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["datagrams"])' "$out.srv")
	else
		n1=$(sed -n 's/.*datagrams=\([0-9]*\).*/\1/p' "$out.srv")
	fi
	local cpu per wall
	cpu=$(calc "$c1 - $c0" 3)
	wall=$(calc "$t1 - $t0" 3)
	per=$(calc "${n1:-0} / ($cpu > 0 ? $cpu : 1)" 0)
	if [ "$mode" = ping-pong ]; then
		echo "RESULT A $kind $mode round=$r p50_us=$(pct "$out.cli" 50.000) p99_us=$(pct "$out.cli" 99.000) datagrams=$n1 server_cpu_s=$cpu client_cpu_s=$ccpu wall_s=$wall req_per_cpu_s=$per req_per_total_cpu_s=$(calc "${n1:-0} / ($cpu + $ccpu)" 0)"
	else
		echo "RESULT A $kind $mode round=$r datagrams=$n1 server_cpu_s=$cpu client_cpu_s=$ccpu wall_s=$wall req_per_cpu_s=$per req_per_total_cpu_s=$(calc "${n1:-0} / ($cpu + $ccpu)" 0) rate=$(calc "${n1:-0} / $wall" 0)"
	fi
}
for r in $(seq "$ROUNDS"); do
	for kind in usnet kernel; do
		server_run "$kind" ping-pong "$r"
		server_run "$kind" throughput "$r"
	done
done | tee "$WORK/A.results"

# ---- B. two applications ------------------------------------------------------------
ip -n "$NU" addr flush dev u0
bench_usnetd "$WORK/usnetd.log" -s "$WORK/d.sock" -c 1 -U null: -i 1 -i 2 -q
usnet_pair() { # MODE ROUND
	local mode=$1 r=$2 epid ppid e0 e1 d0 d1 args
	taskset -c 0 "$T/usnet-udpecho" -p "memif:$WORK/d.sock,id=1" --mac 02:75:00:00:00:01 \
		--ip 198.18.31.1/24 --json -q >"$WORK/B.echo" 2>&1 &
	epid=$!
	sleep 0.5
	e0=$(cpu_s "$epid") d0=$(cpu_s "$upid")
	args=(-n 0 -t "$SECS" -s "$SIZE" --warmup 1000)
	case $mode in throughput*) args+=(-m throughput -w 256) ;; esac
	# Both applications share cpu 0: a busy-polling udpperf leaves the echo
	# server only what the scheduler takes from it; --sleep lets it run.
	case $mode in *-sleep) args+=(--sleep) ;; esac
	# udpperf's own CPU time: bash's `times` after it ran as a child.
	taskset -c 0 "$T/usnet-udpperf" -p "memif:$WORK/d.sock,id=2" --mac 02:75:00:00:00:02 \
		--ip 198.18.31.2/24 "${args[@]}" -q --json 198.18.31.1:7 >"$WORK/B.perf" 2>"$WORK/B.perf.err" &
	ppid=$!
	local pc=0
	while kill -0 "$ppid" 2>/dev/null; do pc=$(cpu_s "$ppid" 2>/dev/null || echo "$pc"); sleep 0.2; done
	wait "$ppid"
	echo "$pc" >"$WORK/B.pcpu"
	e1=$(cpu_s "$epid") d1=$(cpu_s "$upid")
	kill -INT "$epid"
	wait "$epid"
	python3 - "$WORK/B.perf" "$mode" "$r" "$(calc "$e1 - $e0" 3)" "$(calc "$d1 - $d0" 3)" "$(cat "$WORK/B.pcpu")" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
mode, r, ecpu, dcpu = sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
pcpu = float(sys.argv[6])
delivered = j["received"] * 2  # each echo: one datagram to udpecho, one back to udpperf
cpu = pcpu + ecpu + dcpu
print(f"RESULT B usnet-usnetd {mode} round={r} p50_us={j['rtt_us']['p50']} p99_us={j['rtt_us']['p99']} "
      f"delivered={delivered} seconds={j['seconds']:.3f} cpu_s={cpu:.3f} (perf {pcpu:.2f} echo {ecpu:.2f} usnetd {dcpu:.2f}) "
      f"mpps_per_core={delivered / cpu / 1e6:.3f} mpps={delivered / j['seconds'] / 1e6:.3f} lost={j['lost']}")
EOF
}
kernel_pair() { # NAME NSCLI NSSRV ADDR MODE ROUND
	local name=$1 nc=$2 ns=$3 a=$4 mode=$5 r=$6 spid pid s0 s1 n cpu cli ccpu=0
	timeout 120 ip netns exec "$ns" taskset -c 1 "$KUE" -a "$a" -p 11111 --sockperf >"$WORK/B.k" 2>/dev/null &
	spid=$!
	PIDS+=("$spid")
	pid=$(child "$spid")
	sleep 0.5
	s0=$(cpu_s "$pid")
	ip netns exec "$nc" taskset -c 0 sockperf "$mode" -i "$a" -p 11111 -m "$SIZE" -t "$SECS" --full-rtt \
		>"$WORK/B.cli" 2>&1 &
	cli=$!
	# The client's CPU time, read while it lives (`ip netns exec` became sockperf).
	while kill -0 "$cli" 2>/dev/null; do ccpu=$(cpu_s "$cli" 2>/dev/null || echo "$ccpu"); sleep 0.2; done
	wait "$cli"
	s1=$(cpu_s "$pid")
	kill -INT "$pid"
	wait "$spid"
	n=$(sed -n 's/.*datagrams=\([0-9]*\).*/\1/p' "$WORK/B.k")
	cpu=$(calc "$s1 - $s0 + $ccpu" 3)
	if [ "$mode" = ping-pong ]; then
		echo "RESULT B kernel-$name $mode round=$r p50_us=$(pct "$WORK/B.cli" 50.000) p99_us=$(pct "$WORK/B.cli" 99.000) delivered=$((n * 2)) cpu_s=$cpu (client $ccpu)"
	else
		echo "RESULT B kernel-$name $mode round=$r delivered=$n cpu_s=$cpu (client $ccpu server $(calc "$s1 - $s0" 3)) mpps_per_core=$(calc "$n / $cpu / 1e6" 3) mpps=$(calc "$n / $SECS / 1e6" 3)"
	fi
}
ip -n "$NU" addr replace 198.18.30.2/24 dev u0
for r in $(seq "$ROUNDS"); do
	for mode in pingpong pingpong-sleep throughput throughput-sleep; do
		usnet_pair "$mode" "$r"
		case $mode in *-sleep) continue ;; esac
		km=$([ "$mode" = pingpong ] && echo ping-pong || echo throughput)
		kernel_pair veth "$NK" "$NU" 198.18.30.2 "$km" "$r"
		kernel_pair lo "$NU" "$NU" 127.0.0.1 "$km" "$r"
	done
done | tee "$WORK/B.results"
echo "udp_stack: SECS=$SECS ROUNDS=$ROUNDS SIZE=$SIZE on $(nproc) CPUs, $(uname -r)"
