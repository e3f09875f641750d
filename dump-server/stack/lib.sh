# shellcheck shell=bash disable=SC2034  # (settings used by the scripts that source this)
# Settings and helpers shared by the dump-server stack scripts (sourced, not run).
#
# One "stack" = a Bacula 9.6 director (SQLite catalog), storage daemon (virtual tape autochanger
# of files with two drives, data spooling) and one or more file daemons (each with our s3-fd.so:
# one dump server per Client), all on 127.0.0.1, all state in $DUMP_HOME. Several stacks can live side by side: give each its own DUMP_HOME and ports (the
# demo uses the defaults; the e2e tests use .state/bacula-e2e and other ports).
#
# Environment (all optional):
#   DUMP_HOME          state directory            (default <repo>/.state/dump-server)
#   DUMP_DIR_PORT      director port              (default 19101)
#   DUMP_FD_PORT       (first) file daemon port   (default 19102)
#   DUMP_SD_PORT       storage daemon port        (default 19103)
#   DUMP_FD_COUNT      file daemons (Clients)     (default 1): dump-fd on DUMP_FD_PORT, then
#                      dump-fd-2, dump-fd-3, ... on DUMP_EXTRA_FD_PORT, +1, ...
#   DUMP_EXTRA_FD_PORT port of dump-fd-2          (default DUMP_SD_PORT + 1)
#   DUMP_VFULL_SLOTS   of the slots, how many (the last ones) hold the tapes of pool VFull, the
#                      Next Pool that VirtualFull jobs write to (default 2)
#   DUMP_SLOTS         virtual tape slots         (default 8)
#   DUMP_FD_DEBUG      file daemon debug level    (default 0; 200 logs every plugin call)
#   DUMP_DIR_DEBUG     director debug level       (default 0; 2300 shows its job queue)
#   DUMP_JOB_TIMEOUT   seconds run-job.sh waits for a job (default 300)
#   DUMP_PLUGIN_DIR    the fd's Plugin Directory when the plugin is installed, e.g. /usr/lib/bacula
#                      (package bacula-s3-fd-plugin): start.sh then loads the s3-fd.so there and
#                      copies none (default: $DUMP_HOME/plugins, where start.sh copies DUMP_PLUGIN)

STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$STACK_DIR/../.." && pwd)
DUMP_HOME=${DUMP_HOME:-$REPO_ROOT/.state/dump-server}
DUMP_DIR_PORT=${DUMP_DIR_PORT:-19101}
DUMP_FD_PORT=${DUMP_FD_PORT:-19102}
DUMP_SD_PORT=${DUMP_SD_PORT:-19103}
DUMP_SLOTS=${DUMP_SLOTS:-8}
DUMP_FD_COUNT=${DUMP_FD_COUNT:-1}
DUMP_EXTRA_FD_PORT=${DUMP_EXTRA_FD_PORT:-$((DUMP_SD_PORT + 1))}
DUMP_VFULL_SLOTS=${DUMP_VFULL_SLOTS:-2}
DUMP_FD_DEBUG=${DUMP_FD_DEBUG:-0}
DUMP_JOB_TIMEOUT=${DUMP_JOB_TIMEOUT:-300}
DUMP_ADDR=127.0.0.1

ETC=$DUMP_HOME/etc        # daemon configs; etc/jobs/*.conf: one plugin Job+FileSet each
VAR=$DUMP_HOME/var        # working directories, catalog, spool, restores
RUN=$VAR/run              # our pid files
LOG=$VAR/log              # <daemon>.out (stdout/stderr) and bacula.log (all job messages)
TAPES=$DUMP_HOME/tapes    # the virtual tape library: slotN files, barcodes, drive0 link
PLUGINS=$DUMP_HOME/plugins  # start.sh's copy of s3-fd.so
FD_PLUGIN_DIR=${DUMP_PLUGIN_DIR:-$PLUGINS}  # the fd's Plugin Directory
CATALOG=$VAR/dir/bacula.db

# Names of the resources (the Client is what `restore client=` wants).
DIR_NAME=dump-dir
FD_NAME=dump-fd
SD_NAME=dump-sd

# File daemon N (1..DUMP_FD_COUNT): its Client name, port, pid name (var/run/<key>.pid, log
# var/log/<key>.out), config file and working directory. Number 1 keeps the names of a
# one-client stack (dump-fd, fd, bacula-fd.conf, var/fd).
fd_name() { if (($1 == 1)); then echo "$FD_NAME"; else echo "$FD_NAME-$1"; fi; }
fd_port() { if (($1 == 1)); then echo "$DUMP_FD_PORT"; else echo $((DUMP_EXTRA_FD_PORT + $1 - 2)); fi; }
fd_key() { if (($1 == 1)); then echo fd; else echo "fd-$1"; fi; }
fd_conf() { echo "$ETC/bacula-$(fd_key "$1").conf"; }
fd_workdir() { echo "$VAR/$(fd_key "$1")"; }

