"""What launching one step needs (a :class:`StepPlan`), the same for function and task steps:
the one launcher (``PipelineRun``) takes a plan from ``run.py`` (function steps) or
``task_steps.py`` (steps made from tasks) and caches, creates and submits alike."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..steps import StepSpec


@dataclass
class StepPlan:
    """What launching one step needs, whatever its kind (function or task step): its resolved
    inputs (and how callbacks and the cached notice show them), its cache key (None when it is
    not cached), the outputs a cache hit must have, and how to make its task and its spec."""

    inputs: dict
    shown_inputs: dict
    key: Optional[str]
    return_names: list
    make_task: Callable[[], Any]
    make_spec: Callable[[], StepSpec]
