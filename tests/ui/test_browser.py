"""The web UI in a real browser: headless Debian Chromium driven by Playwright against a real
``pipetrack ui`` process over a store filled by real scripts and pipelines (``conftest.py``).

Every test fails on any JavaScript error or console error the page logs, and on any request
to a host other than 127.0.0.1 (the UI must work offline: no CDN, no fonts, nothing)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from ui_helpers import run_user_script, script_env



pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 20_000

# status colours of the DAG nodes (app.css), as getComputedStyle reports them
BLUE, GREEN = "rgb(37, 99, 235)", "rgb(22, 163, 74)"

SLOW_PIPELINE = """
import sys
from pipetrack import PipelineController

def first(gate):
    import os, time
    deadline = time.time() + 90
    while not os.path.exists(gate) and time.time() < deadline:  # the test opens the gate
        time.sleep(0.05)
    time.sleep(0.5)
    return 1

def second(value):
    import time
    time.sleep(1.0)
    return value + 1

pipe = PipelineController(name="slow pipeline", project="ui/pipelines", version="2.0.0")
pipe.add_function_step("first", first, function_kwargs={"gate": sys.argv[1]}, function_return=["value"])
pipe.add_function_step("second", second, function_kwargs={"value": "${first.value}"}, function_return=["result"],
                       parents=["first"])
pipe.start_locally(run_pipeline_steps_locally=False)
print("pipeline done")
"""

TICKING_SCRIPT = """
import os, sys, time
from pipetrack import Task
task = Task.init(project_name="ui/live", task_name="ticking run")
gate = sys.argv[1]
i = 0
while not os.path.exists(gate) and i < 600:  # the test opens the gate
    print(f"tick {i}", flush=True)
    i += 1
    time.sleep(0.25)
print("done waiting", flush=True)
"""

FINISHING_SCRIPT = """
import sys
from pipetrack import Task
task = Task.init(project_name="ui/actions", task_name=sys.argv[1])
task.get_logger().report_scalar("loss", "train", 0.5, iteration=0)
print("hello from", sys.argv[1])
print("finished", task.id)
"""

HOSTILE_NAME = '<img src=x onerror="window.__xss=1">&amp; "quoted"'
HOSTILE_SCRIPT = f"""
import struct, zlib
from pipetrack import Task
task = Task.init(project_name="ui/escaping", task_name={HOSTILE_NAME!r}, tags=["<b>bold</b>"])
task.connect({{"html": "<script>window.__xss=2</script>"}}, name="Args")
print("<script>window.__xss=3</script>")
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
with open("sample.png", "wb") as fh:  # a 4x4 red PNG, written without Pillow
    fh.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
             + chunk(b"IDAT", zlib.compress(b"".join(b"\\x00" + b"\\xff\\x00\\x00" * 4 for _ in range(4))))
             + chunk(b"IEND", b""))
task.get_logger().report_image("<i>samples</i>", "red", iteration=3, local_path="sample.png")
print("finished", task.id)
"""


EXTRAS_SCRIPT = """
import struct, zlib
from pipetrack import OutputModel, Task
task = Task.init(project_name="ui/extras", task_name="extras run")
chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
with open("preview.png", "wb") as fh:  # a 6x5 blue PNG, written without Pillow
    fh.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 5, 8, 2, 0, 0, 0))
             + chunk(b"IDAT", zlib.compress(b"".join(b"\\x00" + b"\\x00\\x80\\xff" * 6 for _ in range(5))))
             + chunk(b"IEND", b""))
task.upload_artifact("preview", "preview.png")
with open("weights.bin", "wb") as fh:
    fh.write(b"tiny weights 0123")
OutputModel(task=task, name="tiny net", framework="PyTorch").update_weights(weights_filename="weights.bin", iteration=7)
logger = task.get_logger()
for i, value in enumerate([1.0, float("nan"), 0.5, float("inf"), 0.25]):  # NaN / inf: null in the JSON
    logger.report_scalar("loss", "train", value, iteration=i)
for i in range(700):  # more than the console tab's first read (500 lines)
    print(f"line {i}")
print("finished", task.id)
"""

LIVE_SCRIPT = """
import os, sys, time
from pipetrack import Task
task = Task.init(project_name="ui/live", task_name="live outputs")  # attaches to PIPETRACK_TASK_ID
logger = task.get_logger()
i = 0

def wait(gate):  # the test opens the gates
    global i
    while not os.path.exists(gate) and i < 600:
        print(f"tick {i}", flush=True)
        logger.report_scalar("ticks", "count", i, iteration=i)
        i += 1
        time.sleep(0.25)

wait(sys.argv[1])
logger.report_scatter2d("live", "points", [[0, 1], [1, 2], [2, 1]], iteration=i, xaxis="x", yaxis="y",
                        mode="markers")
wait(sys.argv[2])
print("done waiting", flush=True)
"""


PENDING_DAG_SCRIPT = """
import json, sys
from pipetrack import Task
task = Task.get_task(task_id=sys.argv[1])  # a Draft controller (a clone): its steps as never run
dag = json.loads(task.get_configuration_object("Pipeline"))
for node in dag.values():
    node.update(status="pending", executed=None, job_started=None, job_ended=None)
task.set_configuration_object("Pipeline", config_dict=dag)
"""


def _chromium_missing() -> bool:
    return not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK))


@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("PIPETRACK_REQUIRE_BROWSER") == "1"
    if _chromium_missing():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        pytest.fail(message) if required else pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "playwright is not installed (pip install playwright)"
        pytest.fail(message) if required else pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors, uncaught exceptions and non-local requests are recorded."""

    def __init__(self, context, base_url: str, login_url: str | None = None):
        self.context = context
        self.base_url = base_url
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.allowed_statuses: set[int] = set()
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        if login_url:  # as a user opening the URL `pipetrack ui` printed: sets the login cookie
            self.page.goto(login_url)
            assert "token=" not in self.page.url, self.page.url  # redirected to the URL without it

    def _route(self, route) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def _console(self, message) -> None:
        if message.type != "error":
            return
        status = re.search(r"status of (\d{3})", message.text)
        if status and int(status.group(1)) in self.allowed_statuses:
            return  # Chromium logs the HTTP errors a test provokes on purpose
        self.errors.append(f"console.error: {message.text}")

    def goto(self, fragment: str) -> None:
        """Open ``fragment`` (a ``#/...`` route) and wait until the app has drawn that page, so no
        locator can match what the previous page left on screen."""
        self.page.goto(f"{self.base_url.rstrip('/')}/{fragment}")
        self.page.wait_for_function("() => document.getElementById('main').dataset.ready === location.hash")

    def assert_clean(self) -> None:
        assert not self.foreign, f"the page tried to reach other hosts: {self.foreign}"
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)


