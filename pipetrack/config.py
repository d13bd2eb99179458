"""Where pipetrack keeps things, read from the environment each time it is asked.

Nothing is frozen at import: a process (or a test) that sets ``PIPETRACK_HOME`` before first
use gets its own store. Environment variables:

- ``PIPETRACK_HOME``: folder holding ``pipetrack.db`` and the default ``artifacts/`` and
  ``cache/`` folders (default ``~/.pipetrack``).
- ``PIPETRACK_STORE``: the task store, a ``postgresql://user:pass@host/db`` URL (a team's shared
  catalogue) or a SQLite file path; also ``[store] url`` of config.toml. Default: ``pipetrack.db``.
- ``PIPETRACK_OUTPUT_URI``: default destination of artifacts and models (any fsspec URL).
- ``PIPETRACK_QUEUES``: ``name=executor,...`` mapping of queue names to executors; also the
  ``[queues]`` table of ``$PIPETRACK_HOME/config.toml``.
- ``PIPETRACK_WATCHDOG_SECONDS``: heartbeat age after which a running task is declared dead.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

DEFAULT_WATCHDOG_SECONDS = 300.0


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only (0700), whatever the umask.

    A folder that already exists keeps its mode: pipetrack never changes a folder it did not make."""
    path = Path(path)
    if not path.is_dir():
        missing = []
        for folder in (path, *path.parents):  # up to the first folder that exists
            if folder.exists():
                break
            missing.append(folder)
        # made top-down: one mkdir per new folder (Path.mkdir(parents=True) tries the deepest first
        # and fails once per missing level: every artifact of a new task makes three)
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:  # another thread or process made it meanwhile
                continue
            try:
                os.chmod(folder, 0o700)
            except OSError:
                pass
        if not path.is_dir():
            raise NotADirectoryError(f"{path} exists and is not a folder")
    return path


_resolved_homes: dict[str, Path] = {}


def home() -> Path:
    """The pipetrack home folder, created on first use (private to the user). Read from the
    environment each time; resolving it is remembered per value (it is asked for on hot paths)."""
    raw = os.environ.get("PIPETRACK_HOME") or ""
    path = _resolved_homes.get(raw)
    if path is None:
        path = _resolved_homes[raw] = Path(raw or Path.home() / ".pipetrack").expanduser().resolve()
    return private_dir(path)


def is_private_path(path: str | os.PathLike) -> bool:
    """True for a local path inside the pipetrack home (files there are made 0600).

    Every artifact file asks, so the real path of its folder is remembered (``_real_folder``);
    the last component is taken as it is (pipetrack never writes a symlink)."""
    folder, name = os.path.split(os.path.abspath(path))
    try:
        return Path(_real_folder(folder), name).is_relative_to(home())
    except (OSError, ValueError):
        return False


@functools.lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)


def store_path() -> Path:
    """Path of the embedded SQLite store."""
    return home() / "pipetrack.db"


def store_location() -> str:
    """Where the task store is: ``PIPETRACK_STORE``, else ``[store] url`` of config.toml (a
    ``postgresql://`` URL for a shared catalogue, or a SQLite file path), else :func:`store_path`."""
    location = os.environ.get("PIPETRACK_STORE") or str(_read_toml().get("store", {}).get("url") or "")
    return location or str(store_path())


def default_output_uri() -> str:
    """Where artifacts go when neither Task.init(output_uri=) nor set_default_output_uri says."""
    uri = os.environ.get("PIPETRACK_OUTPUT_URI")
    files_host = credentials().get("files_host") or ""  # Task.set_credentials; http(s) is ClearML's file server
    if not uri and not files_host.startswith(("http://", "https://")):
        uri = files_host
    if uri:
        return uri.rstrip("/")
    return (home() / "artifacts").as_uri()


def running_remotely() -> bool:
    """Whether this process runs a task for an agent or an executor (ClearML's
    ``clearml.config.running_remotely``)."""
    return bool(os.environ.get("PIPETRACK_TASK_ID"))


def cache_dir() -> Path:
    """Local cache of downloaded artifacts and models."""
    return private_dir(home() / "cache")


DEFAULT_CACHE_MAX_MB = 10240.0


