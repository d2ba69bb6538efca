#!/bin/bash
# The RADOS store's own promises (DESIGN.md "Stores"), whatever SPARSEFS_STORE says,
# on a test cluster of this test's own (its OSD is frozen below):
#   1. a missing pool, no cluster, refused credentials, no configuration and bad
#      options are one line and exit 1, nothing mounted; a pool created just now
#      mounts;
#   2. holes cost nothing: pages packed into 4 MiB slab objects, only as many as the
#      data needs; punch, truncate and rm give the objects back; unmount leaves
#      nothing (rados-usage checks the bound for many write patterns);
#   3. two mounts share a pool without seeing each other's bytes;
#   4. what a killed daemon left is removed by sparsefs-clean, once its lock lapses,
#      and a live mount's namespace is never touched;
#   5. a reservation is space the cluster really allocated: fallocate 16 MiB, another
#      client fills the pool to its 64 MiB quota, then the 16 MiB is written by
#      write(2) and through a mapping and every byte is kept; a new page is ENOSPC at
#      once (not EDQUOT, not EIO, not a hang);
#   6. an OSD that stops answering makes requests fail with EIO after rados_timeout,
#      the daemon keeps serving what it can, recovers with the OSD, and unmounts
#      cleanly even while the OSD is gone.
SPARSEFS_STORE=rados
SPARSEFS_CEPH_CONF= # a cluster of its own: section 6 freezes its OSD
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -x "${SPARSEFS_CLEAN:-}" ] || fail "SPARSEFS_CLEAN=${SPARSEFS_CLEAN:-} is not executable"
vx() { getfattr -n "user.sparsefs.$1" --only-values "$MNT"; }
ns_of() { vx store_where | cut -d/ -f2; } # the mounted one's namespace
objects() { rados -p "${2:-$POOL}" -N "$1" ls | grep -v '^sparsefs.mount$' | sort; }
count() { objects "$@" | grep -c . || :; }
# wait_count NS N: until namespace NS holds N data objects (trims are sent by a thread)
wait_count() {
	local i=0
	while [ "$(count "$1")" != "$2" ]; do
		i=$((i + 1))
		[ $i -le 50 ] || fail "namespace $1: $(count "$1") objects, expected $2: $(objects "$1" | tr '\n' ' ')"
		sleep 0.1
	done
	echo "ok: namespace holds $2 data objects"
}

# 1. Refused with one line, nothing mounted.
mkdir -p "$TMPD/m0"
refuse() { # WHAT OPTS EXPECTED-WORDS [MAX-SECONDS]
	local rc=0 t0=$SECONDS
	"$SPARSEFS" -f "$TMPD/m0" -o "$2" 2>"$TMPD/err" </dev/null || rc=$?
	echo "$1: exit $rc after $((SECONDS - t0)) s: $(cat "$TMPD/err")"
	[ "$rc" = 1 ] || fail "$1: exit $rc"
	[ "$(wc -l <"$TMPD/err")" = 1 ] || fail "$1: not one line"
	grep -q "$3" "$TMPD/err" || fail "$1: message does not say '$3'"
	! is_mounted "$TMPD/m0" || fail "$1: mounted"
	[ $((SECONDS - t0)) -le "${4:-5}" ] || fail "$1: took $((SECONDS - t0)) s"
}
printf '[global]\nmon host = 127.0.0.1:1\n' >"$TMPD/nocluster.conf"
{ cat "$CEPH_CONF"; printf '[client]\nauth client required = cephx\nkeyring = %s\n' "$TMPD/fake.keyring"; } \
	>"$TMPD/cephx.conf"
