"""Scale benchmark (not a test): the per-step cost of tracked inline pipeline steps as the graph
grows, against Hamilton (with and without its persisting cache) and plain calls, in the same run.

Tools (each run is a fresh interpreter with a fresh PIPETRACK_HOME and a fresh temp folder):

- ``controller``: ``PipelineController`` + ``add_function_step`` x N + ``start_locally(executor="inline")``;
- ``decorator``: ``@PipelineDecorator.component`` steps called from a ``@PipelineDecorator.pipeline``
  function, after ``PipelineDecorator.debug_pipeline()`` (components run inline);
- ``hamilton_cache``: a generated module of N node functions (written to a real ``.py`` file, so
  Hamilton can fingerprint the code) run by ``driver.Builder().with_modules(m).with_cache(path=tmp)``:
  every node's result is persisted; the first (filling) run is the one timed;
- ``hamilton``: the same driver without ``with_cache`` (nothing persisted);
- ``plain``: the same work as plain Python calls.

Shapes (trivial step functions, one return value each):

- ``chain``: N steps, each taking the previous one's output;
- ``fanout``: N independent leaves plus one join taking all N outputs as keyword arguments;
- ``fanout_nojoin``: the N leaves alone (the join's cost is ``fanout`` minus this).

Times include importing the tool and building the graph (not interpreter start-up, nor defining
the step functions / generating Hamilton's module). Per step: the same shape at N=1 is run too
(the fixed cost of a run); with w = the time less importing the tool (reported apart: on a noisy
machine it is most of the noise), ``ms/step = (w(N) - w(1)) / (steps(N) - steps(1))``, medians
over ``--repeat`` runs. Peak RSS is the scenario process's ``ru_maxrss``. For the pipetrack
fan-out, the join's own time (last leaf's end -> join's end) is reported too.

Goals printed beside the numbers: pipetrack ms/step <= hamilton with_cache ms/node; flat across N
(ms/step at the largest N <= 1.5x at the smallest); peak RSS at N=10,000 under 300 MB.

Hamilton comes with the ``bench`` extra (``pip install -e '.[bench]'``: sf-hamilton; not in
constraints.txt, since neither the demo nor the tests need it).

Run: ``.venv/bin/python benchmarks/bench_scale.py [--sizes 100,1000,10000] [--repeat 3]
[--only controller,decorator,hamilton_cache,hamilton,plain] [--shapes chain,fanout,fanout_nojoin]
[--timeout 900]``. Prints progress on stderr, a table and one JSON line on stdout.
``--profile controller:fanout:1000`` instead runs one scenario under cProfile (fresh interpreter)
and prints the top ``--profile-top`` entries by cumulative and by own time.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PIPETRACK_QUIET", "1")  # per-step notices would bury the results table

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("controller", "decorator", "hamilton_cache", "hamilton", "plain")
PIPETRACK_TOOLS = ("controller", "decorator")
SHAPES = ("chain", "fanout", "fanout_nojoin")
FLAT_LIMIT = 1.5   # "flat": ms/step at the largest N at most this many times that at the smallest
RSS_LIMIT_MB = 300.0
RSS_AT = 10_000


# --------------------------------------------------------------------------- step functions
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipelines import inc, join, leaf  # noqa: E402  the same trivial steps as the pipeline benchmark


def steps_of(shape: str, n: int) -> int:
    return n + 1 if shape == "fanout" else n


def expected(shape: str, n: int):
    return n if shape == "chain" else sum(range(n)) if shape == "fanout" else None


# --------------------------------------------------------------------------- scenario bodies
def join_timing(dag: dict) -> dict:
    """The join step's own share of a fan-out: from the last leaf's end to the join's end (wall clock)."""
    leaves = [node.job_ended for name, node in dag.items() if name != "join" and node.job_ended]
    node = dag.get("join")
    if not leaves or node is None or not node.job_ended:
        return {}
    return {"join_s": node.job_ended - max(leaves),
            "join_run_s": node.job_ended - node.job_started if node.job_started else None}


