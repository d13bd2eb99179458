"""Dask executor: steps run as tasks on a ``distributed`` cluster.

``DaskExecutor()`` starts a LocalCluster of worker *processes* (spawned, never forked: a fork
of a process holding a live s3fs/asyncio loop deadlocks) and closes it on shutdown;
``DaskExecutor("tcp://host:8786")`` (or ``dask://host:8786``) uses a running scheduler and
``DaskExecutor(client=c)`` an existing client. Concurrency is Dask's: every ready step is
submitted at once and the cluster decides where and when it runs (no pool of ours in between).
Dask keys are ``<step name>-<task id prefix>-<attempt>``, so the dashboard groups tasks by
step name.

Workers never touch the controller's database: a step records into a private store of the
worker thread (one SQLite file per worker thread, reused by its steps; creating a schema per
step would cost more than a small step) and returns its records bundle with the StepResult; the
controller imports it. Artifacts go straight from the worker to storage, at the destination
the *controller* resolved (a worker's own ``PIPETRACK_HOME`` is irrelevant). A cluster that
spans hosts therefore needs an ``output_uri`` every worker can reach (``s3://...``, a shared
mount). Whether a worker can is tested, never guessed from host names (a container with host
networking, or a second mount namespace, has the controller's host name but not its folders):
before the first step to a destination, each worker writes a probe object there that the
controller reads back, and for a local folder also looks for a marker file the controller wrote;
a worker that fails either is named in the refusal, before any step runs. A worker joining later
checks the marker before its step runs.

A lost worker: Dask reschedules the step (``distributed.scheduler.allowed-failures``), then
reports it failed (``KilledWorker``); the step fails with that message and ``retry_on_failure``
applies. Time limits and cancellation: the step is reported stopped at once. A script step
(``add_step``) runs as a subprocess of the worker, which a Dask event tells to terminate it;
a function step can't be interrupted (it is a thread of the worker): it finishes in the
background and its result is dropped.

Script steps and ``pipetrack agent --executor dask`` tasks run through
:func:`pipetrack.executors.script.run_task_in_private_store` on the worker.
"""
from __future__ import annotations

import asyncio
import atexit
import dataclasses
import itertools
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import weakref
from concurrent.futures import Future
from typing import Any, Callable, Optional

import contextlib

from ..errors import PipetrackError, StorageError, ValidationError
from ..steps import StepResult, StepSpec
from .process import KILL_GRACE_SECONDS, time_limit_message

SHARED_STORAGE_HINT = ("set output_uri (Task.init(output_uri=...), PipelineController(output_uri=...) or "
                       "PIPETRACK_OUTPUT_URI) to storage every worker reaches, such as s3://bucket/prefix")

# --------------------------------------------------------------------------- worker side
_private: dict[tuple[int, int], Any] = {}   # (pid, thread) -> a private Store of this worker thread
_private_lock = threading.Lock()


def _private_store() -> Any:
    """This worker thread's private store (created once, removed at exit). One per thread: steps
    running at once in one worker process must not share rows (their pipeline task's, say)."""
    from ..store import open_store
    key = (os.getpid(), threading.get_ident())
    with _private_lock:
        store = _private.get(key)
        if store is None:
            folder = tempfile.mkdtemp(prefix="pipetrack-dask-")
            store = _private[key] = open_store(os.path.join(folder, "steps.db"))
            atexit.register(shutil.rmtree, folder, True)
    return store


