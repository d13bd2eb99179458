"""Side-by-side comparison of tasks: which parameters differ, and their scalars.

Shared by ``pipetrack tasks compare`` and the web UI's compare view, so both mark the same
rows as different. Pure functions over plain dicts: no store access here.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

_MISSING = object()
COMPARE_MIN, COMPARE_MAX = 2, 5  # as ClearML's compare view


def check_compare_count(task_ids: Sequence[str]) -> None:
    """Refuse fewer than 2 or more than 5 tasks to compare."""
    from ..errors import ValidationError
    if not COMPARE_MIN <= len(task_ids) <= COMPARE_MAX:
        raise ValidationError(f"compare takes {COMPARE_MIN} to {COMPARE_MAX} task ids, got {len(task_ids)}: "
                              f"{list(task_ids)!r}")


def compare_parameters(params_by_task: list[dict[str, Any]], split_missing: bool = False) -> list[dict]:
    """One row per parameter name present in any task, sorted by name:
    ``{"name": key, "values": [value or None per task], "differs": bool}``.

    ``differs`` is True when the tasks do not all have the same value; a parameter one task
    lacks differs from any value another task has (but not from another task lacking it).
    With ``split_missing`` a row also has ``missing`` (some task lacks it) and ``differs``
    compares only the tasks that have it."""
    names = sorted({key for params in params_by_task for key in params})
    rows = []
    for name in names:
        raw = [params.get(name, _MISSING) for params in params_by_task]
        rows.append({"name": name, "values": [None if v is _MISSING else v for v in raw],
                     **_flags(raw, split_missing)})
    return rows


def compare_scalars(metrics_by_task: Sequence[Mapping[str, Mapping[str, Mapping[str, float]]]],
                    split_missing: bool = False) -> list[dict]:
    """One row per (title, series) reported by any task, sorted: ``{"title", "series",
    "values": [{"last", "min", "max"} or None per task], "differs": bool}`` (``differs``: the
    last values are not all equal; ``split_missing`` as in ``compare_parameters``). Input:
    each task's ``get_last_scalar_metrics()``."""
    keys = sorted({(title, series) for metrics in metrics_by_task for title, by_series in metrics.items()
                   for series in by_series})
    rows = []
    for title, series in keys:
        values = [dict(metrics[title][series]) if series in metrics.get(title, {}) else None
                  for metrics in metrics_by_task]
        lasts = [v["last"] if v is not None else _MISSING for v in values]
        rows.append({"title": title, "series": series, "values": values, **_flags(lasts, split_missing)})
    return rows


def _flags(values: list[Any], split_missing: bool) -> dict:
    if not split_missing:
        return {"differs": _differs(values)}
    present = [v for v in values if v is not _MISSING]
    return {"differs": _differs(present), "missing": len(present) < len(values)}


def _differs(values: list[Any]) -> bool:
    first = values[0] if values else None
    return any(not _same(first, v) for v in values[1:])


def _same(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # two NaNs are the same value here
    try:
        return bool(a == b)
    except Exception:  # objects whose == does not return a bool (arrays, ...)
        return repr(a) == repr(b)
