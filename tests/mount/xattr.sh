#!/bin/bash
# user.* xattrs: set, get, list, remove, XATTR_CREATE/XATTR_REPLACE, empty and 4000-byte
# values, on files and dirs; compared with tmpfs, key answers checked.
. "$(dirname "$0")/lib.sh"
require_mount_env
make_ref
start_fs

scenario() {
	touch f; mkdir d
	setfattr -n user.x -v hello f; echo "get: $(getfattr --only-values -n user.x f)"
	echo "create existing: $("$FSOP" setxattr f user.x v2 create)"
	echo "create new: $("$FSOP" setxattr f user.y v create)"
	echo "replace missing: $("$FSOP" setxattr f user.z v replace)"
	echo "replace existing: $("$FSOP" setxattr f user.y v3 replace) now $(getfattr --only-values -n user.y f)"
	echo "set (no flag) existing: $("$FSOP" setxattr f user.x hello2 none) now $(getfattr --only-values -n user.x f)"
	setfattr -n user.empty f; echo "empty value: [$(getfattr --only-values -n user.empty f)]"
	big=$(head -c 4000 /dev/zero | tr '\0' 'v')
	setfattr -n user.big -v "$big" f; echo "4000-byte value reads back: $([ "$(getfattr --only-values -n user.big f)" = "$big" ] && echo y)"
	echo "list:"; getfattr -d -m - --absolute-names f | sed '/^user.big=/d'
	setfattr -x user.x f; echo "after remove: $(getfattr -n user.x f 2>&1 >/dev/null)"
	echo "remove missing: $(setfattr -x user.nothere f 2>&1)"
	setfattr -n user.onDir -v dirval d; echo "dir: $(getfattr --only-values -n user.onDir d)"
	ln -s f s; echo "symlink, user.x: $(setfattr -h -n user.l -v 1 s 2>&1)"
	cp -a f f2; echo "cp -a keeps: $(getfattr -d --absolute-names f2 | grep -c '^user\.')"
	setfattr -x user.y f; setfattr -x user.empty f; setfattr -x user.big f
	echo "list when none: [$(getfattr -d --absolute-names f)]"
}
same_as_tmpfs xattr scenario
out=$TMPD/xattr.mnt
check_eq "getfattr" hello "$(line_of "$out" "get:")"
check_eq "XATTR_CREATE on an existing name" EEXIST "$(line_of "$out" "create existing:")"
check_eq "XATTR_CREATE new" 0 "$(line_of "$out" "create new:")"
check_eq "XATTR_REPLACE on a missing name" ENODATA "$(line_of "$out" "replace missing:")"
check_eq "XATTR_REPLACE existing" "0 now v3" "$(line_of "$out" "replace existing:")"
check_eq "listing" 'user.empty="" user.x="hello2" user.y="v3"' "$(grep '^user\.' "$out" | tr '\n' ' ' | sed 's/ $//')"
grep -q "^after remove: .*No such attribute" "$out" || fail "user.x still there after setfattr -x"
