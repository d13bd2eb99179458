"""Debug samples (images, media) stored through storage, and matplotlib capture."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipetrack import StorageManager, Task
from tracking_helpers import task_id_of

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def _local(url: str) -> Path:
    return Path(StorageManager.get_local_copy(url))


def test_report_image_every_source(run_script, tmp_path):
    np = pytest.importorskip("numpy")
    Image = pytest.importorskip("PIL.Image")
    png = tmp_path / "picture.png"
    Image.fromarray(np.full((4, 4, 3), 200, dtype="uint8")).save(png)
    proc = run_script(f"""
        import numpy as np
        from PIL import Image
        from pipetrack import Task
        task = Task.init("samples", "images")
        print("TASK", task.id)
        log = task.get_logger()
        log.report_image("array", "gray", iteration=0, image=np.zeros((8, 6), dtype="uint8"))
        log.report_image("array", "float-rgb", iteration=0, image=np.ones((5, 5, 3)) * 0.5)
        log.report_image("pil", "img", iteration=1, image=Image.new("RGB", (3, 2), (255, 0, 0)))
        log.report_image("file", "png", iteration=2, local_path={str(png)!r})
        log.report_image("link", "remote", iteration=3, url="https://example.com/cat.jpg")
        for i in range(7):
            log.report_image("history", "cycle", iteration=i, image=np.full((2, 2), i * 30, dtype="uint8"),
                             max_image_history=3)
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    from PIL import Image as PILImage
    gray = task.get_debug_samples("array", "gray")
    assert len(gray) == 1 and gray[0]["iter"] == 0
    assert PILImage.open(_local(gray[0]["url"])).size == (6, 8)
    rgb = PILImage.open(_local(task.get_debug_samples("array", "float-rgb")[0]["url"]))
    assert rgb.mode == "RGB" and rgb.getpixel((0, 0)) == (127, 127, 127)
    assert PILImage.open(_local(task.get_debug_samples("pil", "img")[0]["url"])).getpixel((0, 0)) == (255, 0, 0)
    assert _local(task.get_debug_samples("file", "png")[0]["url"]).read_bytes() == png.read_bytes()
    assert png.exists()
    assert task.get_debug_samples("link", "remote")[0]["url"] == "https://example.com/cat.jpg"

    history = task.get_debug_samples("history", "cycle")
    assert len(history) == 3, "max_image_history keeps the last 3 slots"
    assert [s["iter"] for s in history] == [6, 5, 4], "newest first"
    assert len({s["url"] for s in history}) == 3
    newest = PILImage.open(_local(history[0]["url"]))
    assert newest.getpixel((0, 0)) == 180
    assert [s["iter"] for s in task.get_debug_samples("history", "cycle", n_last_iterations=2)] == [6, 5]
    with pytest.raises(TypeError):
        task.get_debug_samples("history", "cycle", n_last_iterations=0)


def test_report_media_and_bad_input(tmp_path):
    task = Task.init("samples", "media", auto_connect_streams=False)
    log = task.get_logger()
    audio = tmp_path / "sound.wav"
    audio.write_bytes(b"RIFF....WAVE")
    log.report_media("audio", "clip", iteration=1, local_path=str(audio))
    log.report_media("html", "page", iteration=1, stream=io.StringIO("<b>hi</b>"), file_extension="html")
    log.report_media("video", "link", iteration=2, url="s3://bucket/v.mp4")
    clip = task.get_debug_samples("audio", "clip")[0]["url"]
    assert clip.endswith(".wav") and _local(clip).read_bytes() == b"RIFF....WAVE"
    page = task.get_debug_samples("html", "page")[0]["url"]
    assert page.endswith(".html") and _local(page).read_text() == "<b>hi</b>"
    assert task.get_debug_samples("video", "link")[0]["url"] == "s3://bucket/v.mp4"
    with pytest.raises(ValueError, match="exactly one"):
        log.report_media("a", "b", iteration=0)
    with pytest.raises(ValueError, match="file_extension"):
        log.report_media("a", "b", iteration=0, stream=io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="not an existing file"):
        log.report_image("a", "b", iteration=0, local_path=str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="exactly one"):
        log.report_image("a", "b", iteration=0)


@pytest.mark.parametrize("pyplot_first", [False, True])
def test_matplotlib_figure_and_plt_show_capture(run_script, pyplot_first):
    pytest.importorskip("matplotlib")
    before, after = ("import matplotlib.pyplot as plt", "") if pyplot_first else \
        ("", "import matplotlib.pyplot as plt   # imported after Task.init: patched on import")
    proc = run_script(f"""
        import matplotlib
        matplotlib.use("Agg")
        {before}
        from pipetrack import Task
        task = Task.init("samples", "matplotlib")
        print("TASK", task.id)
        {after}
        fig = plt.figure()
        plt.plot([1, 2, 3], [3, 1, 2])
        task.get_logger().report_matplotlib_figure("manual", "fig", fig, iteration=1)
        plt.title("shown")
        plt.show()
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    plots = {p["metric"]: p for p in task.get_reported_plots()}
    assert "manual" in plots and len(plots) == 2
    for plot in plots.values():
        image_url = plot["plot"]["layout"]["images"][0]["source"]
        assert _local(image_url).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
