"""The scheduling loop shared by PipelineController and PipelineDecorator.

The loop only decides *when* a node runs; *how* it is launched and what its result means
belong to the pipeline (``pipeline._launch_node`` / ``pipeline._complete_node``), and *where*
it runs to an executor. State, for a run of ``a -> (b, c) -> d``::

    pending  = {b, c, d}      nodes not launched yet (parents unfinished, or not looked at)
    running  = {a: future}    launched, result not processed yet
    finished = nodes whose status is completed/cached/failed/skipped/aborted

    a finishes -> its future's callback queues "a" -> the loop completes a, then launches
    every pending node whose parents are all finished: b and c together; d waits for both.

A node whose parent was skipped is skipped; whose parent failed (or was aborted) is skipped
unless that parent's ``continue_behaviour`` says ``skip_children_on_fail=False``
(``skip_children_on_abort``), in which case it runs with that parent's outputs as None.

Threads: with an executor that runs steps in the caller (inline), everything happens in the
calling thread — a component call *is* the function call. Otherwise a daemon driver thread
processes completions and launches children as soon as parents finish, while the user's
thread (a decorated pipeline function) keeps adding nodes and waits only on the values it
uses.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Iterable, Optional

from .node import Node

POLL_SECONDS = 0.1


class Scheduler:
    """Launches ready nodes and processes finished ones for one pipeline run."""

    def __init__(self, pipeline: Any):
        self.pipeline = pipeline
        self.nodes: dict[str, Node] = {}
        self.running: dict[str, Future] = {}
        self.events: "queue.Queue[Optional[str]]" = queue.Queue()
        self.lock = threading.RLock()
        self.driver: Optional[threading.Thread] = None
        self.stopping = False
        self.closed = False
        self.propagate: Optional[BaseException] = None
        self.all_done = threading.Condition(self.lock)

    # ------------------------------------------------------------------ public
    def add(self, node: Node) -> None:
        """Register a node and launch whatever is ready (possibly this node, right now)."""
        with self.lock:
            self.nodes[node.name] = node
        self.schedule()

    def schedule(self) -> None:
        """Launch every ready node (inline steps run to completion inside this call)."""
        with self.lock:
            self._launch_ready()
        self._raise_propagated()

    def wait(self, names: Optional[Iterable[str]] = None, timeout: Optional[float] = None) -> bool:
        """Block until the named nodes (default: all) are finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        targets = list(names) if names is not None else None
        while True:
            with self.lock:
                self._launch_ready()
                nodes = [self.nodes[n] for n in targets] if targets is not None else list(self.nodes.values())
                if all(n.is_finished for n in nodes):
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.all_done.wait(timeout=POLL_SECONDS if remaining is None else min(POLL_SECONDS, remaining))
            self._raise_propagated()
        self._raise_propagated()
        return True

    def stop(self, reason: str = "aborted") -> None:
        """Abort: cancel running steps, skip everything not started."""
        with self.lock:
            self.stopping = True
            for name, future in list(self.running.items()):
                self.pipeline._cancel_node(self.nodes[name])
            for node in self.nodes.values():
                if node.status == "pending":
                    self._finish(node, "skipped", reason)
            self.all_done.notify_all()

    def close(self) -> None:
        """No more nodes will be added; the driver exits once nothing runs."""
        self.closed = True
        self.events.put(None)
        if self.driver is not None and self.driver is not threading.current_thread():
            self.driver.join(timeout=30)

    # ------------------------------------------------------------------ loop
    def _raise_propagated(self) -> None:
        if self.propagate is not None:
            exc, self.propagate = self.propagate, None
            raise exc

    def _parents_state(self, node: Node) -> Optional[str]:
        """'wait' | 'run' | 'skip' for a pending node."""
        verdict = "run"
        for parent_name in node.parents:
            parent = self.nodes.get(parent_name)
            if parent is None or not parent.is_finished:
                return "wait"
            if parent.status == "skipped":
                verdict = "skip"
            elif parent.status == "failed" and parent.continue_behaviour["skip_children_on_fail"]:
                verdict = "skip"
            elif parent.status == "aborted" and parent.continue_behaviour["skip_children_on_abort"]:
                verdict = "skip"
        return verdict

    def _launch_ready(self) -> None:
        progress = True
        while progress:
            progress = False
            for node in list(self.nodes.values()):
                if node.status != "pending" or node.name in self.running:
                    continue
                if self.stopping:
                    self._finish(node, "skipped", "pipeline stopped")
                    progress = True
                    continue
                state = self._parents_state(node)
                if state == "wait":
                    continue
                progress = True
                if state == "skip":
                    self._finish(node, "skipped", "a parent step did not complete")
                    continue
                self._launch(node)

    def _launch(self, node: Node) -> None:
        try:
            future = self.pipeline._launch_node(node)
        except BaseException as exc:  # bad input at launch time, an executor refusing work: the step
            node.exception = exc      # fails like one that ran (its task closed, the pipeline failed)
            if getattr(self.pipeline, "_propagate_step_errors", False):
                self.propagate = exc
            future = Future()
            future.set_exception(exc)
        if future is None:  # finished without running (cache hit, skipped by a callback)
            self._notify()
            return
        self.running[node.name] = future
        if future.done():
            self._complete(node.name)
        else:
            future.add_done_callback(lambda _f, name=node.name: self.events.put(name))
            self._ensure_driver()

    def _complete(self, name: str) -> None:
        future = self.running.pop(name, None)
        if future is None:
            return
        node = self.nodes[name]
        try:
            result = future.result()
        except BaseException as exc:  # the executor itself failed (lost worker, ...)
            result = exc
        try:
            relaunch = self.pipeline._complete_node(node, result)
        except BaseException as exc:  # a callback or a monitor raised: like an error in the controller,
            node.exception = exc      # it stops the pipeline (and is raised to the user), never hangs it
            if not node.is_finished:
                self._finish(node, "failed", f"{type(exc).__name__}: {exc}")
            self.propagate = self.propagate or exc
            self.stop(f"pipeline stopped: {type(exc).__name__} in a callback of step '{name}'")
            return
        if relaunch:
            node.status = "pending"
        self._notify()

    def _finish(self, node: Node, status: str, message: str = "") -> None:
        self.pipeline._set_node_status(node, status, message)
        self._notify()

    def _notify(self) -> None:
        self.all_done.notify_all()

    def _ensure_driver(self) -> None:
        if self.driver is None or not self.driver.is_alive():
            self.driver = threading.Thread(target=self._drive, name="pipetrack-scheduler", daemon=True)
            self.driver.start()

    def _drive(self) -> None:
        while True:
            try:
                name = self.events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                name = None
            with self.lock:
                if name is not None:
                    self._complete(name)
                try:
                    self.pipeline._on_tick()
                except Exception as exc:  # housekeeping (plot, limits) must never stop the loop
                    self.pipeline._log(f"scheduler housekeeping failed: {type(exc).__name__}: {exc}")
                self._launch_ready()
                if self.closed and not self.running and self.events.empty():
                    return
