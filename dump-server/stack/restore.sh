#!/usr/bin/env bash
# Restore from the local dump server, choosing what through bconsole's restore tree, without a
# terminal: the commands of the tree (cd, mark, done) are fed on stdin.
#
#   restore.sh BACKUP_JOBID[,BACKUP_JOBID...]|last WHERE [PATH...]
#
#   BACKUP_JOBID  the state to restore is that of this backup job: for an Incremental or
#                 Differential the whole chain (Full + ... + it) is used (.bvfs_get_jobids), so
#                 every object is restored as it was at that job. "last": the newest good backup.
#                 Several, comma-separated (e.g. the shard jobs of a bucket, of several
#                 Clients): the union of their chains, in one restore.
#   WHERE         local directory; the plugin writes WHERE/<bucket>/<escaped key>. "/" means
#                 back into the original bucket; "s3:bucket=OTHER[:prefix=P]…" (Bacula has no
#                 restore-time Plugin Options) means into S3 with those options.
#   PATH...       what to restore, as names in the catalog: "/bucket/dir/" (trailing slash) is a
#                 directory with everything below it (one prefix), "/bucket/dir/name" one object.
#                 No PATH: everything.
#
# Waits for the job like run-job.sh (DUMP_JOB_TIMEOUT) and prints its log and the line
#   JOBID=n STATUS=c LEVEL=l FILES=n BYTES=n ERRORS=n
# DUMP_RESTORE_CLIENT: the file daemon that writes the restore (default dump-fd).
# Exit status as run-job.sh: 0 JobStatus T, 1 other status, 2 usage, 3 not queued or nothing
# selected, 4 timeout.
#
# Why the tree and not "file=": with 9.6.7 only the first file= of a restore command line is
# used (seen: "file=A file=B" restores A only), while the tree takes any number of marks.
# Names are matched as shell patterns by "mark", so PATHs must not contain * ? [ or ".
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 2 ]] || { sed -n '2,22p' "$0" >&2; exit 2; }
src=$1 where=$2
shift 2
[[ $where == /* || $where == s3:* ]] || die "WHERE must be an absolute directory or s3:… (got '$where')"

if [[ $src == last ]]; then
	src=$(sql "SELECT MAX(JobId) FROM Job WHERE Type='B' AND JobStatus='T';")
	[[ -n $src ]] || die "no successful backup job in the catalog"
fi
[[ $src =~ ^[0-9]+(,[0-9]+)*$ ]] || die "'$src' is not a JobId (or a list of them)"

# The jobs whose files make up the state of each backup in $src (Full, Differential,
# Incrementals), together.
jobids=""
for one in ${src//,/ }; do
	chain=$(printf '.bvfs_get_jobids jobid=%s\nquit\n' "$one" | bcon 60 |
		grep -E '^[0-9]+(,[0-9]+)*$' | tail -1) || true
	[[ -n $chain ]] || die "the director knows no backup chain for JobId $one"
	jobids+=${jobids:+,}$chain
done
client=${DUMP_RESTORE_CLIENT:-$FD_NAME}

# The tree session: one command per line.
cmds=("restore jobid=$jobids client=$client restorejob=RestoreFiles where=\"$where\" yes")
if [[ $# -eq 0 ]]; then
	cmds+=("mark *")
else
	for p in "$@"; do
		[[ $p == /* ]] || die "PATH must start with /bucket/ (got '$p')"
		[[ $p != *[\*\?\[\"]* ]] || die "PATH must not contain * ? [ or \" (got '$p')"
		trimmed=${p%/}
		dir=${trimmed%/*}/
		base=${trimmed##*/}
		[[ -n $base ]] || die "PATH '$p' names no file or directory"
		cmds+=("cd \"$dir\"" "mark \"$base\"")
	done
fi
cmds+=("done")

out=$(printf '%s\n' "${cmds[@]}" quit | bcon 300) || true
# Each cd must have worked and each mark must have marked something.
if grep -q 'Invalid path given\|No files marked\|^0 files\? marked\|No files selected' <<<"$out" ||
	! grep -q 'Job queued\. JobId=' <<<"$out"; then
	echo "$out" >&2
	echo "restore.sh: the selection failed (bconsole session above)" >&2
	# Part of the selection may have worked and queued a job: do not let it run.
	if jobid=$(sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' <<<"$out" | tail -1) &&
		[[ -n $jobid ]]; then
		printf 'cancel jobid=%s yes\nquit\n' "$jobid" | bcon 60 >/dev/null || true
	fi
	exit 3
fi
jobid=$(sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' <<<"$out" | tail -1)
selected=$(sed -n 's/^\([0-9,]*\) files\? selected to be restored\./\1/p' <<<"$out" | tail -1)
echo "restore.sh: JobId $jobid restores ${selected:-?} file(s) of backup job(s) $jobids into $where" >&2

wait_job "$jobid" || { report_job "$jobid" || true; exit 4; }
summary=$(report_job "$jobid")
echo "$summary"
status=$(sed -n 's/^JOBID=[0-9]* STATUS=\([A-Za-z]\).*/\1/p' <<<"$summary")
[[ $status == T ]] || exit 1
exit 0