ceph-authtool --create-keyring "$TMPD/fake.keyring" --gen-key -n client.admin >/dev/null
sed "s|$TMPD/fake.keyring|$TMPD/missing.keyring|" "$TMPD/cephx.conf" >"$TMPD/nokeyring.conf"
refuse "no such pool" "backing=rados:nosuchpool,ceph_conf=$CEPH_CONF" "no such pool"
refuse "no cluster" "backing=rados:$POOL,ceph_conf=$TMPD/nocluster.conf" "no Ceph cluster answered within 10 s" 15
refuse "credentials refused" "backing=rados:$POOL,ceph_conf=$TMPD/cephx.conf" "refused the credentials"
refuse "no keyring" "backing=rados:$POOL,ceph_conf=$TMPD/nokeyring.conf" "no keyring"
refuse "no configuration" "backing=rados:$POOL,ceph_conf=$TMPD/missing.conf" "Ceph configuration"
refuse "empty pool name" "backing=rados:" "expected rados:POOL"
refuse "rados_timeout=0" "backing=rados:$POOL,rados_timeout=0" "bad rados_timeout"
refuse "ceph_conf without rados" "ceph_conf=$CEPH_CONF" "needs backing=rados:POOL"

# 1b. A pool created just now mounts: the daemon waits (within rados_timeout) until
# the cluster's figures list it, rather than failing on their absence.
NEWPOOL=sfs-new-$$
ceph_cmd osd pool create "$NEWPOOL" 8 8 replicated >/dev/null
mkdir -p "$TMPD/m1"
t0=$SECONDS
"$SPARSEFS" "$TMPD/m1" -o "backing=rados:$NEWPOOL,ceph_conf=$CEPH_CONF,size=64m" 2>"$TMPD/err" ||
	fail "a mount right after 'ceph osd pool create': $(cat "$TMPD/err")"
echo "ok: mounted a pool created just now after $((SECONDS - t0)) s"
echo fresh >"$TMPD/m1/f"
check_eq "a file in it" fresh "$(cat "$TMPD/m1/f")"
fusermount3 -u "$TMPD/m1"
for _ in $(seq 50); do pgrep -f "sparsefs $TMPD/m1" >/dev/null || break; sleep 0.1; done
ceph_cmd osd pool rm "$NEWPOOL" "$NEWPOOL" --yes-i-really-really-mean-it >/dev/null

# 2. Holes cost nothing; objects only where data is, given back by punch, truncate, rm.
start_fs size=1g
NS=$(ns_of)
echo "store: $(vx store) at $(vx store_where), max_avail $(vx store.max_avail)"
case $NS in sparsefs.????????????????) ;; *) fail "namespace '$NS' is not sparsefs.<mount id>" ;; esac
check_eq "the mount object" sparsefs.mount "$(rados -p "$POOL" -N "$NS" ls | grep mount)"
check_eq "the mount's readahead (KiB): one 1 MiB READ at a time" 1024 \
	"$(cat "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb")"
truncate -s 1T "$MNT/huge"
check_eq "objects for a 1 TiB hole" 0 "$(count "$NS")"
printf x | dd of="$MNT/huge" bs=1 seek=$(((1 << 30) + 4096)) conv=notrunc status=none
want=slab.00000000000
check_eq "one byte at 1 GiB + 4 KiB: one slab object" "$want" "$(objects "$NS")"
check_eq "its size (the page written, nothing before it costs)" 4096 \
	"$(rados -p "$POOL" -N "$NS" stat "$want" | sed 's/.* size //')"
fallocate -p -o $((1 << 30)) -l 1M "$MNT/huge"
wait_count "$NS" 0
head -c $((12 << 20)) /dev/urandom >"$TMPD/12m"
cp "$TMPD/12m" "$MNT/f"
check_eq "12 MiB file: objects" 3 "$(count "$NS")"
truncate -s 5M "$MNT/f"
wait_count "$NS" 2
check_eq "after truncate to 5 MiB, the second object's size" $((1 << 20)) \
	"$(rados -p "$POOL" -N "$NS" stat slab.00000000001 | sed 's/.* size //')"
cmp <(head -c $((5 << 20)) "$TMPD/12m") "$MNT/f" || fail "5 MiB kept after truncate"
rm "$MNT/f" "$MNT/huge"
wait_count "$NS" 0
cp "$TMPD/12m" "$MNT/g"
stop_fs
check_eq "objects of the namespace after unmount (the mount object too)" 0 \
	"$(rados -p "$POOL" -N "$NS" ls | grep -c . || :)"

