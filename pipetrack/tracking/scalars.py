"""Scalar series storage: reported points packed into chunks, and their read-back.

Why chunks and not one SQLite row per point: a training loop may report millions of scalars
and ``report_scalar`` must stay as cheap as ``list.append``. A row per point costs ~1.3 µs of
SQLite work (row + index entry) per scalar; packing each flush batch of one series into one row
of three binary arrays (iterations int64, values float64, timestamps float64) costs ~0.3 µs and
makes reading a series back a single ``frombytes``. Each chunk also carries its summary
(count, min/max iteration, min/max value, the value at its highest iteration) so
``get_last_scalar_metrics`` and ``get_last_iteration`` never unpack arrays.

Row tuples produced by the report buffer are ``(task_id, metric, variant, iteration, value, ts)``.
Records bundles (``records.py``) carry scalars as plain JSON columns per series, independent of
this layout.
"""
from __future__ import annotations

import sys
from array import array
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from ..store import TaskStore

CHUNK_COLUMNS = ("task_id", "metric", "variant", "n", "min_iteration", "max_iteration", "min_value",
                 "max_value", "last_value", "last_ts", "iters", "vals", "stamps")
INSERT_CHUNK = (f"INSERT INTO scalars({', '.join(CHUNK_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(CHUNK_COLUMNS))})")
X_AXES = ("iter", "timestamp", "iso_time")
_SWAP = sys.byteorder != "little"  # blobs are little-endian on every platform


