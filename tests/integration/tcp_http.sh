#!/bin/bash
# SPDX-License-Identifier: MIT
# usnet-httpd (TCP on usnet's stack, afpacket: on a veth) against unmodified
# kernel-side clients in a namespace:
#   1. --file: curl fetches the file and gets its exact bytes (cmp), twice on
#      one connection ("Re-using existing connection"), HEAD gives its
#      length and no body; 404 for another path, 405 (with Allow) for POST,
#      400 for a malformed request and 431 for an oversized head, each then
#      closed; HTTP/1.0 without keep-alive closed after its answer; three
#      requests pipelined in one write, the last with
#      "Connection: close", are answered in order and the connection ends;
#      the server's counters at SIGINT match what was asked; with
#      --max-conns 2 a third connection is answered only once one closes;
#      with --max-conns 4 and 1 s timeouts, four clients that trickle their
#      request heads (slowloris) are answered 408 and closed, so curl gets
#      its answer; a silent keep-alive client and one that never sends are
#      closed by the idle timeout; the counters say so.
#   2. --body-size (and --sleep): curl gets the pattern of tools/tcp_pattern.h (its
#      SHA-256 against Python's transcription of the generator), then wrk
#      runs WRK_SECONDS (30) with 100 connections: no socket error, no
#      non-2xx response, requests/s in the log.
#   3. examples/tcp_echo: two kernel clients get their bytes back, then FIN.
# Usage: tcp_http.sh BUILD_DIR [WRK_SECONDS]     (exit 77 = skipped)
set -u
BUILD=${1:?usage: tcp_http.sh BUILD_DIR [WRK_SECONDS]}
WRK_SECONDS=${2:-30}
. "$(dirname "$0")/tools_veth_lib.sh"
tv_init tcp_http
. "$(dirname "$0")/stack_lib.sh"
HTTPD=$T/usnet-httpd
[ -x "$HTTPD" ] || { echo "FAIL: $HTTPD is not built"; exit 1; }
for c in curl wrk cmp sha256sum; do
	command -v $c >/dev/null || { echo "FAIL: $c is not installed (scripts/install-deps.sh)"; exit 1; }
done
K=198.18.32.1 U=198.18.32.2 P=8080
st_pair th "$K"
# The veth keeps its default offloads: the kernel's TSO segments are cut
# up by the afpacket: port (gso=on).
tv_need_afpacket "$SU" "$UIF"

# httpd_start ARGS...: usnet-httpd --json on usnet's side; waits for its line.
# The afpacket: port keeps its default retire_ms (1), not the lib's 50: a
# request/response load would otherwise wait up to 50 ms per frame block
# (wrk then measures that timer); TCP retransmits what a busy machine drops.
httpd_start() {
	HOUT=$TMP/httpd.$RANDOM.out HERR=$TMP/httpd.$RANDOM.err
	tv_bg "$HOUT" "$HERR" "$SU" "$HTTPD" -p "afpacket:$UIF" --ip "$U/24" -l $P --json "$@"
	HPID=$TV_PID
	tv_wait_line "$HERR" "serving " || return 1
}
# httpd_stop: SIGINT, exit 0, no sanitizer report; the counters in $HOUT.
httpd_stop() {
	local rc
	kill -INT "$HPID"
	tv_wait "$HPID" 20
	rc=$?
	[ "$rc" -eq 0 ] || fail "usnet-httpd exit status $rc: $(tail -n 5 "$HERR")"
	tv_sane usnet-httpd "$rc" "$HERR"
}
kx() { tv_x "$SK" "$@"; }

# raw REQUEST_PY: send the bytes of the Python expression REQUEST_PY on one connection,
# read until the server closes (5 s at most); prints each response's status
# line and body length, then "closed" or "open".
raw() {
	kx python3 - "$U" "$P" "$1" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
req = eval(sys.argv[3])  # a bytes expression of this script
methods = [r.split(b" ")[0] for r in req.split(b"\r\n\r\n") if r]
s.sendall(req)
data, closed = b"", "open"
try:
    while True:
        b = s.recv(65536)
        if not b:
            closed = "closed"
            break
        data += b
except socket.timeout:
    pass
out = []
while data:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        out.append("junk %r" % data[:40])
        break
    lines = head.split(b"\r\n")
    f = dict(l.split(b": ", 1) for l in lines[1:])
    head_only = len(out) < len(methods) and methods[len(out)] == b"HEAD"
    n = 0 if head_only else int(f.get(b"Content-Length", b"0"))
    body, data = rest[:n], rest[n:]
    out.append("%s len=%d%s" % (lines[0].decode(), len(body),
                                " allow=" + f[b"Allow"].decode() if b"Allow" in f else ""))
print("; ".join(out) + "; " + closed)
EOF
}
expect() { # WHAT GOT WANT
	[ "$2" = "$3" ] && ok "$1: $2" || fail "$1: got '$2', want '$3'"
}

