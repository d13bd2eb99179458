"""Store operations on execution queues: declare, list, claim, and what claimed tasks' runners record."""
from __future__ import annotations

import time
from typing import Any, Optional, Sequence


class QueueOperations:
    """Queues (mixed into ``TaskStore``)."""

    def ensure_queue(self, name: str) -> None:
        """Declare the queue ``name`` (its id is its name); nothing happens when it exists."""
        self.execute("INSERT INTO queues(name, id, created) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                     (name, name, time.time()))

    def queued_tasks(self, queue: str) -> list[dict[str, Any]]:
        """The pending tasks of ``queue`` (id, name, priority, enqueued) in the order agents take them:
        higher priority first, then first enqueued first."""
        return self.query("SELECT id, name, priority, enqueued FROM tasks WHERE queue=? AND status='queued' "
                          "ORDER BY priority DESC, enqueued ASC", (queue,))

    def top_queued_priority(self, queue: str) -> Optional[int]:
        """The highest priority among the pending tasks of ``queue``; None when none is pending."""
        row = self.query_one("SELECT MAX(priority) AS p FROM tasks WHERE queue=? AND status='queued'", (queue,))
        return None if row is None or row["p"] is None else int(row["p"])

    def claim_next_task(self, queues: Sequence[str], worker: str, host: str, pid: int) -> Optional[dict[str, Any]]:
        """Take the next pending task of ``queues`` (the first queue first, then by priority and enqueue
        time) for ``worker``: it becomes running there, with ``host``/``pid`` as its process. The pick
        and the compare-and-swap from ``queued`` are one transaction, so two agents never take the
        same task. Its task row, or None when nothing is pending."""
        marks = ", ".join("?" * len(queues))
        order = " ".join(f"WHEN ? THEN {i}" for i in range(len(queues)))
        with self.write() as conn:
            row = conn.execute(f"SELECT id FROM tasks WHERE status='queued' AND queue IN ({marks}) "
                               f"ORDER BY CASE queue {order} END, priority DESC, enqueued ASC LIMIT 1",
                               [*queues, *queues]).fetchone()
            if row is None:
                return None
            now = time.time()
            claimed = conn.execute(
                "UPDATE tasks SET status='in_progress', last_worker=?, started=?, heartbeat=?, host=?, pid=?, "
                "status_message='', completed=NULL, last_update=? WHERE id=? AND status='queued'",
                (worker, now, now, host, pid, now, row["id"])).rowcount
        return self.task_row(row["id"]) if claimed else None

    def hand_task_to_process(self, task_id: str, pid: int, from_pid: int) -> bool:
        """Make ``pid`` the process of running task ``task_id`` if ``from_pid`` still is (a
        compare-and-swap: a pid the task recorded itself is kept); True when it was changed."""
        return self.execute("UPDATE tasks SET pid=? WHERE id=? AND status='in_progress' AND pid=?",
                            (pid, task_id, from_pid)) > 0

    def stop_worker_tasks(self, worker: str, message: str) -> int:
        """Record every task still running on ``worker`` (its ``last_worker``) stopped with ``message``
        (the worker is going away); how many were."""
        return self.execute("UPDATE tasks SET status='stopped', status_message=?, completed=? WHERE last_worker=? "
                            "AND status='in_progress'", (message, time.time(), worker))

