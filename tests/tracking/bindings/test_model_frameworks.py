"""Model files and training metrics under ``auto_connect_frameworks`` (pytorch, joblib/scikit,
xgboost, lightgbm, catboost, keras): a small real training in a script that only adds
``Task.init`` records its per-round metrics with ClearML's titles and series, its saved files as
output models ``"<task> - <file stem>"`` (one per path, updated when re-saved, uploaded so they load
back), its loaded files as input models, and leaves out the files the option's wildcards reject."""
from __future__ import annotations

import pytest

from pipetrack import Task
from tracking_helpers import task_id_of

pytestmark = pytest.mark.timeout(240)

# Appended to every script: the process is left as it was (close() unwraps) and the task is named.
CLOSE = """
patched = {patched}
print("WRAPPED", all(getattr(f, "_pipetrack_original", None) is not None for f in patched))
task.close()
print("UNPATCHED", all(getattr(f, "_pipetrack_original", None) is None for f in {patched_after}))
print("TASK", task.id)
"""


def _run(run_script, code: str, patched: str) -> Task:
    out = run_script(code + CLOSE.format(patched=patched, patched_after=patched)).stdout
    assert "LAZY True" in out, out           # Task.init imported no framework on the user's behalf
    assert "WRAPPED True" in out, out         # the framework's functions were wrapped while the task ran
    assert "UNPATCHED True" in out, out      # and close() put them back
    return Task.get_task(task_id=task_id_of(out))


def _points(task: Task) -> dict:
    """{title: {series: iterations}} of the task's scalars (the resource monitor's left out)."""
    return {title: {series: list(values["x"]) for series, values in by_series.items()}
            for title, by_series in task.get_reported_scalars().items() if not title.startswith(":monitor:")}


def _only_output(task: Task, name: str, framework: str):
    outputs = task.models["output"]
    assert [m.name for m in outputs] == [name], [m.name for m in outputs]   # wildcard-rejected files left out
    model = outputs[0]
    assert model.framework == framework
    path = model.get_local_copy()
    assert path is not None and path.endswith(model.url.rsplit("/", 1)[1])
    return model, path


def _input_is(task: Task, model) -> None:
    inputs = task.models["input"]
    assert [m.id for m in inputs] == [model.id], [(m.name, m.id) for m in inputs]


# ----------------------------------------------------------------------------- xgboost
XGBOOST = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="xgb", auto_connect_frameworks={"xgboost": "*.json"})
print("LAZY", "xgboost" not in sys.modules)
import numpy as np
import xgboost as xgb

