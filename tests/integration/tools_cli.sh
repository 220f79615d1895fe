#!/bin/bash
# SPDX-License-Identifier: MIT
# The command-line tools' interface, on null:/loop: ports (no root, no
# network): --help texts, argument errors (exact one-line messages, exit
# status 2 for usage and 1 for runtime errors, never a crash or a sanitizer
# report), JSON summaries, signals, and a pcap file that tshark reads back.
# Usage: tools_cli.sh BUILD_DIR
set -u

BUILD=${1:?usage: $0 BUILD_DIR}
. "$(dirname "$0")/cli_lib.sh"
cli_init tools_cli pktgen sink fwd capture echo

# expect_json1 NAME FILE CONDITION: expect_json, and the summary is one line
# (these tools print their JSON summary as a single line; the stack tools'
# checks in cli_lib.sh do not ask that).
expect_json1() {
	[ "$(wc -l <"$2")" -eq 1 ] || fail "$1: JSON is not one line: $(head -c 300 "$2")"
	expect_json "$@"
}

# --- help texts -------------------------------------------------------------
help_check() { # tool options...
	local tool=$1 status
	shift
	timeout 10 "$T/usnet-$tool" --help >"$TMP/help" 2>"$TMP/err"
	status=$?
	sane "usnet-$tool --help" $status "$TMP/err"
	[ $status -eq 0 ] || fail "usnet-$tool --help: exit status $status"
	[ -s "$TMP/err" ] && fail "usnet-$tool --help wrote to stderr"
	for opt in "$@" "PORT KINDS" "EXIT STATUS" "EXAMPLES" "null:" "loop:" "Default"; do
		grep -qF -- "$opt" "$TMP/help" || fail "usnet-$tool --help does not mention '$opt'"
	done
	# -h is the same text.
	timeout 10 "$T/usnet-$tool" -h 2>/dev/null | cmp -s - "$TMP/help" ||
		fail "usnet-$tool -h differs from --help"
}
help_check pktgen -p --port -n --count -s --size -r --rate -t --time -f --flows \
	--src-mac --dst-mac --src-ip --dst-ip --sport --dport -b --burst -q --quiet --json \
	-h --help 02:00:00:00:00:02 198.18.0.1 198.18.0.2 1024
help_check sink -p --port -n --count -t --time --idle-timeout --expect -q --quiet --json \
	-h --help
help_check fwd -p --port -t --time -b --burst -q --quiet --json -h --help
help_check capture -p --port -w --write -n --count -t --time -s --snaplen --nano -q \
	--quiet --json -h --help
help_check echo -p --port --ip --mac -u --udp -n --count -t --time -q --quiet --json -h --help \
	"RFC 826" "RFC 792" "RFC 862" malformed ignored

# --- usage errors: exit 2, one line naming the problem -------------------------
expect_err 2 "cannot open port 'bogus': spec 'bogus' has no kind" pktgen -p bogus -n 1
expect_err 2 "cannot open port 'nosuchkind:x': unknown port kind 'nosuchkind'" \
	pktgen -p nosuchkind:x -n 1
expect_err 2 "cannot open port 'null:,bogus=1': 'null:': unknown option 'bogus'" \
	pktgen -p null:,bogus=1 -n 1
# USNET_LOG sets the library's log level; a bad value is reported, not fatal.
USNET_LOG=debug timeout -k 5 30 "$T/usnet-pktgen" -p bogus -n 1 >/dev/null 2>"$TMP/err"
grep "^usnet: debug: " "$TMP/err" | grep -qF "has no kind" ||
	fail "USNET_LOG=debug: no debug line about the spec: $(cat "$TMP/err")"
USNET_LOG=loud timeout -k 5 30 "$T/usnet-pktgen" -p null: -n 1 -q >/dev/null 2>"$TMP/err"
status=$?
sane "USNET_LOG=loud usnet-pktgen" $status "$TMP/err"
[ $status -eq 0 ] && grep -qF "USNET_LOG=loud is not one of error, warning, info, debug" "$TMP/err" ||
	fail "USNET_LOG=loud: status $status, stderr: $(cat "$TMP/err")"
