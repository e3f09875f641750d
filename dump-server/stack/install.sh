#!/usr/bin/env bash
# Install Debian's Bacula 9.6 daemons for the local dump server, without questions.
#
#   bacula-director + bacula-director-sqlite3   director, SQLite catalog backend
#   bacula-sd, bacula-fd, bacula-console        storage daemon, file daemon, bconsole
#   sqlite3                                     run-job.sh reads the catalog with it
# (no mt-st/mtx: the tapes of the virtual library are files, moved by Debian's disk-changer)
#
# Nothing of the packages' own services or configs is used afterwards: start.sh runs private
# daemons with our configs under .state/dump-server. Idempotent: when everything is installed it
# only checks (no apt-get update). Never reads stdin; waits up to 15 min for a dpkg lock.
set -euo pipefail
exec </dev/null

export DEBIAN_FRONTEND=noninteractive
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "install.sh: need root or sudo" >&2; exit 1; }
	SUDO=(sudo -n)
fi

PKGS=(bacula-common bacula-fd bacula-sd bacula-director bacula-director-sqlite3
	bacula-console sqlite3)

installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }

missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done

if ((${#missing[@]} == 0)); then
	echo "install.sh: Bacula packages already installed" >&2
else
	# Without this, dbconfig-common would build a catalog for the packaged director under
	# /var/lib/bacula. We make our own catalog (configure.sh), so say no up front.
	"${SUDO[@]}" debconf-set-selections <<'SEL'
bacula-director-sqlite3 bacula-director-sqlite3/dbconfig-install boolean false
bacula-director-sqlite3 bacula-director-sqlite3/database-type select sqlite3
bacula-director-sqlite3 bacula-director-sqlite3/dbconfig-upgrade boolean true
bacula-director-sqlite3 bacula-director-sqlite3/dbconfig-remove boolean false
SEL
	apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 -q -y)
	echo "install.sh: apt-get install ${missing[*]}" >&2
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
	# --force-confold: never stop at a changed-config prompt.
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install \
		--no-install-recommends -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# What the other scripts rely on.
for f in /usr/sbin/bacula-dir /usr/sbin/bacula-sd /usr/sbin/bacula-fd /usr/sbin/bconsole \
	/usr/bin/sqlite3 /etc/bacula/scripts/disk-changer \
	/usr/share/bacula-director/make_sqlite3_tables; do
	[[ -e $f ]] || { echo "install.sh: $f is missing after the install" >&2; exit 1; }
done
echo "install.sh: bacula $(dpkg-query -W -f='${Version}' bacula-common) ready" >&2
