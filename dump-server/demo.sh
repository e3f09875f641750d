#!/usr/bin/env bash
# The demo: one command from a fresh Debian 12 machine to a verified backup and restore of an S3
# bucket through real Bacula daemons and s3-fd.so.
#
#   dump-server/demo.sh          install what is missing, build, bring up the local dump server,
#                                back up the sample bucket (Full, to the virtual tape library
#                                through the spool), restore it, compare every byte, report;
#                                the stack and the S3 server are left running
#   dump-server/demo.sh stop     stop the Bacula daemons and the demo's Ceph
#   dump-server/demo.sh --help   print this usage
#
# Needs a Rust toolchain >= the workspace's rust-version (Cargo.toml; tests/scripts/check-toolchain.sh
# says so at once when it is missing: no script installs one) and about 4 GiB of disk for the
# release build and 1.5 GiB for .state (Ceph, tapes, spool).
#
# Steps: tests/scripts/install-deps.sh (Ceph, curl, toolchain checks), dump-server/stack/
# install.sh (Bacula 9.6 from Debian), cargo build --release -p s3-fd-bacula, a single-node Ceph
# RadosGW on 127.0.0.1:$DEMO_RGW_PORT, a sample bucket seeded with curl (SigV4), then the stack
# (stack/configure.sh --reset, start.sh, define-job.sh) and its jobs (run-job.sh, restore.sh).
# Each run starts the dump server afresh (catalog, tapes and restores are wiped; Ceph is reused).
#
# Environment: DEMO_RGW_PORT (18480), DEMO_MON_PORT (18490 and +1), DEMO_BUCKET (demo-photos);
# the stack's own settings (DUMP_HOME, DUMP_*_PORT) are described in stack/lib.sh.
# State and logs: <repo>/.state/dump-server (Ceph in its ceph/ subdirectory).
set -euo pipefail
exec </dev/null

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/dump-server/stack
export DUMP_HOME=${DUMP_HOME:-$ROOT/.state/dump-server}
CEPH_DIR=$DUMP_HOME/ceph
RGW_PORT=${DEMO_RGW_PORT:-18480}
MON_PORT=${DEMO_MON_PORT:-18490}
BUCKET=${DEMO_BUCKET:-demo-photos}
JOB=backup-$BUCKET
# The keys of the S3 user that tests/scripts/ceph-rgw.sh creates (its defaults, passed explicitly).
export S3TEST_CEPH_ACCESS_KEY=${S3TEST_CEPH_ACCESS_KEY:-S3TESTCEPHACCESSKEY01}
export S3TEST_CEPH_SECRET_KEY=${S3TEST_CEPH_SECRET_KEY:-s3testcephsecretkey000000000000000000001}
AK=$S3TEST_CEPH_ACCESS_KEY
SK=$S3TEST_CEPH_SECRET_KEY
ENDPOINT=http://127.0.0.1:$RGW_PORT
SEED=$DUMP_HOME/seed           # the objects as uploaded (one file each) and their index
RESTORE=$DUMP_HOME/restore     # where the restore job writes
CREDS=$DUMP_HOME/s3-credentials

STOP_HINT="$ROOT/dump-server/demo.sh stop
   (that is: $STACK/stop.sh; $ROOT/tests/scripts/ceph-rgw.sh down $CEPH_DIR)"

usage() {
	cat <<USAGE
usage: dump-server/demo.sh          build, start a local dump server, back up and restore a sample
                                    bucket, verify every byte; the stack stays up
       dump-server/demo.sh stop     stop the demo's Bacula daemons and Ceph (state is kept)
       dump-server/demo.sh --help   this text
USAGE
}

if [[ ${1:-} == stop ]]; then
	bash "$STACK/stop.sh"
	bash "$ROOT/tests/scripts/ceph-rgw.sh" down "$CEPH_DIR"
	echo "demo.sh: stopped (state kept in $DUMP_HOME)" >&2
	exit 0
elif [[ ${1:-} == --help || ${1:-} == -h ]]; then
	usage
	exit 0
