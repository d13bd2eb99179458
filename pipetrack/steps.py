"""The step vocabulary shared by tracking, pipelines and executors: what one step is
(:class:`StepSpec`), what its inputs from upstream steps are (:class:`ArtifactInput`), what comes
back (:class:`StepResult`), and how a function step's spec is stored for an agent.

Neutral ground: ``pipetrack.tracking`` (``Task.create_function_task``), ``pipetrack.pipelines``
and ``pipetrack.executors`` all import it, and it imports none of them, so no package reaches
upward into another. A StepSpec is small and picklable; large data never travels inside it —
inputs are references that the worker fetches from storage.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

MAP_ARRAYS_FROM_BYTES = 64 * 1024 * 1024  # .npy inputs this large are memory-mapped (see load_input)


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
    # an executor that runs the step in the caller gets the callable itself: nothing to pickle
    local_function: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["local_function"] = None  # never shipped: a worker elsewhere unpickles ``function``
        return state


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
    # every run of the step on a cluster (worker, started, ended, why it ended), when it ran more than once
    attempts: list = field(default_factory=list)

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


STEP_SPEC_KEY = "step_spec_url"
STEP_SPEC_HASH_KEY = "step_spec_sha256"


def store_step_spec(spec: Any, destination: str) -> dict:
    """Upload the pickled StepSpec of a function task that waits for an agent; returns the runtime
    entries naming it and its sha256 (the agent refuses to unpickle anything else)."""
    import cloudpickle
    from .storage import join_url, sha256_bytes, upload_bytes
    data = cloudpickle.dumps(spec)
    return {STEP_SPEC_KEY: upload_bytes(data, join_url(destination, "step_spec.pkl")),
            STEP_SPEC_HASH_KEY: sha256_bytes(data)}


def load_step_spec(row: dict) -> Any:
    """The StepSpec a function task stored, after checking its bytes against the recorded sha256."""
    import cloudpickle
    from .storage import verified_bytes
    runtime = row.get("runtime") or {}
    data = verified_bytes(runtime[STEP_SPEC_KEY], runtime.get(STEP_SPEC_HASH_KEY),
                          f"step spec of task {row['id']}", refuse_unverified=True)
    return cloudpickle.loads(data)


def load_input(value: Any, deserializer: Any) -> Any:
    """The Python value of a step input: artifact references (also nested) are fetched and deserialised."""
    return map_nested(value, lambda item: _load_artifact(item, deserializer))


def _load_artifact(value: Any, deserializer: Any) -> Any:
    if not isinstance(value, ArtifactInput):
        return value
    if value.has_value:
        return value.value
    from .storage import deserialize_artifact, verified_local_copy
    from .storage.serializers import unpickles
    if value.type == "url":
        return value.url
    what = f"input artifact {value.describe()}"
    if value.type == "folder":
        return verified_local_copy(value.url, value.hash, what, extract_archive=True)
    path = verified_local_copy(value.url, value.hash, what,
                               refuse_unverified=deserializer is None and unpickles(value.type, value.extension))
    if deserializer is None and value.type == "numpy" and value.extension == ".npy" \
            and os.path.getsize(path) >= MAP_ARRAYS_FROM_BYTES:
        import numpy as np
        # a large array is mapped copy-on-write, not copied: pages are read when touched, and
        # writes stay private to this step (artifact files are never modified in place)
        return np.load(path, mmap_mode="c", allow_pickle=False)
    return deserialize_artifact(path, value.type, value.extension, deserializer)
