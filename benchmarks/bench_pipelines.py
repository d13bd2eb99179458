"""Pipeline benchmarks (not a test): scheduler + tracking overhead per step, in-process and as
local subprocesses, the cached re-run, and a large array handed from one step to the next.

Scenarios (each runs in a fresh interpreter with a fresh PIPETRACK_HOME; times exclude that
interpreter's start-up but include creating the pipeline task):

- ``chain``: N trivial steps, each taking the previous one's output (default N=100);
- ``fanout``: M independent trivial steps plus a join taking all M outputs (default M=200);
- ``cached``: the chain again with every step cached (the first, filling run is not timed);
- ``handoff``: a step returns a 200 MB float64 ndarray, the next one receives it.

Baselines, measured in the same run: the same work as plain function calls; for local mode
``python -c pass`` subprocesses, as many and as parallel (the executor's worker count) as the
steps; for the hand-off a raw ``np.save`` + ``np.load`` of the same array through a file.

Goals (2 cores): inline tracked <= 2 ms/step over plain calls (per step: the time of a one-step
run, the fixed cost of a run, is subtracted and reported apart); cached re-run of 100 steps
<= 0.5 s; local mode <= 1.5x the bare subprocess cost; 200 MB hand-off <= 1.5x raw.

Run: ``.venv/bin/python benchmarks/bench_pipelines.py [--steps 100] [--fanout 200] [--mb 200]
[--only chain,fanout,cached,handoff] [--repeat 2]``. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("PIPETRACK_QUIET", "1")  # per-step notices would bury the results table

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- scenario bodies
def inc(x):
    return x + 1


def leaf(i):
    return i


def join(**parts):
    return sum(parts.values())


def make_array(mb):
    import numpy as np
    import time as _time
    array = np.ones(int(mb * 1024 * 1024 // 8), dtype="float64")
    return array, _time.time()


def receive(array, sent_at):
    import time as _time
    return _time.time() - sent_at, float(array[-1]), array.nbytes


def run_scenario(kind: str, mode: str, n: int, mb: float) -> dict:
    """Runs in the scenario's own interpreter; returns timings in seconds (from importing the
    pipeline module on: networkx and the rest are part of what a run costs)."""
    began = time.perf_counter()
    from pipetrack import PipelineController
    pipe = PipelineController(name=f"bench {kind}", project="bench", version="1.0.0")
    if kind in ("chain", "cached"):
        cache = kind == "cached"
        pipe.add_function_step("s0", inc, {"x": 0}, function_return=["r"], cache_executed_step=cache)
        for i in range(1, n):
            pipe.add_function_step(f"s{i}", inc, {"x": f"${{s{i - 1}.r}}"}, function_return=["r"],
                                   cache_executed_step=cache)
    elif kind == "fanout":
        for i in range(n):
            pipe.add_function_step(f"leaf{i}", leaf, {"i": i}, function_return=["r"])
        pipe.add_function_step("join", join, {f"p{i}": f"${{leaf{i}.r}}" for i in range(n)}, function_return=["r"])
    elif kind == "handoff":
        pipe.add_function_step("make", make_array, {"mb": mb}, function_return=["array", "sent_at"])
        pipe.add_function_step("receive", receive, {"array": "${make.array}", "sent_at": "${make.sent_at}"},
                               function_return=["handoff", "last", "nbytes"])
    built = time.perf_counter()
    pipe.start_locally(executor=mode)
    ended = time.perf_counter()
    assert pipe.is_successful(), f"{kind}/{mode} failed"
    out = {"build": built - began, "run": ended - built, "total": ended - began}
    if kind == "handoff":
        from pipetrack import Task
        received = Task.get_task(task_id=pipe.get_pipeline_dag()["receive"].executed)
        out["handoff"] = received.artifacts["handoff"].get()
        out["nbytes"] = received.artifacts["nbytes"].get()
    return out


def scenario(kind: str, mode: str, n: int, mb: float = 0, home: str | None = None, prime: bool = False) -> dict:
    """Run one scenario in a fresh interpreter (``prime``: run it once first, untimed, same home)."""
    home = home or tempfile.mkdtemp(prefix="pipetrack-bench-")
    env = {**os.environ, "PIPETRACK_HOME": home, "PYTHONPATH": str(ROOT)}
    env.pop("PIPETRACK_IGNORE_CACHE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's interpreter caches bytecode (as bench_tracking)
    argv = [sys.executable, str(Path(__file__).resolve()), "--scenario", kind, "--mode", mode, "--n", str(n),
            "--mb", str(mb)]
    if prime:
        subprocess.run(argv, env=env, check=True, capture_output=True)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"scenario {kind}/{mode} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- baselines
def plain_chain(n: int) -> float:
    began = time.perf_counter()
    x = 0
    for _ in range(n):
        x = inc(x)
    return time.perf_counter() - began


def plain_fanout(n: int) -> float:
    began = time.perf_counter()
    join(**{f"p{i}": leaf(i) for i in range(n)})
    return time.perf_counter() - began


def bare_processes(count: int, parallel: int) -> float:
    """``count`` runs of ``python -c pass`` with ``parallel`` at a time."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def one(_: int) -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - began


