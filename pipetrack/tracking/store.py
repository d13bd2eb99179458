"""The embedded task store: one SQLite file shared by every process on the machine.

Why plain ``sqlite3`` and no ORM: the schema is small and stable, and the hot paths (batched
scalar/console inserts, task row reads) want ``executemany`` and a single round trip.

Concurrency model:
- WAL journal, ``synchronous=NORMAL`` and a long ``busy_timeout``, so readers never block
  writers and writers queue instead of failing with "database is locked".
- Every write transaction starts with ``BEGIN IMMEDIATE`` (takes the write lock up front, so
  two read-modify-write transactions can't deadlock on lock upgrade).
- The schema is created inside one such transaction guarded by ``PRAGMA user_version``, so
  several processes opening a brand-new store at once create it exactly once.
- One connection per (process, thread): connections are never shared across ``fork``.

The same class also backs offline sessions and remote steps: a session is simply a store in
its own folder, and :meth:`export_task` / :meth:`import_task` move one task's records between
stores (see ``tracking/records.py``).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

SCHEMA_VERSION = 3  # 2: scalars stored as packed chunks (see scalars.py); 3: created/started indexes (UI paging)

# Columns of ``tasks`` that hold JSON documents (encoded/decoded transparently).
TASK_JSON_COLUMNS = ("tags", "system_tags", "user_properties", "script", "runtime", "labels", "container")

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    description TEXT DEFAULT '',
    system_tags TEXT DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT DEFAULT '',
    status_reason TEXT DEFAULT '',
    comment TEXT DEFAULT '',
    parent TEXT,
    created REAL NOT NULL,
    started REAL,
    completed REAL,
    last_update REAL NOT NULL,
    last_iteration INTEGER DEFAULT 0,
    initial_iteration INTEGER DEFAULT 0,
    progress REAL DEFAULT 0,
    tags TEXT DEFAULT '[]',
    system_tags TEXT DEFAULT '[]',
    user_properties TEXT DEFAULT '{}',
    script TEXT DEFAULT '{}',
    runtime TEXT DEFAULT '{}',
    labels TEXT DEFAULT '{}',
    container TEXT DEFAULT '{}',
    output_uri TEXT,
    last_worker TEXT,
    host TEXT,
    pid INTEGER,
    heartbeat REAL,
    queue TEXT,
    priority INTEGER DEFAULT 0,
    enqueued REAL,
    cache_key TEXT,
    publish_on_completion INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_project_name ON tasks(project_id, name, created);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks(status);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks(parent);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(queue, status, priority, enqueued);
CREATE INDEX IF NOT EXISTS tasks_cache_key ON tasks(cache_key);
CREATE INDEX IF NOT EXISTS tasks_last_update ON tasks(last_update);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks(created);
CREATE INDEX IF NOT EXISTS tasks_started ON tasks(started);
CREATE TABLE IF NOT EXISTS params (
    task_id TEXT NOT NULL,
    section TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    type TEXT,
    description TEXT,
    PRIMARY KEY (task_id, section, name)
);
CREATE TABLE IF NOT EXISTS configs (
    task_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    type TEXT,
    description TEXT,
    PRIMARY KEY (task_id, name)
);
CREATE TABLE IF NOT EXISTS artifacts (
    task_id TEXT NOT NULL,
    name TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'output',
    type TEXT,
    uri TEXT,
    size INTEGER,
    hash TEXT,
    content_type TEXT,
    extension TEXT,
    metadata TEXT DEFAULT '{}',
    preview TEXT,
    created REAL,
    PRIMARY KEY (task_id, name)
);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    task_id TEXT,
    project_id TEXT,
    name TEXT,
    uri TEXT,
    framework TEXT,
    comment TEXT,
    tags TEXT DEFAULT '[]',
    iteration INTEGER,
    design TEXT,
    labels TEXT DEFAULT '{}',
    published INTEGER DEFAULT 0,
    created REAL
);
CREATE TABLE IF NOT EXISTS task_models (
    task_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (task_id, role, name)
);
CREATE TABLE IF NOT EXISTS scalars (
    task_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    variant TEXT NOT NULL,
    n INTEGER NOT NULL,
    min_iteration INTEGER,
    max_iteration INTEGER,
    min_value REAL,
    max_value REAL,
    last_value REAL,
    last_ts REAL,
    iters BLOB NOT NULL,
    vals BLOB NOT NULL,
    stamps BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS scalars_task ON scalars(task_id, metric, variant);
CREATE TABLE IF NOT EXISTS single_values (
    task_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    ts REAL,
    PRIMARY KEY (task_id, name)
);
CREATE TABLE IF NOT EXISTS console (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    ts REAL,
    level TEXT,
    text TEXT
);
CREATE INDEX IF NOT EXISTS console_task ON console(task_id, seq);
CREATE TABLE IF NOT EXISTS plots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    metric TEXT,
    variant TEXT,
    iteration INTEGER,
    figure TEXT,
    ts REAL
);
CREATE INDEX IF NOT EXISTS plots_task ON plots(task_id, seq);
CREATE TABLE IF NOT EXISTS debug_samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    metric TEXT,
    variant TEXT,
    iteration INTEGER,
    url TEXT,
    ts REAL
);
CREATE INDEX IF NOT EXISTS debug_samples_task ON debug_samples(task_id, metric, variant, seq);
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    created REAL NOT NULL
);
"""

