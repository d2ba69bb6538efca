#!/bin/bash
# A 1 TiB file mapped MAP_SHARED, 1000 scattered pages written through the mapping,
# msync, munmap: pread sees every byte (mmap-scatter checks), st_blocks = 8000, df
# used +1000 pages, rm gives them back.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs

used0=$(df_fields -B4096 --output=used)
"$MMAP_SCATTER" "$MNT/big" $((1 << 40)) 1000 20240601
check_eq "length" 1099511627776 "$(stat -c %s "$MNT/big")"
check_blocks "st_blocks of 1000 pages" 8000 "$(stat -c %b "$MNT/big")"
b=$(stat -c %b "$MNT/big")
check_eq "df -B4096 used = st_blocks / 8" $((used0 + b / 8)) "$(df_fields -B4096 --output=used)"
# the same pages again: nothing new held
"$MMAP_SCATTER" "$MNT/big" $((1 << 40)) 1000 20240601
check_eq "st_blocks after rewriting the same pages" "$b" "$(stat -c %b "$MNT/big")"
rm "$MNT/big"
df_expect "df -B4096 used after rm" "$used0" -B4096 --output=used

# A mapping that outlives its file's close (mmap, close, store): stat and df see the
# stores while it is mapped and after, with no msync (the kernel path, where the kernel
# serves the stores, must keep reading such a file; the daemon path sees write-back).
truncate -s 1M "$MNT/kept"
used0=$(df_fields -B4096 --output=used)
out=$("$FSOP" stored-after-close "$MNT/kept" 64)
echo "stored 64 pages after close: st_blocks used, mapped then unmapped: $(echo $out)"
if kernel_path; then
	check_blocks "st_blocks while still mapped" 512 "$(sed -n 1p <<<"$out" | cut -d' ' -f1)"
	check_eq "df used while still mapped" $((used0 + 64)) "$(sed -n 1p <<<"$out" | cut -d' ' -f2)"
fi
check_blocks "st_blocks after the unmap" 512 "$(stat -c %b "$MNT/kept")"
df_expect "df -B4096 used after the unmap" $((used0 + 64)) -B4096 --output=used
rm "$MNT/kept"
df_expect "df -B4096 used after rm" "$used0" -B4096 --output=used
