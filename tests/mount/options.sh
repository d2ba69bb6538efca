#!/bin/bash
# Mount options and the statfs answers they give (DESIGN.md "Space accounting"):
# size= with suffixes and %, the default of 50% RAM (compared with tmpfs) or, on the
# disk store, N% of the pool's filesystem and what it has available, mode/uid/gid
# of the root, nr_inodes, and an option passed on to the kernel (ro).
. "$(dirname "$0")/lib.sh"
require_mount_env

start_fs size=8M,mode=0750,uid=1234,gid=5678
check_eq "root dir mode/uid/gid" "750 1234 5678" "$(stat -c '%a %u %g' "$MNT")"
read -r frsize bsize blocks bfree bavail namemax <<<"$(stat -f -c '%S %s %b %f %a %l' "$MNT")"
echo "statfs of size=8M: frsize=$frsize bsize=$bsize blocks=$blocks bfree=$bfree bavail=$bavail namemax=$namemax"
check_eq "f_frsize" 4096 "$frsize"
check_eq "f_bsize" 4096 "$bsize"
check_eq "f_blocks (8M)" 2048 "$blocks"
check_eq "f_bfree (empty)" 2048 "$bfree"
# capacity - used - overdraft (1/8 of 8M on the daemon path, none on the kernel path)
if kernel_path; then od=0; else od=256; fi
check_eq "f_bavail" $((2048 - od)) "$bavail"
check_eq "f_namemax" 255 "$namemax"
check_eq "df -B1 size" 8388608 "$(df_fields -B1 --output=size)"
stop_fs

for spec in size=1g:262144 size=1048576:256 size=4k:1 size=3m:768 size=1t:268435456 size=1p:274877906944; do
	start_fs "${spec%%:*}"
	check_eq "f_blocks for -o ${spec%%:*}" "${spec##*:}" "$(stat -f -c %b "$MNT")"
	stop_fs
done

# N% of size= and the default, the store's way (stores/STORE.sh: memory as tmpfs does;
# a disk or a pool: N% of what backs it, and what it has available at mount).
store_check_sizes

start_fs size=8m,nr_inodes=64
check_eq "f_files for nr_inodes=64" 64 "$(stat -f -c %c "$MNT")"
ffree0=$(stat -f -c %d "$MNT")
touch "$MNT/f"
check_eq "f_ffree after one create" $((ffree0 - 1)) "$(stat -f -c %d "$MNT")"
rm "$MNT/f"
check_eq "f_ffree after rm" "$ffree0" "$(stat -f -c %d "$MNT")"
# Creates up to the budget, then ENOSPC, however a create gets its kernel file (the
# kernel path takes them from a pool made ahead: a refused create gives its back).
n=0
while [ "$("$FSOP" creat "$MNT/g$n")" = 0 ]; do
	n=$((n + 1))
	[ $n -le 64 ] || fail "more than nr_inodes=64 files"
done
check_eq "files created before ENOSPC (f_ffree)" "$ffree0" "$n"
check_eq "the create past them" ENOSPC "$("$FSOP" creat "$MNT/x")"
for i in $(seq 100); do "$FSOP" creat "$MNT/x$i" >/dev/null; done
where=$(getfattr --absolute-names -n user.sparsefs.store_where --only-values "$MNT")
if kernel_path && [ -d "$where" ]; then
	k=$(find "$where" -maxdepth 1 -type f | wc -l)
	echo "kernel files after 101 refused creates: $k ($n files, and the pool's 64 at most)"
	[ "$k" -le $((n + 64)) ] || fail "refused creates left kernel files behind: $k"
fi
rm "$MNT"/g*
check_eq "f_ffree after rm of them all" "$ffree0" "$(stat -f -c %d "$MNT")"
check_eq "a create after" 0 "$("$FSOP" creat "$MNT/f")"
stop_fs

start_fs size=8m,ro
grep -q "^ro\b\|,ro\b" <<<"$(awk -v m="$MNT" '$5 == m { print $6 }' /proc/self/mountinfo)" ||
	fail "-o ro: mount options are $(awk -v m="$MNT" '$5 == m { print $6 }' /proc/self/mountinfo)"
check_eq "create on -o ro" EROFS "$("$FSOP" creat "$MNT/f")"
stop_fs
