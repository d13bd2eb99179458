"""UI benchmark (not a test): serving the tasks table of a 10,000-task (or 100,000-task) store.

A store is filled in 20 projects: the first 20 tasks through the Task API (``Task.create`` with
tags and parameters, then statuses and times spread the way a busy project has them), the rest
through the store's own operations (``insert_task`` with the row the Task API stored for the
first task, ``put_params`` with the same parameters, 2,000 tasks per ``store.atomic()``
transaction), so 100,000 tasks take seconds, not many minutes (``--fill api`` fills them all
through the Task API, as this benchmark used to). A real ``pipetrack ui`` server process is
started over it, and the time to fetch pages of the tasks table over HTTP is measured from
this process (goal: first page < 200 ms):

- ``first request``: the very first GET /api/tasks after start (cold server caches);
- then, median / max of N requests each: the default first page (newest first, 50 rows),
  sorted by name, by duration, filtered by status, by tag, by name search, one project,
  and the last page.

The same queries run in this process through ``pipetrack.ui.api.list_tasks`` (no HTTP) as the
baseline, so the ratio says what the HTTP server and JSON add.

All of it runs for each task-store backend of ``--backends`` (default ``sqlite,postgresql``),
then one table compares their medians (a column per backend and the postgresql/sqlite ratio).
PostgreSQL is the server ``--postgres URL`` names, else a throwaway one this benchmark starts
through ``tests/postgres_server.py`` (imported by its path; it needs the PostgreSQL server
binaries, see ``benchmarks/_stores.py``; without them it stops saying so: use ``--backends sqlite``).

Run: ``.venv/bin/python benchmarks/bench_ui.py [--tasks 10000] [--runs 20] [--fill store|api]
[--backends sqlite,postgresql] [--postgres URL]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _stores  # noqa: E402  the backends compared (and the throwaway PostgreSQL server)

PAGE_SIZE = 50  # the UI's default page size
PROJECTS = 20
API_TASKS = 20  # tasks made through the Task API before the store's operations copy them
BATCH = 2000  # tasks per transaction when filling through the store's operations
QUERIES = {
    "first page (newest first)": {},
    "sort by name": {"sort": "name"},
    "sort by duration": {"sort": "-duration"},
    "status=failed": {"status": "failed"},
    "tag=baseline": {"tag": "baseline"},
    "search 'run 12'": {"search": "run 12"},
    "project bench/p07": {"project": "bench/p07"},
    "last page": {"page": "199"},  # the last page of 10,000 tasks; main() makes it that of --tasks
}
STATUSES = ["completed"] * 6 + ["failed", "stopped", "in_progress", "created", "queued", "published"]
TAGS = ["baseline", "sweep", "gpu", "cpu", "v2"]
TYPES = ["training", "testing", "data_processing"]


def fill(n: int, through: str = "store") -> float:
    """n tasks in the default store (see the module docstring); returns seconds taken."""
    from pipetrack import Task
    from pipetrack.store import default_store, new_id
    from pipetrack.tracking.parameters import encode_value
    rng = random.Random(0)
    store = default_store()
    start = time.perf_counter()
    first = None
    for i in range(n if through == "api" else min(n, API_TASKS)):
        task = Task.create(project_name=f"bench/p{i % PROJECTS:02d}", task_name=f"run {i}",
                           task_type=rng.choice(TYPES))
        task.add_tags(rng.sample(TAGS, 2))
        task.set_parameters({"Args/lr": rng.random(), "Args/epochs": rng.randint(1, 100), "Args/seed": i})
        started = time.time() - rng.uniform(0, 30 * 86400)
        store.update_task(task.id, status=rng.choice(STATUSES), started=started,
                          completed=started + rng.uniform(1, 3600), progress=rng.uniform(0, 100))
        first = first or task.id
    if n <= API_TASKS or through == "api":
        return time.perf_counter() - start
    template = store.stored_task_row(first)  # every column as the Task API stored it
    projects = [store.project_id(f"bench/p{k:02d}", create=True) for k in range(PROJECTS)]
    created = time.time()
    for begin in range(API_TASKS, n, BATCH):
        params = []
        with store.atomic():
            for i in range(begin, min(n, begin + BATCH)):
                task_id = new_id()
                started = created - rng.uniform(0, 30 * 86400)
                store.insert_task(dict(
                    template, id=task_id, project_id=projects[i % PROJECTS], name=f"run {i}",
                    type=rng.choice(TYPES), tags=rng.sample(TAGS, 2), status=rng.choice(STATUSES),
                    created=created + i * 1e-4, last_update=created + i * 1e-4, started=started,
                    completed=started + rng.uniform(1, 3600), progress=rng.uniform(0, 100)))
                for name, value in (("epochs", rng.randint(1, 100)), ("lr", rng.random()), ("seed", i)):
                    params.append((task_id, "Args", name, *encode_value(value), None))
            store.put_params(params)
    return time.perf_counter() - start


TOKEN = "pipetrack-bench-ui-token"  # the UI's login token (--token), sent as its Authorization header


def fetch(url: str) -> tuple[float, dict]:
    start = time.perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        body = json.loads(resp.read())
    return time.perf_counter() - start, body


def bench_backend(backend: str, location: str | None, args: argparse.Namespace, queries: dict) -> dict:
    """Fill a fresh store of ``backend``, serve it, time the queries; prints the classic table."""
    home = tempfile.mkdtemp(prefix="pipetrack-bench-ui-")
    _stores.use_here(location, home)
    how = "the Task API" if args.fill == "api" else "the Task API and the store's operations"
    print(f"\n[{backend}] filling {args.tasks} tasks through {how} ...", flush=True)
    filled = fill(args.tasks, args.fill)
    print(f"  filled in {filled:.1f} s")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "pipetrack", "ui", "--port", "0", "--token", TOKEN],
                              env=env,
                              stdout=subprocess.PIPE, text=True)
    result = {"fill": filled, "http": {}, "local": {}}
    try:
        base = re.search(r"(http://\S+)", server.stdout.readline()).group(1).split("?")[0].rstrip("/")
        first, body = fetch(f"{base}/api/tasks")
        assert body["total"] == args.tasks, body["total"]
        result["first"] = first
        print(f"\nfirst request after start: {first * 1000:.1f} ms ({len(body['rows'])} rows of {body['total']})\n")

        from urllib.parse import urlencode
        from pipetrack.store import default_store
        from pipetrack.ui.api import list_tasks
        store = default_store()
        print(f"{'query':28} {'HTTP median':>12} {'HTTP max':>9} {'in-process':>11} {'ratio':>6}  rows/total")
        worst = 0.0
        for label, params in queries.items():
            http, local = [], []
            for _ in range(args.runs):
                seconds, body = fetch(f"{base}/api/tasks?{urlencode(params)}")
                http.append(seconds)
                kwargs = {k: ([v] if k in ("status", "tag") else v) for k, v in params.items()}
                start = time.perf_counter()
                list_tasks(store, **kwargs)
                local.append(time.perf_counter() - start)
            med, loc = statistics.median(http), statistics.median(local)
            result["http"][label], result["local"][label] = med, loc
            worst = max(worst, max(http))
            print(f"{label:28} {med * 1000:10.1f}ms {max(http) * 1000:7.1f}ms {loc * 1000:9.1f}ms "
                  f"{med / loc:5.1f}x  {len(body['rows'])}/{body['total']}")
        print(f"\nslowest single request: {worst * 1000:.1f} ms (goal: first page < 200 ms)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--fill", choices=("store", "api"), default="store",
                        help="fill through the store's operations after 20 Task API tasks (default), or "
                             "all through the Task API (slow: minutes for 100,000 tasks)")
    _stores.add_arguments(parser)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    queries = dict(QUERIES, **{"last page": {"page": str(max(0, (args.tasks - 1) // PAGE_SIZE))}})
    results = {}
    with _stores.Stores(args.backends, args.postgres) as stores:
        for backend in args.backends:
            results[backend] = bench_backend(backend, stores.location(backend, "bench_ui"), args, queries)

    backends = args.backends
    print(f"\nper backend: {args.tasks:,} tasks, medians of {args.runs} requests (ms)")
    ms = lambda v: f"{v * 1000:.1f}"  # noqa: E731
    rows = [("filled in (s)", {b: results[b]["fill"] for b in backends}, lambda v: f"{v:.1f}"),
            ("first request after start", {b: results[b]["first"] for b in backends}, ms)]
    rows += [(f"HTTP {label}", {b: results[b]["http"][label] for b in backends}, ms) for label in queries]
    rows += [(f"in-process {label}", {b: results[b]["local"][label] for b in backends}, ms) for label in queries]
    _stores.print_table("tasks table", rows, backends)


if __name__ == "__main__":
    main()
