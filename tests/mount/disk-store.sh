#!/bin/bash
# The disk store's own promises (DESIGN.md "Stores"), whatever SPARSEFS_STORE says, on
# the data path SPARSEFS_PATH says: a pool (daemon path) that leaves nothing behind
# (unmount, kill -9), or a private directory of kernel files (kernel path) that goes at
# unmount and after a kill -9 is removed by the next mount of the same DIR or by
# sparsefs-clean DIR; bad directories refused with one line, df honest to the disk when
# another process fills it, reservations that are real blocks (a 128 MiB tmpfs stands in
# for the disk), ENOSPC when the disk is full with every acknowledged byte kept, and
# space given back by rm, truncate and punch.
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

# 2. Nothing left behind: the daemon path's pool has no name, in DIR while mounted, after
# unmount, after kill -9; the kernel path's private directory goes at unmount, and one a
# kill -9 left goes at the next mount of DIR (or by sparsefs-clean DIR); the filesystem
# gets its space back.
before=$(avail "$POOL")
start_fs size=1g
dd if=/dev/urandom of="$MNT/f" bs=1M count=64 status=none
echo "store: $(vx store) at $(vx store_where) ($(vx store_fstype)), $(vx data_path) path"
if kernel_path; then
	check_eq "entries in DIR while mounted: the private directory" 1 "$(ls -A "$POOL" | wc -l)"
	case $(vx store_where) in "$POOL"/.sparsefs-kernel.*) ;; *) fail "user.sparsefs.store_where is not in DIR" ;; esac
	# Reserved pages are holes to SEEK_DATA on the disk's own filesystem too, where
	# ext4 counts a reserved page the page cache holds as data: one read, and one
	# stored to through a mapping and not yet written back (which is data).
	fallocate -l 1M "$MNT/r"
	cat "$MNT/r" >/dev/null
	check_eq "SEEK_DATA over reserved pages that were read" ENXIO "$("$FSOP" seek "$MNT/r" data 0)"
	check_eq "SEEK_HOLE there" 0 "$("$FSOP" seek "$MNT/r" hole 0)"
	check_eq "user.sparsefs.data of them" 0 "$(getfattr -n user.sparsefs.data --only-values "$MNT/r")"
	check_eq "SEEK_DATA after a mapped store at 512 KiB, unsynced" 524288 "$("$FSOP" mapped-seek "$MNT/r" 524300)"
	# ext4 may write zeros into reserved pages next to the stored one rather than split
	# its extent (its zero-out, up to 32 KiB): those become data pages of zeros.
	h=$("$FSOP" seek "$MNT/r" hole 524288)
	d=$(getfattr -n user.sparsefs.data --only-values "$MNT/r")
	echo "after the store: SEEK_HOLE from 512 KiB at $h, user.sparsefs.data $d"
	[ "$h" -ge 528384 ] && [ "$h" -le $((528384 + 32768)) ] || fail "SEEK_HOLE after the store: $h"
	[ "$d" = $((h - 524288)) ] || fail "user.sparsefs.data $d is not the data extent's $((h - 524288))"
	check_eq "st_blocks: still the reservation's" 2048 "$(stat -c %b "$MNT/r")"
	# At a file's last close the daemon holds a write lease on its kernel file for an
	# instant (whether a mapping outlived the close); another process opening the file
	# then breaks the lease with SIGIO, which must not end the daemon (it did).
	mkdir "$MNT/closes"
	kdir=$(vx store_where)
	(
		end=$((SECONDS + 4))
		while [ $SECONDS -lt $end ]; do
			for k in "$kdir"/*; do : <"$k"; done 2>/dev/null
		done
	) &
	opener=$!
	n=0
	end=$((SECONDS + 4))
	while [ $SECONDS -lt $end ]; do
		: >"$MNT/closes/f$((n % 20))" || fail "a create and close while another process opened the kernel files (the daemon: $(kill -0 "$DAEMON_PID" 2>&1 && echo alive))"
		n=$((n + 1))
	done
	wait "$opener"
	kill -0 "$DAEMON_PID" || fail "the daemon died while another process opened its kernel files"
	echo "ok: $n closes while another process kept opening the kernel files: the daemon lives"
	rm -r "$MNT/closes"
	stop_fs
	check_eq "entries in DIR after unmount" 0 "$(ls -A "$POOL" | wc -l)"
	start_fs size=1g
	dd if=/dev/urandom of="$MNT/f" bs=1M count=64 status=none
else
	check_eq "entries in the pool directory while mounted" 0 "$(ls -A "$POOL" | wc -l)"
	check_eq "user.sparsefs.store_where names DIR" "$POOL" "$(vx store_where)"
fi
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || :
DAEMON_PID=
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
if kernel_path; then
	check_eq "entries in DIR after kill -9: the private directory stays" 1 "$(ls -A "$POOL" | wc -l)"
	if [ -n "${SPARSEFS_CLEAN:-}" ]; then
		check_eq "sparsefs-clean -n DIR sees it" "would remove 1 private directory of a killed daemon in $POOL" "$("$SPARSEFS_CLEAN" -n "$POOL")"
	fi
	start_fs size=1g
	grep -q "removed 1 private directory a killed daemon left" "$LOG" || fail "the next mount did not say it removed the leftover: $(cat "$LOG")"
	check_eq "entries in DIR at the next mount" 1 "$(ls -A "$POOL" | wc -l)"
	stop_fs
	check_eq "entries in DIR after it" 0 "$(ls -A "$POOL" | wc -l)"
else
	check_eq "entries in the pool directory after kill -9" 0 "$(ls -A "$POOL" | wc -l)"
fi
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
# acknowledged is kept. (The kernel path's disk files are the disk's own: the same.)
printf 'acknowledged' >"$MNT/small" 2>/dev/null && fail "a new page on a full disk was accepted"
rc=0
dd if=/dev/urandom of="$MNT/g" bs=64k count=4 status=none 2>"$TMPD/dd.err" || rc=$?
echo "dd on the full disk: exit $rc: $(cat "$TMPD/dd.err")"
grep -q "No space left" "$TMPD/dd.err" || fail "a write on the full disk did not fail with ENOSPC"
# Space back: rm of the 32 MiB file returns it to the pool's filesystem, beyond the
# 64 MiB free-slot cache? No: 32 MiB fits the cache, which counts as sparsefs's free.
# (The kernel path keeps no cache: its blocks go back to the disk at once.)
rm "$POOL/filler"
free0=$(avail "$POOL")
rm "$MNT/r"
sleep 0.3
free1=$(avail "$POOL")
bf=$(vx backing_free)
if kernel_path; then
	echo "pool filesystem free: $free0 blocks before rm, $free1 after"
	[ $((free1 - free0)) -ge $((8192 - 256)) ] || fail "rm gave back only $(((free1 - free0) / 256)) MiB"
	[ "$bf" -ge $(((free1 - 256) * 4096)) ] || fail "backing_free $bf is not the disk's $free1 blocks"
else
	echo "pool filesystem free: $free0 blocks before rm, $free1 after (the freed slots stay cached)"
	[ "$bf" -ge $(((free1 + 8192 - 256) * 4096)) ] || fail "backing_free $bf does not count the 32 MiB of cached slots"
fi
# Past the cache, blocks go back: 100 MiB written and punched.
dd if=/dev/urandom of="$MNT/big" bs=1M count=100 status=none
low=$(avail "$POOL")
fallocate -p -o 0 -l $((100 << 20)) "$MNT/big"
sleep 0.2
high=$(avail "$POOL")
echo "100 MiB written: pool free $low; punched: $high"
if kernel_path; then cached=0; else cached=64; fi
[ $((high - low)) -ge $(((100 - cached) * 256 - 512)) ] || fail "punch gave back only $(((high - low) / 256)) MiB"
truncate -s 0 "$MNT/big"
stop_fs
