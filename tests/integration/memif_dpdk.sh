#!/usr/bin/env bash
# memif interoperability with DPDK 22.11's net_memif, in dpdk-testpmd.
#
#  1. usnet memif: client  <->  dpdk-testpmd memif server (io forward, loop topology)
#  2. dpdk-testpmd memif client (io forward)  <->  usnet memif: server port
#  3. as 1, with 1000-byte frames in 256-byte buffers (chained descriptors)
#
# In each, usnet sends 100000 numbered frames (at most 256 in flight) and
# must get every one back, in order; testpmd's own counters must say it
# received and sent exactly as many. Traffic stays on a UNIX socket and
# shared memory in a temporary directory: no network devices are involved.
#
# usage: memif_dpdk.sh BUILD_DIR      exit 77 (SKIP) without testpmd or root
set -euo pipefail

build=${1:?usage: memif_dpdk.sh BUILD_DIR}
peer=$build/tests/memif_peer
n=100000

testpmd=$(command -v dpdk-testpmd || true)
[[ -n "$testpmd" ]] || { echo "SKIP: dpdk-testpmd is not installed (apt-get install dpdk-dev)"; exit 77; }
# testpmd keeps its runtime files in /var/run/dpdk, which needs root.
[[ $(id -u) -eq 0 ]] || { echo "SKIP: not root (dpdk-testpmd needs /var/run/dpdk)"; exit 77; }
[[ -x "$peer" ]] || { echo "FAIL: $peer is missing (build the tests first)"; exit 1; }

tmp=$(mktemp -d /tmp/memif_dpdk.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]+"${pids[@]}"}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do echo "---- $f"; tail -n 25 "$f"; done
	exit 1
}

# start_testpmd NAME VDEV_ARGS: io forward, one port looped onto itself,
# statistics every second; runs at most 60 s. --no-flush-rx: testpmd would
# otherwise drop what arrives before its forwarding starts, and our client
# may connect (and send) before that.
start_testpmd() {
	timeout -s INT 60 "$testpmd" -l 0-1 --no-huge -m 256 --no-pci \
		--file-prefix "memif_dpdk_$$_$1" --vdev="net_memif0,$2" -- \
		--forward-mode=io --port-topology=loop --stats-period 1 --disable-link-check --no-flush-rx \
		--nb-cores=1 --total-num-mbufs=8192 >"$tmp/$1.testpmd.log" 2>&1 &
	pids+=($!)
	tp_pid=$!
}

stop() { # PID: SIGINT, then wait at most 10 s
	kill -INT "$1" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

wait_socket() { # PATH: up to 10 s for a server to listen
	for _ in $(seq 100); do [[ -S "$1" ]] && return 0; sleep 0.1; done
	return 1
}

# The largest RX-/TX-packets testpmd printed: its periodic statistics while
# the peer was connected (net_memif forgets its counters on disconnect).
max_stat() { # LOG RX|TX
	grep -oE "$2-packets: +[0-9]+" "$1" | awk '{print $2}' | sort -n | tail -n 1
}

check_counts() { # NAME PEER_OUTPUT
	local name=$1 out=$2 rx tx
	grep -q "sent=$n received=$n bad=0 late=0 " <<<"$out" || fail "$name: usnet counted: $out"
	rx=$(max_stat "$tmp/$name.testpmd.log" RX)
	tx=$(max_stat "$tmp/$name.testpmd.log" TX)
	[[ "$rx" == "$n" && "$tx" == "$n" ]] ||
		fail "$name: testpmd counted RX $rx TX $tx, expected $n each"
	echo "PASS: $name: $out; testpmd RX $rx TX $tx"
}

# 1. usnet client -> testpmd server.
sock=$tmp/srv.sock
start_testpmd client_to_dpdk "role=server,id=0,socket=$sock,socket-abstract=no"
wait_socket "$sock" || fail "testpmd did not create $sock"
# testpmd's socket exists a moment before it knows id 0 (it refuses: "ID not
# found"); wait=1 keeps the client trying instead of failing the open.
# Linger 3 s connected so that testpmd prints its counters at least once.
out=$(timeout 60 "$peer" "memif:$sock,id=0,wait=1" loop "$n" 30 3 2>"$tmp/client_to_dpdk.peer.log") ||
	fail "client_to_dpdk: memif_peer failed: $out"
stop "$tp_pid"
check_counts client_to_dpdk "$out"

# 2. testpmd client -> usnet server.
sock=$tmp/cli.sock
timeout 60 "$peer" "memif:$sock,role=server,id=0" loop "$n" 30 3 \
	>"$tmp/dpdk_to_server.out" 2>"$tmp/dpdk_to_server.peer.log" &
peer_pid=$!
pids+=($peer_pid)
wait_socket "$sock" || fail "memif_peer did not create $sock"
start_testpmd dpdk_to_server "role=client,id=0,socket=$sock,socket-abstract=no"
wait "$peer_pid" || fail "dpdk_to_server: memif_peer failed: $(cat "$tmp/dpdk_to_server.out")"
stop "$tp_pid"
check_counts dpdk_to_server "$(cat "$tmp/dpdk_to_server.out")"
grep -q "client 'DPDK 22.11" "$tmp/dpdk_to_server.peer.log" ||
	fail "dpdk_to_server: the server did not log the DPDK client"
# 3. Chained buffers: the usnet client offers 256-byte buffers, so each
# 1000-byte frame is a chain of 4 descriptors (MEMIF_DESC_FLAG_NEXT) both
# on the way to testpmd and back.
sock=$tmp/chain.sock
start_testpmd chained "role=server,id=0,socket=$sock,socket-abstract=no"
wait_socket "$sock" || fail "testpmd did not create $sock"
out=$(timeout 60 "$peer" "memif:$sock,id=0,bsize=256,wait=1" loop "$n" 30 3 1000 \
	2>"$tmp/chained.peer.log") || fail "chained: memif_peer failed: $out"
stop "$tp_pid"
check_counts chained "$out"

echo "PASS: memif interop with $(grep -o "DPDK [0-9.]*" "$tmp/dpdk_to_server.peer.log" | head -n 1)"
