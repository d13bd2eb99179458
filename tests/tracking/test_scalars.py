"""Scalars: exact counts, many writer processes at once, read-back variants and iterations."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest

from pipetrack import Task
from processes import script_env
from tracking_helpers import task_id_of

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

N_PROCS, N_SCALARS = 6, 3000


def test_exact_counts_and_read_back(run_script):
    proc = run_script("""
        from pipetrack import Task
        task = Task.init("scalars", "counts")
        print("TASK", task.id)
        logger = task.get_logger()
        for i in range(1000):
            logger.report_scalar("loss", "train", 1000 - i, i)
            logger.report_scalar("loss", "val", i * 0.5, i)
            if i % 10 == 0:
                logger.report_scalar("accuracy", "val", i / 1000, i)
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    everything = task.get_all_reported_scalars()
    assert set(everything) == {"loss", "accuracy"} and set(everything["loss"]) == {"train", "val"}
    train = everything["loss"]["train"]
    assert train["x"] == list(range(1000)) and train["y"] == [float(1000 - i) for i in range(1000)]
    assert len(everything["accuracy"]["val"]["y"]) == 100
    assert task.get_last_iteration() == 999
    last = task.get_last_scalar_metrics()
    assert last["loss"]["train"] == {"last": 1.0, "min": 1.0, "max": 1000.0}
    assert last["loss"]["val"] == {"last": 499.5, "min": 0.0, "max": 499.5}
    assert last["accuracy"]["val"]["last"] == pytest.approx(0.99)


def _writer(task_line: str, index: int) -> str:
    return textwrap.dedent(f"""
        import sys
        from pipetrack import Task
        {task_line}
        logger = task.get_logger()
        for i in range({N_SCALARS}):
            logger.report_scalar("metric", "proc{index}", float(i), i)
            if i % 100 == 99:
                logger.flush()   # many small write transactions from all processes at once
        print("TASK", task.id)
    """)


