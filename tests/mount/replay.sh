#!/bin/bash
# Thousands of random operations (write, truncate up/down, fallocate in every mode, punch,
# unlink, rename over, mmap writes) under each policy; after every one, used == sum of
# st_blocks / 8, f_bfree == capacity - used, and contents match a model (replay.c).
. "$(dirname "$0")/lib.sh"
require_mount_env
store_bound_writes 64m # a disk kernel path is bounded by its disk
ops=${REPLAY_OPS:-2000}
# never runs on the daemon path (sparsefs(8), Data paths): the -daemon variants replay it.
policies="always heuristic never"
[ "$DATA_PATH" != kernel ] || policies="always heuristic"
for policy in $policies; do
	start_fs "size=64M,overcommit=$policy"
	# A store into a new page of a full mount is SIGBUS on the kernel path (as on
	# tmpfs: sparsefs(8), Data paths); never elsewhere, and never under never.
	ok=0
	kernel_path && ok=1
	REPLAY_SIGBUS_OK=$ok "$REPLAY" "$MNT" "$ops" 42 || fail "replay under $policy"
	stop_fs
done
