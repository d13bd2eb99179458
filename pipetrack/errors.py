"""One exception hierarchy for every public entry point.

Each exception's message names the offending value and what would be accepted.
``ValidationError`` is also a ``ValueError`` and ``NotFoundError`` a ``LookupError`` so code
written for ClearML (which raises ValueError in those places) keeps working.
"""
from __future__ import annotations

from typing import Any, Iterable


class PipetrackError(Exception):
    """Root of all pipetrack errors."""


class ValidationError(PipetrackError, ValueError):
    """A bad argument: wrong type, unknown choice, malformed name or reference."""

    @classmethod
    def choice(cls, what: str, value: Any, accepted: Iterable[Any]) -> "ValidationError":
        """Build the standard 'bad choice' message listing the accepted values."""
        options = ", ".join(repr(a) for a in accepted)
        return cls(f"invalid {what} {value!r}; accepted values are: {options}")


class StateError(PipetrackError):
    """An illegal lifecycle transition, or an edit of a task that is not editable."""


class TaskClosedError(StateError, ValueError):
    """A Task object was used to change its task after ``close()`` (ClearML raises ValueError there)."""


class NotFoundError(PipetrackError, LookupError):
    """An unknown task id, project, artifact, model or queue."""


class StorageError(PipetrackError, OSError):
    """A storage read or write failed; the message carries the URL."""


class IntegrityError(StorageError):
    """Stored bytes do not match the sha256 pipetrack recorded when it wrote them."""


class StoreError(PipetrackError):
    """The task store (its database file or server) cannot be read or written; the message names it."""


class RecordRejected(StoreError):
    """The store is working but refused these rows (a constraint, a value it cannot hold): writing
    them again will fail again, unlike a StoreError of a store that is unavailable right now."""


class SetupError(PipetrackError):
    """An agent could not set up what a task needs to run (its repository, commit or diff, its
    packages, its container); the message says which and why, and the task fails with it."""


class StepFailed(PipetrackError):
    """A pipeline step failed; carries the step name and the original error text."""

    def __init__(self, message: str, step: str | None = None, original: BaseException | None = None):
        super().__init__(message)
        self.step = step
        self.original = original


class StepTraceback(Exception):
    """The traceback of a step that failed in another process, attached as the ``__cause__`` of
    the exception the pipeline raises (as ``concurrent.futures`` does for process pools): the
    frames can't travel, their text does."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\"\"\"\n{self.text.rstrip()}\n\"\"\""


class PipelineAborted(PipetrackError):
    """A pipeline was stopped (abort_on_failure, time limit or stop())."""


__all__ = [
    "PipetrackError", "ValidationError", "StateError", "TaskClosedError", "NotFoundError", "StorageError",
    "IntegrityError", "StoreError", "StepFailed", "PipelineAborted",
]
