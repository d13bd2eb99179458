"""The web UI's JSON API and actions, through HTTP against a real ``pipetrack ui`` process.

The store behind the server is ``filled_home`` (see ``conftest.py``): "run a"/"run b" (lr 0.1 and
0.3), "broken run" (failed) in ui/training, and the two-step "ui pipeline" in ui/pipelines. The
project "ui" must keep exactly those six tasks whatever the test order: every test that changes
the store works on tasks of its own, made by scripts in the "uix/..." projects (or clones of
them), so the listing tests can count on the "ui" subtree.
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from processes import stop_process, wait_for
from ui_helpers import run_user_script, script_env

# the shared suite: every test of the filled store runs on one filled on SQLite and one on PostgreSQL
UI_BACKENDS = ("sqlite", "postgresql")

UI_NAMES = {"run a", "run b", "broken run", "ui pipeline", "make", "total"}

# a training script of our own (project uix/...): reports spaced in time, one artifact, one config
SCRATCH_SCRIPT = r"""
import argparse, time
from pipetrack import Task
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--name", default="scratch")
parser.add_argument("--project", default="uix/actions")
args = parser.parse_args()
task = Task.init(project_name=args.project, task_name=args.name, tags=["scratch"])
task.connect_configuration({"layers": 2}, name="model")
logger = task.get_logger()
for i in range(args.epochs):
    logger.report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
    print(f"scratch epoch {i}")
    time.sleep(0.05)
task.upload_artifact("result", {"lr": args.lr})
with open("data file.csv", "w") as f:
    f.write("a,b\n1,2\n")
task.upload_artifact("data file", "data file.csv")
with open("sample.png", "wb") as f:
    f.write(b"\x89PNG not really an image " + args.name.encode())
logger.report_image("samples", "first", iteration=0, local_path="sample.png")
print("finished", task.id)
"""

# runs until aborted: Task.init, then a loop of short sleeps (the heartbeat interrupts it)
LONG_SCRIPT = """
import sys, time
from pipetrack import Task
task = Task.init(project_name="uix/running", task_name="long run")
print("started", task.id, flush=True)
for i in range(1200):
    task.get_logger().report_scalar("tick", "t", value=i, iteration=i)
    time.sleep(0.1)
print("never aborted", flush=True)
sys.exit(3)
"""


# ---------------------------------------------------------------------------------- helpers
def _env(home: Path) -> dict:
    return script_env(home, PYTHONUNBUFFERED="1")


def run_scratch(home: Path, folder: Path, *args: str) -> str:
    """Run SCRATCH_SCRIPT against ``home``; its task id."""
    proc = run_user_script(home, folder, SCRATCH_SCRIPT, *args, name="scratch.py")
    return re.search(r"finished (\w+)", proc.stdout).group(1)


def run(filled_home: dict, folder: Path, code: str) -> str:
    """Run ``code`` as a user script against the server's store; its stdout."""
    return run_user_script(filled_home["home"], folder, code).stdout


