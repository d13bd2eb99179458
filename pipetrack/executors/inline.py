"""Inline executor: runs each step in this process, in the calling thread, one at a time.

Used by ``PipelineDecorator.debug_pipeline()``: a component call is a plain function call that a
debugger can step into, and a step's exception propagates unchanged. Step time limits can't be
enforced here (nothing can safely kill a function running in our own thread); they are
recorded and enforced by the local and Dask executors.
"""
from __future__ import annotations

from concurrent.futures import Future

from .base import StepResult, StepSpec


class InlineExecutor:
    name = "inline"
    runs_in_caller = True
    records_remotely = False

    def __init__(self, propagate_exceptions: bool = True):
        self.propagate_exceptions = propagate_exceptions

    def submit(self, spec: StepSpec) -> "Future[StepResult]":
        from .worker import run_step
        spec.propagate_exceptions = self.propagate_exceptions
        future: Future = Future()
        try:
            future.set_result(run_step(spec))
        except BaseException as exc:
            result = getattr(exc, "__pipetrack_result__", None)
            if result is None:
                raise
            result.propagated = exc  # the scheduler records the failure, then re-raises this
            future.set_result(result)
        return future

    def cancel(self, task_id: str) -> None:
        """Nothing to cancel: an inline step has finished by the time submit returns."""

    def shutdown(self) -> None:
        """No resources to release."""
