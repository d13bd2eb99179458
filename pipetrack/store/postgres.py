"""The PostgreSQL backend: one catalogue shared by a team (``PIPETRACK_STORE=postgresql://...``).

It runs the same operation SQL as the SQLite backend (``base.py``); what it adds:

- **Placeholders.** Operations write ``?``; psycopg wants ``%s`` (and a literal ``%`` doubled).
  :func:`translate` rewrites each statement once (cached), leaving quoted literals alone.
- **Client-side binding** (``psycopg.ClientCursor``): values are sent as literals the server
  types by context, as SQLite does, so a parameter compared with or stored in a column needs no
  cast. Booleans are bound as 0/1 (the schema stores flags as integers).
- **Writers are serialised**, as SQLite's ``BEGIN IMMEDIATE`` does: every write transaction first
  takes one transaction-scoped advisory lock. Operations were written for that model
  (read-modify-write inside one ``write()``), and a writer's transaction is short, so the lock
  costs one round trip; reads never wait for it (MVCC).
- **Versioned migrations**, applied on first use under the same advisory lock, so several
  processes starting at once against an empty database create the schema exactly once. A
  database made by a newer pipetrack is refused instead of being written in an older layout.
- **Errors** become :class:`~pipetrack.errors.StoreError` naming the server (password hidden);
  rows the server refuses become :class:`~pipetrack.errors.RecordRejected`. A connection left
  broken (server restarted, network) is dropped and the next access opens a new one.

psycopg is imported only here, so ``pip install 'pipetrack[postgres]'`` is needed only by
those who use such a URL.
"""
from __future__ import annotations

import functools
import os
import re
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

from ..errors import RecordRejected, StoreError
from .base import Dialect, TaskStore
from .schema import postgres_schema, statements

# Schema versions of this backend (its own counter; SQLite's is PRAGMA user_version):
# 1: the tables of SQLite's schema 4.
SCHEMA_VERSION = 1
WRITE_LOCK = 0x70697065  # the advisory lock every write transaction holds ("pipe")
CONNECT_TIMEOUT_SECONDS = 10

