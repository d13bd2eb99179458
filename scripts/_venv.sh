# Sourced by scripts/demo and scripts/test: create .venv once and install pipetrack into it.
# EXTRAS selects the optional dependency groups (e.g. "all,test").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PIPETRACK_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
STAMP="$VENV/.pipetrack-installed-${EXTRAS:-core}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  if [ -n "${EXTRAS:-}" ]; then
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRAS]"
  else
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
  fi
  touch "$STAMP"
fi