# --- 1. a file ----------------------------------------------------------------
head -c 307211 /dev/urandom >"$TMP/file.bin"
httpd_start --file "$TMP/file.bin" --path /file.bin --max-request 4096 || exit 1
URL=http://$U:$P/file.bin
kx curl -sS --max-time 10 -o "$TMP/got1" "$URL" 2>"$TMP/curl.err" || fail "curl: $(cat "$TMP/curl.err")"
cmp -s "$TMP/file.bin" "$TMP/got1" && ok "curl GET /file.bin: the file's 307211 bytes exactly" ||
	fail "curl GET /file.bin: $(wc -c <"$TMP/got1") bytes, not the file"
kx curl -sS -v --max-time 10 -o "$TMP/got2" -o "$TMP/got3" "$URL" "$URL?again" 2>"$TMP/curl2.err" ||
	fail "curl, two URLs: $(tail -n 3 "$TMP/curl2.err")"
if grep -q "Re-using existing connection" "$TMP/curl2.err" && [ "$(grep -c "^\* Connected to" "$TMP/curl2.err")" -eq 1 ] &&
	cmp -s "$TMP/file.bin" "$TMP/got2" && cmp -s "$TMP/file.bin" "$TMP/got3"; then
	ok "keep-alive: curl fetched the file twice on one connection"
else
	fail "keep-alive: $(grep -E "^\* (Connected|Re-using)|Connection" "$TMP/curl2.err" | head -5)"
fi
kx curl -sS -I --max-time 10 "$URL" >"$TMP/head" 2>&1 || fail "curl -I: $(cat "$TMP/head")"
if head -n 1 "$TMP/head" | grep -q "^HTTP/1.1 200 OK" && grep -qi "^Content-Length: 307211" "$TMP/head"; then
	ok "HEAD: 200 with Content-Length 307211"
else
	fail "HEAD: $(head -c 300 "$TMP/head")"
fi
expect "HEAD has no body" "$(raw 'b"HEAD /file.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"')" \
	"HTTP/1.1 200 OK len=0; closed"
expect "HTTP/1.0 without keep-alive: answered, then closed" \
	"$(raw 'b"GET /file.bin HTTP/1.0\r\n\r\n"')" "HTTP/1.1 200 OK len=307211; closed"
expect "GET /other" "$(kx curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://$U:$P/other")" 404
expect "POST" "$(raw 'b"POST /file.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"')" \
	"HTTP/1.1 405 Method Not Allowed len=19 allow=GET, HEAD; closed"
expect "a malformed request line" "$(raw 'b"GET /file.bin\r\n\r\n"')" "HTTP/1.1 400 Bad Request len=12; closed"
expect "HTTP/1.1 without Host" "$(raw 'b"GET /file.bin HTTP/1.1\r\n\r\n"')" "HTTP/1.1 400 Bad Request len=12; closed"
expect "a 5000-byte head (--max-request 4096)" \
	"$(raw 'b"GET /file.bin HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"')" \
	"HTTP/1.1 431 Request Header Fields Too Large len=32; closed"
expect "three pipelined requests, the last with Connection: close" \
	"$(raw 'b"GET /file.bin HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /file.bin?q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n"')" \
	"HTTP/1.1 200 OK len=307211; HTTP/1.1 404 Not Found len=0; HTTP/1.1 200 OK len=307211; closed"
httpd_stop
# 200: curl 1 + 2 + HEAD + raw HEAD + HTTP/1.0 + 2 pipelined; 404: curl +
# pipelined HEAD; 400: 2; 405, 431: 1.
tv_json "usnet-httpd counted every answer" "$HOUT" \
	"j['status'] == {'200': 8, '400': 2, '404': 2, '405': 1, '408': 0, '431': 1, '501': 0, '505': 0} and j['requests'] == 14 and j['conns']['accepted'] == 11 and j['conns']['errors'] == 0"

