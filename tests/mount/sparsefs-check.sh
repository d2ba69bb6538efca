#!/bin/bash
# sparsefs-check: its verdicts against what mmap(2) really does here, case by case.
# The tool says 1 (WILL FAIL) exactly when a real mmap with the same flags fails; 0 and
# 2 when it succeeds. Sizes are picked from this machine's overcommit mode (read, never
# changed).
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -n "${SPARSEFS_CHECK:-}" ] || { echo "SKIP: \$SPARSEFS_CHECK is not set"; exit 77; }
[ -x "$SPARSEFS_CHECK" ] || fail "SPARSEFS_CHECK=$SPARSEFS_CHECK is not executable"
command -v python3 >/dev/null || { echo "SKIP: no python3 for the mmap probe"; exit 77; }

# The probe: one real mmap, prints ok or the errno name.
PROBE=$TMPD/probe.py
cat >"$PROBE" <<'EOF'
import errno, mmap, os, sys
size = int(sys.argv[1]); path = sys.argv[2]; shared = sys.argv[3] == "shared"
write = sys.argv[4] == "write"; noreserve = len(sys.argv) > 5 and sys.argv[5] == "noreserve"
flags = mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE
if noreserve:
    flags |= getattr(mmap, "MAP_NORESERVE", 0x4000)  # x86 and arm64 value
prot = mmap.PROT_READ | (mmap.PROT_WRITE if write else 0)
fd = -1
if path != "-":
    fd = os.open(path, os.O_RDWR if write and shared else os.O_RDONLY)
else:
    flags |= mmap.MAP_ANONYMOUS
try:
    m = mmap.mmap(fd, size, flags=flags, prot=prot)
    m.close()
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF

verdict_name() { case $1 in 0) echo SAFE ;; 1) echo "WILL FAIL" ;; 2) echo "MAY FAIL LATER" ;; *) echo "exit $1" ;; esac; }

