"""The Task model: store, Task, Logger, artifacts, models, capture, offline sessions."""
