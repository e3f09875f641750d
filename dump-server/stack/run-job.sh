#!/usr/bin/env bash
# Run one job of the local dump server through bconsole, wait for it (at most
# $DUMP_JOB_TIMEOUT s, then it is cancelled), print its log from the catalog and a summary line
#   JOBID=n STATUS=c LEVEL=l FILES=n BYTES=n ERRORS=n
# Exit status: 0 if the job ended with JobStatus T, 1 if it ended otherwise, 2 usage,
# 3 not queued, 4 timed out; with DUMP_FAIL_ON_WARNINGS=1 also 5 for T with JobErrors > 0.
#
#   run-job.sh backup   JOB [Full|Incremental|Differential|VirtualFull]
#   run-job.sh queue    LEVEL JOB [JOB...]          only queue them, in one bconsole session
#                                                   (they start together): "JOBID=n" each
#   run-job.sh wait     JOBID                       wait for a queued job, report as backup
#   run-job.sh restore  BACKUP_JOBID|last [WHERE]   everything that backup job's state holds
#                                                   (see restore.sh for a selection)
#   run-job.sh estimate JOB [LEVEL]                 names and sizes, no data (no job is run)
#   run-job.sh raw      'bconsole command that queues a job'
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,16p' "$0" >&2; exit 2; }
mode=${1:-}
[[ $# -ge 1 ]] && shift

case $mode in
backup)
	[[ $# -ge 1 ]] || usage
	cmd="run job=$1 level=${2:-Full} yes"
	;;
queue)
	[[ $# -ge 2 ]] || usage
	level=$1
	shift
	cmds=()
	for j in "$@"; do cmds+=("run job=$j level=$level yes"); done
	out=$(printf '%s\n' "${cmds[@]}" quit | bcon 120) || true
	ids=$(sed -n 's/.*Job queued\. JobId=\([0-9][0-9]*\).*/\1/p' <<<"$out")
	if [[ $(wc -w <<<"$ids") -ne $# ]]; then
		echo "$out" >&2
		die "queued $(wc -w <<<"$ids") of $# jobs (bconsole session above)"
	fi
	for id in $ids; do echo "JOBID=$id"; done
	exit 0
	;;
wait)
	[[ ${1:-} =~ ^[0-9]+$ ]] || usage
	jobid=$1
	cmd="(queued JobId $jobid)"
	;;
restore)
	exec "$STACK_DIR/restore.sh" "${1:-last}" "${2:-$VAR/restore}"
	;;
estimate)
	[[ $# -ge 1 ]] || usage
	# The fd runs the plugin's listing and sends names and sizes; the director prints them.
	out=$(printf 'estimate job=%s level=%s listing\nquit\n' "$1" "${2:-Full}" | bcon "$DUMP_JOB_TIMEOUT") ||
		die "estimate did not finish within ${DUMP_JOB_TIMEOUT}s"
	echo "$out"
	grep -q 'OK estimate files=' <<<"$out" || exit 1
	exit 0
	;;
raw)
	[[ $# -ge 1 ]] || usage
	cmd=$1
	;;
*) usage ;;
esac

if [[ $mode != wait ]]; then
	jobid=$(queue_job "$cmd") || exit 3
	echo "run-job.sh: '$cmd' -> JobId $jobid" >&2
fi
wait_job "$jobid" || { report_job "$jobid" || true; exit 4; }
summary=$(report_job "$jobid")
echo "$summary"
status=$(sed -n 's/^JOBID=[0-9]* STATUS=\([A-Za-z]\).*/\1/p' <<<"$summary")
errors=$(sed -n 's/^JOBID=.* ERRORS=\([0-9]*\)$/\1/p' <<<"$summary")
[[ $status == T ]] || exit 1
if [[ ${DUMP_FAIL_ON_WARNINGS:-0} == 1 && ${errors:-0} -gt 0 ]]; then exit 5; fi
exit 0
