"""The Dask executor on LocalClusters of spawned worker processes: spawn-safety, who decides
concurrency, lost workers and retries, time limits, the shared-storage check, threads."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import remote_steps
from pipetrack import PipelineController, Task
from pipetrack.errors import StorageError
from pipetrack.executors.base import StepSpec
from pipetrack.executors.dask import DaskExecutor, run_step_on_worker
from remote_helpers import process_gone, run_python, wait_for

pytestmark = [pytest.mark.dask, pytest.mark.timeout(180)]


class SharedCluster(DaskExecutor):
    """A DaskExecutor on the session LocalCluster that leaves it running at shutdown."""

    def __init__(self, client):
        super().__init__(client=client)


def _node(pipe, name):
    return pipe.get_pipeline_dag()[name]


# --------------------------------------------------------------------------- spawn-safety
@pytest.mark.s3
def test_queue_mapped_to_dask_starts_spawned_cluster_after_s3_use(s3_server, monkeypatch):
    """The controller holds a live s3fs event loop before the LocalCluster starts: workers are
    spawned (never forked), use S3 themselves, and are gone once the pipeline ends."""
    from pipetrack.storage import read_bytes, upload_bytes
    bucket_url = f"s3://{s3_server['bucket']}/spawn-{time.time_ns()}"
    upload_bytes(b"warm", f"{bucket_url}/warm.txt")  # s3fs (and its asyncio loop thread) live here now
    assert read_bytes(f"{bucket_url}/warm.txt") == b"warm"
    monkeypatch.setenv("PIPETRACK_QUEUES", "big=dask")
    pipe = PipelineController(name="spawned", project="remote", output_uri=bucket_url)
    pipe.add_function_step("where", remote_steps.where_am_i, function_kwargs={"tag": "x"}, function_return=["info"],
                           execution_queue="big")
    pipe.add_function_step("array", remote_steps.make_array, function_kwargs={"n": 10}, function_return=["v"],
                           execution_queue="big")
    pipe.start_locally()
    assert pipe.is_successful(), [(n.name, n.error) for n in pipe.get_pipeline_dag().values()]
    info = Task.get_task(task_id=_node(pipe, "where").executed).artifacts["info"].get()
    assert "spawn_main" in info["cmdline"]  # multiprocessing spawn, not fork
    assert info["pid"] != os.getpid()
    array = Task.get_task(task_id=_node(pipe, "array").executed).artifacts["v"]
    assert array.url.startswith(bucket_url) and list(array.get()) == list(range(10))

    wait_for(lambda: process_gone(info["pid"]), timeout=30, what="the pipeline's LocalCluster workers to exit")


# --------------------------------------------------------------------------- concurrency
def test_step_concurrency_is_the_clusters(local_cluster, tmp_path):
    """Every ready step is handed to Dask at once; Dask runs as many as it has threads."""
    client = local_cluster["client"]
    markers = tmp_path / "m"
    markers.mkdir()
    pipe = PipelineController(name="concurrency", project="remote")
    for i in range(4):
        pipe.add_function_step(f"sleep{i}", remote_steps.sleep_and_report,
                               function_kwargs={"seconds": 1.0, "marker_dir": str(markers), "name": f"s{i}"},
                               function_return=["took"])
    seen: list[int] = []

    def watch():  # how many of our steps the Dask scheduler holds at once
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(seen) < 50:
            keys = client.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
            seen.append(sum(1 for k in keys if k.startswith("sleep")))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    pipe.start_locally(executor=SharedCluster(client))
    watcher.join(timeout=30)
    assert pipe.is_successful()
    spans = [(float((markers / f"s{i}.start").read_text()), float((markers / f"s{i}.end").read_text()))
             for i in range(4)]
    overlap = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert overlap == 2  # two single-thread workers: Dask's limit, not ours
    assert max(seen) == 4  # all four were submitted before the first finished


# --------------------------------------------------------------------------- lost workers
@pytest.mark.slow
def test_killed_worker_fails_step_then_retry_or_failure(tmp_path):
    """With allowed-failures=0 a killed worker fails the step at once (KilledWorker):
    retry_on_failure runs it again; without retries the step and pipeline fail. No hang."""
    import dask
    import distributed  # noqa: F401  (its config defaults must exist before we override one)
    markers = tmp_path / "m"
    markers.mkdir()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        executor = DaskExecutor(n_workers=2, threads_per_worker=1)
    killed: list[int] = []

    def run(name: str, retry: int):
        """Run a one-step pipeline whose first attempt gets SIGKILLed mid-step."""
        stop = threading.Event()

        def killer():
            path = markers / f"{name}.pid.0"
            while not stop.is_set():
                if path.exists():
                    killed.append(int(path.read_text()))
                    os.kill(killed[-1], signal.SIGKILL)
                    return
                time.sleep(0.02)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        pipe = PipelineController(name=f"killed-{name}", project="remote")
        pipe.add_function_step(name, remote_steps.killable, function_kwargs={
            "marker_dir": str(markers), "name": name, "die_times": 1}, function_return=["attempt"],
            retry_on_failure=retry)
        try:
            pipe.start_locally(executor=executor)
        finally:
            stop.set()
            thread.join(timeout=5)
        return pipe

    try:
        retried = run("flaky", retry=1)
        doomed = run("doomed", retry=0)
    finally:
        executor.shutdown()
    assert len(killed) == 2
    flaky = _node(retried, "flaky")
    assert flaky.status == "completed" and flaky.retries == 1, flaky.error
    assert Task.get_task(task_id=flaky.executed).artifacts["attempt"].get() == 1
    assert retried.task.get_status() == "completed"
    lost = _node(doomed, "doomed")
    assert lost.status == "failed" and "KilledWorker" in lost.error and "lost on the Dask cluster" in lost.error
    lost_task = Task.get_task(task_id=lost.executed)
    assert lost_task.get_status() == "failed" and "KilledWorker" in lost_task.get_status_message()[1]
    assert doomed.task.get_status() == "failed"


# --------------------------------------------------------------------------- time limits
def test_time_limit_stops_a_script_step_on_its_worker(local_cluster, write_script, tmp_path):
    """A script step over its time limit is reported stopped at once and its process on the
    worker is terminated (through a Dask event), not left running."""
    pid_file = tmp_path / "script.pid"
    script = write_script("sleeper.py", f"""
        import os, time
        from pipetrack import Task
        task = Task.init(project_name="remote-src", task_name="sleeper")
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        if not Task.running_locally():
            time.sleep(60)
    """)
    run_python(script)
    pid_file.unlink()
    base = Task.get_task(project_name="remote-src", task_name="sleeper")
    pipe = PipelineController(name="limited", project="remote")
    pipe.add_step("sleeper", base_task_id=base.id, time_limit=3)
    started = time.monotonic()
    pipe.start_locally(executor=SharedCluster(local_cluster["client"]))
    node = _node(pipe, "sleeper")
    assert node.status == "aborted" and "time limit" in node.error
    assert time.monotonic() - started < 30
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=10, what="pid file"))

    wait_for(lambda: process_gone(pid), timeout=30, what="the step's process on the worker to be terminated")
    assert Task.get_task(task_id=node.executed).get_status() == "stopped"


# --------------------------------------------------------------------------- shared storage
def test_refusal_happens_before_the_step_runs(local_cluster, tmp_path, monkeypatch):
    """Each worker is asked to see the controller's marker in the artifacts folder; here the
    marker is one no worker can see: the step fails naming the workers and never runs."""
    client = local_cluster["client"]
    executor = SharedCluster(client)
    real = list(client.scheduler_info()["workers"])
    monkeypatch.setattr(executor, "_marker", lambda folder: str(tmp_path / "no-such-marker"))
    markers = tmp_path / "m"
    markers.mkdir()
    pipe = PipelineController(name="refused", project="remote")
    pipe.add_function_step("never", remote_steps.sleep_and_report,
                           function_kwargs={"seconds": 0, "marker_dir": str(markers), "name": "never"},
                           function_return=["took"])
    pipe.start_locally(executor=executor)
    node = _node(pipe, "never")
    assert node.status == "failed" and "cannot see the folder" in node.error and "s3://" in node.error
    assert all(address in node.error for address in real)
    assert isinstance(node.exception, StorageError)
    assert not (markers / "never.start").exists()
    assert Task.get_task(task_id=node.executed).get_status() == "failed"


def test_shared_folder_seen_by_a_foreign_worker_is_accepted(local_cluster, tmp_path, monkeypatch):
    """Workers that see the folder (here: the same one; an NFS mount elsewhere) pass the probe."""
    client = local_cluster["client"]
    executor = SharedCluster(client)
    pipe = PipelineController(name="shared-folder", project="remote")
    pipe.add_function_step("array", remote_steps.make_array, function_kwargs={"n": 3}, function_return=["v"])
    pipe.start_locally(executor=executor)
    assert _node(pipe, "array").status == "completed", _node(pipe, "array").error
    executor.shutdown()  # the pipeline leaves an executor it was given running
    leftovers = [p for p in (tmp_path / "pipetrack-home" / "artifacts").iterdir() if p.name.startswith(".pipetrack")]
    assert leftovers == []  # the marker and the probes are removed


def test_worker_side_guard_refuses_a_folder_it_cannot_see(tmp_path):
    """Workers that join after the early check are covered on the worker itself."""
    task = Task.create(project_name="remote", task_name="guarded")
    from pipetrack.tracking.records import export_records
    spec = StepSpec(task_id=task.id, name="guarded", function=b"", task_bundle=export_records(task._store, task.id))
    result = run_step_on_worker(spec, (tmp_path / "out").as_uri(), guard=("controller.example", str(tmp_path / "no")))
    assert result.status == "failed" and "controller.example" in result.error and "s3://" in result.error


# --------------------------------------------------------------------------- threads
def test_two_steps_in_threads_of_one_worker_keep_their_own_task_and_console(tmp_path):
    markers = tmp_path / "m"
    markers.mkdir()
    executor = DaskExecutor(n_workers=1, threads_per_worker=2)
    pipe = PipelineController(name="threads", project="remote")
    for name, other in (("a", "b"), ("b", "a")):
        pipe.add_function_step(name, remote_steps.current_task_after_pause, function_kwargs={
            "marker_dir": str(markers), "name": name, "other": other}, function_return=["seen"])
    try:
        pipe.start_locally(executor=executor)
    finally:
        executor.shutdown()
    assert pipe.is_successful()
    tasks = {name: Task.get_task(task_id=_node(pipe, name).executed) for name in ("a", "b")}
    seen = {name: task.artifacts["seen"].get() for name, task in tasks.items()}
    assert seen["a"]["pid"] == seen["b"]["pid"]  # one worker process, two threads
    consoles = {name: "\n".join(task.get_reported_console_output(100)) for name, task in tasks.items()}
    problems = []
    for name, other in (("a", "b"), ("b", "a")):
        if seen[name]["after"] != tasks[name].id:
            problems.append(f"step {name}: Task.current_task() named step {other}'s task")
        if f"console line of {other}" in consoles[name]:
            problems.append(f"step {name}'s console holds step {other}'s line")
    assert not problems, problems


def test_a_step_dask_runs_again_after_losing_its_worker_shows_both_attempts(tmp_path):
    """A worker killed mid-step: Dask runs the step again on another worker (allowed-failures=1)
    and the step task records both runs — which worker, start, end, why the first one ended."""
    import dask
    import distributed  # noqa: F401  (its config defaults must exist before we override one)
    markers = tmp_path / "m"
    markers.mkdir()
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        executor = DaskExecutor(n_workers=2, threads_per_worker=1)
    try:
        stop = threading.Event()
        killed: list[int] = []

        def killer():
            path = markers / "twice.pid.0"
            while not stop.is_set():
                if path.exists():
                    killed.append(int(path.read_text()))
                    time.sleep(0.5)  # the worker has announced this run by now
                    os.kill(killed[-1], signal.SIGKILL)
                    return
                time.sleep(0.02)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        pipe = PipelineController(name="attempts", project="remote")
        pipe.add_function_step("twice", remote_steps.killable, function_kwargs={
            "marker_dir": str(markers), "name": "twice", "die_times": 1}, function_return=["attempt"])
        try:
            pipe.start_locally(executor=executor)
        finally:
            stop.set()
            thread.join(timeout=5)
    finally:
        executor.shutdown()
    assert killed, "the first run never started"
    node = _node(pipe, "twice")
    assert node.status == "completed", node.error
    step = Task.get_task(task_id=node.executed)
    assert step.artifacts["attempt"].get() == 1  # the second run did the work
    attempts = step.data["runtime"]["attempts"]
    assert len(attempts) == 2, attempts
    first, second = attempts
    assert first["outcome"] == "lost" and "was lost" in first["why"] and first["worker"].startswith("tcp://")
    assert first["started"] <= first["ended"] <= second["started"] + 1e-6 and second["outcome"] == "completed"
    console = "\n".join(step.get_reported_console_output(number_of_reports=200))
    assert "attempt 1 of step 'twice'" in console and "attempt 2 of step 'twice'" in console
