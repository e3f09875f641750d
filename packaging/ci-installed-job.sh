#!/usr/bin/env bash
# The packages as an operator uses them: build the .deb files (packaging/build-debs.sh), install
# bacula-s3-fd-plugin and s3-dump-server with apt-get, then run one real Bacula 9.6 backup job
# whose file daemon loads the INSTALLED /usr/lib/bacula/s3-fd.so (the local stack of
# dump-server/stack/ with DUMP_PLUGIN_DIR=/usr/lib/bacula), from a small bucket on a moto S3
# server; check the job (status T, every object saved) and that the fd mapped the installed
# library; then `dump-server check` without --plugin-library must find an installed library and
# pass. Works whether or not the packages are installed already (they are reinstalled from the
# new build and stay installed). The stack and moto it starts are stopped on exit.
#
#   packaging/ci-installed-job.sh
#
# Environment: PKG_MOTO_PORT (18580), PKG_DIR_PORT/PKG_FD_PORT/PKG_SD_PORT (19201-19203); a
# port taken by another program is moved up by 10000. State and logs: <repo>/.state/packaging.
set -euo pipefail
exec </dev/null

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/dump-server/stack
STATE=$ROOT/.state/packaging
DEBS=$ROOT/target/debian
export DUMP_HOME=$STATE/stack
export DUMP_PLUGIN_DIR=/usr/lib/bacula
INSTALLED=$DUMP_PLUGIN_DIR/s3-fd.so
BUCKET=pkg-ci
JOB=backup-$BUCKET
T0=$SECONDS

log() { echo "ci-installed-job: $*" >&2; }
die() {
	echo "ci-installed-job: FAILED: $*" >&2
	echo "ci-installed-job: logs: $DUMP_HOME/var/log/ (fd.out, bacula.log), $STATE/moto/moto.log" >&2
	exit 1
}
cleanup() {
	bash "$STACK/stop.sh" >/dev/null 2>&1 || true
	bash "$ROOT/tests/scripts/moto.sh" down "$STATE/moto" || true
}
trap cleanup EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# free_port DEFAULT: DEFAULT, or DEFAULT+10000 when another program listens there.
free_port() {
	if port_busy "$1"; then
		log "port $1 is taken: using $(($1 + 10000))"
		echo $(($1 + 10000))
	else
		echo "$1"
	fi
}

# Whatever an earlier run left of ours goes first, so its ports are free.
cleanup
mkdir -p "$STATE"

