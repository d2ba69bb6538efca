#!/bin/bash
# A 1 TiB file mapped MAP_SHARED, 1000 scattered pages written through the mapping,
# msync, munmap: pread sees every byte (mmap-scatter checks), st_blocks = 8000, df
# used +1000 pages, rm gives them back.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs

used0=$(df_fields -B4096 --output=used)
"$MMAP_SCATTER" "$MNT/big" $((1 << 40)) 1000 20240601
check_eq "stat -c '%s %b'" "1099511627776 8000" "$(stat -c '%s %b' "$MNT/big")"
check_eq "df -B4096 used" $((used0 + 1000)) "$(df_fields -B4096 --output=used)"
# the same pages again: nothing new held
"$MMAP_SCATTER" "$MNT/big" $((1 << 40)) 1000 20240601
check_eq "stat -c %b after rewriting the same pages" 8000 "$(stat -c %b "$MNT/big")"
rm "$MNT/big"
df_expect "df -B4096 used after rm" "$used0" -B4096 --output=used
