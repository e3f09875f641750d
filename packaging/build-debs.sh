#!/usr/bin/env bash
# Build the Debian packages of the workspace with dpkg-deb (no other tool):
#
#   bareos-s3-fd-plugin   /usr/lib/bareos/plugins/s3-fd.so   (libs3_fd_bareos.so, Bareos 23-25)
#   bacula-s3-fd-plugin   /usr/lib/bacula/s3-fd.so           (libs3_fd_bacula.so, Bacula 9.6)
#   s3-dump-server        /usr/bin/dump-server
#
# each with its README, copyright and example Director configuration under
# /usr/share/doc/<package>/. The libraries are installed as regular files (the daemons skip
# symlinks).
#
#   packaging/build-debs.sh [OUTDIR]     default OUTDIR: <repo>/target/debian
#
# Builds the release binaries first (cargo build --release). Version: the workspace's
# (Cargo.toml [workspace.package]); Architecture: dpkg --print-architecture; Depends: what
# dpkg-shlibdeps finds the binaries linked against. DEB_MAINTAINER overrides the Maintainer
# field. Prints the paths of the three .deb files on stdout.
set -euo pipefail
exec </dev/null

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/target/debian}
MAINTAINER=${DEB_MAINTAINER:-s3-fd developers <s3-fd@localhost>}

log() { echo "build-debs: $*" >&2; }
die() {
	echo "build-debs: FAILED: $*" >&2
	exit 1
}

# The packaging tools (dpkg-dev, binutils) are installed when missing, as the other scripts do.
# shellcheck source=tests/scripts/install-lib.sh
. "$ROOT/tests/scripts/install-lib.sh"
if ! command -v dpkg-shlibdeps >/dev/null || ! command -v strip >/dev/null; then
	apt_install dpkg-dev binutils
fi
for tool in dpkg-deb dpkg-shlibdeps strip; do
	command -v "$tool" >/dev/null ||
		die "$tool is missing (apt-get install dpkg-dev binutils)"
done
bash "$ROOT/tests/scripts/check-toolchain.sh" || exit 1
if ! command -v cargo >/dev/null && [[ -f $HOME/.cargo/env ]]; then
	# shellcheck disable=SC1091
	. "$HOME/.cargo/env"
fi

