"""``pipetrack agent``: the command-line entry of the queue worker."""
from __future__ import annotations

import argparse

from .. import cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", action="append", required=True, help="queue to serve (repeatable)")
    parser.add_argument("--executor", default="local",
                        help="where tasks run: local (subprocesses; the default). Steps mapped to dask run "
                             "through the pipeline's own executor.")
    parser.add_argument("--max-tasks", type=int, default=None, help="exit after this many tasks")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between queue polls")
    parser.add_argument("--concurrency", type=int, default=2, help="tasks run at once")


def run(args: argparse.Namespace) -> int:
    from ..errors import ValidationError
    from .worker import Agent
    if args.executor != "local":
        raise ValidationError(f"agent --executor {args.executor!r} is not supported; accepted: 'local' "
                              "(map a queue to dask with PIPETRACK_QUEUES for pipeline steps)")
    Agent(args.queue, max_tasks=args.max_tasks, poll=args.poll, concurrency=args.concurrency).serve()
    return 0


cli.EXTRA_COMMANDS["agent"] = ("serve queues: run enqueued tasks", add_arguments, run)