def run_controller(shape: str, n: int) -> tuple[float, float, float, object, dict]:
    from pipetrack import PipelineController, Task
    imported = time.perf_counter()
    pipe = PipelineController(name=f"scale {shape} {n}", project="bench", version="1.0.0")
    if shape == "chain":
        pipe.add_function_step("s0", inc, {"x": 0}, function_return=["r"])
        for i in range(1, n):
            pipe.add_function_step(f"s{i}", inc, {"x": f"${{s{i - 1}.r}}"}, function_return=["r"])
    else:
        for i in range(n):
            pipe.add_function_step(f"leaf{i}", leaf, {"i": i}, function_return=["r"])
        if shape == "fanout":
            pipe.add_function_step("join", join, {f"p{i}": f"${{leaf{i}.r}}" for i in range(n)},
                                   function_return=["r"])
    built = time.perf_counter()
    pipe.start_locally(executor="inline")
    ended = time.perf_counter()
    assert pipe.is_successful(), f"controller {shape} {n}: pipeline not successful"
    last = {"chain": f"s{n - 1}", "fanout": "join"}.get(shape)
    value = None
    dag = pipe.get_pipeline_dag()
    if last:  # checked after the clock stopped
        value = Task.get_task(task_id=dag[last].executed).artifacts["r"].get()
    return imported, built, ended, value, join_timing(dag) if shape == "fanout" else {}


def run_decorator(shape: str, n: int) -> tuple[float, float, float, object, dict]:
    from pipetrack import PipelineDecorator
    imported = time.perf_counter()
    seen = {}
    c_inc = PipelineDecorator.component(return_values=["r"])(inc)
    c_leaf = PipelineDecorator.component(return_values=["r"])(leaf)
    c_join = PipelineDecorator.component(return_values=["r"])(join)

    @PipelineDecorator.pipeline(name=f"scale {shape} {n}", project="bench", version="1.0.0",
                                pipeline_execution_queue=None)
    def flow(n):
        seen["pipeline"] = PipelineDecorator.get_current_pipeline()
        if shape == "chain":
            x = c_inc(0)
            for _ in range(1, n):
                x = c_inc(x)
            return x
        leaves = [c_leaf(i) for i in range(n)]
        if shape == "fanout":
            return c_join(**{f"p{i}": r for i, r in enumerate(leaves)})
        return None

    PipelineDecorator.debug_pipeline()
    built = time.perf_counter()  # the graph is built while the pipeline function runs
    value = flow(n)
    ended = time.perf_counter()
    dag = seen["pipeline"].get_pipeline_dag()
    assert len(dag) == steps_of(shape, n), f"decorator {shape} {n}: {len(dag)} steps"
    return imported, built, ended, value, join_timing(dag) if shape == "fanout" else {}


def hamilton_source(shape: str, n: int) -> tuple[str, list[str]]:
    """A module of N node functions (plus the join) and the names to request."""
    lines = []
    if shape == "chain":
        lines.append("def s0() -> int:\n    return 0 + 1\n")
        lines += [f"def s{i}(s{i - 1}: int) -> int:\n    return s{i - 1} + 1\n" for i in range(1, n)]
        return "\n".join(lines), [f"s{n - 1}"]
    lines += [f"def leaf{i}() -> int:\n    return {i}\n" for i in range(n)]
    if shape == "fanout":
        params = ", ".join(f"leaf{i}: int" for i in range(n))
        names = ", ".join(f"leaf{i}" for i in range(n))
        lines.append(f"def join({params}) -> int:\n    return sum([{names}])\n")
        return "\n".join(lines), ["join"]
    return "\n".join(lines), [f"leaf{i}" for i in range(n)]


