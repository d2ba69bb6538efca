#!/bin/bash
# Data integrity under fio: psync and mmap jobs at once, 64 MiB each, mixed block sizes,
# three passes, every block written checked by crc32c (verify_fatal); df back to its
# start afterwards. Throughput is printed, never asserted.
. "$(dirname "$0")/lib.sh"
require_mount_env
command -v fio >/dev/null || { echo "SKIP: no fio"; exit 77; }
start_fs size=1g

df0=$(df_fields -B1 --output=size,used,avail)
cat >"$TMPD/verify.fio" <<JOB
[global]
directory=$MNT
size=64m
verify=crc32c
verify_fatal=1
do_verify=1
fallocate=none
loops=3

[psync-randwrite]
ioengine=psync
rw=randwrite
bsrange=4k-256k
randseed=1

[mmap-randwrite]
ioengine=mmap
rw=randwrite
bsrange=4k-64k
randseed=2

[psync-seq-odd]
ioengine=psync
rw=write
bs=12345
size=32m
JOB
fio --output="$TMPD/fio.out" "$TMPD/verify.fio" || { cat "$TMPD/fio.out"; fail "fio reported an error"; }
grep -E 'err=|WRITE:|READ:' "$TMPD/fio.out"
grep -q 'err= 0' "$TMPD/fio.out" || { cat "$TMPD/fio.out"; fail "fio: err not 0"; }
! grep -E 'err= *[1-9]' "$TMPD/fio.out" || fail "fio: a job had an error"
rm -f "$MNT"/*
df_expect "df -B1 size,used,avail after rm" "$df0" -B1 --output=size,used,avail
