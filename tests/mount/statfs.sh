#!/bin/bash
# statfs tells the truth (DESIGN.md "Space accounting"): f_blocks = capacity,
# f_bfree/f_bavail bounded by what memory can really give, overdraft kept from f_bavail.
. "$(dirname "$0")/lib.sh"
require_mount_env
meminfo() { awk -v k="$1:" '$1 == k { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }
ceil_pages() { echo $((($1 + 4095) / 4096)); }

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

# size=200%: df's Size is the cap asked for; Free and Avail are what memory can hold.
start_fs size=200%
ram=$(meminfo MemTotal)
read -r blocks bfree bavail <<<"$(stat -f -c '%b %f %a' "$MNT")"
real=$(($(meminfo MemAvailable) + $(meminfo SwapFree)))
df -h "$MNT"
echo "MemAvailable+SwapFree: $real bytes; f_bavail: $((bavail * 4096)) bytes"
check_eq "200%: f_blocks = 2 x RAM" "$(ceil_pages $((ram * 2)))" "$blocks"
# The machine's own figure moves a little between two reads: 1% slack.
[ $((bavail * 4096)) -le $((real + real / 100)) ] || fail "f_bavail $((bavail * 4096)) > memory $real"
[ $((bfree * 4096)) -le $((real + real / 100)) ] || fail "f_bfree $((bfree * 4096)) > memory $real"
[ "$bavail" -lt $((blocks / 2)) ] || fail "f_bavail $bavail not bounded by memory"
echo "ok: df Avail is bounded by memory, not by the 200% cap"
# Freed pages the daemon keeps resident for reuse (32 to 64 MiB after 128 MiB freed)
# are backing too: MemAvailable cannot count them.
dd if=/dev/urandom of="$MNT/f" bs=1M count=128 status=none
rm "$MNT/f"
bf=$(getfattr --absolute-names -n user.sparsefs.backing_free --only-values "$MNT")
real=$(($(meminfo MemAvailable) + $(meminfo SwapFree)))
extra=$(((bf - real) >> 20))
echo "backing_free - (MemAvailable+SwapFree) after freeing 128 MiB: $extra MiB"
[ "$extra" -ge 24 ] && [ "$extra" -le 80 ] || fail "backing_free counts $extra MiB of the daemon's free pages (expected 32-66)"
echo "ok: the daemon's resident free pages count as backing"
