#!/usr/bin/env bash
# Stop the local dump server's daemons (all file daemons too, and the watchdog), by the pids start.sh recorded:
# SIGTERM to all of them at once (each takes 1-2 s to shut down), SIGKILL to any still there
# after 10 s. Idempotent. State, catalog and tapes stay.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

declare -A pids=()
# The watchdog and the director first, then the file daemons and the storage daemon.
for f in "$RUN/watch.pid" "$RUN/dir.pid" "$RUN"/fd*.pid "$RUN/sd.pid"; do
	[[ -f $f ]] || continue
	name=$(basename "$f" .pid)
	pid=$(cat "$f")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		pids[$name]=$pid
	fi
	rm -f "$f"
done
for ((i = 0; i < 100 && ${#pids[@]} > 0; i++)); do
	for name in "${!pids[@]}"; do
		if ! kill -0 "${pids[$name]}" 2>/dev/null; then
			[[ $name == watch ]] || echo "stop.sh: $name (pid ${pids[$name]}) stopped" >&2
			unset "pids[$name]"
		fi
	done
	((${#pids[@]} == 0)) || sleep 0.1
done
for name in "${!pids[@]}"; do
	echo "stop.sh: $name (pid ${pids[$name]}) ignored SIGTERM for 10 s; killing it" >&2
	kill -KILL "${pids[$name]}" 2>/dev/null || true
done