def run_hamilton(shape: str, n: int, cache: bool, workdir: str) -> tuple[float, float, float, float, object]:
    # defining the functions is the user's code, not the tool's: written and imported untimed
    source, outputs = hamilton_source(shape, n)
    path = Path(workdir) / f"scale_nodes_{shape}_{n}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    began = time.perf_counter()
    from hamilton import driver
    imported = time.perf_counter()
    builder = driver.Builder().with_modules(module)
    if cache:
        builder = builder.with_cache(path=str(Path(workdir) / "hamilton_cache"))
    dr = builder.build()
    built = time.perf_counter()
    result = dr.execute(outputs)
    ended = time.perf_counter()
    value = result[outputs[0]] if shape != "fanout_nojoin" else None
    return began, imported, built, ended, value


def run_plain(shape: str, n: int) -> tuple[float, float, float, object, dict]:
    imported = time.perf_counter()
    if shape == "chain":
        x = inc(0)
        for _ in range(1, n):
            x = inc(x)
        value = x
    else:
        leaves = [leaf(i) for i in range(n)]
        value = join(**{f"p{i}": r for i, r in enumerate(leaves)}) if shape == "fanout" else None
    ended = time.perf_counter()
    return imported, imported, ended, value, {}


def run_scenario(tool: str, shape: str, n: int, workdir: str) -> dict:
    """Runs in the scenario's own interpreter; timings in seconds."""
    began, extra = time.perf_counter(), {}
    if tool == "controller":
        imported, built, ended, value, extra = run_controller(shape, n)
    elif tool == "decorator":
        imported, built, ended, value, extra = run_decorator(shape, n)
    elif tool in ("hamilton", "hamilton_cache"):
        began, imported, built, ended, value = run_hamilton(shape, n, tool == "hamilton_cache", workdir)
    elif tool == "plain":
        imported, built, ended, value, extra = run_plain(shape, n)
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    want = expected(shape, n)
    assert want is None or value == want, f"{tool} {shape} {n}: got {value!r}, expected {want!r}"
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    # "work": the total less importing the tool (a fixed cost, and the noisiest part of one)
    return {"import": imported - began, "build": built - imported, "run": ended - built, "total": ended - began,
            "work": ended - imported, "rss_mb": rss_mb, **extra}


def scenario_argv(tool: str, shape: str, n: int, workdir: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--scenario", tool, "--shape", shape, "--n", str(n),
            "--workdir", workdir]


HAMILTON_AUTOLOAD = False  # --hamilton-autoload: let Hamilton import its plugins for every installed library


