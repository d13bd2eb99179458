"""Store operations on what a task reports while it runs: scalars, console, plots, samples."""
from __future__ import annotations

import time
from typing import Any, Iterable, Sequence

from .records import upsert
from .scalar_chunks import (COMPACT_ABOVE_CHUNKS, INSERT_CHUNK, MAX_ITERATION, Series, merge_chunks,
                            pack_columns, pack_rows)

_LOWEST = -(2 ** 63)


class MetricOperations:
    """Scalars (packed chunks, see ``scalar_chunks.py``), single values, console lines, plots, debug
    samples (mixed into ``TaskStore``). Models' own reports are keyed by the model's id."""

    # ----------------------------------------------------------------- writing
    def write_reports(self, scalars: Sequence[Sequence[Any]] = (), console: Sequence[Sequence[Any]] = (),
                      plots: Sequence[Sequence[Any]] = (), samples: Sequence[Sequence[Any]] = (),
                      single_values: Sequence[Sequence[Any]] = ()) -> None:
        """Store a batch of reports in one transaction and advance each task's last iteration.

        Rows, as the report buffer holds them: scalars ``(task_id, metric, variant, iteration, value,
        ts)``; console ``(task_id, ts, level, text)``; plots ``(task_id, metric, variant, iteration,
        figure JSON text, ts, replace)``, where ``replace`` drops the earlier stored plots of that
        metric/variant and keeps only the batch's last replacing one; samples ``(task_id, metric,
        variant, iteration, url, ts, replace)``, where ``replace`` drops earlier samples with that
        url; single values ``(task_id, name, value, ts)``, replacing the value of that name.
        Rows the store refuses raise :class:`~pipetrack.errors.RecordRejected`."""
        chunks = pack_rows(scalars) if scalars else []
        last_iteration: dict[str, int] = {}
        for chunk in chunks:
            if chunk[MAX_ITERATION] > last_iteration.get(chunk[0], _LOWEST):
                last_iteration[chunk[0]] = chunk[MAX_ITERATION]
        for row in plots:
            if row[3] is not None and row[3] > last_iteration.get(row[0], _LOWEST):
                last_iteration[row[0]] = row[3]
        replaced = {tuple(r[:3]): i for i, r in enumerate(plots) if r[6]}  # key -> its last replacing plot
        plot_rows = [tuple(r[:6]) for i, r in enumerate(plots) if not r[6] or replaced[tuple(r[:3])] == i]
        now = time.time()
        with self.write() as conn:
            if chunks:
                conn.executemany(INSERT_CHUNK, chunks)
            if console:
                conn.executemany("INSERT INTO console(task_id, ts, level, text) VALUES (?,?,?,?)", console)
            if replaced:
                conn.executemany("DELETE FROM plots WHERE task_id=? AND metric=? AND variant=?", list(replaced))
            if plot_rows:
                conn.executemany("INSERT INTO plots(task_id, metric, variant, iteration, figure, ts) "
                                 "VALUES (?,?,?,?,?,?)", plot_rows)
            for row in samples:
                if row[6]:
                    conn.execute("DELETE FROM debug_samples WHERE task_id=? AND url=?", (row[0], row[4]))
                conn.execute("INSERT INTO debug_samples(task_id, metric, variant, iteration, url, ts) "
                             "VALUES (?,?,?,?,?,?)", tuple(row[:6]))
            if single_values:
                conn.executemany(upsert("single_values", ("task_id", "name", "value", "ts"), ("task_id", "name")),
                                 single_values)
            for task_id, iteration in last_iteration.items():
                conn.execute("UPDATE tasks SET last_iteration=CASE WHEN COALESCE(last_iteration, 0) < ? THEN ? "
                             "ELSE COALESCE(last_iteration, 0) END, last_update=? WHERE id=?",
                             (int(iteration), int(iteration), now, task_id))

    def add_scalar_series(self, owner_id: str,
                          series: Iterable[tuple[Any, Any, Sequence[int], Sequence[float], Sequence[float]]]) -> None:
        """Append whole series ``(metric, variant, iterations, values, timestamps)`` to a task's (or
        model's) scalars, one chunk each (empty series are skipped)."""
        chunks = [pack_columns(owner_id, metric, variant, iters, vals, stamps)
                  for metric, variant, iters, vals, stamps in series if len(iters)]
        if chunks:
            with self.write() as conn:
                conn.executemany(INSERT_CHUNK, chunks)

    def compact_scalars(self, task_id: str) -> None:
        """Merge a task's chunks into one per series when a series has many (a long run flushed every
        half second); called when the run ends, keeps later reads to one row per series."""
        with self.write() as conn:
            crowded = conn.execute("SELECT COUNT(*) FROM scalars WHERE task_id=? GROUP BY metric, variant "
                                   "HAVING COUNT(*) > ?", (task_id, COMPACT_ABOVE_CHUNKS)).fetchall()
            if not crowded:
                return
            series = self.scalar_series(task_id)
            conn.execute("DELETE FROM scalars WHERE task_id=?", (task_id,))
            conn.executemany(INSERT_CHUNK, [pack_columns(task_id, metric, variant, iters, vals, stamps)
                                            for (metric, variant), (iters, vals, stamps) in series.items()])

    # ----------------------------------------------------------------- reading
    def scalar_series(self, owner_id: str) -> dict[tuple[str, str], Series]:
        """Every scalar series of a task (or model): ``{(metric, variant): (iterations, values,
        timestamps)}`` as arrays in report order, series sorted by metric and variant."""
        return merge_chunks(self.rows("SELECT metric, variant, iters, vals, stamps FROM scalars WHERE task_id=? "
                                      "ORDER BY metric, variant, seq", (owner_id,)))

    def last_scalar_metrics(self, owner_id: str) -> dict[str, dict[str, dict[str, float]]]:
        """``{metric: {variant: {'last', 'min', 'max'}}}`` of a task's scalars, from the chunk summaries
        (``last``: the value at the highest iteration, the latest report of it winning)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        best: dict[tuple[str, str], int] = {}
        for row in self.rows("SELECT metric, variant, max_iteration, min_value, max_value, last_value "
                             "FROM scalars WHERE task_id=? ORDER BY seq", (owner_id,)):
            key = (row[0], row[1])
            last = float("nan") if row[5] is None else row[5]  # a NaN last value is stored as NULL by SQLite
            entry = out.setdefault(row[0], {}).get(row[1])
            if entry is None:
                out[row[0]][row[1]] = {"last": last, "min": row[3], "max": row[4]}
                best[key] = row[2]
                continue
            if row[3] is not None:
                entry["min"] = row[3] if entry["min"] is None else min(entry["min"], row[3])
                entry["max"] = row[4] if entry["max"] is None else max(entry["max"], row[4])
            if row[2] >= best[key]:  # a later chunk at the same top iteration wins (latest report)
                best[key] = row[2]
                entry["last"] = last
        return out

    def max_scalar_iteration(self, owner_id: str) -> int | None:
        """The highest iteration among a task's scalars (None when it has none)."""
        row = self.query_one("SELECT MAX(max_iteration) AS top FROM scalars WHERE task_id=?", (owner_id,))
        return None if row is None or row["top"] is None else int(row["top"])

    def scalar_count(self, owner_id: str) -> int:
        """How many scalar points a task (or model) has stored, from the chunk headers."""
        row = self.query_one("SELECT SUM(n) AS n FROM scalars WHERE task_id=?", (owner_id,))
        return 0 if row is None or row["n"] is None else int(row["n"])
