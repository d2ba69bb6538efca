#!/bin/bash
# A long reservation gives up when its caller is interrupted (DESIGN.md: fallocate is
# all or nothing, EINTR among its failures): a caught signal 50 ms into an 8 GiB
# fallocate, or into a growing truncate under overcommit=never, which populates 8 GiB,
# ends it with EINTR and leaves no page reserved, no length changed, df as it was.
. "$(dirname "$0")/lib.sh"
require_mount_env
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
[ "$avail_kb" -gt $((12 * 1024 * 1024)) ] || { echo "SKIP: needs 12 GiB of available memory"; exit 77; }
G8=$((8 << 30))
# On the disk store a tmpfs stands in for the disk: there, as in memory, backing 8 GiB
# takes seconds (an ext4 disk allocates unwritten extents in milliseconds, too fast
# to interrupt). It is larger than the mount: on RADOS the mount's own object takes a
# page of the pool's quota, which df rightly shows once the cluster's figures have it.
use_tmpfs_pool 11g

check_untouched() { # WHAT FILE
	check_eq "$1: length" 0 "$(stat -c %s "$2")"
	check_eq "$1: st_blocks" 0 "$(stat -c %b "$2")"
	df_expect "$1: df used" 0 -B1 --output=used
}

for policy in always never; do
	start_fs size=10G,overcommit=$policy
	t0=$(date +%s%N)
	check_eq "$policy: fallocate 8 GiB, interrupted" EINTR "$("$FSOP" interrupted 50 fallocate "$MNT/f" $G8)"
	echo "note: answered after $((($(date +%s%N) - t0) / 1000000)) ms"
	check_untouched "$policy: after the interrupted fallocate" "$MNT/f"
	if [ $policy = never ]; then
		check_eq "never: truncate to 8 GiB, interrupted" EINTR "$("$FSOP" interrupted 50 ftruncate "$MNT/f" $G8)"
		check_untouched "never: after the interrupted truncate" "$MNT/f"
	fi
	# Uninterrupted, the same call still works.
	check_eq "$policy: fallocate 64 MiB" 0 "$("$FSOP" interrupted 60000 fallocate "$MNT/f" $((64 << 20)))"
	check_eq "$policy: its st_blocks" $((64 << 11)) "$(stat -c %b "$MNT/f")"
	stop_fs
done
