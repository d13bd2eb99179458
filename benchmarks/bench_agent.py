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
- ``agent --no-venv``: the agent's own environment (today's behaviour before environments).

Medians of ``--runs`` runs and their ratio to the bare run. The machine is shared: compare ratios.
Run: ``python3 benchmarks/bench_agent.py [--runs 5]``.
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

ROOT = Path(__file__).resolve().parent.parent
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


def enqueue(home: Path, origin: str, commit: str) -> None:
    code = (f"from pipetrack import Task\nt = Task.create(project_name='bench', task_name='agent', repo={origin!r}, "
            f"commit={commit!r}, script='job.py', packages={PACKAGES!r})\nTask.enqueue(t, queue_name='bench')\n")
    sh(sys.executable, "-c", code, env=env_for(home))


def env_for(home: Path) -> dict:
    return {**os.environ, "PIPETRACK_HOME": str(home), "PYTHONPATH": str(ROOT), "PIPETRACK_QUIET": "1"}


def agent_run(home: Path, *extra: str) -> float:
    started = time.perf_counter()
    sh(sys.executable, "-m", "pipetrack", "agent", "--queue", "bench", "--max-tasks", "1", "--poll", "0.05",
       *extra, env=env_for(home))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pipetrack-bench-agent-"))
    origin, commit = make_repository(root)
    times: dict[str, list[float]] = {k: [] for k in ("bare python", "agent, new environment",
                                                     "agent, cached environment", "agent --no-venv")}
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
    base = statistics.median(times["bare python"])
    print(f"{'case':28} {'median s':>9} {'x bare':>7}   (runs: {args.runs})")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28} {median:9.3f} {median / base:7.2f}")


if __name__ == "__main__":
    main()