@pytest.fixture
def ui(browser, ui_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    watched = Watched(context, ui_server.url, ui_server.login_url)
    yield watched
    context.close()
    watched.assert_clean()


def _expect():
    from playwright.sync_api import expect
    return expect


def _hash_task_id(page) -> str:
    match = re.search(r"#/task/([0-9a-f]+)", page.url)
    assert match, page.url
    return match.group(1)


@contextlib.contextmanager
def gated_script(folder: Path, name: str, code: str, gates: list[Path], home: Path, env: dict | None = None,
                 keep_output: bool = False):
    """Run ``code`` as a user script (a real subprocess over ``home``) that waits on ``gates``,
    files the test creates to move it on; on exit every gate is opened and the process ended."""
    path = folder / name
    path.write_text(code)
    proc = subprocess.Popen([sys.executable, str(path), *map(str, gates)], cwd=folder,
                            env={**script_env(home), **(env or {})},
                            stdout=subprocess.PIPE if keep_output else subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            text=True)
    try:
        yield proc
    finally:
        for gate in gates:
            gate.write_text("go")
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _row_names(page) -> list[str]:
    return page.locator(".tasks-table tbody tr td.name a").all_inner_texts()


# ---------------------------------------------------------------------------------- 1. tasks table
def test_tasks_table_filters_search_sort_and_projects(ui, ui_server, filled_home):
    expect, page, ids = _expect(), ui.page, filled_home["ids"]

    def api_names(query: str) -> list[str]:
        return [row["name"] for row in ui_server.get(f"/api/tasks?{query}")[1]["rows"]]

    ui.goto("")  # the default page is the tasks table
    expect(page.locator(f'.tasks-table tr[data-id="{ids["train_a"]}"]')).to_be_visible()
    names = _row_names(page)
    for name in ("run a", "run b", "broken run", "ui pipeline", "make", "total"):
        assert name in names, names
    row_a = page.locator(f'.tasks-table tr[data-id="{ids["train_a"]}"]')
    expect(row_a.locator(".badge")).to_have_attribute("data-status", "completed")
    expect(row_a.locator(".badge")).to_have_text("Completed")
    expect(row_a.locator(".tag")).to_have_text("ui-test")
    expect(page.locator(".tasks-table tr", has_text="broken run").locator(".badge")).to_have_attribute(
        "data-status", "failed")
    total = ui_server.get("/api/tasks?page_size=1")[1]["total"]
    expect(page.locator(".pager-text")).to_have_text(f"1–{total} of {total}")
    # the project tree is hierarchical: ui > training / pipelines
    expect(page.locator('.project-tree a[data-project="ui"]')).to_be_visible()
    expect(page.locator('.project-tree a[data-project="ui/training"]')).to_be_visible()

    rows = page.locator(".tasks-table tbody td.name a")  # to_have_text([...]) waits for exactly these rows
    page.select_option("#filter-status", "failed")
    expect(rows).to_have_text(["broken run"])
    assert "status=failed" in page.url

    page.select_option("#filter-status", "")
    page.fill("#task-search", "run b")
    expect(rows).to_have_text(["run b"])
    page.fill("#task-search", "")

    page.click('.project-tree a[data-project="ui/training"]')
    expect(rows).to_have_text(api_names("project=ui/training"))
    assert sorted(api_names("project=ui/training")) == ["broken run", "run a", "run b"]
    assert "project=ui%2Ftraining" in page.url
    page.click('.project-tree a[data-project="ui"]')  # a parent project includes its sub-projects
    expect(rows).to_have_text(api_names("project=ui"))
    assert {"run a", "ui pipeline", "make"} <= set(api_names("project=ui"))

    page.fill("#filter-tag", "ui-test")
    expect(rows).to_have_text(api_names("project=ui&tag=ui-test"))
    assert sorted(api_names("project=ui&tag=ui-test")) == ["run a", "run b"]
    page.fill("#filter-tag", "")

    page.click('.tasks-table th[data-sort="name"]')  # ascending by name, then descending
    expect(page.locator('.tasks-table th[data-sort="name"] .sort-arrow')).to_have_text(" ▲")
    ascending = api_names("project=ui&sort=name")
    assert ascending == sorted(ascending)
    expect(rows).to_have_text(ascending)
    page.click('.tasks-table th[data-sort="name"]')
    expect(page.locator('.tasks-table th[data-sort="name"] .sort-arrow')).to_have_text(" ▼")
    expect(rows).to_have_text(api_names("project=ui&sort=-name"))
    assert "sort=-name" in page.url

    ui.goto("#/tasks?project=ui%2Ftraining&sort=name&page_size=2")  # paging
    expect(rows).to_have_text(["broken run", "run a"])
    expect(page.locator(".pager-text")).to_have_text("1–2 of 3")
    expect(page.locator("#page-prev")).to_be_disabled()
    page.click("#page-next")
    expect(rows).to_have_text(["run b"])
    expect(page.locator(".pager-text")).to_have_text("3–3 of 3")
    expect(page.locator("#page-next")).to_be_disabled()
    assert "page=1" in page.url
    page.click("#page-prev")
    expect(rows).to_have_text(["broken run", "run a"])

    ui.goto("#/tasks?project=ui&sort=-name")
    page.select_option("#filter-status", "completed")  # the filters live in the URL: a reload keeps them
    expect(rows).to_have_text(api_names("project=ui&sort=-name&status=completed"))
    page.reload()
    expect(page.locator("#filter-status")).to_have_value("completed")
    expect(rows).to_have_text(api_names("project=ui&sort=-name&status=completed"))
    ui.assert_clean()


# ---------------------------------------------------------------------------------- 2. scalars
def test_task_scalars_charts_smoothing_and_time_axis(ui, filled_home):
    expect, page, task_id = _expect(), ui.page, filled_home["ids"]["train_a"]
    ui.goto(f"#/task/{task_id}/scalars")
    loss = page.locator('.chart[data-title="loss"]')
    expect(loss.locator(".scatterlayer .trace")).to_have_count(2)  # train and val
    expect(page.locator('.chart[data-title="accuracy"] .scatterlayer .trace')).to_have_count(1)
    expect(loss.locator(".legend")).to_contain_text("train")
    expect(loss.locator(".legend")).to_contain_text("val")
    raw = loss.evaluate("gd => gd.data.map(t => ({name: t.name, y: t.y}))")
    assert sorted(t["name"] for t in raw) == ["train", "val"]
    assert next(t for t in raw if t["name"] == "val")["y"] == pytest.approx([1.2 / (i + 1) for i in range(5)])

    # smoothing: an EMA with TensorBoard's debiasing, drawn over a faint copy of the raw line
    page.locator("input.smoothing").evaluate("el => { el.value = '0.6'; el.dispatchEvent(new Event('input')); }")
    expect(loss.locator(".scatterlayer .trace")).to_have_count(4)
    smoothed = loss.evaluate("gd => gd.data.filter(t => t.showlegend !== false && t.name === 'val')[0].y")
    expected, last = [], 0.0
    for i, y in enumerate([1.2 / (i + 1) for i in range(5)]):
        last = last * 0.6 + 0.4 * y
        expected.append(last / (1 - 0.6 ** (i + 1)))
    assert smoothed == pytest.approx(expected)
    assert page.evaluate("async () => (await import('/static/js/charts.js')).smooth([2, 2, 2], 0.9)") == \
        pytest.approx([2, 2, 2])

    page.click('button[data-axis="time"]')
    expect(loss.locator(".xtick").first).to_be_visible()
    page.wait_for_function("() => document.querySelector('.chart[data-title=\"loss\"]').layout.xaxis.type === 'date'")
    page.click('button[data-axis="iter"]')
    page.wait_for_function("() => document.querySelector('.chart[data-title=\"loss\"]').layout.xaxis.type === 'linear'")

    # switching back while the other axis' answer is still on its way: the late answer is dropped
    page.evaluate("""() => { const fetch0 = window.fetch;
        window.__slowTime = 0;
        window.fetch = async (url, init) => { const response = await fetch0(url, init);
          if (String(url).includes('x_axis=time')) { await new Promise(r => setTimeout(r, 1200)); window.__slowTime += 1; }
          return response; }; }""")
    page.click('button[data-axis="time"]')
    page.click('button[data-axis="iter"]')
    page.wait_for_function("() => window.__slowTime === 1")  # the time-axis answer has arrived...
    page.wait_for_timeout(300)
    layout_type, xs = loss.evaluate("gd => [gd.layout.xaxis.type, gd.data.map(t => t.x)]")
    assert layout_type == "linear"  # ...and was not drawn
    assert all(x == [0, 1, 2, 3, 4] for x in xs), xs
    expect(page.locator('button[data-axis="iter"]')).to_have_class(re.compile(r"\bactive\b"))
    ui.assert_clean()


def test_task_page_tabs_show_the_recorded_data(ui, ui_server, filled_home):
    expect, page, task_id = _expect(), ui.page, filled_home["ids"]["train_a"]
    ui.goto(f"#/task/{task_id}")
    expect(page.locator("h1.task-name")).to_have_text("run a")
    expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "completed")
    overview = page.locator(".overview-kv")
    expect(overview).to_contain_text("ui/training")
    expect(overview).to_contain_text(task_id)
    expect(page.locator('.tab-body[data-tab="overview"]')).to_contain_text("accuracy")  # last metrics
    # the header offers what a completed task allows
    for action in ("clone", "publish", "reset", "archive", "delete"):
        expect(page.locator(f'button[data-action="{action}"]')).to_be_visible()
    expect(page.locator('button[data-action="enqueue"]')).to_have_count(0)

    page.click('.tab[data-tab="parameters"]')
    expect(page.locator('tr[data-param="Args/lr"] .value')).to_have_text("0.1")
    expect(page.locator("#params-edit")).to_have_count(0)  # not a Draft: no edit mode

    page.click('.tab[data-tab="configuration"]')
    expect(page.locator('.tab-body[data-tab="configuration"] pre')).to_contain_text('"act": "relu"')

    page.click('.tab[data-tab="console"]')
    expect(page.locator("#console-output")).to_contain_text("epoch 4 done")
    page.fill("#console-search", "epoch 3")
    expect(page.locator("#console-output .line")).to_have_count(1)
    expect(page.locator("#console-output")).to_contain_text("epoch 3 done")

    page.click('.tab[data-tab="values"]')
    expect(page.locator(".single-values")).to_contain_text("final_accuracy")
    expect(page.locator(".single-values")).to_contain_text("0.9")

    page.click('.tab[data-tab="artifacts"]')
    row = page.locator('tr[data-artifact="metrics"]')
    expect(row).to_contain_text("dict")
    expect(row.locator(".preview")).to_contain_text("best")
    href = row.locator("a", has_text="Download").get_attribute("href")
    status, content = ui_server.get(href)
    assert status == 200 and content["best"] == 0.9

    page.click('.tab[data-tab="plots"]')
    expect(page.locator(".tab-body .chart.figure").first).to_be_visible()
    expect(page.locator(".tab-body .chart.figure .main-svg").first).to_be_attached()

    page.click('.tab[data-tab="code"]')
    expect(page.locator('.tab-body[data-tab="code"] .kv')).to_contain_text("train.py")
    page.click('.tab[data-tab="packages"]')
    expect(page.locator('.tab-body[data-tab="packages"] pre.requirements')).to_contain_text("pipetrack")
    ui.assert_clean()


