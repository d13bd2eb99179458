"""Screenshots of the web UI for the docs: fill a fresh store with real runs, start
``pipetrack ui`` over it, and save PNGs (1280x800) with Playwright and Debian's Chromium.

    .venv/bin/python scripts/ui_screenshots.py            # -> docs/ui-*.png
    .venv/bin/python scripts/ui_screenshots.py --out /tmp/shots --keep   # keep the store, print its path

Shots: the tasks table, a task's scalars, a pipeline run while it runs (live DAG), a comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

TRAIN = r'''
import argparse, math, os, random, struct, tempfile, zlib
from pipetrack import Task

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--name", default="train resnet")
args = parser.parse_args()
task = Task.init(project_name="demo/training", task_name=args.name, tags=["demo", f"lr={args.lr}"])
task.connect_configuration({"model": {"arch": "resnet18", "dropout": 0.1}, "optimizer": "sgd"}, name="model")
logger = task.get_logger()
random.seed(args.seed)


def png(path, width, height, pixel):
    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                 + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


images = tempfile.mkdtemp()
for epoch in range(args.epochs):
    train = 2.2 * math.exp(-args.lr * epoch * 0.9) + 0.15 + random.gauss(0, 0.04)
    val = train * 1.08 + 0.06 + random.gauss(0, 0.06)
    logger.report_scalar("loss", "train", train, iteration=epoch)
    logger.report_scalar("loss", "val", val, iteration=epoch)
    logger.report_scalar("accuracy", "val", max(0.0, min(1.0, 1.0 - val / 2.6)), iteration=epoch)
    logger.report_scalar("learning rate", "lr", args.lr * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs)),
                         iteration=epoch)
    if epoch % 10 == 0:
        path = os.path.join(images, f"sample{epoch}.png")
        png(path, 96, 96, lambda x, y: ((x * 3 + epoch * 5) % 256, (y * 2) % 256, (x * y + epoch) % 256))
        logger.report_image("predictions", "batch 0", iteration=epoch, local_path=path)
    print(f"epoch {epoch}: train loss {train:.4f}  val loss {val:.4f}")
logger.report_single_value("final val loss", val)
logger.report_scatter2d("embedding", "classes", [[random.gauss(0, 1), random.gauss(0, 1)] for _ in range(80)],
                        iteration=args.epochs, xaxis="x", yaxis="y", mode="markers")
task.upload_artifact("metrics", {"val_loss": val, "epochs": args.epochs})
print("finished", task.id)
'''

FAILING = '''
from pipetrack import Task
task = Task.init(project_name="demo/training", task_name="train vit (bad config)", tags=["demo"])
task.connect({"patch": 7, "image": 32}, name="Args")
print("building the model")
raise ValueError("image size 32 is not divisible by patch size 7")
'''

PIPELINE = '''
import sys
from pipetrack import PipelineController

def load(source):
    import random
    random.seed(7)
    return [[random.uniform(0, 10) for _ in range(4)] for _ in range(200)]

def features(rows, column):
    return [row[column] for row in rows]

def train(a, b, gate):
    import os, time
    deadline = time.time() + 120
    while gate and not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.1)
    return {"w": sum(a) / len(a), "b": sum(b) / len(b)}

def evaluate(model):
    return round(model["w"] / (model["b"] or 1), 4)

def report(score, model):
    print("score", score, model)
    return score

pipe = PipelineController(name="train and evaluate", project="demo/pipelines", version="1.2.0")
pipe.add_parameter("source", "synthetic://seed=7")
pipe.add_function_step("load", load, function_kwargs={"source": "${pipeline.source}"}, function_return=["rows"],
                       cache_executed_step=True)
pipe.add_function_step("features_a", features, function_kwargs={"rows": "${load.rows}", "column": 0},
                       function_return=["values"], cache_executed_step=True)
pipe.add_function_step("features_b", features, function_kwargs={"rows": "${load.rows}", "column": 1},
                       function_return=["values"], cache_executed_step=True)
pipe.add_function_step("train", train, function_kwargs={"a": "${features_a.values}", "b": "${features_b.values}",
                                                        "gate": sys.argv[1] if len(sys.argv) > 1 else ""},
                       function_return=["model"])
pipe.add_function_step("evaluate", evaluate, function_kwargs={"model": "${train.model}"}, function_return=["score"])
pipe.add_function_step("report", report, function_kwargs={"score": "${evaluate.score}", "model": "${train.model}"},
                       function_return=["result"])
pipe.start_locally(run_pipeline_steps_locally=False)
print("pipeline done")
'''


def env_for(home: Path) -> dict:
    return {**os.environ, "PIPETRACK_HOME": str(home), "PYTHONPATH": str(ROOT), "PIPETRACK_PROGRESS": "0"}


def run_script(home: Path, folder: Path, name: str, code: str, *args: str, check: bool = True) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(code))
    proc = subprocess.run([sys.executable, str(path), *args], cwd=folder, env=env_for(home), capture_output=True,
                          text=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def fill(home: Path, work: Path) -> dict:
    ids = {}
    for label, lr, seed in (("a", "0.1", "1"), ("b", "0.25", "2"), ("c", "0.05", "3")):
        out = run_script(home, work, "train.py", TRAIN, "--lr", lr, "--seed", seed, "--name", f"train resnet lr={lr}")
        ids[label] = re.search(r"finished (\w+)", out).group(1)
    run_script(home, work, "failing.py", FAILING, check=False)
    run_script(home, work, "pipeline.py", PIPELINE)  # a first, complete run: the next one hits its cache
    return ids


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "pipetrack", "ui", "--port", "0", "--home", str(home)],
                            env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        match = re.search(r"(http://\S+)", proc.stdout.readline())
        if match:
            return proc, match.group(1).rstrip("/")
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("pipetrack ui did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNGs (default docs/)")
    parser.add_argument("--keep", action="store_true", help="keep the filled store and print its path")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    from playwright.sync_api import expect, sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="pipetrack-shots-"))
    work = home / "scripts"
    work.mkdir()
    ids = fill(home / "store", work)
    server, url = start_server(home / "store")
    gate = work / "gate"
    live = subprocess.Popen([sys.executable, str(work / "pipeline.py"), str(gate)], cwd=work, env=env_for(home / "store"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(30_000)

            def shot(name: str) -> None:
                page.mouse.move(1270, 790)  # no hover effects (plotly's mode bar) in the picture
                page.wait_for_timeout(400)  # let plotly finish its transitions
                page.screenshot(path=str(out / name))
                print("saved", out / name)

            def show(fragment: str) -> None:
                page.goto(f"{url}/{fragment}")
                page.wait_for_function("() => document.getElementById('main').dataset.ready === location.hash")

            show("#/tasks")
            page.click('.project-tree a[data-project="demo"]')
            page.locator(f'tr[data-id="{ids["a"]}"] input.row-select').check()
            page.locator(f'tr[data-id="{ids["b"]}"] input.row-select').check()
            expect(page.locator(".tasks-table tbody tr").first).to_be_visible()
            shot("ui-tasks.png")

            show(f"#/task/{ids['a']}/scalars")
            expect(page.locator('.chart[data-title="loss"] .scatterlayer .trace')).to_have_count(2)
            page.locator("input.smoothing").evaluate("el => { el.value = '0.6'; el.dispatchEvent(new Event('input')); }")
            shot("ui-scalars.png")

            deadline = time.time() + 60
            run_id = None
            while time.time() < deadline:  # the second run: cached steps, then "train" waits on the gate
                rows = get(f"{url}/api/pipelines?page_size=1")["rows"]
                if rows and rows[0]["status"] == "in_progress":
                    run_id = rows[0]["id"]
                    nodes = get(f"{url}/api/pipelines/{run_id}")["nodes"]
                    if any(n["name"] == "train" and n["status"] == "running" for n in nodes):
                        break
                time.sleep(0.2)
            show(f"#/pipeline/{run_id}")
            expect(page.locator('g.dag-node[data-step="train"]')).to_have_attribute("data-status", "running")
            shot("ui-pipeline.png")
            gate.write_text("go")

            show(f"#/compare?ids={ids['a']},{ids['b']},{ids['c']}")
            expect(page.locator('.chart[data-title="loss"] .scatterlayer .trace')).to_have_count(6)
            # the differing parameters and metrics, then the charts (the card's top just below the top bar)
            page.evaluate("() => window.scrollTo(0, document.querySelector('.compare-params').closest('.card')"
                          ".getBoundingClientRect().top + window.scrollY - 56)")
            shot("ui-compare.png")
            browser.close()
        live.wait(timeout=120)
    finally:
        gate.write_text("go")
        if live.poll() is None:
            live.kill()
        server.terminate()
        server.wait(timeout=10)
        if args.keep:
            print("store kept in", home / "store")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
