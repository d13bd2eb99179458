"""TensorBoard writers under ``auto_connect_frameworks['tensorboard']``: a script that only adds
``Task.init`` gets its scalars, images, histograms, text and hparams recorded, with ClearML's
titles and series, and its event files written as without pipetrack."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from pipetrack.errors import ValidationError
from pipetrack.tracking.bindings import tensorboard
from pipetrack.tracking.bindings.options import framework_option
from tracking_helpers import task_id_of

STEPS = 6

# the user's script, as written for TensorBoard; {init} is where pipetrack's one line goes
TENSORBOARDX_SCRIPT = """
import sys
{init}
print("LAZY", "tensorboardX" not in sys.modules)
import numpy as np
from tensorboardX import SummaryWriter
from tensorboardX.event_file_writer import EventFileWriter

writer = SummaryWriter("runs/train")
val = SummaryWriter("runs/val")
for step in range({steps}):
    writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.add_scalar("train/accuracy", 0.5 + step / 20, step)
    writer.add_scalars("lr", {{"encoder": 0.1 * step, "decoder": 0.2 * step}}, step)
    val.add_scalar("loss", 2.0 / (step + 1), step)
rng = np.random.RandomState(0)
for step in range(2):
    writer.add_histogram("layer1/weights", rng.randn(1000) + step, step)
writer.add_image("samples/input", (rng.rand(3, 8, 8) * 255).astype("uint8"), 3)
writer.add_text("notes", "hello **tensorboard**", 0)
writer.add_hparams({{"lr": 0.01, "batch_size": 32, "optimizer": "adam", "shuffle": True}},
                   {{"hparam/accuracy": 0.9}}, name="hp")
writer.close()
val.close()
if "task" in globals():
    patched = EventFileWriter.add_event
    task.close()
    from pipetrack.tracking.bindings.hooks import original_of
    print("UNPATCHED", EventFileWriter.add_event is original_of(patched) and EventFileWriter.add_event is not patched)
    print("TASK", task.id)
