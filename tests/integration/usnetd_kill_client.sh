#!/usr/bin/env bash
# Clients that die under load, no root needed.
#
#  1. Client 1 (usnet-pktgen) sends 150000 numbered frames to client 2
#     (usnet-sink) through usnetd while client 3, a usnet-pktgen flooding
#     the uplink as fast as it can, is SIGKILLed five times mid-traffic and
#     restarted. Client 2 must get every frame; after each kill usnetd must
#     notice the hang-up, and in the end, every client gone, hold exactly
#     as many descriptors as before any client came, with every packet
#     back in its pool.
#  2. 100 cycles of: a usnet-pktgen connects and sends, SIGKILL. usnetd's
#     descriptor and mapping counts must not change and its RSS must not
#     grow by more than 1 MiB (printed: the numbers for the report).
#
# usage: usnetd_kill_client.sh BUILD_DIR [CYCLES]
set -euo pipefail
build=${1:?usage: usnetd_kill_client.sh BUILD_DIR [CYCLES]}
cycles=${2:-100}
name=usnetd_kill_client
source "$(dirname "$0")/usnetd_lib.sh"
n=150000

# ASan keeps freed memory in quarantine: keep it small so RSS says something.
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=1}
start_usnetd usnetd -U null: -i 1 -i 2 -i 3 -i 4
# No client yet: the count every client's leaving must bring it back to.
idle_fds=$(fd_count "$usnetd_pid")

# 16384-slot rings (rsize=14): 0.4 s of frames at 40 kpps, should a loaded
# machine deschedule the sink for a while (usnetd would count drops).
timeout 60 "$sink" -p "memif:$tmp/d.sock,id=2,rsize=14" -n "$n" --expect "$n" --idle-timeout 20000 \
	-q --json >"$tmp/sink.out" 2>"$tmp/sink.log" &
sink_pid=$!
bg_pids+=("$sink_pid")
wait_for 'c[2]["connected"]' 10 || fail "sink did not connect"
timeout 60 "$pktgen" -p "memif:$tmp/d.sock,id=1" -n "$n" -r 40000 --src-mac 02:75:00:00:00:01 \
	--dst-mac 02:75:00:00:00:02 -q --json >"$tmp/pktgen.out" 2>"$tmp/pktgen.log" &
gen_pid=$!
bg_pids+=("$gen_pid")
wait_for 'c[1]["connected"]' 10 || fail "pktgen did not connect"
base_fds=$(fd_count "$usnetd_pid")

for k in 1 2 3 4 5; do
	"$pktgen" -p "memif:$tmp/d.sock,id=3" --src-mac 02:75:00:00:00:03 -q -t 30 \
		2>>"$tmp/victim.log" &
	victim=$!
	wait_for 'c[3]["connected"] and c[3]["rx_frames"] > 0' 10 || fail "victim $k did not send"
	sleep 0.3
	kill -KILL "$victim"
	wait "$victim" 2>/dev/null || true
	wait_for 'not c[3]["connected"]' 5 || fail "usnetd did not notice victim $k die"
	echo "ok: victim $k killed after $(q 'c[3]["rx_frames"]') frames in total; usnetd: $(q 'c[3]["reason"]')"
done
[[ "$(q 'c[3]["reason"]')" == "Connection closed by peer" ]] || fail "reason: $(q 'c[3]["reason"]')"
wait "$gen_pid" || fail "pktgen failed: $(cat "$tmp/pktgen.out" "$tmp/pktgen.log")"
wait "$sink_pid" || fail "sink lost frames: $(cat "$tmp/sink.out")"
echo "ok: client 2 got all $n frames of client 1: $(cat "$tmp/sink.out")"
wait_for 'd["usnetd"]["connected"] == 0' 5 || fail "clients still connected"
fds=$(fd_count "$usnetd_pid")
# Every client is gone now, clients 1 and 2 too: exactly the count before
# any came (with clients 1 and 2 it was base_fds: their eventfds, memfd
# and socket).
[[ $fds -eq $idle_fds ]] || fail "usnetd holds $fds fds, $idle_fds before any client came"
(( base_fds > idle_fds )) || fail "clients 1 and 2 held no fd in usnetd ($base_fds, idle $idle_fds)"
[[ "$(q 'd["usnetd"]["pool_free"] == d["usnetd"]["pool_size"]')" == True ]] ||
	fail "packets lost from the pool: $(q 'd["usnetd"]')"
maps=$(grep -c "memfd:" "/proc/$usnetd_pid/maps" || true)
[[ $maps -eq 0 ]] || fail "usnetd still maps $maps client regions"
echo "ok: after 5 kills under load: $fds fds as before any client (with clients 1 and 2: $base_fds), no client region mapped, pool $(q 'd["usnetd"]["pool_free"]')/$(q 'd["usnetd"]["pool_size"]') free"

# 2. connect/kill cycles. usnetd logs every up and down: count the lines
# (cheaper than asking usnetctl twice a cycle).
log_count() { grep -c "interface 4 (if4) $1" "$tmp/usnetd.log" || true; }
wait_log() { # WHAT COUNT
	for _ in $(seq 200); do [[ $(log_count "$1") -ge $2 ]] && return 0; sleep 0.025; done
	return 1
}
cycle() {
	"$pktgen" -p "memif:$tmp/d.sock,id=4" --src-mac 02:75:00:00:00:04 -q -t 30 2>>"$tmp/cycle.log" &
	local p=$!
	wait_log up "$1" || fail "cycle $1: no connect"
	sleep 0.02 # under load
	kill -KILL "$p"
	wait "$p" 2>/dev/null || true
	wait_log down "$1" || fail "cycle $1: usnetd did not notice"
}
for i in 1 2 3 4 5; do cycle "$i"; done # warm up: first-use allocations
fd0=$(fd_count "$usnetd_pid") rss0=$(rss_kb "$usnetd_pid")
maps0=$(wc -l <"/proc/$usnetd_pid/maps")
t0=$(date +%s)
for i in $(seq 6 $((cycles + 5))); do cycle "$i"; done
fd1=$(fd_count "$usnetd_pid") rss1=$(rss_kb "$usnetd_pid")
maps1=$(wc -l <"/proc/$usnetd_pid/maps")
echo "measure: $cycles connect/kill cycles in $(( $(date +%s) - t0 )) s: usnetd fds $fd0 -> $fd1, RSS ${rss0} kB -> ${rss1} kB, mappings $maps0 -> $maps1, $(q 'c[4]["connects"]') connects, pool $(q 'd["usnetd"]["pool_free"]')/$(q 'd["usnetd"]["pool_size"]') free"
[[ $fd1 -eq $fd0 ]] || fail "fd leak: $fd0 -> $fd1"
[[ $maps1 -eq $maps0 ]] || fail "mapping leak: $maps0 -> $maps1"
(( rss1 - rss0 < 1024 )) || fail "RSS grew by $((rss1 - rss0)) kB"
[[ "$(q 'd["usnetd"]["pool_free"] == d["usnetd"]["pool_size"]')" == True ]] || fail "pool"
stop_usnetd
[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc"
echo "PASS: killed clients are reclaimed, others lose nothing, no fd or memory growth"
