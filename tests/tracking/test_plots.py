"""Every Logger plot kind is stored as a plotly-compatible figure dict; single values and text."""
from __future__ import annotations

import json

import pytest

from pipetrack import Task
from pipetrack.tracking.logger import SeriesInfo
from tracking_helpers import task_id_of

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def _plots_by_metric(task: Task) -> dict[str, dict]:
    plots = task.get_reported_plots()
    for plot in plots:
        assert plot["type"] == "plot" and plot["task"] == task.id and isinstance(plot["timestamp"], int)
        assert json.loads(plot["plot_str"]) == plot["plot"]
        figure = plot["plot"]
        assert isinstance(figure["data"], list) and isinstance(figure["layout"], dict)
    return {p["metric"]: p for p in plots}


def test_every_plot_kind_from_a_script(run_script, tmp_path):
    csv_path = tmp_path / "table.csv"
    csv_path.write_text("name,score\nalice,1.5\nbob,2\n")
    proc = run_script(f"""
        import numpy as np
        import pandas as pd
        from pipetrack import Task
        from pipetrack.tracking.logger import SeriesInfo
        task = Task.init("plots", "all-kinds")
        print("TASK", task.id)
        log = task.get_logger()
        frame = pd.DataFrame({{"a": [1, 2], "b": [0.5, 0.25]}}, index=pd.Index(["r1", "r2"], name="row"))
        log.report_table("table-df", "s", iteration=0, table_plot=frame)
        log.report_table("table-rows", "s", iteration=0, table_plot=[["x", "y"], [1, 2], [3, 4]])
        log.report_table("table-csv", "s", iteration=0, csv={str(csv_path)!r})
        log.report_histogram("histogram", "s", values=np.array([3, 1, 2]), iteration=1, xlabels=["a", "b", "c"],
                             xaxis="letters", yaxis="count")
        log.report_vector("vector", "s", values=[1.0, 2.0], iteration=1, labels=["one", "two"])
        log.report_line_plot("lines", [SeriesInfo("up", data=[[0, 0], [1, 1]]),
                                       SeriesInfo(name="down", data=np.array([[0, 1], [1, 0]]))],
                             xaxis="t", yaxis="v", mode="lines+markers", iteration=2)
        log.report_scatter2d("scatter2d", "s", scatter=np.array([[0, 1], [1, 3], [2, 5]]), iteration=2,
                             mode="markers", labels=["p", "q", "r"])
        log.report_scatter3d("scatter3d", "s", scatter=[[0, 1, 2], [3, 4, 5]], iteration=2, zaxis="depth")
        log.report_confusion_matrix("confusion", "s", matrix=np.eye(2, dtype=int), iteration=3,
                                    xlabels=["cat", "dog"], ylabels=["cat", "dog"], yaxis_reversed=True)
        log.report_matrix("matrix", "s", matrix=[[1, 2], [3, 4]], iteration=3)
        log.report_surface("surface", "s", matrix=np.arange(6).reshape(2, 3), iteration=3, camera=(1, 1, 1))
        log.report_plotly("plotly", "s", figure={{"data": [{{"type": "pie", "values": [1, 2]}}],
                                               "layout": {{"title": "pie"}}}}, iteration=4)
        log.report_single_value("accuracy", 0.93)
        log.report_single_value("accuracy", 0.95)
        log.report_single_value("f1", np.float32(0.5))
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    plots = _plots_by_metric(task)
    assert set(plots) == {"table-df", "table-rows", "table-csv", "histogram", "vector", "lines", "scatter2d",
                          "scatter3d", "confusion", "matrix", "surface", "plotly"}

    df = plots["table-df"]["plot"]["data"][0]
    assert df["type"] == "table" and df["header"]["values"] == ["row", "a", "b"]
    assert df["cells"]["values"] == [["r1", "r2"], [1, 2], [0.5, 0.25]]
    rows = plots["table-rows"]["plot"]["data"][0]
    assert rows["header"]["values"] == ["x", "y"] and rows["cells"]["values"] == [[1, 3], [2, 4]]
    csv = plots["table-csv"]["plot"]["data"][0]
    assert csv["header"]["values"] == ["name", "score"] and csv["cells"]["values"][0] == ["alice", "bob"]

    hist = plots["histogram"]
    assert hist["iter"] == 1 and hist["variant"] == "s"
    assert hist["plot"]["data"][0]["type"] == "bar" and hist["plot"]["data"][0]["y"] == [3, 1, 2]
    assert hist["plot"]["data"][0]["x"] == ["a", "b", "c"]
    assert hist["plot"]["layout"]["xaxis"]["title"]["text"] == "letters"
    assert plots["vector"]["plot"]["data"][0]["text"] == ["one", "two"]

    lines = plots["lines"]["plot"]["data"]
    assert [t["name"] for t in lines] == ["up", "down"] and lines[1]["y"] == [1, 0]
    assert all(t["type"] == "scatter" and t["mode"] == "lines+markers" for t in lines)
    scatter = plots["scatter2d"]["plot"]["data"][0]
    assert scatter["x"] == [0, 1, 2] and scatter["y"] == [1, 3, 5] and scatter["mode"] == "markers"
    s3 = plots["scatter3d"]["plot"]
    assert s3["data"][0]["type"] == "scatter3d" and s3["data"][0]["z"] == [2, 5]
    assert s3["layout"]["scene"]["zaxis"]["title"]["text"] == "depth"

    confusion = plots["confusion"]["plot"]
    assert confusion["data"][0]["type"] == "heatmap" and confusion["data"][0]["z"] == [[1, 0], [0, 1]]
    assert confusion["data"][0]["x"] == ["cat", "dog"] and confusion["layout"]["yaxis"]["autorange"] == "reversed"
    assert plots["matrix"]["plot"]["data"][0]["z"] == [[1, 2], [3, 4]]
    surface = plots["surface"]["plot"]
    assert surface["data"][0]["type"] == "surface" and surface["data"][0]["z"] == [[0, 1, 2], [3, 4, 5]]
    assert surface["layout"]["scene"]["camera"]["eye"] == {"x": 1, "y": 1, "z": 1}
    assert plots["plotly"]["plot"]["data"][0]["type"] == "pie"

    assert task.get_reported_single_values() == {"accuracy": 0.95, "f1": 0.5}
    assert task.get_reported_single_value("accuracy") == 0.95
    assert task.get_reported_single_value("missing") is None
    assert task.get_last_iteration() == 4, "plot iterations count as reported iterations"


def test_max_iterations_and_bad_input():
    task = Task.init("plots", "history")
    log = task.get_logger()
    for it in range(5):
        log.report_histogram("h", "s", values=[it], iteration=it)
    log.report_plotly("no-iter", "s", figure={"data": []})
    plots = task.get_reported_plots(max_iterations=2)
    assert sorted(p["iter"] for p in plots if p["iter"] is not None) == [3, 4]
    assert any(p["iter"] is None for p in plots)
    with pytest.raises(ValueError, match="mode"):
        log.report_histogram("h", "s", values=[1], mode="sideways")
    with pytest.raises(ValueError, match="exactly one"):
        log.report_table("t", "s", table_plot=[["a"]], csv="x.csv")
    with pytest.raises(ValueError, match="DataFrame or a list of rows"):
        log.report_table("t", "s", table_plot="not a table")
    with pytest.raises(ValueError, match="plotly"):
        log.report_plotly("p", "s", figure=[1, 2, 3])
    with pytest.raises(ValueError, match="mode"):
        log.report_line_plot("l", [SeriesInfo("a", [[0, 0]])], xaxis="x", yaxis="y", mode="dots")


def test_logger_current_logger_and_text_levels():
    import logging
    assert Task.current_task() is None
    task = Task.init("plots", "current-logger", auto_connect_streams=False)
    assert Task.current_task().get_logger() is task.logger
    from pipetrack import Logger
    assert Logger.current_logger() is task.get_logger()
    task.logger.report_text("careful", level=logging.WARNING, print_console=False)
    task.logger.flush()
    assert task.get_reported_console_output() == ["careful"]
    level = task._store.query_one("SELECT level FROM console WHERE task_id=?", (task.id,))["level"]
    assert level == "warning"