VERSION=$(awk '/^\[workspace\.package\]/ { p = 1; next } /^\[/ { p = 0 }
	p && $1 == "version" { gsub(/[" ]/, "", $3); print $3; exit }' "$ROOT/Cargo.toml")
[[ $VERSION =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "no usable version in $ROOT/Cargo.toml ('$VERSION')"
ARCH=$(dpkg --print-architecture)

log "cargo build --release -p s3-fd-bareos -p s3-fd-bacula -p dump-server"
(cd "$ROOT" && cargo build --release -p s3-fd-bareos -p s3-fd-bacula -p dump-server)
REL=${CARGO_TARGET_DIR:-$ROOT/target}/release
for f in libs3_fd_bareos.so libs3_fd_bacula.so dump-server; do
	[[ -f $REL/$f ]] || die "$REL/$f was not built"
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$OUT/staging
rm -rf "$WORK"
mkdir -p "$WORK"

# dpkg-shlibdeps wants to run in a source tree: give it a minimal one.
mkdir -p "$WORK/src/debian"
printf 'Source: s3-fd\n\nPackage: s3-fd\nArchitecture: any\n' >"$WORK/src/debian/control"
# depends FILE...: the Depends of these ELF files, e.g. "libc6 (>= 2.34), libgcc-s1 (>= 4.2)".
depends() {
	local line
	line=$(cd "$WORK/src" && dpkg-shlibdeps -O "${@/#/-e}" 2>"$WORK/shlibdeps.err") || {
		cat "$WORK/shlibdeps.err" >&2
		die "dpkg-shlibdeps $* failed"
	}
	line=${line#shlibs:Depends=}
	[[ $line == *libc6* ]] || die "dpkg-shlibdeps found no libc6 dependency for $* ('$line')"
	echo "$line"
}

# doc_common PKG: copyright and changelog of PKG.
doc_common() {
	local doc=$STAGE/usr/share/doc/$1
	mkdir -p "$doc"
	cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: s3-fd
Comment: Built from the s3-fd workspace by packaging/build-debs.sh.

Files: *
Copyright: 2026 the s3-fd developers
License: AGPL-3.0-only
 This program is free software: you can redistribute it and/or modify it under the terms of
 the GNU Affero General Public License as published by the Free Software Foundation, version 3.
 .
 This program is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY;
 without even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See
 the GNU Affero General Public License for more details.
 .
 You should have received a copy of the GNU Affero General Public License along with this
 program. If not, see <https://www.gnu.org/licenses/>.
EOF
	{
		printf '%s (%s) unstable; urgency=medium\n\n' "$1" "$VERSION"
		printf '  * Built from the s3-fd workspace (packaging/build-debs.sh).\n\n'
		printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")"
	} | gzip -9n >"$doc/changelog.gz"
}

# finish PKG DEPENDS CONTROL-EXTRA DESCRIPTION: write DEBIAN/ and build OUT/PKG_VERSION_ARCH.deb.
finish() {
	local pkg=$1 deps=$2 extra=$3 desc=$4 size deb
	find "$STAGE" -type d -exec chmod 0755 {} +
	find "$STAGE" -type f ! -perm -u+x -exec chmod 0644 {} +
	size=$(du -sk --apparent-size "$STAGE" | cut -f1)
	mkdir -p "$STAGE/DEBIAN"
	{
		echo "Package: $pkg"
		echo "Version: $VERSION"
		echo "Architecture: $ARCH"
		echo "Maintainer: $MAINTAINER"
		echo "Installed-Size: $size"
		echo "Depends: $deps"
		[[ -n $extra ]] && printf '%s\n' "$extra"
		echo "Section: admin"
		echo "Priority: optional"
		echo "License: AGPL-3.0-only"
		echo "Description: $desc"
	} >"$STAGE/DEBIAN/control"
	(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
		xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
	chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"
	deb=$OUT/${pkg}_${VERSION}_${ARCH}.deb
	dpkg-deb --root-owner-group -Zgzip -z9 --build "$STAGE" "$deb" >/dev/null
	log "$deb: $(dpkg-deb -f "$deb" Package Version Architecture Depends | tr '\n' ' ')"
	echo "$deb"
}

# install_elf SRC DEST MODE: a stripped copy (debug info and symbols not needed to load it).
install_elf() {
	install -D -m "$3" "$1" "$2"
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$2"
}

PLUGIN_DESC_TAIL=" The plugin backs up the objects of an S3 bucket (AWS, Ceph RadosGW, MinIO and
 other S3 servers) as files of a backup job: each object is streamed from S3 to
 the storage daemon, without a copy on local disk. A FileSet names the bucket,
 endpoint and credentials in its Plugin line (\"Plugin = s3:bucket=...\").
 Restores write the objects as files on the file daemon's disk."

# ------------------------------------------------------------------- bareos-s3-fd-plugin
PKG=bareos-s3-fd-plugin
STAGE=$WORK/$PKG
install_elf "$REL/libs3_fd_bareos.so" "$STAGE/usr/lib/bareos/plugins/s3-fd.so" 0644
doc_common $PKG
install -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/$PKG/README.md"
mkdir -p "$STAGE/usr/share/doc/$PKG/examples"
cp -r "$ROOT/dump-server/bareos" "$STAGE/usr/share/doc/$PKG/examples/bareos"
finish $PKG "$(depends "$STAGE/usr/lib/bareos/plugins/s3-fd.so")" \
	"Recommends: ca-certificates
Suggests: s3-dump-server
Enhances: bareos-filedaemon" \
	"S3 bucket backup plugin for the Bareos file daemon (s3-fd.so)
$PLUGIN_DESC_TAIL
 .
 This package installs /usr/lib/bareos/plugins/s3-fd.so for Bareos 23 to 25;
 enable it with Plugin Names = \"s3\" in the file daemon's Client resource.
 Example configuration: /usr/share/doc/$PKG/examples/bareos/."

# ------------------------------------------------------------------- bacula-s3-fd-plugin
PKG=bacula-s3-fd-plugin
STAGE=$WORK/$PKG
install_elf "$REL/libs3_fd_bacula.so" "$STAGE/usr/lib/bacula/s3-fd.so" 0644
doc_common $PKG
install -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/$PKG/README.md"
mkdir -p "$STAGE/usr/share/doc/$PKG/examples"
cp "$ROOT/packaging/bacula/bacula-dir.conf" "$ROOT/packaging/bacula/bacula-fd.conf" \
	"$STAGE/usr/share/doc/$PKG/examples/"
finish $PKG "$(depends "$STAGE/usr/lib/bacula/s3-fd.so")" \
	"Recommends: ca-certificates
Suggests: bacula-fd, s3-dump-server
Enhances: bacula-fd" \
	"S3 bucket backup plugin for the Bacula 9.6 file daemon (s3-fd.so)
$PLUGIN_DESC_TAIL
 .
 This package installs /usr/lib/bacula/s3-fd.so, Debian's bacula-fd Plugin
 Directory (the file daemon loads every *-fd.so there).
 Example configuration: /usr/share/doc/$PKG/examples/."

# ------------------------------------------------------------------------ s3-dump-server
PKG=s3-dump-server
STAGE=$WORK/$PKG
install_elf "$REL/dump-server" "$STAGE/usr/bin/dump-server" 0755
doc_common $PKG
install -m 0644 "$ROOT/dump-server/README.md" "$STAGE/usr/share/doc/$PKG/README.md"
install -m 0644 "$ROOT/README.md" "$STAGE/usr/share/doc/$PKG/README.s3-fd.md"
mkdir -p "$STAGE/usr/share/doc/$PKG/examples"
cp -r "$ROOT/dump-server/bareos" "$STAGE/usr/share/doc/$PKG/examples/bareos"
cp "$ROOT/packaging/bacula/bacula-dir.conf" "$ROOT/packaging/bacula/bacula-fd.conf" \
	"$STAGE/usr/share/doc/$PKG/examples/"
finish $PKG "$(depends "$STAGE/usr/bin/dump-server")" \
	"Recommends: ca-certificates
Suggests: bareos-s3-fd-plugin | bacula-s3-fd-plugin" \
	"operator tool for S3 bucket backups with s3-fd.so (dump-server)
 dump-server prepares and checks backups of S3 buckets made with the s3-fd.so
 plugin of Bareos or Bacula: check verifies a plugin string from the dump
 server (endpoint, TLS, credentials, bucket, one GET, the installed plugin
 library); census sums objects and bytes per prefix; plan cuts a big bucket
 into key ranges and writes one Director Job and FileSet per shard; name and
 key translate between object keys and catalog file names."

rm -rf "$WORK"
