#!/usr/bin/env bash
# usnetd dies under load, no root needed.
#
#  1. Client 1 (usnet-pktgen, 20 kpps) sends to client 2 (usnet-sink), and
#     client 3 watches its link (usnetd_peer watch). usnetd is SIGKILLed,
#     and started again 0.5 s later on the same socket. The clients must
#     keep running, see the link go down and reconnect (how long after
#     the restart is measured and logged, not asserted: bench/ times
#     things), and traffic must flow again: client 2's own count (the
#     sink's, which exits 0 at its time limit) covers every frame the new
#     usnetd delivered to it, many times its ring, and no more than pktgen
#     sent.
#  2. usnetd --supervise: SIGKILL the child; the supervisor starts a new
#     one (new pid) and the clients come back; SIGTERM to the supervisor
#     stops both, status 0.
#
# usage: usnetd_restart.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: usnetd_restart.sh BUILD_DIR}
name=usnetd_restart
source "$(dirname "$0")/usnetd_lib.sh"
now() { python3 -c 'import time; print("%.6f" % time.time())'; }

start_usnetd first -U null: -i 1 -i 2 -i 3
timeout 60 "$sink" -p "memif:$tmp/d.sock,id=2" -t 12 -q --json >"$tmp/sink.out" 2>"$tmp/sink.log" &
sink_pid=$!
timeout 60 "$pktgen" -p "memif:$tmp/d.sock,id=1" -t 10 -r 20000 --src-mac 02:75:00:00:00:01 \
	--dst-mac 02:75:00:00:00:02 -q --json >"$tmp/pktgen.out" 2>"$tmp/pktgen.log" &
gen_pid=$!
timeout 60 "$peer" watch "memif:$tmp/d.sock,id=3" 12 >"$tmp/watch.out" 2>&1 &
watch_pid=$!
bg_pids+=("$sink_pid" "$gen_pid" "$watch_pid")
wait_for 'd["usnetd"]["connected"] == 3 and c[2]["tx_frames"] > 1000' 10 ||
	fail "clients not connected and exchanging: $(q 'd["usnetd"]')"
before=$(q 'c[2]["tx_frames"]')
kill -KILL "$usnetd_pid"
wait "$usnetd_pid" 2>/dev/null || true
usnetd_pid=
sleep 0.5
for p in "$sink_pid" "$gen_pid" "$watch_pid"; do
	kill -0 "$p" 2>/dev/null || fail "a client died with usnetd (pid $p)"
done
grep -q "link down" "$tmp/watch.out" || fail "client 3 did not report the link down: $(cat "$tmp/watch.out")"
echo "ok: usnetd SIGKILLed after $before frames to client 2; clients alive, link down reported"
t_restart=$(now)
start_usnetd second -U null: -i 1 -i 2 -i 3
wait_for 'd["usnetd"]["connected"] == 3' 5 || fail "clients did not come back: $(q 'd["usnetd"]')"
wait_for 'c[2]["tx_frames"] > 1000' 5 || fail "traffic did not resume"
# From usnetd's log and the watcher's realtime stamp, in ms after the restart.
read -r ready_ms last_ms watch_ms < <(python3 -c "$(cat <<'PY'
# From usnetd's log (local time of day, in microseconds) and the watcher's
# realtime stamps: milliseconds from the restart to "ready", to the last
# client up, and to the watcher's link up.
import re, sys, time
log, watch, t0 = open(sys.argv[1]).read(), open(sys.argv[2]).read(), float(sys.argv[3])
lt = time.localtime(t0)
midnight = t0 - (lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (t0 % 1))
def stamp(line):
    h, m, s = re.match(r"(\d+):(\d+):([\d.]+)", line).groups()
    return midnight + int(h) * 3600 + int(m) * 60 + float(s)
lines = log.splitlines()
ready = stamp(next(l for l in lines if "ready:" in l))
ups = [stamp(l) for l in lines if re.search(r"interface \d+ \(if\d+\) up", l)]
wup = float(re.findall(r"link up realtime=([\d.]+)", watch)[-1])
ms = lambda t: round((t - t0) * 1000)
print(ms(ready), ms(max(ups)), ms(wup))
PY
)" "$tmp/second.log" "$tmp/watch.out" "$t_restart")
echo "measure: after the restart: usnetd ready at ${ready_ms} ms, all 3 clients up at ${last_ms} ms" \
	"(${watch_ms} ms for client 3's own view): reconnected $((last_ms - ready_ms)) ms after ready"
wait "$gen_pid" || fail "pktgen gave up: $(cat "$tmp/pktgen.out" "$tmp/pktgen.log")"
sink_rc=0
wait "$sink_pid" || sink_rc=$?
[[ $sink_rc == 0 ]] || fail "usnet-sink exited with $sink_rc: $(cat "$tmp/sink.out" "$tmp/sink.log")"
wait "$watch_pid" || true
# The sink has left: usnetd's count for it is final. A sink that stopped
# reading would hold at most its ring (1024 frames) of these.
read -r delivered sunk sink_stop sent < <(python3 -c '
import json, sys
s, g = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
print(sys.argv[1], s["frames"], s["stop"], g["sent"])' "$(q 'c[2]["tx_frames"]')" "$tmp/sink.out" "$tmp/pktgen.out")
echo "measure: the new usnetd delivered $delivered frames to client 2; the sink received $sunk in all (stop: $sink_stop); pktgen sent $sent"
[[ $sink_stop == time ]] || fail "the sink stopped by '$sink_stop', not at its time limit"
(( delivered > 4 * 1024 )) || fail "only $delivered frames to client 2 since the restart"
(( sunk >= delivered && sunk <= sent )) ||
	fail "the sink received $sunk frames, usnetd delivered $delivered since the restart, pktgen sent $sent"
echo "ok: traffic resumed: the sink received all $delivered frames usnetd delivered since the restart ($sunk in all)"
stop_usnetd
[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc"

# 2. --supervise.
start_usnetd supervised --supervise -U null: -i 1
timeout 30 "$peer" watch "memif:$tmp/d.sock,id=1" 8 >"$tmp/watch2.out" 2>&1 &
watch_pid=$!
bg_pids+=("$watch_pid")
wait_for 'c[1]["connected"]' 5 || fail "watcher did not connect"
child=$(q 'd["usnetd"]["pid"]')
[[ "$child" != "$usnetd_pid" ]] || fail "no child process"
kill -KILL "$child"
wait_for "d['usnetd']['pid'] != $child and c[1]['connected']" 5 ||
	fail "the supervisor did not restart usnetd: $(tail -n 3 "$tmp/supervised.log")"
echo "ok: supervisor restarted usnetd (pid $child -> $(q 'd["usnetd"]["pid"]')): $(grep -m1 'restarting in' "$tmp/supervised.log" | sed 's/.*supervise: //')"
stop_usnetd
[[ "$usnetd_rc" == 0 ]] || fail "supervisor exited with $usnetd_rc"
kill -0 "$child" 2>/dev/null && fail "old child still alive"
pgrep -f "usnetd -s $tmp/d.sock" >/dev/null && fail "a usnetd child outlived the supervisor"
[[ ! -e "$tmp/d.sock" ]] || fail "socket left behind"
wait "$watch_pid" || true
echo "PASS: clients survive usnetd's death, reconnect and receive again; --supervise restarts it"
