# Sourced by every mount test: start sparsefs on a temp dir, assert, always unmount.
#
# Environment (set by tests/mount/meson.build):
#   SPARSEFS      the daemon
#   FSOP, RENAME2, MMAP_SCATTER, FSX   helper programs built beside the tests
#   SPARSEFS_STORE  memory (default), disk or rados: the store every start_fs mounts
#                 on. Every mount test runs once per store. For disk, the pool lives
#                 in $POOL ($TMPD/pool on the machine's disk unless the test sets
#                 POOL first, e.g. to a small tmpfs standing in for a full disk).
#                 For rados, $POOL is a pool of a test cluster: the one tests/run
#                 started (SPARSEFS_CEPH_CONF, SPARSEFS_CEPH_POOL), or else one this
#                 test starts for itself (tests/ceph/cluster.sh, about 10 s) and stops.
#   SPARSEFS_HAVE_RADOS  1 if the daemon was built with librados
#   CEPH_CLUSTER  tests/ceph/cluster.sh
#
# A test calls require_mount_env, then start_fs [OPTS]; from then on $MNT is a mounted
# sparsefs, $TMPD a private scratch dir (not on the mount), $LOG the daemon's stderr.
# On any exit the trap unmounts, waits for the daemon and fails the test if it did not
# exit 0 or if its stderr holds a sanitizer report.

set -eu
umask 022
export LC_ALL=C

TMPD=
MNT=
LOG=
DAEMON_PID=
REF=
STORE=${SPARSEFS_STORE:-memory}
POOL=
POOL_TMPFS=
CEPH_DIR=     # a cluster this test started for itself
CEPH_POOLS=   # pools this test made (use_tmpfs_pool), removed at exit

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

