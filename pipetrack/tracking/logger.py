"""``Logger``: scalars, single values, text, plots (plotly-compatible dicts) and debug samples.

Scalars and console text only append to the report buffer (see ``reporting.py``). Every plot
kind is converted here to a plotly figure dict ``{"data": [...], "layout": {...}}`` so that any
plotly renderer (the UI, a notebook) can draw it unchanged. Debug samples (images, media) are
files uploaded through ``pipetrack.storage`` under the task's output destination.

Names (scalar/plot/debug sample title and series, single value names) must be storable text:
a ``str`` (a name is a key: ``0`` would be read back as ``"0"``, so other types are refused), and
one with a lone surrogate (``"\\ud800"``, valid in a Python str but not in UTF-8) is refused with
a ValidationError when reported, instead of failing the background flush later. Refused rather
than escaped because a name is a key: an escaped title would not match the title the user
asks for when reading back. ``report_scalar`` checks each title and series once: names already
checked are kept in a set, and a str set lookup (its hash is cached) is all a known name costs,
cheaper than building and hashing a (title, series) tuple per call. Console text is the
opposite case: it is escaped, never refused (``reporting.storable_text``).
"""
from __future__ import annotations

import io
import logging
import math
import os
import sys
from time import time as _now
from typing import Any, Optional, Sequence

from ..errors import ValidationError

_NAME_CACHE_LIMIT = 10_000  # checked names kept per Logger


def shown(value: Any) -> str:
    """``repr(value)`` for an error message. Never raises: an int of more than 4300 digits has no
    repr (``sys.get_int_max_str_digits``), and the message must name the value, not fail itself."""
    try:
        return repr(value)
    except ValueError:
        if isinstance(value, (list, tuple, set, frozenset)):
            return "[" + ", ".join(shown(item) for item in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{shown(k)}: {shown(v)}" for k, v in value.items()) + "}"
        if isinstance(value, int):
            return f"<int of about {int(abs(value).bit_length() * 0.30103) + 1} digits>"
        return f"<{type(value).__name__}>"


def check_name(what: str, value: str) -> str:
    """``value`` if SQLite can store it as text (UTF-8), else a ValidationError naming it."""
    if not isinstance(value, str):  # a name is a key: 0 would be read back as "0", never as 0
        raise ValidationError(f"{what} must be a string, got {shown(value)} ({type(value).__name__})")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"{what} {value!r} contains a lone surrogate ({value[exc.start]!r} at position {exc.start}), which "
                f"can't be stored; use valid Unicode text, e.g. "
                f"{value.encode('utf-8', 'backslashreplace').decode('utf-8')!r}") from None
    return value


_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
                logging.ERROR: "error", logging.CRITICAL: "critical"}


class SeriesInfo:
    """One line of ``report_line_plot``: name, data as [[x, y], ...], optional point labels.

    (A plain class rather than a dataclass: ``dataclasses`` costs ~5 ms of ``import pipetrack``.)
    """

    __slots__ = ("name", "data", "labels")

    def __init__(self, name: str, data: Any, labels: Optional[Sequence[str]] = None):
        self.name, self.data, self.labels = name, data, labels

    def __repr__(self) -> str:
        return f"SeriesInfo(name={self.name!r}, data={self.data!r}, labels={self.labels!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeriesInfo) and (self.name, self.data, self.labels) == \
            (other.name, other.data, other.labels)


def _to_list(values: Any) -> list:
    if hasattr(values, "tolist"):
        return values.tolist()
    return list(values)


def _layout(title: str, series: str, xaxis: Optional[str] = None, yaxis: Optional[str] = None,
            extra: Optional[dict] = None, **more: Any) -> dict:
    # names are checked before they are formatted (an int too long for str() raised ValueError here)
    layout: dict[str, Any] = {"title": {"text": f"{check_name('plot title', title)} - "
                                                f"{check_name('plot series', series)}"}}
    if xaxis:
        layout["xaxis"] = {"title": {"text": xaxis}}
    if yaxis:
        layout["yaxis"] = {"title": {"text": yaxis}}
    layout.update(more)
    if extra:
        layout.update(extra)
    return layout