expect_err 2 "invalid -s '59': must be between 60 and 1514" pktgen -p null: -s 59
expect_err 2 "invalid -s '1515': must be between 60 and 1514" pktgen -p null: -s 1515
expect_err 2 "invalid -s 'abc': not a number" pktgen -p null: -s abc
expect_err 2 "invalid -n '-1': must not be negative" pktgen -p null: -n -1
expect_err 2 "invalid -n '1x': not a number" pktgen -p null: -n 1x
expect_err 2 "invalid -r '0': must be between 1 and 1000000000" pktgen -p null: -r 0
expect_err 2 "invalid -f '65536': must be between 1 and 65535" pktgen -p null: -f 65536
expect_err 2 "invalid -b '0': must be between 1 and 256" pktgen -p null: -b 0
expect_err 2 "invalid -t '0': must be more than 0" pktgen -p null: -t 0
expect_err 2 "invalid -t 'soon': not a number of seconds" pktgen -p null: -t soon
expect_err 2 "invalid --dst-mac '02:00:00:00:00': not a MAC address" \
	pktgen -p null: --dst-mac 02:00:00:00:00
expect_err 2 "invalid --src-ip '198.18.0.256': not an IPv4 address" \
	pktgen -p null: --src-ip 198.18.0.256
expect_err 2 "invalid --dport '65536': must be between 0 and 65535" pktgen -p null: --dport 65536
expect_err 2 "--sport 65000 with -f 1000 runs past UDP port 65535" \
	pktgen -p null: --sport 65000 -f 1000
expect_err 2 "missing -p SPEC" pktgen -n 1
expect_err 2 "unknown option '--bogus'" pktgen -p null: --bogus
expect_err 2 "unknown option '-x'" pktgen -p null: -x
expect_err 2 "option '--json' takes no value" pktgen -p null: --json=1
expect_err 2 "option '-s' needs a value" pktgen -p null: -s
expect_err 2 "option '--size' needs a value" pktgen -p null: --size
expect_err 2 "unexpected argument 'extra'" pktgen -p null: extra
expect_err 2 "-p given twice" pktgen -p null: -p null:

expect_err 2 "missing -p SPEC" sink -t 1
expect_err 2 "cannot open port 'nosuchkind:x': unknown port kind" sink -p nosuchkind:x
expect_err 2 "invalid --idle-timeout 'x': not a number" sink -p null: --idle-timeout x
expect_err 2 "invalid --expect '-5': must not be negative" sink -p null: --expect -5
expect_err 2 "invalid -n '-1': must not be negative" sink -p null: -n -1
expect_err 2 "unknown option '--bogus'" sink -p null: --bogus

expect_err 2 "missing -p SPEC: needs two ports, got 1" fwd -p null:
expect_err 2 "more than two -p options" fwd -p null: -p null: -p null:
expect_err 2 "cannot open port 'nosuchkind:x': unknown port kind" fwd -p null: -p nosuchkind:x
expect_err 2 "invalid -b '257': must be between 1 and 256" fwd -p null: -p null: -b 257

expect_err 2 "missing -w FILE" capture -p null:
expect_err 2 "missing -p SPEC" capture -w "$TMP/x.pcap"
expect_err 2 "invalid -s '13': must be between 14 and 262144" capture -p null: -w "$TMP/x.pcap" -s 13
expect_err 2 "--json and -w - both want stdout" capture -p null: -w - --json
expect_err 2 "cannot open port 'bogus': spec 'bogus' has no kind" capture -p bogus -w "$TMP/x.pcap"

expect_err 2 "missing -p SPEC: the port to answer on" echo --ip 198.18.0.2
expect_err 2 "missing --ip ADDR: the IPv4 address to answer for" echo -p null:
expect_err 2 "invalid --ip '198.18.0.256': not an IPv4 address" echo -p null: --ip 198.18.0.256
expect_err 2 "invalid --ip '224.0.0.1': not a unicast host address" echo -p null: --ip 224.0.0.1
expect_err 2 "invalid --ip '127.0.0.1': not a unicast host address" echo -p null: --ip 127.0.0.1
expect_err 2 "invalid --mac '01:00:5e:00:00:01': a group (multicast) address" \
	echo -p null: --ip 198.18.0.2 --mac 01:00:5e:00:00:01
expect_err 2 "invalid --mac 'zz': not a MAC address" echo -p null: --ip 198.18.0.2 --mac zz
expect_err 2 "invalid -n '-1': must not be negative" echo -p null: --ip 198.18.0.2 -n -1
expect_err 2 "option '--ip' needs a value" echo -p null: --ip
expect_err 2 "option '--udp' takes no value" echo -p null: --ip 198.18.0.2 --udp=1
expect_err 2 "unknown option '--bogus'" echo -p null: --ip 198.18.0.2 --bogus
expect_err 2 "cannot open port 'nosuchkind:x': unknown port kind" echo -p nosuchkind:x --ip 198.18.0.2