def _worker_address() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def run_step_on_worker(spec: StepSpec, output_uri: Optional[str] = None,
                       guard: Optional[tuple[str, str]] = None) -> StepResult:
    """The function Dask runs: the ordinary step worker against this process's private store.

    The task's records are imported from ``spec.task_bundle``, the step runs with artifacts
    going to ``output_uri`` (resolved by the controller), and the task's records go back in
    ``result.records`` (with the task's own ``output_uri`` setting unchanged). ``guard`` is
    (controller hostname, marker file in the local output folder): a worker on another host
    that can't see the marker refuses to run the step (its artifacts would be lost).
    """
    from ..tracking.records import export_records, import_records
    from .worker import run_step
    bundle = spec.task_bundle or {}
    if not bundle.get("task"):
        raise ValidationError(f"step {spec.name!r}: a Dask step needs its task records bundle (spec.task_bundle)")
    if guard is not None and not os.path.exists(guard[1]):  # a worker joined after the destination check
        message = (f"step {spec.name!r}: its artifacts would go to {output_uri!r}, a folder of the controller "
                   f"(host {guard[0]!r}), but Dask worker {_worker_address()} (host {socket.gethostname()!r}) cannot "
                   f"see that folder; {SHARED_STORAGE_HINT}")
        return _failed(spec, message, StorageError(message))
    _announce_attempt(spec.task_id)
    if spec.function is None:  # a script task (add_step): its own process, recording privately
        from .script import run_task_in_private_store
        result = run_task_in_private_store(bundle, output_uri, should_stop=_stop_requested(spec.task_id),
                                           parent_bundle=spec.parent_bundle,
                                           on_poll=_live_poller(spec.task_id))
        result.worker = _worker_address()
        return result
    for entry in spec.sys_path:  # the controller's import paths, after the worker's own
        if entry not in sys.path:
            sys.path.append(entry)
    shared = _reachable_shared_store(spec.records_store)
    if shared is not None:
        return _run_in_shared_store(spec, shared, output_uri)
    store = _private_store()
    own_output = bundle["task"].get("output_uri")
    store.delete_task(spec.task_id, with_models=True)  # a cancelled earlier attempt may have left records here
    import_records(store, dict(bundle, task=dict(bundle["task"], output_uri=output_uri or own_output)))
    spec = dataclasses.replace(spec, store_path=store.location, task_bundle=None)  # Dask may hold the original
    live = _LiveReports(store, spec.task_id)
    try:
        live.start()
        result = run_step(spec)
        result.worker = _worker_address()
        store.update_task(spec.task_id, last_worker=result.worker, output_uri=own_output)
        result.records = export_records(store, spec.task_id)
    finally:
        live.stop()
        store.delete_task(spec.task_id, with_models=True)
    return result


def _reachable_shared_store(location: Optional[str]) -> Any:
    """The controller's store when it is a server this worker reaches (a team's PostgreSQL), else
    None: then the step records into a private store and its records travel back to the controller."""
    from ..store import is_url, open_store
    if not location or not is_url(location):
        return None
    try:
        store = open_store(location)
        store.task_count()  # connects (and checks the schema) now, not halfway through the step
        return store
    except (ImportError, PipetrackError) as exc:  # no psycopg here, or the server is out of reach
        print(f"pipetrack: Dask worker {_worker_address()} cannot reach the task store "
              f"({exc}); recording the step privately", file=sys.stderr)
        return None


def _run_in_shared_store(spec: StepSpec, store: Any, output_uri: Optional[str]) -> StepResult:
    """Run a function step recording straight into the controller's (shared) store: nothing to
    replay afterwards (``result.records`` stays None), no live snapshots needed (the controller
    reads the same store). The pipeline task is already there, so it is not seeded either."""
    from .worker import run_step
    own_output = (store.task_row(spec.task_id) or {}).get("output_uri")
    if output_uri:
        store.update_task(spec.task_id, output_uri=output_uri)
    try:
        result = run_step(dataclasses.replace(spec, store_path=store.location, task_bundle=None, parent_bundle=None))
    finally:
        store.update_task(spec.task_id, output_uri=own_output)
    result.worker = _worker_address()
    store.update_task(spec.task_id, last_worker=result.worker)
    return result


def _live_poller(task_id: str) -> Callable[[Any], None]:
    """``on_poll`` of a script step: live snapshots of the private store its process records into."""
    holder: dict[str, _LiveReports] = {}

    def poll(store: Any) -> None:
        live = holder.get("live")
        if live is None:
            live = holder["live"] = _LiveReports(store, task_id)
        live.maybe_send()

    return poll