_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|%")


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` and every literal ``%`` doubled."""
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")
    return _TOKENS.sub(replace, sql)


def displayed(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresDialect(Dialect):
    """PostgreSQL's spelling of the expressions in :class:`~pipetrack.store.base.Dialect`."""

    name = "postgresql"
    like = "ILIKE"
    now = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"

    def json_text(self, column: str, key: str) -> str:
        return f"(CAST({column} AS jsonb) ->> '{key}')"

    def json_array_contains(self, column: str, count: int = 1) -> str:
        # jsonb_exists_any is the function behind the ?| operator (a '?' would read as a placeholder)
        return f"jsonb_exists_any(CAST({column} AS jsonb), ARRAY[{', '.join(['CAST(? AS text)'] * count)}])"

    def as_number(self, expr: str) -> str:
        number = r"^\s*-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$"
        return f"(CASE WHEN {expr} ~ '{number}' THEN CAST({expr} AS DOUBLE PRECISION) END)"


class Row(tuple):
    """A result row indexable by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=1024)
def _row_type(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {name: i for i, name in enumerate(names)}})


def _row_factory(cursor: Any) -> Any:
    return _row_type(tuple(column.name for column in cursor.description or ()))


def _params(params: Iterable[Any]) -> tuple:
    return tuple(int(value) if isinstance(value, bool) else value for value in params)


class _Transaction:
    """The connection a write transaction yields: ``?`` statements translated, errors converted."""

    def __init__(self, store: "PostgresStore", conn: Any):
        self._store, self._conn = store, conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(translate(sql), _params(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        with self._conn.cursor() as cursor:
            cursor.executemany(translate(sql), [_params(row) for row in rows])
        return cursor


class PostgresStore(TaskStore):
    """A task store in a PostgreSQL database (see the module docstring)."""

    dialect = PostgresDialect()

    def __init__(self, url: str):
        from .. import config
        self.location = url
        self.home = config.home()
        self._local = threading.local()
        self._schema_checked_pid: int | None = None

    def __str__(self) -> str:
        return displayed(self.location)

    # ----------------------------------------------------------------- connection
    def _connect(self) -> Any:
        import psycopg
        try:
            return psycopg.connect(self.location, autocommit=True, cursor_factory=psycopg.ClientCursor,
                                   row_factory=_row_factory, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL task store {self}: {str(exc).strip()}; check "
                             f"that the server runs and accepts this user, and the URL in PIPETRACK_STORE "
                             f"(or [store] url of config.toml)") from exc

    @property
    def conn(self) -> Any:
        """This thread's connection (a new one after fork, or after a broken one was dropped)."""
        local, pid = self._local, os.getpid()
        if getattr(local, "pid", None) != pid or local.conn.closed:
            conn = self._connect()
            local.conn, local.pid, local.depth = conn, pid, 0
            if self._schema_checked_pid != pid:
                try:
                    self._migrate(conn)
                except BaseException:
                    local.pid = None
                    conn.close()
                    raise
                self._schema_checked_pid = pid
        return local.conn

    def _migrate(self, conn: Any) -> None:
        """Create or upgrade the schema to ``SCHEMA_VERSION`` (once, whoever starts first)."""
        import psycopg
        try:
            if self._version(conn) == SCHEMA_VERSION:
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS pipetrack_schema (version INTEGER NOT NULL)")
                version = self._version(conn)
                if version is None:
                    conn.execute("INSERT INTO pipetrack_schema(version) VALUES (0)")
                    version = 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the PostgreSQL task store {self} has schema version {version}, made by a newer "
                        f"pipetrack (this one knows versions up to {SCHEMA_VERSION}): upgrade pipetrack here")
                if version < 1:
                    for statement in statements(postgres_schema()):
                        conn.execute(statement)
                conn.execute("UPDATE pipetrack_schema SET version=%s", (SCHEMA_VERSION,))
        except psycopg.Error as exc:
            raise self._error(exc, "creating the tables of") from exc

    @staticmethod
    def _version(conn: Any) -> int | None:
        row = conn.execute("SELECT to_regclass('pipetrack_schema') IS NOT NULL").fetchone()
        if not row[0]:
            return None
        row = conn.execute("SELECT version FROM pipetrack_schema").fetchone()
        return row[0] if row else None

    def _error(self, exc: Exception, doing: str) -> StoreError:
        """The StoreError for a psycopg error (raise it ``from exc``); drops a broken connection."""
        import psycopg
        message = f"{doing} the PostgreSQL task store {self} failed: {str(exc).strip()}"
        conn = getattr(self._local, "conn", None)
        if conn is not None and (conn.broken or conn.closed):
            self._local.pid = None
        if isinstance(exc, (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError)):
            return RecordRejected(message)
        return StoreError(message)

    # ----------------------------------------------------------------- primitives
    @contextmanager
    def write(self) -> Iterator[_Transaction]:
        """A write transaction holding the store's write lock; nested use joins the outer one."""
        import psycopg
        conn = self.conn
        local = self._local
        if local.depth:
            try:
                yield _Transaction(self, conn)
            except psycopg.Error as exc:
                raise self._error(exc, "writing to") from exc
            return
        try:
            with conn.transaction():
                local.depth = 1
                try:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    yield _Transaction(self, conn)
                finally:
                    local.depth = 0
        except psycopg.Error as exc:
            raise self._error(exc, "writing to") from exc

    def _read(self, sql: str, params: Iterable[Any]) -> Any:
        import psycopg
        try:
            return self.conn.execute(translate(sql), _params(params))
        except psycopg.Error as exc:
            raise self._error(exc, "reading") from exc

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows(sql, params)]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        import psycopg
        try:
            return self._read(sql, params).fetchall()
        except psycopg.Error as exc:
            raise self._error(exc, "reading") from exc

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        import psycopg
        try:
            row = self._read(sql, params).fetchone()
        except psycopg.Error as exc:
            raise self._error(exc, "reading") from exc
        return dict(row) if row is not None else None

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        with self.write() as conn:
            return conn.execute(sql, params).rowcount
