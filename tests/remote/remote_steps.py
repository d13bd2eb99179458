"""Step functions for the Dask tests (a plain module: workers import it by reference)."""
from __future__ import annotations

import os
import time


def where_am_i(tag: str) -> dict:
    """Report where the step ran: Dask worker address, pid, Dask key, process command line."""
    import distributed
    from pipetrack import Task
    worker = distributed.get_worker()
    print(f"step {tag} running on {worker.address}")
    task = Task.current_task()
    task.get_logger().report_scalar("where", "pid", os.getpid(), 0)
    with open("/proc/self/cmdline", "rb") as fh:
        cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
    return {"tag": tag, "address": worker.address, "pid": os.getpid(), "key": str(worker.get_current_task()),
            "task_id": task.id, "cmdline": cmdline}


def join(**parts: dict) -> dict:
    return {name: part["address"] for name, part in parts.items()}


def make_array(n: int):
    import numpy as np
    return np.arange(n, dtype="float64")


def total(values) -> float:
    return float(values.sum())


def sleep_and_report(seconds: float, marker_dir: str, name: str) -> float:
    """Record start/end times (for concurrency checks)."""
    start = time.time()
    with open(os.path.join(marker_dir, f"{name}.start"), "w") as fh:
        fh.write(str(start))
    time.sleep(seconds)
    end = time.time()
    with open(os.path.join(marker_dir, f"{name}.end"), "w") as fh:
        fh.write(str(end))
    return end - start


def killable(marker_dir: str, name: str, die_times: int) -> int:
    """Write this attempt's pid, then sleep (to be killed) unless ``die_times`` attempts already ran."""
    attempts = [f for f in os.listdir(marker_dir) if f.startswith(f"{name}.pid.") and not f.endswith(".tmp")]
    path = os.path.join(marker_dir, f"{name}.pid.{len(attempts)}")
    with open(path + ".tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(path + ".tmp", path)  # whole: the test's killer reads it as soon as it exists
    if len(attempts) < die_times:
        time.sleep(60)  # the test kills this process long before
    return len(attempts)


def current_task_after_pause(marker_dir: str, name: str, other: str) -> dict:
    """Two of these run at once in one worker process (2 threads): each waits until the other has
    started, then reports which task ``Task.current_task()`` names and prints a line."""
    from pipetrack import Task
    mine = Task.current_task().id
    with open(os.path.join(marker_dir, f"{name}.started"), "w"):
        pass
    deadline = time.time() + 30
    while not os.path.exists(os.path.join(marker_dir, f"{other}.started")) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    print(f"console line of {name}")
    time.sleep(0.2)
    return {"at_start": mine, "after": Task.current_task().id, "pid": os.getpid()}


def report_every_second(seconds: int) -> int:
    """A slow step that reports a scalar (the worker's clock) and a console line each second."""
    from pipetrack import Task
    logger = Task.current_task().get_logger()
    for i in range(seconds):
        logger.report_scalar("tick", "t", time.time(), i)
        print(f"tick {i}", flush=True)
        time.sleep(1)
    return seconds