def raw_handoff(mb: float) -> float:
    import numpy as np
    array = np.ones(int(mb * 1024 * 1024 // 8), dtype="float64")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "a.npy")
        began = time.perf_counter()
        np.save(path, array)
        loaded = np.load(path)
        assert loaded[-1] == 1.0
        return time.perf_counter() - began


# --------------------------------------------------------------------------- report
def best(results: list[dict], key: str = "total") -> dict:
    return min(results, key=lambda r: r[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="runs per scenario; the best one is reported")
    parser.add_argument("--only", default="chain,fanout,cached,handoff")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="inline", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:  # inside a scenario's interpreter
        print(json.dumps(run_scenario(args.scenario, args.mode, args.n, args.mb)))
        return
    sys.path.insert(0, str(ROOT))
    from pipetrack.executors.base import default_workers
    workers = default_workers()
    only = set(args.only.split(","))
    rows: list[tuple] = []
    numbers: dict = {"workers": workers}

    def row(name: str, value: float, baseline: float, measure: str, goal: str, met: bool) -> None:
        rows.append((name, value, baseline, measure, goal, "yes" if met else "NO"))

    # the fixed cost of a pipeline run (its task, the scheduler), so inline figures are per step
    fixed = best([scenario("chain", "inline", 1) for _ in range(args.repeat)])["total"]
    numbers["fixed"] = fixed
    if "chain" in only:
        n = args.steps
        base = min(plain_chain(n) for _ in range(5))
        inline = best([scenario("chain", "inline", n) for _ in range(args.repeat)])
        per_step = (inline["total"] - fixed - base) / (n - 1) * 1000
        row(f"chain {n}, inline", inline["total"], base, f"{per_step:.2f} ms/step over plain calls "
            f"(+{fixed * 1000:.0f} ms per run)", "<= 2 ms/step", per_step <= 2)
        local = best([scenario("chain", "local", n) for _ in range(args.repeat)])
        bare = min(bare_processes(n, 1) for _ in range(args.repeat))
        ratio = local["total"] / bare
        row(f"chain {n}, local", local["total"], bare, f"{ratio:.2f}x bare ({local['total'] / n * 1000:.1f} "
            f"vs {bare / n * 1000:.1f} ms/step)", "<= 1.5x", ratio <= 1.5)
        numbers.update(chain_inline=inline, chain_local=local, chain_plain=base, chain_bare=bare)
    if "fanout" in only:
        m = args.fanout
        base = min(plain_fanout(m) for _ in range(5))
        inline = best([scenario("fanout", "inline", m) for _ in range(args.repeat)])
        per_step = (inline["total"] - fixed - base) / m * 1000
        row(f"fan-out {m} + join, inline", inline["total"], base, f"{per_step:.2f} ms/step over plain calls "
            f"(+{fixed * 1000:.0f} ms per run)", "<= 2 ms/step", per_step <= 2)
        local = best([scenario("fanout", "local", m) for _ in range(args.repeat)])
        bare = min(bare_processes(m + 1, workers) for _ in range(args.repeat))
        ratio = local["total"] / bare
        row(f"fan-out {m} + join, local", local["total"], bare, f"{ratio:.2f}x bare ({workers} at a time)",
            "<= 1.5x", ratio <= 1.5)
        numbers.update(fanout_inline=inline, fanout_local=local, fanout_plain=base, fanout_bare=bare)
    if "cached" in only:
        n = args.steps
        cached = best([scenario("cached", "inline", n, prime=True) for _ in range(args.repeat)])
        row(f"chain {n}, fully cached re-run", cached["total"], 0.0, f"{cached['total']:.3f} s", "<= 0.5 s",
            cached["total"] <= 0.5)
        numbers.update(cached=cached)
    if "handoff" in only:
        raw = min(raw_handoff(args.mb) for _ in range(3))
        for mode in ("inline", "local"):
            hand = best([scenario("handoff", mode, 0, args.mb) for _ in range(args.repeat)], "handoff")
            ratio = hand["handoff"] / raw
            row(f"{args.mb:.0f} MB ndarray hand-off, {mode}", hand["handoff"], raw,
                f"{ratio:.2f}x raw np.save+np.load", "<= 1.5x", ratio <= 1.5)
            numbers[f"handoff_{mode}"] = hand
        numbers["handoff_raw"] = raw
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'time s':>8}  {'baseline s':>10}  result / goal / met")
    for name, value, baseline, measure, goal, met in rows:
        print(f"{name:<{width}}  {value:8.3f}  {baseline:10.3f}  {measure}  (goal {goal}: {met})")
    print(json.dumps(numbers, default=str))


if __name__ == "__main__":
    main()
