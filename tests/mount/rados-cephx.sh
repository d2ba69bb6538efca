#!/bin/bash
# The RADOS store on a cluster that authenticates (cephx), as real clusters do, on a
# test cluster of its own started with CEPH_AUTH=cephx:
#   1. a key with only the caps sparsefs(8) lists (mon 'allow r', osd 'allow rw
#      pool=P, allow pool=P class lock') mounts with -o ceph_id=,ceph_keyring=: bytes
#      written and read back cold, a reservation, df from the pool's figures, and
#      unmount leaves nothing in the pool;
#   2. a missing keyring, a wrong key, an unknown id and caps without the lock class
#      are one line and exit 1, nothing mounted and nothing left in the pool, in the
#      foreground and in the background alike (the exit of the command that mounted);
#   3. sparsefs-clean, with the same key (-i, -k), removes a killed mount's namespace.
SPARSEFS_STORE=rados
SPARSEFS_CEPH_CONF= # a cluster of its own, with cephx
export CEPH_AUTH=cephx
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -x "${SPARSEFS_CLEAN:-}" ] || fail "SPARSEFS_CLEAN=${SPARSEFS_CLEAN:-} is not executable"
grep -q '^auth client required = cephx' "$CEPH_CONF" || fail "the test cluster runs without cephx"
CDIR=$(dirname "$CEPH_CONF")
KEY=$(bash "$CEPH_CLUSTER" client "$CDIR" sfs "$POOL") || fail "cannot make client.sfs"
echo "client.sfs: $(ceph_cmd auth get client.sfs 2>/dev/null | grep caps | tr -s '\t\n' '  ')"
AUTH="ceph_id=sfs,ceph_keyring=$KEY"
objects() { rados -p "$POOL" --all ls | sort; } # as admin: every namespace
head -c $((9 << 20)) /dev/urandom >"$TMPD/data"

# 3 (begun first: a killed mount's lock lapses 30 s after its last renewal, while
# the rest runs). A mount with the key, killed.
start_fs "size=1g,$AUTH"
KILLED_NS=$(getfattr -n user.sparsefs.store_where --only-values "$MNT" | cut -d/ -f2)
cp "$TMPD/data" "$MNT/f"
sync
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || :
DAEMON_PID=
fusermount3 -u -z "$MNT" 2>/dev/null || umount -l "$MNT"
[ -n "$(rados -p "$POOL" -N "$KILLED_NS" ls)" ] || fail "the killed mount's namespace is empty already"
BEFORE=$(objects)

# 2. Refused with one line (beside the data path's note) and exit 1.
mkdir -p "$TMPD/m0"
refuse() { # WHAT WORDS OPTS
	local fg rc out
	for fg in -f ""; do
		rc=0
		"$SPARSEFS" $fg "$TMPD/m0" -o "backing=rados:$POOL,ceph_conf=$CEPH_CONF,$3" \
			2>"$TMPD/err" </dev/null || rc=$?
		out=$(grep -v '^sparsefs: the daemon serves every byte' "$TMPD/err" || :)
		echo "$1 (${fg:-background}): exit $rc: $out"
		[ "$rc" = 1 ] || fail "$1 (${fg:-background}): exit $rc"
		[ "$(grep -c . <<<"$out")" = 1 ] || fail "$1 (${fg:-background}): not one line"
		grep -q "$2" <<<"$out" || fail "$1: the message does not say '$2'"
		! is_mounted "$TMPD/m0" || fail "$1: mounted"
	done
}
refuse "missing keyring" "cannot read the keyring" "ceph_id=sfs,ceph_keyring=$TMPD/none.keyring"
ceph-authtool --create-keyring "$TMPD/wrong.keyring" --gen-key -n client.sfs >/dev/null
refuse "wrong key" "refused the credentials" "ceph_id=sfs,ceph_keyring=$TMPD/wrong.keyring"
refuse "unknown id" "refused the credentials" "ceph_id=nobody,ceph_keyring=$KEY"
LOCKLESS=$(ceph_cmd auth get-or-create client.nolock mon 'allow r' osd "allow rw pool=$POOL" \
	-o "$TMPD/nolock.keyring" && echo "$TMPD/nolock.keyring")
refuse "caps without the lock class" "class lock" "ceph_id=nolock,ceph_keyring=$LOCKLESS"
check_eq "the pool's objects after the refusals" "$BEFORE" "$(objects)"

# 1. A mount with the limited key.
start_fs "size=1g,$AUTH"
NS=$(getfattr -n user.sparsefs.store_where --only-values "$MNT" | cut -d/ -f2)
cp "$TMPD/data" "$MNT/f"
fallocate -l 8M "$MNT/r"
sync
echo 3 >/proc/sys/vm/drop_caches
cmp "$TMPD/data" "$MNT/f" || fail "the data read back cold"
check_eq "blocks of the reservation" $((8 << 11)) "$(stat -c %b "$MNT/r")"
df_expect "df used (KiB) after 9 MiB written and 8 MiB reserved" $(((9 + 8) << 10)) --output=used
[ "$(rados -p "$POOL" -N "$NS" ls | grep -c '^slab\.')" -ge 4 ] || fail "no slab objects in $NS"
stop_fs
check_eq "the pool's objects after unmount" "$BEFORE" "$(objects)"
echo "ok: mounted with client.sfs's caps, kept every byte, left nothing"

# 3. The killed mount's namespace, removed by sparsefs-clean with the same key.
# its lock lapses RADOS_LOCK_S after the last renewal
for i in $(seq 60); do
	"$SPARSEFS_CLEAN" -c "$CEPH_CONF" -i sfs -k "$KEY" "rados:$POOL" >"$TMPD/clean" 2>&1 ||
		fail "sparsefs-clean -i sfs -k: $(cat "$TMPD/clean")"
	[ -n "$(rados -p "$POOL" -N "$KILLED_NS" ls)" ] || break
	sleep 1
done
echo "sparsefs-clean: $(tr '\n' ' ' <"$TMPD/clean")"
check_eq "the pool's objects after sparsefs-clean" "" "$(objects)"
echo "ok: sparsefs-clean with client.sfs's key removed the killed mount's namespace"
