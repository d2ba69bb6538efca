#!/bin/bash
# A write(2) the daemon refuses under a shared mapping (refused.c, fs/refusal.c): the
# kernel has copied the refused bytes into its page cache first and leaves those folios
# stale. On a full mount (overdraft=0), every case of refused.c, several runs each: every
# byte stored through the mapping is kept, or reported by msync/fsync and counted in
# user.sparsefs.dropped; never lost in silence; a refused write changes nothing; bytes
# stored into reserved pages, and everything under overcommit=never, are kept.
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -n "${REFUSED:-}" ] || { echo "SKIP: \$REFUSED is not set"; exit 77; }
runs=${REFUSED_RUNS:-4}

check_cases() { # CASES...: each on the mount as it is
	for c in "$@"; do
		out=$("$REFUSED" "$MNT" "$c" "$runs") || {
			echo "$out"
			fail "case $c: a stored byte was lost in silence, or a refused write changed the file"
		}
		echo "$out" | tail -n 1
		# The refusal waits for the kernel to drop the range: not forever.
		grep -q 'answered before its page cache was dropped' "$LOG" &&
			fail "case $c: the daemon gave up waiting: $(grep -m1 'answered before' "$LOG")"
	done
	return 0
}

start_fs size=16m,overdraft=0
check_cases A B C D G L R
stop_fs

# Under never every length is backed: only a write past EOF is refused, and no mmap
# store may be dropped at all.
start_fs size=16m,overdraft=0,overcommit=never
check_cases B
stop_fs
echo PASS
