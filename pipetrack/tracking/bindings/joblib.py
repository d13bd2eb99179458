"""joblib (scikit-learn models): a file written by ``joblib.dump`` is registered as an output
model of the current task, a file read by ``joblib.load`` as an input model (see
``model_files``). The framework is ``XGBoost`` for an xgboost object, else ``ScikitLearn`` (as
ClearML names them). joblib has no save hook, so ``dump`` / ``load`` are wrapped; code that took
``from joblib import dump`` before ``Task.init`` keeps the unwrapped function."""
from __future__ import annotations

from typing import Any

from . import model_files
from .hooks import patch, when_imported
from .options import FrameworkOption


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("joblib", lambda joblib: _bind(joblib, option))


def _bind(joblib: Any, option: FrameworkOption) -> None:
    patch(joblib, "dump", model_files.saving(option, _framework_of_dumped, model_files.argument(1, "filename")))
    patch(joblib, "load", model_files.loading(option, model_files.SCIKIT_LEARN, model_files.argument(0, "filename")))


def _framework_of_dumped(args: tuple, kwargs: dict) -> str:
    value = kwargs["value"] if "value" in kwargs else args[0]
    module = getattr(type(value), "__module__", "") or ""
    return model_files.XGBOOST if module.partition(".")[0] == "xgboost" else model_files.SCIKIT_LEARN