# Tables holding one task's records, keyed by task_id (export/import/reset/delete use them).
TASK_RECORD_TABLES = ("params", "configs", "artifacts", "task_models", "scalars", "single_values",
                      "console", "plots", "debug_samples")
# Output tables cleared by Task.reset (inputs such as params/configs survive a reset).
TASK_OUTPUT_TABLES = ("artifacts", "scalars", "single_values", "console", "plots", "debug_samples")


def new_id() -> str:
    """A task/model/project id: 32 hex characters, like ClearML's."""
    return uuid.uuid4().hex


def _encode(column: str, value: Any) -> Any:
    if column in TASK_JSON_COLUMNS and not isinstance(value, str) and value is not None:
        return json.dumps(value)
    return value


class Store:
    """SQLite-backed store of projects, tasks and their records."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._initialised_pid: int | None = None
        self._last_sweep = float("-inf")  # monotonic time of the last watchdog sweep

    # ----------------------------------------------------------------- connection
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one after fork)."""
        pid = os.getpid()
        local = self._local
        if getattr(local, "pid", None) != pid:
            local.conn = self._connect()
            local.pid = pid
            if self._initialised_pid != pid:
                self._init_schema(local.conn)
                self._initialised_pid = pid
        return local.conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        for attempt in range(50):
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                    return
                conn.execute("BEGIN IMMEDIATE")
                try:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version < SCHEMA_VERSION:
                        if version == 1:
                            _migrate_v1_scalars(conn)
                        for statement in SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.05 + 0.01 * attempt)
        raise sqlite3.OperationalError(f"could not initialise the store at {self.path}: database stayed locked")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local = threading.local()

    # ----------------------------------------------------------------- primitives
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), retried while the db is busy."""
        conn = self.conn
        if conn.in_transaction:  # nested use joins the outer transaction
            yield conn
            return
        for attempt in range(100):
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.02 * (1 + attempt % 10))
        else:
            raise sqlite3.OperationalError(f"store {self.path} stayed locked")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a SELECT and return rows as dicts."""
        return [dict(row) for row in self.conn.execute(sql, _params(params))]

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        row = self.conn.execute(sql, _params(params)).fetchone()
        return dict(row) if row is not None else None

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the changed row count."""
        with self.write() as conn:
            return conn.execute(sql, _params(params)).rowcount

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self.write() as conn:
            conn.executemany(sql, rows)

    # ----------------------------------------------------------------- projects
    def project_id(self, name: str, create: bool = False) -> str | None:
        """Id of the project named ``name`` (full path "a/b/c"); parents are created too."""
        row = self.query_one("SELECT id FROM projects WHERE name=?", (name,))
        if row or not create:
            return row["id"] if row else None
        parts = name.split("/")
        if not all(part.strip() for part in parts):
            from ..errors import ValidationError
            raise ValidationError(f"project name {name!r} has an empty part; use 'a', 'a/b' or 'a/b/c'")
        with self.write() as conn:
            for i in range(1, len(parts) + 1):
                conn.execute("INSERT OR IGNORE INTO projects(id, name, created) VALUES (?,?,?)",
                             (new_id(), "/".join(parts[:i]), time.time()))
        return self.query_one("SELECT id FROM projects WHERE name=?", (name,))["id"]

    def project_name(self, project_id: str) -> str | None:
        row = self.query_one("SELECT name FROM projects WHERE id=?", (project_id,))
        return row["name"] if row else None

    # ----------------------------------------------------------------- tasks
    def insert_task(self, row: dict[str, Any]) -> None:
        cols = list(row)
        with self.write() as conn:
            conn.execute(f"INSERT INTO tasks({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                         [_encode(c, row[c]) for c in cols])

    def update_task(self, task_id: str, where_status: Iterable[str] | None = None, **fields: Any) -> bool:
        """Update task columns; with ``where_status`` only if its status is one of those."""
        fields.setdefault("last_update", time.time())
        sets = ", ".join(f"{c}=?" for c in fields)
        params = [_encode(c, v) for c, v in fields.items()] + [task_id]
        sql = f"UPDATE tasks SET {sets} WHERE id=?"
        if where_status is not None:
            statuses = list(where_status)
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            params += statuses
        return self.execute(sql, params) > 0

    def task_row(self, task_id: str) -> dict[str, Any] | None:
        row = self.query_one(
            "SELECT t.*, p.name AS project_name FROM tasks t JOIN projects p ON p.id=t.project_id "
            "WHERE t.id=?", (task_id,))
        return decode_task_row(row) if row else None

    def end_task(self, task_id: str, status: str, message: str,
                 only_from: Iterable[str] = ("created", "queued", "in_progress")) -> bool:
        """Close a task whose own process could not (killed, lost worker, time limit, aborted):
        set ``status`` with ``message``, but only while it is still unfinished (``only_from``), so a
        status the task recorded itself is never overwritten."""
        now = time.time()
        return self.update_task(task_id, where_status=only_from, status=status, status_message=message,
                                status_reason=message, completed=now, last_update=now)

    def delete_task(self, task_id: str, with_models: bool = False) -> None:
        """Remove a task row and every record of it (and the models it produced) in one transaction."""
        with self.write() as conn:
            self.delete_task_records(task_id, TASK_RECORD_TABLES)
            if with_models:
                conn.execute("DELETE FROM models WHERE task_id=?", (task_id,))
            conn.execute("DELETE FROM tasks WHERE id=?", (task_id,))

    def delete_task_records(self, task_id: str, tables: Iterable[str]) -> None:
        with self.write() as conn:
            for table in tables:
                conn.execute(f"DELETE FROM {table} WHERE task_id=?", (task_id,))


def _migrate_v1_scalars(conn: sqlite3.Connection) -> None:
    """Schema 1 kept one row per scalar point: repack those rows into chunks."""
    from .scalars import INSERT_CHUNK, pack_rows
    rows = conn.execute("SELECT task_id, metric, variant, iteration, value, ts FROM scalars "
                        "ORDER BY rowid").fetchall()
    conn.execute("DROP INDEX IF EXISTS scalars_task")
    conn.execute("DROP TABLE scalars")
    conn.execute(SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS scalars"):].split(";")[0])
    conn.executemany(INSERT_CHUNK, pack_rows(tuple(r) for r in rows))


def _params(params: Any) -> Any:
    return params if isinstance(params, dict) else tuple(params)


def decode_task_row(row: dict[str, Any]) -> dict[str, Any]:
    """Decode the JSON columns of a ``tasks`` row in place."""
    for column in TASK_JSON_COLUMNS:
        if column in row and isinstance(row[column], str):
            row[column] = json.loads(row[column] or "null") or ([] if column.endswith("tags") else {})
    return row


_stores: dict[tuple[int, str], Store] = {}
_stores_lock = threading.Lock()


def open_store(path: str | os.PathLike) -> Store:
    """The (per-process, cached) Store for the database file at ``path``."""
    key = (os.getpid(), str(Path(path).resolve()))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = Store(path)
    return store


def default_store() -> Store:
    """The store under ``PIPETRACK_HOME`` (read now, not at import).

    The dead-task watchdog sweeps it when this process first opens it, and again whenever it
    is asked for after a quarter of the watchdog period (at most 30 s), so a long-lived process
    (a pipeline controller, an agent) also notices tasks that die while it runs.
    """
    from .. import config
    store = open_store(config.store_path())
    now = time.monotonic()
    if now - store._last_sweep >= min(30.0, config.watchdog_seconds() / 4):
        store._last_sweep = now
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
