#!/bin/bash
# statfs tells the truth (DESIGN.md "Space accounting"): f_blocks = capacity,
# f_bfree/f_bavail bounded by what the backing can really give (memory, or the pool's
# filesystem for the disk store), overdraft kept from f_bavail.
. "$(dirname "$0")/lib.sh"
require_mount_env
ceil_pages() { echo $((($1 + 4095) / 4096)); }
vx() { getfattr --absolute-names -n "user.sparsefs.$1" --only-values "$MNT"; }

start_fs size=64M
read -r blocks bfree bavail bsize <<<"$(stat -f -c '%b %f %a %S' "$MNT")"
check_eq "64M: f_bsize" 4096 "$bsize"
check_eq "64M: f_blocks" 16384 "$blocks"
check_eq "64M: f_bfree (empty)" 16384 "$bfree"
# The overdraft is for write-back the daemon sees: none on the kernel path.
if kernel_path; then od=0; else od=2048; fi
check_eq "64M: overdraft" $((od * 4096)) "$(vx overdraft)"
check_eq "64M: f_bavail = capacity - overdraft" $((16384 - od)) "$bavail"
df -h "$MNT"
stop_fs

start_fs size=64M,overdraft=10M
if kernel_path; then od=0; else od=2560; fi
check_eq "overdraft=10M: f_bavail" $((16384 - od)) "$(stat -f -c %a "$MNT")"
stop_fs

# size=200%: df's Size is the cap asked for; Free and Avail are what the backing can hold.
# (A RADOS pool's base is what it can take: after the last test's unmount it may still
# be settling, so read it before and after mounting, and settle before.)
store_settle_base
start_fs size=200%
base=$(store_base_bytes)
read -r blocks bfree bavail <<<"$(stat -f -c '%b %f %a' "$MNT")"
real=$(store_backing_truth)
df -h "$MNT"
echo "$STORE backing can give $real bytes; f_bavail: $((bavail * 4096)) bytes"
check_eq "200%: f_blocks = 2 x the $STORE store's base" "$(ceil_pages $((base * 2)))" "$blocks"
# The machine's own figure moves a little between two reads: 1% slack.
[ $((bavail * 4096)) -le $((real + real / 100)) ] || fail "f_bavail $((bavail * 4096)) > backing $real"
[ $((bfree * 4096)) -le $((real + real / 100)) ] || fail "f_bfree $((bfree * 4096)) > backing $real"
# (100% of a RADOS pool is what it can take, so there f_bavail is at most half.)
[ "$bavail" -le $((blocks / 2)) ] || fail "f_bavail $bavail not bounded by the backing"
echo "ok: df Avail is bounded by the backing, not by the 200% cap"
# Free pages the store keeps for reuse are backing too, which the machine's own figure
# cannot count (stores/STORE.sh, store_check_freed: what each store keeps, and how its
# figures should meet the backing's own after 128 MiB written and removed).
dd if=/dev/urandom of="$MNT/f" bs=1M count=128 status=none
rm "$MNT/f"
sleep 0.2 # the kernel's FORGET frees the pages
store_check_freed
stop_fs