"""
INIT = 'from pipetrack import Task\ntask = Task.init(project_name="tb", task_name="run"{extra})'


def _run(run_script, folder: Path, init: str = INIT, extra: str = "") -> str:
    code = TENSORBOARDX_SCRIPT.format(init=init.format(extra=extra) if init else "", steps=STEPS)
    return run_script(code, cwd=folder).stdout


def _events(logdir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                                               "tensors": 0})
    accumulator.Reload()
    return accumulator


def _scalar_values(accumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def _sample_bytes(sample: dict) -> bytes:
    return Path(urlparse(sample["url"]).path).read_bytes()


def test_tensorboardx_writer_is_recorded_with_clearml_names_and_event_files_unchanged(run_script, tmp_path):
    pytest.importorskip("tensorboardX")
    from pipetrack import Task
    out = _run(run_script, tmp_path / "tracked")
    assert "LAZY True" in out and "UNPATCHED True" in out  # no import on the user's behalf; close() unwraps
    task = Task.get_task(task_id=task_id_of(out))

    scalars = task.get_reported_scalars()
    steps = list(range(STEPS))
    assert set(scalars) == {"loss", "train", "lr", "hparam"}
    assert set(scalars["loss"]) == {"loss", "val: loss"}  # the second writer's logdir names its series
    assert scalars["loss"]["loss"]["x"] == steps
    assert scalars["loss"]["loss"]["y"] == pytest.approx([1.0 / (s + 1) for s in steps])
    assert scalars["loss"]["val: loss"]["y"] == pytest.approx([2.0 / (s + 1) for s in steps])
    assert list(scalars["train"]) == ["accuracy"] and scalars["train"]["accuracy"]["x"] == steps
    assert scalars["train"]["accuracy"]["y"] == pytest.approx([0.5 + s / 20 for s in steps])
    assert set(scalars["lr"]) == {"encoder", "decoder"}  # add_scalars: title = main tag, series = key
    assert scalars["lr"]["decoder"]["y"] == pytest.approx([0.2 * s for s in steps])
    assert scalars["hparam"]["accuracy"]["y"] == pytest.approx([0.9])

    params = task.get_parameters()
    assert {k: v for k, v in params.items() if k.startswith("TB_hparams/")} == {
        "TB_hparams/lr": "0.01", "TB_hparams/batch_size": "32", "TB_hparams/optimizer": "adam",
        "TB_hparams/shuffle": "True"}

    histograms = [p for p in task.get_reported_plots() if p["metric"] == "layer1"]
    assert [(p["variant"], p["iter"]) for p in histograms] == [("weights", 0), ("weights", 1)]
    for plot in histograms:
        bars = plot["plot"]["data"][0]
        assert bars["type"] == "bar" and len(bars["y"]) == tensorboard.HISTOGRAM_BINS
        assert sum(bars["y"]) == pytest.approx(1000)
    means = [sum(x * y for x, y in zip(p["plot"]["data"][0]["x"], p["plot"]["data"][0]["y"])) / 1000
             for p in histograms]
    assert means[1] - means[0] == pytest.approx(1.0, abs=0.15)  # the second step's data is shifted by 1

    images = task.get_debug_samples("samples", "input")
    assert [s["iter"] for s in images] == [3]
    texts = task.get_debug_samples("notes", "text_summary")
    assert [s["iter"] for s in texts] == [0] and _sample_bytes(texts[0]) == b"hello **tensorboard**"

    # the event files hold what an untracked run writes, and the stored image is the one written
    _run(run_script, tmp_path / "plain", init="")
    for run in ("runs/train", "runs/val", "runs/train/lr/encoder", "runs/train/hp"):
        tracked, plain = _events(tmp_path / "tracked" / run), _events(tmp_path / "plain" / run)
        assert tracked.Tags() == plain.Tags(), run
        for tag in tracked.Tags()["scalars"]:
            assert _scalar_values(tracked, tag) == _scalar_values(plain, tag)
    tracked = _events(tmp_path / "tracked" / "runs/train")
    assert len(tracked.Scalars("loss")) == STEPS and len(tracked.Histograms("layer1/weights")) == 2
    written = tracked.Images("samples/input")[0].encoded_image_string
    assert written.startswith(b"\x89PNG") and _sample_bytes(images[0]) == written


def test_report_hparams_false_keeps_hparams_out_of_the_parameters(run_script, tmp_path):
    pytest.importorskip("tensorboardX")
    from pipetrack import Task
    out = _run(run_script, tmp_path, extra=", auto_connect_frameworks={'tensorboard': {'report_hparams': False}}")
    task = Task.get_task(task_id=task_id_of(out))
    assert not [k for k in task.get_parameters() if k.startswith("TB_hparams/")]
    scalars = task.get_reported_scalars()
    assert scalars["loss"]["loss"]["x"] == list(range(STEPS))  # everything else is still recorded
    assert scalars["hparam"]["accuracy"]["y"] == pytest.approx([0.9])


def test_tensorboard_false_records_nothing_and_patches_nothing(run_script, tmp_path):
    pytest.importorskip("tensorboardX")
    from pipetrack import Task
    code = TENSORBOARDX_SCRIPT.format(
        init=INIT.format(extra=", auto_connect_frameworks={'tensorboard': False}"), steps=STEPS)
    code = code.replace("if \"task\" in globals():", "print('ORIGINAL', not hasattr(EventFileWriter.add_event, "
                                                       "'_pipetrack_original'))\nif True:")
    out = run_script(code, cwd=tmp_path).stdout
    task = Task.get_task(task_id=task_id_of(out))
    assert "ORIGINAL True" in out
    assert task.get_reported_scalars() == {} and task.get_reported_plots() == []
    assert not [k for k in task.get_parameters() if k.startswith("TB_hparams/")]
    assert len(_events(tmp_path / "runs/train").Scalars("loss")) == STEPS


def test_bad_tensorboard_settings_name_the_value_and_what_is_accepted():
    with pytest.raises(ValidationError, match=r"report_hparams'\] must be True or False, got 'no'"):
        tensorboard.connect(None, framework_option({"tensorboard": {"report_hparams": "no"}}, "tensorboard"))
    with pytest.raises(ValidationError, match=r"'report_histograms'; accepted values are: 'report_hparams'"):
        tensorboard.connect(None, framework_option({"tensorboard": {"report_histograms": True}}, "tensorboard"))


def test_torch_summary_writer_is_recorded(run_script, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("torch.utils.tensorboard")
    from pipetrack import Task
    out = run_script("""
        import numpy as np
        from pipetrack import Task
        task = Task.init(project_name="tb", task_name="torch")
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter("runs/torch")
        for step in range(4):
            writer.add_scalar("train/loss", 1.0 / (step + 1), step)
            writer.add_scalars("lr", {"encoder": 0.1 * step, "decoder": 0.2 * step}, step)
        writer.add_histogram("weights", np.random.RandomState(0).randn(500), 0)
        writer.add_image("digit", np.zeros((3, 8, 8), dtype="uint8"), 0)
        writer.add_text("notes", "from torch", 0)
        writer.add_hparams({"lr": 0.01, "layers": 3}, {"hparam/loss": 0.2}, run_name="hp")
        writer.close()
        print("TASK", task.id)
    """, cwd=tmp_path).stdout
    task = Task.get_task(task_id=task_id_of(out))
    scalars = task.get_reported_scalars()
    assert scalars["train"]["loss"]["x"] == [0, 1, 2, 3]
    assert set(scalars["lr"]) == {"encoder", "decoder"}  # torch names add_scalars' writers main_key
    assert scalars["hparam"]["loss"]["y"] == pytest.approx([0.2])
    params = task.get_parameters()
    assert params["TB_hparams/lr"] == "0.01" and params["TB_hparams/layers"] == "3"
    assert [(p["metric"], p["variant"]) for p in task.get_reported_plots()] == [("Histograms", "weights")]
    assert task.get_debug_samples("Images", "digit") and task.get_debug_samples("notes", "text_summary")
    assert len(_events(tmp_path / "runs/torch").Scalars("train/loss")) == 4


def test_tf_summary_is_recorded(run_script, tmp_path):
    pytest.importorskip("tensorflow")
    from pipetrack import Task
    out = run_script("""
        import numpy as np
        from pipetrack import Task
        task = Task.init(project_name="tb", task_name="tf")
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp
        train, val = tf.summary.create_file_writer("logs/train"), tf.summary.create_file_writer("logs/val")
        for step in range(3):
            with train.as_default():
                tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
            with val.as_default():
                tf.summary.scalar("loss", 2.0 / (step + 1), step=step)
        with train.as_default():
            tf.summary.histogram("weights", np.random.RandomState(0).randn(500), step=0)
            tf.summary.image("digit", np.zeros((1, 8, 8, 1), dtype="float32"), step=0)
            tf.summary.text("notes", "from tf", step=0)
            hp.hparams({"lr": 0.01, "optimizer": "adam"})
        train.flush(); val.flush()
        print("TASK", task.id)
    """, cwd=tmp_path, timeout=300).stdout
    task = Task.get_task(task_id=task_id_of(out))
    scalars = task.get_reported_scalars()
    assert scalars["loss"]["loss"]["y"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert scalars["loss"]["val: loss"]["y"] == pytest.approx([2.0, 1.0, 2 / 3])
    params = task.get_parameters()
    assert params["TB_hparams/lr"] == "0.01" and params["TB_hparams/optimizer"] == "adam"
    assert [(p["metric"], p["variant"]) for p in task.get_reported_plots()] == [("Histograms", "weights")]
    assert task.get_debug_samples("Images", "digit") and task.get_debug_samples("Text", "notes")