# 3. Two mounts, one pool: the same inode numbers, different bytes, never mixed.
start_fs size=1g "$TMPD/a"
A_MNT=$MNT A_PID=$DAEMON_PID A_LOG=$LOG A_NS=$(ns_of)
LOG=$TMPD/daemon-b.log
MNT=$TMPD/b
mkdir -p "$MNT"
"$SPARSEFS" -f "$MNT" -o "backing=rados:$POOL,ceph_conf=$CEPH_CONF,size=1g" 2>"$LOG" &
B_PID=$!
for _ in $(seq 100); do is_mounted "$MNT" && break; sleep 0.1; done
is_mounted "$MNT" || fail "second mount"
B_MNT=$MNT B_NS=$(ns_of)
[ "$A_NS" != "$B_NS" ] || fail "two mounts share namespace $A_NS"
head -c $((6 << 20)) /dev/urandom >"$TMPD/a.src"
head -c $((6 << 20)) /dev/urandom >"$TMPD/b.src"
cp "$TMPD/a.src" "$A_MNT/same"
cp "$TMPD/b.src" "$B_MNT/same"
check_eq "the same inode number on both" "$(stat -c %i "$A_MNT/same")" "$(stat -c %i "$B_MNT/same")"
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/a.src" "$A_MNT/same" || fail "mount A reads B's bytes"
cmp "$TMPD/b.src" "$B_MNT/same" || fail "mount B reads A's bytes"
echo "ok: two mounts in namespaces $A_NS and $B_NS keep their own bytes"

# 4. kill -9 B: its objects stay until sparsefs-clean, which leaves A alone.
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null || :
fusermount3 -u -z "$B_MNT" 2>/dev/null || umount -l "$B_MNT"
check_eq "B's objects after kill -9" 2 "$(count "$B_NS")"
"$SPARSEFS_CLEAN" "rados:$POOL" | tee "$TMPD/clean"
grep -q "^live    $A_NS" "$TMPD/clean" || fail "A not reported live"
# B's lock lapses 30 s after its last renewal: sections 5 and 5b run meanwhile, with A
# still mounted (its log moved aside: theirs is their own), and 4b then finds B gone.
mv "$A_LOG" "$TMPD/daemon-a.log"
A_LOG=$TMPD/daemon-a.log AB_POOL=$POOL T_KILL=$SECONDS
stop_a() {
	if is_mounted "$A_MNT"; then fusermount3 -u "$A_MNT" 2>/dev/null || umount -l "$A_MNT"; fi
	wait "$A_PID" 2>/dev/null
}
trap 'st_=$?; stop_a; (exit $st_); cleanup' EXIT

# 5. A reservation the cluster made: the pool full to its quota, the 16 MiB kept.
use_tmpfs_pool 64m
wait_pool_free $((64 << 20))
start_fs
fallocate -l 16M "$MNT/r"
i=0
while ! ceph_cmd osd pool ls detail | grep "'$POOL'" | grep -q full_quota; do
	i=$((i + 1))
	[ $i -le 40 ] || fail "pool $POOL never full: $(ceph_cmd df | grep "$POOL")"
	outside_put "fill.$i" 4
	sleep 0.5
done
echo "pool full after $i outside objects: $(ceph_cmd df | grep "^$POOL ")"
head -c $((16 << 20)) /dev/urandom >"$TMPD/16m"
dd if="$TMPD/16m" of="$MNT/r" bs=1M conv=notrunc,fsync status=none || fail "write(2) into the reservation"
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/16m" "$MNT/r" || fail "write(2) into the reservation of a full pool lost bytes"
echo "ok: 16 MiB by write(2) into the reservation, pool full: every byte kept"
check_eq "the same 16 MiB through a mapping" "msync=ok fsync=ok intact=4096 lost=0" \
	"$("$MMAPFILL" "$MNT/r" $((16 << 20)) existing)"
