#!/bin/bash
# mount(8) and fstab through the mount.fuse3 helper convention: `mount -t fuse.sparsefs
# none MNT -o size=4G` runs `sparsefs none MNT -o ...` found by name on PATH, which
# daemonizes. The test finds that daemon, unmounts with umount(8), waits for it to exit
# and leaves nothing mounted, whatever happens.
# mount(8) drops PATH from the helper's environment (util-linux sanitize_env), and
# mount.fuse3's /bin/sh then finds `sparsefs` on its default PATH only, as once installed.
# So the test runs in a private mount namespace where a temp dir holding a `sparsefs`
# symlink is bind-mounted over /usr/local/sbin: the host's tree is never touched.
if [ -z "${SPARSEFS_MH_NS:-}" ]; then
	[ -x /sbin/mount.fuse3 ] || { echo "SKIP: no /sbin/mount.fuse3"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
	[ "$(id -u)" = 0 ] || { echo "SKIP: mount tests need root"; exit 77; }
	SPARSEFS_MH_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
require_mount_env
command -v getfattr >/dev/null || { echo "SKIP: no getfattr"; exit 77; }
[ -d /usr/local/sbin ] || fail "no /usr/local/sbin to put sparsefs on mount.fuse3's PATH"

BIN=$TMPD/bin
mkdir "$BIN"
ln -s "$(realpath "$SPARSEFS")" "$BIN/sparsefs"
mount --bind "$BIN" /usr/local/sbin
export PATH="$BIN:$PATH"
MNT=$TMPD/mnt
mkdir "$MNT"
HPID=

# The daemonized sparsefs serving $MNT: its exe is ours and $MNT is in its argv.
daemon_pid() {
	exe=$(realpath "$SPARSEFS")
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$exe" ] || continue
		tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF "$MNT" || continue
		echo "${d#/proc/}"
		return 0
	done
	return 1
}

# wait_gone: the daemon must exit within 10 s of the unmount.
wait_gone() {
	[ -n "$HPID" ] || return 0
	i=0
	while pid_alive "$HPID"; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			kill -KILL "$HPID" 2>/dev/null || :
			HPID=
			echo "FAIL: daemon still running 10 s after umount" >&2
			return 1
		fi
		sleep 0.1
	done
	HPID=
}

helper_cleanup() {
	st=$?
	set +e
	if is_mounted "$MNT"; then
		umount "$MNT" 2>/dev/null || fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
		st=1
	fi
	wait_gone || st=1
	umount /usr/local/sbin 2>/dev/null
	(exit $st) # hand the status to lib.sh's cleanup, which removes $TMPD
	cleanup
}
trap helper_cleanup EXIT

fstype_of() { # the fstype field of $1's line in mountinfo (after the " - ")
	awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 1) }' /proc/self/mountinfo
}

mounted_by_helper() { # WHAT: it is mounted, as fuse.sparsefs, served by our daemon
	is_mounted "$MNT" || fail "$1: $MNT is not mounted"
	check_eq "$1: fstype" fuse.sparsefs "$(fstype_of "$MNT")"
	HPID=$(daemon_pid) || fail "$1: no sparsefs process serving $MNT"
	echo "ok: $1: daemon pid $HPID (daemonized)"
}

unmount_and_wait() { # WHAT
	umount "$MNT" || fail "$1: umount failed"
	wait_gone || exit 1
	! is_mounted "$MNT" || fail "$1: still mounted after umount"
	echo "ok: $1: unmounted, daemon exited"
}

# 1. mount -t fuse.sparsefs none MNT -o size=4G
mount -t fuse.sparsefs none "$MNT" -o "$(mount_opts size=4G)" || fail "mount -t fuse.sparsefs failed"
mounted_by_helper "mount -t"
check_eq "mount -t: statfs f_blocks" 1048576 "$(stat -f -c %b "$MNT")"
check_eq "mount -t: capacity xattr" $((4 << 30)) "$(getfattr -n user.sparsefs.capacity --only-values "$MNT")"
printf 'hello through mount(8)\n' >"$MNT/hello"
check_eq "mount -t: read back" "hello through mount(8)" "$(cat "$MNT/hello")"
unmount_and_wait "mount -t"

# 2. an fstab line, through mount -T (util-linux --fstab)
FSTAB=$TMPD/fstab
printf '# sparsefs scratch\nnone %s fuse.sparsefs %s 0 0\n' "$MNT" "$(mount_opts size=64M,overcommit=never)" >"$FSTAB"
mount -T "$FSTAB" "$MNT" || fail "mount -T $FSTAB $MNT failed"
mounted_by_helper "fstab"
check_eq "fstab: policy" never "$(getfattr -n user.sparsefs.policy --only-values "$MNT")"
check_eq "fstab: statfs f_blocks" 16384 "$(stat -f -c %b "$MNT")"
truncate -s 8M "$MNT/n"
check_eq "fstab: never backs truncate" 16384 "$(stat -c %b "$MNT/n")"
unmount_and_wait "fstab"

# 3. the same fstab line mounts by mountpoint alone, and `mount -a -T` too
mount -a -T "$FSTAB" || fail "mount -a -T $FSTAB failed"
mounted_by_helper "mount -a"
unmount_and_wait "mount -a"
echo PASS
