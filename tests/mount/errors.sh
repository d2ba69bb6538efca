#!/bin/bash
# Bad invocations: non-zero exit, exactly one line on stderr starting "sparsefs: ",
# and nothing mounted (DESIGN.md "Errors").
. "$(dirname "$0")/lib.sh"
require_mount_env

mkdir "$TMPD/mnt"
touch "$TMPD/file"

bad=0
problem() {
	echo "FAIL: $*" >&2
	bad=$((bad + 1))
}

try() { # WHAT ARGS...: every case is run and reported; the test fails at the end
	what=$1
	shift
	rc=0
	timeout 10 "$SPARSEFS" "$@" >"$TMPD/out" 2>"$TMPD/err" </dev/null || rc=$?
	if is_mounted "$TMPD/mnt"; then
		fusermount3 -u "$TMPD/mnt" || umount -l "$TMPD/mnt"
		problem "$what: mounted $TMPD/mnt"
	fi
	echo "$what: exit $rc, stderr: $(cat "$TMPD/err")"
	[ $rc != 0 ] || problem "$what: exit status 0"
	[ $rc != 124 ] || problem "$what: still running after 10 s"
	lines=$(wc -l <"$TMPD/err")
	[ "$lines" = 1 ] || problem "$what: $lines lines on stderr, expected 1"
	grep -q '^sparsefs: ' "$TMPD/err" || problem "$what: stderr does not start with 'sparsefs: '"
	! grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$TMPD/err" ||
		problem "$what: sanitizer report on stderr"
	! grep -q " $TMPD" /proc/self/mountinfo || problem "$what: something mounted under $TMPD"
}

try "size=banana" -f "$TMPD/mnt" -o size=banana
try "mode=99x" -f "$TMPD/mnt" -o mode=99x
try "size=0" -f "$TMPD/mnt" -o size=0
try "size=1x (bad suffix)" -f "$TMPD/mnt" -o size=1x
try "uid=abc" -f "$TMPD/mnt" -o uid=abc
try "size=banana, options first" -f -o size=banana "$TMPD/mnt"
try "size=banana, no -f" "$TMPD/mnt" -o size=banana
try "missing mountpoint" -f "$TMPD/nonexistent"
try "mountpoint is a file" -f "$TMPD/file"
try "no mountpoint argument" -f -o size=1m
# libfuse's threading options that the daemon's own loop cannot honour: refused.
try "clone_fd" -f "$TMPD/mnt" -o clone_fd
try "max_idle_threads" -f "$TMPD/mnt" -o max_idle_threads=4
# -h must not offer what is refused.
if "$SPARSEFS" -h | grep -E 'clone_fd|max_idle_threads'; then
	problem "-h lists an option the daemon refuses"
fi
[ $bad = 0 ] || fail "$bad problems above"
