#!/bin/bash
# FUSE_HANDLE_KILLPRIV_V2 (fs/loop.c): the daemon clears S_ISUID/S_ISGID where the VFS
# would -- write, truncate, open(O_TRUNC) and fallocate by an ordinary user, chown by
# anyone -- compared with tmpfs; and in return write(2) stops costing a GETXATTR
# "security.capability" round trip each.
. "$(dirname "$0")/lib.sh"
require_mount_env
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
command -v setfattr >/dev/null || { echo "SKIP: no setfattr"; exit 77; }
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
if [ "$kmaj" -lt 5 ] || { [ "$kmaj" = 5 ] && [ "$kmin" -lt 11 ]; }; then
	echo "SKIP: kernel $(uname -r) has no FUSE_HANDLE_KILLPRIV_V2 (5.11+)"
	exit 77
fi
make_ref
start_fs

mode_after() { # WHAT MODE [OWNER] -- CMD...: a fresh file with MODE, CMD run on it, mode after
	what=$1 mode=$2
	shift 2
	f=f$((++n))
	echo data >"$f"
	chmod 777 "$f"
	chmod "$mode" "$f"
	"$@" "$f"
	echo "$what: $(stat -c %a "$f")"
}
append() { sh -c 'echo more >>"$1"' sh "$1"; }
nobody_append() { as_nobody sh -c 'echo more >>"$1"' sh "$1"; }
nobody_trunc() { as_nobody truncate -s 3 "$1"; }
nobody_otrunc() { as_nobody sh -c ': >"$1"' sh "$1"; }
nobody_falloc() { as_nobody fallocate -l 65536 "$1"; }
root_trunc() { truncate -s 3 "$1"; }
root_falloc() { fallocate -l 65536 "$1"; }
chown_nobody() { chown 65534 "$1"; }
group_append() { chgrp 65534 "$1"; chmod 6767 "$1"; nobody_append "$1"; }

scenario() {
	n=0
	mode_after "nobody writes 6777" 6777 nobody_append
	mode_after "nobody writes 6767 (sgid, no g+x)" 6767 nobody_append
	mode_after "nobody writes 6767 of its group" 6767 group_append
	mode_after "nobody writes 4777" 4777 nobody_append
	mode_after "root writes 6777" 6777 append
	mode_after "nobody truncates 6777" 6777 nobody_trunc
	mode_after "root truncates 6777" 6777 root_trunc
	mode_after "nobody opens 6777 with O_TRUNC" 6777 nobody_otrunc
	mode_after "nobody fallocates 6777" 6777 nobody_falloc
	mode_after "root fallocates 6777" 6777 root_falloc
	mode_after "root chowns 6755" 6755 chown_nobody
	mode_after "root chowns 2745 (sgid, no g+x)" 2745 chown_nobody
	mode_after "nobody writes 0777" 0777 nobody_append
	# A capability set on a file goes on the next write, whoever writes.
	echo x >cap
	setfattr -n security.capability -v 0sAQAAAgAEAAAAAAAAAAAAAAAAAAA= cap
	echo "capability set: $(getfattr --absolute-names -n security.capability --only-values cap 2>/dev/null | od -An -tx1 | tr -d ' \n')"
	append cap
	echo "capability after root writes: $(getfattr --absolute-names -n security.capability cap 2>&1 | grep -c 'security.capability=')"
	mkdir d; chmod 2777 d; as_nobody sh -c 'echo x >d/g'
	echo "sgid dir after nobody writes in it: $(stat -c %a d)"
}
same_as_tmpfs killpriv scenario

