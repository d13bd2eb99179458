"""The task store: one catalogue of projects, tasks and their records, behind one interface.

``open_store(location)`` opens a store by where it is: a file path is the embedded SQLite
store (the default, ``$PIPETRACK_HOME/pipetrack.db``); a ``postgresql://`` URL is a shared
PostgreSQL catalogue for a team (psycopg is imported only then). ``default_store()`` is the
one ``PIPETRACK_STORE`` (or ``[store] url`` in ``config.toml``) names. See ``base.py`` for the
interface and why its operations are written once for both backends.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from .base import Dialect, TaskStore, new_id
from .tasks import TASK_JSON_COLUMNS, TASK_OUTPUT_TABLES, TASK_RECORD_TABLES, decode_task_row

__all__ = ["Dialect", "TaskStore", "new_id", "open_store", "default_store", "forget_open_stores",
           "is_url", "TASK_JSON_COLUMNS", "TASK_OUTPUT_TABLES", "TASK_RECORD_TABLES", "decode_task_row"]

URL_SCHEMES = ("postgresql://", "postgres://")

_stores: dict[tuple[int, str], TaskStore] = {}
_stores_lock = threading.Lock()
_last_sweep: dict[str, float] = {}  # location -> monotonic time of its last watchdog sweep


def is_url(location: str | os.PathLike) -> bool:
    """True when ``location`` names a database server (a ``postgresql://`` URL), not a file."""
    return str(location).startswith(URL_SCHEMES)


def open_store(location: str | os.PathLike) -> TaskStore:
    """The (per-process, cached) store at ``location``: a SQLite file path or a PostgreSQL URL."""
    text = str(location)
    key = (os.getpid(), text if is_url(text) else str(Path(text).resolve()))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            if is_url(text):
                from .postgres import PostgresStore
                store = PostgresStore(text)
            else:
                from .sqlite import SqliteStore
                store = SqliteStore(text)
            _stores[key] = store
    return store


def forget_open_stores() -> None:
    """Drop this process's cached stores: the next ``open_store`` opens afresh, as a new process would."""
    with _stores_lock:
        _stores.clear()
        _last_sweep.clear()


def default_store() -> TaskStore:
    """The store ``PIPETRACK_STORE`` names, else the SQLite file under ``PIPETRACK_HOME`` (read now).

    The dead-task watchdog sweeps it when this process first opens it, and again whenever it
    is asked for after a quarter of the watchdog period (at most 30 s), so a long-lived process
    (a pipeline controller, an agent) also notices tasks that die while it runs.
    """
    from .. import config
    store = open_store(config.store_location())
    now = time.monotonic()
    if now - _last_sweep.get(store.location, float("-inf")) >= min(30.0, config.watchdog_seconds() / 4):
        _last_sweep[store.location] = now
        from .watchdog import sweep
        sweep(store)
        _remove_upload_leftovers()
    return store


def _remove_upload_leftovers() -> None:
    """What killed uploads left in the default artifact destination (``storage.leftovers``)."""
    from .. import config
    from ..storage import is_local, local_path
    from ..storage.leftovers import remove_stale
    if is_local(config.default_output_uri()):
        remove_stale([local_path(config.default_output_uri())])
