"""Store operations on models: register, link to tasks, look up."""
from __future__ import annotations


class ModelOperations:
    """Models and a task's input/output model links (mixed into ``TaskStore``)."""
