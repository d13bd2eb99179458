"""Store robustness: a full disk, a damaged or missing database file, sqlite3 errors as StoreError.

Everything runs against real stores in the test's PIPETRACK_HOME (real SQLite files, real
subprocesses); nothing of pipetrack or sqlite3 is mocked.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipetrack import Task
from pipetrack.errors import StoreError
from pipetrack.store.sqlite import SqliteStore
from processes import script_env


def _task(name: str) -> Task:
    return Task.init("robust", name, auto_connect_streams=False, auto_resource_monitoring=False,
                     auto_connect_frameworks=False, auto_connect_arg_parser=False)


# --------------------------------------------------------------------------- disk full
def _fill_store(task: Task, spare_pages: int) -> None:
    """Cap this thread's connection at the store's current size plus ``spare_pages`` (SQLite's
    own SQLITE_FULL, "database or disk is full") and make every report flush from this thread
    (the background flusher has its own connection)."""
    task._reports.stop()
    conn = task._store.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + spare_pages}")


def _report_more_than_fits(task: Task) -> None:
    logger = task.get_logger()
    for i in range(50_000):
        logger.report_scalar("loss", f"s{i % 50}", float(i), i)


def test_disk_full_surfaces_the_real_error_and_close_marks_the_task_failed(pipetrack_home):
    other = Task.create(project_name="robust", task_name="intact")
    other.set_parameter("Args/lr", 0.1)
    task = _task("disk-full")
    _fill_store(task, spare_pages=4)  # room for a status change, not for 50,000 scalars
    _report_more_than_fits(task)
    try:
        _disk_full_checks(task, other, pipetrack_home)
    finally:
        task._reports.scalars.clear()  # rows that can't be stored: don't retry them in later tests


def _disk_full_checks(task: Task, other: Task, pipetrack_home) -> None:
    with pytest.raises(StoreError) as info:
        task.get_logger().flush()
    message = str(info.value)
    assert "database or disk is full" in message and str(pipetrack_home / "pipetrack.db") in message
    assert "no transaction is active" not in message
    assert len(task._reports.scalars) == 50_000, "a failed flush keeps every row for the next one"
    # the connection is still usable: this process reads other tasks, and the failed task itself
    assert Task.get_task(task_id=other.id).get_parameter("Args/lr") == "0.1"
    assert Task.get_task(task_id=task.id).get_status() == "in_progress"
    with pytest.raises(StoreError, match="database or disk is full"):
        task.close()
    assert task._closed and Task._main_task is None
    status, message = Task.get_task(task_id=task.id).get_status_message()
    assert status == "failed" and "database or disk is full" in message
    assert "database or disk is full" in Task.get_task(task_id=task.id).data["status_reason"]
    assert Task.get_task(task_id=other.id).get_parameter("Args/lr") == "0.1"


def test_close_on_a_store_with_no_room_at_all_still_stops_tracking(pipetrack_home):
    other = Task.create(project_name="robust", task_name="intact")
    task = _task("no-room")
    _fill_store(task, spare_pages=0)
    _report_more_than_fits(task)
    try:
        with pytest.raises(StoreError, match="database or disk is full"):
            task.close()
        assert task._closed and Task._main_task is None
        assert Task.get_task(task_id=other.id).name == "intact"
        # failed if the status change still fitted in a page's free space; else in_progress, for the
        # watchdog to end once this process is gone
        status, message = Task.get_task(task_id=task.id).get_status_message()
        assert status == "in_progress" or (status == "failed" and "database or disk is full" in message)
    finally:
        task._reports.scalars.clear()  # rows that can't be stored: don't retry them in later tests


def test_a_failed_write_transaction_leaves_the_store_usable(tmp_path):
    """SQLITE_FULL may roll the transaction back itself: the real error is raised (not "cannot
    rollback - no transaction is active") and the connection keeps working."""
    store = SqliteStore(tmp_path / "store.db")
    task_id = Task.create(project_name="robust", task_name="before").id  # in the default store
    store.execute("CREATE TABLE big (x BLOB)")
    conn = store.conn
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StoreError, match="database or disk is full") as info:
        with store.write() as c:
            c.execute("INSERT INTO big VALUES (zeroblob(1000000))")
    assert str(tmp_path / "store.db") in str(info.value)
    assert not store.conn.in_transaction
    assert store.query("SELECT COUNT(*) AS n FROM big") == [{"n": 0}]
    store.execute("INSERT INTO projects(id, name, created) VALUES ('p', 'still writable', 0)")
    assert store.query_one("SELECT name FROM projects WHERE id='p'") == {"name": "still writable"}
    assert Task.get_task(task_id=task_id).name == "before"


