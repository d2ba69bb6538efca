#!/bin/bash
# fsx.c with fallocate in the mix (DESIGN.md "fallocate": mode 0, KEEP_SIZE,
# PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE with and without KEEP_SIZE), fixed seeds; df back to
# its start afterwards.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs size=256m

df0=$(df_fields -B1 --output=size,used,avail)
"$FSX" -F -S 4 -N 3000 "$MNT/fsx4"
"$FSX" -F -S 5 -N 2000 -l 65536 -o 16384 "$MNT/fsx5"
rm "$MNT"/fsx?
df_expect "df -B1 size,used,avail after rm" "$df0" -B1 --output=size,used,avail
