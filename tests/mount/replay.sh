#!/bin/bash
# Thousands of random operations (write, truncate up/down, fallocate in every mode, punch,
# unlink, rename over, mmap writes) under each policy; after every one, used == sum of
# st_blocks / 8, f_bfree == capacity - used, and contents match a model (replay.c).
. "$(dirname "$0")/lib.sh"
require_mount_env
ops=${REPLAY_OPS:-2000}
for policy in always heuristic never; do
	start_fs "size=64M,overcommit=$policy"
	"$REPLAY" "$MNT" "$ops" 42 || fail "replay under $policy"
	stop_fs
done
