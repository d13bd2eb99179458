"""The terminal side of pipelines: the progress line while a run goes on (drawn only on a real
terminal, here a pseudo-terminal), ``pipetrack pipelines list/show`` and ``pipetrack tasks compare``.

Pipelines and experiments run as real scripts in subprocesses against the test's own
PIPETRACK_HOME; the CLI runs as ``python -m pipetrack`` the way a user types it.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline_helpers import PRELUDE

from processes import ROOT

# prepare -> (train, evaluate); train -> publish. argv: MODE [fail]
PIPELINE = '''
FAIL = len(sys.argv) > 2 and sys.argv[2] == "fail"


def prepare():
    return 1


def train(x):
    import time
    time.sleep(0.6)
    if FAIL:
        raise ValueError("bad learning rate")
    return x + 1


def evaluate(x):
    return x * 10


def publish(x):
    return x


pipe = PipelineController(name="terminal-demo", project="terminal", version="1.2.0")
pipe.add_function_step("prepare", prepare, function_return=["r"])
pipe.add_function_step("train", train, function_kwargs={"x": "${prepare.r}"}, function_return=["r"])
pipe.add_function_step("evaluate", evaluate, function_kwargs={"x": "${prepare.r}"}, function_return=["r"])
pipe.add_function_step("publish", publish, function_kwargs={"x": "${train.r}"}, function_return=["r"])
print("hello from the controller", flush=True)
start(pipe)
report(id=pipe.id, step_ids={name: node.executed for name, node in pipe.get_pipeline_dag().items()},
       statuses={name: node.status for name, node in pipe.get_pipeline_dag().items()})
'''

EXPERIMENT = '''
import sys
from pipetrack import Task
task = Task.init(project_name="compare", task_name="exp-" + sys.argv[1])
params = task.connect({"lr": float(sys.argv[1]), "epochs": 3})
for i in range(3):
    task.get_logger().report_scalar("loss", "train", params["lr"] / (i + 1), i)
task.get_logger().report_scalar("acc", "val", 0.5, 0)
print("TASK_ID", task.id)
'''


def run_in_pty(script: Path, *args: str, env: dict | None = None, timeout: float = 120) -> tuple[int, str]:
    """Run ``script`` with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    return run_argv_in_pty([sys.executable, str(script), *args], cwd=script.parent, env=env, timeout=timeout)


def run_argv_in_pty(argv: list[str], cwd: Path | None = None, env: dict | None = None,
                    timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    # a terminal as users have it, whatever the environment running the tests says
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "", "TERM": "xterm",
                "PIPETRACK_PROGRESS": "1", "NO_COLOR": "", **(env or {})}
    proc = subprocess.Popen(argv, cwd=cwd, env=full_env,
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                proc.kill()
                raise AssertionError(f"{argv} did not finish in {timeout}s; output so far:\n"
                                     + b"".join(chunks).decode(errors="replace"))
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def write_pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "terminal_pipeline.py"
    path.write_text(PRELUDE + textwrap.dedent(PIPELINE))
    return path


def result_of(output: str) -> dict:
    match = re.search(r"^RESULT (\{.*\})\r?$", output, re.M)
    assert match, f"no RESULT line in:\n{output}"
    return json.loads(match.group(1))


def pipetrack_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m pipetrack ARGS`` against this test's store (PIPETRACK_HOME is set by the autouse fixture)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pipetrack", *args], env=full_env, capture_output=True, text=True,
                          timeout=60)


