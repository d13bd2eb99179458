"""Artifact round trip of a 200 MiB float64 ndarray: pipetrack storage vs raw numpy.

baseline : np.save + np.load in a temp dir
pipetrack: serialize_artifact -> upload_file (to a file:// artifact dir on the same disk)
           -> get_local_copy -> deserialize_artifact

Prints the best of N runs of each and the ratio. Extra rows (not the headline): the same
with a copying upload (move=False, what a user's own file gets) and with ``.npz``.

    python benchmarks/bench_artifacts.py [--mib 200] [--repeat 3] [--dir /some/disk]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from typing import Callable

import numpy as np

os.environ.setdefault("PIPETRACK_QUIET", "1")  # per-step notices would bury the results table


def best_of(repeat: int, run: Callable[[], object], cleanup: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        cleanup()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    cleanup()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="parent folder of the temp dir (default: system temp)")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="pipetrack-bench-", dir=args.dir)
    os.environ["PIPETRACK_HOME"] = os.path.join(root, "home")
    from pipetrack.storage import deserialize_artifact, get_local_copy, join_url, serialize_artifact, upload_file
    from pipetrack.storage.urls import normalize_url

    arr = np.random.default_rng(0).random(args.mib * (1 << 20) // 8)
    raw_dir, work, dest = (os.path.join(root, name) for name in ("raw", "work", "artifacts"))
    os.makedirs(raw_dir)
    dest_url = normalize_url(dest)

    def cleanup() -> None:
        for folder in (raw_dir, work, dest):
            shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(raw_dir, exist_ok=True)

    def raw() -> np.ndarray:
        path = os.path.join(raw_dir, "arr.npy")
        np.save(path, arr)
        return np.load(path)

    def pipetrack(move: bool = True, ext: str | None = None) -> Callable[[], object]:
        def run() -> object:
            art = serialize_artifact(arr, work, "arr", extension_name=ext)
            url = upload_file(art.local_path, join_url(dest_url, "task", "arr" + art.extension), move=move and art.owned)
            local = get_local_copy(url)
            return deserialize_artifact(local, art.type, art.extension)
        return run

    def task_api() -> object:
        """What a user does: Task.upload_artifact, then artifacts[name].get() in another Task object."""
        from pipetrack import Task
        task = Task.create(project_name="bench", task_name="artifact round trip")
        task._owner = True  # as the process running it
        task.output_uri = dest_url
        task.upload_artifact("arr", arr)
        return Task.get_task(task_id=task.id).artifacts["arr"].get()

    try:
        cleanup()
        assert np.array_equal(pipetrack()(), arr), "round trip changed the array"
        assert np.array_equal(task_api(), arr), "Task API round trip changed the array"
        baseline = best_of(args.repeat, raw, cleanup)
        rows = [
            ("Task.upload_artifact + Artifact.get", best_of(args.repeat, task_api, cleanup)),
            ("pipetrack (.npy, publish by rename)", best_of(args.repeat, pipetrack(), cleanup)),
            ("pipetrack (.npy, copying upload)", best_of(args.repeat, pipetrack(move=False), cleanup)),
            ("pipetrack (.npz, publish by rename)", best_of(args.repeat, pipetrack(ext=".npz"), cleanup)),
        ]
        print(f"array: {arr.nbytes / (1 << 20):.0f} MiB float64, best of {args.repeat}, temp dir {root}")
        print(f"{'raw np.save + np.load':40s} {baseline:8.3f} s")
        for label, seconds in rows:
            print(f"{label:40s} {seconds:8.3f} s   ratio {seconds / baseline:5.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
