"""UI benchmark (not a test): serving the tasks table of a 10,000-task store.

A store is filled through the Task API (``Task.create`` with tags and parameters, then
statuses and times spread the way a busy project has them) in 20 projects, a real
``pipetrack ui`` server process is started over it, and the time to fetch pages of the
tasks table over HTTP is measured from this process (goal: first page < 200 ms):

- ``first request``: the very first GET /api/tasks after start (cold server caches);
- then, median / max of N requests each: the default first page (newest first, 50 rows),
  sorted by name, by duration, filtered by status, by tag, by name search, one project,
  and the last page.

The same queries run in this process through ``pipetrack.ui.api.list_tasks`` (no HTTP) as the
baseline, so the ratio says what the HTTP server and JSON add.

Run: ``.venv/bin/python benchmarks/bench_ui.py [--tasks 10000] [--runs 20]``.
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

QUERIES = {
    "first page (newest first)": {},
    "sort by name": {"sort": "name"},
    "sort by duration": {"sort": "-duration"},
    "status=failed": {"status": "failed"},
    "tag=baseline": {"tag": "baseline"},
    "search 'run 12'": {"search": "run 12"},
    "project bench/p07": {"project": "bench/p07"},
    "last page": {"page": "199"},
}


def fill(n: int) -> float:
    """n tasks through the Task API; returns seconds taken."""
    from pipetrack import Task
    from pipetrack.store import default_store
    rng = random.Random(0)
    store = default_store()
    statuses = ["completed"] * 6 + ["failed", "stopped", "in_progress", "created", "queued", "published"]
    start = time.perf_counter()
    for i in range(n):
        task = Task.create(project_name=f"bench/p{i % 20:02d}", task_name=f"run {i}",
                           task_type=rng.choice(["training", "testing", "data_processing"]))
        task.add_tags(rng.sample(["baseline", "sweep", "gpu", "cpu", "v2"], 2))
        task.set_parameters({"Args/lr": rng.random(), "Args/epochs": rng.randint(1, 100), "Args/seed": i})
        started = time.time() - rng.uniform(0, 30 * 86400)
        store.update_task(task.id, status=rng.choice(statuses), started=started,
                          completed=started + rng.uniform(1, 3600), progress=rng.uniform(0, 100))
    return time.perf_counter() - start


def fetch(url: str) -> tuple[float, dict]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.loads(resp.read())
    return time.perf_counter() - start, body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="pipetrack-bench-ui-")
    os.environ["PIPETRACK_HOME"] = home
    sys.path.insert(0, str(ROOT))
    print(f"filling {args.tasks} tasks through the Task API ...", flush=True)
    print(f"  filled in {fill(args.tasks):.1f} s")

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "pipetrack", "ui", "--port", "0"], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        base = re.search(r"(http://\S+)", server.stdout.readline()).group(1).rstrip("/")
        first, body = fetch(f"{base}/api/tasks")
        assert body["total"] == args.tasks, body["total"]
        print(f"\nfirst request after start: {first * 1000:.1f} ms ({len(body['rows'])} rows of {body['total']})\n")

        from urllib.parse import urlencode
        from pipetrack.store import default_store
        from pipetrack.ui.api import list_tasks
        store = default_store()
        print(f"{'query':28} {'HTTP median':>12} {'HTTP max':>9} {'in-process':>11} {'ratio':>6}  rows/total")
        worst = 0.0
        for label, params in QUERIES.items():
            http, local = [], []
            for _ in range(args.runs):
                seconds, body = fetch(f"{base}/api/tasks?{urlencode(params)}")
                http.append(seconds)
                kwargs = {k: ([v] if k in ("status", "tag") else v) for k, v in params.items()}
                start = time.perf_counter()
                list_tasks(store, **kwargs)
                local.append(time.perf_counter() - start)
            med, loc = statistics.median(http), statistics.median(local)
            worst = max(worst, max(http))
            print(f"{label:28} {med * 1000:10.1f}ms {max(http) * 1000:7.1f}ms {loc * 1000:9.1f}ms "
                  f"{med / loc:5.1f}x  {len(body['rows'])}/{body['total']}")
        print(f"\nslowest single request: {worst * 1000:.1f} ms (goal: first page < 200 ms)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
