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
	for d in dir sd fd; do
		pid_of "$d" >/dev/null && die "the $d daemon still runs (pid $(pid_of "$d")); run stop.sh first"
	done
	rm -rf "$VAR" "$TAPES" "$PLUGINS" "$ETC/jobs" "$ETC/jobs.conf"
elif [[ $# -gt 0 ]]; then
	die "usage: configure.sh [--reset]"
fi

mkdir -p "$ETC/jobs" "$RUN" "$LOG" "$VAR/dir" "$VAR/sd" "$VAR/fd" "$VAR/spool" "$VAR/restore" \
	"$TAPES" "$PLUGINS"
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
  Maximum Concurrent Jobs = 4
  Password = "$PW_CONSOLE"
  Messages = Daemon
}

# SQLite: the catalog is <WorkingDirectory>/bacula.db
Catalog {
  Name = MyCatalog
  dbname = "bacula"; dbuser = ""; dbpassword = ""
}

Client {
  Name = $FD_NAME
  Address = $DUMP_ADDR
  FDPort = $DUMP_FD_PORT
  Catalog = MyCatalog
  Password = "$PW_FD"
  File Retention = 60 days
  Job Retention = 6 months
  AutoPrune = no
  Maximum Concurrent Jobs = 4
}

# The virtual tape library: an autochanger of $DUMP_SLOTS file "tapes" (see bacula-sd.conf).
Storage {
  Name = VChanger
  Address = $DUMP_ADDR
  SDPort = $DUMP_SD_PORT
  Password = "$PW_SD"
  Device = VChanger
  Media Type = VTape
  Autochanger = yes
  Maximum Concurrent Jobs = 1
}

# Tapes labelled VT0001.. by start.sh (label ... barcodes).
Pool {
  Name = VTapes
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
  Maximum Concurrent Jobs = 10
}

Director {
  Name = $DIR_NAME
  Password = "$PW_SD"
}

# A tape library made of files: Debian's disk-changer script moves "tapes" (tapes/slotN)
# into the drive (tapes/drive0 becomes a link to the loaded slot).
Autochanger {
  Name = VChanger
  Device = VDrive-0
  Changer Command = "/etc/bacula/scripts/disk-changer %c %o %S %a %d"
  Changer Device = "$ETC/disk-changer.conf"
}

Device {
  Name = VDrive-0
  Device Type = File
  Media Type = VTape
  Archive Device = "$TAPES/drive0"
  Autochanger = yes
  Drive Index = 0
  AutomaticMount = yes
  AlwaysOpen = yes
  RemovableMedia = yes
  Random Access = yes
  # Data spooling, as in front of a real tape drive: jobs write to the spool first and the
  # spool is written to tape in one stream.
  Spool Directory = "$VAR/spool"
  Maximum Spool Size = 1G
}

Messages {
  Name = Standard
  director = $DIR_NAME = all
}
CONF

# ---------------------------------------------------------------------------- file daemon
cat >"$ETC/bacula-fd.conf" <<CONF
# Written by dump-server/stack/configure.sh: the local dump server's file daemon.
FileDaemon {
  Name = $FD_NAME
  FDAddress = $DUMP_ADDR
  FDport = $DUMP_FD_PORT
  WorkingDirectory = "$VAR/fd"
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
maxdrive=0
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
/usr/sbin/bacula-fd -t -c "$ETC/bacula-fd.conf"
echo "configure.sh: configuration in $ETC (director :$DUMP_DIR_PORT, fd :$DUMP_FD_PORT," \
	"sd :$DUMP_SD_PORT), catalog $CATALOG" >&2