# --- 1b. --max-conns 2: a third connection waits in the backlog ---------------------
httpd_start --max-conns 2 || exit 1
if out=$(kx python3 - "$U" "$P" <<'EOF'
import socket, sys
addr = (sys.argv[1], int(sys.argv[2]))
req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
def answer(s):
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 1024:
        b = s.recv(65536)
        if not b:
            sys.exit("closed before a whole response")
        data += b
    return data.split(b"\r\n", 1)[0].decode()
socks = [socket.create_connection(addr, timeout=10) for _ in range(3)]
for s in socks:
    s.sendall(req)
first = [answer(s) for s in socks[:2]]
socks[2].settimeout(1.5)
try:
    b = socks[2].recv(1)
    sys.exit("the third connection was answered while two were open: %r" % b)
except socket.timeout:
    pass
socks[0].close()
socks[2].settimeout(10)
print("%s, %s; the third waited, then: %s" % (first[0], first[1], answer(socks[2])))
EOF
); then
	ok "--max-conns 2: $out"
else
	fail "--max-conns 2: $out"
fi
httpd_stop
tv_json "--max-conns 2: never more than 2 open" "$HOUT" "j['conns']['max_open'] == 2 and j['status']['200'] == 3"

# --- 1c. slow clients (slowloris) cannot hold every connection -------------------
# --max-conns 4, 1 s timeouts: four clients trickle a request head a byte
# every 0.2 s (for 12 s at most) and hold every slot; curl, waiting in the
# backlog, must be answered once the head timeout ends them (--max-time 10:
# the trickle outlasts it, so a server without the timeout fails here), and
# each slow client gets 408 or its connection closed. Then a keep-alive
# client that goes silent after its answer, and one that never sends a byte,
# are closed by the idle timeout.
httpd_start --max-conns 4 --head-timeout 1 --idle-timeout 1 || exit 1
if out=$(kx python3 - "$U" "$P" <<'EOF'
import select, socket, subprocess, sys, time
addr = (sys.argv[1], int(sys.argv[2]))
slow = [socket.create_connection(addr, timeout=5) for _ in range(4)]
got = {}
def trickle():
    for s in slow:
        if s in got:
            continue
        try:
            s.sendall(b"a")
        except OSError:
            got[s] = "reset"
    r, _, _ = select.select([s for s in slow if s not in got], [], [], 0.2)
    for s in r:
        try:
            b = s.recv(4096)
            got[s] = b.split(b"\r\n", 1)[0].decode() if b else "closed"
        except OSError:
            got[s] = "reset"
for s in slow:
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
t0 = time.monotonic()
while time.monotonic() - t0 < 0.6:  # every slot taken before curl comes
    trickle()
curl = subprocess.Popen(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                         "%{http_code}", "http://%s:%d/" % addr],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
t1 = time.monotonic()
while time.monotonic() - t0 < 12 and (curl.poll() is None or len(got) < 4):
    trickle()
code = curl.communicate()[0].decode().strip()
waited = time.monotonic() - t1
ends = sorted(got.get(s, "still open") for s in slow)
print("curl: %s after %.1f s; slow clients: %s" % (code, waited, ", ".join(ends)))
bad = [e for e in ends if e not in ("HTTP/1.1 408 Request Timeout", "closed", "reset")]
sys.exit(1 if code != "200" or bad else 0)
EOF
); then
	ok "--max-conns 4, four slowloris clients: $out"
else
	fail "--max-conns 4, four slowloris clients: $out"
fi
if out=$(kx python3 - "$U" "$P" <<'EOF'
import socket, sys
addr = (sys.argv[1], int(sys.argv[2]))
silent = socket.create_connection(addr, timeout=10)
ka = socket.create_connection(addr, timeout=10)
ka.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while len(data.partition(b"\r\n\r\n")[2]) < 1024:
    b = ka.recv(65536)
    if not b:
        sys.exit("keep-alive: closed before its answer")
    data += b
out = [data.split(b"\r\n", 1)[0].decode()]
for name, s in (("keep-alive", ka), ("silent", silent)):
    try:
        b = s.recv(1)
        out.append("%s: %s" % (name, "closed" if not b else "sent %r" % b))
    except socket.timeout:
        out.append("%s: still open after 10 s" % name)
    except OSError as e:
        out.append("%s: %s" % (name, e))
print("; ".join(out))
sys.exit(0 if out[1:] == ["keep-alive: closed", "silent: closed"] else 1)
EOF
); then
	ok "--idle-timeout 1: $out"