LIVE_TOPIC = "pipetrack-live"
LIVE_INTERVAL_SECONDS = 2.0
LIVE_FIRST_SECONDS = 0.5  # steps shorter than this never stream: their result comes first anyway


def _announce_attempt(task_id: str) -> None:
    """On a worker: tell the controller this run of the step started here, at once (a worker
    event on ``LIVE_TOPIC``), so a run Dask repeats elsewhere after losing this worker is recorded
    as a second attempt. Outside a worker it does nothing."""
    try:
        from distributed import get_worker
        worker = get_worker()
        worker.log_event(LIVE_TOPIC, {"task_id": task_id, "attempt": {"worker": worker.address, "started": time.time()}})
    except Exception:  # noqa: BLE001 - not on a worker, or best effort like the snapshots
        pass


class _LiveReports:
    """On a worker: snapshots of a running step's records (status, console, scalars, ...) sent to
    the controller as Dask worker events (``Worker.log_event``, batched on the worker's stream to
    the scheduler) once it has run ``LIVE_FIRST_SECONDS`` and then every ``LIVE_INTERVAL_SECONDS``;
    the controller writes each into its store in place of the previous one. A step shorter than
    the first delay costs nothing. Outside a worker it does nothing."""

    def __init__(self, store: Any, task_id: str):
        self.store, self.task_id = store, task_id
        try:
            from distributed import get_worker
            self.worker = get_worker()
        except (ImportError, ValueError):
            self.worker = None
        self._next = time.monotonic() + LIVE_FIRST_SECONDS

    def send(self) -> None:
        """Send a snapshot now (the step's buffered reports flushed first)."""
        from ..tracking.records import export_records
        from ..tracking.reporting import buffer_for
        if self.worker is None:
            return
        try:
            buffer_for(self.store).flush()
            bundle = export_records(self.store, self.task_id)
            self.worker.log_event(LIVE_TOPIC, {"task_id": self.task_id, "bundle": bundle})
        except Exception:  # noqa: BLE001 - a live view is best effort; the final records still come back
            pass

    def maybe_send(self, _store: Any = None) -> None:
        """``send`` when the last snapshot is old enough (called often from a polling loop)."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + LIVE_INTERVAL_SECONDS
            self.send()

    def start(self) -> None:
        """Send snapshots until :meth:`stop`, from the worker's one live thread (a function step:
        the worker thread is busy running it; one shared thread costs a step nothing to start)."""
        global _live_thread
        if self.worker is None:
            return
        with _live_lock:
            _live_reporters[self.task_id] = self
            if _live_thread is None or not _live_thread.is_alive():
                _live_thread = threading.Thread(target=_live_loop, name="pipetrack-live", daemon=True)
                _live_thread.start()

    def stop(self) -> None:
        with _live_lock:
            if _live_reporters.get(self.task_id) is self:
                del _live_reporters[self.task_id]


_live_lock = threading.Lock()
_live_reporters: dict[str, _LiveReports] = {}
_live_thread: Optional[threading.Thread] = None


def _live_loop() -> None:
    """The worker process's live thread: sends each running step's snapshot when it is due."""
    while True:
        time.sleep(0.1)
        with _live_lock:
            due = [r for r in _live_reporters.values() if time.monotonic() >= r._next]
        for reporter in due:
            reporter.maybe_send()


STOP_EVENT = "pipetrack-stop-"
STOP_POLL_SECONDS = 0.5


def _worker_closing() -> bool:
    """Whether the worker running this step is closing: it does so when it loses its scheduler,
    and a script step's process (its own session, so not killed with the worker) would run on
    orphaned, its result going nowhere."""
    try:
        from distributed import get_worker
        from distributed.core import Status
        return get_worker().status in (Status.closing, Status.closing_gracefully, Status.closed, Status.failed)
    except (ImportError, ValueError, AttributeError):
        return False


def _stop_requested(task_id: str) -> Callable[[], Optional[str]]:
    """A check, cheap to call often, of the Dask event by which the controller stops a step, and
    of the worker closing (its scheduler lost: nobody is left to take the step's result)."""
    state = {"next": 0.0, "event": None}

    def check() -> Optional[str]:
        if _worker_closing():
            return "lost connection to the Dask scheduler: stopped on its worker"
        now = time.monotonic()
        if now < state["next"]:
            return None
        state["next"] = now + STOP_POLL_SECONDS
        try:
            if state["event"] is None:
                from distributed import Event
                state["event"] = Event(STOP_EVENT + task_id)
            return "stopped by the pipeline (cancelled or time limit)" if state["event"].is_set() else None
        except Exception:  # no scheduler to ask (run outside Dask): nobody can stop us
            return None

    return check


PROBE_FOLDER = ".pipetrack-probes"


def _probe_destination(output: str, marker: Optional[str], token: str) -> str:
    """On a worker: '' when it can use ``output`` (for a local folder it sees the controller's
    ``marker``; it writes a probe object named by ``token`` that the controller then reads), else why not."""
    from ..storage import join_url, upload_bytes
    if marker is not None and not os.path.exists(marker):
        return f"cannot see the folder (host {socket.gethostname()!r})"
    try:
        upload_bytes(_worker_address().encode(), join_url(output, PROBE_FOLDER, token))
    except Exception as exc:  # noqa: BLE001 - the reason is the answer
        return f"cannot write there: {type(exc).__name__}: {exc}"
    return ""


# --------------------------------------------------------------------------- the executor

@contextlib.contextmanager
def _main_hidden():
    """Start spawned workers without re-running the user's script in each of them.

    multiprocessing's spawn re-imports ``__main__`` from its file in every child, so a pipeline
    script without an ``if __name__ == "__main__":`` guard would start a pipeline inside each
    Dask worker. Steps don't need it: cloudpickle ships ``__main__`` functions by value. (A
    worker the nanny restarts later is spawned without this guard.)
    """
    main = sys.modules.get("__main__")
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__")
             if main is not None and name in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            if "__spec__" in saved:
                main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


class DaskExecutor:
    """Runs steps on a Dask cluster (see the module docstring)."""

    name = "dask"
    runs_in_caller = False
    records_remotely = True

    def __init__(self, address: Optional[str] = None, client: Any = None, n_workers: Optional[int] = None,
                 threads_per_worker: int = 1, **cluster_kwargs: Any):
        """``n_workers`` (LocalCluster): default one single-threaded worker process per core."""
        import dask
        from distributed import Client, LocalCluster
        self._cluster = None
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif address:
            address = "tcp://" + address.split("://", 1)[1] if address.startswith("dask://") else address
            try:
                self.client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ValidationError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        else:
            from .base import default_workers
            n_workers = n_workers or default_workers()
            with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}), _main_hidden():
                cluster_kwargs.setdefault("dashboard_address", "127.0.0.1:0")
                self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                                             processes=True, host="127.0.0.1", **cluster_kwargs)
            self.client = Client(self._cluster)
        self._futures: dict[str, Any] = {}
        self._scripts: set[str] = set()      # task ids of running script steps (stoppable)
        self._lock = threading.Lock()
        self._attempts = itertools.count(1)
        self._markers: dict[str, str] = {}   # local output folder -> marker file
        self._probed: set[tuple[str, str]] = set()  # (worker address, destination) found usable
        self._cancelled: set[str] = set()    # steps this executor was asked to stop
        self._closing = False
        self._connection_lost = False        # a step failed because the scheduler went away
        self._live = _LiveImports(self.client)
        self._quiet = _QuietReconnects(self)
        logging.getLogger("distributed.client").addFilter(self._quiet)
        self._address = self.client.scheduler.address if self.client.scheduler is not None else "?"

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    # ------------------------------------------------------------------ storage check
    def _check_destination(self, spec: StepSpec, output: str) -> Optional[tuple[str, str]]:
        """Refuse a destination some connected worker can't use, found by testing it, not by
        comparing host names: each worker not yet probed for ``output`` writes a probe object
        there (and, for a local folder, looks for this executor's marker file) and the controller
        reads it back. Cached per (worker, destination). Returns the per-step guard for a local
        folder, which covers workers joining later."""
        from ..storage import delete, is_local, join_url, local_path, read_bytes
        marker = self._marker(local_path(output)) if is_local(output) else None
        workers = [w for w in self.client.scheduler_info()["workers"] if (w, output) not in self._probed]
        if workers:
            tokens = {w: f"{uuid.uuid4().hex}" for w in workers}
            answers = {w: self.client.submit(_probe_destination, output, marker, tokens[w], workers=[w],
                                             allow_other_workers=False, pure=False, key=f"pipetrack-probe-{tokens[w]}")
                       for w in workers}
            blind: dict[str, str] = {}
            for worker, answer in answers.items():
                try:
                    reason = answer.result(timeout=60)
                except Exception as exc:  # noqa: BLE001 - a worker that can't answer can't be trusted
                    reason = f"did not answer the probe: {type(exc).__name__}: {exc}"
                url = join_url(output, PROBE_FOLDER, tokens[worker])
                if not reason:
                    try:
                        if read_bytes(url).decode() != worker:
                            reason = "wrote a probe the controller read back changed"
                    except Exception:  # noqa: BLE001
                        reason = "wrote a probe the controller cannot see (it writes somewhere else)"
                    try:
                        delete(url)
                    except Exception:  # noqa: BLE001 - a leftover probe is harmless
                        pass
                if reason:
                    blind[worker] = reason
                else:
                    self._probed.add((worker, output))
            if marker is not None:  # the probes' folder, now empty, is not left in the user's folder
                with contextlib.suppress(OSError):
                    os.rmdir(local_path(join_url(output, PROBE_FOLDER)))
            if blind:
                details = "; ".join(f"{w} {why}" for w, why in sorted(blind.items()))
                raise StorageError(f"step {spec.name!r}: its artifacts would go to {output!r}, but Dask worker(s) "
                                   f"cannot use it: {details}; {SHARED_STORAGE_HINT}")
        return (socket.gethostname(), marker) if marker is not None else None

    def _marker(self, folder: str) -> str:
        """A file only this executor writes into a local output folder; every worker must see it
        (removed at shutdown)."""
        marker = self._markers.get(folder)
        if marker is None:
            os.makedirs(folder, exist_ok=True)
            marker = os.path.join(folder, f".pipetrack-shared-{uuid.uuid4().hex}")
            with open(marker, "w"):
                pass
            self._markers[folder] = marker
            atexit.register(_remove_quietly, marker)  # an executor nobody shuts down
        return marker

    # ------------------------------------------------------------------ submit
    def submit(self, spec: StepSpec) -> "Future[StepResult]":
        from .. import config
        future: Future = Future()
        bundle_task = (spec.task_bundle or {}).get("task") or {}
        output = spec.output_uri or bundle_task.get("output_uri") or config.default_output_uri()
        try:
            guard = self._check_destination(spec, output)
        except StorageError as exc:
            future.set_result(_failed(spec, str(exc), exc))
            return future
        if not spec.sys_path:
            spec.sys_path = [p for p in sys.path if p]
        self._live.expect_attempts(spec.task_id)
        if spec.records_store:
            self._live.expect(spec.task_id, spec.records_store)
        key = f"{spec.name}-{spec.task_id[:8]}-{next(self._attempts)}"
        if spec.function is None:  # a stop request left from an earlier run of this task must not stop this one
            self._stop_event(spec.task_id, clear=True)
        dask_future = self.client.submit(run_step_on_worker, spec, output, guard, key=key, pure=False)
        with self._lock:
            self._futures[spec.task_id] = dask_future
            if spec.function is None:
                self._scripts.add(spec.task_id)
        # the result is gathered inside Dask's event loop as soon as the step ends: no thread hop,
        # and many results are fetched at once (a done-callback would fetch them one by one)
        self.client.loop.add_callback(self._collect, spec, dask_future, future)
        if spec.time_limit:
            def expire() -> None:
                if not future.done():
                    future.set_result(StepResult(task_id=spec.task_id, status="stopped",
                                                 error=time_limit_message(f"step {spec.name!r}", spec.time_limit)))
                    self.cancel(spec.task_id)
            timer = threading.Timer(spec.time_limit, expire)
            timer.daemon = True
            timer.start()
            future.add_done_callback(lambda _f: timer.cancel())
        return future

    async def _collect(self, spec: StepSpec, dask_future: Any, future: "Future[StepResult]") -> None:
        """Runs in the client's event loop: wait for the step, fetch its StepResult, resolve ``future``
        (whose callbacks therefore run in the loop: they must not block)."""
        try:
            result = await self.client.gather(dask_future, asynchronous=True)
        except BaseException as exc:  # KilledWorker, lost connection, unpicklable result, cancelled ...
            if self._lost_scheduler(dask_future, spec.task_id):
                self._connection_lost = True
                message = f"step {spec.name!r}: lost connection to the Dask scheduler at {self._address}"
                result = _failed(spec, message, ConnectionError(message))
            elif dask_future.cancelled():
                result = StepResult(task_id=spec.task_id, status="stopped",
                                    error=f"step {spec.name!r} was cancelled on the Dask cluster")
            else:
                result = _failed(spec, f"step {spec.name!r} was lost on the Dask cluster: "
                                       f"{type(exc).__name__}: {exc}", exc)
        with self._lock:
            if self._futures.get(spec.task_id) is dask_future:
                del self._futures[spec.task_id]
                self._scripts.discard(spec.task_id)
        result.attempts = _attempts(self._live.finished(spec.task_id), result)  # no snapshot lands after this
        if not future.done():
            future.set_result(result)

    def _lost_scheduler(self, dask_future: Any, task_id: str) -> bool:
        """Whether a step ended because the client lost its scheduler (its future is cancelled
        without anyone here asking for it), not because it was cancelled or failed."""
        with self._lock:
            asked = task_id in self._cancelled
        if asked or self._closing:
            return False
        return dask_future.cancelled() or self.client.status not in ("running", "connecting")

    def cancel(self, task_id: str) -> None:
        """Stop a step. A script step is asked to stop (its process gets SIGTERM, records itself
        stopped and its records still come back); its future is cancelled only if that takes
        longer than the kill grace period. A function step's future is cancelled at once (a
        running function can't be interrupted: it finishes in the background, its result dropped)."""
        with self._lock:
            dask_future = self._futures.get(task_id)
            is_script = task_id in self._scripts
            if dask_future is not None:
                self._cancelled.add(task_id)
        if dask_future is None:
            return
        if not is_script:
            dask_future.cancel()
            return
        self._stop_event(task_id)
        timer = threading.Timer(KILL_GRACE_SECONDS + 2 * STOP_POLL_SECONDS + 5, dask_future.cancel)
        timer.daemon = True
        timer.start()

    def _stop_event(self, task_id: str, clear: bool = False) -> None:
        try:
            from distributed import Event
            event = Event(STOP_EVENT + task_id, client=self.client)
            event.clear() if clear else event.set()
        except Exception:  # the client is closing: nothing left to stop
            pass

    def shutdown(self) -> None:
        self._closing = True
        self._live.close()
        with self._lock:
            pending = list(self._futures.values())
            self._futures.clear()
        for dask_future in pending:
            dask_future.cancel()
        for marker in self._markers.values():
            _remove_quietly(marker)
        self._markers.clear()
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        logging.getLogger("distributed.client").removeFilter(self._quiet)


