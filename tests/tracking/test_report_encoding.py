"""Text the store can't encode: names with lone surrogates are refused when reported, console
text with them is kept escaped, and a row the store refuses at flush time costs only itself.

Real stores in the test's PIPETRACK_HOME and real subprocesses; nothing is mocked.
"""
from __future__ import annotations

import pytest

from pipetrack import Task
from pipetrack.errors import ValidationError
from tracking_helpers import task_id_of

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL

LONE = "\ud800"  # a lone surrogate: a valid Python str that has no UTF-8 encoding


def _task(name: str) -> Task:
    return Task.init("robust", name, auto_connect_streams=False, auto_resource_monitoring=False,
                     auto_connect_frameworks=False, auto_connect_arg_parser=False)


@pytest.mark.parametrize("where", ["title", "series"])
def test_lone_surrogate_scalar_name_is_refused_and_costs_no_other_scalar(where):
    task = _task(f"surrogate-scalar-{where}")
    logger = task.get_logger()
    for i in range(1000):
        logger.report_scalar("loss", "train", float(i), i)
    bad = (f"loss{LONE}", "train") if where == "title" else ("loss", f"train{LONE}")
    with pytest.raises(ValidationError) as info:
        logger.report_scalar(*bad, 1.0, 0)
    assert "surrogate" in str(info.value) and repr(bad[0] if where == "title" else bad[1]) in str(info.value)
    with pytest.raises(ValidationError):  # refused every time, not only the first (the check is cached)
        logger.report_scalar(*bad, 2.0, 1)
    for i in range(1000, 2000):
        logger.report_scalar("loss", "train", float(i), i)
    logger.flush()
    series = task.get_all_reported_scalars()
    assert series["loss"]["train"]["x"] == list(range(2000))


def test_flush_keeps_every_good_row_when_one_row_cannot_be_stored():
    """Even a row that slipped past validation (straight into the buffer) costs only itself."""
    task = _task("surrogate-flush")
    buffer = task._reports
    for i in range(2000):
        buffer.add_scalar(task.id, "good", "series", i, float(i))
    buffer.scalars.append((task.id, f"bad{LONE}", "series", 0, 1.0, 0.0))
    buffer.single_values.append((task.id, f"bad{LONE}", 1.0, 0.0))
    buffer.single_values.append((task.id, "fine", 2.0, 0.0))
    buffer.add_console(task.id, "a console line")
    buffer.flush()
    assert len(task.get_all_reported_scalars()["good"]["series"]["y"]) == 2000
    assert task.get_reported_single_values() == {"fine": 2.0}
    assert task.get_reported_console_output(5) == ["a console line"]


def test_console_text_with_surrogates_is_kept_escaped():
    task = _task("surrogate-console")
    logger = task.get_logger()
    logger.report_text(f"file {LONE}name.txt", print_console=False)
    task._reports.add_console(task.id, "undecodable \udcff byte from os.listdir")
    logger.report_text("plain line", print_console=False)
    logger.flush()
    assert task.get_reported_console_output(10) == ["file \\ud800name.txt",
                                                    "undecodable \\udcff byte from os.listdir", "plain line"]


def test_printed_surrogates_reach_the_console_log(run_script):
    proc = run_script(f"""
        import sys
        from pipetrack import Task
        task = Task.init("robust", "surrogate-print")
        print("TASK", task.id)
        sys.stdout.write("before\\n")
        try:
            print("name with \\udcff byte")
        except UnicodeEncodeError:
            pass
        sys.stderr.write("err \\ud800 line\\n")
        print("after")
    """, env={"PYTHONIOENCODING": "utf-8:backslashreplace"})
    lines = Task.get_task(task_id_of(proc.stdout)).get_reported_console_output(20)
    text = "\n".join(lines)
    assert "before" in text and "after" in text
    assert "name with \\udcff byte" in text and "err \\ud800 line" in text


def test_plot_single_value_and_debug_sample_names_with_surrogates_are_refused(tmp_path):
    task = _task("surrogate-others")
    logger = task.get_logger()
    figure = {"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}
    with pytest.raises(ValidationError, match="surrogate"):
        logger.report_plotly(f"plot{LONE}", "s", figure)
    with pytest.raises(ValidationError, match="surrogate"):
        logger.report_histogram("plot", f"s{LONE}", [1, 2, 3])
    with pytest.raises(ValidationError, match="surrogate"):
        logger.report_single_value(f"acc{LONE}", 0.5)
    image = tmp_path / "image.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValidationError, match="surrogate"):
        logger.report_image(f"img{LONE}", "s", iteration=0, local_path=str(image))
    with pytest.raises(ValidationError, match="surrogate"):
        logger.report_media("media", f"s{LONE}", iteration=0, url="file:///tmp/x.mp4")
    logger.report_plotly("plot", "s", figure)
    logger.report_single_value("acc", 0.5)
    logger.report_image("img", "s", iteration=0, local_path=str(image))
    logger.flush()
    assert [p["metric"] for p in task.get_reported_plots()] == ["plot"]
    assert task.get_reported_single_values() == {"acc": 0.5}
    assert len(task.get_debug_samples("img", "s")) == 1
