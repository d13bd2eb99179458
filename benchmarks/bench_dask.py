"""Dask executor benchmark (not a test): pipetrack steps vs raw ``distributed`` futures.

Same cluster (a 2-worker LocalCluster, 1 thread each), same process, same run:

(a) fan-out: 200 trivial steps (``x + 1``) and one join step that sums them;
(b) chain: 100 steps, each taking the previous step's output.

Baselines: raw futures doing the same computation (``client.submit``, futures passed as
inputs, so Dask chains the steps without the client); the same with every result brought back
to the client before the next submit (``raw+client``: what any controller that decides what to
run next at run time pays, pipetrack's scheduler included); and raw futures that also *store*
every result as a file and read their inputs back from files (what a step does with its
artifacts). For scale, the same pipelines also run on the inline executor (no Dask,
no processes: what pipetrack's own bookkeeping per step costs — a step task, its records,
an artifact). Reported: milliseconds per step for each, and the ratio pipetrack-on-Dask / raw
(goal: <= 2x raw per-step overhead). Each figure is the best of ``--repeat`` runs, after a
warm-up run that imports pipetrack on the workers.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--fanout 200] [--chain 100] [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PIPETRACK_QUIET", "1")  # per-step notices would bury the results table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def inc(x: int) -> int:
    return x + 1


def total(**values: int) -> int:
    return sum(values.values())


def total_list(values: list) -> int:
    return sum(values)


def inc_file(folder: str, name: str, source: str | None, x: int = 0) -> str:
    """Raw baseline with storage: read the input from a file, write the output to a file."""
    if source is not None:
        with open(source) as fh:
            x = json.load(fh)
    path = os.path.join(folder, name + ".json")
    with open(path, "w") as fh:
        json.dump(x + 1, fh)
    return path


def total_files(paths: list) -> int:
    out = 0
    for path in paths:
        with open(path) as fh:
            out += json.load(fh)
    return out


# --------------------------------------------------------------------------- raw
def raw_fanout(client, n: int) -> float:
    start = time.perf_counter()
    futures = [client.submit(inc, i, pure=False) for i in range(n)]
    assert client.submit(total_list, futures, pure=False).result() == sum(range(1, n + 1))
    return time.perf_counter() - start


def raw_chain(client, n: int) -> float:
    start = time.perf_counter()
    future = client.submit(inc, 0, pure=False)
    for _ in range(n - 1):
        future = client.submit(inc, future, pure=False)
    assert future.result() == n
    return time.perf_counter() - start


def raw_roundtrip_fanout(client, n: int) -> float:
    """Raw futures whose results come back to the client before the join is submitted (what any
    controller that decides at run time does: no step input is a Dask future)."""
    from distributed import as_completed
    start = time.perf_counter()
    values = [f.result() for f in as_completed([client.submit(inc, i, pure=False) for i in range(n)])]
    assert client.submit(total_list, values, pure=False).result() == sum(range(1, n + 1))
    return time.perf_counter() - start


def raw_roundtrip_chain(client, n: int) -> float:
    """Raw futures, each result back at the client before the next step is submitted."""
    start = time.perf_counter()
    x = 0
    for _ in range(n):
        x = client.submit(inc, x, pure=False).result()
    assert x == n
    return time.perf_counter() - start


def raw_files_fanout(client, n: int, folder: str) -> float:
    start = time.perf_counter()
    futures = [client.submit(inc_file, folder, f"f{i}", None, i, pure=False) for i in range(n)]
    assert client.submit(total_files, futures, pure=False).result() == sum(range(1, n + 1))
    return time.perf_counter() - start


def raw_files_chain(client, n: int, folder: str) -> float:
    start = time.perf_counter()
    future = client.submit(inc_file, folder, "c0", None, 0, pure=False)
    for i in range(1, n):
        future = client.submit(inc_file, folder, f"c{i}", future, pure=False)
    assert total_files([future.result()]) == n
    return time.perf_counter() - start


# --------------------------------------------------------------------------- pipetrack
def _pipeline(name: str):
    from pipetrack import PipelineController
    return PipelineController(name=name, project="bench-dask", add_run_number=False)


def pipetrack_fanout(executor, n: int) -> float:
    pipe = _pipeline(f"fanout-{n}")
    for i in range(n):
        pipe.add_function_step(f"s{i}", inc, function_kwargs={"x": i}, function_return=["r"])
    pipe.add_function_step("join", total, function_kwargs={f"s{i}": f"${{s{i}.r}}" for i in range(n)},
                           function_return=["r"])
    start = time.perf_counter()
    pipe.start_locally(executor=executor)
    elapsed = time.perf_counter() - start
    result = pipe.get_pipeline_dag()["join"]
    assert result.status == "completed", result.error
    return elapsed


def pipetrack_chain(executor, n: int) -> float:
    pipe = _pipeline(f"chain-{n}")
    pipe.add_function_step("s0", inc, function_kwargs={"x": 0}, function_return=["r"])
    for i in range(1, n):
        pipe.add_function_step(f"s{i}", inc, function_kwargs={"x": f"${{s{i - 1}.r}}"}, function_return=["r"])
    start = time.perf_counter()
    pipe.start_locally(executor=executor)
    elapsed = time.perf_counter() - start
    last = pipe.get_pipeline_dag()[f"s{n - 1}"]
    assert last.status == "completed", last.error
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fanout", type=int, default=200)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-dask-")
    os.environ["PIPETRACK_HOME"] = home
    import dask
    from distributed import Client, LocalCluster
    from pipetrack.executors.dask import DaskExecutor
    from pipetrack.executors.inline import InlineExecutor

    class _Shared(DaskExecutor):
        def shutdown(self) -> None:  # the cluster outlives each pipeline run
            pass

    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    executor = _Shared(client=client)
    folder = tempfile.mkdtemp(prefix="bench-dask-files-")
    try:
        pipetrack_fanout(executor, 4)  # warm-up: pipetrack imported on every worker
        raw_fanout(client, 4)
        rows = []
        inline = InlineExecutor()
        for label, n, raw, roundtrip, raw_files, ours, local in (
                ("fan-out + join", args.fanout, lambda: raw_fanout(client, args.fanout),
                 lambda: raw_roundtrip_fanout(client, args.fanout),
                 lambda: raw_files_fanout(client, args.fanout, folder),
                 lambda: pipetrack_fanout(executor, args.fanout), lambda: pipetrack_fanout(inline, args.fanout)),
                ("chain", args.chain, lambda: raw_chain(client, args.chain),
                 lambda: raw_roundtrip_chain(client, args.chain),
                 lambda: raw_files_chain(client, args.chain, folder),
                 lambda: pipetrack_chain(executor, args.chain), lambda: pipetrack_chain(inline, args.chain))):
            steps = n + 1 if label.startswith("fan") else n
            best: dict[str, list[float]] = {"raw": [], "raw+client": [], "raw+files": [], "pipetrack": [],
                                            "inline": []}
            for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
                best["raw"].append(raw())
                best["raw+client"].append(roundtrip())
                best["raw+files"].append(raw_files())
                best["pipetrack"].append(ours())
                best["inline"].append(local())
            rows.append((label, steps, {k: min(v) for k, v in best.items()}))
        print(f"2-worker LocalCluster (1 thread each), {os.cpu_count()} cores, best of {args.repeat}; "
              "milliseconds per step")
        print("raw: futures passed as inputs (Dask chains steps itself); raw+client: every result back at the "
              "client first (as a controller deciding at run time); raw+files: raw, inputs/outputs through files")
        print(f"{'workload':16} {'steps':>5} {'raw':>7} {'raw+client':>11} {'raw+files':>10} {'pipetrack':>10} "
              f"{'x raw':>6} {'x raw+client':>13} {'inline (no Dask)':>17}")
        for label, steps, t in rows:
            per = {k: v / steps * 1e3 for k, v in t.items()}
            print(f"{label:16} {steps:5d} {per['raw']:7.2f} {per['raw+client']:11.2f} {per['raw+files']:10.2f} "
                  f"{per['pipetrack']:10.2f} {per['pipetrack'] / per['raw']:6.1f} "
                  f"{per['pipetrack'] / per['raw+client']:13.1f} {per['inline']:17.2f}")
        print("goal: pipetrack <= 2x raw per step")
    finally:
        client.close()
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
