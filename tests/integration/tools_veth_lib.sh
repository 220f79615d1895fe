# SPDX-License-Identifier: MIT
# Sourced by the tools' veth tests (pktgen_sink_veth.sh, fwd_veth.sh,
# capture_veth.sh, the stack_*.sh tests) and the port tests that need only a
# namespace (afpacket_basic.sh, tap_basic.sh, echo_tap.sh): namespaces and veth pairs the test creates and removes,
# background tools it starts and stops, and the checks they share.
# The sourcing script sets BUILD (the build directory) first.

T=$BUILD/tools
fails=0
TV_NS=()   # namespaces to delete on exit
TV_PIDS=() # background processes to stop on exit
TV_ID=$(($$ % 100000)) # keeps interface names within IFNAMSIZ (15)
# Receiving afpacket ports: the kernel hands a ring block over when it is full
# or after retire_ms (default 1), so at the tests' moderate rates 16 blocks
# buffer only ~16 ms, less than a sanitizer build on a busy machine may be
# descheduled for. 50 ms blocks buffer 0.8 s; latency does not matter here.
TV_RXOPT=",retire_ms=50"

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
ok() { echo "ok: $*"; }

tv_cleanup() {
	local pid ns
	for pid in "${TV_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${TV_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${TV_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${TMP:-}" ] && rm -rf "$TMP"
}

# tv_setup NAME: root and iproute2 (else skip), make TMP, arrange the
# clean-up of TMP, the namespaces (tv_ns) and the processes (TV_PIDS).
tv_setup() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, AF_PACKET, TAP)"
	command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	trap tv_cleanup EXIT
	trap 'exit 130' INT TERM
}

# tv_init NAME: tv_setup, and the tools and python3 the tools' tests need.
tv_init() {
	command -v python3 >/dev/null || skip "python3 is not installed (JSON checks)"
	for tool in pktgen sink fwd capture; do
		[ -x "$T/usnet-$tool" ] || { echo "FAIL: $T/usnet-$tool is not built"; exit 1; }
	done
	tv_setup "$1"
}

# tv_ns NAME: a new namespace without IPv6 (no router solicitations or MLD
# reports: the only frames on the test's wires are the test's), lo up.
tv_ns() {
	ip netns add "$1" 2>/dev/null || skip "cannot create network namespace $1"
	TV_NS+=("$1")
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip -n "$1" link set lo up
}

# tv_veth NS1 IF1 NS2 IF2 [OPT...]: a veth pair between two namespaces (or
# in one), both ends up, no addresses (the kernel stack ignores the test
# frames, so it answers none). OPTs go to both ends' `ip link add`, e.g.
# numtxqueues 2 numrxqueues 2.
tv_veth() {
	ip -n "$1" link add "$2" "${@:5}" type veth peer name "$4" "${@:5}" netns "$3" 2>/dev/null ||
		skip "cannot create a veth pair${5:+ ($*)}"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# tv_x NS CMD...: run in a namespace, bounded.
tv_x() {
	local ns=$1
	shift
	timeout -k 5 120 ip netns exec "$ns" "$@"
}

# tv_ping NS COUNT ADDR [PING_ARGS...]: COUNT kernel pings of ADDR, one at a
# time, each to be answered within 5 s; prints "COUNT of COUNT answered, rtt
# ..." or the output of the first ping not answered (status 1). One at a
# time: ping -c N -W S waits S seconds only while no reply has come; after
# the first it waits two round trips, so on a loaded machine a reply a little
# later than the others counted as lost.
tv_ping() {
	local ns=$1 count=$2 addr=$3 out rtts=
	shift 3
	for i in $(seq "$count"); do
		if ! out=$(tv_x "$ns" ping -c 1 -W 5 "$@" "$addr" 2>&1) ||
			! grep -q "1 packets transmitted, 1 received" <<<"$out"; then
			echo "ping $i of $count not answered within 5 s: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
			return 1
		fi
		rtts+=" $(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' <<<"$out" | head -n 1)"
	done
	echo "$count of $count answered, rtt ms:$rtts"
}

# tv_counter NS IF NAME: the kernel's interface statistic.
tv_counter() {
	tv_x "$1" cat "/sys/class/net/$2/statistics/$3"
}

# tv_need_afpacket NS IF: skip while the afpacket port kind is not there.
tv_need_afpacket() {
	local err
	err=$(tv_x "$1" "$T/usnet-sink" -p "afpacket:$2" -t 0.05 -q 2>&1 >/dev/null)
	case $err in
	*"not implemented"* | *"unknown port kind"*)
		skip "the afpacket port kind is not available: $err" ;;
	esac
}