def test_output_log_web_page_opens_the_console(ui, ui_server, filled_home):
    """Task.get_output_log_web_page() is a working link into this UI (its console tab)."""
    from pipetrack import Task
    expect, task_id = _expect(), filled_home["ids"]["train_b"]
    link = Task.get_task_output_log_web_page(task_id, app_server_host=ui_server.url)
    fragment = link[len(ui_server.url.rstrip("/")) + 1:]
    assert fragment == f"#/task/{task_id}/console"
    ui.goto(fragment)
    expect(ui.page.locator('.tab[data-tab="console"]')).to_have_class(re.compile(r"\bactive\b"))
    expect(ui.page.locator("#console-output")).to_contain_text("epoch 4 done")
    ui.assert_clean()


def test_store_text_is_escaped(ui, ui_server, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    out = run_user_script(filled_home["home"], tmp_path, HOSTILE_SCRIPT, name="hostile.py").stdout
    task_id = re.search(r"finished (\w+)", out).group(1)
    ui.goto("#/tasks?project=ui%2Fescaping")
    expect(page.locator(".tasks-table td.name a")).to_have_text(HOSTILE_NAME)
    expect(page.locator(".tasks-table .tag")).to_have_text("<b>bold</b>")
    ui.goto(f"#/task/{task_id}/parameters")
    expect(page.locator("h1.task-name")).to_have_text(HOSTILE_NAME)
    expect(page.locator('tr[data-param="Args/html"] .value')).to_have_text("<script>window.__xss=2</script>")
    page.click('.tab[data-tab="console"]')
    expect(page.locator("#console-output")).to_contain_text("<script>window.__xss=3</script>")
    assert page.evaluate("() => window.__xss") is None
    assert page.locator(".tab-body img, .task-header img, .tab-body script").count() == 0
    page.click('.tab[data-tab="samples"]')  # the one image is the debug sample, served by the API
    expect(page.locator('.tab-body[data-tab="samples"] h3')).to_have_text("<i>samples</i>")
    image = page.locator('.sample[data-variant="red"] img')
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 4", arg=image.element_handle())
    expect(page.locator('.sample[data-variant="red"] figcaption')).to_contain_text("iteration 3")
    assert page.evaluate("() => window.__xss") is None
    ui.assert_clean()


# ---------------------------------------------------------------------------------- 3. live DAG
def test_running_pipeline_dag_turns_green(ui, ui_server, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    gate = tmp_path / "gate"
    with gated_script(tmp_path, "slow_pipeline.py", SLOW_PIPELINE, [gate], filled_home["home"],
                      keep_output=True) as proc:
        run_id = None
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until the controller has stored a DAG with a running step
            rows = ui_server.get("/api/pipelines?name=slow%20pipeline")[1]["rows"]
            if rows:
                run_id = rows[0]["id"]
                run = ui_server.get(f"/api/pipelines/{run_id}")[1]
                if any(node["status"] == "running" for node in run["nodes"]):
                    break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        else:
            pytest.fail(f"the slow pipeline never showed a running step (run {run_id})")

        ui.goto("#/pipelines")
        row = page.locator(f'.pipelines-table tr[data-id="{run_id}"]')
        expect(row.locator(".badge")).to_have_attribute("data-status", "in_progress")
        expect(row).to_contain_text("2.0.0")
        row.locator("a").click()
        first = page.locator('g.dag-node[data-step="first"]')
        second = page.locator('g.dag-node[data-step="second"]')
        expect(first).to_have_attribute("data-status", "running")
        expect(first).to_have_class(re.compile(r"\bstatus-running\b"))
        assert first.locator("rect").evaluate("r => getComputedStyle(r).fill") == BLUE
        expect(second).to_have_attribute("data-status", "pending")
        expect(page.locator(".steps-done")).to_have_text("0/2 steps done")
        expect(page.locator("svg.dag path.dag-edge")).to_have_count(1)
        expect(page.locator(".steps .badge")).to_have_text(["running", "pending"])  # the same badge() as elsewhere

        # polling while nothing changes keeps the very same SVG: a focused (or hovered) node stays so
        run_reads = []
        page.on("request", lambda request: run_reads.append(time.time())
                if urlparse(request.url).path == f"/api/pipelines/{run_id}" else None)
        page.evaluate("() => { document.querySelector('svg.dag').__kept = true; }")
        first.focus()
        page.wait_for_timeout(2500)
        assert len(run_reads) >= 2, run_reads  # it did poll meanwhile...
        assert page.evaluate("() => document.querySelector('svg.dag').__kept === true")  # ...without redrawing
        assert page.evaluate("() => document.activeElement.dataset.step") == "first"

        gate.write_text("go")
        expect(page.locator('g.dag-node[data-status="completed"]')).to_have_count(2, timeout=60_000)
        assert second.locator("rect").evaluate("r => getComputedStyle(r).fill") == GREEN
        expect(page.locator(".steps-done")).to_have_text("2/2 steps done")
        expect(page.locator(".run-header .badge")).to_have_attribute("data-status", "completed", timeout=30_000)
        # the run is over: one last read at most, then the page stops asking
        done = time.time()
        page.wait_for_timeout(3000)
        assert len([t for t in run_reads if t > done]) <= 1, run_reads

        task_id = first.get_attribute("data-task-id")
        first.click()  # a node opens its step's task
        expect(page).to_have_url(re.compile(rf"#/task/{task_id}$"))
        expect(page.locator("h1.task-name")).to_have_text("first")
        assert proc.wait(timeout=60) == 0
    ui.assert_clean()


def test_console_follows_a_running_task(ui, ui_server, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    gate = tmp_path / "gate"
    with gated_script(tmp_path, "ticking.py", TICKING_SCRIPT, [gate], filled_home["home"]) as proc:
        task_id = None
        deadline = time.time() + 60
        while time.time() < deadline and task_id is None:  # until the task shows up, running, with some output
            rows = ui_server.get("/api/tasks?project=ui/live&status=in_progress")[1]["rows"]
            if rows and ui_server.get(f"/api/tasks/{rows[0]['id']}/console")[1]["lines"]:
                task_id = rows[0]["id"]
            assert proc.poll() is None
            time.sleep(0.1)
        assert task_id, "the ticking script never showed up as a running task with console output"
        ui.goto(f"#/task/{task_id}/console")
        lines = page.locator("#console-output .line .text")

        def line(text: str):
            return lines.filter(has_text=re.compile(f"^{re.escape(text)}$"))

        expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "in_progress")
        expect(page.locator(".live")).to_be_visible()
        expect(line("tick 0")).to_have_count(1)
        last = int(lines.last.inner_text().split()[1])
        expect(line(f"tick {last + 4}")).to_have_count(1)  # appended while we watch (after=last_seq polling)
        gate.write_text("go")
        assert proc.wait(timeout=60) == 0
        expect(line("done waiting")).to_have_count(1)
        expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "completed")
        expect(page.locator(".live")).to_be_hidden()
        texts = lines.all_inner_texts()
        ticks = [int(text.split()[1]) for text in texts if text.startswith("tick ")]
        assert ticks == list(range(len(ticks))) and len(ticks) > last + 4, "console lines missing, repeated or out of order"
        assert texts[len(ticks):] == ["done waiting"], texts[len(ticks):]
    ui.assert_clean()


# ---------------------------------------------------------------------------------- 4. actions
def _param(ui_server, task_id: str, key: str) -> str:
    section, name = key.split("/", 1)
    task = ui_server.get(f"/api/tasks/{task_id}")[1]
    return next(p["value"] for p in task["parameters"][section] if p["name"] == name)


def test_clone_edit_enqueue_and_server_errors_in_banner(ui, ui_server, filled_home):
    expect, page, source = _expect(), ui.page, filled_home["ids"]["train_a"]
    ui.allowed_statuses.add(409)
    ui.goto(f"#/task/{source}")
    page.click('button[data-action="clone"]')
    page.fill("#clone-name", "run a tuned")
    page.click('#clone-dialog [data-role="ok"]')
    expect(page.locator("h1.task-name")).to_have_text("run a tuned")
    clone = _hash_task_id(page)
    assert clone != source
    expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "created")
    expect(page.locator(".task-header .badge")).to_have_text("Draft")
    # the header shows exactly the actions the server allows a Draft (Abort included)
    allowed = ui_server.get(f"/api/tasks/{clone}/status")[1]["allowed_actions"]
    assert "abort" in allowed and "parameters" in allowed and "publish" not in allowed
    shown = page.locator(".task-header .actions button").evaluate_all("bs => bs.map(b => b.dataset.action)")
    assert sorted(shown) == sorted("edit" if a == "parameters" else a for a in allowed)
    expect(page.locator('button[data-action="abort"]')).to_have_text("Abort")

    page.click('button[data-action="edit"]')
    field = page.locator('input.param-input[data-key="Args/lr"]')
    expect(field).to_have_value("0.1")
    field.fill("0.05")
    page.click("#params-save")
    expect(page.locator('tr[data-param="Args/lr"] .value')).to_have_text("0.05")
    expect(page.locator("#notice")).to_contain_text("Saved 1 parameter")

    page.click('button[data-action="enqueue"]')
    page.fill("#queue-input", "default")
    page.click('#enqueue-dialog [data-role="ok"]')
    expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "queued")
    expect(page.locator('button[data-action="dequeue"]')).to_be_visible()
    expect(page.locator("#error-banner")).to_be_hidden()

    task = ui_server.get(f"/api/tasks/{clone}")[1]
    assert (task["status"], task["queue"], task["name"]) == ("queued", "default", "run a tuned")
    assert _param(ui_server, clone, "Args/lr") == "0.05"
    assert _param(ui_server, source, "Args/lr") == "0.1"  # the original is untouched
    assert ui_server.get(f"/api/tasks/{source}")[1]["status"] == "completed"
    assert "default" in [q["name"] for q in ui_server.get("/api/queues")[1]]

    # a page showing a stale status: the server refuses, and its message shows in the banner
    stale = ui_server.post(f"/api/tasks/{source}/clone", {"name": "stale draft"})[1]["id"]
    ui.goto(f"#/task/{stale}/parameters")
    page.click("#params-edit")
    page.locator('input.param-input[data-key="Args/lr"]').fill("9")
    assert ui_server.post(f"/api/tasks/{stale}/enqueue", {"queue": "default"})[0] == 200  # meanwhile...
    page.click("#params-save")
    status, error = ui_server.post(f"/api/tasks/{stale}/parameters", {"parameters": {"Args/lr": "9"}})
    assert status == 409 and "only Draft" in error["error"]
    expect(page.locator("#error-banner")).to_be_visible()
    expect(page.locator("#error-banner .msg")).to_have_text(error["error"])
    assert _param(ui_server, stale, "Args/lr") == "0.1"

    assert ui_server.post(f"/api/tasks/{stale}/dequeue")[0] == 200  # a Draft again
    ui.goto(f"#/task/{stale}")
    expect(page.locator("#error-banner")).to_be_hidden()  # a new page starts without the old error
    expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "created")
    assert ui_server.post(f"/api/tasks/{stale}/enqueue", {"queue": "default"})[0] == 200  # meanwhile...
    page.click('button[data-action="enqueue"]')  # ...so this Enqueue button is stale
    page.fill("#queue-input", "default")
    page.click('#enqueue-dialog [data-role="ok"]')
    status, error = ui_server.post(f"/api/tasks/{stale}/enqueue", {"queue": "default"})
    assert status == 409 and "illegal status change" in error["error"]
    expect(page.locator("#error-banner .msg")).to_have_text(error["error"])
    # after a refusal the page re-reads the task: queued, so Dequeue is offered now
    expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "queued")
    expect(page.locator('button[data-action="dequeue"]')).to_be_visible()
    # publishing a Draft or queued task is illegal too (through the page's own client)
    page.evaluate("async id => { const u = await import('/static/js/util.js');"
                  " await u.guarded(() => u.post(`/api/tasks/${id}/publish`)); }", stale)
    status, error = ui_server.post(f"/api/tasks/{stale}/publish")
    assert status == 409
    expect(page.locator("#error-banner .msg")).to_have_text(error["error"])

    page.click('button[data-action="dequeue"]')  # legal: back to Draft
    expect(page.locator(".task-header .badge")).to_have_attribute("data-status", "created")
    page.click("#error-banner .close")
    expect(page.locator("#error-banner")).to_be_hidden()
    page.click('button[data-action="delete"]')
    page.click('#delete-dialog [data-role="ok"]')
    expect(page).to_have_url(re.compile(r"#/tasks$"))
    expect(page.locator(".tasks-table tbody tr").first).to_be_visible()
    assert ui_server.get(f"/api/tasks/{stale}")[0] == 404
    ui.assert_clean()


