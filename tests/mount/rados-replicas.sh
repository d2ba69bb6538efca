#!/bin/bash
# The RADOS store on a cluster with replicas, as production ones: 3 OSDs, a pool of size
# 3 that serves with 2 (min_size), a cluster of this test's own:
#   1. df follows the pool's MAX AVAIL, which counts the 3 copies (a third of the raw
#      space left);
#   2. one OSD killed (memstore: its copies are gone) while a 1 GiB file is written and
#      another read: neither program sees an error, and every byte reads back cold;
#   3. a second OSD stopped as well (one copy left, below min_size): each request
#      fails with EIO or succeeds within rados_timeout, none hangs past it;
#   4. both OSDs back (the killed one refilled from the copies): the same mount
#      serves again, every byte of both files intact, and takes writes.
# Full mode only (tests/run --full, the 'slow' suite): about 3 minutes, 3 OSDs.
SPARSEFS_STORE=rados
SPARSEFS_CEPH_CONF= # a cluster of its own: it kills and stops OSDs
export CEPH_OSDS=3
. "$(dirname "$0")/lib.sh"
require_mount_env
CDIR=$(dirname "$CEPH_CONF")
check_eq "the pool's size" "size: 3" "$(ceph_cmd osd pool get "$POOL" size)"
check_eq "the pool's min_size" "min_size: 2" "$(ceph_cmd osd pool get "$POOL" min_size)"
TIMEOUT=10
pool_max_avail() {
	ceph_cmd df -f json | python3 -c '
import json, sys
print(next(p["stats"]["max_avail"] for p in json.load(sys.stdin)["pools"] if p["name"] == sys.argv[1]))' "$POOL"
}
raw_avail() { ceph_cmd df -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["total_avail_bytes"])'; }

# 1. df and MAX AVAIL.
start_fs "size=100%,rados_timeout=$TIMEOUT"
ma=$(pool_max_avail)
raw=$(raw_avail)
echo "raw avail $raw, pool MAX AVAIL $ma, df avail $(df_fields -B1 --output=avail)"
python3 -c "import sys; r = $ma / $raw; sys.exit(not 0.28 <= r <= 0.34)" ||
	fail "MAX AVAIL $ma is not about a third of the raw space left ($raw)"
python3 -c "import sys; sys.exit(not abs($(df_fields -B1 --output=avail) - $ma) <= $ma // 50)" ||
	fail "df avail $(df_fields -B1 --output=avail) does not follow MAX AVAIL $ma"
echo "ok: df avail follows MAX AVAIL, a third of the raw space"

# 2. An OSD dies while a 1 GiB write and a 256 MiB read run.
head -c $((1 << 30)) /dev/urandom >"$TMPD/big"
head -c $((256 << 20)) /dev/urandom >"$TMPD/r"
cp "$TMPD/r" "$MNT/r"
sync
echo 3 >/proc/sys/vm/drop_caches
dd if="$TMPD/big" of="$MNT/big" bs=1M conv=fsync status=none 2>"$TMPD/w.err" &
W=$!
(for _ in 1 2 3; do
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$TMPD/r" "$MNT/r" || exit 1
done) 2>"$TMPD/r.err" &
R=$!
sleep 2
bash "$CEPH_CLUSTER" kill-osd "$CDIR" 1
echo "killed osd.1 at $(date +%T.%N | cut -c1-12)"
wait "$W" || fail "the 1 GiB write while an OSD died: $(cat "$TMPD/w.err")"
wait "$R" || fail "the reads while an OSD died: $(cat "$TMPD/r.err")"
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/big" "$MNT/big" || fail "the 1 GiB file read back"
cmp "$TMPD/r" "$MNT/r" || fail "the 256 MiB file read back"
check_eq "I/O errors the daemon counted" 0 "$(getfattr -n user.sparsefs.store.io_errors --only-values "$MNT")"
echo "ok: osd.1 killed under a 1 GiB write and reads: no error, every byte back"

# 3. A second OSD stops: one copy of three is below min_size.
bash "$CEPH_CLUSTER" stop-osd "$CDIR" 2
trap 'st_=$?; bash "$CEPH_CLUSTER" cont-osd "$CDIR" 2 2>/dev/null; (exit $st_); cleanup' EXIT
# one request at a time: a 4 KiB read at each 64 MiB of the file, then a write
echo 3 >/proc/sys/vm/drop_caches
eio=0
for i in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
	t0=$SECONDS
	rc=0
	dd if="$MNT/big" of="$TMPD/piece" bs=4k count=1 skip=$((i * 16384)) status=none 2>"$TMPD/err" || rc=$?
	if [ $rc = 0 ]; then
		cmp "$TMPD/piece" <(dd if="$TMPD/big" bs=4k count=1 skip=$((i * 16384)) status=none) ||
			fail "a read with one copy left returned wrong bytes"
	else
		grep -q "Input/output error" "$TMPD/err" || fail "a read with one copy left: $(cat "$TMPD/err")"
		eio=$((eio + 1))
	fi
	[ $((SECONDS - t0)) -le $((TIMEOUT * 2 + 5)) ] ||
		fail "a 4 KiB read took $((SECONDS - t0)) s with rados_timeout=$TIMEOUT"
done
t0=$SECONDS
rc=0
dd if="$TMPD/r" of="$MNT/w" bs=1M count=1 conv=fsync status=none 2>"$TMPD/err" || rc=$?
echo "with one copy left: $eio of 16 reads EIO; a 1 MiB write+fsync: exit $rc after $((SECONDS - t0)) s $(cat "$TMPD/err")"
[ $rc = 0 ] || grep -q "Input/output error" "$TMPD/err" || fail "the write with one copy left: $(cat "$TMPD/err")"
[ $((SECONDS - t0)) -le $((TIMEOUT * 3 + 5)) ] || fail "the write took $((SECONDS - t0)) s"
[ $eio -gt 0 ] || [ $rc != 0 ] || fail "every request passed with one copy of three"
echo "ok: below min_size, requests fail with EIO within rados_timeout, none hangs"

# 4. Both back: the same mount serves again.
t0=$SECONDS
bash "$CEPH_CLUSTER" cont-osd "$CDIR" 2
bash "$CEPH_CLUSTER" start-osd "$CDIR" 1
trap cleanup EXIT
echo "both OSDs back and every PG active+clean after $((SECONDS - t0)) s"
t0=$SECONDS
until echo 3 >/proc/sys/vm/drop_caches && cmp "$TMPD/big" "$MNT/big" 2>"$TMPD/err"; do
	grep -q "Input/output error" "$TMPD/err" || fail "the 1 GiB file after the OSDs came back: $(cat "$TMPD/err")"
	[ $((SECONDS - t0)) -le $((TIMEOUT * 3)) ] || fail "still EIO $((SECONDS - t0)) s after the OSDs came back"
done
cmp "$TMPD/r" "$MNT/r" || fail "the 256 MiB file after the OSDs came back"
dd if="$TMPD/r" of="$MNT/w" bs=1M count=16 conv=fsync status=none || fail "a write after the OSDs came back"
echo 3 >/proc/sys/vm/drop_caches
cmp <(head -c $((16 << 20)) "$TMPD/r") "$MNT/w" || fail "the write after the OSDs came back"
echo "ok: the same mount reads both files whole and writes again ($((SECONDS - t0)) s)"
stop_fs
