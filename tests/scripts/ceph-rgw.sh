#!/usr/bin/env bash
# Single-node Ceph for the integration tests: 1 mon, 1 bluestore OSD on a sparse file, no mgr,
# and one RADOS Gateway (S3), all bound to 127.0.0.1, all state under DIR.
#
# usage:
#   ceph-rgw.sh up    DIR RGW_PORT MON_PORT   # start (or reuse) the cluster; prints the endpoint URL on stdout
#   ceph-rgw.sh down  DIR                     # stop the daemons (state and logs stay in DIR)
#   ceph-rgw.sh purge DIR                     # stop the daemons and delete DIR
#   ceph-rgw.sh logs  DIR [N]                 # print the last N (30) lines of every log
#
# `up` is idempotent: if DIR already has a live cluster whose rgw answers on RGW_PORT it only
# prints the endpoint. Otherwise it stops what is left, wipes DIR and starts from scratch (~17 s).
# The mon listens on MON_PORT (msgr v2) and MON_PORT+1 (msgr v1).
#
# Environment:
#   S3TEST_CEPH_ACCESS_KEY / S3TEST_CEPH_SECRET_KEY  the S3 user's keys (fixed test defaults below)
#   S3TEST_CEPH_TIMEOUT   seconds allowed from start to a usable endpoint (default 120)
#   S3TEST_CEPH_MIN_FREE_MB  free disk space DIR's filesystem must have to start (default 1024; the
#                         full test suite writes about 1.2 GiB into the cluster)
#
# Needs (tests/scripts/install-deps.sh installs them):
#   radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl   (Debian 12: Ceph 16.2.15 "pacific")
#
# Notes for tests:
#   * Ceph 16 rejects aws-chunked uploads with a trailing checksum (the default of new AWS SDKs):
#     clients must use request checksum calculation "when required".
#   * Versioning and tagging work out of the box. The S3 user may create any number of buckets
#     (max-buckets 0 = unlimited), since a reused cluster collects buckets across test runs.
#   * 503 SlowDown on demand: `ceph --admin-daemon DIR/run/ceph-client.rgw.a.asok config set
#     rgw_max_concurrent_requests 1` (set it back to 1024 afterwards).
set -euo pipefail

AK=${S3TEST_CEPH_ACCESS_KEY:-S3TESTCEPHACCESSKEY01}
SK=${S3TEST_CEPH_SECRET_KEY:-s3testcephsecretkey000000000000000000001}
READY_TIMEOUT=${S3TEST_CEPH_TIMEOUT:-120}
MIN_FREE_MB=${S3TEST_CEPH_MIN_FREE_MB:-1024}
S3_UID=s3test
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
MARKER=.s3test-ceph # marks a directory this script created (so it may wipe it)

usage() {
	sed -n '2,13p' "$0" >&2
	exit 2
}

log() { echo "ceph-rgw: $*" >&2; }

# True if something answers HTTP on 127.0.0.1:$1 (any status code).
http_answers() {
	local code
	code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null) || true
	[[ -n "$code" && "$code" != 000 ]]
}

# True if an authenticated ListBuckets with our keys returns 200.
s3_user_works() {
	local code
	# RGW wants x-amz-content-sha256, which curl 7.88 does not add by itself (sha256 of "").
	code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$AK:$SK" -H "x-amz-content-sha256: $EMPTY_SHA256" \
		"http://127.0.0.1:$1/" 2>/dev/null) || true
	[[ "$code" == 200 ]]
}

