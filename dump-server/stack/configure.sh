#!/usr/bin/env bash
# Write the configuration of the local dump server (Bacula 9.6) into $DUMP_HOME/etc, create its
# directories, the virtual tape library and the SQLite catalog, and check every config with the
# daemons' -t mode. Re-running it rewrites the configs and keeps catalog, tapes and jobs.
#
#   configure.sh            write/refresh the configuration
#   configure.sh --reset    first wipe catalog, tapes, spool, restores, logs, plugin and plugin
#                           jobs (the daemons must be stopped: stop.sh)
#
# The plugin jobs themselves (one FileSet + one Job per bucket) are added with define-job.sh:
# bacula-dir.conf includes etc/jobs.conf, which includes each etc/jobs/<JOB>.conf.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == --reset ]]; then
	for f in "$RUN"/*.pid; do
		[[ -e $f ]] || continue
		d=$(basename "$f" .pid)
		pid_of "$d" >/dev/null && die "the $d daemon still runs (pid $(pid_of "$d")); run stop.sh first"
	done
	rm -rf "$VAR" "$TAPES" "$PLUGINS" "$ETC/jobs" "$ETC/jobs.conf"
elif [[ $# -gt 0 ]]; then
	die "usage: configure.sh [--reset]"
fi

mkdir -p "$ETC/jobs" "$RUN" "$LOG" "$VAR/dir" "$VAR/sd" "$VAR/spool" "$VAR/restore" \
	"$TAPES" "$PLUGINS"
for ((n = 1; n <= DUMP_FD_COUNT; n++)); do mkdir -p "$(fd_workdir "$n")"; done
((DUMP_VFULL_SLOTS >= 1 && DUMP_VFULL_SLOTS < DUMP_SLOTS)) ||
	die "DUMP_VFULL_SLOTS ($DUMP_VFULL_SLOTS) must be at least 1 and less than DUMP_SLOTS ($DUMP_SLOTS)"

# The director's Client resources, one per file daemon (dump server).
clients=""
for ((n = 1; n <= DUMP_FD_COUNT; n++)); do
	clients+="
Client {
  Name = $(fd_name "$n")
  Address = $DUMP_ADDR
  FDPort = $(fd_port "$n")
  Catalog = MyCatalog
  Password = \"$PW_FD\"
  File Retention = 60 days
  Job Retention = 6 months
  AutoPrune = no
  # Shard jobs of several buckets (or of one bucket) run at once in one dump server: each job
  # has its own plugin context and memory budget (docs/scale-out.md).
  Maximum Concurrent Jobs = 10
}
"
done
chmod 700 "$DUMP_HOME" "$ETC"

# ------------------------------------------------------------------------------- director
cat >"$ETC/bacula-dir.conf" <<CONF
# Written by dump-server/stack/configure.sh: the local dump server's director.
Director {
  Name = $DIR_NAME
  DIRAddress = $DUMP_ADDR
  DIRport = $DUMP_DIR_PORT
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = "$VAR/dir"
  PidDirectory = "$RUN"
  # Jobs of all clients run at once (docs/scale-out.md): the director, each Client and the
  # Storage below all allow it; data spooling keeps the tape stream whole.
  Maximum Concurrent Jobs = 20
  Password = "$PW_CONSOLE"
  Messages = Daemon
}

# SQLite: the catalog is <WorkingDirectory>/bacula.db
Catalog {
  Name = MyCatalog
  dbname = "bacula"; dbuser = ""; dbpassword = ""
}

$clients
# The virtual tape library: an autochanger of $DUMP_SLOTS file "tapes" and two drives (see
# bacula-sd.conf). Concurrent jobs share a drive (each spools, one despools at a time); a
# VirtualFull reads in one drive and writes in the other.
Storage {
  Name = VChanger
  Address = $DUMP_ADDR
  SDPort = $DUMP_SD_PORT
  Password = "$PW_SD"
  Device = VChanger
  Media Type = VTape
  Autochanger = yes
  Maximum Concurrent Jobs = 20
}

# Tapes labelled VT0001.. by start.sh (label ... barcodes); the last DUMP_VFULL_SLOTS of them go
# to pool VFull.
Pool {
  Name = VTapes
  Pool Type = Backup
  Storage = VChanger
  Recycle = yes
  AutoPrune = yes
  Volume Retention = 365 days
  Maximum Volume Bytes = 2G
  # Level=VirtualFull consolidates the Full and Incrementals of a job (read from this pool) into
  # a new Full written to the Next Pool, without the client: incremental forever.
  Next Pool = VFull
}

Pool {
  Name = VFull
  Pool Type = Backup
  Storage = VChanger
  Recycle = yes
  AutoPrune = yes
  Volume Retention = 365 days
  Maximum Volume Bytes = 2G
}

Pool {
  Name = Default
  Pool Type = Backup
}

Pool {
  Name = Scratch
  Pool Type = Backup
}

# Job messages go to the catalog (Log table: run-job.sh prints them), bacula.log and bconsole.
Messages {
  Name = Standard
  console = all, !skipped, !saved
  append = "$LOG/bacula.log" = all, !skipped
  catalog = all, !skipped, !saved
}

Messages {
  Name = Daemon
  console = all, !skipped, !saved
  append = "$LOG/bacula.log" = all, !skipped
}

# What every plugin job shares: to tape, through the spool, like a production dump server.
JobDefs {
  Name = S3Job
  Type = Backup
  Level = Incremental
  Client = $FD_NAME
  Storage = VChanger
  Pool = VTapes
  Messages = Standard
  Priority = 10
  Spool Data = yes
  Spool Attributes = yes
  Write Bootstrap = "$VAR/dir/%n.bsr"
}

# A restore job needs a FileSet; this one is never backed up.
FileSet {
  Name = RestoreOnly
  Include {
    File = /nonexistent
  }
}

# Restores of plugin files: the plugin writes <Where>/<bucket>/<escaped key>. Use
# "restore ... where=/some/dir"; an empty Where or "/" (back into S3) is refused by the plugin.
Job {
  Name = RestoreFiles
  Type = Restore
  Client = $FD_NAME
  FileSet = RestoreOnly
  Storage = VChanger
  Pool = VTapes
  Messages = Standard
  Where = "$VAR/restore"
}

# The plugin jobs (define-job.sh).
@$ETC/jobs.conf
CONF

# ------------------------------------------------------------------------- storage daemon
cat >"$ETC/bacula-sd.conf" <<CONF
# Written by dump-server/stack/configure.sh: the local dump server's storage daemon.
Storage {
  Name = $SD_NAME
  SDAddress = $DUMP_ADDR
  SDPort = $DUMP_SD_PORT
  WorkingDirectory = "$VAR/sd"
  Pid Directory = "$RUN"
  Maximum Concurrent Jobs = 20
}

Director {
  Name = $DIR_NAME
  Password = "$PW_SD"
}

# A tape library made of files: Debian's disk-changer script moves "tapes" (tapes/slotN)
# into a drive (tapes/driveN becomes a link to the loaded slot).
# Two drives: concurrent backups share one (Prefer Mounted Volumes), a VirtualFull reads from a
# tape in one and writes the new Full to a tape of the Next Pool in the other.
Autochanger {
  Name = VChanger
  Device = VDrive-0, VDrive-1
  Changer Command = "/etc/bacula/scripts/disk-changer %c %o %S %a %d"
  Changer Device = "$ETC/disk-changer.conf"
}
CONF
for drive in 0 1; do
	cat >>"$ETC/bacula-sd.conf" <<CONF

Device {
  Name = VDrive-$drive
  Device Type = File
  Media Type = VTape
  Archive Device = "$TAPES/drive$drive"
  Autochanger = yes
  Drive Index = $drive
  AutomaticMount = yes
  AlwaysOpen = yes
  RemovableMedia = yes
  Random Access = yes
  # Jobs at once on this drive: each spools its data, and the spools are written to tape one
  # after the other.
  Maximum Concurrent Jobs = 10
  # Data spooling, as in front of a real tape drive: jobs write to the spool first and the
  # spool is written to tape in one stream.
  Spool Directory = "$VAR/spool"
  Maximum Spool Size = 1G
}
CONF
done
cat >>"$ETC/bacula-sd.conf" <<CONF

Messages {
  Name = Standard
  director = $DIR_NAME = all
}
CONF

# --------------------------------------------------------------------------- file daemons
for ((n = 1; n <= DUMP_FD_COUNT; n++)); do
	cat >"$(fd_conf "$n")" <<CONF
# Written by dump-server/stack/configure.sh: file daemon $n of the local dump server.
FileDaemon {
  Name = $(fd_name "$n")
  FDAddress = $DUMP_ADDR
  FDport = $(fd_port "$n")
  WorkingDirectory = "$(fd_workdir "$n")"
  Pid Directory = "$RUN"
  Maximum Concurrent Jobs = 10
  # The fd loads every *-fd.so here; "Plugin = s3:..." in a FileSet goes to s3-fd.so.
  Plugin Directory = "$FD_PLUGIN_DIR"
}

Director {
  Name = $DIR_NAME
  Password = "$PW_FD"
}

Messages {
  Name = Standard
  director = $DIR_NAME = all, !skipped, !restored
}
CONF
done
# Fewer file daemons than before: their configs go.
for f in "$ETC"/bacula-fd-*.conf; do
	[[ -e $f ]] || continue
	n=${f##*/bacula-fd-}
	n=${n%.conf}
	if [[ ! $n =~ ^[0-9]+$ ]] || ((n > DUMP_FD_COUNT)); then rm -f "$f"; fi
