#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two usnet applications over TCP through usnetd (memif interfaces 1..4 on
# a null: uplink; no root needed):
#   1. usnet-tcpperf sends 16 MiB to a usnet-tcpperf server: both exit 0,
#      the server checks every byte (--verify) where the stack holds it
#      (--zero-copy: usnet_tcp_recv_peek), and both print the SHA-256
#      that Python computes of the same stream.
#      Then request/response on 4 connections at once (NewReno, no
#      Nagle, both ends sleeping when idle: --sleep): 2000 requests, percentiles, the same digests at both ends.
#   2. The receiver is killed (SIGKILL) mid-transfer: the sender's
#      retransmissions go unanswered and, with --retries 3, the connection
#      times out: it exits 1 naming the error.
#   3. The sender is killed mid-transfer: the receiver, idle, probes with
#      keepalives (--keepalive 1) and exits 1 when they go unanswered.
#   4. usnetd is unaffected: it saw both clients leave, its pool is whole,
#      usnetctl gets its counters, and a new pair on the same interfaces
#      completes a transfer.
# usage: tcp_usnetd.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: tcp_usnetd.sh BUILD_DIR}
name=tcp_usnetd
source "$(dirname "$0")/cli_lib.sh" # sane; usnetd_lib.sh's fail (it exits) replaces its fail
source "$(dirname "$0")/usnetd_lib.sh"
perf=$build/tools/usnet-tcpperf
[[ -x $perf ]] || { echo "FAIL: $perf is missing (build first)"; exit 1; }

start_usnetd usnetd -U null: -i 1 -i 2 -i 3 -i 4
host() { echo -p "memif:$tmp/d.sock,id=$1" --mac "02:75:00:00:00:0$1" --ip "198.18.27.$1/24"; }
# wait_pid PID SECONDS: its exit status in rc, or fail if it is still
# running. (Not in $(...): only this shell can wait for its child.)
wait_pid() {
	rc=0
	for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$1" 2>/dev/null && fail "process $1 still running after $2 s"
	wait "$1" || rc=$?
}
# wait_flowing LOG: until a progress line shows bytes moved (20 s at most).
wait_flowing() {
	for _ in $(seq 200); do
		grep -qE "Gbit/s, total [1-9]" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no bytes moved within 20 s: $(tail -n 3 "$1")"
}
# serve N NAME ARGS...: a usnet-tcpperf server on interface N, port 5001,
# one connection (--one-off), output in $tmp/NAME.out and .log; srv is its
# pid once it is connected to usnetd.
serve() {
	local n=$1 out=$tmp/$2
	shift 2
	# shellcheck disable=SC2046
	"$perf" $(host "$n") -l 5001 --one-off "$@" >"$out.out" 2>"$out.log" &
	srv=$!
	bg_pids+=("$srv")
	wait_for "c[$n][\"connected\"]" 10 || fail "server did not connect to usnetd"
}
# kill_peer VICTIM SURVIVOR WHAT LOG: once the SURVIVOR's LOG shows bytes
# moving, VICTIM is SIGKILLed; then the survivor must end within 50 s (its
# status in rc, from t0), sane.
kill_peer() {
	wait_flowing "$4"
	kill -KILL "$1"
	wait "$1" 2>/dev/null || true
	t0=$(date +%s)
	wait_pid "$2" 50
	sane "$3" "$rc" "$4"
}

# --- 1. a complete transfer -----------------------------------------------------
serve 1 srv1 --sha256 --verify --zero-copy -q
# shellcheck disable=SC2046
timeout -k 5 60 "$perf" $(host 2) -c 198.18.27.1:5001 -n 16M --sha256 -q >"$tmp/cli1.out" \
	2>"$tmp/cli1.log" || fail "client exit status $?: $(cat "$tmp/cli1.log")"
