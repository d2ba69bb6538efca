#!/bin/bash
# A throw-away single-node Ceph cluster for the RADOS store's tests: one mon, one mgr
# and one OSD (or CEPH_OSDS) on memstore, auth none (or cephx), everything on 127.0.0.1 and everything (conf,
# data, logs, admin sockets, pid files) inside one directory, so that several can run
# side by side on a shared machine and none touches /etc/ceph or /var/lib/ceph.
#
# Usage (as root):
#   cluster.sh start DIR          DIR absent or empty. Creates the cluster and the pool
#                                 $CEPH_POOL (default sparsefs), waits until an object
#                                 can be put, read and removed, `ceph df` shows the
#                                 pool's MAX AVAIL and every PG is active+clean, then
#                                 prints DIR/env on stdout:
#                                     CEPH_CONF=DIR/ceph.conf
#                                     CEPH_POOL=sparsefs
#                                 (`. DIR/env`, export both: rados, ceph and librados
#                                 clients need nothing else, no keyring). DIR/pids has
#                                 one line per daemon: NAME PID (mon.a, mgr.x, osd.0).
#                                 The daemons go into the background by themselves
#                                 and outlive the shell that started them.
#   cluster.sh stop DIR           TERM to the daemons in DIR/pids (the OSD first; KILL
#                                 after 10 s), then rm -rf DIR unless CEPH_KEEP is set.
#                                 Exits 0 if they had gone already or DIR is absent.
#   cluster.sh client DIR NAME POOL
#                                 With CEPH_AUTH=cephx: a client key client.NAME with
#                                 the caps a sparsefs mount needs on POOL and no more
#                                 (mon 'allow r', osd 'allow rw pool=POOL, allow pool=POOL
#                                 class lock': the mount's claim is a RADOS lock), written to
#                                 DIR/client.NAME.keyring, whose path it prints.
#   cluster.sh pool DIR NAME [QUOTA_BYTES]
#                                 Another pool (application sparsefs), with a max_bytes
#                                 quota if given; waits until it takes objects.
#   cluster.sh stop-osd DIR [ID]  SIGSTOP osd.ID (default 0), as if the network went
#                                 away: a lone OSD stays "up" (no peer reports it, and
#                                 the mon waits 900 s for its beacon); with peers it is
#                                 marked down after the heartbeat grace (20 s). Requests
#                                 to it go unanswered: rados_osd_op_timeout fails them.
#   cluster.sh cont-osd DIR [ID]  SIGCONT it, then have it serve every PG again: it is
#                                 marked down and comes back up at once (see
#                                 cmd_cont_osd: after a freeze a lone OSD's PGs may stay
#                                 "laggy" for good); returns once every PG is
#                                 active+clean since; about 5 s.
#   cluster.sh kill-osd DIR [ID]  SIGKILL it. memstore keeps data only in memory: every
#                                 object it held is lost.
#   cluster.sh start-osd DIR [ID] After kill-osd: start it again, empty. A lone OSD has
#                                 every PG created afresh, so that the pools (quotas
#                                 kept) take objects again (to test reconnecting only);
#                                 with peers it is filled from their copies, and this
#                                 returns once every PG is active+clean again.
#
# Environment: CEPH_OSDS (how many OSDs, 1 to 5, default 1; pools keep that many
# copies, min_size one fewer: with 3, a pool of size 3 that serves with 2),
# CEPH_AUTH (none, the default, or cephx: the daemons and the clients
# authenticate, and the admin's key, which clients given only CEPH_CONF use, is in
# DIR/keyring), CEPH_POOL (pool name, default sparsefs), CEPH_MEMSTORE_BYTES (the OSD's
# size, default 32 GiB; memstore counts objects' logical sizes against it, but takes
# memory only for the 64 KiB pages written), CEPH_START_TIMEOUT (seconds a start, a
# pool or start-osd may take, default 60), CEPH_KEEP (stop keeps DIR). start says on
# stderr how long it took; a failure is one line on stderr naming what did not come
# up, the end of its log, and a non-zero exit (a failed start stops what it started
# and keeps DIR for its logs).
set -euo pipefail

