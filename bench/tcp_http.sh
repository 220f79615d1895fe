#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# HTTP over TCP (bench/README.md, "TCP"). Not a test. Needs root
# (namespaces, veth), wrk and nginx (Debian nginx-light).
#
# wrk (the kernel's TCP, cpu 0) against, on the same veth in another
# namespace (cpu 1):
#   usnet-httpd on afpacket: (busy-polling, and with --sleep), serving
#     --file BODY;
#   nginx (master_process off: one process) on the kernel's stack serving
#     the same file at "/" (keep-alive, access_log off, sendfile).
# Both answer 200 with the same body (BODY_SIZE bytes, default 1024);
# nginx's head is longer (Server, Date, Last-Modified, ETag,
# Accept-Ranges), the per-request work it implies is part of what it does.
# The kernel's veth end has TSO/GSO/GRO off for both, as when the numbers
# in bench/README.md were taken (usnet's afpacket: no longer needs it: it
# cuts TSO super-frames itself, gso=on, docs/ports.md).
#
# Reported per run: requests/s (wrk), latency p50/p99 (wrk --latency), the
# server's CPU-seconds (getrusage) and requests per server CPU-second. The
# client is the kernel's TCP for both: on this veth path wrk's side is the
# bottleneck, so requests/s says little; per server CPU-second is the
# number to compare, and a busy-polling server spends all of its core
# whatever the load (the --sleep run shows what it needs).
#
#   sudo bench/tcp_http.sh BUILD_DIR
#
# Environment: SECS (10), ROUNDS (2), CONNS (100), BODY_SIZE (1024).
set -uo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-100}
BODY_SIZE=${BODY_SIZE:-1024}
HTTPD=$BUILD/tools/usnet-httpd
ID=$(($$ % 10000))
NK=thk$ID NU=thu$ID
S=198.18.35.2
source "$(dirname "$0")/lib.sh"
bench_init tcp_http TERM "$NK" "$NU"
command -v wrk >/dev/null || die "wrk is not installed"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed (nginx-light)"
[ -x "$HTTPD" ] || die "$HTTPD not built"

bench_netns
bench_veth "$NK" k0 "$NU" u0 198.18.35.1/24
bench_no_gso "$NK" k0
bench_no_gso "$NU" u0
mkdir -p "$WORK/www" "$WORK/nginx"
head -c "$BODY_SIZE" /dev/urandom >"$WORK/www/index.html"
cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nodelay on;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	default_type application/octet-stream;
	server {
		listen $S:80 reuseport backlog=4096;
		root $WORK/www;
		index index.html;
	}
}
EOF

# run KIND ROUND: one wrk run against one server; prints a RESULT line.
run() {
	local kind=$1 r=$2 o=$WORK/$1.$2 spid
	if [ "$kind" = nginx ]; then
		ip -n "$NU" addr replace "$S/24" dev u0
		timed_exec "$o.srv" ip netns exec "$NU" taskset -c 1 "$NGINX" -c "$WORK/nginx.conf" \
			>"$o.srv" 2>"$o.srv.err" &
		spid=$!
	else
		ip -n "$NU" addr flush dev u0
		local extra=()
		[ "$kind" = usnet-sleep ] && extra=(--sleep)
		timed_exec "$o.srv" ip netns exec "$NU" taskset -c 1 "$HTTPD" -p afpacket:u0 --ip "$S/24" \
			-l 80 --file "$WORK/www/index.html" --max-conns 4096 "${extra[@]}" -q --json \
			>"$o.srv" 2>"$o.srv.err" &
		spid=$!
	fi
	PIDS+=("$spid")
	# Ready when a request is answered (10 s at most).
	local up=0
	for _ in $(seq 100); do
		ip netns exec "$NK" curl -s -o /dev/null -m 1 "http://$S/" && { up=1; break; }
		sleep 0.1
	done
	ip -n "$NK" neigh flush dev k0
	if [ "$up" = 0 ]; then
		echo "RESULT tcp_http $kind round=$r FAILED: the server did not answer: $(tail -n 3 "$o.srv.err")"
		kill -TERM "$spid"
		wait "$spid"
		return
	fi
	ip netns exec "$NK" curl -s -o /dev/null -m 1 "http://$S/" # resolve ARP again
	local c0
	c0=$(cpu_s "$(pgrep -P "$spid" | head -n 1)" 2>/dev/null || echo 0)
	ip netns exec "$NK" taskset -c 0 wrk -t 1 -c "$CONNS" -d "${SECS}s" --latency \
		"http://$S/" >"$o.wrk" 2>&1
	kill -TERM "$spid"
	wait "$spid"
	local rps p50 p99 cpu errs reqs
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$o.wrk")
	reqs=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$o.wrk")
	p50=$(awk '$1 == "50%" { print $2 }' "$o.wrk")
	p99=$(awk '$1 == "99%" { print $2 }' "$o.wrk")
	errs=$(grep -E "Socket errors|Non-2xx" "$o.wrk" | tr -s ' ' | tr '\n' ' ')
	# The server's CPU over the wrk run: its whole life minus what it had
	# used before wrk started (start-up, the readiness probes).
	cpu=$(calc "$(tcpu "$o.srv") - $c0")
	echo "RESULT tcp_http $kind round=$r rps=$rps requests=$reqs p50=$p50 p99=$p99 server_cpu_s=$cpu req_per_cpu_s=$(calc "${reqs:-0} / ($cpu > 0 ? $cpu : 1)" 0) ${errs:+errors: $errs}"
}

echo "== tcp_http: wrk -t 1 -c $CONNS -d ${SECS}s --latency, body $BODY_SIZE bytes, ROUNDS=$ROUNDS $(where)"
for r in $(seq "$ROUNDS"); do
	run usnet "$r"
	run usnet-sleep "$r"
	run nginx "$r"
done | tee "$WORK/results"

medians_heading "$ROUNDS"
printf "   %-14s %10s %10s %10s %12s %14s\n" server "req/s" p50 p99 "server CPU-s" "req/CPU-s"
for k in usnet usnet-sleep nginx; do
	printf "   %-14s %10s %10s %10s %12s %14s\n" "$k" "$(col "$k" rps)" "$(col "$k" p50)" \
		"$(col "$k" p99)" "$(col "$k" server_cpu_s)" "$(col "$k" req_per_cpu_s)"
done
echo "RESULT tcp_http_per_cpu usnet=$(col usnet req_per_cpu_s) usnet_sleep=$(col usnet-sleep req_per_cpu_s) nginx=$(col nginx req_per_cpu_s) ratio_busy=$(ratio "$(col usnet req_per_cpu_s)" "$(col nginx req_per_cpu_s)") ratio_sleep=$(ratio "$(col usnet-sleep req_per_cpu_s)" "$(col nginx req_per_cpu_s)") rps_ratio=$(ratio "$(col usnet rps)" "$(col nginx rps)")"
