# Sourced by scripts/demo, scripts/test and scripts/lock: create .venv once and install pipetrack
# into it, pinned by constraints.txt. EXTRAS selects the optional dependency groups ("all,test").
# uv (from the package index, bootstrapped into .venv) installs: it resolves the pinned set in
# seconds where pip took minutes; pip is the fallback where uv can't be had. Sets ROOT, VENV, UV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PIPETRACK_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/constraints.txt"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
UV="$(command -v uv || true)"
if [ -z "$UV" ]; then
  [ -x "$VENV/bin/uv" ] || "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv \
    >"$VENV/uv-bootstrap.log" 2>&1 || echo "uv unavailable (see $VENV/uv-bootstrap.log): installing with pip" >&2
  [ -x "$VENV/bin/uv" ] && UV="$VENV/bin/uv"
fi
STAMP="$VENV/.pipetrack-installed-${EXTRAS:-core}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || [ "$CONSTRAINTS" -nt "$STAMP" ]; then
  echo "installing pipetrack${EXTRAS:+[$EXTRAS]} into $VENV (log: $VENV/install.log)" >&2
  TARGET="$ROOT"
  [ -n "${EXTRAS:-}" ] && TARGET="$ROOT[$EXTRAS]"
  if [ -n "$UV" ]; then
    INSTALL=("$UV" pip install --python "$VENV/bin/python" -c "$CONSTRAINTS" -e "$TARGET")
  else
    INSTALL=("$VENV/bin/python" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" -e "$TARGET")
  fi
  if ! "${INSTALL[@]}" >"$VENV/install.log" 2>&1; then
    tail -40 "$VENV/install.log" >&2
    exit 1
  fi
  touch "$STAMP"
fi