prog=cluster.sh
pool=${CEPH_POOL:-sparsefs}
memstore_bytes=${CEPH_MEMSTORE_BYTES:-34359738368}
start_timeout=${CEPH_START_TIMEOUT:-60}
auth=${CEPH_AUTH:-none}
osds=${CEPH_OSDS:-1}

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage() {
	echo "usage: $prog start|stop DIR | stop-osd|cont-osd|kill-osd|start-osd DIR [ID] | pool DIR NAME [QUOTA_BYTES] | client DIR NAME POOL" >&2
	exit 2
}

# show_log FILE: its last lines on stderr, if there is one
show_log() {
	[ -s "$1" ] || return 0
	echo "--- last lines of $1:" >&2
	tail -n 20 "$1" >&2
}

# A mon command, bounded: the ceph CLI waits forever for a mon otherwise.
ceph_() {
	timeout 30 ceph -c "$conf" --connect-timeout 15 "$@"
}

# ours PID: PID is a daemon of this cluster (not a PID reused since by another process)
ours() {
	local c
	c=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
	[[ $c == "ceph-"*" -c $conf "* ]]
}

# running PID: a daemon of this cluster that has not exited (a zombie has)
running() {
	ours "$1" && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# free_port: a TCP port in 20000-31999 that no socket on this machine uses
# (below the kernel's ephemeral range, away from Ceph's 3300, 6789 and 6800-7300)
free_port() {
	local p _
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000))
		if [ -z "$(ss -Htan "( sport = :$p )")" ]; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found in 20000-31999"
}

# wait_until WHAT LOG CMD...: retry CMD until it succeeds or the start's deadline
wait_until() {
	local what=$1 log=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$prog: $what did not come up within $start_timeout s" >&2
			show_log "$log"
			exit 1
		fi
		sleep 0.5
	done
}

# set_dir DIR: $dir (absolute) and $conf
set_dir() {
	[ -n "${1:-}" ] || usage
	dir=$(readlink -f -- "$1")
	conf=$dir/ceph.conf
}

# ours_dir: DIR holds a ceph.conf that start wrote (it is written first thing)
ours_dir() {
	head -n 1 "$conf" 2>/dev/null | grep -qx '# Written by tests/ceph/cluster.sh: a single-node test cluster; clients need only'
}

need_cluster() {
	if [ ! -f "$conf" ] || [ ! -f "$dir/pids" ]; then
		die "$dir: no cluster here (no ceph.conf and pids)"
	fi
}

# daemon_pid NAME: its PID from DIR/pids
daemon_pid() {
	local p
	p=$(awk -v n="$1" '$1 == n { print $2 }' "$dir/pids")
	[ -n "$p" ] || die "$dir/pids: no $1"
	echo "$p"
}

