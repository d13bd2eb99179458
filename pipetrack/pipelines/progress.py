"""A one-line progress bar for a pipeline run started from a terminal.

``[#####.....] 3/10 steps  running: step_a, step_b`` is redrawn in place by the controller's
driver thread (through :mod:`pipetrack.terminal`, which keeps other output off that line) and
closed with a newline when the run ends.

It writes to ``sys.__stdout__`` — not ``sys.stdout`` — because the pipeline task's console
capture replaces ``sys.stdout`` with a tee: progress lines are for the person at the
terminal, not for the task's recorded console. It draws nothing when that stream is not a
TTY (pipes, files, CI logs), when ``PIPETRACK_PROGRESS=0``, and in processes pipetrack
started for a task (``PIPETRACK_TASK_ID`` is set: steps, agent-run tasks), so only the
process the user launched draws.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Mapping, Optional, TextIO

from ..terminal import StatusLine
from .node import FINISHED_STATUSES

PROGRESS_ENV = "PIPETRACK_PROGRESS"
MIN_INTERVAL_SECONDS = 0.1  # at most ~10 redraws a second
BAR_WIDTH = 20


def progress_enabled(stream: Optional[TextIO]) -> bool:
    """Whether a progress bar may be drawn on ``stream`` (see the module docstring for the rules)."""
    if os.environ.get(PROGRESS_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    if os.environ.get("PIPETRACK_TASK_ID"):
        return False
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (ValueError, OSError, AttributeError):  # closed or exotic stream
        return False


def render_progress(nodes: Mapping[str, Any], width: int = 80) -> str:
    """The progress line for ``nodes`` (name -> Node): bar, done/total, running (and failed) steps.

    Kept within ``width`` columns so the in-place redraw never wraps onto a second line."""
    total = len(nodes)
    done = sum(1 for n in nodes.values() if n.status in FINISHED_STATUSES)
    filled = BAR_WIDTH * done // total if total else 0
    text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} steps"
    running = [name for name, n in nodes.items() if n.status == "running"]
    failed = [name for name, n in nodes.items() if n.status == "failed"]
    if running:
        text += "  running: " + ", ".join(running)
    if failed:
        text += "  failed: " + ", ".join(failed)
    if len(text) > width - 1:
        text = text[:max(width - 4, 0)] + "..."
    return text


def render_summary(name: str, nodes: Mapping[str, Any], seconds: float, outcome: str, url: str) -> str:
    """The line a run ends with: outcome, step counts by what happened, wall time, where to see it."""
    counts = {"run": 0, "cached": 0, "failed": 0, "skipped": 0}
    for node in nodes.values():
        status = "run" if node.status == "completed" else "failed" if node.status == "aborted" else node.status
        if status in counts:
            counts[status] += 1
    steps = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"pipeline '{name}' {outcome} in {seconds:.1f}s: {steps}; {url}"


class TerminalProgress:
    """The pipeline controller's terminal progress line; a no-op when drawing is not allowed.

    The drawing itself is :class:`pipetrack.terminal.StatusLine`'s, which keeps other output
    (the user's prints, step processes) off the line."""

    def __init__(self, stream: Optional[TextIO] = None, min_interval: float = MIN_INTERVAL_SECONDS):
        self.stream = stream if stream is not None else sys.__stdout__
        self.enabled = progress_enabled(self.stream)
        self.min_interval = min_interval
        self._line = StatusLine(self.stream, self.enabled)
        self._lock = threading.Lock()
        self._last_time = 0.0
        self._closed = False

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def update(self, nodes: Mapping[str, Any], force: bool = False) -> None:
        """Redraw the line for ``nodes`` if its text changed and the last redraw is old enough."""
        if not self.enabled or not nodes:
            return
        with self._lock:
            if self._closed or (not force and time.monotonic() - self._last_time < self.min_interval):
                return
            text = render_progress(nodes, self._width())
            if text != self._line.text:
                self._line.show(text)
                self._last_time = time.monotonic()

    def close(self, nodes: Optional[Mapping[str, Any]] = None) -> None:
        """Draw the final state (if ``nodes`` are given) and end the line; later calls do nothing."""
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._line.close(render_progress(nodes, self._width()) if nodes else None)
