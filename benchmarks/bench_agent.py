"""Agent start-up benchmark (not a test): how long an agent takes to run a task it must
reproduce, from its git commit, in an environment built for its requirements.

One git repository (a bare origin and a commit) holds a tiny script with ``Task.init``; a task
made for it (``Task.create(repo=..., commit=..., packages=[...])``) is enqueued and a fresh
``pipetrack agent --max-tasks 1`` process runs it. Each row times that whole agent process:

- ``bare python``: the script run directly by the interpreter (the floor: no agent);
- ``agent, new environment``: the first run of a requirement set (``uv venv`` + install, the
  mirror clone) — a new agent home each time, with uv's download cache warm;
- ``agent, cached environment``: the same task again on the same agent home (the mirror and
  the environment exist: a worktree and a start);
- ``agent --no-venv``: the agent's own environment (today's behaviour before environments);
- with ``--docker-image IMAGE`` (a local image with python3 and pip, a docker daemon): ``agent,
  docker, new image``, the same task with ``docker=IMAGE`` and a setup script of its own (its
  environment image is built: the setup script and a pip install in a container, then
  ``docker commit``), and ``agent, docker, cached image``, the same again (the image is reused).

Medians of ``--runs`` runs and their ratio to the bare run. The machine is shared: compare ratios.

Claim latency (``--cases claim``): a running ``pipetrack agent --no-venv --poll P`` process
(``--claim-poll``, default 0.05 s, as the runs above use) serves a queue; this process makes a
script task (``Task.create``, a local script, no repository), calls ``Task.enqueue`` and polls the
store until the agent has claimed it. Rows, medians over ``--claim-tasks`` tasks (default 20;
one warm-up task first, not counted; each task runs to its end before the next is enqueued, at
a random point of the agent's poll cycle):

- ``Task.enqueue call``: the call itself (the task becomes queued);
- ``enqueue -> claim (started)``: from calling ``Task.enqueue`` to the task's ``started`` time,
  which the agent records when it claims it (status ``in_progress``): about half a poll
  interval plus one claim transaction;
- ``enqueue -> claim seen here``: until this process reads the task as no longer queued;
- ``claim -> task completed``: the agent starting the task's process and the script running.

It runs for each task-store backend of ``--backends`` (default ``sqlite,postgresql``), a column
each and the postgresql/sqlite ratio. PostgreSQL is the server ``--postgres URL`` names, else a
throwaway one started through ``tests/postgres_server.py`` (imported by its path; it needs the
PostgreSQL server binaries, see ``benchmarks/_stores.py``; without them the benchmark stops
saying so: use ``--backends sqlite``). The start-up cases above use the SQLite store.

Run: ``python3 benchmarks/bench_agent.py [--runs 5] [--cases startup,claim] [--claim-tasks 20]
[--claim-poll 0.05] [--backends sqlite,postgresql] [--postgres URL]``.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _stores  # noqa: E402  the backends compared (and the throwaway PostgreSQL server)

CASES = ("startup", "claim")
CLAIM_QUEUE = "bench-claim"
CLAIM_SCRIPT = "from pipetrack import Task\nTask.init(project_name='bench', task_name='claim').close()\n"
SCRIPT = "from pipetrack import Task\ntask = Task.init(project_name='bench', task_name='agent')\n" \
         "task.get_logger().report_single_value('ok', 1)\n"
PACKAGES = ["text-unidecode==1.3"]


def sh(*argv: str, cwd: Path | None = None, env: dict | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def make_repository(folder: Path) -> tuple[str, str]:
    origin, checkout = folder / "origin.git", folder / "checkout"
    sh("git", "init", "--bare", "--quiet", str(origin))
    sh("git", "clone", "--quiet", str(origin), str(checkout))
    (checkout / "job.py").write_text(SCRIPT)
    sh("git", "-c", "user.email=b@example.com", "-c", "user.name=b", "add", ".", cwd=checkout)
    sh("git", "-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "--quiet", "-m", "job", cwd=checkout)
    sh("git", "push", "--quiet", "origin", "HEAD", cwd=checkout)
    return str(origin), sh("git", "rev-parse", "HEAD", cwd=checkout)


def enqueue(home: Path, origin: str, commit: str, docker: str | None = None, setup: str | None = None) -> None:
    container = f", docker={docker!r}, docker_bash_setup_script={setup!r}" if docker else ""
    code = (f"from pipetrack import Task\nt = Task.create(project_name='bench', task_name='agent', repo={origin!r}, "
            f"commit={commit!r}, script='job.py', packages={PACKAGES!r}{container})\n"
            f"Task.enqueue(t, queue_name='bench')\n")
    sh(sys.executable, "-c", code, env=env_for(home))


def env_for(home: Path) -> dict:
    return {**os.environ, "PIPETRACK_HOME": str(home), "PYTHONPATH": str(ROOT), "PIPETRACK_QUIET": "1"}


def agent_run(home: Path, *extra: str) -> float:
    started = time.perf_counter()
    sh(sys.executable, "-m", "pipetrack", "agent", "--queue", "bench", "--max-tasks", "1", "--poll", "0.05",
       *extra, env=env_for(home))
    return time.perf_counter() - started


def _wait(predicate, timeout: float, what: str, interval: float = 0.002):
    """The tests' bounded poll (``tests/processes.py``), polling every 2 ms: a claim is timed by it."""
    return _stores.tests_module("processes").wait_for(predicate, timeout, interval=interval, what=what)