def test_archive_reset_publish_and_abort(ui, ui_server, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    home = filled_home["home"]
    ids = {name: re.search(r"finished (\w+)", run_user_script(home, tmp_path, FINISHING_SCRIPT, name,
                                                                name="finish.py").stdout).group(1)
           for name in ("lifecycle x", "lifecycle y")}
    badge, x, y = page.locator(".task-header .badge"), ids["lifecycle x"], ids["lifecycle y"]

    ui.goto(f"#/task/{x}")
    page.click('button[data-action="archive"]')
    expect(page.locator('button[data-action="unarchive"]')).to_be_visible()
    expect(page.locator(".task-header .chip", has_text="archived")).to_be_visible()
    assert ui_server.get(f"/api/tasks/{x}")[1]["archived"] is True
    ui.goto("#/tasks?project=ui%2Factions")  # archived tasks are hidden unless asked for
    rows = page.locator(".tasks-table tbody td.name a")
    expect(rows).to_have_text(["lifecycle y"])
    page.check("#filter-archived")
    expect(rows).to_have_text(["lifecycle y", "lifecycle x"])
    expect(page.locator(f'.tasks-table tr[data-id="{x}"]')).to_have_class("archived")
    page.click(f'.tasks-table tr[data-id="{x}"] td.name a')
    page.click('button[data-action="unarchive"]')
    expect(page.locator('button[data-action="archive"]')).to_be_visible()
    assert ui_server.get(f"/api/tasks/{x}")[1]["archived"] is False

    page.click('button[data-action="reset"]')
    page.click('#reset-dialog [data-role="ok"]')
    expect(badge).to_have_attribute("data-status", "created")
    expect(page.locator('button[data-action="enqueue"]')).to_be_visible()
    assert ui_server.get(f"/api/tasks/{x}/console")[1]["lines"] == []  # a reset deletes the outputs

    ui.goto(f"#/task/{y}")
    page.click('button[data-action="publish"]')
    expect(badge).to_have_attribute("data-status", "published")
    expect(page.locator('button[data-action="publish"]')).to_have_count(0)
    expect(page.locator('button[data-action="reset"]')).to_have_count(0)
    expect(page.locator('button[data-action="delete"]')).to_have_count(0)  # the UI keeps published tasks
    expect(page.locator('button[data-action="archive"]')).to_be_visible()
    assert ui_server.get(f"/api/tasks/{y}")[1]["status"] == "published"

    # Abort a running task: the UI marks it stopped, its process notices and ends
    gate = tmp_path / "gate"  # never opened: the script ticks until aborted
    with gated_script(tmp_path, "ticking.py", TICKING_SCRIPT.replace("ui/live", "ui/abort"), [gate], home) as proc:
        deadline = time.time() + 60
        rows = []
        while time.time() < deadline and not rows:
            rows = ui_server.get("/api/tasks?project=ui/abort&status=in_progress")[1]["rows"]
            time.sleep(0.1)
        assert rows, "the ticking script never showed up as running"
        ui.goto(f"#/task/{rows[0]['id']}")
        expect(badge).to_have_attribute("data-status", "in_progress")
        expect(page.locator('button[data-action="delete"]')).to_have_count(0)  # not while it runs
        page.click('button[data-action="abort"]')
        page.click('#abort-dialog [data-role="ok"]')
        expect(badge).to_have_attribute("data-status", "stopped")
        expect(badge).to_have_text("Aborted")
        proc.wait(timeout=60)
        assert ui_server.get(f"/api/tasks/{rows[0]['id']}")[1]["status"] == "stopped"
    ui.assert_clean()


# ---------------------------------------------------------------------------------- 5. compare
def test_compare_two_tasks(ui, filled_home):
    expect, page, ids = _expect(), ui.page, filled_home["ids"]
    ui.goto("#/tasks?project=ui%2Ftraining")
    expect(page.locator("#compare-button")).to_be_disabled()
    page.locator(f'tr[data-id="{ids["train_a"]}"] input.row-select').check()
    expect(page.locator("#compare-button")).to_be_disabled()  # one task is not a comparison
    page.locator(f'tr[data-id="{ids["train_b"]}"] input.row-select').check()
    expect(page.locator("#compare-button")).to_have_text("Compare (2)")
    page.click("#compare-button")
    expect(page).to_have_url(re.compile(r"#/compare\?ids="))
    assert ids["train_a"] in page.url and ids["train_b"] in page.url

    lr = page.locator('.compare-params tr[data-param="Args/lr"]')
    expect(lr).to_have_class(re.compile(r"\bdiffers\b"))
    assert lr.locator("td").all_inner_texts()[1:] == ["0.1", "0.3"]
    epochs = page.locator('.compare-params tr[data-param="Args/epochs"]')
    expect(epochs).not_to_have_class(re.compile(r"\bdiffers\b"))
    assert lr.evaluate("tr => getComputedStyle(tr.cells[1]).backgroundColor") != \
        epochs.evaluate("tr => getComputedStyle(tr.cells[1]).backgroundColor")

    loss = page.locator('.chart[data-title="loss"]')
    expect(loss.locator(".scatterlayer .trace")).to_have_count(4)  # 2 tasks x (train, val)
    expect(page.locator('.chart[data-title="accuracy"] .scatterlayer .trace')).to_have_count(2)
    names = loss.evaluate("gd => gd.data.map(t => t.name)")
    assert sorted(names) == ["run a · train", "run a · val", "run b · train", "run b · val"]
    expect(page.locator(".chart-card", has=loss).locator(".chart-key")).to_have_text("trainval")  # dash per series

    # last metrics side by side: last / min / max per task, differing rows highlighted
    train = page.locator('.compare-metrics tr[data-metric="loss/train"]')
    val = page.locator('.compare-metrics tr[data-metric="loss/val"]')
    expect(train).to_have_class(re.compile(r"\bdiffers\b"))  # lr 0.1 vs 0.3
    expect(val).not_to_have_class(re.compile(r"\bdiffers\b"))  # the same for both runs
    assert train.locator("td.num").all_inner_texts() == ["0.2", "0.2", "1", "0.6", "0.6", "3"]
    assert train.evaluate("tr => getComputedStyle(tr.cells[1]).backgroundColor") != \
        val.evaluate("tr => getComputedStyle(tr.cells[1]).backgroundColor")
    expect(page.locator('.compare-metrics tr[data-metric="accuracy/val"]')).not_to_have_class(re.compile("differs"))

    page.check("#only-differences")
    expect(epochs).to_be_hidden()
    expect(val).to_be_hidden()
    expect(lr).to_be_visible()
    expect(train).to_be_visible()

    # an address naming a task twice compares it once (the API refuses duplicates)
    a, b = ids["train_a"], ids["train_b"]
    ui.goto(f"#/compare?ids={a},{b},{a}")
    expect(page.locator(".compare-tasks tbody tr")).to_have_count(2)
    expect(page.locator("h1")).to_have_text("Comparing 2 tasks")
    assert page.evaluate("() => location.hash") == f"#/compare?ids={a},{b}"
    expect(page.locator("#error-banner")).to_be_hidden()
    ui.assert_clean()


# ---------------------------------------------------------------------------------- 6. review fixes
@pytest.fixture(scope="module")
def extras(filled_home, tmp_path_factory) -> str:
    """A finished task with an image artifact, a model file, NaN/inf scalars and 700 console lines."""
    out = run_user_script(filled_home["home"], tmp_path_factory.mktemp("extras"), EXTRAS_SCRIPT, name="extras.py").stdout
    return re.search(r"finished (\w+)", out).group(1)


def test_console_loads_older_lines(ui, extras):
    expect, page = _expect(), ui.page
    ui.goto(f"#/task/{extras}/console")
    lines = page.locator("#console-output .line .text")
    expect(lines).to_have_count(500)  # the last 500 of 700
    assert lines.first.inner_text() == "line 201" and lines.last.inner_text() == "finished " + extras
    older = page.locator("#console-older")
    expect(older).to_be_visible()
    page.locator("#console-output").evaluate("el => { el.scrollTop = 0; }")
    shown = page.locator('#console-output .line[data-seq]').first.get_attribute("data-seq")
    older.click()
    expect(lines).to_have_count(701)
    expect(older).to_be_hidden()  # nothing older left
    texts = lines.all_inner_texts()
    assert texts[:700] == [f"line {i}" for i in range(700)], "older lines missing, repeated or out of order"
    # the line that was at the top is still in view (the older ones went above it)
    assert page.locator(f'#console-output .line[data-seq="{shown}"]').evaluate(
        "el => { const box = el.parentElement.getBoundingClientRect(), r = el.getBoundingClientRect();"
        " return r.top >= box.top - 1 && r.bottom <= box.bottom + 1; }")
    expect(page.locator(".console-info")).to_have_text("701 lines")
    ui.assert_clean()


def test_artifact_image_preview_model_download_and_null_scalars(ui, ui_server, extras):
    expect, page = _expect(), ui.page
    ui.goto(f"#/task/{extras}/artifacts")
    image = page.locator('tr[data-artifact="preview"] img.artifact-image')
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 6 && img.naturalHeight === 5",
                           arg=image.element_handle())
    assert image.get_attribute("src") == f"/api/tasks/{extras}/artifacts/preview"

    page.click('.tab[data-tab="models"]')
    row = page.locator(".models tbody tr", has_text="tiny net")
    link = row.locator("a", has_text="Download")
    href = link.get_attribute("href")
    model_id = ui_server.get(f"/api/tasks/{extras}")[1]["models"][0]["id"]
    assert href == f"/api/tasks/{extras}/models/{model_id}"
    assert ui_server.get(href) == (200, b"tiny weights 0123")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "weights.bin"
    with open(download.value.path(), "rb") as fh:
        assert fh.read() == b"tiny weights 0123"

    # NaN / inf arrive as null: a gap in the line, and smoothing skips them instead of spreading NaN
    page.click('.tab[data-tab="scalars"]')
    loss = page.locator('.chart[data-title="loss"]')
    expect(loss.locator(".scatterlayer .trace")).to_have_count(1)
    assert loss.evaluate("gd => gd.data[0].y") == [1.0, None, 0.5, None, 0.25]
    page.locator("input.smoothing").evaluate("el => { el.value = '0.5'; el.dispatchEvent(new Event('input')); }")
    expect(loss.locator(".scatterlayer .trace")).to_have_count(2)
    smoothed = loss.evaluate("gd => gd.data.filter(t => t.showlegend !== false)[0].y")
    assert smoothed[1] is None and smoothed[3] is None
    expected, last, count = [], 0.0, 0
    for y in (1.0, 0.5, 0.25):
        last, count = last * 0.5 + 0.5 * y, count + 1
        expected.append(last / (1 - 0.5 ** count))
    assert [smoothed[0], smoothed[2], smoothed[4]] == pytest.approx(expected)
    assert page.evaluate("async () => (await import('/static/js/charts.js')).smooth([1, null, NaN, 3], 0.5)"
                         ".map(v => v === null ? 'gap' : Number.isFinite(v))") == [True, "gap", "gap", True]
    ui.assert_clean()