check_eq "dropped write-back pages" 0 "$(vx dropped)"
t0=$(date +%s%N)
rc=0
dd if="$TMPD/16m" of="$MNT/new" bs=4k count=1 conv=fsync status=none 2>"$TMPD/err" || rc=$?
echo "a new page: exit $rc after $((($(date +%s%N) - t0) / 1000000)) ms: $(cat "$TMPD/err")"
grep -q "No space left on device" "$TMPD/err" || fail "a new page in a full pool is not ENOSPC"
# Past sparsefs's own figures: the pool is full but the mount does not know it yet.
check_eq "sparsefs df Avail of the full pool" 0 "$(df_fields -B1 --output=avail)"
grep -v '^$' "$LOG" | grep -v 'Disk quota\|No space' && fail "daemon complained: $(cat "$LOG")"
stop_fs
# A full pool still mounts (its mount object is a few bytes past the quota), says so.
start_fs
check_eq "a new mount on the full pool: df Avail" 0 "$(df_fields -B1 --output=avail)"
stop_fs
for j in $(seq $i); do outside_rm "fill.$j"; done

# 5b. The OSDs refuse what sparsefs's figures still allow: a pool full by its object
# quota (which sparsefs does not count) refuses new objects with EDQUOT; write(2)
# must see ENOSPC, write-back an msync error with the pages counted, never EIO.
use_tmpfs_pool 64m
start_fs
printf 'first' >"$MNT/a"
check_eq "objects (the mount's and one of data)" 2 "$(rados -p "$POOL" --all ls | grep -c .)"
ceph_cmd osd pool set-quota "$POOL" max_objects 2 >/dev/null
i=0
until ceph_cmd osd pool ls detail | grep "'$POOL'" | grep -q full_quota; do
	i=$((i + 1))
	[ $i -le 60 ] || fail "pool $POOL not full by its object quota after 30 s"
	sleep 0.5
done
echo "sparsefs still sees room: f_bavail $(stat -f -c %a "$MNT")"
rc=0
# (the data object has room for 4 MiB less a page: 5 MiB needs a new one)
dd if="$TMPD/16m" of="$MNT/b" bs=1M count=5 status=none 2>"$TMPD/err" || rc=$?
echo "a new object in a pool full by objects: exit $rc: $(cat "$TMPD/err")"
grep -q "No space left on device" "$TMPD/err" || fail "write(2) refused by the OSDs is not ENOSPC"
dd if="$TMPD/16m" of="$MNT/a" bs=4k count=1 conv=notrunc status=none || fail "overwrite of the existing object"
check_eq "through a mapping into a new object" "msync=ENOSPC fsync=ok" \
	"$("$MMAPFILL" "$MNT/m" $((4 << 20)) | cut -d' ' -f1-2)"
[ "$(vx dropped)" -gt 0 ] || fail "the refused write-back pages are not counted as dropped"
echo "ok: refused by the OSDs: ENOSPC to write(2), msync ENOSPC and $(vx dropped) pages counted for write-back"
grep -q 'Input/output\|Disk quota' "$LOG" && fail "daemon log: $(cat "$LOG")"
stop_fs

# 4b. (B killed before 5 and 5b) sparsefs-clean removes B's namespace once its lock
# has lapsed, and leaves A alone.
POOL=$AB_POOL
"$SPARSEFS_CLEAN" "rados:$POOL" >"$TMPD/clean"
until grep -q "^removed $B_NS (3 objects)" "$TMPD/clean"; do
	[ $((SECONDS - T_KILL)) -le 45 ] || fail "B's namespace not removed 45 s after kill -9"
	sleep 3
	"$SPARSEFS_CLEAN" "rados:$POOL" >"$TMPD/clean"
