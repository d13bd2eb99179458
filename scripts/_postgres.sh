# Sourced by scripts/test: the PostgreSQL store tests start a throwaway server with Debian's
# initdb/pg_ctl (tests/postgres_server.py). Debian keeps those in /usr/lib/postgresql/<version>/bin,
# off PATH. Install the postgresql package when no server binaries are found and apt is usable;
# otherwise those tests skip, or fail when PIPETRACK_REQUIRE_POSTGRES=1.
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"
_pipetrack_have_postgres() {
  local bin
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}
if ! _pipetrack_have_postgres && apt_usable; then
  echo "installing Debian's postgresql for the PostgreSQL store tests (log: $PIPETRACK_APT_LOG)" >&2
  apt_install postgresql || echo "postgresql install failed: the PostgreSQL tests will skip (or fail if required)" >&2
fi
