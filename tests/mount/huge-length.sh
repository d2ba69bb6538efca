#!/bin/bash
# A 262 TB file costs nothing (DESIGN.md "Objects and pages"): stock tools see length
# without blocks, reads deep inside are zeros, df does not move, the daemon's RSS barely.
. "$(dirname "$0")/lib.sh"
require_mount_env
# meson test sets MALLOC_PERTURB_, which makes glibc touch every malloc'd byte: each new
# libfuse worker thread's 1 MiB request buffer would then count in RSS
unset MALLOC_PERTURB_
start_fs

f=$MNT/f
len=262144000000000
used0=$(df_fields -B4096 --output=used)
rss0=$(daemon_rss_kb)
# Past the largest file the store allows (the kernel path's disk files are the disk's
# own: ext4 stops at 16 TiB), a length is EFBIG (sparsefs(8), Data paths): then the same
# checks on the largest there is.
largest=$(store_largest)
if [ $len -gt "$largest" ]; then
	: >"$f"
	check_eq "ftruncate to 262 TB, past the largest file ($largest)" EFBIG "$("$FSOP" ftruncate "$f" $len)"
	check_eq "length after it" 0 "$(stat -c %s "$f")"
	len=$largest
fi
mid=$((len / 4 * 3 / 4096 * 4096))

truncate -s $len "$f"
out=$(stat -c '%s %b' "$f")
echo "stat -c '%s %b' f:        $out"
check_eq "stat -c '%s %b'" "$len 0" "$out"
out=$(cd "$MNT" && ls -s f)
echo "ls -s f:                   $out"
check_eq "ls -s" "0 f" "$out"
out=$(cd "$MNT" && du -B1 f)
echo "du -B1 f:                  $out"
check_eq "du -B1" "$(printf '0\tf')" "$out"
out=$(cd "$MNT" && du --apparent-size -B1 f)
echo "du --apparent-size -B1 f:  $out"
check_eq "du --apparent-size -B1" "$(printf '%s\tf' $len)" "$out"
out=$(cd "$MNT" && ls -l f | awk '{ print $5 }')
echo "ls -l size column:         $out"
check_eq "ls -l size" $len "$out"

dd if="$f" of="$TMPD/r" bs=4096 count=1 iflag=skip_bytes skip=$mid status=none
echo "dd 4096 bytes at $mid:   $(od -An -tx1 "$TMPD/r" | sort -u | tr -s ' ' | head -n 3 | tr '\n' '|') ($(stat -c %s "$TMPD/r") bytes)"
check_eq "dd at $mid: bytes read" 4096 "$(stat -c %s "$TMPD/r")"
cmp "$TMPD/r" <(head -c 4096 /dev/zero) || fail "dd at $mid: not zeros"
check_eq "pread of the last 4 KiB is zeros" 0 "$("$FSOP" expect-zero "$f" $((len - 4096)) 4096)"
check_eq "pread at the length" "SHORT at $len" "$("$FSOP" expect-zero "$f" $len 1)"
check_eq "SEEK_DATA from 0 (no data)" ENXIO "$("$FSOP" seek "$f" data 0)"
check_eq "SEEK_HOLE from 0" 0 "$("$FSOP" seek "$f" hole 0)"
check_eq "df used (4k pages) after truncate and reads" "$used0" "$(df_fields -B4096 --output=used)"

rss1=$(daemon_rss_kb)
echo "daemon VmRSS: $rss0 kB before the truncate, $rss1 kB after it, the stats and the 4 KiB reads"
[ $((rss1 - rss0)) -lt 1024 ] || fail "daemon RSS grew by $((rss1 - rss0)) kB (limit 1024)"

# a 1 MiB read costs I/O buffers, not map: measured apart
check_eq "pread 1 MiB at $mid is zeros" 0 "$("$FSOP" expect-zero "$f" $mid 1048576)"
rss1=$(daemon_rss_kb)

# the largest length there is
if [ "$largest" != 9223372036854775807 ]; then
	check_eq "ftruncate to 2^63-1, past the largest file" EFBIG "$("$FSOP" ftruncate "$f" 9223372036854775807)"
	truncate -s 0 "$f"
	echo PASS
	exit 0
fi
truncate -s 9223372036854775807 "$f"
check_eq "stat after truncate to 2^63-1" "9223372036854775807 0" "$(stat -c '%s %b' "$f")"
check_eq "pread just below 2^63-1 is zeros" 0 "$("$FSOP" expect-zero "$f" 9223372036854771712 4095)"
check_eq "ftruncate to -1" EINVAL "$("$FSOP" ftruncate "$f" -1)"
check_eq "length after the failed ftruncate" 9223372036854775807 "$(stat -c %s "$f")"
truncate -s 0 "$f"
check_eq "stat after truncate to 0" "0 0" "$(stat -c '%s %b' "$f")"
rss2=$(daemon_rss_kb)
echo "daemon VmRSS: $rss1 kB before the truncate to 2^63-1, $rss2 kB after"
[ $((rss2 - rss1)) -lt 1024 ] || fail "daemon RSS grew by $((rss2 - rss1)) kB over 2^63-1 (limit 1024)"