def _blob(typecode: str, values: Sequence[Any]) -> bytes:
    packed = array(typecode, values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def _unblob(typecode: str, data: bytes) -> array:
    out = array(typecode)
    out.frombytes(data)
    if _SWAP:
        out.byteswap()
    return out


def group_rows(rows: Iterable[Sequence[Any]]) -> dict[tuple, list]:
    """Group report rows by (task_id, metric, variant), keeping their order."""
    groups: dict[tuple, list] = {}
    get = groups.get
    for row in rows:
        key = (row[0], row[1], row[2])
        bucket = get(key)
        if bucket is None:
            bucket = groups[key] = []
        bucket.append(row)
    return groups


def pack_chunk(task_id: str, metric: Any, variant: Any, rows: Sequence[Sequence[Any]]) -> tuple:
    """One ``scalars`` row (see CHUNK_COLUMNS) for report rows of one series, in report order."""
    return pack_columns(task_id, metric, variant, [r[3] for r in rows], [r[4] for r in rows],
                        [r[5] for r in rows])


def pack_columns(task_id: str, metric: Any, variant: Any, iters: Sequence[int], vals: Sequence[float],
                 stamps: Sequence[float]) -> tuple:
    """One ``scalars`` row from the three columns of one series (non-empty, same length)."""
    top = max(iters)
    lo, hi = min(vals), max(vals)
    if lo != lo or hi != hi:  # a NaN in first place poisons min/max: summarise the others
        finite = [v for v in vals if v == v]
        lo, hi = (min(finite), max(finite)) if finite else (None, None)
    if iters[-1] == top:
        last_index = len(iters) - 1
    else:
        last_index = max(i for i, it in enumerate(iters) if it == top)
    return (task_id, str(metric), str(variant), len(iters), min(iters), top, lo, hi, vals[last_index],
            stamps[last_index], _blob("q", iters), _blob("d", vals), _blob("d", stamps))


def pack_rows(rows: Iterable[Sequence[Any]]) -> list[tuple]:
    """Chunks for a batch of report rows of any tasks and series."""
    return [pack_chunk(key[0], key[1], key[2], group) for key, group in group_rows(rows).items()]


# --------------------------------------------------------------------------- read-back
def read_series(store: TaskStore, task_id: str) -> dict[tuple[str, str], tuple[array, array, array]]:
    """``{(metric, variant): (iterations, values, timestamps)}`` in report order."""
    out: dict[tuple[str, str], tuple[array, array, array]] = {}
    for row in store.rows("SELECT metric, variant, iters, vals, stamps FROM scalars WHERE task_id=? "
                          "ORDER BY metric, variant, rowid", (task_id,)):
        key = (row[0], row[1])
        series = out.get(key)
        if series is None:
            out[key] = (_unblob("q", row[2]), _unblob("d", row[3]), _unblob("d", row[4]))
        else:
            series[0].frombytes(_unblob("q", row[2]).tobytes())
            series[1].frombytes(_unblob("d", row[3]).tobytes())
            series[2].frombytes(_unblob("d", row[4]).tobytes())
    return out


def _x_values(iters: array, stamps: array, x_axis: str) -> list:
    if x_axis == "iter":
        return iters.tolist()
    if x_axis == "timestamp":
        return [int(ts * 1000) for ts in stamps]
    return [datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() for ts in stamps]


def all_scalars(store: TaskStore, task_id: str, x_axis: str = "iter") -> dict[str, dict[str, dict[str, list]]]:
    """Every point, ``{metric: {variant: {'x': [...], 'y': [...]}}}``, sorted by the x axis."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for (metric, variant), (iters, vals, stamps) in read_series(store, task_id).items():
        order_key = iters if x_axis == "iter" else stamps
        if any(a > b for a, b in zip(order_key, order_key[1:])):  # several writers, or out-of-order reports
            order = sorted(range(len(order_key)), key=order_key.__getitem__)
            iters = array("q", [iters[i] for i in order])
            vals = array("d", [vals[i] for i in order])
            stamps = array("d", [stamps[i] for i in order])
        out.setdefault(metric, {})[variant] = {"x": _x_values(iters, stamps, x_axis), "y": vals.tolist()}
    return out


def downsample(graph: dict, limit: int, averaged_x: bool) -> dict:
    """Average consecutive windows so that at most ``limit`` points remain (ClearML's sampling)."""
    xs, ys = graph["x"], graph["y"]
    n = len(ys)
    out_x, out_y = [], []
    for i in range(limit):
        lo, hi = i * n // limit, (i + 1) * n // limit
        if hi <= lo:
            continue
        window = ys[lo:hi]
        out_y.append(sum(window) / len(window))
        out_x.append(sum(xs[lo:hi]) / (hi - lo) if averaged_x else xs[lo])
    return {"x": out_x, "y": out_y}


def last_metrics(store: TaskStore, task_id: str) -> dict[str, dict[str, dict[str, float]]]:
    """``{metric: {variant: {'last', 'min', 'max'}}}`` from the chunk summaries."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    best: dict[tuple[str, str], int] = {}
    for row in store.rows("SELECT metric, variant, max_iteration, min_value, max_value, last_value "
                          "FROM scalars WHERE task_id=? ORDER BY rowid", (task_id,)):
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


def max_iteration(store: TaskStore, task_id: str) -> int | None:
    rows = store.rows("SELECT MAX(max_iteration) FROM scalars WHERE task_id=?", (task_id,))
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def export_series(store: TaskStore, task_id: str) -> list[dict]:
    """The task's scalars for a records bundle: one JSON-able dict of columns per series.

    Columns rather than a dict per point keep a million-point bundle at tens of MB, not hundreds.
    """
    return [{"metric": metric, "variant": variant, "iterations": iters.tolist(), "values": vals.tolist(),
             "timestamps": stamps.tolist()}
            for (metric, variant), (iters, vals, stamps) in read_series(store, task_id).items()]


def import_series(conn: Any, task_id: str, series: Iterable[dict], iteration_offset: int = 0) -> None:
    """Write bundle scalars as chunks of ``task_id`` (iterations shifted by ``iteration_offset``).

    Accepts the column form of :func:`export_series` and, for older bundles, one dict per point
    (``metric, variant, iteration, value, ts``).
    """
    chunks, points = [], []
    for item in series:
        if "iterations" in item:
            if item["iterations"]:
                chunks.append(pack_columns(task_id, item["metric"], item["variant"],
                                           [int(i) + iteration_offset for i in item["iterations"]],
                                           [float("nan") if v is None else float(v) for v in item["values"]],
                                           [float(t or 0.0) for t in item["timestamps"]]))
        else:
            points.append((task_id, item["metric"], item["variant"], int(item["iteration"]) + iteration_offset,
                           float("nan") if item["value"] is None else float(item["value"]), item.get("ts") or 0.0))
    chunks += pack_rows(points)
    if chunks:
        conn.executemany(INSERT_CHUNK, chunks)


COMPACT_ABOVE_CHUNKS = 32


def compact(store: TaskStore, task_id: str) -> None:
    """Merge a task's chunks into one per series when a series has many (a long run flushed every
    half second); called when the run ends, keeps later reads to one row per series."""
    with store.write() as conn:
        counts = conn.execute("SELECT COUNT(*) FROM scalars WHERE task_id=? GROUP BY metric, variant "
                              "HAVING COUNT(*) > ?", (task_id, COMPACT_ABOVE_CHUNKS)).fetchall()
        if not counts:
            return
        series = read_series(store, task_id)
        conn.execute("DELETE FROM scalars WHERE task_id=?", (task_id,))
        conn.executemany(INSERT_CHUNK, [pack_columns(task_id, metric, variant, iters, vals, stamps)
                                        for (metric, variant), (iters, vals, stamps) in series.items()])