def test_following_resumes_after_enqueue_from_the_page(ui, ui_server, extras, filled_home, tmp_path):
    """A Draft's console tab, then Enqueue on the page: when a worker starts it, the tab follows it."""
    expect, page = _expect(), ui.page
    draft = ui_server.post(f"/api/tasks/{extras}/clone", {"name": "resumed draft"})[1]["id"]
    badge = page.locator(".task-header .badge")
    ui.goto(f"#/task/{draft}/console")
    expect(page.locator(".console-info")).to_have_text("no console output")
    expect(page.locator(".live")).to_be_hidden()
    page.wait_for_timeout(1500)  # the tab's pollers have seen a Draft (the old pollers stopped here)
    page.click('button[data-action="enqueue"]')
    page.fill("#queue-input", "default")
    page.click('#enqueue-dialog [data-role="ok"]')
    expect(badge).to_have_attribute("data-status", "queued")

    gates = [tmp_path / "gate1", tmp_path / "gate2"]
    # as an agent would: the process attaches to the queued task and runs it
    with gated_script(tmp_path, "live.py", LIVE_SCRIPT, gates, filled_home["home"],
                      env={"PIPETRACK_TASK_ID": draft}) as proc:
        lines = page.locator("#console-output .line .text")
        expect(badge).to_have_attribute("data-status", "in_progress", timeout=30_000)
        expect(page.locator(".live")).to_be_visible()
        expect(lines.filter(has_text=re.compile(r"^tick 0$"))).to_have_count(1)
        last = int(lines.last.inner_text().split()[1])
        expect(lines.filter(has_text=re.compile(rf"^tick {last + 4}$"))).to_have_count(1)

        page.click('.tab[data-tab="scalars"]')  # the scalars grow while it runs
        ticks = page.locator('.chart[data-title="ticks"]')
        expect(ticks.locator(".scatterlayer .trace")).to_have_count(1)
        seen = ticks.evaluate("gd => gd.data[0].x.length")
        page.wait_for_function("n => document.querySelector('.chart[data-title=\"ticks\"]').data[0].x.length >= n + 4",
                               arg=seen)

        page.click('.tab[data-tab="plots"]')  # a plot reported while the tab is open shows up
        expect(page.locator('.tab-body[data-tab="plots"] .empty')).to_have_text("No plots reported.")
        gates[0].write_text("go")
        figure = page.locator('.chart.figure[data-metric="live"]')
        expect(figure.locator(".main-svg").first).to_be_attached(timeout=15_000)
        expect(badge).to_have_attribute("data-status", "in_progress")  # still running: it was polled
        gates[1].write_text("go")
        assert proc.wait(timeout=60) == 0
        expect(badge).to_have_attribute("data-status", "completed")
        expect(page.locator(".plots-info")).to_have_text("1 plot")
    ui.assert_clean()


