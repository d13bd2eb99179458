"""The scheduling loop shared by PipelineController and PipelineDecorator.

The loop only decides *when* a node runs; *how* it is launched and what its result means belong
to the pipeline, which hands the scheduler a :class:`RunHooks` (launch, complete, cancel, tick,
status changed), and *where* it runs to an executor. The scheduler never looks inside the
pipeline. State, for a run of ``a -> (b, c) -> d``::

    unfinished = {b: 1, c: 1, d: 2}   per node: parents not finished yet
    ready      = [a]                  nodes whose parents are all finished, not launched yet
    running    = {a: future}          launched, result not processed yet

    a finishes -> unfinished[b] and unfinished[c] drop to 0 -> b and c are ready and launch
    together; d waits for both. The work per finished node is proportional to its children,
    not to the graph (10,000 steps cost 10,000 small updates, not 10,000 scans).

A node whose parent was skipped is skipped; whose parent failed (or was aborted) is skipped
unless that parent's ``continue_behaviour`` says ``skip_children_on_fail=False``
(``skip_children_on_abort``), in which case it runs with that parent's outputs as None.

Locks: ``lock`` guards only state (the counters, the ready queue, statuses); launching and
completing a node (hashing, pickling, creating its task, running an inline step, importing a
remote step's records) happen outside it, so the user's thread adding nodes or reading a
result never waits behind that work. One thread launches at a time (``launching``, re-entrant
so a step that adds steps inline can launch them): executors get their submits one by one.

Threads: with an executor that runs steps in the caller (inline), everything happens in the
calling thread — a component call *is* the function call. Otherwise a daemon driver thread
processes completions and launches children as soon as parents finish, while the user's
thread (a decorated pipeline function) keeps adding nodes and waits only on the values it
uses.
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from .node import Node

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class RunHooks:
    """What the scheduler asks of the pipeline run it drives.

    ``launch(node)`` starts a node: a Future of its result, or None when it finished without
    running (a cache hit, a draft, skipped by a callback). ``complete(node, result)`` interprets
    a result (or the exception of a failed launch/executor); True means "launch it again" (a
    retry). ``status_changed(node, previous)`` is told every status change (bookkeeping,
    callbacks); ``cancel(node)`` stops a running node; ``tick()`` is housekeeping (limits, the
    stored DAG, the progress line) at most every ``POLL_SECONDS``; ``log`` records a line on
    the pipeline's console. ``propagate_step_errors``: a failed launch raises in the caller
    (debug mode, where a component call is the function call).
    """

    launch: Callable[[Node], Optional[Future]]
    complete: Callable[[Node, Any], bool]
    status_changed: Callable[[Node, str], None]
    cancel: Callable[[Node], None]
    tick: Callable[[], None]
    log: Callable[[str], None]
    propagate_step_errors: Callable[[], bool]


class Scheduler:
    """Launches ready nodes and processes finished ones for one pipeline run."""

    def __init__(self, hooks: RunHooks, nodes: Optional[dict[str, Node]] = None):
        self.hooks = hooks
        self.nodes: dict[str, Node] = nodes if nodes is not None else {}
        self.running: dict[str, Future] = {}
        self.events: "queue.Queue[Optional[str]]" = queue.Queue()
        self.lock = threading.RLock()
        self.launching = threading.RLock()
        self.all_done = threading.Condition(self.lock)
        self.driver: Optional[threading.Thread] = None
        self.stopping = False
        self.closed = False
        self.propagate: Optional[BaseException] = None
        self._registered: set[str] = set()
        self._unfinished: dict[str, int] = {}
        self._children: dict[str, list[str]] = collections.defaultdict(list)
        self._ready: collections.deque[str] = collections.deque()
        # children a node made ready while its result is being processed: released when that ends
        # (its callbacks may still fail the run, and a child launched by another thread meanwhile
        # would then be cancelled instead of skipped)
        self._completing: dict[str, list[str]] = {}
        self._finished = 0
        self._last_tick = 0.0

    # ------------------------------------------------------------------ public
    def add(self, node: Node) -> None:
        """Register a node and launch whatever is ready (possibly this node, right now)."""
        self.register([node])
        self.schedule()

    def register(self, nodes: Iterable[Node]) -> None:
        """Count each node's unfinished parents; a node with none is ready."""
        with self.lock:
            for node in nodes:
                self.nodes[node.name] = node
                if node.name in self._registered:
                    continue
                self._registered.add(node.name)
                if node.is_finished:
                    self._finished += 1
                    continue
                waiting = 0
                for parent in node.parents:
                    self._children[parent].append(node.name)
                    upstream = self.nodes.get(parent)
                    if upstream is None or not upstream.is_finished:
                        waiting += 1
                self._unfinished[node.name] = waiting
                if waiting == 0:
                    self._ready.append(node.name)

    def schedule(self) -> None:
        """Launch every ready node (inline steps run to completion inside this call)."""
        self._launch_ready()
        self._raise_propagated()

    @property
    def finished_count(self) -> int:
        return self._finished

    def set_status(self, node: Node, status: str, message: str = "") -> None:
        """Change a node's status; a node that finishes makes its children one parent closer to ready."""
        with self.lock:
            previous = node.status
            was_finished = node.is_finished
            node.status = status
            if message:
                node.error = message
            if node.is_finished and not was_finished and node.name in self._registered:
                self._finished += 1
                for child in self._children.get(node.name, ()):
                    left = self._unfinished.get(child)
                    if left is not None:
                        self._unfinished[child] = left - 1
                        if left == 1:
                            held = self._completing.get(node.name)
                            (held if held is not None else self._ready).append(child)
            self.all_done.notify_all()
        self.hooks.status_changed(node, previous)

    def wait(self, names: Optional[Iterable[str]] = None, timeout: Optional[float] = None) -> bool:
        """Block until the named nodes (default: all) are finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        targets = list(names) if names is not None else None
        while True:
            self._launch_ready()
            self._raise_propagated()
            with self.lock:
                if self._all_finished(targets):
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.all_done.wait(timeout=POLL_SECONDS if remaining is None else min(POLL_SECONDS, remaining))
        self._raise_propagated()
        return True

    def stop(self, reason: str = "aborted") -> None:
        """Abort: cancel running steps, skip everything not started."""
        with self.lock:
            self.stopping = True
            running = [self.nodes[name] for name in self.running]
            pending = [node for node in self.nodes.values() if node.status == "pending"]
        for node in running:
            self.hooks.cancel(node)
        for node in pending:
            if node.status == "pending":
                self.set_status(node, "skipped", reason)

    def close(self) -> None:
        """No more nodes will be added; the driver exits once nothing runs."""
        self.closed = True
        self.events.put(None)
        if self.driver is not None and self.driver is not threading.current_thread():
            self.driver.join(timeout=30)

    # ------------------------------------------------------------------ loop
    def _all_finished(self, targets: Optional[list[str]]) -> bool:
        if targets is None:
            return self._finished >= len(self.nodes) and not self._ready
        return all(self.nodes[name].is_finished for name in targets)

    def _raise_propagated(self) -> None:
        if self.propagate is not None:
            exc, self.propagate = self.propagate, None
            raise exc

    def _verdict(self, node: Node) -> str:
        """'run' | 'skip' for a node whose parents have all finished."""
        for parent_name in node.parents:
            parent = self.nodes[parent_name]
            if parent.status == "skipped":
                return "skip"
            if parent.status == "failed" and parent.continue_behaviour["skip_children_on_fail"]:
                return "skip"
            if parent.status == "aborted" and parent.continue_behaviour["skip_children_on_abort"]:
                return "skip"
        return "run"

    def _next_ready(self) -> Optional[Node]:
        """The next node to launch (marked as taken), skipping what can't run; None when none is ready."""
        while True:
            with self.lock:
                if not self._ready:
                    return None
                node = self.nodes[self._ready.popleft()]
                if node.status != "pending" or node.name in self.running:
                    continue
                if self.stopping:
                    verdict, reason = "skip", "pipeline stopped"
                else:
                    verdict, reason = self._verdict(node), "a parent step did not complete"
                if verdict == "run":
                    self.running[node.name] = _LAUNCHING
                    return node
            self.set_status(node, "skipped", reason)

    def _launch_ready(self) -> None:
        while True:
            if not self.launching.acquire(blocking=False):
                return  # another thread is launching: it drains the queue, and checks it again after
            try:
                while (node := self._next_ready()) is not None:
                    self._launch(node)
            finally:
                self.launching.release()
            with self.lock:
                if not self._ready:
                    return

    def _launch(self, node: Node) -> None:
        try:
            future = self.hooks.launch(node)
        except BaseException as exc:  # bad input at launch time, an executor refusing work: the step
            node.exception = exc      # fails like one that ran (its task closed, the pipeline failed)
            if self.hooks.propagate_step_errors():
                self.propagate = exc
            future = Future()
            future.set_exception(exc)
        with self.lock:
            if future is None:  # finished without running (cache hit, skipped by a callback)
                self.running.pop(node.name, None)
                self.all_done.notify_all()
                return
            self.running[node.name] = future
        if future.done():
            self._complete(node.name)
        else:
            future.add_done_callback(lambda _f, name=node.name: self.events.put(name))
            self._ensure_driver()

    def _complete(self, name: str) -> None:
        with self.lock:
            future = self.running.get(name)
            if future is None or future is _LAUNCHING:
                return
            self._completing[name] = []
        node = self.nodes[name]
        try:
            result = future.result()
        except BaseException as exc:  # the executor itself failed (lost worker, ...)
            result = exc
        try:
            relaunch = self.hooks.complete(node, result)
        except BaseException as exc:  # a callback or a monitor raised: like an error in the controller,
            node.exception = exc      # it stops the pipeline (and is raised to the user), never hangs it
            with self.lock:
                self.running.pop(name, None)
            if not node.is_finished:
                self.set_status(node, "failed", f"{type(exc).__name__}: {exc}")
            self.propagate = self.propagate or exc
            self.stop(f"pipeline stopped: {type(exc).__name__} in a callback of step '{name}'")
            with self.lock:
                self._ready.extend(self._completing.pop(name, ()))  # skipped by the stop: let them be seen
                self.all_done.notify_all()
            return
        with self.lock:
            self.running.pop(name, None)
            self._ready.extend(self._completing.pop(name, ()))
            if relaunch:
                node.status = "pending"
                self._ready.append(name)
            self.all_done.notify_all()

    def _ensure_driver(self) -> None:
        with self.lock:
            if self.driver is None or not self.driver.is_alive():
                self.driver = threading.Thread(target=self._drive, name="pipetrack-scheduler", daemon=True)
                self.driver.start()

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._last_tick < POLL_SECONDS:
            return
        self._last_tick = now
        try:
            self.hooks.tick()
        except Exception as exc:  # housekeeping (plot, limits) must never stop the loop
            self.hooks.log(f"scheduler housekeeping failed: {type(exc).__name__}: {exc}")

    def _drive(self) -> None:
        while True:
            try:
                name = self.events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                name = None
            if name is not None:
                self._complete(name)
            self._tick()
            self._launch_ready()
            with self.lock:
                if self.closed and not self.running and self.events.empty():
                    return


# the placeholder of a node being launched: taken from the ready queue, no future yet
_LAUNCHING: Future = Future()
