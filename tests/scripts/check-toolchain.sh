#!/usr/bin/env bash
# Fail at once, with one sentence, when the Rust toolchain that builds the workspace is missing or
# older than the workspace's `rust-version` (Cargo.toml). No script of this project installs a
# toolchain: Debian's and the other package registries don't carry a current one; rustup does.
#
#   check-toolchain.sh      exit 0 (silent) if `cargo` is on PATH (or in ~/.cargo/env) and new
#                           enough, else print why on stderr and exit 1
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! command -v cargo >/dev/null && [[ -f $HOME/.cargo/env ]]; then
	# shellcheck disable=SC1091
	. "$HOME/.cargo/env"
fi
need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -1)
say() {
	echo "s3-fd needs a Rust toolchain (cargo and rustc) >= $need, the workspace's rust-version: $1." \
		"Install one with rustup (no script of this project installs a toolchain)." >&2
	exit 1
}
command -v cargo >/dev/null || say "cargo is not on PATH (nor in ~/.cargo/env)"
have=$(rustc --version 2>/dev/null | awk '{ print $2 }') || true
[[ -n $have ]] || say "rustc does not run"
have=${have%%-*}
lowest=$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)
[[ $lowest == "$need" ]] || say "this machine has $have"
exit 0