def test_bad_addresses_and_dialogs_do_not_outlive_their_page(ui, ui_server, extras):
    expect, page = _expect(), ui.page
    ui.goto("#/task/%E0")  # a malformed escape: a not-found page, not "Loading…" forever
    expect(page.locator("#main h1")).to_have_text("Not found")
    expect(page.locator("#main")).to_contain_text("malformed")
    ui.goto("#/tasks?page=abc&page_size=2")  # a junk page number means the first page
    expect(page.locator(".pager-text")).to_contain_text("1–2 of")
    expect(page.locator("#error-banner")).to_be_hidden()
    ui.goto("#/pipelines?page=abc")
    expect(page.locator(".pipelines-table tbody tr[data-id]").first).to_be_visible()
    expect(page.locator("#error-banner")).to_be_hidden()

    # a confirm left open when the page changes is cancelled: it can't delete anything later
    doomed = ui_server.post(f"/api/tasks/{extras}/clone", {"name": "not deleted"})[1]["id"]
    ui.goto(f"#/task/{doomed}")
    page.click('button[data-action="delete"]')
    expect(page.locator("#delete-dialog")).to_be_visible()
    page.evaluate("() => { location.hash = '#/tasks'; }")
    page.wait_for_function("() => document.getElementById('main').dataset.ready === location.hash")
    expect(page.locator("dialog")).to_have_count(0)
    page.wait_for_timeout(300)
    assert ui_server.get(f"/api/tasks/{doomed}")[0] == 200
    ui.assert_clean()


