"""ClearML's ``clearml.automation`` path: ``from pipetrack.automation import PipelineController``.

Only the pipeline classes exist in pipetrack; ClearML's optimizers and schedulers
(HyperParameterOptimizer, TaskScheduler, TriggerScheduler, ...) are not provided.
"""
from __future__ import annotations

from .controller import PipelineController, PipelineDecorator

__all__ = ["PipelineController", "PipelineDecorator"]
