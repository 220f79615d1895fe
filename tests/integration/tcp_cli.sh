#!/bin/bash
# SPDX-License-Identifier: MIT
# The TCP tools' interface (usnet-tcpperf, usnet-httpd), no root and no
# network: --help, argument errors (one line naming the problem, exit 2),
# a file usnet-httpd cannot serve (exit 1), and runs on a loop: port, where
# nobody answers (the stack drops its own frames as eth_own_src, so ARP
# never resolves): a client's connect fails with a clear line and exit 1, a
# one-off server that saw no connection exits 1, a plain server and
# usnet-httpd stopped by -t or SIGINT exit 0 with their JSON summaries;
# and rr between two usnet-tcpperf on a memif wire (server end the memif
# server): the same -s completes, -s differing fails at both ends (exit 1)
# with a line naming the -s to check, after --rr-timeout 1.
# Usage: tcp_cli.sh BUILD_DIR
set -u
BUILD=${1:?usage: $0 BUILD_DIR}
. "$(dirname "$0")/cli_lib.sh"
cli_init tcp_cli tcpperf httpd

for tool in tcpperf httpd; do
	"$T/usnet-$tool" --help >"$TMP/help" 2>"$TMP/err"
	st=$?
	if [ $st -eq 0 ] && grep -q "^NAME" "$TMP/help" && grep -q "^PORT KINDS" "$TMP/help" &&
		grep -q "^EXIT STATUS" "$TMP/help" && grep -q -- "--ip ADDR\[/PREFIX\]" "$TMP/help" &&
		grep -q -- "-l, --listen PORT" "$TMP/help" && [ ! -s "$TMP/err" ]; then
		ok "usnet-$tool --help"
	else
		fail "usnet-$tool --help: status $st"
	fi
	expect_err 2 "missing -p SPEC" "$tool" --ip 198.18.0.2 -l 80
	expect_err 2 "missing --ip ADDR[/PREFIX]" "$tool" -p loop: -l 80
	expect_err 2 "invalid -l '0': must be between 1 and 65535" "$tool" -p loop: --ip 198.18.0.2 -l 0
	expect_err 2 "invalid -l 'http': not a number" "$tool" -p loop: --ip 198.18.0.2 -l http
	expect_err 2 "unknown option '--bogus'" "$tool" --bogus
	expect_err 2 "cannot open port 'nosuchkind:x'" "$tool" -p nosuchkind:x --ip 198.18.0.2 -l 80
done

P="-p loop: --ip 198.18.0.2"
# shellcheck disable=SC2086
{
	expect_err 2 "missing -l PORT (server) or -c DEST:PORT (client)" tcpperf $P
	expect_err 2 "-l and -c: give one (server or client)" tcpperf $P -l 5001 -c 198.18.0.1:5001
	expect_err 2 "invalid -c '198.18.0.1': not ADDR:PORT" tcpperf $P -c 198.18.0.1
	expect_err 2 "invalid -c '198.18.0.1:0': port must be between 1 and 65535" tcpperf $P -c 198.18.0.1:0
	expect_err 2 "invalid -m 'both': send, recv or rr" tcpperf $P -c 198.18.0.1:5001 -m both
	expect_err 2 "invalid -n '0': must be between 1 and" tcpperf $P -c 198.18.0.1:5001 -n 0
	expect_err 2 "invalid -n '1T': not a number" tcpperf $P -c 198.18.0.1:5001 -n 1T
	expect_err 2 "invalid -s '2M': must be between 1 and 1048576" tcpperf $P -c 198.18.0.1:5001 -m rr -s 2M
	expect_err 2 "-n 100 is not a multiple of -s 64 (whole requests)" tcpperf $P -c 198.18.0.1:5001 -m rr -n 100
	expect_err 2 "-n with -m rr is for the client" tcpperf $P -l 5001 -m rr -n 64
	expect_err 2 "invalid --cc 'bbr': cubic or newreno" tcpperf $P -c 198.18.0.1:5001 --cc bbr
	expect_err 2 "invalid --sndbuf '1k': must be between 4096 and 1073741824" tcpperf $P -c 198.18.0.1:5001 --sndbuf 1k
	expect_err 2 "invalid --conns '0': must be between 1 and 100000" tcpperf $P -l 5001 --conns 0
	expect_err 2 "--one-off is for the server (-l)" tcpperf $P -c 198.18.0.1:5001 --one-off
	expect_err 2 "invalid -i '0': " tcpperf $P -c 198.18.0.1:5001 -i 0
	expect_err 2 "invalid --retries '0': must be between 1 and 100" tcpperf $P -c 198.18.0.1:5001 --retries 0
	expect_err 2 "--file and --body-size: give one" httpd $P --file /etc/hostname --body-size 10
	expect_err 2 "invalid --body-size '2G': must be between 0 and 1073741824" httpd $P --body-size 2G
	expect_err 2 "invalid --path 'index.html': a path like /index.html" httpd $P --path index.html
	expect_err 2 "invalid --max-request '100': must be between 256 and 1048576" httpd $P --max-request 100
	expect_err 2 "invalid --max-conns '0': must be between 1 and 100000" httpd $P --max-conns 0
	expect_err 1 "cannot serve --file '$TMP/none': No such file or directory" httpd $P --file "$TMP/none"
	expect_err 1 "cannot serve --file '$TMP': not a regular file" httpd $P --file "$TMP"
}