write_conf() { # PORT FSID
	local keyring=/dev/null cx=
	[ "$auth" = none ] || { keyring=$dir/keyring; cx=1; }
	cat >"$conf" <<EOF
# Written by tests/ceph/cluster.sh: a single-node test cluster; clients need only
# CEPH_CONF=$conf (auth $auth, keyring $keyring).
[global]
fsid = $2
mon host = v2:127.0.0.1:$1
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = $auth
auth service required = $auth
auth client required = $auth
keyring = $keyring
run dir = $dir/run
crash dir = $dir/crash
osd pool default size = $osds
osd pool default min size = $(( osds > 1 ? osds - 1 : 1 ))
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
# an OSD that stops answering is marked down on one peer's word, not two
mon osd min down reporters = 1
# auth none: there is no global_id to reclaim securely or not
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# the mon sets up the first mgr map with these: none but the always-on ones
mgr initial modules =
# a killed client's watch goes after 10 s instead of 30
osd client watch timeout = 10
# pool figures (ceph df, rados_ioctx_pool_stat, the quota's full flag) follow writes
# within about 2 s instead of 5-10: daemons report to the mgr and the mgr to the mon
# every second
mgr stats period = 1
mon mgr digest period = 1
mgr tick period = 1

[mon]
mon data = $dir/mon
${cx:+keyring = $dir/mon/keyring}
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log to stderr = false
err to stderr = false
# the disk DIR is on may be nearly full: that is no reason to stop or to warn
mon data avail warn = 0
mon data avail crit = 0
# a port taken since free_port looked: fail at once (start_mon takes another), not
# after 3 tries 5 s apart
ms bind retry count = 1
# quota checks (and the rest of the mon's housekeeping) every second, not every 5 s
mon tick interval = 1

[mgr]
mgr data = $dir/mgr
${cx:+keyring = $dir/mgr/keyring}
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log to stderr = false
err to stderr = false

[osd]
osd data = $dir/\$name
${cx:+keyring = $dir/\$name/keyring}
osd objectstore = memstore
memstore device bytes = $memstore_bytes
# pages (64 KiB) instead of one buffer per object: a hole in an object costs no memory
memstore page set = true
# cont-osd marks the OSD down after each thaw: never take that as flapping (by default
# the fifth mark-down within 10 minutes makes the OSD exit)
osd max markdown count = 1000
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log to stderr = false
err to stderr = false
EOF
}

# start_mon: mkfs and start mon.a on a free port, again on another if it was taken
start_mon() {
	local port fsid _
	fsid=$(uuidgen)
	for _ in 1 2 3; do
		port=$(free_port)
		write_conf "$port" "$fsid"
		rm -rf -- "$dir/mon" "$dir/monmap"
		monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" \
			--set-min-mon-release pacific --enable-all-features "$dir/monmap" \
			>"$dir/log/monmaptool.log" 2>&1 ||
			{ show_log "$dir/log/monmaptool.log"; die "monmaptool failed"; }
		mon_keys=()
		if [ "$auth" = cephx ]; then
			# the mon's own key and the admin's, which the mon learns at mkfs
			rm -f -- "$dir/keyring"
			ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' \
				>/dev/null &&
				ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' \
					--cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null ||
				die "ceph-authtool failed"
			mon_keys=(--keyring "$dir/keyring")
		fi
		ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" "${mon_keys[@]}" \
			>"$dir/log/mon-mkfs.log" 2>&1 ||
			{ show_log "$dir/log/mon-mkfs.log"; die "ceph-mon --mkfs failed"; }
		if ceph-mon -c "$conf" -i a >"$dir/log/mon-start.log" 2>&1; then
			return 0
		fi
		if ! grep -qs 'Address already in use' "$dir/log/mon.a.log"; then
			show_log "$dir/log/mon.a.log"
			die "ceph-mon did not start"
		fi
	done
	die "ceph-mon could not bind a port, 3 tries"
}

# record NAME: its PID (from the pid file it wrote) into DIR/pids
record() {
	local name=$1 f=$dir/run/$1.pid
	wait_until "$name's pid file" "$dir/log/$name.log" test -s "$f"
	echo "$name $(cat "$f")" >>"$dir/pids"
}

start_osd_daemon() { # ID
	ceph-osd -c "$conf" -i "$1" >"$dir/log/osd-start.log" 2>&1 ||
		{ show_log "$dir/log/osd.$1.log"; die "ceph-osd -i $1 did not start"; }
}

# osd_up [N]: N OSDs (default all of them) up in the osdmap
osd_up() {
	[ "$(ceph_ osd dump -f json | python3 -c 'import json,sys; print(sum(o["up"] for o in json.load(sys.stdin)["osds"]))')" = "${1:-$osds}" ]
}

mgr_available() {
	[ "$(ceph_ mgr stat -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["available"])')" = True ]
}

