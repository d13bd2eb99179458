"""The executor protocol: how one pipeline step is shipped somewhere and its result comes back.

Executors know how to run one step, nothing about DAGs (the scheduler owns those). A step is
described by a small picklable :class:`StepSpec`; large data never travels inside it —
inputs are :class:`ArtifactInput` references that the worker fetches from storage. The worker
(``executors/worker.py``) runs the same way everywhere and returns a :class:`StepResult`.

Executors are looked up by name lazily, like fsspec's registry: ``inline``, ``local``,
``dask`` (a LocalCluster) and ``dask://host:port`` / ``tcp://host:port`` (a running scheduler).
"""
from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from ..errors import ValidationError
from ..steps import ArtifactInput, StepResult, StepSpec, map_nested  # noqa: F401  the contract's vocabulary


@runtime_checkable
class Executor(Protocol):
    """Runs steps. ``submit`` must not block for longer than it takes to hand the step over,
    except for executors with ``runs_in_caller = True`` (inline), which run it right away."""

    name: str
    runs_in_caller: bool
    records_remotely: bool  # True: workers can't reach the store, steps return records bundles

    def submit(self, spec: StepSpec) -> "Future[StepResult]": ...

    def cancel(self, task_id: str) -> None: ...

    def shutdown(self) -> None: ...


EXECUTOR_NAMES = ("inline", "local", "dask", "dask://host:port", "tcp://host:port")


def get_executor(spec: str | Executor | None, **options: Any) -> Executor:
    """An executor from a name (``inline``, ``local``, ``dask``, ``dask://h:p``, ``tcp://h:p``) or as is."""
    if spec is None:
        spec = "local"
    if not isinstance(spec, str):
        if isinstance(spec, Executor):
            return spec
        raise ValidationError(f"executor must be a name or an Executor, got {spec!r}")
    if spec == "inline":
        from .inline import InlineExecutor
        return InlineExecutor(**options)
    if spec == "local":
        from .local import LocalExecutor
        return LocalExecutor(**options)
    if spec == "dask" or spec.startswith(("dask://", "tcp://")):
        address = None if spec == "dask" else "tcp://" + spec.split("://", 1)[1]
        try:
            from .dask import DaskExecutor
            return DaskExecutor(address=address, **options)  # imports dask and distributed
        except ImportError as exc:
            if (getattr(exc, "name", None) or "").split(".")[0] not in ("dask", "distributed"):
                raise
            raise ValidationError(f"executor {spec!r} needs dask and distributed: pip install 'pipetrack[dask]' "
                                  f"({exc})") from None
    raise ValidationError.choice("executor", spec, EXECUTOR_NAMES)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