# A client nobody answers: ARP fails (3 probes, 1 s apart), and the next
# SYN retry ends the connect with EHOSTUNREACH (about 7 s in), well before
# the -t stop.
timeout -k 5 40 "$T/usnet-tcpperf" $P -c 198.18.0.1:5001 -n 1M -t 25 -q --json >"$TMP/c.json" 2>"$TMP/c.err"
st=$?
sane "client to nobody" $st "$TMP/c.err"
if [ $st -eq 1 ] && grep -q "connection 0 with 198.18.0.1:5001: connect: No route to host" "$TMP/c.err"; then
	ok "client to nobody: exit 1, '$(head -n 1 "$TMP/c.err")'"
else
	fail "client to nobody: status $st, stderr: $(head -c 300 "$TMP/c.err")"
fi
expect_json "client to nobody: JSON says failed" "$TMP/c.json" \
	"j['conns'] == 1 and j['completed'] == 0 and j['failed'] == 1 and j['error'].startswith('connection 0: connect: ') and j['bytes'] == 0"

# Servers with nobody coming: -t ends a plain one (0), a one-off one fails (1).
timeout -k 5 30 "$T/usnet-tcpperf" $P -l 5001 -t 0.5 -q --json >"$TMP/s.json" 2>"$TMP/s.err"
st=$?
sane "server, -t 0.5" $st "$TMP/s.err"
[ $st -eq 0 ] && [ ! -s "$TMP/s.err" ] && ok "server, -t 0.5, no connection: exit 0" ||
	fail "server, -t 0.5: status $st: $(head -c 300 "$TMP/s.err")"
expect_json "server JSON" "$TMP/s.json" "j['role'] == 'server' and j['mode'] == 'recv' and j['conns'] == 0 and j['stop'] == 'time'"
timeout -k 5 30 "$T/usnet-tcpperf" $P -l 5001 -t 0.5 --one-off -q >"$TMP/s1.out" 2>"$TMP/s1.err"
st=$?
sane "one-off server, -t 0.5" $st "$TMP/s1.err"
if [ $st -eq 1 ] && grep -qx "usnet-tcpperf: 0 of 1 connections completed (stopped: time)" "$TMP/s1.err"; then
	ok "one-off server, -t 0.5, no connection: exit 1, '$(tail -n 1 "$TMP/s1.err")'"
else
	fail "one-off server, -t 0.5: status $st: $(head -c 300 "$TMP/s1.err")"
fi

