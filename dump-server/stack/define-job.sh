#!/usr/bin/env bash
# Add (or replace) a plugin backup job of the local dump server: a FileSet "<JOB>-set" whose
# Include has the given Plugin line, and a Job "<JOB>" using it (to the virtual tape library,
# with data spooling). If the director runs, it is reloaded and the job checked.
#
#   define-job.sh JOB 'PLUGIN STRING' [--accurate] [--client NAME]
#   define-job.sh --remove JOB
#
# --client: the file daemon (dump server) that runs the job (default dump-fd; dump-fd-2, ...
# when the stack has several, DUMP_FD_COUNT).
#
# e.g. define-job.sh backup-photos \
#        's3:bucket=photos:endpoint=http://127.0.0.1:18480:credentials_file=/root/.s3creds:profile=rgw'
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f $ETC/bacula-dir.conf ]] || die "no configuration yet: run configure.sh first"

valid_name() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "invalid job name '$1'"; }

if [[ ${1:-} == --remove ]]; then
	valid_name "${2:?usage: define-job.sh --remove JOB}"
	rm -f "$ETC/jobs/$2.conf"
else
	job=${1:?usage: define-job.sh JOB 'PLUGIN STRING' [--accurate] [--client NAME]}
	plugin=${2:?usage: define-job.sh JOB 'PLUGIN STRING' [--accurate] [--client NAME]}
	valid_name "$job"
	shift 2
	accurate=no
	client=$FD_NAME
	while [[ $# -gt 0 ]]; do
		case $1 in
		--accurate) accurate=yes ;;
		--client)
			client=${2:?--client needs a Client name}
			shift
			;;
		*) die "unknown argument '$1'" ;;
		esac
		shift
	done
	known=false
	for ((n = 1; n <= DUMP_FD_COUNT; n++)); do [[ $client == "$(fd_name "$n")" ]] && known=true; done
	$known || die "no Client '$client' in this stack (DUMP_FD_COUNT=$DUMP_FD_COUNT)"
	# In a quoted config string, \ and " need a backslash (so the plugin's own "\:" escape is
	# written "\\:" here).
	quoted=${plugin//\\/\\\\}
	quoted=${quoted//\"/\\\"}
	cat >"$ETC/jobs/$job.conf.new" <<CONF
# Written by define-job.sh
FileSet {
  Name = "$job-set"
  Include {
    # Only signature (and compression) make sense for plugin files: no checkfilechanges,
    # no sparse (the plugin streams objects, there is nothing on disk to compare).
    Options {
      signature = MD5
    }
    Plugin = "$quoted"
  }
}

Job {
  Name = "$job"
  JobDefs = S3Job
  FileSet = "$job-set"
  Client = "$client"
  Accurate = $accurate
}
CONF
	chmod 600 "$ETC/jobs/$job.conf.new"
	mv "$ETC/jobs/$job.conf.new" "$ETC/jobs/$job.conf"
fi
write_jobs_index

# Check the whole configuration before the running director sees it.
if ! check=$(/usr/sbin/bacula-dir -t -c "$ETC/bacula-dir.conf" 2>&1); then
	echo "$check" >&2
	die "the director configuration does not load (see above)"
fi

if pid_of dir >/dev/null; then
	out=$(printf 'reload\nshow job=%s\nquit\n' "${job:-RestoreFiles}" | bcon 60) ||
		die "bconsole reload failed: $out"
	if [[ -n ${job:-} ]] && ! grep -q "Job: name=$job " <<<"$out"; then
		echo "$out" >&2
		die "the director does not show job $job after reload"
	fi
fi
names=$(find "$ETC/jobs" -maxdepth 1 -name '*.conf' -printf '%f\n' | sed 's/\.conf$//' | sort | tr '\n' ' ')
echo "define-job.sh: ${job:+job $job (client $client, accurate: $accurate) }written; jobs: $names" >&2
