"""pipetrack: ClearML's Task and Pipeline SDK without a server.

Change ``from clearml import Task`` to ``from pipetrack import Task``. Heavy parts (pipelines,
networkx, fsspec, dask) are imported on first use, so ``import pipetrack`` stays fast.
"""
from __future__ import annotations

from typing import Any

from . import errors
from .tracking.logger import Logger, SeriesInfo
from .tracking.states import TaskTypes
from .tracking.task import Task
from .tracking.task_artifacts import Artifact

__version__ = "0.1.0"

_LAZY = {
    "PipelineController": ("pipetrack.pipelines.controller", "PipelineController"),
    "PipelineDecorator": ("pipetrack.pipelines.decorator", "PipelineDecorator"),
    "StorageManager": ("pipetrack.storage.manager", "StorageManager"),
    "OutputModel": ("pipetrack.tracking.models", "OutputModel"),
    "InputModel": ("pipetrack.tracking.models", "InputModel"),
    "Model": ("pipetrack.tracking.models", "Model"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pipetrack' has no attribute {name!r}")


__all__ = ["Task", "TaskTypes", "Logger", "SeriesInfo", "Artifact", "PipelineController", "PipelineDecorator",
           "StorageManager", "OutputModel", "InputModel", "Model", "errors"]
