"""Scalar series as tracking reads them back: every point by an x axis, sampled, summarised.

How the points are stored (packed chunks) is the store's business (``store/scalar_chunks.py``);
this module turns :meth:`~pipetrack.store.TaskStore.scalar_series` into ClearML's shapes.
"""
from __future__ import annotations

from array import array
from datetime import datetime, timezone

from ..store import TaskStore

X_AXES = ("iter", "timestamp", "iso_time")


def _x_values(iters: array, stamps: array, x_axis: str) -> list:
    if x_axis == "iter":
        return iters.tolist()
    if x_axis == "timestamp":
        return [int(ts * 1000) for ts in stamps]
    return [datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() for ts in stamps]


def all_scalars(store: TaskStore, task_id: str, x_axis: str = "iter") -> dict[str, dict[str, dict[str, list]]]:
    """Every point, ``{metric: {variant: {'x': [...], 'y': [...]}}}``, sorted by the x axis."""
    out: dict[str, dict[str, dict[str, list]]] = {}
    for (metric, variant), (iters, vals, stamps) in store.scalar_series(task_id).items():
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
