"""Helpers of the UI tests (a plain module, importable from any test file): the user scripts
that fill a store, running them as real subprocesses, and a real ``pipetrack ui`` process."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import processes
from processes import stop_process


TRAIN_SCRIPT = """
import argparse
from pipetrack import Task
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--name", default="train")
args = parser.parse_args()
task = Task.init(project_name="ui/training", task_name=args.name, tags=["ui-test"])
task.connect_configuration({"layers": 3, "act": "relu"}, name="model")
logger = task.get_logger()
for i in range(args.epochs):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1) * args.lr * 10, iteration=i)
    logger.report_scalar("loss", "val", value=1.2 / (i + 1), iteration=i)
    logger.report_scalar("accuracy", "val", value=i / args.epochs, iteration=i)
    print(f"epoch {i} done")
logger.report_single_value("final_accuracy", 0.9)
logger.report_table("summary", "table", iteration=0, table_plot=[["a", "b"], [1, 2]]) if hasattr(logger, "report_table") else None
task.upload_artifact("metrics", {"best": 0.9, "epochs": args.epochs})
print("finished", task.id)
"""

FAILING_SCRIPT = """
from pipetrack import Task
task = Task.init(project_name="ui/training", task_name="broken run")
print("about to fail")
raise RuntimeError("boom from the failing script")
"""

PIPELINE_SCRIPT = """
from pipetrack import PipelineController

def make(n):
    return list(range(n))

def total(values):
    return sum(values)

pipe = PipelineController(name="ui pipeline", project="ui/pipelines", version="1.0.0")
pipe.add_parameter("n", 4)
pipe.add_function_step("make", make, function_kwargs={"n": "${pipeline.n}"}, function_return=["values"])
pipe.add_function_step("total", total, function_kwargs={"values": "${make.values}"}, function_return=["result"],
                       parents=["make"])
pipe.start_locally(run_pipeline_steps_locally=False)
print("pipeline done")
"""


@dataclass
class UIServer:
    """A running ``pipetrack ui`` process: its URL, CSRF token, PIPETRACK_HOME and login token
    (``auth``; None when started with ``--no-auth``). Requests send ``Authorization: token``."""

    url: str
    token: str
    home: Path
    process: subprocess.Popen
    auth: Optional[str] = None

    @property
    def login_url(self) -> str:
        """The URL ``pipetrack ui`` prints: opening it logs a browser in (sets the cookie)."""
        return self.url + (f"?token={self.auth}" if self.auth else "")

    def auth_headers(self) -> dict:
        return {"Authorization": f"token {self.auth}"} if self.auth else {}

    def request(self, method: str, path: str, body: Any = None, token: Optional[str] = "page",
                headers: Optional[dict] = None) -> tuple[int, Any]:
        """(HTTP status, decoded JSON or raw bytes) of one request; 4xx/5xx are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **self.auth_headers(), **(headers or {})}
        all_headers = {k: v for k, v in all_headers.items() if v is not None}  # headers={"X": None} drops one
        if token == "page":
            all_headers["X-CSRF-Token"] = self.token
        elif token is not None:
            all_headers["X-CSRF-Token"] = token
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            status, raw, ctype = err.code, err.read(), err.headers.get("Content-Type", "")
        return status, (json.loads(raw) if "json" in ctype else raw)

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path, token=None)

    def post(self, path: str, body: Any = None, token: Optional[str] = "page") -> tuple[int, Any]:
        return self.request("POST", path, body if body is not None else {}, token=token)


# home -> the PIPETRACK_STORE its processes use (the UI suite's PostgreSQL variant; tests/ui/conftest.py)
STORES: dict[Path, str] = {}


def _store_env(home: Path) -> dict:
    store = STORES.get(Path(home))
    return {"PIPETRACK_PROGRESS": "0", **({"PIPETRACK_STORE": store} if store else {})}


def script_env(home: Path, **extra: str) -> dict:
    """The environment of UI test scripts: no progress line (they run under pytest), and the
    store ``home`` is bound to (``STORES``), else the SQLite file under ``home``."""
    return processes.script_env(home, **_store_env(home), **extra)


def run_user_script(home: Path, folder: Path, code: str, *args: str, name: str = "script.py",
                    check: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` as a user script (a real subprocess) against the store of ``home``."""
    return processes.run_user_script(home, folder, code, *args, name=name, env=_store_env(home), check=check)


def start_server(home: Path, *extra: str) -> UIServer:
    """Start ``pipetrack ui --port 0`` over ``home``; wait for its URL line."""
    proc = subprocess.Popen([sys.executable, "-m", "pipetrack", "ui", "--port", "0", "--home", str(home), *extra],
                            env=script_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    line = ""
    while time.time() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"(http://[^/\s]+/)(?:\?token=(\S+))?", line)
        if match:
            url, auth = match.group(1), match.group(2)
            headers = {"Authorization": f"token {auth}"} if auth else {}
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
                token = re.search(r'name="csrf-token" content="([^"]+)"', resp.read().decode()).group(1)
            return UIServer(url=url, token=token, home=home, process=proc, auth=auth)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"pipetrack ui did not start: {line}{proc.stdout.read() if proc.stdout else ''}")


def stop_server(server: UIServer) -> None:
    stop_process(server.process)


