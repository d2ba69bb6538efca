#!/bin/bash
# Write-back racing a truncation (wb-race.c): a write-back the kernel sent before an
# open(O_TRUNC), ftruncate or punch must not land after it and bring old bytes back.
# With write-through the daemon does not take atomic O_TRUNC, whose OPEN the kernel does
# not fence against write-back (fuse_open calls fuse_set_nowrite only with the writeback
# cache); a truncating SETATTR is always fenced.
. "$(dirname "$0")/lib.sh"
require_mount_env
for opts in size=1G size=1G,writeback_cache; do
	start_fs $opts
	for how in otrunc ftruncate punch; do
		got=$("$WB_RACE" "$MNT/f" 100 $how) || fail "$opts, $how: $got"
		echo "ok: $opts, write-back racing $how: $got"
	done
	stop_fs
done
