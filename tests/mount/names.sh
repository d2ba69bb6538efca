#!/bin/bash
# Name length limits (255 bytes, f_namemax) for every op that makes or finds a name, and
# readdir of 1000 entries: each listed exactly once, before and after removing a third.
. "$(dirname "$0")/lib.sh"
require_mount_env
start_fs

n255=$(printf 'n%.0s' $(seq 255))
n256=${n255}n
e85=$(printf '\xe2\x82\xac%.0s' $(seq 85)) # 85 x U+20AC = 255 bytes
cd "$MNT"
touch f
check_eq "create, 255 bytes" 0 "$("$FSOP" creat "$n255")"
check_eq "stat, 255 bytes" 0 "$("$FSOP" stat "$n255")"
check_eq "create, 255 bytes of UTF-8" 0 "$("$FSOP" creat "$e85")"
check_eq "create, 256 bytes" ENAMETOOLONG "$("$FSOP" creat "$n256")"
check_eq "create, 258 bytes of UTF-8" ENAMETOOLONG "$("$FSOP" creat "$e85€")"
check_eq "stat, 256 bytes" ENAMETOOLONG "$("$FSOP" stat "$n256")"
check_eq "mkdir, 256 bytes" ENAMETOOLONG "$("$FSOP" mkdir "$n256")"
check_eq "symlink, 256-byte name" ENAMETOOLONG "$("$FSOP" symlink f "$n256")"
check_eq "link, 256-byte name" ENAMETOOLONG "$("$FSOP" link f "$n256")"
check_eq "rename to 256 bytes" ENAMETOOLONG "$("$RENAME2" f "$n256" none)"
check_eq "mkfifo/mknod socket, 256 bytes" ENAMETOOLONG "$("$FSOP" mksock "$n256")"
check_eq "setxattr name over 255 bytes" ERANGE "$("$FSOP" setxattr f "user.$n255" v none)"
check_eq "create, 1100 bytes" ENAMETOOLONG "$("$FSOP" creat "$n255$n255$n255$n255$n255")"
check_eq "ls of the 255-byte name" "$n255" "$(ls | grep '^n')"
rm -f "$n255" "$e85" f

mkdir big
cd big
for i in $(seq 1 1000); do
	# lengths 6..205: entries of different sizes straddle getdents buffers
	printf -v pad '%*s' $((i % 200)) ''
	printf 'e%04d-%s\n' "$i" "${pad// /x}"
done >"$TMPD/names"
xargs -d '\n' touch -- <"$TMPD/names"
{ printf '.\n..\n'; cat "$TMPD/names"; } | sort >"$TMPD/want"
ls -a | sort >"$TMPD/got"
diff -q "$TMPD/want" "$TMPD/got" >/dev/null || { diff "$TMPD/want" "$TMPD/got" | head; fail "readdir of 1000 entries"; }
check_eq "entries listed" 1002 "$(wc -l <"$TMPD/got")"
check_eq "entries listed twice" "" "$(ls -a | sort | uniq -d)"
check_eq "find -type f" 1000 "$(find . -type f | wc -l)"
sed -n '0~3p' "$TMPD/names" | xargs -d '\n' rm --
{ printf '.\n..\n'; sed '0~3d' "$TMPD/names"; } | sort >"$TMPD/want2"
ls -a | sort >"$TMPD/got2"
diff -q "$TMPD/want2" "$TMPD/got2" >/dev/null || { diff "$TMPD/want2" "$TMPD/got2" | head; fail "readdir after removing a third"; }
check_eq "entries after removing 333" 669 "$(wc -l <"$TMPD/got2")"
cd "$MNT"
rm -r big
check_eq "big gone" ENOENT "$("$FSOP" stat big)"
check_eq "root listing at the end" "$(printf '.\n..')" "$(ls -a)"
cd /
