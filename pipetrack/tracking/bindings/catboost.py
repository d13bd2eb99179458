"""CatBoost: model files and per-iteration metrics of the current task.

- ``save_model`` of any CatBoost model registers an output model (framework ``CatBoost``),
  ``load_model`` an input model; see ``model_files``.
- ``fit`` (of ``CatBoost``, ``CatBoostClassifier``, ``CatBoostRegressor``, ``CatBoostRanker``) gets
  one more object in ``callbacks`` (CatBoost's callback protocol, ``after_iteration(info)``):
  each iteration reports every metric as a scalar, title = the data set (``learn``,
  ``validation``), series = the metric (``RMSE``, ``Logloss`` ...), iteration = CatBoost's
  iteration number, as ClearML does; the second fit of a process reports under
  ``"<data set> - 1"`` and so on. ``fit`` is wrapped only to add the callback. CatBoost refuses
  Python callbacks on GPU: then the fit runs again without it (as ClearML does).
"""
from __future__ import annotations

import functools
import itertools
from typing import Any

from . import model_files
from .hooks import patch, when_imported
from .options import FrameworkOption

_fits = itertools.count()


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("catboost", lambda catboost: _bind(catboost, option))


def _bind(catboost: Any, option: FrameworkOption) -> None:
    base = catboost.CatBoost
    patch(base, "save_model", model_files.saving(option, model_files.CATBOOST, model_files.argument(1, "fname")))
    patch(base, "load_model", model_files.loading(option, model_files.CATBOOST, model_files.argument(1, "fname")))
    for name in ("CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker"):
        cls = getattr(catboost, name, None)
        if cls is not None and "fit" in cls.__dict__:
            patch(cls, "fit", _with_callback)


class _ReportingCallback:
    """Reports each iteration's metrics to the current task."""

    def __init__(self, index: int) -> None:
        self.suffix = f" - {index}" if index else ""

    def after_iteration(self, info: Any) -> bool:
        from ..task import Task
        task = Task.current_task()
        if task is not None:
            logger = task.get_logger()
            for data, metrics in (getattr(info, "metrics", None) or {}).items():
                for metric, values in metrics.items():
                    if values:
                        logger.report_scalar(f"{data}{self.suffix}", metric, float(values[-1]),
                                             iteration=info.iteration)
        return True  # go on training


def _with_callback(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        from ..task import Task
        callbacks = list(kwargs.get("callbacks") or [])
        if Task.current_task() is None or any(isinstance(c, _ReportingCallback) for c in callbacks) \
                or "callbacks" not in _keyword_only(original, args):
            return original(self, *args, **kwargs)
        kwargs["callbacks"] = [*callbacks, _ReportingCallback(next(_fits))]
        try:
            return original(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only the "no callbacks on GPU" refusal is retried
            if "callback" not in str(exc).lower():
                raise
            kwargs["callbacks"] = callbacks or None
            return original(self, *args, **kwargs)

    return fit


def _keyword_only(function: Any, args: tuple) -> set:
    """The parameters of ``function`` a call with positional ``args`` leaves to keywords."""
    import inspect
    names = [p for p in inspect.signature(function).parameters][1:]  # without self
    return set(names[len(args):])
