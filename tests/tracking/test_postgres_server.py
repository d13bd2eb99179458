"""The PostgreSQL test server itself (tests/postgres_server.py and the postgres_* fixtures of
tests/conftest.py): a real server on 127.0.0.1, fresh isolated databases, cleaned up after."""
from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres
if os.environ.get("PIPETRACK_REQUIRE_POSTGRES") == "1":
    import psycopg  # CI: a missing driver is an error, not a skip
else:
    psycopg = pytest.importorskip("psycopg")


def _user_tables(conn) -> list[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                        "'information_schema') ORDER BY tablename").fetchall()
    return [row[0] for row in rows]


def test_url_connects_to_a_real_server(postgres_url, postgres_server):
    assert postgres_url == f"postgresql://pipetrack@127.0.0.1:{postgres_server.port}/pipetrack"
    with psycopg.connect(postgres_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 100000
        assert conn.execute("SELECT current_database(), current_user").fetchone() == ("pipetrack", "pipetrack")
        assert conn.execute("SHOW fsync").fetchone()[0] == "off"


def test_create_insert_select(postgres_database):
    with psycopg.connect(postgres_database) as conn:
        conn.execute("CREATE TABLE tasks (id text PRIMARY KEY, name text NOT NULL, data jsonb)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO tasks VALUES (%s, %s, %s)",
                            [(f"t{i}", f"task {i}", psycopg.types.json.Jsonb({"i": i})) for i in range(5)])
    with psycopg.connect(postgres_database) as conn:  # committed by the first connection's exit
        rows = conn.execute("SELECT id, name, data FROM tasks ORDER BY id").fetchall()
    assert rows == [(f"t{i}", f"task {i}", {"i": i}) for i in range(5)]


def test_two_connections_see_each_others_commits(postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as setup:
        setup.execute("CREATE TABLE events (n int)")
    with psycopg.connect(postgres_database) as a, psycopg.connect(postgres_database) as b:
        a.execute("INSERT INTO events VALUES (1)")
        assert b.execute("SELECT count(*) FROM events").fetchone()[0] == 0  # not committed yet
        b.rollback()
        a.commit()
        assert b.execute("SELECT n FROM events").fetchall() == [(1,)]
        b.rollback()
        b.execute("INSERT INTO events VALUES (2)")
        b.commit()
        assert a.execute("SELECT n FROM events ORDER BY n").fetchall() == [(1,), (2,)]


def test_concurrent_writers(postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as setup:
        setup.execute("CREATE TABLE counter (id int PRIMARY KEY, n int)")
        setup.execute("INSERT INTO counter VALUES (1, 0)")
    errors: list[BaseException] = []

    def bump():
        try:
            with psycopg.connect(postgres_database) as conn:
                for _ in range(50):
                    with conn.transaction():
                        conn.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
        except BaseException as exc:  # noqa: BLE001  (reported by the assert below)
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    with psycopg.connect(postgres_database) as conn:
        assert conn.execute("SELECT n FROM counter").fetchone()[0] == 8 * 50


def test_each_database_is_fresh_and_isolated(postgres_database, postgres_database_factory, postgres_url):
    other = postgres_database_factory()
    assert len({postgres_database, other, postgres_url}) == 3
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        assert _user_tables(conn) == []
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(other) as conn:
        assert _user_tables(conn) == []
    with psycopg.connect(postgres_url) as conn:
        assert "only_here" not in _user_tables(conn)


def test_drop_database_ends_leftover_connections(postgres_server):
    url = postgres_server.create_database("dropme")
    name = url.rsplit("/", 1)[-1]
    leftover = psycopg.connect(url)  # a test that forgot to close its connection
    try:
        postgres_server.drop_database(url)
    finally:
        leftover.close()
    with psycopg.connect(postgres_server.url_for("postgres")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0


def _listening_addresses(port: int) -> list[str]:
    """The local addresses of the listening TCP sockets on ``port`` (from /proc/net/tcp{,6})."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def _refused(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect((host, port))
    except OSError:
        return True
    return False


def test_listens_only_on_loopback_127_0_0_1(postgres_server, postgres_url):
    port = postgres_server.port
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert str(conn.execute("SELECT inet_server_addr()").fetchone()[0]) == "127.0.0.1"
    if Path("/proc/net/tcp").exists():
        assert _listening_addresses(port) == ["0100007F"]  # 127.0.0.1, and nothing on IPv6
    assert _refused("127.0.0.2", port)  # the rest of 127/8 is loopback too, but not bound
    if socket.has_ipv6:
        assert _refused("::1", port)
    host_addresses = set()
    try:
        host_addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    for address in host_addresses - {"127.0.0.1"}:
        assert _refused(address, port), address


def test_server_runs_unprivileged_in_its_own_folder(postgres_server):
    root = postgres_server.root
    assert root is not None and (root / "data" / "PG_VERSION").is_file()
    assert (root / f".s.PGSQL.{postgres_server.port}").exists()  # the Unix socket stays in its folder
    with psycopg.connect(postgres_server.url) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    assert Path(data_dir) == root / "data"
    owner = root.stat().st_uid
    assert owner != 0
    if os.geteuid() == 0:
        import pwd
        assert pwd.getpwuid(owner).pw_name == "pipetrack-pg"


def test_a_second_server_starts_and_stops_cleanly(postgres_server):
    from postgres_server import PostgresServer
    with PostgresServer(database="second") as second:
        assert second.port != postgres_server.port
        root, port = second.root, second.port
        with psycopg.connect(second.url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == "second"
    assert not root.exists()
    assert _refused("127.0.0.1", port)
    with psycopg.connect(postgres_server.url) as conn:  # the session's server is unaffected
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_a_server_that_cannot_start_reports_its_log(postgres_server, monkeypatch):
    from postgres_server import PostgresServer
    server = PostgresServer(timeout=20)
    original = server._write_config

    def broken_config():
        original()
        with open(server.data_dir / "postgresql.auto.conf", "a") as conf:
            conf.write("shared_buffers = 'not a size'\n")

    monkeypatch.setattr(server, "_write_config", broken_config)
    with pytest.raises(RuntimeError, match="did not start") as info:
        server.start()
    assert "shared_buffers" in str(info.value)  # the server log's tail is in the message
    assert server.root is None  # its folder is gone
