#!/usr/bin/env bash
# Start the local dump server: storage daemon, file daemons (DUMP_FD_COUNT of them, each with
# s3-fd.so), director, each in
# the foreground mode (-f) of its binary, in the background of this script, logging to
# var/log/<daemon>.out. Writes the configuration first if there is none. Labels the virtual
# tapes on first start. Idempotent: daemons that already run are left alone.
#
#   DUMP_PLUGIN=/path/libs3_fd_bacula.so start.sh
#
# DUMP_PLUGIN is copied as a real file (the fd skips symlinks) named s3-fd.so into the Plugin
# Directory (shared by the file daemons); if it changed while they run, they are restarted to
# load the new one.
# Default: <repo>/target/release/libs3_fd_bacula.so.
# DUMP_PLUGIN_DIR=/usr/lib/bacula: the fd loads the installed s3-fd.so there instead (package
# bacula-s3-fd-plugin); nothing is copied and DUMP_PLUGIN is not used.
# DUMP_WATCH_PID=PID: also start a watchdog that runs stop.sh once process PID is gone (the
# e2e tests pass their own pid, so no daemon outlives the test run).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n ${DUMP_PLUGIN_DIR:-} ]]; then
	[[ -f $DUMP_PLUGIN_DIR/s3-fd.so && ! -L $DUMP_PLUGIN_DIR/s3-fd.so ]] ||
		die "no regular file $DUMP_PLUGIN_DIR/s3-fd.so (DUMP_PLUGIN_DIR; install bacula-s3-fd-plugin)"
else
	PLUGIN_SRC=${DUMP_PLUGIN:-$REPO_ROOT/target/release/libs3_fd_bacula.so}
	[[ -f $PLUGIN_SRC ]] || die "plugin $PLUGIN_SRC not found (build it: cargo build --release -p s3-fd-bacula, or set DUMP_PLUGIN)"
fi

if [[ ! -f $ETC/bacula-dir.conf || ! -s $CATALOG ]]; then
	"$STACK_DIR/configure.sh"
fi
# The fd's configuration must name the Plugin Directory asked for now.
grep -qxF "  Plugin Directory = \"$FD_PLUGIN_DIR\"" "$ETC/bacula-fd.conf" ||
	die "$ETC/bacula-fd.conf has another Plugin Directory than $FD_PLUGIN_DIR: run configure.sh with the same DUMP_PLUGIN_DIR"
mkdir -p "$RUN" "$LOG" "$PLUGINS"

# The plugin: a real file named s3-fd.so. Nothing else goes into the Plugin Directory (the fd
# loads every *-fd.so there).
plugin_changed=false
if [[ -z ${DUMP_PLUGIN_DIR:-} ]] && ! cmp -s "$PLUGIN_SRC" "$PLUGINS/s3-fd.so"; then
	install -m 0755 "$PLUGIN_SRC" "$PLUGINS/s3-fd.so.new"
	mv -f "$PLUGINS/s3-fd.so.new" "$PLUGINS/s3-fd.so"
	plugin_changed=true
fi

stop_one() { # NAME: TERM, then KILL after 10 s
	local pid i
	pid=$(pid_of "$1") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$RUN/$1.pid"
}

start_one() { # NAME BINARY CONFIG PORT [ARGS...]
	local name=$1 bin=$2 conf=$3 port=$4 pid
	shift 4
	if pid=$(pid_of "$name"); then
		echo "start.sh: $name already runs (pid $pid)" >&2
		return 0
	fi
	if wait_port "$port" 0; then
		die "port $port is taken by another program; choose other ports (DUMP_*_PORT)"
	fi
	echo "===== $(date '+%F %T') start" >>"$LOG/$name.out"
	# -f: stay in the foreground, so $! is the daemon; -P: no pid file of its own (we keep ours).
	# setsid: no controlling terminal, no signals from the caller's process group.
	setsid "$bin" -f -P -c "$conf" "$@" </dev/null >>"$LOG/$name.out" 2>&1 &
	pid=$!
	echo "$pid" >"$RUN/$name.pid"
	if ! wait_port "$port" 30; then
		tail -n 30 "$LOG/$name.out" >&2
		die "$name (pid $pid) did not listen on port $port within 30 s (log above)"
	fi
	echo "start.sh: $name up (pid $pid, 127.0.0.1:$port)" >&2
}

