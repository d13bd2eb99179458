"""Install benchmark (not a test): how long a fresh environment takes to get pipetrack.

For the core package and each extra (``dask``, ``s3``, ``ui``, ``all``, and the test set
``all,test`` that ``scripts/test`` installs), each run builds a new virtual environment and
installs ``-e .[extra]`` pinned by ``constraints.txt``, the way ``scripts/_venv.sh`` does:

- ``uv cold``: ``uv pip install`` with an empty uv cache (a fresh machine: every wheel is
  downloaded from the package index);
- ``uv warm``: the same with the cache the cold run filled (a second checkout, CI with a cache);
- ``pip`` (``--pip``): ``pip install -c constraints.txt``, the scripts' fallback without uv.

Targets (issue: first hour): every extra under 60 s, the test environment under 120 s, on a
fresh machine. Times include creating the venv. The environment's size on disk is shown too.
Medians of ``--runs`` runs; the machine is shared, so compare ratios, not single figures.

Run: ``python3 benchmarks/bench_install.py [--runs 3] [--extras core,all,all,test] [--pip]``
(needs ``uv`` on PATH or in ``.venv/bin``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
EXTRAS = ["core", "dask", "s3", "ui", "all", "all,test"]


def find_uv() -> str:
    uv = shutil.which("uv") or str(ROOT / ".venv" / "bin" / "uv")
    if not os.access(uv, os.X_OK):
        sys.exit("bench_install needs uv: pip install uv (or run scripts/test once, which bootstraps it into .venv)")
    return uv


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def install(extra: str, tool: str, uv: str, cache: Path, work: Path) -> tuple[float, int]:
    """Seconds to build a venv and install ``.[extra]`` into it with ``tool``; the venv's bytes."""
    venv = work / f"venv-{tool}-{extra.replace(',', '-')}"
    shutil.rmtree(venv, ignore_errors=True)
    target = str(ROOT) if extra == "core" else f"{ROOT}[{extra}]"
    env = dict(os.environ, UV_CACHE_DIR=str(cache))
    start = time.perf_counter()
    if tool == "pip":
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
               "--no-cache-dir", "-c", str(CONSTRAINTS), "-e", target]
    else:
        subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], check=True, capture_output=True, env=env)
        cmd = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "-c", str(CONSTRAINTS), "-e", target]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{tool} install of {target} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    size = folder_size(venv)
    shutil.rmtree(venv, ignore_errors=True)
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--extras", default=";".join(EXTRAS),
                        help="';'-separated extras to install (default: %(default)s)")
    parser.add_argument("--pip", action="store_true", help="also time pip (one run each: minutes)")
    args = parser.parse_args()
    uv = find_uv()
    extras = [e for e in args.extras.split(";") if e]
    print(f"{'extra':<10} {'uv cold s':>10} {'uv warm s':>10} {'pip s':>8} {'venv MB':>8}   (median of {args.runs})")
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        for extra in extras:
            cold, warm, sizes = [], [], []
            for run in range(args.runs):
                cache = work / f"uv-cache-{run}"
                seconds, size = install(extra, "uv", uv, cache, work)
                cold.append(seconds)
                sizes.append(size)
                warm.append(install(extra, "uv", uv, cache, work)[0])
                shutil.rmtree(cache, ignore_errors=True)
            pip = f"{install(extra, 'pip', uv, work / 'unused', work)[0]:8.1f}" if args.pip else f"{'-':>8}"
            print(f"{extra:<10} {statistics.median(cold):10.1f} {statistics.median(warm):10.1f} {pip} "
                  f"{statistics.median(sizes) / 1e6:8.0f}", flush=True)


if __name__ == "__main__":
    main()
