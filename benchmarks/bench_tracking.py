"""Tracking benchmarks (not a test): Task.init start-up cost and scalar logging throughput.

(a) ``Task.init`` + ``close`` in a fresh interpreter vs a bare ``python -c pass``: best and
    median of N runs each; the difference is what tracking adds to a script (goal: <= 150 ms).
(b) 1,000,000 ``Logger.report_scalar`` calls then ``flush()`` (everything written to the store):
    scalars per second (goal: >= 500,000/s), next to a bare ``list.append`` loop of the same
    length as the baseline.

Both run for each task-store backend of ``--backends`` (default ``sqlite,postgresql``): the
embedded SQLite store, and PostgreSQL (``PIPETRACK_STORE=postgresql://...``), then one table
compares them (medians; a column per backend and the postgresql/sqlite ratio). PostgreSQL is the
server ``--postgres URL`` names, else a throwaway one this benchmark starts through
``tests/postgres_server.py`` (imported by its path; it needs the PostgreSQL server binaries, see
``benchmarks/_stores.py``; without them the benchmark stops saying so: use ``--backends sqlite``).

Run: ``.venv/bin/python benchmarks/bench_tracking.py [--runs 10] [--scalars 1000000] [--repeat 3]
[--backends sqlite,postgresql] [--postgres URL]``.
Each run uses a fresh temporary PIPETRACK_HOME (and a fresh PostgreSQL database).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PIPETRACK_QUIET", "1")  # per-step notices would bury the results table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _stores  # noqa: E402  the backends compared (and the throwaway PostgreSQL server)

INIT_SCRIPT = "from pipetrack import Task; Task.init('bench', 'startup').close()"


def _time_process(code: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def bench_startup(runs: int, locations: dict[str, str | None]) -> dict[str, list[float]]:
    """Wall times (s) of a bare interpreter and of Task.init + close on each backend's store
    (``{"python -c pass": [...], backend: [...]}``), runs interleaved."""
    with tempfile.TemporaryDirectory() as home:
        envs = {}
        for backend, location in locations.items():
            env = _stores.env(location, Path(home) / backend, {**os.environ, "PYTHONPATH": str(ROOT)})
            # a user's interpreter caches bytecode; without it every run recompiles pipetrack (~30 ms)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            envs[backend] = env
            _time_process(INIT_SCRIPT, env)  # warm up: bytecode, OS file cache, the store and its caches
        times: dict[str, list[float]] = {"python -c pass": [], **{backend: [] for backend in envs}}
        bare_env = next(iter(envs.values()))
        for _ in range(runs):  # interleaved, so drift in machine load hits all alike
            times["python -c pass"].append(_time_process("pass", bare_env))
            for backend, env in envs.items():
                times[backend].append(_time_process(INIT_SCRIPT, env))
    return times


def bench_scalars(n: int, repeat: int, locations: dict[str, str | None] | None = None) -> dict[str, dict]:
    """Per backend, seconds of each of ``repeat`` runs: n list.append calls, n report_scalar calls,
    and those + flush (``{backend: {"append": [...], "calls": [...], "total": [...], "stored": rows}}``);
    runs of the backends interleaved. Without ``locations``, the default store only (``"default"``)."""
    sys.path.insert(0, str(ROOT))
    from pipetrack import Task
    locations = locations if locations is not None else {"default": None}
    homes = {backend: tempfile.mkdtemp(prefix="pipetrack-bench-") for backend in locations}
    results = {backend: {"append": [], "calls": [], "total": [], "stored": 0} for backend in locations}
    for run in range(repeat):
        for backend, location in locations.items():
            if backend == "default":
                os.environ["PIPETRACK_HOME"] = homes[backend]
            else:
                _stores.use_here(location, homes[backend])
            res = results[backend]
            values: list = []
            append = values.append
            start = time.perf_counter()
            for i in range(n):
                append(("loss", "train", 0.5, i))
            res["append"].append(time.perf_counter() - start)
            del values, append

            task = Task.init("bench", f"scalars-{run}", auto_connect_streams=False, auto_resource_monitoring=False)
            report = task.get_logger().report_scalar
            start = time.perf_counter()
            for i in range(n):
                report("loss", "train", 0.5, i)
            res["calls"].append(time.perf_counter() - start)
            task.get_logger().flush()
            res["total"].append(time.perf_counter() - start)
            res["stored"] = task._store.scalar_count(task.id)
            task.close()
    return results


def print_scalars(label: str, n: int, repeat: int, res: dict) -> None:
    """The scalar table as it has always been (best of ``repeat``)."""
    best = {key: min(res[key]) for key in ("append", "calls", "total")}
    print(f"\n(b) {n:,} scalars, best of {repeat}{label}")
    print(f"    {'':34} {'seconds':>8} {'per second':>12} {'ns/call':>8}")
    print(f"    {'list.append loop (baseline)':34} {best['append']:8.3f} {n / best['append']:12,.0f} "
          f"{best['append'] / n * 1e9:8.0f}")
    print(f"    {'report_scalar calls only':34} {best['calls']:8.3f} {n / best['calls']:12,.0f} "
          f"{best['calls'] / n * 1e9:8.0f}")
    print(f"    {'report_scalar + flush (stored)':34} {best['total']:8.3f} {n / best['total']:12,.0f} "
          f"{best['total'] / n * 1e9:8.0f}   (goal >= 500,000/s)")
    print(f"    report_scalar / append cost ratio: {best['calls'] / best['append']:.1f}x; rows stored: {res['stored']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scalars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="scalar runs per backend (best and median shown)")
    _stores.add_arguments(parser)
    args = parser.parse_args()
    backends = args.backends

    with _stores.Stores(backends, args.postgres) as stores:
        locations = {backend: stores.location(backend, "bench_startup") for backend in backends}
        startup = bench_startup(args.runs, locations)
        bare = startup["python -c pass"]
        bare_best, bare_med = min(bare), statistics.median(bare)
        print(f"(a) start-up, {args.runs} runs each")
        print(f"    {'':32} {'best ms':>9} {'median ms':>10}")
        print(f"    {'python -c pass':32} {bare_best * 1e3:9.1f} {bare_med * 1e3:10.1f}")
        for backend in backends:
            init = startup[backend]
            print(f"    {'Task.init + close [' + backend + ']':32} {min(init) * 1e3:9.1f} "
                  f"{statistics.median(init) * 1e3:10.1f}")
        for backend in backends:
            init = startup[backend]
            print(f"    {'added by Task.init [' + backend + ']':32} {(min(init) - bare_best) * 1e3:9.1f} "
                  f"{(statistics.median(init) - bare_med) * 1e3:10.1f}   (goal <= 150 ms)")

        n = args.scalars
        locations = {backend: stores.location(backend, "bench_scalars") for backend in backends}
        scalars = bench_scalars(n, args.repeat, locations)
        for backend in backends:
            print_scalars(f" [{backend}]", n, args.repeat, scalars[backend])

    print(f"\nper backend (medians: start-up of {args.runs} runs, scalars of {args.repeat} runs of {n:,})")
    ms, count = (lambda v: f"{v:.1f}"), (lambda v: f"{v:,.0f}")
    rows = [("Task.init + close (ms)", {b: statistics.median(startup[b]) * 1e3 for b in backends}, ms),
            ("  minus python -c pass (ms)", {b: (statistics.median(startup[b]) - bare_med) * 1e3 for b in backends},
             ms),
            ("report_scalar calls only (scalars/s)", {b: n / statistics.median(scalars[b]["calls"])
                                                      for b in backends}, count),
            ("report_scalar + flush (scalars/s)", {b: n / statistics.median(scalars[b]["total"])
                                                   for b in backends}, count),
            ("report_scalar + flush (s)", {b: statistics.median(scalars[b]["total"]) for b in backends},
             lambda v: f"{v:.3f}")]
    _stores.print_table("figure", rows, backends)

if __name__ == "__main__":
    main()
