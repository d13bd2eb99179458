"""The catalogue's tables, defined once for both backends.

``SCHEMA`` is written in SQLite's spelling; :func:`postgres_schema` derives PostgreSQL's from it
by mapping the four column types that differ (64-bit integers, double-precision floats, byte
strings, generated sequence keys) and dropping the unenforced references, so the two backends' tables cannot drift apart. Each
backend keeps its own version counter and migrations (``sqlite.py``, ``postgres.py``).
"""
from __future__ import annotations

import re

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
    seq INTEGER PRIMARY KEY,
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

# An auto-numbered insertion-order key: SQLite's rowid alias, PostgreSQL's identity column.
_SEQ_KEY = re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?")
_POSTGRES_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA"}


def statements(schema: str = SCHEMA) -> list[str]:
    """The schema's statements, one per item."""
    return [statement.strip() for statement in schema.split(";") if statement.strip()]


def table_statement(table: str, schema: str = SCHEMA) -> str:
    """The ``CREATE TABLE`` statement of ``table``."""
    for statement in statements(schema):
        if statement.startswith(f"CREATE TABLE IF NOT EXISTS {table} "):
            return statement
    raise KeyError(table)


def postgres_schema() -> str:
    """``SCHEMA`` in PostgreSQL's spelling (see the module docstring)."""
    schema = _SEQ_KEY.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", SCHEMA)
    # SQLite runs with foreign_keys=OFF (a record may arrive before its task, as in an import);
    # PostgreSQL would enforce the references, so they are documentation only on both
    schema = re.sub(r" REFERENCES \w+\(\w+\)", "", schema)
    return re.sub(r"\b(INTEGER|REAL|BLOB)\b", lambda m: _POSTGRES_TYPES[m.group(1)], schema)
