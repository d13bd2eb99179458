# Sourced by _chromium.sh and _postgres.sh: install Debian packages the tests need, quietly (log:
# /tmp/pipetrack-apt.log), as root or through passwordless sudo. apt-get update runs at most once
# per scripts/test run, however many packages are installed.
PIPETRACK_APT_LOG=/tmp/pipetrack-apt.log
_PIPETRACK_APT_UPDATED="${_PIPETRACK_APT_UPDATED:-}"
_PIPETRACK_APT_SUDO="${_PIPETRACK_APT_SUDO-unset}"

# true when apt-get exists and we are root or may sudo without a password (sets the sudo prefix)
apt_usable() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$_PIPETRACK_APT_SUDO" = "unset" ]; then
    _PIPETRACK_APT_SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then _PIPETRACK_APT_SUDO="sudo -n"
      else _PIPETRACK_APT_SUDO="skip"; fi
    fi
  fi
  [ "$_PIPETRACK_APT_SUDO" != "skip" ]
}

# apt_install PACKAGE...: fails (after showing the log's tail) when apt-get update or install fails
apt_install() {
  apt_usable || return 1
  if [ -z "$_PIPETRACK_APT_UPDATED" ]; then
    : >"$PIPETRACK_APT_LOG"
    if ! $_PIPETRACK_APT_SUDO apt-get update -qq >>"$PIPETRACK_APT_LOG" 2>&1; then
      echo "apt-get update failed:" >&2; tail -20 "$PIPETRACK_APT_LOG" >&2; return 1
    fi
    _PIPETRACK_APT_UPDATED=1
  fi
  if ! $_PIPETRACK_APT_SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "$@" >>"$PIPETRACK_APT_LOG" 2>&1; then
    echo "apt-get install $* failed:" >&2; tail -20 "$PIPETRACK_APT_LOG" >&2; return 1
  fi
}