# --------------------------------------------------------------------------- damaged, missing and new store files
def _open_default_store_in_subprocess(home) -> subprocess.CompletedProcess:
    code = ("from pipetrack import Task\n"
            "print([t.id for t in Task.get_tasks(project_name='robust')])\n")
    return subprocess.run([sys.executable, "-c", code], env=script_env(home), capture_output=True, text=True,
                          timeout=120)


def _make_store_with_a_task(home) -> str:
    proc = _open_default_store_in_subprocess(home)  # creates the store
    assert proc.returncode == 0, proc.stderr
    code = ("from pipetrack import Task\n"
            "t = Task.create(project_name='robust', task_name='kept')\n"
            "t.set_parameters({f'Args/p{i}': 'x' * 200 for i in range(2000)})\n"
            "print(t.id)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=script_env(home), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


@pytest.mark.parametrize("damage", ["zero-bytes", "random-bytes", "text-file", "truncated"])
def test_a_damaged_store_file_is_refused_with_a_store_error(pipetrack_home, damage):
    db = pipetrack_home / "pipetrack.db"
    _make_store_with_a_task(pipetrack_home)
    size = db.stat().st_size
    if damage == "zero-bytes":
        db.write_bytes(b"")
    elif damage == "random-bytes":
        db.write_bytes(os.urandom(size))
    elif damage == "text-file":
        db.write_text("these are my notes, not a database\n" * 100)
    else:
        with open(db, "r+b") as fh:
            fh.truncate(size // 2)
    before = db.read_bytes()
    proc = _open_default_store_in_subprocess(pipetrack_home)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("pipetrack.errors.StoreError"), proc.stderr
    assert str(db) in last and "backup" in last and "move it aside" in last
    assert db.read_bytes() == before, "a damaged store must be left exactly as it was"
    with pytest.raises(StoreError, match="backup"):
        Task.get_tasks(project_name="robust")


def test_a_missing_store_is_created_and_sqlite_errors_of_primitives_are_store_errors(tmp_path):
    store = SqliteStore(tmp_path / "new" / "store.db")
    assert store.query("SELECT COUNT(*) AS n FROM tasks") == [{"n": 0}]
    with pytest.raises(StoreError) as info:
        store.query("SELECT nope FROM tasks")
    assert str(tmp_path / "new" / "store.db") in str(info.value) and "no such column: nope" in str(info.value)
    with pytest.raises(StoreError, match="no such table"):
        store.execute("UPDATE missing SET x=1")
    with pytest.raises(StoreError, match="UNIQUE constraint"):
        with store.write() as conn:
            conn.execute("INSERT INTO queues VALUES ('q', '1', 0)")
            conn.execute("INSERT INTO queues VALUES ('q', '2', 0)")
    assert store.query("SELECT COUNT(*) AS n FROM queues") == [{"n": 0}]  # rolled back as a whole


def test_processes_creating_a_new_store_at_once_all_use_one_complete_store(pipetrack_home):
    """A missing store is new; several processes creating it together never see a zero-byte file."""
    code = ("import sys\n"
            "from pipetrack import Task\n"
            "t = Task.create(project_name='robust', task_name='racer' + sys.argv[1])\n"
            "print(t.id)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], env=script_env(pipetrack_home),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outputs]
    ids = {out.split()[-1] for out, _ in outputs}
    assert {t.id for t in Task.get_tasks(project_name="robust")} == ids and len(ids) == 8
    assert sorted(p.name for p in pipetrack_home.iterdir() if p.name.startswith(".pipetrack.db")) == []
