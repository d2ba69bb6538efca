#!/bin/bash
# sparsefs-df against the mount's own figures: the root xattrs and statvfs, exact with
# --bytes and --json; after a write and a fallocate they move by exactly what was taken.
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -n "${SPARSEFS_DF:-}" ] || { echo "SKIP: \$SPARSEFS_DF is not set"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
start_fs size=64M
DF=$SPARSEFS_DF

vx() { getfattr --absolute-names -n "user.sparsefs.$1" --only-values "$MNT"; }
# The truth, in --json's field order.
truth() {
	bs=$(stat -f -c %S "$MNT")
	echo "$(vx capacity) $(vx used) $(vx data) $(vx reserved)" \
		"$(($(stat -f -c %a "$MNT") * bs)) $(($(stat -f -c %f "$MNT") * bs))" \
		"$(vx overdraft) $(vx policy) $(vx dropped)"
}
json() {
	"$DF" --json "$MNT" | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o["capacity"], o["used"], o["data"], o["reserved"], o["free"], o["free_with_overdraft"],
      o["overdraft"], o["policy"], o["dropped"])'
}
# --bytes: the human table's figures, same order (backing_free left out: it moves with
# the host's memory between two reads)
bytes() {
	"$DF" --bytes "$MNT" | awk '
		$1 == "capacity" || $1 == "used" || $1 == "data" || $1 == "reserved" || $1 == "free" ||
		$1 == "overdraft" || $1 == "policy" || $1 == "dropped" { printf "%s ", $2 }' | sed 's/ $//'
}
truth_bytes() { truth | awk '{ print $1, $2, $3, $4, $5, $7, $8, $9 }'; }

check_eq "json = xattrs and statvfs" "$(truth)" "$(json)"
check_eq "--bytes = xattrs and statvfs" "$(truth_bytes)" "$(bytes)"
"$DF" "$MNT" | tee "$TMPD/human"
check_eq "human: capacity" "capacity 64.0M" "$(awk '$1 == "capacity" { print $1, $2 }' "$TMPD/human")"
check_eq "human: first line is the mount" "$MNT" "$(head -n 1 "$TMPD/human")"
# The store, as the daemon says of it (user.sparsefs.store*): which one, where, on what,
# by which path, and its own figures.
where=$(vx store_where) fstype=$(vx store_fstype)
want="store $(vx store) (-o backing: "
[ "$where" = - ] || want+="$where, "
[ "$fstype" = - ] && want+="in memory" || want+="$fstype"
want+=", $(vx data_path) path"
got=$(awk '$1 == "store" { $1 = $1; print }' "$TMPD/human")
case $got in "$want"*) echo "ok: human: $got" ;; *) fail "human: store line '$got', expected '$want...'" ;; esac
grep -q "what else takes from it: $(vx store_shared)" "$TMPD/human" || fail "human: no line of what else takes from the store"
check_eq "json: store, where, fstype, path = the xattrs" "$(vx store) $where $fstype $(vx data_path)" \
	"$("$DF" --json "$MNT" | python3 -c 'import json,sys; o = json.load(sys.stdin); print(o["store"], o["store_where"], o["store_fstype"], o["data_path"])')"
for name in $(getfattr --absolute-names -n user.sparsefs.store_figures --only-values "$MNT" 2>/dev/null); do
	v=$(vx "store.$name")
	check_eq "json: store figure $name" "$v" \
		"$("$DF" --json "$MNT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["store_figures"][sys.argv[1]])' "$name")"
done
bf=$("$DF" --json "$MNT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["backing_free"])')
[ "$bf" -gt 0 ] || fail "backing_free $bf"
echo "ok: backing_free $bf"

read -r cap used data res free bfree od pol drop <<<"$(json)"
# 1 MiB of data: used and data +1 MiB, free -1 MiB, reserved unchanged.
head -c 1048576 /dev/urandom >"$MNT/d"
check_eq "after 1 MiB write" "$cap $((used + 1048576)) $((data + 1048576)) $res $((free - 1048576)) $((bfree - 1048576)) $od $pol $drop" "$(json)"
# fallocate 2 MiB: used and reserved +2 MiB, free -2 MiB, data unchanged.
fallocate -l 2M "$MNT/r"
check_eq "after 2 MiB fallocate" "$cap $((used + 3145728)) $((data + 1048576)) $((res + 2097152)) $((free - 3145728)) $((bfree - 3145728)) $od $pol $drop" "$(json)"
# Writing 512 KiB into the reservation turns reserved into data, used and free unchanged.
head -c 524288 /dev/urandom | dd of="$MNT/r" conv=notrunc status=none
check_eq "after writing into the reservation" "$cap $((used + 3145728)) $((data + 1572864)) $((res + 1572864)) $((free - 3145728)) $((bfree - 3145728)) $od $pol $drop" "$(json)"
check_eq "--bytes agrees after the changes" "$(truth_bytes)" "$(bytes)"
rm "$MNT/d" "$MNT/r"
i=0
while [ "$(json | cut -d' ' -f2)" != "$used" ]; do
	i=$((i + 1))
	[ $i -le 20 ] || fail "used did not return to $used after rm"
	sleep 0.1
done
check_eq "after rm: back where we started" "$cap $used $data $res $free $bfree $od $pol $drop" "$(json)"

# Without MOUNT: every fuse.sparsefs, ours among them.
"$DF" --json | python3 -c '
import json, sys
ms = [json.loads(l)["mount"] for l in sys.stdin]
sys.exit(0 if sys.argv[1] in ms else "not listed: " + repr(ms))' "$MNT"
echo "ok: listed without MOUNT"

# Not a sparsefs mount root: one line, exit 1, the other arguments still shown.
mkdir "$MNT/sub"
rc=0
"$DF" --json "$TMPD" "$MNT/sub" "$TMPD/missing" "$MNT" >"$TMPD/out" 2>"$TMPD/err" || rc=$?
check_eq "bad paths: exit status" 1 "$rc"
check_eq "bad paths: messages" "sparsefs-df: $TMPD: not the root of a sparsefs mount|sparsefs-df: $MNT/sub: not the root of a sparsefs mount|sparsefs-df: $TMPD/missing: No such file or directory" \
	"$(tr '\n' '|' <"$TMPD/err" | sed 's/|$//')"
check_eq "bad paths: the good one still shown" 1 "$(grep -c "\"mount\":\"$MNT\"" "$TMPD/out")"
rc=0
"$DF" --nope >/dev/null 2>"$TMPD/err" || rc=$?
check_eq "bad option: status" 2 "$rc"
"$DF" --help | grep -q '^usage: sparsefs-df' || fail "--help"
echo "PASS"
