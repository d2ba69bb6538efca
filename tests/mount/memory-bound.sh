#!/bin/bash
# The daemon's memory is bounded by metadata, not data: a disk-backed daemon in a memory
# cgroup limited to 256 MiB takes 2 GiB (8 times its limit; MEMORY_BOUND_GIB=4 by hand)
# of random data written through the mount and gives it back (sha256 equal, after
# dropping the page cache), and stays alive. The
# memory store cannot (its data is its memory): this test is for the disk store, run
# once. cgroup v1's memory controller where the machine has it, else v2.
SPARSEFS_STORE=disk
. "$(dirname "$0")/lib.sh"
require_mount_env
GIB=${MEMORY_BOUND_GIB:-2}
# A sanitized daemon is several times slower: 1 GiB makes the same point there.
if ldd "$SPARSEFS" 2>/dev/null | grep -q libasan && [ -z "${MEMORY_BOUND_GIB:-}" ]; then
	GIB=1
	echo "note: sanitized daemon: $GIB GiB"
fi
LIMIT=$((256 << 20))

CG=
if [ -d /sys/fs/cgroup/memory ] && [ -w /sys/fs/cgroup/memory ]; then
	CG=/sys/fs/cgroup/memory/sparsefs-test-$$
	mkdir "$CG"
	echo $LIMIT >"$CG/memory.limit_in_bytes"
	usage() { cat "$CG/memory.max_usage_in_bytes"; }
	ooms() { awk '/^oom_kill / { print $2 }' "$CG/memory.oom_control"; }
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
	CG=/sys/fs/cgroup/sparsefs-test-$$
	mkdir "$CG"
	echo $LIMIT >"$CG/memory.max"
	usage() { cat "$CG/memory.peak" 2>/dev/null || cat "$CG/memory.current"; }
	ooms() { awk '/^oom_kill / { print $2 }' "$CG/memory.events"; }
else
	echo "SKIP: no memory cgroup controller"
	exit 77
fi
trap 'cleanup_cg' EXIT
cleanup_cg() {
	st=$?
	cleanup_keep=$st
	set +e
	if [ -n "$MNT" ] && is_mounted "$MNT"; then fusermount3 -u "$MNT" || umount -l "$MNT"; fi
	[ -z "$DAEMON_PID" ] || wait_daemon || cleanup_keep=1
	[ -z "$CG" ] || rmdir "$CG" 2>/dev/null
	DAEMON_PID=
	MNT=
	(exit $cleanup_keep)
	cleanup
}
# A sanitized daemon's quarantine of freed memory would count against the limit.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"

start_fs size=$((GIB + 1))g
echo "$DAEMON_PID" >"$CG/cgroup.procs"
rss0=$(daemon_rss_kb)
t0=$SECONDS
want=$(head -c $((GIB << 30)) /dev/urandom | tee "$MNT/f" | sha256sum)
t1=$SECONDS
sync "$MNT/f"
echo 3 >/proc/sys/vm/drop_caches
got=$(sha256sum <"$MNT/f")
t2=$SECONDS
rss1=$(daemon_rss_kb)
echo "$GIB GiB: written in $((t1 - t0)) s, read back in $((t2 - t1)) s; daemon RSS $rss0 -> $rss1 kB; cgroup peak $(($(usage) >> 20)) MiB of $((LIMIT >> 20)); OOM kills $(ooms)"
check_eq "sha256 of $GIB GiB read back" "$want" "$got"
pid_alive "$DAEMON_PID" || fail "the daemon died"
check_eq "OOM kills in the daemon's cgroup" 0 "$(ooms)"
check_eq "st_blocks" $((GIB << 21)) "$(stat -c %b "$MNT/f")"
rm "$MNT/f"
stop_fs