# ---------------------------------------------------------------------------------------- progress
def test_progress_line_is_drawn_in_a_terminal_and_not_recorded(tmp_path, pipetrack_home, markers_file):
    code, out = run_in_pty(write_pipeline(tmp_path), "local", env={"PT_MARKERS": str(markers_file)})
    assert code == 0, out
    result = result_of(out)
    assert set(result["statuses"].values()) == {"completed"}
    # redrawn in place: carriage return + clear-line before each state
    assert "\r\x1b[2K[" in out
    # a state while train (sleeping 0.6 s in its own process) was running
    assert re.search(r"\[#*\.*\] [0-3]/4 steps  running: [a-z, ]*train", out), out
    # the final state, then the line is closed before the script prints on
    final = re.search(r"\r\x1b\[2K\[#{20}\] 4/4 steps\r?\n", out)
    assert final, out
    assert out.index("RESULT") > final.end() - 1
    assert "failed:" not in out
    # the pipeline task records its console, but not the progress line (written to sys.__stdout__)
    from pipetrack import Task
    console = "\n".join(Task.get_task(task_id=result["id"]).get_reported_console_output(number_of_reports=100))
    assert "hello from the controller" in console
    assert "/4 steps" not in console and "\x1b" not in console


def test_progress_line_names_a_failed_step(tmp_path, pipetrack_home, markers_file):
    code, out = run_in_pty(write_pipeline(tmp_path), "local", "fail", env={"PT_MARKERS": str(markers_file)})
    assert code == 1, out  # the pipeline failed: the script exits 1 (exit_status.py)
    assert result_of(out)["statuses"] == {"prepare": "completed", "train": "failed", "evaluate": "completed",
                                          "publish": "skipped"}
    assert re.search(r"\[#{20}\] 4/4 steps  failed: train\r?\n", out), out


def test_no_progress_line_when_piped_or_disabled(tmp_path, pipeline_script, markers_file):
    piped = pipeline_script(PIPELINE, "inline")
    assert set(piped.results["statuses"].values()) == {"completed"}
    assert "/4 steps" not in piped.stdout and "\x1b" not in piped.stdout
    assert "/4 steps" not in piped.stderr and "\x1b" not in piped.stderr
    code, out = run_in_pty(write_pipeline(tmp_path), "inline",
                           env={"PT_MARKERS": str(markers_file), "PIPETRACK_PROGRESS": "0"})
    assert code == 0, out
    assert set(result_of(out)["statuses"].values()) == {"completed"}
    assert "hello from the controller" in out
    assert "/4 steps" not in out and "\x1b[2K" not in out


CHATTY = '''
def chatty(n):
    import sys, time
    for i in range(4):
        print(f"step {n} says {i}", flush=True)
        time.sleep(0.15)
    sys.stdout.write(f"step {n} half")  # a part line, flushed (as progress bars do), then ended
    sys.stdout.flush()
    print(" done", flush=True)
    return n


pipe = PipelineController(name="chatty", project="terminal")
for n in range(3):
    pipe.add_function_step(f"chatty_{n}", chatty, function_kwargs={"n": n}, function_return=["r"])
start(pipe)
print("controller says done", flush=True)
'''


def terminal_lines(output: str) -> list[str]:
    """The lines a terminal shows for ``output``: clear-line (``\\x1b[2K``) erases what was on its line
    (then ``\\r`` or ``\\x1b[G`` returns to its start)."""
    return [line.split("\x1b[2K")[-1].removeprefix("\x1b[G").strip("\r") for line in output.split("\n")]


def test_step_output_never_lands_on_the_progress_line(tmp_path, pipetrack_home, markers_file):
    """Steps in their own processes (local) and the controller print while the bar is drawn."""
    script = tmp_path / "chatty.py"
    script.write_text(PRELUDE + textwrap.dedent(CHATTY))
    code, out = run_in_pty(script, "local", env={"PT_MARKERS": str(markers_file)})
    assert code == 0, out
    lines = terminal_lines(out)
    said = [line for line in lines if " says " in line or " half" in line]
    assert len(said) == 16, lines  # 3 steps x 5 lines + the controller's
    assert all(re.fullmatch(r"step \d says \d|step \d half done|controller says done", line) for line in said), said
    assert re.search(r"\r\x1b\[2K\[#*\.*\] [0-2]/3 steps  running", out), out  # drawn while they ran
    assert "[####################] 3/3 steps" in lines


