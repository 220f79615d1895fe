#!/bin/bash
# SPDX-License-Identifier: MIT
# What a new user meets when something is wrong: each case must print one
# clear line (checked word for word) and exit non-zero, never hang or exit 0
# having done nothing. memif ports against a missing, stale, silent or
# refusing usnetd; usnetd's own bad options, uplinks and config files;
# usnetctl against no daemon or the wrong socket; over-long arguments whose
# echo must not push the reason out of the line; number suffixes.
# No network and no root needed (an afpacket case runs only as root).
# Usage: tools_errors.sh BUILD_DIR
set -u

BUILD=${1:?usage: $0 BUILD_DIR}
T=$BUILD/tools
D=$BUILD/daemon/usnetd
for bin in "$T/usnet-pktgen" "$T/usnet-sink" "$T/usnetctl" "$D"; do
	[ -x "$bin" ] || { echo "FAIL: $bin not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
TMP=$(mktemp -d /tmp/tools_errors.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]+"${pids[@]}"}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
fails=0
checks=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# expect STATUS LINE PROGRAM ARGS...: PROGRAM exits with STATUS and prints
# exactly one line on stderr, LINE. A LINE ending in '*' is a prefix (for
# text that depends on the machine). usnetd's lines carry a time stamp and
# its pid: "HH:MM:SS.us usnetd[PID]: " is taken off before comparing.
expect() {
	local want=$1 line=$2 prog=$3 status got
	shift 3
	checks=$((checks + 1))
	timeout -k 5 30 "$prog" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	status=$?
	sed -E 's/^[0-9:.]+ usnetd\[[0-9]+\]: /usnetd: /' "$TMP/err" >"$TMP/err1"
	got=$(cat "$TMP/err1")
	if [ $status -ne "$want" ]; then
		fail "$(basename "$prog") ${*:1:6}: exit status $status, expected $want; stderr: $(head -c 400 "$TMP/err")"
	elif [ "$(wc -l <"$TMP/err1")" -ne 1 ]; then
		fail "$(basename "$prog") ${*:1:6}: $(wc -l <"$TMP/err1") lines on stderr, expected 1:"
		sed 's/^/    /' "$TMP/err1" | head -5
	elif [ "${line: -1}" = '*' ] && [ "${got#"${line%?}"}" = "$got" ]; then
		fail "$(basename "$prog"): expected a line starting '${line%?}', got '$got'"
	elif [ "${line: -1}" != '*' ] && [ "$got" != "$line" ]; then
		fail "$(basename "$prog"): expected '$line', got '$got'"
	else
		echo "ok: $got"
	fi
}

# A UNIX SEQPACKET socket file: "stale" bound and closed (connect() gets
# ECONNREFUSED), "silent" listening and accepting but never answering.
unix_socket() { # MODE PATH
	python3 - "$@" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[2])
if sys.argv[1] == "silent":
    s.listen(4)
    conns = []
    t0 = time.time()
    s.settimeout(1)
    while time.time() - t0 < 60:
        try:
            conns.append(s.accept()[0])
        except socket.timeout:
            pass
PY
	pids+=($!)
	for _ in $(seq 100); do [ -S "$2" ] && return; sleep 0.05; done
	fail "python did not create $2"
}

# ---- memif: without usnetd ----
nope=$TMP/nope.sock
expect 1 "usnet-pktgen: cannot open port 'memif:$nope': memif: no usnetd (or other memif server) listening at '$nope': No such file or directory (add ,wait=1 to wait for it)" \
	"$T/usnet-pktgen" -p "memif:$nope" -n 10
expect 1 "usnet-sink: cannot open port 'memif:$nope,id=3': memif: no usnetd (or other memif server) listening at '$nope': No such file or directory (add ,wait=1 to wait for it)" \
	"$T/usnet-sink" -p "memif:$nope,id=3" -t 5
unix_socket stale "$TMP/stale.sock"
expect 1 "usnet-sink: cannot open port 'memif:$TMP/stale.sock': memif: no usnetd (or other memif server) listening at '$TMP/stale.sock': Connection refused (add ,wait=1 to wait for it)" \
	"$T/usnet-sink" -p "memif:$TMP/stale.sock" -t 5
unix_socket silent "$TMP/silent.sock"
expect 1 "usnet-sink: cannot open port 'memif:$TMP/silent.sock': memif: the server at '$TMP/silent.sock' accepted but did not complete the handshake in 5 s" \
	"$T/usnet-sink" -p "memif:$TMP/silent.sock" -t 5
