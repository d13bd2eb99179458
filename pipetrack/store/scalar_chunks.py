"""The storage layout of scalar series: reported points packed into chunks (rows of ``scalars``).

Why chunks and not one row per point: a training loop may report millions of scalars and
``report_scalar`` must stay as cheap as ``list.append``. A row per point costs ~1.3 µs of
SQLite work (row + index entry) per scalar; packing each flush batch of one series into one row
of three binary arrays (iterations int64, values float64, timestamps float64) costs ~0.3 µs and
makes reading a series back a single ``frombytes``. Each chunk also carries its summary
(count, min/max iteration, min/max value, the value at its highest iteration) so the last
metrics and the last iteration of a task never unpack arrays. Chunks are ordered by ``seq``
(insertion order).

Report rows (the report buffer's tuples) are ``(task_id, metric, variant, iteration, value, ts)``.
"""
from __future__ import annotations

import sys
from array import array
from typing import Any, Iterable, Sequence

CHUNK_COLUMNS = ("task_id", "metric", "variant", "n", "min_iteration", "max_iteration", "min_value",
                 "max_value", "last_value", "last_ts", "iters", "vals", "stamps")
INSERT_CHUNK = (f"INSERT INTO scalars({', '.join(CHUNK_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(CHUNK_COLUMNS))})")
MAX_ITERATION = CHUNK_COLUMNS.index("max_iteration")  # position in a packed chunk tuple
# a series with more chunks than this is merged into one when its task ends (see compact_scalars)
COMPACT_ABOVE_CHUNKS = 32
_SWAP = sys.byteorder != "little"  # blobs are little-endian on every platform

Series = tuple[array, array, array]  # (iterations 'q', values 'd', timestamps 'd'), in report order


def blob(typecode: str, values: Sequence[Any]) -> bytes:
    """``values`` as a little-endian array of ``typecode`` ('q' or 'd'), as chunks store them."""
    packed = array(typecode, values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unblob(typecode: str, data: Any) -> array:
    """The array a chunk column holds (``data``: bytes, or a memoryview from PostgreSQL)."""
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


def pack_columns(task_id: str, metric: Any, variant: Any, iters: Sequence[int], vals: Sequence[float],
                 stamps: Sequence[float]) -> tuple:
    """One ``scalars`` row (see CHUNK_COLUMNS) from the three columns of one series (non-empty, same length)."""
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
            stamps[last_index], blob("q", iters), blob("d", vals), blob("d", stamps))


def pack_chunk(task_id: str, metric: Any, variant: Any, rows: Sequence[Sequence[Any]]) -> tuple:
    """One ``scalars`` row for report rows of one series, in report order."""
    return pack_columns(task_id, metric, variant, [r[3] for r in rows], [r[4] for r in rows],
                        [r[5] for r in rows])


def pack_rows(rows: Iterable[Sequence[Any]]) -> list[tuple]:
    """Chunks for a batch of report rows of any tasks and series."""
    return [pack_chunk(key[0], key[1], key[2], group) for key, group in group_rows(rows).items()]


def merge_chunks(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str], Series]:
    """``{(metric, variant): series}`` of chunk rows ``(metric, variant, iters, vals, stamps)``
    read in ``seq`` order: each series' chunks concatenated."""
    out: dict[tuple[str, str], Series] = {}
    for row in rows:
        key = (row[0], row[1])
        series = out.get(key)
        if series is None:
            out[key] = (unblob("q", row[2]), unblob("d", row[3]), unblob("d", row[4]))
        else:
            series[0].extend(unblob("q", row[2]))
            series[1].extend(unblob("d", row[3]))
            series[2].extend(unblob("d", row[4]))
    return out
