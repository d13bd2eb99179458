"""Where pipetrack keeps things, read from the environment each time it is asked.

Nothing is frozen at import: a process (or a test) that sets ``PIPETRACK_HOME`` before first
use gets its own store. Environment variables:

- ``PIPETRACK_HOME``: folder holding ``pipetrack.db`` and the default ``artifacts/`` and
  ``cache/`` folders (default ``~/.pipetrack``).
- ``PIPETRACK_OUTPUT_URI``: default destination of artifacts and models (any fsspec URL).
- ``PIPETRACK_QUEUES``: ``name=executor,...`` mapping of queue names to executors; also the
  ``[queues]`` table of ``$PIPETRACK_HOME/config.toml``.
- ``PIPETRACK_WATCHDOG_SECONDS``: heartbeat age after which a running task is declared dead.
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WATCHDOG_SECONDS = 300.0


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only (0700), whatever the umask.

    A folder that already exists keeps its mode: pipetrack never changes a folder it did not make."""
    path = Path(path)
    if not path.is_dir():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for created in missing:
            try:
                os.chmod(created, 0o700)
            except OSError:
                pass
    return path


def home() -> Path:
    """The pipetrack home folder, created on first use (private to the user)."""
    path = Path(os.environ.get("PIPETRACK_HOME") or Path.home() / ".pipetrack").expanduser().resolve()
    return private_dir(path)


def is_private_path(path: str | os.PathLike) -> bool:
    """True for a local path inside the pipetrack home (files there are made 0600)."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(home())
    except (OSError, ValueError):
        return False


def store_path() -> Path:
    """Path of the embedded SQLite store."""
    return home() / "pipetrack.db"


def default_output_uri() -> str:
    """Where artifacts go when neither Task.init(output_uri=) nor set_default_output_uri says."""
    uri = os.environ.get("PIPETRACK_OUTPUT_URI")
    if uri:
        return uri.rstrip("/")
    return (home() / "artifacts").as_uri()


def cache_dir() -> Path:
    """Local cache of downloaded artifacts and models."""
    return private_dir(home() / "cache")


def watchdog_seconds() -> float:
    """Seconds without a heartbeat after which a running task is marked stopped."""
    raw = os.environ.get("PIPETRACK_WATCHDOG_SECONDS")
    if not raw:
        return DEFAULT_WATCHDOG_SECONDS
    try:
        return float(raw)
    except ValueError:
        from .errors import ValidationError
        raise ValidationError(f"PIPETRACK_WATCHDOG_SECONDS={raw!r} is not a number of seconds") from None


def queue_map() -> dict[str, str]:
    """Queue name -> executor spec, from config.toml's [queues] then PIPETRACK_QUEUES (wins)."""
    mapping: dict[str, str] = {}
    toml_path = home() / "config.toml"
    if toml_path.exists():
        import tomllib
        with open(toml_path, "rb") as fh:
            mapping.update({str(k): str(v) for k, v in tomllib.load(fh).get("queues", {}).items()})
    raw = os.environ.get("PIPETRACK_QUEUES", "")
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            from .errors import ValidationError
            raise ValidationError(
                f"PIPETRACK_QUEUES entry {item!r} is not 'queue=executor' "
                "(executor: local, inline, dask, dask://host:port or tcp://host:port)")
        mapping[name.strip()] = spec.strip()
    return mapping


def ui_url() -> str:
    """Where ``pipetrack ui`` is reached (for the web-page links Task returns):
    ``PIPETRACK_UI_URL``, default http://127.0.0.1:8080 (its default address)."""
    return (os.environ.get("PIPETRACK_UI_URL") or "http://127.0.0.1:8080").rstrip("/")