# rr between two usnet-tcpperf on a memif wire of their own (the server
# end is the memif server; no usnetd, no root): with the same -s both
# complete (exit 0); with -s differing, the end left waiting for a whole
# message fails after --rr-timeout 1 and the other names its side of it,
# both exit 1 (before, both waited for ever: the timeout below killed them).
# rr_pair NAME SERVER_S CLIENT_S: the server's and client's status in
# $srv_st $cli_st, their stderr in $TMP/NAME.s.err, .c.err, JSON in .json.
rr_pair() {
	local n=$1 sock=$TMP/$1.sock pid
	timeout -k 5 30 "$T/usnet-tcpperf" -p "memif:$sock,role=server,id=0" --mac 02:00:00:00:00:01 \
		--ip 198.18.0.1/24 -l 5001 -m rr -s "$2" --one-off --rr-timeout 1 -q --json \
		>"$TMP/$n.s.json" 2>"$TMP/$n.s.err" &
	pid=$!
	timeout -k 5 30 "$T/usnet-tcpperf" -p "memif:$sock,id=0,wait=1" --mac 02:00:00:00:00:02 \
		--ip 198.18.0.2/24 -c 198.18.0.1:5001 -m rr -s "$3" -n $((10 * $3)) --rr-timeout 1 -q \
		--json >"$TMP/$n.c.json" 2>"$TMP/$n.c.err"
	cli_st=$?
	wait $pid
	srv_st=$?
	sane "rr $n, server" $srv_st "$TMP/$n.s.err"
	sane "rr $n, client" $cli_st "$TMP/$n.c.err"
}
rr_pair same 64 64
if [ $srv_st -eq 0 ] && [ $cli_st -eq 0 ]; then
	ok "rr, -s 64 at both ends over memif: both exit 0"
else
	fail "rr, -s 64 at both ends: server $srv_st, client $cli_st: $(cat "$TMP/same.s.err" "$TMP/same.c.err" | head -c 400)"
fi
expect_json "rr, -s 64 at both ends: 10 requests answered" "$TMP/same.c.json" "j['completed'] == 1 and j['requests'] == 10"
for sizes in "100 64" "64 100"; do
	read -r ss cs <<<"$sizes"
	rr_pair "s$ss-c$cs" "$ss" "$cs"
	if [ $srv_st -eq 1 ] && [ $cli_st -eq 1 ] &&
		grep -qF "is the server's -s $cs too?" "$TMP/s$ss-c$cs.c.err" &&
		grep -qF "is the client's -s $ss too?" "$TMP/s$ss-c$cs.s.err"; then
		ok "rr, server -s $ss, client -s $cs: both exit 1; client: '$(tail -n 1 "$TMP/s$ss-c$cs.c.err" | sed 's/.*5001: //')'; server: '$(tail -n 1 "$TMP/s$ss-c$cs.s.err" | sed 's/.*5001: //')'"
	else
		fail "rr, server -s $ss, client -s $cs: server $srv_st, client $cli_st: $(cat "$TMP/s$ss-c$cs.s.err" "$TMP/s$ss-c$cs.c.err" | head -c 600)"
	fi
	expect_json "rr, server -s $ss, client -s $cs: the client's JSON says failed" "$TMP/s$ss-c$cs.c.json" \
		"j['completed'] == 0 and j['failed'] == 1 and 'too?' in j['error']"
done
expect_err 2 "--rr-timeout is for -m rr" tcpperf $P -c 198.18.0.1:5001 --rr-timeout 1

# usnet-httpd: -t ends it (0), and so does SIGINT.
timeout -k 5 30 "$T/usnet-httpd" $P -l 8080 -t 0.5 -q --json >"$TMP/h.json" 2>"$TMP/h.err"
st=$?
sane "httpd -t 0.5" $st "$TMP/h.err"
[ $st -eq 0 ] && [ ! -s "$TMP/h.err" ] && ok "usnet-httpd -t 0.5: exit 0" || fail "usnet-httpd -t 0.5: status $st: $(head -c 300 "$TMP/h.err")"
expect_json "usnet-httpd JSON" "$TMP/h.json" "j['requests'] == 0 and j['conns']['accepted'] == 0 and j['body_bytes'] == 1024 and j['path'] == '/'"
# --foreground: a SIGINT from timeout(1) would be followed by a SIGCONT that
# can hang LeakSanitizer's exit check (see tv_bg in tools_veth_lib.sh).
timeout --foreground -k 5 30 "$T/usnet-httpd" $P -l 8080 >"$TMP/h2.out" 2>"$TMP/h2.err" &
pid=$!
for _ in $(seq 100); do grep -q "serving " "$TMP/h2.err" && break; sleep 0.1; done
kill -INT $pid
wait $pid
st=$?
sane "httpd SIGINT" $st "$TMP/h2.err"
if [ $st -eq 0 ] && grep -q "^usnet-httpd: 0 requests in .*0 accepted" "$TMP/h2.err"; then
	ok "usnet-httpd SIGINT: exit 0, counters: $(tail -n 1 "$TMP/h2.err" | cut -c1-80)..."
else
	fail "usnet-httpd SIGINT: status $st: $(head -c 400 "$TMP/h2.err")"
fi

[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
