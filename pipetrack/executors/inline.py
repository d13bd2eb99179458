"""Inline executor: runs each step in this process, in the calling thread, one at a time.

Used by ``PipelineDecorator.debug_pipeline()``: a component call is a plain function call that a
debugger can step into. The step's return values and its exception come back as the very
objects (no storage round trip to read them, the traceback intact), so the pipeline can
re-raise a step's exception unchanged. Step time limits can't be enforced here (nothing can
safely kill a function running in our own thread); the local and Dask executors enforce them.
"""
from __future__ import annotations

from concurrent.futures import Future

from ..steps import StepResult, StepSpec


class InlineExecutor:
    name = "inline"
    runs_in_caller = True
    records_remotely = False

    def submit(self, spec: StepSpec) -> "Future[StepResult]":
        from .worker import run_step
        spec.in_process = True
        future: Future = Future()
        future.set_result(run_step(spec))
        return future

    def cancel(self, task_id: str) -> None:
        """Nothing to cancel: an inline step has finished by the time submit returns."""

    def shutdown(self) -> None:
        """No resources to release."""
