"""``pipetrack agent`` (also ``python -m pipetrack agent``): the command-line entry of the queue worker."""
from __future__ import annotations

import argparse
import sys

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", action="append", required=True,
                        help="queue to serve (repeatable; the first queue is served first)")
    parser.add_argument("--executor", default="local",
                        help="where tasks run: 'local' (a subprocess per task, the default), 'dask' (a local Dask "
                             "cluster) or 'dask://host:port' (that scheduler; tasks record into a private store on "
                             "the worker and their records come back when they end)")
    parser.add_argument("--max-tasks", type=cli.count(1), default=None, help="exit after this many tasks")
    parser.add_argument("--poll", type=cli.seconds, default=1.0, help="seconds between queue polls (default 1)")
    parser.add_argument("--concurrency", type=cli.count(1), default=2,
                        help="tasks run at once (default 2: a pipeline controller and one of its steps)")
    parser.add_argument("--name", default=None, help="worker name recorded as the tasks' last_worker")
    parser.add_argument("--no-venv", action="store_true",
                        help="run tasks in the agent's own Python environment instead of a cached virtual "
                             "environment with each task's recorded requirements")


def run(args: argparse.Namespace) -> int:
    from .worker import Agent
    agent = Agent(args.queue, max_tasks=args.max_tasks, poll=args.poll, concurrency=args.concurrency,
                  executor=args.executor, name=args.name, use_venv=not args.no_venv)
    agent.serve()
    if agent.own_failures:  # a task's own failure is the task's business; the agent's is the caller's
        print(f"pipetrack agent {agent.name}: {len(agent.own_failures)} task(s) failed for the agent's own reasons "
              f"(not their code): {', '.join(agent.own_failures)}", file=sys.stderr, flush=True)
        return 1
    return 0


cli.EXTRA_COMMANDS["agent"] = ("serve queues: run enqueued tasks", add_arguments, run)


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queue", help="queue name")


def run_queue(args: argparse.Namespace) -> int:
    from .queues import queue_entries
    rows = queue_entries(args.queue)
    print(f"{len(rows)} pending task(s) in queue {args.queue!r}, in the order an agent takes them")
    for row in rows:
        print(f"{row['id']:32}  priority {row['priority']:3d}  {row['name']}")
    return 0


cli.EXTRA_COMMANDS["queue"] = ("list a queue's pending tasks in run order", add_queue_arguments, run_queue)
