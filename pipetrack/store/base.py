"""The task store's interface: what the rest of pipetrack may ask of a catalogue.

:class:`TaskStore` is the one interface tracking, pipelines, executors, the agent, the CLI and
the UI use. Its operations (``store/tasks.py``, ``store/records.py``, ...) are named by what
they mean and written once, in the SQL both backends speak; a backend (``sqlite.py``,
``postgres.py``) supplies only the connection primitives below, its schema migrations and a
:class:`Dialect` for the few expressions the two spell differently (JSON, case-insensitive
LIKE, "now").

Why one SQL implementation of each operation instead of one per backend: the two backends
are both SQL databases, and an operation written twice drifts (the reason MLflow keeps one
SQLAlchemy store for every database). A backend that is not SQL would override the
operations themselves; nothing outside this package sees a table, a column or a connection.

Portable SQL, for whoever adds an operation: ``?`` placeholders (a backend translates them),
``INSERT ... ON CONFLICT (...) DO UPDATE/NOTHING`` (never ``INSERT OR REPLACE/IGNORE``),
``COALESCE`` (never ``IFNULL``), explicit ``seq`` columns for insertion order (never
``rowid``), ``RETURNING`` for generated keys, and :attr:`TaskStore.dialect` for JSON and
text matching.
"""
from __future__ import annotations

import abc
import os
import threading
import uuid
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

from .catalogue import CatalogueOperations
from .exchange import ExchangeOperations
from .metrics import MetricOperations
from .models import ModelOperations
from .pipelines import PipelineOperations
from .queues import QueueOperations
from .records import RecordOperations
from .tasks import TaskOperations


def new_id() -> str:
    """A task/model/project id: 32 hex characters, like ClearML's."""
    return uuid.uuid4().hex


class Cursor(Protocol):
    """What a write transaction's ``execute`` returns (sqlite3's and psycopg's cursors both are)."""
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    """The connection a write transaction yields: statements joined into one atomic unit."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...


class Dialect:
    """The expressions the backends spell differently; the SQLite spelling is the default."""

    name = "sqlite"
    like = "LIKE"  # case-insensitive for ASCII text, as SQLite's LIKE is
    now = "((julianday('now') - 2440587.5) * 86400.0)"  # seconds since the epoch

    def json_text(self, column: str, key: str) -> str:
        """The text value of ``key`` in the JSON object stored in ``column``."""
        return f"json_extract({column}, '$.{key}')"

    def json_array_contains(self, column: str, count: int = 1) -> str:
        """True where the JSON array in ``column`` holds any of ``count`` ``?``-bound strings."""
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ({', '.join('?' * count)}))"

    def as_number(self, expr: str) -> str:
        """``expr`` (text) as a number where it is a JSON number, else NULL (for numeric sorting)."""
        return (f"(CASE WHEN json_valid({expr}) AND json_type({expr}) IN ('integer', 'real') "
                f"THEN CAST({expr} AS REAL) END)")


class TaskStore(TaskOperations, RecordOperations, ModelOperations, MetricOperations, QueueOperations,
                PipelineOperations, CatalogueOperations, ExchangeOperations, abc.ABC):
    """A catalogue of projects, tasks and their records (see the module docstring).

    The primitives below are for this package's operations only: callers outside
    ``pipetrack/store`` use the named operations."""

    dialect: Dialect = Dialect()
    #: how another process opens this store (a file path or a ``postgresql://`` URL)
    location: str
    #: the folder beside the store where this machine keeps local things (agent, sessions)
    home: Path

    @abc.abstractmethod
    def write(self) -> AbstractContextManager[Transaction]:
        """A write transaction; nested use joins the outer one; every failure is a StoreError."""

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group the operations called inside into one transaction (all or none, one commit):
        the unit of work callers outside this package may ask for."""
        with self.write():
            yield

    @abc.abstractmethod
    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a SELECT and return rows as dicts."""

    @abc.abstractmethod
    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Run a SELECT and return rows indexable by position and by column name (bulk reads)."""

    @abc.abstractmethod
    def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        """Run a SELECT and return its first row as a dict (None when there is none)."""

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one write statement in its own transaction; returns the changed row count."""
        with self.write() as conn:
            return conn.execute(sql, tuple(params)).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.write() as conn:
            conn.executemany(sql, rows)

    def checkpoint(self) -> None:
        """Fold what was committed into the store's own file, so a copy of that one file holds
        everything (a SQLite store's write-ahead log); nothing to do for a server."""

    def close(self) -> None:
        """Close this thread's connection (a backend keeps it as ``self._local.conn``, opened by
        process ``self._local.pid``: a connection is never used across ``fork``)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local = threading.local()

    def __str__(self) -> str:
        return self.location