check_eq() { # WHAT EXPECTED GOT
	if [ "$2" = "$3" ]; then
		echo "ok: $1 = $3"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

require_mount_env() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: mount tests need root"; exit 77; }
	[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
	command -v fusermount3 >/dev/null || { echo "SKIP: no fusermount3"; exit 77; }
	[ -n "${SPARSEFS:-}" ] || { echo "SKIP: \$SPARSEFS is not set"; exit 77; }
	[ -x "$SPARSEFS" ] || fail "SPARSEFS=$SPARSEFS is not executable"
	TMPD=$(mktemp -d /tmp/sparsefs-mt.XXXXXX)
	chmod 755 "$TMPD" # other uids must reach the mount inside
	if [ "$STORE" = disk ]; then
		POOL=$TMPD/pool
		mkdir "$POOL"
	fi
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	[ "$STORE" = rados ] && rados_env
	return 0
}

# The cluster for STORE=rados: tests/run's, or one of this test's own.
rados_env() {
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

# ceph_cmd ARGS...: the ceph CLI on the test cluster, bounded.
ceph_cmd() {
	timeout 60 ceph --connect-timeout 20 "$@"
}

is_mounted() { # DIR: mounted per /proc/self/mountinfo (never touches the fs)
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

pid_alive() { # a zombie counts as dead
	[ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# mount_opts [OPTS]: OPTS with the store's options before them (none for memory), for
# start_fs and for a test that runs the daemon or mount(8) itself. On the disk store a
# mount without size= gets 8g: the default (all that the disk has available) would
# show every other writer on this shared disk as Used in df, and the tests compare
# df's figures exactly (options.sh tests the default itself, with KEEP_DEFAULT_SIZE=1).
mount_opts() {
	local st=
	if [ "$STORE" = disk ]; then
		st=backing=$POOL
	elif [ "$STORE" = rados ]; then
		st=backing=rados:$POOL,ceph_conf=$CEPH_CONF
	fi
	if [ -n "$st" ]; then
		case ",${1:-},${KEEP_DEFAULT_SIZE:-}" in
		*,size=* | *,1) ;;
		*) st=$st,size=8g ;;
		esac
	fi
	echo "$st${st:+${1:+,}}${1:-}"
}

# use_tmpfs_pool SIZE: for the disk store, a private tmpfs of SIZE as the pool's
# filesystem (a small disk that a test may fill; or one where a reservation takes
# time, as memory does); for rados, a new pool of the cluster with a quota of SIZE.
# Does nothing for the memory store.
use_tmpfs_pool() {
	if [ "$STORE" = rados ]; then
		POOL=sfs-test-$$-$RANDOM
		bash "$CEPH_CLUSTER" pool "$(dirname "$CEPH_CONF")" "$POOL" "$(numfmt --from=iec "${1^^}")" >/dev/null ||
			fail "cannot make pool $POOL"
		CEPH_POOLS="$CEPH_POOLS $POOL"
		return 0
	fi
	[ "$STORE" = disk ] || return 0
	POOL=$TMPD/pooldisk
	mkdir -p "$POOL"
	mount -t tmpfs -o "size=$1,mode=755" sparsefs-pool "$POOL"
	POOL_TMPFS=$POOL
}

# outside_put NAME MIB / outside_rm NAME: another process taking MIB MiB of the
# backing (a file beside the disk pool, an object in the RADOS pool) and freeing it.
# outside_put may stop short when the backing fills, as dd does.
outside_put() {
	if [ "$STORE" = rados ]; then
		head -c "$(($2 << 20))" /dev/zero >"$TMPD/outside.obj"
		# rados waits for a full pool to drain: give up as dd would
		timeout 3 rados -p "$POOL" put "$1" "$TMPD/outside.obj" 2>/dev/null || :
		rm -f "$TMPD/outside.obj"
	else
		dd if=/dev/zero of="$POOL/$1" bs=1M count="$2" status=none 2>/dev/null || :
	fi
}
outside_rm() {
	if [ "$STORE" = rados ]; then
		timeout 20 rados -p "$POOL" rm --force-full "$1" 2>/dev/null || :
	else
		rm -f "$POOL/$1"
	fi
}

# start_fs [OPTS] [MOUNTPOINT]: start the daemon in the foreground, wait for the mount.
start_fs() {
	local opts
	MNT=${2:-$TMPD/mnt}
	LOG=$TMPD/daemon.log
	mkdir -p "$MNT"
	: >"$LOG"
	opts=$(mount_opts "${1:-}")
	# a script's background jobs start with SIGINT ignored: give the daemon the default
	if [ -n "$opts" ]; then
		env --default-signal=INT "$SPARSEFS" -f "$MNT" -o "$opts" 2>"$LOG" &
	else
		env --default-signal=INT "$SPARSEFS" -f "$MNT" 2>"$LOG" &
	fi
	DAEMON_PID=$!
	i=0
	while ! is_mounted "$MNT"; do
		if ! pid_alive "$DAEMON_PID"; then
			cat "$LOG" >&2
			DAEMON_PID=
			fail "daemon exited before mounting $MNT (opts: ${1:-none})"
		fi
		i=$((i + 1))
		[ $i -le 100 ] || { cat "$LOG" >&2; fail "$MNT not mounted after 10 s"; }
		sleep 0.1
	done
	mountpoint -q "$MNT" || fail "mountpoint -q $MNT disagrees with mountinfo"
}

# wait_daemon: wait up to 10 s for the daemon to exit. Returns 1 with a message unless it
# exited 0, left nothing mounted and its stderr holds no sanitizer report.
wait_daemon() {
	i=0
	while pid_alive "$DAEMON_PID"; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "FAIL: daemon still running 10 s after unmount" >&2
			kill -KILL "$DAEMON_PID" 2>/dev/null || :
			wait "$DAEMON_PID" 2>/dev/null || :
			DAEMON_PID=
			return 1
		fi
		sleep 0.1
	done
	rc=0
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	if is_mounted "$MNT"; then
		echo "FAIL: $MNT still mounted after the daemon exited" >&2
		return 1
	fi
	if grep -E 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$LOG" >/dev/null; then
		cat "$LOG" >&2
		echo "FAIL: sanitizer report in the daemon's stderr" >&2
		return 1
	fi
	if [ $rc != 0 ]; then
		cat "$LOG" >&2
		echo "FAIL: daemon exited with status $rc" >&2
		return 1
	fi
}

# stop_fs [fusermount|umount|TERM|INT]: unmount one way, then wait_daemon.
stop_fs() {
	case ${1:-fusermount} in
	fusermount) fusermount3 -u "$MNT" ;;
	umount) umount "$MNT" ;;
	TERM | INT) kill -"$1" "$DAEMON_PID" ;;
	*) fail "stop_fs: unknown way $1" ;;
	esac
	wait_daemon || exit 1
}

