"""Store operations pipelines need: runs, versions, the step cache."""
from __future__ import annotations


class PipelineOperations:
    """Pipeline runs, versions and cache lookups (mixed into ``TaskStore``)."""
