"""Buffered report writing: the hot path appends to lists, a background thread writes batches.

``report_scalar`` must cost about as much as ``list.append``; a database round trip per call
would be ~1000x slower. So each :class:`ReportBuffer` (one per store and process) keeps plain
lists of row tuples. ``list.append`` and swapping a list attribute are atomic under the GIL,
so producers take no lock; the flusher swaps the lists out and writes each batch with one
``executemany`` inside one transaction. Everything is flushed on ``flush()``, on task close,
at interpreter exit (atexit) and from the uncaught-exception hook.
"""
from __future__ import annotations

import atexit
import json
import threading
import time
import weakref
from typing import Any

from .store import Store

FLUSH_INTERVAL_SECONDS = 0.5


class ReportBuffer:
    """In-memory queue of report rows for one store, flushed in batches by a daemon thread."""

    def __init__(self, store: Store):
        self.store = store
        self.scalars: list[tuple] = []
        self.console: list[tuple] = []
        self.plots: list[tuple] = []
        self.samples: list[tuple] = []
        self.single_values: list[tuple] = []
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        _buffers.add(self)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="pipetrack-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(FLUSH_INTERVAL_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep flushing later; the final flush reports errors
                time.sleep(FLUSH_INTERVAL_SECONDS)

    # ------------------------------------------------------------- producers (hot path)
    def add_scalar(self, task_id: str, metric: str, variant: str, iteration: int, value: float) -> None:
        self.scalars.append((task_id, metric, variant, iteration, value, time.time()))
        if self._thread is None:
            self._ensure_thread()

    def add_console(self, task_id: str, text: str, level: str = "info") -> None:
        self.console.append((task_id, time.time(), level, text))
        if self._thread is None:
            self._ensure_thread()

    def add_plot(self, task_id: str, metric: str, variant: str, iteration: int, figure: dict) -> None:
        self.plots.append((task_id, metric, variant, iteration, figure, time.time()))
        self._ensure_thread()

    def add_sample(self, task_id: str, metric: str, variant: str, iteration: int, url: str) -> None:
        self.samples.append((task_id, metric, variant, iteration, url, time.time()))
        self._ensure_thread()

    def add_single_value(self, task_id: str, name: str, value: float) -> None:
        self.single_values.append((task_id, name, value, time.time()))
        self._ensure_thread()

    def pending(self) -> bool:
        return bool(self.scalars or self.console or self.plots or self.samples or self.single_values)

    # ------------------------------------------------------------- writer
    def _take(self, attr: str) -> list[tuple]:
        batch = getattr(self, attr)
        if batch:
            setattr(self, attr, [])
        return batch

    def flush(self) -> None:
        """Write everything buffered so far (safe to call from any thread)."""
        with self._flush_lock:
            scalars = self._take("scalars")
            console = self._take("console")
            plots = self._take("plots")
            samples = self._take("samples")
            singles = self._take("single_values")
            if not (scalars or console or plots or samples or singles):
                return
            last_iter: dict[str, int] = {}
            for row in scalars:
                if row[3] > last_iter.get(row[0], -(2 ** 63)):
                    last_iter[row[0]] = row[3]
            for row in plots:
                if row[3] is not None and row[3] > last_iter.get(row[0], -(2 ** 63)):
                    last_iter[row[0]] = row[3]
            now = time.time()
            with self.store.write() as conn:
                if scalars:
                    conn.executemany("INSERT INTO scalars(task_id, metric, variant, iteration, value, ts) "
                                     "VALUES (?,?,?,?,?,?)", scalars)
                if console:
                    conn.executemany("INSERT INTO console(task_id, ts, level, text) VALUES (?,?,?,?)", console)
                if plots:
                    conn.executemany("INSERT INTO plots(task_id, metric, variant, iteration, figure, ts) "
                                     "VALUES (?,?,?,?,?,?)",
                                     [(*r[:4], json.dumps(r[4], default=_json_default), r[5]) for r in plots])
                if samples:
                    conn.executemany("INSERT INTO debug_samples(task_id, metric, variant, iteration, url, ts) "
                                     "VALUES (?,?,?,?,?,?)", samples)
                if singles:
                    conn.executemany("INSERT OR REPLACE INTO single_values(task_id, name, value, ts) "
                                     "VALUES (?,?,?,?)", singles)
                for task_id, iteration in last_iter.items():
                    conn.execute("UPDATE tasks SET last_iteration=MAX(COALESCE(last_iteration, 0), ?), "
                                 "last_update=? WHERE id=?", (iteration, now, task_id))

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self.flush()


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays and other odd values JSON-serialisable in plot figures."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


_buffers: "weakref.WeakSet[ReportBuffer]" = weakref.WeakSet()
_by_store: dict[int, ReportBuffer] = {}


def buffer_for(store: Store) -> ReportBuffer:
    """The process-wide ReportBuffer of ``store``."""
    buf = _by_store.get(id(store))
    if buf is None or buf.store is not store:
        buf = _by_store[id(store)] = ReportBuffer(store)
    return buf


def flush_all() -> None:
    """Flush every buffer of this process (atexit, exception hook, before status changes)."""
    for buf in list(_buffers):
        try:
            buf.flush()
        except Exception as exc:  # at exit there is nobody left to raise to
            import sys
            print(f"pipetrack: could not flush reports to {buf.store.path}: {exc}", file=sys.__stderr__)


def _after_fork_in_child() -> None:
    # Threads do not survive fork and the parent's pending rows are the parent's to write.
    for buf in list(_buffers):
        buf._thread = None
        buf.scalars, buf.console, buf.plots, buf.samples, buf.single_values = [], [], [], [], []
        buf._flush_lock = threading.Lock()


atexit.register(flush_all)
import os as _os  # noqa: E402
_os.register_at_fork(after_in_child=_after_fork_in_child)
