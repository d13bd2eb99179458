"""``pipetrack pipelines list`` and ``pipetrack pipelines show RUN_ID``: pipeline runs in the terminal.

Both read through ``runs.py`` (the same reader as the web UI), so the terminal and the UI
agree on statuses and counts. ``show`` prints the DAG as text, one topological layer after
another, each step with its status, its task id and the steps it runs after.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Optional

from .. import cli

# ANSI colours of step/run statuses (only used when stdout is a terminal)
STATUS_COLOURS = {"completed": "32", "cached": "36", "running": "33", "in_progress": "33", "queued": "34",
                  "failed": "31", "aborted": "35", "stopped": "35", "skipped": "2", "pending": "2", "created": "2"}


def _use_colour() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stdout.isatty()
    except (ValueError, AttributeError):
        return False


def _status(status: str, width: int, colour: bool) -> str:
    """``status`` padded to ``width``, in its colour when ``colour`` (padding outside the escape codes)."""
    text = f"{status:{width}}"
    code = STATUS_COLOURS.get(status)
    return f"\x1b[{code}m{status}\x1b[0m{text[len(status):]}" if colour and code else text


def _progress(run: dict) -> str:
    return "-" if run.get("progress") is None else f"{float(run['progress']):.0f}%"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pipelines_command", required=True)
    lst = sub.add_parser("list", help="list pipeline runs, newest first")
    lst.add_argument("--project", help="project name (sub-projects included)")
    lst.add_argument("--name", help="pipeline name (exact)")
    lst.add_argument("--limit", type=cli.count(1), default=50, help="runs to show (default 50)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(pipelines_func=cmd_list)
    show = sub.add_parser("show", help="show one run: status and its DAG with step statuses")
    show.add_argument("run_id", help="the run's (controller task's) id, or a unique prefix of it")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(pipelines_func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the runs table (or JSON) of ``pipetrack pipelines list``."""
    from ..store import default_store
    from .runs import list_runs
    total, runs = list_runs(default_store(), project=args.project, name=args.name, limit=args.limit)
    if args.json:
        print(json.dumps({"total": total, "runs": runs}, indent=2, default=str))
        return 0
    if not runs:
        print("no pipeline runs" + (" matching the filters" if args.project or args.name else ""))
        return 0
    colour = _use_colour()
    name_width = max(len("NAME"), *(len(r["name"]) for r in runs))
    version_width = max(len("VERSION"), *(len(r["version"] or "-") for r in runs))
    print(f"{'ID':32}  {'NAME':{name_width}}  {'VERSION':{version_width}}  {'STATUS':11}  {'PROGRESS':>8}  "
          f"{'STARTED':19}  {'DURATION':>9}  PROJECT")
    for r in runs:
        print(f"{r['id']:32}  {r['name']:{name_width}}  {r['version'] or '-':{version_width}}  "
              f"{_status(r['status'], 11, colour)}  {_progress(r):>8}  {cli._when(r['started']):19}  "
              f"{cli._duration(r):>9}  {r['project_name']}")
    if total > len(runs):
        print(f"({len(runs)} of {total} runs shown; use --limit to see more)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print one run's header and its DAG, layer by layer (``pipetrack pipelines show RUN_ID``)."""
    from ..tracking.query import complete_task_id
    from ..store import default_store
    from .runs import load_run
    store = default_store()
    run = load_run(store, complete_task_id(store, args.run_id))  # NotFoundError -> exit code 2 (cli.main)
    if args.json:
        print(json.dumps(run, indent=2, default=str))
        return 0
    colour = _use_colour()
    print(f"Pipeline run {run['id']}: {run['project_name']} / {run['name']}")
    print(f"  {'version':9} {run['version'] or '-'}")
    print(f"  {'status':9} {_status(run['status'], 0, colour)}")
    if run.get("status_message"):
        print(f"  {'message':9} {run['status_message']}")
    print(f"  {'progress':9} {_progress(run)}  ({run['done']}/{run['total']} steps done)")
    counts = ", ".join(f"{n} {s}" for s, n in run["counts"].items() if n)
    if counts:
        print(f"  {'steps':9} {counts}")
    print(f"  {'started':9} {cli._when(run['started'])}")
    print(f"  {'duration':9} {cli._duration(run)}")
    if not run["nodes"]:
        print("(no steps recorded)")
        return 0
    print("Steps (by layer; a step runs after the steps in parentheses):")
    for line in dag_lines(run["nodes"], colour):
        print(f"  {line}")
    return 0


def dag_lines(nodes: list[dict], colour: bool = False) -> list[str]:
    """The DAG as text: layer 0 first, each later layer indented one level under a ``└─``, each
    step with its status, task id, parents and (failed, aborted, skipped) the gist of its error."""
    ordered = sorted(nodes, key=lambda n: (n["layer"], n["slot"], n["name"]))
    branch = "└─ " if _can_encode("└─") else "`- "
    labels = [("   " * (n["layer"] - 1) + branch if n["layer"] > 0 else "") + n["name"] for n in ordered]
    label_width = max(len(label) for label in labels)
    status_width = max(len(n["status"]) for n in ordered)
    lines = []
    for node, label in zip(ordered, labels):
        line = f"{label:{label_width}}  {_status(node['status'], status_width, colour)}  {node['task_id'] or '-':32}"
        if node["parents"]:
            line += f"  (after {', '.join(node['parents'])})"
        error = _error_summary(node.get("error"))
        if error and node["status"] in ("failed", "aborted", "skipped"):
            line += f"  {error}"
        lines.append(line.rstrip())
    return lines


def _can_encode(text: str) -> bool:
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _error_summary(text: Optional[Any], limit: int = 120) -> str:
    """The last line of a step's error (a traceback's last line names the exception), shortened."""
    lines = str(text or "").strip().splitlines()
    line = lines[-1].strip() if lines else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen `pipelines` subcommand."""
    return int(args.pipelines_func(args) or 0)


cli.EXTRA_COMMANDS["pipelines"] = ("list pipeline runs or show one run's DAG with step statuses", add_arguments, run)