# Loopback-only, test-only secrets.
PW_CONSOLE=dump-console-secret
PW_FD=dump-fd-secret
PW_SD=dump-sd-secret

# bcon [SECONDS]: run the bconsole commands on stdin against this stack's director, bounded in
# time (bconsole waits a long time for a director that does not answer).
bcon() {
	timeout "${1:-120}" /usr/sbin/bconsole -n -c "$ETC/bconsole.conf"
}

# sql QUERY: one query against the catalog (read-only use; the director owns the database).
sql() {
	sqlite3 -cmd '.timeout 10000' "$CATALOG" "$1"
}

# wait_port PORT SECONDS: true once something listens on 127.0.0.1:PORT. Reads /proc/net/tcp
# rather than connecting: a bare connect makes a Bacula daemon log a "Security Alert".
wait_port() {
	local port=$1 secs=${2:-30} hex i
	hex=$(printf '0100007F:%04X' "$port")
	for ((i = 0; i < secs * 10; i++)); do
		if awk -v p="$hex" 'FNR > 1 && $2 == p && $4 == "0A" { f = 1 } END { exit !f }' \
			/proc/net/tcp; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# pid_of NAME: the pid recorded for daemon NAME (dir, sd, fd, fd-2, ...) if it is alive.
pid_of() {
	local f=$RUN/$1.pid p
	[[ -f $f ]] || return 1
	p=$(cat "$f")
	[[ -n $p ]] && kill -0 "$p" 2>/dev/null && echo "$p"
}

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# write_jobs_index: etc/jobs.conf includes every etc/jobs/*.conf (one plugin job each).
write_jobs_index() {
	local f
	for f in "$ETC"/jobs/*.conf; do
		if [[ -e $f ]]; then echo "@$f"; fi
	done >"$ETC/jobs.conf.new"
	mv "$ETC/jobs.conf.new" "$ETC/jobs.conf"
}

# queue_job 'bconsole commands...': feeds them to bconsole, prints the JobId it queued.
# Fails (and shows what bconsole said) when no job was queued.
queue_job() {
	local out id
	out=$(printf '%s\nquit\n' "$1" | bcon 120) || true
	id=$(sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' <<<"$out" | tail -1)
	if [[ -z $id ]]; then
		echo "no job was queued; bconsole said:" >&2
		echo "$out" >&2
		return 1
	fi
	echo "$id"
}

# wait_job JOBID: waits until the director has finished the job, at most $DUMP_JOB_TIMEOUT
# seconds; on timeout cancels the job and fails.
wait_job() {
	local id=$1
	if ! printf 'wait jobid=%s\nquit\n' "$id" | bcon "$DUMP_JOB_TIMEOUT" >/dev/null; then
		echo "job $id did not finish within ${DUMP_JOB_TIMEOUT}s; cancelling it" >&2
		printf 'status dir\ncancel jobid=%s yes\nquit\n' "$id" | bcon 60 >&2 || true
		return 1
	fi
	# `wait` returns when the job leaves the director's running list; the catalog row is
	# written just before. Give it a moment if the status is not final yet.
	local i st
	for ((i = 0; i < 100; i++)); do
		st=$(sql "SELECT JobStatus FROM Job WHERE JobId=$id;")
		case $st in T | E | e | f | A | W) return 0 ;; esac
		sleep 0.1
	done
	echo "job $id: no final status in the catalog (JobStatus '$st')" >&2
	return 1
}

# report_job JOBID: the job log from the catalog, the job's row, and a line
# "JOBID=n STATUS=c LEVEL=l FILES=n BYTES=n ERRORS=n" for scripts.
report_job() {
	local id=$1 row st lv files bytes errs
	echo "----- job log (JobId $id) -----"
	sql "SELECT LogText FROM Log WHERE JobId=$id ORDER BY LogId;" | sed -e 's/\\$//' -e '/^$/d'
	echo "-----"
	row=$(sql "SELECT JobStatus, Level, JobFiles, JobBytes, JobErrors FROM Job WHERE JobId=$id;")
	IFS='|' read -r st lv files bytes errs <<<"$row"
	echo "JOBID=$id STATUS=$st LEVEL=$lv FILES=$files BYTES=$bytes ERRORS=$errs"
}
