# Test hooks of the memory store (-o backing=memory, the default): lib.sh sources this
# for SPARSEFS_STORE=memory. Every store's hooks file defines the same functions:
#   store_paths            the data paths it has: kernel and daemon, or daemon alone
#   store_setup            once per test, after TMPD exists
#   store_opts             its mount options (before the test's own)
#   store_small_backing S  make what backs the mount S bytes big, to be filled
#   store_outside_put N M  another process takes M MiB of the backing (name N)
#   store_outside_rm N     and gives them back
#   store_settle B         wait until the store's figures show B bytes free
#   store_base_bytes       what size=100% means
#   store_backing_truth    what the backing can give now, bytes
#   store_cleanup          at exit
#   store_describe_human   what sparsefs-df says of it after "store"
#   store_largest          the largest length a file may have on this store and path
#   store_kernel_fs_dir    a directory on the filesystem the kernel path's files are on
#   store_block_slack N    how many blocks st_blocks may count beyond N pages' (check_blocks)
#   store_bound_writes S   before a test fills a mount of size S with writes: where size=
#                          does not bound the kernel's writes, make the backing that small
#   store_write_bound      the bytes the kernel's writes are bounded by where not the
#                          capacity (after store_bound_writes), else nothing
#   store_df_lag           tenths of a second df_expect waits for the figures
#   store_settle_base      wait until size=N% has a steady base to be N% of
#   store_check_sizes      size=N% and the default size, against what they mean here
#   store_check_freed      after 128 MiB written and removed: backing_free against
#                          the backing's own figure (what the store keeps for reuse)
store_df_lag=20 # tenths of a second df_expect waits for the figures
store_paths="kernel daemon"
store_setup() { :; }
store_opts() { echo; }
store_small_backing() { :; } # the mount's size is the limit
store_outside_put() { :; }   # nobody else takes the daemon's memory in a test
store_outside_rm() { :; }
store_settle() { :; }
meminfo_bytes() { awk -v k="$1:" '$1 == k { printf "%.0f\n", $2 * 1024 }' /proc/meminfo; }
store_base_bytes() { meminfo_bytes MemTotal; }
store_backing_truth() { echo $(($(meminfo_bytes MemAvailable) + $(meminfo_bytes SwapFree))); }
store_cleanup() { :; }
store_describe_human() {
	if kernel_path; then
		echo "memory (-o backing: a private tmpfs, the kernel serves the data)"
	else
		echo "memory (-o backing: pages live in the daemon's memory)"
	fi
}
store_largest() { echo 9223372036854775807; }
store_settle_base() { :; }
# The daemon path keeps 32 to 66 MiB of freed pages resident for reuse, which
# MemAvailable cannot count; the kernel path's tmpfs keeps nothing.
store_check_freed() {
	if kernel_path; then check_freed_kept -8 8 memory; else check_freed_kept 24 80 memory; fi
}
# N% of RAM and the default (50%) size as tmpfs sizes.
store_check_sizes() {
	make_ref
	for pct in 10% 50%; do
		mount -o remount,size=$pct "$REF"
		start_fs size=$pct
		check_eq "f_blocks for -o size=$pct (tmpfs)" "$(stat -f -c %b "$REF")" "$(stat -f -c %b "$MNT")"
		stop_fs
	done
	umount "$REF"
	mount -t tmpfs sparsefs-ref "$REF"
	start_fs
	check_eq "f_blocks by default (tmpfs default)" "$(stat -f -c %b "$REF")" "$(stat -f -c %b "$MNT")"
	stop_fs
}
store_kernel_fs_dir() {
	[ -n "$REF" ] || make_ref 1m
	echo "$REF"
}
store_block_slack() { echo 0; }
store_write_bound() { :; }      # the capacity bounds every write
store_bound_writes() { :; } # size= bounds the kernel path's writes: a private tmpfs of that size