# case WHAT EXPECTED-EXIT SIZE FILE|- private|shared read|write [noreserve]
# Runs the tool and the probe; the tool must give EXPECTED-EXIT and agree with the probe.
case_() {
	what=$1 want=$2 size=$3 file=$4 kind=$5 prot=$6 nr=${7:-}
	set -- "$size" "--$kind"
	[ "$file" = - ] || set -- "$@" --file "$file"
	[ "$prot" = read ] || set -- "$@" --write
	[ -z "$nr" ] || set -- "$@" --noreserve
	rc=0
	"$SPARSEFS_CHECK" "$@" >"$TMPD/out" 2>&1 || rc=$?
	probe=$(python3 "$PROBE" "$size" "$file" "$kind" "$prot" $nr) || fail "$what: the mmap probe could not run"
	if [ "$rc" != "$want" ]; then
		cat "$TMPD/out" >&2
		fail "$what: tool said $(verdict_name "$rc"), expected $(verdict_name "$want")"
	fi
	head -n 1 "$TMPD/out" | grep -q "^$(verdict_name "$rc"): " || fail "$what: first line is not the verdict: $(head -n 1 "$TMPD/out")"
	case $rc/$probe in
	1/ok) fail "$what: tool says WILL FAIL but mmap succeeded" ;;
	0/ok | 2/ok | 1/*) ;;
	*) fail "$what: tool says $(verdict_name "$rc") but mmap failed: $probe" ;;
	esac
	echo "ok: $what: $(verdict_name "$rc"), mmap: $probe"
	# the JSON form says the same
	"$SPARSEFS_CHECK" "$@" --json >"$TMPD/json" || :
	python3 - "$TMPD/json" "$rc" <<'EOF' || fail "$what: bad --json: $(cat "$TMPD/json")"
import json, sys
o = json.load(open(sys.argv[1])); rc = int(sys.argv[2])
assert list(o) == ["verdict", "exit", "request", "facts", "reasons", "advice"], list(o)
assert o["exit"] == rc and o["verdict"] == ["SAFE", "WILL FAIL", "MAY FAIL LATER"][rc], o
assert o["reasons"] and all(isinstance(s, str) for s in o["reasons"] + o["advice"])
assert (rc == 0) == (not o["advice"]), o
EOF
}

kib() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
G=$((1 << 30))
mode=$(cat /proc/sys/vm/overcommit_memory)
echo "note: overcommit_memory=$mode"

# Address space: nothing maps a PiB, read-only or not.
case_ "private writable 1 PiB" 1 $((1 << 50)) - private write
case_ "read-only 1 PiB" 1 $((1 << 50)) - private read
case_ "read-only 1 GiB anonymous" 0 $G - private read

# The commit limit, as this machine is set.
ramswap=$((($(kib MemTotal) + $(kib SwapTotal)) * 1024))
case $mode in
0)
	big=$((ramswap + G))
	case_ "mode 0: private writable > RAM+swap" 1 $big - private write
	case_ "mode 0: same with MAP_NORESERVE" 2 $big - private write noreserve
	case_ "mode 0: same, PROT_READ" 0 $big - private read
	case_ "mode 0: private writable 64 MiB" 2 $((64 << 20)) - private write
	case_ "mode 0: anonymous shared > RAM+swap (shmem is charged)" 1 $big - shared write
	;;
1)
	big=$((ramswap + G))
	case_ "mode 1: private writable > RAM+swap" 2 $big - private write
	case_ "mode 1: private writable 64 MiB" 2 $((64 << 20)) - private write
	;;
2)
	big=$((($(kib CommitLimit) - $(kib Committed_AS)) * 1024 + G))
	case_ "mode 2: private writable past CommitLimit" 1 $big - private write
	case_ "mode 2: MAP_NORESERVE is ignored" 1 $big - private write noreserve
	case_ "mode 2: same, PROT_READ" 0 $big - private read
	case_ "mode 2: private writable 1 MiB" 0 $((1 << 20)) - private write
	;;
*) fail "unknown overcommit_memory $mode" ;;
esac

# RLIMIT_AS, in a subshell that inherits ulimit -v for both the tool and the probe.
# A tool built with AddressSanitizer cannot start under RLIMIT_AS at all (its shadow
# memory needs terabytes of address space): those two cases run in the plain build.
if ldd "$SPARSEFS_CHECK" 2>/dev/null | grep -q libasan; then
	echo "skip: ulimit -v cases (the tool is built with AddressSanitizer)"
else
	(
		ulimit -v $((1 << 20)) # 1 GiB
		case_ "ulimit -v 1G: 2 GiB map" 1 $((2 * G)) - private read
		case_ "ulimit -v 1G: 256 MiB map" 0 $((256 << 20)) - private read
	) || exit 1
fi

# A 1 TiB sparse file on sparsefs, policy always, 64 MiB.
start_fs size=64M
T=$((1 << 40))
truncate -s $T "$MNT/big"
case_ "sparsefs always: shared writable 1 TiB sparse" 2 $T "$MNT/big" shared write
if kernel_path; then
	grep -q 'SIGBUS there' "$TMPD/out" || fail "no page fault reasoning in: $(cat "$TMPD/out")"
else
	grep -q 'f_bavail + overdraft' "$TMPD/out" || fail "no space figures in: $(cat "$TMPD/out")"
fi
grep -q "fallocate -l $T $MNT/big" "$TMPD/out" || fail "no fallocate advice in: $(cat "$TMPD/out")"
# The store it reasons about, as the daemon says of it: where others can take the room.
vx() { getfattr --absolute-names -n "user.sparsefs.$1" --only-values "$MNT"; }
grep -q "sparsefs store     $(vx store).*, $(vx data_path) path" "$TMPD/out" ||
	fail "no $(vx store) store in the facts: $(cat "$TMPD/out")"
if [ "$(vx store_where)" != - ] || kernel_path; then
	grep -qF "$(vx store_shared) take the room that is not reserved" "$TMPD/out" ||
		fail "no reason about what shares the store in: $(cat "$TMPD/out")"
fi
case_ "sparsefs always: PROT_READ 1 TiB" 0 $T "$MNT/big" shared read
case_ "sparsefs always: private writable 1 GiB of it" 2 $G "$MNT/big" private write
# fallocate 1 TiB cannot fit in 64 MiB; a 32 MiB window reserved first can.
if fallocate -l $T "$MNT/big" 2>/dev/null; then fail "fallocate 1 TiB on 64 MiB succeeded"; fi
truncate -s 32M "$MNT/win"
case_ "sparsefs always: 32 MiB sparse window" 2 $((32 << 20)) "$MNT/win" shared write
fallocate -l 32M "$MNT/win"
case_ "sparsefs always: 32 MiB window after fallocate" 0 $((32 << 20)) "$MNT/win" shared write
# Half reserved: the other half may still be dropped.
truncate -s 48M "$MNT/half"
fallocate -l 16M "$MNT/half"
case_ "sparsefs always: 48 MiB with 16 MiB reserved" 2 $((48 << 20)) "$MNT/half" shared write
stop_fs

# A mount where a bigger file fits: reserve 1 GiB, map it.
start_fs size=2G
truncate -s $G "$MNT/g"
case_ "sparsefs 2G: 1 GiB sparse" 2 $G "$MNT/g" shared write
fallocate -l $G "$MNT/g"
case_ "sparsefs 2G: 1 GiB after fallocate" 0 $G "$MNT/g" shared write
stop_fs

# overcommit=never: every byte of length is reserved by truncate itself.
start_fs size=64M,overcommit=never
truncate -s 32M "$MNT/n"
case_ "sparsefs never: 32 MiB truncated" 0 $((32 << 20)) "$MNT/n" shared write
grep -q 'overcommit=never' "$TMPD/out" || fail "never: policy not shown: $(cat "$TMPD/out")"
stop_fs

# Not sparsefs: a sparse file on tmpfs may SIGBUS; a fully written one is safe.
make_ref 64m
truncate -s 16M "$REF/s"
case_ "tmpfs: 16 MiB sparse shared writable" 2 $((16 << 20)) "$REF/s" shared write
grep -q '"sparsefs":null' "$TMPD/json" || fail "tmpfs: taken for sparsefs: $(cat "$TMPD/json")"
dd if=/dev/zero of="$REF/s" bs=1M count=16 conv=notrunc status=none
case_ "tmpfs: 16 MiB written" 0 $((16 << 20)) "$REF/s" shared write

# Bad input: exit 3, one line on stderr naming the tool, nothing on stdout.
bad() {
	rc=0
	"$SPARSEFS_CHECK" "$@" >"$TMPD/bo" 2>"$TMPD/be" || rc=$?
	check_eq "bad input '$*': exit" 3 "$rc"
	[ ! -s "$TMPD/bo" ] || fail "bad input '$*': printed on stdout: $(cat "$TMPD/bo")"
	[ "$(wc -l <"$TMPD/be")" = 1 ] && grep -q '^sparsefs-check: ' "$TMPD/be" ||
		fail "bad input '$*': stderr is not one 'sparsefs-check: ...' line: $(cat "$TMPD/be")"
}
bad
bad 12x
bad 0
bad -- -5
bad 99999999999p
bad 1g --file "$TMPD/missing"
bad 1g --bogus
check_eq "suffixes: 3k" 3072 "$("$SPARSEFS_CHECK" 3k --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["request"]["size"])')"
echo "PASS"
