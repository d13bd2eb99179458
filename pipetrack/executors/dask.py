"""Dask executor: steps run as tasks on a ``distributed`` cluster.

``DaskExecutor()`` starts a LocalCluster of worker *processes* (spawned, never forked: a fork
of a process holding a live s3fs/asyncio loop deadlocks) and closes it on shutdown;
``DaskExecutor("tcp://host:8786")`` uses a running scheduler. Concurrency is Dask's: every
step is submitted at once and the cluster decides where and when it runs. Dask keys carry the
step name, so the dashboard shows the pipeline's steps.

Workers never touch the controller's database: a step records into a private store on the
worker and returns a records bundle with its StepResult; the controller imports it. Artifacts
go straight from the worker to storage, so a cluster spanning hosts needs a shared
``output_uri`` (``s3://...``); a local ``file://`` destination with a worker on another host is
refused before anything runs.

A lost worker: Dask reschedules the step (its ``allowed-failures``), then reports it failed,
and ``retry_on_failure`` applies. Step time limits: the executor cancels the future and the
step is reported stopped; Dask cannot interrupt a thread that is already running, so that
work finishes on the worker in the background.
"""
from __future__ import annotations

import socket
import threading
from concurrent.futures import Future
from typing import Any, Optional

from ..errors import StorageError, ValidationError
from .base import StepResult, StepSpec

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def run_step_on_worker(spec: StepSpec) -> StepResult:
    """The function Dask runs: the ordinary step worker, in private-store mode."""
    from .worker import run_step
    return run_step(spec)


class DaskExecutor:
    name = "dask"
    runs_in_caller = False
    records_remotely = True

    def __init__(self, address: Optional[str] = None, client: Any = None, n_workers: int = 2,
                 threads_per_worker: int = 1, **cluster_kwargs: Any):
        import dask
        from distributed import Client, LocalCluster
        self._cluster = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif address:
            try:
                self.client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ValidationError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        else:
            with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
                cluster_kwargs.setdefault("dashboard_address", "127.0.0.1:0")
                self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                             processes=True, host="127.0.0.1", **cluster_kwargs)
            self.client = Client(self._cluster)
        self._futures: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._checked_outputs: set[str] = set()

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def _worker_hosts(self) -> set[str]:
        workers = self.client.scheduler_info().get("workers", {})
        return {addr.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]") for addr in workers}

    def _check_storage(self, spec: StepSpec, output: str) -> None:
        from ..storage import is_local
        if output in self._checked_outputs:
            return
        if is_local(output):
            mine = LOCAL_HOSTS | {socket.gethostname(), socket.getfqdn()}
            try:
                mine.add(socket.gethostbyname(socket.gethostname()))
            except OSError:
                pass
            foreign = self._worker_hosts() - mine
            if foreign:
                raise StorageError(f"step {spec.name!r}: artifacts go to {output!r}, a folder on this machine, but "
                                   f"Dask workers run on {sorted(foreign)}; set output_uri (or PIPETRACK_OUTPUT_URI) "
                                   "to shared storage such as s3://bucket/prefix")
        self._checked_outputs.add(output)

    def submit(self, spec: StepSpec) -> "Future[StepResult]":
        bundle_task = (spec.task_bundle or {}).get("task") or {}
        from .. import config
        output = spec.output_uri or bundle_task.get("output_uri") or config.default_output_uri()
        self._check_storage(spec, output)
        key = f"{spec.name}-{spec.task_id[:8]}"
        dask_future = self.client.submit(run_step_on_worker, spec, key=key, pure=False)
        with self._lock:
            self._futures[spec.task_id] = dask_future
        future: Future = Future()

        def done(f: Any) -> None:
            with self._lock:
                self._futures.pop(spec.task_id, None)
            if future.done():
                return
            try:
                if f.cancelled():
                    future.set_result(StepResult(task_id=spec.task_id, status="stopped",
                                                 error=f"step {spec.name!r} was cancelled on the Dask cluster"))
                else:
                    future.set_result(f.result())
            except BaseException as exc:  # KilledWorker, lost connection, ...
                future.set_exception(exc)

        dask_future.add_done_callback(done)
        if spec.time_limit:
            def expire() -> None:
                if not future.done():
                    future.set_result(StepResult(task_id=spec.task_id, status="stopped",
                                                 error=f"time limit exceeded: step {spec.name!r} ran longer than "
                                                       f"{spec.time_limit}s"))
                    dask_future.cancel()
            timer = threading.Timer(spec.time_limit, expire)
            timer.daemon = True
            timer.start()
        return future

    def cancel(self, task_id: str) -> None:
        with self._lock:
            dask_future = self._futures.get(task_id)
        if dask_future is not None:
            dask_future.cancel()

    def shutdown(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