for ((n = 1; n <= DUMP_FD_COUNT; n++)); do
	[[ -f $(fd_conf "$n") ]] || "$STACK_DIR/configure.sh"
	if $plugin_changed && pid_of "$(fd_key "$n")" >/dev/null; then
		echo "start.sh: s3-fd.so changed; restarting file daemon $(fd_name "$n")" >&2
		stop_one "$(fd_key "$n")"
	fi
done

fd_args=()
if [[ $DUMP_FD_DEBUG != 0 ]]; then fd_args=(-d "$DUMP_FD_DEBUG" -dt); fi
start_one sd /usr/sbin/bacula-sd "$ETC/bacula-sd.conf" "$DUMP_SD_PORT"
for ((n = 1; n <= DUMP_FD_COUNT; n++)); do
	start_one "$(fd_key "$n")" /usr/sbin/bacula-fd "$(fd_conf "$n")" "$(fd_port "$n")" "${fd_args[@]}"
done
dir_args=()
if [[ ${DUMP_DIR_DEBUG:-0} != 0 ]]; then dir_args=(-d "$DUMP_DIR_DEBUG" -dt); fi
start_one dir /usr/sbin/bacula-dir "$ETC/bacula-dir.conf" "$DUMP_DIR_PORT" "${dir_args[@]}"

# Watchdog (optional): stop the stack when process DUMP_WATCH_PID ends.
if [[ -n ${DUMP_WATCH_PID:-} ]]; then
	if pid=$(pid_of watch); then kill "$pid" 2>/dev/null || true; fi
	# shellcheck disable=SC2016 # $1..$3 are the inner script's arguments
	setsid bash -c '
		while kill -0 "$1" 2>/dev/null; do sleep 1; done
		rm -f "$2"
		exec "$3"' watchdog "$DUMP_WATCH_PID" "$RUN/watch.pid" "$STACK_DIR/stop.sh" \
		</dev/null >>"$LOG/watchdog.out" 2>&1 &
	echo $! >"$RUN/watch.pid"
fi

# Label the virtual tapes once: barcodes VT0001.. in slots 1..N-DUMP_VFULL_SLOTS go to pool
# VTapes, the last DUMP_VFULL_SLOTS to pool VFull (the Next Pool of VirtualFull jobs).
label() { # POOL FIRST LAST
	local last out
	last=$(printf 'VT%04d' "$3")
	out=$(printf 'label storage=VChanger pool=%s barcodes slots=%d-%d drive=0 yes\nyes\nquit\n' \
		"$1" "$2" "$3" | bcon 300) || true
	if grep -q "Volume \"$last\".*successfully created\|Volume \"$last\".*already exists" <<<"$out"; then
		echo "start.sh: virtual tapes $(printf 'VT%04d' "$2")-$last labelled into pool $1" >&2
	else
		echo "$out" | tail -n 30 >&2
		die "labelling the virtual tapes of pool $1 failed (bconsole output above)"
	fi
}
if [[ ! -f $VAR/dir/.tapes-labelled ]]; then
	label VTapes 1 $((DUMP_SLOTS - DUMP_VFULL_SLOTS))
	label VFull $((DUMP_SLOTS - DUMP_VFULL_SLOTS + 1)) "$DUMP_SLOTS"
	touch "$VAR/dir/.tapes-labelled"
fi

# Every fd must have loaded s3-fd.so: ask each.
for ((n = 1; n <= DUMP_FD_COUNT; n++)); do
	out=$(printf 'status client=%s\nquit\n' "$(fd_name "$n")" | bcon 60) || true
	if ! grep -q 'Plugin:.*s3-fd\.so\|s3-fd\.so' <<<"$out"; then
		echo "$out" | tail -n 20 >&2
		tail -n 20 "$LOG/$(fd_key "$n").out" >&2
		die "file daemon $(fd_name "$n") did not load s3-fd.so (status client and its log above)"
	fi
	echo "start.sh: file daemon $(fd_name "$n") loaded: $(grep -o 'Plugin: .*' <<<"$out" | head -1)" >&2
done
