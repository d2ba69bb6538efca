#!/bin/bash
# -o overcommit=always|heuristic|never (DESIGN.md "Overcommit policy").
. "$(dirname "$0")/lib.sh"
require_mount_env

huge=262144000000000
for policy in always heuristic never; do
	start_fs "size=64M,overcommit=$policy"
	check_eq "$policy: policy xattr" "$policy" "$(getfattr -n user.sparsefs.policy --only-values "$MNT")"
	got=$(truncate -s $huge "$MNT/f" 2>&1 && stat -c '%s %b' "$MNT/f" || :)
	case $policy in
	always)
		if [ "$(store_largest)" -lt $huge ]; then
			check_eq "always: 262 TB truncate, past the largest file" \
				"truncate: failed to truncate '$MNT/f' at $huge bytes: File too large" "$got"
		else
			check_eq "always: 262 TB truncate is free" "$huge 0" "$got"
		fi ;;
	heuristic) check_eq "heuristic: 262 TB truncate" \
		"truncate: failed to truncate '$MNT/f' at $huge bytes: File too large" "$got" ;;
	never) check_eq "never: 262 TB truncate" \
		"truncate: failed to truncate '$MNT/f' at $huge bytes: No space left on device" "$got" ;;
	esac
	stop_fs
done

# heuristic: one file may grow to the capacity, not past it, by any route.
start_fs size=64M,overcommit=heuristic
truncate -s 64M "$MNT/cap"
check_eq "heuristic: length = capacity is fine" 67108864 "$(stat -c %s "$MNT/cap")"
if truncate -s $((64 * 1048576 + 1)) "$MNT/cap" 2>/dev/null; then fail "heuristic: grew past capacity"; fi
if fallocate -l 65M "$MNT/fa" 2>/dev/null; then fail "heuristic: fallocate past capacity succeeded"; fi
if kernel_path; then
	# The kernel serves a write(2) past the end itself: heuristic cannot refuse it
	# there (sparsefs(8), Data paths); the capacity still bounds the pages.
	dd if=/dev/zero of="$MNT/w" bs=1 count=1 seek=65M status=none ||
		fail "kernel path: write past capacity failed"
	echo "ok: kernel path: a write(2) past the capacity is the kernel's, and goes through"
elif dd if=/dev/zero of="$MNT/w" bs=1 count=1 seek=65M status=none 2>"$TMPD/err"; then
	fail "heuristic: write past capacity succeeded"
else
	grep -q 'File too large' "$TMPD/err" || fail "heuristic write: $(cat "$TMPD/err")"
fi
stop_fs

# never: every byte of length is backed; growth reserves first or fails up front.
start_fs size=64M,overcommit=never
cd "$MNT"
truncate -s 8M g
check_eq "never: truncate backs the length" "8388608 16384" "$(stat -c '%s %b' g)"
check_eq "never: as reserved pages" 8388608 "$(getfattr -n user.sparsefs.reserved --only-values g)"
fallocate -p -o 0 -l 1M g
check_eq "never: punch keeps pages reserved" 16384 "$(blocks g)"
rm g
avail=$(stat -f -c %a .)
# Fill the mount to the brim through a shared mapping: nothing may be dropped.
check_eq "never: fill to the brim by mmap" "msync=ok fsync=ok intact=$avail lost=0" \
	"$("$MMAPFILL" brim $((avail * 4096)))"
check_eq "never: now full" 0 "$(stat -f -c %a .)"
check_eq "never: nothing dropped" 0 "$(getfattr -n user.sparsefs.dropped --only-values .)"
if truncate -s +4096 brim 2>"$TMPD/err"; then fail "never: overcommitting truncate succeeded"; fi
grep -q 'No space left on device' "$TMPD/err" || fail "never truncate: $(cat "$TMPD/err")"
if dd if=/dev/zero of=brim bs=1 count=1 seek=$((avail * 4096 + 8192)) conv=notrunc status=none 2>/dev/null; then
	fail "never: write past EOF on a full mount succeeded"
fi
check_eq "never: refused growth left the file alone" "$((avail * 4096)) $((avail * 8))" "$(stat -c '%s %b' brim)"
