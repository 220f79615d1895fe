#!/usr/bin/env bash
# usnetd's access control, with clients running as root and as nobody:
#  - the memif socket's file mode (default 0660) and owner (--socket-owner);
#  - the per-interface uid/gid allow-list (SO_PEERCRED);
#  - the memif secret; an id nobody serves;
#  - the control socket: mode 0600, and root/usnetd's uid only (SO_PEERCRED).
# Every refused client must get its answer (a DISCONNECT with the reason,
# or EACCES from connect()), never hang (each probe is bounded by 10 s; how
# long the answer took is logged, not asserted: bench/ times things).
#
# usage: usnetd_acl.sh BUILD_DIR      exit 77 (SKIP) if not root or no setpriv
set -euo pipefail
build=${1:?usage: usnetd_acl.sh BUILD_DIR}
name=usnetd_acl
[[ $(id -u) -eq 0 ]] || { echo "SKIP: not root (needs to run clients as another user)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) not found"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user 'nobody'"; exit 77; }
source "$(dirname "$0")/usnetd_lib.sh"
chmod 0755 "$tmp" # nobody must reach the sockets; their own modes decide

nobody_uid=$(id -u nobody) nobody_gid=$(id -g nobody)
as_nobody() { setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups "$@"; }

# probe WHO ID [SECRET] EXPECT_RC PATTERN: usnetd_peer probe, checking the
# verdict and its text.
probe() {
	local who=$1 id=$2 secret=$3 want=$4 pat=$5 out rc=0 ms
	if [[ $who == nobody ]]; then
		out=$(timeout 10 setpriv --reuid="$nobody_uid" --regid="$nobody_gid" --clear-groups \
			"$peer" probe "$tmp/d.sock" "$id" $secret 2>&1) || rc=$?
	else
		out=$(timeout 10 "$peer" probe "$tmp/d.sock" "$id" $secret 2>&1) || rc=$?
	fi
	[[ $rc -eq $want ]] || fail "$who id $id: exit $rc, expected $want: $out"
	grep -qE -- "$pat" <<<"$out" || fail "$who id $id: '$out' lacks /$pat/"
	echo "ok: $who id $id ${secret:+(secret '$secret') }-> $out"
}

# 1. Default socket mode 0660 root:root: nobody cannot even connect.
start_usnetd default -U null: -i 1
[[ $(stat -c %a "$tmp/d.sock") == 660 ]] || fail "socket mode $(stat -c %a "$tmp/d.sock"), expected 660"
[[ $(stat -c %a "$tmp/d.ctl") == 600 ]] || fail "control socket mode $(stat -c %a "$tmp/d.ctl")"
probe nobody 1 "" 3 "refused: connect: Permission denied"
probe root 1 "" 0 "^up"
# The control socket: nobody cannot open it; opened up by hand, usnetd
# still refuses (SO_PEERCRED).
rc=0; as_nobody "$ctl" --socket "$tmp/d.ctl" clients >"$tmp/ctl.out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "Permission denied" "$tmp/ctl.out" || fail "nobody read the control socket: $(cat "$tmp/ctl.out")"
chmod 0666 "$tmp/d.ctl"
rc=0; as_nobody "$ctl" --socket "$tmp/d.ctl" stats >"$tmp/ctl.out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] && grep -q "usnetd refused the request: Permission denied" "$tmp/ctl.out" ||
	fail "usnetd answered nobody: $(cat "$tmp/ctl.out")"
echo "ok: control socket: mode 600, nobody refused by usnetd too"
stop_usnetd

# 2. Socket open to all (0666): the allow-lists and secrets decide.
start_usnetd lists -U null: --socket-mode 0666 --socket-owner nobody:nogroup \
	-i 1,uids=0 -i 2,gids="$nobody_gid" -i 3,secret=s3cret -i 4,uids=0:"$nobody_uid"
[[ $(stat -c '%a %U %G' "$tmp/d.sock") == "666 nobody nogroup" ]] ||
	fail "socket $(stat -c '%a %U %G' "$tmp/d.sock"), expected 666 nobody nogroup"
probe nobody 1 "" 3 "refused: Permission denied: uid $nobody_uid gid $nobody_gid may not use interface 1"
probe root 1 "" 0 "^up"
probe nobody 2 "" 0 "^up"
probe root 2 "" 3 "refused: Permission denied: uid 0 gid 0"
probe nobody 4 "" 0 "^up"
probe root 3 "" 3 "refused: Secret required"
probe root 3 s3cre 3 "refused: Incorrect secret"
probe nobody 3 s3cret 0 "^up"
probe root 99 "" 3 "refused: ID not found"
[[ "$(q 'c[1]["refused"], c[2]["refused"], c[1]["connects"]')" == "(1, 1, 1)" ]] ||
	fail "per-interface counts: $(q 'c[1], c[2]')"
[[ "$(q 'd["usnetd"]["refused"]')" == 5 ]] || fail "refused total $(q 'd["usnetd"]["refused"]'), expected 5"
"$ctl" --socket "$tmp/d.ctl" clients | grep -qE "^2 .*Permission denied: uid 0" ||
	fail "usnetctl clients does not show the refusal"
stop_usnetd
[[ "$usnetd_rc" == 0 ]] || fail "usnetd exited with $usnetd_rc"
echo "PASS: usnetd access control"
