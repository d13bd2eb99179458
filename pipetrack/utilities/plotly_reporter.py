"""ClearML's ``clearml.utilities.plotly_reporter`` path: ``SeriesInfo``, the line description
``Logger.report_line_plot`` takes."""
from __future__ import annotations

from ..tracking.logger import SeriesInfo

__all__ = ["SeriesInfo"]