# --- runtime errors: exit 1 ----------------------------------------------------
expect_err 1 "cannot write '/nonexistent/dir/x.pcap': No such file or directory" \
	capture -p null: -w /nonexistent/dir/x.pcap
# The file is checked before the port: a bad port is not even looked at.
expect_err 1 "cannot write '/nonexistent/dir/x.pcap'" capture -p bogus -w /nonexistent/dir/x.pcap
# A port that exists as a kind but cannot be opened (no such interface).
expect_run 1 "pktgen on a missing interface" pktgen -p afpacket:tcli-nonexist0 -n 1
grep -qF "usnet-pktgen: cannot open port 'afpacket:tcli-nonexist0': " "$TMP/err" ||
	fail "pktgen on a missing interface: $(cat "$TMP/err")"
# A port that takes nothing (loop: with no reader fills up): exit 1 after 5 s.
expect_run 1 "pktgen stall" pktgen -p loop: -n 5000 -q
grep -qF "port 'loop:' took no frame for 5 s; giving up" "$TMP/err" ||
	fail "pktgen stall message: $(cat "$TMP/err")"

# --- JSON summaries --------------------------------------------------------------
expect_run 0 "pktgen -n 100000" pktgen -p null: -n 100000 --json
expect_json1 "pktgen -n 100000" "$TMP/out" \
	"j['sent'] == 100000 and j['bytes'] == 6000000 and j['stop'] == 'count' and j['tool'] == 'usnet-pktgen' and j['tx_errors'] == 0 and j['size'] == 60"
for k in tool port stop seconds sent bytes pps mbps tx_full tx_errors alloc_fail size flows rate; do
	expect_json1 "pktgen field $k" "$TMP/out" "'$k' in j"
done

# Rate limit: 2000 frames at 10k pps take at least 0.2 s (less would mean
# no limit; more is only a busy machine: logged, not asserted), exactly 2000.
expect_run 0 "pktgen -r" pktgen -p null: -n 2000 -r 10k -s 1514 -f 7 -q --json
expect_json1 "pktgen -r 10k" "$TMP/out" \
	"j['sent'] == 2000 and j['bytes'] == 2000 * 1514 and j['seconds'] > 0.19 and j['flows'] == 7"
echo "measure: pktgen -n 2000 -r 10k took $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$TMP/out") s (0.2 s at the rate)"

expect_run 0 "sink -t 1" sink -p null: -t 1 --json
expect_json1 "sink -t 1" "$TMP/out" \
	"j['stop'] == 'time' and j['seconds'] >= 1 and j['frames'] > 0 and j['frames'] == j['other'] + j['malformed'] + j['bad_csum'] + j['received']"
echo "measure: sink -t 1 stopped after $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$TMP/out") s"
for k in tool port stop seconds frames bytes pps mbps received unique lost duplicated reordered bad_csum malformed other untracked max_seq port_drops; do
	expect_json1 "sink field $k" "$TMP/out" "'$k' in j"
done
grep -qE '^usnet-sink: 1\.0 s \| rx [0-9]+ pps [0-9.]+ Mbit/s, total [0-9]+ pkts [0-9]+ B, drops 0 \| received' "$TMP/err" ||
	fail "sink: no per-second stats line: $(head -3 "$TMP/err")"

# --expect: null: frames are not test frames, so expecting 5 fails with status 1.
expect_run 1 "sink --expect" sink -p null: -t 0.2 -q --expect 5 --json
grep -qF "usnet-sink: --expect 5 failed: unique 0" "$TMP/err" || fail "sink --expect message: $(cat "$TMP/err")"
expect_json1 "sink --expect" "$TMP/out" "j['expect'] == 5 and j['expect_ok'] == False"
expect_run 0 "sink --expect 0 on an idle port" sink -p loop: -t 0.2 -q --expect 0

expect_run 0 "fwd" fwd -p null: -p loop: -t 1 -q --json
expect_json1 "fwd" "$TMP/out" \
	"j['stop'] == 'time' and j['drops'] == 0 and len(j['directions']) == 2 and all(d['rx'] == d['tx'] + d['drops'] and d['rx'] > 0 for d in j['directions']) and j['directions'][0]['from'] == 'null:'"

# fwd impairing: every frame accounted for, about 10 % lost (millions of
# frames: within a point), the seed in the summary.
expect_run 0 "fwd impairing" fwd -p null: -p loop: -t 1 -q --json --loss 10 --dup 1 --reorder 5 \
	--delay 0.1 --seed 3
