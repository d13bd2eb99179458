"""Buffered report writing: the hot path appends to lists, a background thread writes batches.

``report_scalar`` must cost about as much as ``list.append``; a database round trip per call
would be ~1000x slower. So each :class:`ReportBuffer` (one per store and process) keeps plain
lists of row tuples. The lists are never replaced, so a producer may bind ``buffer.scalars.append``
once and call it without any lookup; ``list.append``, slicing and ``del lst[:n]`` are each atomic
under the GIL, so the flusher takes the first ``n`` rows without a lock and producers never wait.
Each batch is written in one transaction (:meth:`~pipetrack.store.TaskStore.write_reports`).
Everything is flushed on ``flush()``, on task close, at interpreter exit (atexit) and from the
uncaught-exception hook.

A failed flush never loses what it could write (issue 10): when the store itself is unavailable
(locked past the timeout, disk full, damaged: a :class:`StoreError`) every row goes back in front
of the buffers for the next flush and the error is raised; when the store refuses a *row* (a
:class:`RecordRejected`, or a value that can't even be encoded), the batch
is written again kind by kind, and a kind that fails one series chunk / one row at a time, so a
bad row costs only itself and is reported on stderr. Console text is made storable when it is
buffered (lone surrogates, e.g. from a file name decoded with ``surrogateescape``, become
``\\udcff`` escapes): console output is never rejected or lost.
"""
from __future__ import annotations

import atexit
import json
import threading
import time
import weakref
from typing import Any

from ..errors import RecordRejected, StoreError
from ..store import TaskStore
from ..store.scalar_chunks import group_rows

FLUSH_INTERVAL_SECONDS = 0.5
_KINDS = ("scalars", "console lines", "plots", "debug samples", "single values")


def storable_text(text: str) -> str:
    """``text`` as SQLite can store it (UTF-8): lone surrogates become backslash escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _store_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the store can't be written right now (retry every row later)."""
    return isinstance(exc, StoreError) and not isinstance(exc, RecordRejected)


class ReportBuffer:
    """In-memory queue of report rows for one store, flushed in batches by a daemon thread."""

    def __init__(self, store: TaskStore):
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
        self.console.append((task_id, time.time(), level, storable_text(text)))
        if self._thread is None:
            self._ensure_thread()

    def add_plot(self, task_id: str, metric: str, variant: str, iteration: int, figure: dict,
                 replace: bool = False) -> None:
        """A plot; ``replace`` drops earlier plots of the same metric/variant (a figure redrawn as
        it changes, like a pipeline's execution flow, is kept once, not once per redraw)."""
        self.plots.append((task_id, metric, variant, iteration, figure, time.time(), replace))
        self._ensure_thread()

    def add_sample(self, task_id: str, metric: str, variant: str, iteration: int, url: str,
                   replace: bool = False) -> None:
        """A debug sample; ``replace`` drops earlier rows with the same URL (a recycled history slot)."""
        self.samples.append((task_id, metric, variant, iteration, url, time.time(), replace))
        self._ensure_thread()

    def add_single_value(self, task_id: str, name: str, value: float) -> None:
        self.single_values.append((task_id, name, value, time.time()))
        self._ensure_thread()

    def pending(self) -> bool:
        return bool(self.scalars or self.console or self.plots or self.samples or self.single_values)

    # ------------------------------------------------------------- writer
    @staticmethod
    def _take(rows: list) -> list:
        n = len(rows)
        if not n:
            return []
        batch = rows[:n]
        del rows[:n]  # rows appended meanwhile sit after index n and stay for the next flush
        return batch

    def flush(self) -> None:
        """Write everything buffered so far (safe to call from any thread)."""
        with self._flush_lock:
            scalars = self._take(self.scalars)
            console = self._take(self.console)
            plots = self._take(self.plots)
            samples = self._take(self.samples)
            singles = self._take(self.single_values)
            if not (scalars or console or plots or samples or singles):
                return
            batches = [scalars, console, plots, samples, singles]
            try:
                self._write(*batches)
            except Exception as exc:
                if _store_unavailable(exc):
                    self._put_back(batches)
                    raise
                self._write_salvaging(batches)

    def _put_back(self, batches: list[list]) -> None:
        """Return unwritten rows in front of the buffers (rows added meanwhile stay after them)."""
        for rows, batch in zip((self.scalars, self.console, self.plots, self.samples, self.single_values), batches):
            if batch:
                rows[:0] = batch

    def _write_salvaging(self, batches: list[list]) -> None:
        """Write a batch the store refused as a whole: each kind alone, and a failing kind one
        series chunk (scalars) or one row at a time, so only the rows the store refuses are
        dropped (and reported on stderr). A store that becomes unavailable meanwhile gets the
        rest back in the buffers, and the error is raised."""
        for index, batch in enumerate(batches):
            if not batch:
                continue
            alone = [batch if i == index else [] for i in range(len(batches))]
            try:
                self._write(*alone)
                continue
            except Exception as exc:
                if _store_unavailable(exc):
                    self._put_back([[] if i < index else b for i, b in enumerate(batches)])
                    raise
            units = list(group_rows(batch).values()) if index == 0 else [[row] for row in batch]
            dropped, reasons = 0, []
            for position, unit in enumerate(units):
                try:
                    self._write(*[unit if i == index else [] for i in range(len(batches))])
                except Exception as exc:
                    if _store_unavailable(exc):
                        rest = [row for later in units[position:] for row in later]
                        self._put_back([[] if i < index else rest if i == index else b
                                        for i, b in enumerate(batches)])
                        raise
                    dropped += len(unit)
                    if len(reasons) < 3:
                        reasons.append(storable_text(f"{type(exc).__name__}: {exc}"))
            if dropped:
                import sys
                print(f"pipetrack: dropped {dropped} of {len(batch)} {_KINDS[index]} the store {self.store} "
                      f"rejected (the others were written): {'; '.join(reasons)}", file=sys.__stderr__)

    def _write(self, scalars: list, console: list, plots: list, samples: list, singles: list) -> None:
        plots = [(*r[:4], json.dumps(r[4], default=_json_default), *r[5:]) for r in plots]
        self.store.write_reports(scalars=scalars, console=console, plots=plots, samples=samples,
                                 single_values=singles)

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


def buffer_for(store: TaskStore) -> ReportBuffer:
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
            print(f"pipetrack: could not flush reports to {buf.store}: {exc}", file=sys.__stderr__)


_held_for_fork: list = []


def _before_fork() -> None:
    """No flush may be half-way through SQLite when the process forks: the child would inherit
    its locks held by a thread that does not exist there, and its own flushes would hang."""
    for buf in list(_buffers):
        if buf._flush_lock.acquire(timeout=10):
            _held_for_fork.append(buf._flush_lock)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


def _after_fork_in_child() -> None:
    # Threads do not survive fork and the parent's pending rows are the parent's to write.
    # The lists are cleared in place: loggers hold bound ``append`` methods of them.
    _held_for_fork.clear()  # the child's buffers get new locks
    for buf in list(_buffers):
        buf._thread = None
        for rows in (buf.scalars, buf.console, buf.plots, buf.samples, buf.single_values):
            rows.clear()
        buf._flush_lock = threading.Lock()


atexit.register(flush_all)
import os as _os  # noqa: E402
_os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
