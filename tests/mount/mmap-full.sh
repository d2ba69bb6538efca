#!/bin/bash
# A mapping on a full mount (DESIGN.md "Data paths"): stores into unreserved holes are
# never lost in silence: on the kernel path the fault is SIGBUS, as on tmpfs and ext4; on
# the daemon path the write-back is refused, msync reports ENOSPC and every page is
# counted in user.sparsefs.dropped. A range reserved first (fallocate) keeps every byte,
# on both paths, while others fill the mount.
. "$(dirname "$0")/lib.sh"
require_mount_env
store_bound_writes 16m # a disk kernel path is bounded by its disk
vx() { getfattr --absolute-names -n "user.sparsefs.$1" --only-values "$MNT"; }

start_fs size=16m,overdraft=0
fallocate -l 1M "$MNT/reserved"
dd if=/dev/urandom of="$MNT/fill" bs=64k status=none 2>/dev/null || :
check_eq "full: f_bavail" 0 "$(stat -f -c %a "$MNT")"

got=$("$MMAPFILL" "$MNT/holes" $((1 << 20)))
echo "256 pages of holes stored through a mapping: $got"
if kernel_path; then
	check_eq "holes on a full mount, kernel path" "msync=ok fsync=ok intact=0 lost=256 sigbus=256" "$got"
	check_eq "nothing counted as dropped" 0 "$(vx dropped)"
else
	check_eq "holes on a full mount, daemon path" "msync=ENOSPC fsync=ok intact=0 lost=256" "$got"
	check_eq "every page counted as dropped" 256 "$(vx dropped)"
fi
check_eq "the holes hold nothing" 0 "$(stat -c %b "$MNT/holes")"

d0=$(vx dropped)
check_eq "the reserved MiB, through a mapping" "msync=ok fsync=ok intact=256 lost=0" \
	"$("$MMAPFILL" "$MNT/reserved" $((1 << 20)) existing)"
check_eq "nothing more dropped" "$d0" "$(vx dropped)"
check_eq "its blocks" 2048 "$(stat -c %b "$MNT/reserved")"
rm "$MNT/fill" "$MNT/holes" "$MNT/reserved"
df_expect "df used after rm" 0 -B1 --output=used
stop_fs
echo PASS
