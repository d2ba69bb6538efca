#!/bin/bash
# A storm on a small mount kept about full (storm.c): worker processes write(2), write
# through shared mappings, msync, fsync, fallocate in every mode, truncate, unlink while
# open and rename over, while a filler keeps taking whatever room there is; every byte
# the kernel acknowledged must read back at the end. Under each policy, without and with
# -o writeback_cache. And no page is dropped silently: if user.sparsefs.dropped moved,
# some msync/fsync of the storm reported an error, and the other way round; under
# overcommit=never without the writeback cache nothing may be dropped for want of room.
#
# A big run by hand (arguments go to storm):
#   STORM_OPS=200000 STORM_SEED=7 tests/mount/storm.sh [--procs 4] [--files 5]
# STORM_CONFIGS restricts the runs, e.g. STORM_CONFIGS="always always+wbc".
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -n "${STORM:-}" ] || { echo "SKIP: \$STORM is not set"; exit 77; }
[ -x "$STORM" ] || fail "STORM=$STORM is not executable"

ops=${STORM_OPS:-3000}
seed=${STORM_SEED:-1}
size=${STORM_SIZE:-32M}
overdraft=${STORM_OVERDRAFT:-1M}
configs=${STORM_CONFIGS:-always always+wbc heuristic heuristic+wbc never never+wbc}
# On the kernel data path: the configs that can take it. never and writeback_cache run
# on the daemon path (sparsefs(8), Data paths), which the -daemon variants storm.
if [ "$DATA_PATH" = kernel ] && [ -z "${STORM_CONFIGS:-}" ]; then
	configs="always heuristic"
fi

# On the disk store the pool sits on a small tmpfs that another process keeps filling
# and freeing from outside, so the disk runs out under sparsefs's feet too; on rados,
# a pool with a 40 MiB quota that another client fills and frees the same way.
OUTSIDE_PID=
use_tmpfs_pool 40m
outside_filler() {
	local i=0
	while :; do
		i=$((i + 1))
		outside_put "outside.$((i % 4))" $((RANDOM % 12 + 1))
		sleep 0.0$((RANDOM % 9 + 1))
		outside_rm "outside.$(((i + 2) % 4))"
	done
}
trap 'st_=$?; stop_outside; (exit $st_); cleanup' EXIT
start_outside() {
	outside_filler &
	OUTSIDE_PID=$!
}
stop_outside() {
	[ -n "$OUTSIDE_PID" ] || return 0
	kill -KILL "$OUTSIDE_PID" 2>/dev/null || :
	wait "$OUTSIDE_PID" 2>/dev/null || : # 137: killed, as asked
	OUTSIDE_PID=
	sleep 0.2 # a dd it started may still be finishing
	for i in 0 1 2 3; do outside_rm "outside.$i"; done
}

field() { # NAME LINE: the number after NAME= in LINE
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"
}

failed=
for conf in $configs; do
	policy=${conf%+wbc}
	opts="size=$size,overdraft=$overdraft,overcommit=$policy"
	args=()
	if [ "$policy" != "$conf" ]; then
		opts+=,writeback_cache
		args=(--wbc)
	fi
	start_fs "$opts"
	start_outside
	rc=0
	start=$SECONDS
	# The kernel path answers a store into a new page of a full mount with SIGBUS.
	sigbus=0
	kernel_path && sigbus=1
	out=$(STORM_SIGBUS_OK=$sigbus STORM_HOLDS=$(store_write_bound) "$STORM" "$MNT" --ops "$ops" --seed "$seed" "${args[@]}" "$@") || rc=$?
	stop_outside
	echo "$conf: $out ($((SECONDS - start)) s)"
	[ $rc != 2 ] || fail "$conf: storm could not set up (exit 2)"
	[ -n "$out" ] || fail "$conf: storm printed nothing (exit $rc)"
	dropped=$(getfattr --absolute-names -n user.sparsefs.dropped --only-values "$MNT")
	errors=$(($(field msync_errors "$out") + $(field fsync_errors "$out")))
	echo "$conf: user.sparsefs.dropped=$dropped, msync/fsync errors seen: $errors"
	why=
	[ $rc = 0 ] || why="lost bytes or unexpected errors (exit $rc)"
	if [ "$dropped" -gt 0 ] && [ "$errors" = 0 ]; then
		why+="${why:+; }$dropped page(s) dropped but no msync/fsync reported it"
	fi
	if [ "$errors" -gt 0 ] && [ "$dropped" = 0 ]; then
		why+="${why:+; }msync/fsync failed $errors time(s) but user.sparsefs.dropped is 0"
	fi
	# Under never no page lacks room; the kernel's copy of a refused write(2) over a
	# dirty page (fs/refusal.c) is the one drop it may still report.
	if [ "$conf" = never ] &&
		grep 'write-back dropped' "$LOG" | grep -qv 'a refused write(2) had been copied over them'; then
		why+="${why:+; }overcommit=never dropped write-back page(s): $(grep -m1 'write-back dropped' "$LOG")"
	fi
	if grep -q 'answered before its page cache was dropped' "$LOG"; then
		why+="${why:+; }$(grep -m1 'answered before its page cache was dropped' "$LOG")"
	fi
	if [ -n "$why" ]; then
		echo "FAIL: $conf: $why" >&2
		failed+=" $conf"
	fi
	stop_fs
done
[ -z "$failed" ] || fail "storm failed in:$failed (seed $seed, $ops ops)"
echo "ok: storm: nothing acknowledged was lost in: $configs"