rng = np.random.RandomState(0)
X = rng.rand(300, 4)
y = X @ np.array([1.0, 2.0, 3.0, 4.0]) + rng.rand(300) * 0.1
train, valid = xgb.DMatrix(X[:200], label=y[:200]), xgb.DMatrix(X[200:], label=y[200:])
params = {"objective": "reg:squarederror", "eval_metric": ["rmse", "mae"], "max_depth": 3}
booster = xgb.train(params, train, num_boost_round=8, evals=[(train, "train"), (valid, "valid")], verbose_eval=False)
booster.save_model("model.json")
booster = xgb.train(params, train, num_boost_round=12, xgb_model=booster)   # no evals: nothing reported
booster.save_model("model.json")                                           # same path: the same model, updated
booster.save_model("skipped.ubj")                                          # not *.json: not registered
loaded = xgb.Booster(model_file="model.json")
print("ROUNDS", loaded.num_boosted_rounds())
regressor = xgb.XGBRegressor(n_estimators=5, max_depth=2)
regressor.fit(X[:200], y[:200], eval_set=[(X[200:], y[200:])], verbose=False)
"""


def test_xgboost_reports_each_round_and_registers_saved_and_loaded_files(run_script):
    xgb = pytest.importorskip("xgboost")
    task = _run(run_script, XGBOOST, "[xgb.Booster.save_model, xgb.Booster.load_model, xgb.train]")
    points = _points(task)
    # ClearML's names: title = eval set, series = metric; the nth training of the process (n > 0,
    # counting the one without evals) reports under "<eval set> - n"
    assert points == {"train": {"rmse": list(range(8)), "mae": list(range(8))},
                      "valid": {"rmse": list(range(8)), "mae": list(range(8))},
                      "validation_0 - 2": {"rmse": list(range(5))}}
    rmse = task.get_reported_scalars()["valid"]["rmse"]["y"]
    assert rmse[-1] < rmse[0]
    model, path = _only_output(task, "xgb - model", "XGBoost")
    assert model.url.endswith("/model.json")
    assert xgb.Booster(model_file=path).num_boosted_rounds() == 20   # the re-save's content was uploaded
    _input_is(task, model)


# ----------------------------------------------------------------------------- lightgbm
LIGHTGBM = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="lgb", auto_connect_frameworks={"lightgbm": ["*.txt"]})
print("LAZY", "lightgbm" not in sys.modules)
import numpy as np
import lightgbm as lgb

rng = np.random.RandomState(0)
X = rng.rand(300, 4)
y = X @ np.array([1.0, 2.0, 3.0, 4.0])
train = lgb.Dataset(X[:200], label=y[:200])
valid = lgb.Dataset(X[200:], label=y[200:], reference=train)
params = {"objective": "regression", "metric": ["l2", "l1"], "learning_rate": 0.2, "num_leaves": 7, "verbose": -1}
booster = lgb.train(params, train, num_boost_round=6, valid_sets=[train, valid], valid_names=["train", "valid"])
booster.save_model("model.txt")
booster.save_model("model.txt", num_iteration=4)    # same path: the same model, updated
booster.save_model("skipped.lgb")                   # not *.txt: not registered
loaded = lgb.Booster(model_file="model.txt")
print("TREES", loaded.num_trees())
"""


def test_lightgbm_reports_each_round_records_params_and_registers_files(run_script):
    lgb = pytest.importorskip("lightgbm")
    task = _run(run_script, LIGHTGBM, "[lgb.Booster.save_model, lgb.Booster.__init__, lgb.train, lgb.sklearn.train]")
    assert _points(task) == {"train": {"l2": list(range(6)), "l1": list(range(6))},
                             "valid": {"l2": list(range(6)), "l1": list(range(6))}}
    params = task.get_parameters()
    assert params["General/objective"] == "regression" and params["General/learning_rate"] == "0.2"
    model, path = _only_output(task, "lgb - model", "LightGBM")
    assert lgb.Booster(model_file=path).num_trees() == 4      # the re-save (4 iterations) was uploaded
    _input_is(task, model)


# ----------------------------------------------------------------------------- catboost
CATBOOST = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="cb", auto_connect_frameworks={"catboost": "*.cbm"})
print("LAZY", "catboost" not in sys.modules)
import numpy as np
import catboost
from catboost import CatBoostRegressor