class _LiveImports:
    """Controller side of the live view: the worker events of ``LIVE_TOPIC`` (subscribed on the
    client) are written by one thread into the store each running step records into, the newest
    snapshot per step only. Once a step's result is in, none of its snapshots is written again
    (``finished`` waits for a write in progress), so the final records, imported after, win."""

    def __init__(self, client: Any):
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._targets: dict[str, str] = {}   # task id -> store path, while the step runs
        self._latest: dict[str, dict] = {}   # task id -> newest snapshot not written yet
        self._attempts: dict[str, list] = {}  # task id -> the runs its workers announced, while it runs
        self._writing = threading.Lock()
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        try:
            client.subscribe_topic(LIVE_TOPIC, self._on_event)
        except Exception:  # noqa: BLE001 - an old scheduler without events: no live view, results still come
            pass

    def expect_attempts(self, task_id: str) -> None:
        with self._lock:
            self._attempts[task_id] = []

    def expect(self, task_id: str, location: str) -> None:
        with self._lock:
            self._targets[task_id] = location
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pipetrack-live-imports", daemon=True)
                self._thread.start()

    def _on_event(self, event: Any) -> None:  # in the client's event loop: hand over, never block
        msg = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if not isinstance(msg, dict) or "task_id" not in msg:
            return
        with self._lock:
            if "attempt" in msg:
                if msg["task_id"] in self._attempts:
                    self._attempts[msg["task_id"]].append(dict(msg["attempt"]))
            elif msg["task_id"] in self._targets:
                self._latest[msg["task_id"]] = msg["bundle"]
                self._wake.notify()

    def _run(self) -> None:
        from ..tracking.records import import_records
        from ..store import open_store
        while True:
            with self._lock:
                while not self._latest and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                task_id, bundle = self._latest.popitem()
                path = self._targets.get(task_id)
                self._writing.acquire()
            try:
                if path is not None:
                    import_records(open_store(path), bundle, replace_outputs=True)
            except Exception:  # noqa: BLE001 - a snapshot that can't be written is skipped: the next one comes
                pass
            finally:
                self._writing.release()

    def finished(self, task_id: str) -> list:
        """No more snapshots of ``task_id``; returns the runs its workers announced."""
        with self._lock:
            self._targets.pop(task_id, None)
            self._latest.pop(task_id, None)
            attempts = self._attempts.pop(task_id, [])
        with self._writing:  # a snapshot being written now is done before the final records are imported
            pass
        return attempts

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify()


