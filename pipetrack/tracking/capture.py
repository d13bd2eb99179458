"""Automatic capture: console streams and argparse results.

Console: ``sys.stdout``/``sys.stderr`` are replaced by tees that write through to the original
stream (the user still sees everything) and hand complete lines to the task's report buffer.
``logging`` is recorded as a by-product (as in ClearML): stream handlers created before
``Task.init`` hold the original stream, so they are pointed at the tee while the capture runs.
With ``auto_connect_streams={'logging': True}`` but stderr off, a handler on the root logger
records log records instead.

argparse: ``ArgumentParser.parse_known_args`` is wrapped when this module is imported, so
arguments parsed before *or* after ``Task.init`` are recorded under ``Args/``. When the task
is run by an agent (``task._remote``), stored ``Args/`` values replace the parsed ones.
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any, Mapping, Optional

from ..terminal import flush_through, write_through
from .bindings import arm_arg_parsers
from .bindings.options import argument_allowed
from .parameters import cast_like


MAX_PARTIAL_CHARS = 65536  # a "line" longer than this is recorded in pieces


def _visible(line: str) -> str:
    """What a terminal shows of a line redrawn with carriage returns (progress bars): the last part."""
    if "\r" not in line:
        return line
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""


class StreamTee:
    """A text stream that forwards to ``original`` and records each complete line as one report.

    Several captures share one tee per stream (nesting tees would record a line once per
    layer). Each sink is either process-wide or bound to one thread: a line written by a thread
    that has sinks of its own goes only to those (a pipeline step running in a Dask worker
    thread records only its own output); other lines go to the process-wide sinks, or — in a
    process running exactly one step (a step subprocess), whose own threads print too — to
    that step's sink. A line redrawn with ``\r`` (tqdm and other progress bars) is recorded as
    it finally looks.
    """

    def __init__(self, original: Any, level: str):
        self._original = original
        self._level = level
        self._sinks: list[tuple[Any, Optional[int]]] = []  # (callable(text, level), thread ident or None)
        self._partial: dict[int, str] = {}
        self._lock = threading.Lock()

    def add_sink(self, sink: Any, thread: Optional[int] = None) -> None:
        with self._lock:
            self._sinks.append((sink, thread))

    def remove_sink(self, sink: Any) -> bool:
        """Drop ``sink`` (after flushing its thread's partial line); True when no sink is left."""
        with self._lock:
            for entry in [e for e in self._sinks if e[0] == sink]:  # bound methods: equal, not identical
                ident = entry[1] if entry[1] is not None else threading.get_ident()
                tail = self._partial.pop(ident, "")
                if tail:
                    sink(_visible(tail), self._level)
                self._sinks.remove(entry)
            return not self._sinks

    def _recipients(self, ident: int) -> list:
        own = [s for s, t in self._sinks if t == ident]
        if own:
            return own
        shared = [s for s, t in self._sinks if t is None]
        if shared:
            return shared
        return [self._sinks[0][0]] if len(self._sinks) == 1 else []

    def write(self, text: str) -> int:
        written = write_through(self._original, text)
        if text and self._sinks:
            ident = threading.get_ident()
            with self._lock:
                data = self._partial.get(ident, "") + text
                head, sep, tail = data.rpartition("\n")
                if len(tail) > MAX_PARTIAL_CHARS:
                    head, sep, tail = (head + sep + tail), "\n", ""
                self._partial[ident] = tail
                recipients = self._recipients(ident) if sep else []
            for line in head.split("\n") if sep else ():
                for sink in recipients:
                    sink(_visible(line), self._level)
        return written if written is not None else len(text)

    def flush(self) -> None:
        flush_through(self._original)

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer, ...
        return getattr(self._original, name)


class _LogHandler(logging.Handler):
    def __init__(self, sink: Any):
        super().__init__()
        self._sink = sink
        self.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink(self.format(record), record.levelname.lower())
        except Exception:
            self.handleError(record)


class ConsoleCapture:
    """Record one task's console: join (or install) the shared stream tees, and leave them.

    ``per_thread=True`` records only what the calling thread writes (pipeline steps).
    """

    def __init__(self, task: Any, streams: bool | Mapping[str, bool], per_thread: bool = False):
        if isinstance(streams, Mapping):
            self.want = {k: bool(streams.get(k, False)) for k in ("stdout", "stderr", "logging")}
        else:
            self.want = {"stdout": bool(streams), "stderr": bool(streams), "logging": False}
        self._task_id = task.id
        self._buffer = task._reports
        self._tees: list[tuple[str, StreamTee]] = []
        self._thread = threading.get_ident() if per_thread else None
        self._handler: Optional[logging.Handler] = None
        self._redirected: list[tuple[logging.StreamHandler, Any]] = []

    def _sink(self, text: str, level: str) -> None:
        self._buffer.add_console(self._task_id, text, level)

    def start(self) -> None:
        for name, level in (("stdout", "info"), ("stderr", "error")):
            if self.want[name]:
                tee = getattr(sys, name)
                if not isinstance(tee, StreamTee):
                    tee = StreamTee(tee, level)
                    setattr(sys, name, tee)
                tee.add_sink(self._sink, self._thread)
                self._tees.append((name, tee))
        self._redirect_log_handlers()
        if self.want["logging"] and not self.want["stderr"]:
            self._handler = _LogHandler(self._sink)
            logging.getLogger().addHandler(self._handler)

    def _redirect_log_handlers(self) -> None:
        """Point existing console log handlers (made before the tee existed) at the tee."""
        tees = {id(tee._original): tee for _, tee in self._tees}
        if not tees:
            return
        loggers = [logging.getLogger()] + [lg for lg in list(logging.Logger.manager.loggerDict.values())
                                           if isinstance(lg, logging.Logger)]
        for lg in loggers:
            for handler in list(lg.handlers):
                if type(handler) is logging.StreamHandler and id(handler.stream) in tees:
                    self._redirected.append((handler, handler.stream))
                    handler.setStream(tees[id(handler.stream)])

    def stop(self) -> None:
        for name, tee in reversed(self._tees):
            if tee.remove_sink(self._sink) and getattr(sys, name) is tee:
                flush_through(tee._original)  # a part line held back for the terminal goes out now
                setattr(sys, name, tee._original)
        self._tees = []
        for handler, stream in self._redirected:
            if isinstance(handler.stream, StreamTee):
                handler.setStream(stream)
        self._redirected = []
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler = None


# ------------------------------------------------------------------------- argparse
_state: dict[str, Any] = {"namespace": None, "parser": None, "filter": True}
_original_parse_known_args = argparse.ArgumentParser.parse_known_args


def _patched_parse_known_args(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None):
    parsed, extra = _original_parse_known_args(self, args, namespace)
    if getattr(self, "_pipetrack_inner", False):
        return parsed, extra
    _state["namespace"], _state["parser"] = parsed, self
    from .task import Task
    task = Task._main_task
    if task is not None and not task._closed and _state["filter"] is not False:
        record_namespace(task, parsed, self)
    return parsed, extra


def record_namespace(task: Any, namespace: argparse.Namespace, parser: Optional[argparse.ArgumentParser]) -> None:
    """Record parsed arguments under ``Args/``; when run remotely, apply stored values first."""
    filt = _state["filter"]
    values = {k: v for k, v in vars(namespace).items() if argument_allowed(filt, k)}
    if task._remote:
        stored = {r["name"]: r for r in task._param_rows() if r["section"] == "Args"}
        for key, row in stored.items():
            if key in values:
                default = values[key]
                action = _find_action(parser, key)
                if action is not None and action.type is not None and callable(action.type) and row["value"] != "":
                    try:
                        new = action.type(row["value"])
                    except (TypeError, ValueError):
                        new = cast_like(row["value"], default)
                else:
                    new = cast_like(row["value"], default)
                setattr(namespace, key, new)
                values[key] = new
    task._write_params({f"Args/{k}": v for k, v in values.items()}, check=False)


def _find_action(parser: Optional[argparse.ArgumentParser], dest: str) -> Optional[argparse.Action]:
    if parser is None:
        return None
    for action in parser._actions:
        if action.dest == dest:
            return action
    return None


def install_argparse_hook(task: Any, auto_connect_arg_parser: bool | Mapping[str, bool]) -> None:
    """Enable argparse recording for ``task``; record arguments parsed before Task.init too."""
    _state["filter"] = auto_connect_arg_parser
    if auto_connect_arg_parser is False:
        return
    if _state["namespace"] is not None:
        record_namespace(task, _state["namespace"], _state["parser"])


argparse.ArgumentParser.parse_known_args = _patched_parse_known_args  # type: ignore[method-assign]
arm_arg_parsers()  # click, fire, jsonargparse, hydra: wrapped once the user imports them
