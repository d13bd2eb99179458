"""ClearML's ``clearml.logger`` path: ``from pipetrack.logger import Logger``."""
from __future__ import annotations

from .tracking.logger import Logger, SeriesInfo

__all__ = ["Logger", "SeriesInfo"]
