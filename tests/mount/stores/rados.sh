# Test hooks of the RADOS store (-o backing=rados:POOL): see memory.sh for what each
# does. $POOL is a pool of a test cluster: the one tests/run started
# (SPARSEFS_CEPH_CONF, SPARSEFS_CEPH_POOL), or else one this test starts for itself
# (tests/ceph/cluster.sh, about 10 s) and stops. Only the daemon path: the bytes live
# in a cluster, not in a kernel file.
# df may lag, as sparsefs(8) states for this store's figures: what the mount
# allocated in the 10 s before the cluster's last reading counts as taken, and the
# reading is every second on a busy mount, every 15 s on an idle one (other clients'
# changes: about 25 s).
store_df_lag=280 # tenths of a second df_expect waits for the figures
store_paths="daemon"
CEPH_DIR=   # a cluster this test started for itself
CEPH_POOLS= # pools this test made (store_small_backing), removed at exit

store_setup() {
	[ "${SPARSEFS_HAVE_RADOS:-0}" = 1 ] || { echo "SKIP: sparsefs was built without librados"; exit 77; }
	if [ -n "${SPARSEFS_CEPH_CONF:-}" ]; then
		export CEPH_CONF=$SPARSEFS_CEPH_CONF
		POOL=${SPARSEFS_CEPH_POOL:-sparsefs}
	else
		for c in ceph-mon ceph-osd ceph-mgr rados ceph; do
			command -v $c >/dev/null || { echo "SKIP: no $c (tools/install-deps installs Ceph)"; exit 77; }
		done
		CEPH_DIR=$TMPD/ceph
		bash "$CEPH_CLUSTER" start "$CEPH_DIR" >/dev/null || fail "cannot start a test cluster"
		. "$CEPH_DIR/env"
		export CEPH_CONF
		POOL=$CEPH_POOL
	fi
	rados -p "$POOL" ls >/dev/null || fail "the test cluster's pool $POOL does not answer"
}
# rados_env: the same, for tests of the RADOS store's own promises.
rados_env() { store_setup; }

store_opts() {
	case ",${1:-},${KEEP_DEFAULT_SIZE:-}" in
	*,size=* | *,1) echo "backing=rados:$POOL,ceph_conf=$CEPH_CONF" ;;
	*) echo "backing=rados:$POOL,ceph_conf=$CEPH_CONF,size=8g" ;;
	esac
}

# A new pool of the cluster with a quota of the size.
store_small_backing() {
	POOL=sfs-test-$$-$RANDOM
	bash "$CEPH_CLUSTER" pool "$(dirname "$CEPH_CONF")" "$POOL" "$(numfmt --from=iec "${1^^}")" >/dev/null ||
		fail "cannot make pool $POOL"
	CEPH_POOLS="$CEPH_POOLS $POOL"
}

store_outside_put() {
	head -c "$(($2 << 20))" /dev/zero >"$TMPD/outside.obj"
	# rados waits for a full pool to drain: give up as dd would
	timeout 3 rados -p "$POOL" put "$1" "$TMPD/outside.obj" 2>/dev/null || :
	rm -f "$TMPD/outside.obj"
}
store_outside_rm() { timeout 20 rados -p "$POOL" rm --force-full "$1" 2>/dev/null || :; }

# ceph_cmd ARGS...: the ceph CLI on the test cluster, bounded.
ceph_cmd() {
	timeout 60 ceph --connect-timeout 20 "$@"
}

# rados_pool_free [POOL]: bytes the pool can still take as the cluster reports it:
# min(MAX AVAIL, quota - stored), as the RADOS store reads them.
rados_pool_free() {
	local p=${1:-$POOL}
	{ ceph_cmd df -f json; echo; ceph_cmd osd pool get-quota "$p" -f json; echo; } |
		python3 -c '
import json, sys
pool = sys.argv[1]
df, quota = [json.loads(l) for l in sys.stdin if l.strip()]
st = next(x["stats"] for x in df["pools"] if x["name"] == pool)
free = st["max_avail"]
if quota["quota_max_bytes"]:
    free = min(free, max(0, quota["quota_max_bytes"] - st["stored"]))
print(free)' "$p"
}

# wait_pool_free BYTES: until the cluster's figures for $POOL say BYTES (they lag by
# seconds after a write); fails after 30 s.
wait_pool_free() {
	local i=0 got
	while got=$(rados_pool_free) && [ "$got" != "$1" ]; do
		i=$((i + 1))
		[ $i -le 60 ] || fail "pool $POOL: free $got, expected $1 after 30 s"
		sleep 0.5
	done
	[ $i = 0 ] || echo "note: the cluster's figures took ~$((i * 500)) ms to show it"
}
store_settle() { wait_pool_free "$1"; }
store_base_bytes() { rados_pool_free; }
store_backing_truth() { rados_pool_free; }

store_cleanup() {
	for p in $CEPH_POOLS; do
		ceph_cmd osd pool rm "$p" "$p" --yes-i-really-really-mean-it >/dev/null 2>&1
	done
	if [ -n "$CEPH_DIR" ]; then
		bash "$CEPH_CLUSTER" stop "$CEPH_DIR" >/dev/null 2>&1
	fi
}
store_describe_human() {
	echo "rados (-o backing: RADOS pool $POOL, namespace $(getfattr --absolute-names -n user.sparsefs.backing --only-values "$MNT" | cut -d' ' -f2 | cut -d/ -f2),"
}
store_largest() { echo 9223372036854775807; }
# A pool's base is what it can take: after the last test's unmount it may still be
# settling.
store_settle_base() {
	rados_pool_free >/dev/null && sleep 6 && wait_pool_free "$(rados_pool_free)"
}
# No pages kept for reuse: the objects are removed; once the cluster's figures show
# it (they lag), backing_free is the pool's figure again, nothing more. The daemon
# reads the figures every second and they move as the cluster settles: the two must
# meet within 15 s.
store_check_freed() {
	local i=0 bf want
	until bf=$(getfattr --absolute-names -n user.sparsefs.backing_free --only-values "$MNT") &&
		want=$(($(rados_pool_free) / 4096 * 4096)) && [ "$bf" = "$want" ]; do
		i=$((i + 1))
		[ $i -le 30 ] || fail "rados: backing_free $bf, the pool's figure $want, 15 s after 128 MiB written and removed"
		sleep 0.5
	done
	echo "ok: rados: backing_free after 128 MiB written and removed = the pool's figure = $bf (after ~$((i * 500)) ms)"
}
store_check_sizes() { check_sizes_of_backing; }
store_kernel_fs_dir() { fail "the RADOS store has no kernel files"; }
store_block_slack() { echo 0; }
store_write_bound() { :; }      # the capacity bounds every write
store_bound_writes() { :; } # the daemon path only: the daemon bounds every write
