#!/bin/bash
# SPDX-License-Identifier: MIT
# The stack tools' interface (usnet-ping, usnet-udpecho, usnet-udpperf), no
# root and no network: --help, argument errors (one line naming the
# problem, exit 2), a spec or address the library refuses (exit 2), runs on
# a loop: port (everything sent comes back: the stack hears its own frames
# and drops them as eth_own_src, so nobody answers) with their JSON
# summaries and exit statuses: udpecho 0 (stopped by -t), ping and udpperf
# 1 (no reply), SIGINT ending udpecho with status 0.
# Usage: stack_cli.sh BUILD_DIR
set -u
BUILD=${1:?usage: $0 BUILD_DIR}
. "$(dirname "$0")/cli_lib.sh"
cli_init stack_cli ping udpecho udpperf

# The positional argument each tool takes.
declare -A pos=([ping]=198.18.0.1 [udpecho]= [udpperf]=198.18.0.1:7)
for tool in ping udpecho udpperf; do
	d=${pos[$tool]}
	"$T/usnet-$tool" --help >"$TMP/help" 2>"$TMP/err"
	st=$?
	if [ $st -eq 0 ] && grep -q "^NAME" "$TMP/help" && grep -q "^PORT KINDS" "$TMP/help" &&
		grep -q "^EXIT STATUS" "$TMP/help" && grep -q -- "--ip ADDR\[/PREFIX\]" "$TMP/help" &&
		[ ! -s "$TMP/err" ]; then
		ok "usnet-$tool --help"
	else
		fail "usnet-$tool --help: status $st"
	fi
	expect_err 2 "missing -p SPEC" "$tool" --ip 198.18.0.2 $d
	expect_err 2 "missing --ip ADDR[/PREFIX]" "$tool" -p loop: $d
	expect_err 2 "invalid --ip '198.18.0.300'" "$tool" -p loop: --ip 198.18.0.300 $d
	expect_err 2 "invalid --ip prefix '32': must be between 1 and 31" "$tool" -p loop: --ip 198.18.0.2/32 $d
	expect_err 2 "invalid --gw: not in the subnet of --ip (/24)" "$tool" -p loop: --ip 198.18.0.2 --gw 198.18.1.1 $d
	expect_err 2 "invalid --mac '01:00:00:00:00:01': a group (multicast) address" "$tool" -p loop: --ip 198.18.0.2 --mac 01:00:00:00:00:01 $d
	expect_err 2 "invalid --mtu '100': must be between 576 and 65535" "$tool" -p loop: --ip 198.18.0.2 --mtu 100 $d
	expect_err 2 "unknown option '--bogus'" "$tool" --bogus
	expect_err 2 "cannot open port 'nosuchkind:x'" "$tool" -p nosuchkind:x --ip 198.18.0.2 -t 1 $d
	expect_err 2 "cannot add 224.0.0.1/24 on 'loop:'" "$tool" -p loop: --ip 224.0.0.1 -t 1 $d
done
expect_err 2 "missing DEST: the address to ping" ping -p loop: --ip 198.18.0.2
expect_err 2 "invalid DEST 'nowhere'" ping -p loop: --ip 198.18.0.2 nowhere
expect_err 2 "invalid -s '70000': must be between 8 and 65499" ping -p loop: --ip 198.18.0.2 -s 70000 1.2.3.4
expect_err 2 "invalid -i '0.00001': at least 0.0001" ping -p loop: --ip 198.18.0.2 -i 0.00001 1.2.3.4
expect_err 2 "missing DEST:PORT: the echo server" udpperf -p loop: --ip 198.18.0.2
expect_err 2 "invalid DEST:PORT '198.18.0.1': not ADDR:PORT" udpperf -p loop: --ip 198.18.0.2 198.18.0.1
expect_err 2 "invalid DEST:PORT '198.18.0.1:0': port must be between 1 and 65535" udpperf -p loop: --ip 198.18.0.2 198.18.0.1:0
expect_err 2 "invalid -m 'fast': pingpong or throughput" udpperf -p loop: --ip 198.18.0.2 -m fast 1.2.3.4:5
expect_err 2 "invalid -s '8': must be between 16 and 65507" udpperf -p loop: --ip 198.18.0.2 -s 8 1.2.3.4:5
expect_err 2 "invalid -w '0': must be between 1 and 4096" udpperf -p loop: --ip 198.18.0.2 -w 0 1.2.3.4:5
expect_err 2 "unexpected argument 'extra'" udpecho -p loop: --ip 198.18.0.2 extra
expect_err 2 "invalid -P '0': must be between 1 and 65535" udpecho -p loop: --ip 198.18.0.2 -P 0

