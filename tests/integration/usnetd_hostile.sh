#!/usr/bin/env bash
# usnetd against hostile clients running as nobody (the memif socket is
# opened to everyone with --socket-mode 0666), one part per hole of its
# trust boundary (usnetd_hostile.c does the attacks):
#
#  1. descriptors on every path that takes none (zero-length datagrams,
#     too many, MSG_CTRUNC, before and after INIT, the control socket):
#     usnetd's descriptor count must come back to its baseline;
#  2. client memory that can vanish: a region shrunk and sealed between
#     usnetd's checks (a bounded race) and a hugetlbfs memfd must be
#     refused, and usnetd must live;
#  3. a peer that keeps every connection slot busy, on the memif socket
#     (refused at accept, or admitted and bounded per uid) and on the
#     control socket: root must still get in, every time;
#  4. a C2S descriptor chain that never ends: usnetd must still sleep
#     (its CPU time over 3 s stays under 30 %), deliver a legitimate pair's
#     frames exactly, and disconnect a chain longer than any frame.
# After each part: usnetd alive, a legitimate pair delivers an exact count,
# and usnetd holds as many descriptors as before any client came.
#
# usage: usnetd_hostile.sh BUILD_DIR [PARTS]   PARTS: which of 1-4 (default 1234);
# USNETD_CMD=path runs another usnetd binary (usnetd_lib.sh), e.g. an old one.
# exit 77 (SKIP) if not root or no setpriv
set -euo pipefail
build=${1:?usage: usnetd_hostile.sh BUILD_DIR [PARTS]}
parts=${2:-1234}
part() { [[ $parts == *$1* ]]; }
name=usnetd_hostile
[[ $(id -u) -eq 0 ]] || { echo "SKIP: not root (needs to run clients as another user)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not found"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user 'nobody'"; exit 77; }
source "$(dirname "$0")/usnetd_lib.sh"
hostile=$build/tests/usnetd_hostile
[[ -x $hostile ]] || fail "$hostile is missing (build first)"
chmod 0755 "$tmp" # nobody must reach the sockets; their own modes decide

nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)
as_nobody() { setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups "$@"; }
# nobody_for SECS CMD...: CMD as nobody, killed after SECS.
nobody_for() { timeout "$1" setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups "${@:2}"; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=1}

alive() { kill -0 "$usnetd_pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$usnetd_pid/stat") != Z ]]; }

# legit_pair N: client 3 sends N frames to client 2, both root; client 2
# must get exactly N.
legit_pair() {
	local n=$1 gen_pid sink_pid
	timeout 60 "$sink" -p "memif:$tmp/d.sock,id=2,rsize=14" -n "$n" --expect "$n" \
		--idle-timeout 20000 -q --json >"$tmp/sink.out" 2>"$tmp/sink.log" &
	sink_pid=$!
	bg_pids+=("$sink_pid")
	wait_for 'c[2]["connected"]' 10 || fail "sink did not connect"
	timeout 60 "$pktgen" -p "memif:$tmp/d.sock,id=3" -n "$n" -r 20000 \
		--src-mac 02:75:00:00:00:03 --dst-mac 02:75:00:00:00:02 -q --json \
		>"$tmp/pktgen.out" 2>"$tmp/pktgen.log" &
	gen_pid=$!
	bg_pids+=("$gen_pid")
	wait "$gen_pid" || fail "pktgen failed: $(cat "$tmp/pktgen.out" "$tmp/pktgen.log")"
	wait "$sink_pid" || fail "sink did not get all $n frames: $(cat "$tmp/sink.out" "$tmp/sink.log")"
	echo "ok: a legitimate pair delivered all $n frames"
	wait_for 'd["usnetd"]["connected"] == 0' 5 || fail "clients still connected: $(q 'd')"
}

# after_attack BASE_FDS: usnetd alive, the pair works, descriptors back to BASE_FDS.
after_attack() {
	local fds
	alive || fail "usnetd died"
	legit_pair 5000
	fds=$(fd_count "$usnetd_pid")
	[[ $fds -eq $1 ]] || fail "usnetd holds $fds descriptors, $1 with no client"
	echo "ok: usnetd alive, $fds descriptors as with no client"
}

start_hostile_usnetd() { # LOG ARGS...: open sockets, as an attacker would want them
	start_usnetd "$@" -U null: --socket-mode 0666
	chmod 0666 "$tmp/d.ctl"
	base_fds=$(fd_count "$usnetd_pid")
}