class Logger:
    """Reporting interface of one task (``task.get_logger()`` / ``Logger.current_logger()``)."""

    def __init__(self, task: Any):
        self._task = task
        self._task_id = task.id
        self._buffer = task._reports
        self._buffer._ensure_thread()
        self._add_scalar = self._buffer.scalars.append  # the list is never replaced (reporting.py)
        self._offset = int(task._row.get("initial_iteration") or 0)
        self._default_upload: Optional[str] = None
        self._default_history: Optional[int] = None  # None or <= 0: keep every debug sample
        self._sample_counters: dict[tuple[str, str], int] = {}
        self._checked_names: set[str] = set()  # scalar titles and series known to be storable

    @classmethod
    def current_logger(cls) -> Optional["Logger"]:
        from .task import Task
        task = Task.current_task()
        return task.get_logger() if task is not None else None

    def _check_writable(self) -> None:
        if self._task._row.get("status") == "published":
            from ..errors import StateError
            raise StateError(f"task {self._task_id} is published (read-only); cannot report to it")

    # ------------------------------------------------------------------ scalars / text
    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """Record one scalar point (buffered; written by the background flusher)."""
        if type(title) is not str or type(series) is not str:
            raise ValidationError(f"report_scalar title and series must be strings, got {shown(title)}, {shown(series)}")
        if title not in self._checked_names or series not in self._checked_names:
            self._check_scalar_names(title, series)
        try:
            row = (self._task_id, title, series, int(iteration) + self._offset, float(value), _now())
        except (TypeError, ValueError, OverflowError):
            raise ValidationError(f"report_scalar needs a numeric value and an int iteration, got value={shown(value)}, "
                                  f"iteration={shown(iteration)}") from None
        if not -(2 ** 63) <= row[3] < 2 ** 63:
            raise ValidationError(f"report_scalar iteration {shown(iteration)} does not fit in 64 bits")
        self._add_scalar(row)

    def _check_scalar_names(self, title: str, series: str) -> None:
        check_name("report_scalar title", title)
        check_name("report_scalar series", series)
        if len(self._checked_names) >= _NAME_CACHE_LIMIT:
            self._checked_names.clear()
        self._checked_names.update((title, series))

    def report_single_value(self, name: str, value: float) -> None:
        """Record one named value (the last report of a name wins)."""
        check_name("report_single_value name", name)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):  # as report_scalar: a bad value is the caller's error
            raise ValidationError(f"report_single_value {name!r} needs a numeric value, got {shown(value)}") from None
        self._buffer.add_single_value(self._task_id, name, number)

    def report_text(self, msg: Any, level: int = logging.INFO, print_console: bool = True, *args: Any, **_: Any) -> None:
        """Add a line to the task's console log (and print it, unless ``print_console=False``)."""
        try:
            text = str(msg)
        except ValueError:  # an int too long for str(): still a line, never an error
            text = shown(msg)
        # recorded first: a stdout that can't encode the line (a lone surrogate on a strict UTF-8
        # stream raised UnicodeEncodeError here) must neither lose it nor fail the call
        self._buffer.add_console(self._task_id, text, _LEVEL_NAMES.get(level, str(level)))
        if print_console:
            from .capture import StreamTee
            stream = sys.stdout
            # when stdout is our tee it would record the line too: print past it (recorded once above)
            target = stream._original if isinstance(stream, StreamTee) else stream
            try:
                print(text, file=target)
            except UnicodeEncodeError:
                print(text.encode("ascii", "backslashreplace").decode("ascii"), file=target)

    # ------------------------------------------------------------------ plots
    def report_plotly(self, title: str, series: str, figure: Any, iteration: Optional[int] = None) -> None:
        """Store a plotly figure (a dict or a plotly ``Figure``) as is."""
        if hasattr(figure, "to_plotly_json"):
            figure = figure.to_plotly_json()
        elif hasattr(figure, "to_dict"):
            figure = figure.to_dict()
        if not isinstance(figure, dict) or "data" not in figure:
            raise ValidationError(f"report_plotly expects a plotly figure or a dict with 'data', got {type(figure).__name__}")
        self._add_plot(title, series, iteration, figure)

    def _add_plot(self, title: str, series: str, iteration: Optional[int], figure: dict) -> None:
        self._check_writable()
        it = None if iteration is None else _iteration("plot", iteration) + self._offset
        self._buffer.add_plot(self._task_id, check_name("plot title", title),
                              check_name("plot series", series), it, figure)

    def report_histogram(self, title: str, series: str, values: Any, iteration: Optional[int] = None,
                         labels: Optional[Sequence[str]] = None, xlabels: Optional[Sequence[str]] = None,
                         xaxis: Optional[str] = None, yaxis: Optional[str] = None, mode: Optional[str] = None,
                         data_args: Optional[dict] = None, extra_layout: Optional[dict] = None) -> None:
        """A bar chart of ``values`` (one bar per value); ``mode`` is group, stack or relative."""
        if mode not in (None, "group", "stack", "relative"):
            raise ValidationError.choice("histogram mode", mode, ("group", "stack", "relative"))
        y = _to_list(values)
        trace = {"type": "bar", "name": series, "y": y, "x": list(xlabels) if xlabels else list(range(len(y)))}
        if labels:
            trace["text"] = list(labels)
        trace.update(data_args or {})
        self._add_plot(title, series, iteration,
                       {"data": [trace], "layout": _layout(title, series, xaxis, yaxis, extra_layout,
                                                           barmode=mode or "group")})

    def report_vector(self, title: str, series: str, values: Any, iteration: Optional[int] = None,
                      labels: Optional[Sequence[str]] = None, xlabels: Optional[Sequence[str]] = None,
                      xaxis: Optional[str] = None, yaxis: Optional[str] = None, mode: Optional[str] = None,
                      extra_layout: Optional[dict] = None) -> None:
        self.report_histogram(title, series, values, iteration, labels=labels, xlabels=xlabels, xaxis=xaxis,
                              yaxis=yaxis, mode=mode, extra_layout=extra_layout)

    def report_line_plot(self, title: str, series: Sequence[SeriesInfo], xaxis: str, yaxis: str,
                         mode: str = "lines", iteration: Optional[int] = None, reverse_xaxis: bool = False,
                         comment: Optional[str] = None, extra_layout: Optional[dict] = None) -> None:
        if mode not in ("lines", "markers", "lines+markers"):
            raise ValidationError.choice("line plot mode", mode, ("lines", "markers", "lines+markers"))
        traces = []
        for item in series:
            points = _to_list(item.data)
            traces.append({"type": "scatter", "mode": mode, "name": item.name,
                           "x": [p[0] for p in points], "y": [p[1] for p in points],
                           **({"text": list(item.labels)} if item.labels else {})})
        layout = _layout(title, "", xaxis, yaxis, extra_layout)
        if reverse_xaxis:
            layout.setdefault("xaxis", {})["autorange"] = "reversed"
        if comment:
            layout["comment"] = comment
        self._add_plot(title, ", ".join(str(s.name) for s in series) or title, iteration, {"data": traces, "layout": layout})

    def report_scatter2d(self, title: str, series: str, scatter: Any, iteration: Optional[int] = None,
                         xaxis: Optional[str] = None, yaxis: Optional[str] = None,
                         labels: Optional[Sequence[str]] = None, mode: str = "lines", comment: Optional[str] = None,
                         extra_layout: Optional[dict] = None) -> None:
        if mode not in ("lines", "markers", "lines+markers"):
            raise ValidationError.choice("scatter2d mode", mode, ("lines", "markers", "lines+markers"))
        points = _to_list(scatter)
        trace = {"type": "scatter", "mode": mode, "name": series, "x": [p[0] for p in points],
                 "y": [p[1] for p in points]}
        if labels:
            trace["text"] = list(labels)
        self._add_plot(title, series, iteration, {"data": [trace], "layout": _layout(title, series, xaxis, yaxis, extra_layout)})

    def report_scatter3d(self, title: str, series: str, scatter: Any, iteration: Optional[int] = None,
                         xaxis: Optional[str] = None, yaxis: Optional[str] = None, zaxis: Optional[str] = None,
                         labels: Optional[Sequence[str]] = None, mode: str = "markers", fill: bool = False,
                         comment: Optional[str] = None, extra_layout: Optional[dict] = None) -> None:
        points = _to_list(scatter)
        trace = {"type": "scatter3d", "mode": mode, "name": series, "x": [p[0] for p in points],
                 "y": [p[1] for p in points], "z": [p[2] for p in points]}
        if labels:
            trace["text"] = list(labels)
        if fill:
            trace["surfaceaxis"] = 2
        scene = {"xaxis": {"title": {"text": xaxis or "x"}}, "yaxis": {"title": {"text": yaxis or "y"}},
                 "zaxis": {"title": {"text": zaxis or "z"}}}
        self._add_plot(title, series, iteration, {"data": [trace], "layout": _layout(title, series, extra=extra_layout, scene=scene)})

    def report_confusion_matrix(self, title: str, series: str, matrix: Any, iteration: Optional[int] = None,
                                xaxis: Optional[str] = None, yaxis: Optional[str] = None,
                                xlabels: Optional[Sequence[str]] = None, ylabels: Optional[Sequence[str]] = None,
                                yaxis_reversed: bool = False, comment: Optional[str] = None,
                                extra_layout: Optional[dict] = None) -> None:
        z = _to_list(matrix)
        trace = {"type": "heatmap", "name": series, "z": z}
        if xlabels:
            trace["x"] = list(xlabels)
        if ylabels:
            trace["y"] = list(ylabels)
        layout = _layout(title, series, xaxis, yaxis, extra_layout)
        if yaxis_reversed:
            layout.setdefault("yaxis", {})["autorange"] = "reversed"
        self._add_plot(title, series, iteration, {"data": [trace], "layout": layout})

    def report_matrix(self, title: str, series: str, matrix: Any, iteration: Optional[int] = None, **kwargs: Any) -> None:
        self.report_confusion_matrix(title, series, matrix, iteration, **kwargs)

    def report_surface(self, title: str, series: str, matrix: Any, iteration: Optional[int] = None,
                       xaxis: Optional[str] = None, yaxis: Optional[str] = None, zaxis: Optional[str] = None,
                       xlabels: Optional[Sequence[str]] = None, ylabels: Optional[Sequence[str]] = None,
                       camera: Optional[Sequence[float]] = None, comment: Optional[str] = None,
                       extra_layout: Optional[dict] = None) -> None:
        trace = {"type": "surface", "name": series, "z": _to_list(matrix)}
        if xlabels:
            trace["x"] = list(xlabels)
        if ylabels:
            trace["y"] = list(ylabels)
        scene: dict[str, Any] = {"xaxis": {"title": {"text": xaxis or "x"}}, "yaxis": {"title": {"text": yaxis or "y"}},
                                 "zaxis": {"title": {"text": zaxis or "z"}}}
        if camera:
            scene["camera"] = {"eye": dict(zip("xyz", camera))}
        self._add_plot(title, series, iteration, {"data": [trace], "layout": _layout(title, series, extra=extra_layout, scene=scene)})

    def report_table(self, title: str, series: str, iteration: Optional[int] = None, table_plot: Any = None,
                     csv: Optional[str] = None, url: Optional[str] = None, extra_layout: Optional[dict] = None,
                     extra_data: Optional[dict] = None) -> None:
        """A table from a DataFrame, a list of rows (first row = header), a CSV file or CSV URL."""
        if sum(x is not None for x in (table_plot, csv, url)) != 1:
            raise ValidationError("report_table needs exactly one of table_plot (DataFrame or list of rows), csv or url")
        if csv is not None or url is not None:
            import csv as csv_module
            path = csv
            if path is None or not os.path.isfile(path):  # a URL (any fsspec protocol)
                from ..storage import get_local_copy
                path = get_local_copy(url or csv)
            with open(path, newline="") as fh:
                rows = list(csv_module.reader(fh))
            header, body = (rows[0], rows[1:]) if rows else ([], [])
        elif type(table_plot).__module__.split(".")[0] == "pandas":
            frame = table_plot
            header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
            body = [[idx, *vals] for idx, vals in zip(frame.index.tolist(), frame.values.tolist())]
        elif isinstance(table_plot, (list, tuple)) and table_plot and all(isinstance(r, (list, tuple)) for r in table_plot):
            header, body = [str(c) for c in table_plot[0]], [list(r) for r in table_plot[1:]]
        else:
            raise ValidationError(f"report_table table_plot must be a pandas DataFrame or a list of rows, "
                                  f"got {type(table_plot).__name__}")
        columns = [[row[i] if i < len(row) else "" for row in body] for i in range(len(header))]
        trace = {"type": "table", "header": {"values": header}, "cells": {"values": columns}}
        trace.update(extra_data or {})
        self._add_plot(title, series, iteration, {"data": [trace], "layout": _layout(title, series, extra=extra_layout)})

    def report_matplotlib_figure(self, title: str, series: str, figure: Any, iteration: Optional[int] = None,
                                 report_image: bool = False, report_interactive: bool = True) -> None:
        """A matplotlib figure, rendered to PNG: a debug sample, or a plot embedding the image."""
        fig = figure.gcf() if hasattr(figure, "gcf") else figure
        data = io.BytesIO()
        fig.savefig(data, format="png", bbox_inches="tight")
        url = self._upload_sample(title, series, iteration, data.getvalue(), ".png", None)
        if report_image:
            return
        width, height = fig.get_size_inches() * fig.dpi
        figure_dict = {"data": [], "layout": _layout(
            title, series, images=[{"source": url, "xref": "paper", "yref": "paper", "x": 0, "y": 1,
                                    "sizex": 1, "sizey": 1, "layer": "below"}],
            width=int(width), height=int(height), xaxis={"visible": False}, yaxis={"visible": False})}
        figure_dict["layout"]["matplotlib_png"] = url
        self._add_plot(title, series, iteration, figure_dict)

    # ------------------------------------------------------------------ debug samples
    def _upload_sample(self, title: str, series: str, iteration: Optional[int], data: bytes | None,
                       extension: str, max_history: Optional[int], local_path: Optional[str] = None) -> str:
        from ..storage import join_url, upload_bytes, upload_file
        from .task import _safe
        self._check_writable()
        _check_sample_names(title, series)
        it = 0 if iteration is None else _iteration("debug sample", iteration) + self._offset
        if max_history is None:
            max_history = self._default_history
        key = (title, series)
        count = self._sample_counters.get(key, 0)
        self._sample_counters[key] = count + 1
        cycling = bool(max_history and max_history > 0)
        slot = count % max_history if cycling else count
        name = f"{_safe(title)}/{_safe(series)}/{slot:08d}{extension}"
        base = self._default_upload or self._task.get_output_destination("debug_samples")
        url = join_url(base, name)
        if local_path is not None:
            upload_file(local_path, url)
        else:
            upload_bytes(data or b"", url)
        # a recycled slot's file was just overwritten: its older rows would point at the new image
        self._buffer.add_sample(self._task_id, title, series, it, url, replace=cycling and count >= max_history)
        return url

    def _sample_from_url_or_file(self, method: str, title: str, series: str, iteration: Optional[int],
                                 url: Optional[str], local_path: Optional[str], extension: Optional[str],
                                 max_history: Optional[int], delete_after_upload: bool, default_ext: str = "") -> bool:
        """Record a debug sample given as an existing URL or a local file; False when it is neither."""
        _check_sample_names(title, series)
        if url is not None:
            check_name(f"{method} url", str(url))
            it = 0 if iteration is None else _iteration("debug sample", iteration) + self._offset
            self._buffer.add_sample(self._task_id, title, series, it, url)
            return True
        if local_path is None:
            return False
        if not os.path.isfile(local_path):
            raise ValidationError(f"{method} local_path {local_path!r} is not an existing file")
        ext = extension or os.path.splitext(local_path)[1] or default_ext
        self._upload_sample(title, series, iteration, None, _dot(ext), max_history, local_path=local_path)
        if delete_after_upload:
            os.remove(local_path)
        return True

    def report_image(self, title: str, series: str, iteration: Optional[int] = None, local_path: Optional[str] = None,
                     image: Any = None, matrix: Any = None, max_image_history: Optional[int] = None,
                     delete_after_upload: bool = False, url: Optional[str] = None) -> None:
        """A debug image from a file, a numpy array / PIL image, or an existing URL."""
        image = image if image is not None else matrix
        given = sum(x is not None for x in (local_path, image, url))
        if given != 1:
            raise ValidationError("report_image needs exactly one of local_path, image (ndarray/PIL) or url")
        if self._sample_from_url_or_file("report_image", title, series, iteration, url, local_path, None,
                                         max_image_history, delete_after_upload, default_ext=".png"):
            return
        self._upload_sample(title, series, iteration, _encode_png(image), ".png", max_image_history)

    def report_media(self, title: str, series: str, iteration: Optional[int] = None, local_path: Optional[str] = None,
                     stream: Any = None, file_extension: Optional[str] = None, max_history: Optional[int] = None,
                     delete_after_upload: bool = False, url: Optional[str] = None) -> None:
        """A debug media file (audio, video, html, ...) from a path, a binary/text stream or a URL."""
        if sum(x is not None for x in (local_path, stream, url)) != 1:
            raise ValidationError("report_media needs exactly one of local_path, stream or url")
        if self._sample_from_url_or_file("report_media", title, series, iteration, url, local_path, file_extension,
                                         max_history, delete_after_upload):
            return
        if not file_extension:
            raise ValidationError("report_media(stream=...) needs file_extension (e.g. '.mp4', '.wav', '.html')")
        data = stream.read()
        self._upload_sample(title, series, iteration, data.encode() if isinstance(data, str) else data,
                            _dot(file_extension), max_history)

    # ------------------------------------------------------------------ misc
    def flush(self, wait: bool = False) -> bool:
        self._buffer.flush()
        return True

    def set_default_upload_destination(self, uri: str) -> None:
        from ..storage import normalize_url
        self._default_upload = normalize_url(uri)

    def get_default_upload_destination(self) -> str:
        return self._default_upload or self._task.get_output_destination("debug_samples")

    def set_default_debug_sample_history(self, max_history: int) -> None:
        """Default ``max_image_history``/``max_history`` of later debug samples (<= 0: keep all)."""
        if not isinstance(max_history, int) or isinstance(max_history, bool):
            raise ValidationError(f"debug sample history must be an int, got {max_history!r}")
        self._default_history = max_history

    def get_default_debug_sample_history(self) -> int:
        return self._default_history if self._default_history is not None else -1

    def get_flush_period(self) -> float:
        from .reporting import FLUSH_INTERVAL_SECONDS
        return FLUSH_INTERVAL_SECONDS

    def set_flush_period(self, period: float) -> None:
        from . import reporting
        if not isinstance(period, (int, float)) or period <= 0 or math.isnan(period):
            raise ValidationError(f"flush period must be a positive number of seconds, got {period!r}")
        reporting.FLUSH_INTERVAL_SECONDS = float(period)


