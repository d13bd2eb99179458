"""What pipetrack tells the person at the terminal: one-line notices, and one status line
(a pipeline's progress) kept below everything else that is printed.

Notices (``pipetrack: ...``) go to ``sys.__stderr__``: they are for the person watching, not
for the task's recorded console or for a pipe reading the script's stdout.
``PIPETRACK_QUIET=1`` silences them (errors are still raised and recorded).

The status line is redrawn in place (``\\r`` + ANSI clear-line). Other output must not end up
on the same line, so every write to the terminal goes through :func:`write_through` (the
console tees call it): while a status line is on screen it is cleared first and drawn again
below the text once that text ends its line. Step subprocesses share the terminal but not
this process's state: while a status line is active :data:`STATUS_LINE_ENV` is set, and a step
process that inherits it (see :func:`share_status_line`) starts each line it writes with
clear-line, which removes the bar from that line before its text lands there; the bar is
drawn again on the next line at the next redraw.
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Optional, TextIO

QUIET_ENV = "PIPETRACK_QUIET"
STATUS_LINE_ENV = "PIPETRACK_STATUS_LINE"
CLEAR_LINE = "\r\x1b[2K"
# the same with "go to column 1" (CSI G) for "\r": a line-buffered stream flushes at "\r", and a
# step's line must reach the terminal in one write, or the parent may draw between the two parts
SHARED_CLEAR_LINE = "\x1b[2K\x1b[G"
_FALSE = ("", "0", "false", "no", "off")

_lock = threading.RLock()
_active: Optional["StatusLine"] = None
# this process writes on a terminal another process draws a status line on; part lines held back per stream
_share: dict[str, Any] = {"on": False, "line_start": True, "pending": {}}


def quiet() -> bool:
    """Whether ``PIPETRACK_QUIET`` asks pipetrack not to print notices."""
    return os.environ.get(QUIET_ENV, "").strip().lower() not in _FALSE


def notice(message: str) -> None:
    """Print ``pipetrack: message`` on the terminal (stderr) unless quiet; never fails the caller."""
    if quiet() or sys.__stderr__ is None:
        return
    try:
        write_through(sys.__stderr__, f"pipetrack: {message}\n")
        sys.__stderr__.flush()
    except (OSError, ValueError):  # closed or gone: a notice is never worth an exception
        pass


def write_through(stream: TextIO, text: str) -> Any:
    """Write ``text`` to ``stream`` (a real terminal stream) without mixing it into the status line."""
    line = _active
    if line is None and not _share["on"]:
        return stream.write(text)
    with _lock:
        if line is not None and line.enabled:
            return line.write_above(stream, text)
        if not text:
            return stream.write(text)
        # whole lines only, each run of them in one write: the stream may pass every write straight
        # to the terminal (unbuffered, or print()'s text and its "\n" as two writes), and the parent
        # draws between two writes; a part line waits for its end or for a flush
        data = _share["pending"].pop(id(stream), "") + text
        head, sep, tail = data.rpartition("\n")
        if tail:
            _share["pending"][id(stream)] = tail
        if sep:
            _emit(stream, head + sep)
        return len(text)


def flush_through(stream: TextIO) -> None:
    """Flush ``stream``, writing first a part line :func:`write_through` held back (a progress
    bar drawn with ``\r`` flushes without ever ending its line)."""
    if _share["on"]:
        with _lock:
            part = _share["pending"].pop(id(stream), "")
            if part:
                _emit(stream, part)
    stream.flush()


def _emit(stream: TextIO, text: str) -> None:
    """Write text from a step process: clear-line first when it starts a line of the terminal."""
    prefix = SHARED_CLEAR_LINE if _share["line_start"] and _is_terminal(stream) else ""
    stream.write(prefix + text)
    _share["line_start"] = text.endswith("\n")


def share_status_line() -> None:
    """In a step process: clear the line before writing, when the parent draws a status line there."""
    _share["on"] = os.environ.get(STATUS_LINE_ENV) == "1" and os.environ.get("TERM") != "dumb"
    _share["line_start"] = True


def _activate(line: "StatusLine") -> None:
    global _active
    with _lock:
        _active = line
        os.environ[STATUS_LINE_ENV] = "1"


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (ValueError, OSError, AttributeError):
        return False


class StatusLine:
    """One line redrawn in place on ``stream``; at most one is active in a process.

    ``show(text)`` draws it (unless a line of other output is half written), ``close()`` leaves
    the last text on screen and ends the line. Nothing is drawn when ``enabled`` is False.
    """

    def __init__(self, stream: Optional[TextIO], enabled: bool):
        self.stream = stream
        self.enabled = bool(enabled and stream is not None)
        self.text: Optional[str] = None
        self._drawn = False
        self._partial = False  # other output ended without a newline: drawing now would append to it
        # a dumb terminal has no clear-line: pad over the previous text instead
        self._clear = "\r" if os.environ.get("TERM") == "dumb" else CLEAR_LINE
        self._drawn_width = 0
        if self.enabled:
            _activate(self)

    def show(self, text: str) -> None:
        """Draw ``text`` as the status line (now, or once the current line of output ends)."""
        if not self.enabled:
            return
        with _lock:
            self.text = text
            if not self._partial:
                self._draw()

    def close(self, text: Optional[str] = None) -> None:
        """Draw ``text`` (if given) for the last time and end the line; the line is then inactive."""
        global _active
        if not self.enabled:
            return
        with _lock:
            unchanged = self._drawn and text in (None, self.text)
            if text is not None:
                self.text = text
            if self.text is not None:
                if self._partial:
                    self._write("\n")
                if not unchanged:
                    self._draw()
                self._write("\n")
            self.enabled = False
            if _active is self:
                _active = None
                os.environ.pop(STATUS_LINE_ENV, None)

    def write_above(self, stream: TextIO, text: str) -> Any:
        """Write other output: clear the status line first, draw it again once the line is ended."""
        if self._drawn:
            self._write("\r" + " " * self._drawn_width + "\r" if self._clear == "\r" else self._clear)
            self._drawn = False
        if stream is not self.stream:
            self._flush(self.stream)
        written = stream.write(text)
        if text:
            self._partial = not text.endswith("\n")
            if not self._partial and self.text is not None:
                self._flush(stream)
                self._draw()
        return written

    def _draw(self) -> None:
        pad = " " * max(self._drawn_width - len(self.text), 0) if self._clear == "\r" and self._drawn else ""
        self._write(f"{self._clear}{self.text}{pad}")
        self._drawn, self._drawn_width = True, len(self.text)

    def _write(self, data: str) -> None:
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing, never fail the run
            self.enabled = False

    @staticmethod
    def _flush(stream: Any) -> None:
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