# tv_bg OUT ERR NS CMD...: start a tool in the background; TV_PID is its pid.
# Not through tv_x: a backgrounded function is a subshell, and $! would be
# that shell (which ignores SIGINT) instead of timeout, which passes signals on.
# --foreground: without it, timeout(1) follows each signal it passes on with
# a SIGCONT to the tool, and a SIGCONT discards a pending SIGSTOP (signal(7)).
# On a loaded machine that SIGCONT can come late, when a sanitizer build's
# tool has already stopped and is in LeakSanitizer's exit check, whose ptrace
# attach is such a SIGSTOP: the check then waits forever for a stop that
# never comes, and -k kills the tool 5 s later (status 137). Every timeout
# whose pid a test signals has --foreground (tcp_bg, tcp_hostile.sh,
# tcp_cli.sh, echo_tap.sh, tools_errors.sh).
tv_bg() {
	local out=$1 err=$2 ns=$3
	shift 3
	timeout --foreground -k 5 120 ip netns exec "$ns" "$@" >"$out" 2>"$err" &
	TV_PID=$!
	TV_PIDS+=("$TV_PID")
}

# tv_wait_line FILE TEXT: wait up to 10 s for TEXT (fixed string) in FILE.
tv_wait_line() {
	for _ in $(seq 100); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "'$2' did not appear in $1 within 10 s: $(head -c 500 "$1")"
	return 1
}

# tv_wait PID SECONDS: wait for a background tool to end (bounded); its status.
tv_wait() {
	local pid=$1
	for _ in $(seq $(($2 * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		fail "process $pid still running after $2 s; stopping it"
		kill -TERM "$pid"
	fi
	wait "$pid"
}

# tv_sane WHAT STATUS ERRFILE: no crash, no sanitizer report.
tv_sane() {
	if [ "$2" -ge 124 ]; then
		fail "$1: exit status $2 (crash, signal or timeout): $(head -c 800 "$3")"
	fi
	if grep -q -e 'Sanitizer' -e 'runtime error:' "$3"; then
		fail "$1: sanitizer report"
		head -40 "$3"
	fi
}

# tv_json WHAT FILE CONDITION: a Python condition over the JSON object j.
tv_json() {
	local r
	r=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(bool(eval(sys.argv[2])))' \
		"$2" "$3" 2>&1)
	if [ "$r" = True ]; then
		ok "$1"
	else
		fail "$1: not ($3): $r: $(head -c 800 "$2")"
	fi
}

# tv_offloads NS IF: "tso=N gso=N gro=N" of IF, 1 = on (ETHTOOL_GTSO,
# _GGSO, _GGRO through SIOCETHTOOL: ethtool is not
# installed). A kernel TCP sender with TSO/GSO on hands the other end of a
# veth frames of several segments (up to 64 KB); an afpacket: port cuts
# them up again (gso=on, its default).
tv_offloads() {
	tv_x "$1" python3 - "$2" <<'EOF2'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, out = 0x8946, []
for name, cmd in (("tso", 0x1e), ("gso", 0x23), ("gro", 0x2b)):
    val = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
    ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(val)).ljust(40, b"\0")
    fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), SIOCETHTOOL, ifr)
    out.append("%s=%d" % (name, struct.unpack("II", val.raw[:8])[1]))
print(" ".join(out))
EOF2
}

# tv_wait_no_tso NS IF: until IF's TSO is off (at most 3 s); 0 if it is. A
# veth turns its peer's TSO off while an XDP program is attached to it, and
# only then does it hand the peer's frames to that program's NAPI path
# (drivers/net/veth.c veth_skb_is_eligible_for_gro); with TSO on they reach
# the kernel's IP stack instead, uncounted.
tv_wait_no_tso() {
	for _ in $(seq 60); do
		[[ $(tv_offloads "$1" "$2" 2>/dev/null) == tso=0* ]] && return 0
		sleep 0.05
	done
	return 1
}