expect 2 "usnet-sink: cannot open port 'memif:$nope,role=server,wait=1': memif:$nope: wait= is for role=client (a server always waits for its client)" \
	"$T/usnet-sink" -p "memif:$nope,role=server,wait=1"
expect 2 "usnet-sink: cannot open port 'memif:$nope,wait=yes': 'memif:$nope': option wait=yes is not a number in [0, 1]" \
	"$T/usnet-sink" -p "memif:$nope,wait=yes"

# wait=1: says once what it waits for, then runs (here until -t).
checks=$((checks + 1))
timeout -k 5 30 "$T/usnet-sink" -p "memif:$nope,wait=1" -t 1 -q >"$TMP/out" 2>"$TMP/err"
status=$?
n=$(grep -cxF "usnet: warning: memif:$nope: waiting for usnetd (or another memif server) at '$nope' (connect: No such file or directory)..." "$TMP/err")
if [ $status -ne 0 ] || [ "$n" -ne 1 ]; then
	fail "sink wait=1: status $status, $n waiting lines: $(cat "$TMP/err")"
else
	echo "ok: wait=1: $(head -n 1 "$TMP/err")"
fi

# wait=1 before usnetd starts: waiting, connected when it comes, a warning
# when it goes (usnetd's shutdown reason), the tool unharmed.
wlog=$TMP/wait.log
# --foreground: stopped with SIGINT below (see tv_bg in tools_veth_lib.sh).
timeout --foreground -k 5 60 "$T/usnet-sink" -p "memif:$TMP/w.sock,id=1,wait=1" -t 30 -q >/dev/null 2>"$wlog" &
spid=$!
pids+=($spid)
wait_line() { # FILE FIXED-STRING: up to 10 s
	for _ in $(seq 200); do grep -qF -- "$2" "$1" && return 0; sleep 0.05; done
	return 1
}
checks=$((checks + 1))
if wait_line "$wlog" "waiting for usnetd (or another memif server) at '$TMP/w.sock'"; then
	"$D" -s "$TMP/w.sock" -q -U null: -i 1 >"$TMP/w-usnetd.log" 2>&1 &
	wpid=$!
	pids+=($wpid)
	wait_line "$wlog" "usnet: warning: memif:$TMP/w.sock: connected to 'usnetd'" ||
		fail "wait=1: no 'connected' line after usnetd came: $(cat "$wlog")"
	kill "$wpid"
	wait "$wpid" 2>/dev/null
	wait_line "$wlog" "usnet: warning: memif:$TMP/w.sock: disconnected: usnetd shutting down; reconnecting in the background" ||
		fail "wait=1: no 'disconnected' line after usnetd left: $(cat "$wlog")"
	kill -INT "$spid"
	wait "$spid"
	status=$?
	[ $status -eq 0 ] || fail "wait=1: sink exited $status after SIGINT: $(cat "$wlog")"
	echo "ok: wait=1 before usnetd: $(grep -c . "$wlog") lines: waiting, connected, disconnected, summary"
else
	fail "wait=1: no waiting line: $(cat "$wlog")"
fi

# pktgen with wait=1 started 5.5 s before usnetd: a link that is down is
# waited for (said once), not the 5 s "took no frame" stall; then it sends.
plog=$TMP/pwait.log
timeout -k 5 60 "$T/usnet-pktgen" -p "memif:$TMP/w2.sock,id=1,wait=1" -n 100 -q --json \
	>"$TMP/pwait.json" 2>"$plog" &
ppid=$!
pids+=($ppid)
checks=$((checks + 1))
if wait_line "$plog" "usnet-pktgen: port 'memif:$TMP/w2.sock,id=1,wait=1': link is down; waiting for it to send"; then
	sleep 5.5
	"$D" -s "$TMP/w2.sock" -q -U null: -i 1 >"$TMP/w2-usnetd.log" 2>&1 &
	wpid=$!
	pids+=($wpid)
	wait "$ppid"
	status=$?
	sent=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$TMP/pwait.json" 2>/dev/null)
	if [ $status -ne 0 ] || [ "$sent" != 100 ]; then
		fail "pktgen wait=1: status $status, sent '$sent': $(cat "$plog")"
	else
		echo "ok: pktgen wait=1: waited for usnetd, then sent 100"
	fi
	kill "$wpid"
	wait "$wpid" 2>/dev/null