def test_compare_selection_forgets_deleted_tasks(ui, ui_server, extras):
    expect, page = _expect(), ui.page
    ui.allowed_statuses.add(404)
    keep, gone = (ui_server.post(f"/api/tasks/{extras}/clone", {"name": name})[1]["id"]
                  for name in ("compare keep", "compare gone"))
    ui.goto("#/tasks?project=ui%2Fextras")
    page.locator(f'tr[data-id="{keep}"] input.row-select').check()
    page.locator(f'tr[data-id="{gone}"] input.row-select').check()
    expect(page.locator("#compare-button")).to_have_text("Compare (2)")
    assert ui_server.post(f"/api/tasks/{gone}/delete")[0] == 200  # deleted elsewhere meanwhile
    page.click("#compare-button")
    expect(page.locator("#error-banner .msg")).to_contain_text(gone)
    expect(page.locator(".compare-gone")).to_contain_text(gone)
    page.click('#main a[href="#/tasks"] >> nth=-1')
    expect(page.locator("#compare-button")).to_have_text("Compare (1)")  # the deleted task left the selection
    expect(page.locator(f'tr[data-id="{keep}"] input.row-select')).to_be_checked()
    page.click("#clear-selection")
    ui.assert_clean()


def test_pipelines_list_filters_and_finished_runs_are_not_polled(ui, ui_server, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    ui.goto("#/pipelines")
    rows = page.locator(".pipelines-table tbody tr[data-id]")
    expect(rows.first).to_be_visible()
    page.select_option("#pipeline-project", "ui/pipelines")
    expected = [r["id"] for r in ui_server.get("/api/pipelines?project=ui/pipelines")[1]["rows"]]
    expect(rows).to_have_count(len(expected))
    assert "project=ui%2Fpipelines" in page.url
    page.fill("#pipeline-name", "ui pipeline")
    expect(page).to_have_url(re.compile(r"name=ui\+pipeline"))
    only = [r["id"] for r in ui_server.get("/api/pipelines?name=ui%20pipeline")[1]["rows"]]
    expect(rows).to_have_count(len(only))
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == only
    page.select_option("#pipeline-project", "ui/training")
    expect(page.locator(".pipelines-table td.empty")).to_have_text("No pipeline run matches these filters.")
    page.reload()  # the filters live in the address
    expect(page.locator("#pipeline-project")).to_have_value("ui/training")
    expect(page.locator("#pipeline-name")).to_have_value("ui pipeline")

    # a finished run's page reads it once and never polls
    run_id = only[0]
    reads = []
    page.on("request", lambda request: reads.append(request.url)
            if urlparse(request.url).path == f"/api/pipelines/{run_id}" else None)
    ui.goto(f"#/pipeline/{run_id}")
    expect(page.locator(".run-header .badge")).to_have_attribute("data-status", "completed")
    page.wait_for_timeout(2500)
    assert len(reads) == 1, reads

    # nor does a Draft controller whose steps stay pending (no controller will ever move them)
    draft = ui_server.post(f"/api/tasks/{run_id}/clone", {"name": "draft controller"})[1]["id"]
    run_user_script(filled_home["home"], tmp_path, PENDING_DAG_SCRIPT, draft, name="pending_dag.py")
    reads.clear()
    page.on("request", lambda request: reads.append(request.url)
            if urlparse(request.url).path == f"/api/pipelines/{draft}" else None)
    ui.goto(f"#/pipeline/{draft}")
    expect(page.locator(".run-header .badge")).to_have_attribute("data-status", "created")
    expect(page.locator('g.dag-node[data-status="pending"]')).to_have_count(2)
    page.wait_for_timeout(2500)
    assert len(reads) == 1, reads
    ui.assert_clean()


def test_web_link_debug_samples_show_as_links_and_the_page_needs_the_token(ui, ui_server, filled_home, tmp_path, browser):
    expect, page = _expect(), ui.page
    out = run_user_script(filled_home["home"], tmp_path, """
from pipetrack import Task
task = Task.init(project_name="uix/links", task_name="links")
task.get_logger().report_image("linked", "web", iteration=0, url="https://example.com/picture.png")
print("finished", task.id)
""", name="links.py").stdout
    task_id = re.search(r"finished (\w+)", out).group(1)
    ui.goto(f"#/task/{task_id}/samples")
    link = page.locator('.sample[data-variant="web"] a.external-link')
    expect(link).to_have_attribute("href", "https://example.com/picture.png")
    assert page.locator('.sample[data-variant="web"] img').count() == 0  # not fetched, not proxied
    # a browser without the cookie gets the login page, not the app
    fresh = browser.new_context()
    try:
        other = fresh.new_page()
        response = other.goto(ui_server.url)
        assert response.status == 401 and "pipetrack ui" in other.content()
    finally:
        fresh.close()


# ---------------------------------------------------------------------------------- 7. issue fixes
PARTIAL_SCRIPT = """
from pipetrack import Task
task = Task.init(project_name="uix/compare", task_name="partial run")
task.connect({"lr": 0.1, "epochs": 7, "dropout": 0.5}, name="Args")  # no Args/name; epochs differ
task.get_logger().report_scalar("loss", "train", value=1.0 / 5 * 0.1 * 10, iteration=4)  # as run a's last
print("finished", task.id)
"""


def _boxes_overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def _saved(page, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    assert path.is_file() and path.stat().st_size > 0, path
    return path


def test_scalars_mode_bar_never_covers_the_legend(ui, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 800})
        ui.goto(f"#/task/{filled_home['ids']['train_a']}/scalars")
        for title in ("loss", "accuracy"):
            chart = page.locator(f'.chart[data-title="{title}"]')
            legend = chart.locator(".infolayer .legend")
            expect(legend).to_be_visible()
            chart.hover()  # the mode bar shows while the pointer is over the chart
            page.wait_for_function("el => [...el.querySelectorAll('.modebar-group')].every("
                                   "g => getComputedStyle(g).opacity === '1')", arg=chart.element_handle())
            bar, key = chart.locator(".modebar").bounding_box(), legend.bounding_box()
            assert bar and key and bar["width"] > 0 and key["width"] > 0, (bar, key)
            assert not _boxes_overlap(bar, key), f"{title} at {width}px: mode bar {bar} covers the legend {key}"
        _saved(page, tmp_path / f"scalars-{width}.png")
    ui.assert_clean()


def test_task_tab_bar_has_no_scrollbar(ui, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 800})
        ui.goto(f"#/task/{filled_home['ids']['train_a']}/overview")
        tabs = page.locator("nav.tabs")
        expect(tabs.locator(".tab")).to_have_count(12)
        size = tabs.evaluate("el => ({sw: el.scrollWidth, cw: el.clientWidth, sh: el.scrollHeight, ch: el.clientHeight})")
        assert size["sw"] <= size["cw"] and size["sh"] <= size["ch"], f"the tab bar overflows at {width}px: {size}"
        assert tabs.locator(".tab").last.is_visible()  # every tab is on screen, none scrolled away
        _saved(page, tmp_path / f"tabs-{width}.png")
    ui.assert_clean()


