#!/bin/bash
# rename(2) and renameat2(2) flags, each case run on tmpfs and on the mount, the outputs
# compared line by line, the key answers also checked against POSIX/renameat2(2).
. "$(dirname "$0")/lib.sh"
require_mount_env
make_ref
start_fs

scenario() {
	r() { echo "$1 $("$RENAME2" "$2" "$3" "$4")"; }
	echo A >a; echo B >b; echo C >c
	r plain a a2 none; echo "a2=$(cat a2) a:$("$FSOP" stat a)"
	r over-file a2 b none; echo "b=$(cat b) a2:$("$FSOP" stat a2)"
	r noreplace-existing b c noreplace; echo "b=$(cat b) c=$(cat c)"
	r noreplace-new b b2 noreplace; echo "b2=$(cat b2) b:$("$FSOP" stat b)"
	r exchange b2 c exchange; echo "b2=$(cat b2) c=$(cat c)"
	r exchange-missing c nothere exchange
	mkdir xd; touch xd/inside
	r exchange-file-dir c xd exchange; echo "c:$(stat -c %F c) xd:$(stat -c %F xd) c/inside:$("$FSOP" stat c/inside)"
	r exchange-back c xd exchange
	mkdir d1 d2 d3; touch d1/one d2/two
	r dir-over-nonempty d1 d2 none
	r dir-over-empty d1 d3 none; echo "d3: $(ls d3) d1:$("$FSOP" stat d1)"
	r file-over-dir b2 d2 none
	r dir-over-file d3 b2 none
	mkdir -p p/q
	r into-own-subdir p p/q/r none
	r same-name b2 b2 none; echo "b2=$(cat b2)"
	ln b2 b3
	r onto-own-hardlink b2 b3 none; echo "b2=$(cat b2) b3=$(cat b3) nlink=$(stat -c %h b3)"
	mkdir -p m/n o
	echo "before cross-dir: m:$(stat -c %h m) o:$(stat -c %h o)"
	r cross-dir-dir m/n o/n none
	echo "after cross-dir: m:$(stat -c %h m) o:$(stat -c %h o) o/n:$(stat -c %h o/n)"
	r dotdot-of-moved o/n/.. x none
	echo "listing: $(ls -a | tr '\n' ' ')"
}
same_as_tmpfs rename scenario
out=$TMPD/rename.mnt
check_eq "plain rename" "0" "$(line_of "$out" plain)"
check_eq "rename over a file" "0" "$(line_of "$out" over-file)"
check_eq "RENAME_NOREPLACE onto an existing name" EEXIST "$(line_of "$out" noreplace-existing)"
check_eq "RENAME_EXCHANGE" 0 "$(line_of "$out" exchange)"
grep -qx "b2=C c=A" "$out" || fail "RENAME_EXCHANGE did not swap b2 and c"
check_eq "RENAME_EXCHANGE with a missing target" ENOENT "$(line_of "$out" exchange-missing)"
check_eq "dir over non-empty dir" ENOTEMPTY "$(line_of "$out" dir-over-nonempty)"
check_eq "dir over empty dir" 0 "$(line_of "$out" dir-over-empty)"
check_eq "file over dir" EISDIR "$(line_of "$out" file-over-dir)"
check_eq "dir over file" ENOTDIR "$(line_of "$out" dir-over-file)"
check_eq "dir into its own subdir" EINVAL "$(line_of "$out" into-own-subdir)"

# renaming over a file frees its pages
used0=$(df_fields -B4096 --output=used)
head -c 1M /dev/urandom >"$MNT/big"
echo small >"$MNT/small"
check_eq "df used with big+small" $((used0 + 257)) "$(df_fields -B4096 --output=used)"
check_eq "rename small over big" 0 "$("$RENAME2" "$MNT/small" "$MNT/big" none)"
check_eq "content after rename over" small "$(cat "$MNT/big")"
df_expect "df used after rename over big" $((used0 + 1)) -B4096 --output=used