# True if a TCP connect to 127.0.0.1:$1 succeeds.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Print the last N lines of every log in DIR (to stderr). In the daemons' own logs (*.log) only
# their timestamped lines count, without RocksDB's chatter (its statistics dumps fill pages).
dump_logs() {
	local d=$1 n=${2:-30} f
	for f in "$d"/log/*; do
		[[ -f "$f" && -s "$f" ]] || continue
		echo "----- last $n lines of $f -----" >&2
		if [[ "$f" == *.log ]]; then
			grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$f" | grep -v ' rocksdb: ' | tail -n "$n" >&2 || true
		else
			tail -n "$n" "$f" >&2
		fi
	done
}

# Free MiB on the filesystem that holds $1; free_space says it with the mount point.
free_mib() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }
free_space() { df -Pm "$1" | awk -v d="$1" 'NR == 2 { print $4 " MiB free on " $6 " (holding " d ")" }'; }

# Explain how daemon NAME (pid PID, a child of this shell) ended: its exit status, what it printed
# and the errors in its log.
explain_exit() {
	local d=$1 name=$2 pid=$3 st=0 why
	wait "$pid" 2>/dev/null || st=$?
	case $st in
	127) why="not a child of this script: exit status unknown" ;;
	28) why="exit status 28 (ENOSPC: no space left on device)" ;;
	*) ((st > 128)) && why="killed by signal $((st - 128))" || why="exit status $st" ;;
	esac
	log "$name (pid $pid) ended: $why"
	if [[ -s "$d/log/$name.out" ]]; then
		echo "----- what $name printed ($d/log/$name.out) -----" >&2
		tail -n 20 "$d/log/$name.out" >&2
	fi
	local logf=$d/log/ceph-$name.log
	[[ $name == rgw.* ]] && logf=$d/log/$name.log
	local errors
	errors=$(grep -E '^[0-9-]{10}T[^ ]+ [0-9a-f]+ +-1 |[Ee]rror|abort|[Ff]ailed' "$logf" 2>/dev/null |
		grep -v ' rocksdb: ' | tail -n 20) || true
	[[ -z "$errors" ]] || printf -- '----- errors in %s -----\n%s\n' "$logf" "$errors" >&2
}

# Delete the /tmp admin-socket directory that a deep DIR uses (see cmd_up), if any.
remove_sock_dir() {
	local d=$1 t
	if [[ -L "$d/asok" ]]; then
		t=$(readlink "$d/asok")
		[[ "$t" == /tmp/s3test-ceph-asok.* ]] && rm -rf "$t"
		rm -f "$d/asok"
	fi
	return 0
}

# Stop the daemons recorded in DIR/run/*.pid: rgw first, mon last. TERM, then KILL after 15 s.
stop_daemons() {
	local d=$1 f p i
	for f in "$d"/run/rgw.*.pid "$d"/run/osd.*.pid "$d"/run/mon.*.pid; do
		[[ -f "$f" ]] || continue
		p=$(cat "$f")
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
			for ((i = 0; i < 75; i++)); do
				kill -0 "$p" 2>/dev/null || break
				sleep 0.2
			done
			if kill -0 "$p" 2>/dev/null; then
				log "pid $p ($(basename "$f" .pid)) ignored TERM; killing"
				kill -KILL "$p" 2>/dev/null || true
			fi
		fi
		rm -f "$f"
	done
}

cmd_down() {
	local d=$1
	[[ -d "$d" ]] || return 0
	stop_daemons "$d"
}

cmd_purge() {
	local d=$1
	[[ -d "$d" ]] || return 0
	stop_daemons "$d"
	if [[ -f "$d/$MARKER" ]]; then
		remove_sock_dir "$d"
		rm -rf "$d"
	else
		log "not deleting $d: it was not created by this script"
	fi
}

cmd_up() {
	local d=$1 rgw_port=$2 mon=$3
	[[ "$rgw_port" =~ ^[0-9]+$ && "$mon" =~ ^[0-9]+$ ]] || usage
	mkdir -p "$d"
	d=$(cd "$d" && pwd)

	# Serialize concurrent `up`s on the same DIR. The lock fd (9) is closed in every daemon
	# (9>&- below), otherwise the daemons would hold the lock forever.
	exec 9>"$d.up.lock"
	flock -w 600 9 || {
		log "timed out waiting for $d.up.lock"
		exit 1
	}

	# Reuse a live cluster, if it serves on the requested port.
	# DIR/server.env (endpoint, access key) is also what tests/src/servers.rs checks before reuse.
	if pid_alive "$d/run/rgw.a.pid" && pid_alive "$d/run/mon.a.pid" &&
		grep -qx "endpoint=http://127.0.0.1:$rgw_port" "$d/server.env" 2>/dev/null &&
		http_answers "$rgw_port"; then
		if ! s3_user_works "$rgw_port"; then
			# Keys changed through the environment: add them to the existing user.
			log "adding the requested keys to user $S3_UID"
			CEPH_CONF=$d/ceph.conf timeout 60 radosgw-admin key create --uid=$S3_UID \
				--key-type=s3 --access-key="$AK" --secret-key="$SK" >/dev/null
		fi
		printf 'endpoint=http://127.0.0.1:%s\naccess_key=%s\n' "$rgw_port" "$AK" >"$d/server.env"
		log "reusing the running cluster in $d"
		echo "http://127.0.0.1:$rgw_port"
		return 0
	fi

	# Not (fully) running: stop leftovers and start over from an empty directory.
	if [[ -n "$(ls -A "$d")" && ! -f "$d/$MARKER" ]]; then
		log "refusing to wipe $d: it is not empty and was not created by this script"
		exit 1
	fi
	# A port taken by something other than our own cluster: fail before stopping ours.
	local p ours
	ours=" $(cat "$d/ports" 2>/dev/null || true) "
	for p in "$rgw_port" "$mon" "$((mon + 1))"; do
		if port_busy "$p" && [[ "$ours" != *" $p "* ]]; then
			log "port $p on 127.0.0.1 is already in use by another program; choose other ports" \
				"(S3TEST_CEPH_PORT / S3TEST_CEPH_MON_PORT)"
			exit 1
		fi
	done
	stop_daemons "$d"
	for p in "$rgw_port" "$mon" "$((mon + 1))"; do
		if port_busy "$p"; then
			log "port $p on 127.0.0.1 is still in use after stopping the cluster in $d"
			exit 1
		fi
	done
	remove_sock_dir "$d"
	find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
	# Ceph's own check (mon data avail crit) counts percent of the disk: on a big shared disk it
	# refuses to start with gigabytes free, and says so only in an exit status. Check bytes here.
	if (($(free_mib "$d") < MIN_FREE_MB)); then
		log "only $(free_space "$d"); the test cluster needs $MIN_FREE_MB MiB" \
			"(S3TEST_CEPH_MIN_FREE_MB): free some disk space"
		exit 1
	fi
	mkdir -p "$d"/{mon,osd,rgw,run,log,crash}
	touch "$d/$MARKER"
	echo "$rgw_port $mon $((mon + 1))" >"$d/ports"

	# Unix sockets have a 107-byte path limit: put admin sockets in /tmp if DIR is deep.
	local sock_dir=$d/run
	if ((${#sock_dir} > 70)); then
		sock_dir=$(mktemp -d /tmp/s3test-ceph-asok.XXXXXX)
		ln -s "$sock_dir" "$d/asok"
	fi

	local start=$SECONDS deadline=$((SECONDS + READY_TIMEOUT))
	export CEPH_CONF=$d/ceph.conf

	# fail MESSAGE [DAEMON PID]: say what failed (how DAEMON ended, if given), the free disk space
	# and the logs, stop the daemons, exit 1.
	fail() {
		log "FAILED: $1"
		[[ $# -lt 3 ]] || explain_exit "$d" "$2" "$3"
		log "$(free_space "$d")"
		dump_logs "$d" 30
		stop_daemons "$d"
		exit 1
	}
	# wait_until DESCRIPTION CMD...: retry CMD until it succeeds, the deadline passes, or a daemon dies.
	wait_until() {
		local what=$1 f
		shift
		until "$@"; do
			for f in "$d"/run/*.pid; do
				[[ -f "$f" ]] || continue
				pid_alive "$f" ||
					fail "$(basename "$f" .pid) exited while waiting for $what" "$(basename "$f" .pid)" "$(cat "$f")"
			done
			((SECONDS < deadline)) || fail "not ready after ${READY_TIMEOUT}s: $what"
			sleep 0.3
		done
	}
	# ceph CLI with bounded time (it hangs forever when no mon answers).
	cli() { timeout 30 ceph --connect-timeout 20 "$@"; }
	start_daemon() {
		local name=$1
		shift
		setsid "$@" >"$d/log/$name.out" 2>&1 </dev/null 9>&- &
		echo $! >"$d/run/$name.pid"
	}
	mon_answers() { cli -s >/dev/null 2>&1; }
	osd_is_up() { cli osd stat 2>/dev/null | grep -q ' 1 up'; }

	local fsid
	fsid=$(uuidgen)
	cat >"$d/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon,v1:127.0.0.1:$((mon + 1))]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# with auth none the default "secure" mon client mode leaves no usable mode -> EACCES (-13) in radosgw
ms mon client mode = crc secure
ms client mode = crc secure
auth allow insecure global id reclaim = false
run dir = $d/run
admin socket = $sock_dir/\$cluster-\$name.asok
log file = $d/log/\$cluster-\$name.log
pid file = $d/run/\$cluster-\$name.cephpid
mon data = $d/mon/\$cluster-\$id
osd data = $d/osd/\$cluster-\$id
keyring = $d/keyring
crash dir = $d/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# test machines share big disks that may be nearly full: no percent-of-disk limit (-1: never; the
# script checks for MIN_FREE_MB itself, and a mon that would stop on it mid-run stops the tests)
mon data avail warn = 1
mon data avail crit = -1

[osd]
osd objectstore = bluestore
# must not be <osd data>/block (mkfs then makes a self-referencing symlink: ELOOP)
bluestore block path = $d/osd/block-\$id.img
bluestore block create = true
# sparse file: only what is written takes disk space
bluestore block size = 21474836480
bluestore fsck on mount = false
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $d/rgw/\$cluster-\$id
rgw dns name = localhost
rgw enable usage log = false
# new users may own any number of buckets (0 = unlimited; default 1000 would run out on a reused cluster)
rgw user max buckets = 0
log file = $d/log/rgw.a.log
EOF

	log "starting mon on 127.0.0.1:$mon"
	ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool "$d/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
		--cap mgr 'allow *' >/dev/null
	monmaptool --create --addv a "[v2:127.0.0.1:$mon,v1:127.0.0.1:$((mon + 1))]" --fsid "$fsid" \
		"$d/monmap" >/dev/null
	timeout 60 ceph-mon --mkfs -i a --monmap "$d/monmap" --keyring "$d/keyring" \
		>"$d/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs"
	start_daemon mon.a ceph-mon -f -i a
	wait_until "mon answering" mon_answers

	log "creating the OSD (bluestore on a sparse file)"
	local uuid id
	uuid=$(uuidgen)
	id=$(cli osd new "$uuid" 2>>"$d/log/osd-new.err") || fail "ceph osd new"
	mkdir -p "$d/osd/ceph-$id"
	timeout 120 ceph-osd -i "$id" --mkfs --osd-uuid "$uuid" >"$d/log/osd-mkfs.out" 2>&1 ||
		fail "ceph-osd --mkfs"
	start_daemon "osd.$id" ceph-osd -f -i "$id"
	wait_until "osd.$id up" osd_is_up

	log "starting rgw on 127.0.0.1:$rgw_port"
	mkdir -p "$d/rgw/ceph-rgw.a"
	start_daemon rgw.a radosgw -f -n client.rgw.a
	wait_until "rgw answering HTTP on port $rgw_port" http_answers "$rgw_port"

	timeout 60 radosgw-admin user create --uid=$S3_UID --display-name="S3 integration tests" \
		--access-key="$AK" --secret-key="$SK" --max-buckets=0 >"$d/log/user-create.out" 2>&1 ||
		fail "radosgw-admin user create"
	wait_until "S3 user accepted" s3_user_works "$rgw_port"

	printf 'endpoint=http://127.0.0.1:%s\naccess_key=%s\n' "$rgw_port" "$AK" >"$d/server.env"
	log "ready after $((SECONDS - start))s: http://127.0.0.1:$rgw_port access_key=$AK"
	echo "http://127.0.0.1:$rgw_port"
}

[[ $# -ge 2 ]] || usage
case $1 in
up)
	[[ $# -eq 4 ]] || usage
	cmd_up "$2" "$3" "$4"
	;;
down) cmd_down "$2" ;;
purge) cmd_purge "$2" ;;
logs) dump_logs "$2" "${3:-30}" ;;
*) usage ;;
esac
