#!/bin/bash
# Multi-user behaviour (FUSE-NOTES.md "Multi-user correctness"), as uid 65534 through
# setpriv: mode checks, ownership of created files, sticky and setgid dirs, killpriv on
# write; compared with tmpfs, key answers checked.
. "$(dirname "$0")/lib.sh"
require_mount_env
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
make_ref
start_fs mode=0755

scenario() {
	echo secret >f; chmod 600 f
	echo "nobody reads 0600 root file: $(as_nobody cat f 2>&1)"
	chmod 644 f; echo "nobody reads 0644: $(as_nobody cat f 2>&1)"
	echo "nobody writes 0644 root file: $(as_nobody sh -c 'echo x >>f' 2>&1)"
	mkdir t; chmod 1777 t
	as_nobody touch t/u; echo "file by nobody in 1777 dir: $(stat -c '%u:%g' t/u)"
	as_nobody mkdir t/ud; echo "dir by nobody: $(stat -c '%u:%g %a' t/ud)"
	as_nobody chmod 600 t/u; echo "nobody chmods own file: $(stat -c %a t/u)"
	as_nobody truncate -s 10 t/u; echo "nobody truncates own file: $(stat -c %s t/u)"
	as_nobody ln t/u t/u2; echo "nobody links own file: $(stat -c %h t/u)"
	as_nobody ln -s u t/us; echo "nobody's symlink: $(stat -c '%u:%g' t/us)"
	as_nobody mkfifo t/up; echo "nobody's fifo: $(stat -c '%u:%g' t/up)"
	touch t/rootfile; chmod 666 t/rootfile
	echo "nobody removes root's file in sticky dir: $(as_nobody rm -f t/rootfile 2>&1)"
	echo "nobody chmods root's file: $(as_nobody chmod 600 t/rootfile 2>&1)"
	echo "nobody chowns own file to root: $(as_nobody chown 0 t/u 2>&1)"
	mkdir g; chgrp 1234 g; chmod 2777 g
	touch g/f; echo "root's file in setgid dir: $(stat -c '%u:%g' g/f)"
	mkdir g/s; echo "root's subdir in setgid dir: $(stat -c '%u:%g %a' g/s)"
	as_nobody touch g/u; echo "nobody's file in setgid dir: $(stat -c '%u:%g %a' g/u)"
	as_nobody mkdir g/us; echo "nobody's subdir in setgid dir: $(stat -c '%u:%g %a' g/us)"
	as_nobody sh -c 'echo x >t/k && chmod 6755 t/k'; echo "nobody's 6755 file: $(stat -c %a t/k)"
	as_nobody sh -c 'echo y >>t/k'; echo "after nobody writes it: $(stat -c %a t/k)"
	echo z >t/r; chmod 4777 t/r
	as_nobody sh -c 'echo w >>t/r'; echo "root's 4777 file after nobody writes: $(stat -c '%u %a' t/r)"
	as_nobody sh -c ': >t/r'; echo "after nobody truncates it: $(stat -c '%a %s' t/r)"
	chmod 6755 t/k; chown 4321 t/k; echo "root chowns a 6755 file: $(stat -c '%u %a' t/k)"
	chmod 700 t/ud; echo "root lists nobody's 0700 dir: $(ls t/ud | wc -l)"
	chmod 700 g; echo "nobody lists a 0700 root dir: $(as_nobody ls g 2>&1)"
}
same_as_tmpfs perms scenario
out=$TMPD/perms.mnt
grep -q "^nobody reads 0600 root file: cat: f: Permission denied$" "$out" || fail "uid 65534 could read a 0600 root file"
check_eq "nobody reads 0644" secret "$(line_of "$out" "nobody reads 0644:")"
check_eq "owner of a file created by 65534 in a 1777 dir" 65534:65534 "$(line_of "$out" "file by nobody in 1777 dir:")"
check_eq "owner of a dir created by 65534" "65534:65534 755" "$(line_of "$out" "dir by nobody:")"
check_eq "root's file in a setgid dir" 0:1234 "$(line_of "$out" "root's file in setgid dir:")"
check_eq "root's subdir in a setgid dir" "0:1234 2755" "$(line_of "$out" "root's subdir in setgid dir:")"
check_eq "65534's file in a setgid dir" "65534:1234 644" "$(line_of "$out" "nobody's file in setgid dir:")"
check_eq "65534's subdir in a setgid dir" "65534:1234 2755" "$(line_of "$out" "nobody's subdir in setgid dir:")"
check_eq "65534 chmods its own file" 600 "$(line_of "$out" "nobody chmods own file:")"
check_eq "setuid/setgid bits after 65534 writes its 6755 file" 755 "$(line_of "$out" "after nobody writes it:")"
