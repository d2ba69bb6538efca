#!/bin/bash
# One byte at 1 PiB and at 2^63-2: one page held (st_blocks 8), df used +1 page exactly,
# SEEK_DATA/SEEK_HOLE find it, rm gives it back.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs

# A length past the largest the store allows (the kernel path's disk files are the
# disk's own: ext4 stops at 16 TiB) is EFBIG, as sparsefs(8) says.
largest=$(store_largest)
p=$MNT/p
pib=$((1 << 50))
if [ $((pib + 1)) -gt "$largest" ]; then
	check_eq "1 byte at 1 PiB past the largest file ($largest)" EFBIG "$("$FSOP" pwrite "$p" $pib x)"
	check_eq "the same at 2^63-2" EFBIG "$("$FSOP" pwrite "$p" 9223372036854775806 y)"
	check_eq "nothing held" 0 "$(stat -c %b "$p")"
	echo PASS
	exit 0
fi
used0=$(df_fields -B4096 --output=used)
printf x | dd of="$p" bs=1 seek=$pib conv=notrunc status=none
check_eq "stat -c '%s %b' after 1 byte at 1 PiB" "$((pib + 1)) 8" "$(stat -c '%s %b' "$p")"
check_eq "df -B4096 used" $((used0 + 1)) "$(df_fields -B4096 --output=used)"
check_eq "the byte at 1 PiB" x "$(dd if="$p" bs=1 skip=$pib count=1 status=none)"
check_eq "the page before it is zeros" 0 "$("$FSOP" expect-zero "$p" $((pib - 4096)) 4096)"
check_eq "SEEK_DATA from 0" $pib "$("$FSOP" seek "$p" data 0)"
check_eq "SEEK_HOLE from 1 PiB" $((pib + 1)) "$("$FSOP" seek "$p" hole $pib)"
check_eq "SEEK_DATA past the end" ENXIO "$("$FSOP" seek "$p" data $((pib + 1)))"
rm "$p"
df_expect "df -B4096 used after rm" "$used0" -B4096 --output=used

m=$MNT/m
check_eq "pwrite 1 byte at 2^63-2" 0 "$("$FSOP" pwrite "$m" 9223372036854775806 y)"
check_eq "stat -c '%s %b'" "9223372036854775807 8" "$(stat -c '%s %b' "$m")"
check_eq "df -B4096 used" $((used0 + 1)) "$(df_fields -B4096 --output=used)"
# offset + count past 2^63-1: the kernel's rw_verify_area says EINVAL (as on tmpfs)
check_eq "pwrite at 2^63-1" EINVAL "$("$FSOP" pwrite "$m" 9223372036854775807 z)"
# On the kernel path SEEK_DATA is the kernel file's, and answers as the filesystem of
# the kernel files does (tmpfs finds no data in the very last page below 2^63:
# sparsefs(8), Data paths).
want=9223372036854771712
if kernel_path; then
	d=$(store_kernel_fs_dir)
	"$FSOP" pwrite "$d/m" 9223372036854775806 y >/dev/null
	want=$("$FSOP" seek "$d/m" data 0)
	rm -f "$d/m"
	echo "note: the kernel files' filesystem answers SEEK_DATA from 0 with $want"
fi
check_eq "SEEK_DATA from 0" "$want" "$("$FSOP" seek "$m" data 0)"
check_eq "the byte at 2^63-2" y "$(dd if="$m" bs=1 skip=9223372036854775806 count=1 status=none)"
check_eq "stat unchanged by the refused write" "9223372036854775807 8" "$(stat -c '%s %b' "$m")"
rm "$m"
df_expect "df -B4096 used after rm" "$used0" -B4096 --output=used
