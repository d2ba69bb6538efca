#!/bin/bash
# Every way out: fusermount3 -u, umount, SIGTERM, SIGINT each leave nothing mounted and
# a daemon that exited 0 (stop_fs checks both, and the sanitizer-free log). Also: a busy
# mount refuses a plain unmount and keeps serving; without -f the daemon detaches and
# still goes away on unmount.
. "$(dirname "$0")/lib.sh"
require_mount_env

failed=
for way in fusermount umount TERM INT; do
	start_fs size=16m
	echo "data" >"$MNT/f"
	check_eq "read back before unmount ($way)" data "$(cat "$MNT/f")"
	case $way in
	fusermount) fusermount3 -u "$MNT" ;;
	umount) umount "$MNT" ;;
	*) kill -$way "$DAEMON_PID" ;;
	esac
	if wait_daemon; then
		echo "ok: unmount by $way: nothing mounted, daemon exited 0"
	else
		echo "FAIL: unmount by $way (see above)" >&2
		failed="$failed $way"
	fi
done

start_fs size=16m
echo busy >"$MNT/f"
exec 3<"$MNT/f"
if fusermount3 -u "$MNT" 2>"$TMPD/busy.err"; then
	fail "fusermount3 -u succeeded with a file open"
fi
echo "busy mount: fusermount3 -u said: $(cat "$TMPD/busy.err")"
is_mounted "$MNT" || fail "busy mount went away"
check_eq "still serving after refused unmount" busy "$(cat "$MNT/f")"
exec 3<&-
stop_fs fusermount

# Without -f, options before the mountpoint
rc=0
"$SPARSEFS" -o "$(mount_opts size=16m)" "$MNT" 2>"$TMPD/bg.err" || rc=$?
check_eq "exit status of the detaching daemon" 0 "$rc"
check_eq "its stderr" "" "$(cat "$TMPD/bg.err")"
is_mounted "$MNT" || fail "not mounted when the detaching daemon's parent returned"
echo hi >"$MNT/f"
check_eq "read back on the detached daemon" hi "$(cat "$MNT/f")"
fusermount3 -u "$MNT"
is_mounted "$MNT" && fail "still mounted after fusermount3 -u"
# the daemon must go away too (found by its command line, never killed by name)
i=0
while pgrep -f -- "-o $(mount_opts size=16m) $MNT" >/dev/null; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "detached daemon still running 10 s after unmount"
	sleep 0.1
done
echo "ok: detached daemon gone after unmount"
[ -z "$failed" ] || fail "unmount by$failed"