def raw_request(server, method: str, path: str, data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body bytes) of a request built by hand (raw body, any headers; the login
    header unless ``headers`` says ``"Authorization": None``)."""
    all_headers = {k: v for k, v in {**server.auth_headers(), **(headers or {})}.items() if v is not None}
    req = urllib.request.Request(server.url.rstrip("/") + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def q(value: str) -> str:
    return urllib.parse.quote(value)


def ok(server, path: str):
    status, body = server.get(path)
    assert status == 200, (path, status, body)
    return body


def rows(server, query: str = "") -> list[dict]:
    body = ok(server, "/api/tasks?page_size=500" + (f"&{query}" if query else ""))
    assert body["total"] == len(body["rows"]), body["total"]
    return body["rows"]


def names(server, query: str) -> list[str]:
    return [r["name"] for r in rows(server, query)]


def detail(server, task_id: str) -> dict:
    return ok(server, f"/api/tasks/{task_id}")


def assert_error(status_body, status: int, *fragments: str) -> dict:
    """A JSON error with ``status`` whose message contains every fragment."""
    got_status, body = status_body
    assert got_status == status, (got_status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    for fragment in fragments:
        assert fragment in body["error"], (fragment, body["error"])
    return body


@pytest.fixture(scope="module")
def ids(ui_server, filled_home) -> dict:
    """Ids of the six tasks of the filled store, by name ("ui pipeline" is the pipeline run)."""
    by_name = {r["name"]: r["id"] for r in rows(ui_server, "project=ui")}
    assert set(by_name) == UI_NAMES
    assert by_name["run a"] == filled_home["ids"]["train_a"]
    assert by_name["run b"] == filled_home["ids"]["train_b"]
    return by_name


@pytest.fixture(scope="module")
def scratch(filled_home, tmp_path_factory):
    """Run SCRATCH_SCRIPT on demand (a completed task of our own in uix/...); returns its id."""
    folder = tmp_path_factory.mktemp("ui-api-scratch")

    def make(name: str = "scratch", *args: str) -> str:
        return run_scratch(filled_home["home"], folder, "--name", name, *args)

    return make


@pytest.fixture(scope="module")
def source_id(scratch) -> str:
    """One completed scratch task (lr 0.01) that tests clone and never change."""
    return scratch("clone source", "--lr", "0.01")


def clone(server, task_id: str, **body) -> str:
    status, result = server.post(f"/api/tasks/{task_id}/clone", body)
    assert status in (200, 201), result
    assert result["status"] == "created"
    return result["id"]


# ---------------------------------------------------------------------------------- projects
def test_projects_tree(ui_server, ids):
    tree = ok(ui_server, "/api/projects")
    roots = {node["name"]: node for node in tree}
    ui = roots["ui"]
    assert ui["basename"] == "ui" and ui["tasks"] == 0 and ui["total_tasks"] == 6
    children = {c["name"]: c for c in ui["children"]}
    assert sorted(children) == ["ui/pipelines", "ui/training"]
    assert children["ui/training"]["basename"] == "training"
    assert children["ui/training"]["tasks"] == children["ui/training"]["total_tasks"] == 3
    assert children["ui/pipelines"]["tasks"] == children["ui/pipelines"]["total_tasks"] == 3
    assert children["ui/training"]["id"] and children["ui/training"]["children"] == []
    # every root's total is the sum of its own and its sub-projects' tasks, over the whole store
    all_tasks = ok(ui_server, "/api/tasks?archived=1&page_size=500")["total"]
    assert sum(node["total_tasks"] for node in tree) == all_tasks


# ---------------------------------------------------------------------------------- tasks table
def test_tasks_all_rows(ui_server, ids):
    body = ok(ui_server, "/api/tasks?page_size=500")
    assert body["page"] == 0 and body["page_size"] == 500
    by_id = {r["id"]: r for r in body["rows"]}
    assert set(ids.values()) <= set(by_id)
    run_a = by_id[ids["run a"]]
    assert run_a["name"] == "run a" and run_a["status"] == "completed" and run_a["type"] == "training"
    assert run_a["project_name"] == "ui/training" and run_a["tags"] == ["ui-test"]
    assert run_a["archived"] is False and run_a["duration"] >= 0 and run_a["last_iteration"] == 4
    broken = by_id[ids["broken run"]]
    assert broken["status"] == "failed" and "boom from the failing script" in broken["status_message"]
    assert by_id[ids["make"]]["parent"] == ids["ui pipeline"]
    # default: 50 a page, newest first
    default = ok(ui_server, "/api/tasks")
    assert default["page_size"] == 50 and default["total"] == body["total"]
    created = [r["created"] for r in default["rows"]]
    assert created == sorted(created, reverse=True)


def test_tasks_status_filter(ui_server, ids):
    assert names(ui_server, "project=ui&status=failed") == ["broken run"]
    assert set(names(ui_server, "project=ui&status=completed")) == UI_NAMES - {"broken run"}
    repeated = rows(ui_server, "project=ui&status=failed&status=completed")
    comma = rows(ui_server, "project=ui&status=failed,completed")
    assert [r["id"] for r in repeated] == [r["id"] for r in comma]
    assert {r["name"] for r in comma} == UI_NAMES
    assert names(ui_server, "project=ui&status=queued,in_progress") == []


def test_tasks_type_tag_filters(ui_server, ids):
    assert names(ui_server, "type=controller&project=ui") == ["ui pipeline"]
    assert set(names(ui_server, "type=training&project=ui")) == UI_NAMES - {"ui pipeline"}
    assert set(names(ui_server, "type=controller,training&project=ui")) == UI_NAMES
    assert set(names(ui_server, "tag=ui-test&project=ui")) == {"run a", "run b"}
    assert names(ui_server, "tag=no-such-tag") == []
    # filters are AND-ed across keys
    assert names(ui_server, "tag=ui-test&status=failed") == []


def test_tasks_search(ui_server, ids):
    assert names(ui_server, "project=ui&search=RUN%20A") == ["run a"]
    assert set(names(ui_server, "project=ui&search=Run")) == {"run a", "run b", "broken run"}
    run_b = ids["run b"]
    assert [r["id"] for r in rows(ui_server, f"search={run_b[:14].upper()}")] == [run_b]
    assert [r["id"] for r in rows(ui_server, f"search={run_b}")] == [run_b]
    # LIKE wildcards are literal
    assert rows(ui_server, "search=%25") == [] and rows(ui_server, "search=_") == []


def test_tasks_project_filter(ui_server, ids, source_id):
    assert set(names(ui_server, "project=ui")) == UI_NAMES
    assert set(names(ui_server, "project=ui/training")) == {"run a", "run b", "broken run"}
    assert set(names(ui_server, "project=ui/pipelines")) == {"ui pipeline", "make", "total"}
    # "uix/..." (the scratch tasks) is not a sub-project of "ui"
    assert source_id in [r["id"] for r in rows(ui_server, "project=uix")]
    assert source_id not in [r["id"] for r in rows(ui_server, "project=ui")]
    assert names(ui_server, "project=no-such-project") == []


def test_tasks_sort(ui_server, ids):
    ascending = names(ui_server, "project=ui&sort=name")
    assert ascending == sorted(UI_NAMES)
    assert names(ui_server, "project=ui&sort=-name") == sorted(UI_NAMES, reverse=True)
    durations = [r["duration"] for r in rows(ui_server, "project=ui&sort=duration")]
    assert None not in durations and durations == sorted(durations)
    durations = [r["duration"] for r in rows(ui_server, "project=ui&sort=-duration")]
    assert durations == sorted(durations, reverse=True)
    assert names(ui_server, "project=ui&sort=-duration")[0] != names(ui_server, "project=ui&sort=duration")[0]


def test_tasks_paging(ui_server, ids):
    seen, totals = [], set()
    for page in range(4):
        body = ok(ui_server, f"/api/tasks?project=ui&sort=name&page_size=2&page={page}")
        assert body["page"] == page and body["page_size"] == 2
        totals.add(body["total"])
        assert len(body["rows"]) == (2 if page < 3 else 0)
        seen += [r["id"] for r in body["rows"]]
    assert totals == {6}
    assert len(seen) == len(set(seen)) == 6 and set(seen) == set(ids.values())
    # the pages, in order, are the whole sorted list
    assert seen == [r["id"] for r in rows(ui_server, "project=ui&sort=name")]


def test_tasks_parent_filter(ui_server, ids):
    steps = rows(ui_server, f"parent={ids['ui pipeline']}")
    assert {r["name"] for r in steps} == {"make", "total"}
    assert all(r["parent"] == ids["ui pipeline"] for r in steps)
    assert rows(ui_server, f"parent={ids['run a']}&project=ui") == []


def test_archived_hidden_unless_asked(ui_server, scratch):
    task_id = scratch("to archive")
    assert task_id in [r["id"] for r in rows(ui_server, "project=uix")]
    status, body = ui_server.post(f"/api/tasks/{task_id}/archive", {})
    assert status == 200 and body == {"id": task_id, "archived": True}
    assert task_id not in [r["id"] for r in rows(ui_server, "project=uix")]
    assert task_id not in [r["id"] for r in rows(ui_server, "")]
    shown = {r["id"]: r for r in rows(ui_server, "project=uix&archived=1")}
    assert shown[task_id]["archived"] is True
    assert detail(ui_server, task_id)["archived"] is True
    # archived=1 shows the others too
    assert any(not r["archived"] for r in shown.values())
    assert_error(ui_server.post(f"/api/tasks/{task_id}/archive", {"archive": "no"}), 400, "'archive'", "'no'")
    status, body = ui_server.post(f"/api/tasks/{task_id}/archive", {"archive": False})
    assert status == 200 and body["archived"] is False
    assert task_id in [r["id"] for r in rows(ui_server, "project=uix")]


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("query, fragments", [
    ("status=bogus", ["status filter", "'bogus'", "'completed'"]),
    ("status=completed,bogus2", ["'bogus2'"]),
    ("type=bogus", ["type filter", "'bogus'", "'training'"]),
    ("sort=bogus", ["sort column", "'bogus'", "'name'"]),
    ("sort=-bogus", ["'-bogus'"]),
    ("sort=--name", ["'--name'"]),
    ("page_size=0", ["page_size", "'0'", "between 1 and 500"]),
    ("page_size=10000", ["page_size", "'10000'"]),
    ("page_size=abc", ["page_size", "'abc'"]),
    ("page=-1", ["page ", "'-1'"]),
    ("page=x", ["page ", "'x'"]),
])
def test_tasks_bad_query(ui_server, query, fragments):
    body = assert_error(ui_server.get(f"/api/tasks?{query}"), 400, *fragments)
    assert body["type"] == "ValidationError"


@pytest.mark.parametrize("path", [
    "/api/tasks/{missing}", "/api/tasks/{missing}/console", "/api/tasks/{missing}/scalars",
    "/api/tasks/{missing}/plots", "/api/tasks/{missing}/debug_samples", "/api/tasks/{missing}/artifacts/metrics",
])
def test_unknown_task_is_404(ui_server, path):
    body = assert_error(ui_server.get(path.format(missing="0" * 32)), 404, "0" * 32)
    assert body["type"] == "NotFoundError"


@pytest.mark.parametrize("action", ["clone", "parameters", "enqueue", "dequeue", "abort", "publish", "reset",
                                    "archive", "delete"])
def test_unknown_task_action_is_404(ui_server, action):
    body = {"parameters": {"Args/lr": 1}} if action == "parameters" else {"queue": "q"} if action == "enqueue" else {}
    assert_error(ui_server.post(f"/api/tasks/{'f' * 32}/{action}", body), 404, "f" * 32)


def test_unknown_artifact_pipeline_and_endpoint(ui_server, ids):
    assert_error(ui_server.get(f"/api/tasks/{ids['run a']}/artifacts/nope"), 404, "'nope'", ids["run a"])
    assert_error(ui_server.get(f"/api/tasks/{ids['run a']}/debug_samples/1"), 404, "#1")
    assert_error(ui_server.get("/api/pipelines/nope"), 404, "'nope'")
    body = assert_error(ui_server.get(f"/api/pipelines/{ids['run a']}"), 404, ids["run a"], "not a pipeline run")
    assert body["type"] == "NotFoundError"
    assert_error(ui_server.get("/api/whatever"), 404, "/api/whatever")
    assert_error(ui_server.post("/api/whatever", {}), 404, "POST /api/whatever")
    assert_error(ui_server.get(f"/api/tasks/{ids['run a']}/scalars?x_axis=bogus"), 400, "x_axis", "'bogus'")
    assert_error(ui_server.get(f"/api/tasks/{ids['run a']}/console?tail=0"), 400, "tail", "'0'")
    assert_error(ui_server.get(f"/api/tasks/{ids['run a']}/console?after=abc"), 400, "after", "'abc'")
    assert_error(ui_server.get("/api/pipelines?page_size=0"), 400, "page_size")


def test_compare_needs_2_to_5_ids(ui_server, ids):
    assert_error(ui_server.get(f"/api/compare?ids={ids['run a']}"), 400, "2 to 5", "got 1")
    six = ",".join([ids["run a"], ids["run b"], ids["make"], ids["total"], ids["broken run"], ids["ui pipeline"]])
    assert_error(ui_server.get(f"/api/compare?ids={six}"), 400, "2 to 5", "got 6")
    assert_error(ui_server.get("/api/compare"), 400, "got 0")
    assert_error(ui_server.get(f"/api/compare?ids={ids['run a']},{'0' * 32}"), 404, "0" * 32)


def test_host_header_must_be_loopback(ui_server):
    port = urllib.parse.urlsplit(ui_server.url).port
    status, _, body = raw_request(ui_server, "GET", "/api/projects", headers={"Host": f"evil.example.com:{port}"})
    assert status == 400 and b"Invalid host header" in body
    status, _, body = raw_request(ui_server, "GET", "/api/projects", headers={"Host": f"localhost:{port}"})
    assert status == 200 and isinstance(json.loads(body), list)


# ---------------------------------------------------------------------------------- one task
def test_task_detail(ui_server, ids):
    task = detail(ui_server, ids["run a"])
    assert task["id"] == ids["run a"] and task["name"] == "run a" and task["project_name"] == "ui/training"
    assert task["status"] == "completed" and task["archived"] is False and task["tags"] == ["ui-test"]
    args = {p["name"]: p for p in task["parameters"]["Args"]}
    assert args["lr"]["value"] == "0.1" and args["lr"]["type"] == "float"
    assert args["epochs"]["value"] == "5" and args["name"]["value"] == "run a"
    configs = {c["name"]: c for c in task["configurations"]}
    assert json.loads(configs["model"]["value"]) == {"layers": 3, "act": "relu"}
    [artifact] = task["artifacts"]
    assert artifact["name"] == "metrics" and artifact["type"] == "dict" and artifact["mode"] == "output"
    assert artifact["size"] > 0
    assert re.fullmatch(r"[0-9a-f]{64}", artifact["hash"])
    assert artifact["extension"] == ".json"
    assert {v["name"]: v["value"] for v in task["single_values"]} == {"final_accuracy": 0.9}
    metrics = task["last_metrics"]
    assert set(metrics) == {"loss", "accuracy"} and set(metrics["loss"]) == {"train", "val"}
    assert metrics["loss"]["train"]["last"] == pytest.approx(0.2)
    assert metrics["loss"]["train"]["max"] == pytest.approx(1.0)
    assert metrics["accuracy"]["val"]["last"] == pytest.approx(0.8)
    assert task["script"]["entry_point"] == "train.py" and "report_scalar" in task["script"]["diff"]
    assert task["script"]["argv"] == ["--lr", "0.1", "--name", "run a"]
    assert task["children"] == 0 and "parent_task" not in task
    run_b = detail(ui_server, ids["run b"])
    assert {p["name"]: p["value"] for p in run_b["parameters"]["Args"]}["lr"] == "0.3"


def test_task_detail_artifact_matches_file(ui_server, ids):
    task = detail(ui_server, ids["run a"])
    [artifact] = task["artifacts"]
    status, headers, body = raw_request(ui_server, "GET", f"/api/tasks/{ids['run a']}/artifacts/metrics")
    assert status == 200
    assert artifact["size"] == len(body)
    assert artifact["hash"] == hashlib.sha256(body).hexdigest()


def test_pipeline_step_detail(ui_server, ids):
    step = detail(ui_server, ids["total"])
    assert step["parent"] == ids["ui pipeline"]
    assert step["parent_task"] == {"id": ids["ui pipeline"], "name": "ui pipeline", "type": "controller"}
    controller = detail(ui_server, ids["ui pipeline"])
    assert controller["children"] == 2 and controller["type"] == "controller"
    assert any(c["name"] == "Pipeline" for c in controller["configurations"])


def test_console(ui_server, ids):
    everything = ok(ui_server, f"/api/tasks/{ids['run a']}/console")
    lines = everything["lines"]
    texts = [line["text"] for line in lines]
    assert [t for t in texts if t.startswith("epoch")] == [f"epoch {i} done" for i in range(5)]
    assert texts[-1] == f"finished {ids['run a']}"
    seqs = [line["seq"] for line in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert everything["last_seq"] == seqs[-1]
    # tail: the last lines, still oldest first
    tail = ok(ui_server, f"/api/tasks/{ids['run a']}/console?tail=2")
    assert [line["text"] for line in tail["lines"]] == texts[-2:] and tail["last_seq"] == seqs[-1]
    # search (case-insensitive substring)
    found = ok(ui_server, f"/api/tasks/{ids['run a']}/console?search=EPOCH%203")["lines"]
    assert [line["text"] for line in found] == ["epoch 3 done"]
    # after: only newer lines; after=last_seq gives nothing new
    after = ok(ui_server, f"/api/tasks/{ids['run a']}/console?after={seqs[1]}")
    assert [line["seq"] for line in after["lines"]] == seqs[2:]
    assert ok(ui_server, f"/api/tasks/{ids['run a']}/console?after={everything['last_seq']}")["lines"] == []
    # after + tail: the FIRST lines after that seq, with `more` to ask again (a follower never skips one)
    page = ok(ui_server, f"/api/tasks/{ids['run a']}/console?after=0&tail=2")
    assert [line["seq"] for line in page["lines"]] == seqs[:2] and page["more"] is True
    assert page["last_seq"] == seqs[1]
    rest = ok(ui_server, f"/api/tasks/{ids['run a']}/console?after={page['last_seq']}&tail=100000")
    assert [line["seq"] for line in rest["lines"]] == seqs[2:] and rest["more"] is False
    # before: page back from the oldest shown line
    older = ok(ui_server, f"/api/tasks/{ids['run a']}/console?before={seqs[-2]}&tail=2")
    assert [line["seq"] for line in older["lines"]] == seqs[-4:-2] and older["more"] is True
    assert tail["more"] is True and everything["more"] is False
    broken = ok(ui_server, f"/api/tasks/{ids['broken run']}/console")["lines"]
    assert any("boom from the failing script" in line["text"] for line in broken)
    assert any(line["text"] == "about to fail" for line in broken)


def test_scalars_iter_and_time(ui_server, ids, source_id):
    graphs = ok(ui_server, f"/api/tasks/{ids['run a']}/scalars")
    assert set(graphs) == {"loss", "accuracy"}
    assert set(graphs["loss"]) == {"train", "val"} and set(graphs["accuracy"]) == {"val"}
    assert graphs["loss"]["train"]["x"] == [0, 1, 2, 3, 4]
    assert graphs["loss"]["train"]["y"] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert ok(ui_server, f"/api/tasks/{ids['run a']}/scalars?x_axis=iter") == graphs
    # time axis: epoch seconds within the run (the scratch script sleeps between reports)
    task = detail(ui_server, source_id)
    timed = ok(ui_server, f"/api/tasks/{source_id}/scalars?x_axis=time")["loss"]["train"]
    assert timed["y"] == pytest.approx([1.0, 0.5, 1 / 3])
    xs = timed["x"]
    assert all(a < b for a, b in zip(xs, xs[1:])), xs
    assert task["started"] - 1 <= xs[0] and xs[-1] <= task["completed"] + 1
    assert ok(ui_server, f"/api/tasks/{source_id}/scalars")["loss"]["train"]["x"] == [0, 1, 2]


def test_plots(ui_server, ids):
    plots = ok(ui_server, f"/api/tasks/{ids['run a']}/plots")
    assert [(p["metric"], p["variant"]) for p in plots] == [("summary", "table")]
    assert plots[0]["figure"]["data"][0]["type"] == "table"
    assert ok(ui_server, f"/api/tasks/{ids['run a']}/debug_samples") == []


def test_artifact_download(ui_server, ids):
    for label, epochs in (("run a", 5), ("run b", 5)):
        status, headers, body = raw_request(ui_server, "GET", f"/api/tasks/{ids[label]}/artifacts/metrics")
        assert status == 200
        assert json.loads(body) == {"best": 0.9, "epochs": epochs}
        assert headers["Content-Type"].startswith("application/json")
        assert 'filename="metrics.json"' in headers["Content-Disposition"]
        assert headers["Content-Disposition"].startswith("attachment")


def test_file_artifact_and_debug_sample_download(ui_server, source_id):
    task = detail(ui_server, source_id)
    artifacts = {a["name"]: a for a in task["artifacts"]}
    assert set(artifacts) == {"result", "data file"}
    assert artifacts["data file"]["type"] == "file" and artifacts["data file"]["extension"] == ".csv"
    status, headers, body = raw_request(ui_server, "GET", f"/api/tasks/{source_id}/artifacts/{q('data file')}")
    assert status == 200 and body == b"a,b\n1,2\n"
    assert headers["Content-Type"].startswith("text/csv")
    assert "filename*=utf-8''data%20file.csv" in headers["Content-Disposition"]
    status, _, body = raw_request(ui_server, "GET", f"/api/tasks/{source_id}/artifacts/result")
    assert status == 200 and json.loads(body) == {"lr": 0.01}
    [sample] = ok(ui_server, f"/api/tasks/{source_id}/debug_samples")
    assert (sample["metric"], sample["variant"], sample["iteration"]) == ("samples", "first", 0)
    status, headers, body = raw_request(ui_server, "GET", f"/api/tasks/{source_id}/debug_samples/{sample['seq']}")
    assert status == 200 and body == b"\x89PNG not really an image clone source"
    assert headers["Content-Type"] == "image/png"
    assert_error(ui_server.get(f"/api/tasks/{source_id}/debug_samples/{sample['seq'] + 1000}"), 404,
                 f"#{sample['seq'] + 1000}")


def test_artifact_file_gone_from_storage(ui_server, scratch):
    task_id = scratch("file gone")
    [artifact] = [a for a in detail(ui_server, task_id)["artifacts"] if a["name"] == "result"]
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(artifact["uri"]).path))
    assert path.is_file()
    path.unlink()
    assert_error(ui_server.get(f"/api/tasks/{task_id}/artifacts/result"), 404, "no longer in storage")


# ---------------------------------------------------------------------------------- compare
def test_compare(ui_server, ids):
    for query in (f"ids={ids['run a']},{ids['run b']}", f"ids={ids['run a']}&ids={ids['run b']}"):
        result = ok(ui_server, f"/api/compare?{query}")
        assert [t["name"] for t in result["tasks"]] == ["run a", "run b"]
        assert result["tasks"][0]["project_name"] == "ui/training"
        params = {p["name"]: p for p in result["parameters"]}
        assert params["Args/lr"]["differs"] is True and params["Args/lr"]["values"] == ["0.1", "0.3"]
        assert params["Args/epochs"]["differs"] is False and params["Args/epochs"]["values"] == ["5", "5"]
        assert [p["name"] for p in result["parameters"]] == sorted(params)
        scalars_a, scalars_b = result["scalars"]
        assert scalars_a == ok(ui_server, f"/api/tasks/{ids['run a']}/scalars")
        assert scalars_b["loss"]["train"]["y"] == pytest.approx([3 * y for y in scalars_a["loss"]["train"]["y"]])
        assert scalars_b["loss"]["val"] == scalars_a["loss"]["val"]


# ---------------------------------------------------------------------------------- pipelines
def test_pipelines_list(ui_server, ids):
    body = ok(ui_server, "/api/pipelines")
    [run] = [r for r in body["rows"] if r["name"] == "ui pipeline"]
    assert run["id"] == ids["ui pipeline"] and run["pipeline_name"] == "ui pipeline"
    assert run["version"] == "1.0.0" and run["run_number"] == 1 and run["progress"] == 100
    assert run["status"] == "completed" and run["project_name"] == "ui/pipelines"
    assert ok(ui_server, f"/api/pipelines?name={q('ui pipeline')}")["total"] == 1
    assert ok(ui_server, "/api/pipelines?project=ui")["total"] == 1
    assert ok(ui_server, "/api/pipelines?project=ui/training")["rows"] == []
    assert ok(ui_server, "/api/pipelines?name=nope")["total"] == 0


def test_pipeline_run_page(ui_server, ids):
    run = ok(ui_server, f"/api/pipelines/{ids['ui pipeline']}")
    assert run["name"] == "ui pipeline" and run["version"] == "1.0.0" and run["status"] == "completed"
    nodes = {n["name"]: n for n in run["nodes"]}
    assert set(nodes) == {"make", "total"}
    for name, node in nodes.items():
        assert node["status"] == "completed"
        assert node["task_id"] == ids[name]
        step = detail(ui_server, node["task_id"])
        assert step["name"] == name and step["status"] == "completed" and step["parent"] == run["id"]
    assert nodes["total"]["parents"] == ["make"] and nodes["make"]["parents"] == []
    assert nodes["make"]["layer"] < nodes["total"]["layer"]
    assert run["edges"] == [["make", "total"]]
    assert run["done"] == run["total"] == 2 and run["counts"]["completed"] == 2


# ---------------------------------------------------------------------------------- CSRF and methods
def test_actions_need_the_csrf_token(ui_server, source_id):
    draft = clone(ui_server, source_id)
    before = detail(ui_server, draft)
    total_before = ok(ui_server, "/api/tasks?archived=1")["total"]
    for token in (None, "wrong-token", ""):
        for action, body in (("parameters", {"parameters": {"Args/lr": 9}}), ("delete", {}), ("archive", {}),
                             ("enqueue", {"queue": "csrf"}), ("clone", {}), ("abort", {})):
            body_out = assert_error(ui_server.post(f"/api/tasks/{draft}/{action}", body, token=token), 403, "CSRF")
            assert body_out["type"] == "CSRFError"
    after = detail(ui_server, draft)
    assert after["status"] == "created" and after["parameters"] == before["parameters"]
    assert after["archived"] is False and after["last_update"] == before["last_update"]
    assert ok(ui_server, "/api/tasks?archived=1")["total"] == total_before
    assert "csrf" not in [q_["name"] for q_ in ok(ui_server, "/api/queues")]
    # the page carries the token the server checks
    status, _, page = raw_request(ui_server, "GET", "/")
    assert status == 200 and ui_server.token in page.decode()


def test_action_paths_are_post_only(ui_server, source_id):
    draft = clone(ui_server, source_id)
    for action in ("delete", "clone", "parameters"):
        assert_error(ui_server.get(f"/api/tasks/{draft}/{action}"), 405, f"GET /api/tasks/{draft}/{action}")
    assert detail(ui_server, draft)["status"] == "created"


def test_action_body_must_be_a_json_object(ui_server, source_id):
    draft = clone(ui_server, source_id)
    headers = {"X-CSRF-Token": ui_server.token, "Content-Type": "application/json"}
    for data, fragment in ((b"not json", "JSON object"), (b"[1, 2]", "got list"), (b'"text"', "got str"),
                           (b"{bad", "JSON object")):
        status, _, body = raw_request(ui_server, "POST", f"/api/tasks/{draft}/parameters", data=data,
                                      headers=headers)
        assert status == 400, (data, body)
        assert fragment in json.loads(body)["error"]
    # an empty body is an empty object
    status, _, body = raw_request(ui_server, "POST", f"/api/tasks/{draft}/archive", data=b"", headers=headers)
    assert status == 200 and json.loads(body)["archived"] is True


def test_action_argument_validation(ui_server, source_id):
    draft = clone(ui_server, source_id)
    assert_error(ui_server.post(f"/api/tasks/{draft}/parameters", {}), 400, "'parameters'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/parameters", {"parameters": {}}), 400, "'parameters'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/parameters", {"parameters": {"lr": 1}}), 400, "'lr'",
                 "Section/name")
    assert_error(ui_server.post(f"/api/tasks/{draft}/parameters", {"parameters": {" Args/lr": 1}}), 400,
                 "' Args/lr'", "spaces")
    assert_error(ui_server.post(f"/api/tasks/{draft}/enqueue", {}), 400, "'queue'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/enqueue", {"queue": "  "}), 400, "'queue'")
    total = ok(ui_server, "/api/tasks?archived=1")["total"]
    assert_error(ui_server.post(f"/api/tasks/{draft}/clone", {"name": 5}), 400, "'name'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/clone", {"name": " "}), 400, "'name'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/clone", {"comment": {"a": 1}}), 400, "'comment'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/clone", {"comment": 5}), 400, "'comment'", "5")
    assert ok(ui_server, "/api/tasks?archived=1")["total"] == total
    assert detail(ui_server, draft)["status"] == "created"


# ---------------------------------------------------------------------------------- state rules
def test_clone(ui_server, source_id):
    source = detail(ui_server, source_id)
    draft = detail(ui_server, clone(ui_server, source_id))
    assert draft["status"] == "created" and draft["name"] == "clone source (Clone)"
    assert draft["parameters"] == source["parameters"]
    assert draft["configurations"] == source["configurations"]
    assert draft["project_name"] == source["project_name"] and draft["tags"] == source["tags"]
    assert draft["artifacts"] == [] and draft["last_metrics"] == {}
    assert ok(ui_server, f"/api/tasks/{draft['id']}/console")["lines"] == []
    named = detail(ui_server, clone(ui_server, source_id, name="  my copy  ", comment="from the UI"))
    assert named["name"] == "my copy" and named["comment"] == "from the UI"


def test_edit_parameters_draft_only(ui_server, source_id, ids):
    draft = clone(ui_server, source_id)
    status, body = ui_server.post(f"/api/tasks/{draft}/parameters", {"parameters": {"Args/lr": 0.5,
                                                                                    "Extra/note": "hi"}})
    assert status == 200 and body["parameters"]["Args/lr"] == "0.5"
    task = detail(ui_server, draft)
    assert {p["name"]: p["value"] for p in task["parameters"]["Args"]}["lr"] == "0.5"
    assert {p["name"]: p["value"] for p in task["parameters"]["Extra"]} == {"note": "hi"}
    # a completed task is read-only for other processes: the model's StateError, as a 409
    before = detail(ui_server, source_id)["parameters"]
    body = assert_error(ui_server.post(f"/api/tasks/{source_id}/parameters", {"parameters": {"Args/lr": 9}}), 409,
                        source_id, "'completed'", "only Draft")
    assert body["type"] == "StateError"
    assert detail(ui_server, source_id)["parameters"] == before


def test_enqueue_dequeue(ui_server, source_id):
    draft = clone(ui_server, source_id)
    status, body = ui_server.post(f"/api/tasks/{draft}/enqueue", {"queue": "ui-api-queue"})
    assert status == 200 and body["fields"]["status"] == "queued"
    task = detail(ui_server, draft)
    assert task["status"] == "queued" and task["queue"] == "ui-api-queue"
    assert {q_["name"]: q_["queued"] for q_ in ok(ui_server, "/api/queues")}["ui-api-queue"] == 1
    assert draft in [r["id"] for r in rows(ui_server, "status=queued")]
    # queued: not editable, not enqueueable again
    assert_error(ui_server.post(f"/api/tasks/{draft}/parameters", {"parameters": {"Args/lr": 1}}), 409, "'queued'")
    assert_error(ui_server.post(f"/api/tasks/{draft}/enqueue", {"queue": "ui-api-queue"}), 409, "'queued'")
    status, body = ui_server.post(f"/api/tasks/{draft}/dequeue", {})
    assert status == 200 and body["fields"]["status"] == "created"
    task = detail(ui_server, draft)
    assert task["status"] == "created" and task["queue"] is None
    assert {q_["name"]: q_["queued"] for q_ in ok(ui_server, "/api/queues")}["ui-api-queue"] == 0
    # dequeue of a Draft: created -> created is no transition
    assert_error(ui_server.post(f"/api/tasks/{draft}/dequeue", {}), 409, "'created'")


def test_default_queue(ui_server, source_id):
    draft = clone(ui_server, source_id)
    queued_before = {q_["name"]: q_["queued"] for q_ in ok(ui_server, "/api/queues")}.get("default", 0)
    assert ui_server.post(f"/api/tasks/{draft}/enqueue", {"queue": "default"})[0] == 200
    queues = {q_["name"]: q_["queued"] for q_ in ok(ui_server, "/api/queues")}
    assert queued_before == 0 and queues["default"] == 1
    assert ui_server.post(f"/api/tasks/{draft}/dequeue", {})[0] == 200
    assert {q_["name"]: q_["queued"] for q_ in ok(ui_server, "/api/queues")}["default"] == queued_before


def test_draft_publish_refused_abort_allowed(ui_server, source_id):
    draft = clone(ui_server, source_id)
    body = assert_error(ui_server.post(f"/api/tasks/{draft}/publish", {}), 409, "'created'", "'published'")
    assert body["type"] == "StateError"
    assert detail(ui_server, draft)["status"] == "created"
    # the state table lets a Draft go to stopped (created -> stopped)
    status, body = ui_server.post(f"/api/tasks/{draft}/abort", {})
    assert status == 200 and body["status"] == "stopped"
    task = detail(ui_server, draft)
    assert task["status"] == "stopped" and task["status_message"] == "aborted from the pipetrack UI"
    # an aborted task can be published, a second abort is refused (stopped -> stopped)
    assert_error(ui_server.post(f"/api/tasks/{draft}/abort", {}), 409, "'stopped'")
    assert ui_server.post(f"/api/tasks/{draft}/publish", {})[0] == 200
    assert detail(ui_server, draft)["status"] == "published"


def test_publish_then_read_only(ui_server, scratch):
    task_id = scratch("to publish")
    status, body = ui_server.post(f"/api/tasks/{task_id}/publish", {})
    assert status == 200 and body == {"id": task_id, "status": "published"}
    assert detail(ui_server, task_id)["status"] == "published"
    assert_error(ui_server.post(f"/api/tasks/{task_id}/parameters", {"parameters": {"Args/lr": 1}}), 409,
                 "published")
    assert_error(ui_server.post(f"/api/tasks/{task_id}/reset", {}), 409, "published")
    assert_error(ui_server.post(f"/api/tasks/{task_id}/publish", {}), 409, "published")
    assert_error(ui_server.post(f"/api/tasks/{task_id}/abort", {}), 409, "published")
    assert_error(ui_server.post(f"/api/tasks/{task_id}/enqueue", {"queue": "never-used"}), 409, "published")
    assert "never-used" not in [q["name"] for q in ok(ui_server, "/api/queues")]  # a refused enqueue lists no queue
    task = detail(ui_server, task_id)
    assert task["status"] == "published" and len(task["artifacts"]) == 2
    # a published task can still be cloned (the way to change it)
    assert detail(ui_server, clone(ui_server, task_id))["status"] == "created"
    # ... and deleted: Task.delete() refuses only a running task (as ClearML's SDK, which deletes with force)
    status, body = ui_server.post(f"/api/tasks/{task_id}/delete", {})
    assert status == 200 and body == {"id": task_id, "deleted": True}
    assert_error(ui_server.get(f"/api/tasks/{task_id}"), 404, task_id)


def test_reset_completed_task(ui_server, scratch):
    task_id = scratch("to reset")
    before = detail(ui_server, task_id)
    assert before["status"] == "completed" and before["artifacts"] and before["last_metrics"]
    status, body = ui_server.post(f"/api/tasks/{task_id}/reset", {})
    assert status == 200 and body == {"id": task_id, "status": "created"}
    after = detail(ui_server, task_id)
    assert after["status"] == "created" and after["started"] is None and after["completed"] is None
    assert after["artifacts"] == [] and after["last_metrics"] == {} and after["single_values"] == []
    assert ok(ui_server, f"/api/tasks/{task_id}/debug_samples") == []
    assert after["parameters"] == before["parameters"] and after["configurations"] == before["configurations"]
    assert ok(ui_server, f"/api/tasks/{task_id}/console") == {"lines": [], "last_seq": 0, "more": False}
    assert ok(ui_server, f"/api/tasks/{task_id}/scalars") == {}
    assert_error(ui_server.get(f"/api/tasks/{task_id}/artifacts/result"), 404, "'result'")
    # now a Draft: editable
    assert ui_server.post(f"/api/tasks/{task_id}/parameters", {"parameters": {"Args/lr": 0.2}})[0] == 200


def test_delete(ui_server, source_id):
    draft = clone(ui_server, source_id)
    assert draft in [r["id"] for r in rows(ui_server, "project=uix")]
    status, body = ui_server.post(f"/api/tasks/{draft}/delete", {})
    assert status == 200 and body == {"id": draft, "deleted": True}
    assert_error(ui_server.get(f"/api/tasks/{draft}"), 404, draft)
    assert draft not in [r["id"] for r in rows(ui_server, "archived=1")]
    assert_error(ui_server.post(f"/api/tasks/{draft}/delete", {}), 404, draft)


def test_abort_running_task(ui_server, filled_home, tmp_path):
    """A real script runs until aborted from the UI: its heartbeat sees the stop and the process ends."""
    script = tmp_path / "long.py"
    script.write_text(textwrap.dedent(LONG_SCRIPT))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=_env(filled_home["home"]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [proc.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("started "):  # after any notice ("pipetrack: ...")
            lines.append(proc.stdout.readline())
        match = re.search(r"^started (\w+)", lines[-1])
        assert match, "".join(lines) + proc.stdout.read()
        task_id = match.group(1)
        wait_for(lambda: detail(ui_server, task_id)["status"] == "in_progress" or proc.poll() is not None, 30, 0.1,
                 "the script's task to run")
        assert proc.poll() is None, proc.stdout.read()
        assert task_id in [r["id"] for r in rows(ui_server, "status=in_progress")]
        # a running task belongs to its process: no delete, reset or edit from the UI
        assert_error(ui_server.post(f"/api/tasks/{task_id}/delete", {}), 409, task_id, "running")
        assert_error(ui_server.post(f"/api/tasks/{task_id}/reset", {}), 409, task_id, "running")
        assert_error(ui_server.post(f"/api/tasks/{task_id}/parameters", {"parameters": {"Args/x": 1}}), 409,
                     "'in_progress'")
        assert_error(ui_server.post(f"/api/tasks/{task_id}/publish", {}), 409, "'in_progress'")
        assert detail(ui_server, task_id)["status"] == "in_progress"
        status, body = ui_server.post(f"/api/tasks/{task_id}/abort", {})
        assert status == 200 and body == {"id": task_id, "status": "stopped"}
        proc.wait(timeout=15)
        output = proc.stdout.read()
        assert "never aborted" not in output
        task = detail(ui_server, task_id)
        assert task["status"] == "stopped", (task["status"], task["status_message"], output)
        assert task["status_message"] == "aborted from the pipetrack UI"
        assert task["completed"] is not None and task["last_iteration"] > 0
        # stopped now: deletable
        assert ui_server.post(f"/api/tasks/{task_id}/delete", {})[0] == 200
    finally:
        stop_process(proc)


# ---------------------------------------------------------------------------------- server CLI
def _cli(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipetrack", "ui", *args], env=_env(tmp_path / "home"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout)


def test_cli_refuses_remote_host_without_flag(tmp_path):
    proc = _cli(tmp_path, "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode != 0
    assert "'0.0.0.0'" in proc.stderr and "--allow-remote" in proc.stderr
    assert "http://" not in proc.stdout


def test_cli_bad_port(tmp_path):
    proc = _cli(tmp_path, "--port", "70000")
    assert proc.returncode != 0
    assert "port must be an integer from 0 to 65535" in proc.stderr and "70000" in proc.stderr
    assert not (tmp_path / "home" / "pipetrack.db").exists()  # refused before touching the store
    proc = _cli(tmp_path, "--port", "abc")
    assert proc.returncode != 0 and "--port" in proc.stderr and "'abc'" in proc.stderr


def test_cli_allow_remote_warns_and_serves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "pipetrack", "ui", "--host", "0.0.0.0", "--port", "0",
                             "--allow-remote", "--allowed-host", "box.example"], env=_env(tmp_path / "home"),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://0\.0\.0\.0:(\d+)/\?token=(\S+)", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None else "")
        port, auth = int(match.group(1)), {"Authorization": f"token {match.group(2)}"}
        with pytest.raises(urllib.error.HTTPError) as anonymous:  # reachable from afar: the token is required
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/projects", timeout=10)
        assert anonymous.value.code == 401
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/projects", headers=auth)
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read()) == []
        # this machine's name and the --allowed-host name are served; any other name is not (DNS rebinding)
        for name in (socket.gethostname(), "box.example"):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/session",
                                         headers={"Host": f"{name}:{port}", **auth})
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert json.loads(resp.read())["store"] == str((tmp_path / "home" / "pipetrack.db").resolve())
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/session", headers={"Host": "rebound.evil:1", **auth})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)
        assert refused.value.code == 400
    finally:
        stop_process(proc)
    stderr = proc.stderr.read()
    assert "WARNING" in stderr and "0.0.0.0" in stderr


# ---------------------------------------------------------------------------------- review fixes
NON_FINITE = """
import math
from pipetrack import Task
task = Task.init(project_name="uix/nan", task_name="diverged")
log = task.get_logger()
for i, v in enumerate([1.0, float("inf"), float("nan"), 0.5]):
    log.report_scalar("loss", "train", value=v, iteration=i)
