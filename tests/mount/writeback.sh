#!/bin/bash
# mmap write-back on a full mount (DESIGN.md "Write-back and mmap"): the overdraft takes
# a little, past it every dropped page is counted and logged, a reservation loses nothing.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs size=64M
cd "$MNT"
vx() { getfattr -n "user.sparsefs.$1" --only-values "$MNT"; }
fill() { dd if=/dev/urandom of="$1" bs=1M count=100 status=none 2>/dev/null || :; }

check_eq "default overdraft: min(64M, size/8)" 8388608 "$(vx overdraft)"
fill full1
check_eq "write(2) stops at f_bavail" 0 "$(stat -f -c %a .)"
check_eq "write(2) cannot take the overdraft" $(((64 - 8) * 1048576)) "$(vx used)"

# Less than the overdraft through a mapping: msync succeeds, every byte is kept.
check_eq "within the overdraft" "msync=ok fsync=ok intact=1024 lost=0" "$("$MMAPFILL" a 4194304)"
check_eq "within the overdraft: nothing dropped" 0 "$(vx dropped)"

# The "SIGBUS after ftruncate on a full disk" case, no fallocate: the overdraft holds
# 4 MiB more, the rest is dropped — and said so: msync fails, the counter and log show it.
got=$("$MMAPFILL" b 8388608)
check_eq "past the overdraft" "msync=ENOSPC fsync=ok intact=1024 lost=1024" "$got"
check_eq "every lost page counted" 1024 "$(vx dropped)"
grep -q 'write-back dropped .* page(s) of inode' "$LOG" || fail "no log line for the dropped pages"
echo "log: $(grep -m1 'write-back dropped' "$LOG")"

# With fallocate first: the space is promised, so others filling the mount cannot take it.
rm full1 a b
fallocate -l 4M c
fill full2
check_eq "full again" 0 "$(stat -f -c %a .)"
check_eq "reserved file through a mapping" "msync=ok fsync=ok intact=1024 lost=0" \
	"$("$MMAPFILL" c 4194304 existing)"
check_eq "reservation: nothing more dropped" 1024 "$(vx dropped)"
cd /
stop_fs

# overdraft=0: write-back gets nothing write(2) would not.
start_fs size=16M,overdraft=0
cd "$MNT"
check_eq "overdraft=0" 0 "$(vx overdraft)"
fill full
check_eq "overdraft=0: every page dropped" "msync=ENOSPC fsync=ok intact=0 lost=256" "$("$MMAPFILL" d 1048576)"
cd /
stop_fs

# A write-back that only partly fits is refused whole, never answered with a short count
# (the kernel ignores a write-back's count: msync and fsync would say 0 for lost pages).
# One page more than f_bfree, through a mapping: msync reports ENOSPC, and every page
# that does not read back is a page the daemon counted as dropped.
start_fs size=64M,overdraft=8196k
cd "$MNT"
fill full
check_eq "overdraft=8196k: f_bavail" 0 "$(stat -f -c %a .)"
bfree=$(stat -f -c %f .)
check_eq "overdraft=8196k: f_bfree" 2049 "$bfree"
got=$("$MMAPFILL" e $(((bfree + 1) * 4096)))
echo "f_bfree+1 pages through a mapping: $got"
case $got in
"msync=ENOSPC fsync=ok intact="*" lost="*) ;;
*) fail "f_bfree+1 pages: expected msync=ENOSPC, got '$got'" ;;
esac
lost=${got##*lost=}
[ "$lost" -ge 1 ] || fail "f_bfree+1 pages: nothing lost, yet msync failed"
check_eq "every page lost was counted as dropped" "$lost" "$(vx dropped)"