done
cat "$TMPD/clean"
echo "ok: sparsefs-clean removed the killed mount's namespace ~$((SECONDS - T_KILL)) s after the kill"
grep -q "^live    $A_NS" "$TMPD/clean" || fail "A not left alone"
check_eq "B's namespace" 0 "$(rados -p "$POOL" -N "$B_NS" ls | grep -c . || :)"
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/a.src" "$A_MNT/same" || fail "A's file after the clean"
"$SPARSEFS_CLEAN" --dry-run "rados:$POOL" | tail -n 1
MNT=$A_MNT DAEMON_PID=$A_PID LOG=$A_LOG
stop_fs
trap cleanup EXIT

# 6. The OSD stops answering (SIGSTOP): EIO after rados_timeout, then back.
POOL=$CEPH_POOL
start_fs size=1g,rados_timeout=5
cp "$TMPD/12m" "$MNT/f"
echo 3 >/proc/sys/vm/drop_caches
bash "$CEPH_CLUSTER" stop-osd "$CEPH_DIR"
# (the test's status must survive the cont-osd: cleanup exits with it)
trap 'st_=$?; bash "$CEPH_CLUSTER" cont-osd "$CEPH_DIR" 2>/dev/null; (exit $st_); cleanup' EXIT
t0=$SECONDS
rc=0
cat "$MNT/f" >/dev/null 2>"$TMPD/err" || rc=$?
echo "read with the OSD gone: exit $rc after $((SECONDS - t0)) s: $(cat "$TMPD/err")"
grep -q "Input/output error" "$TMPD/err" || fail "read is not EIO"
[ $((SECONDS - t0)) -le 20 ] || fail "read took $((SECONDS - t0)) s with rados_timeout=5"
t0=$SECONDS
rc=0
dd if="$TMPD/12m" of="$MNT/g" bs=1M count=1 status=none 2>"$TMPD/err" || rc=$?
echo "write with the OSD gone: exit $rc after $((SECONDS - t0)) s: $(cat "$TMPD/err")"
grep -q "Input/output error" "$TMPD/err" || fail "write is not EIO"
[ $((SECONDS - t0)) -le 12 ] || fail "write took $((SECONDS - t0)) s with rados_timeout=5"
ls -l "$MNT" >/dev/null || fail "ls with the OSD gone"
check_eq "stat with the OSD gone" $((12 << 20)) "$(stat -c %s "$MNT/f")"
sleep 4 # frozen (with the reads and writes above) longer than a PG's read lease (16 s)
t0=$SECONDS
bash "$CEPH_CLUSTER" cont-osd "$CEPH_DIR" # every PG serves again (see cluster.sh)
echo "the OSD serves every PG again after $((SECONDS - t0)) s"
# The same mount serves again: every byte of the file, read cold, within
# rados_timeout (a request sent before the thaw may still time out) and 20 s.
t0=$SECONDS
until echo 3 >/proc/sys/vm/drop_caches && cmp "$TMPD/12m" "$MNT/f" 2>"$TMPD/err"; do
	grep -q "Input/output error" "$TMPD/err" || fail "the file after the OSD came back: $(cat "$TMPD/err")"
	[ $((SECONDS - t0)) -le 25 ] || fail "this mount's requests still fail $((SECONDS - t0)) s after the OSD serves again"
done
echo "ok: the OSD back, the same mount reads the file whole after $((SECONDS - t0)) s"
dd if="$TMPD/12m" of="$MNT/g" bs=1M count=4 status=none || fail "a write on the same mount after the OSD came back"
cmp <(head -c $((4 << 20)) "$TMPD/12m") "$MNT/g" || fail "the write after the OSD came back"
bash "$CEPH_CLUSTER" stop-osd "$CEPH_DIR"
t0=$SECONDS
stop_fs
echo "unmounted with the OSD gone in $((SECONDS - t0)) s: $(grep 'cannot list\|left behind' "$LOG")"
grep -q "sparsefs-clean rados:$POOL" "$LOG" || fail "unmount with the OSD gone did not say what is left"
trap cleanup EXIT # which stops this test's cluster, the frozen OSD too (CONT, TERM)
echo "ok: the RADOS store's promises hold"
