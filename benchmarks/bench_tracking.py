"""Tracking benchmarks (not a test): Task.init start-up cost and scalar logging throughput.

(a) ``Task.init`` + ``close`` in a fresh interpreter vs a bare ``python -c pass``: best and
    median of N runs each; the difference is what tracking adds to a script (goal: <= 150 ms).
(b) 1,000,000 ``Logger.report_scalar`` calls then ``flush()`` (everything written to SQLite):
    scalars per second (goal: >= 500,000/s), next to a bare ``list.append`` loop of the same
    length as the baseline.

Run: ``.venv/bin/python benchmarks/bench_tracking.py [--runs 10] [--scalars 1000000]``.
Each run uses a fresh temporary PIPETRACK_HOME.
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

INIT_SCRIPT = "from pipetrack import Task; Task.init('bench', 'startup').close()"


def _time_process(code: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def bench_startup(runs: int) -> dict[str, tuple[float, float]]:
    """Best and median wall time (s) of a bare interpreter and of Task.init + close."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PIPETRACK_HOME": home, "PYTHONPATH": str(ROOT)}
        # a user's interpreter caches bytecode; without it every run recompiles pipetrack (~30 ms)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        _time_process(INIT_SCRIPT, env)  # warm up: bytecode, OS file cache, the store and its caches
        bare, init = [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits both alike
            bare.append(_time_process("pass", env))
            init.append(_time_process(INIT_SCRIPT, env))
    return {"python -c pass": (min(bare), statistics.median(bare)),
            "Task.init + close": (min(init), statistics.median(init))}


def bench_scalars(n: int, repeat: int) -> dict[str, float]:
    """Best of ``repeat``: seconds for n list.append calls, n report_scalar calls, and those + flush."""
    os.environ["PIPETRACK_HOME"] = tempfile.mkdtemp(prefix="pipetrack-bench-")
    sys.path.insert(0, str(ROOT))
    from pipetrack import Task
    best = {"append": float("inf"), "calls": float("inf"), "total": float("inf")}
    stored = 0
    for run in range(repeat):
        values: list = []
        append = values.append
        start = time.perf_counter()
        for i in range(n):
            append(("loss", "train", 0.5, i))
        best["append"] = min(best["append"], time.perf_counter() - start)
        del values, append

        task = Task.init("bench", f"scalars-{run}", auto_connect_streams=False, auto_resource_monitoring=False)
        report = task.get_logger().report_scalar
        start = time.perf_counter()
        for i in range(n):
            report("loss", "train", 0.5, i)
        best["calls"] = min(best["calls"], time.perf_counter() - start)
        task.get_logger().flush()
        best["total"] = min(best["total"], time.perf_counter() - start)
        stored = task._store.query_one("SELECT SUM(n) AS n FROM scalars WHERE task_id=?", (task.id,))["n"]
        task.close()
    return {**best, "stored": stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scalars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="scalar runs (the best is shown)")
    args = parser.parse_args()

    startup = bench_startup(args.runs)
    (bare_best, bare_med), (init_best, init_med) = startup["python -c pass"], startup["Task.init + close"]
    print(f"(a) start-up, {args.runs} runs each")
    print(f"    {'':24} {'best ms':>9} {'median ms':>10}")
    for name, (best, med) in startup.items():
        print(f"    {name:24} {best * 1e3:9.1f} {med * 1e3:10.1f}")
    print(f"    {'added by Task.init':24} {(init_best - bare_best) * 1e3:9.1f} {(init_med - bare_med) * 1e3:10.1f}"
          f"   (goal <= 150 ms)")

    n = args.scalars
    res = bench_scalars(n, args.repeat)
    print(f"\n(b) {n:,} scalars, best of {args.repeat}")
    print(f"    {'':34} {'seconds':>8} {'per second':>12} {'ns/call':>8}")
    print(f"    {'list.append loop (baseline)':34} {res['append']:8.3f} {n / res['append']:12,.0f} "
          f"{res['append'] / n * 1e9:8.0f}")
    print(f"    {'report_scalar calls only':34} {res['calls']:8.3f} {n / res['calls']:12,.0f} "
          f"{res['calls'] / n * 1e9:8.0f}")
    print(f"    {'report_scalar + flush (stored)':34} {res['total']:8.3f} {n / res['total']:12,.0f} "
          f"{res['total'] / n * 1e9:8.0f}   (goal >= 500,000/s)")
    print(f"    report_scalar / append cost ratio: {res['calls'] / res['append']:.1f}x; rows stored: {res['stored']}")


if __name__ == "__main__":
    main()
