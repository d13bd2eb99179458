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
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

from ..errors import ValidationError


def map_nested(value: Any, leaf: Any, stop: Any = None) -> Any:
    """``leaf(x)`` for every value inside lists, tuples and dicts (recursively), rebuilding the
    containers; a value for which ``stop(x)`` is true goes to ``leaf`` whole. Step inputs may nest
    references and results this way (``f(parts=[a, b])``)."""
    if stop is not None and stop(value):
        return leaf(value)
    if isinstance(value, list):
        return [map_nested(v, leaf, stop) for v in value]
    if isinstance(value, tuple):
        return tuple(map_nested(v, leaf, stop) for v in value)
    if isinstance(value, dict):
        return {k: map_nested(v, leaf, stop) for k, v in value.items()}
    return leaf(value)


@dataclass
class ArtifactInput:
    """A step input that is an artifact of an upstream step (fetched by the worker)."""

    url: str
    type: str
    extension: Optional[str] = None
    hash: Optional[str] = None
    producer: Optional[str] = None  # node name, for messages
    value: Any = field(default=None, repr=False, compare=False)  # in-process fast path (inline only)
    has_value: bool = field(default=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["value"], state["has_value"] = None, False  # never ship the in-memory value
        return state

    def describe(self) -> str:
        """'name' of step 'producer' (from the URL layout ``.../artifacts/<name>/<file>``), for messages."""
        parts = self.url.rstrip("/").split("/")
        name = parts[-2] if len(parts) >= 2 else self.url
        return f"{name!r} of step {self.producer!r}" if self.producer else repr(name)


@dataclass
class StepSpec:
    """Everything a worker needs to run one step. Picklable and small."""

    task_id: str
    name: str
    function: Optional[bytes] = None          # cloudpickled callable (function steps)
    script: Optional[dict] = None             # script section (script/base-task steps)
    kwargs: dict = field(default_factory=dict)  # literals and ArtifactInput references
    return_names: list = field(default_factory=list)
    store_path: Optional[str] = None          # None: record into a private store, return a bundle
    task_bundle: Optional[dict] = None        # the step task's records (seed of the private store)
    parent_bundle: Optional[dict] = None      # the pipeline task's row, so steps can report to it there
    output_uri: Optional[str] = None
    serialization_function: Optional[bytes] = None
    deserialization_function: Optional[bytes] = None
    working_dir: Optional[str] = None
    sys_path: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    time_limit: Optional[float] = None
    in_process: bool = False                 # inline: hand back return values and the exception as objects
    records_store: Optional[str] = None      # remote steps: the store their records land in (live updates)
    auto_connect_frameworks: Any = None      # the step's Task.init-like options (None: everything on)
    auto_connect_arg_parser: Any = None


@dataclass
class StepResult:
    """What came back from a worker."""

    task_id: str
    status: str                              # completed | failed | stopped
    artifacts: dict = field(default_factory=dict)   # name -> {url, type, extension, hash, size}
    error: str = ""                          # "ExcType: message"
    traceback: str = ""
    exception: Optional[bytes] = None        # the pickled original exception, when picklable
    records: Optional[dict] = None           # records bundle (private-store mode)
    parent_records: Optional[dict] = None    # what the step reported to its pipeline task (same mode)
    values: dict = field(default_factory=dict, repr=False)  # in-process fast path (inline only)
    raised: Optional[BaseException] = field(default=None, repr=False)  # in-process: the exception itself
    worker: str = ""
    duration: float = 0.0

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["values"], state["raised"] = {}, None
        return state

    def original_exception(self) -> Optional[BaseException]:
        """The step's exception with its original type (see Dask's multiprocessing.py)."""
        if self.raised is not None:
            return self.raised
        if self.exception is None:
            return None
        import cloudpickle
        try:
            return cloudpickle.loads(self.exception)
        except Exception:
            return None


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