else
	fail "--idle-timeout 1: $out"
fi
httpd_stop
tv_json "slowloris and idle: 4 answered 408, 2 closed idle, 200 to curl and the keep-alive" "$HOUT" \
	"j['status']['408'] == 4 and j['status']['200'] == 2 and j['conns']['head_timeouts'] == 4 and j['conns']['idle_timeouts'] == 2 and j['conns']['timeouts'] == 6 and j['conns']['max_open'] == 4"

# --- 2. the pattern, and wrk --------------------------------------------------
httpd_start --body-size 1000 --max-conns 200 --sleep || exit 1
kx curl -sS --max-time 10 "http://$U:$P/" 2>"$TMP/curl.err" | sha256sum | cut -d' ' -f1 >"$TMP/got.sha"
want=$(python3 -c '
import hashlib, struct
M = (1 << 64) - 1
x, out = 0x75736e6574, []
for _ in range(125):
    x ^= x >> 12; x ^= (x << 25) & M; x ^= x >> 27
    out.append((x * 0x2545f4914f6cdd1d) & M)
print(hashlib.sha256(struct.pack("<125Q", *out)).hexdigest())')
expect "curl GET /: the 1000 bytes of the pattern (sha256)" "$(cat "$TMP/got.sha")" "$want"
kx timeout -k 5 $((WRK_SECONDS + 30)) wrk -t 2 -c 100 -d "${WRK_SECONDS}s" --timeout 5s "http://$U:$P/" \
	>"$TMP/wrk.out" 2>&1
rc=$?
echo "---- wrk -t 2 -c 100 -d ${WRK_SECONDS}s against usnet-httpd (afpacket:, $(basename "$BUILD")):"
sed 's/^/    /' "$TMP/wrk.out"
reqs=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$TMP/wrk.out")
rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$TMP/wrk.out")
if [ "$rc" -ne 0 ]; then
	fail "wrk exit status $rc"
elif grep -qE "Socket errors|Non-2xx" "$TMP/wrk.out"; then
	fail "wrk: $(grep -E "Socket errors|Non-2xx" "$TMP/wrk.out")"
elif [ -z "$reqs" ] || [ "$reqs" -eq 0 ] || [ -z "$rps" ]; then
	fail "wrk: no requests counted"
else
	ok "wrk: $reqs requests in ${WRK_SECONDS} s, $rps requests/s, no socket error, no non-2xx"
fi
httpd_stop
tv_json "usnet-httpd answered at least wrk's requests, all 200" "$HOUT" \
	"j['status']['200'] >= ${reqs:-1} + 1 and sum(j['status'].values()) == j['status']['200'] and j['conns']['max_open'] >= 100"

# --- 3. examples/tcp_echo.c: two kernel clients' bytes come back -------------------
ECHO=$BUILD/examples/tcp_echo
[ -x "$ECHO" ] || fail "$ECHO is not built"
tv_bg "$TMP/echo.out" "$TMP/echo.err" "$SU" "$ECHO" "afpacket:$UIF" "$U/24" "$K" 7
EPID=$TV_PID
tv_wait_line "$TMP/echo.out" "tcp_echo: $U/24, TCP port 7"
if out=$(kx python3 - "$U" <<'EOF'
import os, socket, sys
socks = [socket.create_connection((sys.argv[1], 7), timeout=10) for _ in range(2)]
data = [os.urandom(300000), os.urandom(1000)]
for s, d in zip(socks, data):
    s.sendall(d)
    s.shutdown(socket.SHUT_WR)
for s, d in zip(socks, data):
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    if got != d:
        sys.exit(f"{len(got)} bytes back of {len(d)}, different")
print("300000 and 1000 bytes echoed, then FIN")
EOF
); then
	ok "tcp_echo example: $out"
else
	fail "tcp_echo example: $out"
fi
kill -TERM "$EPID"
tv_wait "$EPID" 10
rc=$?
[ "$rc" -eq 0 ] && grep -q "^tcp_" "$TMP/echo.out" || fail "tcp_echo: exit status $rc: $(tail -n 3 "$TMP/echo.err")"
tv_sane tcp_echo "$rc" "$TMP/echo.err"

[ "$fails" -eq 0 ] || [ -z "${KEEP:-}" ] || cp -r "$TMP" /tmp/tcp_http.keep
[ "$fails" -eq 0 ] && { echo "PASS"; exit 0; }
echo "FAILED: $fails check(s)"
exit 1
