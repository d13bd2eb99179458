# Sourced by scripts/test: the UI's browser tests drive Debian's Chromium through Playwright
# (Playwright's own browser download does not work on a closed network). Install it when it is
# missing and apt is usable; otherwise those tests skip, or fail when PIPETRACK_REQUIRE_BROWSER=1.
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"
if ! command -v chromium >/dev/null 2>&1 && apt_usable; then
  echo "installing Debian's chromium for the UI browser tests (log: $PIPETRACK_APT_LOG)" >&2
  apt_install chromium || echo "chromium install failed: the browser tests will skip (or fail if required)" >&2
fi
