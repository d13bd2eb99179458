# Sourced by scripts/demo and scripts/test: create .venv once and install pipetrack into it.
# EXTRAS selects the optional dependency groups (e.g. "all,test").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PIPETRACK_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null
fi
STAMP="$VENV/.pipetrack-installed-${EXTRAS:-core}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  echo "installing pipetrack${EXTRAS:+[$EXTRAS]} into $VENV (log: $VENV/install.log)" >&2
  TARGET="$ROOT"
  [ -n "${EXTRAS:-}" ] && TARGET="$ROOT[$EXTRAS]"
  if ! "$VENV/bin/python" -m pip install -e "$TARGET" >"$VENV/install.log" 2>&1; then
    tail -40 "$VENV/install.log" >&2
    exit 1
  fi
  touch "$STAMP"
fi