def cache_limit_bytes() -> int:
    """How large the download cache may grow before the least recently used files are removed:
    ``PIPETRACK_CACHE_MAX_MB`` (default 10 GiB)."""
    raw = os.environ.get("PIPETRACK_CACHE_MAX_MB", "").strip()
    if not raw:
        return int(DEFAULT_CACHE_MAX_MB * 2 ** 20)
    try:
        limit = float(raw)
    except ValueError:
        limit = -1.0
    if not limit >= 0 or limit == float("inf"):
        from .errors import ValidationError
        raise ValidationError(f"PIPETRACK_CACHE_MAX_MB={raw!r} is not a size in megabytes (a number >= 0)")
    return int(limit * 2 ** 20)


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
    mapping: dict[str, str] = {str(k): str(v) for k, v in _read_toml().get("queues", {}).items()}
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


# ---------------------------------------------------------------- credentials
# ClearML's Task.set_credentials / setup_gcp_upload / setup_azure_upload. Without a server,
# api_host/web_host are kept only for scripts that read them back; files_host, key and secret
# describe the default destination and its credentials. Values set in this process
# (``set_credentials``) are defaults: ``[credentials]`` of config.toml overrides them, as
# clearml.conf overrides ClearML's.
CREDENTIAL_KEYS = ("api_host", "web_host", "files_host", "key", "secret")
_process_credentials: dict[str, str] = {}
_storage_configs: dict[str, dict[str, dict]] = {"gcs": {}, "azure": {}}


def config_toml_path() -> Path:
    """``$PIPETRACK_HOME/config.toml`` (may not exist)."""
    return home() / "config.toml"


_toml_cache: dict[str, tuple[int, dict]] = {}


def _read_toml() -> dict:
    """config.toml's tables ({} without the file), parsed again only when the file changed: it is
    consulted on hot paths (every default destination)."""
    path = config_toml_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    cached = _toml_cache.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    import tomllib
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    _toml_cache[str(path)] = (stamp, data)
    return data


def credentials() -> dict[str, str]:
    """The effective credentials: this process's ``set_credentials`` values, overridden by
    ``[credentials]`` of config.toml."""
    merged = dict(_process_credentials)
    merged.update({k: str(v) for k, v in _read_toml().get("credentials", {}).items() if k in CREDENTIAL_KEYS})
    return merged


def set_process_credentials(values: dict[str, str]) -> None:
    """Remember credentials for this process (what ``Task.set_credentials`` does first)."""
    _process_credentials.update({k: v for k, v in values.items() if v is not None})


def store_credentials(values: dict[str, str]) -> bool:
    """Write ``values`` as the ``[credentials]`` table of config.toml (file mode 0600), keeping
    its other tables. False (nothing written) when that table already exists: as ClearML leaves
    an existing clearml.conf alone, pipetrack never overwrites stored credentials."""
    data = _read_toml()
    if data.get("credentials"):
        return False
    table = {k: v for k, v in values.items() if v is not None}
    path = config_toml_path()
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    # appended, not rewritten: the user's other tables, comments and layout stay as they are
    text = existing + ("\n" if existing and not existing.endswith("\n") else "") + ("\n" if existing else "")
    text += "[credentials]\n" + "".join(f"{k} = {_toml_string(v)}\n" for k, v in table.items())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return True


def _toml_string(value: object) -> str:
    import json
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def configure_storage(kind: str, name: str, options: dict) -> None:
    """Remember a GCS bucket's (``kind='gcs'``) or an Azure account's (``'azure'``) fsspec
    options for this process and make them fsspec's defaults for that protocol."""
    import fsspec.config
    _storage_configs[kind][name] = dict(options)
    protocols = {"gcs": ("gs", "gcs"), "azure": ("az", "abfs", "abfss")}[kind]
    fs_options = {k: v for k, v in options.items() if k not in ("bucket", "subdir", "container_name")}
    for proto in protocols:
        fsspec.config.conf.setdefault(proto, {}).update(fs_options)


def storage_config(kind: str, name: str) -> dict | None:
    """What :func:`configure_storage` remembered for ``name`` (a bucket or account), or None."""
    found = _storage_configs.get(kind, {}).get(name)
    return dict(found) if found is not None else None