def test_task_init_and_pipeline_runs_say_what_happened(run_script, pipeline_script):
    """Task.init prints one line with id and UI URL; a run ends with a summary; a cached step says so."""
    init = run_script("from pipetrack import Task\nt = Task.init(project_name='say', task_name='hello')\n"
                      "print('ID', t.id)\n")
    task_id = init.stdout.split()[-1]
    assert f"pipetrack: task 'hello' in project 'say', id {task_id}: http://127.0.0.1:8080/#/task/{task_id}" \
        in init.stderr.splitlines()
    assert "pipetrack:" not in init.stdout  # notices never mix into what a pipe reads from stdout
    quiet = run_script("from pipetrack import Task\nTask.init(project_name='say', task_name='quiet')\n",
                       env={"PIPETRACK_QUIET": "1"})
    assert "pipetrack:" not in quiet.stderr

    cached_pipeline = PIPELINE.replace('add_function_step("prepare", prepare,',
                                       'add_function_step("prepare", prepare, cache_executed_step=True,')
    first = pipeline_script(cached_pipeline, "inline")
    summary = re.compile(r"^pipetrack: pipeline 'terminal-demo(?: #\d)?' (\w+) in \d+\.\ds: (.*); "
                         r"http://127\.0\.0\.1:8080/#/pipeline/([0-9a-f]{32})$", re.M)
    outcome, counts, run_id = summary.search(first.stderr).groups()
    assert (outcome, counts, run_id) == ("completed", "4 run, 0 cached, 0 failed, 0 skipped", first.results["id"])
    assert "cached" not in first.stderr.replace("0 cached", "")
    second = pipeline_script(cached_pipeline, "inline")
    assert summary.search(second.stderr).group(2) == "3 run, 1 cached, 0 failed, 0 skipped"
    prepare_task = first.results["step_ids"]["prepare"]
    assert f"pipetrack: step 'prepare' cached: reusing the outputs of task {prepare_task}" in second.stderr
    failed = pipeline_script(cached_pipeline, "inline", "fail")
    assert summary.search(failed.stderr).groups()[:2] == ("failed", "1 run, 1 cached, 1 failed, 1 skipped")


def _read_pty_until(master: int, suffix: str, timeout: float = 10.0) -> str:
    """What was written to the pty so far, read until it ends with ``suffix`` (or ``timeout``)."""
    data = ""
    deadline = time.monotonic() + timeout
    while not data.endswith(suffix) and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            data += os.read(master, 65536).decode()
    return data