else
	fail "pktgen wait=1: no 'link is down' line: $(cat "$plog")"
fi

# ---- memif: against a usnetd that refuses ----
uid=$(id -u)
other=$((uid + 4242))
"$D" -s "$TMP/d.sock" -C "$TMP/d.ctl" -q -U null: -i 1,secret=pw -i 2,uids=$other -i 3 \
	>"$TMP/usnetd.log" 2>&1 &
dpid=$!
pids+=($dpid)
for _ in $(seq 200); do [ -S "$TMP/d.ctl" ] && break; sleep 0.05; done
[ -S "$TMP/d.ctl" ] || { fail "usnetd did not start: $(cat "$TMP/usnetd.log")"; exit 1; }
expect 1 "usnet-sink: cannot open port 'memif:$TMP/d.sock,id=1': memif: 'usnetd' at '$TMP/d.sock' refused interface id 1: Secret required" \
	"$T/usnet-sink" -p "memif:$TMP/d.sock,id=1" -t 5
expect 1 "usnet-sink: cannot open port 'memif:$TMP/d.sock,id=1,secret=nope': memif: 'usnetd' at '$TMP/d.sock' refused interface id 1: Incorrect secret" \
	"$T/usnet-sink" -p "memif:$TMP/d.sock,id=1,secret=nope" -t 5
expect 1 "usnet-pktgen: cannot open port 'memif:$TMP/d.sock,id=2': memif: 'usnetd' at '$TMP/d.sock' refused interface id 2: Permission denied: uid $uid gid $(id -g) may not use interface 2" \
	"$T/usnet-pktgen" -p "memif:$TMP/d.sock,id=2" -n 10
expect 1 "usnet-pktgen: cannot open port 'memif:$TMP/d.sock,id=9': memif: 'usnetd' at '$TMP/d.sock' refused interface id 9: ID not found" \
	"$T/usnet-pktgen" -p "memif:$TMP/d.sock,id=9" -n 10
# Each refused client dialled once. One that missed its refusal (usnetd
# connected and refused it within one poll of the client) dialled again
# every 100 ms, and on a loaded machine its open ended in "did not answer
# in 6 s".
checks=$((checks + 1))
st=$(python3 -c 'import json,sys; u = json.loads(sys.argv[1])["usnetd"]; print(u["accepted"], u["refused"])' \
	"$("$T/usnetctl" --socket "$TMP/d.ctl" stats --json 2>&1)" 2>&1)
if [ "$st" = "4 4" ]; then
	echo "ok: four refused clients: usnetd accepted 4 connections and refused 4"
else
	fail "four refused clients: usnetd accepted and refused '$st', expected '4 4'"
fi
# When a check of this section failed: usnetd's own account, and its
# socket's accept queue, for the next reader.
if [ "$fails" -gt 0 ]; then
	echo "usnetd's log after the refusals:"
	sed 's/^/    /' "$TMP/usnetd.log" | tail -20
	ss -xlp 2>/dev/null | grep -F "$TMP/d.sock" | sed 's/^/    /'
fi
# The right secret works (so the refusals above are about the secret).
checks=$((checks + 1))
if ! timeout 30 "$T/usnet-pktgen" -p "memif:$TMP/d.sock,id=1,secret=pw" -n 100 -q 2>"$TMP/err"; then
	fail "pktgen with the right secret: $(cat "$TMP/err")"
fi
# A second usnetd on the same socket, and usnetctl on the memif socket.
expect 1 "usnetd: error: memif socket $TMP/d.sock is in use: another usnetd (or memif server) listens there; stop it or give another -s PATH" \
	"$D" -s "$TMP/d.sock" -C "$TMP/e.ctl" -q -U null: -i 1
expect 1 "usnetctl: control socket: not an answer from a usnetd of this version (--socket names the control socket, e.g. /run/usnet/usnetd.ctl, not the memif one)" \
	"$T/usnetctl" --socket "$TMP/d.sock" clients
kill "$dpid"
wait "$dpid" 2>/dev/null

# ---- usnetctl without usnetd ----
expect 1 "usnetctl: cannot connect to usnetd at $TMP/none.ctl: No such file or directory (is usnetd running? --socket PATH)" \
	"$T/usnetctl" --socket "$TMP/none.ctl" clients
