#!/usr/bin/env bash
# The project's test command: install the test dependencies (idempotent), build every target of
# the workspace, run every test. Works from any directory. Extra arguments go to `cargo test`,
# e.g. `tests/run-all.sh -- --nocapture`.
#
# The tests start a Ceph RGW and a moto server on first use and leave them running for the next
# run (state and logs in .state/s3); stop them with tests/scripts/stop-servers.sh.
# S3TEST_SKIP_CEPH=1 makes the Ceph tests fail fast instead of starting Ceph.
#
# Needs a Rust toolchain >= the workspace's rust-version (checked first, never installed) and about
# 5 GiB of disk for the debug build plus 1.5 GiB for .state; CARGO_INCREMENTAL=0 (as .ci/run sets)
# leaves out the incremental caches (about 1.2 GiB) that a one-off build never reuses.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
	# shellcheck disable=SC1091
	. "$HOME/.cargo/env"
fi

bash tests/scripts/check-toolchain.sh || exit 1

step() { echo "=== [$((SECONDS))s] $*" >&2; }

# The tail of every S3 server log, to tell a server problem from a plugin problem.
show_server_logs() {
	local moto_log=.state/s3/moto/moto.log
	echo "=== S3 test server logs (.state/s3) ===" >&2
	if [[ -d .state/s3/ceph/log ]]; then
		bash tests/scripts/ceph-rgw.sh logs .state/s3/ceph 40 || true
	fi
	if [[ -f $moto_log ]]; then
		echo "----- last 40 lines of $moto_log -----" >&2
		tail -n 40 "$moto_log" >&2
	fi
}

step "install test dependencies"
bash tests/scripts/install-deps.sh

step "cargo build --workspace --all-targets"
cargo build --workspace --all-targets

step "cargo test --workspace $* ($(df -Pm . | awk 'NR == 2 { print $4 }') MiB of disk free)"
if ! cargo test --workspace "$@"; then
	show_server_logs
	step "FAILED"
	exit 1
fi
step "all tests passed"
