#!/bin/bash
# The sparse array, as people make one: a 1.5 TB numpy.memmap (float64 rows of 8 KiB)
# on the mount, 1000 rows at random written through it, flushed and closed; read back
# from a new memmap after the page cache is dropped. Only the rows written take space
# (st_blocks, df), the rest reads as zeros. On the memory store's kernel path a hole
# read through the mapping takes a page, as on tmpfs (sparsefs(8), Data paths): the
# 200 unwritten rows read back count there, and nowhere else.
. "$(dirname "$0")/lib.sh"
require_mount_env
# Debian's python3, whose numpy tools/install-deps installs (one earlier on PATH, e.g.
# pyenv's, may have none)
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { echo "SKIP: no numpy (tools/install-deps installs python3-numpy)"; exit 77; }
start_fs size=1g

used0=$(df_fields -B4096 --output=used)
"$PY" - "$MNT/array" <<'EOF' >"$TMPD/numpy.out" || { cat "$TMPD/numpy.out"; fail "numpy memmap"; }
import os, sys
import numpy as np

path = sys.argv[1]
cols = 1024                                  # a row is 8 KiB: two pages
rows = 1_500_000_000_000 // (8 * cols)       # 1.5 TB
m = np.memmap(path, dtype=np.float64, mode="w+", shape=(rows, cols))
picked = np.random.default_rng(16).choice(rows, 1000, replace=False)
for r in picked:
    m[r, :] = float(r) + 1  # never zeros (a page of zeros may stay a hole)
m.flush()
del m
os.system("sync")
print("written-blocks", os.stat(path).st_blocks)
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)
m = np.memmap(path, dtype=np.float64, mode="r", shape=(rows, cols))
bad = [r for r in picked if not (m[r, :] == float(r) + 1).all()]
others = np.random.default_rng(17).choice(rows, 200, replace=False)
nonzero = [r for r in others if r not in set(picked) and m[r, :].any()]
st = os.stat(path)
print("size", st.st_size, "blocks", st.st_blocks, "bad rows", len(bad), "nonzero others", len(nonzero))
sys.exit(1 if bad or nonzero else 0)
EOF
cat "$TMPD/numpy.out"
check_eq "length" $((1500000000000 / 8192 * 8192)) "$(stat -c %s "$MNT/array")"
# 1000 rows of two pages: 16000 blocks, and what a filesystem of extents may add to
# count its own tree on the kernel path's disk files (sparsefs(8), Data paths)
# (numpy makes the file by writing one zero byte at its end: a data page where the
# kernel serves writes, which keep written zeros as data)
written=$(sed -n 's/^written-blocks //p' "$TMPD/numpy.out")
want=16000
kernel_path && want=16008
check_blocks "st_blocks after the 1000 rows of 8 KiB were written" $want "$written"
blocks=$(stat -c %b "$MNT/array")
if kernel_path && [ "$SPARSEFS_STORE" = memory ]; then
	# the 200 other rows read through the mapping: tmpfs gave each page it faulted
	[ "$blocks" -gt "$written" ] && [ "$blocks" -le $((written + 3200 + 64)) ] ||
		fail "st_blocks $blocks after reading 200 unwritten rows through the mapping"
	echo "ok: st_blocks $blocks after the read-back: holes read through the mapping took pages, as on tmpfs"
else
	check_eq "st_blocks after the read-back: reading holes took nothing" "$written" "$blocks"
fi
check_eq "df used = st_blocks / 8" $((used0 + blocks / 8)) "$(df_fields -B4096 --output=used)"
rm "$MNT/array"
df_expect "df used after rm" "$used0" -B4096 --output=used
stop_fs
echo PASS