expect 2 "usnetctl: no command given: status, bind, unbind, clients, uplinks or stats (see --help)" \
	"$T/usnetctl"
expect 2 "usnetctl: unknown command 'interfaces': status, bind, unbind, clients, uplinks or stats (see --help)" \
	"$T/usnetctl" interfaces
# Options for usnetd given to a command that does not ask it were ignored.
expect 2 "usnetctl: --socket is for clients, uplinks and stats (status does not ask usnetd)" \
	"$T/usnetctl" --socket "$TMP/d.ctl" status
expect 2 "usnetctl: --all is for clients and stats" "$T/usnetctl" --all uplinks --socket "$TMP/d.ctl"
expect 2 "usnetctl: --json is for status, clients, uplinks and stats" \
	"$T/usnetctl" unbind 0000:00:05.0 --json

# ---- usnetd: options, uplinks, config ----
expect 1 "usnetd: error: uplink u0 (pci:zzzz): 'zzzz' is not a PCI address: expected DOMAIN:BUS:DEV.FN in hex, e.g. 0000:00:03.0 (see usnetctl status)" \
	"$D" -s "$TMP/x.sock" -q -u pci:zzzz
if [ "$(id -u)" = 0 ]; then
	expect 1 "usnetd: error: uplink u0 (afpacket:doesnotexist0): afpacket: interface 'doesnotexist0' does not exist" \
		"$D" -s "$TMP/x.sock" -q -u afpacket:doesnotexist0
fi
# --check once said OK to a core that only the real start then refused.
expect 2 "usnetd: core 999: usnetd may run only on CPUs *" "$D" -s "$TMP/x.sock" --check -c 999
expect 2 "usnetd: core: 99999 is not in 0..4095 (see usnetd --help)" "$D" -s "$TMP/x.sock" --check -c 99999
expect 2 "usnetd: -i 1 is given twice: give each interface once, with all its keys (-i 1,KEY=VALUE,...) (see usnetd --help)" \
	"$D" -s "$TMP/x.sock" --check -i 1 -i 1,secret=x
expect 2 "usnetd: cannot read $TMP: Is a directory (see usnetd --help)" "$D" -f "$TMP" --check
expect 2 "usnetd: cannot open $TMP/no.conf: No such file or directory (see usnetd --help)" \
	"$D" -f "$TMP/no.conf" --check
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null && id nobody >/dev/null 2>&1 &&
	runuser -u nobody -- test -x "$D"; then
	# A config file its user may not read (as root: run usnetd as nobody).
	echo "socket = $TMP/x.sock" >"$TMP/secret.conf"
	chmod 0600 "$TMP/secret.conf"
	chmod 0755 "$TMP"
	expect 2 "usnetd: cannot open $TMP/secret.conf: Permission denied (see usnetd --help)" \
		runuser -u nobody -- "$D" -f "$TMP/secret.conf" --check
fi
printf 'socket = %s/x.sock\n[interface 1]\nmac = 01:00:00:00:00:01\n' "$TMP" >"$TMP/bad.conf"
expect 2 "usnetd: $TMP/bad.conf:3: mac: 01:00:00:00:00:01 is a group (multicast) address (see usnetd --help)" \
	"$D" -f "$TMP/bad.conf" --check
long=$(head -c 10000 /dev/zero | tr '\0' a)
expect 2 "usnetd: uplink 'afpacket:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': a spec is at most 199 characters, not 10009 (see usnetd --help)" \
	"$D" -s "$TMP/x.sock" --check -u "afpacket:$long"
expect 2 "usnetd: uplink: empty spec: expected KIND:NAME, e.g. afpacket:eth0 (see usnetd --help)" \
	"$D" -s "$TMP/x.sock" --check -u ""
# --check said OK to uplinks whose spec does not even parse.
expect 2 "usnetd: uplink u0: unknown port kind 'foo' in 'foo:x' (known: null, *" \
	"$D" -s "$TMP/x.sock" --check -u foo:x
expect 2 "usnetd: uplink u1: spec 'afpacket:eth0,=x': option '=x' is not KEY=VALUE (see usnetd --help)" \
	"$D" -s "$TMP/x.sock" --check -U null: -u "afpacket:eth0,=x"

# ---- capture: a port that fails to open costs no file ----
echo "precious" >"$TMP/keep.pcap"
expect 2 "usnet-capture: cannot open port 'bogus:x': unknown port kind 'bogus' in 'bogus:x' (known: null, *" \
	"$T/usnet-capture" -p bogus:x -w "$TMP/keep.pcap"