elif [[ $# -gt 0 ]]; then
	echo "demo.sh: unknown argument '$1'" >&2
	usage >&2
	exit 2
fi
bash "$ROOT/tests/scripts/check-toolchain.sh" || exit 1

T0=$(date +%s.%N)
TIMES=()
step() { echo "=== demo: $*" >&2; }
lap() { # NAME START: remember how long the step took
	TIMES+=("$(awk -v n="$1" -v a="$(date +%s.%N)" -v b="$2" 'BEGIN { printf "%s %.1f s", n, a - b }')")
}
# What is running (told on failure) and the log of the job at hand.
CEPH_UP=false
STACK_UP=false
JOB_LOG=
die() {
	echo "demo.sh: FAILED: $*" >&2
	if [[ -n $JOB_LOG ]]; then
		echo "demo.sh: the job's log (bconsole output and the catalog's job log): $JOB_LOG" >&2
	fi
	echo "demo.sh: daemon logs: $DUMP_HOME/var/log/*.out, all job messages: $DUMP_HOME/var/log/bacula.log, Ceph: $CEPH_DIR/log/" >&2
	if $STACK_UP || $CEPH_UP; then
		local what="Ceph RadosGW ($ENDPOINT)"
		$STACK_UP && what="the Bacula director, storage and file daemons and $what"
		echo "demo.sh: $what are still running (to look at them); stop them with:" >&2
		echo "   $STOP_HINT" >&2
	fi
	exit 1
}

# ------------------------------------------------------------------------ 1. install, build
t=$(date +%s.%N)
step "installing the S3 server and test dependencies (tests/scripts/install-deps.sh)"
bash "$ROOT/tests/scripts/install-deps.sh"
step "installing Bacula 9.6 (dump-server/stack/install.sh)"
bash "$STACK/install.sh"
lap install "$t"

t=$(date +%s.%N)
if ! command -v cargo >/dev/null && [[ -f $HOME/.cargo/env ]]; then
	# shellcheck disable=SC1091
	. "$HOME/.cargo/env"
fi
step "building the plugin and dump-server (cargo build --release -p s3-fd-bacula -p dump-server)"
(cd "$ROOT" && cargo build --release -p s3-fd-bacula -p dump-server)
PLUGIN_SO=$ROOT/target/release/libs3_fd_bacula.so
DUMP_SERVER=$ROOT/target/release/dump-server
[[ -f $PLUGIN_SO ]] || die "$PLUGIN_SO was not built"
[[ -x $DUMP_SERVER ]] || die "$DUMP_SERVER was not built"
lap build "$t"

# -------------------------------------------------------------------------- 2. S3 server
t=$(date +%s.%N)
step "Ceph RadosGW on $ENDPOINT (tests/scripts/ceph-rgw.sh up)"
mkdir -p "$DUMP_HOME"
CEPH_UP=true
endpoint=$(bash "$ROOT/tests/scripts/ceph-rgw.sh" up "$CEPH_DIR" "$RGW_PORT" "$MON_PORT") ||
	die "Ceph did not come up"
[[ $endpoint == "$ENDPOINT" ]] || die "ceph-rgw.sh gave endpoint '$endpoint', expected $ENDPOINT"
lap "S3 server" "$t"

# s3 ARGS...: one SigV4-signed request to the RGW (curl >= 7.75). The body is not hashed
# (UNSIGNED-PAYLOAD); --path-as-is keeps keys like "a//b" and "dots/../up" intact.
s3() {
	curl -sS --path-as-is --fail-with-body -m 60 --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
# urlencode KEY: percent-encode everything but unreserved characters and "/".
urlencode() {
	local LC_ALL=C s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~/-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}
# name_of KEY: the file name the plugin gives the object: /<bucket>/<key> with each "/"-segment
# escaped (% -> %25, empty -> %, . -> %2E, .. -> %2E%2E), as in plugin/src/config/naming.rs.
name_of() {
	local key=$1 out="/$BUCKET" seg rest
	rest=$key
	while :; do
		seg=${rest%%/*}
		case $seg in
		"") seg=% ;;
		.) seg=%2E ;;
		..) seg=%2E%2E ;;
		*) seg=${seg//%/%25} ;;
		esac
		out+="/$seg"
		[[ $rest == */* ]] || break
		rest=${rest#*/}
	done
	printf '%s' "$out"
}

# ----------------------------------------------------------------------- 3. sample bucket
t=$(date +%s.%N)
step "seeding bucket $BUCKET"
rm -rf "$SEED"
mkdir -p "$SEED"
KEYS=()
n=0
add() { # KEY SIZE|text: write the object's content to $SEED and remember the key
	local f
	f=$SEED/$(printf '%03d' "$n").bin
	n=$((n + 1))
	if [[ $2 == text ]]; then
		printf 'Object %s of the s3-fd.so demo bucket, written %s.\n' "$1" "$(date -u +%FT%TZ)" >"$f"
	else
		head -c "$2" /dev/urandom >"$f"
	fi
	printf '%s\t%s\n' "$f" "$1" >>"$SEED/index"
	KEYS+=("$1")
}
add "README.txt" text
add "empty.dat" 0
add "folder/" 0
add "a//b" 1234
add "sp ace.txt" 2048
add "unicodé.txt" text
add "percent%41.txt" text
add "/leading-slash.txt" text
add "dots/../up.txt" text
add "colon:and+plus.txt" 777
for i in 1 2 3 4 5 6 7 8; do
	add "photos/2024/IMG_000$i.jpg" $((65536 * i + i))
done
add "photos/2025/IMG_0101.jpg" 1048583
add "photos/2025/raw/IMG_0101.cr3" 1500000
add "video/clip.mp4" 3145741
# The bucket: created if missing ("already owned by you" is fine), then every object (re)put.
code=$(curl -sS -o "$SEED/create.xml" -w '%{http_code}' -m 60 --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT "$ENDPOINT/$BUCKET") ||
	die "CreateBucket $BUCKET: no answer from $ENDPOINT"
if [[ $code != 200 ]] && ! grep -q BucketAlreadyOwnedByYou "$SEED/create.xml"; then
	die "CreateBucket $BUCKET: HTTP $code $(cat "$SEED/create.xml")"
fi
# Remove what an earlier run may have left that is not part of this sample.
s3 "$ENDPOINT/$BUCKET?list-type=2&max-keys=1000" >"$SEED/before.xml" || die "ListObjectsV2 $BUCKET"
while IFS= read -r k; do
	[[ -z $k ]] && continue
	keep=false
	for want in "${KEYS[@]}"; do [[ $k == "$want" ]] && keep=true && break; done
	$keep || s3 -X DELETE "$ENDPOINT/$BUCKET/$(urlencode "$k")" || die "DeleteObject $k"
done < <(grep -o '<Key>[^<]*</Key>' "$SEED/before.xml" | sed -e 's/<Key>//' -e 's/<\/Key>//' -e 's/&amp;/\&/g')
total=0
while IFS=$'\t' read -r f k; do
	s3 -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" \
		"$ENDPOINT/$BUCKET/$(urlencode "$k")" >/dev/null || die "PutObject $k"
	total=$((total + $(stat -c %s "$f")))
done <"$SEED/index"
s3 "$ENDPOINT/$BUCKET?list-type=2&max-keys=1000" >"$SEED/listing.xml" || die "ListObjectsV2 $BUCKET"
listed=$(grep -o '<Key>' "$SEED/listing.xml" | wc -l)
[[ $listed == "${#KEYS[@]}" ]] || die "bucket $BUCKET lists $listed objects, expected ${#KEYS[@]}"
echo "demo: bucket $BUCKET: ${#KEYS[@]} objects, $total bytes" >&2
lap seed "$t"

# ---------------------------------------------------------------------- 4. the dump server
t=$(date +%s.%N)
step "local dump server (Bacula 9.6: director, storage daemon with virtual tapes, file daemon)"
umask 077
printf '[demo]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AK" "$SK" >"$CREDS"
chmod 600 "$CREDS"
umask 022
bash "$STACK/stop.sh"
bash "$STACK/configure.sh" --reset
STACK_UP=true
DUMP_PLUGIN=$PLUGIN_SO bash "$STACK/start.sh"
PLUGIN_STRING="s3:bucket=$BUCKET:endpoint=$ENDPOINT:region=us-east-1:credentials_file=$CREDS:profile=demo"
bash "$STACK/define-job.sh" "$JOB" "$PLUGIN_STRING"
lap "dump server" "$t"

# ------------------------------------------------------------------------------ 5. backup
# field NAME TEXT: the value of NAME=... in the summary line of run-job.sh / restore.sh
field() { grep '^JOBID=' <<<"$2" | tail -1 | grep -o "\\b$1=[^ ]*" | cut -d= -f2; }
t=$(date +%s.%N)
step "Full backup of s3://$BUCKET (job $JOB)"
mkdir -p "$DUMP_HOME/var/log"
JOB_LOG=$DUMP_HOME/var/log/demo-backup.txt
if ! bash "$STACK/run-job.sh" backup "$JOB" Full >"$JOB_LOG"; then
	cat "$JOB_LOG" >&2
	die "the backup job did not end OK (log above)"
fi
lap backup "$t"
b_out=$(cat "$JOB_LOG")
b_id=$(field JOBID "$b_out")
b_files=$(field FILES "$b_out")
b_bytes=$(field BYTES "$b_out")
b_errors=$(field ERRORS "$b_out")
[[ $b_errors == 0 ]] || die "backup JobId $b_id had $b_errors errors"
[[ $b_files == "${#KEYS[@]}" ]] || die "backup JobId $b_id saved $b_files files, expected ${#KEYS[@]}"
# Bacula's JobBytes counts, besides the objects' data, the record of each file's metadata (its
# S3 attributes, a few hundred bytes each): all the data must be there, plus at most 4 KiB a file
# (the rule tests/tests/bacula_e2e.rs holds the real daemons to).
((b_bytes >= total && b_bytes <= total + b_files * 4096)) ||
	die "backup JobId $b_id saved $b_bytes bytes for $total bytes of objects in $b_files files (expected the data plus at most 4096 bytes of metadata a file)"
meta_bytes=$((b_bytes - total))
grep -q 'Spooling data' <<<"$b_out" || die "backup JobId $b_id did not spool"
volumes=$(sed -n 's/^ *Volume name(s): *//p' <<<"$b_out" | tail -1)
[[ $volumes == VT* ]] || die "backup JobId $b_id wrote no virtual tape (Volume name(s): '$volumes')"
plugin_line=$(grep -o 's3: s3://[^ ]*: [0-9]* objects saved.*' <<<"$b_out" | tail -1)
secs=$(sqlite3 "$DUMP_HOME/var/dir/bacula.db" \
	"SELECT MAX(1, strftime('%s', EndTime) - strftime('%s', StartTime)) FROM Job WHERE JobId=$b_id;")

# ----------------------------------------------------------------------------- 6. restore
t=$(date +%s.%N)
step "restore of JobId $b_id into $RESTORE"
rm -rf "$RESTORE"
mkdir -p "$RESTORE"
JOB_LOG=$DUMP_HOME/var/log/demo-restore.txt
if ! bash "$STACK/restore.sh" "$b_id" "$RESTORE" >"$JOB_LOG"; then
	cat "$JOB_LOG" >&2
	die "the restore job did not end OK (log above)"
fi
lap restore "$t"
r_out=$(cat "$JOB_LOG")
r_id=$(field JOBID "$r_out")
r_files=$(field FILES "$r_out")
r_bytes=$(field BYTES "$r_out")
[[ $(field ERRORS "$r_out") == 0 ]] || die "restore JobId $r_id had errors"

# ------------------------------------------------------------------------------ 7. verify
t=$(date +%s.%N)
step "verifying every restored byte against the objects in S3"
# LastModified of every object (epoch seconds) from the listing: the restored files' mtime.
declare -A MTIME
while IFS=$'\t' read -r k lm || [[ -n $k ]]; do
	[[ -n $k ]] && MTIME[$k]=$(date -u -d "$lm" +%s)
done < <(sed -e 's/<Contents>/\n/g' "$SEED/listing.xml" |
	sed -n 's/.*<Key>\([^<]*\)<\/Key><LastModified>\([^<]*\)<\/LastModified>.*/\1\t\2/p' |
	sed -e 's/&amp;/\&/g')
checked=0
while IFS=$'\t' read -r f k; do
	restored=$RESTORE$(name_of "$k")
	[[ -f $restored ]] || die "object '$k' was not restored (expected $restored)"
	s3 -o "$SEED/get.tmp" "$ENDPOINT/$BUCKET/$(urlencode "$k")" || die "GetObject $k"
	cmp -s "$SEED/get.tmp" "$restored" || die "restored '$restored' differs from object '$k' in S3"
	cmp -s "$f" "$restored" || die "restored '$restored' differs from the uploaded '$k'"
	mode=$(stat -c %a "$restored")
	[[ $mode == 640 ]] || die "restored '$restored' has mode $mode, expected 640"
	mt=$(stat -c %Y "$restored")
	[[ $mt == "${MTIME[$k]:-}" ]] ||
		die "restored '$restored' has mtime $mt, the object's LastModified is ${MTIME[$k]:-unknown}"
	checked=$((checked + 1))
done <"$SEED/index"
rm -f "$SEED/get.tmp"
extra=$(find "$RESTORE" -type f | wc -l)
[[ $extra == "$checked" ]] || die "the restore holds $extra files, expected $checked"
lap verify "$t"
JOB_LOG=

# --------------------------------------------------------------------- 8. pre-flight check
# What an operator runs on a dump server before the first job: the same plugin string, checked
# by dump-server from outside the daemon (endpoint, credentials, bucket, one GET, the library).
CHECK_CMD="$DUMP_SERVER check --plugin '$PLUGIN_STRING' --plugin-library $PLUGIN_SO"
step "dump-server check of the demo's plugin string"
CHECK_LOG=$DUMP_HOME/var/log/demo-check.txt
if ! "$DUMP_SERVER" check --plugin "$PLUGIN_STRING" --plugin-library "$PLUGIN_SO" >"$CHECK_LOG" 2>&1; then
	cat "$CHECK_LOG" >&2
	die "dump-server check failed for the demo's plugin string (output above, in $CHECK_LOG)"
fi

# ------------------------------------------------------------------------------- 9. report
# Sizes in decimal units, as Bareos and Bacula print them: 1 MB = 10^6 bytes.
human() { numfmt --to=si --suffix=B --format='%.1f' "$1"; }
rate=$(awk -v b="$b_bytes" -v s="$secs" 'BEGIN { printf "%.1f MB/s", b / s / 1e6 }')
total_time=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')
cat <<REPORT

=====================================================================================
 s3-fd.so demo: verified
-------------------------------------------------------------------------------------
 S3 server   Ceph RadosGW $ENDPOINT, bucket $BUCKET: ${#KEYS[@]} objects, $(human "$total")
 Backup      JobId $b_id  Full  status T  files $b_files  bytes $b_bytes  errors 0
             (bytes = $total of object data + $meta_bytes of the objects' metadata records,
             which Bacula counts in JobBytes and stores with each file)
             $secs s in the director's clock, $rate; tape(s) $volumes of the virtual
             autochanger VChanger, through the data spool
             plugin: $plugin_line
 Restore     JobId $r_id  status T  files $r_files  bytes $r_bytes  errors 0
             (bytes as the daemon counts them; the files on disk hold $total bytes of data)
 Verified    $checked/${#KEYS[@]} objects byte-identical to S3 and to what was uploaded,
             mode 0640, mtime = LastModified
 Restored to $RESTORE/$BUCKET/
 Timings     $(printf '%s; ' "${TIMES[@]}")total ${total_time} s
 Check       the pre-flight of this bucket's plugin string passes ($CHECK_LOG):
   $CHECK_CMD
-------------------------------------------------------------------------------------
 The dump server is still running (director :${DUMP_DIR_PORT:-19101}, fd :${DUMP_FD_PORT:-19102}, sd :${DUMP_SD_PORT:-19103}):
   bconsole -c $DUMP_HOME/etc/bconsole.conf
     (e.g. list jobs; status client=dump-fd; run job=$JOB level=Incremental; restore)
   $STACK/run-job.sh backup $JOB Incremental
   $STACK/restore.sh last /tmp/restore "/$BUCKET/photos/"
   logs: $DUMP_HOME/var/log/{dir,sd,fd}.out, bacula.log
 Stop everything:
   $STOP_HINT
=====================================================================================
REPORT
