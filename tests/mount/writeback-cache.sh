#!/bin/bash
# -o writeback_cache (sparsefs(8)): writes land in the kernel's page cache and reach the
# daemon as write-back. Data still round-trips; on a full mount the loss is not silent:
# fsync reports ENOSPC, user.sparsefs.dropped counts the pages and the log says so.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs size=16M,writeback_cache
cd "$MNT"
vx() { getfattr -n "user.sparsefs.$1" --only-values "$MNT"; }

head -c 3M /dev/urandom >"$TMPD/src"
dd if="$TMPD/src" of=small bs=4k conv=fsync status=none
cmp "$TMPD/src" small || fail "writeback_cache: small writes did not read back"
check_eq "writeback_cache: st_blocks after fsync" 6144 "$(blocks small)"
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/src" small || fail "writeback_cache: contents lost once the page cache was dropped"
check_eq "nothing dropped so far" 0 "$(vx dropped)"

# 16M mount, 2M overdraft, 3M held: 32M of writes cannot all be stored.
if dd if=/dev/urandom of=big bs=1M count=32 conv=fsync status=none 2>"$TMPD/err"; then
	fail "32M through the page cache onto a 16M mount: no error reported"
fi
cat "$TMPD/err"
grep -q 'No space left on device' "$TMPD/err" || fail "expected ENOSPC, got: $(cat "$TMPD/err")"
dropped=$(vx dropped)
[ "$dropped" -gt 0 ] || fail "pages were lost but user.sparsefs.dropped is 0"
grep -q 'write-back dropped' "$LOG" || fail "no log line for the dropped pages"
echo "ok: $dropped pages dropped, reported by fsync, the counter and the log"
cmp "$TMPD/src" small || fail "an earlier file was damaged"
