#!/usr/bin/env bash
# Stop the local dump server's daemons (and the watchdog), by the pids start.sh recorded:
# SIGTERM, then SIGKILL after 10 s. Idempotent. State, catalog and tapes stay.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for name in watch dir fd sd; do
	f=$RUN/$name.pid
	[[ -f $f ]] || continue
	pid=$(cat "$f")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "stop.sh: $name (pid $pid) ignored SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		[[ $name == watch ]] || echo "stop.sh: $name (pid $pid) stopped" >&2
	fi
	rm -f "$f"
done