# --- runs on loop: --------------------------------------------------------------
timeout -k 5 30 "$T/usnet-udpecho" -p loop: --ip 198.18.0.2/24 -t 0.5 -q --json >"$TMP/echo.json" 2>"$TMP/err"
st=$?
sane "usnet-udpecho on loop:" $st "$TMP/err"
[ $st -eq 0 ] || fail "usnet-udpecho on loop: exit $st"
expect_json "usnet-udpecho -t 0.5: stop time, its gratuitous ARP heard back as eth_own_src" "$TMP/echo.json" \
	'j["stop"] == "time" and j["datagrams"] == 0 and j["stack"]["arp_tx_gratuitous"] == 1 and j["stack"]["eth_own_src"] == 1 and j["port_stats"]["tx_packets"] == 1'
timeout -k 5 30 "$T/usnet-ping" -p loop: --ip 198.18.0.2/24 -c 2 -i 0.1 -W 0.3 -q --json 198.18.0.1 \
	>"$TMP/ping.json" 2>"$TMP/err"
st=$?
sane "usnet-ping on loop:" $st "$TMP/err"
[ $st -eq 1 ] && ok "usnet-ping without a reply: exit 1" || fail "usnet-ping without a reply: exit $st"
expect_json "usnet-ping JSON: 2 sent, 0 received, 100% loss" "$TMP/ping.json" \
	'j["transmitted"] == 2 and j["received"] == 0 and j["loss_percent"] == 100 and j["rtt_us"]["p50"] == 0 and j["stop"] == "count"'
timeout -k 5 30 "$T/usnet-udpperf" -p loop: --ip 198.18.0.2/24 -n 2 -q --json 198.18.0.1:7 \
	>"$TMP/perf.json" 2>"$TMP/err"
st=$?
sane "usnet-udpperf on loop:" $st "$TMP/err"
[ $st -eq 1 ] && ok "usnet-udpperf without an echo: exit 1" || fail "usnet-udpperf without an echo: exit $st"
expect_json "usnet-udpperf JSON: 2 sent, 2 lost" "$TMP/perf.json" \
	'j["sent"] == 2 and j["received"] == 0 and j["lost"] == 2 and j["mode"] == "pingpong" and j["error"] is None'
# SIGUSR1 prints the counters and goes on; SIGINT ends it with status 0.
"$T/usnet-udpecho" -p loop: --ip 198.18.0.2/24 -t 30 --json >"$TMP/echo.json" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do grep -q "echoing UDP port 7" "$TMP/err" && break; sleep 0.1; done
kill -USR1 $pid
for _ in $(seq 100); do [ -s "$TMP/echo.json" ] && break; sleep 0.1; done
kill -INT $pid
wait $pid
st=$?
sane "usnet-udpecho SIGUSR1/SIGINT" $st "$TMP/err"
if [ $st -eq 0 ] && [ "$(wc -l <"$TMP/echo.json")" -eq 2 ] &&
	head -n 1 "$TMP/echo.json" | grep -q '"stop":"running"' && tail -n 1 "$TMP/echo.json" | grep -q '"stop":"signal"'; then
	ok "usnet-udpecho: SIGUSR1 printed a running summary, SIGINT the final one, exit 0"
else
	fail "usnet-udpecho SIGUSR1/SIGINT: status $st, output: $(cat "$TMP/echo.json")"
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
