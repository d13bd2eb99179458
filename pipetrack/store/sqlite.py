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

Failure model (see :class:`~pipetrack.errors.StoreError`):
- A brand-new store is a *missing* file. It is built in a temporary file next to it and
  hard-linked into place, so the store's path only ever names a complete database; that is
  what lets an existing zero-byte file be refused as damaged instead of silently becoming a
  new empty store (every task "vanished"), even while other processes create the store.
- A damaged file (zero bytes, not SQLite, truncated, malformed) is refused with a StoreError
  naming it and saying what to do; the file is never written to.
- Every ``sqlite3`` error of the primitives (``conn``, ``query``, ``query_one``, ``rows``,
  ``execute``, ``executemany``, ``write``) becomes a StoreError naming the file, caused by the original.
  "database is locked" is still retried first.
- A failed write transaction is rolled back only if SQLite has not already done so (after
  SQLITE_FULL it may have): a ``ROLLBACK`` outside a transaction would replace the real error
  with "cannot rollback - no transaction is active". If the connection can't be brought back
  to a clean state it is closed and the next access opens a new one, so one failed write never
  breaks this process's later reads and writes.

The same class also backs offline sessions and remote steps: a session is simply a store in
its own folder, and :meth:`export_task` / :meth:`import_task` move one task's records between
stores (see ``tracking/records.py``).
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import RecordRejected, StoreError
from .base import TaskStore
from .schema import SCHEMA, table_statement

SCHEMA_VERSION = 4  # 2: scalars stored as packed chunks (see metrics.py); 3: created/started indexes (UI paging);
# 4: scalars get an explicit ``seq`` (insertion order without SQLite's rowid, as on PostgreSQL)