def _run_all(scripts: list[str], tmp_path, home) -> list[str]:
    env = script_env(home)
    procs = []
    for i, code in enumerate(scripts):
        path = tmp_path / f"writer{i}.py"
        path.write_text(code)
        procs.append(subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


@pytest.mark.slow
def test_six_processes_six_tasks_none_lost(tmp_path, pipetrack_home):
    scripts = [_writer(f"task = Task.init('scalars', 'writer{i}')", i) for i in range(N_PROCS)]
    outs = _run_all(scripts, tmp_path, pipetrack_home)
    ids = {task_id_of(out) for out in outs}
    assert len(ids) == N_PROCS
    for task_id in ids:
        task = Task.get_task(task_id)
        assert task.get_status() == "completed"
        (series,) = task.get_all_reported_scalars()["metric"].values()
        assert series["x"] == list(range(N_SCALARS)) and series["y"] == [float(i) for i in range(N_SCALARS)]


@pytest.mark.slow
def test_six_processes_into_one_task_none_lost(tmp_path, pipetrack_home):
    shared = Task.create("scalars", "shared")
    line = f"task = Task.get_task({shared.id!r})"
    _run_all([_writer(line, i) for i in range(N_PROCS)], tmp_path, pipetrack_home)
    graphs = shared.get_all_reported_scalars()["metric"]
    assert sorted(graphs) == [f"proc{i}" for i in range(N_PROCS)]
    for series in graphs.values():
        assert series["x"] == list(range(N_SCALARS))
        assert series["y"] == [float(i) for i in range(N_SCALARS)]
    assert shared.get_last_iteration() == N_SCALARS - 1


def test_downsampling_and_x_axes():
    task = Task.init("scalars", "downsample")
    logger = task.get_logger()
    for i in range(12_000):
        logger.report_scalar("curve", "a", float(i), i)
    logger.report_scalar("single", "b", 7.0, 3)

    default = task.get_reported_scalars()
    assert len(default["curve"]["a"]["y"]) == 5000, "at most 5000 samples by default"
    assert len(task.get_reported_scalars(max_samples=100_000)["curve"]["a"]["y"]) == 5000
    small = task.get_reported_scalars(max_samples=100)["curve"]["a"]
    assert len(small["x"]) == len(small["y"]) == 100
    assert small["y"][0] == pytest.approx(sum(range(120)) / 120), "a window's values are averaged"
    assert small["x"][0] == pytest.approx(59.5)
    assert task.get_reported_scalars(max_samples=100)["single"]["b"] == {"x": [3], "y": [7.0]}
    assert len(task.get_all_reported_scalars()["curve"]["a"]["y"]) == 12_000

    stamps = task.get_all_reported_scalars(x_axis="timestamp")["single"]["b"]["x"]
    assert isinstance(stamps[0], int) and abs(stamps[0] / 1000 - datetime.now().timestamp()) < 600
    iso = task.get_all_reported_scalars(x_axis="iso_time")["single"]["b"]["x"][0]
    assert abs(datetime.fromisoformat(iso).timestamp() - stamps[0] / 1000) < 0.01
    assert len(task.get_reported_scalars(max_samples=10, x_axis="iso_time")["curve"]["a"]["x"]) == 10
    with pytest.raises(ValueError, match="x_axis"):
        task.get_reported_scalars(x_axis="epoch")
    with pytest.raises(ValueError, match="max_samples"):
        task.get_reported_scalars(max_samples=-1)


def test_out_of_order_nan_and_last_value():
    task = Task.init("scalars", "order")
    logger = task.get_logger()
    logger.report_scalar("m", "s", float("nan"), 0)
    for it in (5, 1, 3):
        logger.report_scalar("m", "s", float(it * 10), it)
    logger.flush()
    logger.report_scalar("m", "s", 99.0, 5)   # same top iteration, later report: it is "last"
    logger.report_scalar("m", "s", -1.0, 2)
    graph = task.get_all_reported_scalars()["m"]["s"]
    assert graph["x"] == [0, 1, 2, 3, 5, 5]
    assert graph["y"][1:] == [10.0, -1.0, 30.0, 50.0, 99.0] and math.isnan(graph["y"][0])
    assert task.get_last_scalar_metrics()["m"]["s"] == {"last": 99.0, "min": -1.0, "max": 99.0}
    assert task.get_last_iteration() == 5


def test_initial_iteration_offset():
    task = Task.init("scalars", "offset")
    assert task.get_initial_iteration() == 0
    task.set_initial_iteration(100)
    assert task.get_initial_iteration() == 100
    task.get_logger().report_scalar("loss", "t", 1.0, 0)
    task.get_logger().report_scalar("loss", "t", 2.0, 1)
    assert task.get_all_reported_scalars()["loss"]["t"]["x"] == [100, 101]
    assert task.get_last_iteration() == 101
    with pytest.raises(ValueError):
        task.set_initial_iteration("5")


def test_continue_last_task_continues_iterations(run_script):
    script = """
        from pipetrack import Task
        task = Task.init("scalars", "resume", continue_last_task={cont})
        print("TASK", task.id)
        for i in range(10):
            task.get_logger().report_scalar("loss", "train", float(i), i)
    """
    first = task_id_of(run_script(script.format(cont=False)).stdout)
    second = task_id_of(run_script(script.format(cont=True)).stdout)
    third = task_id_of(run_script(script.format(cont=repr(first))).stdout)
    assert first == second == third
    task = Task.get_task(first)
    xs = task.get_all_reported_scalars()["loss"]["train"]["x"]
    assert xs == list(range(30))
    assert task.get_last_iteration() == 29 and task.get_status() == "completed"


def test_records_bundle_round_trip_is_json_and_keeps_points(tmp_path):
    import json as json_module
    from pipetrack.tracking.records import export_records, import_records
    from pipetrack.store.sqlite import SqliteStore
    task = Task.init("scalars", "bundle", auto_connect_streams=False)
    for i in range(50):
        task.get_logger().report_scalar("loss", "train", float(i), i)
    task.get_logger().report_scalar("acc", "val", 0.5, 7)
    task.close()
    bundle = json_module.loads(json_module.dumps(export_records(task._store, task.id)))
    other = SqliteStore(tmp_path / "other.db")
    import_records(other, bundle, iteration_offset=10)
    copy = Task._from_row(other, other.task_row(task.id))
    assert copy.get_all_reported_scalars()["loss"]["train"]["x"] == list(range(10, 60))
    assert copy.get_last_scalar_metrics()["acc"]["val"]["last"] == 0.5
    # bundles with one dict per point (the first bundle layout) still import
    bundle["scalars"] = [{"metric": "old", "variant": "v", "iteration": i, "value": i * 2.0, "ts": 1.0}
                         for i in range(3)]
    import_records(other, bundle, target_id="f" * 32)
    legacy = Task._from_row(other, other.task_row("f" * 32))
    assert legacy.get_all_reported_scalars()["old"]["v"] == {"x": [0, 1, 2], "y": [0.0, 2.0, 4.0]}


def test_schema_1_store_is_migrated(tmp_path):
    """A store written by schema 1 (one row per scalar point) is repacked when opened."""
    import sqlite3
    from pipetrack.store.sqlite import SqliteStore
    path = tmp_path / "v1.db"
    SqliteStore(path).conn  # creates the current schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("""
        DROP TABLE scalars;
        CREATE TABLE scalars (task_id TEXT NOT NULL, metric TEXT NOT NULL, variant TEXT NOT NULL,
                              iteration INTEGER NOT NULL, value REAL, ts REAL);
        INSERT INTO scalars VALUES ('t1', 'loss', 'train', 0, 3.0, 1.0), ('t1', 'loss', 'train', 1, 2.0, 2.0),
                                   ('t1', 'acc', 'val', 0, 0.5, 1.0);
        PRAGMA user_version=1;
    """)
    conn.close()
    from pipetrack.tracking.scalars import all_scalars
    store = SqliteStore(path)
    assert all_scalars(store, "t1") == {"loss": {"train": {"x": [0, 1], "y": [3.0, 2.0]}},
                                        "acc": {"val": {"x": [0], "y": [0.5]}}}
    assert store.last_scalar_metrics("t1")["loss"]["train"] == {"last": 2.0, "min": 2.0, "max": 3.0}
    from pipetrack.store.sqlite import SCHEMA_VERSION
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"tasks_created", "tasks_started"} <= indexes  # schema 3's indexes added by the same upgrade
    assert "seq" in {r[1] for r in store.conn.execute("PRAGMA table_info(scalars)")}  # schema 4
