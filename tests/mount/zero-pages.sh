#!/bin/bash
# Zero-page detection (DESIGN.md "Objects and pages"): zeros written into holes stay
# holes; a page with any non-zero byte is held; shrinking zeroes the tail of the last page.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs

used0=$(df_fields -B4096 --output=used)
z=$MNT/z
dd if=/dev/zero of="$z" bs=1M count=1 status=none
check_eq "1 MiB of zeros: stat -c '%s %b'" "1048576 0" "$(stat -c '%s %b' "$z")"
check_eq "df used after 1 MiB of zeros" "$used0" "$(df_fields -B4096 --output=used)"
printf a | dd of="$z" bs=1 seek=5000 conv=notrunc status=none
check_eq "one non-zero byte in page 1: st_blocks" 8 "$(blocks "$z")"
check_eq "df used" $((used0 + 1)) "$(df_fields -B4096 --output=used)"
printf 'bcd' | dd of="$z" bs=1 seek=4096 conv=notrunc status=none
check_eq "more bytes in the same page: st_blocks" 8 "$(blocks "$z")"
# zeros over a data page: reads zeros; the page may be freed or stay (8 or 0)
dd if=/dev/zero of="$z" bs=4096 seek=1 count=1 conv=notrunc status=none
check_eq "zeros over page 1 read back" 0 "$("$FSOP" expect-zero "$z" 0 1048576)"
b=$(blocks "$z")
[ "$b" = 0 ] || [ "$b" = 8 ] || fail "st_blocks after zeroing page 1: expected 0 or 8, got $b"
check_eq "df used = st_blocks/8" $((used0 + b / 8)) "$(df_fields -B4096 --output=used)"
rm "$z"

# data, zeros, data in one write(2): two pages held
m=$MNT/m
{ head -c 4096 /dev/urandom; head -c 4096 /dev/zero; head -c 4096 /dev/urandom; } >"$TMPD/m"
dd if="$TMPD/m" of="$m" bs=12288 status=none
check_eq "data|zeros|data: stat -c '%s %b'" "12288 16" "$(stat -c '%s %b' "$m")"
cmp "$TMPD/m" "$m" || fail "data|zeros|data reads back wrong"
check_eq "SEEK_HOLE from 0" 4096 "$("$FSOP" seek "$m" hole 0)"
check_eq "SEEK_DATA from 4096" 8192 "$("$FSOP" seek "$m" data 4096)"
rm "$m"

# a short run of zeros into a hole past EOF: length grows, nothing held
head -c 100 /dev/zero | dd of="$MNT/p" bs=100 seek=8192 oflag=seek_bytes status=none
check_eq "100 zero bytes at 8192 into a new file: stat -c '%s %b'" "8292 0" "$(stat -c '%s %b' "$MNT/p")"
rm "$MNT/p"

# shrink then grow: the tail of the last partial page reads as zeros
t=$MNT/t
head -c 8192 /dev/urandom >"$TMPD/t"
cp "$TMPD/t" "$t"
truncate -s 5000 "$t"
check_eq "st_blocks after truncate -s 5000" 16 "$(blocks "$t")"
truncate -s 8192 "$t"
cmp -n 5000 "$TMPD/t" "$t" || fail "first 5000 bytes changed"
check_eq "bytes 5000..8191 after shrink+grow" 0 "$("$FSOP" expect-zero "$t" 5000 3192)"
check_eq "stat -c '%s %b' after shrink+grow" "8192 16" "$(stat -c '%s %b' "$t")"
rm "$t"
df_expect "df used at the end" "$used0" -B4096 --output=used
