#!/usr/bin/env bash
# usnetd as an L2 switch, end to end, no root needed: three memif clients
# (ids 1, 2, 3; 3 may send from any MAC) and an uplink that is a memif:
# server port whose far end the test holds too. usnetd_peer sends unicast,
# broadcast, multicast, unknown, spoofed and looped frames from each and
# checks exactly who receives them; then usnetctl's counters (text and
# JSON) must account for every frame, and SIGTERM must tell connected
# clients "usnetd shutting down" and end usnetd with status 0.
#
# usage: usnetd_switch.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: usnetd_switch.sh BUILD_DIR}
name=usnetd_switch
source "$(dirname "$0")/usnetd_lib.sh"

# The example configuration parses (its users and groups exist everywhere).
"$usnetd" -f "$(dirname "$0")/../../daemon/usnetd.conf.example" --check >"$tmp/check.out" ||
	fail "usnetd.conf.example: $(cat "$tmp/check.out")"
# This run's configuration comes from a file, with the socket from -s.
cat >"$tmp/usnetd.conf" <<EOF
spin_us = 50   # a comment after a value
[uplink far]
spec = memif:$tmp/up.sock,role=server,id=0
[interface 1]
[interface b]
id = 2
[interface 3]
allow_any_src_mac = yes
EOF
start_usnetd usnetd -f "$tmp/usnetd.conf"
timeout 60 "$peer" switch "$tmp/d.sock" "$tmp/up.sock" >"$tmp/switch.out" 2>&1 ||
	{ cat "$tmp/switch.out"; fail "switch semantics"; }
cat "$tmp/switch.out"

# Counters (usnetd_peer decides "not received" after a 150 ms window; these
# exact counts say no frame went anywhere else, however late): client 1
# sent 6 frames, 2 from wrong source MACs, 1 to itself, client 2 sent 2
# and client 3 (any source MAC) 1; clients 1, 2 and 3
# each received exactly 5 (their unicasts and every broadcast/multicast),
# none dropped for them; the uplink sent 6 (2 filtered) and received 3.
[[ "$(q 'c[1]["rx_frames"], c[1]["src_mac_drops"], c[1]["other_drops"]')" == "(6, 2, 1)" ]] ||
	fail "client 1 counters: $(q 'c[1]')"
[[ "$(q 'c[3]["tx_frames"], c[3]["connected"]')" == "(5, False)" ]] ||
	fail "client 3 counters: $(q 'c[3]')"
[[ "$(q '[c[i]["tx_frames"] for i in (1, 2, 3)], [c[i]["tx_drops"] for i in (1, 2, 3)]')" == "([5, 5, 5], [0, 0, 0])" ]] ||
	fail "frames delivered to clients: $(q 'c')"
[[ "$(q 'c[2]["rx_frames"], c[3]["rx_frames"], c[2]["src_mac_drops"] + c[3]["src_mac_drops"]')" == "(2, 1, 0)" ]] ||
	fail "clients 2 and 3 sent: $(q 'c[2], c[3]')"
[[ "$(q 'd["uplinks"][0]["rx_frames"], d["uplinks"][0]["rx_filtered"], d["uplinks"][0]["tx_frames"]')" == "(6, 2, 3)" ]] ||
	fail "uplink counters: $(q 'd["uplinks"][0]')"
[[ "$(q 'd["usnetd"]["pool_free"] == d["usnetd"]["pool_size"]')" == True ]] ||
	fail "packets missing from the pool: $(q 'd["usnetd"]')"
"$ctl" --socket "$tmp/d.ctl" clients | tee "$tmp/clients.txt"
grep -qE '^1 +if1 +down .*02:75:00:00:00:01 .*Client closed' "$tmp/clients.txt" ||
	fail "usnetctl clients text"
"$ctl" --socket "$tmp/d.ctl" uplinks | grep -q 'memif:.*up.sock,role=server,id=0' || fail "usnetctl uplinks"
"$ctl" --socket "$tmp/d.ctl" stats >/dev/null || fail "usnetctl stats"
"$ctl" --socket "$tmp/d.ctl" --json clients | python3 -m json.tool >/dev/null || fail "clients --json"
"$ctl" --socket "$tmp/d.ctl" --json uplinks | python3 -m json.tool >/dev/null || fail "uplinks --json"
rc=0; "$ctl" --socket "$tmp/nothing.ctl" clients 2>"$tmp/err.txt" || rc=$?
[[ $rc -eq 1 ]] && grep -q "cannot connect to usnetd" "$tmp/err.txt" || fail "usnetctl without a daemon: rc $rc"

# Shutdown: a connected client is told why.
timeout 20 "$peer" hold "$tmp/d.sock" 2 15 >"$tmp/hold.out" &
hold=$!
wait_for 'c[2]["connected"]' 10 || fail "hold client did not connect"
stop_usnetd TERM
wait "$hold" || true
grep -q "disconnected: usnetd shutting down" "$tmp/hold.out" || fail "shutdown reason: $(cat "$tmp/hold.out")"
[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc after SIGTERM"
[[ ! -e "$tmp/d.sock" && ! -e "$tmp/d.ctl" ]] || fail "sockets left behind"
echo "PASS: usnetd switch semantics, counters, usnetctl, clean shutdown"
