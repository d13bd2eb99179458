"""One contract, every executor: each backend opts in with one line in EXECUTORS (fsspec's
tests/abstract pattern). Steps are real: real step tasks in a temporary store, real
subprocesses for 'local', a real LocalCluster for 'dask'."""
from __future__ import annotations

import os

import cloudpickle
import pytest

from pipetrack import Task
from pipetrack.executors.base import ArtifactInput, StepSpec, get_executor

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

EXECUTORS = ["inline", "local", "local-spawn", pytest.param("dask", marks=pytest.mark.dask)]


def make_executor(name):
    if name == "local-spawn":  # the local executor without its fork template: a new interpreter per step
        from pipetrack.executors.local import LocalExecutor
        return LocalExecutor(fork=False)
    return get_executor(name)


@pytest.fixture(scope="module")
def shared_dask():
    """One LocalCluster for the module: starting one costs about a second."""
    pytest.importorskip("distributed")
    ex = make_executor("dask")
    yield ex
    ex.shutdown()


@pytest.fixture(params=EXECUTORS)
def executor(request):
    if request.param == "dask":
        yield request.getfixturevalue("shared_dask")
        return
    ex = make_executor(request.param)
    yield ex
    ex.shutdown()


def make_spec(executor, func, kwargs=None, returns=("result",), time_limit=None, name="step"):
    task = Task.create(project_name="contract", task_name=name)
    spec = StepSpec(task_id=task.id, name=name, function=cloudpickle.dumps(func), kwargs=kwargs or {},
                    return_names=list(returns), time_limit=time_limit, sys_path=[p for p in __import__("sys").path if p],
                    working_dir=os.getcwd())
    if executor.records_remotely:
        from pipetrack.tracking.records import export_records
        spec.task_bundle = export_records(task._store, task.id)
    else:
        spec.store_path = task._store.location
    return task, spec


def finish(executor, task, spec, timeout=120):
    result = executor.submit(spec).result(timeout=timeout)
    if result.records is not None:
        from pipetrack.tracking.records import import_records
        import_records(task._store, result.records)
    return result


def add(a, b):
    from pipetrack import Task
    print(f"adding {a} and {b}")
    Task.current_task().get_logger().report_scalar("sum", "value", a + b, 0)
    return a + b


def test_function_runs_and_records(executor):
    task, spec = make_spec(executor, add, {"a": 2, "b": 3})
    result = finish(executor, task, spec)
    assert result.status == "completed", result.error
    task.reload()
    assert task.get_status() == "completed"
    assert task.artifacts["result"].get() == 5
    assert result.artifacts["result"]["hash"] == task.artifacts["result"].hash
    assert "adding 2 and 3" in "\n".join(task.get_reported_console_output(10))
    assert task.get_last_scalar_metrics()["sum"]["value"]["last"] == 5
    assert task.get_parameter("return/result") == "5"


def test_artifact_inputs_are_loaded(executor):
    producer = Task.create(project_name="contract", task_name="producer")
    producer.mark_started()
    producer._owner = True
    producer.upload_artifact("numbers", {"xs": [1, 2, 3]})
    art = producer.artifacts["numbers"]
    ref = ArtifactInput(url=art.url, type=art.type, extension=art._row["extension"], hash=art.hash)
    task, spec = make_spec(executor, lambda numbers: sum(numbers["xs"]), {"numbers": ref})
    result = finish(executor, task, spec)
    assert result.status == "completed", result.error
    assert task.artifacts["result"].get() == 6


class Oops(ValueError):
    pass


def explode():
    raise Oops("bad value 42")


def test_failure_keeps_type_and_message(executor):
    task, spec = make_spec(executor, explode)
    result = finish(executor, task, spec)
    assert result.status == "failed"
    assert "Oops: bad value 42" in result.error
    assert isinstance(result.original_exception(), ValueError)
    assert task.get_status() == "failed" and "bad value 42" in task.get_status_message()[1]
    assert "Traceback" in "\n".join(task.get_reported_console_output(50))


def unserialisable():
    import threading
    return threading.Lock()


def test_unstorable_return_value_fails_the_step_naming_the_type(executor):
    task, spec = make_spec(executor, unserialisable)
    result = finish(executor, task, spec)
    assert result.status == "failed"
    assert "lock" in result.error.lower() and "step" in result.error


def sleepy():
    import time
    time.sleep(30)


@pytest.mark.parametrize("executor", ["local", "local-spawn", pytest.param("dask", marks=pytest.mark.dask)],
                         indirect=True)
def test_time_limit_stops_the_step(executor):
    task, spec = make_spec(executor, sleepy, time_limit=1.0)
    result = finish(executor, task, spec, timeout=60)
    assert result.status == "stopped"
    assert "time limit" in result.error


def die():
    import os
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("executor", ["local", "local-spawn"], indirect=True)
def test_killed_process_becomes_a_failed_step(executor):
    task, spec = make_spec(executor, die)
    result = finish(executor, task, spec, timeout=60)
    assert result.status == "failed" and "SIGKILL" in result.error
    assert task.get_status() == "failed"
