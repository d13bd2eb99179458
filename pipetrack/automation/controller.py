"""ClearML's ``clearml.automation.controller`` path (``PipelineController``, ``PipelineDecorator``)."""
from __future__ import annotations

from ..pipelines.controller import PipelineController
from ..pipelines.decorator import PipelineDecorator

__all__ = ["PipelineController", "PipelineDecorator"]