def test_progress_rules_on_a_real_terminal(monkeypatch):
    """Drawn on a TTY, throttled, only on change; never in a task's process or with PIPETRACK_PROGRESS=0."""
    from pipetrack.pipelines.progress import TerminalProgress, render_progress
    for var in ("PIPETRACK_PROGRESS", "PIPETRACK_TASK_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    try:
        nodes = {"a": SimpleNamespace(status="completed"), "b": SimpleNamespace(status="running"),
                 "c": SimpleNamespace(status="pending")}
        assert render_progress(nodes) == "[######..............] 1/3 steps  running: b"
        monkeypatch.setenv("PIPETRACK_TASK_ID", "0" * 32)  # a step (or agent-run task) process
        assert not TerminalProgress(stream).enabled
        monkeypatch.delenv("PIPETRACK_TASK_ID")
        monkeypatch.setenv("PIPETRACK_PROGRESS", "0")
        assert not TerminalProgress(stream).enabled
        monkeypatch.delenv("PIPETRACK_PROGRESS")
        with open(os.devnull, "w") as not_a_tty:
            assert not TerminalProgress(not_a_tty).enabled

        progress = TerminalProgress(stream, min_interval=60.0)
        assert progress.enabled
        progress.update(nodes)
        nodes["b"].status = "completed"
        progress.update(nodes)  # changed, but within min_interval: not drawn
        progress.update(nodes, force=True)
        progress.update(nodes, force=True)  # unchanged: not drawn again
        progress.close(nodes)
        progress.update(nodes, force=True)  # closed: nothing more
        written = _read_pty_until(master, "\n")  # the kernel hands pty output over asynchronously
        assert written.count("\x1b[2K") == 2
        assert "1/3 steps  running: b" in written and written.rstrip().endswith("2/3 steps")
        assert written.endswith("\n")
    finally:
        stream.close()
        os.close(master)


# ---------------------------------------------------------------------------------------- pipelines list/show
def test_pipelines_list_and_show_a_real_run(pipeline_script):
    first = pipeline_script(PIPELINE, "inline").results
    second = pipeline_script(PIPELINE, "inline").results
    failed = pipeline_script(PIPELINE, "local", "fail").results

    listing = pipetrack_cli("pipelines", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "VERSION", "STATUS", "PROGRESS", "STARTED", "DURATION", "PROJECT"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == [failed["id"], second["id"], first["id"]]  # newest first
    assert re.search(r"terminal-demo #3\s+1\.2\.0\s+failed\s+100%", rows[failed["id"]])
    assert re.search(r"terminal-demo #2\s+1\.2\.0\s+completed\s+100%", rows[second["id"]])
    assert re.search(r"terminal-demo\s+1\.2\.0\s+completed\s+100%\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
                     r"\s+[\d.]+s\s+terminal$", rows[first["id"]])

    limited = pipetrack_cli("pipelines", "list", "--limit", "1", "--name", "terminal-demo")
    assert failed["id"] in limited.stdout and first["id"] not in limited.stdout
    assert "(1 of 3 runs shown" in limited.stdout
    assert "no pipeline runs matching" in pipetrack_cli("pipelines", "list", "--project", "elsewhere").stdout
    as_json = json.loads(pipetrack_cli("pipelines", "list", "--json").stdout)
    assert as_json["total"] == 3
    assert [(r["run_number"], r["status"]) for r in as_json["runs"]] == [(3, "failed"), (2, "completed"),
                                                                        (1, "completed")]

    show = pipetrack_cli("pipelines", "show", failed["id"])
    assert show.returncode == 0, show.stderr
    out = show.stdout
    assert f"Pipeline run {failed['id']}: terminal / terminal-demo #3" in out
    assert re.search(r"version\s+1\.2\.0", out) and re.search(r"status\s+failed", out)
    assert "pipeline failed: step 'train' failed: ValueError: bad learning rate" in out
    assert "100%  (4/4 steps done)" in out and "2 completed, 1 failed, 1 skipped" in out
    assert "\x1b" not in out  # not a terminal: no colours
    steps = out.split("Steps (by layer", 1)[1].splitlines()[1:]
    assert [line.split()[0] for line in steps] == ["prepare", "└─", "└─", "└─"]
    by_name = {re.sub(r"^[└─\s]+", "", line).split()[0]: line for line in steps}
    assert re.search(rf"^  prepare\s+completed\s+{failed['step_ids']['prepare']}$", by_name["prepare"])
    assert re.search(rf"└─ train\s+failed\s+{failed['step_ids']['train']}\s+\(after prepare\)\s+"
                     r"ValueError: bad learning rate", by_name["train"])
    assert re.search(rf"└─ evaluate\s+completed\s+{failed['step_ids']['evaluate']}\s+\(after prepare\)$",
                     by_name["evaluate"])
    assert re.search(r"^     └─ publish\s+skipped\s+-\s+\(after train\)", by_name["publish"])  # one layer deeper

    # on a terminal, statuses are coloured
    code, coloured = run_argv_in_pty([sys.executable, "-m", "pipetrack", "pipelines", "show", failed["id"]])
    assert code == 0, coloured
    assert "\x1b[31mfailed\x1b[0m" in coloured and "\x1b[32mcompleted\x1b[0m" in coloured

    ok = pipetrack_cli("pipelines", "show", first["id"]).stdout
    assert "(4/4 steps done)" in ok and "4 completed" in ok and "failed" not in ok
    assert json.loads(pipetrack_cli("pipelines", "show", first["id"], "--json").stdout)["done"] == 4


def test_show_unknown_run_is_exit_code_2(run_script):
    unknown = pipetrack_cli("pipelines", "show", "0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 2
    assert "no pipeline run with id '0123456789abcdef0123456789abcdef'" in unknown.stderr
    task_id = run_script(EXPERIMENT, "0.1").stdout.split("TASK_ID ")[1].strip()
    not_a_run = pipetrack_cli("pipelines", "show", task_id)
    assert not_a_run.returncode == 2 and "is not a pipeline run" in not_a_run.stderr


# ---------------------------------------------------------------------------------------- tasks compare
def test_tasks_compare_marks_differences(run_script):
    first = run_script(EXPERIMENT, "0.1").stdout.split("TASK_ID ")[1].strip()
    second = run_script(EXPERIMENT, "0.2").stdout.split("TASK_ID ")[1].strip()
    proc = pipetrack_cli("tasks", "compare", first, second)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"[1] {first}  compare / exp-0.1  (completed)" in out
    assert f"[2] {second}  compare / exp-0.2  (completed)" in out
    assert re.search(r"^  \* General/lr\s+0\.1\s+0\.2$", out, re.M), out
    assert re.search(r"^    General/epochs\s+3\s+3$", out, re.M), out
    assert re.search(r"^  \* loss / train\s+0\.0333333 / 0\.0333333 / 0\.1\s+0\.0666667 / 0\.0666667 / 0\.2$", out,
                     re.M), out
    assert re.search(r"^    acc / val\s+0\.5 / 0\.5 / 0\.5\s+0\.5 / 0\.5 / 0\.5$", out, re.M), out

    only = pipetrack_cli("tasks", "compare", "--diff-only", first, second).stdout
    assert "General/lr" in only and "General/epochs" not in only and "acc / val" not in only
    as_json = json.loads(pipetrack_cli("tasks", "compare", "--json", first, second, first).stdout)
    assert {"name": "General/lr", "values": ["0.1", "0.2", "0.1"], "differs": True} in as_json["parameters"]

    for ids in ([first], [first, second] * 3):
        rejected = pipetrack_cli("tasks", "compare", *ids)
        assert rejected.returncode == 2
        assert f"compare takes 2 to 5 task ids, got {len(ids)}" in rejected.stderr
    missing = pipetrack_cli("tasks", "compare", first, "f" * 32)
    assert missing.returncode == 2 and f"no task with id '{'f' * 32}'" in missing.stderr


def test_compare_parameters_rows():
    from pipetrack.tracking.compare import compare_parameters
    rows = compare_parameters([{"b": "1", "a": "x"}, {"a": "x", "b": "2", "c": "only here"}, {"a": "x", "b": "1"}])
    assert rows == [{"name": "a", "values": ["x", "x", "x"], "differs": False},
                    {"name": "b", "values": ["1", "2", "1"], "differs": True},
                    {"name": "c", "values": [None, "only here", None], "differs": True}]
    assert compare_parameters([{}, {}]) == []
    # a missing parameter differs from a present None, two missing ones do not
    assert compare_parameters([{"k": None}, {}])[0]["differs"] is True
    assert compare_parameters([{"k": 1}, {}, {}])[0]["values"] == [1, None, None]


def test_tasks_compare_validation_in_process():
    import argparse

    from pipetrack.cli import cmd_tasks_compare
    from pipetrack.errors import ValidationError
    for ids in ([], ["a"], ["a"] * 6):
        with pytest.raises(ValidationError, match=f"takes 2 to 5 task ids, got {len(ids)}"):
            cmd_tasks_compare(argparse.Namespace(task_ids=ids, diff_only=False, json=False))