# ------------------------------------------------------------------------ 1. build, install
log "[$((SECONDS - T0)) s] building the packages (packaging/build-debs.sh $DEBS)"
mapfile -t debs < <(bash "$ROOT/packaging/build-debs.sh" "$DEBS")
((${#debs[@]} == 3)) || die "build-debs.sh wrote ${#debs[@]} packages, expected 3: ${debs[*]}"
deb_of() { printf '%s\n' "${debs[@]}" | grep "/$1_" || die "no $1 package among ${debs[*]}"; }
BAREOS_DEB=$(deb_of bareos-s3-fd-plugin)
BACULA_DEB=$(deb_of bacula-s3-fd-plugin)
TOOL_DEB=$(deb_of s3-dump-server)

# What each package holds: the libraries as regular files (the daemons skip symlinks).
for spec in "$BAREOS_DEB:./usr/lib/bareos/plugins/s3-fd.so" "$BACULA_DEB:./usr/lib/bacula/s3-fd.so" \
	"$TOOL_DEB:./usr/bin/dump-server"; do
	deb=${spec%%:*} path=${spec#*:}
	listing=$(dpkg-deb -c "$deb") || die "dpkg-deb -c $deb failed"
	entry=$(awk -v p="$path" '$6 == p' <<<"$listing")
	[[ $entry == -* ]] || die "$deb has no regular file $path (listing: '$entry')"
	for doc in README.md copyright; do
		grep -q " ./usr/share/doc/$(dpkg-deb -f "$deb" Package)/$doc\$" <<<"$listing" ||
			die "$deb has no /usr/share/doc/.../$doc"
	done
done

log "[$((SECONDS - T0)) s] Bacula 9.6 and the test servers' dependencies"
bash "$STACK/install.sh"
bash "$ROOT/tests/scripts/install-deps.sh"

log "[$((SECONDS - T0)) s] apt-get install --reinstall $BACULA_DEB $TOOL_DEB"
DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=900 install --reinstall \
	--no-install-recommends "$BACULA_DEB" "$TOOL_DEB" >"$STATE/apt.log" 2>&1 ||
	{ cat "$STATE/apt.log" >&2; die "apt-get install of the packages failed (output above)"; }
for p in bacula-s3-fd-plugin s3-dump-server; do
	st=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null) || true
	[[ $st == "install ok installed $(dpkg-deb -f "$BACULA_DEB" Version)" ]] ||
		die "package $p is not installed as built ('$st')"
done
grep -qx "$INSTALLED" <<<"$(dpkg -L bacula-s3-fd-plugin)" || die "dpkg -L bacula-s3-fd-plugin does not list $INSTALLED"
[[ -f $INSTALLED && ! -L $INSTALLED ]] || die "$INSTALLED is not a regular file"
# The installed file is the one just built (apt-get --reinstall, even at the same version).
dpkg-deb --fsys-tarfile "$BACULA_DEB" | tar -xOf - ./usr/lib/bacula/s3-fd.so | cmp -s - "$INSTALLED" ||
	die "$INSTALLED differs from the one in $BACULA_DEB"
log "installed: $(file -b "$INSTALLED" | cut -d, -f1-2) $INSTALLED; /usr/bin/dump-server"
log "Plugin Directory $DUMP_PLUGIN_DIR holds: $(find "$DUMP_PLUGIN_DIR" -maxdepth 1 -name '*-fd.so' -printf '%f ')(bacula-fd loads each)"

# --------------------------------------------------------------------------- 2. S3 bucket
MOTO_PORT=$(free_port "${PKG_MOTO_PORT:-18580}")
export DUMP_DIR_PORT DUMP_FD_PORT DUMP_SD_PORT
DUMP_DIR_PORT=$(free_port "${PKG_DIR_PORT:-19201}")
DUMP_FD_PORT=$(free_port "${PKG_FD_PORT:-19202}")
DUMP_SD_PORT=$(free_port "${PKG_SD_PORT:-19203}")
log "[$((SECONDS - T0)) s] moto S3 server on 127.0.0.1:$MOTO_PORT"
ENDPOINT=$(bash "$ROOT/tests/scripts/moto.sh" up "$STATE/moto" "$MOTO_PORT") || die "moto did not start"
AK=PKGCIACCESSKEY
SK=pkgcisecretkey0000000000000000000000000
s3() {
	curl -sS --fail-with-body -m 60 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
s3 -X PUT "$ENDPOINT/$BUCKET" >/dev/null || die "CreateBucket $BUCKET"
KEYS=(README.txt empty.dat docs/a.txt docs/b.bin photos/2025/IMG_0001.jpg)
total=0
for k in "${KEYS[@]}"; do
	case $k in
	empty.dat) : >"$STATE/obj" ;;
	*.txt) printf 'object %s of the packaging CI job\n' "$k" >"$STATE/obj" ;;
	*) head -c $((100000 + ${#k})) /dev/urandom >"$STATE/obj" ;;
	esac
	# An explicit Content-Type: curl's default (form data) would have the body parsed as a form.
	s3 -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$STATE/obj" \
		"$ENDPOINT/$BUCKET/$k" >/dev/null || die "PutObject $k"
	total=$((total + $(stat -c %s "$STATE/obj")))
done
rm -f "$STATE/obj"
umask 077
CREDS=$STATE/s3-credentials
printf '[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AK" "$SK" >"$CREDS"
umask 022
PLUGIN_STRING="s3:bucket=$BUCKET:endpoint=$ENDPOINT:region=us-east-1:credentials_file=$CREDS:profile=ci"

# ------------------------------------------------------------ 3. Bacula job, installed plugin
log "[$((SECONDS - T0)) s] Bacula stack in $DUMP_HOME, Plugin Directory $DUMP_PLUGIN_DIR"
bash "$STACK/configure.sh" --reset
bash "$STACK/start.sh"
bash "$STACK/define-job.sh" "$JOB" "$PLUGIN_STRING"
JOB_LOG=$DUMP_HOME/var/log/ci-backup.txt
log "[$((SECONDS - T0)) s] Full backup of s3://$BUCKET (${#KEYS[@]} objects, $total bytes)"
if ! bash "$STACK/run-job.sh" backup "$JOB" Full >"$JOB_LOG"; then
	cat "$JOB_LOG" >&2
	die "the backup job did not end T (log above)"
fi
summary=$(grep '^JOBID=' "$JOB_LOG" | tail -1)
log "$summary"
[[ $summary == *" STATUS=T "* ]] || die "job status is not T: $summary"
[[ $summary == *" FILES=${#KEYS[@]} "* ]] || die "expected FILES=${#KEYS[@]}: $summary"
[[ $summary == *" ERRORS=0" ]] || die "the job had errors: $summary"
# JobBytes: all the objects' data, plus at most 4 KiB of metadata record a file (as demo.sh).
bytes=$(grep -o ' BYTES=[0-9]*' <<<"$summary" | cut -d= -f2)
((bytes >= total && bytes <= total + ${#KEYS[@]} * 4096)) ||
	die "the job saved $bytes bytes for $total bytes of objects: $summary"
grep -o 's3: s3://[^ ]*: [0-9]* objects saved.*' "$JOB_LOG" | tail -1 >&2 || true

# Where the fd's s3-fd.so came from: its configuration, and the file its process mapped.
grep -F 'Plugin Directory' "$DUMP_HOME/etc/bacula-fd.conf" >&2
fd_pid=$(cat "$DUMP_HOME/var/run/fd.pid")
mapped=$(awk '$6 ~ /s3-fd\.so/ { print $6 }' "/proc/$fd_pid/maps" | sort -u)
[[ $mapped == "$INSTALLED" ]] ||
	die "the file daemon (pid $fd_pid) mapped '$mapped', expected $INSTALLED"
[[ ! -e $DUMP_HOME/plugins/s3-fd.so ]] || die "the stack copied a plugin into $DUMP_HOME/plugins"
log "the file daemon (pid $fd_pid) loaded the plugin from $mapped (/proc/$fd_pid/maps)"
grep -F "$INSTALLED" "$DUMP_HOME/var/log/fd.out" | head -3 >&2 || true

# ----------------------------------------------------------- 4. dump-server check, installed
EXPECTED=
for f in /usr/lib/bareos/plugins/s3-fd.so /usr/lib64/bareos/plugins/s3-fd.so "$INSTALLED"; do
	if [[ -e $f ]]; then EXPECTED=$f && break; fi
done
log "[$((SECONDS - T0)) s] /usr/bin/dump-server check --plugin '$PLUGIN_STRING' (no --plugin-library)"
if ! out=$(/usr/bin/dump-server check --plugin "$PLUGIN_STRING" 2>&1); then
	echo "$out" >&2
	die "dump-server check failed (output above)"
fi
echo "$out" >&2
grep -q "^OK    plugin library .*$EXPECTED.*looked in" <<<"$out" ||
	die "dump-server check did not report the installed library $EXPECTED"

log "[$((SECONDS - T0)) s] done: packages built and installed, JobId $(cut -d" " -f1 <<<"${summary#JOBID=}") through $INSTALLED"
