#!/bin/bash
# cp keeps holes onto and off the mount: a 64 MiB file with scattered data made on tmpfs;
# copies by cp --sparse=always / auto / never must hold the same pages (st_blocks) and
# bytes (cmp), and SEEK_DATA/SEEK_HOLE must map them as tmpfs does.
. "$(dirname "$0")/lib.sh"
require_mount_env
make_ref
start_fs

src=$REF/src
truncate -s 64M "$src"
for i in $(seq 1 40); do
	pg=$(((i * 2654435761) % 16380))
	head -c $(((1 + i % 3) * 4096)) /dev/urandom | dd of="$src" bs=4096 seek=$pg conv=notrunc status=none
done
printf 'unaligned' | dd of="$src" bs=1 seek=12345678 conv=notrunc status=none
printf 'tail' | dd of="$src" bs=1 seek=$(((64 << 20) - 4)) conv=notrunc status=none
bsrc=$(blocks "$src")
used0=$(df_fields -B4096 --output=used)
echo "source on tmpfs: $(stat -c '%s bytes, %b blocks' "$src")"

extents() { "$FSOP" extents "$1"; } # "data-start hole-start" lines by SEEK_DATA/SEEK_HOLE
extents "$src" >"$TMPD/src.ext"
echo "source extents (SEEK_DATA/SEEK_HOLE): $(wc -l <"$TMPD/src.ext")"
[ "$(wc -l <"$TMPD/src.ext")" -gt 10 ] || fail "source has too few extents to test anything"

copy() { # WHAT SRC DST [CP-ARGS]
	cp "${@:4}" "$2" "$3"
	cmp "$2" "$3" || fail "$1: content differs"
	check_eq "$1: st_blocks (source: $bsrc)" "$bsrc" "$(blocks "$3")"
	extents "$3" >"$TMPD/ext"
	diff "$TMPD/src.ext" "$TMPD/ext" || fail "$1: SEEK_DATA/SEEK_HOLE map differs from tmpfs's"
}
copy "cp --sparse=always onto the mount" "$src" "$MNT/a" --sparse=always
copy "cp --sparse=always off the mount" "$MNT/a" "$REF/b" --sparse=always
copy "cp (auto) onto the mount" "$src" "$MNT/c"
copy "cp (auto) off the mount" "$MNT/c" "$REF/d"
if zero_pages_are_holes; then
	# cp --sparse=never writes every zero: zero-page detection keeps them holes
	copy "cp --sparse=never onto the mount" "$src" "$MNT/e" --sparse=never
	cat "$src" >"$MNT/g"
	cmp "$src" "$MNT/g" || fail "cat onto the mount: content differs"
	check_eq "cat onto the mount: st_blocks" "$bsrc" "$(blocks "$MNT/g")"
	check_eq "df -B4096 used for 4 copies" $((used0 + 4 * bsrc / 8)) "$(df_fields -B4096 --output=used)"
else
	# The kernel path stores written zeros, as tmpfs does: every page, on both.
	cp --sparse=never "$src" "$REF/e"
	cp --sparse=never "$src" "$MNT/e"
	cmp "$src" "$MNT/e" || fail "cp --sparse=never onto the mount: content differs"
	check_eq "cp --sparse=never onto the mount: st_blocks as on tmpfs" "$(blocks "$REF/e")" "$(blocks "$MNT/e")"
	rm "$REF/e"
	check_eq "df -B4096 used for 3 copies" $((used0 + 2 * bsrc / 8 + $(blocks "$MNT/e") / 8)) \
		"$(df_fields -B4096 --output=used)"
fi
rm "$MNT"/?
df_expect "df -B4096 used after rm" "$used0" -B4096 --output=used
