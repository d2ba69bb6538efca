#!/bin/bash
# statfs tells the truth (DESIGN.md "Space accounting"): f_blocks = capacity,
# f_bfree/f_bavail bounded by what the backing can really give (memory, or the pool's
# filesystem for the disk store), overdraft kept from f_bavail.
. "$(dirname "$0")/lib.sh"
require_mount_env
meminfo() { awk -v k="$1:" '$1 == k { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }
ceil_pages() { echo $((($1 + 4095) / 4096)); }
# What 100% of size= is, and what the backing can give now, in bytes.
base_bytes() {
	if [ "$STORE" = rados ]; then
		rados_pool_free
	elif [ "$STORE" = disk ]; then
		stat -f -c '%b %S' "$POOL" | awk '{ printf "%.0f\n", $1 * $2 }'
	else
		meminfo MemTotal
	fi
}
backing_truth() {
	if [ "$STORE" = rados ]; then
		rados_pool_free
	elif [ "$STORE" = disk ]; then
		stat -f -c '%a %S' "$POOL" | awk '{ printf "%.0f\n", $1 * $2 }'
	else
		echo $(($(meminfo MemAvailable) + $(meminfo SwapFree)))
	fi
}

start_fs size=64M
read -r blocks bfree bavail bsize <<<"$(stat -f -c '%b %f %a %S' "$MNT")"
check_eq "64M: f_bsize" 4096 "$bsize"
check_eq "64M: f_blocks" 16384 "$blocks"
check_eq "64M: f_bfree (empty)" 16384 "$bfree"
check_eq "64M: f_bavail = capacity - overdraft" $((16384 - 2048)) "$bavail"
df -h "$MNT"
stop_fs

start_fs size=64M,overdraft=10M
check_eq "overdraft=10M: f_bavail" $((16384 - 2560)) "$(stat -f -c %a "$MNT")"
stop_fs

# size=200%: df's Size is the cap asked for; Free and Avail are what the backing can hold.
# (A RADOS pool's base is what it can take: after the last test's unmount it may still
# be settling, so read it before and after mounting, and settle before.)
if [ "$STORE" = rados ]; then
	b0=$(rados_pool_free) && sleep 6 && wait_pool_free "$(rados_pool_free)"
fi
start_fs size=200%
base=$(base_bytes)
read -r blocks bfree bavail <<<"$(stat -f -c '%b %f %a' "$MNT")"
real=$(backing_truth)
df -h "$MNT"
echo "$STORE backing can give $real bytes; f_bavail: $((bavail * 4096)) bytes"
check_eq "200%: f_blocks = 2 x the $STORE store's base" "$(ceil_pages $((base * 2)))" "$blocks"
# The machine's own figure moves a little between two reads: 1% slack.
[ $((bavail * 4096)) -le $((real + real / 100)) ] || fail "f_bavail $((bavail * 4096)) > backing $real"
[ $((bfree * 4096)) -le $((real + real / 100)) ] || fail "f_bfree $((bfree * 4096)) > backing $real"
# (100% of a RADOS pool is what it can take, so there f_bavail is at most half.)
[ "$bavail" -lt $((blocks / 2)) ] || { [ "$STORE" = rados ] && [ "$bavail" -le $((blocks / 2)) ]; } ||
	fail "f_bavail $bavail not bounded by the backing"
echo "ok: df Avail is bounded by the backing, not by the 200% cap"
# Free pages the store keeps for reuse are backing too, which the machine's own figure
# cannot count: memory keeps 32 to 66 MiB resident after 128 MiB is freed, the disk
# pool keeps 64 MiB of slots allocated.
dd if=/dev/urandom of="$MNT/f" bs=1M count=128 status=none
rm "$MNT/f"
sleep 0.2 # the kernel's FORGET frees the pages
if [ "$STORE" = rados ]; then
	# No pages kept for reuse: the objects are removed; once the cluster's figures
	# show it (they lag), backing_free is the pool's figure again, nothing more.
	# The daemon reads the figures every second and they move as the cluster
	# settles: the two must meet within 15 s.
	i=0
	until bf=$(getfattr --absolute-names -n user.sparsefs.backing_free --only-values "$MNT") &&
		want=$(($(rados_pool_free) / 4096 * 4096)) && [ "$bf" = "$want" ]; do
		i=$((i + 1))
		[ $i -le 30 ] || fail "rados: backing_free $bf, the pool's figure $want, 15 s after 128 MiB written and removed"
		sleep 0.5
	done
	echo "ok: rados: backing_free after 128 MiB written and removed = the pool's figure = $bf (after ~$((i * 500)) ms)"
	stop_fs
	exit 0
fi
bf=$(getfattr --absolute-names -n user.sparsefs.backing_free --only-values "$MNT")
real=$(backing_truth)
extra=$(((bf - real) >> 20))
echo "backing_free - what the $STORE backing reports, after freeing 128 MiB: $extra MiB"
if [ "$STORE" = disk ]; then lo=48 hi=80; else lo=24 hi=80; fi
[ "$extra" -ge $lo ] && [ "$extra" -le $hi ] || fail "backing_free counts $extra MiB of the store's free pages (expected $lo-$hi)"
echo "ok: the store's free pages count as backing"
