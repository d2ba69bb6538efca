#!/bin/bash
# Filling a size=8m mount: write(2) fails with ENOSPC, everything written before reads
# back, overwrites and zero pages still go in, and rm / truncate return every df figure
# exactly (DESIGN.md "Space accounting", "Write-back and mmap").
. "$(dirname "$0")/lib.sh"
require_mount_env
store_bound_writes 8m # a disk kernel path is bounded by its disk
start_fs size=8m

head -c $((12 << 20)) /dev/urandom >"$TMPD/src"
df0=$(df_fields -B1 --output=size,used,avail)
read -r size0 used0 avail0 <<<"$df0"
echo "df -B1 size,used,avail at start: $df0"
check_eq "df size" 8388608 "$size0"

rc=0
dd if="$TMPD/src" of="$MNT/fill" bs=64k 2>"$TMPD/dd.err" || rc=$?
echo "dd bs=64k into the mount: exit $rc: $(tr '\n' '|' <"$TMPD/dd.err")"
check_eq "dd exit status" 1 "$rc"
grep -q "No space left on device" "$TMPD/dd.err" || fail "dd did not report ENOSPC"
n=$(stat -c %s "$MNT/fill")
echo "bytes written before ENOSPC: $n (f_bavail at start: $avail0 bytes)"
[ "$n" -le "$size0" ] || fail "wrote $n bytes on an $size0-byte filesystem"
[ "$n" -ge $((avail0 - 65536)) ] || fail "ENOSPC after $n bytes, but $avail0 were available"
cmp -n "$n" "$TMPD/src" "$MNT/fill" || fail "the written prefix differs from the source"
check_eq "df used = st_blocks of the only file" $((used0 + $(blocks "$MNT/fill") * 512)) \
	"$(df_fields -B1 --output=used)"

# top up page by page until write(2) says ENOSPC: then nothing is available
rc=0
dd if="$TMPD/src" of="$MNT/fill2" bs=4096 2>"$TMPD/dd2.err" || rc=$?
check_eq "dd bs=4096 exit status when nearly full" 1 "$rc"
grep -q "No space left on device" "$TMPD/dd2.err" || fail "second dd did not report ENOSPC"
n2=$(stat -c %s "$MNT/fill2")
cmp -n "$n2" "$TMPD/src" "$MNT/fill2" || fail "fill2 differs from the source"
check_eq "df avail when full" 0 "$(df_fields -B1 --output=avail)"
check_eq "pwrite of new data when full" ENOSPC "$("$FSOP" pwrite "$MNT/new" 0 hello)"
check_eq "overwrite of a held page when full" 0 "$("$FSOP" pwrite "$MNT/fill" 4000 OVERWRITE)"
check_eq "read back the overwrite" OVERWRITE "$(dd if="$MNT/fill" bs=1 skip=4000 count=9 status=none)"
if zero_pages_are_holes; then
	dd if=/dev/zero of="$MNT/zeros" bs=1M count=4 status=none || fail "writing zeros (holes) failed when full"
	check_eq "st_blocks of 4 MiB of zeros written when full" 0 "$(blocks "$MNT/zeros")"
else
	# the kernel path stores zeros as data, as tmpfs does: no room for them
	check_eq "pwrite of zeros when full" ENOSPC "$("$FSOP" pwrite-zeros "$MNT/zeros" 0 4096)"
fi

rm -f "$MNT/fill" "$MNT/fill2" "$MNT/zeros" "$MNT/new"
df_expect "df -B1 size,used,avail after rm" "$df0" -B1 --output=size,used,avail

# truncate down returns space exactly
dd if="$TMPD/src" of="$MNT/t" bs=1M count=4 status=none
check_eq "df used with 4 MiB" $((used0 + (4 << 20))) "$(df_fields -B1 --output=used)"
truncate -s 1M "$MNT/t"
check_eq "st_blocks after truncate -s 1M" 2048 "$(blocks "$MNT/t")"
check_eq "df used after truncate -s 1M" $((used0 + (1 << 20))) "$(df_fields -B1 --output=used)"
truncate -s 1000 "$MNT/t"
check_eq "st_blocks after truncate -s 1000" 8 "$(blocks "$MNT/t")"
cmp -n 1000 "$TMPD/src" "$MNT/t" || fail "first 1000 bytes changed by truncate"
truncate -s 0 "$MNT/t"
check_eq "df -B1 size,used,avail after truncate -s 0" "$df0" "$(df_fields -B1 --output=size,used,avail)"
# and the space is really usable again
dd if="$TMPD/src" of="$MNT/t" bs=1M count=6 status=none || fail "cannot write 6 MiB after freeing"
cmp -n $((6 << 20)) "$TMPD/src" "$MNT/t" || fail "6 MiB rewrite differs"
rm "$MNT/t"
df_expect "df -B1 size,used,avail at the end" "$df0" -B1 --output=size,used,avail
