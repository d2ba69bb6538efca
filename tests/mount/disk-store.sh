#!/bin/bash
# The disk store's own promises (DESIGN.md "Stores"), whatever SPARSEFS_STORE says:
# a pool that leaves nothing behind (unmount, kill -9), bad directories refused with one
# line, df honest to the pool's filesystem when another process fills it, reservations
# that are real blocks (a 128 MiB tmpfs stands in for the disk), ENOSPC in write(2) when
# the disk is full with every acknowledged byte kept, and space given back by rm,
# truncate and punch.
SPARSEFS_STORE=disk
. "$(dirname "$0")/lib.sh"
require_mount_env
vx() { getfattr -n "user.sparsefs.$1" --only-values "$MNT"; }
avail() { stat -f -c %a "$1"; } # 4 KiB blocks, as both filesystems here count them

# 1. Refused with one line, nothing mounted.
mkdir -p "$TMPD/m0"
touch "$TMPD/file"
mkdir "$TMPD/ro"
mount -t tmpfs -o ro,size=1m sparsefs-ro "$TMPD/ro"
mkdir "$TMPD/ram"
mount -t ramfs sparsefs-ram "$TMPD/ram"
refuse() { # WHAT DIR EXPECTED-WORDS
	rc=0
	"$SPARSEFS" -f "$TMPD/m0" -o "backing=$2" 2>"$TMPD/err" </dev/null || rc=$?
	echo "$1: exit $rc: $(cat "$TMPD/err")"
	[ "$rc" != 0 ] || fail "$1: exit 0"
	[ "$(wc -l <"$TMPD/err")" = 1 ] || fail "$1: not one line"
	grep -q "$3" "$TMPD/err" || fail "$1: message does not say '$3'"
	! is_mounted "$TMPD/m0" || fail "$1: mounted"
}
refuse "missing" "$TMPD/nonexistent" "No such file"
refuse "a file" "$TMPD/file" "Not a directory"
refuse "read-only" "$TMPD/ro" "not writable"
refuse "no fallocate (ramfs)" "$TMPD/ram" "cannot allocate blocks\|cannot punch holes"
start_fs size=16m
refuse "on sparsefs itself" "$MNT" "sparsefs mount"
stop_fs
umount "$TMPD/ro" "$TMPD/ram"

# 2. The pool leaves nothing behind: nothing in DIR while mounted, after unmount, after
# kill -9; and the filesystem gets its space back.
before=$(avail "$POOL")
start_fs size=1g
dd if=/dev/urandom of="$MNT/f" bs=1M count=64 status=none
check_eq "entries in the pool directory while mounted" 0 "$(ls -A "$POOL" | wc -l)"
echo "backing: $(vx backing)"
case $(vx backing) in "disk $POOL "*) ;; *) fail "user.sparsefs.backing does not name the pool" ;; esac
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || :
DAEMON_PID=
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
check_eq "entries in the pool directory after kill -9" 0 "$(ls -A "$POOL" | wc -l)"
after=$(avail "$POOL")
echo "pool filesystem: $before blocks free before, $after after kill -9"
[ $((before - after)) -lt 4096 ] || fail "kill -9 left $((before - after)) blocks taken"

# 3. On a 128 MiB tmpfs standing in for the disk: df tells its truth, a reservation is
# real blocks, a full disk is ENOSPC in write(2), rm and punch give space back.
use_tmpfs_pool 128m
start_fs size=1g
sleep 0.2
bavail0=$(stat -f -c %a "$MNT")
echo "sparsefs f_bavail on an empty 128 MiB pool filesystem: $bavail0 (pool: $(avail "$POOL"))"
[ "$bavail0" -le 32768 ] && [ "$bavail0" -ge 32000 ] || fail "f_bavail $bavail0 is not the pool's 32768"
check_eq "fallocate 32 MiB" 0 "$("$FSOP" interrupted 60000 fallocate "$MNT/r" $((32 << 20)))"
check_eq "its st_blocks" 65536 "$(stat -c %b "$MNT/r")"
# Another process fills the disk to the last block.
dd if=/dev/zero of="$POOL/filler" bs=1M status=none 2>/dev/null || :
check_eq "pool filesystem full" 0 "$(avail "$POOL")"
check_eq "sparsefs df at the next statfs" 0 "$(stat -f -c %a "$MNT")"
# The reservation holds: 32 MiB by write(2), then again through a mapping.
head -c $((32 << 20)) /dev/urandom >"$TMPD/data"
dd if="$TMPD/data" of="$MNT/r" bs=1M conv=notrunc status=none || fail "write(2) into the reservation failed"
check_eq "write(2) into the reservation: read back" "$(sha256sum <"$TMPD/data")" "$(sha256sum <"$MNT/r")"
check_eq "through a mapping" "msync=ok fsync=ok intact=8192 lost=0" "$("$MMAPFILL" "$MNT/r" $((32 << 20)) existing)"
check_eq "nothing dropped" 0 "$(vx dropped)"
# A write that needs a new page on the full disk: ENOSPC from write(2), what was
# acknowledged is kept.
printf 'acknowledged' >"$MNT/small" 2>/dev/null && fail "a new page on a full disk was accepted"
rc=0
dd if=/dev/urandom of="$MNT/g" bs=64k count=4 status=none 2>"$TMPD/dd.err" || rc=$?
echo "dd on the full disk: exit $rc: $(cat "$TMPD/dd.err")"
grep -q "No space left" "$TMPD/dd.err" || fail "a write on the full disk did not fail with ENOSPC"
# Space back: rm of the 32 MiB file returns it to the pool's filesystem, beyond the
# 64 MiB free-slot cache? No: 32 MiB fits the cache, which counts as sparsefs's free.
rm "$POOL/filler"
free0=$(avail "$POOL")
rm "$MNT/r"
sleep 0.3
free1=$(avail "$POOL")
echo "pool filesystem free: $free0 blocks before rm, $free1 after (the freed slots stay cached)"
bf=$(vx backing_free)
[ "$bf" -ge $(((free1 + 8192 - 256) * 4096)) ] || fail "backing_free $bf does not count the 32 MiB of cached slots"
# Past the cache, blocks go back: 100 MiB written and punched.
dd if=/dev/urandom of="$MNT/big" bs=1M count=100 status=none
low=$(avail "$POOL")
fallocate -p -o 0 -l $((100 << 20)) "$MNT/big"
sleep 0.2
high=$(avail "$POOL")
echo "100 MiB written: pool free $low; punched: $high"
[ $((high - low)) -ge $(((100 - 64) * 256 - 512)) ] || fail "punch gave back only $(((high - low) / 256)) MiB"
truncate -s 0 "$MNT/big"
stop_fs
