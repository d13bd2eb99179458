"""The task-store backends the benchmarks compare (a helper, not a benchmark).

``--backends sqlite,postgresql`` (default both) picks the columns; ``--postgres URL`` names an
existing PostgreSQL server to use. Without it, a throwaway server is started for the run by
``tests/postgres_server.py`` (imported by its path: the tests folder is not a package), which
needs Debian's PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``; ``apt-get
install postgresql`` or scripts/_postgres.sh) and psycopg; when they are missing the benchmark
stops with a message saying so.

Every PostgreSQL measurement gets a fresh, empty database (``CREATE DATABASE`` on the server,
dropped at the end); with ``--postgres`` a server that does not let us create one is used as the
URL names it (it should then be empty). A SQLite measurement gets the default store of a fresh
``PIPETRACK_HOME`` (``PIPETRACK_STORE`` removed from the environment).
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import statistics
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backends", default=",".join(BACKENDS), type=parse_backends,
                        help="comma-separated task-store backends to measure (default: sqlite,postgresql)")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="an existing PostgreSQL server (postgresql://user@host:port/db); without it a "
                             "throwaway server is started via tests/postgres_server.py")


def parse_backends(text: str) -> list[str]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    names = ["postgresql" if name in ("postgres", "pg") else name for name in names]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown backend(s) {unknown or text!r}: choose from {', '.join(BACKENDS)}")
    return list(dict.fromkeys(names))


@functools.lru_cache(maxsize=None)
def tests_module(name: str):
    """A helper module of the test suite (``tests/<name>.py``), imported by its path: the tests
    folder is not a package, and the benchmarks use the same throwaway server and waits."""
    path = ROOT / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_pipetrack_tests_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Stores:
    """The backends of one benchmark run (a context manager): ``location(backend)`` is a new
    store's location (None for SQLite: the default store of the PIPETRACK_HOME you give it),
    ``env(backend, location, home)`` the environment a process needs to use it."""

    def __init__(self, backends: Sequence[str], postgres_url: str | None = None):
        self.backends = list(backends)
        self.postgres_url = postgres_url
        self._server = None
        self._admin_url: str | None = None  # where CREATE DATABASE is run
        self._created: list[str] = []
        self._stack = ExitStack()

    def __enter__(self) -> "Stores":
        if "postgresql" in self.backends:
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise SystemExit("the postgresql backend needs psycopg (pip install 'pipetrack[postgres]'); "
                                 "or run with --backends sqlite") from None
            if self.postgres_url:
                self._admin_url = self.postgres_url
            else:
                module = tests_module("postgres_server")
                try:
                    server = module.PostgresServer()
                except FileNotFoundError as exc:
                    raise SystemExit(f"cannot start a throwaway PostgreSQL server: {exc}.\n"
                                     f"Install the server (apt-get install postgresql, or scripts/_postgres.sh), "
                                     f"pass --postgres URL of an existing server, or run with --backends sqlite"
                                     ) from None
                self._server = self._stack.enter_context(server)
                print(f"(throwaway PostgreSQL server {self._server.bin_dir} on 127.0.0.1:{self._server.port}, "
                      f"started in {self._server.startup_seconds:.1f} s)", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc) -> None:
        if "pipetrack.store" in sys.modules:  # our own connections go first (drop_database ends any left)
            sys.modules["pipetrack.store"].forget_open_stores()
        for url in self._created:
            try:
                self._drop(url)
            except Exception as exc:  # a connection still open elsewhere: the server goes anyway
                print(f"(could not drop {url}: {exc})", file=sys.stderr)
        self._stack.close()

    def location(self, backend: str, prefix: str = "bench") -> str | None:
        """A fresh, empty store for ``backend``: None for SQLite (a fresh PIPETRACK_HOME is one),
        a new database's URL for PostgreSQL."""
        if backend == "sqlite":
            return None
        if self._server is not None:
            url = self._server.create_database(prefix)
            self._created.append(url)
            return url
        return self._create_on(self.postgres_url, prefix)

    def _create_on(self, url: str, prefix: str) -> str:
        import psycopg
        from urllib.parse import urlsplit, urlunsplit
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            print(f"(cannot create a database on the --postgres server ({exc.__class__.__name__}); using its "
                  f"database as given: it should be empty)", file=sys.stderr)
            return url
        parts = urlsplit(url)
        fresh = urlunsplit(parts._replace(path=f"/{name}"))
        self._created.append(fresh)
        return fresh

    def _drop(self, url: str) -> None:
        if self._server is not None:
            self._server.drop_database(url)
            return
        import psycopg
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        with psycopg.connect(self.postgres_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                         "AND pid <> pg_backend_pid()", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def env(location: str | None, home: str | os.PathLike, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment using the store at ``location`` (None: SQLite under ``home``)."""
    result = {**(os.environ if base is None else base), "PIPETRACK_HOME": str(home)}
    if location is None:
        result.pop("PIPETRACK_STORE", None)
    else:
        result["PIPETRACK_STORE"] = location
    return result


def use_here(location: str | None, home: str | os.PathLike) -> None:
    """Make this process's ``default_store()`` the store at ``location`` (None: SQLite under ``home``)."""
    os.environ["PIPETRACK_HOME"] = str(home)
    if location is None:
        os.environ.pop("PIPETRACK_STORE", None)
    else:
        os.environ["PIPETRACK_STORE"] = location


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def print_table(title: str, rows: Sequence[tuple], backends: Sequence[str], unit: str = "",
                fmt: Callable[[float], str] = lambda v: f"{v:.1f}") -> None:
    """One row per figure (``(label, {backend: value})``, or ``(label, values, fmt)`` to format that
    row its own way), one column per backend, and postgresql/sqlite when both were measured."""
    both = "sqlite" in backends and "postgresql" in backends
    width = max([len(row[0]) for row in rows] + [len(title), 10])
    header = f"{title:{width}}" + "".join(f" {name + (' ' + unit if unit else ''):>14}" for name in backends)
    print(header + (f" {'pg/sqlite':>10}" if both else ""))
    for label, values, *own in rows:
        show = own[0] if own else fmt
        line = f"{label:{width}}" + "".join(f" {show(values[name]) if name in values else '-':>14}"
                                              for name in backends)
        if both and values.get("sqlite") and "postgresql" in values:
            line += f" {values['postgresql'] / values['sqlite']:9.2f}x"
        print(line)