class SqliteStore(TaskStore):
    """SQLite-backed store of projects, tasks and their records."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.location = str(self.path)
        self.home = self.path.parent
        self._local = threading.local()
        self._initialised_pid: int | None = None

    # ----------------------------------------------------------------- connection
    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            self._create_file()
        try:
            if self.path.stat().st_size == 0:
                raise StoreError(
                    f"the task store {self.path} is an empty (zero-byte) file, not a store: a new store is a "
                    f"missing file, so this one lost its contents (truncated or overwritten). "
                    f"{_damaged_advice(self.path)}")
        except FileNotFoundError:  # moved aside just now: the next access creates a new store
            pass
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc, "opening") from exc
        return conn

    def _create_file(self) -> None:
        """Build a new, complete store (WAL mode, current schema) in a temporary file beside
        ``path`` and hard-link it into place; a process that loses the race uses the winner's."""
        import tempfile
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".new", dir=self.path.parent)
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                self._init_schema(conn)
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
            except OSError:  # no hard links on this filesystem: create it in place (old behaviour)
                if not self.path.exists():
                    os.replace(tmp, self.path)
        except sqlite3.Error as exc:
            raise self._error(exc, "creating") from exc
        finally:
            for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
                try:
                    os.unlink(leftover)
                except FileNotFoundError:
                    pass

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (a new one after fork, or after a connection was discarded)."""
        pid = os.getpid()
        local = self._local
        if getattr(local, "pid", None) != pid:
            conn = self._connect()
            if self._initialised_pid != pid:
                try:
                    self._init_schema(conn)
                except sqlite3.Error as exc:
                    conn.close()
                    raise self._error(exc, "opening") from exc
                except BaseException:
                    conn.close()
                    raise
                self._initialised_pid = pid
            local.conn, local.pid = conn, pid
        return local.conn

    def _discard(self, conn: sqlite3.Connection) -> None:
        """Close a connection left in an unknown state; this thread's next access opens a new one."""
        try:
            conn.close()
        except sqlite3.Error:
            pass
        if getattr(self._local, "conn", None) is conn:
            self._local.pid = None

    def _error(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """The StoreError for ``exc`` (raise it ``from exc``): names the file and what to do."""
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or str(exc) in (
                "file is not a database", "database disk image is malformed"):
            return StoreError(f"the task store {self.path} is damaged ({exc}). {_damaged_advice(self.path)}")
        if name.startswith("SQLITE_FULL") or "database or disk is full" in str(exc):
            return StoreError(f"{doing} the task store {self.path} failed: {exc}; free space on its disk (or "
                              "raise the quota) and retry")
        if isinstance(exc, _ROW_ERRORS):
            return RecordRejected(f"{doing} the task store {self.path} failed: {exc}")
        return StoreError(f"{doing} the task store {self.path} failed: {exc}")

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
                        elif version in (2, 3):
                            _migrate_scalars_seq(conn)
                        for statement in SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL)
                        conn.execute("ROLLBACK")
                    raise
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                time.sleep(0.05 + 0.01 * attempt)
        raise StoreError(f"could not initialise the task store {self.path}: the database stayed locked")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file. Best effort: a reader still holding the log
        leaves it in place (copy it too)."""
        try:
            self.query("PRAGMA wal_checkpoint(TRUNCATE)")
        except StoreError:
            pass

    # ----------------------------------------------------------------- primitives
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), retried while the db is busy.

        Nested use joins the outer transaction. On failure the transaction is rolled back and the
        sqlite3 error is raised as a StoreError naming the file (see the module docstring)."""
        conn = self.conn
        if conn.in_transaction:  # nested use joins the outer transaction
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self._error(exc, "writing to") from exc
            return
        for attempt in range(100):
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    self._abandon(conn)
                    raise self._error(exc, "writing to") from exc
                time.sleep(0.02 * (1 + attempt % 10))
            except sqlite3.Error as exc:
                self._abandon(conn)
                raise self._error(exc, "writing to") from exc
        else:
            raise StoreError(f"writing to the task store {self.path} failed: it stayed locked by another process")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            self._abandon(conn)
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc, "writing to") from exc
            raise

    def _abandon(self, conn: sqlite3.Connection) -> None:
        """End a failed transaction: roll back if SQLite has not already (after SQLITE_FULL it may
        have); a connection that can't be rolled back is discarded."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._discard(conn)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run a SELECT and return rows as dicts."""
        try:
            return [dict(row) for row in self.conn.execute(sql, _params(params))]
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a SELECT and return its rows as they come (indexable, no dict per row: bulk reads)."""
        try:
            return self.conn.execute(sql, _params(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc

    def query_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        try:
            row = self.conn.execute(sql, _params(params)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc, "reading") from exc
        return dict(row) if row is not None else None


# sqlite3 errors that mean "these rows can't be stored", not "the store can't be written now"
_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.DataError)


def _damaged_advice(path: Path) -> str:
    return (f"pipetrack will not change it: restore it from a backup, or move it aside "
            f"(mv {path} {path}.damaged, with its -wal/-shm files) to start a new, empty store")


def _migrate_v1_scalars(conn: sqlite3.Connection) -> None:
    """Schema 1 kept one row per scalar point: repack those rows into chunks."""
    from .scalar_chunks import INSERT_CHUNK, pack_rows
    rows = conn.execute("SELECT task_id, metric, variant, iteration, value, ts FROM scalars "
                        "ORDER BY rowid").fetchall()
    conn.execute("DROP INDEX IF EXISTS scalars_task")
    conn.execute("DROP TABLE scalars")
    conn.execute(table_statement("scalars"))
    conn.executemany(INSERT_CHUNK, pack_rows(tuple(r) for r in rows))


def _migrate_scalars_seq(conn: sqlite3.Connection) -> None:
    """Schema 2-3 ordered scalar chunks by SQLite's rowid: keep that order as the ``seq`` column."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(scalars)")]
    conn.execute("ALTER TABLE scalars RENAME TO scalars_before_seq")
    conn.execute("DROP INDEX IF EXISTS scalars_task")
    conn.execute(table_statement("scalars"))
    conn.execute(f"INSERT INTO scalars(seq, {', '.join(columns)}) SELECT rowid, {', '.join(columns)} "
                 "FROM scalars_before_seq")
    conn.execute("DROP TABLE scalars_before_seq")


def _params(params: Any) -> Any:
    return params if isinstance(params, dict) else tuple(params)
