"""Models: output models from files and folders, lookup by position and name, input models."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipetrack import InputModel, OutputModel, Task
from pipetrack.errors import NotFoundError
from tracking_helpers import task_id_of

pytestmark = pytest.mark.usefixtures("store_backend")  # the shared suite: SQLite and PostgreSQL


def test_update_output_model_file_and_folder(run_script, tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(4096))
    folder = tmp_path / "saved_model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_text("graph")
    (folder / "variables" / "data").write_text("numbers")
    proc = run_script(f"""
        from pipetrack import Task
        task = Task.init("models", "producer")
        print("TASK", task.id)
        url = task.update_output_model({str(weights)!r}, name="best", comment="epoch 3", tags=["gold"], iteration=3)
        print("URL", url)
        task.update_output_model({str(folder)!r}, name="exported")
    """)
    task = Task.get_task(task_id_of(proc.stdout))
    assert weights.exists(), "the user's weights file is never deleted"
    models = task.models["output"]
    assert [m.name for m in models] == ["best", "exported"]
    best = task.models["output"]["best"]
    assert best is not None and best.id == models[0].id and task.models["output"][-1].name == "exported"
    assert (best.comment, best.tags, best.iteration, best.task) == ("epoch 3", ["gold"], 3, task.id)
    assert best.url in proc.stdout
    assert Path(best.get_local_copy()).read_bytes() == weights.read_bytes()
    exported = Path(task.models["output"]["exported"].get_local_copy())
    assert exported.is_dir() and (exported / "variables" / "data").read_text() == "numbers"
    assert task.output_models_id == {"best": best.id, "exported": models[1].id}
    with pytest.raises(KeyError, match="best"):
        task.models["output"]["missing"]
    # a task that stored models is never reused by Task.init
    rerun = run_script("""
        from pipetrack import Task
        print("TASK", Task.init("models", "producer").id)
    """)
    assert task_id_of(rerun.stdout) != task.id


def test_input_models_by_id_and_name(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_text("weights")
    producer = Task.init("models", "train", auto_connect_streams=False)
    producer.update_output_model(str(weights), name="resnet")
    model_id = producer.models["output"]["resnet"].id
    producer.close()

    consumer = Task.init("models", "evaluate", auto_connect_streams=False)
    consumer.set_input_model(model_id=model_id)
    consumer.set_input_model(model_name="resnet", name="same-by-name")
    inputs = consumer.models["input"]
    assert [m.id for m in inputs] == [model_id, model_id]
    assert inputs["same-by-name"].id == model_id
    assert Path(inputs[0].get_local_copy()).read_text() == "weights"
    with pytest.raises(NotFoundError):
        consumer.set_input_model(model_id="0" * 32)
    with pytest.raises(NotFoundError):
        consumer.set_input_model(model_name="no-such-model")

    by_name = InputModel(name="resnet", project="models")
    assert by_name.id == model_id and by_name.url == producer.models["output"][0].url
    clone = Task.clone(consumer)
    assert [m.id for m in clone.models["input"]] == [model_id, model_id], "clones keep input models"


def test_output_model_class(tmp_path):
    task = Task.init("models", "output-model-class", auto_connect_streams=False)
    model = OutputModel(task=task, name="manual", config_dict={"layers": 3}, label_enumeration={"cat": 1})
    path = tmp_path / "m.bin"
    path.write_bytes(b"\x00\x01")
    url = model.update_weights(weights_filename=str(path), iteration=7)
    stored = task.models["output"]["manual"]
    assert stored.url == url and stored.iteration == 7 and stored.labels == {"cat": 1}
    assert '"layers": 3' in stored.config_text
    assert Path(stored.get_weights()).read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError, match="do not exist"):
        OutputModel(task=task, name="x").update_weights(weights_filename=str(tmp_path / "missing.bin"))