def test_tasks_table_id_and_chosen_metric_and_parameter_columns(ui, ui_server, filled_home):
    expect, page, ids = _expect(), ui.page, filled_home["ids"]
    a, b = ids["train_a"], ids["train_b"]
    ui.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url.rstrip("/"))
    ui.goto("#/tasks?project=ui%2Ftraining&sort=name")
    row_a = page.locator(f'.tasks-table tr[data-id="{a}"]')
    expect(row_a.locator("td.id code")).to_have_text(a[:8])
    expect(row_a.locator("td.id code")).to_have_attribute("title", a)
    row_a.locator("button.copy-id").click()
    expect(page.locator("#notice")).to_contain_text(a)
    assert page.evaluate("() => navigator.clipboard.readText()") == a
    page.click('.tasks-table th[data-sort="id"]')
    expect(page.locator('.tasks-table th[data-sort="id"] .sort-arrow')).to_have_text(" ▲")
    expect(page.locator(".tasks-table tbody td.id code")).to_have_text(
        [r["id"][:8] for r in ui_server.get("/api/tasks?project=ui/training&sort=id")[1]["rows"]])
    ui.goto("#/tasks?project=ui%2Ftraining&sort=name")
    expect(page.locator(".tasks-table th.extra")).to_have_count(0)

    page.click("#columns-button")
    chooser = page.locator("#columns-dialog")
    expect(chooser.locator('[data-kind="metric"] label')).to_have_text(["accuracy / val", "loss / train", "loss / val"])
    expect(chooser.locator('[data-kind="param"] label')).to_have_text(["Args/epochs", "Args/lr", "Args/name"])
    chooser.locator("label", has_text="loss / train").locator("input").check()
    chooser.locator("label", has_text="Args/lr").locator("input").check()
    chooser.locator('[data-role="ok"]').click()
    extra = page.locator(".tasks-table th.extra")
    expect(extra).to_have_text(["loss / train", "Args/lr"])

    def cells(task_id: str):
        return page.locator(f'.tasks-table tr[data-id="{task_id}"] td.extra')

    expect(cells(a)).to_have_text(["0.2", "0.1"])
    expect(cells(b)).to_have_text(["0.6", "0.3"])
    expect(page.locator(".tasks-table tr", has_text="broken run").locator("td.extra")).to_have_text(["", ""])

    columns = "".join(f"&col={quote(json.dumps(c))}" for c in (["metric", "loss", "train"], ["param", "Args", "lr"]))

    def ordered(sort: str) -> list[str]:  # other tests of the module may have cloned tasks into ui/training
        names = [r["name"] for r in ui_server.get(f"/api/tasks?project=ui/training&sort={sort}{columns}")[1]["rows"]]
        ours = [name for name in names if name in ("run a", "run b", "broken run")]
        assert ours == (["run b", "run a"] if sort.startswith("-") else ["run a", "run b"]) + ["broken run"], sort
        assert names[-1] == "broken run"  # a task without the value comes last either way
        return names

    rows = page.locator(".tasks-table tbody td.name a")
    page.click('.tasks-table th[data-sort="col:1"]')  # by lr
    expect(rows).to_have_text(ordered("col:1"))
    page.click('.tasks-table th[data-sort="col:1"]')
    expect(rows).to_have_text(ordered("-col:1"))
    expect(page.locator('.tasks-table th[data-sort="col:1"] .sort-arrow')).to_have_text(" ▼")
    page.click('.tasks-table th[data-sort="col:0"]')  # by the last loss/train
    expect(rows).to_have_text(ordered("col:0"))

    page.reload()  # the columns are kept in this browser, the sort in the address
    page.wait_for_function("() => document.getElementById('main').dataset.ready === location.hash")
    expect(extra).to_have_text(["loss / train ▲", "Args/lr"])
    expect(rows).to_have_text(ordered("col:0"))
    expect(cells(b)).to_have_text(["0.6", "0.3"])
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('pipetrack.tasks.columns:ui/training'))")
    assert stored == [["metric", "loss", "train"], ["param", "Args", "lr"]]

    # they are the project's: another project (or all of them) has its own columns
    page.click('.project-tree a[data-project="ui/pipelines"]')
    expect(rows.first).to_be_visible()
    expect(extra).to_have_count(0)
    assert "col" not in page.url  # the extra column's sort went with it
    page.click('.project-tree a[data-project=""]')
    expect(page.locator(".pager-text")).to_contain_text("of")
    expect(extra).to_have_count(0)
    page.click('.project-tree a[data-project="ui/training"]')
    expect(extra).to_have_text(["loss / train", "Args/lr"])
    expect(cells(a)).to_have_text(["0.2", "0.1"])

    page.click("#columns-button")  # unticking a column removes it
    page.locator("#columns-dialog label", has_text="loss / train").locator("input").uncheck()
    page.locator('#columns-dialog [data-role="ok"]').click()
    expect(extra).to_have_text(["Args/lr"])
    expect(cells(a)).to_have_text(["0.1"])
    ui.assert_clean()


def test_compare_tells_missing_values_from_differing_ones(ui, filled_home, tmp_path):
    expect, page = _expect(), ui.page
    out = run_user_script(filled_home["home"], tmp_path, PARTIAL_SCRIPT, name="partial.py").stdout
    partial = re.search(r"finished (\w+)", out).group(1)
    ui.goto(f"#/compare?ids={filled_home['ids']['train_a']},{partial}")

    def param(name: str):
        return page.locator(f'.compare-params tr[data-param="Args/{name}"]')

    differs, missing = re.compile(r"\bdiffers\b"), re.compile(r"\bmissing\b")
    expect(param("epochs")).to_have_class(differs)  # both have it, with other values
    expect(param("epochs")).not_to_have_class(missing)
    for name, values in (("dropout", ["—", "0.5"]), ("name", ["run a", "—"])):  # one of them lacks it
        expect(param(name)).to_have_class(missing)
        expect(param(name)).not_to_have_class(differs)
        expect(param(name).locator(".missing-mark")).to_have_count(1)
        expect(param(name).locator(".diff-mark")).to_have_count(0)
        assert param(name).locator("td").all_inner_texts()[1:] == values
    expect(param("lr")).not_to_have_class(differs)
    expect(param("lr")).not_to_have_class(missing)
    colours = {name: param(name).evaluate("tr => getComputedStyle(tr.cells[1]).backgroundColor")
               for name in ("epochs", "dropout", "lr")}
    assert len(set(colours.values())) == 3, colours  # differs, missing and the same look different

    params_card = page.locator("section.card", has=page.locator(".compare-params"))
    expect(params_card.locator(".count-differs")).to_have_text("1 of 4 differ")
    expect(params_card.locator(".count-missing")).to_have_text("2 missing")
    metrics_card = page.locator("section.card", has=page.locator(".compare-metrics"))
    expect(metrics_card.locator(".count-differs")).to_have_text("0 of 3 differ")
    expect(metrics_card.locator(".count-missing")).to_have_text("2 missing")
    train = page.locator('.compare-metrics tr[data-metric="loss/train"]')
    expect(train).not_to_have_class(differs)
    expect(train).not_to_have_class(missing)
    for metric in ("loss/val", "accuracy/val"):
        row = page.locator(f'.compare-metrics tr[data-metric="{metric}"]')
        expect(row).to_have_class(missing)
        expect(row).not_to_have_class(differs)

    page.check("#only-differences")  # a missing value is still worth seeing
    expect(param("lr")).to_be_hidden()
    expect(train).to_be_hidden()
    for name in ("epochs", "dropout", "name"):
        expect(param(name)).to_be_visible()
    expect(page.locator('.compare-metrics tr[data-metric="loss/val"]')).to_be_visible()
    _saved(page, tmp_path / "compare.png")
    ui.assert_clean()