rng = np.random.RandomState(0)
X = rng.rand(300, 4)
y = X @ np.array([1.0, 2.0, 3.0, 4.0])
model = CatBoostRegressor(iterations=7, depth=3, loss_function="RMSE", allow_writing_files=False, verbose=False)
model.fit(X[:200], y[:200], eval_set=(X[200:], y[200:]))
model.save_model("model.cbm")
model.save_model("model.cbm")                    # same path: the same model
model.save_model("skipped.json", format="json")  # not *.cbm: not registered
loaded = CatBoostRegressor().load_model("model.cbm")
print("TREES", loaded.tree_count_)
"""


def test_catboost_reports_each_iteration_and_registers_files(run_script):
    catboost = pytest.importorskip("catboost")
    task = _run(run_script, CATBOOST, "[catboost.CatBoost.save_model, catboost.CatBoost.load_model, "
                                      "catboost.CatBoostRegressor.fit]")
    # title = data set, series = metric, iteration = CatBoost's own (1-based) iteration number
    assert _points(task) == {"learn": {"RMSE": list(range(1, 8))}, "validation": {"RMSE": list(range(1, 8))}}
    model, path = _only_output(task, "cb - model", "CatBoost")
    assert catboost.CatBoostRegressor().load_model(path).tree_count_ == 7
    _input_is(task, model)


# ----------------------------------------------------------------------------- joblib / scikit-learn
JOBLIB = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="sk", auto_connect_frameworks={"scikit": "*.pkl"})
print("LAZY", "joblib" not in sys.modules)
import joblib
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

X, y = make_classification(n_samples=120, n_features=5, random_state=0)
clf = LogisticRegression(max_iter=200).fit(X, y)
joblib.dump(clf, "model.pkl")
clf.set_params(C=0.5).fit(X, y)
joblib.dump(clf, "model.pkl")          # same path: the same model, updated
joblib.dump(clf, "skipped.joblib")     # not *.pkl: not registered
print("SCORE", joblib.load("model.pkl").score(X, y))
"""


def test_joblib_registers_dumped_and_loaded_scikit_models(run_script):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    task = _run(run_script, JOBLIB, "[joblib.dump, joblib.load]")
    model, path = _only_output(task, "sk - model", "ScikitLearn")
    assert joblib.load(path).C == 0.5
    _input_is(task, model)


# ----------------------------------------------------------------------------- pytorch
PYTORCH = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="torch", auto_connect_frameworks={"pytorch": "*.pt"})
print("LAZY", "torch" not in sys.modules)
import torch

net = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
x, y = torch.randn(64, 3), torch.randn(64, 1)
for _ in range(3):
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(net(x), y).backward()
    optimizer.step()
    torch.save(net.state_dict(), "model.pt")      # each epoch: the same model, updated
torch.save(net.state_dict(), "skipped.bin")     # not *.pt: not registered
net.load_state_dict(torch.load("model.pt"))
"""


def test_pytorch_save_and_load_register_models(run_script):
    torch = pytest.importorskip("torch")
    task = _run(run_script, PYTORCH, "[torch.save, torch.load]")
    model, path = _only_output(task, "torch - model", "PyTorch")
    assert set(torch.load(path)) == {"weight", "bias"}
    _input_is(task, model)


# ----------------------------------------------------------------------------- keras
KERAS = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="keras", auto_connect_frameworks={"tensorflow": "*.keras"})
print("LAZY", "keras" not in sys.modules)
import numpy as np
import keras

x, y = np.random.rand(64, 3), np.random.rand(64, 1)
net = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
net.compile(optimizer="sgd", loss="mse", metrics=["mae"])
net.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
net.save("model.keras")
net.save("model.keras")                     # same path: the same model
net.save_weights("skipped.weights.h5")      # not *.keras: not registered
keras.models.load_model("model.keras")
"""


def test_keras_fit_reports_each_epoch_and_registers_models(run_script):
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    task = _run(run_script, KERAS, "[keras.Model.save, keras.models.load_model]")
    points = _points(task)
    for title in ("loss", "mae"):
        assert points[title] == {"train": [0, 1, 2], "validation": [0, 1, 2]}
    model, path = _only_output(task, "keras - model", "Keras")
    assert keras.models.load_model(path).count_params() == 3 * 4 + 4 + 4 + 1
    assert model.config_dict  # the architecture is the model's design
    _input_is(task, model)


# ----------------------------------------------------------------------------- another process's file
SAVE_ONLY = """
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="saver")
import joblib
joblib.dump({"weights": [1, 2, 3]}, "shared.pkl")
"""
LOAD_ONLY = """
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="loader")
import joblib
print("LOADED", joblib.load("shared.pkl"))
task.close()
print("TASK", task.id)
"""