expect_json1 "fwd impairing" "$TMP/out" \
	"j['seed'] == 3 and all(d['impaired'] and d['rx'] > 10000 and d['rx'] + d['impair']['duplicated'] == d['tx'] + d['drops'] + d['impair']['lost'] + d['impair']['queue_full'] + d['impair']['flushed'] and abs(d['impair']['lost'] / d['rx'] - 0.10) < 0.01 and d['impair']['duplicated'] > 0 and d['impair']['reordered'] > 0 and d['impair']['delayed'] > 0 for d in j['directions'])"

# null: frames (zeros) are nobody's: all ignored, nothing answered.
expect_run 0 "echo -t 0.5" echo -p null: --ip 198.18.0.2 -t 0.5 -q --json
expect_json1 "echo -t 0.5" "$TMP/out" \
	"j['stop'] == 'time' and j['frames'] > 0 and j['frames'] == j['ignored'] and j['icmp_replies'] == 0 and j['ip'] == '198.18.0.2' and j['tool'] == 'usnet-echo'"

# --- SIGINT and SIGTERM stop cleanly with a summary ---------------------------
for sig in INT TERM; do
	"$T/usnet-sink" -p loop: --json -q >"$TMP/out" 2>"$TMP/err" &
	pid=$!
	sleep 0.5
	kill -s $sig $pid
	# Bounded wait: it must be gone within 5 s.
	for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	if kill -0 $pid 2>/dev/null; then
		fail "sink ignored SIG$sig"
		kill -KILL $pid
	fi
	wait $pid
	status=$?
	sane "sink SIG$sig" $status "$TMP/err"
	[ $status -eq 0 ] || fail "sink after SIG$sig: exit status $status"
	expect_json1 "sink SIG$sig" "$TMP/out" "j['stop'] == 'signal'"
done
"$T/usnet-pktgen" -p null: -q >"$TMP/out" 2>"$TMP/err" &
pid=$!
sleep 0.5
kill -INT $pid
for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { fail "pktgen ignored SIGINT"; kill -KILL $pid; }
wait $pid
status=$?
sane "pktgen SIGINT" $status "$TMP/err"
grep -qF "(stopped: signal)" "$TMP/err" || fail "pktgen SIGINT summary: $(cat "$TMP/err")"

# --- capture: a pcap file that tshark and tcpdump read back -------------------
expect_run 0 "capture -n 50" capture -p null:,size=100 -n 50 -w "$TMP/c.pcap" -q --json
expect_json1 "capture -n 50" "$TMP/out" \
	"j['packets'] == 50 and j['bytes'] == 5000 and j['captured_bytes'] == 5000 and j['stop'] == 'count' and j['precision'] == 'us'"
if command -v tshark >/dev/null; then
	n=$(timeout 60 tshark -r "$TMP/c.pcap" 2>/dev/null | wc -l)
	[ "$n" -eq 50 ] || fail "tshark reads $n packets from the capture, expected 50"
	len=$(timeout 60 tshark -r "$TMP/c.pcap" -T fields -e frame.len 2>/dev/null | sort -u)
	[ "$len" = 100 ] || fail "tshark frame lengths: $len"
else
	echo "SKIP (part): tshark not installed, not reading the capture back with it"
fi
if command -v tcpdump >/dev/null; then
	n=$(timeout 60 tcpdump -r "$TMP/c.pcap" 2>/dev/null | wc -l)
	[ "$n" -eq 50 ] || fail "tcpdump reads $n packets from the capture, expected 50"
	# To stdout, nanosecond timestamps, snapped to 60 bytes.
	timeout -k 5 60 "$T/usnet-capture" -p null:,size=100 -n 20 -s 60 --nano -w - -q 2>"$TMP/err" \
		>"$TMP/s.pcap"
	sane "capture -w -" $? "$TMP/err"
	n=$(timeout 60 tcpdump -r - <"$TMP/s.pcap" 2>/dev/null | wc -l)
	[ "$n" -eq 20 ] || fail "tcpdump reads $n packets from capture -w -, expected 20"
	[ "$(od -An -tx1 -N4 "$TMP/s.pcap" | tr -d ' ')" = 4d3cb2a1 ] ||
		fail "capture --nano: not the nanosecond pcap magic"
	[ "$(stat -c %s "$TMP/s.pcap")" -eq $((24 + 20 * (16 + 60))) ] ||
		fail "capture -s 60: file size $(stat -c %s "$TMP/s.pcap")"
else
	echo "SKIP (part): tcpdump not installed"
fi

echo "tools_cli: $fails failed"
[ $fails -eq 0 ]
