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

# shellcheck source=tests/scripts/install-lib.sh
. "$ROOT/tests/scripts/install-lib.sh"

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
	pip_install "$VENV" moto_ok "$MOTO_REQ"
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