# chown and chgrp of every file type, by root and by an owner who is in the new group
# (uid 65534, gid 65533, groups 65533,65532), with and without group execute: Linux
# clears S_ISUID on every type but a directory, S_ISGID where the group may execute or
# the caller is outside the file's group; tmpfs is the reference. One python process
# makes the 192 nodes, one chowns as the owner, one as root, one reads them back.
as_owner() { setpriv --reuid 65534 --regid 65533 --groups 65533,65532 "$@"; }
types_scenario() {
	python3 - <<'EOF'
import os, socket
owner, root = open("owner.list", "w"), open("root.list", "w")
for t in ("regular", "dir", "fifo", "socket", "char", "block"):
    for mode in (0o6555, 0o6545, 0o4555, 0o2555):
        for who, out in (("owner", owner), ("root", root)):
            for how in ("65534 65532", "-1 65532", "-1 -1", "65534 -1"):
                f = f"{t}-{mode:o}-{who}-{how.replace(' ', '_')}"
                if t == "regular":
                    os.close(os.open(f, os.O_CREAT | os.O_WRONLY, 0o644))
                elif t == "dir":
                    os.mkdir(f)
                elif t == "fifo":
                    os.mkfifo(f)
                elif t == "socket":
                    socket.socket(socket.AF_UNIX).bind(f)
                else:
                    os.mknod(f, 0o644 | (0o020000 if t == "char" else 0o060000),
                             os.makedev(1, 3) if t == "char" else os.makedev(7, 255))
                os.chown(f, 65534, 65533)
                os.chmod(f, mode)
                out.write(f"{f} {how}\n")
EOF
	chown_all='import os, sys
for line in sys.stdin:
    name, uid, gid = line.split()
    os.chown(name, int(uid), int(gid))'
	# Debian's python3: one on root's own PATH (pyenv under /root) is out of reach
	as_owner /usr/bin/python3 -c "$chown_all" <owner.list
	python3 -c "$chown_all" <root.list
	cat owner.list root.list | python3 -c 'import os, sys
for line in sys.stdin:
    f, uid, gid = line.split()
    t, m, who = f.split("-")[:3]
    st = os.lstat(f)
    print(f"{t} {m}, {who} chowns {uid} {gid}: {st.st_mode & 0o7777:o} {st.st_uid}:{st.st_gid}")'
}
same_as_tmpfs killpriv-types types_scenario
out=$TMPD/killpriv-types.mnt
check_eq "fifo 6555 after its owner chowns it to another of its groups" "555 65534:65532" \
	"$(line_of "$out" "fifo 6555, owner chowns 65534 65532:")"
check_eq "char device 6555 after root chgrps it" "555 65534:65532" \
	"$(line_of "$out" "char 6555, root chowns -1 65532:")"
check_eq "socket 6545 after chown -1 -1 by its owner (in its group)" "2545 65534:65533" \
	"$(line_of "$out" "socket 6545, owner chowns -1 -1:")"
check_eq "directory 6555 after its owner chowns it" "6555 65534:65532" \
	"$(line_of "$out" "dir 6555, owner chowns 65534 65532:")"
out=$TMPD/killpriv.mnt
check_eq "6777 after an ordinary user writes" 777 "$(line_of "$out" "nobody writes 6777:")"
check_eq "6767 after an ordinary user outside its group writes" 767 "$(line_of "$out" "nobody writes 6767 (sgid, no g+x):")"
check_eq "6767 after an ordinary user of its group writes" 2767 "$(line_of "$out" "nobody writes 6767 of its group:")"
check_eq "6777 after root writes" 6777 "$(line_of "$out" "root writes 6777:")"
check_eq "6777 after an ordinary user fallocates" 777 "$(line_of "$out" "nobody fallocates 6777:")"
check_eq "a capability after a write" 0 "$(line_of "$out" "capability after root writes:")"

stop_fs

# The round trip the flag saves: 200 writes of 4 KiB into one file, counted in the
# requests a debug mount prints (only here: printing every request of the scenarios
# above would make them several times slower).
start_fs debug
f=$MNT/count
: >"$f"
before=$(grep -c 'opcode: GETXATTR' "$LOG" || true)
dd if=/dev/zero of="$f" bs=4k count=200 conv=notrunc status=none
after=$(grep -c 'opcode: GETXATTR' "$LOG" || true)
echo "GETXATTR requests for 200 writes: $((after - before))"
[ $((after - before)) -le 2 ] || fail "write(2) still asks GETXATTR security.capability ($((after - before)) for 200 writes)"
echo "ok: write(2) does not ask security.capability each time"
stop_fs

# The same kills with the writeback cache, where the kernel's SETATTRs carry ctime too.
start_fs writeback_cache
rm -rf "${REF:?}"/*
same_as_tmpfs killpriv-wbc scenario
same_as_tmpfs killpriv-types-wbc types_scenario