# pool_usable NAME: an object goes in, comes back the same and goes
pool_usable() {
	local obj=cluster.sh.probe.$$ p=$1
	echo "probe $p" >"$dir/run/probe.in"
	timeout 20 rados -c "$conf" -p "$p" put "$obj" "$dir/run/probe.in" &&
		timeout 20 rados -c "$conf" -p "$p" get "$obj" "$dir/run/probe.out" &&
		cmp -s "$dir/run/probe.in" "$dir/run/probe.out" &&
		timeout 20 rados -c "$conf" -p "$p" rm "$obj"
}

# max_avail_set NAME: the pool's MAX AVAIL in `ceph df` (needs PG stats from the mgr)
max_avail_set() {
	local a
	a=$(ceph_ df -f json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["pools"]:
    if p["name"] == sys.argv[1]:
        print(p["stats"]["max_avail"])' "$1")
	[ -n "$a" ] && [ "$a" -gt 0 ]
}

# pgs_clean: the mon's figures (what ceph df shows) count every PG, each active+clean
pgs_clean() {
	ceph_ status -f json | python3 -c '
import json, sys
m = json.load(sys.stdin)["pgmap"]
st = m.get("pgs_by_state", [])
sys.exit(not (m["num_pgs"] > 0 and all(x["state_name"] == "active+clean" for x in st)
              and sum(x["count"] for x in st) == m["num_pgs"]))'
}

create_pool() { # NAME [QUOTA_BYTES]
	ceph_ osd pool create "$1" 8 8 replicated >/dev/null 2>"$dir/log/pool.err" ||
		{ show_log "$dir/log/pool.err"; die "creating pool $1 failed"; }
	ceph_ osd pool application enable "$1" sparsefs >/dev/null 2>"$dir/log/pool.err" ||
		{ show_log "$dir/log/pool.err"; die "enabling application sparsefs on pool $1 failed"; }
	if [ -n "${2:-}" ]; then
		ceph_ osd pool set-quota "$1" max_bytes "$2" >/dev/null 2>"$dir/log/pool.err" ||
			{ show_log "$dir/log/pool.err"; die "set-quota on pool $1 failed"; }
	fi
	wait_until "pool $1 (put/get/rm of an object)" "$dir/log/osd.0.log" pool_usable "$1"
	wait_until "pool $1's MAX AVAIL in ceph df" "$dir/log/mgr.x.log" max_avail_set "$1"
	wait_until "every PG active+clean (ceph status)" "$dir/log/mgr.x.log" pgs_clean
}

cmd_start() {
	local t0=$SECONDS uuid id
	deadline=$((SECONDS + start_timeout))
	case $auth in
	none | cephx) ;;
	*) die "CEPH_AUTH=$auth: expected none or cephx" ;;
	esac
	[[ $osds =~ ^[1-5]$ ]] || die "CEPH_OSDS=$osds: expected 1 to 5"
	for c in ceph ceph-authtool ceph-mon ceph-mgr ceph-osd monmaptool rados uuidgen ss python3 timeout; do
		command -v "$c" >/dev/null || die "$c is not installed"
	done
	if [ -e "$dir" ]; then
		[ -d "$dir" ] || die "$dir exists and is not a directory"
		[ -z "$(ls -A -- "$dir")" ] || die "$dir is not empty"
	fi
	mkdir -p -- "$dir/run" "$dir/log" "$dir/crash" "$dir/mgr"
	: >"$dir/pids"
	trap start_failed EXIT

	start_mon
	record mon.a
	wait_until "mon.a (ceph mon stat)" "$dir/log/mon.a.log" ceph_ mon stat

	if [ "$auth" = cephx ]; then
		ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
			-o "$dir/mgr/keyring" 2>"$dir/log/auth.err" ||
			{ show_log "$dir/log/auth.err"; die "making mgr.x's key failed"; }
	fi
	ceph-mgr -c "$conf" -i x >"$dir/log/mgr-start.log" 2>&1 ||
		{ show_log "$dir/log/mgr.x.log"; die "ceph-mgr did not start"; }
	record mgr.x

	for i in $(seq 0 $((osds - 1))); do
		mkdir -p -- "$dir/osd.$i"
		uuid=$(uuidgen)
		id=$(ceph_ osd new "$uuid" 2>"$dir/log/osd-new.err") ||
			{ show_log "$dir/log/osd-new.err"; die "ceph osd new failed"; }
		[ "$id" = "$i" ] || die "ceph osd new gave osd.$id, not osd.$i"
		if [ "$auth" = cephx ]; then
			# its key before its mkfs, which asks the mon for its configuration
			ceph_ auth get-or-create "osd.$i" osd 'allow *' mon 'allow profile osd' \
				mgr 'allow profile osd' -o "$dir/osd.$i/keyring" 2>"$dir/log/auth.err" ||
				{ show_log "$dir/log/auth.err"; die "making osd.$i's key failed"; }
		fi
		ceph-osd -c "$conf" -i "$i" --mkfs --osd-uuid "$uuid" >"$dir/log/osd-mkfs.log" 2>&1 ||
			{ show_log "$dir/log/osd-mkfs.log"; show_log "$dir/log/osd.$i.log"; die "ceph-osd -i $i --mkfs failed"; }
		start_osd_daemon "$i"
		record "osd.$i"
	done
	wait_until "$osds OSD(s) (up in the osdmap)" "$dir/log/osd.0.log" osd_up
	wait_until "mgr.x (active)" "$dir/log/mgr.x.log" mgr_available

	create_pool "$pool"
	printf 'CEPH_CONF=%q\nCEPH_POOL=%q\n' "$conf" "$pool" >"$dir/env"
	trap - EXIT
	cat "$dir/env"
	echo "$prog: cluster up in $dir in $((SECONDS - t0)) s" >&2
}

