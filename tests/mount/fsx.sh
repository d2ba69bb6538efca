#!/bin/bash
# fsx-style random ops checked against an in-memory model (fsx.c): pwrite/pread,
# truncate, mmap read/write, reopen; fixed seeds, three file/op size mixes. Afterwards
# df is back to where it started. (fsx-fallocate.sh adds the fallocate modes.)
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs size=256m

df0=$(df_fields -B1 --output=size,used,avail)
# st_blocks beyond the pages: what the filesystem under a kernel file adds (4 MiB files)
FSX_BLOCK_SLACK=$(store_block_slack 8192)
export FSX_BLOCK_SLACK
"$FSX" -S 1 -N 4000 "$MNT/fsx1"
"$FSX" -S 2 -N 3000 -l $((4 << 20)) -o $((256 << 10)) "$MNT/fsx2"
"$FSX" -S 3 -N 3000 -l 65536 -o 8192 "$MNT/fsx3"
rm "$MNT"/fsx?
df_expect "df -B1 size,used,avail after rm" "$df0" -B1 --output=size,used,avail