cleanup() {
	st=$?
	set +e
	cd /
	if [ -n "$MNT" ] && is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	if [ -n "$DAEMON_PID" ]; then
		wait_daemon || st=1
	fi
	if [ -n "$REF" ] && is_mounted "$REF"; then
		umount -l "$REF"
	fi
	if [ -n "$POOL_TMPFS" ] && is_mounted "$POOL_TMPFS"; then
		umount -l "$POOL_TMPFS"
	fi
	for p in $CEPH_POOLS; do
		ceph_cmd osd pool rm "$p" "$p" --yes-i-really-really-mean-it >/dev/null 2>&1
	done
	if [ -n "$CEPH_DIR" ]; then
		bash "$CEPH_CLUSTER" stop "$CEPH_DIR" >/dev/null 2>&1
	fi
	[ -n "$TMPD" ] && rm -rf "$TMPD"
	exit $st
}

# make_ref [SIZE]: a private tmpfs at $REF, the reference for "same call on tmpfs".
make_ref() {
	REF=$TMPD/ref
	mkdir -p "$REF"
	mount -t tmpfs -o "size=${1:-256m},mode=755" sparsefs-ref "$REF"
}

daemon_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"
}

# df_fields [DF-ARGS...]: the numbers of df's last line for $MNT, e.g. df_fields -B1 --output=used
df_fields() {
	df "$@" "$MNT" | tail -n 1 | tr -s ' ' | sed 's/^ //'
}

blocks() { stat -c %b "$1"; }

# df_expect WHAT EXPECTED DF-ARGS...: df's figures for $MNT must come to EXPECTED within
# 2 s (a freed inode may wait for the kernel's FORGET); on the RADOS store within 13 s,
# the lag sparsefs(8) states for its figures (what the mount allocated in the 10 s
# before the cluster's last reading, read every second, counts as taken). A delay is
# reported.
df_expect() {
	local what=$1 exp=$2 limit=20
	shift 2
	[ "$STORE" != rados ] || limit=130
	i=0
	while got=$(df_fields "$@") && [ "$got" != "$exp" ]; do
		i=$((i + 1))
		[ $i -le $limit ] || fail "$what: expected '$exp', got '$got' (df $*)"
		sleep 0.1
	done
	[ $i = 0 ] || echo "note: $what took ~$((i * 100)) ms to settle"
	echo "ok: $what = $got"
}

# same_as_tmpfs WHAT FUNC: run FUNC in a fresh dir on tmpfs ($REF) and on the mount;
# their outputs (stdout+stderr, paths relative) must be identical. Output of the mount
# run is left in $TMPD/WHAT.mnt for further checks.
same_as_tmpfs() {
	mkdir "$REF/$1" "$MNT/$1"
	(cd "$REF/$1" && "$2") >"$TMPD/$1.ref" 2>&1 || echo "exit $?" >>"$TMPD/$1.ref"
	(cd "$MNT/$1" && "$2") >"$TMPD/$1.mnt" 2>&1 || echo "exit $?" >>"$TMPD/$1.mnt"
	if ! diff -u "$TMPD/$1.ref" "$TMPD/$1.mnt"; then
		fail "$1: sparsefs differs from tmpfs (- tmpfs, + sparsefs)"
	fi
	echo "ok: $1: same as tmpfs ($(wc -l <"$TMPD/$1.mnt") lines)"
}

# line_of FILE PREFIX: the rest of the first line of FILE that starts with "PREFIX "
line_of() {
	sed -n "s/^$2 //p" "$1" | head -n 1
}

as_nobody() {
	setpriv --reuid 65534 --regid 65534 --clear-groups "$@"
}
