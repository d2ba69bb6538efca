#!/bin/bash
# fallocate(1) and the promise behind it (DESIGN.md "fallocate"): reserved pages count in
# st_blocks and df but read as zeros and look like holes to SEEK_DATA; KEEP_SIZE may
# reserve past EOF; PUNCH_HOLE returns space; a failed fallocate changes nothing; after
# one succeeds, write(2) into its range cannot fail with ENOSPC.
. "$(dirname "$0")/lib.sh"
require_mount_env
store_bound_writes 64m # a disk kernel path is bounded by its disk
start_fs size=64m

f=$MNT/f
df0=$(df_fields -B1 --output=size,used,avail)
read -r size0 used0 avail0 <<<"$df0"
pages() { df_fields -B4096 --output=used; }
p0=$(pages)

fallocate -l 1M "$f"
check_eq "fallocate -l 1M: stat -c '%s %b'" "1048576 2048" "$(stat -c '%s %b' "$f")"
check_eq "df used pages" $((p0 + 256)) "$(pages)"
check_eq "reserved pages read as zeros" 0 "$("$FSOP" expect-zero "$f" 0 1048576)"
check_eq "SEEK_DATA over reserved pages" ENXIO "$("$FSOP" seek "$f" data 0)"
fallocate -n -o 1M -l 1M "$f"
check_eq "KEEP_SIZE past EOF: stat -c '%s %b'" "1048576 4096" "$(stat -c '%s %b' "$f")"
check_eq "df used pages" $((p0 + 512)) "$(pages)"
printf 'data' | dd of="$f" bs=1 seek=8192 conv=notrunc status=none
check_eq "data into a reserved page: st_blocks unchanged" 4096 "$(blocks "$f")"
dd if=/dev/zero of="$f" bs=4096 seek=4 count=1 conv=notrunc status=none
check_eq "zeros into a reserved page: st_blocks unchanged" 4096 "$(blocks "$f")"
fallocate -p -o 0 -l 512K "$f"
check_eq "PUNCH_HOLE 512K: st_blocks" 3072 "$(blocks "$f")"
check_eq "df used pages after punch" $((p0 + 384)) "$(pages)"
check_eq "punched range reads as zeros" 0 "$("$FSOP" expect-zero "$f" 0 524288)"
fallocate -z -o 0 -l 8192 "$f"
check_eq "ZERO_RANGE 8K over a hole: st_blocks" 3088 "$(blocks "$f")"
fallocate -p -o 100 -l 8000 "$f"
check_eq "PUNCH_HOLE inside 2 pages frees none: st_blocks" 3088 "$(blocks "$f")"
out=$(fallocate -c -o 0 -l 4096 "$f" 2>&1) && fail "COLLAPSE_RANGE succeeded"
grep -q 'Operation not supported' <<<"$out" || fail "COLLAPSE_RANGE: expected EOPNOTSUPP, got: $out"
truncate -s 0 "$f"
check_eq "truncate -s 0 frees reserved pages past EOF too" "0 0" "$(stat -c '%s %b' "$f")"
check_eq "df after truncate -s 0" "$df0" "$(df_fields -B1 --output=size,used,avail)"

# all or nothing
rc=0
fallocate -l 100M "$f" 2>"$TMPD/err" || rc=$?
echo "fallocate -l 100M on size=64m: exit $rc: $(cat "$TMPD/err")"
grep -q "No space left on device" "$TMPD/err" || fail "expected ENOSPC"
check_eq "after the failed fallocate: stat -c '%s %b'" "0 0" "$(stat -c '%s %b' "$f")"
check_eq "df after the failed fallocate" "$df0" "$(df_fields -B1 --output=size,used,avail)"

# a reservation is a promise: fill the rest, then write into the reservation
fallocate -l 4M "$f"
rc=0
dd if=/dev/urandom of="$MNT/fill" bs=64k 2>"$TMPD/err" || rc=$?
grep -q "No space left on device" "$TMPD/err" || fail "filling the rest did not end in ENOSPC"
check_eq "df avail when full" 0 "$(df_fields -B1 --output=avail)"
head -c 4M /dev/urandom >"$TMPD/data"
dd if="$TMPD/data" of="$f" bs=64k conv=notrunc status=none || fail "write into reserved range failed"
cmp "$TMPD/data" "$f" || fail "data written into the reserved range reads back wrong"
check_eq "st_blocks after filling the reservation" 8192 "$(blocks "$f")"
rm "$f" "$MNT/fill"
df_expect "df after rm" "$df0" -B1 --output=size,used,avail
