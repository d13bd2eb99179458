# Sourced by scripts/test: the UI's browser tests drive Debian's Chromium through Playwright
# (Playwright's own browser download does not work on a closed network). Install it when it is
# missing and apt is usable; otherwise those tests skip, or fail when PIPETRACK_REQUIRE_BROWSER=1.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="skip"; fi
  fi
  if [ "$SUDO" != "skip" ]; then
    echo "installing Debian's chromium for the UI browser tests (log: /tmp/pipetrack-apt.log)" >&2
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends chromium; } >/tmp/pipetrack-apt.log 2>&1 \
      || { echo "chromium install failed:" >&2; tail -20 /tmp/pipetrack-apt.log >&2; }
  fi
fi