log.report_single_value("best", float("nan"))
task.set_parameters({"Args/lr": 0.1, "Args/epochs": 3, "Args/amp": True, "Args/layers": [1, 2]})
print("TASK", task.id)
"""


def test_non_finite_values_answer_json_null(ui_server, filled_home, tmp_path):
    """A diverged loss (inf/NaN) must not break the task page: JSON has no NaN, so they are null."""
    out = run(filled_home, tmp_path, NON_FINITE)
    task_id = re.search(r"TASK (\w+)", out).group(1)
    status, body = ui_server.get(f"/api/tasks/{task_id}")
    assert status == 200, body
    status, graphs = ui_server.get(f"/api/tasks/{task_id}/scalars")
    assert status == 200 and graphs["loss"]["train"]["y"][0] == 1.0 and graphs["loss"]["train"]["y"][3] == 0.5
    assert None in graphs["loss"]["train"]["y"]


def test_edited_parameters_keep_their_type(ui_server, filled_home, tmp_path):
    source = re.search(r"TASK (\w+)", run(filled_home, tmp_path, NON_FINITE)).group(1)
    draft = clone(ui_server, source)
    status, body = ui_server.post(f"/api/tasks/{draft}/parameters",
                                  {"parameters": {"Args/lr": "0.05", "Args/epochs": "7", "Args/amp": "false",
                                                  "Args/layers": "[3, 4]"}})
    assert status == 200, body
    params = {p["name"]: p for p in detail(ui_server, draft)["parameters"]["Args"]}
    assert {k: (v["value"], v["type"]) for k, v in params.items()} == {
        "lr": ("0.05", "float"), "epochs": ("7", "int"), "amp": ("False", "bool"), "layers": ("[3, 4]", "list")}
    for key, bad, kind in (("Args/lr", "fast", "float"), ("Args/epochs", "7.5x", "int"), ("Args/amp", "maybe", "bool"),
                           ("Args/layers", "[1,", "list")):
        assert_error(ui_server.post(f"/api/tasks/{draft}/parameters", {"parameters": {key: bad}}), 400,
                     repr(key), repr(bad), kind)
    assert {p["name"]: p["value"] for p in detail(ui_server, draft)["parameters"]["Args"]}["lr"] == "0.05"


def test_allowed_actions_and_status_endpoint(ui_server, source_id):
    completed = ok(ui_server, f"/api/tasks/{source_id}/status")
    assert completed["status"] == "completed" and "progress" in completed and "duration" in completed
    assert completed["allowed_actions"] == detail(ui_server, source_id)["allowed_actions"]
    assert set(completed["allowed_actions"]) == {"clone", "archive", "publish", "reset", "delete"}
    draft = clone(ui_server, source_id)
    assert set(ok(ui_server, f"/api/tasks/{draft}/status")["allowed_actions"]) == {
        "clone", "archive", "parameters", "enqueue", "abort", "delete"}
    ui_server.post(f"/api/tasks/{draft}/enqueue", {"queue": "allowed-q"})
    assert set(ok(ui_server, f"/api/tasks/{draft}/status")["allowed_actions"]) == {
        "clone", "archive", "dequeue", "abort", "delete"}
    assert_error(ui_server.get("/api/tasks/nope/status"), 404, "'nope'")


def test_model_download(ui_server, filled_home, tmp_path):
    out = run(filled_home, tmp_path, """
