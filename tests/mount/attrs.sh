#!/bin/bash
# chmod, chown, timestamps (touch -d, stat %Y/%X/%y), mkfifo, mknod c/b, sockets:
# compared with tmpfs, key values checked; then ctime/mtime move on change.
. "$(dirname "$0")/lib.sh"
require_mount_env
make_ref
start_fs

scenario() {
	touch f
	chmod 640 f; echo "chmod 640: $(stat -c %a f)"
	chmod 4755 f; echo "chmod 4755: $(stat -c %a f)"
	chown 1234:5678 f; echo "chown: $(stat -c '%u:%g %a' f)"
	chown 0:0 f; chmod 2755 f; chgrp 42 f; echo "chgrp of a setgid file: $(stat -c '%g %a' f)"
	touch -d '2001-02-03 04:05:06.123456789 UTC' f; echo "touch -d: $(stat -c '%Y %X' f) $(TZ=UTC stat -c %y f)"
	touch -a -d '@1000000000' f; echo "touch -a: atime $(stat -c %X f) mtime $(stat -c %Y f)"
	touch -m -d '@2000000000.5' f; echo "touch -m: atime $(stat -c %X f) mtime $(stat -c %Y f) $(TZ=UTC stat -c %y f)"
	touch -d '@-1' f; echo "before 1970: $(stat -c %Y f)"
	mkdir d; chmod 1777 d; echo "dir chmod 1777: $(stat -c '%a %F' d)"
	mkfifo p; echo "fifo: $(stat -c '%F %a' p)"
	mknod c c 1 3; echo "char dev: $(stat -c '%F %t,%T %a' c)"
	mknod b b 7 0; echo "block dev: $(stat -c '%F %t,%T' b)"
	echo "socket: $("$FSOP" mksock s) $(stat -c %F s)"
	(echo through-fifo >p &); echo "fifo read: $(timeout 5 cat p)"
	chmod 600 p; echo "fifo chmod: $(stat -c %a p)"
	truncate -s 100 t; chmod 0 t; echo "root reads mode 0: $(wc -c <t)"
	echo "listing: $(ls -a | tr '\n' ' ')"
}
same_as_tmpfs attrs scenario
out=$TMPD/attrs.mnt
check_eq "chmod 640" 640 "$(line_of "$out" "chmod 640:")"
check_eq "chown" "1234:5678 755" "$(line_of "$out" "chown:")"
check_eq "touch -d" "981173106 981173106 2001-02-03 04:05:06.123456789 +0000" "$(line_of "$out" "touch -d:")"
check_eq "touch -a" "atime 1000000000 mtime 981173106" "$(line_of "$out" "touch -a:")"
check_eq "fifo" "fifo 644" "$(line_of "$out" "fifo:")"
check_eq "char dev" "character special file 1,3 644" "$(line_of "$out" "char dev:")"
check_eq "block dev" "block special file 7,0" "$(line_of "$out" "block dev:")"
check_eq "socket" "0 socket" "$(line_of "$out" "socket:")"

# times move with changes
f=$MNT/attrs/f
touch -d '2001-01-01 UTC' "$f"
t0=$(date +%s)
echo x >>"$f"
mt=$(stat -c %Y "$f")
[ "$mt" -ge "$t0" ] && [ "$mt" -le $((t0 + 5)) ] || fail "mtime after write: $mt, now $t0"
touch -d '2001-01-01 UTC' "$f"
sleep 1
t1=$(date +%s)
chmod 644 "$f"
ct=$(stat -c %Z "$f")
[ "$ct" -ge "$t1" ] && [ "$ct" -le $((t1 + 5)) ] || fail "ctime after chmod: $ct, now $t1"
check_eq "mtime unchanged by chmod" 978307200 "$(stat -c %Y "$f")"
echo "ok: mtime moves on write, ctime on chmod"
