# Sourced by every mount test: start sparsefs on a temp dir, assert, always unmount.
#
# Environment (set by tests/mount/meson.build):
#   SPARSEFS      the daemon
#   FSOP, RENAME2, MMAP_SCATTER, FSX   helper programs built beside the tests
#   SPARSEFS_STORE  memory (default), disk or rados: the store every start_fs mounts
#                 on. Each store's test hooks are in stores/STORE.sh (what its
#                 options are, how to make its backing small or fill it from outside,
#                 what its figures should be): no test branches on a store's name.
#   SPARSEFS_PATH kernel or daemon: the data path (sparsefs(8), -o passthrough=) every
#                 start_fs asks for; unset, the daemon picks. Every mount test runs on
#                 every store x path the store has (meson.build), or says in its name
#                 list which it cannot apply to. A mount whose options exclude the
#                 kernel path (overcommit=never, writeback_cache) is left to choose.
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
# Debian's python3 (tools/install-deps installs what the tests import), not one earlier
# on PATH (a pyenv shim costs 0.3 s a start, and has no numpy)
if [ -x /usr/bin/python3 ]; then
	python3() { /usr/bin/python3 "$@"; }
fi

TMPD=
MNT=
LOG=
DAEMON_PID=
REF=
STORE=${SPARSEFS_STORE:-memory}
DATA_PATH=${SPARSEFS_PATH:-}
POOL=
POOL_TMPFS=
. "$(dirname "${BASH_SOURCE[0]}")/stores/$STORE.sh"

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
	if [ -n "$DATA_PATH" ] && [[ " $store_paths " != *" $DATA_PATH "* ]]; then
		echo "SKIP: the $STORE store has no $DATA_PATH path"
		exit 77
	fi
	TMPD=$(mktemp -d /tmp/sparsefs-mt.XXXXXX)
	chmod 755 "$TMPD" # other uids must reach the mount inside
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	store_setup
	return 0
}

# zero_pages_are_holes: whether a page of zeros written into a hole stays a hole: where
# the daemon sees the bytes (the daemon path), not on the kernel path (as on tmpfs).
zero_pages_are_holes() { ! kernel_path; }

# kernel_path: whether the mount at $MNT serves its bytes from kernel files.
# kernel_path: the mount (or, unmounted, the last one start_fs made) takes the kernel path
kernel_path() {
	local p
	p=$(getfattr --absolute-names -n user.sparsefs.data_path --only-values "${MNT:-/nonexistent}" 2>/dev/null) ||
		p=$LAST_DATA_PATH
	[ "$p" = kernel ]
}
LAST_DATA_PATH=

is_mounted() { # DIR: mounted per /proc/self/mountinfo (never touches the fs)
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

pid_alive() { # a zombie counts as dead
	[ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# mount_opts [OPTS]: OPTS with the store's options (stores/STORE.sh) and the data path's
# before them, for start_fs and for a test that runs the daemon or mount(8) itself.
mount_opts() {
	local st pt=
	st=$(store_opts "${1:-}")
	case ",${1:-}," in
	*,passthrough=* | *,overcommit=never,* | *,writeback_cache,*) ;;
	*)
		case $DATA_PATH in
		kernel) pt=passthrough=on ;;
		daemon) pt=passthrough=off ;;
		esac
		;;
	esac
	st=$st${st:+${pt:+,}}$pt
	echo "$st${st:+${1:+,}}${1:-}"
}

# use_tmpfs_pool SIZE: what backs the mount made SIZE big, for a test to fill: for the
# disk store a private tmpfs standing in for its disk, for rados a pool with a quota;
# nothing for memory (size= is the limit there).
use_tmpfs_pool() { store_small_backing "$1"; }

# check_freed_kept LO HI WHAT: after freeing, backing_free exceeds what the backing
# itself reports (store_backing_truth) by LO..HI MiB: the freed pages the store keeps
# for reuse, which the backing's own figure cannot count.
check_freed_kept() {
	local bf real extra
	bf=$(getfattr --absolute-names -n user.sparsefs.backing_free --only-values "$MNT")
	real=$(store_backing_truth)
	extra=$(((bf - real) / 1048576))
	echo "backing_free - what the $3 reports, after freeing 128 MiB: $extra MiB"
	[ "$extra" -ge "$1" ] && [ "$extra" -le "$2" ] ||
		fail "backing_free counts $extra MiB beyond the $3's own figure (expected $1..$2)"
	echo "ok: the store's free pages count as backing"
}

# check_sizes_of_backing: size=N% is N% of what backs the mount (a disk's filesystem,
# what a RADOS pool's quota leaves), and the default what it has available at mount.
check_sizes_of_backing() {
	use_tmpfs_pool 256m
	store_settle 268435456
	for pct in 10 50 150; do
		start_fs size=$pct%
		check_eq "f_blocks for -o size=$pct% of a 256 MiB backing" \
			$(((268435456 * pct / 100 + 4095) / 4096)) "$(stat -f -c %b "$MNT")"
		stop_fs
	done
	outside_put other 56
	store_settle $((200 << 20))
	KEEP_DEFAULT_SIZE=1 start_fs
	check_eq "f_blocks by default: what the backing has available" 51200 "$(stat -f -c %b "$MNT")"
	stop_fs
	outside_rm other
}

# outside_put NAME MIB / outside_rm NAME: another process taking MIB MiB of the
# backing (a file beside the disk pool, an object in the RADOS pool) and freeing it.
# outside_put may stop short when the backing fills, as dd does.
outside_put() { store_outside_put "$@"; }
outside_rm() { store_outside_rm "$@"; }

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
	LAST_DATA_PATH=$(getfattr --absolute-names -n user.sparsefs.data_path --only-values "$MNT" 2>/dev/null) || :
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
	store_cleanup
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

# check_blocks WHAT EXPECTED GOT: st_blocks as the contract counts pages, or, where the
# kernel path's files are a filesystem's own (ext4), with what it adds to count its own
# extent tree (store_block_slack: sparsefs(8), Data paths).
check_blocks() {
	local slack
	slack=$(store_block_slack "$2")
	if [ "$3" -ge "$2" ] && [ "$3" -le $(($2 + slack)) ]; then
		echo "ok: $1 = $3$([ "$slack" = 0 ] || echo " (expected $2, up to $slack more)")"
	else
		fail "$1: expected $2 (up to $slack more), got $3"
	fi
}

# df_expect WHAT EXPECTED DF-ARGS...: df's figures for $MNT must come to EXPECTED within
# 2 s (a freed inode may wait for the kernel's FORGET), or the lag its store's figures
# have (store_df_lag, in tenths of a second). A delay is reported.
df_expect() {
	local what=$1 exp=$2 limit=$store_df_lag
	shift 2
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
