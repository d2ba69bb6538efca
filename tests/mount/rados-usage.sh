#!/bin/bash
# The RADOS store is sparse in the pool, not only in the file (sparsefs(8), RADOS):
# whatever the write pattern, the objects of the mount's namespace (what quotas and
# the pool's STORED count: an object's size up to its highest byte) stay within 2x of
# the bytes the mount holds (data + reserved pages, the `used` figure), once the
# trimmer has caught up. Patterns, in a fresh pool of its own:
#   rand    4 KiB pages at random over a 1 TiB file
#   stride  one page per 4 MiB (the last page of each), over 4 GiB
#   seq     1 MiB writes, 64 MiB
#   punch   every other page of seq punched
#   resv    a 32 MiB fallocate, then 4 KiB writes into it at random
# and every file reads back as written (pages move inside the objects).
SPARSEFS_STORE=rados
. "$(dirname "$0")/lib.sh"
require_mount_env
vx() { getfattr --absolute-names -n "user.sparsefs.$1" --only-values "$MNT"; }

use_tmpfs_pool 2g
start_fs size=1g
NS=$(getfattr --absolute-names -n user.sparsefs.store_where --only-values "$MNT" | cut -d/ -f2)
# extent: the bytes the namespace's data objects extend over, and how many there are
# (one librados session: a rados command per object took 0.4 s each)
extent() {
	timeout 60 /usr/bin/python3 - "$POOL" "$NS" <<'EOF'
import os, rados, sys
c = rados.Rados(conffile=os.environ["CEPH_CONF"])
c.connect(timeout=30)
io = c.open_ioctx(sys.argv[1])
io.set_namespace(sys.argv[2])
size = n = 0
for o in io.list_objects():
    if o.key != "sparsefs.mount":
        size += io.stat(o.key)[0]
        n += 1
print(size, n)
c.shutdown()
EOF
}
# settled WHAT: waits (30 s at most) until the objects stop changing, then checks
# the bound and prints the figures
settled() {
	local last= now same=0 i=0 held bytes objs
	while [ $same -lt 3 ]; do
		i=$((i + 1))
		[ $i -le 60 ] || fail "$1: the objects still change after 30 s"
		now=$(extent)
		if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
		last=$now
		sleep 0.3
	done
	held=$(vx used)
	read -r bytes objs <<<"$now"
	echo "$1: held $held B, objects extend over $bytes B in $objs objects" \
		"($(awk -v b="$bytes" -v h="$held" 'BEGIN {printf "%.2f", h ? b / h : 0}')x;" \
		"the mount's own count $(vx store.extent) B)"
	[ "$bytes" -le $((2 * held + 65536)) ] || fail "$1: the pool stores more than 2x what the mount holds"
	[ "$bytes" -le "$(vx store.extent)" ] || fail "$1: the objects extend past the mount's own count"
}
# pwrite_pages FILE SEED OFFSET...: 4 KiB of seeded random bytes at each offset;
# the same call with check instead of FILE compares them (after a cache drop)
pages_py='
import os, random, sys
mode, path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
offs = [int(x) for x in sys.stdin.read().split()]
rng = random.Random(seed)
fd = os.open(path, os.O_RDWR if mode == "write" else os.O_RDONLY)
bad = 0
for off in offs:
    page = rng.randbytes(4096)
    if mode == "write":
        os.pwrite(fd, page, off)
    elif os.pread(fd, 4096, off) != page:
        bad += 1
os.close(fd)
if bad:
    sys.exit("%d of %d pages differ" % (bad, len(offs)))
'
pages() { python3 -c "$pages_py" "$@"; }

# rand: 2048 pages at random over 1 TiB (one object each, 1024x, in the old layout)
truncate -s 1T "$MNT/rand"
python3 -c 'import random; r = random.Random(1); print("\n".join(str(r.randrange(1 << 28) * 4096) for _ in range(2048)))' >"$TMPD/rand.offs"
pages write "$MNT/rand" 11 <"$TMPD/rand.offs"
settled rand
# stride: the last page of every 4 MiB over 4 GiB
python3 -c 'print("\n".join(str(i * 4194304 - 4096) for i in range(1, 1025)))' >"$TMPD/stride.offs"
truncate -s 4G "$MNT/stride"
pages write "$MNT/stride" 12 <"$TMPD/stride.offs"
settled "rand+stride"
# seq: 64 MiB in 1 MiB writes
head -c $((64 << 20)) /dev/urandom >"$TMPD/seq"
dd if="$TMPD/seq" of="$MNT/seq" bs=1M status=none
settled "rand+stride+seq"
rm "$MNT/rand" "$MNT/stride"
settled "seq alone"
# punch: every other page of seq
python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDWR)
for p in range(1, 64 * 256, 2):
    if libc.fallocate(fd, 3, ctypes.c_long(p * 4096), ctypes.c_long(4096)):
        sys.exit("punch: " + os.strerror(ctypes.get_errno()))
os.close(fd)
with open(sys.argv[2], "r+b") as f:
    data = bytearray(f.read())
    for p in range(1, 64 * 256, 2):
        data[p * 4096:(p + 1) * 4096] = bytes(4096)
    f.seek(0)
    f.write(data)
' "$MNT/seq" "$TMPD/seq"
settled "seq, every other page punched"
[ "$(vx store.moved)" -gt 0 ] || fail "every other page punched, yet no page was moved down"
echo "ok: $(vx store.moved) pages moved down into the holes"
# resv: a reservation counts as held, and writes into it take no more
fallocate -l 32M "$MNT/resv"
settled "seq punched + 32 MiB reserved"
python3 -c 'import random; r = random.Random(2); print("\n".join(str(r.randrange(8192) * 4096) for _ in range(2000)))' >"$TMPD/resv.offs"
pages write "$MNT/resv" 13 <"$TMPD/resv.offs"
settled "seq punched + 32 MiB reserved, written at random"

# Every byte where it was written, though pages moved inside the objects.
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/seq" "$MNT/seq" || fail "seq after the punches and the moves"
# (the last write of a repeated offset wins: check the last 2000 are readable as a set)
python3 -c '
import os, random, sys
offs = [int(x) for x in open(sys.argv[2]).read().split()]
rng = random.Random(13)
last = {}
for off in offs:
    last[off] = rng.randbytes(4096)
fd = os.open(sys.argv[1], os.O_RDONLY)
bad = sum(os.pread(fd, 4096, off) != page for off, page in last.items())
sys.exit("resv: %d pages differ" % bad if bad else 0)
' "$MNT/resv" "$TMPD/resv.offs"
echo "ok: every file reads back as written"

# What the cluster itself reports for the pool (this mount's namespace is all it
# holds): STORED follows within its own lag.
i=0
until stored=$(ceph_cmd df -f json | python3 -c '
import json, sys
print(next(p["stats"]["stored"] for p in json.load(sys.stdin)["pools"] if p["name"] == sys.argv[1]))' "$POOL") &&
	[ "$stored" -le $((2 * $(vx used) + 65536)) ]; do
	i=$((i + 1))
	[ $i -le 60 ] || fail "ceph df: the pool STORED $stored B 30 s on, the mount holds $(vx used) B"
	sleep 0.5
done
echo "ok: ceph df STORED $stored B, the mount holds $(vx used) B"
rm "$MNT/seq" "$MNT/resv"
settled "all removed"
check_eq "data objects left" "0 0" "$(extent)"
stop_fs
echo "ok: the pool stores what the mount holds"