def _iteration(what: str, iteration: Any) -> int:
    """``int(iteration)`` (as report_scalar takes it), or a ValidationError naming the bad value:
    not a number (was a bare ValueError/TypeError) or beyond 64 bits (was accepted, then dropped
    by the flush because SQLite can't store it)."""
    try:
        number = int(iteration)
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"{what} iteration must be an int, got {shown(iteration)}") from None
    if not -(2 ** 63) <= number < 2 ** 63:
        raise ValidationError(f"{what} iteration {shown(iteration)} does not fit in 64 bits")
    return number


def _check_sample_names(title: str, series: str) -> None:
    check_name("debug sample title", title)
    check_name("debug sample series", series)


def _dot(ext: str) -> str:
    return ext if ext.startswith(".") else f".{ext}"


def _encode_png(image: Any) -> bytes:
    """PNG bytes of a PIL image or a numpy array (HxW, HxWx3, HxWx4; floats in [0, 1] are scaled)."""
    module = type(image).__module__.split(".")[0]
    try:
        from PIL import Image
    except ImportError:
        raise ValidationError("report_image(image=...) needs Pillow: pip install pillow") from None
    if module == "numpy":
        import numpy as np
        array = image
        if array.dtype.kind == "f":
            array = (np.clip(array, 0, 1) * 255).astype("uint8") if array.max(initial=0) <= 1.0 else array.astype("uint8")
        elif array.dtype != np.uint8:
            array = array.astype("uint8")
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[:, :, 0]
        image = Image.fromarray(array)
    elif not hasattr(image, "save"):
        raise ValidationError(f"report_image image must be a numpy array or a PIL image, got {type(image).__name__}")
    data = io.BytesIO()
    image.save(data, format="PNG")
    return data.getvalue()
