"""Buffered report writing: the hot path appends to lists, a background thread writes batches.

``report_scalar`` must cost about as much as ``list.append``; a database round trip per call
would be ~1000x slower. So each :class:`ReportBuffer` (one per store and process) keeps plain
lists of row tuples. The lists are never replaced, so a producer may bind ``buffer.scalars.append``
once and call it without any lookup; ``list.append``, slicing and ``del lst[:n]`` are each atomic
under the GIL, so the flusher takes the first ``n`` rows without a lock and producers never wait.
Each batch is written in one transaction (scalars packed into chunks, see ``scalars.py``).
Everything is flushed on ``flush()``, on task close, at interpreter exit (atexit) and from the
uncaught-exception hook.
"""
from __future__ import annotations

import atexit
import json
import sqlite3
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
            try:
                self._write(scalars, console, plots, samples, singles)
            except sqlite3.OperationalError:
                # the store is unavailable right now (locked past the timeout, disk full): put the
                # rows back in front so a later flush retries them; nothing is dropped
                self.scalars[:0], self.console[:0], self.plots[:0] = scalars, console, plots
                self.samples[:0], self.single_values[:0] = samples, singles
                raise
            except Exception:
                # a row the store can't take (validation at the Logger should prevent it): write
                # each kind on its own so one bad row costs only its own batch, and say so
                batches = (scalars, console, plots, samples, singles)
                for index, batch in enumerate(batches):
                    alone = [batch if i == index else [] for i in range(len(batches))]
                    if not batch:
                        continue
                    try:
                        self._write(*alone)
                    except Exception as exc:
                        kind = ("scalars", "console lines", "plots", "debug samples", "single values")[index]
                        import sys
                        print(f"pipetrack: dropped {len(batch)} {kind} the store rejected: {exc}",
                              file=sys.__stderr__)

    def _write(self, scalars: list, console: list, plots: list, samples: list, singles: list) -> None:
        from .scalars import pack_rows, INSERT_CHUNK
        chunks = pack_rows(scalars) if scalars else []
        last_iter: dict[str, int] = {}
        for chunk in chunks:
            if chunk[5] > last_iter.get(chunk[0], -(2 ** 63)):
                last_iter[chunk[0]] = chunk[5]
        for row in plots:
            if row[3] is not None and row[3] > last_iter.get(row[0], -(2 ** 63)):
                last_iter[row[0]] = row[3]
        replaced = {r[:3]: i for i, r in enumerate(plots) if r[6]}  # key -> its last replacing plot
        plot_rows = [(*r[:4], json.dumps(r[4], default=_json_default), r[5]) for i, r in enumerate(plots)
                     if not r[6] or replaced[r[:3]] == i]
        now = time.time()
        with self.store.write() as conn:
            if chunks:
                conn.executemany(INSERT_CHUNK, chunks)
            if console:
                conn.executemany("INSERT INTO console(task_id, ts, level, text) VALUES (?,?,?,?)", console)
            if replaced:
                conn.executemany("DELETE FROM plots WHERE task_id=? AND metric=? AND variant=?", replaced)
            if plot_rows:
                conn.executemany("INSERT INTO plots(task_id, metric, variant, iteration, figure, ts) "
                                 "VALUES (?,?,?,?,?,?)", plot_rows)
            for row in samples:
                if row[6]:
                    conn.execute("DELETE FROM debug_samples WHERE task_id=? AND url=?", (row[0], row[4]))
                conn.execute("INSERT INTO debug_samples(task_id, metric, variant, iteration, url, ts) "
                             "VALUES (?,?,?,?,?,?)", row[:6])
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
    # The lists are cleared in place: loggers hold bound ``append`` methods of them.
    for buf in list(_buffers):
        buf._thread = None
        for rows in (buf.scalars, buf.console, buf.plots, buf.samples, buf.single_values):
            rows.clear()
        buf._flush_lock = threading.Lock()


atexit.register(flush_all)
import os as _os  # noqa: E402
_os.register_at_fork(after_in_child=_after_fork_in_child)