stop_clean() { # usnetd stops, and exits 0
	stop_usnetd
	[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc"
}

# ---- 1. descriptors on every path ----
if part 1; then
	start_hostile_usnetd fds -i 1 -i 2 -i 3
	out=$(nobody_for 120 "$hostile" fds "$tmp/d.sock" 1 30 "$tmp/d.ctl") || fail "fds attack: $out"
	echo "ok: $out"
	fds=$(fd_count "$usnetd_pid")
	[[ $fds -eq $base_fds ]] || fail "descriptor leak: $base_fds before the attack, $fds after"
	echo "ok: usnetd holds $fds descriptors after the attack, $base_fds before"
	after_attack "$base_fds"
	stop_clean
fi

# ---- 2. client memory that can vanish ----
if part 2; then
	start_hostile_usnetd region -i 1 -i 2 -i 3
	rc=0; out=$(nobody_for 30 "$hostile" hugetlb "$tmp/d.sock" 1) || rc=$?
	if [[ $rc -eq 77 ]]; then
		echo "ok: this kernel has no hugetlbfs memfds, nothing to refuse ($out)"
	else
		[[ $rc -eq 3 && $out == *"Region fd is hugetlbfs, not shmem"* ]] ||
			fail "hugetlbfs region: exit $rc: $out"
		echo "ok: hugetlbfs memfd $out"
	fi
	# Bounded: 20000 tries or 15 s. Before the fix it hit in 7637 tries (ASan build).
	out=$(nobody_for 60 "$hostile" race "$tmp/d.sock" 1 20000 15) || fail "region race: $out"
	echo "ok: $out"
	after_attack "$base_fds"
	maps=$(grep -c "memfd:" "/proc/$usnetd_pid/maps" || true)
	[[ $maps -eq 0 ]] || fail "usnetd still maps $maps client regions"
	stop_clean
fi

# ---- 3. every slot taken ----
if part 3; then
	# probe_root N: root's client with the right secret comes up, N times.
	probe_root() {
		local out
		for k in $(seq "$1"); do
			out=$(timeout 10 "$peer" probe "$tmp/d.sock" 1 s3cret 2>&1) ||
				fail "root could not connect during the flood ($k): $out"
			echo "ok: root during the flood: $out"
		done
	}
	ctl_root() {
		for k in $(seq "$1"); do
			timeout 10 "$ctl" --socket "$tmp/d.ctl" stats >"$tmp/ctl.out" 2>&1 ||
				fail "root's usnetctl failed during the flood ($k): $(cat "$tmp/ctl.out")"
		done
		echo "ok: root's usnetctl answered $1 times during the flood"
	}
	# flood SOCKET CONNS TOTAL LABEL CHECK...: nobody holds CONNS connections
	# to SOCKET (TOTAL tries) while CHECK runs as root; the hold must end well.
	flood() {
		local hold_pid
		as_nobody "$hostile" hold "$1" "$2" "$3" >"$tmp/hold.out" 2>&1 &
		hold_pid=$!
		bg_pids+=("$hold_pid")
		sleep 1
		"${@:5}"
		wait "$hold_pid" || fail "hold: $(cat "$tmp/hold.out")"
		echo "ok: $4$(cat "$tmp/hold.out")"
	}
	# a. nobody may use no interface: refused at accept, never holds a slot.
	start_hostile_usnetd flood_acl -i 1,uids=0,secret=s3cret -i 2,uids=0 -i 3,uids=0
	flood "$tmp/d.sock" 12 48 "" probe_root 3
	refused=$(q 'd["usnetd"]["refused"]')
	(( refused > 48 )) || fail "usnetd refused only $refused connections of the flood"
	# b. the control socket, 16 idle connections of nobody and more.
	flood "$tmp/d.ctl" 6 32 "control socket: " ctl_root 5
	after_attack "$base_fds"
	stop_clean
	# c. nobody may use interface 4: admitted, but at most 4 pending slots.
	start_hostile_usnetd flood_uid -i 1,uids=0,secret=s3cret -i 2 -i 3 -i 4
	flood "$tmp/d.sock" 12 48 "" probe_root 3
	after_attack "$base_fds"
	stop_clean
fi

# ---- 4. a chain without end ----
if part 4; then
	start_hostile_usnetd chain -i 1 -i 2 -i 3
	as_nobody "$hostile" chain "$tmp/d.sock" 1 short 10 >"$tmp/chain.out" 2>&1 &
	chain_pid=$!
	bg_pids+=("$chain_pid")
	wait_for 'c[1]["connected"]' 10 || fail "hostile chain client did not connect"
	sleep 1
	# Two views of "does it sleep": its CPU time, and its poll loops (a
	# sleeping usnetd wakes about 10 times a second; one that spins loops
	# hundreds of thousands of times, however loaded the machine is).
	hz=$(getconf CLK_TCK)
	l0=$(q 'd["usnetd"]["loops"]')
	t0=$(awk '{print $14 + $15}' "/proc/$usnetd_pid/stat")
	sleep 3
	t1=$(awk '{print $14 + $15}' "/proc/$usnetd_pid/stat")
	l1=$(q 'd["usnetd"]["loops"]')
	echo "measure: over 3 s with an unfinished chain waiting: usnetd CPU $((t1 - t0)) ticks of $((3 * hz)), $((l1 - l0)) poll loops"
	(( (t1 - t0) * 100 < 30 * 3 * hz )) || fail "usnetd does not sleep: $((t1 - t0)) ticks in 3 s"
	(( l1 - l0 < 3000 )) || fail "usnetd does not sleep: $((l1 - l0)) poll loops in 3 s"
	legit_pair 20000
	wait "$chain_pid" || fail "hostile short chain: $(cat "$tmp/chain.out")"
	echo "ok: short unfinished chain: $(tail -n 1 "$tmp/chain.out")"
	[[ "$(q 'c[1]["violations"]')" == 0 ]] || fail "a short unfinished chain counted as a violation"
	out=$(nobody_for 30 "$hostile" chain "$tmp/d.sock" 1 long 5) || fail "long chain: $out"
	[[ $out == *"disconnected: Unfinished descriptor chain longer than a frame"* ]] ||
		fail "long chain: $out"
	echo "ok: long unfinished chain: $(tail -n 1 <<<"$out")"
	[[ "$(q 'c[1]["violations"]')" == 1 ]] || fail "violations: $(q 'c[1]')"
	after_attack "$base_fds"
	stop_clean
fi

echo "PASS (parts $parts): usnetd survives hostile clients: no descriptor leak, no SIGBUS, no lock-out, no spinning"
