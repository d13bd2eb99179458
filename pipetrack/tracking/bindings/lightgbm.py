"""LightGBM: model files, per-round evaluation metrics and training parameters of the current task.

- ``Booster.save_model`` (also the scikit-learn wrappers' ``booster_.save_model``) registers an
  output model (framework ``LightGBM``); ``Booster(model_file=...)`` (what ``lightgbm.Booster``
  loading and ``init_model`` paths use) an input model; see ``model_files``.
- Training (``lightgbm.train`` and the scikit-learn wrappers' ``fit``, which call it) gets one
  more entry in its ``callbacks`` list: after each round it reports every evaluation result as a
  scalar, title = the validation set's name (``training``, ``valid_0`` or the given
  ``valid_names``), series = the metric (``l2``, ``binary_logloss`` ...), iteration = the round,
  as ClearML does. ``lightgbm.train(params, ...)`` also records ``params`` under ``General``
  after training (as ClearML's ``task.connect(params)`` does). ``train`` is wrapped only to add
  the callback and read the params: LightGBM has no global callback registry.
"""
from __future__ import annotations

import functools
from typing import Any

from . import model_files
from .hooks import patch, when_imported
from .options import FrameworkOption


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("lightgbm", lambda lightgbm: _bind(lightgbm, option))


def _bind(lightgbm: Any, option: FrameworkOption) -> None:
    booster = lightgbm.Booster
    patch(booster, "save_model", model_files.saving(option, model_files.LIGHTGBM,
                                                    model_files.argument(1, "filename")))
    patch(booster, "__init__", model_files.loading(option, model_files.LIGHTGBM,
                                                   model_files.argument(3, "model_file")))
    for module, record_params in ((lightgbm, True), (lightgbm.engine, True),
                                  (getattr(lightgbm, "sklearn", None), False)):
        if module is not None and hasattr(module, "train"):
            patch(module, "train", lambda original, record=record_params: _with_callback(original, record))


def _with_callback(original: Any, record_params: bool) -> Any:
    import inspect
    names = list(inspect.signature(original).parameters)
    at = names.index("callbacks") if "callbacks" in names else len(names)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        from ..task import Task
        if Task.current_task() is None:
            return original(*args, **kwargs)
        if len(args) > at:  # callbacks given by position: add to that list
            args = (*args[:at], [*(args[at] or []), _report_round], *args[at + 1:])
        else:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _report_round]
        booster = original(*args, **kwargs)
        params = args[0] if args else kwargs.get("params")
        task = Task.current_task()
        if record_params and task is not None and isinstance(params, dict) and params:
            task.connect({str(k): list(v) if isinstance(v, set) else v for k, v in params.items()})
        return booster

    return train


def _report_round(env: Any) -> None:
    """A LightGBM callback: the round's evaluation results as scalars of the current task."""
    from ..task import Task
    task = Task.current_task()
    if task is None:
        return
    logger = task.get_logger()
    for entry in env.evaluation_result_list or ():
        data, metric, value = entry[0], entry[1], entry[2]
        logger.report_scalar(str(data), str(metric), float(value), iteration=env.iteration)