class _QuietReconnects(logging.Filter):
    """Drops distributed's tracebacks of a connection to the scheduler that is gone (its client's
    reconnect loop, cancelled or refused) once this executor has said so itself: the step failed
    with "lost connection to the Dask scheduler at ADDR", or the executor is shutting down. Any
    other record, and these before the loss is known, pass."""

    def __init__(self, executor: "DaskExecutor"):
        super().__init__()
        self._executor = weakref.ref(executor)

    def filter(self, record: logging.LogRecord) -> bool:
        executor = self._executor()
        if executor is None or not (executor._connection_lost or executor._closing) or not record.exc_info:
            return True
        from distributed.comm.core import CommClosedError
        exc: Optional[BaseException] = record.exc_info[1]
        while exc is not None:
            if isinstance(exc, (CommClosedError, asyncio.CancelledError, ConnectionError)):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def _attempts(announced: list, result: StepResult) -> list:
    """Every run of a step, when Dask ran it more than once (a worker lost mid-step, the step run
    again elsewhere): each with its worker, start, end and why it ended; [] for a single run."""
    runs = sorted(announced, key=lambda run: run["started"])
    if result.worker and (not runs or runs[-1]["worker"] != result.worker):  # its start event came late
        runs.append({"worker": result.worker, "started": time.time() - (result.duration or 0.0)})
    if len(runs) < 2:
        return []
    for run, following in zip(runs, runs[1:]):
        run.update(ended=following["started"], outcome="lost",
                   why=f"worker {run['worker']} was lost while running the step; Dask ran it again")
    runs[-1].update(ended=time.time(), outcome=result.status, why=result.error or result.status)
    return runs


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _failed(spec: StepSpec, message: str, exc: BaseException) -> StepResult:
    import cloudpickle
    try:
        pickled = cloudpickle.dumps(exc)
    except Exception:
        pickled = None
    return StepResult(task_id=spec.task_id, status="failed", error=message, exception=pickled)
