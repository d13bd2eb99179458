"""The ``pipetrack`` command: look at tasks and projects in the store (agent and pipelines
subcommands are registered by their packages)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable, Optional, Sequence

from .errors import PipetrackError

# subcommand registrars added by other packages: name -> (help, add_arguments, run)
EXTRA_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def count(minimum: int = 0) -> Callable[[str], int]:
    """An argparse ``type`` for a whole number of at least ``minimum`` (``--limit -1`` is refused
    with a message naming the value, not read as 'no limit' or an empty listing)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value
    parse.__name__ = "count"
    return parse


def seconds(text: str) -> float:
    """An argparse ``type`` for a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _when(ts: Optional[float]) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _num(value: Optional[float]) -> str:
    """A metric for a table: NaN is stored as NULL, so None prints as nan."""
    return "nan" if value is None else f"{value:g}"


def _duration(row: dict) -> str:
    from .tracking.states import duration_seconds
    seconds = duration_seconds(row)
    return "-" if seconds is None else f"{seconds:.1f}s"


def cmd_tasks_list(args: argparse.Namespace) -> int:
    from .tracking.query import find_tasks
    from .store import default_store
    task_filter = {"status": args.status} if args.status else None
    rows = find_tasks(default_store(), project_name=args.project, task_name=args.name, task_filter=task_filter,
                      limit=args.limit)
    if args.json:  # the shape of every --json listing: {"total": N, "<things>": [...]}
        print(json.dumps({"total": len(rows),
                          "tasks": [{k: r[k] for k in ("id", "project_name", "name", "type", "status", "created",
                                                        "tags")} for r in rows]}, indent=2))
        return 0
    print(f"{'ID':32}  {'STATUS':11}  {'TYPE':15}  {'STARTED':19}  {'DURATION':>9}  PROJECT / NAME")
    for r in rows:
        print(f"{r['id']:32}  {r['status']:11}  {r['type']:15}  {_when(r['started']):19}  {_duration(r):>9}  "
              f"{r['project_name']} / {r['name']}")
    return 0


def cmd_tasks_show(args: argparse.Namespace) -> int:
    from .tracking.query import complete_task_id
    from .store import default_store
    from .tracking.task import Task
    task = Task.get_task(task_id=complete_task_id(default_store(), args.task_id))
    data = task.data
    print(f"Task {task.id}: {data['project_name']} / {data['name']}")
    for key in ("type", "status", "status_message", "parent", "comment", "last_worker", "output_uri", "progress",
                "last_iteration"):
        if data.get(key) not in (None, ""):
            print(f"  {key:15} {data[key]}")
    print(f"  {'created':15} {_when(data['created'])}")
    print(f"  {'duration':15} {_duration(data)}")
    if data["tags"]:
        print(f"  {'tags':15} {', '.join(data['tags'])}")
    params = task.get_parameters()
    if params:
        print("Parameters:")
        for key, value in params.items():
            print(f"  {key} = {value}")
    for name, text in task.get_configuration_objects().items():
        print(f"Configuration {name}:\n  " + "\n  ".join(text.splitlines()[:20]))
    metrics = task.get_last_scalar_metrics()
    if metrics:
        print("Scalars (last / min / max):")
        for title, series in metrics.items():
            for name, v in series.items():
                print(f"  {title} / {name}: {_num(v['last'])} / {_num(v['min'])} / {_num(v['max'])}")
    artifacts = task.artifacts
    if artifacts:
        print("Artifacts:")
        for name, a in artifacts.items():
            print(f"  {name} [{a.type}] {a.size or 0} bytes {a.url}")
    models = task.get_models()
    for role in ("input", "output"):
        for model in models[role]:
            print(f"Model ({role}): {model.name} {model.url}")
    console = task.get_reported_console_output(number_of_reports=args.console) if args.console else []
    if console:
        print(f"Console (last {len(console)} lines):")
        for line in console:
            print(f"  {line}")
    return 0


def _cell(value: object, width: int = 30) -> str:
    text = "-" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[:width - 3] + "..."


def _table(rows: list[tuple[str, str, list[str]]], headers: list[str]) -> list[str]:
    """Lines of a side-by-side table: (mark, name, cells) rows under NAME + ``headers``."""
    name_width = max([4, *(len(name) for _, name, _ in rows)])
    widths = [max([len(h), *(len(cells[i]) for _, _, cells in rows)]) for i, h in enumerate(headers)]
    lines = [("    " + "  ".join([f"{'NAME':{name_width}}", *(f"{h:{w}}" for h, w in zip(headers, widths))])).rstrip()]
    for mark, name, cells in rows:
        lines.append(f"  {mark} " + "  ".join([f"{name:{name_width}}", *(f"{c:{w}}" for c, w in zip(cells, widths))])
                     .rstrip())
    return lines


def cmd_tasks_compare(args: argparse.Namespace) -> int:
    """Parameters and scalars of 2-5 tasks side by side; rows whose values differ are marked ``*``."""
    from .tracking.compare import check_compare_count, compare_parameters, compare_scalars
    from .tracking.query import complete_task_id
    from .store import default_store
    from .tracking.task import Task
    ids = list(args.task_ids)
    check_compare_count(ids)
    tasks = [Task.get_task(task_id=complete_task_id(default_store(), task_id)) for task_id in ids]
    params = compare_parameters([task.get_parameters() for task in tasks])
    scalars = compare_scalars([task.get_last_scalar_metrics() for task in tasks])
    if args.diff_only:
        params = [row for row in params if row["differs"]]
        scalars = [row for row in scalars if row["differs"]]
    if args.json:
        print(json.dumps({"tasks": [{"id": t.id, "name": t.name, "project_name": t.data["project_name"],
                                     "status": t.get_status()} for t in tasks],
                          "parameters": params, "scalars": scalars}, indent=2, default=str))
        return 0
    print(f"Comparing {len(tasks)} tasks:")
    for index, task in enumerate(tasks, 1):
        print(f"  [{index}] {task.id}  {task.data['project_name']} / {task.name}  ({task.get_status()})")
    headers = [f"[{index}]" for index in range(1, len(tasks) + 1)]
    print("Parameters (* = values differ):" if params else "Parameters: none" + (" differ" if args.diff_only else ""))
    if params:
        for line in _table([("*" if row["differs"] else " ", row["name"], [_cell(v) for v in row["values"]])
                            for row in params], headers):
            print(line)
    print("Scalars, last / min / max (* = last values differ):" if scalars
          else "Scalars: none" + (" differ" if args.diff_only else ""))
    if scalars:
        rows = [("*" if row["differs"] else " ", f"{row['title']} / {row['series']}",
                 [f"{_num(v['last'])} / {_num(v['min'])} / {_num(v['max'])}" if v else "-" for v in row["values"]])
                for row in scalars]
        for line in _table(rows, headers):
            print(line)
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    from .store import default_store
    for r in default_store().project_summaries(include_archived=True):
        print(f"{r['name']:40}  {r['tasks']:6} tasks  last update {_when(r['last_update'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(prog="pipetrack", description="Inspect the pipetrack task store "
                                     "(PIPETRACK_HOME, default ~/.pipetrack).")
    parser.add_argument("--version", action="version", version=f"pipetrack {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    tasks = sub.add_parser("tasks", help="list, show or compare tasks").add_subparsers(dest="tasks_command",
                                                                                      required=True)
    lst = tasks.add_parser("list", help="list tasks, newest first")
    lst.add_argument("--project", help="project name (sub-projects included)")
    lst.add_argument("--status", action="append", help="filter by status (repeatable)")
    lst.add_argument("--name", help="task name regex")
    lst.add_argument("--limit", type=count(1), default=100, help="tasks to show (default 100)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=cmd_tasks_list)
    show = tasks.add_parser("show", help="show one task")
    show.add_argument("task_id", help="the task's id, or a unique prefix of it (4+ digits)")
    show.add_argument("--console", type=count(0), default=20, help="console lines to show (0: none)")
    show.set_defaults(func=cmd_tasks_show)
    compare = tasks.add_parser("compare", help="compare 2-5 tasks: parameters and scalars side by side")
    compare.add_argument("task_ids", nargs="*", metavar="TASK_ID", help="2 to 5 task ids (or unique prefixes)")
    compare.add_argument("--diff-only", action="store_true", help="only rows whose values differ")
    compare.add_argument("--json", action="store_true", help="machine-readable output")
    compare.set_defaults(func=cmd_tasks_compare)
    sub.add_parser("projects", help="list projects").set_defaults(func=cmd_projects)
    for name, (help_text, add_arguments, run) in EXTRA_COMMANDS.items():
        extra = sub.add_parser(name, help=help_text)
        add_arguments(extra)
        extra.set_defaults(func=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    _register_optional_commands()
    parser = build_parser()
    _mark_inner(parser)
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except PipetrackError as exc:
        print(f"pipetrack: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """``pipetrack tasks list | head``: the reader went away. End quietly, as a C tool killed by
    SIGPIPE would (status 141), with stdout pointed at /dev/null so the interpreter's final
    flush does not print a second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13


def _mark_inner(parser: argparse.ArgumentParser) -> None:
    """Flag our own parsers so the argparse capture hook never records pipetrack's CLI arguments."""
    parser._pipetrack_inner = True  # type: ignore[attr-defined]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_inner(sub)


def _register_optional_commands() -> None:
    import importlib
    for module in ("pipetrack.agent.command", "pipetrack.pipelines.command", "pipetrack.ui.command",
                   "pipetrack.store.command"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


if __name__ == "__main__":
    sys.exit(main())
