#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian 12 machine. Idempotent: each part is checked
# first and only installed when missing, so a second run takes about a second.
#
#   * Debian packages: Ceph (mon, osd, radosgw, CLI) for the Ceph RGW test server, curl and
#     uuid-runtime for the server scripts, clang + libclang-dev for the bindings-regeneration test,
#     gcc and pkg-config for crates that build C.
#   * moto[server] from PyPI (the moto S3 test server): into the default python3 when its pip may
#     write there (pyenv's CPython on the project machines), else into a venv at <repo>/.state/venv
#     (tests/scripts/moto.sh looks there too).
#   * rustup components rustfmt and clippy (used by .ci/run).
#
# Runs as root, or uses sudo for apt-get otherwise. Never reads stdin.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$ROOT/.state/venv
MOTO_REQ='moto[server]>=5.0,<6'
APT_PACKAGES=(
	radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl
	clang libclang-dev
	gcc pkg-config
	util-linux # flock, setsid (normally always there)
)

log() { echo "install-deps: $*" >&2; }

if [[ $(id -u) -eq 0 ]]; then
	SUDO=()
elif command -v sudo >/dev/null; then
	SUDO=(sudo -n)
else
	SUDO=()
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 -q -y)
apt_updated=false

apt_install() {
	if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
		log "need root or sudo to install: $*"
		exit 1
	fi
	if ! $apt_updated; then
		log "apt-get update"
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update </dev/null
		apt_updated=true
	fi
	log "apt-get install $*"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install \
		--no-install-recommends "$@" </dev/null
}

is_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# --- Debian packages -------------------------------------------------------------------------
start=$SECONDS
missing=()
for p in "${APT_PACKAGES[@]}"; do
	is_installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
	apt_install "${missing[@]}"
	log "apt packages installed in $((SECONDS - start))s"
fi

# --- moto[server] ----------------------------------------------------------------------------
moto_ok() { "$1" -c 'import moto, moto.server, flask, flask_cors' >/dev/null 2>&1; }

if moto_ok python3; then
	: # already in the default python3
elif [[ -x "$VENV/bin/python" ]] && moto_ok "$VENV/bin/python"; then
	: # already in the project venv
else
	start=$SECONDS
	log "pip install '$MOTO_REQ' into $(command -v python3)"
	if python3 -m pip install --quiet "$MOTO_REQ" </dev/null && moto_ok python3; then
		# pyenv installs console scripts (moto_server) behind shims that need a rehash.
		if command -v pyenv >/dev/null; then pyenv rehash || true; fi
	else
		# e.g. Debian's own python3 refuses (PEP 668, externally managed): use a venv.
		log "falling back to a venv in $VENV"
		if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
			apt_install python3-venv
		fi
		python3 -m venv "$VENV"
		"$VENV/bin/python" -m pip install --quiet "$MOTO_REQ" </dev/null
		moto_ok "$VENV/bin/python" || {
			log "moto is still not importable from $VENV"
			exit 1
		}
	fi
	log "moto installed in $((SECONDS - start))s"
fi

# --- Rust components -------------------------------------------------------------------------
if [[ -f "$HOME/.cargo/env" ]] && ! command -v cargo >/dev/null; then
	# shellcheck disable=SC1091
	. "$HOME/.cargo/env"
fi
need=()
cargo fmt --version >/dev/null 2>&1 || need+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || need+=(clippy)
if ((${#need[@]})); then
	if command -v rustup >/dev/null; then
		log "rustup component add ${need[*]}"
		timeout 600 rustup component add "${need[@]}" </dev/null ||
			log "WARNING: could not add ${need[*]} (cargo fmt / cargo clippy will not work)"
	else
		log "WARNING: ${need[*]} missing and no rustup to add them"
	fi
fi

log "all test dependencies present"
