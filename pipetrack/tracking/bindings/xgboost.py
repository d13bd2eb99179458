"""XGBoost: model files and per-round evaluation metrics of the current task.

- ``Booster.save_model`` (also behind the scikit-learn wrappers' ``save_model``) registers an
  output model (framework ``XGBoost``), ``Booster.load_model`` (also ``Booster(model_file=...)``
  and the wrappers' ``load_model``) an input model; see ``model_files``.
- Training (``xgboost.train`` and the wrappers' ``fit``, which call it) gets one more callback, an
  ``xgboost.callback.TrainingCallback``: after each boosting round it reports every evaluation
  result as a scalar, title = the eval set's name (``train``, ``valid`` ...), series = the metric
  (``rmse``, ``logloss`` ...), iteration = the round, as ClearML does. The second training of a
  process reports under ``"<eval set> - 1"``, the third ``"<eval set> - 2"`` ..., so runs don't mix.
  ``train`` is wrapped only to append the callback (XGBoost has no global callback registry).
"""
from __future__ import annotations

import itertools
from typing import Any

from . import model_files
from .hooks import patch, when_imported
from .options import FrameworkOption

_trainings = itertools.count()


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("xgboost", lambda xgboost: _bind(xgboost, option))


def _bind(xgboost: Any, option: FrameworkOption) -> None:
    booster = xgboost.Booster
    patch(booster, "save_model", model_files.saving(option, model_files.XGBOOST, model_files.argument(1, "fname")))
    patch(booster, "load_model", model_files.loading(option, model_files.XGBOOST, model_files.argument(1, "fname")))
    callback_class = _callback_class(xgboost.callback.TrainingCallback)
    for module in (xgboost, xgboost.training, getattr(xgboost, "sklearn", None)):
        if module is not None and hasattr(module, "train"):
            patch(module, "train", lambda original: _with_callback(original, callback_class))


def _with_callback(original: Any, callback_class: type) -> Any:
    import functools

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        from ..task import Task
        if Task.current_task() is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), callback_class(next(_trainings))]
        return original(*args, **kwargs)

    return train


def _callback_class(base: type) -> type:
    class ReportingCallback(base):  # type: ignore[misc, valid-type]
        """Reports each round's evaluation results to the current task."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.suffix = f" - {index}" if index else ""

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            from ..task import Task
            task = Task.current_task()
            if task is not None and evals_log:
                logger = task.get_logger()
                for data, metrics in evals_log.items():
                    for metric, values in metrics.items():
                        value = values[-1]
                        if isinstance(value, tuple):  # xgboost.cv logs (mean, std)
                            value = value[0]
                        logger.report_scalar(f"{data}{self.suffix}", metric, float(value), iteration=epoch)
            return False

    return ReportingCallback