def claim_latency(backend: str, location: str | None, tasks: int, poll: float) -> dict[str, list[float]]:
    """Seconds per task (see the module docstring) for a running agent on ``backend``'s store."""
    root = Path(tempfile.mkdtemp(prefix=f"pipetrack-bench-claim-{backend}-"))
    home, work = root / "home", root / "work"
    work.mkdir(parents=True)
    (work / "job.py").write_text(CLAIM_SCRIPT)
    env = _stores.env(location, home, env_for(home))
    _stores.use_here(location, home)
    sys.path.insert(0, str(ROOT))
    from pipetrack import Task
    from pipetrack.store import default_store
    store = default_store()  # creates the store (the PostgreSQL schema) before the agent starts
    log = open(root / "agent.log", "w")
    agent = subprocess.Popen([sys.executable, "-m", "pipetrack", "agent", "--queue", CLAIM_QUEUE, "--no-venv",
                              "--poll", str(poll)], env=env, stdout=log, stderr=subprocess.STDOUT)
    times: dict[str, list[float]] = {k: [] for k in ("Task.enqueue call", "enqueue -> claim (started)",
                                                     "enqueue -> claim seen here", "claim -> task completed")}
    rng = random.Random(0)
    try:
        _wait(lambda: "serving queues" in (root / "agent.log").read_text() or agent.poll() is not None, 60,
              "the agent did not start")
        if agent.poll() is not None:
            raise RuntimeError(f"the agent exited {agent.returncode}: {(root / 'agent.log').read_text()}")
        for i in range(tasks + 1):  # the first is a warm-up
            task = Task.create(project_name="bench", task_name=f"claim {i}", script=str(work / "job.py"),
                               working_directory=str(work), detect_repository=False)
            time.sleep(rng.uniform(0, poll))  # a random point of the agent's poll cycle
            t0 = time.time()
            Task.enqueue(task, queue_name=CLAIM_QUEUE)
            t1 = time.time()
            state = _wait(lambda: (lambda r: r if r and r["status"] != "queued" else None)(
                store.task_state(task.id)), 60, f"the agent claimed no task ({root / 'agent.log'})")
            seen = time.time()
            final = _wait(lambda: (lambda r: r if r["status"] not in ("queued", "in_progress") else None)(
                store.task_row(task.id)), 120, "the claimed task did not end", interval=0.01)
            if final["status"] != "completed":
                raise RuntimeError(f"the task ended {final['status']}: {final.get('status_message')} "
                                   f"(agent log {root / 'agent.log'})")
            if i == 0:
                continue
            times["Task.enqueue call"].append(t1 - t0)
            times["enqueue -> claim (started)"].append(state["started"] - t0)
            times["enqueue -> claim seen here"].append(seen - t0)
            times["claim -> task completed"].append(final["completed"] - state["started"])
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()
    return times


def bench_claims(args: argparse.Namespace) -> None:
    results = {}
    with _stores.Stores(args.backends, args.postgres) as stores:
        for backend in args.backends:
            results[backend] = claim_latency(backend, stores.location(backend, "bench_claim"), args.claim_tasks,
                                             args.claim_poll)
    rows = [(label, {b: statistics.median(results[b][label]) * 1000 for b in args.backends})
            for label in next(iter(results.values()))]
    print(f"\nagent claim latency: medians of {args.claim_tasks} tasks, agent --no-venv --poll {args.claim_poll} (ms)")
    _stores.print_table("figure", rows, args.backends)


def bench_startup(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="pipetrack-bench-agent-"))
    origin, commit = make_repository(root)
    cases = ["bare python", "agent, new environment", "agent, cached environment", "agent --no-venv"]
    if args.docker_image:
        cases += ["agent, docker, new image", "agent, docker, cached image"]
    times: dict[str, list[float]] = {k: [] for k in cases}
    for run in range(args.runs):
        home = root / f"home{run}"
        started = time.perf_counter()
        sh(sys.executable, str(root / "checkout" / "job.py"), env=env_for(home))
        times["bare python"].append(time.perf_counter() - started)
        enqueue(home, origin, commit)
        times["agent, new environment"].append(agent_run(home))
        enqueue(home, origin, commit)
        times["agent, cached environment"].append(agent_run(home))
        enqueue(home, origin, commit)
        times["agent --no-venv"].append(agent_run(home, "--no-venv"))
        if args.docker_image:  # a setup script of this run's own: the first task builds a new image
            setup = f"echo bench-{uuid.uuid4().hex} > /bench-mark"
            enqueue(home, origin, commit, args.docker_image, setup)
            times["agent, docker, new image"].append(agent_run(home))
            enqueue(home, origin, commit, args.docker_image, setup)
            times["agent, docker, cached image"].append(agent_run(home))
    base = statistics.median(times["bare python"])
    print(f"{'case':28} {'median s':>9} {'x bare':>7}   (runs: {args.runs})")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28} {median:9.3f} {median / base:7.2f}")


def _cases(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(name not in CASES for name in names):
        raise argparse.ArgumentTypeError(f"--cases takes a comma-separated list of {', '.join(CASES)}, got {text!r}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", type=_cases, default=list(CASES),
                        help="what to measure: startup (the agent process runs above), claim (claim latency)")
    parser.add_argument("--docker-image", default=None, metavar="IMAGE",
                        help="also time docker tasks in IMAGE (a local image with python3 and pip; needs a docker "
                             "daemon): the first builds its environment image, the second reuses it")
    parser.add_argument("--claim-tasks", type=int, default=20, help="tasks per backend for the claim latency")
    parser.add_argument("--claim-poll", type=float, default=0.05, help="the agent's --poll for the claim latency")
    _stores.add_arguments(parser)
    args = parser.parse_args()
    if "startup" in args.cases:
        bench_startup(args)
    if "claim" in args.cases:
        bench_claims(args)


if __name__ == "__main__":
    main()
