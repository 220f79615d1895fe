# SPDX-License-Identifier: MIT
#
# What the stack benches (tcp_bulk.sh, tcp_http.sh, tcp_latency.sh,
# udp_stack.sh) share: a work directory, namespaces and veth pairs, the
# cleanup of both and of the processes they started, and the arithmetic
# of CPU time, JSON fields and medians. Sourced, not run:
#
#   source "$(dirname "$0")/lib.sh"
#   bench_init tcp_bulk INT "$NA" "$NB"   # NAME SIGNAL NS...
#   ...check the binaries...
#   bench_netns                           # creates the namespaces
#
# NAME is what die() and col() call the bench; cleanup (on EXIT) sends
# SIGNAL to every pid in PIDS, waits for them, deletes the namespaces and
# the work directory WORK (/tmp/NAME-with-dashes.XXXXXX).

die() { echo "$BENCH: $*" >&2; exit 1; }

bench_cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "-$BENCH_SIGNAL" "$p" 2>/dev/null; done
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
	for p in "${BENCH_NS[@]+"${BENCH_NS[@]}"}"; do ip netns del "$p" 2>/dev/null; done
	rm -rf "$WORK"
}

bench_init() { # NAME SIGNAL NS...: WORK, PIDS, cleanup on exit; needs root
	BENCH=$1 BENCH_SIGNAL=$2
	shift 2
	BENCH_NS=("$@")
	WORK=$(mktemp -d "/tmp/${BENCH//_/-}.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
	[ "$(id -u)" = 0 ] || die "needs root"
}

# bench_netns: the namespaces of bench_init, without IPv6, lo up.
bench_netns() {
	local ns
	for ns in "${BENCH_NS[@]}"; do ip netns add "$ns" || die "cannot create namespaces"; done
	for ns in "${BENCH_NS[@]}"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
		ip -n "$ns" link set lo up
	done
}

# bench_veth NSA DEVA NSB DEVB [ADDRA [ADDRB]]: a veth pair between two
# namespaces, both ends up, with the addresses given ("" for none).
bench_veth() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
	[ -n "${5:-}" ] && ip -n "$1" addr add "$5" dev "$2"
	[ -n "${6:-}" ] && ip -n "$3" addr add "$6" dev "$4"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# bench_ethtool_off NS DEV CMD...: each ethtool set command (SIOCETHTOOL
# with the value 0) on DEV: 0x1f TSO, 0x24 GSO, 0x2c GRO, 0x17 TX checksums
# (st_no_tx_csum in tests/integration/stack_lib.sh does the same for a test).
bench_ethtool_off() {
	ip netns exec "$1" python3 - "${@:2}" <<'EOF'
import ctypes, fcntl, socket, struct, sys
for cmd in sys.argv[2:]:
    val = ctypes.create_string_buffer(struct.pack("II", int(cmd, 16), 0))
    ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)).ljust(40, b"\0")
    fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifr)
EOF
}

# bench_no_gso NS DEV: TSO, GSO and GRO off; the kernel then handles every
# 1500-byte frame as usnet does.
bench_no_gso() { bench_ethtool_off "$1" "$2" 0x1f 0x24 0x2c || die "cannot turn off TSO/GSO/GRO on $2"; }

# wait_line FILE PATTERN: until FILE has a line matching PATTERN (5 s at most).
wait_line() {
	for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.05; done
	return 1
}

# bench_usnetd LOG ARGS...: $USNETD ARGS in the background, its pid in upid
# (and PIDS), its stderr in LOG; fails if it did not say it is ready.
bench_usnetd() {
	local log=$1
	shift
	"$USNETD" "$@" 2>"$log" &
	upid=$!
	PIDS+=("$upid")
	wait_line "$log" "ready: memif socket"
}

calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }
# cpu_s PID: utime + stime in seconds.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

# timed OUT CMD...: run CMD; its user and system seconds and voluntary and
# involuntary context switches (getrusage of the
# waited-for child) into OUT.cpu; SIGINT/SIGTERM are passed on. In the
# background (timed ... &) $! is the subshell, not the wrapper: use
# timed_exec there when a signal to $! must reach CMD.
TIMED_PY='
import resource, signal, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda n, f: p.send_signal(n))
rc = p.wait()
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%f %f %d %d\n" % (u.ru_utime, u.ru_stime, u.ru_nvcsw, u.ru_nivcsw))
sys.exit(rc if rc >= 0 else 128 - rc)'
timed() {
	local out=$1
	shift
	python3 -c "$TIMED_PY" "$out.cpu" "$@"
}
# timed_exec OUT CMD... &: the same, always in the background, where the
# function is a subshell that becomes the wrapper (exec), so that $! is the
# wrapper and a signal to it reaches CMD.
timed_exec() {
	local out=$1
	shift
	exec python3 -c "$TIMED_PY" "$out.cpu" "$@"
}
# tcpu OUT: the seconds timed wrote (0 if none).
tcpu() { awk '{ print $1 + $2 }' "$1.cpu" 2>/dev/null || echo 0; }
# jget FILE KEY: KEY of the last JSON line of FILE.
jget() { python3 -c 'import json,sys; j=[l for l in open(sys.argv[1]) if l.startswith("{")][-1]; print(json.loads(j)[sys.argv[2]])' "$1" "$2" 2>/dev/null; }

# where: the machine, for the headings.
where() { echo "on $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }'; }
# col KIND KEY: the median of KEY=VALUE (a number, maybe with a unit: 1.2ms)
# over the lines "RESULT $BENCH KIND ..." of $WORK/results.
col() { sed -n "s/^RESULT $BENCH $1 .*\\b$2=\\([0-9.]*[a-z]*\\).*/\\1/p" "$WORK/results" | median; }
medians_heading() { # ROUNDS
	echo
	echo "== medians of $1 rounds ($(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg))"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
