# Test hooks of the disk store (-o backing=DIR): see memory.sh for what each does.
# The pool (daemon path) or the private directory of kernel files (kernel path) lives in
# $POOL: $TMPD/pool on the machine's disk, or a small tmpfs standing in for a disk that
# a test fills (store_small_backing).
store_df_lag=20 # tenths of a second df_expect waits for the figures
store_paths="kernel daemon"
store_setup() {
	POOL=$TMPD/pool
	mkdir "$POOL"
}
# Without size=, 8g: the default (all that the disk has available) would show every
# other writer on this shared disk as used in df, and the tests compare df exactly
# (options.sh tests the default itself, with KEEP_DEFAULT_SIZE=1).
store_opts() {
	case ",${1:-},${KEEP_DEFAULT_SIZE:-}" in
	*,size=* | *,1) echo "backing=$POOL" ;;
	*) echo "backing=$POOL,size=8g" ;;
	esac
}
store_small_backing() {
	POOL=$TMPD/pooldisk
	mkdir -p "$POOL"
	mount -t tmpfs -o "size=$1,mode=755" sparsefs-pool "$POOL"
	POOL_TMPFS=$POOL
}
store_outside_put() { dd if=/dev/zero of="$POOL/$1" bs=1M count="$2" status=none 2>/dev/null || :; }
store_outside_rm() { rm -f "$POOL/$1"; }
store_settle() { :; }
store_base_bytes() { stat -f -c '%b %S' "$POOL" | awk '{ printf "%.0f\n", $1 * $2 }'; }
store_backing_truth() { stat -f -c '%a %S' "$POOL" | awk '{ printf "%.0f\n", $1 * $2 }'; }
store_cleanup() {
	if [ -n "$POOL_TMPFS" ] && is_mounted "$POOL_TMPFS"; then
		umount -l "$POOL_TMPFS"
	fi
}
store_describe_human() {
	local fstype
	fstype=$(findmnt -n -o FSTYPE -T "$POOL")
	if kernel_path; then
		echo "disk (-o backing: kernel files in $POOL, $fstype,"
	else
		echo "disk (-o backing: a pool in $POOL, $fstype,"
	fi
}
# The kernel path's files are the disk's own: as long as its filesystem allows
# (ext4: 16 TiB); the daemon path's pool holds pages only.
store_largest() {
	if kernel_path && [ "$(findmnt -n -o FSTYPE -T "$POOL")" = ext4 ]; then
		echo 17592186040320 # 16 TiB - 4 KiB
	else
		echo 9223372036854775807
	fi
}
store_settle_base() { :; }
# The daemon path's pool keeps 64 MiB of freed slots allocated for reuse, which the
# disk's f_bavail cannot count; the kernel path's files give their blocks back.
store_check_freed() {
	if kernel_path; then check_freed_kept -8 8 disk; else check_freed_kept 48 80 disk; fi
}
store_check_sizes() { check_sizes_of_backing; }
store_kernel_fs_dir() { echo "$POOL"; }
# The kernel path's disk files: ext4 counts a block of its extent tree per some 340
# extents, and the tree's index blocks (a few), in st_blocks.
store_block_slack() {
	if kernel_path; then echo $((($1 / 8 / 300 + 4) * 8)); else echo 0; fi
}
# The kernel path's disk files are bounded by the disk, not by size= (sparsefs(8), Data
# paths): a test that fills the mount with writes makes the disk itself that small.
store_bound_writes() { [ "$DATA_PATH" = daemon ] || store_small_backing "$1"; }
# The bytes the kernel path's writes are bounded by instead of the capacity: the small
# backing's, if a test made one.
store_write_bound() {
	if kernel_path && [ -n "$POOL_TMPFS" ]; then
		stat -f -c '%b %S' "$POOL" | awk '{ printf "%.0f\n", $1 * $2 }'
	fi
}
