"""Store operations on what a task reports while it runs: scalars, console, plots, samples."""
from __future__ import annotations


class MetricOperations:
    """Scalars (packed chunks), single values, console lines, plots, debug samples (mixed into
    ``TaskStore``)."""
