#!/bin/bash
# Hard links, directory link counts, symlinks (compared with tmpfs), and a file unlinked
# while open: readable and writable through the fd, space held until close.
. "$(dirname "$0")/lib.sh"
require_mount_env
make_ref
start_fs

scenario() {
	echo data >f
	ln f g; echo "after ln: f:$(stat -c %h f) g:$(stat -c %h g) same-inode:$([ f -ef g ] && echo y)"
	rm f; echo "after rm f: g:$(stat -c %h g) g=$(cat g)"
	ln g h; ln h i; echo "nlink g after 2 more: $(stat -c %h g)"; rm h i
	mkdir d; echo "link to dir: $("$FSOP" link d dl)"
	echo "dir nlink: .:$(stat -c %h .) d:$(stat -c %h d)"
	mkdir d/a d/b; echo "d with 2 subdirs: $(stat -c %h d)"
	touch d/file; echo "d with a file too: $(stat -c %h d)"
	rmdir d/a; echo "d after rmdir: $(stat -c %h d) .:$(stat -c %h .)"
	ln -s target-not-there s
	echo "symlink: readlink=$(readlink s) $(stat -c '%s %F' s) exists:$([ -e s ] && echo y || echo n)"
	ln -s d sd; echo "through symlink to dir: $(ls sd | tr '\n' ' ')"
	ln -s g sg; echo "through symlink to file: $(cat sg)"
	long=$(printf 'x%.0s' $(seq 4095))
	echo "symlink 4095: $("$FSOP" symlink "$long" L) readlink-len=$(readlink L | tr -d '\n' | wc -c) size=$(stat -c %s L)"
	echo "symlink 4096: $("$FSOP" symlink "${long}x" L2)"
	ln -s l1 l2; ln -s l2 l1; echo "loop: $(cat l1 2>&1)"
	ln sg hsg; echo "hard link to symlink: $(stat -c '%h %F' hsg) readlink=$(readlink hsg)"
	echo "listing: $(ls -a | tr '\n' ' ')"
}
same_as_tmpfs links scenario
out=$TMPD/links.mnt
check_eq "nlink after ln" "f:2 g:2 same-inode:y" "$(line_of "$out" "after ln:")"
check_eq "after rm of one name" "g:1 g=data" "$(line_of "$out" "after rm f:")"
check_eq "dir nlink with 2 subdirs" 4 "$(line_of "$out" "d with 2 subdirs:")"
grep -q "^symlink: readlink=target-not-there 16 symbolic link exists:n$" "$out" || fail "symlink line wrong"
grep -q "^symlink 4095: 0 readlink-len=4095 size=4095$" "$out" || fail "4095-byte symlink wrong"

# unlink while open
head -c 1M /dev/urandom >"$TMPD/u"
used0=$(df_fields -B4096 --output=used)
cp "$TMPD/u" "$MNT/u"
check_eq "df used with the 1 MiB file" $((used0 + 256)) "$(df_fields -B4096 --output=used)"
exec 3<>"$MNT/u"
rm "$MNT/u"
check_eq "name gone" ENOENT "$("$FSOP" stat "$MNT/u")"
cmp - "$TMPD/u" <&3 || fail "unlinked file not readable through its fd"
printf 'more' >&3
check_eq "size through the fd after a write" $((1048576 + 4)) "$(stat -L -c %s /proc/self/fd/3)"
check_eq "df used while open" $((used0 + 257)) "$(df_fields -B4096 --output=used)"
exec 3<&-
df_expect "df used after close" "$used0" -B4096 --output=used
