"""Keras (standalone ``keras`` and TensorFlow's ``tf.keras``): model files and per-epoch metrics.

- ``Model.save`` / ``Model.save_weights`` register an output model (framework ``Keras``) with the
  model's config as its design; ``keras.models.load_model`` / ``keras.saving.load_model`` and
  ``Model.load_weights`` an input model; see ``model_files``. A SavedModel folder is uploaded zipped.
- ``Model.fit`` gets one more ``keras.callbacks.Callback``: at each epoch's end every entry of
  Keras' logs is reported as a scalar, title = the metric (``loss``, ``accuracy`` ...), series =
  ``train``, or ``validation`` for its ``val_`` form, iteration = the epoch. (ClearML gets Keras
  metrics from the TensorBoard callback; this works without one.) ``fit`` is wrapped only to add
  the callback: Keras has no global callback registry.
"""
from __future__ import annotations

import functools
import json
from typing import Any

from . import model_files
from .hooks import patch, when_imported
from .options import FrameworkOption


def connect(task: Any, option: FrameworkOption) -> None:
    when_imported("keras", lambda keras: _bind(keras, option))
    when_imported("tf_keras", lambda keras: _bind(keras, option))


def _bind(keras: Any, option: FrameworkOption) -> None:
    model = keras.Model
    for method in ("save", "save_weights"):
        if hasattr(model, method):
            patch(model, method, model_files.saving(option, model_files.KERAS, model_files.argument(1, "filepath"),
                                                    config=_model_config))
    if hasattr(model, "load_weights"):
        patch(model, "load_weights", model_files.loading(option, model_files.KERAS,
                                                         model_files.argument(1, "filepath")))
    for namespace in ("models", "saving"):
        owner = getattr(keras, namespace, None)
        if owner is not None and hasattr(owner, "load_model"):
            patch(owner, "load_model", model_files.loading(option, model_files.KERAS,
                                                           model_files.argument(0, "filepath")))
    callback_class = _callback_class(keras.callbacks.Callback)
    patch(model, "fit", lambda original: _with_callback(original, callback_class))


def _model_config(args: tuple, kwargs: dict) -> Any:
    """The saved model's architecture (``get_config()``) as a dict, or None when it has none."""
    try:
        return json.loads(json.dumps(args[0].get_config(), default=str))
    except Exception:  # noqa: BLE001 - subclassed models often cannot describe themselves
        return None


def _with_callback(original: Any, callback_class: type) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        from ..task import Task
        if Task.current_task() is not None:
            if len(args) > 5:  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)
                args = (*args[:5], [*(args[5] or []), callback_class()], *args[6:])
            else:
                kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), callback_class()]
        return original(self, *args, **kwargs)

    return fit


def _callback_class(base: type) -> type:
    class ReportingCallback(base):  # type: ignore[misc, valid-type]
        """Reports each epoch's logs to the current task."""

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            from ..task import Task
            task = Task.current_task()
            if task is None:
                return
            logger = task.get_logger()
            for key, value in (logs or {}).items():
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    continue
                title, series = (key[4:], "validation") if key.startswith("val_") else (key, "train")
                logger.report_scalar(title, series, number, iteration=epoch)

    return ReportingCallback