# gone PIDS...: none of PIDS exists any more, not even as a zombie
gone() {
	local pid
	for pid; do
		[ ! -e "/proc/$pid" ] || return 1
	done
}

# wait_gone SECONDS PIDS...
wait_gone() {
	local n=$(($1 * 10))
	shift
	while ! gone "$@"; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.1
	done
}

# term_pids PID...: TERM those still running daemons of this cluster, KILL any left
# after 10 s; return once all are gone
term_pids() {
	local pid pids=()
	for pid; do
		if running "$pid"; then
			pids+=("$pid")
			kill -TERM "$pid" 2>/dev/null || true
			kill -CONT "$pid" 2>/dev/null || true # a stopped OSD must run to see TERM
		fi
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	wait_gone 10 "${pids[@]}" && return 0
	for pid in "${pids[@]}"; do
		if running "$pid"; then
			echo "$prog: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")($pid) did not exit on TERM within 10 s: KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	wait_gone 10 "${pids[@]}" || die "daemons ${pids[*]} still there 10 s after KILL"
}

# term_wait NAME...: term_pids on those daemons of DIR/pids
term_wait() {
	local name pid pids=()
	for name; do
		pid=$(awk -v n="$name" '$1 == n { print $2 }' "$dir/pids")
		[ -z "$pid" ] || pids+=("$pid")
	done
	term_pids "${pids[@]}"
}

