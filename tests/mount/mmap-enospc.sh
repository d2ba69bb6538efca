#!/bin/bash
# The overdraft (DESIGN.md "Write-back and mmap"): write(2) stops at f_bavail, leaving
# capacity - f_bavail that only mmap write-back may take. A mapping written after the
# mount is "full" for write(2) keeps every byte while it fits in the overdraft; one that
# outruns it must be told (msync fails or the data is right), never silently lose pages.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs size=8m

df0=$(df_fields -B1 --output=size,used,avail)
read -r size0 used0 avail0 <<<"$df0"
echo "df -B1 size,used,avail at start: $df0 (overdraft: $((size0 - used0 - avail0)) bytes)"
rc=0
dd if=/dev/urandom of="$MNT/fill" bs=4096 2>"$TMPD/dd.err" || rc=$?
grep -q "No space left on device" "$TMPD/dd.err" || fail "dd did not stop with ENOSPC: $(cat "$TMPD/dd.err")"
check_eq "bytes write(2) could store" "$avail0" "$(stat -c %s "$MNT/fill")"
check_eq "df avail when full for write(2)" 0 "$(df_fields -B1 --output=avail)"
over=$(((size0 - used0 - avail0) / 4096))
[ "$over" -ge 16 ] || fail "overdraft of $over pages on size=8m; DESIGN.md says 1/8 of capacity"

# half the overdraft through a mapping: all of it stored
half=$((over / 2))
"$MMAP_SCATTER" "$MNT/map" $((4 * 1024 * 1024)) "$half" 7 || fail "mmap within the overdraft lost data"
check_eq "st_blocks of the mapped file" $((8 * half)) "$(blocks "$MNT/map")"
check_eq "df used" $((used0 + avail0 + half * 4096)) "$(df_fields -B1 --output=used)"

# twice the overdraft: msync must say so, or every byte must be right
rc=0
"$MMAP_SCATTER" "$MNT/map2" $((8 * 1024 * 1024)) $((2 * over)) 8 >"$TMPD/m2.out" 2>&1 || rc=$?
echo "mmap of $((2 * over)) pages past the overdraft: exit $rc: $(cat "$TMPD/m2.out")"
if [ $rc != 0 ]; then
	grep -q "msync: No space left on device" "$TMPD/m2.out" ||
		fail "expected msync to report ENOSPC, got: $(cat "$TMPD/m2.out")"
fi
# DESIGN.md: a page that cannot be stored is logged loudly, never silently dropped
[ $rc = 0 ] || [ -s "$LOG" ] || fail "pages were dropped but the daemon's stderr is empty"
echo "daemon stderr: $(head -n 3 "$LOG")"
rm "$MNT/fill" "$MNT/map" "$MNT/map2"
df_expect "df -B1 size,used,avail after rm" "$df0" -B1 --output=size,used,avail