from pathlib import Path
from pipetrack import Task, OutputModel
task = Task.init(project_name="uix/models", task_name="with model")
Path("weights.bin").write_bytes(b"\\x00weights" * 10)
model = OutputModel(task=task, name="net")
model.update_weights(weights_filename="weights.bin")
print("TASK", task.id)
""")
    task_id = re.search(r"TASK (\w+)", out).group(1)
    models = detail(ui_server, task_id)["models"]
    assert len(models) == 1
    status, content = ui_server.get(f"/api/tasks/{task_id}/models/{models[0]['id']}")
    assert status == 200 and content == b"\x00weights" * 10
    assert_error(ui_server.get(f"/api/tasks/{task_id}/models/nope"), 404, "'nope'")


def test_security_headers_and_non_ascii_csrf(ui_server, source_id):
    port = urllib.parse.urlparse(ui_server.url).port
    for path in ("/", "/api/projects", "/static/app.js"):
        status, headers, _ = raw_request(ui_server, "GET", path, headers={"Host": f"127.0.0.1:{port}"})
        assert status == 200
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    status, body = ui_server.post(f"/api/tasks/{source_id}/clone", {}, token="\u00e9t\u00e9")
    assert status == 403 and "CSRF" in body["error"]


def test_compare_rejects_duplicates_and_reports_metrics(ui_server, ids):
    assert_error(ui_server.get(f"/api/compare?ids={ids['run a']},{ids['run a']}"), 400, "distinct")
    body = ok(ui_server, f"/api/compare?ids={ids['run a']},{ids['run b']}")
    loss = next(m for m in body["metrics"] if (m["title"], m["series"]) == ("loss", "train"))
    assert loss["differs"] is True and loss["values"][1]["last"] == pytest.approx(3 * loss["values"][0]["last"])


def test_compare_tells_missing_values_from_differing_ones(ui_server, ids, source_id):
    """A value one task lacks is "missing", not "differs"; "differs" compares the tasks having it."""
    body = ok(ui_server, f"/api/compare?ids={ids['run a']},{source_id}")
    params = {p["name"]: p for p in body["parameters"]}
    assert (params["Args/lr"]["differs"], params["Args/lr"]["missing"]) == (True, False)  # 0.1 vs 0.01
    assert (params["Args/epochs"]["differs"], params["Args/epochs"]["missing"]) == (True, False)
    assert params["Args/project"] == {"name": "Args/project", "values": [None, "uix/actions"], "differs": False,
                                      "missing": True}
    metrics = {(m["title"], m["series"]): m for m in body["metrics"]}
    assert (metrics["loss", "train"]["differs"], metrics["loss", "train"]["missing"]) == (True, False)
    for key in (("loss", "val"), ("accuracy", "val")):
        assert (metrics[key]["differs"], metrics[key]["missing"]) == (False, True)
        assert metrics[key]["values"][1] is None
    same = ok(ui_server, f"/api/compare?ids={ids['run a']},{ids['run b']}")
    assert not any(p["missing"] for p in same["parameters"] + same["metrics"])


# ---------------------------------------------------------------------------------- extra columns
def cols(*columns) -> str:
    return "".join(f"&col={q(json.dumps(list(c)))}" for c in columns)


def test_task_columns_offered_per_project(ui_server, ids):
    training = ok(ui_server, "/api/columns?project=ui/training")
    assert training["metrics"] == [{"title": "accuracy", "series": "val"}, {"title": "loss", "series": "train"},
                                   {"title": "loss", "series": "val"}]
    assert training["parameters"] == [{"section": "Args", "name": n} for n in ("epochs", "lr", "name")]
    pipelines = ok(ui_server, "/api/columns?project=ui/pipelines")
    assert {"section": "Args", "name": "lr"} not in pipelines["parameters"] and pipelines["parameters"]
    assert {"title": "loss", "series": "train"} not in pipelines["metrics"]
    everything = ok(ui_server, "/api/columns")
    assert all(m in everything["metrics"] for m in training["metrics"])
    assert all(p in everything["parameters"] for p in training["parameters"] + pipelines["parameters"])
    assert ok(ui_server, "/api/columns?project=no/such/project") == {"metrics": [], "parameters": []}


def test_tasks_extra_columns_values_and_sort(ui_server, ids):
    extra = cols(["metric", "loss", "train"], ["param", "Args", "lr"], ["param", "Args", "nope"])
    body = ok(ui_server, f"/api/tasks?project=ui/training&sort=name{extra}")
    values = {r["name"]: r["columns"] for r in body["rows"]}
    assert values["run a"][0] == pytest.approx(0.2) and values["run a"][1:] == ["0.1", None]
    assert values["run b"][0] == pytest.approx(0.6) and values["run b"][1:] == ["0.3", None]
    assert values["broken run"] == [None, None, None]
    assert "columns" not in ok(ui_server, "/api/tasks?project=ui/training")["rows"][0]
    for sort, expected in (("col:0", ["run a", "run b", "broken run"]), ("-col:0", ["run b", "run a", "broken run"]),
                           ("col:1", ["run a", "run b", "broken run"]), ("-col:1", ["run b", "run a", "broken run"])):
        got = [r["name"] for r in ok(ui_server, f"/api/tasks?project=ui/training&sort={sort}{extra}")["rows"]]
        assert got == expected, sort  # a task without the value comes last either way
    by_id = [r["id"] for r in rows(ui_server, "project=ui&sort=id")]
    assert by_id == sorted(by_id)


def test_tasks_extra_column_numbers_sort_by_value(ui_server, filled_home, tmp_path):
    for value in ("9", "10", "2.5", "abc"):
        run(filled_home, tmp_path, f"""
