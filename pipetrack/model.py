"""ClearML's ``clearml.model`` path: ``from pipetrack.model import OutputModel, InputModel, Model``."""
from __future__ import annotations

from .tracking.models import InputModel, Model, OutputModel

__all__ = ["Model", "InputModel", "OutputModel"]