def scenario_env(home: str) -> dict:
    env = {**os.environ, "PIPETRACK_HOME": home, "PYTHONPATH": str(ROOT), "PIPETRACK_QUIET": "1"}
    if not HAMILTON_AUTOLOAD:
        # Hamilton otherwise imports an extension for each installed library it knows (this venv
        # has dask, xgboost, lightgbm, sklearn, matplotlib...): ~10 s and ~270 MB of start-up that
        # says more about the venv than about Hamilton. Its own pandas/numpy/pyarrow still load.
        env["HAMILTON_AUTOLOAD_EXTENSIONS"] = "0"
    env.pop("PIPETRACK_IGNORE_CACHE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's interpreter caches bytecode (as bench_tracking)
    return env


def scenario(tool: str, shape: str, n: int, timeout: float) -> dict:
    """One run in a fresh interpreter, fresh PIPETRACK_HOME and temp folder. A pipetrack run that
    fails (not a timeout) is retried once: pipetrack may be changing under the benchmark."""
    attempts = 2 if tool in PIPETRACK_TOOLS else 1
    errors = []
    for _ in range(attempts):
        folder = tempfile.mkdtemp(prefix="pipetrack-scale-")
        home = os.path.join(folder, "home")
        try:
            began = time.perf_counter()
            proc = subprocess.run(scenario_argv(tool, shape, n, folder), env=scenario_env(home),
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {timeout:.0f} s", "timeout": True}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if proc.returncode == 0:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            out["wall"] = time.perf_counter() - began
            if errors:
                out["retried_after"] = errors[0]
            return out
        errors.append(((proc.stderr or proc.stdout).strip().splitlines() or ["?"])[-1][-300:])
        print(f"  !! {tool}/{shape}/{n} failed (rc {proc.returncode}): {errors[-1]}", file=sys.stderr)
    return {"error": errors[-1], "errors": errors}


def profile(spec: str, top: int, timeout: float) -> None:
    """``tool:shape:n`` under cProfile in a fresh interpreter; prints the top cumulative entries."""
    tool, shape, n = spec.split(":")
    folder = tempfile.mkdtemp(prefix="pipetrack-scale-prof-")
    stats = os.path.join(folder, "stats.prof")
    argv = scenario_argv(tool, shape, int(n), folder)
    argv[1:1] = ["-m", "cProfile", "-o", stats]
    try:
        proc = subprocess.run(argv, env=scenario_env(os.path.join(folder, "home")), capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SystemExit(f"profiled run failed:\n{proc.stderr[-3000:]}")
        print(f"{tool} {shape} N={n}: {proc.stdout.strip().splitlines()[-1]}")
        import pstats
        pstats.Stats(stats).sort_stats("cumulative").print_stats(top)
        pstats.Stats(stats).sort_stats("tottime").print_stats(top)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- report
def median_of(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str = "8.3f", width: int = 8) -> str:
    return f"{value:{spec}}" if value is not None else f"{'-':>{width}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated step counts N")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported")
    parser.add_argument("--only", default=",".join(TOOLS), help=f"tools, from {','.join(TOOLS)}")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"shapes, from {','.join(SHAPES)}")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per scenario run (then: killed, "
                        "reported as a timeout, and larger sizes of that tool/shape are skipped)")
    parser.add_argument("--hamilton-autoload", action="store_true",
                        help="let Hamilton autoload its extensions (off by default: HAMILTON_AUTOLOAD_EXTENSIONS=0)")
    parser.add_argument("--profile", metavar="TOOL:SHAPE:N", help="profile one scenario instead")
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:  # inside a scenario's interpreter
        if args.scenario.startswith("hamilton"):
            # Hamilton's executor recurses per node of a chain: at the default limit (1000) a chain of
            # ~1000 nodes raises RecursionError; pipetrack runs at the default limit
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * args.n + 1000))
        print(json.dumps(run_scenario(args.scenario, args.shape, args.n, args.workdir)))
        return
    global HAMILTON_AUTOLOAD
    HAMILTON_AUTOLOAD = args.hamilton_autoload
    if args.profile:
        profile(args.profile, args.profile_top, args.timeout)
        return
    tools = [t for t in TOOLS if t in args.only.split(",")]
    shapes = [s for s in SHAPES if s in args.shapes.split(",")]
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if not tools or not shapes or not sizes or min(sizes) < 2:
        raise SystemExit("need at least one tool, one shape and sizes >= 2")
    try:
        from importlib.metadata import version
        hamilton_version = version("sf-hamilton")
    except Exception:  # noqa: BLE001 - not installed: the hamilton runs will say so
        hamilton_version = None

    runs: dict = {}   # (tool, shape, n) -> [result, ...]
    dead: set = set()  # (tool, shape) that timed out: larger sizes are skipped
    started = time.perf_counter()
    for n in [1] + sizes:
        for rep in range(args.repeat):
            for shape in shapes:
                for tool in tools:
                    if (tool, shape) in dead:
                        continue
                    result = scenario(tool, shape, n, args.timeout)
                    runs.setdefault((tool, shape, n), []).append(result)
                    note = result.get("error") or f"{result['total']:.3f} s, {result['rss_mb']:.0f} MB"
                    print(f"[{time.perf_counter() - started:7.1f} s] {tool:<14} {shape:<13} N={n:<6} "
                          f"#{rep + 1}: {note}", file=sys.stderr, flush=True)
                    if result.get("timeout"):
                        dead.add((tool, shape))

    # medians and per-step figures
    summary: dict = {}
    for (tool, shape, n), results in runs.items():
        ok = [r for r in results if "total" in r]
        entry = {key: median_of(ok, key) for key in ("total", "import", "build", "run", "work", "join_s",
                                                      "join_run_s")}
        entry = {k: v for k, v in entry.items() if v is not None}
        entry.update(rss_mb=max((r["rss_mb"] for r in ok), default=None), runs=len(results), ok=len(ok))
        errors = [r["error"] for r in results if "error" in r]
        retried = [r["retried_after"] for r in results if "retried_after" in r]
        if errors:
            entry["errors"] = errors
        if retried:
            entry["retried"] = retried
        summary.setdefault(tool, {}).setdefault(shape, {})[n] = entry
    for tool, by_shape in summary.items():
        for shape, by_n in by_shape.items():
            fixed = by_n.get(1, {}).get("work")
            for n, entry in by_n.items():
                if n == 1 or entry.get("work") is None or fixed is None:
                    entry["ms_per_step"] = None
                    continue
                entry["ms_per_step"] = (entry["work"] - fixed) / (steps_of(shape, n) - steps_of(shape, 1)) * 1000

    def cell(tool: str, shape: str, n: int, key: str = "ms_per_step"):
        return summary.get(tool, {}).get(shape, {}).get(n, {}).get(key)

    # table 1: ms per step / node
    header = (f"{'shape':<13} {'N':>6}  {'ctrl ms/st':>10} {'deco ms/st':>10} {'ham+cache':>10} {'hamilton':>10} "
              f"{'plain':>8}  {'ctrl/hc':>7} {'deco/hc':>7}  {'RSS MB ctrl/deco/hc':>20}  goal <= hamilton+cache")
    print(f"pipetrack vs Hamilton {hamilton_version} (ms per step/node, median of {args.repeat}; the tool's "
          f"import and the N=1 run's fixed cost subtracted)")
    print(header)
    print("-" * len(header))
    goals: dict = {}
    for shape in shapes:
        for n in sizes:
            ctrl, deco, hc = cell("controller", shape, n), cell("decorator", shape, n), cell("hamilton_cache", shape, n)
            r_ctrl = ctrl / hc if ctrl is not None and hc else None
            r_deco = deco / hc if deco is not None and hc else None
            rss = "/".join(fmt(cell(t, shape, n, "rss_mb"), ".0f", 1) for t in ("controller", "decorator",
                                                                                "hamilton_cache"))
            met = [f"{name} {'yes' if r <= 1 else 'NO'}" for name, r in (("ctrl", r_ctrl), ("deco", r_deco))
                   if r is not None]
            for name, r in (("controller", r_ctrl), ("decorator", r_deco)):
                if r is not None:
                    goals[f"{name}_{shape}_{n}_le_hamilton_cache"] = r <= 1
            print(f"{shape:<13} {n:>6}  {fmt(ctrl, '10.3f', 10)} {fmt(deco, '10.3f', 10)} {fmt(hc, '10.3f', 10)} "
                  f"{fmt(cell('hamilton', shape, n), '10.3f', 10)} {fmt(cell('plain', shape, n), '8.4f')}  "
                  f"{fmt(r_ctrl, '7.2f', 7)} {fmt(r_deco, '7.2f', 7)}  {rss:>20}  {', '.join(met)}")
    # table 2: flatness, RSS goal and the fixed cost
    lo, hi = sizes[0], sizes[-1]
    print()
    print(f"flatness = ms/step at N={hi} / at N={lo} (goal <= {FLAT_LIMIT}); import s, fixed s = the N=1 run "
          f"less the import; total s at N={hi}; peak RSS at N={hi} (goal < {RSS_LIMIT_MB:.0f} MB at N={RSS_AT})")
    print(f"{'tool':<14} {'shape':<13} {'import s':>8} {'fixed s':>8} {'total s':>8} {'flatness':>9}  {'flat?':<5} "
          f"{'RSS MB':>7}  {'RSS ok?':<7}")
    for tool in tools:
        for shape in shapes:
            a, b = cell(tool, shape, lo), cell(tool, shape, hi)
            flat = b / a if a and b is not None and lo != hi else None
            rss = cell(tool, shape, hi, "rss_mb")
            rss_goal = "-"
            if tool in PIPETRACK_TOOLS and hi >= RSS_AT and rss is not None:
                rss_goal = "yes" if rss < RSS_LIMIT_MB else "NO"
                goals[f"{tool}_{shape}_rss_{hi}_lt_{RSS_LIMIT_MB:.0f}mb"] = rss < RSS_LIMIT_MB
            flat_goal = "-" if flat is None or tool not in PIPETRACK_TOOLS else "yes" if flat <= FLAT_LIMIT else "NO"
            if tool in PIPETRACK_TOOLS and flat is not None:
                goals[f"{tool}_{shape}_flat"] = flat <= FLAT_LIMIT
            print(f"{tool:<14} {shape:<13} {fmt(cell(tool, shape, 1, 'import'), '8.3f')} "
                  f"{fmt(cell(tool, shape, 1, 'work'), '8.3f')} {fmt(cell(tool, shape, hi, 'total'), '8.3f')} "
                  f"{fmt(flat, '9.2f', 9)}  "
                  f"{flat_goal:<5} {fmt(rss, '7.0f', 7)}  {rss_goal:<7}")
    # the join's own cost: fanout minus fanout_nojoin
    if "fanout" in shapes:
        print()
        print("the join of N kwargs, s (pipetrack: last leaf's end -> join's end, measured [its own step "
              "run]; others: fanout work - fanout_nojoin work, noisy):")
        for tool in tools:
            parts = []
            for n in sizes:
                if tool in PIPETRACK_TOOLS:
                    a, b = cell(tool, "fanout", n, "join_s"), cell(tool, "fanout", n, "join_run_s")
                    parts.append(f"N={n}: {fmt(a, '.3f', 1)} [{fmt(b, '.3f', 1)}]")
                elif "fanout_nojoin" in shapes:
                    a, b = cell(tool, "fanout", n, "work"), cell(tool, "fanout_nojoin", n, "work")
                    parts.append(f"N={n}: {fmt(a - b if a is not None and b is not None else None, '.3f', 1)}")
            if parts:
                print(f"  {tool:<14} " + "  ".join(parts))
    failures = {f"{t}/{s}/{n}": c["errors"] for t, bs in summary.items() for s, bn in bs.items()
                for n, c in bn.items() if c.get("errors")}
    retried = {f"{t}/{s}/{n}": c["retried"] for t, bs in summary.items() for s, bn in bs.items()
               for n, c in bn.items() if c.get("retried")}
    if failures or retried:
        print()
        for key, errs in failures.items():
            print(f"FAILED {key}: {errs}")
        for key, errs in retried.items():
            print(f"retried (then passed) {key}: {errs}")
    print(f"\nwall time of the benchmark: {time.perf_counter() - started:.0f} s")
    numbers = {"hamilton_version": hamilton_version, "hamilton_autoload": HAMILTON_AUTOLOAD, "sizes": sizes, "repeat": args.repeat, "python": sys.version.split()[0],
               "cpus": os.cpu_count(), "goals": goals,
               "results": {t: {s: {str(n): {k: round(v, 6) if isinstance(v, float) else v for k, v in c.items()}
                                   for n, c in bn.items()} for s, bn in bs.items()} for t, bs in summary.items()}}
    print(json.dumps(numbers, default=str))


if __name__ == "__main__":
    main()