from pipetrack import Task
task = Task.init(project_name="uix/columns", task_name="width {value}")
task.connect({{"width": {value!r}}}, name="Args")
""")
    extra = cols(["param", "Args", "width"])
    got = [r["columns"][0] for r in ok(ui_server, f"/api/tasks?project=uix/columns&sort=col:0{extra}")["rows"]]
    assert got == ["2.5", "9", "10", "abc"]  # numbers by value, then other text


@pytest.mark.parametrize("query, fragments", [
    ("col=nope", ["JSON array", "'nope'"]),
    ("col=" + q('["other", "a", "b"]'), ["JSON array", "other"]),
    ("col=" + q('["metric", "loss"]'), ["JSON array"]),
    ("col=" + q('["metric", "loss", 3]'), ["JSON array"]),
    ("col=" + q('["metric", "\\ud800", "x"]'), ["JSON array"]),
    ("col=" + q("[" * 3000), ["JSON array"]),  # deeper than json.loads recurses
    ("&".join(["col=" + q('["param", "Args", "lr"]')] * 21), ["at most 20", "got 21"]),
    ("sort=col:0", ["sort by extra column", "0 extra columns"]),
    ("sort=col:&col=" + q('["param", "Args", "lr"]'), ["sort by extra column"]),
    ("sort=-col:1&col=" + q('["param", "Args", "lr"]'), ["sort column index", "between 0 and 0", "'1'"]),
    ("sort=col:x&col=" + q('["param", "Args", "lr"]'), ["sort column index", "'x'"]),
    ("sort=--col:0&col=" + q('["param", "Args", "lr"]'), ["sort column", "'--col:0'", "col:N"]),
])
def test_tasks_bad_extra_columns(ui_server, query, fragments):
    body = assert_error(ui_server.get(f"/api/tasks?{query}"), 400, *fragments)
    assert body["type"] == "ValidationError"


# ---------------------------------------------------------------------------------- login token
def _http(server, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """(status, headers, body) without following redirects and without the login header."""
    import http.client
    parts = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_requests_without_the_token_are_refused(ui_server, ids, source_id):
    """UI reads, actions, the page, static files and downloads all need the login token."""
    draft = clone(ui_server, source_id)
    csrf = {"X-CSRF-Token": ui_server.token, "Content-Type": "application/json"}
    for auth in ({}, {"Authorization": "token wrong-token"}, {"Authorization": f"Bearer {ui_server.auth}"},
                 {"Authorization": "token "}, {"Cookie": f"pipetrack-ui-{urllib.parse.urlsplit(ui_server.url).port}=nope"}):
        for path in ("/api/projects", f"/api/tasks/{ids['run a']}", f"/api/tasks/{ids['run a']}/artifacts/metrics"):
            status, headers, body = _http(ui_server, "GET", path, headers=auth)
            assert status == 401, (auth, path, status)
            assert json.loads(body)["type"] == "AuthError" and "pipetrack ui" in json.loads(body)["error"]
        status, _, body = _http(ui_server, "POST", f"/api/tasks/{draft}/delete", body=b"{}", headers={**csrf, **auth})
        assert status == 401 and json.loads(body)["type"] == "AuthError"
        status, headers, body = _http(ui_server, "GET", "/", headers=auth)
        assert status == 401 and "text/html" in headers["content-type"]
        assert b"pipetrack ui" in body and ui_server.token.encode() not in body  # no CSRF token leaks
        assert headers["x-frame-options"] == "DENY"
        assert _http(ui_server, "GET", "/static/app.js", headers=auth)[0] == 401
        assert _http(ui_server, "GET", "/static/vendor/plotly.min.js", headers=auth)[0] == 401
    status, _, _ = _http(ui_server, "GET", "/?token=wrong-token")
    assert status == 401
    assert detail(ui_server, draft)["status"] == "created"  # the refused delete did nothing


def test_token_url_sets_a_strict_httponly_cookie_and_redirects(ui_server, source_id):
    status, headers, _ = _http(ui_server, "GET", f"/?token={ui_server.auth}")
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
    jar = cookie.split(";", 1)[0]
    assert jar.endswith("=" + ui_server.auth)
    # other query parameters survive the redirect
    status, headers, _ = _http(ui_server, "GET", f"/api/tasks?token={ui_server.auth}&page_size=2")
    assert status == 303 and headers["location"] == "/api/tasks?page_size=2"
    # the cookie alone authenticates reads, the page and static files
    assert _http(ui_server, "GET", "/api/projects", headers={"Cookie": jar})[0] == 200
    status, _, page = _http(ui_server, "GET", "/", headers={"Cookie": jar})
    assert status == 200 and ui_server.token.encode() in page
    assert _http(ui_server, "GET", "/static/app.js", headers={"Cookie": jar})[0] == 200
    # actions with the cookie also need the CSRF header and this server's own Origin
    draft = clone(ui_server, source_id)
    own = ui_server.url.rstrip("/")
    base = {"Cookie": jar, "X-CSRF-Token": ui_server.token, "Content-Type": "application/json"}
    for origin, expected in ((None, 403), ("http://evil.example", 403), ("null", 403), (own, 200)):
        headers = {**base, **({"Origin": origin} if origin else {})}
        status, _, body = _http(ui_server, "POST", f"/api/tasks/{draft}/archive", headers=headers, body=b"{}")
        assert status == expected, (origin, status, body)
        if expected == 403:
            assert json.loads(body)["type"] == "OriginError"
    # with the Authorization header a script may omit Origin, but a foreign Origin is still refused
    assert ui_server.post(f"/api/tasks/{draft}/archive", {"archive": False})[0] == 200
    status, body = ui_server.request("POST", f"/api/tasks/{draft}/archive", {}, headers={"Origin": "http://evil.example"})
    assert status == 403 and body["type"] == "OriginError"


def _start(home: Path, *args: str):
    from ui_helpers import start_server
    return start_server(home, *args)


def test_token_file_is_private_and_reused_and_overridable(tmp_path):
    from ui_helpers import stop_server
    home = tmp_path / "home"
    server = _start(home)
    try:
        token_file = home / "ui-token"
        assert (token_file.stat().st_mode & 0o777) == 0o600
        assert token_file.read_text().strip() == server.auth and len(server.auth) >= 32
        assert ok(server, "/api/projects") == []
    finally:
        stop_server(server)
    again = _start(home)
    try:
        assert again.auth == server.auth  # reused, not replaced
    finally:
        stop_server(again)
    chosen = _start(home, "--token", "my-own-secret-token")
    try:
        assert chosen.auth == "my-own-secret-token"
        assert token_file.read_text().strip() == server.auth  # --token does not overwrite the file
        assert _http(chosen, "GET", "/api/projects", headers={"Authorization": f"token {server.auth}"})[0] == 401
    finally:
        stop_server(chosen)


def test_no_auth_is_loopback_only_and_warns(tmp_path):
    proc = _cli(tmp_path, "--no-auth", "--allow-remote", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode != 0 and "--no-auth" in proc.stderr and "--allow-remote" in proc.stderr
    proc = _cli(tmp_path, "--no-auth", "--allow-remote", "--port", "0")
    assert proc.returncode != 0 and "--no-auth" in proc.stderr
    proc = subprocess.Popen([sys.executable, "-m", "pipetrack", "ui", "--no-auth", "--port", "0"],
                            env=_env(tmp_path / "home"), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/ ", line)
        assert match and "token" not in line, line
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/api/projects", timeout=10) as resp:
            assert resp.status == 200
    finally:
        stop_process(proc)
    assert "WARNING" in proc.stderr.read()
    assert not (tmp_path / "home" / "ui-token").exists()


# ---------------------------------------------------------------------------------- hostile input
def test_hostile_json_bodies_answer_400(ui_server, source_id):
    draft = clone(ui_server, source_id)
    before = detail(ui_server, draft)
    headers = {"X-CSRF-Token": ui_server.token, "Content-Type": "application/json"}
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"parameters": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001
    cases = ((deep, "nested deeper"), (deep_object, "nested deeper"),
             (b'{"parameters": {"Args/lr": ' + b"9" * 400 + b"}}", "integer of 400 digits"),
             (b'{"parameters": {"Args/lr": ' + b"9" * 5000 + b"}}", "integer of 5000 digits"),
             (b'{"parameters": {"Args/lr": 1e400}}', "out of range"),
             (b'{"parameters": {"Args/lr": NaN}}', "NaN"),
             (b'{"queue": "\xff\xfe"}', "UTF-8"))
    for data, fragment in cases:
        for action in ("parameters", "enqueue"):
            status, _, body = raw_request(ui_server, "POST", f"/api/tasks/{draft}/{action}", data=data,
                                          headers=headers)
            assert status == 400, (data[:40], status, body[:200])
            assert fragment in json.loads(body)["error"], (fragment, body[:200])
    # a string holding brackets is not nesting
    status, body = ui_server.post(f"/api/tasks/{draft}/clone", {"name": "[" * 1000 + "{" * 1000})
    assert status == 200, body
    assert detail(ui_server, draft)["parameters"] == before["parameters"]


def test_oversized_numbers_in_paths_and_queries_answer_400(ui_server, ids):
    task_id = ids["run a"]
    huge = str(10 ** 400)
    for seq in (huge, "9" * 5000, str(2 ** 63), "-1", "abc"):
        assert_error(ui_server.get(f"/api/tasks/{task_id}/debug_samples/{seq}"), 400, "seq")
    assert_error(ui_server.get(f"/api/tasks/{task_id}/debug_samples/{2 ** 63 - 1}"), 404, "no debug sample")
    for query in (f"tail={huge}", f"after={huge}", f"before={huge}", f"tail={'9' * 5000}", f"after=-{huge}"):
        status, body = ui_server.get(f"/api/tasks/{task_id}/console?{query}")
        assert status == 400, (query, status, body)
    for query in (f"page={huge}", f"page_size={huge}", f"page={'9' * 5000}"):
        assert ui_server.get(f"/api/tasks?{query}")[0] == 400, query
        assert ui_server.get(f"/api/pipelines?{query}")[0] == 400, query
    assert ui_server.get(f"/api/tasks/{task_id}/scalars?max_points={huge}")[0] == 400


def test_request_bodies_are_capped_at_one_mib(ui_server, source_id):
    import http.client
    draft = clone(ui_server, source_id)
    headers = {"X-CSRF-Token": ui_server.token, "Content-Type": "application/json"}
    parts = urllib.parse.urlsplit(ui_server.url)
    # a declared Content-Length over the cap is answered before a byte of the body is read
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("POST", f"/api/tasks/{draft}/clone")
        for name, value in {**headers, **ui_server.auth_headers(), "Content-Length": str(1024 * 1024 + 1)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 413 and json.loads(resp.read())["type"] == "BodyTooLarge"
    finally:
        conn.close()
    big = json.dumps({"name": "x" * (1024 * 1024)}).encode()
    try:
        status, _, body = raw_request(ui_server, "POST", f"/api/tasks/{draft}/clone", data=big, headers=headers)
        assert status == 413 and json.loads(body)["type"] == "BodyTooLarge"
    except urllib.error.URLError:
        pass  # refused before the client finished sending (a broken pipe): refused all the same
    # just under the cap is read (and refused for what it says, not its size)
    fits = json.dumps({"name": "x" * (1024 * 1024 - 100)}).encode()
    status, _, body = raw_request(ui_server, "POST", f"/api/tasks/{draft}/clone", data=fits, headers=headers)
    assert status in (200, 400), (status, body[:200])
    # a chunked body (no Content-Length) is cut off while it is read
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        chunks = (b"[" + b"1," * 32768 for _ in range(64))  # 4 MiB, never sent whole
        conn.request("POST", f"/api/tasks/{draft}/archive", body=chunks, encode_chunked=True,
                     headers={**headers, **ui_server.auth_headers(), "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        assert resp.status == 413 and json.loads(resp.read())["type"] == "BodyTooLarge"
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close the connection before the client finished sending: also refused
    finally:
        conn.close()
    assert detail(ui_server, draft)["archived"] is False


# ---------------------------------------------------------------------------------- owned files only
FOREIGN_FILES = r"""
import os
from pathlib import Path
from pipetrack import Task, config
from pipetrack.storage import local_path

