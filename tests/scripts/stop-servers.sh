#!/usr/bin/env bash
# Stop the S3 test servers that the fixtures (tests/src/servers.rs) started under <repo>/.state/s3.
#
# usage: stop-servers.sh [--purge]
#   --purge  also delete their state (Ceph's OSD image and logs); the next test run starts afresh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=$ROOT/.state/s3
SCRIPTS=$ROOT/tests/scripts

case ${1:-} in
--purge)
	bash "$SCRIPTS/ceph-rgw.sh" purge "$STATE/ceph"
	bash "$SCRIPTS/moto.sh" down "$STATE/moto"
	rm -rf "$STATE/moto"
	;;
"")
	bash "$SCRIPTS/ceph-rgw.sh" down "$STATE/ceph"
	bash "$SCRIPTS/moto.sh" down "$STATE/moto"
	;;
*)
	echo "usage: $0 [--purge]" >&2
	exit 2
	;;
esac
