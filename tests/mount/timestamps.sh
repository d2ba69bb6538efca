#!/bin/bash
# Which of atime, mtime and ctime each operation marks, on every object it touches
# (times.py: open O_TRUNC, truncate and ftruncate, write, read, fallocate in every
# mode, punch, link, unlink, symlink, rename in all its forms, mkdir, rmdir, mknod,
# chmod, chown, utimes, setxattr, removexattr, readdir, ...), compared with tmpfs line
# by line. The few lines that differ by design are listed below with the answer
# sparsefs must give, and why.
. "$(dirname "$0")/lib.sh"
require_mount_env
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
make_ref
start_fs

declare -A differs=(
	# tmpfs has no ZERO_RANGE; sparsefs marks the file as ext4 does
	["fallocate ZERO_RANGE"]="d/f: - m c; d: - - -"
	["fallocate ZERO_RANGE|KEEP_SIZE past the end"]="d/f: - m c; d: - - -"
)
if ! kernel_path; then
	# FUSE marks its inodes S_NOATIME: the kernel leaves atime to the daemon, which
	# on the daemon path never sees a read the page cache answers, nor an mmap
	# (sparsefs(8), Limitations); on the kernel path the kernel file's atime moves.
	differs["read after a write (cached)"]="d/f: - - -; d: - - -"
	differs["mmap store and msync"]="d/f: - m c; d: - - -"
fi

times_py=$(dirname "$(readlink -f "$0")")/times.py
(cd "$REF" && python3 "$times_py") >"$TMPD/times.ref" 2>&1 || fail "times.py on tmpfs: $(cat "$TMPD/times.ref")"
(cd "$MNT" && python3 "$times_py") >"$TMPD/times.mnt" 2>&1 || fail "times.py on sparsefs: $(cat "$TMPD/times.mnt")"
[ "$(wc -l <"$TMPD/times.ref")" = "$(wc -l <"$TMPD/times.mnt")" ] ||
	fail "times.py printed $(wc -l <"$TMPD/times.ref") lines on tmpfs, $(wc -l <"$TMPD/times.mnt") on sparsefs"

bad=0 cells=0
while IFS= read -r ref <&3 && IFS= read -r mnt <&4; do
	op=${ref%% \[*}
	[ "$op" = "${mnt%% \[*}" ] || fail "times.py's lines are out of step: '$ref' / '$mnt'"
	cells=$((cells + 3 * $(tr ';' '\n' <<<"${ref#*]: }" | grep -c ': [-a-z@0-9]* [-a-z@0-9]* [-a-z@0-9]*$')))
	if [ -n "${differs[$op]+x}" ]; then
		want="$op [ok]: ${differs[$op]}"
		[ "$mnt" = "$want" ] || { echo "FAIL: $op: expected '$want' (tmpfs: '$ref'), got '$mnt'"; bad=1; }
		echo "ok (differs from tmpfs by design): $mnt"
	elif [ "$mnt" != "$ref" ]; then
		echo "FAIL: $op: tmpfs '$ref', sparsefs '$mnt'"
		bad=1
	else
		echo "ok: $mnt"
	fi
done 3<"$TMPD/times.ref" 4<"$TMPD/times.mnt"
[ $bad = 0 ] || fail "timestamps differ from tmpfs"
echo "ok: $(wc -l <"$TMPD/times.mnt") operations, $cells timestamps compared with tmpfs"

# A new file's times are those of its creation, however long before the daemon made
# its kernel file (the kernel path makes them ahead: fs/kpool.h), in CREATE's answer
# and in a fresh lookup's alike (the kernel's caches dropped in between). The kernel's
# own clock is coarse (a tick, <= 10 ms), hence the slack (20 ms) before the create.
sleep 0.5
t0=$(date +%s.%N)
: >"$MNT/new"
t1=$(date +%s.%N)
first=$(stat -c '%.9X %.9Y %.9Z' "$MNT/new")
sync
echo 2 >/proc/sys/vm/drop_caches
again=$(stat -c '%.9X %.9Y %.9Z' "$MNT/new")
read -r a m c <<<"$first"
echo "created between $t0 and $t1: atime $a, mtime $m, ctime $c; after a fresh lookup: $again"
awk -v t0="$t0" -v t1="$t1" -v a="$a" -v m="$m" -v c="$c" \
	'BEGIN { exit !(a == m && m >= t0 - 0.02 && m <= t1 && c >= m && c <= t1) }' ||
	fail "a new file's times are not those of its creation: $first"
check_eq "its times after a fresh lookup" "$first" "$again"
echo PASS
