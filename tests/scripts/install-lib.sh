# Shared by the install scripts (sourced; the caller defines `log`): apt-get as root or through
# sudo, and pip into the default python3 or else a venv. Never reads stdin.

if [[ $(id -u) -eq 0 ]]; then
	SUDO=()
elif command -v sudo >/dev/null; then
	SUDO=(sudo -n)
else
	SUDO=()
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3 -q -y)
apt_updated=false

apt_install() {
	if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then
		log "need root or sudo to install: $*"
		exit 1
	fi
	if ! $apt_updated; then
		log "apt-get update"
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update </dev/null
		apt_updated=true
	fi
	log "apt-get install $*"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install \
		--no-install-recommends "$@" </dev/null
}

is_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# pip_install VENV CHECK PACKAGE...: installs into the default python3 when its pip may write
# there and `CHECK python3` then succeeds (pyenv's CPython on the project machines), else into a
# venv at VENV, and fails unless `CHECK VENV/bin/python` succeeds.
pip_install() {
	local venv=$1 check=$2
	shift 2
	log "pip install $* into $(command -v python3)"
	if python3 -m pip install --quiet "$@" </dev/null && "$check" python3; then
		# pyenv installs console scripts behind shims that need a rehash.
		if command -v pyenv >/dev/null; then pyenv rehash || true; fi
		return 0
	fi
	# e.g. Debian's own python3 refuses (PEP 668, externally managed): use a venv.
	log "falling back to a venv in $venv"
	if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
		apt_install python3-venv
	fi
	python3 -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet "$@" </dev/null
	"$check" "$venv/bin/python" || {
		log "$* still not usable from $venv"
		exit 1
	}
}
