#!/bin/bash
# fallocate's modes as DESIGN.md's table says — st_blocks, used, contents — compared with
# tmpfs where tmpfs has the mode; all or nothing on ENOSPC; unsupported modes refused.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs size=64M
make_ref 128m

vx() { getfattr -n "user.sparsefs.$1" --only-values "${2:-$MNT}"; }
xs() { head -c "$1" /dev/zero | tr '\0' x; }

# Modes tmpfs has too: same sizes, blocks and bytes.
modes() {
	fallocate -l 1M f && stat -c 'mode0 %s %b' f && md5sum f
	fallocate -n -o 2M -l 1M f && stat -c 'keep %s %b' f
	xs 12288 >p && fallocate -p -o 100 -l 8192 p && stat -c 'punch %s %b' p && md5sum p
	fallocate -c -o 0 -l 4096 p 2>&1 | sed 's/^fallocate: //'
	fallocate -i -o 0 -l 4096 p 2>&1 | sed 's/^fallocate: //'
}
same_as_tmpfs modes modes
# Punching past the end of file: tmpfs returns the reserved pages beyond it; ext4 clamps
# the punch at the end of file and keeps them (until a truncate). The kernel path's disk
# files do what the disk's filesystem does (sparsefs(8), Data paths).
punch_past_eof() {
	fallocate -l 1M f && fallocate -n -o 2M -l 1M f
	fallocate -p -o 0 -l 3M f && stat -c 'punch-all %s %b' f
}
if kernel_path && [ "$SPARSEFS_STORE" = disk ]; then
	d=$(mktemp -d -p "$(store_kernel_fs_dir)")
	want=$(cd "$d" && punch_past_eof)
	rm -rf "$d"
	check_eq "punch past EOF: as the disk's own filesystem" "$want" \
		"$(mkdir "$MNT/ppe" && cd "$MNT/ppe" && punch_past_eof)"
else
	same_as_tmpfs punch-past-eof punch_past_eof
fi
check_eq "punch: partial edges zeroed, middle page a hole" "punch 12288 16" \
	"$(line_of "$TMPD/modes.mnt" punch | sed 's/^/punch /')"

cd "$MNT"
base=$(vx used)
# Reserved pages read zeros, count as used and in st_blocks, and SEEK_DATA sees a hole.
fallocate -l 1M r
check_eq "reserved: blocks" 2048 "$(blocks r)"
check_eq "reserved: used grows by 1 MiB" $((base + 1048576)) "$(vx used)"
check_eq "reserved: xattr" 1048576 "$(vx reserved r)"
check_eq "reserved: SEEK_DATA finds none" "ENXIO" "$("$FSOP" seek r data 0)"
# Writing into a reservation takes no new space.
printf 'data' | dd of=r bs=1 seek=5000 conv=notrunc status=none
check_eq "write into reserved: used unchanged" $((base + 1048576)) "$(vx used)"
check_eq "write into reserved: data/reserved" "4096 1044480" "$(vx data r) $(vx reserved r)"

# ZERO_RANGE (tmpfs has none): reads zeros afterwards and every page of it is backed.
xs 12288 >z
fallocate -z -o 100 -l 8192 z
check_eq "zero-range: contents" "$(
	xs 100
	head -c 8192 /dev/zero
	xs 3996
)" "$(cat z)"
check_eq "zero-range: size blocks" "12288 24" "$(stat -c '%s %b' z)"
if kernel_path; then
	# the kernel path zeroes data pages in place: zeros, backed, but data
	check_eq "zero-range: every page backed" 12288 "$(($(vx data z) + $(vx reserved z)))"
else
	check_eq "zero-range: middle page reserved" "8192 4096" "$(vx data z) $(vx reserved z)"
fi
fallocate -z -n -o 1M -l 1M z
check_eq "zero-range keep-size: beyond EOF backed" "12288 2072" "$(stat -c '%s %b' z)"
fallocate -z -o 16384 -l 4096 z
check_eq "zero-range grows the length" "20480 2080" "$(stat -c '%s %b' z)"

# All or nothing: a fallocate that cannot be covered changes nothing at all.
before="$(stat -c '%s %b' r) $(df_fields -B1 --output=used,avail) $(vx used)"
if fallocate -o 0 -l 200M r 2>"$TMPD/err"; then fail "200M fallocate on a 64M mount succeeded"; fi
grep -q 'No space left on device' "$TMPD/err" || fail "expected ENOSPC, got: $(cat "$TMPD/err")"
check_eq "failed fallocate changed nothing" "$before" \
	"$(stat -c '%s %b' r) $(df_fields -B1 --output=used,avail) $(vx used)"
if fallocate -z -o 0 -l 200M r 2>/dev/null; then fail "200M zero-range succeeded"; fi
check_eq "failed zero-range changed nothing" "$before" \
	"$(stat -c '%s %b' r) $(df_fields -B1 --output=used,avail) $(vx used)"

# Punching gives back exactly what was held.
rm -f z p f
df_expect "after rm" "$(( $(vx used) ))" -B1 --output=used
fallocate -p -o 0 -l 1M r
check_eq "punch everything: blocks" 0 "$(blocks r)"
check_eq "punch returns the space" "$base" "$(vx used)"
