#!/usr/bin/env bash
# moto S3 server (in-memory mock of AWS, PyPI package moto[server]) on 127.0.0.1:PORT, in the background.
#
# usage:
#   moto.sh up   DIR PORT   # start (or reuse) the server; prints the endpoint URL on stdout
#   moto.sh down DIR        # stop it
#
# State: DIR/moto.pid, DIR/moto.log (moto keeps all data in memory: a restart empties it).
# `up` is idempotent: if DIR/moto.pid is alive and the port answers HTTP, it only prints the endpoint.
# Any access key / secret key is accepted.
#
# The Python interpreter: $S3TEST_MOTO_PYTHON if set, else <repo>/.state/venv/bin/python if
# install-deps.sh made that venv, else python3.
set -euo pipefail

READY_TIMEOUT=${S3TEST_MOTO_TIMEOUT:-60}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

usage() {
	sed -n '2,8p' "$0" >&2
	exit 2
}

log() { echo "moto: $*" >&2; }

http_answers() {
	local code
	code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null) || true
	[[ -n "$code" && "$code" != 000 ]]
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

pick_python() {
	if [[ -n "${S3TEST_MOTO_PYTHON:-}" ]]; then
		echo "$S3TEST_MOTO_PYTHON"
	elif [[ -x "$ROOT/.state/venv/bin/python" ]]; then
		echo "$ROOT/.state/venv/bin/python"
	else
		echo python3
	fi
}

cmd_down() {
	local d=$1 p i
	[[ -f "$d/moto.pid" ]] || return 0
	p=$(cat "$d/moto.pid")
	if kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	fi
	rm -f "$d/moto.pid" "$d/server.env"
}

cmd_up() {
	local d=$1 port=$2
	[[ "$port" =~ ^[0-9]+$ ]] || usage
	mkdir -p "$d"
	d=$(cd "$d" && pwd)

	# Serialize concurrent `up`s; the server must not inherit the lock fd (9>&- below).
	exec 9>"$d.up.lock"
	flock -w 300 9 || {
		log "timed out waiting for $d.up.lock"
		exit 1
	}

	# Reuse it if it serves on the requested port. DIR/server.env is also what
	# tests/src/servers.rs checks before reuse.
	if pid_alive "$d/moto.pid" && grep -qx "endpoint=http://127.0.0.1:$port" "$d/server.env" 2>/dev/null &&
		http_answers "$port"; then
		log "reusing the running server (pid $(cat "$d/moto.pid"))"
		echo "http://127.0.0.1:$port"
		return 0
	fi
	# A port taken by something that is not our server: fail before stopping ours.
	if port_busy "$port" && ! grep -qx "endpoint=http://127.0.0.1:$port" "$d/server.env" 2>/dev/null; then
		log "port $port on 127.0.0.1 is already in use by another program (set S3TEST_MOTO_PORT)"
		exit 1
	fi
	cmd_down "$d"
	if port_busy "$port"; then
		log "port $port on 127.0.0.1 is still in use after stopping the server in $d"
		exit 1
	fi

	local py
	py=$(pick_python)
	if ! "$py" -c 'import moto, flask, flask_cors' 2>/dev/null; then
		log "$py cannot import moto.server: run tests/scripts/install-deps.sh"
		exit 1
	fi

	local start=$SECONDS
	# setsid: own session, so a Ctrl-C in the terminal that started the tests does not kill it.
	setsid "$py" -m moto.server -H 127.0.0.1 -p "$port" >"$d/moto.log" 2>&1 </dev/null 9>&- &
	echo $! >"$d/moto.pid"

	until http_answers "$port"; do
		if ! pid_alive "$d/moto.pid"; then
			log "FAILED: moto exited during startup; last lines of $d/moto.log:"
			tail -n 30 "$d/moto.log" >&2
			rm -f "$d/moto.pid"
			exit 1
		fi
		if ((SECONDS - start >= READY_TIMEOUT)); then
			log "FAILED: not answering on port $port after ${READY_TIMEOUT}s; last lines of $d/moto.log:"
			tail -n 30 "$d/moto.log" >&2
			cmd_down "$d"
			exit 1
		fi
		sleep 0.2
	done
	printf 'endpoint=http://127.0.0.1:%s\n' "$port" >"$d/server.env"
	log "ready after $((SECONDS - start))s: http://127.0.0.1:$port"
	echo "http://127.0.0.1:$port"
}

[[ $# -ge 2 ]] || usage
case $1 in
up)
	[[ $# -eq 3 ]] || usage
	cmd_up "$2" "$3"
	;;
down) cmd_down "$2" ;;
*) usage ;;
esac
