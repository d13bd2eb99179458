"""A throwaway PostgreSQL server on 127.0.0.1 for tests.

Used by the session-scoped ``postgres_server`` fixture of tests/conftest.py (one server for all
test folders). ``initdb`` makes a cluster in a fresh temporary folder, ``pg_ctl`` starts it on a
free loopback port (TCP on 127.0.0.1 only, its Unix socket inside that folder), and stopping it
removes the folder. Durability is off (fsync, synchronous_commit, full_page_writes): the data is
thrown away anyway. Connections from 127.0.0.1 are trusted as the superuser ``pipetrack``.

initdb refuses to run as root, and the tests often run as root (containers, CI): then the server
runs as the system user ``pipetrack-pg``, created on first use, and owns the temporary folder.

The binaries come from Debian's ``postgresql`` package (scripts/_postgres.sh installs it), found
in /usr/lib/postgresql/<version>/bin (the newest version), else on PATH.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SERVER_USER = "pipetrack-pg"  # the OS user the server runs as when the tests run as root
SUPERUSER = "pipetrack"  # the database superuser the URLs connect as
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
REQUIRED = ("initdb", "pg_ctl", "postgres")


def _version_key(bin_dir: Path) -> tuple:
    """/usr/lib/postgresql/16/bin -> (16,); 9.6 -> (9, 6); unparsable names sort first."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: the newest /usr/lib/postgresql/<version>/bin,
    else the (symlink-resolved) folder of ``initdb`` on PATH; None when there is none."""
    import glob
    candidates = [Path(p) for p in glob.glob(DEBIAN_GLOB)]
    for bin_dir in sorted(candidates, key=_version_key, reverse=True):
        if all(os.access(bin_dir / name, os.X_OK) for name in REQUIRED):
            return bin_dir
    initdb = shutil.which("initdb")
    if initdb:
        bin_dir = Path(initdb).resolve().parent
        if all(os.access(bin_dir / name, os.X_OK) for name in REQUIRED):
            return bin_dir
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """The account to run the server as: None (this user) unless we are root; as root the system
    user SERVER_USER, created when missing."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run([useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
                           "--shell", "/usr/sbin/nologin", "--user-group", SERVER_USER],
                          capture_output=True, text=True)
    try:  # a concurrent test run may have created it first (useradd exits 9 then)
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise RuntimeError(f"initdb refuses to run as root, and creating the system user {SERVER_USER!r} failed "
                           f"({useradd} exited {proc.returncode}): {proc.stderr.strip()}") from None


def _temp_base(user: pwd.struct_passwd | None) -> str:
    """The temporary folder to create the server's folder in: one the server user can reach
    (with the socket path short enough for a Unix socket's 107 bytes)."""
    base = tempfile.gettempdir()
    if user is None:
        return base
    path = Path(base).resolve()
    reachable = all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))
    return base if reachable and len(str(path)) < 60 else "/tmp"


class PostgresServer:
    """A PostgreSQL server in a temporary folder; a context manager (``with PostgresServer() as
    server: server.url``). ``url`` points at the database ``pipetrack``; ``url_for(name)`` at any
    other, ``create_database()`` / ``drop_database()`` make and remove fresh ones."""

    def __init__(self, bin_dir: Path | None = None, timeout: float = 60.0, database: str = "pipetrack"):
        self.bin_dir = Path(bin_dir) if bin_dir else find_bin_dir()
        if self.bin_dir is None:
            raise FileNotFoundError(f"no PostgreSQL server binaries ({', '.join(REQUIRED)}) in {DEBIAN_GLOB} "
                                    f"or on PATH (apt-get install postgresql)")
        self.timeout = timeout
        self.database = database
        self.user = _server_user()
        self.root: Path | None = None
        self.port: int | None = None
        self.startup_seconds: float | None = None

    # -- paths and URLs --------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    # -- running the binaries --------------------------------------------------------------
    def _run(self, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run a PostgreSQL binary as the server user; its output goes to a file, not a pipe (the
        postmaster pg_ctl forks must not hold our pipe open)."""
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        for var in ("PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGOPTIONS"):
            env.pop(var, None)
        kwargs = {}
        if self.user is not None:
            kwargs = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
            env["HOME"] = str(self.root)
            env["USER"] = env["LOGNAME"] = self.user.pw_name
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, env=env,
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout or self.timeout, **kwargs)
            out.seek(0)
            proc.stdout = out.read().decode(errors="replace")
        return proc

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no server log: {exc})"

    def _fail(self, what: str, proc: subprocess.CompletedProcess | None = None) -> RuntimeError:
        output = f"\n--- {proc.args[0]} output ---\n{proc.stdout.strip()}" if proc is not None else ""
        return RuntimeError(f"PostgreSQL ({self.bin_dir}) {what}{output}\n--- server log ({self.log_file}) ---\n"
                            f"{self.log_tail()}")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "PostgresServer":
        started = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="pipetrack-pg-", dir=_temp_base(self.user)))
        try:
            if self.user is not None:
                os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
            self._initdb()
            for attempt in range(3):  # the free port can be taken before the server binds it
                self.port = free_port()
                self._write_config()
                proc = self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                                 "-w", "-t", str(int(self.timeout)), timeout=self.timeout + 10)
                if proc.returncode == 0:
                    break
                if "could not bind" not in self.log_tail() or attempt == 2:
                    raise self._fail(f"did not start (pg_ctl start exited {proc.returncode})", proc)
            self._wait_for_connections(started + self.timeout)
            self._execute("postgres", f'CREATE DATABASE "{self.database}"')
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _initdb(self) -> None:
        proc = self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                         "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
        if proc.returncode != 0:
            raise self._fail(f"initdb exited {proc.returncode}", proc)

    def _write_config(self) -> None:
        """Loopback TCP only, the socket in our folder, no durability; only 127.0.0.1 and the
        socket are let in (trusted)."""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        conf = self.data_dir / "postgresql.auto.conf"  # read last: overrides postgresql.conf
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        if self.user is not None:
            for path in (conf, hba):
                os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _wait_for_connections(self, deadline: float) -> None:
        import psycopg
        error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url_for("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                error = exc
                time.sleep(0.05)
        raise self._fail(f"on 127.0.0.1:{self.port} accepted no connection within {self.timeout:.0f}s: {error}")

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the server (immediate shutdown: the data is thrown away) and remove its folder."""
        if self.root is None:
            return
        pid = self._postmaster_pid()
        if pid is not None:
            try:
                proc = self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "30",
                                 timeout=40)
                stopped = proc.returncode == 0
            except subprocess.TimeoutExpired:
                stopped = False
            if not stopped:  # the postmaster is ours: SIGQUIT is its immediate shutdown, then SIGKILL
                for sig in (signal.SIGQUIT, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        break
                    time.sleep(1)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------
    def _execute(self, database: str, *statements: str) -> None:
        import psycopg
        with psycopg.connect(self.url_for(database), autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    def create_database(self, prefix: str = "test") -> str:
        """A fresh empty database with a unique name; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._execute("postgres", f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, url_or_name: str) -> None:
        """Drop a database, ending any connection a test left open to it. ``WITH (FORCE)``
        (PostgreSQL 13+) ends them and waits for their end: terminating them first and dropping
        after raced with a backend still exiting ("being accessed by other users")."""
        name = url_or_name.rsplit("/", 1)[-1]
        self._execute("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