done

# -------------------------------------------------------------------------------- console
cat >"$ETC/bconsole.conf" <<CONF
# Written by dump-server/stack/configure.sh
Director {
  Name = $DIR_NAME
  DIRport = $DUMP_DIR_PORT
  address = $DUMP_ADDR
  Password = "$PW_CONSOLE"
}
CONF

# ------------------------------------------------------------------ virtual tape library
cat >"$ETC/disk-changer.conf" <<CONF
maxslot=$DUMP_SLOTS
maxdrive=1
CONF
if [[ ! -f $TAPES/barcodes ]]; then
	for ((s = 1; s <= DUMP_SLOTS; s++)); do
		printf '%d:VT%04d\n' "$s" "$s"
		: >"$TAPES/slot$s"
	done >"$TAPES/barcodes"
fi

# --------------------------------------------------------------------------- plugin jobs
write_jobs_index
chmod 600 "$ETC"/*.conf

# -------------------------------------------------------------------------------- catalog
if [[ ! -s $CATALOG ]]; then
	# Debian's script has /var/lib/bacula and a placeholder db name built in; point both at ours.
	sed -e "s|^cd /var/lib/bacula|cd \"$VAR/dir\"|" -e 's|^db_name=.*|db_name=bacula|' \
		/usr/share/bacula-director/make_sqlite3_tables | sh >/dev/null
	[[ -s $CATALOG ]] || die "creating the catalog $CATALOG failed"
fi

# ------------------------------------------------------------------------------- checking
/usr/sbin/bacula-dir -t -c "$ETC/bacula-dir.conf"
/usr/sbin/bacula-sd -t -c "$ETC/bacula-sd.conf"
fds=""
for ((n = 1; n <= DUMP_FD_COUNT; n++)); do
	/usr/sbin/bacula-fd -t -c "$(fd_conf "$n")"
	fds+=" $(fd_name "$n") :$(fd_port "$n")"
done
echo "configure.sh: configuration in $ETC (director :$DUMP_DIR_PORT, sd :$DUMP_SD_PORT," \
	"file daemons$fds), catalog $CATALOG" >&2
