"""Store operations on execution queues: declare, enqueue, claim."""
from __future__ import annotations

import time


class QueueOperations:
    """Queues (mixed into ``TaskStore``)."""

    def ensure_queue(self, name: str) -> None:
        """Declare the queue ``name`` (its id is its name); nothing happens when it exists."""
        self.execute("INSERT INTO queues(name, id, created) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                     (name, name, time.time()))