task = Task.init(project_name="uix/foreign", task_name="foreign files")
log = task.get_logger()
log.report_image("foreign", "passwd", iteration=0, url="file:///etc/passwd")
log.report_image("foreign", "plain", iteration=0, url="/etc/passwd")
log.report_image("foreign", "web", iteration=0, url="https://example.com/picture.png")
log.report_image("foreign", "bucket", iteration=0, url="s3://someone-else/picture.png")
folder = Path(local_path(config.default_output_uri()))
folder.mkdir(parents=True, exist_ok=True)
link = folder / f"escape-{task.id}.png"
os.symlink("/etc/passwd", link)
log.report_image("foreign", "symlink", iteration=0, url=link.as_uri())
dotdot = f"{config.default_output_uri()}/../../../../../../../../etc/passwd"
log.report_image("foreign", "dotdot", iteration=0, url=dotdot)
Path("model.bin").write_bytes(b"weights")
task.upload_artifact("kept", {"a": 1})
print("TASK", task.id)
"""


def test_downloads_serve_only_pipetrack_files(ui_server, filled_home, tmp_path):
    task_id = re.search(r"TASK (\w+)", run(filled_home, tmp_path, FOREIGN_FILES)).group(1)
    samples = {s["variant"]: s for s in ok(ui_server, f"/api/tasks/{task_id}/debug_samples")}
    for variant in ("passwd", "plain", "symlink", "dotdot"):
        status, headers, body = raw_request(ui_server, "GET", f"/api/tasks/{task_id}/debug_samples/{samples[variant]['seq']}")
        assert status == 403, (variant, status, body[:100])
        assert b"root:" not in body and json.loads(body)["type"] == "ForbiddenFile"
    for variant, link in (("web", "https://example.com/picture.png"), ("bucket", "s3://someone-else/picture.png")):
        status, body = ui_server.get(f"/api/tasks/{task_id}/debug_samples/{samples[variant]['seq']}")
        assert status == 409 and body["type"] == "ExternalLink" and body["url"] == link, body
    assert ui_server.get(f"/api/tasks/{task_id}/artifacts/kept")[0] == 200  # its own files still are


def test_a_tampered_artifact_is_refused_not_served(ui_server, filled_home, tmp_path):
    source = run_scratch(filled_home["home"], tmp_path, "--name", "tampered", "--project", "uix/tamper")
    [artifact] = [a for a in detail(ui_server, source)["artifacts"] if a["name"] == "data file"]
    status, _, good = raw_request(ui_server, "GET", f"/api/tasks/{source}/artifacts/{q('data file')}")
    assert status == 200 and hashlib.sha256(good).hexdigest() == artifact["hash"]
    from pipetrack.storage import local_path
    path = Path(local_path(artifact["uri"]))
    path.write_bytes(b"a,b\n6,6\n")  # same size, other bytes
    status, _, body = raw_request(ui_server, "GET", f"/api/tasks/{source}/artifacts/{q('data file')}")
    assert status == 409, (status, body)
    error = json.loads(body)
    assert error["type"] == "IntegrityError" and "data file" in error["error"] and source in error["error"]
    assert b"6,6" not in body