# start_failed: on a failed start, stop whatever it started (its pid files count too:
# a daemon may have gone into the background before start could record it)
start_failed() {
	local st=$? f name pid pids=()
	[ "$st" != 0 ] || return 0
	for f in "$dir"/run/*.pid; do
		[ ! -s "$f" ] || pids+=("$(cat "$f")")
	done
	while read -r name pid; do
		[ -z "$pid" ] || pids+=("$pid")
	done <"$dir/pids"
	term_pids "${pids[@]}"
	echo "$prog: start failed; $dir kept for its logs ($prog stop $dir removes it)" >&2
	exit "$st"
}

cmd_stop() {
	[ -e "$dir" ] || return 0
	# never rm -rf a directory that start did not make
	ours_dir || die "$dir: not a cluster made by $prog (no ceph.conf of its own): left alone"
	if [ -f "$dir/pids" ]; then
		# the OSDs first: each tells the mon it is going, and waits 5 s for an
		# answer if the mon has gone already
		term_wait $(awk '$1 ~ /^osd\./ { print $1 }' "$dir/pids")
		term_wait mgr.x mon.a
	fi
	[ -n "${CEPH_KEEP:-}" ] || rm -rf -- "$dir"
}

cmd_pool() { # NAME [QUOTA]
	[ -n "${1:-}" ] || usage
	[ -z "${2:-}" ] || [[ $2 =~ ^[0-9]+$ ]] || die "quota '$2' is not a number of bytes"
	deadline=$((SECONDS + start_timeout))
	create_pool "$1" "${2:-}"
}

cmd_client() { # NAME POOL
	[ -n "${1:-}" ] && [ -n "${2:-}" ] || usage
	grep -q '^auth client required = cephx' "$conf" || die "$dir: the cluster runs without cephx"
	ceph_ auth get-or-create "client.$1" mon 'allow r' osd "allow rw pool=$2, allow pool=$2 class lock" \
		-o "$dir/client.$1.keyring" 2>"$dir/log/auth.err" ||
		{ show_log "$dir/log/auth.err"; die "making client.$1's key failed"; }
	echo "$dir/client.$1.keyring"
}

cmd_signal_osd() { # SIGNAL ID
	local pid
	pid=$(daemon_pid "osd.$2")
	running "$pid" || die "osd.$2 ($pid) is not running"
	kill "-$1" "$pid"
}

# cmd_cont_osd: SIGCONT, and the OSD's PGs serve again. A freeze longer than a PG's read
# lease (16 s: osd_pool_default_read_lease_ratio x osd_heartbeat_grace) leaves the
# PG "laggy": it parks every op until a lease ack from a peer, which a lone OSD has
# not, and Pacific's OSD never checks again (Ceph tracker 80404; ceph-container issue
# 1682): ops to those PGs, from old clients and new alike, wait forever, while ops to
# the other PGs pass, so that a probe object can answer and a mount's objects not.
# Marked down, the OSD says it was wrongly marked down and boots into a new interval:
# its PGs peer again, not laggy, in about 5 s. Done after every thaw: whether a PG
# turns laggy shows only when an op reaches it.
cmd_cont_osd() { # ID
	local t
	cmd_signal_osd CONT "$1"
	deadline=$((SECONDS + start_timeout))
	t=$(date +%s)
	ceph_ osd down "$1" >/dev/null 2>"$dir/log/osd-down.err" ||
		{ show_log "$dir/log/osd-down.err"; die "ceph osd down $1 failed"; }
	wait_until "osd.$1 (up again in the osdmap)" "$dir/log/osd.$1.log" osd_up "$(osds_running)"
	wait_until "every PG serving again (ceph pg ls)" "$dir/log/mgr.x.log" pgs_serving_since "$t"
}

# recreate_pgs: have the mon create every PG of every pool afresh: after a kill, memstore
# comes back as mkfs left it, without the PGs the mon knows about (they would stay
# stale and every request to them would hang). With librados's python binding, all
# in one process: the ceph CLI would take a second per PG.
recreate_pgs() {
	/usr/bin/python3 - "$conf" <<'EOF' 2>"$dir/log/recreate-pgs.err" ||
import concurrent.futures, json, sys, rados
c = rados.Rados(conffile=sys.argv[1])
c.connect(timeout=15)
def mon(**cmd):
    r, out, err = c.mon_command(json.dumps(dict(cmd, format="json")), b"", timeout=30)
    if r < 0:
        sys.exit("%s: %s" % (cmd["prefix"], err))
    return out
pgs = ["%d.%x" % (p["pool"], i) for p in json.loads(mon(prefix="osd dump"))["pools"]
       for i in range(p["pg_num"])]
# all at once: the mon commits each in a proposal of its own, a second apart one by one
with concurrent.futures.ThreadPoolExecutor(len(pgs)) as ex:
    list(ex.map(lambda pg: mon(prefix="osd force-create-pg", pgid=pg, yes_i_really_mean_it=True), pgs))
EOF
		{ show_log "$dir/log/recreate-pgs.err"; die "recreating the PGs failed"; }
}

# pgs_active_since T [active]: the mgr has every PG active+clean again since T (seconds
# since the epoch), as the mon's digest (pgs_clean) may still show PGs as they were
# before; with "active", active in any way (degraded, undersized: an OSD is missing)
# but not laggy
pgs_active_since() {
	ceph_ pg ls -f json | python3 -c '
import datetime, json, sys
pgs = json.load(sys.stdin)["pg_stats"]
def since(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() >= float(sys.argv[1])
def ok(st):
    if sys.argv[2] == "active":
        return st.split("+")[0] == "active" and "laggy" not in st and "peering" not in st
    return st == "active+clean"
sys.exit(not (pgs and all(ok(p["state"]) and since(p["last_became_active"]) for p in pgs)))' "$1" "${2:-clean}"
}

# pgs_serving_since T: every PG active+clean since T, or, while some OSD of the cluster
# is not running, every PG active since T
pgs_serving_since() {
	if [ "$(osds_running)" = "$osds" ]; then
		pgs_active_since "$1" && pgs_clean
	else
		pgs_active_since "$1" active
	fi
}

# osds_running: how many of the cluster's OSD daemons run (stopped ones count)
osds_running() {
	local name pid n=0
	while read -r name pid; do
		[[ $name == osd.* ]] && running "$pid" && n=$((n + 1))
	done <"$dir/pids"
	echo "$n"
}

cmd_start_osd() { # ID
	local pid p t id=$1
	pid=$(daemon_pid "osd.$id")
	! running "$pid" || die "osd.$id ($pid) is still running"
	deadline=$((SECONDS + start_timeout))
	rm -f -- "$dir/run/osd.$id.pid"
	t=$(date +%s)
	start_osd_daemon "$id"
	wait_until "osd.$id's pid file" "$dir/log/osd.$id.log" test -s "$dir/run/osd.$id.pid"
	sed -i "s/^osd\.$id .*/osd.$id $(cat "$dir/run/osd.$id.pid")/" "$dir/pids"
	wait_until "osd.$id (up in the osdmap)" "$dir/log/osd.$id.log" osd_up "$(osds_running)"
	# a lone OSD lost every object and PG: have them made afresh; with peers, it
	# is filled again from their copies (backfill)
	[ "$osds" != 1 ] || recreate_pgs
	wait_until "every PG serving again (ceph pg ls)" "$dir/log/mgr.x.log" pgs_serving_since "$t"
	for p in $(ceph_ osd pool ls); do
		wait_until "pool $p (put/get/rm of an object)" "$dir/log/osd.0.log" pool_usable "$p"
	done
}

[ $# -ge 2 ] || usage
cmd=$1
set_dir "$2"
shift 2
case $cmd in
start)
	[ $# = 0 ] || usage
	cmd_start
	;;
stop)
	[ $# = 0 ] || usage
	cmd_stop
	;;
pool)
	need_cluster
	cmd_pool "$@"
	;;
stop-osd | cont-osd | kill-osd)
	[ $# -le 1 ] || usage
	need_cluster
	case $cmd in
	stop-osd) cmd_signal_osd STOP "${1:-0}" ;;
	cont-osd) cmd_cont_osd "${1:-0}" ;;
	kill-osd) cmd_signal_osd KILL "${1:-0}" ;;
	esac
	;;
client)
	[ $# = 2 ] || usage
	need_cluster
	cmd_client "$@"
	;;
start-osd)
	[ $# -le 1 ] || usage
	need_cluster
	cmd_start_osd "${1:-0}"
	;;
*) usage ;;
esac
