#!/bin/bash
# sparsefs-map against files of known layout: exact extent lists (same as on tmpfs), the
# bar, the totals, the reserved figure from the xattrs, --json fields, errors.
. "$(dirname "$0")/lib.sh"
require_mount_env
[ -n "${SPARSEFS_MAP:-}" ] || { echo "SKIP: \$SPARSEFS_MAP is not set"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
start_fs size=64M
make_ref 64m
MAP=$SPARSEFS_MAP

# The big file: 262 TB with one byte at 0, 1 TiB and 200 TB; where the store's largest
# file is smaller (a disk kernel path on ext4: 16 TiB - 4 KiB), that long with bytes at 0,
# 64 GiB and 12 TiB: the same cells of the bar.
TB=262144000000000 TIB=1099511627776 AT200=200000000000000 HUMAN=238.4T
if [ "$(store_largest)" -lt $TB ]; then
	TB=$(store_largest) TIB=68719476736 AT200=13194139533312 HUMAN=16.0T
fi
# jq-less field access: jf FILE.json EXPR (EXPR in python over o, the object)
jf() { python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).read()); print(eval(sys.argv[2]))' "$@"; }

layout() {
	truncate -s $TB big
	for o in 0 $TIB $AT200; do printf x | dd of=big bs=1 seek=$o conv=notrunc status=none; done
	: >empty
	truncate -s 10G allhole
	"$MAP" --json big empty allhole | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    print(o["file"], o["length"], o["data"], o["holes"], o["bar"].count("#") + o["bar"].count("."),
          " ".join("%d+%d:%s" % (e["offset"], e["length"], e["state"]) for e in o["extents"]))'
}
same_as_tmpfs layout layout
check_eq "262 TB: extents" "big $TB 12288 $((TB - 12288)) 2 0+4096:data 4096+$((TIB - 4096)):hole $TIB+4096:data $((TIB + 4096))+$((AT200 - TIB - 4096)):hole $AT200+4096:data $((AT200 + 4096))+$((TB - AT200 - 4096)):hole" \
	"$(line_of "$TMPD/layout.mnt" big | sed 's/^/big /')"
check_eq "empty: no extents" "empty 0 0 0 0 " "$(line_of "$TMPD/layout.mnt" empty | sed 's/^/empty /')"
check_eq "all-hole: one hole" "allhole 10737418240 0 10737418240 0 0+10737418240:hole" \
	"$(line_of "$TMPD/layout.mnt" allhole | sed 's/^/allhole /')"

cd "$MNT/layout"
# Well under a second: the walk costs per extent (a plain sanity bound, not a benchmark).
start=$(date +%s%N)
"$MAP" big >"$TMPD/big.txt"
ms=$((($(date +%s%N) - start) / 1000000))
[ $ms -lt 5000 ] || fail "262 TB map took $ms ms"
echo "ok: 262 TB file mapped in $ms ms"
cat "$TMPD/big.txt"
check_eq "human: header" "big: $TB bytes ($HUMAN), 3 data extents" "$(head -n 1 "$TMPD/big.txt")"
check_eq "human: bar (data at 0, 1 TiB in cell 0; 200 TB in cell 48)" \
	"  [.$(printf '%47s' '').$(printf '%15s' '')]" "$(grep '^  \[' "$TMPD/big.txt")"
grep -q "^ *$TIB *4096 *4.0K  data\$" "$TMPD/big.txt" || fail "human: the second byte's extent line"
"$MAP" --json big >"$TMPD/big.json"
check_eq "json: sparsefs figures" "True 0 12288 24 64" \
	"$(jf "$TMPD/big.json" 'o["sparsefs"], o["reserved"], o["sparsefs_data"], o["st_blocks"], o["width"]' | tr -d '(),')"
check_eq "json: --width 8" 8 "$("$MAP" --json --width 8 big | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bar"]))')"
# On tmpfs there is no sparsefs figure.
"$MAP" --json "$REF/layout/big" >"$TMPD/ref.json"
check_eq "json on tmpfs: not sparsefs" "False None None" \
	"$(jf "$TMPD/ref.json" 'o["sparsefs"], o["reserved"], o["sparsefs_data"]' | tr -d '(),')"

# Half-reserved: fallocate 1 MiB, then 512 KiB of data at the start.
cd "$MNT"
fallocate -l 1M half
head -c 524288 /dev/urandom | dd of=half conv=notrunc status=none
"$MAP" half | tee "$TMPD/half.txt"
"$MAP" --json half >"$TMPD/half.json"
check_eq "half: length data holes reserved st_blocks" "1048576 524288 524288 524288 2048" \
	"$(jf "$TMPD/half.json" 'o["length"], o["data"], o["holes"], o["reserved"], o["st_blocks"]' | tr -d '(),')"
check_eq "half: reserved equals the xattr" "$(getfattr -n user.sparsefs.reserved --only-values half)" \
	"$(jf "$TMPD/half.json" 'o["reserved"]')"
check_eq "half: extents" "0+524288:data 524288+524288:hole" \
	"$(jf "$TMPD/half.json" '" ".join("%d+%d:%s" % (e["offset"], e["length"], e["state"]) for e in o["extents"])')"
check_eq "half: bar" "$(printf '%32s' '' | tr ' ' '#')$(printf '%32s' '')" "$(jf "$TMPD/half.json" 'o["bar"]')"
grep -q 'hole/reserved$' "$TMPD/half.txt" || fail "half: hole run not labelled hole/reserved"
grep -q '^  sparsefs: data pages 512.0K (524288), reserved 512.0K (524288)$' "$TMPD/half.txt" ||
	fail "half: sparsefs line"
# Partly filled cells: 8 pages, width 4 (2 pages a cell); data in page 2 (half of cell 1)
# and pages 6-7 (all of cell 3); then width 8 for a page each, and a 3-page file is 3 cells.
truncate -s 32768 part
printf x | dd of=part bs=1 seek=8192 conv=notrunc status=none
head -c 8192 /dev/urandom | dd of=part bs=4096 seek=6 conv=notrunc status=none
bar() { "$MAP" --json "$@" | python3 -c 'import json,sys; print("[%s]" % json.load(sys.stdin)["bar"])'; }
check_eq "bar: width 4" "[ + #]" "$(bar --width 4 part)"
check_eq "bar: width 8" "[  #   ##]" "$(bar --width 8 part)"
truncate -s 12288 three
check_eq "bar: one cell per page when fewer pages than columns" "[   ]" "$(bar three)"

# Bad input: one line on stderr, non-zero, the other files still mapped.
mkdir -p dir
rc=0
"$MAP" missing dir half >"$TMPD/out" 2>"$TMPD/err" || rc=$?
check_eq "bad input: exit status" 1 "$rc"
check_eq "bad input: messages" "sparsefs-map: missing: No such file or directory|sparsefs-map: dir: Is a directory" \
	"$(tr '\n' '|' <"$TMPD/err" | sed 's/|$//')"
check_eq "bad input: good file still mapped" "half: 1048576 bytes (1.0M), 1 data extent" "$(head -n 1 "$TMPD/out")"
rc=0
"$MAP" --width 0 half >/dev/null 2>"$TMPD/err" || rc=$?
check_eq "bad --width: status, lines" "2 1" "$rc $(wc -l <"$TMPD/err")"
rc=0
"$MAP" >/dev/null 2>"$TMPD/err" || rc=$?
check_eq "no FILE: status, lines" "2 1" "$rc $(wc -l <"$TMPD/err")"
"$MAP" --help | grep -q '^usage: sparsefs-map' || fail "--help"
echo "PASS"