checks=$((checks + 1))
[ "$(cat "$TMP/keep.pcap")" = precious ] || fail "capture truncated an existing file although its port failed"
expect 2 "usnet-capture: cannot open port 'bogus:x': unknown port kind 'bogus' in 'bogus:x' (known: null, *" \
	"$T/usnet-capture" -p bogus:x -w "$TMP/new.pcap"
checks=$((checks + 1))
[ ! -e "$TMP/new.pcap" ] || fail "capture left a new file behind although its port failed"
expect 1 "usnet-capture: cannot write '$TMP': Is a directory" "$T/usnet-capture" -p null: -w "$TMP"

# ---- tools: long arguments keep their reason; suffixes; source MACs ----
expect 2 "usnet-pktgen: cannot open port 'null:${long:0:95}...': spec 'null:${long:0:27}...' is longer than 200 characters" \
	"$T/usnet-pktgen" -p "null:$long"
expect 2 "usnet-pktgen: invalid -n '${long:0:100}...': not a number" "$T/usnet-pktgen" -p null: -n "$long"
expect 2 "usnet-pktgen: invalid -n '1m': not a number" "$T/usnet-pktgen" -p null: -n 1m
expect 2 "usnet-pktgen: invalid -n '1Ki': not a number" "$T/usnet-pktgen" -p null: -n 1Ki
expect 2 "usnet-pktgen: invalid --src-mac '01:00:5e:00:00:01': a group (multicast) address cannot be a source" \
	"$T/usnet-pktgen" -p null: --src-mac 01:00:5e:00:00:01
# ---- usnet-fwd's impairment options ----
F=$T/usnet-fwd
expect 2 "usnet-fwd: invalid --loss '101': 101 is not between 0 and 100" "$F" -p null: -p null: --loss 101
expect 2 "usnet-fwd: invalid --loss '1e3': not a decimal number" "$F" -p null: -p null: --loss 1e3
expect 2 "usnet-fwd: invalid --loss '5,0.5': 0.5 is not between 1 and 1e+06" "$F" -p null: -p null: --loss 5,0.5
expect 2 "usnet-fwd: invalid --loss '5,': a value after ',' is missing" "$F" -p null: -p null: --loss 5,
expect 2 "usnet-fwd: invalid --loss '5,2,3': too many values" "$F" -p null: -p null: --loss 5,2,3
expect 2 "usnet-fwd: --loss and --loss-ge exclude each other" "$F" -p null: -p null: --loss 1 --loss-ge 1,2
expect 2 "usnet-fwd: invalid --loss-ge '1': needs P,R" "$F" -p null: -p null: --loss-ge 1
expect 2 "usnet-fwd: invalid --reorder '5,2.5': GAP is a number of frames" "$F" -p null: -p null: --reorder 5,2.5
expect 2 "usnet-fwd: invalid --delay '1,2,gauss': the distribution is uniform or normal" \
	"$F" -p null: -p null: --delay 1,2,gauss
expect 2 "usnet-fwd: invalid --delay '20000': 20000 is not between 0 and 10000" "$F" -p null: -p null: --delay 20000
expect 2 "usnet-fwd: invalid --dir '0>1': both, 0 or 1" "$F" -p null: -p null: --dir '0>1'
expect 2 "usnet-fwd: invalid --queue '0': must be between 1 and 1048576" "$F" -p null: -p null: --queue 0
expect 2 "usnet-fwd: invalid --rate '10': must be between 1000 and 1000000000000" "$F" -p null: -p null: --rate 10
expect 2 "usnet-fwd: --seed needs an impairment option (--loss, --loss-ge, --dup, --reorder, --delay, --rate)" \
	"$F" -p null: -p null: --seed 4

# 1K and 1k are both 1000 (decimal, as docs/tools.md says).
for n in 1K 1k; do
	checks=$((checks + 1))
	sent=$(timeout 30 "$T/usnet-pktgen" -p null: -n $n -q --json 2>"$TMP/err" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["sent"])')
	[ "$sent" = 1000 ] || fail "-n $n sent '$sent', expected 1000: $(cat "$TMP/err")"
done

echo "$checks checks, $fails failed"
[ $fails -eq 0 ] && echo PASS
exit $((fails > 0))