wait_pid "$srv" 20
[[ $rc == 0 ]] || fail "server exit status $rc: $(cat "$tmp/srv1.log")"
sane "transfer" 0 "$tmp/cli1.log"
sane "transfer" "$rc" "$tmp/srv1.log"
want=$(python3 -c '
import hashlib, struct
M = (1 << 64) - 1
x, h, buf = 0x75736e6574, hashlib.sha256(), []
for _ in range((16 << 20) // 8):
    x ^= x >> 12; x ^= (x << 25) & M; x ^= x >> 27
    buf.append((x * 0x2545f4914f6cdd1d) & M)
    if len(buf) == 65536:
        h.update(struct.pack("<65536Q", *buf)); buf = []
print(h.hexdigest())')
[[ "$(cat "$tmp/cli1.out")" == "sha256 $want" && "$(cat "$tmp/srv1.out")" == "sha256 $want" ]] ||
	fail "sha256: sender '$(cat "$tmp/cli1.out")', receiver '$(cat "$tmp/srv1.out")', Python $want"
echo "ok: 16 MiB from interface 2 to 1 through usnetd, every byte checked, sha256 $want at both ends and in Python"

# --- 1b. request/response on 4 connections at once -------------------------------------
serve 1 srv5 -m rr -s 100 --conns 4 --nodelay --sleep --sha256 -q
# shellcheck disable=SC2046
timeout -k 5 60 "$perf" $(host 2) -c 198.18.27.1:5001 -m rr -s 100 -n 50000 --conns 4 --cc newreno --sleep \
	--nodelay --sha256 --json >"$tmp/cli5.json" 2>"$tmp/cli5.log" || fail "rr client: $(cat "$tmp/cli5.log")"
wait_pid "$srv" 20
[[ $rc == 0 ]] || fail "rr server exit status $rc: $(cat "$tmp/srv5.log")"
python3 - "$tmp/cli5.json" "$tmp/srv5.out" <<'EOF' || fail "rr: $(head -c 600 "$tmp/cli5.json")"
import json, sys
j = json.load(open(sys.argv[1]))
srv = open(sys.argv[2]).read().split()
assert j["completed"] == 4 and j["failed"] == 0 and j["requests"] == 2000, j
assert 0 < j["p50_us"] <= j["p99_us"] <= j["p999_us"], j
# Each connection's responses are the stream's first 50000 bytes: one digest.
assert len(set(j["sha256"])) == 1 and len(j["sha256"]) == 4, j["sha256"]
assert srv == ["sha256", j["sha256"][0]] * 4, srv
print(f"ok: rr, 4 connections x 500 requests of 100 bytes: p50 {j['p50_us']} us, p99 {j['p99_us']} us, the same sha256 at both ends")
EOF

# --- 2. the receiver dies: the sender times out ----------------------------------
serve 1 srv2
# shellcheck disable=SC2046
"$perf" $(host 2) -c 198.18.27.1:5001 -t 60 --retries 3 -i 0.2 --json >"$tmp/cli2.out" 2>"$tmp/cli2.log" &
cli=$!
bg_pids+=("$cli")
kill_peer "$srv" "$cli" sender "$tmp/cli2.log"
grep -q "connection 0 with 198.18.27.1:5001: .*Connection timed out" "$tmp/cli2.log" && [[ $rc == 1 ]] ||
	fail "sender after its receiver died: status $rc: $(tail -n 3 "$tmp/cli2.log")"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["failed"] == 1 and j["completed"] == 0 and j["bytes"] > 0 and j["retransmits"] > 0))' \
	"$tmp/cli2.out" || fail "sender's JSON: $(head -c 400 "$tmp/cli2.out")"
echo "ok: receiver killed: the sender timed out after $(($(date +%s) - t0)) s: $(grep -o "connection 0 .*" "$tmp/cli2.log" | head -n 1)"

# --- 3. the sender dies: the receiver's keepalives go unanswered ---------------------
serve 3 srv3 --keepalive 1 -i 0.2
# shellcheck disable=SC2046
"$perf" $(host 4) -c 198.18.27.3:5001 -t 60 -q >"$tmp/cli3.out" 2>"$tmp/cli3.log" &
cli=$!
bg_pids+=("$cli")
kill_peer "$cli" "$srv" receiver "$tmp/srv3.log"
grep -q "connection 0 with 198.18.27.3:5001: receive: Connection timed out" "$tmp/srv3.log" && [[ $rc == 1 ]] ||
	fail "receiver after its sender died: status $rc: $(tail -n 3 "$tmp/srv3.log")"
echo "ok: sender killed: the receiver's keepalives ended it after $(($(date +%s) - t0)) s"

# --- 4. usnetd goes on -----------------------------------------------------------------
kill -0 "$usnetd_pid" || fail "usnetd died"
wait_for 'd["usnetd"]["connected"] == 0' 10 || fail "usnetd still counts clients: $(cat "$tmp/stats.json")"
wait_for 'd["usnetd"]["pool_free"] == d["usnetd"]["pool_size"]' 5 || fail "usnetd's pool is not whole"
echo "ok: usnetd alive, every client gone, pool whole; usnetctl: $(q '[(x["id"], x["reason"]) for x in d["clients"]]')"
serve 1 srv4 --sha256 -q
# shellcheck disable=SC2046
timeout -k 5 60 "$perf" $(host 2) -c 198.18.27.1:5001 -n 1M --sha256 -q >"$tmp/cli4.out" \
	2>"$tmp/cli4.log" || fail "new client: $(cat "$tmp/cli4.log")"
wait_pid "$srv" 20
[[ $rc == 0 && -s $tmp/cli4.out ]] && cmp -s "$tmp/cli4.out" "$tmp/srv4.out" ||
	fail "new pair: server status $rc, sha256 '$(cat "$tmp/cli4.out")' / '$(cat "$tmp/srv4.out")'"
echo "ok: a new pair on interfaces 1 and 2 moved 1 MiB: $(cat "$tmp/cli4.out")"
stop_usnetd
[[ $usnetd_rc == 0 ]] || fail "usnetd exit status $usnetd_rc"
sane usnetd "$usnetd_rc" "$tmp/usnetd.log"
echo "PASS"