def test_a_file_saved_by_another_process_is_imported_as_an_input_model(run_script):
    from pipetrack.tracking.models import InputModel
    if not hasattr(InputModel, "import_model"):
        pytest.skip("the models API has no InputModel.import_model: a file this process did not save "
                    "cannot be registered as an input model")
    run_script(SAVE_ONLY)
    out = run_script(LOAD_ONLY).stdout
    inputs = Task.get_task(task_id=task_id_of(out)).models["input"]
    assert [m.name for m in inputs] == ["loader - shared"] and inputs[0].framework == "ScikitLearn"


# ----------------------------------------------------------------------------- off switches
OFF = """
import sys
from pipetrack import Task
task = Task.init(project_name="frameworks", task_name="off", auto_connect_frameworks={option})
print("LAZY", True)
import numpy as np
import xgboost as xgb
import joblib

X, y = np.random.rand(50, 2), np.random.rand(50)
train = xgb.DMatrix(X, label=y)
booster = xgb.train({{"objective": "reg:squarederror"}}, train, num_boost_round=3, evals=[(train, "train")],
                    verbose_eval=False)
booster.save_model("model.json")
joblib.dump({{"a": 1}}, "data.pkl")
"""


@pytest.mark.parametrize("option, expected", [
    ("False", ([], {})),
    ("{'xgboost': False}", (["off - data"], {})),
    ("{'joblib': False, 'xgboost': True}", (["off - model"], {"train": {"rmse": [0, 1, 2]}})),
])
def test_a_framework_turned_off_records_nothing(run_script, option, expected):
    pytest.importorskip("xgboost")
    task = _run(run_script, OFF.format(option=option), "[]")
    assert ([m.name for m in task.models["output"]], _points(task)) == expected


def test_no_task_no_registration_and_a_failed_registration_does_not_break_the_save(tmp_path, monkeypatch):
    """model_files itself: without a current task a save registers nothing; a storage failure
    while registering warns and leaves the user's file saved."""
    from pipetrack.tracking.bindings import model_files
    from pipetrack.tracking.bindings.options import FrameworkOption
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"1234")
    option = FrameworkOption(True)
    assert model_files.register_output(option, model_files.PYTORCH, str(weights)) is None
    task = Task.init(project_name="frameworks", task_name="direct", auto_connect_frameworks=False)
    from pipetrack.tracking import models

    def refuse(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(models.OutputModel, "update_weights", refuse)
    with pytest.warns(RuntimeWarning, match="disk full"):
        assert model_files.register_output(option, model_files.PYTORCH, str(weights)) is None
    monkeypatch.undo()
    with open(weights, "rb") as handle:
        first = model_files.register_output(option, model_files.PYTORCH, handle)  # a file object: its name
    again = model_files.register_output(option, model_files.PYTORCH, weights)
    assert first is not None and again.id == first.id
    assert model_files.register_output(FrameworkOption(True, ("*.pt",)), model_files.PYTORCH, weights) is None
    folder = tmp_path / "saved_model"                     # a folder (a SavedModel): uploaded zipped
    (folder / "variables").mkdir(parents=True)
    (folder / "variables" / "v.data").write_bytes(b"5678")
    packed = model_files.register_output(option, model_files.KERAS, folder)
    assert packed.url.endswith("/saved_model.zip")
    assert (tmp_path.joinpath(packed.get_local_copy(), "variables", "v.data")).read_bytes() == b"5678"
    assert [m.name for m in task.models["output"]] == ["direct - w", "direct - saved_model"]


# ----------------------------------------------------------------------------- torch / keras call shapes
# torch and tensorflow are not always installed: these drive the bindings through stand-ins with the
# frameworks' public signatures (torch.save(obj, f), Model.fit(x, y, ..., callbacks=...)), so the
# argument positions and the callback protocol are checked everywhere; the real runs are above.
def _stand_in_torch():
    import pickle
    import types

    torch = types.ModuleType("torch_stand_in")

    def save(obj, f, pickle_module=pickle, pickle_protocol=2):
        with open(f, "wb") if isinstance(f, str) else _nothing(f) as handle:
            pickle_module.dump(obj, handle)

    def load(f, map_location=None, weights_only=True):
        with open(f, "rb") as handle:
            return pickle.load(handle)

    torch.save, torch.load = save, load
    return torch


class _nothing:
    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self.handle

    def __exit__(self, *exc):
        return False


def test_pytorch_binding_call_shapes(tmp_path, monkeypatch):
    from pipetrack.tracking.bindings import hooks, pytorch
    from pipetrack.tracking.bindings.options import framework_option
    monkeypatch.chdir(tmp_path)
    task = Task.init(project_name="frameworks", task_name="shapes", auto_connect_frameworks=False)
    torch = _stand_in_torch()
    pytorch._bind(torch, framework_option({"pytorch": "*.pt"}, "pytorch"))
    try:
        torch.save({"w": 1}, "model.pt")
        with open("model.pt", "wb") as handle:               # a file object: registered by its name
            torch.save({"w": 2}, handle)
        torch.save({"w": 3}, f="other.bin")                  # not *.pt
        assert torch.load(f="model.pt") == {"w": 2}
    finally:
        hooks.restore_all()
    outputs = task.models["output"]
    assert [(m.name, m.framework) for m in outputs] == [("shapes - model", "PyTorch")]
    assert torch.load(outputs[0].get_local_copy()) == {"w": 2}
    assert [m.id for m in task.models["input"]] == [outputs[0].id]


def _stand_in_keras():
    import json
    import types

    keras = types.ModuleType("keras_stand_in")

    class Callback:
        pass

    class Model:
        def __init__(self, units):
            self.units = units

        def get_config(self):
            return {"units": self.units}

        def save(self, filepath, overwrite=True):
            with open(filepath, "w") as handle:
                json.dump(self.get_config(), handle)

        def save_weights(self, filepath, overwrite=True):
            self.save(filepath)

        def load_weights(self, filepath, skip_mismatch=False):
            with open(filepath) as handle:
                self.units = json.load(handle)["units"]

        def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
                validation_split=0.0):
            for epoch in range(epochs):
                for callback in callbacks or []:
                    callback.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1),
                                                  "note": "not a number"})

    def load_model(filepath, custom_objects=None, compile=True):
        with open(filepath) as handle:
            return Model(json.load(handle)["units"])

    keras.Model = Model
    keras.callbacks = types.SimpleNamespace(Callback=Callback)
    keras.models = types.SimpleNamespace(load_model=load_model)
    keras.saving = types.SimpleNamespace(load_model=load_model)
    return keras


def test_keras_binding_call_shapes(tmp_path, monkeypatch):
    from pipetrack.tracking.bindings import hooks, keras as keras_binding
    from pipetrack.tracking.bindings.options import framework_option
    monkeypatch.chdir(tmp_path)
    task = Task.init(project_name="frameworks", task_name="shapes", auto_connect_frameworks=False)
    keras = _stand_in_keras()
    keras_binding._bind(keras, framework_option({"keras": "*.keras"}, "tensorflow", ("keras",)))
    try:
        net = keras.Model(4)
        mine = []
        net.fit([0], [0], 16, 3, 0, mine)                      # callbacks given by position
        assert mine == []                                      # the user's list is left as it was
        net.save("model.keras")
        net.save(filepath="model.keras")
        net.save_weights("skipped.h5")
        keras.saving.load_model("model.keras")
        net.load_weights("model.keras")
    finally:
        hooks.restore_all()
    assert _points(task) == {"loss": {"train": [0, 1, 2], "validation": [0, 1, 2]}}   # "note" is no number
    assert task.get_reported_scalars()["loss"]["validation"]["y"] == [2.0, 1.0, 2.0 / 3]
    outputs = task.models["output"]
    assert [(m.name, m.framework, m.config_dict) for m in outputs] == [("shapes - model", "Keras", {"units": 4})]
    assert [m.id for m in task.models["input"]] == [outputs[0].id]
